//! Cost of camera tamper detection per camera: one sample (thumbnail of a decoded frame and
//! the detector's step) at the sizes frames are decoded at, and what that is as a share of
//! one core at the sampling rate (one sample per 2 s). `cargo bench --bench tamper`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use sharpeyes_analytics::{TamperConfig, TamperDetector, Thumbnail};
use sharpeyes_core::{CameraId, Frame, Letterbox, PixelFormat, UnixMillis};

/// A 16:9 picture letterboxed into a `size x size` canvas, noisy texture inside.
fn frame(size: u32, time: i64) -> Frame {
    let stride = size as usize * 3;
    let mut s = time as u64 ^ 0x9e37_79b9_7f4a_7c15;
    let data: Vec<u8> = (0..stride * size as usize)
        .map(|i| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
            ((i / 3 % size as usize) as u64 * 3 + (s >> 60)) as u8
        })
        .collect();
    Frame {
        camera: CameraId::new("bench").expect("id"),
        seq: 0,
        time: UnixMillis(time),
        width: size,
        height: size,
        stride,
        format: PixelFormat::Bgr24,
        data: Arc::from(data),
        letterbox: Letterbox::fit(1920, 1080, size, size),
    }
}

fn bench_tamper(c: &mut Criterion) {
    let mut g = c.benchmark_group("tamper_sample");
    let every_ms = TamperConfig::default().sample_every_ms;
    for size in [416u32, 640] {
        let frames: Vec<Frame> = (0..8).map(|i| frame(size, i * every_ms)).collect();
        let mut detector = TamperDetector::default();
        let mut t = 0i64;
        g.bench_with_input(BenchmarkId::from_parameter(size), &frames, |b, frames| {
            b.iter(|| {
                let mut f = frames[(t / every_ms) as usize % frames.len()].clone();
                f.time = UnixMillis(t);
                t += every_ms;
                let thumb = Thumbnail::from_frame(black_box(&f)).expect("thumbnail");
                black_box(detector.observe(thumb))
            })
        });
        // The same, timed by hand, as a share of one core per camera.
        let mut detector = TamperDetector::default();
        let n = 500;
        let started = Instant::now();
        for i in 0..n {
            let mut f = frames[i % frames.len()].clone();
            f.time = UnixMillis(i as i64 * every_ms);
            let thumb = Thumbnail::from_frame(&f).expect("thumbnail");
            black_box(detector.observe(thumb));
        }
        let per_sample = started.elapsed().as_secs_f64() / n as f64;
        println!(
            "tamper, {size}x{size} frames: {:.3} ms per sample, one per {} ms: {:.4} % of a core per camera",
            per_sample * 1e3,
            every_ms,
            per_sample / (every_ms as f64 / 1000.0) * 100.0
        );
    }
    g.finish();
}

criterion_group!(benches, bench_tamper);
criterion_main!(benches);
