//! Shared by the integration tests: finding the test assets and ONNX Runtime, loading the
//! YOLOX-nano detector, reading pictures. Tests skip with `SKIP: <reason>` on stderr when the
//! assets or the runtime are missing.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use sharpeyes_inference::{DetectorOptions, ModelManifest, OrtDetector};

/// The shared assets directory, or `None` after printing why it is missing.
pub fn assets_dir() -> Option<PathBuf> {
    sharpeyes_core::testing::asset("models")
        .map(|models| models.parent().map(Path::to_path_buf).unwrap_or(models))
}

/// True if ONNX Runtime can be found; prints why not otherwise.
pub fn runtime_available() -> bool {
    match std::env::var_os("ORT_DYLIB_PATH") {
        Some(p) if Path::new(&p).is_file() => true,
        Some(p) => {
            eprintln!(
                "SKIP: ORT_DYLIB_PATH={} is not a file",
                Path::new(&p).display()
            );
            false
        }
        None => {
            eprintln!("SKIP: ORT_DYLIB_PATH is not set (point it at libonnxruntime.so)");
            false
        }
    }
}

pub fn yolox_manifest() -> ModelManifest {
    ModelManifest::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/yolox_nano.toml"
    )))
    .expect("models/yolox_nano.toml is valid")
}

/// The assets directory and a YOLOX-nano detector with `options`, or `None` after printing why
/// the test is skipped.
pub fn yolox_detector(options: DetectorOptions) -> Option<(PathBuf, OrtDetector)> {
    let assets = assets_dir()?;
    if !runtime_available() {
        return None;
    }
    let manifest = yolox_manifest();
    let model = manifest.model_path(&assets.join("models"));
    let detector =
        OrtDetector::new(manifest, &model, options).unwrap_or_else(|e| panic!("{e}: {e:?}"));
    Some((assets, detector))
}

pub fn read_rgb(path: &Path) -> image::RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8()
}

/// The manifest `models/<name>.toml`.
pub fn manifest(name: &str) -> ModelManifest {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models")
        .join(format!("{name}.toml"));
    ModelManifest::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// The assets directory and a detector for `models/<name>.toml` with default options, or `None`
/// after printing why the test is skipped.
pub fn detector(name: &str) -> Option<(PathBuf, OrtDetector)> {
    let assets = assets_dir()?;
    if !runtime_available() {
        return None;
    }
    let manifest = manifest(name);
    let model = manifest.model_path(&assets.join("models"));
    if !model.is_file() {
        eprintln!("SKIP: {} is missing", model.display());
        return None;
    }
    let detector = OrtDetector::new(manifest, &model, DetectorOptions::default())
        .unwrap_or_else(|e| panic!("{e}: {e:?}"));
    Some((assets, detector))
}
