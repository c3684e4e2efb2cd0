//! The guardians' registry (a TOML file): the `sharpeyes notify` service settings, the Kafka
//! connection, the gateways, and each guardian with the cameras (and zones) they care for.
//! Parsing and checking are pure: text in, a [`Registry`] or every problem out.
//!
//! A guardian receives an alert only when its camera is one of theirs (and, when their entry
//! names zones, its zone is one of them): nobody is ever sent an alert from a camera not
//! assigned to them. The same holds for the camera status events a guardian may ask for
//! ([`ROUTED_STATUS_KINDS`]: tampering and outages, for maintenance staff); those concern the
//! whole picture, so a watch's zones do not limit them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sharpeyes_core::{AlertKind, CameraId, ConfigIssue, ConfigIssues, Lifecycle, StatusKind};

use super::freshness::DEFAULT_MAX_AGE;
use sharpeyes_delivery::kafka::KafkaSettings;

/// Largest `service.max_age_s`: a week.
const MAX_AGE_LIMIT_S: f64 = 604_800.0;

/// `service.status_topic` when the registry does not set it: the pipeline's
/// `output.status_topic` default.
pub const DEFAULT_STATUS_TOPIC: &str = "sharpeyes.camera-status";

/// The camera status kinds a guardian's `kinds` may name (maintenance staff): tampering and
/// its end, outages and their end. Heartbeats and `camera_unassigned` are never pushed.
pub const ROUTED_STATUS_KINDS: [StatusKind; 4] = [
    StatusKind::CameraTampered,
    StatusKind::CameraRestored,
    StatusKind::CameraOffline,
    StatusKind::CameraOnline,
];

/// A checked registry.
#[derive(Clone, Debug, PartialEq)]
pub struct Registry {
    pub service: ServiceSettings,
    pub kafka: KafkaSettings,
    pub gateways: BTreeMap<String, Gateway>,
    pub guardians: Vec<Guardian>,
}

/// `[service]`: how `sharpeyes notify` consumes and retries.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceSettings {
    /// Kafka consumer group; every `notify` process of one county shares it. Default
    /// `sharpeyes-notify`.
    pub group_id: String,
    /// Default `sharpeyes.alerts`.
    pub alerts_topic: String,
    /// Camera status events (the pipeline's `output.status_topic`); only the kinds some
    /// guardian may want ([`ROUTED_STATUS_KINDS`]) are looked at. Default
    /// `sharpeyes.camera-status`.
    pub status_topic: String,
    /// Where malformed messages and permanently failed deliveries go. Default
    /// `sharpeyes.alerts.dlq`.
    pub dead_letter_topic: String,
    /// The delivered-notifications log (dedup across restarts) lives here. Default `var/notify`.
    pub state_dir: PathBuf,
    /// Tries per notification before it goes to the dead-letter topic. Default 6.
    pub max_attempts: u32,
    /// First retry delay, doubled per retry up to `backoff_max`. Default 1 s.
    pub backoff_initial: Duration,
    /// Default 60 s.
    pub backoff_max: Duration,
    /// One HTTP request's time limit. Default 10 s.
    pub request_timeout: Duration,
    /// An alert older than this at send time (its own `event_time` against the wall clock) is
    /// not pushed: it is logged and dead-lettered with reason `stale`. `max_age_s`, 1 s to a
    /// week; `sharpeyes notify --max-age` overrides it. Default 15 min.
    pub max_age: Duration,
}

/// `[gateways.NAME]`: a push or SMS gateway several guardians share.
#[derive(Clone, Debug, PartialEq)]
pub struct Gateway {
    pub url: String,
    /// Environment variable whose value is sent as `Authorization: Bearer <value>`.
    pub bearer_token_env: Option<String>,
}

/// Where one guardian's notifications are POSTed.
#[derive(Clone, Debug, PartialEq)]
pub enum Endpoint {
    /// A gateway of `[gateways]`, by name.
    Gateway(String),
    /// The guardian's own webhook URL.
    Webhook(String),
}

/// One camera a guardian watches, optionally only some of its zones.
#[derive(Clone, Debug, PartialEq)]
pub struct Watch {
    pub camera: CameraId,
    /// Empty: every alert of the camera; else only alerts of these zones.
    pub zones: BTreeSet<String>,
}

