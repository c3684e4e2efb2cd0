//! `sharpeyes detect`: one image through one model, the detections printed as one JSON
//! object. (I/O: the image and model files, stdout.)

use anyhow::Context;
use sharpeyes::models::ModelStore;
use sharpeyes_core::Detector;

use super::load_config;
use crate::cli::DetectArgs;

pub fn run(args: DetectArgs, store: &ModelStore) -> anyhow::Result<()> {
    let DetectArgs { image, model } = args;
    let image = image.as_path();
    let config = load_config(None)?;
    let name = model.unwrap_or(config.model);
    sharpeyes::runtime::init_onnxruntime()?;
    let manifest = store.manifest(&name)?;
    let path = store.ensure(&manifest)?;
    let img = image::open(image)
        .with_context(|| format!("{}: cannot read the image", image.display()))?
        .to_rgb8();
    let (w, h, pad) = (
        manifest.input.width,
        manifest.input.height,
        manifest.input.pad_value,
    );
    let frame = sharpeyes_inference::letterbox_image(&img, w, h, pad)?;
    let mut detector = sharpeyes_inference::OrtDetector::new(manifest, &path, Default::default())?;
    // Pose models: each detection also carries its keypoints (empty for other models).
    let dets = detector
        .detect(std::slice::from_ref(&frame))?
        .pop()
        .unwrap_or_default();
    let detections: Vec<serde_json::Value> = dets
        .iter()
        .map(|d| {
            let mut v = serde_json::json!({
                "class": d.class_name.as_ref(),
                "score": d.score,
                "x1": d.bbox.x1,
                "y1": d.bbox.y1,
                "x2": d.bbox.x2,
                "y2": d.bbox.y2,
            });
            if !d.keypoints.is_empty() {
                v["keypoints"] = d
                    .keypoints
                    .iter()
                    .map(|k| serde_json::json!([k.x, k.y, k.score]))
                    .collect();
            }
            v
        })
        .collect();
    let out = serde_json::json!({
        "image": image,
        "model": name,
        "width": img.width(),
        "height": img.height(),
        "detections": detections,
    });
    println!("{out}");
    Ok(())
}
