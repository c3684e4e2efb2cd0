//! Hot reload of the guardians' registry: `sharpeyes notify` reads the file again every
//! [`POLL_INTERVAL`] and applies an edit without a restart. Polling, as for camera files
//! (`src/cameras/watch.rs`): it works on network file systems and bind mounts, and parsing one
//! small file a second costs nothing. [`RegistryWatch::poll`] reads the file (I/O);
//! [`live_part`] and [`token_problems`] are pure.
//!
//! - An edit that changes the checked registry applies: guardians added, removed or changed
//!   (cameras, zones, kinds, endpoint, rate limit), gateways, and the `[service]` delivery
//!   settings (retries, backoff, request timeout, `max_age_s`). Comment or formatting edits
//!   change nothing (registries are compared checked, not as text).
//! - `group_id`, the topics, `state_dir` and `[kafka]` need a restart: an edit of them is
//!   reported and the running values are kept; the rest of the edit applies.
//! - A broken edit (bad TOML, an invalid field, a gateway token variable that is not set, a
//!   file that cannot be read) changes nothing: it is reported with every problem as
//!   `file: field: message`, once until the problems change, and the last good registry keeps
//!   running.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sharpeyes_core::ConfigIssues;

use super::registry::Registry;

/// How often `notify` reads the registry file again.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// What an edit of the registry file comes to.
#[derive(Clone, Debug, PartialEq)]
pub enum Reload {
    /// Run with `registry` from now on. `restart_needed` names the settings the edit changed
    /// that only a restart applies (their running values are in `registry`).
    Applied {
        registry: Box<Registry>,
        restart_needed: Vec<&'static str>,
    },
    /// The file is broken; the last good registry keeps running.
    Rejected(ConfigIssues),
}

/// `next` with the settings only a restart can change taken from `running`, and the names of
/// those that differed.
pub fn live_part(running: &Registry, mut next: Registry) -> (Registry, Vec<&'static str>) {
    let (r, n) = (&running.service, &mut next.service);
    let mut kept = Vec::new();
    keep(&mut kept, "service.group_id", &r.group_id, &mut n.group_id);
    keep(
        &mut kept,
        "service.alerts_topic",
        &r.alerts_topic,
        &mut n.alerts_topic,
    );
    keep(
        &mut kept,
        "service.status_topic",
        &r.status_topic,
        &mut n.status_topic,
    );
    keep(
        &mut kept,
        "service.dead_letter_topic",
        &r.dead_letter_topic,
        &mut n.dead_letter_topic,
    );
    keep(
        &mut kept,
        "service.state_dir",
        &r.state_dir,
        &mut n.state_dir,
    );
    keep(&mut kept, "kafka", &running.kafka, &mut next.kafka);
    (next, kept)
}

/// One `file: gateways.NAME.bearer_token_env: ...` per token variable a guardian's endpoint
/// needs and `is_set` says is missing.
pub fn token_problems(
    reg: &Registry,
    file: &Path,
    is_set: impl Fn(&str) -> bool,
) -> Vec<sharpeyes_core::ConfigIssue> {
    let mut out = Vec::new();
    for (name, gw) in &reg.gateways {
        if let Some(var) = &gw.bearer_token_env
            && !is_set(var)
            && reg
                .guardians
                .iter()
                .any(|g| matches!(&g.endpoint, super::Endpoint::Gateway(n) if n == name))
        {
            out.push(sharpeyes_core::ConfigIssue::new(
                &file.display().to_string(),
                format!("gateways.{name}.bearer_token_env"),
                format!("environment variable {var} is not set"),
            ));
        }
    }
    out
}

/// Follows the registry file: the running registry and the problems last reported.
#[derive(Debug)]
pub struct RegistryWatch {
    path: PathBuf,
    running: Registry,
    /// `--max-age`, applied over every version of the file.
    max_age: Option<Duration>,
    reported: Option<ConfigIssues>,
    reported_restart: Vec<&'static str>,
}

