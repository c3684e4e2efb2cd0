//! Property tests (fuzzing on stable Rust) of the decoders of every model output format: random
//! shapes, wrong-length tensors, NaN and infinities. A model file is outside bytes; whatever
//! it outputs is a decoded list or a `DecodeError`, never a panic.

use proptest::collection::vec;
use proptest::prelude::*;
use sharpeyes_inference::{
    Candidate, NANODET_STRIDES, NanoDetLevel, decode_e2e, decode_nanodet, decode_ultralytics,
    decode_ultralytics_pose, decode_yolox, nms, yolox_anchor_count,
};

const CASES: u32 = 256;

/// Values a broken or hostile model may output.
fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => -2.0f32..2.0,
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(f32::NEG_INFINITY),
        1 => Just(f32::MAX),
        1 => Just(-0.0f32),
        1 => any::<f32>(),
    ]
}

fn threshold() -> impl Strategy<Value = f32> {
    prop_oneof![4 => 0.0f32..1.0, 1 => value()]
}

/// Class counts from a manifest: small, or anything (a hostile manifest), or near the top so
/// that sizes computed from it overflow.
fn count() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => 0usize..6,
        1 => any::<usize>(),
        1 => (usize::MAX - 8)..=usize::MAX,
        1 => (usize::MAX / 3 - 4)..=(usize::MAX / 3 + 4),
    ]
}

/// A tensor of `expected` values (computed the way an unchecked decoder would, wrapping) give
/// or take a few, or of any small length; capped so a test never allocates much.
fn tensor(expected: usize) -> impl Strategy<Value = Vec<f32>> {
    let near = prop_oneof![
        Just(expected),
        Just(expected.saturating_sub(1)),
        Just(expected.saturating_add(1)),
        0usize..64
    ];
    // A palette of generated values repeated to the length: long tensors stay cheap to make.
    (near, vec(value(), 1..64)).prop_map(|(n, palette)| {
        palette
            .iter()
            .copied()
            .cycle()
            .take(n.min(20_000))
            .collect()
    })
}

/// The candidates go on to NMS: that must take whatever the decoder let through.
fn then_nms(c: Vec<Candidate>) {
    let _ = nms(c, 0.45);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn yolox_takes_any_output(
        (w, h, nc, out) in (0u32..160, 0u32..160, count()).prop_flat_map(|(w, h, nc)| {
            let expected = yolox_anchor_count(w, h).wrapping_mul(nc.wrapping_add(5));
            (Just(w), Just(h), Just(nc), tensor(expected))
        }),
        t in threshold(),
    ) {
        if let Ok(c) = decode_yolox(&out, w, h, nc, t) {
            then_nms(c);
        }
    }

    #[test]
    fn ultralytics_takes_any_output(
        (anchors, nc, out) in (prop_oneof![0usize..300, count()], count()).prop_flat_map(|(a, nc)| {
            (Just(a), Just(nc), tensor(a.wrapping_mul(nc.wrapping_add(4))))
        }),
        t in threshold(),
    ) {
        if let Ok(c) = decode_ultralytics(&out, anchors, nc, t) {
            then_nms(c);
        }
    }

    #[test]
    fn ultralytics_pose_takes_any_output(
        (anchors, kp, out) in (prop_oneof![0usize..100, count()], count()).prop_flat_map(|(a, kp)| {
            (Just(a), Just(kp), tensor(a.wrapping_mul(kp.wrapping_mul(3).wrapping_add(5))))
        }),
        t in threshold(),
    ) {
        let _ = decode_ultralytics_pose(&out, anchors, kp, t);
    }

    #[test]
    fn nanodet_takes_any_output(
        (w, h, nc) in (0u32..96, 0u32..96, count()),
        lens in vec((any::<bool>(), 0usize..3, 0usize..3), 0..4),
        values in vec(value(), 0..2048),
        t in threshold(),
    ) {
        // Each level's tensors: the right length (from the grid) or off by one.
        let mut tensors = Vec::new();
        for (i, (right, dc, dd)) in lens.iter().enumerate() {
            let s = NANODET_STRIDES[i % NANODET_STRIDES.len()];
            let cells = (w.div_ceil(s) * h.div_ceil(s)) as usize;
            let (cls, dis) = if *right {
                (cells.wrapping_mul(nc), cells * 32)
            } else {
                (cells + dc, (cells * 32).saturating_sub(*dd))
            };
            let take = |n: usize| -> Vec<f32> {
                (0..n.min(20_000)).map(|k| values.get(k % values.len().max(1)).copied().unwrap_or(0.5)).collect()
            };
            tensors.push((s, take(cls), take(dis)));
        }
        let levels: Vec<NanoDetLevel<'_>> = tensors
            .iter()
            .map(|(s, cls, dis)| NanoDetLevel { stride: *s, cls, dis })
            .collect();
        if let Ok(c) = decode_nanodet(&levels, w, h, nc, t) {
            then_nms(c);
        }
    }

    #[test]
    fn e2e_takes_any_output(
        dets in vec(value(), 0..200),
        labels in vec(prop_oneof![0i64..4, any::<i64>()], 0..40),
        nc in count(),
        t in threshold(),
    ) {
        if let Ok(c) = decode_e2e(&dets, &labels, nc, t) {
            then_nms(c);
        }
    }
}
