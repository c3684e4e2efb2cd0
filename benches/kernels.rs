//! Criterion benches of the per-frame hot kernels (pure code, no model, no assets):
//!   cargo bench --workspace --bench kernels [-- FILTER]
//! - preprocess: letterboxed BGR frames (with row padding, as GStreamer hands them over) into
//!   the NCHW f32 tensor, 416x416 and 640x640, one frame and a batch of 8;
//! - resize: a 640x360 and a 1920x1080 picture letterboxed into 416x416 with the crate's resize
//!   (OpenCV INTER_LINEAR), as `detect --image` does (RGB picture) and as a frame decoded at its
//!   own size would be (BGR frame), against the `image` crate's Triangle filter used before;
//! - decode: each output decoder on a synthetic tensor of the real model's shape whose seeded
//!   pattern puts a few hundred candidates above the threshold (as a busy scene does);
//! - nms: class-aware NMS over 8,400 clustered candidates;
//! - tracker: ByteTrack-style update with 30 people walking (and a few low-score boxes);
//! - alert: building an alert with 5 objects and encoding it as the JSON line Kafka gets.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sharpeyes_core::{BBox, CameraId, Frame, Letterbox, PixelFormat, UnixMillis};
use sharpeyes_inference::{
    Candidate, ColourOrder, InputSpec, NANODET_STRIDES, NanoDetLevel, Normalisation, crop_frame,
    decode_e2e, decode_nanodet, decode_ultralytics, decode_ultralytics_pose, decode_yolox,
    letterbox_image, nms, preprocess_into, ultralytics_anchor_count, yolox_anchor_count,
};

const THRESHOLD: f32 = 0.35;
const CLASSES: usize = 80;

/// Seeded xorshift64*: the same numbers on every run and machine.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// A `size x size` BGR frame with 32 bytes of row padding, filled with a seeded pattern.
fn frame(size: u32, seed: u64) -> Frame {
    let stride = size as usize * 3 + 32;
    let mut rng = Rng(seed);
    let data: Vec<u8> = (0..stride * size as usize)
        .map(|_| rng.next_u64() as u8)
        .collect();
    Frame {
        camera: CameraId::new("bench").expect("id"),
        seq: seed,
        time: UnixMillis(0),
        width: size,
        height: size,
        stride,
        format: PixelFormat::Bgr24,
        data: Arc::from(data),
        letterbox: Letterbox::fit(size, size, size, size),
    }
}

fn bench_preprocess(c: &mut Criterion) {
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("thread pool");
    let mut g = c.benchmark_group("preprocess");
    for (size, order, normalisation) in [
        // YOLOX-nano / NanoDet size, raw BGR; YOLO11 size, RGB / 255.
        (416, ColourOrder::Bgr, Normalisation::IDENTITY),
        (
            640,
            ColourOrder::Rgb,
            Normalisation {
                mean: [0.0; 3],
                std: [255.0; 3],
            },
        ),
    ] {
        let spec = InputSpec {
            name: None,
            width: size,
            height: size,
            colour_order: order,
            normalisation,
            pad_value: 114,
        };
        for batch in [1usize, 8] {
            let frames: Vec<Frame> = (0..batch as u64).map(|i| frame(size, i + 1)).collect();
            g.throughput(Throughput::Elements(batch as u64));
            // "1-thread": on a one-thread pool, where preprocess takes its serial path (the
            // code before rayon); "pool": rayon's global pool, one thread per core.
            for (label, pool) in [("1-thread", Some(&one_thread)), ("pool", None)] {
                let mut buffer = Vec::new();
                let id = BenchmarkId::new(format!("{size}x{size}/batch{batch}"), label);
                g.bench_function(id, |b| {
                    b.iter_custom(|iters| {
                        let mut run = || {
                            let t = Instant::now();
                            for _ in 0..iters {
                                let tensor = preprocess_into(
                                    black_box(&frames),
                                    &spec,
                                    std::mem::take(&mut buffer),
                                )
                                .expect("preprocess");
                                buffer = tensor.into_raw_vec_and_offset().0;
                            }
                            t.elapsed()
                        };
                        match pool {
                            Some(p) => p.install(run),
                            None => run(),
                        }
                    })
                });
            }
        }
    }
    g.finish();
}

