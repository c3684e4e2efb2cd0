//! Decoder for end-to-end exports that run NMS inside the graph (OpenMMLab mmdeploy's RTMDet
//! `end2end.onnx`). Pure: no I/O.
//!
//! Two outputs per image: `dets` `[K, 5]` rows of `(x1, y1, x2, y2, score)` in canvas pixels,
//! already suppressed, and `labels` `[K]` (int64) class ids. Decoding only applies the score
//! threshold; the caller must not run NMS again.

use sharpeyes_core::BBox;

use crate::yolox::{Candidate, DecodeError};

/// Decodes one image's `dets` (`[K, 5]`, row-major) and `labels` (`[K]`). Keeps rows with
/// `score >= score_threshold`, in output order. A kept row whose label is not in
/// `0..num_classes` is an error.
pub fn decode_e2e(
    dets: &[f32],
    labels: &[i64],
    num_classes: usize,
    score_threshold: f32,
) -> Result<Vec<Candidate>, DecodeError> {
    if dets.len() != labels.len() * 5 {
        return Err(DecodeError(format!(
            "dets has {} values and labels {}; dets must be [K, 5] for labels [K]",
            dets.len(),
            labels.len()
        )));
    }
    let mut out = Vec::new();
    for (row, &label) in dets.chunks_exact(5).zip(labels) {
        let score = row[4];
        // Written so that a NaN score is dropped too.
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        let below = !(score >= score_threshold);
        if below {
            continue;
        }
        let class_id = u32::try_from(label)
            .ok()
            .filter(|&c| (c as usize) < num_classes)
            .ok_or_else(|| {
                DecodeError(format!(
                    "label {label} is not a class id (the manifest lists {num_classes} classes)"
                ))
            })?;
        out.push(Candidate {
            class_id,
            score,
            bbox: BBox {
                x1: row[0],
                y1: row[1],
                x2: row[2],
                y2: row[3],
            },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_rows_at_or_above_threshold_in_order() {
        #[rustfmt::skip]
        let dets = [
            1.0, 2.0, 30.0, 40.0, 0.9,
            5.0, 6.0, 7.0, 8.0, 0.1,
            0.0, 0.0, 10.0, 10.0, 0.5,
        ];
        let c = decode_e2e(&dets, &[0, 0, 1], 2, 0.5).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].class_id, c[0].score), (0, 0.9));
        assert_eq!(
            c[0].bbox,
            BBox {
                x1: 1.0,
                y1: 2.0,
                x2: 30.0,
                y2: 40.0
            }
        );
        assert_eq!((c[1].class_id, c[1].score), (1, 0.5));
    }

    #[test]
    fn empty_output_gives_no_candidates() {
        assert!(decode_e2e(&[], &[], 1, 0.5).unwrap().is_empty());
    }

    #[test]
    fn unknown_label_is_an_error_but_only_when_kept() {
        let dets = [0.0, 0.0, 1.0, 1.0, 0.9, 0.0, 0.0, 1.0, 1.0, 0.1];
        assert!(decode_e2e(&dets, &[0, 7], 1, 0.5).is_ok());
        let e = decode_e2e(&dets, &[3, 0], 1, 0.5).unwrap_err();
        assert_eq!(
            e.0,
            "label 3 is not a class id (the manifest lists 1 classes)"
        );
    }

    #[test]
    fn mismatched_lengths_are_an_error() {
        assert!(decode_e2e(&[0.0; 9], &[0, 0], 1, 0.5).is_err());
    }
}
