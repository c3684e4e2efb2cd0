//! Pure analytics: one camera's detections and frame times in, alerts out. No I/O: no files,
//! no network, no clock of its own (times come in with the frames), so every rule is tested
//! with made-up detections and times, deterministically.
//!
//! - [`track`]: ByteTrack-style multi-object tracker, one per camera ([`Tracker`]).
//! - [`zone`]: zone polygons, daily windows and the [`Finding`] a rule reports.
//! - [`fall`]: the fall rule on tracks and keypoints ([`FallRule`], docs/falls.md).
//! - [`zone_rules`]: person_in_zone, loitering, vehicle_in_zone, inactivity ([`ZoneRules`]).
//! - [`incident`]: findings to start / update / end alerts with cooldown ([`Incidents`]).
//! - [`rules`]: the one-shot person-presence alert with a cooldown ([`PersonPresenceRule`]).
//! - [`tamper`]: camera tampering (covered, defocused, moved, frozen) from thumbnails
//!   ([`TamperDetector`]).
//! - [`camera`]: one camera's chain, tracker → rules → incidents, with its saved state
//!   ([`CameraAnalysis`]).

pub mod camera;
pub mod fall;
pub mod incident;
pub mod rules;
pub mod tamper;
pub mod track;
pub mod zone;
pub mod zone_rules;

pub use camera::{CLOCK_STEP_MS, CameraAnalysis, CameraSpec, RuleSettings, RuleTime, SavedCamera};
pub use fall::{FallConfig, FallRule, Posture};
pub use incident::{IncidentAlert, IncidentConfig, Incidents, IncidentsState};
pub use rules::{PersonPresenceConfig, PersonPresenceRule};
pub use tamper::{
    TamperChange, TamperConfig, TamperDetector, TamperMeasure, TamperReason, Thumbnail,
};
pub use track::{Track, TrackState, Tracker, TrackerConfig};
pub use zone::{DailyWindow, Finding, Polygon};
pub use zone_rules::{DwellSpec, InactivitySpec, ZoneRules, ZoneRulesState, ZoneSpec};
