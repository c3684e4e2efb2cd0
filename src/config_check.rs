//! `sharpeyes config check [PATH]`: checks a config tree, a directory or one file, telling what
//! each file is and checking it with its own parser: the pipeline config (`config.rs`), a camera
//! file (`cameras/config.rs`) or the guardians' registry (`sharpeyes_notify`). Reads
//! the files (I/O); telling a file's kind from its keys ([`kind_of`]) and checking a file's text
//! ([`check_text`]) are pure.
//!
//! - A directory: each visible `*.toml` in it is told apart by its top-level keys (the file name
//!   decides when they do not), and its `cameras/` subdirectory, if any, is a camera directory.
//!   So `sharpeyes config check configs` checks `default.toml`, `guardians.toml` and every file of
//!   `cameras/`. Nothing deeper is read.
//! - A directory named `cameras` is a camera directory: `sharpeyes run` reads every `*.toml` there
//!   as a camera, so each is checked as one, and a pipeline config or registry there is an error.
//! - A file: checked as what its keys say.
//!
//! Camera files are checked together, as `sharpeyes run` loads them: ids unique across them,
//! models known. Every problem is one line `file: field: message`; the verdict is false only when
//! a file is invalid.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cameras::load::{camera_files, collect, file_label, unknown_models};
use crate::cameras::{CameraConfig, ConfigIssue};
use crate::config::PipelineConfig;

/// What a config file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The pipeline config (`configs/default.toml`, `--config`).
    Pipeline,
    /// A camera file (`configs/cameras/*.toml`).
    Camera,
    /// The guardians' registry (`configs/guardians.toml`, `sharpeyes notify --registry`).
    Registry,
}

impl Kind {
    fn what(self) -> &'static str {
        match self {
            Kind::Pipeline => "a pipeline config",
            Kind::Camera => "a camera file",
            Kind::Registry => "the guardians' registry",
        }
    }
}

/// Top-level keys only one kind of file has (`kafka` is in both the pipeline config and the
/// registry, so it tells nothing). A pipeline config's `[detect]` has `model`, a camera's does not.
const CAMERA_KEYS: &[&str] = &[
    "id",
    "name",
    "village",
    "enabled",
    "site",
    "stream",
    "privacy_masks",
    "zones",
    "health",
    "onvif",
];
const PIPELINE_KEYS: &[&str] = &["pose", "rules", "output"];
const REGISTRY_KEYS: &[&str] = &["service", "gateways", "guardians"];

/// What a file is, by the top-level keys of its `table`: the kind with the most keys of its own.
/// When no kind has more than the others, the file name decides: `guardians*.toml` is the
/// registry, `default.toml` and `pipeline*.toml` a pipeline config. None: cannot tell.
pub fn kind_of(table: &toml::Table, file_name: &str) -> Option<Kind> {
    let count = |keys: &[&str]| keys.iter().filter(|k| table.contains_key(**k)).count();
    let detect_model = table
        .get("detect")
        .and_then(|d| d.as_table())
        .is_some_and(|d| d.contains_key("model"));
    let mut scores = [
        (Kind::Camera, count(CAMERA_KEYS)),
        (
            Kind::Pipeline,
            count(PIPELINE_KEYS) + usize::from(detect_model),
        ),
        (Kind::Registry, count(REGISTRY_KEYS)),
    ];
    scores.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    if scores[0].1 > scores[1].1 {
        return Some(scores[0].0);
    }
    let stem = file_name.strip_suffix(".toml").unwrap_or(file_name);
    if stem.starts_with("guardians") {
        Some(Kind::Registry)
    } else if stem == "default" || stem.starts_with("pipeline") {
        Some(Kind::Pipeline)
    } else {
        None
    }
}

