//! The pipeline config (`configs/default.toml`): parsed strictly, validated into typed values,
//! errors naming the file and the field. Pure apart from reading the file.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sharpeyes_analytics::{FallConfig, IncidentConfig, TrackerConfig};
use sharpeyes_inference::{ExecutionProvider, PoseMode};

/// The default config, embedded so `sharpeyes demo` runs with no files around.
pub const DEFAULT_CONFIG: &str = include_str!("../configs/default.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    detect: RawDetect,
    pose: Option<RawPose>,
    #[serde(default)]
    rules: RawRules,
    output: RawOutput,
    /// Event clips; default on (see `crate::clips::RawClips`).
    #[serde(default)]
    clips: crate::clips::RawClips,
    /// Default: no brokers, no properties.
    #[serde(default)]
    kafka: sharpeyes_delivery::KafkaSettings,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDetect {
    model: String,
    fps: f64,
    score_threshold: Option<f32>,
    /// Default "cpu"; one of `ExecutionProvider::NAMES`.
    #[serde(default = "default_execution_provider")]
    execution_provider: String,
    /// Default 0. GPU index for cuda and tensorrt.
    #[serde(default)]
    device_id: u32,
    /// Default 1; 0 = ONNX Runtime's default (one per core).
    #[serde(default = "one")]
    intra_op_threads: usize,
    /// Default 1; 0 = ONNX Runtime's default.
    #[serde(default = "one")]
    inter_op_threads: usize,
    /// Default 8; 1..=64. Most frames (each of another camera) per detector run.
    #[serde(default = "eight")]
    max_batch: usize,
    /// Default 0; 0..=1000. How long to wait after the first frame for a fuller batch.
    #[serde(default)]
    max_wait_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPose {
    /// Default true.
    #[serde(default = "yes")]
    enabled: bool,
    model: String,
    /// Default "frame".
    #[serde(default)]
    mode: PoseMode,
    /// Default 0.5.
    #[serde(default = "half")]
    min_person_score: f32,
}

fn half() -> f32 {
    0.5
}

fn eight() -> usize {
    8
}

fn default_execution_provider() -> String {
    "cpu".into()
}

fn one() -> usize {
    1
}

/// More threads than this in one session is a typo, not a machine.
const MAX_THREADS: usize = 1024;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    /// Local time for the rules' daily windows, "+08:00" / "-05:30". Default "+00:00".
    utc_offset: Option<String>,
    person_detected: Option<RawPersonRule>,
    fall: Option<RawFall>,
    #[serde(default)]
    incidents: RawIncidents,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFall {
    /// Default true.
    #[serde(default = "yes")]
    enabled: bool,
    /// Default 2.0.
    confirm_s: Option<f64>,
    /// Default 2.0.
    max_fall_s: Option<f64>,
    /// Default 30.
    hold_s: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIncidents {
    update_every_s: Option<f64>,
    end_after_s: Option<f64>,
    cooldown_s: Option<f64>,
    long_lie_s: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPersonRule {
    /// Default true.
    #[serde(default = "yes")]
    enabled: bool,
    min_score: f32,
    cooldown_s: f64,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    outbox: PathBuf,
    snapshots: PathBuf,
    /// Default 30; 0 keeps snapshots forever; at most 3650.
    snapshot_retention_days: Option<f64>,
    /// Default 10000; 1..=10000000.
    outbox_max_pending: Option<usize>,
    /// Default 64; 0.001..=100000.
    outbox_rotate_mb: Option<f64>,
    /// Default "sharpeyes.alerts".
    #[serde(default = "default_topic")]
    kafka_topic: String,
    /// Default "sharpeyes.camera-status".
    #[serde(default = "default_status_topic")]
    status_topic: String,
    /// Default "sharpeyes.snapshots".
    #[serde(default = "default_snapshot_topic")]
    snapshot_topic: String,
    /// Default "sharpeyes.clips".
    #[serde(default = "default_clip_topic")]
    clip_topic: String,
    /// Default 60; 1..=3600.
    clip_wait_s: Option<f64>,
}

fn default_clip_topic() -> String {
    "sharpeyes.clips".into()
}

fn default_snapshot_topic() -> String {
    "sharpeyes.snapshots".into()
}

fn default_status_topic() -> String {
    "sharpeyes.camera-status".into()
}

fn default_topic() -> String {
    "sharpeyes.alerts".into()
}

/// A validated pipeline config.
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineConfig {
    pub model: String,
    /// Detector frames per second per camera, 0.1..=30.
    pub detect_fps: f64,
    pub score_threshold: Option<f32>,
    /// Where the model runs (`detect.execution_provider` and `detect.device_id`); falls back
    /// to CPU at load when the ONNX Runtime library lacks it.
    pub execution_provider: ExecutionProvider,
    /// ONNX Runtime intra-op threads; 0 = its default.
    pub intra_op_threads: usize,
    /// ONNX Runtime inter-op threads; 0 = its default.
    pub inter_op_threads: usize,
    /// Most frames per detector run, 1..=64.
    pub max_batch: usize,
    /// Wait after the first frame of a batch for more, 0..=1 s.
    pub max_wait: std::time::Duration,
    /// The pose stage; None when there is no `[pose]` section or it is disabled.
    pub pose: Option<PoseConfig>,
    /// None when the rule is disabled.
    pub person_rule: Option<PersonRuleConfig>,
    /// None when the fall rule is disabled.
    pub fall: Option<FallConfig>,
    pub incidents: IncidentConfig,
    pub tracker: TrackerConfig,
    /// Minutes east of UTC of the cameras' local time (daily windows of zone rules).
    pub utc_offset_min: i32,
    pub outbox: PathBuf,
    pub snapshots: PathBuf,
    /// Event clips (`[clips]`); None when `clips.enabled = false`. Swept with
    /// `snapshot_retention`.
    pub clips: Option<crate::clips::ClipsConfig>,
    /// Snapshots older than this are deleted (hourly sweep); None keeps them forever.
    pub snapshot_retention: Option<std::time::Duration>,
    /// Warn (and show in `sharpeyes_alerts_kafka_pending`) past this many alerts waiting for
    /// Kafka; none is dropped.
    pub outbox_max_pending: usize,
    /// Once Kafka has acknowledged every event of an outbox this large, it is rotated to
    /// `<outbox>.1` and the ack log emptied (bytes).
    pub outbox_rotate_bytes: u64,
    pub kafka_topic: String,
    /// Topic of camera_online / camera_offline status events.
    pub status_topic: String,
    /// Topic of the alerts' pictures (JPEG, keyed by alert id), read by `serve`.
    pub snapshot_topic: String,
    /// Topic of the alerts' event clips (MP4, keyed by alert id), read by `serve`.
    pub clip_topic: String,
    /// A clip not complete this long after its alert's `emitted_time` is given up (it is
    /// written `post` seconds after the alert).
    pub clip_wait: std::time::Duration,
    /// `[kafka]`: brokers (a `--kafka` flag overrides them) and client properties (TLS, SASL).
    pub kafka: sharpeyes_delivery::KafkaSettings,
}

/// `[pose]`: a pose model run where the detector found people.
#[derive(Clone, Debug, PartialEq)]
pub struct PoseConfig {
    /// Manifest name; must be an `ultralytics-pose` model (checked at load).
    pub model: String,
    pub mode: PoseMode,
    /// Person boxes scoring below this get no keypoints (0-1).
    pub min_person_score: f32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PersonRuleConfig {
    pub min_score: f32,
    pub cooldown_ms: i64,
}

/// A config problem: where (file and field) and what (the one shape of every config file's).
pub use sharpeyes_core::ConfigIssue;

impl PipelineConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigIssue> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigIssue {
            file: path.display().to_string(),
            field: "-".into(),
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn embedded_default() -> Self {
        Self::parse(DEFAULT_CONFIG, "configs/default.toml (embedded)")
            .expect("the embedded default config is valid (tested)")
    }

    /// Parses and validates; `file` names the source in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigIssue> {
        let err = |field: &str, message: String| ConfigIssue {
            file: file.into(),
            field: field.into(),
            message,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            ConfigIssue::at(
                file,
                text.as_bytes(),
                e.span().map(|s| s.start),
                e.message().trim_end(),
            )
        })?;
        if raw.detect.model.trim().is_empty() {
            return Err(err(
                "detect.model",
                "must name a model manifest, got an empty string".into(),
            ));
        }
        if !(0.1..=30.0).contains(&raw.detect.fps) {
            return Err(err(
                "detect.fps",
                format!("must be between 0.1 and 30, got {}", raw.detect.fps),
            ));
        }
        if let Some(t) = raw.detect.score_threshold
            && !(0.0..=1.0).contains(&t)
        {
            return Err(err(
                "detect.score_threshold",
                format!("must be between 0 and 1, got {t}"),
            ));
        }
        let execution_provider =
            ExecutionProvider::from_name(&raw.detect.execution_provider, raw.detect.device_id)
                .ok_or_else(|| {
                    err(
                        "detect.execution_provider",
                        format!(
                            "unknown {:?}; known: {}",
                            raw.detect.execution_provider,
                            ExecutionProvider::NAMES.join(", ")
                        ),
                    )
                })?;
        for (field, n) in [
            ("detect.intra_op_threads", raw.detect.intra_op_threads),
            ("detect.inter_op_threads", raw.detect.inter_op_threads),
        ] {
            if n > MAX_THREADS {
                return Err(err(
                    field,
                    format!("must be between 0 and {MAX_THREADS}, got {n}"),
                ));
            }
        }
        if !(1..=64).contains(&raw.detect.max_batch) {
            return Err(err(
                "detect.max_batch",
                format!("must be between 1 and 64, got {}", raw.detect.max_batch),
            ));
        }
        if raw.detect.max_wait_ms > 1000 {
            return Err(err(
                "detect.max_wait_ms",
                format!("must be at most 1000, got {}", raw.detect.max_wait_ms),
            ));
        }
        let pose = match raw.pose {
            Some(p) if p.enabled => {
                if p.model.trim().is_empty() {
                    return Err(err(
                        "pose.model",
                        "must name a pose model manifest, got an empty string".into(),
                    ));
                }
                if !(0.0..=1.0).contains(&p.min_person_score) {
                    return Err(err(
                        "pose.min_person_score",
                        format!("must be between 0 and 1, got {}", p.min_person_score),
                    ));
                }
                Some(PoseConfig {
                    model: p.model,
                    mode: p.mode,
                    min_person_score: p.min_person_score,
                })
            }
            _ => None,
        };
        let person_rule = match raw.rules.person_detected {
            Some(r) if r.enabled => {
                if !(0.0..=1.0).contains(&r.min_score) {
                    return Err(err(
                        "rules.person_detected.min_score",
                        format!("must be between 0 and 1, got {}", r.min_score),
                    ));
                }
                if !(0.0..=86_400.0).contains(&r.cooldown_s) {
                    return Err(err(
                        "rules.person_detected.cooldown_s",
                        format!("must be between 0 and 86400, got {}", r.cooldown_s),
                    ));
                }
                Some(PersonRuleConfig {
                    min_score: r.min_score,
                    cooldown_ms: (r.cooldown_s * 1000.0).round() as i64,
                })
            }
            _ => None,
        };
        let seconds = |field: &str, v: Option<f64>, default_ms: i64, max_s: f64| match v {
            None => Ok(default_ms),
            Some(v) if (0.0..=max_s).contains(&v) => Ok((v * 1000.0).round() as i64),
            Some(v) => Err(err(
                field,
                format!("must be between 0 and {max_s}, got {v}"),
            )),
        };
        let fall = match raw.rules.fall {
            Some(f) if f.enabled => {
                let d = FallConfig::default();
                Some(FallConfig {
                    confirm_ms: seconds("rules.fall.confirm_s", f.confirm_s, d.confirm_ms, 600.0)?,
                    max_fall_ms: seconds(
                        "rules.fall.max_fall_s",
                        f.max_fall_s,
                        d.max_fall_ms,
                        10.0,
                    )?,
                    hold_ms: seconds("rules.fall.hold_s", f.hold_s, d.hold_ms, 3600.0)?,
                    ..d
                })
            }
            _ => None,
        };
        let d = IncidentConfig::default();
        let i = &raw.rules.incidents;
        let incidents = IncidentConfig {
            update_every_ms: seconds(
                "rules.incidents.update_every_s",
                i.update_every_s,
                d.update_every_ms,
                86_400.0,
            )?,
            end_after_ms: seconds(
                "rules.incidents.end_after_s",
                i.end_after_s,
                d.end_after_ms,
                3600.0,
            )?,
            cooldown_ms: seconds(
                "rules.incidents.cooldown_s",
                i.cooldown_s,
                d.cooldown_ms,
                86_400.0,
            )?,
            long_lie_ms: seconds(
                "rules.incidents.long_lie_s",
                i.long_lie_s,
                d.long_lie_ms,
                86_400.0,
            )?,
        };
        let utc_offset_min = match raw.rules.utc_offset.as_deref() {
            None => 0,
            Some(text) => parse_utc_offset(text).ok_or_else(|| {
                err(
                    "rules.utc_offset",
                    format!("{text:?} is not +HH:MM or -HH:MM (e.g. \"+08:00\")"),
                )
            })?,
        };
        let snapshot_retention = match raw.output.snapshot_retention_days {
            None => Some(std::time::Duration::from_secs(30 * 86_400)),
            Some(0.0) => None,
            Some(d) if d > 0.0 && d <= 3650.0 => {
                Some(std::time::Duration::from_secs_f64(d * 86_400.0))
            }
            Some(d) => {
                return Err(err(
                    "output.snapshot_retention_days",
                    format!("must be between 0 (keep forever) and 3650, got {d}"),
                ));
            }
        };
        let outbox_max_pending = raw.output.outbox_max_pending.unwrap_or(10_000);
        if !(1..=10_000_000).contains(&outbox_max_pending) {
            return Err(err(
                "output.outbox_max_pending",
                format!("must be between 1 and 10000000, got {outbox_max_pending}"),
            ));
        }
        let rotate_mb = raw.output.outbox_rotate_mb.unwrap_or(64.0);
        if !(rotate_mb.is_finite() && (0.001..=100_000.0).contains(&rotate_mb)) {
            return Err(err(
                "output.outbox_rotate_mb",
                format!("must be a number between 0.001 and 100000, got {rotate_mb}"),
            ));
        }
        for (field, topic) in [
            ("output.kafka_topic", &raw.output.kafka_topic),
            ("output.status_topic", &raw.output.status_topic),
            ("output.snapshot_topic", &raw.output.snapshot_topic),
            ("output.clip_topic", &raw.output.clip_topic),
        ] {
            if topic.is_empty() {
                return Err(err(field, "must not be empty".into()));
            }
        }
        let clip_wait_s = raw.output.clip_wait_s.unwrap_or(60.0);
        if !(clip_wait_s.is_finite() && (1.0..=3600.0).contains(&clip_wait_s)) {
            return Err(err(
                "output.clip_wait_s",
                format!("must be between 1 and 3600, got {clip_wait_s}"),
            ));
        }
        if let Some((field, message)) = raw.kafka.problems().into_iter().next() {
            return Err(err(&format!("kafka.{field}"), message));
        }
        Ok(Self {
            model: raw.detect.model,
            detect_fps: raw.detect.fps,
            score_threshold: raw.detect.score_threshold,
            execution_provider,
            intra_op_threads: raw.detect.intra_op_threads,
            inter_op_threads: raw.detect.inter_op_threads,
            max_batch: raw.detect.max_batch,
            max_wait: std::time::Duration::from_millis(raw.detect.max_wait_ms),
            pose,
            person_rule,
            fall,
            incidents,
            tracker: TrackerConfig::default(),
            utc_offset_min,
            outbox: raw.output.outbox,
            snapshots: raw.output.snapshots,
            clips: raw.clips.validate().map_err(|(field, m)| err(&field, m))?,
            snapshot_retention,
            outbox_max_pending,
            outbox_rotate_bytes: (rotate_mb * 1_048_576.0) as u64,
            kafka_topic: raw.output.kafka_topic,
            status_topic: raw.output.status_topic,
            snapshot_topic: raw.output.snapshot_topic,
            clip_topic: raw.output.clip_topic,
            clip_wait: std::time::Duration::from_secs_f64(clip_wait_s),
            kafka: raw.kafka,
        })
    }
}

/// "+08:00" → 480, "-05:30" → -330; at most ±14 h.
fn parse_utc_offset(text: &str) -> Option<i32> {
    let sign = match text.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = text[1..].split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && h * 60 + m <= 14 * 60).then_some(sign * (h * 60 + m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_under_configs_parses() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/configs");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).expect("configs/") {
            let path = entry.expect("entry").path();
            if path.file_name().is_some_and(|f| f == "guardians.toml") {
                // The guardians' registry (sharpeyes notify), not a pipeline config.
                sharpeyes_notify::Registry::load(&path).unwrap_or_else(|e| panic!("{e}"));
            } else if path.extension().is_some_and(|e| e == "toml") {
                PipelineConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
                n += 1;
            }
        }
        assert!(n >= 1);
        assert!(PipelineConfig::embedded_default().person_rule.is_some());
    }

    #[test]
    fn pose_section_parses_and_checks_its_fields() {
        let c = PipelineConfig::embedded_default();
        let pose = c.pose.expect("the default config runs a pose model");
        assert_eq!(
            (pose.model.as_str(), pose.mode),
            ("yolo11n_pose", PoseMode::Frame)
        );
        let text = DEFAULT_CONFIG.replace("mode = \"frame\"", "mode = \"crops\"");
        let c = PipelineConfig::parse(&text, "x.toml").expect("valid");
        assert_eq!(c.pose.expect("pose").mode, PoseMode::Crops);
        let text = DEFAULT_CONFIG.replace("mode = \"frame\"", "mode = \"tiles\"");
        let e = PipelineConfig::parse(&text, "x.toml").unwrap_err();
        assert!(e.message.contains("tiles"), "{e}");
        let text = DEFAULT_CONFIG.replace("min_person_score = 0.3", "min_person_score = 2");
        let e = PipelineConfig::parse(&text, "x.toml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.toml: pose.min_person_score: must be between 0 and 1, got 2"
        );
        let text = DEFAULT_CONFIG.replace("[pose]\n", "[pose]\nenabled = false\n");
        assert_eq!(
            PipelineConfig::parse(&text, "x.toml").expect("valid").pose,
            None
        );
    }

    #[test]
    fn rule_timings_and_utc_offset_parse() {
        let c = PipelineConfig::embedded_default();
        let fall = c.fall.expect("the default config detects falls");
        assert_eq!((fall.confirm_ms, fall.max_fall_ms), (2000, 2000));
        assert_eq!(c.utc_offset_min, 480);
        assert_eq!(parse_utc_offset("-05:30"), Some(-330));
        for bad in ["08:00", "+8:00", "+15:00", "+08:60", "+0800"] {
            assert_eq!(parse_utc_offset(bad), None, "{bad}");
        }
        let text = DEFAULT_CONFIG.replace("confirm_s = 2.0", "confirm_s = -1");
        let e = PipelineConfig::parse(&text, "x.toml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.toml: rules.fall.confirm_s: must be between 0 and 600, got -1"
        );
        let text = DEFAULT_CONFIG.replace("utc_offset = \"+08:00\"", "utc_offset = \"CST\"");
        let e = PipelineConfig::parse(&text, "x.toml").unwrap_err();
        assert_eq!(e.field, "rules.utc_offset");
    }

    #[test]
    fn fps_out_of_range_names_file_and_field() {
        let text = DEFAULT_CONFIG.replace("fps = 5.0", "fps = 0");
        let e = PipelineConfig::parse(&text, "x.toml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.toml: detect.fps: must be between 0.1 and 30, got 0"
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        let text = DEFAULT_CONFIG.replace("[detect]", "[detect]\nmodle = \"x\"");
        let e = PipelineConfig::parse(&text, "x.toml").unwrap_err();
        assert!(e.message.contains("modle"), "{e}");
    }

    #[test]
    fn a_disabled_rule_is_none() {
        let text = DEFAULT_CONFIG.replace("enabled = true", "enabled = false");
        assert_eq!(
            PipelineConfig::parse(&text, "x.toml")
                .expect("valid")
                .person_rule,
            None
        );
    }

    #[test]
    fn execution_provider_defaults_to_one_cpu_thread() {
        let c = PipelineConfig::embedded_default();
        assert_eq!(
            (c.execution_provider, c.intra_op_threads, c.inter_op_threads),
            (ExecutionProvider::Cpu, 1, 1)
        );
        let text = DEFAULT_CONFIG.replace("execution_provider = \"cpu\"\n", "");
        let c = PipelineConfig::parse(&text, "x.toml").expect("valid");
        assert_eq!(c.execution_provider, ExecutionProvider::Cpu);
    }

    #[test]
    fn each_execution_provider_parses_with_its_device() {
        for (name, want) in [
            ("cpu", ExecutionProvider::Cpu),
            ("cuda", ExecutionProvider::Cuda { device_id: 1 }),
            ("tensorrt", ExecutionProvider::TensorRt { device_id: 1 }),
            ("openvino", ExecutionProvider::OpenVino),
        ] {
            let text = DEFAULT_CONFIG
                .replace(
                    "execution_provider = \"cpu\"",
                    &format!("execution_provider = \"{name}\""),
                )
                .replace("device_id = 0", "device_id = 1")
                .replace("intra_op_threads = 1", "intra_op_threads = 2")
                .replace("inter_op_threads = 1", "inter_op_threads = 0");
            let c = PipelineConfig::parse(&text, "x.toml").unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(c.execution_provider, want, "{name}");
            assert_eq!((c.intra_op_threads, c.inter_op_threads), (2, 0), "{name}");
        }
    }

    #[test]
    fn unknown_execution_provider_names_file_field_and_choices() {
        let text = DEFAULT_CONFIG.replace(
            "execution_provider = \"cpu\"",
            "execution_provider = \"rocm\"",
        );
        let e = PipelineConfig::parse(&text, "configs/x.toml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "configs/x.toml: detect.execution_provider: unknown \"rocm\"; \
             known: cpu, cuda, tensorrt, openvino"
        );
    }

    #[test]
    fn kafka_section_passes_properties_and_refuses_guarantee_changes() {
        let text = DEFAULT_CONFIG
            .replace(
                "# brokers = \"kafka-1.county.example:9093\"",
                "brokers = \"k1:9093,k2:9093\"",
            )
            .replace(
                "[kafka.properties]\n",
                "[kafka.properties]\n\"security.protocol\" = \"SSL\"\n\"ssl.ca.location\" = \"/etc/ca.pem\"\n",
            );
        let c = PipelineConfig::parse(&text, "x.toml").expect("valid");
        assert_eq!(c.kafka.brokers.as_deref(), Some("k1:9093,k2:9093"));
        assert_eq!(
            c.kafka.resolve().unwrap(),
            vec![
                ("security.protocol".to_string(), "SSL".to_string()),
                ("ssl.ca.location".to_string(), "/etc/ca.pem".to_string())
            ]
        );
        let text = DEFAULT_CONFIG.replace(
            "[kafka.properties]\n",
            "[kafka.properties]\n\"enable.idempotence\" = \"false\"\n",
        );
        let e = PipelineConfig::parse(&text, "x.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("x.toml: kafka.properties.\"enable.idempotence\": is set by Sharp Eyes"),
            "{e}"
        );
    }

    #[test]
    fn absurd_thread_counts_name_the_field() {
        let text = DEFAULT_CONFIG.replace("intra_op_threads = 1", "intra_op_threads = 100000");
        let e = PipelineConfig::parse(&text, "x.toml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.toml: detect.intra_op_threads: must be between 0 and 1024, got 100000"
        );
        let text = DEFAULT_CONFIG.replace("device_id = 0", "device_id = -1");
        let e = PipelineConfig::parse(&text, "x.toml").unwrap_err();
        assert!(
            e.to_string().starts_with("x.toml: line 21, column 13: "),
            "{e}"
        );
    }
}
