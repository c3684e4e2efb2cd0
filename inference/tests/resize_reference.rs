//! Proof against the reference pre-processing: the models were trained on pictures shrunk with
//! OpenCV's `cv2.resize(…, INTER_LINEAR)`, and `letterbox_image` (`detect --image`) must feed
//! them the same canvas. For every test picture and every asset model, OpenCV itself letterboxes
//! the picture (the same decoded pixels, the same placement), and the detections on its canvas
//! and on ours must agree: same count and classes, boxes within 1 px. The canvases are also
//! compared byte by byte (at most 1 step apart; today they are identical).
//!
//! A control keeps the bar honest: the `image` crate's Triangle filter, which `letterbox_image`
//! used before, must miss it somewhere (it moves boxes by 4 to 31 source pixels here).
//!
//! Skips with a printed reason without the assets, ONNX Runtime, or a `.venv/bin/python` that
//! can import numpy and cv2 (`.venv/bin/pip install opencv-python-headless`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::json;
use sharpeyes_core::{Detection, Detector, Frame};
use sharpeyes_inference::letterbox_image;

const MODELS: &[&str] = &[
    "yolox_nano",
    "nanodet_m",
    "rtmdet_nano_person",
    "yolo11n_pose",
];
const BOX_TOLERANCE_PX: f32 = 1.0;

/// Reads jobs (JSON, argv[1]); for each, letterboxes the raw RGB picture as Ultralytics'
/// `LetterBox` does, with the placement given, and writes the BGR canvas.
const OPENCV_LETTERBOX: &str = r#"
import json, sys
import cv2, numpy as np
for j in json.load(open(sys.argv[1])):
    src = np.fromfile(j["source"], np.uint8).reshape(j["src_height"], j["src_width"], 3)
    iw, ih, px, py = j["inner_width"], j["inner_height"], j["pad_x"], j["pad_y"]
    inner = cv2.resize(src, (iw, ih), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((j["height"], j["width"], 3), j["pad"], np.uint8)
    canvas[py:py + ih, px:px + iw] = inner[:, :, ::-1]
    canvas.tofile(j["canvas"])
"#;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lies in the workspace")
        .to_path_buf()
}

/// `.venv/bin/python` if it can import numpy and cv2; prints why not otherwise.
fn python_with_opencv() -> Option<PathBuf> {
    let py = workspace_root().join(".venv/bin/python");
    if !py.is_file() {
        eprintln!("SKIP: {} is missing (run scripts/setup.sh)", py.display());
        return None;
    }
    let ok = Command::new(&py)
        .args(["-c", "import numpy, cv2"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "SKIP: {} cannot import cv2 (.venv/bin/pip install opencv-python-headless)",
            py.display()
        );
        return None;
    }
    Some(py)
}

/// `frame` with its pixels replaced by `data` (same size and placement).
fn with_pixels(frame: &Frame, data: Vec<u8>) -> Frame {
    assert_eq!(data.len(), frame.data.len());
    Frame {
        data: Arc::from(data),
        ..frame.clone()
    }
}

/// The canvas `letterbox_image` made before: the `image` crate's Triangle filter.
fn triangle_canvas(img: &image::RgbImage, frame: &Frame, pad: u8) -> Vec<u8> {
    let lb = frame.letterbox;
    let (iw, ih) = lb.inner_size();
    let inner =
        image::imageops::resize(img, iw, ih, image::imageops::FilterType::Triangle).into_raw();
    let mut data = vec![pad; frame.data.len()];
    for (y, row) in inner.chunks_exact(iw as usize * 3).enumerate() {
        let start = (lb.pad_y as usize + y) * frame.stride + lb.pad_x as usize * 3;
        for (d, s) in data[start..start + row.len()]
            .chunks_exact_mut(3)
            .zip(row.chunks_exact(3))
        {
            d.copy_from_slice(&[s[2], s[1], s[0]]);
        }
    }
    data
}

/// The largest box-corner distance between `ours` and `theirs`, pairing each of ours with the
/// closest unpaired detection of the same class; `None` if the counts or classes differ.
fn max_box_diff(ours: &[Detection], theirs: &[Detection]) -> Option<f32> {
    if ours.len() != theirs.len() {
        return None;
    }
    let corners = |d: &Detection| [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2];
    let diff = |a: &Detection, b: &Detection| {
        corners(a)
            .iter()
            .zip(corners(b))
            .map(|(p, q)| (p - q).abs())
            .fold(0.0_f32, f32::max)
    };
    let mut used = vec![false; theirs.len()];
    let mut worst = 0.0_f32;
    for o in ours {
        let (j, d) = theirs
            .iter()
            .enumerate()
            .filter(|(j, t)| !used[*j] && t.class_id == o.class_id)
            .map(|(j, t)| (j, diff(o, t)))
            .min_by(|a, b| a.1.total_cmp(&b.1))?;
        used[j] = true;
        worst = worst.max(d);
    }
    Some(worst)
}

