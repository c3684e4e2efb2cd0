//! `sharpeyes run` as a process against a real RTSP server on loopback, driven through its
//! camera config directory: files added, broken, removed while it runs. Observed through its
//! Prometheus endpoint (real HTTP) and its output. The camera password never shows anywhere.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sharpeyes_core::testing::asset;
use sharpeyes_sim::{SimAuth, SimCamera, SimOptions, SimServer};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_sharpeyes");
const PASSWORD: &str = "Zx9-pond-S3cret";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scratch(name: &str) -> PathBuf {
    let d = repo().join("target/test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("cameras")).expect("scratch dir");
    d
}

fn camera_file(dir: &Path, id: &str, url: &str, extra: &str) {
    let text = format!(
        "id = \"{id}\"\nname = \"Test {id}\"\nvillage = \"Testing\"\n[stream]\nurl = \"{url}\"\n{extra}\n[detect]\nfps = 2.0\n"
    );
    // Written beside and renamed in, as an editor or config tool would.
    let tmp = dir.join(format!(".{id}.tmp"));
    std::fs::write(&tmp, text).expect("write camera file");
    std::fs::rename(&tmp, dir.join(format!("{id}.toml"))).expect("rename camera file");
}

fn metrics(addr: &str) -> String {
    common::metrics(addr).unwrap_or_else(|| panic!("GET http://{addr}/metrics did not answer 200"))
}

fn frames(text: &str, camera: &str) -> Option<u64> {
    let prefix = format!("sharpeyes_ingest_frames_decoded_total{{camera=\"{camera}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|n| n.trim().parse().ok())
}

/// ONNX Runtime's library, or None after a SKIP line saying why.
fn onnxruntime() -> Option<PathBuf> {
    match sharpeyes::runtime::locate_onnxruntime() {
        Ok(p) => Some(p.canonicalize().unwrap_or(p)),
        Err(e) => {
            eprintln!("SKIP: {e:#}");
            None
        }
    }
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

struct Running {
    child: Child,
    stderr: Arc<Mutex<String>>,
    stdout: Arc<Mutex<String>>,
}

fn capture(r: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let buf = Arc::new(Mutex::new(String::new()));
    let b = buf.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            let mut g = b.lock().expect("lock");
            g.push_str(&line);
            g.push('\n');
        }
    });
    buf
}

