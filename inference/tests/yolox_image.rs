//! YOLOX-nano on real pictures through ONNX Runtime: the detector finds what is in them, boxes
//! land inside the picture, batches agree with single frames, and a model that does not match its
//! manifest is refused at load. Skips with a printed reason without the assets or ONNX Runtime.

mod common;

use std::path::Path;

use ndarray::Array4;
use ort::session::Session;
use ort::value::TensorRef;
use sharpeyes_core::{Detection, Detector, Frame};
use sharpeyes_inference::{
    DetectorOptions, InferenceError, OrtDetector, environment, letterbox_image, preprocess,
    yolox_anchor_count,
};

fn detect_image(detector: &mut OrtDetector, path: &Path) -> (Frame, Vec<Detection>) {
    let img = common::read_rgb(path);
    let (w, h) = detector.input_size();
    let pad = detector.manifest().input.pad_value;
    let frame = letterbox_image(&img, w, h, pad).unwrap();
    let mut out = detector.detect(std::slice::from_ref(&frame)).unwrap();
    assert_eq!(out.len(), 1);
    let dets = out.remove(0);
    eprintln!("{}:", path.display());
    for d in &dets {
        eprintln!(
            "  {:<12} {:.3}  ({:.0}, {:.0}) - ({:.0}, {:.0})",
            d.class_name, d.score, d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2
        );
    }
    (frame, dets)
}

fn count(dets: &[Detection], class: &str) -> usize {
    dets.iter().filter(|d| &*d.class_name == class).count()
}

fn assert_inside(dets: &[Detection], width: f32, height: f32) {
    for d in dets {
        let b = d.bbox;
        assert!(
            b.x1 >= 0.0
                && b.y1 >= 0.0
                && b.x2 <= width
                && b.y2 <= height
                && b.x1 < b.x2
                && b.y1 < b.y2,
            "{d:?} not inside {width}x{height}"
        );
        assert!((0.0..=1.0).contains(&d.score), "{d:?}");
    }
}

#[test]
fn finds_people_and_the_bus() {
    let Some((assets, mut detector)) = common::yolox_detector(DetectorOptions::default()) else {
        return;
    };
    let (frame, dets) = detect_image(&mut detector, &assets.join("images/img_bus.jpg"));
    assert_eq!(
        (frame.letterbox.src_width, frame.letterbox.src_height),
        (810, 1080)
    );
    assert!(count(&dets, "person") >= 3, "{dets:#?}");
    assert!(count(&dets, "bus") >= 1, "{dets:#?}");
    assert_inside(&dets, 810.0, 1080.0);
    // The bus spans most of the picture's width.
    let bus = dets.iter().find(|d| &*d.class_name == "bus").unwrap();
    assert!(bus.bbox.width() > 600.0, "{bus:?}");
    // Sorted by score, highest first.
    assert!(dets.windows(2).all(|p| p[0].score >= p[1].score));
}

#[test]
fn finds_dog_bicycle_and_vehicle() {
    let Some((assets, mut detector)) = common::yolox_detector(DetectorOptions::default()) else {
        return;
    };
    let (frame, dets) = detect_image(
        &mut detector,
        &assets.join("images/img_dog_bicycle_truck.jpg"),
    );
    let (w, h) = (
        frame.letterbox.src_width as f32,
        frame.letterbox.src_height as f32,
    );
    assert!(count(&dets, "dog") >= 1, "{dets:#?}");
    assert!(count(&dets, "bicycle") >= 1, "{dets:#?}");
    assert!(
        count(&dets, "truck") + count(&dets, "car") >= 1,
        "{dets:#?}"
    );
    assert_inside(&dets, w, h);
}

#[test]
fn batch_gives_the_same_detections_as_single_frames() {
    let Some((assets, mut detector)) = common::yolox_detector(DetectorOptions::default()) else {
        return;
    };
    let (w, h) = detector.input_size();
    let frames: Vec<Frame> = ["img_bus.jpg", "img_dog_bicycle_truck.jpg", "img_zidane.jpg"]
        .iter()
        .map(|f| {
            letterbox_image(&common::read_rgb(&assets.join("images").join(f)), w, h, 114).unwrap()
        })
        .collect();
    let batch = detector.detect(&frames).unwrap();
    assert_eq!(batch.len(), 3);
    for (i, f) in frames.iter().enumerate() {
        let single = detector.detect(std::slice::from_ref(f)).unwrap();
        assert_eq!(single[0], batch[i], "frame {i}");
    }
    assert!(detector.detect(&[]).unwrap().is_empty());
}

