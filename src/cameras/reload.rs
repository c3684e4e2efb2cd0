//! The hot-reload decision: given a fresh scan of the camera directory, which cameras to start,
//! stop or restart. Pure: the scan comes in (see `watch.rs`), changes come out.
//!
//! - A new valid file starts its camera; a removed file stops it.
//! - An edit that changes the validated config restarts only that camera. Comparing validated
//!   configs (not bytes) means comment or formatting edits restart nothing. A changed password
//!   in a `password_file` or environment needs no restart either: it is read at each connect.
//! - An invalid edit is reported once (`Rejected`) and the last good config keeps running.
//! - An id change within a file stops the old id and starts the new one; a file rename with the
//!   same content changes nothing (the diff is by camera id).
//! - `enabled = false` stops the camera (nothing when it was not running).
//! - A camera id already used by another file is rejected; the camera that had it keeps it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sharpeyes_core::CameraId;

use super::config::{CameraConfig, ConfigIssue};
use super::load::duplicate_id;

/// What the runner must do after a scan. Order within one `apply`: every `Rejected`, then every
/// `Stop`, then `Restart`, then `Start`, so an id moving between files is stopped before it is
/// started again.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Start(CameraConfig),
    Stop(CameraId),
    /// Same camera id, new config: stop the old one, start this.
    Restart(CameraConfig),
    /// The file is invalid; whatever ran from it before keeps running. Reported again only when
    /// the issues change.
    Rejected {
        file: PathBuf,
        issues: Vec<ConfigIssue>,
    },
}

#[derive(Clone, Debug)]
struct FileState {
    /// The config in effect for this file: the newest valid one (running when enabled).
    good: Option<CameraConfig>,
    /// The issues of the current content, as last reported; None when the content is good.
    issues: Option<Vec<ConfigIssue>>,
}

/// Remembers, per file, the last good config and the issues last reported.
#[derive(Clone, Debug, Default)]
pub struct Reloader {
    files: BTreeMap<PathBuf, FileState>,
}

impl Reloader {
    pub fn new() -> Self {
        Self::default()
    }

    /// The cameras that should be running now (enabled, last good), by id.
    pub fn running(&self) -> BTreeMap<CameraId, &CameraConfig> {
        self.files
            .values()
            .filter_map(|s| s.good.as_ref())
            .filter(|c| c.enabled)
            .map(|c| (c.id.clone(), c))
            .collect()
    }

    /// The config in effect for `file` (the last good one), if any.
    pub fn config_of(&self, file: &std::path::Path) -> Option<&CameraConfig> {
        self.files.get(file).and_then(|s| s.good.as_ref())
    }

