//! The one error type of this crate, [`InferenceError`]. Every variant carries the context a
//! person needs to act on it: the manifest file and field, the model name, the model path, the
//! camera. No I/O happens here.

use std::path::PathBuf;

use sharpeyes_core::CameraId;

/// Everything that can go wrong between a model manifest and a list of detections.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    /// The manifest file could not be read.
    #[error("{}: cannot read model manifest", path.display())]
    ManifestRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The manifest is not valid TOML, has an unknown key, or a value of the wrong type.
    #[error("{}: {message}", path.display())]
    ManifestParse { path: PathBuf, message: String },

    /// A manifest field has a value that parses but makes no sense, e.g.
    /// `models/yolox_nano.toml: input.width must be > 0, got 0`.
    #[error("{}: {field} {message}", path.display())]
    ManifestInvalid {
        path: PathBuf,
        field: String,
        message: String,
    },

    /// The model file is missing or unreadable.
    #[error("model {model}: cannot read model file {}", path.display())]
    ModelFile {
        model: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// ONNX Runtime's shared library was not found. The message says how to provide it.
    #[error(
        "ONNX Runtime library not found: {reason}. Set ORT_DYLIB_PATH to the path of \
         libonnxruntime.so (for example the one inside a Python `onnxruntime` wheel: \
         .venv/lib/python3.*/site-packages/onnxruntime/capi/libonnxruntime.so.*), \
         or run the project's setup script, which installs it"
    )]
    RuntimeLibraryMissing { reason: String },

    /// The shared library exists but could not be loaded (wrong architecture, too old, not ONNX
    /// Runtime).
    #[error("cannot load ONNX Runtime from {}: {message}", path.display())]
    RuntimeLoad { path: PathBuf, message: String },

    /// ONNX Runtime loaded but its environment could not be created.
    #[error("cannot create the ONNX Runtime environment")]
    Environment {
        #[source]
        source: ort::Error,
    },

    /// ONNX Runtime refused the model file (corrupt, unsupported opset) or a session option.
    #[error("model {model}: cannot create an ONNX Runtime session from {}", path.display())]
    SessionLoad {
        model: String,
        path: PathBuf,
        #[source]
        source: ort::Error,
    },

    /// A [`crate::DetectorOptions`] value is out of range.
    #[error("model {model}: invalid detector options: {message}")]
    InvalidOptions { model: String, message: String },

    /// The model's inputs or outputs do not match what its manifest says.
    #[error("model {model}: {} does not match its manifest: {message}", path.display())]
    ModelMismatch {
        model: String,
        path: PathBuf,
        message: String,
    },

    /// A frame handed to the detector is not what the model needs (size, pixel format, buffer).
    #[error("camera {camera}, frame {seq}: {message}")]
    InvalidFrame {
        camera: CameraId,
        seq: u64,
        message: String,
    },

    /// A picture handed to [`crate::letterbox_image`] or the preprocessor cannot be used.
    #[error("invalid image: {message}")]
    InvalidImage { message: String },

    /// ONNX Runtime failed while running the model.
    #[error("model {model}: inference failed")]
    Runtime {
        model: String,
        #[source]
        source: ort::Error,
    },

    /// The model produced an output of a shape or type its decoder cannot read.
    #[error("model {model}: unexpected output: {message}")]
    Output { model: String, message: String },
}

impl From<sharpeyes_core::resize::ResizeError> for InferenceError {
    fn from(e: sharpeyes_core::resize::ResizeError) -> Self {
        InferenceError::InvalidFrame {
            camera: e.camera,
            seq: e.seq,
            message: e.message,
        }
    }
}