/// `[[guardians]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Guardian {
    pub id: String,
    pub name: String,
    /// Phone number or push token, passed to the gateway as is.
    pub contact: Option<String>,
    pub endpoint: Endpoint,
    pub watch: Vec<Watch>,
    /// Which alert kinds they are told about (the alert names of `kinds`). Default: fall,
    /// person_in_zone, inactivity, loitering.
    pub kinds: BTreeSet<AlertKind>,
    /// Which camera status kinds they are told about (the status names of `kinds`, of
    /// [`ROUTED_STATUS_KINDS`]). Default: none.
    pub status_kinds: BTreeSet<StatusKind>,
    /// Which stages of an incident. Default: `new` only.
    pub lifecycles: BTreeSet<Lifecycle>,
    /// At most this many notifications per hour (a burst of up to 5 at once); further ones
    /// wait, critical kinds first. Default 30.
    pub max_per_hour: u32,
}

/// Kinds guardians get unless their entry says otherwise: what family must act on.
pub const DEFAULT_GUARDIAN_KINDS: [AlertKind; 4] = [
    AlertKind::Fall,
    AlertKind::PersonInZone,
    AlertKind::Inactivity,
    AlertKind::Loitering,
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    #[serde(default)]
    service: RawService,
    #[serde(default)]
    kafka: KafkaSettings,
    #[serde(default)]
    gateways: BTreeMap<String, RawGateway>,
    #[serde(default)]
    guardians: Vec<RawGuardian>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    group_id: Option<String>,
    alerts_topic: Option<String>,
    status_topic: Option<String>,
    dead_letter_topic: Option<String>,
    state_dir: Option<PathBuf>,
    max_attempts: Option<u32>,
    backoff_initial_ms: Option<u64>,
    backoff_max_ms: Option<u64>,
    request_timeout_s: Option<f64>,
    max_age_s: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    url: String,
    bearer_token_env: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGuardian {
    id: String,
    name: String,
    contact: Option<String>,
    gateway: Option<String>,
    webhook: Option<String>,
    #[serde(default)]
    watch: Vec<RawWatch>,
    kinds: Option<Vec<String>>,
    lifecycles: Option<Vec<String>>,
    max_per_hour: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWatch {
    camera: String,
    #[serde(default)]
    zones: Vec<String>,
}

impl Registry {
    /// Reads and checks the registry at `path`. Every problem comes back, each
    /// `file: field: message` (the shape of every config file's problems).
    pub fn load(path: &Path) -> Result<Self, ConfigIssues> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigIssues::from(ConfigIssue::new(
                &path.display().to_string(),
                "-",
                format!("cannot read: {e}"),
            ))
        })?;
        Self::parse(&text, path)
    }

    /// Parses and checks `text`; `path` only names the file in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigIssues> {
        let file = path.display().to_string();
        let raw: RawRegistry = toml::from_str(text).map_err(|e| {
            ConfigIssues::from(ConfigIssue::at(
                &file,
                text.as_bytes(),
                e.span().map(|s| s.start),
                e.message().trim_end(),
            ))
        })?;
        let mut problems: Vec<ConfigIssue> = Vec::new();
        let mut bad = |field: &str, msg: String| problems.push(ConfigIssue::new(&file, field, msg));

        let s = raw.service;
        let non_empty = |v: Option<String>, default: &str| v.unwrap_or_else(|| default.into());
        let service = ServiceSettings {
            max_age: s
                .max_age_s
                .filter(|t| (1.0..=MAX_AGE_LIMIT_S).contains(t))
                .map_or(DEFAULT_MAX_AGE, Duration::from_secs_f64),
            group_id: non_empty(s.group_id, "sharpeyes-notify"),
            alerts_topic: non_empty(
                s.alerts_topic,
                sharpeyes_delivery::kafka::DEFAULT_ALERT_TOPIC,
            ),
            status_topic: non_empty(s.status_topic, DEFAULT_STATUS_TOPIC),
            dead_letter_topic: non_empty(s.dead_letter_topic, "sharpeyes.alerts.dlq"),
            state_dir: s.state_dir.unwrap_or_else(|| "var/notify".into()),
            max_attempts: s.max_attempts.unwrap_or(6),
            backoff_initial: Duration::from_millis(s.backoff_initial_ms.unwrap_or(1000)),
            backoff_max: Duration::from_millis(s.backoff_max_ms.unwrap_or(60_000)),
            request_timeout: Duration::from_secs_f64(
                s.request_timeout_s
                    .filter(|t| *t > 0.0 && *t <= 300.0)
                    .unwrap_or(10.0),
            ),
        };
        for (field, v) in [
            ("service.group_id", &service.group_id),
            ("service.alerts_topic", &service.alerts_topic),
            ("service.status_topic", &service.status_topic),
            ("service.dead_letter_topic", &service.dead_letter_topic),
        ] {
            if v.trim().is_empty() {
                bad(field, "must not be empty".into());
            }
        }
        if service.alerts_topic == service.dead_letter_topic {
            bad(
                "service.dead_letter_topic",
                "must differ from service.alerts_topic".into(),
            );
        }
        if service.status_topic == service.alerts_topic
            || service.status_topic == service.dead_letter_topic
        {
            bad(
                "service.status_topic",
                "must differ from service.alerts_topic and service.dead_letter_topic".into(),
            );
        }
        if !(1..=100).contains(&service.max_attempts) {
            bad(
                "service.max_attempts",
                format!("must be 1 to 100, got {}", service.max_attempts),
            );
        }
        if service.backoff_initial.is_zero() || service.backoff_initial > service.backoff_max {
            bad(
                "service.backoff_initial_ms",
                "must be more than 0 and at most service.backoff_max_ms".into(),
            );
        }
        if let Some(t) = s.request_timeout_s
            && !(t > 0.0 && t <= 300.0)
        {
            bad(
                "service.request_timeout_s",
                format!("must be more than 0 and at most 300, got {t}"),
            );
        }
        if let Some(t) = s.max_age_s
            && !(1.0..=MAX_AGE_LIMIT_S).contains(&t)
        {
            bad(
                "service.max_age_s",
                format!("must be 1 to {MAX_AGE_LIMIT_S} (a week), got {t}"),
            );
        }
        for (field, msg) in raw.kafka.problems() {
            bad(&format!("kafka.{field}"), msg);
        }

        let mut gateways = BTreeMap::new();
        for (name, g) in raw.gateways {
            let field = format!("gateways.{name}");
            if let Err(m) = check_url(&g.url) {
                bad(&format!("{field}.url"), m);
            }
            gateways.insert(
                name,
                Gateway {
                    url: g.url,
                    bearer_token_env: g.bearer_token_env,
                },
            );
        }

        let mut guardians = Vec::new();
        let mut ids = BTreeSet::new();
        for (i, g) in raw.guardians.into_iter().enumerate() {
            let field = if g.id.is_empty() {
                format!("guardians[{i}]")
            } else {
                format!("guardians[{i}] ({})", g.id)
            };
            if g.id.trim().is_empty() || g.id.contains(['/', ' ']) {
                bad(
                    &format!("{field}.id"),
                    "must be non-empty, without spaces or '/'".into(),
                );
            } else if !ids.insert(g.id.clone()) {
                bad(&format!("{field}.id"), "appears twice".into());
            }
            if g.name.trim().is_empty() {
                bad(&format!("{field}.name"), "must not be empty".into());
            }
            let endpoint = match (g.gateway, g.webhook) {
                (Some(name), None) => {
                    if !gateways.contains_key(&name) {
                        bad(
                            &format!("{field}.gateway"),
                            format!("no [gateways.{name}] in this file"),
                        );
                    }
                    Endpoint::Gateway(name)
                }
                (None, Some(url)) => {
                    if let Err(m) = check_url(&url) {
                        bad(&format!("{field}.webhook"), m);
                    }
                    Endpoint::Webhook(url)
                }
                _ => {
                    bad(
                        &field,
                        "needs exactly one of `gateway` (a [gateways] name) or `webhook` (a URL)"
                            .into(),
                    );
                    Endpoint::Webhook(String::new())
                }
            };
            if g.watch.is_empty() {
                bad(
                    &format!("{field}.watch"),
                    "needs at least one [[guardians.watch]] camera".into(),
                );
            }
            let mut watch = Vec::new();
            for (j, w) in g.watch.into_iter().enumerate() {
                match CameraId::new(w.camera) {
                    Ok(camera) => watch.push(Watch {
                        camera,
                        zones: w.zones.into_iter().collect(),
                    }),
                    Err(e) => bad(&format!("{field}.watch[{j}].camera"), e.to_string()),
                }
            }
            let (kinds, status_kinds) = match g.kinds {
                None => (
                    DEFAULT_GUARDIAN_KINDS.into_iter().collect(),
                    BTreeSet::new(),
                ),
                Some(names) => {
                    let (mut kinds, mut status_kinds) = (BTreeSet::new(), BTreeSet::new());
                    for n in &names {
                        match parse_kind(n) {
                            Some(Kind::Alert(k)) => {
                                kinds.insert(k);
                            }
                            Some(Kind::Status(k)) => {
                                status_kinds.insert(k);
                            }
                            None => bad(
                                &format!("{field}.kinds"),
                                format!(
                                    "unknown kind {n:?}; known: {}, {}",
                                    AlertKind::ALL.map(AlertKind::as_str).join(", "),
                                    ROUTED_STATUS_KINDS.map(StatusKind::as_str).join(", ")
                                ),
                            ),
                        }
                    }
                    (kinds, status_kinds)
                }
            };
            let lifecycles = match g.lifecycles {
                None => [Lifecycle::New].into_iter().collect(),
                Some(names) => names
                    .iter()
                    .filter_map(|n| {
                        let l = [Lifecycle::New, Lifecycle::Update, Lifecycle::End]
                            .into_iter()
                            .find(|l| l.as_str() == n);
                        if l.is_none() {
                            bad(
                                &format!("{field}.lifecycles"),
                                format!("unknown {n:?}; known: new, update, end"),
                            );
                        }
                        l
                    })
                    .collect(),
            };
            let max_per_hour = g.max_per_hour.unwrap_or(30);
            if !(1..=3600).contains(&max_per_hour) {
                bad(
                    &format!("{field}.max_per_hour"),
                    format!("must be 1 to 3600, got {max_per_hour}"),
                );
            }
            guardians.push(Guardian {
                id: g.id,
                name: g.name,
                contact: g.contact,
                endpoint,
                watch,
                kinds,
                status_kinds,
                lifecycles,
                max_per_hour,
            });
        }
        if problems.is_empty() {
            Ok(Self {
                service,
                kafka: raw.kafka,
                gateways,
                guardians,
            })
        } else {
            Err(ConfigIssues(problems))
        }
    }

    /// The guardian with this id.
    pub fn guardian(&self, id: &str) -> Option<&Guardian> {
        self.guardians.iter().find(|g| g.id == id)
    }

    /// (URL, bearer token env var) a guardian's notifications are POSTed to.
    pub fn endpoint_of(&self, g: &Guardian) -> (String, Option<String>) {
        match &g.endpoint {
            Endpoint::Webhook(u) => (u.clone(), None),
            Endpoint::Gateway(name) => {
                let gw = &self.gateways[name];
                (gw.url.clone(), gw.bearer_token_env.clone())
            }
        }
    }
}

