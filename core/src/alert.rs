//! Alerts: the versioned event that leaves the pipeline, and the `AlertSink` trait every
//! delivery path (outbox file, stdout, Kafka) implements.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::clock::UnixMillis;
use crate::frame::CameraId;
use crate::geometry::Detection;
use crate::health::CameraState;

/// Version of the JSON shape of [`Alert`]. Bump on any change a consumer could notice.
pub const ALERT_SCHEMA_VERSION: u32 = 1;

/// What happened. Serialized in snake_case (`person_detected`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    PersonDetected,
    /// Status event: the camera delivers frames again (or for the first time).
    CameraOnline,
    /// Status event: the camera stopped delivering frames (offline, stalled, auth failed).
    CameraOffline,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::PersonDetected => "person_detected",
            AlertKind::CameraOnline => "camera_online",
            AlertKind::CameraOffline => "camera_offline",
        }
    }

    /// Camera health events travel the alert path on their own topic.
    pub fn is_status(self) -> bool {
        matches!(self, AlertKind::CameraOnline | AlertKind::CameraOffline)
    }
}

/// A box as it appears in an alert: class, score, pixels of the source picture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoxOut {
    pub class: String,
    pub score: f32,
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl From<&Detection> for BoxOut {
    fn from(d: &Detection) -> Self {
        Self {
            class: d.class_name.to_string(),
            score: d.score,
            x1: d.bbox.x1,
            y1: d.bbox.y1,
            x2: d.bbox.x2,
            y2: d.bbox.y2,
        }
    }
}

/// One alert, as written to the outbox, stdout and Kafka (one JSON object per line/message).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// [`ALERT_SCHEMA_VERSION`] at the time of writing.
    pub schema: u32,
    /// Unique and stable: `<camera>-<time_ms>-<kind>`; consumers deduplicate on it.
    pub id: String,
    pub kind: AlertKind,
    pub camera: CameraId,
    /// When the frame that raised it was taken, RFC 3339 UTC.
    pub time: String,
    pub time_ms: UnixMillis,
    /// Highest score among `boxes`.
    pub score: f32,
    pub boxes: Vec<BoxOut>,
    /// Size of the source picture the boxes refer to.
    pub frame_width: u32,
    pub frame_height: u32,
    /// JPEG of the frame, if one was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<PathBuf>,
    /// Status events only: the camera's state and why (never a password or a full URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<CameraState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Alert {
    pub fn new(
        kind: AlertKind,
        camera: CameraId,
        time: UnixMillis,
        detections: &[Detection],
        frame_size: (u32, u32),
    ) -> Self {
        let score = detections.iter().map(|d| d.score).fold(0.0_f32, f32::max);
        Self {
            schema: ALERT_SCHEMA_VERSION,
            id: format!("{camera}-{}-{}", time.0, kind.as_str()),
            kind,
            time: time.to_rfc3339(),
            time_ms: time,
            camera,
            score,
            boxes: detections.iter().map(BoxOut::from).collect(),
            frame_width: frame_size.0,
            frame_height: frame_size.1,
            snapshot: None,
            state: None,
            reason: None,
        }
    }

    /// A `camera_online` / `camera_offline` status event for `state`.
    pub fn status(
        camera: CameraId,
        time: UnixMillis,
        state: CameraState,
        reason: Option<String>,
    ) -> Self {
        let kind = if state == CameraState::Online {
            AlertKind::CameraOnline
        } else {
            AlertKind::CameraOffline
        };
        let mut a = Self::new(kind, camera, time, &[], (0, 0));
        a.state = Some(state);
        a.reason = reason;
        a
    }
}

/// A place alerts go. `send` returns once the sink has accepted the alert; what "accepted" means
/// (fsynced, queued for a broker) is the sink's contract, documented on it.
pub trait AlertSink: Send {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Short name for logs and metrics ("outbox", "stdout", "kafka").
    fn name(&self) -> &str;

    fn send(&mut self, alert: &Alert) -> Result<(), Self::Error>;

    /// Waits up to `timeout` for accepted alerts to be delivered.
    fn flush(&mut self, timeout: std::time::Duration) -> Result<(), Self::Error>;
}
