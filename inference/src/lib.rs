//! Frame to detections. A model is an ONNX file plus a TOML manifest ([`ModelManifest`]);
//! [`OrtDetector`] runs it with ONNX Runtime and implements [`sharpeyes_core::Detector`].
//!
//! The pure parts (manifest validation, [`mod@preprocess`], the decoders [`yolox`],
//! [`ultralytics`], [`nanodet`], [`e2e`], [`pose`], and [`mod@nms`]) are
//! separate from the I/O ([`runtime`] loads the ONNX Runtime library, [`detector`] runs sessions).
//! ONNX Runtime is loaded at run time from `ORT_DYLIB_PATH` or a path given to [`init_runtime`].

pub mod detector;
pub mod e2e;
pub mod error;
pub mod manifest;
pub mod nanodet;
pub mod nms;
pub mod pose;
pub mod pose_stage;
pub mod preprocess;
pub mod runtime;
pub mod ultralytics;
pub mod yolox;

pub use detector::{DetectorOptions, ExecutionProvider, OrtDetector};
pub use e2e::decode_e2e;
pub use error::InferenceError;
pub use manifest::{ColourOrder, InputSpec, ModelFormat, ModelManifest, Normalisation};
pub use nanodet::{NANODET_STRIDES, NanoDetLevel, decode_nanodet};
pub use nms::{nms, nms_indices};
pub use pose::{COCO_KEYPOINTS, Keypoint, PoseCandidate, decode_ultralytics_pose};
pub use pose_stage::{PoseMode, PoseRun, PoseStage, attach_keypoints};
pub use preprocess::{letterbox_image, preprocess, preprocess_into};
pub use sharpeyes_core::resize::{Channels, Crop, ResizeError, crop_frame, resize_linear};
pub use runtime::{ORT_DYLIB_PATH_VAR, environment, init_runtime, loaded_library};
pub use ultralytics::{decode_ultralytics, ultralytics_anchor_count};
pub use yolox::{Candidate, DecodeError, YOLOX_STRIDES, decode_yolox, yolox_anchor_count};