/// `letterbox_image` as it was before the INTER_LINEAR resize: the `image` crate's Triangle
/// filter, then the rows copied into the canvas as BGR. Kept here only to compare against.
fn letterbox_triangle(img: &image::RgbImage, width: u32, height: u32, pad: u8) -> Vec<u8> {
    let lb = Letterbox::fit(img.width(), img.height(), width, height);
    let (iw, ih) = lb.inner_size();
    let inner = image::imageops::resize(img, iw, ih, image::imageops::FilterType::Triangle);
    let stride = width as usize * 3;
    let mut data = vec![pad; stride * height as usize];
    for (y, row) in inner.as_raw().chunks_exact(iw as usize * 3).enumerate() {
        let start = (lb.pad_y as usize + y) * stride + lb.pad_x as usize * 3;
        for (d, s) in data[start..start + row.len()]
            .chunks_exact_mut(3)
            .zip(row.chunks_exact(3))
        {
            d.copy_from_slice(&[s[2], s[1], s[0]]);
        }
    }
    data
}

fn bench_resize(c: &mut Criterion) {
    let mut g = c.benchmark_group("resize");
    for (w, h) in [(640u32, 360u32), (1920, 1080)] {
        let mut rng = Rng(u64::from(w));
        let pixels: Vec<u8> = (0..w as usize * h as usize * 3)
            .map(|_| rng.next_u64() as u8)
            .collect();
        let picture = image::RgbImage::from_raw(w, h, pixels.clone()).expect("w x h x 3");
        let frame = Frame {
            width: w,
            height: h,
            stride: w as usize * 3,
            data: Arc::from(pixels),
            letterbox: Letterbox::fit(w, h, w, h),
            ..frame(2, 1)
        };
        g.throughput(Throughput::Elements(1));
        let id = |what: &str| BenchmarkId::new(format!("{w}x{h}-to-416"), what);
        g.bench_function(id("picture-inter-linear"), |b| {
            b.iter(|| letterbox_image(black_box(&picture), 416, 416, 114).expect("letterbox"))
        });
        g.bench_function(id("frame-inter-linear"), |b| {
            b.iter(|| crop_frame(black_box(&frame), None, 416, 416, 114).expect("crop"))
        });
        g.bench_function(id("picture-triangle-before"), |b| {
            b.iter(|| letterbox_triangle(black_box(&picture), 416, 416, 114))
        });
    }
    g.finish();
}

/// Anchor indices that hold an object: `hits` distinct anchors out of `anchors`.
fn object_anchors(rng: &mut Rng, anchors: usize, hits: usize) -> Vec<bool> {
    let mut on = vec![false; anchors];
    let mut n = 0;
    while n < hits {
        let a = rng.below(anchors);
        if !on[a] {
            on[a] = true;
            n += 1;
        }
    }
    on
}

/// YOLOX `[3549, 85]` (416x416): background anchors have low objectness; 300 have an object.
fn yolox_tensor() -> Vec<f32> {
    let anchors = yolox_anchor_count(416, 416);
    let mut rng = Rng(11);
    let on = object_anchors(&mut rng, anchors, 300);
    let mut out = Vec::with_capacity(anchors * (5 + CLASSES));
    for &hit in &on {
        out.extend([rng.unit(), rng.unit(), rng.unit() - 0.5, rng.unit() - 0.5]);
        out.push(if hit {
            0.7 + 0.3 * rng.unit()
        } else {
            0.05 * rng.unit()
        });
        let best = rng.below(CLASSES);
        for k in 0..CLASSES {
            out.push(if hit && k == best {
                0.6 + 0.4 * rng.unit()
            } else {
                0.05 * rng.unit()
            });
        }
    }
    out
}

/// Channel-major `[4 + extra, 8400]` (640x640) boxes (cx, cy, w, h in pixels); `score_rows`
/// fills the rows after the box for one anchor.
fn channel_major(
    rows: usize,
    seed: u64,
    mut fill: impl FnMut(&mut Rng, bool) -> Vec<f32>,
) -> Vec<f32> {
    let anchors = ultralytics_anchor_count(640, 640);
    let mut rng = Rng(seed);
    let on = object_anchors(&mut rng, anchors, 300);
    let mut out = vec![0.0; rows * anchors];
    for (a, &hit) in on.iter().enumerate() {
        let cx = 640.0 * rng.unit();
        let cy = 640.0 * rng.unit();
        let (w, h) = (20.0 + 200.0 * rng.unit(), 20.0 + 300.0 * rng.unit());
        let mut col = vec![cx, cy, w, h];
        col.extend(fill(&mut rng, hit));
        assert_eq!(col.len(), rows);
        for (k, v) in col.into_iter().enumerate() {
            out[k * anchors + a] = v;
        }
    }
    out
}

fn ultralytics_tensor() -> Vec<f32> {
    channel_major(4 + CLASSES, 12, |rng, hit| {
        let best = rng.below(CLASSES);
        (0..CLASSES)
            .map(|k| {
                if hit && k == best {
                    0.5 + 0.5 * rng.unit()
                } else {
                    0.02 * rng.unit()
                }
            })
            .collect()
    })
}