/// The problems of a pipeline config or registry `text` (empty: valid), each
/// `label: field: message`. Pure. Camera files go through [`CameraConfig::parse_bytes`] instead,
/// since they are also checked together.
pub fn check_text(kind: Kind, text: &str, label: &str) -> Vec<String> {
    match kind {
        Kind::Pipeline => match PipelineConfig::parse(text, label) {
            Ok(_) => Vec::new(),
            Err(e) => vec![e.to_string()],
        },
        Kind::Registry => match sharpeyes_notify::Registry::parse(text, Path::new(label)) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        },
        Kind::Camera => match CameraConfig::parse(text, label) {
            Ok(_) => Vec::new(),
            Err(issues) => issues.iter().map(ToString::to_string).collect(),
        },
    }
}

/// The outcome of a check.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// Every problem, `file: field: message`: pipeline configs and registries first, in file
    /// name order, then the camera files.
    pub problems: Vec<String>,
    pub pipeline_configs: usize,
    pub registries: usize,
    pub camera_files: usize,
    /// Files that could not be read or whose kind could not be told.
    pub other_files: usize,
}

impl Report {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// `1 pipeline config, 1 guardians' registry, 2 camera files, 0 errors` (kinds with no file
    /// left out; camera files always shown when nothing else is).
    pub fn summary(&self) -> String {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut parts = Vec::new();
        if self.pipeline_configs > 0 {
            parts.push(plural(
                self.pipeline_configs,
                "pipeline config",
                "pipeline configs",
            ));
        }
        if self.registries > 0 {
            parts.push(plural(
                self.registries,
                "guardians' registry",
                "guardians' registries",
            ));
        }
        if self.camera_files > 0 || parts.is_empty() {
            // As `cameras::run_check` and `camera push` say it.
            parts.push(format!("{} camera files", self.camera_files));
        }
        if self.other_files > 0 {
            parts.push(plural(self.other_files, "other file", "other files"));
        }
        parts.push(format!("{} errors", self.problems.len()));
        parts.join(", ")
    }
}

/// One file read and told apart: its bytes, or the problem that stops it.
enum Read {
    Text(String, toml::Table),
    /// Not readable, not UTF-8 or not TOML: the problem, located.
    Broken(String),
}

fn read(path: &Path) -> Read {
    let label = file_label(path);
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            return Read::Broken(
                ConfigIssue::new(&label, "-", format!("cannot read: {e}")).to_string(),
            );
        }
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            return Read::Broken(
                ConfigIssue::at(
                    &label,
                    e.as_bytes(),
                    Some(e.utf8_error().valid_up_to()),
                    "not UTF-8 text (a config file must be UTF-8 TOML)",
                )
                .to_string(),
            );
        }
    };
    match text.parse::<toml::Table>() {
        Ok(table) => Read::Text(text, table),
        Err(e) => Read::Broken(
            ConfigIssue::at(
                &label,
                text.as_bytes(),
                e.span().map(|s| s.start),
                e.message().trim_end(),
            )
            .to_string(),
        ),
    }
}

/// Camera files collected for [`collect`]: path and parse result.
type CameraScan = Vec<(PathBuf, Result<CameraConfig, Vec<ConfigIssue>>)>;

/// Checks `path` (a config tree, a directory, or one file); `known_models` are the model names
/// camera files may use.
pub fn check(path: &Path, known_models: &[String]) -> Report {
    let mut report = Report::default();
    let mut cameras: CameraScan = Vec::new();
    if path.is_dir() {
        if is_camera_dir(path) {
            camera_dir(path, &mut report, &mut cameras);
        } else {
            match camera_files(path) {
                Ok(files) => {
                    for f in files {
                        any_file(&f, &mut report, &mut cameras);
                    }
                }
                Err(e) => {
                    report.problems.push(
                        ConfigIssue::new(
                            &file_label(path),
                            "-",
                            format!("cannot read directory: {e}"),
                        )
                        .to_string(),
                    );
                }
            }
            let sub = path.join(CAMERA_DIR);
            if sub.is_dir() {
                camera_dir(&sub, &mut report, &mut cameras);
            }
        }
    } else {
        any_file(path, &mut report, &mut cameras);
    }
    let mut set = collect(cameras);
    let unknown = unknown_models(&set, known_models);
    set.issues.extend(unknown);
    report.camera_files += set.files;
    report
        .problems
        .extend(set.issues.iter().map(ToString::to_string));
    report
}

