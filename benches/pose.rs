//! Pose on whole frames vs on person crops, on the asset clips, printed as a table:
//!   cargo bench --workspace --bench pose      (./dev sets ORT_DYLIB_PATH)
//! Each clip is decoded once into 640x640 letterboxed frames (the pose model's input, as the
//! pipeline decodes when a pose model is configured), sampled at 5 frames/s of media time like
//! `replay`. YOLOX-nano finds the people (on the frame resampled to 416); then the pose stage runs
//! in each mode over the same frames and detections (one ONNX Runtime thread each):
//! - `ms/frame`: pose stage time per frame that has a person (resampling + model + matching);
//! - `runs`: pose model runs (frames or crops);
//! - `skeleton %`: person boxes (score >= 0.5) that got keypoints;
//! - `torso %`: person boxes whose four torso keypoints (shoulders, hips) all score >= 0.5 — what
//!   the fall rule needs;
//! - `torso score`: mean score of those four keypoints over persons with a skeleton.

use std::time::{Duration, Instant};

use sharpeyes_core::coco::{LEFT_HIP, LEFT_SHOULDER, RIGHT_HIP, RIGHT_SHOULDER};
use sharpeyes_core::{CameraId, Detection, Detector, Frame, FrameSource, SourceItem, UnixMillis};
use sharpeyes_inference::{DetectorOptions, OrtDetector, PoseMode, PoseStage, crop_frame};
use sharpeyes_ingest::FileSource;

const CLIPS: [&str; 6] = [
    "fall_staged_indoor_thanhnc58_Fall01.mp4",
    "fall_urfd_fall01_depth_rgb.mp4",
    "fall_elderly_sfu_tips_C_trip1_h264.mp4",
    "adl_urfd_crouch_depth_rgb.mp4",
    "people_walking_indoor_intel.mp4",
    "vehicles_parking_overhead_intel.mp4",
];
const SAMPLE_MS: i64 = 200;
const MIN_PERSON: f32 = 0.5;

fn sampled_frames(clip: &std::path::Path) -> Vec<Frame> {
    let mut src = FileSource::open(
        CameraId::new("bench").expect("id"),
        clip,
        sharpeyes_core::Canvas::new(640, 640, 114),
        UnixMillis(0),
    )
    .expect("open clip");
    let mut kept = Vec::new();
    let mut next = 0;
    loop {
        match src.next_frame(Duration::from_secs(30)).expect("decode") {
            SourceItem::Frame(f) => {
                if f.time.0 >= next {
                    next = f.time.0 + SAMPLE_MS;
                    kept.push(f);
                }
            }
            SourceItem::End => break,
            SourceItem::Timeout => panic!("decode stalled"),
        }
    }
    kept
}

fn is_person(d: &Detection) -> bool {
    &*d.class_name == "person"
}

#[derive(Default)]
struct Stats {
    frames: usize,
    runs: usize,
    persons: usize,
    skeletons: usize,
    torso_ok: usize,
    torso_score: f64,
    time: Duration,
}

fn main() {
    let assets = sharpeyes_core::testing::assets_root();
    if let Err(e) = sharpeyes::runtime::init_onnxruntime() {
        eprintln!("SKIP: {e:#}");
        return;
    }
    let store = sharpeyes::models::ModelStore::from_env();
    let load = |name: &str| -> Option<OrtDetector> {
        let m = store.manifest(name).ok()?;
        match store.ensure(&m) {
            Ok(path) => Some(OrtDetector::new(m, &path, DetectorOptions::default()).expect("load")),
            Err(e) => {
                eprintln!("SKIP: {name}: {e:#}");
                None
            }
        }
    };
    let (Some(mut detector), Some(pose_a), Some(pose_b)) = (
        load("yolox_nano"),
        load("yolo11n_pose"),
        load("yolo11n_pose"),
    ) else {
        return;
    };
    let mut stages = [
        PoseStage::new(pose_a, PoseMode::Frame, MIN_PERSON).expect("pose"),
        PoseStage::new(pose_b, PoseMode::Crops, MIN_PERSON).expect("pose"),
    ];
    println!(
        "| clip | frames with a person | mode | ms/frame | runs | skeleton % | torso % | torso score |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut totals: [Stats; 2] = Default::default();
    for clip in CLIPS {
        let path = assets.join("videos").join(clip);
        if !path.is_file() {
            eprintln!(
                "SKIP {clip}: not found under {}",
                assets.join("videos").display()
            );
            continue;
        }
        let frames = sampled_frames(&path);
        let (w, h) = detector.input_size();
        let small: Vec<Frame> = frames
            .iter()
            .map(|f| crop_frame(f, None, w, h, 114).expect("resample").frame)
            .collect();
        let dets: Vec<Vec<Detection>> = small
            .chunks(1)
            .flat_map(|f| detector.detect(f).expect("detect"))
            .collect();
        let with_person: Vec<usize> = (0..frames.len())
            .filter(|&i| {
                dets[i]
                    .iter()
                    .any(|d| is_person(d) && d.score >= MIN_PERSON)
            })
            .collect();
        for (stage, total) in stages.iter_mut().zip(totals.iter_mut()) {
            let mut s = Stats {
                frames: with_person.len(),
                ..Stats::default()
            };
            // Rounds: the fastest of three, so a background hiccup does not decide.
            let mut best = Duration::MAX;
            let mut out = Vec::new();
            for _ in 0..3 {
                let mut d = dets.clone();
                let t = Instant::now();
                let mut runs = 0;
                for i in 0..frames.len() {
                    let r = stage
                        .attach(
                            std::slice::from_ref(&frames[i]),
                            std::slice::from_mut(&mut d[i]),
                            is_person,
                        )
                        .expect("pose");
                    runs += r.images;
                }
                best = best.min(t.elapsed());
                s.runs = runs;
                out = d;
            }
            s.time = best;
            for d in out
                .iter()
                .flatten()
                .filter(|d| is_person(d) && d.score >= MIN_PERSON)
            {
                s.persons += 1;
                if d.keypoints.is_empty() {
                    continue;
                }
                s.skeletons += 1;
                let torso = [LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP];
                if torso.iter().all(|&k| d.keypoint(k, 0.5).is_some()) {
                    s.torso_ok += 1;
                }
                s.torso_score += torso
                    .iter()
                    .map(|&k| d.keypoints[k].score as f64)
                    .sum::<f64>()
                    / 4.0;
            }
            print_row(clip, stage.mode(), &s);
            total.frames += s.frames;
            total.runs += s.runs;
            total.persons += s.persons;
            total.skeletons += s.skeletons;
            total.torso_ok += s.torso_ok;
            total.torso_score += s.torso_score;
            total.time += s.time;
        }
    }
    for (stage, total) in stages.iter().zip(&totals) {
        print_row("all clips", stage.mode(), total);
    }
}

fn print_row(clip: &str, mode: PoseMode, s: &Stats) {
    let pct = |a: usize, b: usize| {
        if b == 0 {
            0.0
        } else {
            100.0 * a as f64 / b as f64
        }
    };
    println!(
        "| {clip} | {} | {} | {:.1} | {} | {:.1} | {:.1} | {:.3} |",
        s.frames,
        mode.as_str(),
        s.time.as_secs_f64() * 1000.0 / s.frames.max(1) as f64,
        s.runs,
        pct(s.skeletons, s.persons),
        pct(s.torso_ok, s.persons),
        if s.skeletons == 0 {
            0.0
        } else {
            s.torso_score / s.skeletons as f64
        },
    );
}
