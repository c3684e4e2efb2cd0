//! Helpers shared by the end-to-end test files: the real binary, run with absolute paths to the
//! models, assets and ONNX Runtime, in a scratch directory.
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::Command;

use sharpeyes_core::{Alert, Event};

pub mod proxy;
pub mod web;

pub const BIN: &str = env!("CARGO_BIN_EXE_sharpeyes");

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn assets() -> PathBuf {
    sharpeyes_core::testing::assets_root()
}

/// A scratch directory for one test, emptied first.
pub fn scratch(name: &str) -> PathBuf {
    let d = repo().join("target/test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// The binary, run in `cwd`, with absolute paths to the model cache, assets and ONNX Runtime.
pub fn sharpeyes(cwd: &Path) -> Option<Command> {
    let ort = match std::env::current_dir()
        .ok()
        .and_then(|_| sharpeyes::runtime::locate_onnxruntime().ok())
    {
        Some(p) => p.canonicalize().unwrap_or(p),
        None => {
            eprintln!(
                "SKIP: ONNX Runtime library not found (set ORT_DYLIB_PATH or run ./dev setup)"
            );
            return None;
        }
    };
    let mut c = Command::new(BIN);
    c.current_dir(cwd)
        .env("ORT_DYLIB_PATH", ort)
        .env("SHARPEYES_MODELS", repo().join("models"))
        .env("SHARPEYES_MODEL_CACHE", repo().join("models/.cache"))
        .env("SHARPEYES_ASSETS", assets().join("models"))
        .env("SHARPEYES_CLIPS", assets().join("videos"))
        .env("RUST_LOG", "info");
    Some(c)
}

/// Every event (alerts and status events) of a JSON-lines file (outbox, --alerts-out).
pub fn read_events(path: &Path) -> Vec<Event> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad event line {l}: {e}")))
        .collect()
}

/// The alerts (no status events) of a JSON-lines file.
pub fn read_alerts(path: &Path) -> Vec<Alert> {
    read_events(path)
        .into_iter()
        .filter_map(|e| match e {
            Event::Alert(a) => Some(a),
            Event::Status(_) => None,
        })
        .collect()
}

/// Validates JSON texts (one event each) against the schemas in schemas/ with the reference
/// validator (`scripts/validate_events.py`, Python `jsonschema`, Draft 2020-12); panics naming
/// every invalid one. `false` (after printing SKIP) when the validator is not installed.
pub fn validate_json(what: &str, texts: &[String]) -> bool {
    let python = repo().join(".venv/bin/python");
    let has_validator = Command::new(&python)
        .args(["-c", "import jsonschema, referencing"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_validator {
        eprintln!("SKIP schema validation of {what}: .venv has no jsonschema (run ./dev setup)");
        return false;
    }
    let mut child = Command::new(&python)
        .arg(repo().join("scripts/validate_events.py"))
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the schema validator");
    let mut input = texts.join("\n");
    input.push('\n');
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(input.as_bytes())
            .expect("write to the validator");
    }
    let out = child.wait_with_output().expect("validator output");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what}: messages that do not validate against schemas/:\n{report}"
    );
    assert!(
        report.contains(&format!("valid={} invalid=0", texts.len())),
        "{what}: {report}"
    );
    true
}

/// The number after `key=` in a summary line.
pub fn summary_field(summary: &str, key: &str) -> u64 {
    summary
        .split(' ')
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in {summary}"))
}

/// `GET /metrics` of a `--metrics` endpoint (real HTTP); None when it does not answer 200.
pub fn metrics(addr: &str) -> Option<String> {
    let mut response = ureq::get(format!("http://{addr}/metrics"))
        .config()
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .call()
        .ok()?;
    response.body_mut().read_to_string().ok()
}

/// `name{camera="id"} value` → value, per camera.
pub fn per_camera(text: &str, name: &str) -> std::collections::BTreeMap<String, f64> {
    let prefix = format!("{name}{{camera=\"");
    text.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|rest| {
            let (cam, value) = rest.split_once("\"} ")?;
            Some((cam.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

/// The cameras whose state gauge says `online`.
pub fn online(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("sharpeyes_ingest_camera_state{camera=\""))
        .filter_map(|rest| {
            let (cam, rest) = rest.split_once("\",state=\"online\"} ")?;
            (rest.trim() == "1").then(|| cam.to_owned())
        })
        .collect()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A child process killed (and reaped) when dropped, so a failed test leaves nothing running.
pub struct Kill(pub std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The incident alerts in an outbox (every line with an `incident`, `person_detected` aside:
/// a one-shot alert with a cooldown, never ended), in order.
pub fn incident_alerts(outbox: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(outbox)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|a| {
            a.get("lifecycle").is_some()
                && a.get("incident").is_some()
                && a["kind"] != "person_detected"
        })
        .collect()
}

/// Incidents opened in an outbox and not ended there: incident id → camera id.
pub fn open_incidents(outbox: &Path) -> std::collections::BTreeMap<String, String> {
    let mut open = std::collections::BTreeMap::new();
    for a in incident_alerts(outbox) {
        let id = a["incident"].as_str().unwrap_or_default().to_string();
        match a["lifecycle"].as_str() {
            Some("new") => {
                open.insert(
                    id,
                    a["camera"]["id"].as_str().unwrap_or_default().to_string(),
                );
            }
            Some("end") => {
                open.remove(&id);
            }
            _ => {}
        }
    }
    open
}
