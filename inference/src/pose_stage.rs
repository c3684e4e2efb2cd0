//! The pose stage: a pose model (`ultralytics-pose`) run only where the detector found people,
//! its keypoints attached to the detector's person boxes. Boxes and classes stay the detector's;
//! the pose model only adds skeletons.
//!
//! Two ways to run it ([`PoseMode`]): on whole frames that have a person (one pose run per such
//! frame, batched), or on a crop around each person (one run per person, each person larger in
//! the model's input). `cargo bench --bench pose` measures both on the asset clips; the numbers
//! and the choice are in docs/falls.md. Matching pose detections to person boxes
//! ([`attach_keypoints`]) is pure.

use serde::Deserialize;
use sharpeyes_core::{BBox, Detection, Detector, Frame};

use crate::detector::OrtDetector;
use crate::error::InferenceError;
use sharpeyes_core::resize::{Crop, crop_frame};

/// Where the pose model looks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoseMode {
    /// The whole frame, once per frame with at least one person.
    #[default]
    Frame,
    /// A crop around each person box (margin [`CROP_MARGIN`]), once per person.
    Crops,
}

impl PoseMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PoseMode::Frame => "frame",
            PoseMode::Crops => "crops",
        }
    }
}

/// Share of a person box's width and height added on each side of a crop, so limbs outside a
/// tight box (an arm stretched out in a fall) are still in view.
pub const CROP_MARGIN: f32 = 0.2;

/// A pose detection is another's skeleton only if their boxes overlap at least this much.
pub const MIN_MATCH_IOU: f32 = 0.3;

/// What one [`PoseStage::attach`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoseRun {
    /// Images the pose model ran on (frames or crops).
    pub images: usize,
    /// Person detections considered.
    pub persons: usize,
    /// Of those, how many got keypoints.
    pub matched: usize,
}

/// A pose model and how to run it.
pub struct PoseStage {
    detector: OrtDetector,
    mode: PoseMode,
    min_person_score: f32,
}

impl PoseStage {
    /// `detector` must be a pose model (keypoints > 0). Person boxes scoring below
    /// `min_person_score` are left without keypoints (and cost nothing).
    pub fn new(
        detector: OrtDetector,
        mode: PoseMode,
        min_person_score: f32,
    ) -> Result<Self, InferenceError> {
        if detector.keypoint_count() == 0 {
            return Err(InferenceError::Output {
                model: detector.manifest().name.clone(),
                message: format!(
                    "a pose stage needs a pose model (format ultralytics-pose); this one is {}",
                    detector.manifest().format.as_str()
                ),
            });
        }
        Ok(Self {
            detector,
            mode,
            min_person_score,
        })
    }

    pub fn mode(&self) -> PoseMode {
        self.mode
    }

    pub fn detector(&self) -> &OrtDetector {
        &self.detector
    }

    /// Adds keypoints to the person detections (`is_person`, score >= the minimum) in
    /// `detections[i]`, which were found on `frames[i]`. Frames without such a person cost
    /// nothing. Frames of any size: they are resampled to the pose model's input when needed.
    pub fn attach(
        &mut self,
        frames: &[Frame],
        detections: &mut [Vec<Detection>],
        is_person: impl Fn(&Detection) -> bool,
    ) -> Result<PoseRun, InferenceError> {
        let (w, h) = self.detector.input_size();
        let pad = self.detector.manifest().input.pad_value;
        let wanted = |d: &Detection| is_person(d) && d.score >= self.min_person_score;
        let mut run = PoseRun::default();
        match self.mode {
            PoseMode::Frame => {
                let mut which = Vec::new();
                let mut inputs = Vec::new();
                for (i, (frame, dets)) in frames.iter().zip(detections.iter()).enumerate() {
                    if !dets.iter().any(wanted) {
                        continue;
                    }
                    which.push(i);
                    inputs.push(if (frame.width, frame.height) == (w, h) {
                        frame.clone()
                    } else {
                        crop_frame(frame, None, w, h, pad)?.frame
                    });
                }
                if inputs.is_empty() {
                    return Ok(run);
                }
                run.images = inputs.len();
                let poses = self.detector.detect(&inputs)?;
                for (i, poses) in which.into_iter().zip(poses) {
                    let persons: Vec<usize> = (0..detections[i].len())
                        .filter(|&j| wanted(&detections[i][j]))
                        .collect();
                    run.persons += persons.len();
                    run.matched += attach_keypoints(&mut detections[i], &persons, &poses);
                }
            }
            PoseMode::Crops => {
                let mut which = Vec::new();
                let mut crops: Vec<Crop> = Vec::new();
                for (i, (frame, dets)) in frames.iter().zip(detections.iter()).enumerate() {
                    for (j, d) in dets.iter().enumerate() {
                        if wanted(d) {
                            which.push((i, j));
                            crops.push(crop_frame(frame, Some(expand(d.bbox)), w, h, pad)?);
                        }
                    }
                }
                if crops.is_empty() {
                    return Ok(run);
                }
                run.images = crops.len();
                run.persons = crops.len();
                let inputs: Vec<Frame> = crops.iter().map(|c| c.frame.clone()).collect();
                let poses = self.detector.detect(&inputs)?;
                for ((i, j), (crop, poses)) in which.into_iter().zip(crops.iter().zip(poses)) {
                    let poses: Vec<Detection> =
                        poses.into_iter().map(|p| crop.to_original(p)).collect();
                    run.matched += attach_keypoints(&mut detections[i], &[j], &poses);
                }
            }
        }
        Ok(run)
    }
}

