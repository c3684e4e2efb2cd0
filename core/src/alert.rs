//! Alerts: the versioned event that leaves the pipeline, and the `AlertSink` trait every
//! delivery path (outbox file, stdout, Kafka) implements.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::clock::UnixMillis;
use crate::frame::CameraId;
use crate::geometry::Detection;
use crate::health::CameraState;

/// Version of the JSON shape of [`Alert`]. Bump on any change a consumer could notice.
///
/// - 1: person_detected and camera status events.
/// - 2: the safety rules' kinds (fall, person_in_zone, loitering, vehicle_in_zone, inactivity),
///   `severity`, `phase` and `incident` (one incident = a start, updates, an end), `zone`,
///   `message`, and per box `track_id` and `keypoints`. Schema-1 lines still parse (the new
///   fields default).
pub const ALERT_SCHEMA_VERSION: u32 = 2;

/// What happened. Serialized in snake_case (`person_detected`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A person in view (the foundation's rule; off in the default config since the zone rules).
    PersonDetected,
    /// A person fell and stayed down.
    Fall,
    /// A person's foot point inside a zone (riverbank, pond) for long enough.
    PersonInZone,
    /// A person inside a zone for longer than allowed.
    Loitering,
    /// A vehicle inside a no-vehicle / no-parking zone for long enough.
    VehicleInZone,
    /// No person seen in a zone (an elder's doorway) for hours within a daily window.
    Inactivity,
    /// Status event: the camera delivers frames again (or for the first time).
    CameraOnline,
    /// Status event: the camera stopped delivering frames (offline, stalled, auth failed).
    CameraOffline,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::PersonDetected => "person_detected",
            AlertKind::Fall => "fall",
            AlertKind::PersonInZone => "person_in_zone",
            AlertKind::Loitering => "loitering",
            AlertKind::VehicleInZone => "vehicle_in_zone",
            AlertKind::Inactivity => "inactivity",
            AlertKind::CameraOnline => "camera_online",
            AlertKind::CameraOffline => "camera_offline",
        }
    }

    /// Camera health events travel the alert path on their own topic.
    pub fn is_status(self) -> bool {
        matches!(self, AlertKind::CameraOnline | AlertKind::CameraOffline)
    }

    /// How urgent an incident of this kind is: a fall and a person at the water are critical.
    pub fn severity(self) -> Severity {
        match self {
            AlertKind::Fall | AlertKind::PersonInZone => Severity::Critical,
            AlertKind::Inactivity
            | AlertKind::Loitering
            | AlertKind::VehicleInZone
            | AlertKind::CameraOffline => Severity::Warning,
            AlertKind::PersonDetected | AlertKind::CameraOnline => Severity::Info,
        }
    }
}

/// How urgent an alert is. Ordered: `Info < Warning < Critical`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    #[default]
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Where an alert stands in its incident: the first alert, a later one while it lasts, the last.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The incident began (one-shot events such as status changes are `start` too).
    #[default]
    Start,
    /// Still going on (sent periodically while it lasts).
    Update,
    /// Over (the person got up, left the zone, was seen again).
    End,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Start => "start",
            Phase::Update => "update",
            Phase::End => "end",
        }
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
    /// The tracker's id of this object on this camera (stable while it stays in view; never
    /// carried across cameras).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_id: Option<u64>,
    /// Body keypoints `[x, y, score]` in source pixels (COCO order) when a pose model ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keypoints: Vec<[f32; 3]>,
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
            track_id: None,
            keypoints: d.keypoints.iter().map(|k| [k.x, k.y, k.score]).collect(),
        }
    }
}

/// One alert, as written to the outbox, stdout and Kafka (one JSON object per line/message).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// [`ALERT_SCHEMA_VERSION`] at the time of writing.
    pub schema: u32,
    /// Unique and stable: `<camera>-<time_ms>-<kind>` for a start, `<incident>-update-<time_ms>`
    /// and `<incident>-end` after it; consumers deduplicate on it.
    pub id: String,
    pub kind: AlertKind,
    /// Default: the kind's ([`AlertKind::severity`]).
    #[serde(default)]
    pub severity: Severity,
    #[serde(default)]
    pub phase: Phase,
    /// The id of the incident's start alert (equal to `id` for a start).
    #[serde(default)]
    pub incident: String,
    /// The zone (camera config `[[zones]] name`) the incident is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// One line for people ("fall: person down for 2.4 s"), no personal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
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
        let id = format!("{camera}-{}-{}", time.0, kind.as_str());
        Self {
            schema: ALERT_SCHEMA_VERSION,
            incident: id.clone(),
            id,
            kind,
            severity: kind.severity(),
            phase: Phase::Start,
            zone: None,
            message: None,
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