    /// Takes a complete scan of the directory (every camera file present now; a file missing
    /// from it counts as removed) and returns what to change. The first call starts everything.
    pub fn apply(
        &mut self,
        scan: Vec<(PathBuf, Result<CameraConfig, Vec<ConfigIssue>>)>,
    ) -> Vec<Change> {
        let before: BTreeMap<CameraId, CameraConfig> = self
            .running()
            .into_iter()
            .map(|(id, c)| (id, c.clone()))
            .collect();
        // Sorted by path, so ties between new files go to the first name.
        let scan: BTreeMap<PathBuf, Result<CameraConfig, Vec<ConfigIssue>>> =
            scan.into_iter().collect();
        let mut next: BTreeMap<PathBuf, FileState> = BTreeMap::new();
        let mut claims: BTreeMap<CameraId, PathBuf> = BTreeMap::new();

        // Pass 1: files whose config in effect does not change (unchanged or invalid) keep
        // their ids. Those ids were unique before, so they cannot clash with each other.
        for (path, result) in &scan {
            let old = self.files.get(path).and_then(|s| s.good.clone());
            let state = match result {
                Err(issues) => FileState {
                    good: old,
                    issues: Some(issues.clone()),
                },
                Ok(c) if old.as_ref() == Some(c) => FileState {
                    good: old,
                    issues: None,
                },
                Ok(_) => continue,
            };
            if let Some(g) = &state.good {
                claims.insert(g.id.clone(), path.clone());
            }
            next.insert(path.clone(), state);
        }

        // Pass 2: new and changed valid files, in path order.
        for (path, result) in scan {
            let Ok(config) = result else { continue };
            if next.contains_key(&path) {
                continue;
            }
            let state = match claims.get(&config.id) {
                None => FileState {
                    good: Some(config),
                    issues: None,
                },
                Some(owner) => {
                    let issue = duplicate_id(&path, &config, owner);
                    // Keep this file's previous camera if its id is still free.
                    let old = self
                        .files
                        .get(&path)
                        .and_then(|s| s.good.clone())
                        .filter(|g| !claims.contains_key(&g.id));
                    FileState {
                        good: old,
                        issues: Some(vec![issue]),
                    }
                }
            };
            if let Some(g) = &state.good {
                claims.insert(g.id.clone(), path.clone());
            }
            next.insert(path, state);
        }

        let mut changes = Vec::new();
        for (path, state) in &next {
            let reported = self.files.get(path).and_then(|s| s.issues.as_ref());
            if let Some(issues) = &state.issues
                && reported != Some(issues)
            {
                changes.push(Change::Rejected {
                    file: path.clone(),
                    issues: issues.clone(),
                });
            }
        }
        self.files = next;

        let after = self.running();
        for id in before.keys() {
            if !after.contains_key(id) {
                changes.push(Change::Stop(id.clone()));
            }
        }
        for (id, c) in &after {
            if before.get(id).is_some_and(|b| b != *c) {
                changes.push(Change::Restart((*c).clone()));
            }
        }
        for (id, c) in &after {
            if !before.contains_key(id) {
                changes.push(Change::Start((*c).clone()));
            }
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Scan = Vec<(PathBuf, Result<CameraConfig, Vec<ConfigIssue>>)>;

    fn text(id: &str, extra: &str) -> String {
        format!(
            "id = \"{id}\"\nname = \"N\"\nvillage = \"V\"\n{extra}\n[stream]\nurl = \"rtsp://h/{id}\"\n"
        )
    }

    fn file(name: &str, text: &str) -> (PathBuf, Result<CameraConfig, Vec<ConfigIssue>>) {
        (PathBuf::from(name), CameraConfig::parse(text, name))
    }

    fn cfg(id: &str, extra: &str) -> CameraConfig {
        CameraConfig::parse(&text(id, extra), "t.toml").expect("valid")
    }

    fn id(s: &str) -> CameraId {
        CameraId::new(s).expect("valid id")
    }

    fn two() -> Scan {
        vec![
            file("a.toml", &text("a", "")),
            file("b.toml", &text("b", "")),
        ]
    }

    fn started() -> Reloader {
        let mut r = Reloader::new();
        r.apply(two());
        r
    }

    #[test]
    fn first_scan_starts_every_enabled_camera() {
        let mut r = Reloader::new();
        let mut scan = two();
        scan.push(file("c.toml", &text("c", "enabled = false")));
        assert_eq!(
            r.apply(scan),
            vec![Change::Start(cfg("a", "")), Change::Start(cfg("b", ""))]
        );
    }

    #[test]
    fn unchanged_rescan_changes_nothing() {
        let mut r = started();
        assert_eq!(r.apply(two()), vec![]);
    }

    #[test]
    fn comment_only_edit_changes_nothing() {
        let mut r = started();
        let scan = vec![
            file("a.toml", &format!("# new comment\n{}", text("a", ""))),
            file("b.toml", &text("b", "")),
        ];
        assert_eq!(r.apply(scan), vec![]);
    }

    #[test]
    fn added_file_starts_only_that_camera() {
        let mut r = started();
        let mut scan = two();
        scan.push(file("c.toml", &text("c", "")));
        assert_eq!(r.apply(scan), vec![Change::Start(cfg("c", ""))]);
    }

    #[test]
    fn removed_file_stops_its_camera() {
        let mut r = started();
        assert_eq!(
            r.apply(vec![file("b.toml", &text("b", ""))]),
            vec![Change::Stop(id("a"))]
        );
    }

    #[test]
    fn edit_restarts_only_that_camera() {
        let mut r = started();
        let scan = vec![
            file("a.toml", &text("a", "")),
            file("b.toml", &text("b", "[detect]\nfps = 2.0")),
        ];
        assert_eq!(
            r.apply(scan),
            vec![Change::Restart(cfg("b", "[detect]\nfps = 2.0"))]
        );
    }

    #[test]
    fn invalid_edit_is_rejected_once_and_the_last_good_keeps_running() {
        let mut r = started();
        let bad = || {
            vec![
                file("a.toml", &text("a", "[detect]\nfps = 0")),
                file("b.toml", &text("b", "")),
            ]
        };
        let changes = r.apply(bad());
        assert_eq!(changes.len(), 1, "{changes:?}");
        let Change::Rejected { file, issues } = &changes[0] else {
            panic!("{changes:?}")
        };
        assert_eq!(file, &PathBuf::from("a.toml"));
        assert_eq!(
            issues[0].to_string(),
            "a.toml: detect.fps: must be between 0.1 and 30, got 0"
        );
        assert!(r.running().contains_key(&id("a")));
        assert_eq!(
            r.config_of(std::path::Path::new("a.toml")),
            Some(&cfg("a", ""))
        );
        // Polling the same broken file again reports nothing new.
        assert_eq!(r.apply(bad()), vec![]);
    }

    #[test]
    fn fixing_an_invalid_edit_restarts_with_the_fix() {
        let mut r = started();
        r.apply(vec![
            file("a.toml", &text("a", "[detect]\nfps = 0")),
            file("b.toml", &text("b", "")),
        ]);
        let fixed = vec![
            file("a.toml", &text("a", "[detect]\nfps = 1.0")),
            file("b.toml", &text("b", "")),
        ];
        assert_eq!(
            r.apply(fixed),
            vec![Change::Restart(cfg("a", "[detect]\nfps = 1.0"))]
        );
    }

    #[test]
    fn a_new_invalid_file_is_rejected_and_starts_nothing() {
        let mut r = started();
        let mut scan = two();
        scan.push(file("c.toml", "id = \"c\""));
        let changes = r.apply(scan);
        assert!(
            matches!(changes.as_slice(), [Change::Rejected { file, .. }] if file == &PathBuf::from("c.toml")),
            "{changes:?}"
        );
    }

    #[test]
    fn id_change_within_a_file_stops_the_old_and_starts_the_new() {
        let mut r = started();
        let scan = vec![
            file("a.toml", &text("a2", "")),
            file("b.toml", &text("b", "")),
        ];
        assert_eq!(
            r.apply(scan),
            vec![Change::Stop(id("a")), Change::Start(cfg("a2", ""))]
        );
    }

    #[test]
    fn renaming_a_file_changes_nothing() {
        let mut r = started();
        let scan = vec![
            file("a-renamed.toml", &text("a", "")),
            file("b.toml", &text("b", "")),
        ];
        assert_eq!(r.apply(scan), vec![]);
    }

    #[test]
    fn a_duplicate_id_in_a_new_file_is_rejected_and_the_running_camera_stays() {
        let mut r = started();
        let mut scan = two();
        // Sorts before b.toml, yet b.toml had the id first.
        scan.insert(0, file("0-copy.toml", &text("b", "[detect]\nfps = 1.0")));
        let changes = r.apply(scan);
        assert_eq!(
            changes,
            vec![Change::Rejected {
                file: "0-copy.toml".into(),
                issues: vec![ConfigIssue::new(
                    "0-copy.toml",
                    "id",
                    "camera id \"b\" is already used by b.toml"
                )],
            }]
        );
        assert_eq!(r.running()[&id("b")], &cfg("b", ""));
    }

    #[test]
    fn a_duplicate_id_takes_over_when_the_owner_goes() {
        let mut r = started();
        let copy = || file("0-copy.toml", &text("b", "[detect]\nfps = 1.0"));
        r.apply(vec![
            copy(),
            file("a.toml", &text("a", "")),
            file("b.toml", &text("b", "")),
        ]);
        let changes = r.apply(vec![copy(), file("a.toml", &text("a", ""))]);
        assert_eq!(
            changes,
            vec![Change::Restart(cfg("b", "[detect]\nfps = 1.0"))]
        );
    }

    #[test]
    fn duplicate_ids_in_a_first_scan_go_to_the_first_file() {
        let mut r = Reloader::new();
        let changes = r.apply(vec![
            file("x.toml", &text("a", "")),
            file("a.toml", &text("a", "")),
        ]);
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(
            matches!(&changes[0], Change::Rejected { file, .. } if file == &PathBuf::from("x.toml"))
        );
        assert_eq!(changes[1], Change::Start(cfg("a", "")));
    }

    #[test]
    fn two_files_swapping_ids_change_nothing() {
        let mut r = started();
        let scan = vec![
            file("a.toml", &text("b", "")),
            file("b.toml", &text("a", "")),
        ];
        // Same configs under other file names: nothing to do.
        assert_eq!(r.apply(scan), vec![]);
    }

    #[test]
    fn disabling_stops_and_enabling_starts_again() {
        let mut r = started();
        let off = || {
            vec![
                file("a.toml", &text("a", "enabled = false")),
                file("b.toml", &text("b", "")),
            ]
        };
        assert_eq!(r.apply(off()), vec![Change::Stop(id("a"))]);
        assert_eq!(r.apply(off()), vec![]);
        assert_eq!(r.apply(two()), vec![Change::Start(cfg("a", ""))]);
    }

    #[test]
    fn editing_a_disabled_camera_starts_nothing() {
        let mut r = Reloader::new();
        r.apply(vec![file("a.toml", &text("a", "enabled = false"))]);
        let edited = vec![file(
            "a.toml",
            &text("a", "enabled = false\n[detect]\nfps = 1.0"),
        )];
        assert_eq!(r.apply(edited), vec![]);
    }

    #[test]
    fn removing_a_broken_file_whose_last_good_runs_stops_it() {
        let mut r = started();
        r.apply(vec![
            file("a.toml", "garbage ="),
            file("b.toml", &text("b", "")),
        ]);
        assert!(r.running().contains_key(&id("a")));
        assert_eq!(
            r.apply(vec![file("b.toml", &text("b", ""))]),
            vec![Change::Stop(id("a"))]
        );
    }
}
