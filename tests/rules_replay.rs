//! The safety rules on real clips through `sharpeyes replay` (real decode, real models, the
//! default config): each fall clip gives exactly one fall incident, started no earlier than the
//! person is on the ground and no later than 3 s after (ground truth in testdata/falls.toml,
//! judged by eye, pinned by sha256); the crouch and walking clips give none; the car park with a
//! no-parking bay drawn over it (testdata/cameras/carpark-bay.toml) gives vehicle_in_zone; a
//! person who stays down past the camera's long lie escalates the fall once
//! (testdata/cameras/elder-long-lie.toml).

use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use sharpeyes_core::{Alert, AlertKind, Lifecycle};

mod common;
use common::{assets, read_alerts, repo, scratch, sharpeyes, validate_json};

#[derive(Deserialize)]
struct GroundTruth {
    clip: Vec<Clip>,
}

#[derive(Deserialize)]
struct Clip {
    file: String,
    sha256: String,
    on_ground_s: Option<f64>,
    falls: usize,
}

fn ground_truth(file: &str) -> Clip {
    let text = std::fs::read_to_string(repo().join("testdata/falls.toml")).expect("falls.toml");
    let truth: GroundTruth = toml::from_str(&text).expect("falls.toml parses");
    truth
        .clip
        .into_iter()
        .find(|c| c.file == file)
        .unwrap_or_else(|| panic!("{file} is not in testdata/falls.toml"))
}

fn sha256_hex(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Replays `file` (relative to the assets) with `extra` arguments; None when something it needs
/// is missing (printed).
fn replay(file: &str, extra: &[&str]) -> Option<Vec<Alert>> {
    let clip = assets().join(file);
    if !clip.is_file() {
        eprintln!("SKIP: {} not found", clip.display());
        return None;
    }
    let name = Path::new(file).file_stem()?.to_str()?.to_owned();
    let dir = scratch(&format!("rules-{name}"));
    let mut cmd = sharpeyes(&dir)?;
    let out = cmd
        .args([
            "replay",
            "--start-ms",
            "0",
            "--alerts-out",
            "alerts.jsonl",
            "--input",
        ])
        .arg(&clip)
        .args(extra)
        .output()
        .expect("run sharpeyes replay");
    assert!(
        out.status.success(),
        "replay of {file} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{file}: {}", String::from_utf8_lossy(&out.stdout).trim());
    let path = dir.join("alerts.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(&path)
        .expect("alerts file")
        .lines()
        .map(str::to_owned)
        .collect();
    validate_json(file, &lines);
    Some(read_alerts(&path))
}

fn check_falls(file: &str) {
    let truth = ground_truth(file);
    let path = assets().join(file);
    if path.is_file() {
        assert_eq!(
            sha256_hex(&path),
            truth.sha256,
            "{file} is not the clip testdata/falls.toml was judged on"
        );
    }
    let Some(alerts) = replay(file, &[]) else {
        return;
    };
    let starts: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.kind == AlertKind::Fall && a.lifecycle == Lifecycle::New)
        .collect();
    for a in &starts {
        println!(
            "  fall at {:.2} s: {}",
            a.event_millis().expect("event_time").0 as f64 / 1000.0,
            a.message.as_deref().unwrap_or("")
        );
    }
    assert_eq!(starts.len(), truth.falls, "fall incidents in {file}");
    for a in starts {
        let at = a.event_millis().expect("event_time").0 as f64 / 1000.0;
        let ground = truth
            .on_ground_s
            .expect("on_ground_s for a clip with falls");
        assert!(
            (ground..=ground + 3.0).contains(&at),
            "{file}: fall alert at {at:.2} s, person on the ground at {ground} s"
        );
        assert!(a.snapshot.is_some(), "a fall alert has a snapshot");
        assert!(!a.objects.is_empty() && a.objects.iter().all(|b| b.track_id.is_some()));
        // The pose model is named; a skeleton, where the person's track had one, is whole
        // (a person who vanished on the floor may be reported by their last box alone).
        assert!(
            a.pose_model.is_some()
                && a.objects
                    .iter()
                    .all(|b| matches!(b.keypoints.len(), 0 | 17)),
            "{a:?}"
        );
        assert_eq!(a.severity, sharpeyes_core::Severity::Critical);
    }
}

#[test]
fn staged_indoor_fall_is_one_fall_within_3_s() {
    check_falls("videos/fall_staged_indoor_thanhnc58_Fall01_padded.mp4");
}

#[test]
fn ur_fall_clip_is_one_fall_within_3_s() {
    check_falls("videos/fall_urfd_fall01_depth_rgb_padded.mp4");
}

#[test]
fn care_home_trip_is_one_fall_within_3_s() {
    check_falls("videos/fall_elderly_sfu_tips_C_trip1_padded.mp4");
}

#[test]
fn no_fall_alert_before_the_person_is_down_for_long_enough() {
    for file in [
        "videos/fall_staged_indoor_thanhnc58_Fall01.mp4",
        "videos/fall_urfd_fall01_depth_rgb.mp4",
        "videos/fall_elderly_sfu_tips_C_trip1_h264.mp4",
    ] {
        check_falls(file);
    }
}

#[test]
fn crouching_is_not_a_fall() {
    check_falls("videos/adl_urfd_crouch_depth_rgb.mp4");
}

#[test]
fn people_walking_are_not_a_fall() {
    check_falls("videos/people_walking_indoor_intel.mp4");
}

#[test]
fn car_park_bay_gives_vehicle_in_zone() {
    let camera = repo().join("testdata/cameras/carpark-bay.toml");
    let camera = camera.to_str().expect("utf-8 path");
    let Some(alerts) = replay(
        "videos/vehicles_parking_overhead_intel.mp4",
        &["--camera", camera],
    ) else {
        return;
    };
    let vehicle: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.kind == AlertKind::VehicleInZone)
        .collect();
    let start = vehicle
        .iter()
        .find(|a| a.lifecycle == Lifecycle::New)
        .unwrap_or_else(|| panic!("no vehicle_in_zone start: {alerts:#?}"));
    assert_eq!(start.camera.id.as_str(), "carpark-bay");
    assert_eq!(
        (start.camera.name.as_str(), start.camera.village.as_str()),
        ("Car park, bay test", "Test"),
        "name and village from the camera file"
    );
    assert_eq!(start.zone.as_deref(), Some("no-parking-bay"));
    let vehicles = ["bicycle", "car", "motorcycle", "motorbike", "bus", "truck"];
    assert!(
        !start.objects.is_empty()
            && start
                .objects
                .iter()
                .all(|b| vehicles.contains(&b.class.as_str())),
        "{:?}",
        start.objects
    );
    // The camera file runs only the zone rules: no falls, no person alerts.
    assert!(alerts.iter().all(|a| a.kind == AlertKind::VehicleInZone));
}