#[test]
fn letterboxed_pictures_give_the_detections_of_opencv_inter_linear() {
    let Some(assets) = common::assets_dir() else {
        return;
    };
    let Some(py) = python_with_opencv() else {
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

    let tmp = std::env::temp_dir().join(format!("sharpeyes-resize-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let mut detectors = Vec::new();
    for model in MODELS {
        let Some((_, detector)) = common::detector(model) else {
            return;
        };
        detectors.push(detector);
    }

    // Our canvases, and the jobs that have OpenCV make its own from the same decoded pixels.
    let mut cases = Vec::new();
    let mut jobs = Vec::new();
    for image in &images {
        let img = common::read_rgb(image);
        let stem = image.file_stem().expect("a file name").to_string_lossy();
        let source = tmp.join(format!("{stem}.rgb"));
        std::fs::write(&source, img.as_raw()).expect("write source");
        for detector in &detectors {
            let input = &detector.manifest().input;
            let ours = letterbox_image(&img, input.width, input.height, input.pad_value)
                .expect("letterbox");
            assert_eq!(ours.stride, input.width as usize * 3);
            let lb = ours.letterbox;
            let (iw, ih) = lb.inner_size();
            let canvas = tmp.join(format!("{}-{stem}.bgr", detector.manifest().name));
            jobs.push(json!({
                "source": source, "src_width": img.width(), "src_height": img.height(),
                "inner_width": iw, "inner_height": ih,
                "pad_x": lb.pad_x as u32, "pad_y": lb.pad_y as u32,
                "width": input.width, "height": input.height, "pad": input.pad_value,
                "canvas": canvas,
            }));
            cases.push((image.clone(), img.clone(), ours, canvas));
        }
    }
    let jobs_file = tmp.join("jobs.json");
    std::fs::write(&jobs_file, serde_json::to_vec(&jobs).expect("JSON")).expect("write jobs");
    let out = Command::new(&py)
        .args(["-c", OPENCV_LETTERBOX])
        .arg(&jobs_file)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "OpenCV letterbox failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (mut worst_box, mut worst_pixel, mut triangle_worst) = (0.0_f32, 0u8, 0.0_f32);
    let mut triangle_misses = 0;
    for (i, (image, img, ours, canvas)) in cases.iter().enumerate() {
        let detector = &mut detectors[i % MODELS.len()];
        let what = format!("{} on {}", detector.manifest().name, image.display());
        let reference = with_pixels(ours, std::fs::read(canvas).expect("OpenCV canvas"));
        let pixel = ours
            .data
            .iter()
            .zip(reference.data.iter())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap_or(0);

        let pad = detector.manifest().input.pad_value;
        let triangle = with_pixels(ours, triangle_canvas(img, ours, pad));
        let mut found = detector
            .detect(&[ours.clone(), reference, triangle])
            .expect("detect")
            .into_iter();
        let (ours, reference, triangle) = (
            found.next().expect("ours"),
            found.next().expect("reference"),
            found.next().expect("triangle"),
        );
        let d = max_box_diff(&ours, &reference).unwrap_or_else(|| {
            panic!("{what}: detections differ\nours: {ours:#?}\nOpenCV: {reference:#?}")
        });
        assert!(d <= BOX_TOLERANCE_PX, "{what}: a box moved {d} px");
        // Boxes first (the bar that matters), then the pixels they came from.
        assert!(pixel <= 1, "{what}: canvases differ by {pixel} steps");
        worst_pixel = worst_pixel.max(pixel);
        worst_box = worst_box.max(d);
        let t = max_box_diff(&triangle, &reference);
        match t {
            Some(t) => {
                triangle_worst = triangle_worst.max(t);
                triangle_misses += usize::from(t > BOX_TOLERANCE_PX);
            }
            None => triangle_misses += 1,
        }
        eprintln!(
            "{what}: {} detections agree (max {d:.2} px); Triangle: {}",
            ours.len(),
            t.map_or(
                format!(
                    "other detections ({} vs {})",
                    triangle.len(),
                    reference.len()
                ),
                |t| format!("max {t:.2} px")
            )
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
    eprintln!(
        "OpenCV INTER_LINEAR reference, {} model x picture runs: canvases at most {worst_pixel} \
         steps apart, boxes at most {worst_box:.3} px; the Triangle filter: {triangle_misses} \
         runs off by more than {BOX_TOLERANCE_PX} px or in count (worst matched box \
         {triangle_worst:.2} px)",
        cases.len()
    );
    assert!(
        triangle_misses > 0,
        "control: the Triangle filter now also meets the bar, so the bar no longer tells \
         OpenCV's resize from another"
    );
}
