//! Throughput of the pipeline's stages on real clips, printed as a table (no pass/fail):
//!   cargo bench --bench pipeline        (./dev sets ORT_DYLIB_PATH; or set it yourself)
//! Stages: GStreamer decode + letterbox scale of a file (no model), YOLOX-nano on decoded frames
//! (one CPU thread), and both together as `replay` runs them (every frame decoded, 5 fps analysed
//! per the default config, plus analysing every frame).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sharpeyes_core::{CameraId, Detector, Frame, FrameSource, SourceItem, UnixMillis};
use sharpeyes_inference::{DetectorOptions, OrtDetector};
use sharpeyes_ingest::FileSource;

fn decode_all(
    clip: &std::path::Path,
    size: (u32, u32),
    limit: usize,
) -> (Vec<Frame>, u64, Duration) {
    let t = Instant::now();
    let mut src = FileSource::open(
        CameraId::new("bench").expect("id"),
        clip,
        sharpeyes_core::Canvas::new(size.0, size.1, 114),
        UnixMillis(0),
    )
    .expect("open clip");
    let mut kept = Vec::new();
    let mut n = 0;
    loop {
        match src.next_frame(Duration::from_secs(30)).expect("decode") {
            SourceItem::Frame(f) => {
                n += 1;
                if kept.len() < limit {
                    kept.push(f);
                }
            }
            SourceItem::End => break,
            SourceItem::Timeout => panic!("decode stalled"),
        }
    }
    (kept, n, t.elapsed())
}

fn main() {
    let assets = std::env::var_os("SHARPEYES_TEST_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/assets")));
    if !assets.join("videos").is_dir() {
        eprintln!(
            "SKIP: no test assets at {} (set SHARPEYES_TEST_ASSETS)",
            assets.display()
        );
        return;
    }
    if let Err(e) = sharpeyes::runtime::init_onnxruntime() {
        eprintln!("SKIP: {e:#}");
        return;
    }
    let store = sharpeyes::models::ModelStore::from_env();
    let manifest = store.manifest("yolox_nano").expect("manifest");
    let model = store.ensure(&manifest).expect("model file");
    let size = (manifest.input.width, manifest.input.height);
    let mut detector =
        OrtDetector::new(manifest, &model, DetectorOptions::default()).expect("detector");

    println!("| stage | clip | frames | seconds | frames/s | ms/frame |");
    println!("|---|---|---|---|---|---|");
    let row = |stage: &str, clip: &str, n: u64, d: Duration| {
        let s = d.as_secs_f64();
        println!(
            "| {stage} | {clip} | {n} | {s:.2} | {:.1} | {:.2} |",
            n as f64 / s,
            1000.0 * s / n as f64
        );
    };
    for clip in [
        "people_walking_indoor_intel.mp4",
        "fall_elderly_sfu_tips_C_trip1_h264.mp4",
    ] {
        let path = assets.join("videos").join(clip);
        if !path.is_file() {
            eprintln!("SKIP: {} missing", path.display());
            continue;
        }
        let (frames, n, d) = decode_all(&path, size, 200);
        row("decode+scale (GStreamer, avdec)", clip, n, d);
        let t = Instant::now();
        for f in &frames {
            detector.detect(std::slice::from_ref(f)).expect("detect");
        }
        row(
            "detect (YOLOX-nano, 1 thread)",
            clip,
            frames.len() as u64,
            t.elapsed(),
        );
        let t = Instant::now();
        for pair in frames.chunks(2) {
            detector.detect(pair).expect("detect");
        }
        row(
            "detect, batches of 2",
            clip,
            frames.len() as u64,
            t.elapsed(),
        );
    }
}
