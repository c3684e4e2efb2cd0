//! Decoder of raw YOLOX output into candidate boxes in canvas (model input) pixels. Pure: no I/O.
//!
//! YOLOX's ONNX export (`export_onnx.py` without `--decode_in_inference`) writes one tensor
//! `[batch, anchors, 5 + classes]`. Anchors are the cells of three feature maps, strides 8, 16
//! and 32, listed stride 8 first and, within a stride, row by row (y, then x). A row holds
//! `(tx, ty, tw, th, objectness, class scores...)`; the box is
//! `cx = (tx + gx) * s`, `cy = (ty + gy) * s`, `w = exp(tw) * s`, `h = exp(th) * s` for cell
//! `(gx, gy)` of stride `s` (YOLOX `YOLOXHead.decode_outputs`). The export already applies the
//! sigmoid to objectness and class scores, so they lie in [0, 1]; score = objectness * best class
//! score.

use sharpeyes_core::BBox;

/// Feature-map strides of the YOLOX head, in output order.
pub const YOLOX_STRIDES: [u32; 3] = [8, 16, 32];

/// A detection before NMS and before mapping to source pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    /// Index into the manifest's class names.
    pub class_id: u32,
    /// In [0, 1].
    pub score: f32,
    /// In canvas (model input) pixels; may extend past the canvas.
    pub bbox: BBox,
}

/// Number of anchor rows YOLOX writes for a `width x height` input: sum over strides of
/// `(width / s) * (height / s)`. 3549 for 416x416.
pub fn yolox_anchor_count(width: u32, height: u32) -> usize {
    YOLOX_STRIDES
        .iter()
        .map(|s| (width / s) as usize * (height / s) as usize)
        .sum()
}

/// Why an output tensor cannot be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub String);

/// Decodes the output of one image: `output` is the row-major `[anchors, 5 + num_classes]` slice
/// for a `width x height` input. Keeps candidates with `score >= score_threshold`, in anchor order.
pub fn decode_yolox(
    output: &[f32],
    width: u32,
    height: u32,
    num_classes: usize,
    score_threshold: f32,
) -> Result<Vec<Candidate>, DecodeError> {
    let anchors = yolox_anchor_count(width, height);
    // Checked: a class count near usize::MAX must not wrap into a short row (and a panic).
    let row_len = num_classes.checked_add(5);
    let expected = row_len.and_then(|r| anchors.checked_mul(r));
    let (Some(row_len), Some(n)) = (row_len, expected) else {
        return Err(DecodeError(format!(
            "expected {anchors} x (5 + {num_classes}) values for a {width}x{height} input: \
             more than memory holds"
        )));
    };
    if output.len() != n {
        return Err(DecodeError(format!(
            "expected {anchors} x {row_len} = {n} values for a {width}x{height} input, got {}",
            output.len()
        )));
    }

    let mut out = Vec::new();
    let mut rows = output.chunks_exact(row_len);
    for s in YOLOX_STRIDES {
        let (gw, gh) = (width / s, height / s);
        let sf = s as f32;
        for gy in 0..gh {
            for gx in 0..gw {
                let row = rows
                    .next()
                    .ok_or_else(|| DecodeError("output ended early".to_owned()))?;
                let obj = row[4];
                // Class scores are <= 1, so a row whose objectness is already below the
                // threshold cannot reach it; this skips the class scan for almost every row.
                if obj < score_threshold {
                    continue;
                }
                let (class_id, cls) = best_class(&row[5..]);
                let score = obj * cls;
                if score < score_threshold {
                    continue;
                }
                let cx = (row[0] + gx as f32) * sf;
                let cy = (row[1] + gy as f32) * sf;
                let w = row[2].exp() * sf;
                let h = row[3].exp() * sf;
                out.push(Candidate {
                    class_id,
                    score,
                    bbox: BBox::from_center(cx, cy, w, h),
                });
            }
        }
    }
    Ok(out)
}

