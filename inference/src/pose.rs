//! Decoder for Ultralytics YOLOv8-pose / YOLO11-pose exports, and the pose types the detector
//! returns. Pure: no I/O.
//!
//! One output `[batch, 5 + 3 * K, anchors]`, channel-major: for anchor `a`, `(cx, cy, w, h)` in
//! canvas pixels, the person score (sigmoid applied), then for each of the `K` keypoints (17 in
//! COCO order: nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles) `(x, y,
//! visibility)` with x, y in canvas pixels and visibility sigmoid-applied. One class (person).

use sharpeyes_core::BBox;
pub use sharpeyes_core::Keypoint;

use crate::yolox::{Candidate, DecodeError};

/// Keypoints of a COCO pose model.
pub const COCO_KEYPOINTS: usize = 17;

/// A candidate with its keypoints in canvas pixels (empty for detection-only formats).
#[derive(Clone, Debug, PartialEq)]
pub struct PoseCandidate {
    pub candidate: Candidate,
    pub keypoints: Vec<Keypoint>,
}

/// Decodes one image's output: `output` is the row-major `[5 + 3 * keypoints, anchors]` slice.
/// Keeps anchors with `score >= score_threshold` (class id 0), in anchor order; NMS is the
/// caller's.
pub fn decode_ultralytics_pose(
    output: &[f32],
    anchors: usize,
    keypoints: usize,
    score_threshold: f32,
) -> Result<Vec<PoseCandidate>, DecodeError> {
    // Checked: sizes near usize::MAX must not wrap into a match with a short output.
    let expected = keypoints
        .checked_mul(3)
        .and_then(|k| k.checked_add(5))
        .and_then(|c| c.checked_mul(anchors));
    if anchors == 0 || expected != Some(output.len()) {
        return Err(DecodeError(match expected {
            Some(n) => format!(
                "expected {} x {anchors} = {n} values, got {}",
                5 + 3 * keypoints,
                output.len()
            ),
            None => {
                format!("expected (5 + 3 x {keypoints}) x {anchors} values: more than memory holds")
            }
        }));
    }
    let at = |k: usize, a: usize| output[k * anchors + a];
    let scores = &output[4 * anchors..5 * anchors];
    Ok(scores
        .iter()
        .enumerate()
        .filter(|(_, s)| **s >= score_threshold)
        .map(|(a, &score)| PoseCandidate {
            candidate: Candidate {
                class_id: 0,
                score,
                bbox: BBox::from_center(at(0, a), at(1, a), at(2, a), at(3, a)),
            },
            keypoints: (0..keypoints)
                .map(|k| Keypoint {
                    x: at(5 + 3 * k, a),
                    y: at(6 + 3 * k, a),
                    score: at(7 + 3 * k, a),
                })
                .collect(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_box_score_and_keypoints_per_anchor() {
        // Two anchors, two keypoints: channels 5 + 6 = 11.
        #[rustfmt::skip]
        let out = [
            100.0, 10.0, // cx
            50.0,  10.0, // cy
            20.0,  2.0,  // w
            40.0,  2.0,  // h
            0.8,   0.2,  // score
            95.0,  0.0,  // kp0 x
            40.0,  0.0,  // kp0 y
            0.9,   0.0,  // kp0 visibility
            105.0, 0.0,  // kp1 x
            60.0,  0.0,  // kp1 y
            0.3,   0.0,  // kp1 visibility
        ];
        let c = decode_ultralytics_pose(&out, 2, 2, 0.5).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].candidate.class_id, c[0].candidate.score), (0, 0.8));
        assert_eq!(
            c[0].candidate.bbox,
            BBox {
                x1: 90.0,
                y1: 30.0,
                x2: 110.0,
                y2: 70.0
            }
        );
        assert_eq!(
            c[0].keypoints,
            vec![
                Keypoint {
                    x: 95.0,
                    y: 40.0,
                    score: 0.9
                },
                Keypoint {
                    x: 105.0,
                    y: 60.0,
                    score: 0.3
                }
            ]
        );
    }

    #[test]
    fn wrong_length_is_an_error() {
        let e = decode_ultralytics_pose(&[0.0; 10], 1, 17, 0.5).unwrap_err();
        assert_eq!(e.0, "expected 56 x 1 = 56 values, got 10");
    }
}