fn pose_tensor() -> Vec<f32> {
    channel_major(5 + 3 * 17, 13, |rng, hit| {
        let mut v = vec![if hit {
            0.5 + 0.5 * rng.unit()
        } else {
            0.02 * rng.unit()
        }];
        for _ in 0..17 {
            v.extend([640.0 * rng.unit(), 640.0 * rng.unit(), rng.unit()]);
        }
        v
    })
}

/// NanoDet-m 416x416: per stride `cls` `[N, 80]` (sigmoid) and `dis` `[N, 32]`.
fn nanodet_tensors() -> Vec<(u32, Vec<f32>, Vec<f32>)> {
    let mut rng = Rng(14);
    NANODET_STRIDES
        .iter()
        .map(|&s| {
            let cells = 416usize.div_ceil(s as usize).pow(2);
            // ~300 object cells over the 3549, proportionally per level.
            let on = object_anchors(&mut rng, cells, cells * 300 / 3549);
            let mut cls = Vec::with_capacity(cells * CLASSES);
            for &hit in &on {
                let best = rng.below(CLASSES);
                cls.extend((0..CLASSES).map(|k| {
                    if hit && k == best {
                        0.5 + 0.5 * rng.unit()
                    } else {
                        0.02 * rng.unit()
                    }
                }));
            }
            let dis = (0..cells * 32).map(|_| 4.0 * rng.unit() - 2.0).collect();
            (s, cls, dis)
        })
        .collect()
}

/// RTMDet e2e: `dets` `[300, 5]` in canvas pixels and `labels` `[300]`, scores descending.
fn e2e_tensors() -> (Vec<f32>, Vec<i64>) {
    let mut rng = Rng(15);
    let k = 300;
    let mut dets = Vec::with_capacity(k * 5);
    for i in 0..k {
        let (x, y) = (300.0 * rng.unit(), 300.0 * rng.unit());
        dets.extend([
            x,
            y,
            x + 10.0 + 50.0 * rng.unit(),
            y + 10.0 + 80.0 * rng.unit(),
        ]);
        dets.push(1.0 - i as f32 / k as f32 * 0.9);
    }
    (dets, vec![0; k])
}

/// 8,400 candidates in 60 clusters (a busy scene before NMS), 80 classes.
fn nms_candidates() -> Vec<Candidate> {
    let mut rng = Rng(16);
    let objects: Vec<(f32, f32, f32, f32, u32)> = (0..60)
        .map(|_| {
            (
                640.0 * rng.unit(),
                640.0 * rng.unit(),
                20.0 + 200.0 * rng.unit(),
                20.0 + 300.0 * rng.unit(),
                rng.below(CLASSES) as u32,
            )
        })
        .collect();
    (0..8400)
        .map(|_| {
            let (cx, cy, w, h, class_id) = objects[rng.below(objects.len())];
            let j = |rng: &mut Rng, d: f32| d * 0.2 * (rng.unit() - 0.5);
            Candidate {
                class_id,
                score: THRESHOLD + (1.0 - THRESHOLD) * rng.unit(),
                bbox: BBox::from_center(
                    cx + j(&mut rng, w),
                    cy + j(&mut rng, h),
                    w + j(&mut rng, w),
                    h + j(&mut rng, h),
                ),
            }
        })
        .collect()
}

