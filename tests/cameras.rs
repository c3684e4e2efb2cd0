//! Camera config files end to end on the real file system: the shipped files check, a bad file
//! does not stop a good one, and the `sharpeyes config check` output format.

use std::path::{Path, PathBuf};

use sharpeyes::cameras::{self, CameraConfig, Change, Reloader};

fn shipped_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/cameras")
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sharpeyes-cameras-it-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

const GOOD: &str = "id = \"gate-east\"\nname = \"East gate\"\nvillage = \"Xiaohe\"\n\
    [stream]\nurl = \"rtsp://192.168.1.64/101\"\n";
const BAD: &str = "id = \"pond north\"\nname = \"North pond\"\nvillage = \"Xiaohe\"\n\
    [stream]\nurl = \"rtsp://admin:hunter2@192.168.1.70/1\"\n[detect]\nfps = 0\n";

#[test]
fn every_shipped_camera_file_passes_check() {
    let dir = shipped_dir();
    let files = cameras::load::camera_files(&dir).expect("configs/cameras exists");
    assert!(files.len() >= 2, "{files:?}");
    for f in &files {
        let text = std::fs::read_to_string(f).expect("readable");
        CameraConfig::parse(&text, &f.display().to_string()).unwrap_or_else(|e| {
            panic!(
                "{}",
                e.iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
    }
    let mut out = Vec::new();
    let ok = cameras::run_check_with(&dir, &["yolox_nano".to_string()], &mut out);
    let out = String::from_utf8(out).expect("utf8");
    assert!(ok, "{out}");
    assert_eq!(out, format!("{} camera files, 0 errors\n", files.len()));
    // The examples point at hosts that do not exist here, so they must stay disabled.
    assert_eq!(cameras::load_dir(&dir).enabled().count(), 0);
}

#[test]
fn run_check_with_the_model_store_accepts_the_shipped_files() {
    // Models come from `ModelStore::from_env()`: the embedded manifests at least.
    let mut out = Vec::new();
    assert!(
        cameras::run_check(&shipped_dir(), &mut out),
        "{}",
        String::from_utf8_lossy(&out)
    );
}

#[test]
fn load_dir_returns_the_good_camera_and_the_bad_files_issues() {
    let d = temp_dir("mixed");
    std::fs::write(d.join("a-pond.toml"), BAD).expect("write");
    std::fs::write(d.join("b-gate.toml"), GOOD).expect("write");
    let set = cameras::load_dir(&d);
    assert_eq!(set.files, 2);
    assert_eq!(set.cameras.len(), 1);
    assert_eq!(set.cameras[0].config.id.as_str(), "gate-east");
    assert_eq!(set.cameras[0].path, d.join("b-gate.toml"));
    let bad = d.join("a-pond.toml").display().to_string();
    let shown: Vec<String> = set.issues.iter().map(|i| i.to_string()).collect();
    assert_eq!(
        shown,
        vec![
            format!(
                "{bad}: id: must be 1-64 characters of ASCII letters, digits, '-', '_' or '.', got \"pond north\""
            ),
            format!(
                "{bad}: stream.url: contains a password; put it in stream.password_env or stream.password_file"
            ),
            format!("{bad}: detect.fps: must be between 0.1 and 30, got 0"),
        ]
    );
}

#[test]
fn run_check_prints_every_issue_then_a_summary_and_fails() {
    let d = temp_dir("check");
    std::fs::write(d.join("a-pond.toml"), BAD).expect("write");
    std::fs::write(d.join("b-gate.toml"), GOOD).expect("write");
    std::fs::write(d.join("c-garbage.toml"), b"\x00\xff\xfe garbage").expect("write");
    let mut out = Vec::new();
    let ok = cameras::run_check_with(&d, &["yolox_nano".to_string()], &mut out);
    assert!(!ok);
    let out = String::from_utf8(out).expect("utf8");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(
        lines[..3]
            .iter()
            .all(|l| l.starts_with(&d.join("a-pond.toml").display().to_string()))
    );
    assert_eq!(
        lines[3],
        format!(
            "{}: line 1, column 2: not UTF-8 text (a camera file must be UTF-8 TOML)",
            d.join("c-garbage.toml").display()
        )
    );
    assert_eq!(lines[4], "3 camera files, 4 errors");
    assert!(!out.contains("hunter2"), "{out}");
}

#[test]
fn run_check_of_a_single_good_file_passes() {
    let d = temp_dir("single");
    let f = d.join("gate.toml");
    std::fs::write(&f, GOOD).expect("write");
    let mut out = Vec::new();
    assert!(cameras::run_check_with(
        &f,
        &["yolox_nano".to_string()],
        &mut out
    ));
    assert_eq!(
        String::from_utf8(out).expect("utf8"),
        "1 camera files, 0 errors\n"
    );
}

#[test]
fn run_check_of_a_missing_path_fails_naming_it() {
    let mut out = Vec::new();
    let missing = Path::new("/nonexistent/sharpeyes/cam.toml");
    assert!(!cameras::run_check_with(missing, &[], &mut out));
    let out = String::from_utf8(out).expect("utf8");
    assert!(
        out.starts_with("/nonexistent/sharpeyes/cam.toml: -: cannot read: "),
        "{out}"
    );
    assert!(out.ends_with("1 camera files, 1 errors\n"), "{out}");
}

#[test]
fn hot_reload_keeps_the_good_camera_while_an_edit_is_broken() {
    let d = temp_dir("reload");
    let f = d.join("gate.toml");
    std::fs::write(&f, GOOD).expect("write");
    let mut r = Reloader::new();
    let start = r.apply(cameras::scan_dir(&d).expect("scan"));
    assert!(matches!(start.as_slice(), [Change::Start(c)] if c.id.as_str() == "gate-east"));
    std::fs::write(&f, GOOD.replace("[stream]", "[detect]\nfps = 50\n[stream]")).expect("write");
    let rejected = r.apply(cameras::scan_dir(&d).expect("scan"));
    assert!(
        matches!(rejected.as_slice(), [Change::Rejected { .. }]),
        "{rejected:?}"
    );
    assert_eq!(r.running().len(), 1);
    std::fs::write(&f, GOOD.replace("[stream]", "[detect]\nfps = 2\n[stream]")).expect("write");
    let restart = r.apply(cameras::scan_dir(&d).expect("scan"));
    assert!(
        matches!(restart.as_slice(), [Change::Restart(c)] if c.detect.fps == 2.0),
        "{restart:?}"
    );
}
