//! Inference stage against raw ONNX Runtime, per model and batch size, printed as a table:
//!   cargo bench --workspace --bench inference      (needs ORT_DYLIB_PATH, or ./dev)
//! For every manifest in `models/` whose file is in the model cache (`models/.cache`; fill it
//! once with `target/release/sharpeyes models fetch`), at batch 1 and, where the model's batch
//! dimension is dynamic, batch 4:
//! - raw: `Session::run` on an already prepared input tensor, nothing else (the ceiling);
//! - pipeline: `OrtDetector::detect` on letterboxed frames (preprocess + run + decode + NMS);
//! - ratio: pipeline / raw frames/s; the target is >= 0.95 (the stage adds at most 5%).
//!
//! Both use one intra-op thread (the detector's default) and the same session options. The two
//! are timed in alternating rounds so that background load hits both alike, and every column is
//! the median over the rounds (the ratio: of the per-round ratios). Frames are the test images
//! (`images/` in the test assets) letterboxed to the model's input.

use std::path::Path;
use std::time::{Duration, Instant};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{TensorRef, ValueType};
use sharpeyes_core::{Detector, Frame};
use sharpeyes_inference::{
    DetectorOptions, ModelManifest, OrtDetector, environment, letterbox_image, preprocess,
};

/// Alternating rounds per measurement, and the wall time each side runs per round (at least one
/// call).
const ROUNDS: usize = 10;
const ROUND_TIME: Duration = Duration::from_millis(300);

fn main() {
    let assets = sharpeyes_core::testing::assets_root();
    let images: Vec<image::RgbImage> = [
        "img_bus.jpg",
        "img_zidane.jpg",
        "img_dog_bicycle_truck.jpg",
        "img_people_poses.jpg",
    ]
    .iter()
    .filter_map(|name| {
        let p = assets.join("images").join(name);
        match image::open(&p) {
            Ok(img) => Some(img.to_rgb8()),
            Err(e) => {
                eprintln!("SKIP image {}: {e}", p.display());
                None
            }
        }
    })
    .collect();
    if images.is_empty() {
        eprintln!(
            "SKIP: no test images under {} (set SHARPEYES_TEST_ASSETS)",
            assets.join("images").display()
        );
        return;
    }
    if let Err(e) = sharpeyes::runtime::init_onnxruntime() {
        eprintln!("SKIP: {e:#}");
        return;
    }
    let store = sharpeyes::models::ModelStore::from_env();

    println!(
        "| model | format | input | batch | raw ORT frames/s | pipeline frames/s | pipeline / raw |"
    );
    println!("|---|---|---|---|---|---|---|");
    for name in store.names() {
        let manifest = match store.manifest(&name) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("SKIP {name}: {e:#}");
                continue;
            }
        };
        let path = manifest.model_path(&store.cache_dir);
        if !path.is_file() {
            eprintln!(
                "SKIP {name}: {} is not in the model cache (run `target/release/sharpeyes models fetch`)",
                path.display()
            );
            continue;
        }
        if let Err(e) = bench_model(&manifest, &path, &images) {
            eprintln!("SKIP {name}: {e}");
        }
    }
}

fn bench_model(
    manifest: &ModelManifest,
    path: &Path,
    images: &[image::RgbImage],
) -> Result<(), String> {
    let input = &manifest.input;
    let frames: Vec<Frame> = images
        .iter()
        .map(|img| letterbox_image(img, input.width, input.height, input.pad_value))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;

    // The same session options as OrtDetector::new with DetectorOptions::default().
    let mut session = Session::builder(&environment().map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(|e| e.to_string())?
        .with_intra_threads(1)
        .map_err(|e| e.to_string())?
        .commit_from_file(path)
        .map_err(|e| e.to_string())?;
    let outlet = match &input.name {
        Some(n) => session.inputs().iter().find(|i| i.name() == n),
        None => session.inputs().first(),
    }
    .ok_or("the model has no such input")?;
    let input_name = outlet.name().to_owned();
    let dynamic_batch = matches!(outlet.dtype(), ValueType::Tensor { shape, .. } if shape.first().is_some_and(|&b| b < 0));
    let mut detector = OrtDetector::new(manifest.clone(), path, DetectorOptions::default())
        .map_err(|e| e.to_string())?;

    let batches: &[usize] = if dynamic_batch { &[1, 4] } else { &[1] };
    for &batch in batches {
        // Groups of `batch` frames, cycling through the images.
        let groups: Vec<Vec<Frame>> = (0..frames.len())
            .map(|i| {
                (0..batch)
                    .map(|k| frames[(i + k) % frames.len()].clone())
                    .collect()
            })
            .collect();
        let tensors = groups
            .iter()
            .map(|g| preprocess(g, input))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;

        let mut raw = |i: usize| -> Result<(), String> {
            let t = TensorRef::from_array_view(tensors[i % tensors.len()].view())
                .map_err(|e| e.to_string())?;
            let out = session
                .run(ort::inputs![input_name.as_str() => t])
                .map_err(|e| e.to_string())?;
            std::hint::black_box(out);
            Ok(())
        };
        let mut pipeline = |i: usize| -> Result<(), String> {
            let d = detector
                .detect(&groups[i % groups.len()])
                .map_err(|e| e.to_string())?;
            std::hint::black_box(d);
            Ok(())
        };
        // Warm-up: first runs allocate and page in.
        for i in 0..3 {
            raw(i)?;
            pipeline(i)?;
        }
        // Frames/s of each side per round; the ratio is the median of the per-round ratios, so a
        // burst of outside load in one round does not decide it.
        let (mut raw_fps, mut pipe_fps, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let r = fps(timed(&mut raw)?, batch);
            let p = fps(timed(&mut pipeline)?, batch);
            raw_fps.push(r);
            pipe_fps.push(p);
            ratios.push(p / r);
        }
        println!(
            "| {} | {} | {}x{} | {batch} | {:.1} | {:.1} | {:.3} |",
            manifest.name,
            manifest.format,
            input.width,
            input.height,
            median(&mut raw_fps),
            median(&mut pipe_fps),
            median(&mut ratios),
        );
    }
    Ok(())
}

fn fps((t, n): (Duration, usize), batch: usize) -> f64 {
    (n * batch) as f64 / t.as_secs_f64()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    (v[(n - 1) / 2] + v[n / 2]) / 2.0
}

/// Calls `f(0), f(1), ...` until `ROUND_TIME` has passed (at least once); the time and count.
fn timed(f: &mut impl FnMut(usize) -> Result<(), String>) -> Result<(Duration, usize), String> {
    let start = Instant::now();
    let mut n = 0;
    while n == 0 || start.elapsed() < ROUND_TIME {
        f(n)?;
        n += 1;
    }
    Ok((start.elapsed(), n))
}
