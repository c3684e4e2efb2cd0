//! `sharpeyes camera add --onvif` and `sharpeyes camera discover` end to end through the real
//! binary, against the fake ONVIF camera and WS-Discovery responder of
//! `sharpeyes_ingest::onvif::testkit` on 127.0.0.1. Nothing is sent off loopback: discovery is
//! unicast to the responder (`--at`), never to the multicast group.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sharpeyes_ingest::onvif::testkit::{
    Auth, CameraOptions, FakeCamera, PASSWORD, USER, WRONG_PASSWORD, start_discovery_responder,
};

const BIN: &str = env!("CARGO_BIN_EXE_sharpeyes");

/// The stream URIs the fake camera gives for its 1920x1080 and 640x360 profiles (Media2).
const MAIN_URI: &str =
    "rtsp://192.168.1.64:554/Streaming/Channels/101?transportmode=unicast&profile=Profile_1";
const SUB_URI: &str =
    "rtsp://192.168.1.64:554/Streaming/Channels/102?transportmode=unicast&profile=Profile_2";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch directory for one test, emptied first.
fn scratch(name: &str) -> PathBuf {
    let d = repo().join("target/test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// The binary, run in `cwd`, with the repository's model manifests (for `config check`) and
/// debug logs, so that a password leaking into a log line shows up on stderr.
fn sharpeyes(cwd: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(cwd)
        .env("SHARPEYES_MODELS", repo().join("models"))
        .env("RUST_LOG", "debug");
    c
}

/// `sharpeyes camera add` for camera `gate-east` into `dir`, the password in `password_var`.
fn camera_add(device_url: &str, password_var: &str, dir: &Path) -> Command {
    let mut c = sharpeyes(dir);
    c.args(["camera", "add", "--onvif", device_url, "--user", USER])
        .args(["--password-env", password_var])
        .args(["--id", "gate-east", "--village", "Xiaohe", "--dir"])
        .arg(dir);
    c
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).expect("read scratch dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            files.extend(files_under(&p));
        } else {
            files.push(p);
        }
    }
    files
}

fn assert_no_password(what: &str, text: &str) {
    for p in [PASSWORD, WRONG_PASSWORD] {
        assert!(!text.contains(p), "password in {what}:\n{text}");
    }
}

#[test]
fn camera_add_writes_a_valid_file_naming_main_and_substream_without_the_password() {
    let dir = scratch("camera-cli-add");
    let var = "SHARPEYES_TEST_GATE_EAST_PASSWORD";
    // The camera also embeds admin:<password>@ in its stream URIs: they must not reach the file.
    let cam = FakeCamera::start(CameraOptions {
        embed_credentials: true,
        ..CameraOptions::with(Auth::Digest)
    });
    let out = camera_add(&cam.device_url, var, &dir)
        .env(var, PASSWORD)
        .output()
        .expect("run sharpeyes camera add");
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "camera add failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert_no_password("stdout", &stdout);
    assert_no_password("stderr", &stderr);
    assert!(cam.violations().is_empty(), "{:?}", cam.violations());

    let file = dir.join("gate-east.toml");
    assert!(
        stdout.contains(&format!("wrote {}", file.display())),
        "{stdout}"
    );
    assert_eq!(
        files_under(&dir),
        vec![file.clone()],
        "only the camera file is written"
    );
    let written = std::fs::read_to_string(&file).expect("gate-east.toml written");
    assert_no_password("the camera file", &written);

    let toml: toml::Table = written.parse().unwrap_or_else(|e| panic!("{e}\n{written}"));
    assert_eq!(toml["id"].as_str(), Some("gate-east"), "{written}");
    assert_eq!(toml["village"].as_str(), Some("Xiaohe"), "{written}");
    let stream = toml["stream"].as_table().expect("[stream] table");
    assert_eq!(stream["url"].as_str(), Some(MAIN_URI), "{written}");
    assert_eq!(stream["substream_url"].as_str(), Some(SUB_URI), "{written}");
    assert_eq!(stream["username"].as_str(), Some(USER), "{written}");
    assert_eq!(stream["password_env"].as_str(), Some(var), "{written}");

    let check = sharpeyes(&dir)
        .args(["config", "check"])
        .arg(&dir)
        .output()
        .expect("run sharpeyes config check");
    let (check_out, check_err) = text(&check);
    assert!(
        check.status.success(),
        "config check failed: {}\nstdout:\n{check_out}\nstderr:\n{check_err}",
        check.status
    );
    assert!(
        check_out.contains("1 camera files, 0 errors"),
        "{check_out}"
    );
}

