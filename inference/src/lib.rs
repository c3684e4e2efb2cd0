//! Frame to detections. A model is an ONNX file plus a TOML manifest ([`ModelManifest`]);
//! [`OrtDetector`] runs it with ONNX Runtime and implements [`sharpeyes_core::Detector`].
//!
//! The pure parts (manifest validation, [`mod@preprocess`], the [`yolox`] decoder, [`mod@nms`]) are
//! separate from the I/O ([`runtime`] loads the ONNX Runtime library, [`detector`] runs sessions).
//! ONNX Runtime is loaded at run time from `ORT_DYLIB_PATH` or a path given to [`init_runtime`].

pub mod detector;
pub mod error;
pub mod manifest;
pub mod nms;
pub mod preprocess;
pub mod runtime;
pub mod yolox;

pub use detector::{DetectorOptions, ExecutionProvider, OrtDetector};
pub use error::InferenceError;
pub use manifest::{ColourOrder, InputSpec, ModelFormat, ModelManifest, Normalisation};
pub use nms::nms;
pub use preprocess::{letterbox_image, preprocess, preprocess_into};
pub use runtime::{ORT_DYLIB_PATH_VAR, environment, init_runtime};
pub use yolox::{Candidate, DecodeError, YOLOX_STRIDES, decode_yolox, yolox_anchor_count};
