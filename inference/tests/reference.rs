//! Proof against an independent decoder: `scripts/reference_decode.py` (Python, onnxruntime +
//! numpy, written from the model layouts) and this crate must find the same detections in every
//! test picture with every asset model: same count, same classes, boxes within 1 px, scores
//! within 1e-4 (and pose keypoints within 1 px / 1e-4).
//!
//! Both sides start from the same letterboxed canvas: this test letterboxes with
//! `letterbox_image` and writes the BGR bytes to a temporary file; the script does its own
//! channel order, normalisation, model run, decoding, NMS and mapping back to source pixels.
//!
//! Skips with a printed reason without the assets, ONNX Runtime, or a `.venv/bin/python` that
//! can import numpy and onnxruntime (`scripts/setup.sh` installs them).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use sharpeyes_core::{Detection, Detector};
use sharpeyes_inference::letterbox_image;

const MODELS: &[&str] = &[
    "yolox_nano",
    "nanodet_m",
    "rtmdet_nano_person",
    "yolo11n_pose",
];
const BOX_TOLERANCE_PX: f32 = 1.0;
const SCORE_TOLERANCE: f32 = 1e-4;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lies in the workspace")
        .to_path_buf()
}

/// `.venv/bin/python` if it can import numpy and onnxruntime; prints why not otherwise.
fn python() -> Option<PathBuf> {
    let py = workspace_root().join(".venv/bin/python");
    if !py.is_file() {
        eprintln!("SKIP: {} is missing (run scripts/setup.sh)", py.display());
        return None;
    }
    let ok = Command::new(&py)
        .args(["-c", "import numpy, onnxruntime"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "SKIP: {} cannot import numpy and onnxruntime (run scripts/setup.sh)",
            py.display()
        );
        return None;
    }
    Some(py)
}

/// What one side found in one picture: class id, score, box, keypoints (x, y, score).
#[derive(Debug)]
struct Found {
    class_id: u32,
    score: f32,
    bbox: [f32; 4],
    keypoints: Vec<[f32; 3]>,
}

fn from_rust(p: &Detection) -> Found {
    let b = p.bbox;
    Found {
        class_id: p.class_id,
        score: p.score,
        bbox: [b.x1, b.y1, b.x2, b.y2],
        keypoints: p.keypoints.iter().map(|k| [k.x, k.y, k.score]).collect(),
    }
}

fn from_python(v: &Value) -> Found {
    let f = |v: &Value| v.as_f64().expect("a number") as f32;
    let b: Vec<f32> = v["box"].as_array().expect("box").iter().map(f).collect();
    Found {
        class_id: v["class_id"].as_u64().expect("class_id") as u32,
        score: f(&v["score"]),
        bbox: [b[0], b[1], b[2], b[3]],
        keypoints: v["keypoints"]
            .as_array()
            .expect("keypoints")
            .iter()
            .map(|k| {
                let k = k.as_array().expect("keypoint");
                [f(&k[0]), f(&k[1]), f(&k[2])]
            })
            .collect(),
    }
}

