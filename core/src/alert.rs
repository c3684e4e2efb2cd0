//! The events that leave the pipeline — [`Alert`] (schema `schemas/alert.v1.schema.json`) and
//! [`StatusEvent`] (`schemas/camera-status.v2.schema.json`) — and the [`EventSink`] trait every
//! delivery path (outbox file, stdout, Kafka) implements. The JSON shapes are the public
//! contract with consumers (command center, guardians' service, back office): any change a
//! consumer could notice bumps the version and the schema file.

use serde::{Deserialize, Serialize};

use crate::clock::UnixMillis;
use crate::detection::{Detection, Keypoint};
use crate::frame::CameraId;
use crate::geometry::BBox;
use crate::health::CameraState;

/// `schema_version` of [`Alert`] (`schemas/alert.v1.schema.json`). Pre-release builds wrote
/// versions 1 and 2 of an internal shape to their outbox; version 1 of the public schema
/// replaces both (the number restarted with the published schema files).
pub const ALERT_SCHEMA_VERSION: u32 = 1;

/// `schema_version` of the [`StatusEvent`]s this build writes
/// (`schemas/camera-status.v2.schema.json`). Version 1 (`camera-status.v1.schema.json`: online
/// and offline only, no worker, no heartbeats) is still read: every v1 event is a valid
/// [`StatusEvent`] with the v2 fields absent.
pub const STATUS_SCHEMA_VERSION: u32 = 2;

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
        }
    }

    pub const ALL: [AlertKind; 6] = [
        AlertKind::PersonDetected,
        AlertKind::Fall,
        AlertKind::PersonInZone,
        AlertKind::Loitering,
        AlertKind::VehicleInZone,
        AlertKind::Inactivity,
    ];

    /// How urgent an incident of this kind is: a fall and a person at the water are critical.
    pub fn severity(self) -> Severity {
        match self {
            AlertKind::Fall | AlertKind::PersonInZone => Severity::Critical,
            AlertKind::Inactivity | AlertKind::Loitering | AlertKind::VehicleInZone => {
                Severity::Warning
            }
            AlertKind::PersonDetected => Severity::Info,
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
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// The incident began.
    #[default]
    New,
    /// Still going on (sent periodically while it lasts).
    Update,
    /// Over (the person got up, left the zone, was seen again).
    End,
}

impl Lifecycle {
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::New => "new",
            Lifecycle::Update => "update",
            Lifecycle::End => "end",
        }
    }
}

/// The camera an event is about, as people know it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CameraRef {
    pub id: CameraId,
    /// The camera file's `name` (its id when no camera file describes it, as in `replay`).
    pub name: String,
    /// The camera file's `village` (empty when no camera file describes it).
    pub village: String,
}

impl CameraRef {
    /// Name = id, no village: what is known of a camera without its camera file.
    pub fn bare(id: CameraId) -> Self {
        Self {
            name: id.as_str().to_owned(),
            village: String::new(),
            id,
        }
    }
}

/// The model that produced an alert's detections.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRef {
    /// The manifest's `name` (`yolox_nano`).
    pub name: String,
    /// The manifest's `version`, else `sha256:` and the first 12 hex digits of the file's hash.
    pub version: String,
}

/// Width and height of the source picture, in pixels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameSize {
    pub width: u32,
    pub height: u32,
}

/// One object in an alert. Coordinates are normalised: fractions of the source picture's width
/// (x) and height (y), 0 to 1, origin top left; multiply by [`Alert::frame`] for pixels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectOut {
    pub class: String,
    pub score: f32,
    /// The tracker's id of this object on this camera (stable while it stays in view; never
    /// carried across cameras).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_id: Option<u64>,
    /// `[x1, y1, x2, y2]`, normalised.
    pub bbox: [f32; 4],
    /// Body keypoints `[x, y, score]`, normalised, COCO order, when a pose model ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keypoints: Vec<[f32; 3]>,
}

