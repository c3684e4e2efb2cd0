//! `replay --clips-out` on the staged fall: the fall alert's clip exists, spans `pre` before
//! the event (from the keyframe at or before it) to `post` after, as GStreamer's discoverer
//! and demuxer see it; with a privacy mask its masked region is black. Real binary, real
//! models, real GStreamer.

mod common;

use std::path::{Path, PathBuf};

use common::{assets, read_alerts, scratch, sharpeyes};
use sharpeyes_core::{AlertKind, Lifecycle};
use sharpeyes_sim::clip_check::{decode_luma, discovered_duration};

/// Keyframes every 1 s, 30 fps, B-frames; the person is down from about 6 s, 16.9 s long.
const FALL: &str = "videos/fall_staged_indoor_thanhnc58_Fall01_padded.mp4";
const START_MS: i64 = 1_700_000_000_000;
const PRE_S: f64 = 5.0;
const POST_S: f64 = 5.0;

fn camera_file(dir: &Path, clip: &Path, masks: &str) -> PathBuf {
    let path = dir.join("cam.toml");
    std::fs::write(
        &path,
        format!(
            "id = \"fallcam\"\nname = \"Fall room\"\nvillage = \"Testville\"\n\
             [stream]\nurl = \"file://{}\"\n\
             [clips]\npre_s = {PRE_S}\npost_s = {POST_S}\n{masks}",
            clip.display()
        ),
    )
    .unwrap();
    path
}

/// Replays the fall with `masks` (camera file TOML); returns (event s into the file, clip).
fn replay_fall(name: &str, masks: &str) -> Option<(f64, PathBuf)> {
    let clip = assets().join(FALL);
    if !clip.is_file() {
        eprintln!("SKIP: {} not found", clip.display());
        return None;
    }
    let dir = scratch(name);
    let mut cmd = sharpeyes(&dir)?;
    let camera = camera_file(&dir, &clip, masks);
    let out = cmd
        .args(["replay", "--input"])
        .arg(&clip)
        .args([
            "--alerts-out",
            "alerts.jsonl",
            "--clips-out",
            "clips",
            "--camera",
        ])
        .arg(&camera)
        .args(["--start-ms", &START_MS.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = std::fs::read_to_string(dir.join("alerts.jsonl"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    // The alerts with their `clip` are valid against schemas/alert.v1.schema.json.
    common::validate_json("replay alerts", &lines);
    let alerts = read_alerts(&dir.join("alerts.jsonl"));
    let fall = alerts
        .iter()
        .find(|a| a.kind == AlertKind::Fall && a.lifecycle == Lifecycle::New)
        .expect("a fall alert");
    let rel = fall.clip.as_ref().expect("the fall alert names its clip");
    assert_eq!(rel, &format!("clips/fallcam/{}.mp4", fall.id));
    for a in alerts.iter().filter(|a| a.lifecycle != Lifecycle::New) {
        assert_eq!(a.clip, None, "only new alerts have clips");
    }
    let event_s = (fall.event_millis().unwrap().0 - START_MS) as f64 / 1000.0;
    Some((event_s, dir.join(rel)))
}

/// The clip spans from the last keyframe (every 1 s) at or before event - pre to event + post:
/// between pre + post and pre + post + 1 s (GOP alignment), plus one frame.
fn check_span(event_s: f64, clip: &Path) {
    let first_key = (event_s - PRE_S).floor();
    let want = event_s + POST_S - first_key + 1.0 / 30.0;
    if let Some(d) = discovered_duration(clip) {
        assert!(
            (d - want).abs() < 0.1,
            "clip of the fall at {event_s} s lasts {d} s, wanted {want} s"
        );
        assert!((PRE_S + POST_S..PRE_S + POST_S + 1.1).contains(&d));
    }
    let pics = decode_luma(clip);
    let first = pics.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    assert!(
        (0.0..0.1).contains(&first),
        "first picture at {first} s (0, or a frame or two later with B-frames)"
    );
    assert!(
        ((want * 30.0) as usize).abs_diff(pics.len()) <= 2,
        "{} pictures",
        pics.len()
    );
}

#[test]
fn replay_writes_the_fall_clip_from_pre_before_to_post_after() {
    let Some((event_s, clip)) = replay_fall("clips-replay", "") else {
        return;
    };
    check_span(event_s, &clip);
}

#[test]
fn replay_with_a_privacy_mask_writes_a_clip_black_under_the_mask() {
    // The top third of the picture (the wall; the person falls in the lower half).
    let mask = "[[privacy_masks]]\npoints = [[0.0, 0.0], [1.0, 0.0], [1.0, 0.33], [0.0, 0.33]]\n";
    let Some((event_s, clip)) = replay_fall("clips-replay-masked", mask) else {
        return;
    };
    check_span(event_s, &clip);
    for (pts, w, h, luma) in decode_luma(&clip) {
        let mean = |y0: u32, y1: u32| {
            let rows = &luma[(y0 * w) as usize..(y1 * w) as usize];
            rows.iter().map(|&v| v as f64).sum::<f64>() / rows.len() as f64
        };
        // Two rows clear of the mask's edge, where the encoder may blur it.
        let masked = mean(0, h * 33 / 100 - 2);
        let open = mean(h * 33 / 100 + 2, h);
        assert!(
            masked < 20.0,
            "at {pts} s the masked region's mean luma is {masked}"
        );
        assert!(
            open > 40.0,
            "at {pts} s the open region's mean luma is {open}"
        );
    }
}