#[test]
fn rust_decoders_match_the_python_reference_on_every_model_and_picture() {
    let Some(assets) = common::assets_dir() else {
        return;
    };
    let Some(py) = python() else {
        return;
    };
    if !common::runtime_available() {
        return;
    }
    let mut images: Vec<PathBuf> = std::fs::read_dir(assets.join("images"))
        .expect("assets/images")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg" || e == "png"))
        .collect();
    images.sort();
    assert!(!images.is_empty());

    let tmp = std::env::temp_dir().join(format!("sharpeyes-reference-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let mut jobs = Vec::new();
    let mut ours = Vec::new();
    for model in MODELS {
        let Some((_, mut detector)) = common::detector(model) else {
            return;
        };
        let input = detector.manifest().input.clone();
        for image in &images {
            let img = common::read_rgb(image);
            let frame = letterbox_image(&img, input.width, input.height, input.pad_value)
                .expect("letterbox");
            assert_eq!(frame.stride, input.width as usize * 3);
            let canvas = tmp.join(format!(
                "{model}-{}.bgr",
                image.file_stem().unwrap().to_string_lossy()
            ));
            std::fs::write(&canvas, &frame.data[..]).expect("write canvas");
            let lb = frame.letterbox;
            jobs.push(json!({
                "model": model,
                "canvas": canvas,
                "width": input.width,
                "height": input.height,
                "score_threshold": detector.score_threshold(),
                "iou_threshold": detector.nms_iou_threshold(),
                "letterbox": {
                    "scale": lb.scale, "pad_x": lb.pad_x, "pad_y": lb.pad_y,
                    "src_width": lb.src_width, "src_height": lb.src_height,
                },
            }));
            let poses = detector
                .detect(std::slice::from_ref(&frame))
                .expect("detect")
                .remove(0);
            ours.push((
                format!("{model} on {}", image.display()),
                poses.iter().map(from_rust).collect::<Vec<_>>(),
            ));
        }
    }
    let jobs_file = tmp.join("jobs.json");
    let jobs = json!({ "models_dir": assets.join("models"), "jobs": jobs });
    std::fs::write(&jobs_file, serde_json::to_vec(&jobs).unwrap()).expect("write jobs");
    let out = Command::new(&py)
        .arg(workspace_root().join("scripts/reference_decode.py"))
        .arg(&jobs_file)
        .output()
        .expect("run the reference script");
    assert!(
        out.status.success(),
        "reference_decode.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Value = serde_json::from_slice(&out.stdout).expect("reference JSON");
    let theirs = theirs.as_array().expect("a list of results");
    assert_eq!(theirs.len(), ours.len());
    let _ = std::fs::remove_dir_all(&tmp);

    let (mut max_box, mut max_score, mut max_kp, mut total) = (0.0_f32, 0.0_f32, 0.0_f32, 0);
    for ((what, ours), theirs) in ours.iter().zip(theirs) {
        let theirs: Vec<Found> = theirs["detections"]
            .as_array()
            .expect("detections")
            .iter()
            .map(from_python)
            .collect();
        assert_eq!(
            ours.len(),
            theirs.len(),
            "{what}: count differs\nrust: {ours:#?}\npython: {theirs:#?}"
        );
        total += ours.len();
        // Pair each of ours with the closest unpaired reference detection of the same class
        // (order may differ between equal scores).
        let mut used = vec![false; theirs.len()];
        for o in ours {
            let box_diff = |t: &Found| {
                o.bbox
                    .iter()
                    .zip(t.bbox)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0_f32, f32::max)
            };
            let (j, t) = theirs
                .iter()
                .enumerate()
                .filter(|(j, t)| !used[*j] && t.class_id == o.class_id)
                .min_by(|a, b| box_diff(a.1).total_cmp(&box_diff(b.1)))
                .unwrap_or_else(|| {
                    panic!(
                        "{what}: no reference detection of class {} for {o:?}",
                        o.class_id
                    )
                });
            used[j] = true;
            let (db, ds) = (box_diff(t), (o.score - t.score).abs());
            assert!(
                db <= BOX_TOLERANCE_PX,
                "{what}: box differs by {db} px: {o:?} vs {t:?}"
            );
            assert!(
                ds <= SCORE_TOLERANCE,
                "{what}: score differs by {ds}: {o:?} vs {t:?}"
            );
            assert_eq!(o.keypoints.len(), t.keypoints.len(), "{what}");
            for (a, b) in o.keypoints.iter().zip(&t.keypoints) {
                let dk = (a[0] - b[0]).abs().max((a[1] - b[1]).abs());
                assert!(dk <= BOX_TOLERANCE_PX, "{what}: keypoint {a:?} vs {b:?}");
                assert!(
                    (a[2] - b[2]).abs() <= SCORE_TOLERANCE,
                    "{what}: keypoint {a:?} vs {b:?}"
                );
                max_kp = max_kp.max(dk);
            }
            max_box = max_box.max(db);
            max_score = max_score.max(ds);
        }
        eprintln!("{what}: {} detections agree", ours.len());
    }
    eprintln!(
        "reference: {total} detections in {} model x picture runs; max box diff {max_box:.2e} px, \
         max score diff {max_score:.2e}, max keypoint diff {max_kp:.2e} px",
        ours.len()
    );
}
