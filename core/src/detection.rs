//! What a detector finds (`Detection`, `Keypoint`, the COCO keypoint layout) and the
//! [`Detector`] trait, the I/O edge every model sits behind. Boxes are `geometry::BBox`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::frame::Frame;
use crate::geometry::BBox;

/// One object found by a detector, its box in pixels of the *source* picture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub class_id: u32,
    /// The model's name for `class_id` (from its manifest), e.g. "person".
    pub class_name: Arc<str>,
    /// Confidence in [0, 1].
    pub score: f32,
    pub bbox: BBox,
    /// Body keypoints in source pixels, in the pose model's order (COCO, see [`coco`]); empty
    /// when no pose model looked at this detection. Not clamped to the picture: a keypoint may be
    /// guessed outside it, and its score says how far to trust it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keypoints: Vec<Keypoint>,
}

impl Detection {
    /// The keypoint at `index` if there is one scoring at least `min_score`.
    pub fn keypoint(&self, index: usize, min_score: f32) -> Option<Keypoint> {
        self.keypoints
            .get(index)
            .copied()
            .filter(|k| k.score >= min_score)
    }
}

/// One body keypoint, in pixels of the source picture (canvas pixels inside a decoder).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Keypoint {
    pub x: f32,
    pub y: f32,
    /// Visibility / confidence in [0, 1].
    pub score: f32,
}

/// The 17 COCO keypoints, by index, as YOLOv8/YOLO11-pose models give them.
pub mod coco {
    pub const KEYPOINTS: usize = 17;
    pub const NOSE: usize = 0;
    pub const LEFT_EYE: usize = 1;
    pub const RIGHT_EYE: usize = 2;
    pub const LEFT_EAR: usize = 3;
    pub const RIGHT_EAR: usize = 4;
    pub const LEFT_SHOULDER: usize = 5;
    pub const RIGHT_SHOULDER: usize = 6;
    pub const LEFT_ELBOW: usize = 7;
    pub const RIGHT_ELBOW: usize = 8;
    pub const LEFT_WRIST: usize = 9;
    pub const RIGHT_WRIST: usize = 10;
    pub const LEFT_HIP: usize = 11;
    pub const RIGHT_HIP: usize = 12;
    pub const LEFT_KNEE: usize = 13;
    pub const RIGHT_KNEE: usize = 14;
    pub const LEFT_ANKLE: usize = 15;
    pub const RIGHT_ANKLE: usize = 16;
    /// Pairs joined by a line when a skeleton is drawn.
    pub const SKELETON: [(usize, usize); 17] = [
        (LEFT_ANKLE, LEFT_KNEE),
        (LEFT_KNEE, LEFT_HIP),
        (RIGHT_ANKLE, RIGHT_KNEE),
        (RIGHT_KNEE, RIGHT_HIP),
        (LEFT_HIP, RIGHT_HIP),
        (LEFT_SHOULDER, LEFT_HIP),
        (RIGHT_SHOULDER, RIGHT_HIP),
        (LEFT_SHOULDER, RIGHT_SHOULDER),
        (LEFT_SHOULDER, LEFT_ELBOW),
        (RIGHT_SHOULDER, RIGHT_ELBOW),
        (LEFT_ELBOW, LEFT_WRIST),
        (RIGHT_ELBOW, RIGHT_WRIST),
        (LEFT_EYE, RIGHT_EYE),
        (NOSE, LEFT_EYE),
        (NOSE, RIGHT_EYE),
        (LEFT_EYE, LEFT_EAR),
        (RIGHT_EYE, RIGHT_EAR),
    ];
}

/// Runs a model on a batch of frames (one camera or many). Batches let a GPU path stack frames;
/// a CPU implementation may loop.
pub trait Detector: Send {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Model name from its manifest, e.g. "yolox_nano".
    fn name(&self) -> &str;

    /// The canvas size (width, height) frames must have, letterboxed.
    fn input_size(&self) -> (u32, u32);

    /// Detections for each frame, in the same order as `frames`; boxes in source pixels.
    fn detect(&mut self, frames: &[Frame]) -> Result<Vec<Vec<Detection>>, Self::Error>;
}