fn bench_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    let yolox = yolox_tensor();
    let n = decode_yolox(&yolox, 416, 416, CLASSES, THRESHOLD)
        .expect("yolox")
        .len();
    eprintln!("yolox 3549x85: {n} candidates above {THRESHOLD}");
    g.bench_function("yolox_3549x85", |b| {
        b.iter(|| decode_yolox(black_box(&yolox), 416, 416, CLASSES, THRESHOLD).expect("yolox"))
    });

    let ultra = ultralytics_tensor();
    let anchors = ultralytics_anchor_count(640, 640);
    let n = decode_ultralytics(&ultra, anchors, CLASSES, THRESHOLD)
        .expect("ultralytics")
        .len();
    eprintln!("ultralytics 84x8400: {n} candidates above {THRESHOLD}");
    g.bench_function("ultralytics_84x8400", |b| {
        b.iter(|| {
            decode_ultralytics(black_box(&ultra), anchors, CLASSES, THRESHOLD).expect("ultralytics")
        })
    });

    let nano = nanodet_tensors();
    let levels: Vec<NanoDetLevel<'_>> = nano
        .iter()
        .map(|(stride, cls, dis)| NanoDetLevel {
            stride: *stride,
            cls,
            dis,
        })
        .collect();
    let n = decode_nanodet(&levels, 416, 416, CLASSES, THRESHOLD)
        .expect("nanodet")
        .len();
    eprintln!("nanodet 416 (3549 cells): {n} candidates above {THRESHOLD}");
    g.bench_function("nanodet_416", |b| {
        b.iter(|| {
            decode_nanodet(black_box(&levels), 416, 416, CLASSES, THRESHOLD).expect("nanodet")
        })
    });

    let (dets, labels) = e2e_tensors();
    let n = decode_e2e(&dets, &labels, 1, THRESHOLD).expect("e2e").len();
    eprintln!("e2e 300x5: {n} candidates above {THRESHOLD}");
    g.bench_function("e2e_300x5", |b| {
        b.iter(|| decode_e2e(black_box(&dets), black_box(&labels), 1, THRESHOLD).expect("e2e"))
    });

    let pose = pose_tensor();
    let n = decode_ultralytics_pose(&pose, anchors, 17, THRESHOLD)
        .expect("pose")
        .len();
    eprintln!("pose 56x8400: {n} candidates above {THRESHOLD}");
    g.bench_function("pose_56x8400", |b| {
        b.iter(|| decode_ultralytics_pose(black_box(&pose), anchors, 17, THRESHOLD).expect("pose"))
    });
    g.finish();
}

fn bench_nms(c: &mut Criterion) {
    let candidates = nms_candidates();
    let kept = nms(candidates.clone(), 0.45).len();
    eprintln!("nms: 8400 candidates, {kept} kept at IoU 0.45");
    c.bench_function("nms/8400", |b| {
        b.iter_batched(
            || candidates.clone(),
            |c| nms(c, 0.45),
            criterion::BatchSize::LargeInput,
        )
    });
}

/// 30 people walking across a 1280x720 picture at frame `t`, plus 5 low-score boxes.
fn walkers(t: u64) -> Vec<sharpeyes_core::Detection> {
    let person: Arc<str> = Arc::from("person");
    let mut rng = Rng(0x5eed);
    let mut out: Vec<_> = (0..30)
        .map(|i| {
            let (x0, y0) = (rng.unit() * 1100.0, rng.unit() * 500.0);
            let (dx, dy) = (rng.unit() * 6.0 - 3.0, rng.unit() * 2.0 - 1.0);
            let (x, y) = (x0 + dx * t as f32, y0 + dy * t as f32);
            sharpeyes_core::Detection {
                class_id: 0,
                class_name: person.clone(),
                score: 0.6 + 0.3 * ((i + t as usize) % 7) as f32 / 7.0,
                bbox: BBox {
                    x1: x,
                    y1: y,
                    x2: x + 60.0,
                    y2: y + 160.0,
                },
                keypoints: Vec::new(),
            }
        })
        .collect();
    out.extend((0..5).map(|_| sharpeyes_core::Detection {
        class_id: 0,
        class_name: person.clone(),
        score: 0.2,
        bbox: BBox::from_center(rng.unit() * 1280.0, rng.unit() * 720.0, 40.0, 90.0),
        keypoints: Vec::new(),
    }));
    out
}

fn bench_tracker(c: &mut Criterion) {
    let frames: Vec<_> = (0..100).map(walkers).collect();
    c.bench_function("tracker/30-people", |b| {
        let mut tracker =
            sharpeyes_analytics::Tracker::new(sharpeyes_analytics::TrackerConfig::default());
        let mut i = 0u64;
        b.iter(|| {
            let dets = &frames[(i % 100) as usize];
            // 200 ms apart: the pipeline's default 5 detector frames per second.
            let n = tracker.update(UnixMillis(i as i64 * 200), dets).len();
            i += 1;
            black_box(n)
        })
    });
}

fn bench_alert(c: &mut Criterion) {
    let dets = &walkers(0)[..5];
    let camera = CameraId::new("cam-001").expect("camera id");
    c.bench_function("alert/build+json-5-objects", |b| {
        b.iter(|| {
            let a = sharpeyes_core::Alert::new(
                sharpeyes_core::AlertKind::PersonDetected,
                camera.clone(),
                UnixMillis(1_790_000_000_000),
                black_box(dets),
                (1280, 720),
            );
            black_box(serde_json::to_vec(&sharpeyes_core::Event::from(a)).expect("json"))
        })
    });
}

criterion_group!(
    benches,
    bench_preprocess,
    bench_resize,
    bench_decode,
    bench_nms,
    bench_tracker,
    bench_alert
);
criterion_main!(benches);