impl ObjectOut {
    /// An object whose box and keypoints are in source pixels of a `frame` picture,
    /// normalised.
    pub fn new(
        class: &str,
        score: f32,
        track_id: Option<u64>,
        bbox: &BBox,
        keypoints: &[Keypoint],
        frame: FrameSize,
    ) -> Self {
        let (w, h) = (frame.width.max(1) as f32, frame.height.max(1) as f32);
        let nx = |x: f32| (x / w).clamp(0.0, 1.0);
        let ny = |y: f32| (y / h).clamp(0.0, 1.0);
        Self {
            class: class.to_owned(),
            score,
            track_id,
            bbox: [nx(bbox.x1), ny(bbox.y1), nx(bbox.x2), ny(bbox.y2)],
            keypoints: keypoints
                .iter()
                .map(|k| [nx(k.x), ny(k.y), k.score])
                .collect(),
        }
    }

    /// `d` (source pixels) normalised by the source picture's size.
    pub fn from_detection(d: &Detection, frame: FrameSize) -> Self {
        Self::new(&d.class_name, d.score, None, &d.bbox, &d.keypoints, frame)
    }
}

/// A new UUIDv7 (time-ordered: the first 48 bits are `time`) as a lowercase hyphenated string.
pub fn new_event_id(time: UnixMillis) -> String {
    let ms = time.0.max(0) as u64;
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, ms / 1000, (ms % 1000) as u32 * 1_000_000);
    uuid::Uuid::new_v7(ts).hyphenated().to_string()
}

/// One alert, as written to the outbox, stdout and Kafka (one JSON object per line/message).
/// Schema: `schemas/alert.v1.schema.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    /// [`ALERT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// UUIDv7, unique per message; consumers deduplicate on it (delivery is at least once).
    pub id: String,
    pub kind: AlertKind,
    pub lifecycle: Lifecycle,
    /// Default: the kind's ([`AlertKind::severity`]).
    pub severity: Severity,
    /// The id of the incident's `new` alert (equal to `id` for a `new`).
    pub incident: String,
    pub camera: CameraRef,
    /// The zone (camera file `[[zones]] name`) the incident is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// When the frame that raised it was taken, RFC 3339 UTC with milliseconds.
    pub event_time: String,
    /// When the pipeline produced the alert, RFC 3339 UTC with milliseconds.
    pub emitted_time: String,
    /// One line for people ("fall: person down for 2.4 s"), no personal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Highest score among `objects` (0 when there are none).
    pub score: f32,
    pub objects: Vec<ObjectOut>,
    /// The source picture `objects` are normalised by.
    pub frame: FrameSize,
    /// The detector.
    pub model: ModelRef,
    /// The pose model, when one ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pose_model: Option<ModelRef>,
    /// The annotated JPEG, relative to the output directory (`snapshots/<camera>/<id>.jpg`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// `new` alerts only: the event clip (MP4, H.264, `pre` seconds before `event_time` to
    /// `post` after), named like the snapshot under the clips directory
    /// (`clips/<camera>/<id>.mp4`). Written after the alert, once `post` has passed: a reader
    /// may find no file yet, never half of one (see [`ClipReady`](crate::ClipReady)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<String>,
    /// Escalated: act now, whatever the lifecycle. Set on the one `update` of a fall incident
    /// whose person is still down `long_lie` after the fall (a long lie harms elders most); the
    /// guardians' service sends it to everyone watching the kind, first. Absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub urgent: bool,
}

