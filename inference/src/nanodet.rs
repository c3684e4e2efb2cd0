//! Decoder for NanoDet-m (RangiLyu/nanodet, GFL head) ONNX exports. Pure: no I/O.
//!
//! Six outputs, two per stride 8, 16, 32: `cls_pred_stride_{s}` `[batch, N_s, classes]` with the
//! sigmoid already applied, and `dis_pred_stride_{s}` `[batch, N_s, 4 * 8]`: for each side (left,
//! top, right, bottom, in that order) an 8-bin distribution over distances 0..=7 in units of the
//! stride (Generalized Focal Loss). The distance is the softmax expectation over the bins times
//! the stride, measured from the cell centre `(x * s + (s - 1) / 2, y * s + (s - 1) / 2)`, cells
//! in row-major order on a `ceil(width / s) x ceil(height / s)` grid.

use crate::yolox::best_class;
use sharpeyes_core::BBox;

use crate::yolox::{Candidate, DecodeError};

/// Feature-map strides of the NanoDet-m head, in output order.
pub const NANODET_STRIDES: [u32; 3] = [8, 16, 32];

/// Bins per side in the distance distribution (`reg_max + 1`, reg_max = 7 in NanoDet-m).
pub const NANODET_BINS: usize = 8;

/// Grid `(columns, rows)` of stride `stride` on a `width x height` input.
pub fn nanodet_grid(width: u32, height: u32, stride: u32) -> (usize, usize) {
    (
        width.div_ceil(stride) as usize,
        height.div_ceil(stride) as usize,
    )
}

/// One stride's outputs for one image: `cls` row-major `[N, classes]`, `dis` `[N, 4 * 8]`.
#[derive(Clone, Copy, Debug)]
pub struct NanoDetLevel<'a> {
    pub stride: u32,
    pub cls: &'a [f32],
    pub dis: &'a [f32],
}