/// The staged fall with its last frame held 10 s (the person stays down) against a camera whose
/// long lie is 3 s: the fall incident is escalated exactly once, by an `urgent` update of the
/// same incident 3 s or more after it began; with the default long lie (5 min) it is not.
#[test]
fn a_person_still_down_past_the_long_lie_escalates_the_fall_once() {
    let file = "videos/fall_staged_indoor_thanhnc58_Fall01_padded.mp4";
    let camera = repo().join("testdata/cameras/elder-long-lie.toml");
    let camera = camera.to_str().expect("utf-8 path");
    let Some(alerts) = replay(file, &["--camera", camera]) else {
        return;
    };
    let start = alerts
        .iter()
        .find(|a| a.kind == AlertKind::Fall && a.lifecycle == Lifecycle::New)
        .unwrap_or_else(|| panic!("no fall: {alerts:#?}"));
    assert!(!start.urgent, "the fall itself is not the escalation");
    let urgent: Vec<&Alert> = alerts.iter().filter(|a| a.urgent).collect();
    assert_eq!(urgent.len(), 1, "exactly one escalation: {alerts:#?}");
    let u = urgent[0];
    assert_eq!(
        (u.kind, u.lifecycle, u.incident.as_str()),
        (AlertKind::Fall, Lifecycle::Update, start.id.as_str())
    );
    let after = u.event_millis().unwrap().0 - start.event_millis().unwrap().0;
    assert!(
        (3_000..4_000).contains(&after),
        "escalated {after} ms after the fall alert"
    );
    assert!(
        u.message
            .as_deref()
            .unwrap_or("")
            .starts_with("long lie: still down"),
        "{:?}",
        u.message
    );
    println!("  escalated {after} ms after the fall: {:?}", u.message);

    let Some(default) = replay(file, &[]) else {
        return;
    };
    assert!(
        default.iter().any(|a| a.kind == AlertKind::Fall) && !default.iter().any(|a| a.urgent),
        "the default long lie (5 min) is not reached in 17 s"
    );
}
