//! Decoder for Ultralytics YOLOv8 / YOLO11 detection exports (`yolo export format=onnx`). Pure:
//! no I/O.
//!
//! The export writes one output `[batch, 4 + classes, anchors]`: channel-major, so for anchor `a`
//! the box is `(cx, cy, w, h)` at `out[0..4][a]` in canvas pixels and class `c`'s score at
//! `out[4 + c][a]`, sigmoid already applied. There is no objectness: the score is the best class
//! score. Anchors cover strides 8, 16 and 32 (8400 for 640x640), but the boxes are already
//! decoded, so the decoder needs no grid.

use sharpeyes_core::BBox;

use crate::yolox::{Candidate, DecodeError, YOLOX_STRIDES};

/// Number of anchors an Ultralytics head writes for a `width x height` input (strides 8/16/32).
/// 8400 for 640x640.
pub fn ultralytics_anchor_count(width: u32, height: u32) -> usize {
    YOLOX_STRIDES
        .iter()
        .map(|s| (width / s) as usize * (height / s) as usize)
        .sum()
}

/// Decodes one image's output: `output` is the row-major `[4 + num_classes, anchors]` slice.
/// Keeps anchors whose best class score is `>= score_threshold`, in anchor order; NMS is the
/// caller's ([`crate::nms`], class-aware).
pub fn decode_ultralytics(
    output: &[f32],
    anchors: usize,
    num_classes: usize,
    score_threshold: f32,
) -> Result<Vec<Candidate>, DecodeError> {
    // Checked: sizes near usize::MAX must not wrap into a match with a short output.
    let expected = num_classes
        .checked_add(4)
        .and_then(|c| c.checked_mul(anchors));
    if anchors == 0 || expected != Some(output.len()) {
        return Err(DecodeError(match expected {
            Some(n) => format!(
                "expected {} x {anchors} = {n} values, got {}",
                num_classes + 4,
                output.len()
            ),
            None => {
                format!("expected (4 + {num_classes}) x {anchors} values: more than memory holds")
            }
        }));
    }
    // Best class per anchor, scanning channel rows (contiguous) rather than strided columns.
    let mut best = vec![(0u32, f32::NEG_INFINITY); anchors];
    for (c, row) in output[4 * anchors..].chunks_exact(anchors).enumerate() {
        for (b, &v) in best.iter_mut().zip(row) {
            if v > b.1 {
                *b = (c as u32, v);
            }
        }
    }
    let coord = |k: usize, a: usize| output[k * anchors + a];
    Ok(best
        .iter()
        .enumerate()
        .filter(|(_, (_, score))| *score >= score_threshold)
        .map(|(a, &(class_id, score))| Candidate {
            class_id,
            score,
            bbox: BBox::from_center(coord(0, a), coord(1, a), coord(2, a), coord(3, a)),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[4 + 2, 3]`: three anchors, two classes.
    fn output() -> Vec<f32> {
        #[rustfmt::skip]
        let v = vec![
            // anchor: 0     1     2
            10.0, 50.0, 100.0, // cx
            20.0, 60.0, 100.0, // cy
            4.0,  10.0, 8.0,   // w
            6.0,  20.0, 8.0,   // h
            0.9,  0.1,  0.2,   // class 0
            0.3,  0.7,  0.25,  // class 1
        ];
        v
    }

    #[test]
    fn anchor_count_for_640_is_8400() {
        assert_eq!(ultralytics_anchor_count(640, 640), 8400);
    }

    #[test]
    fn decodes_centre_boxes_and_best_class_above_threshold() {
        let c = decode_ultralytics(&output(), 3, 2, 0.5).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].class_id, c[0].score), (0, 0.9));
        assert_eq!(
            c[0].bbox,
            BBox {
                x1: 8.0,
                y1: 17.0,
                x2: 12.0,
                y2: 23.0
            }
        );
        assert_eq!((c[1].class_id, c[1].score), (1, 0.7));
        assert_eq!(
            c[1].bbox,
            BBox {
                x1: 45.0,
                y1: 50.0,
                x2: 55.0,
                y2: 70.0
            }
        );
    }

    #[test]
    fn threshold_is_inclusive_and_there_is_no_objectness() {
        let c = decode_ultralytics(&output(), 3, 2, 0.25).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!((c[2].class_id, c[2].score), (1, 0.25));
    }

    #[test]
    fn wrong_length_is_an_error() {
        let e = decode_ultralytics(&[0.0; 17], 3, 2, 0.5).unwrap_err();
        assert_eq!(e.0, "expected 6 x 3 = 18 values, got 17");
    }
}
