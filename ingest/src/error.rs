//! Errors of the ingest crate. URLs in them never carry a password (see `redact`).

use std::path::PathBuf;

use sharpeyes_core::CameraId;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("GStreamer could not be initialised: {0}")]
    GstInit(String),

    #[error("camera {camera}: building the GStreamer pipeline failed: {message}")]
    Pipeline { camera: CameraId, message: String },

    #[error(
        "camera {camera}: no GStreamer element {element:?}; install the plugin package that has it"
    )]
    MissingElement { camera: CameraId, element: String },

    #[error("camera {camera}: GStreamer error from {element}: {message}")]
    Stream {
        camera: CameraId,
        element: String,
        message: String,
    },

    #[error("camera {camera}: {url}: {message}")]
    Rtsp {
        camera: CameraId,
        url: String,
        message: String,
        auth: bool,
    },

    #[error("camera {camera}: {url}: no answer within {timeout_ms} ms while {during}")]
    Timeout {
        camera: CameraId,
        url: String,
        timeout_ms: u64,
        during: &'static str,
    },

    #[error("camera {camera}: {url}: no H.264 or H.265 video stream (streams: {streams})")]
    NoVideoStream {
        camera: CameraId,
        url: String,
        streams: String,
    },

    #[error("camera {camera}: {path}: no such file")]
    FileNotFound { camera: CameraId, path: PathBuf },

    #[error("camera {camera}: the source stopped")]
    Closed { camera: CameraId },

    #[error("camera {camera}: clip {path}: {message}")]
    Clip {
        camera: CameraId,
        path: PathBuf,
        message: String,
    },
}

impl IngestError {
    /// Whether trying again later can help (network trouble, a camera rebooting), as opposed to
    /// a problem a person must fix (a missing plugin or file, wrong credentials).
    pub fn is_transient(&self) -> bool {
        match self {
            IngestError::Rtsp { auth, .. } => !auth,
            IngestError::Timeout { .. }
            | IngestError::Stream { .. }
            | IngestError::Closed { .. } => true,
            IngestError::NoVideoStream { .. } => true,
            IngestError::GstInit(_)
            | IngestError::Pipeline { .. }
            | IngestError::MissingElement { .. }
            | IngestError::FileNotFound { .. }
            | IngestError::Clip { .. } => false,
        }
    }
}