impl RegistryWatch {
    /// Watches `path`, which `running` was loaded from.
    pub fn new(path: PathBuf, running: Registry, max_age: Option<Duration>) -> Self {
        Self {
            path,
            running,
            max_age,
            reported: None,
            reported_restart: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file; `Some` when there is something to apply or to report.
    pub fn poll(&mut self) -> Option<Reload> {
        let loaded = Registry::load(&self.path).and_then(|r| {
            let missing = token_problems(&r, &self.path, |v| std::env::var_os(v).is_some());
            if missing.is_empty() {
                Ok(r)
            } else {
                Err(ConfigIssues(missing))
            }
        });
        match loaded {
            Err(e) => {
                if self.reported.as_ref() == Some(&e) {
                    return None;
                }
                self.reported = Some(e.clone());
                Some(Reload::Rejected(e))
            }
            Ok(mut next) => {
                self.reported = None;
                if let Some(a) = self.max_age {
                    next.service.max_age = a;
                }
                let (next, restart_needed) = live_part(&self.running, next);
                if next == self.running && restart_needed == self.reported_restart {
                    return None;
                }
                self.reported_restart.clone_from(&restart_needed);
                self.running = next.clone();
                Some(Reload::Applied {
                    registry: Box::new(next),
                    restart_needed,
                })
            }
        }
    }
}

/// `next` takes `running`'s value back when they differ, and `field` is named among the kept.
fn keep<T: PartialEq + Clone>(
    kept: &mut Vec<&'static str>,
    field: &'static str,
    running: &T,
    next: &mut T,
) {
    if running != next {
        kept.push(field);
        next.clone_from(running);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    const ONE: &str = "[[guardians]]\nid = \"a\"\nname = \"A\"\nwebhook = \"http://h/a\"\n\
                       [[guardians.watch]]\ncamera = \"cam-a\"\n";

    fn two() -> String {
        format!(
            "{ONE}[[guardians]]\nid = \"b\"\nname = \"B\"\nwebhook = \"http://h/b\"\n\
             [[guardians.watch]]\ncamera = \"cam-b\"\n"
        )
    }

    #[test]
    fn edits_apply_broken_ones_are_reported_once_and_change_nothing() {
        let dir = TempDir::with_prefix("sharpeyes-registry-watch").unwrap();
        let path = dir.path().join("guardians.toml");
        std::fs::write(&path, ONE).unwrap();
        let first = Registry::load(&path).unwrap();
        let mut w = RegistryWatch::new(path.clone(), first, None);
        assert_eq!(w.poll(), None, "nothing changed");
        std::fs::write(&path, format!("# a comment\n{ONE}")).unwrap();
        assert_eq!(w.poll(), None, "a comment changes nothing");

        std::fs::write(&path, two()).unwrap();
        let Some(Reload::Applied {
            registry,
            restart_needed,
        }) = w.poll()
        else {
            panic!("the new guardian applies")
        };
        assert_eq!(registry.guardians.len(), 2);
        assert!(restart_needed.is_empty());
        assert_eq!(w.poll(), None);

        std::fs::write(
            &path,
            two().replace("name = \"B\"", "name = \"B\"\nmax_per_hour = 0"),
        )
        .unwrap();
        let Some(Reload::Rejected(e)) = w.poll() else {
            panic!("a broken edit is rejected")
        };
        assert_eq!(
            e.to_string(),
            (format!(
                "{}: guardians[1] (b).max_per_hour: must be 1 to 3600, got 0",
                path.display()
            ))
        );
        assert_eq!(w.poll(), None, "reported once");
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(w.poll(), Some(Reload::Rejected(_))), "file gone");
        std::fs::write(&path, two()).unwrap();
        assert_eq!(
            w.poll(),
            None,
            "back to the good registry: nothing to apply"
        );
    }

    #[test]
    fn restart_only_settings_keep_their_running_values() {
        let dir = TempDir::with_prefix("sharpeyes-registry-watch-restart").unwrap();
        let path = dir.path().join("guardians.toml");
        std::fs::write(&path, ONE).unwrap();
        let first = Registry::load(&path).unwrap();
        let mut w = RegistryWatch::new(path.clone(), first.clone(), Some(Duration::from_secs(60)));
        std::fs::write(
            &path,
            format!("[service]\ngroup_id = \"other\"\nmax_attempts = 2\nmax_age_s = 5\n{ONE}"),
        )
        .unwrap();
        let Some(Reload::Applied {
            registry,
            restart_needed,
        }) = w.poll()
        else {
            panic!("applies")
        };
        assert_eq!(restart_needed, vec!["service.group_id"]);
        assert_eq!(registry.service.group_id, first.service.group_id);
        assert_eq!(registry.service.max_attempts, 2, "delivery settings apply");
        assert_eq!(
            registry.service.max_age,
            Duration::from_secs(60),
            "--max-age wins"
        );
        assert_eq!(w.poll(), None, "reported once");
    }

    #[test]
    fn a_missing_gateway_token_is_a_problem_only_when_a_guardian_uses_it() {
        let text = "[gateways.sms]\nurl = \"https://s/x\"\nbearer_token_env = \"NO_SUCH_VAR\"\n\
                    [gateways.unused]\nurl = \"https://u/x\"\nbearer_token_env = \"NOPE\"\n\
                    [[guardians]]\nid = \"a\"\nname = \"A\"\ngateway = \"sms\"\n\
                    [[guardians.watch]]\ncamera = \"c\"\n";
        let reg = Registry::parse(text, Path::new("g.toml")).unwrap();
        assert_eq!(
            token_problems(&reg, Path::new("g.toml"), |_| false)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            vec![
                "g.toml: gateways.sms.bearer_token_env: environment variable NO_SUCH_VAR is not set"
            ]
        );
        assert!(token_problems(&reg, Path::new("g.toml"), |_| true).is_empty());
    }
}