impl Alert {
    /// A `new` alert of `kind` from `detections` (source pixels) of a `frame_size` picture taken
    /// at `time`. Camera name and village, model and emitted time are the bare defaults until
    /// the pipeline stamps them.
    pub fn new(
        kind: AlertKind,
        camera: CameraId,
        time: UnixMillis,
        detections: &[Detection],
        frame_size: (u32, u32),
    ) -> Self {
        let frame = FrameSize {
            width: frame_size.0,
            height: frame_size.1,
        };
        let score = detections.iter().map(|d| d.score).fold(0.0_f32, f32::max);
        let id = new_event_id(time);
        Self {
            schema_version: ALERT_SCHEMA_VERSION,
            incident: id.clone(),
            id,
            kind,
            lifecycle: Lifecycle::New,
            severity: kind.severity(),
            camera: CameraRef::bare(camera),
            zone: None,
            event_time: time.to_rfc3339(),
            emitted_time: time.to_rfc3339(),
            message: None,
            score,
            objects: detections
                .iter()
                .map(|d| ObjectOut::from_detection(d, frame))
                .collect(),
            frame,
            model: ModelRef::default(),
            pose_model: None,
            snapshot: None,
            clip: None,
            urgent: false,
        }
    }

    /// `event_time` as milliseconds (`None` only for a hand-made alert with a bad time).
    pub fn event_millis(&self) -> Option<UnixMillis> {
        UnixMillis::parse_rfc3339(&self.event_time)
    }
}

/// What a [`StatusEvent`] says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusKind {
    /// The camera delivers frames again (or for the first time).
    CameraOnline,
    /// The camera stopped delivering frames (offline, stalled, auth failed).
    CameraOffline,
    /// Periodic (schema v2): the camera runs; its state, fps and last frame now. Best effort:
    /// never in the outbox, lost when the broker is away.
    CameraHeartbeat,
    /// Schema v2: the cluster leader has no worker for the camera (over total capacity); state
    /// [`CameraState::Unassigned`].
    CameraUnassigned,
    /// Schema v2: the camera's picture is tampered with; `reason` is `covered`, `defocused`,
    /// `moved` or `frozen` ([`TAMPER_REASONS`]); state: the camera's state now (online).
    CameraTampered,
    /// Schema v2: the tampering named in `reason` has cleared.
    CameraRestored,
}

/// The `reason` of `camera_tampered` and `camera_restored` events.
pub const TAMPER_REASONS: [&str; 4] = ["covered", "defocused", "moved", "frozen"];

impl StatusKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusKind::CameraOnline => "camera_online",
            StatusKind::CameraOffline => "camera_offline",
            StatusKind::CameraHeartbeat => "camera_heartbeat",
            StatusKind::CameraUnassigned => "camera_unassigned",
            StatusKind::CameraTampered => "camera_tampered",
            StatusKind::CameraRestored => "camera_restored",
        }
    }
}

/// A camera's health changed, or (`camera_heartbeat`) how it runs now. Schema:
/// `schemas/camera-status.v2.schema.json` (v1 events parse too); own topic
/// (`sharpeyes.camera-status`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusEvent {
    /// [`STATUS_SCHEMA_VERSION`] (1 in events written by older builds).
    pub schema_version: u32,
    /// UUIDv7.
    pub id: String,
    pub kind: StatusKind,
    pub camera: CameraRef,
    /// v2: id of the worker process running the camera; absent without a cluster (and in
    /// `camera_unassigned`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// The camera's state now.
    pub state: CameraState,
    /// Why, for people (never a password or a full URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// v2, `camera_heartbeat` only: frames per second received over the last interval (≥ 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
    /// v2, `camera_heartbeat` only: when the last frame arrived (RFC 3339, ms); absent before
    /// the first frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_frame_time: Option<String>,
    pub event_time: String,
    pub emitted_time: String,
}

impl StatusEvent {
    /// A state change: `camera_online` when `state` is online, `camera_unassigned` when it is
    /// unassigned, else `camera_offline`. No worker (see [`StatusEvent::with_worker`]).
    pub fn new(
        camera: CameraRef,
        time: UnixMillis,
        state: CameraState,
        reason: Option<String>,
    ) -> Self {
        let kind = match state {
            CameraState::Online => StatusKind::CameraOnline,
            CameraState::Unassigned => StatusKind::CameraUnassigned,
            CameraState::Connecting
            | CameraState::Stalled
            | CameraState::Offline
            | CameraState::AuthFailed => StatusKind::CameraOffline,
        };
        Self::of_kind(kind, camera, time, state, reason)
    }