/// `b` grown by [`CROP_MARGIN`] of its size on every side (the crop clamps it to the picture).
fn expand(b: BBox) -> BBox {
    let (mx, my) = (b.width() * CROP_MARGIN, b.height() * CROP_MARGIN);
    BBox {
        x1: b.x1 - mx,
        y1: b.y1 - my,
        x2: b.x2 + mx,
        y2: b.y2 + my,
    }
}

/// Gives each of `detections[persons[..]]` the keypoints of the pose detection whose box overlaps
/// it most (IoU >= [`MIN_MATCH_IOU`]), best pairs first, each pose used once. Returns how many
/// persons got keypoints. Pure.
pub fn attach_keypoints(
    detections: &mut [Detection],
    persons: &[usize],
    poses: &[Detection],
) -> usize {
    let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
    for &p in persons {
        for (k, pose) in poses.iter().enumerate() {
            let iou = detections[p].bbox.iou(&pose.bbox);
            if iou >= MIN_MATCH_IOU && !pose.keypoints.is_empty() {
                pairs.push((iou, p, k));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut person_done = vec![false; detections.len()];
    let mut pose_done = vec![false; poses.len()];
    let mut matched = 0;
    for (_, p, k) in pairs {
        if person_done[p] || pose_done[k] {
            continue;
        }
        person_done[p] = true;
        pose_done[k] = true;
        detections[p].keypoints = poses[k].keypoints.clone();
        matched += 1;
    }
    matched
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sharpeyes_core::Keypoint;

    use super::*;

    fn det(x1: f32, kp: Option<f32>) -> Detection {
        Detection {
            class_id: 0,
            class_name: Arc::from("person"),
            score: 0.9,
            bbox: BBox {
                x1,
                y1: 0.0,
                x2: x1 + 10.0,
                y2: 20.0,
            },
            keypoints: kp
                .map(|x| {
                    vec![Keypoint {
                        x,
                        y: 1.0,
                        score: 0.9,
                    }]
                })
                .unwrap_or_default(),
        }
    }

    #[test]
    fn each_person_gets_the_best_overlapping_skeleton_once() {
        let mut dets = vec![det(0.0, None), det(100.0, None), det(200.0, None)];
        // Pose 0 overlaps person 0 a little, pose 1 well; pose 2 sits on person 1.
        let poses = vec![
            det(4.0, Some(1.0)),
            det(1.0, Some(2.0)),
            det(101.0, Some(3.0)),
        ];
        let n = attach_keypoints(&mut dets, &[0, 1, 2], &poses);
        assert_eq!(n, 2);
        assert_eq!(dets[0].keypoints[0].x, 2.0);
        assert_eq!(dets[1].keypoints[0].x, 3.0);
        assert!(dets[2].keypoints.is_empty());
    }

    #[test]
    fn only_the_listed_persons_are_matched() {
        let mut dets = vec![det(0.0, None), det(100.0, None)];
        let poses = vec![det(0.0, Some(1.0)), det(100.0, Some(2.0))];
        assert_eq!(attach_keypoints(&mut dets, &[1], &poses), 1);
        assert!(dets[0].keypoints.is_empty());
        assert_eq!(dets[1].keypoints[0].x, 2.0);
    }

    #[test]
    fn a_pose_box_that_barely_overlaps_is_not_a_match() {
        let mut dets = vec![det(0.0, None)];
        // IoU of [0,10] and [8,18] x [0,20]: 2/18 < 0.3.
        assert_eq!(attach_keypoints(&mut dets, &[0], &[det(8.0, Some(1.0))]), 0);
    }

    #[test]
    fn crops_grow_by_the_margin() {
        let b = expand(BBox {
            x1: 100.0,
            y1: 50.0,
            x2: 150.0,
            y2: 150.0,
        });
        assert_eq!((b.x1, b.y1, b.x2, b.y2), (90.0, 30.0, 160.0, 170.0));
    }
}