/// Decodes one image from its levels (any order) on a `width x height` input. Keeps cells whose
/// best class score is `>= score_threshold`, level by level in the given order, cells in row-major
/// order; NMS is the caller's.
pub fn decode_nanodet(
    levels: &[NanoDetLevel<'_>],
    width: u32,
    height: u32,
    num_classes: usize,
    score_threshold: f32,
) -> Result<Vec<Candidate>, DecodeError> {
    let mut out = Vec::new();
    for level in levels {
        let s = level.stride;
        let (gw, gh) = nanodet_grid(width, height, s);
        let cells = gw * gh;
        if num_classes == 0 || level.cls.len() != cells * num_classes {
            return Err(DecodeError(format!(
                "stride {s}: class scores: expected {cells} x {num_classes} values for a \
                 {width}x{height} input, got {}",
                level.cls.len()
            )));
        }
        if level.dis.len() != cells * 4 * NANODET_BINS {
            return Err(DecodeError(format!(
                "stride {s}: distances: expected {cells} x {} values, got {}",
                4 * NANODET_BINS,
                level.dis.len()
            )));
        }
        let sf = s as f32;
        let centre_offset = 0.5 * (sf - 1.0);
        for (i, (scores, dist)) in level
            .cls
            .chunks_exact(num_classes)
            .zip(level.dis.chunks_exact(4 * NANODET_BINS))
            .enumerate()
        {
            let (class_id, score) = best_class(scores);
            if score < score_threshold {
                continue;
            }
            let cx = (i % gw) as f32 * sf + centre_offset;
            let cy = (i / gw) as f32 * sf + centre_offset;
            let mut d = [0.0_f32; 4];
            for (side, bins) in d.iter_mut().zip(dist.chunks_exact(NANODET_BINS)) {
                *side = expectation(bins) * sf;
            }
            out.push(Candidate {
                class_id,
                score,
                bbox: BBox {
                    x1: cx - d[0],
                    y1: cy - d[1],
                    x2: cx + d[2],
                    y2: cy + d[3],
                },
            });
        }
    }
    Ok(out)
}

/// Softmax expectation `sum_k k * softmax(logits)_k`, numerically stable.
fn expectation(logits: &[f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let (mut sum, mut weighted) = (0.0_f32, 0.0_f32);
    for (k, &l) in logits.iter().enumerate() {
        let e = (l - max).exp();
        sum += e;
        weighted += k as f32 * e;
    }
    weighted / sum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distribution logits putting all the mass on bin `k` (exp(-30) is negligible).
    fn peak(k: usize) -> [f32; NANODET_BINS] {
        let mut l = [-30.0; NANODET_BINS];
        l[k] = 0.0;
        l
    }

    #[test]
    fn grid_rounds_up() {
        assert_eq!(nanodet_grid(416, 416, 32), (13, 13));
        assert_eq!(nanodet_grid(320, 100, 32), (10, 4));
    }

    #[test]
    fn uniform_logits_expect_the_middle_bin() {
        assert!((expectation(&[1.0; 8]) - 3.5).abs() < 1e-6);
        assert!((expectation(&peak(5)) - 5.0).abs() < 1e-5);
    }

    #[test]
    fn decodes_a_cell_from_its_centre_and_distances() {
        // 32x32 input, stride 16 only: a 2x2 grid. Cell (x 1, y 0) is index 1, centre
        // (16 + 7.5, 0 + 7.5) = (23.5, 7.5).
        let classes = 2;
        let mut cls = vec![0.0; 4 * classes];
        cls[classes + 1] = 0.8;
        let mut dis = vec![0.0; 4 * 32];
        let sides = [peak(1), peak(0), peak(2), [0.0; 8]]; // 16, 0, 32, 3.5 * 16 = 56
        for (side, l) in sides.iter().enumerate() {
            dis[32 + side * 8..32 + side * 8 + 8].copy_from_slice(l);
        }
        let levels = [NanoDetLevel {
            stride: 16,
            cls: &cls,
            dis: &dis,
        }];
        let c = decode_nanodet(&levels, 32, 32, classes, 0.5).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].class_id, c[0].score), (1, 0.8));
        let b = c[0].bbox;
        let want = [23.5 - 16.0, 7.5, 23.5 + 32.0, 7.5 + 56.0];
        for (got, want) in [b.x1, b.y1, b.x2, b.y2].iter().zip(want) {
            assert!((got - want).abs() < 1e-3, "{b:?}");
        }
    }

    #[test]
    fn cells_are_row_major_per_level() {
        // 64x32 input, stride 32: a 2x1 grid; stride 8: 8x4. Cell 9 of stride 8 is (x 1, y 1):
        // centre (8 + 3.5, 8 + 3.5).
        let mut cls8 = vec![0.0; 32];
        cls8[9] = 0.6;
        let dis8 = vec![-30.0; 32 * 32]; // every bin equal: distance 3.5 * 8 = 28
        let cls32 = vec![0.0; 2];
        let dis32 = vec![0.0; 2 * 32];
        let levels = [
            NanoDetLevel {
                stride: 8,
                cls: &cls8,
                dis: &dis8,
            },
            NanoDetLevel {
                stride: 32,
                cls: &cls32,
                dis: &dis32,
            },
        ];
        let c = decode_nanodet(&levels, 64, 32, 1, 0.5).unwrap();
        assert_eq!(c.len(), 1);
        let b = c[0].bbox;
        assert!(
            (b.x1 - (11.5 - 28.0)).abs() < 1e-4 && (b.y2 - (11.5 + 28.0)).abs() < 1e-4,
            "{b:?}"
        );
    }

    #[test]
    fn wrong_sizes_are_errors_naming_the_stride() {
        let levels = [NanoDetLevel {
            stride: 32,
            cls: &[0.0; 3],
            dis: &[0.0; 32],
        }];
        let e = decode_nanodet(&levels, 32, 32, 2, 0.5).unwrap_err();
        assert!(
            e.0.starts_with("stride 32: class scores: expected 1 x 2 values"),
            "{}",
            e.0
        );
    }
}