    fn of_kind(
        kind: StatusKind,
        camera: CameraRef,
        time: UnixMillis,
        state: CameraState,
        reason: Option<String>,
    ) -> Self {
        Self {
            schema_version: STATUS_SCHEMA_VERSION,
            id: new_event_id(time),
            kind,
            camera,
            worker: None,
            state,
            reason,
            fps: None,
            last_frame_time: None,
            event_time: time.to_rfc3339(),
            emitted_time: time.to_rfc3339(),
        }
    }

    /// A `camera_heartbeat`: the camera runs, in `state`, receiving `fps` frames per second
    /// (a negative or non-finite number counts as 0), its last frame at `last_frame`.
    pub fn heartbeat(
        camera: CameraRef,
        time: UnixMillis,
        state: CameraState,
        fps: f64,
        last_frame: Option<UnixMillis>,
    ) -> Self {
        let mut e = Self::of_kind(StatusKind::CameraHeartbeat, camera, time, state, None);
        e.fps = Some(if fps.is_finite() && fps > 0.0 {
            fps
        } else {
            0.0
        });
        e.last_frame_time = last_frame.map(UnixMillis::to_rfc3339);
        e
    }

    /// A `camera_unassigned`: the cluster leader has no worker for the camera.
    pub fn unassigned(camera: CameraRef, time: UnixMillis, reason: Option<String>) -> Self {
        Self::of_kind(
            StatusKind::CameraUnassigned,
            camera,
            time,
            CameraState::Unassigned,
            reason,
        )
    }

    /// A `camera_tampered` (`tampered`) or `camera_restored` event for `reason` (one of
    /// [`TAMPER_REASONS`], the bare word, so consumers can route and mark on it), the camera
    /// being in `state`.
    pub fn tamper(
        camera: CameraRef,
        time: UnixMillis,
        state: CameraState,
        tampered: bool,
        reason: &str,
    ) -> Self {
        let kind = if tampered {
            StatusKind::CameraTampered
        } else {
            StatusKind::CameraRestored
        };
        Self::of_kind(kind, camera, time, state, Some(reason.to_owned()))
    }

    /// The same event, naming `worker` as the process that runs the camera.
    pub fn with_worker(mut self, worker: Option<String>) -> Self {
        self.worker = worker;
        self
    }

    /// `last_frame_time` as milliseconds.
    pub fn last_frame_millis(&self) -> Option<UnixMillis> {
        self.last_frame_time
            .as_deref()
            .and_then(UnixMillis::parse_rfc3339)
    }
}

/// Anything the pipeline publishes: one outbox line, one Kafka message. Untagged in JSON (the
/// two shapes differ in their fields).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Event {
    Alert(Alert),
    Status(StatusEvent),
}

impl Event {
    pub fn id(&self) -> &str {
        match self {
            Event::Alert(a) => &a.id,
            Event::Status(s) => &s.id,
        }
    }

    pub fn camera(&self) -> &CameraRef {
        match self {
            Event::Alert(a) => &a.camera,
            Event::Status(s) => &s.camera,
        }
    }

    /// `fall`, `camera_offline`, ...
    pub fn kind_str(&self) -> &'static str {
        match self {
            Event::Alert(a) => a.kind.as_str(),
            Event::Status(s) => s.kind.as_str(),
        }
    }

    pub fn schema_version(&self) -> u32 {
        match self {
            Event::Alert(a) => a.schema_version,
            Event::Status(s) => s.schema_version,
        }
    }

    pub fn is_status(&self) -> bool {
        matches!(self, Event::Status(_))
    }

    pub fn as_alert(&self) -> Option<&Alert> {
        match self {
            Event::Alert(a) => Some(a),
            Event::Status(_) => None,
        }
    }
}

impl From<Alert> for Event {
    fn from(a: Alert) -> Self {
        Event::Alert(a)
    }
}

