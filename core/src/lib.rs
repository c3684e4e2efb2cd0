//! Domain types shared by every Sharp Eyes crate: frames, detections, alerts, the clock, and the
//! traits at each I/O edge (`FrameSource`, `Detector`, `EventSink`). No I/O happens here: no
//! tokio, GStreamer, ONNX Runtime or Kafka types appear in this crate.

pub mod alert;
pub mod backoff;
pub mod clip;
pub mod clock;
pub mod config_issue;
pub mod detection;
pub mod frame;
pub mod geometry;
pub mod health;
pub mod redact;
pub mod resize;
#[cfg(feature = "test-util")]
pub mod testing;

pub use alert::{
    ALERT_SCHEMA_VERSION, Alert, AlertKind, CameraRef, Event, EventSink, FrameSize, Lifecycle,
    ModelRef, ObjectOut, STATUS_SCHEMA_VERSION, Severity, StatusEvent, StatusKind, TAMPER_REASONS,
    new_event_id,
};
pub use backoff::Backoff;
pub use clip::{ClipReady, clip_file_name};
#[cfg(any(test, feature = "test-util"))]
pub use clock::ManualClock;
pub use clock::{Clock, SystemClock, UnixMillis, sleep_unless};
pub use config_issue::{ConfigIssue, ConfigIssues};
pub use detection::{Detection, Detector, Keypoint, coco};
pub use frame::{CameraId, Frame, FrameSource, InvalidCameraId, PixelFormat, SourceItem};
pub use geometry::{BBox, Letterbox};
pub use health::CameraState;
pub use resize::Canvas;
