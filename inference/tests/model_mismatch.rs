//! A manifest that does not describe its model is refused at load, for every output format, with
//! an error naming the model file, the manifest and the output that disagrees. Uses the real
//! asset models; skips with a printed reason without the assets or ONNX Runtime.

mod common;

use sharpeyes_inference::{
    DetectorOptions, InferenceError, ModelFormat, ModelManifest, OrtDetector,
};

/// Loads `model_file` (in the assets) with `manifest`; the error text, or `None` if skipped.
fn load_error(manifest: ModelManifest, model_file: &str) -> Option<String> {
    let assets = common::assets_dir()?;
    if !common::runtime_available() {
        return None;
    }
    let model = assets.join("models").join(model_file);
    let e = OrtDetector::new(manifest, &model, DetectorOptions::default())
        .expect_err("the manifest does not match the model");
    assert!(matches!(e, InferenceError::ModelMismatch { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains(model_file), "{text}");
    Some(text)
}

#[test]
fn nanodet_with_other_class_count_names_the_output_and_manifest() {
    let mut m = common::manifest("nanodet_m");
    m.classes.truncate(79);
    let Some(e) = load_error(m, "det_nanodet_m_416.onnx") else {
        return;
    };
    assert!(
        e.contains("output \"cls_pred_stride_8\" has 80 values per cell, 79 needed"),
        "{e}"
    );
    assert!(e.contains("nanodet_m.toml lists 79 classes"), "{e}");
}

#[test]
fn e2e_manifest_on_a_model_without_dets_is_refused() {
    let mut m = common::manifest("yolox_nano");
    m.format = ModelFormat::E2e;
    let Some(e) = load_error(m, "det_yolox_nano_416.onnx") else {
        return;
    };
    assert!(
        e.contains("the model has no output \"dets\"; its outputs are [\"output\"]"),
        "{e}"
    );
}

#[test]
fn ultralytics_manifest_on_a_yolox_model_is_refused_by_anchor_count() {
    let mut m = common::manifest("yolox_nano");
    m.format = ModelFormat::Ultralytics;
    let Some(e) = load_error(m, "det_yolox_nano_416.onnx") else {
        return;
    };
    assert!(
        e.contains("output \"output\" has 85 anchors; a 416x416 input gives 3549"),
        "{e}"
    );
}

#[test]
fn pose_manifest_with_two_classes_is_refused() {
    let mut m = common::manifest("yolo11n_pose");
    m.classes.push("dog".into());
    let Some(e) = load_error(m, "pose_yolo11n-pose_int8_headfix.onnx") else {
        return;
    };
    assert!(
        e.contains("format ultralytics-pose has one class (person) but"),
        "{e}"
    );
    assert!(e.contains("yolo11n_pose.toml lists 2"), "{e}");
}

#[test]
fn pose_manifest_on_a_multi_output_model_is_refused() {
    let mut m = common::manifest("yolo11n_pose");
    m.input = common::manifest("nanodet_m").input;
    let Some(e) = load_error(m, "det_nanodet_m_416.onnx") else {
        return;
    };
    assert!(
        e.contains(
            "format ultralytics-pose needs exactly one output, the model has [\"cls_pred_stride_8\""
        ),
        "{e}"
    );
}

#[test]
fn rtmdet_manifest_with_wrong_input_name_lists_the_inputs() {
    let mut m = common::manifest("rtmdet_nano_person");
    m.input.name = Some("images".to_owned());
    let Some(e) = load_error(m, "det_rtmdet_nano_person_e2e.onnx") else {
        return;
    };
    assert!(
        e.contains("names input \"images\" but the model's inputs are [\"input\"]"),
        "{e}"
    );
}

#[test]
fn pose_manifest_of_another_size_is_refused() {
    let mut m = common::manifest("yolo11n_pose");
    m.input.width = 320;
    let Some(e) = load_error(m, "pose_yolo11n-pose_int8_headfix.onnx") else {
        return;
    };
    assert!(e.contains("says [batch, 3, 640, 320]"), "{e}");
}