#[test]
fn run_follows_camera_files_live_and_never_shows_the_password() {
    let Some(clip) = asset("videos/people_walking_indoor_intel.mp4") else {
        return;
    };
    let Some(ort) = onnxruntime() else {
        return;
    };
    let open = SimServer::start(
        &[SimCamera::clip("a", clip.clone()), SimCamera::pattern("b")],
        0,
    )
    .expect("server");
    let locked = SimServer::start_with(
        &[SimCamera::clip("c", clip)],
        SimOptions {
            port: 0,
            credentials: Some(("viewer".into(), PASSWORD.into())),
            auth: SimAuth::Digest,
        },
    )
    .expect("server with auth");
    let dir = scratch("run-hot-reload");
    let cams = dir.join("cameras");
    camera_file(&cams, "a", &open.url("a"), "");
    camera_file(
        &cams,
        "c",
        &locked.url("c"),
        "username = \"viewer\"\npassword_env = \"SHARPEYES_TEST_POND_PASSWORD\"",
    );

    let mut child = Command::new(BIN)
        .current_dir(&dir)
        .env("ORT_DYLIB_PATH", ort)
        .env("SHARPEYES_MODELS", repo().join("models"))
        .env("SHARPEYES_MODEL_CACHE", repo().join("models/.cache"))
        .env(
            "SHARPEYES_ASSETS",
            sharpeyes_core::testing::assets_root().join("models"),
        )
        .env("SHARPEYES_TEST_POND_PASSWORD", PASSWORD)
        .env("RUST_LOG", "debug,ort=warn,rdkafka=warn")
        .args([
            "run",
            "--cameras",
            "cameras",
            "--metrics",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(repo().join("configs/default.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sharpeyes run");
    let run = Running {
        stdout: capture(child.stdout.take().expect("stdout")),
        stderr: capture(child.stderr.take().expect("stderr")),
        child,
    };
    let mut run = scopeguard(run);

    let mut addr = String::new();
    wait_for("the metrics address", Duration::from_secs(30), || {
        let err = run.stderr.lock().expect("lock");
        if let Some(l) = err
            .lines()
            .find(|l| l.starts_with("run: metrics on http://"))
        {
            addr = l["run: metrics on http://".len()..]
                .trim_end_matches("/metrics")
                .to_string();
        }
        !addr.is_empty()
    });
    let mut texts = Vec::new();
    let scrape = |texts: &mut Vec<String>| {
        let t = metrics(&addr);
        texts.push(t.clone());
        t
    };
    wait_for("cameras a and c to decode", Duration::from_secs(30), || {
        let t = scrape(&mut texts);
        frames(&t, "a").unwrap_or(0) > 5 && frames(&t, "c").unwrap_or(0) > 5
    });

    // Each camera's pre-event clip ring holds its compressed stream: `pre` (5 s) and more.
    wait_for("camera a's clip ring", Duration::from_secs(20), || {
        let t = scrape(&mut texts);
        let ring = |name: &str| -> f64 {
            t.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}{{camera=\"a\"}} ")))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0.0)
        };
        ring("sharpeyes_ingest_clip_ring_bytes") > 10_000.0
            && (5.0..=20.0).contains(&ring("sharpeyes_ingest_clip_ring_seconds"))
    });

    // The clip runs at 10 fps: so does camera a's measured rate.
    wait_for("camera a's fps gauge", Duration::from_secs(10), || {
        let t = scrape(&mut texts);
        let fps: f64 = t
            .lines()
            .find_map(|l| l.strip_prefix("sharpeyes_ingest_fps_in{camera=\"a\"} "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0);
        (7.0..=13.0).contains(&fps)
    });

    // A new file starts its camera.
    camera_file(&cams, "b", &open.url("b"), "");
    wait_for("camera b to start", Duration::from_secs(20), || {
        frames(&scrape(&mut texts), "b").unwrap_or(0) > 5
    });

    // A broken edit is rejected; camera a keeps running on its last good config.
    let before = frames(&scrape(&mut texts), "a").expect("a listed");
    std::fs::write(cams.join("a.toml"), "id = \"a\"\nname = \"A\"\nvillage = \"T\"\n[stream]\nurl = \"rtsp://x\"\n[detect]\nfps = 0\n").expect("break a");
    wait_for("the rejection", Duration::from_secs(10), || {
        run.stderr.lock().expect("lock").contains("a.toml rejected")
    });
    std::thread::sleep(Duration::from_secs(2));
    let after = frames(&scrape(&mut texts), "a").expect("a still listed");
    assert!(after > before + 10, "a kept decoding: {before} -> {after}");
    assert!(
        run.stderr
            .lock()
            .expect("lock")
            .contains("detect.fps: must be between 0.1 and 30, got 0")
    );

    // A removed file stops its camera, and only that one.
    let b_restarts = run
        .stderr
        .lock()
        .expect("lock")
        .matches("camera starting camera=b")
        .count();
    std::fs::remove_file(cams.join("b.toml")).expect("remove b");
    wait_for("camera b to stop", Duration::from_secs(10), || {
        frames(&scrape(&mut texts), "b").is_none()
    });
    wait_for(
        "camera b's clip ring to be freed",
        Duration::from_secs(10),
        || !scrape(&mut texts).contains("sharpeyes_ingest_clip_ring_bytes{camera=\"b\"}"),
    );
    let t = scrape(&mut texts);
    assert!(
        frames(&t, "a").is_some() && frames(&t, "c").is_some(),
        "{t}"
    );
    assert_eq!(b_restarts, 1);
    let starts_a = run
        .stderr
        .lock()
        .expect("lock")
        .matches("camera starting camera=a")
        .count();
    assert_eq!(
        starts_a, 1,
        "camera a was never restarted by the other edits"
    );

    let _ = Command::new("kill")
        .args(["-INT", &run.child.id().to_string()])
        .status();
    let status = run.child.wait().expect("wait");
    std::thread::sleep(Duration::from_millis(200));
    assert!(status.success(), "{}", run.stderr.lock().expect("lock"));
    let stdout = run.stdout.lock().expect("lock").clone();
    let stderr = run.stderr.lock().expect("lock").clone();
    let outbox = std::fs::read_to_string(dir.join("var/alerts.jsonl")).unwrap_or_default();
    assert!(
        stdout.contains("\"camera_online\""),
        "status events on stdout: {stdout}"
    );
    for (what, text) in [
        ("stdout", &stdout),
        ("stderr", &stderr),
        ("outbox", &outbox),
    ] {
        assert!(!text.contains(PASSWORD), "the password appears in {what}");
    }
    for t in &texts {
        assert!(!t.contains(PASSWORD), "the password appears in the metrics");
    }
}

/// `sharpeyes run` in `dir` on its `cameras/` directory, with metrics on a free port, stdout and
/// stderr captured.
fn start_run(dir: &Path, ort: &Path) -> Guard {
    start_run_with(dir, ort, &[])
}

/// [`start_run`] with more arguments.
fn start_run_with(dir: &Path, ort: &Path, extra: &[&str]) -> Guard {
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .env("ORT_DYLIB_PATH", ort)
        .env("SHARPEYES_MODELS", repo().join("models"))
        .env("SHARPEYES_MODEL_CACHE", repo().join("models/.cache"))
        .env(
            "SHARPEYES_ASSETS",
            sharpeyes_core::testing::assets_root().join("models"),
        )
        .env("RUST_LOG", "info,ort=warn,rdkafka=warn")
        .args([
            "run",
            "--cameras",
            "cameras",
            "--metrics",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(repo().join("configs/default.toml"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sharpeyes run");
    scopeguard(Running {
        stdout: capture(child.stdout.take().expect("stdout")),
        stderr: capture(child.stderr.take().expect("stderr")),
        child,
    })
}

/// The metrics address `run` announces on stderr (a first run puts the models into the cache).
fn metrics_addr(run: &Running) -> String {
    let mut addr = String::new();
    wait_for("the metrics address", Duration::from_secs(90), || {
        let err = run.stderr.lock().expect("lock");
        if let Some(l) = err
            .lines()
            .find(|l| l.starts_with("run: metrics on http://"))
        {
            addr = l["run: metrics on http://".len()..]
                .trim_end_matches("/metrics")
                .to_string();
        }
        !addr.is_empty()
    });
    addr
}

/// `text` into `dir/<id>.toml`, written beside and renamed in.
fn write_camera(dir: &Path, id: &str, text: &str) {
    let tmp = dir.join(format!(".{id}.tmp"));
    std::fs::write(&tmp, text).expect("write camera file");
    std::fs::rename(&tmp, dir.join(format!("{id}.toml"))).expect("rename camera file");
}

#[test]
fn a_nan_in_a_live_camera_file_is_rejected_and_the_last_good_config_keeps_running() {
    let Some(ort) = onnxruntime() else {
        return;
    };
    let server = SimServer::start(&[SimCamera::pattern("p")], 0).expect("server");
    let dir = scratch("run-hot-reload-nan");
    let cams = dir.join("cameras");
    let camera = |detect: &str| {
        format!(
            "id = \"p\"\nname = \"P\"\nvillage = \"Testing\"\n[stream]\nurl = \"{}\"\n[detect]\nfps = 2.0\n{detect}\n",
            server.url("p")
        )
    };
    write_camera(&cams, "p", &camera(""));
    let mut run = start_run(&dir, &ort);
    let addr = metrics_addr(&run);
    wait_for("camera p to decode", Duration::from_secs(30), || {
        frames(&metrics(&addr), "p").unwrap_or(0) > 5
    });

    // `quiet_s = nan` used to panic the process (f64::clamp keeps NaN, then
    // Duration::from_secs_f64 panics on it): now it is a located issue, and p keeps running.
    write_camera(&cams, "p", &camera("motion_gating = true\nquiet_s = nan"));
    wait_for("the rejection", Duration::from_secs(10), || {
        if let Some(status) = run.child.try_wait().expect("try_wait") {
            panic!(
                "sharpeyes run exited ({status}) on the edit:\n{}",
                run.stderr.lock().expect("lock")
            );
        }
        run.stderr.lock().expect("lock").contains("p.toml rejected")
    });
    let stderr = run.stderr.lock().expect("lock").clone();
    assert!(
        stderr.contains("detect.quiet_s: must be between 1 and 3600, got NaN"),
        "{stderr}"
    );
    let before = frames(&metrics(&addr), "p").expect("p still listed");
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        run.child.try_wait().expect("try_wait").is_none(),
        "sharpeyes run exited: {}",
        run.stderr.lock().expect("lock")
    );
    let after = frames(&metrics(&addr), "p").expect("p still listed");
    assert!(after > before, "p kept decoding: {before} -> {after}");

    // The next good edit is applied: p restarts with it.
    write_camera(&cams, "p", &camera("motion_gating = true\nquiet_s = 5"));
    wait_for(
        "p to restart on the good edit",
        Duration::from_secs(10),
        || {
            run.stderr
                .lock()
                .expect("lock")
                .matches("camera starting camera=p")
                .count()
                == 2
        },
    );

    let _ = Command::new("kill")
        .args(["-INT", &run.child.id().to_string()])
        .status();
    let status = run.child.wait().expect("wait");
    assert!(status.success(), "{}", run.stderr.lock().expect("lock"));
}

/// Kills the child if the test panics before it stops it.
fn scopeguard(r: Running) -> Guard {
    Guard(Some(r))
}

struct Guard(Option<Running>);

impl std::ops::Deref for Guard {
    type Target = Running;
    fn deref(&self) -> &Running {
        self.0.as_ref().expect("running")
    }
}

impl std::ops::DerefMut for Guard {
    fn deref_mut(&mut self) -> &mut Running {
        self.0.as_mut().expect("running")
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut r) = self.0.take() {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }
}

#[test]
fn config_check_exits_0_for_the_shipped_files_and_2_listing_every_problem() {
    let ok = Command::new(BIN)
        .current_dir(repo())
        .args(["config", "check", "configs/cameras"])
        .output()
        .expect("run");
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let dir = scratch("config-check");
    let cams = dir.join("cameras");
    std::fs::write(
        cams.join("bad.toml"),
        "id = \"bad one\"\nname = \"B\"\nvillage = \"T\"\n[stream]\nurl = \"rtsp://u:pw@host/x\"\n[detect]\nfps = 0\n",
    )
    .expect("write");
    camera_file(&cams, "good", "rtsp://10.0.0.9/stream", "");
    let bad = Command::new(BIN)
        .current_dir(&dir)
        .args(["config", "check", "cameras"])
        .output()
        .expect("run");
    let out = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(2), "{out}");
    assert!(
        out.contains("cameras/bad.toml: detect.fps: must be between 0.1 and 30, got 0"),
        "{out}"
    );
    assert!(out.contains("cameras/bad.toml: stream.url"), "{out}");
    assert!(out.contains("cameras/bad.toml: id"), "{out}");
    assert!(
        !out.contains("pw@"),
        "the inline password is not echoed: {out}"
    );
}

/// (lifecycle, incident id) of the incident alerts in the outbox, in order.
fn incident_alerts(outbox: &Path) -> Vec<(String, String)> {
    common::incident_alerts(outbox)
        .iter()
        .map(|a| {
            (
                a["lifecycle"].as_str().unwrap_or_default().to_string(),
                a["incident"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn kill_9_mid_incident_and_the_restarted_run_continues_it_under_the_same_id() {
    let Some(clip) = asset("videos/people_walking_indoor_intel.mp4") else {
        return;
    };
    let Some(ort) = onnxruntime() else {
        return;
    };
    let server = SimServer::start(&[SimCamera::clip("yard", clip)], 0).expect("server");
    let dir = scratch("run-restart-mid-incident");
    // The whole picture is a zone: people walking through open person_in_zone incidents.
    write_camera(
        &dir.join("cameras"),
        "yard",
        &format!(
            "id = \"yard\"\nname = \"Yard\"\nvillage = \"Testing\"\n[stream]\nurl = \"{}\"\n\
             [detect]\nfps = 4.0\n[[zones]]\nname = \"all\"\n\
             points = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]\n\
             person_in_zone = {{ min_s = 1 }}\n",
            server.url("yard")
        ),
    );
    let outbox = dir.join("out/alerts.jsonl");
    let args = ["--outbox", "out/alerts.jsonl"];
    let mut run = start_run_with(&dir, &ort, &args);
    // An incident open for 2 s (its state file is written when it opens).
    let mut open = Vec::new();
    wait_for("an open incident", Duration::from_secs(120), || {
        let now: Vec<String> = common::open_incidents(&outbox).into_keys().collect();
        let held: Vec<String> = open.iter().filter(|o| now.contains(o)).cloned().collect();
        if !held.is_empty() {
            open = held;
            return true;
        }
        open = now;
        std::thread::sleep(Duration::from_secs(2));
        false
    });
    let _ = Command::new("kill")
        .args(["-KILL", &run.child.id().to_string()])
        .status();
    let _ = run.child.wait();
    drop(run);
    let before = incident_alerts(&outbox).len();
    println!("kill -9 with incidents open: {open:?}");

    // Restarted: each open incident goes on under its id (an update or its end), and no
    // second `new` repeats it.
    let _run = start_run_with(&dir, &ort, &args);
    wait_for(
        "the open incidents to continue after the restart",
        Duration::from_secs(90),
        || {
            let after = &incident_alerts(&outbox)[before..];
            open.iter()
                .all(|id| after.iter().any(|(l, i)| i == id && l != "new"))
        },
    );
    let after = incident_alerts(&outbox)[before..].to_vec();
    println!("after the restart: {after:?}");
    for id in &open {
        assert!(
            !after.iter().any(|(l, i)| i == id && l == "new"),
            "{id} raised again: {after:?}"
        );
    }
}