#[test]
fn camera_add_with_a_wrong_password_fails_on_auth_and_writes_nothing() {
    let dir = scratch("camera-cli-add-wrong-password");
    let var = "SHARPEYES_TEST_GATE_EAST_PASSWORD";
    let cam = FakeCamera::start(CameraOptions::with(Auth::Digest));
    let out = camera_add(&cam.device_url, var, &dir)
        .env(var, WRONG_PASSWORD)
        .output()
        .expect("run sharpeyes camera add");
    let (stdout, stderr) = text(&out);
    assert!(
        !out.status.success(),
        "camera add succeeded with a wrong password\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stderr.contains("not authorised"), "{stderr}");
    assert_no_password("stdout", &stdout);
    assert_no_password("stderr", &stderr);
    assert!(
        files_under(&dir).is_empty(),
        "files written: {:?}",
        files_under(&dir)
    );
    assert!(!cam.seen().is_empty(), "the camera was never asked");
}

#[test]
fn camera_add_refuses_basic_over_plain_http_unless_the_camera_file_allows_it() {
    let dir = scratch("camera-cli-add-basic-over-http");
    let var = "SHARPEYES_TEST_GATE_EAST_PASSWORD";
    // The camera answers with `401` and only `WWW-Authenticate: Basic`, on plain http.
    let cam = FakeCamera::start(CameraOptions::with(Auth::Basic));
    let out = camera_add(&cam.device_url, var, &dir)
        .env(var, PASSWORD)
        .output()
        .expect("run sharpeyes camera add");
    let (stdout, stderr) = text(&out);
    assert!(
        !out.status.success(),
        "camera add sent the password in Basic over http\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let file = dir.join("gate-east.toml");
    assert!(
        stderr.contains(&file.display().to_string())
            && stderr.contains("onvif.allow_basic_over_http")
            && stderr.contains("--allow-basic-over-http"),
        "the error names the camera file, the key and the flag: {stderr}"
    );
    assert_no_password("stderr", &stderr);
    assert!(files_under(&dir).is_empty(), "{:?}", files_under(&dir));
    assert!(
        cam.seen().iter().all(|s| !s.had_basic_auth),
        "the password never went out: {:?}",
        cam.seen()
    );

    // Allowed: the probe answers Basic, and the camera file records the permission.
    let out = camera_add(&cam.device_url, var, &dir)
        .arg("--allow-basic-over-http")
        .env(var, PASSWORD)
        .output()
        .expect("run sharpeyes camera add");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(cam.seen().iter().any(|s| s.had_basic_auth));
    let written = std::fs::read_to_string(&file).expect("gate-east.toml written");
    assert_no_password("the camera file", &written);
    let toml: toml::Table = written.parse().unwrap_or_else(|e| panic!("{e}\n{written}"));
    assert_eq!(
        toml["onvif"]["allow_basic_over_http"].as_bool(),
        Some(true),
        "{written}"
    );
}

#[test]
fn camera_add_with_an_unset_password_variable_names_it_and_asks_nothing() {
    let dir = scratch("camera-cli-add-unset-variable");
    let var = "SHARPEYES_TEST_UNSET_CAMERA_PASSWORD";
    let cam = FakeCamera::start(CameraOptions::with(Auth::Digest));
    let out = camera_add(&cam.device_url, var, &dir)
        .env_remove(var)
        .output()
        .expect("run sharpeyes camera add");
    let (stdout, stderr) = text(&out);
    assert!(
        !out.status.success(),
        "camera add succeeded without a password\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stderr.contains(var), "{stderr}");
    assert!(files_under(&dir).is_empty(), "{:?}", files_under(&dir));
    assert!(
        cam.seen().is_empty(),
        "the camera was asked without a password: {:?}",
        cam.seen()
    );
}

#[test]
fn camera_discover_at_a_responder_lists_its_device() {
    let dir = scratch("camera-cli-discover");
    let (addr, probes) = start_discovery_responder();
    let out = sharpeyes(&dir)
        .args([
            "camera",
            "discover",
            "--at",
            &addr.to_string(),
            "--timeout",
            "1",
        ])
        .output()
        .expect("run sharpeyes camera discover");
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "camera discover failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        !probes.lock().expect("probes lock").is_empty(),
        "no probe arrived"
    );
    // The Hikvision match relates to our probe; the Dahua one (for another probe) is ignored.
    assert!(
        stdout.contains("http://192.168.1.64/onvif/device_service"),
        "{stdout}"
    );
    assert!(stdout.contains("name=HIKVISION DS-2CD2143G0-I"), "{stdout}");
    assert!(!stdout.contains("192.168.1.108"), "{stdout}");
    assert!(stdout.contains("1 ONVIF device(s)"), "{stdout}");
}

#[test]
fn config_check_of_the_configs_tree_checks_each_file_as_what_it_is() {
    // With no path it checks the same tree.
    for args in [&["config", "check", "configs"][..], &["config", "check"]] {
        let out = sharpeyes(&repo())
            .args(args)
            .output()
            .expect("run sharpeyes config check");
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stdout}\n{stderr}");
        assert_eq!(
            stdout, "1 pipeline config, 1 guardians' registry, 2 camera files, 0 errors\n",
            "{args:?}"
        );
    }

    // A copy of the tree with a NaN in a camera file: a located error and exit 2, no panic.
    let dir = scratch("config-check-tree");
    std::fs::create_dir_all(dir.join("configs/cameras")).expect("mkdir");
    for f in [
        "default.toml",
        "guardians.toml",
        "cameras/example-gate-east.toml",
        "cameras/example-pond-north.toml",
    ] {
        std::fs::copy(repo().join("configs").join(f), dir.join("configs").join(f)).expect("copy");
    }
    let pond = dir.join("configs/cameras/example-pond-north.toml");
    let text_before = std::fs::read_to_string(&pond).expect("read");
    let nan = text_before.replacen(
        "fps = 2.0",
        "fps = 2.0\nmotion_gating = true\nquiet_s = nan",
        1,
    );
    assert_ne!(nan, text_before);
    std::fs::write(&pond, nan).expect("write");
    let out = sharpeyes(&dir)
        .args(["config", "check", "configs"])
        .output()
        .expect("run sharpeyes config check configs");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert_eq!(
        stdout,
        "configs/cameras/example-pond-north.toml: detect.quiet_s: must be between 1 and 3600, got NaN\n\
         1 pipeline config, 1 guardians' registry, 2 camera files, 1 errors\n"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