#[test]
fn frame_of_the_wrong_size_is_an_error() {
    let Some((assets, mut detector)) = common::yolox_detector(DetectorOptions::default()) else {
        return;
    };
    let frame = letterbox_image(
        &common::read_rgb(&assets.join("images/img_bus.jpg")),
        320,
        320,
        114,
    )
    .unwrap();
    let e = detector.detect(&[frame]).unwrap_err();
    assert!(matches!(e, InferenceError::InvalidFrame { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("frame is 320x320 but the model input is 416x416"),
        "{e}"
    );
}

#[test]
fn manifest_of_another_size_is_refused_at_load() {
    let Some(assets) = common::assets_dir() else {
        return;
    };
    if !common::runtime_available() {
        return;
    }
    let mut manifest = common::yolox_manifest();
    manifest.input.width = 320;
    let model = manifest.model_path(&assets.join("models"));
    let e = OrtDetector::new(manifest, &model, DetectorOptions::default()).unwrap_err();
    assert!(matches!(e, InferenceError::ModelMismatch { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("input \"images\" has shape [1, 3, 416, 416]"),
        "{text}"
    );
    assert!(text.contains("says [batch, 3, 416, 320]"), "{text}");
}

#[test]
fn manifest_with_other_class_count_is_refused_at_load() {
    let Some(assets) = common::assets_dir() else {
        return;
    };
    if !common::runtime_available() {
        return;
    }
    let mut manifest = common::yolox_manifest();
    manifest.classes.truncate(79);
    let model = manifest.model_path(&assets.join("models"));
    let e = OrtDetector::new(manifest, &model, DetectorOptions::default()).unwrap_err();
    assert!(
        e.to_string().contains("has 80 class scores per anchor but"),
        "{e}"
    );
}

/// The decoder assumes the export applied the sigmoid to objectness and class scores (so they lie
/// in [0, 1]) and not to the box terms. Checked on the raw output of the real model.
#[test]
fn raw_output_scores_are_already_sigmoid() {
    let Some(assets) = common::assets_dir() else {
        return;
    };
    if !common::runtime_available() {
        return;
    }
    let env = environment().unwrap();
    let mut session = Session::builder(&env)
        .unwrap()
        .commit_from_file(assets.join("models/det_yolox_nano_416.onnx"))
        .unwrap();
    let frame = letterbox_image(
        &common::read_rgb(&assets.join("images/img_bus.jpg")),
        416,
        416,
        114,
    )
    .unwrap();
    let manifest = common::yolox_manifest();
    let input: Array4<f32> = preprocess(&[frame], &manifest.input).unwrap();
    let outputs = session
        .run(ort::inputs![TensorRef::from_array_view(&input).unwrap()])
        .unwrap();
    let (shape, data) = outputs[0].try_extract_tensor::<f32>().unwrap();
    assert_eq!(&shape[..], &[1, yolox_anchor_count(416, 416) as i64, 85]);
    let (mut min_score, mut max_score, mut min_box) = (f32::MAX, f32::MIN, f32::MAX);
    for row in data.chunks_exact(85) {
        min_box = min_box.min(row[2]).min(row[3]);
        for &v in &row[4..] {
            min_score = min_score.min(v);
            max_score = max_score.max(v);
        }
    }
    eprintln!("scores in [{min_score}, {max_score}], smallest tw/th {min_box}");
    assert!(
        min_score >= 0.0 && max_score <= 1.0,
        "scores in [{min_score}, {max_score}]"
    );
    assert!(max_score > 0.5, "no confident score at all: {max_score}");
    // Box size terms are log-space (exp applied by the decoder): some must be negative.
    assert!(min_box < 0.0, "smallest tw/th {min_box}");
}
