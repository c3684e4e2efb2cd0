//! Class-aware greedy non-maximum suppression. Pure: no I/O.

use std::cmp::Ordering;

use crate::yolox::Candidate;

/// Keeps, for each class, the highest-scoring boxes that overlap no kept box of the same class by
/// more than `iou_threshold` (IoU as [`sharpeyes_core::BBox::iou`]). Boxes of different classes
/// never suppress each other.
///
/// The result is sorted by score, highest first. Deterministic: ties in score are ordered by class
/// id, then by box coordinates, so the same input in any order gives the same output.
pub fn nms(candidates: Vec<Candidate>, iou_threshold: f32) -> Vec<Candidate> {
    nms_indices(&candidates, iou_threshold)
        .into_iter()
        .map(|i| candidates[i])
        .collect()
}

/// Like [`nms`], but returns the indices into `candidates` of the kept boxes, in [`nms`]'s order,
/// so callers can keep data that travels with each box (e.g. pose keypoints).
pub fn nms_indices(candidates: &[Candidate], iou_threshold: f32) -> Vec<usize> {
    let mut order_idx: Vec<usize> = (0..candidates.len()).collect();
    order_idx.sort_by(|&a, &b| order(&candidates[a], &candidates[b]));
    let mut kept: Vec<usize> = Vec::with_capacity(candidates.len().min(64));
    for i in order_idx {
        let c = &candidates[i];
        let suppressed = kept.iter().any(|&k| {
            let k = &candidates[k];
            k.class_id == c.class_id && k.bbox.iou(&c.bbox) > iou_threshold
        });
        if !suppressed {
            kept.push(i);
        }
    }
    kept
}

/// Score descending, then class id, then box coordinates ascending.
fn order(a: &Candidate, b: &Candidate) -> Ordering {
    b.score
        .total_cmp(&a.score)
        .then(a.class_id.cmp(&b.class_id))
        .then(a.bbox.x1.total_cmp(&b.bbox.x1))
        .then(a.bbox.y1.total_cmp(&b.bbox.y1))
        .then(a.bbox.x2.total_cmp(&b.bbox.x2))
        .then(a.bbox.y2.total_cmp(&b.bbox.y2))
}

#[cfg(test)]
mod tests {
    use sharpeyes_core::BBox;

    use super::*;

    fn cand(class_id: u32, score: f32, x1: f32, y1: f32, x2: f32, y2: f32) -> Candidate {
        Candidate {
            class_id,
            score,
            bbox: BBox { x1, y1, x2, y2 },
        }
    }

    #[test]
    fn overlapping_box_of_same_class_is_suppressed() {
        let a = cand(0, 0.9, 0.0, 0.0, 10.0, 10.0);
        let b = cand(0, 0.8, 1.0, 1.0, 11.0, 11.0); // IoU 81/119 = 0.68
        let c = cand(0, 0.7, 20.0, 20.0, 30.0, 30.0);
        assert_eq!(nms(vec![b, c, a], 0.45), vec![a, c]);
    }

    #[test]
    fn overlapping_boxes_of_different_classes_are_kept() {
        let a = cand(0, 0.9, 0.0, 0.0, 10.0, 10.0);
        let b = cand(1, 0.8, 0.0, 0.0, 10.0, 10.0);
        assert_eq!(nms(vec![b, a], 0.45), vec![a, b]);
    }

    #[test]
    fn overlap_at_exactly_the_threshold_is_kept() {
        // IoU of these two is 2/6 = 1/3.
        let a = cand(0, 0.9, 0.0, 0.0, 2.0, 2.0);
        let b = cand(0, 0.8, 1.0, 0.0, 3.0, 2.0);
        let iou = a.bbox.iou(&b.bbox);
        assert_eq!(nms(vec![a, b], iou).len(), 2);
        assert_eq!(nms(vec![a, b], iou - 1e-6), vec![a]);
    }

    #[test]
    fn suppressed_box_does_not_suppress_others() {
        // b overlaps a and c; a suppresses b, and c (which overlaps only b) survives.
        let a = cand(0, 0.9, 0.0, 0.0, 10.0, 10.0);
        let b = cand(0, 0.8, 5.0, 0.0, 15.0, 10.0);
        let c = cand(0, 0.7, 10.0, 0.0, 20.0, 10.0);
        assert_eq!(nms(vec![c, b, a], 0.3), vec![a, c]);
    }

    #[test]
    fn result_is_sorted_and_independent_of_input_order() {
        let boxes = vec![
            cand(2, 0.5, 0.0, 0.0, 1.0, 1.0),
            cand(1, 0.5, 5.0, 5.0, 6.0, 6.0),
            cand(1, 0.5, 2.0, 2.0, 3.0, 3.0),
            cand(0, 0.95, 9.0, 9.0, 10.0, 10.0),
        ];
        let mut reversed = boxes.clone();
        reversed.reverse();
        let out = nms(boxes, 0.5);
        assert_eq!(out, nms(reversed, 0.5));
        let keys: Vec<(u32, f32, f32)> = out
            .iter()
            .map(|c| (c.class_id, c.score, c.bbox.x1))
            .collect();
        assert_eq!(
            keys,
            vec![(0, 0.95, 9.0), (1, 0.5, 2.0), (1, 0.5, 5.0), (2, 0.5, 0.0)]
        );
    }

    #[test]
    fn empty_input_gives_empty_output() {
        assert!(nms(Vec::new(), 0.5).is_empty());
    }
}
