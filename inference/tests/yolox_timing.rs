//! Prints how long preprocessing and one YOLOX-nano 416x416 inference take on this machine, with
//! 1 and 2 intra-op threads (run with `--nocapture`). Asserts nothing about time: speed targets
//! live in benches/. Its own test binary, so other tests do not share the CPU while it measures.

mod common;

use std::time::{Duration, Instant};

use sharpeyes_core::Detector;
use sharpeyes_inference::{DetectorOptions, letterbox_image, preprocess_into};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
fn prints_preprocess_and_inference_times() {
    let Some((assets, mut detector)) = common::yolox_detector(DetectorOptions::default()) else {
        return;
    };
    let img = common::read_rgb(&assets.join("images/img_bus.jpg"));

    let t = Instant::now();
    let frame = letterbox_image(&img, 416, 416, 114).unwrap();
    let letterbox_time = t.elapsed();

    let input = detector.manifest().input.clone();
    let mut buf = Vec::new();
    let mut pre = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let tensor = preprocess_into(std::slice::from_ref(&frame), &input, buf).unwrap();
        pre.push(t.elapsed());
        buf = tensor.into_raw_vec_and_offset().0;
    }

    let Some((_, mut two_threads)) = common::yolox_detector(DetectorOptions {
        intra_op_threads: 2,
        ..Default::default()
    }) else {
        return;
    };
    let mut results = Vec::new();
    for (threads, det) in [(1, &mut detector), (2, &mut two_threads)] {
        det.detect(std::slice::from_ref(&frame)).unwrap(); // warm-up
        let mut times = Vec::new();
        for _ in 0..30 {
            let t = Instant::now();
            det.detect(std::slice::from_ref(&frame)).unwrap();
            times.push(t.elapsed());
        }
        results.push((threads, median(times)));
    }

    eprintln!("letterbox 810x1080 -> 416x416 (resize + BGR): {letterbox_time:?}");
    eprintln!("preprocess 1x416x416 (median of 200): {:?}", median(pre));
    for (threads, t) in results {
        eprintln!(
            "detect 1 frame, intra_op_threads={threads} (median of 30, incl. preprocess/decode/NMS): {t:?}"
        );
    }
}