impl From<StatusEvent> for Event {
    fn from(s: StatusEvent) -> Self {
        Event::Status(s)
    }
}

/// A place events go. `send` returns once the sink has accepted the event; what "accepted" means
/// (fsynced, queued for a broker) is the sink's contract, documented on it.
pub trait EventSink: Send {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Short name for logs and metrics ("outbox", "stdout", "kafka").
    fn name(&self) -> &str;

    fn send(&mut self, event: &Event) -> Result<(), Self::Error>;

    /// Waits up to `timeout` for accepted alerts to be delivered.
    fn flush(&mut self, timeout: std::time::Duration) -> Result<(), Self::Error>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cam() -> CameraId {
        CameraId::new("gate").unwrap()
    }

    #[test]
    fn ids_are_uuid_v7_in_time_order() {
        let a = new_event_id(UnixMillis(1_795_459_860_123));
        let b = new_event_id(UnixMillis(1_795_459_860_124));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "7", "version nibble: {a}");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "variant: {a}");
        assert!(a < b);
        // The first 48 bits are the milliseconds.
        let hex: String = a.chars().filter(|c| *c != '-').take(12).collect();
        assert_eq!(u64::from_str_radix(&hex, 16).unwrap(), 1_795_459_860_123);
        assert_ne!(new_event_id(UnixMillis(5)), new_event_id(UnixMillis(5)));
    }

    #[test]
    fn objects_are_normalised_by_the_source_picture() {
        let d = Detection {
            class_id: 0,
            class_name: "person".into(),
            score: 0.9,
            bbox: BBox {
                x1: 64.0,
                y1: 36.0,
                x2: 320.0,
                y2: 360.0,
            },
            keypoints: vec![Keypoint {
                x: 640.0,
                y: 180.0,
                score: 0.7,
            }],
        };
        let a = Alert::new(AlertKind::Fall, cam(), UnixMillis(0), &[d], (640, 360));
        let o = &a.objects[0];
        assert_eq!(o.bbox, [0.1, 0.1, 0.5, 1.0]);
        assert_eq!(o.keypoints, vec![[1.0, 0.5, 0.7]]);
        assert_eq!(
            a.frame,
            FrameSize {
                width: 640,
                height: 360
            }
        );
        assert_eq!((a.score, a.severity), (0.9, Severity::Critical));
        assert_eq!(a.incident, a.id);
        assert_eq!(a.event_millis(), Some(UnixMillis(0)));
    }

    #[test]
    fn events_round_trip_as_their_own_shape() {
        let a = Alert::new(AlertKind::Inactivity, cam(), UnixMillis(1000), &[], (4, 3));
        let s = StatusEvent::new(
            CameraRef::bare(cam()),
            UnixMillis(2000),
            CameraState::AuthFailed,
            Some("401".into()),
        );
        for e in [Event::from(a), Event::from(s)] {
            let json = serde_json::to_string(&e).unwrap();
            let back: Event = serde_json::from_str(&json).unwrap();
            assert_eq!(back, e, "{json}");
        }
        let s: serde_json::Value = serde_json::to_value(Event::from(StatusEvent::new(
            CameraRef::bare(cam()),
            UnixMillis(0),
            CameraState::Online,
            None,
        )))
        .unwrap();
        assert_eq!(s["kind"], "camera_online");
        assert_eq!(s["camera"]["name"], "gate");
        assert!(s.get("objects").is_none());
    }

    fn gate() -> CameraRef {
        CameraRef {
            id: cam(),
            name: "Gate".into(),
            village: "Xiaohe".into(),
        }
    }

    #[test]
    fn a_version_1_status_event_still_parses_and_writes_back_unchanged() {
        let v1 = r#"{"schema_version":1,"id":"0190d5a2-7c1e-7000-8000-000000000001","kind":"camera_offline","camera":{"id":"gate","name":"Gate","village":"Xiaohe"},"state":"stalled","reason":"no frames for 10 s","event_time":"2026-11-23T12:51:00.000Z","emitted_time":"2026-11-23T12:51:00.000Z"}"#;
        let e: Event = serde_json::from_str(v1).expect("a v1 event parses");
        let Event::Status(s) = &e else {
            panic!("read as an alert: {e:?}")
        };
        assert_eq!(s.schema_version, 1);
        assert_eq!(
            (s.kind, s.state),
            (StatusKind::CameraOffline, CameraState::Stalled)
        );
        assert_eq!((&s.worker, s.fps, &s.last_frame_time), (&None, None, &None));
        assert_eq!(serde_json::to_string(&e).unwrap(), v1, "no v2 field added");
    }

    #[test]
    fn heartbeats_carry_fps_last_frame_and_worker() {
        let h = StatusEvent::heartbeat(
            gate(),
            UnixMillis(1_795_459_870_000),
            CameraState::Online,
            14.5,
            Some(UnixMillis(1_795_459_869_950)),
        )
        .with_worker(Some("w2".into()));
        assert_eq!(h.schema_version, 2);
        assert_eq!(h.kind, StatusKind::CameraHeartbeat);
        assert_eq!(h.last_frame_millis(), Some(UnixMillis(1_795_459_869_950)));
        let v = serde_json::to_value(Event::from(h.clone())).unwrap();
        assert_eq!(v["kind"], "camera_heartbeat");
        assert_eq!(v["worker"], "w2");
        assert_eq!(v["fps"], 14.5);
        assert_eq!(v["last_frame_time"], "2026-11-23T18:51:09.950Z");
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, Event::from(h));
        // No frame yet: no last_frame_time; fps never negative or NaN.
        for fps in [-1.0, f64::NAN, f64::INFINITY] {
            let h =
                StatusEvent::heartbeat(gate(), UnixMillis(0), CameraState::Connecting, fps, None);
            let v = serde_json::to_value(&h).unwrap();
            assert_eq!(v["fps"], 0.0, "{fps}");
            assert!(v.get("last_frame_time").is_none() && v.get("worker").is_none());
        }
    }

    #[test]
    fn unassigned_cameras_have_their_own_kind_and_state() {
        let u = StatusEvent::unassigned(gate(), UnixMillis(0), Some("no capacity".into()));
        assert_eq!(
            (u.kind, u.state),
            (StatusKind::CameraUnassigned, CameraState::Unassigned)
        );
        let v = serde_json::to_value(&u).unwrap();
        assert_eq!(
            (v["kind"].as_str(), v["state"].as_str()),
            (Some("camera_unassigned"), Some("unassigned"))
        );
        assert!(v.get("worker").is_none() && v.get("fps").is_none());
        let n = StatusEvent::new(gate(), UnixMillis(0), CameraState::Unassigned, None);
        assert_eq!(n.kind, StatusKind::CameraUnassigned);
        let o = StatusEvent::new(gate(), UnixMillis(0), CameraState::Offline, None)
            .with_worker(Some("w1".into()));
        assert_eq!(
            (o.kind, o.worker.as_deref()),
            (StatusKind::CameraOffline, Some("w1"))
        );
        assert!(
            !CameraState::ALL.contains(&CameraState::Unassigned),
            "ingest never reports it"
        );
    }

    #[test]
    fn a_status_event_with_a_field_it_does_not_know_is_refused() {
        let mut v =
            serde_json::to_value(StatusEvent::unassigned(gate(), UnixMillis(0), None)).unwrap();
        v["surprise"] = 1.into();
        assert!(serde_json::from_value::<StatusEvent>(v).is_err());
    }

    #[test]
    fn an_alert_with_a_field_it_does_not_know_is_refused() {
        let a = Alert::new(AlertKind::Fall, cam(), UnixMillis(0), &[], (4, 3));
        let mut v = serde_json::to_value(&a).unwrap();
        v["surprise"] = 1.into();
        assert!(serde_json::from_value::<Alert>(v).is_err());
    }
}
