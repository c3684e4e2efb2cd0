//! Many cameras in one process, through the real binary: `sharpeyes simulate` serves N village
//! cameras (a real gst-rtsp-server), `sharpeyes run` reads them all (retina, GStreamer decode,
//! ONNX Runtime) with adaptive decode and motion gating, as a county box runs them. Observed
//! through its Prometheus endpoint (real HTTP): every camera must be online and delivering
//! frames within 10 s of the start, and keep delivering through the whole window. A camera that
//! connects and then never decodes a frame ("dark") fails it.
//!
//! N is 32 here (CI); `sharpeyes bench` goes up to 256.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use sharpeyes_core::testing::asset;

mod common;
use common::{Kill, free_port, metrics, online, per_camera, scratch, sharpeyes};

/// `SHARPEYES_DENSITY_CAMERAS` overrides it (to look further on a developer's machine).
fn cameras() -> usize {
    std::env::var("SHARPEYES_DENSITY_CAMERAS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}

fn camera_files(dir: &Path, port: u64, n: usize) {
    std::fs::create_dir_all(dir).expect("cameras dir");
    for i in 1..=n {
        let id = format!("cam-{i:03}");
        // As `sharpeyes bench` runs them in gated mode: keyframes only and no detection while
        // nothing moves (quiet 10 s).
        let text = format!(
            "id = \"{id}\"\nname = \"Density {id}\"\nvillage = \"Density\"\n[stream]\n\
             url = \"rtsp://127.0.0.1:{port}/{id}\"\n[detect]\nfps = 5.0\n\
             adaptive_decode = true\nmotion_gating = true\nquiet_s = 10\n"
        );
        std::fs::write(dir.join(format!("{id}.toml")), text).expect("camera file");
    }
}

#[test]
fn thirty_two_cameras_are_all_online_and_none_goes_dark() {
    if asset("videos/people_walking_indoor_intel.mp4").is_none() {
        return;
    }
    let n = cameras();
    let dir = scratch("density");
    let Some(mut sim) = sharpeyes(&dir) else {
        return;
    };
    let mut sim = Kill(
        sim.args(["simulate", "--cameras", &n.to_string(), "--port", "0"])
            .args([
                "--activity",
                "village",
                "--idle-mean-s",
                "20",
                "--active-s",
                "10",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sharpeyes simulate"),
    );
    let mut lines = BufReader::new(sim.0.stdout.take().expect("stdout")).lines();
    let ready: serde_json::Value = serde_json::from_str(
        &lines
            .next()
            .expect("a ready line")
            .expect("simulator stdout"),
    )
    .expect("ready line is JSON");
    let port = ready["port"].as_u64().expect("port");
    // Keep draining the activity lines so the simulator never blocks on a full pipe.
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));

    camera_files(&dir.join("cameras"), port, n);
    let addr = format!("127.0.0.1:{}", free_port());
    let Some(mut run) = sharpeyes(&dir) else {
        return;
    };
    let started = Instant::now();
    let _run = Kill(
        run.args(["run", "--cameras", "cameras", "--metrics", &addr])
            .args(["--outbox", "var/alerts.jsonl"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sharpeyes run"),
    );

    // Within 10 s of the start: every camera online and delivering frames.
    let mut last = String::new();
    let all_up = |text: &str| {
        let frames = per_camera(text, "sharpeyes_ingest_frames_decoded_total");
        frames.len() == n && frames.values().all(|n| *n > 0.0) && online(text).len() == n
    };
    while started.elapsed() < Duration::from_secs(10) {
        if let Some(text) = metrics(&addr) {
            last = text;
            if all_up(&last) {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let up_after = started.elapsed();
    let frames = per_camera(&last, "sharpeyes_ingest_frames_decoded_total");
    let dark: Vec<_> = frames.iter().filter(|(_, n)| **n == 0.0).collect();
    let on = online(&last);
    let not_online: Vec<_> = frames.keys().filter(|c| !on.contains(*c)).collect();
    assert!(
        all_up(&last),
        "after {up_after:?}: {} cameras reported, without frames: {dark:?}, not online: {not_online:?}",
        frames.len()
    );
    println!("all {n} cameras online and delivering after {up_after:?}");

    // Then, through a 24 s window: every camera keeps delivering (adaptive decode still decodes
    // every keyframe, one every 2 s), and stays online.
    let mut before = frames;
    for round in 0..4 {
        std::thread::sleep(Duration::from_secs(6));
        let text = metrics(&addr).expect("metrics answer");
        let now = per_camera(&text, "sharpeyes_ingest_frames_decoded_total");
        let stuck: Vec<_> = now
            .iter()
            .filter(|(c, n)| before.get(*c).is_some_and(|b| **n <= *b))
            .map(|(c, _)| c)
            .collect();
        let on = online(&text);
        let off: Vec<_> = now.keys().filter(|c| !on.contains(*c)).collect();
        assert!(
            stuck.is_empty() && off.is_empty(),
            "window round {round}: no new frame from {stuck:?}; not online: {off:?}"
        );
        before = now;
    }
}