/// A name of a guardian's `kinds`.
enum Kind {
    Alert(AlertKind),
    Status(StatusKind),
}

fn parse_kind(name: &str) -> Option<Kind> {
    AlertKind::ALL
        .into_iter()
        .find(|k| k.as_str() == name)
        .map(Kind::Alert)
        .or_else(|| {
            ROUTED_STATUS_KINDS
                .into_iter()
                .find(|k| k.as_str() == name)
                .map(Kind::Status)
        })
}

fn check_url(url: &str) -> Result<(), String> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(_) => Err(format!(
            "{url:?} must be an http:// or https:// URL with a host"
        )),
        Err(e) => Err(format!("{url:?}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[service]
max_attempts = 3
backoff_initial_ms = 10

[gateways.sms]
url = "https://sms.example/send"
bearer_token_env = "SMS_TOKEN"

[[guardians]]
id = "wang"
name = "Wang Li"
contact = "+8613800000000"
gateway = "sms"
[[guardians.watch]]
camera = "elder-home"

[[guardians]]
id = "chen"
name = "Chen Mei"
webhook = "http://127.0.0.1:9/hook"
kinds = ["person_in_zone"]
lifecycles = ["new", "end"]
max_per_hour = 5
[[guardians.watch]]
camera = "pond-cam"
zones = ["pond"]
"#;

    fn parse(text: &str) -> Result<Registry, ConfigIssues> {
        Registry::parse(text, Path::new("guardians.toml"))
    }

    #[test]
    fn a_good_registry_with_defaults() {
        let r = parse(GOOD).expect("valid");
        assert_eq!(r.service.group_id, "sharpeyes-notify");
        assert_eq!(r.service.dead_letter_topic, "sharpeyes.alerts.dlq");
        assert_eq!(r.service.max_attempts, 3);
        assert_eq!(r.service.backoff_initial, Duration::from_millis(10));
        assert_eq!(r.service.max_age, Duration::from_secs(15 * 60));
        assert_eq!(r.service.status_topic, "sharpeyes.camera-status");
        let wang = &r.guardians[0];
        assert_eq!(wang.kinds, DEFAULT_GUARDIAN_KINDS.into_iter().collect());
        assert!(wang.status_kinds.is_empty(), "no camera status by default");
        assert_eq!(wang.lifecycles, [Lifecycle::New].into_iter().collect());
        assert_eq!(wang.max_per_hour, 30);
        assert_eq!(
            r.endpoint_of(wang),
            ("https://sms.example/send".into(), Some("SMS_TOKEN".into()))
        );
        let chen = &r.guardians[1];
        assert_eq!(
            chen.watch[0].zones,
            ["pond".to_string()].into_iter().collect()
        );
        assert_eq!(r.endpoint_of(chen).0, "http://127.0.0.1:9/hook");
    }

    #[test]
    fn kinds_may_name_camera_status_kinds_for_maintenance_staff() {
        let r = parse(
            r#"
[[guardians]]
id = "li-tech"
name = "Li (maintenance)"
webhook = "http://h/m"
kinds = ["camera_tampered", "camera_restored", "fall"]
[[guardians.watch]]
camera = "gate-east"
"#,
        )
        .expect("valid");
        let li = &r.guardians[0];
        assert_eq!(li.kinds, [AlertKind::Fall].into_iter().collect());
        assert_eq!(
            li.status_kinds,
            [StatusKind::CameraTampered, StatusKind::CameraRestored]
                .into_iter()
                .collect()
        );
        let e = parse(
            "[service]\nstatus_topic = \"sharpeyes.alerts\"\n[[guardians]]\nid = \"a\"\nname = \"A\"\n\
             webhook = \"http://h/a\"\nkinds = [\"camera_heartbeat\"]\n\
             [[guardians.watch]]\ncamera = \"c\"\n",
        )
        .expect_err("a heartbeat is not routed");
        let e: Vec<String> = e.0.iter().map(ToString::to_string).collect();
        assert_eq!(e.len(), 2, "{e:#?}");
        assert!(
            e[0].starts_with("guardians.toml: service.status_topic: must differ"),
            "{e:#?}"
        );
        assert!(
            e[1].starts_with(
                "guardians.toml: guardians[0] (a).kinds: unknown kind \"camera_heartbeat\""
            ) && e[1].ends_with("camera_tampered, camera_restored, camera_offline, camera_online"),
            "{e:#?}"
        );
    }

    #[test]
    fn every_problem_is_named_with_its_field() {
        let text = r#"
[service]
dead_letter_topic = "sharpeyes.alerts"
max_attempts = 0
max_age_s = 0
[kafka.properties]
acks = "1"
[gateways.push]
url = "ftp://x"
[[guardians]]
id = "a"
name = ""
gateway = "sms"
kinds = ["fall", "faces"]
[[guardians]]
id = "a"
name = "A2"
webhook = "http://h/x"
gateway = "push"
[[guardians.watch]]
camera = "bad id"
"#;
        let e: Vec<String> = parse(text)
            .expect_err("invalid")
            .0
            .iter()
            .map(ToString::to_string)
            .collect();
        let want = [
            "guardians.toml: service.dead_letter_topic: must differ",
            "guardians.toml: service.max_attempts: must be 1 to 100, got 0",
            "guardians.toml: service.max_age_s: must be 1 to 604800 (a week), got 0",
            "guardians.toml: kafka.properties.\"acks\": is set by Sharp Eyes",
            "guardians.toml: gateways.push.url: \"ftp://x\" must be an http",
            "guardians.toml: guardians[0] (a).name: must not be empty",
            "guardians.toml: guardians[0] (a).gateway: no [gateways.sms] in this file",
            "guardians.toml: guardians[0] (a).watch: needs at least one",
            "guardians.toml: guardians[0] (a).kinds: unknown kind \"faces\"",
            "guardians.toml: guardians[1] (a).id: appears twice",
            "guardians.toml: guardians[1] (a): needs exactly one of `gateway`",
            "guardians.toml: guardians[1] (a).watch[0].camera:",
        ];
        for w in want {
            assert!(
                e.iter().any(|l| l.starts_with(w)),
                "missing {w:?} in {e:#?}"
            );
        }
        assert_eq!(e.len(), want.len(), "{e:#?}");
    }

    #[test]
    fn unknown_keys_and_bad_toml_are_errors() {
        let e =
            parse("[[guardians]]\nid = \"a\"\nname = \"A\"\nwebhok = \"x\"\n").expect_err("typo");
        assert!(
            e.0[0].file == "guardians.toml" && e.0[0].message.contains("webhok"),
            "{e}"
        );
        let e = parse("[[guardians]\n").expect_err("bad toml");
        assert_eq!(e.0[0].file, "guardians.toml", "{e}");
        assert!(e.0[0].field.starts_with("line 1, column "), "{e}");
    }
}