/// Index and value of the largest score; the first one on ties.
pub(crate) fn best_class(scores: &[f32]) -> (u32, f32) {
    let mut best = (0u32, f32::NEG_INFINITY);
    for (i, &v) in scores.iter().enumerate() {
        if v > best.1 {
            best = (i as u32, v);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: usize = 3; // classes in the test tensors
    const ROW: usize = 5 + C;

    /// A 64x64 output (N = 64 + 16 + 4 = 84 rows) with every score zero.
    fn empty_64() -> Vec<f32> {
        vec![0.0; 84 * ROW]
    }

    fn set(out: &mut [f32], row: usize, values: [f32; ROW]) {
        out[row * ROW..(row + 1) * ROW].copy_from_slice(&values);
    }

    #[test]
    fn anchor_counts_match_the_strides() {
        assert_eq!(yolox_anchor_count(64, 64), 84);
        assert_eq!(yolox_anchor_count(416, 416), 3549);
        assert_eq!(yolox_anchor_count(640, 384), 80 * 48 + 40 * 24 + 20 * 12);
    }

    #[test]
    fn decodes_a_stride_8_cell_exactly() {
        let mut out = empty_64();
        // Stride 8 grid is 8x8; cell (gx 2, gy 3) is row 3 * 8 + 2 = 26.
        set(
            &mut out,
            26,
            [0.5, 0.25, 0.0, 1.0_f32.ln(), 0.8, 0.1, 0.75, 0.2],
        );
        let c = decode_yolox(&out, 64, 64, C, 0.3).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].class_id, 1);
        assert!((c[0].score - 0.6).abs() < 1e-6);
        // cx = 2.5 * 8 = 20, cy = 3.25 * 8 = 26, w = h = 8.
        assert_eq!(
            c[0].bbox,
            BBox {
                x1: 16.0,
                y1: 22.0,
                x2: 24.0,
                y2: 30.0
            }
        );
    }

    #[test]
    fn stride_16_and_32_rows_follow_the_stride_8_rows() {
        let mut out = empty_64();
        // Stride 16 grid is 4x4 starting at row 64; cell (gx 1, gy 2) is row 64 + 2 * 4 + 1 = 73.
        set(
            &mut out,
            73,
            [0.0, 0.0, 2.0_f32.ln(), 0.0, 1.0, 0.0, 0.0, 0.9],
        );
        // Stride 32 grid is 2x2 starting at row 80; cell (gx 1, gy 1) is row 83, the last.
        set(&mut out, 83, [0.5, 0.5, 0.0, 0.0, 0.5, 1.0, 0.0, 0.0]);
        let c = decode_yolox(&out, 64, 64, C, 0.4).unwrap();
        assert_eq!(c.len(), 2);
        // cx = 16, cy = 32, w = 32, h = 16.
        assert_eq!(c[0].class_id, 2);
        assert!((c[0].score - 0.9).abs() < 1e-6);
        let b = c[0].bbox;
        assert!(
            (b.x1 - 0.0).abs() < 1e-4 && (b.x2 - 32.0).abs() < 1e-4,
            "{b:?}"
        );
        assert_eq!((b.y1, b.y2), (24.0, 40.0));
        // cx = cy = 1.5 * 32 = 48, w = h = 32.
        assert_eq!(c[1].class_id, 0);
        assert_eq!(c[1].score, 0.5);
        assert_eq!(
            c[1].bbox,
            BBox {
                x1: 32.0,
                y1: 32.0,
                x2: 64.0,
                y2: 64.0
            }
        );
    }

    #[test]
    fn non_square_input_uses_width_for_columns() {
        // 64 wide x 32 high: stride 8 grid is 8x4 (32 rows), stride 16 is 4x2, stride 32 is 2x1.
        let mut out = vec![0.0; (32 + 8 + 2) * ROW];
        // Stride 8 cell (gx 7, gy 1) is row 1 * 8 + 7 = 15.
        set(&mut out, 15, [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
        let c = decode_yolox(&out, 64, 32, C, 0.5).unwrap();
        assert_eq!(
            c[0].bbox,
            BBox {
                x1: 52.0,
                y1: 4.0,
                x2: 60.0,
                y2: 12.0
            }
        );
    }

    #[test]
    fn score_is_objectness_times_best_class_and_threshold_is_inclusive() {
        let mut out = empty_64();
        set(&mut out, 0, [0.0, 0.0, 0.0, 0.0, 0.5, 0.2, 0.8, 0.4]); // 0.4: kept at 0.4
        set(&mut out, 1, [0.0, 0.0, 0.0, 0.0, 0.9, 0.4, 0.3, 0.1]); // 0.36: dropped
        set(&mut out, 2, [0.0, 0.0, 0.0, 0.0, 0.3, 1.0, 1.0, 1.0]); // obj below threshold
        let c = decode_yolox(&out, 64, 64, C, 0.4).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].class_id, c[0].score), (1, 0.4));
    }

    #[test]
    fn wrong_length_is_an_error() {
        let e = decode_yolox(&[0.0; 10], 64, 64, C, 0.5).unwrap_err();
        assert_eq!(
            e.0,
            "expected 84 x 8 = 672 values for a 64x64 input, got 10"
        );
    }
}