/// The name of a camera directory (the last part of `cameras::DEFAULT_DIR`).
const CAMERA_DIR: &str = "cameras";

/// A directory every file of which `sharpeyes run --cameras` would read as a camera.
fn is_camera_dir(dir: &Path) -> bool {
    dir.file_name().is_some_and(|n| n == CAMERA_DIR)
}

/// A file outside a camera directory: checked as what it is.
fn any_file(path: &Path, report: &mut Report, cameras: &mut CameraScan) {
    let label = file_label(path);
    let (text, table) = match read(path) {
        Read::Text(text, table) => (text, table),
        Read::Broken(problem) => {
            report.other_files += 1;
            report.problems.push(problem);
            return;
        }
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    match kind_of(&table, &name) {
        Some(Kind::Camera) => {
            cameras.push((path.to_path_buf(), CameraConfig::parse(&text, &label)));
        }
        Some(kind) => {
            match kind {
                Kind::Pipeline => report.pipeline_configs += 1,
                _ => report.registries += 1,
            }
            report.problems.extend(check_text(kind, &text, &label));
        }
        None => {
            report.other_files += 1;
            report.problems.push(
                ConfigIssue::new(
                    &label,
                    "-",
                    "cannot tell what this file is: a pipeline config has [detect] model and \
                     [output], a camera file id and [stream], the guardians' registry \
                     [[guardians]] (or name it guardians.toml)",
                )
                .to_string(),
            );
        }
    }
}

/// Every `*.toml` of a camera directory, each as a camera file.
fn camera_dir(dir: &Path, report: &mut Report, cameras: &mut CameraScan) {
    let files = match camera_files(dir) {
        Ok(f) => f,
        Err(e) => {
            report.problems.push(
                ConfigIssue::new(&file_label(dir), "-", format!("cannot read directory: {e}"))
                    .to_string(),
            );
            return;
        }
    };
    for path in files {
        let label = file_label(&path);
        // A pipeline config or registry here would be read as a broken camera: say what it is
        // rather than list its keys as unknown camera fields.
        if let Read::Text(_, table) = read(&path) {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            if let Some(kind @ (Kind::Pipeline | Kind::Registry)) = kind_of(&table, &name) {
                let issue = ConfigIssue::new(
                    &label,
                    "-",
                    format!(
                        "is {}, not a camera file; `sharpeyes run` reads every *.toml in {} as a \
                         camera: move it out",
                        kind.what(),
                        dir.display()
                    ),
                );
                cameras.push((path, Err(vec![issue])));
                continue;
            }
        }
        let result = crate::cameras::load_file(&path);
        cameras.push((path, result));
    }
}

/// `sharpeyes config check [PATH]`: writes every problem on its own line, then the summary
/// ([`Report::summary`]); true when there is none (exit 0, else 2). Camera models are checked
/// against the manifests `ModelStore::from_env()` knows.
pub fn run_check(path: &Path, out: &mut impl Write) -> bool {
    let known = crate::models::ModelStore::from_env().names();
    run_check_with(path, &known, out)
}

/// [`run_check`] with the known model names given.
pub fn run_check_with(path: &Path, known_models: &[String], out: &mut impl Write) -> bool {
    let report = check(path, known_models);
    // Write errors (a closed pipe) do not change the verdict.
    for p in &report.problems {
        let _ = writeln!(out, "{p}");
    }
    let _ = writeln!(out, "{}", report.summary());
    report.is_ok()
}

/// Test support shared by the config parsers' tests: every number of a TOML text, located, to
/// replace one at a time with the values that used to crash a parser.
#[cfg(test)]
pub(crate) mod numbers {
    use std::ops::Range;

    use toml::de::{DeTable, DeValue};

    /// Replacements for a number: not finite, negative, zero, huge, tiny, out of i64.
    pub const BAD: &[&str] = &[
        "nan",
        "+nan",
        "-nan",
        "inf",
        "+inf",
        "-inf",
        "-1",
        "-0.5",
        "0",
        "-0.0",
        "1e-320",
        "1e300",
        "-1e300",
        "1.7976931348623157e308",
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551616",
    ];

    /// Whether `value` (one of [`BAD`]) is NaN or infinite.
    pub fn non_finite(value: &str) -> bool {
        value.contains("nan") || value.contains("inf")
    }

    /// One number of a document: its dotted path (`zones[0].person_in_zone.min_s`,
    /// `zones[1].points[2][0]`), where its text is, and the 1-based line it is on.
    #[derive(Debug)]
    pub struct Leaf {
        pub path: String,
        pub span: Range<usize>,
        pub line: usize,
    }

    /// Every integer and float of `text`, inside tables, arrays, arrays of tables and inline
    /// tables alike.
    pub fn leaves(text: &str) -> Vec<Leaf> {
        let doc = DeTable::parse(text).unwrap_or_else(|e| panic!("base text parses: {e}"));
        let mut out = Vec::new();
        table(text, "", doc.get_ref(), &mut out);
        out.sort_by_key(|l| l.span.start);
        out
    }

    /// `text` with the number at `leaf` replaced by `value`.
    pub fn replace(text: &str, leaf: &Leaf, value: &str) -> String {
        format!(
            "{}{value}{}",
            &text[..leaf.span.start],
            &text[leaf.span.end..]
        )
    }

    /// Whether some issue (`file: field: message` lines) is located at `leaf`: its field is the
    /// leaf's path (an entry's id in parentheses left out) or a prefix ending at an index
    /// (`points[1]` for `points[1][0]`), its message
    /// names the leaf's path (a rule between two keys), or it is at the leaf's line (a TOML type
    /// error).
    pub fn located(issues: &[String], file: &str, leaf: &Leaf) -> bool {
        issues.iter().any(|i| {
            let Some(rest) = i.strip_prefix(&format!("{file}: ")) else {
                return false;
            };
            let at_line = rest.starts_with(&format!("line {}, column ", leaf.line))
                || rest.contains(&format!("at line {}, column ", leaf.line));
            // The registry names an entry by index and id: `guardians[0] (zhang-wei).kinds`.
            let mut field = rest.split(": ").next().unwrap_or_default().to_string();
            while let Some(open) = field.find(" (")
                && let Some(close) = field[open..].find(')')
            {
                field.replace_range(open..open + close + 1, "");
            }
            at_line
                || field == leaf.path
                || leaf.path.starts_with(&format!("{field}["))
                || rest.contains(&leaf.path)
        })
    }

    fn table(text: &str, prefix: &str, t: &DeTable<'_>, out: &mut Vec<Leaf>) {
        for (k, v) in t.iter() {
            let path = if prefix.is_empty() {
                k.get_ref().to_string()
            } else {
                format!("{prefix}.{}", k.get_ref())
            };
            value(text, path, v.get_ref(), v.span(), out);
        }
    }

    fn value(text: &str, path: String, v: &DeValue<'_>, span: Range<usize>, out: &mut Vec<Leaf>) {
        match v {
            DeValue::Integer(_) | DeValue::Float(_) => {
                let line = text[..span.start].matches('\n').count() + 1;
                out.push(Leaf { path, span, line });
            }
            DeValue::Table(t) => table(text, &path, t, out),
            DeValue::Array(a) => {
                for (i, item) in a.iter().enumerate() {
                    value(
                        text,
                        format!("{path}[{i}]"),
                        item.get_ref(),
                        item.span(),
                        out,
                    );
                }
            }
            DeValue::String(_) | DeValue::Boolean(_) | DeValue::Datetime(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::numbers::{BAD, leaves, located, non_finite, replace};
    use super::*;

    const GUARDIANS: &str = include_str!("../configs/guardians.toml");
    const CAMERA: &str = include_str!("../configs/cameras/example-gate-east.toml");
    const MODELS: &[&str] = &["yolox_nano"];

    fn known() -> Vec<String> {
        MODELS.iter().map(|m| m.to_string()).collect()
    }

    fn temp_tree(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "sharpeyes-config-check-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("cameras")).expect("temp dir");
        d
    }

    fn table(text: &str) -> toml::Table {
        text.parse().expect("TOML")
    }

    #[test]
    fn kinds_are_told_by_their_keys_then_by_the_file_name() {
        let default = crate::config::DEFAULT_CONFIG;
        assert_eq!(kind_of(&table(default), "x.toml"), Some(Kind::Pipeline));
        assert_eq!(kind_of(&table(GUARDIANS), "x.toml"), Some(Kind::Registry));
        assert_eq!(
            kind_of(&table(CAMERA), "guardians.toml"),
            Some(Kind::Camera)
        );
        // A camera's [detect] has no `model`; a pipeline config with only its required sections.
        let minimal =
            "[detect]\nmodel = \"m\"\nfps = 1\n[output]\noutbox = \"o\"\nsnapshots = \"s\"\n";
        assert_eq!(kind_of(&table(minimal), "x.toml"), Some(Kind::Pipeline));
        // Keys that tell nothing: the name decides, else nobody can tell.
        let kafka_only = "[kafka]\nbrokers = \"k:9092\"\n";
        assert_eq!(
            kind_of(&table(kafka_only), "guardians-east.toml"),
            Some(Kind::Registry)
        );
        assert_eq!(
            kind_of(&table(kafka_only), "default.toml"),
            Some(Kind::Pipeline)
        );
        assert_eq!(kind_of(&table(kafka_only), "notify.toml"), None);
        assert_eq!(kind_of(&table(""), "x.toml"), None);
    }

    #[test]
    fn the_repository_configs_tree_checks_clean_each_file_as_what_it_is() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
        let report = check(&dir, &known());
        assert!(report.is_ok(), "{:#?}", report.problems);
        assert_eq!(
            (
                report.pipeline_configs,
                report.registries,
                report.camera_files,
                report.other_files
            ),
            (1, 1, 2, 0)
        );
        assert_eq!(
            report.summary(),
            "1 pipeline config, 1 guardians' registry, 2 camera files, 0 errors"
        );
        // The camera directory alone and each file alone check too.
        assert_eq!(
            check(&dir.join("cameras"), &known()).summary(),
            "2 camera files, 0 errors"
        );
        assert_eq!(
            check(&dir.join("default.toml"), &known()).summary(),
            "1 pipeline config, 0 errors"
        );
        assert_eq!(
            check(&dir.join("guardians.toml"), &known()).summary(),
            "1 guardians' registry, 0 errors"
        );
    }

    #[test]
    fn each_problem_of_a_tree_names_its_file_and_key() {
        let d = temp_tree("bad");
        let default = crate::config::DEFAULT_CONFIG.replace("fps = 5.0", "fps = nan");
        std::fs::write(d.join("default.toml"), default).expect("write");
        let guardians = GUARDIANS.replace("request_timeout_s = 10", "request_timeout_s = nan");
        std::fs::write(d.join("guardians.toml"), guardians).expect("write");
        std::fs::write(d.join("broken.toml"), "[detect\n").expect("write");
        std::fs::write(d.join("notes.toml"), "title = \"x\"\n").expect("write");
        let camera = CAMERA
            .replace(
                "fps = 5.0",
                "fps = 5.0\nmotion_gating = true\nquiet_s = nan",
            )
            .replace("min_s = 600", "min_s = inf");
        std::fs::write(d.join("cameras/gate.toml"), camera).expect("write");
        std::fs::write(
            d.join("cameras/pipeline.toml"),
            crate::config::DEFAULT_CONFIG,
        )
        .expect("write");
        let report = check(&d, &known());
        let f = |name: &str| d.join(name).display().to_string();
        assert_eq!(
            report.problems,
            vec![
                format!(
                    "{}: line 1, column 8: unclosed table, expected `]`",
                    f("broken.toml")
                ),
                format!(
                    "{}: detect.fps: must be between 0.1 and 30, got NaN",
                    f("default.toml")
                ),
                format!(
                    "{}: service.request_timeout_s: must be more than 0 and at most 300, got NaN",
                    f("guardians.toml")
                ),
                format!(
                    "{}: -: cannot tell what this file is: a pipeline config has [detect] model \
                     and [output], a camera file id and [stream], the guardians' registry \
                     [[guardians]] (or name it guardians.toml)",
                    f("notes.toml")
                ),
                format!(
                    "{}: detect.quiet_s: must be between 1 and 3600, got NaN",
                    f("cameras/gate.toml")
                ),
                format!(
                    "{}: zones[0].loitering.min_s: must be between 0 and 86400 seconds, got inf",
                    f("cameras/gate.toml")
                ),
                format!(
                    "{}: -: is a pipeline config, not a camera file; `sharpeyes run` reads every \
                     *.toml in {} as a camera: move it out",
                    f("cameras/pipeline.toml"),
                    f("cameras")
                ),
            ],
        );
        assert_eq!(
            report.summary(),
            "1 pipeline config, 1 guardians' registry, 2 camera files, 2 other files, 7 errors"
        );
        let mut out = Vec::new();
        assert!(!run_check_with(&d, &known(), &mut out));
        let out = String::from_utf8(out).expect("utf8");
        assert!(out.ends_with(&format!("\n{}\n", report.summary())), "{out}");
    }

    #[test]
    fn camera_files_anywhere_in_the_tree_share_ids_and_models_checks() {
        let d = temp_tree("ids");
        std::fs::write(d.join("a.toml"), CAMERA).expect("write");
        std::fs::write(d.join("cameras/b.toml"), CAMERA).expect("write");
        let report = check(&d, &[]);
        let b = d.join("cameras/b.toml").display().to_string();
        assert_eq!(
            report.problems,
            vec![
                format!(
                    "{b}: id: camera id \"example-gate-east\" is already used by {}",
                    d.join("a.toml").display()
                ),
                format!(
                    "{}: detect.models[0]: unknown model \"yolox_nano\"; known models: ",
                    d.join("a.toml").display()
                ),
            ]
        );
    }

    /// Every number of the shipped pipeline config and registry, replaced by each bad number:
    /// never a panic, never a non-finite number accepted, always an error naming the key.
    fn every_number_is_checked(kind: Kind, base: &str, label: &str) -> Vec<String> {
        assert_eq!(check_text(kind, base, label), Vec::<String>::new());
        let mut keys = Vec::new();
        for leaf in leaves(base) {
            keys.push(leaf.path.clone());
            for bad in BAD {
                let text = replace(base, &leaf, bad);
                let problems = std::panic::catch_unwind(|| check_text(kind, &text, label))
                    .unwrap_or_else(|_| {
                        panic!("{} = {bad} panicked the {kind:?} parser", leaf.path)
                    });
                if problems.is_empty() {
                    assert!(!non_finite(bad), "{} = {bad} was accepted", leaf.path);
                } else {
                    assert!(
                        located(&problems, label, &leaf),
                        "{} = {bad} (line {}): no problem names it: {problems:#?}",
                        leaf.path,
                        leaf.line
                    );
                }
            }
        }
        keys
    }

    #[test]
    fn every_number_of_the_pipeline_config_refuses_bad_numbers_with_a_located_error() {
        let keys = every_number_is_checked(
            Kind::Pipeline,
            crate::config::DEFAULT_CONFIG,
            "configs/default.toml",
        );
        for k in [
            "detect.fps",
            "detect.score_threshold",
            "detect.device_id",
            "detect.max_wait_ms",
            "pose.min_person_score",
            "rules.fall.confirm_s",
            "rules.incidents.cooldown_s",
            "rules.person_detected.cooldown_s",
            "output.snapshot_retention_days",
            "output.outbox_max_pending",
        ] {
            assert!(keys.iter().any(|p| p == k), "{k} not in {keys:?}");
        }
    }

    #[test]
    fn every_number_of_the_registry_refuses_bad_numbers_with_a_located_error() {
        let keys = every_number_is_checked(Kind::Registry, GUARDIANS, "configs/guardians.toml");
        for k in [
            "service.max_attempts",
            "service.backoff_initial_ms",
            "service.backoff_max_ms",
            "service.request_timeout_s",
            "guardians[0].max_per_hour",
        ] {
            assert!(keys.iter().any(|p| p == k), "{k} not in {keys:?}");
        }
    }
}
