//! One camera's chain: detections and frame times in, alerts out. Tracker → fall rule and zone
//! rules → incidents, on a rule clock that never goes back ([`RuleTime`]), with the state that
//! lets a restart, a hot reload or a move to another worker continue ([`SavedCamera`]). Pure:
//! the caller (the pipeline's analyser) brings the detections, the times and the files.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sharpeyes_core::{Alert, CameraId, Detection, UnixMillis};

use crate::fall::{FallConfig, FallRule};
use crate::incident::{IncidentAlert, IncidentConfig, Incidents, IncidentsState};
use crate::track::{Tracker, TrackerConfig};
use crate::zone_rules::{ZoneRules, ZoneRulesState, ZoneSpec};

/// A frame time earlier than the last one by more than this is the clock stepping back, not
/// the jitter of arrival times.
pub const CLOCK_STEP_MS: i64 = 1000;

/// The time a camera's rules run on: its frames' wall-clock times, never going back. Jitter
/// (a frame a few ms earlier than the last) is clamped; a step back of the wall clock (NTP, an
/// operator) shifts every later time by the step, so rule state (open incidents, "last seen",
/// dwell, tracks) is kept and timing goes on at the real rate.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RuleTime {
    last: Option<i64>,
    /// Added to every frame time (ms): the sum of the steps back seen.
    offset: i64,
}

impl RuleTime {
    /// Continues from `last` (a saved state's): later times never fall before it.
    pub fn resume(last: Option<UnixMillis>) -> Self {
        Self {
            last: last.map(|t| t.0),
            offset: 0,
        }
    }

    /// The rule time of a frame taken at wall-clock `t`.
    pub fn map(&mut self, t: UnixMillis) -> UnixMillis {
        let mut r = t.0 + self.offset;
        if let Some(last) = self.last
            && r < last
        {
            if last - r > CLOCK_STEP_MS {
                self.offset += last - r;
            }
            r = last;
        }
        self.last = Some(r);
        UnixMillis(r)
    }

    /// The latest rule time handed out.
    pub fn last(&self) -> Option<UnixMillis> {
        self.last.map(UnixMillis)
    }
}

/// A camera's rule state as saved between runs (JSON): what lets its open incidents and
/// inactivity "last seen" times survive a restart, a hot reload or a move.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SavedCamera {
    /// The latest rule time (see [`RuleTime`]).
    pub rule_time: Option<UnixMillis>,
    pub incidents: IncidentsState,
    pub zones: Option<ZoneRulesState>,
}

impl SavedCamera {
    /// The open incidents' ids and the number of ended ones: what changes when an incident
    /// opens or ends (a saver writes those at once).
    pub fn incident_ids(&self) -> (Vec<&str>, usize) {
        (
            self.incidents
                .open
                .iter()
                .map(|o| o.incident.as_str())
                .collect(),
            self.incidents.ended.len(),
        )
    }
}

/// The pipeline's rule settings, shared by every camera.
#[derive(Clone, Debug)]
pub struct RuleSettings {
    /// None: the fall rule is off for every camera.
    pub fall: Option<FallConfig>,
    pub incidents: IncidentConfig,
    pub tracker: TrackerConfig,
    /// Local time of the cameras (daily windows of zone rules), minutes east of UTC.
    pub utc_offset_min: i32,
    /// The model's class names that are people, and vehicles.
    pub persons: Vec<Arc<str>>,
    pub vehicles: Vec<Arc<str>>,
}

/// Which rules one camera runs: the fall rule (when the settings have one) and its zones.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CameraSpec {
    pub fall: bool,
    pub zones: Vec<ZoneSpec>,
    /// This camera's long lie (see [`IncidentConfig::long_lie_ms`]); None: the settings'.
    pub long_lie_ms: Option<i64>,
}

/// One camera's tracker, rules and open incidents.
#[derive(Debug)]
pub struct CameraAnalysis {
    /// Source picture size of the last frame.
    size: (u32, u32),
    /// Frame times made monotonic for the rules.
    time: RuleTime,
    tracker: Tracker,
    fall: Option<FallRule>,
    zones: Option<ZoneRules>,
    incidents: Incidents,
}

impl CameraAnalysis {
    pub fn new(camera: &CameraId, s: &RuleSettings, spec: &CameraSpec) -> Self {
        Self {
            size: (0, 0),
            time: RuleTime::default(),
            tracker: Tracker::new(s.tracker.clone()),
            fall: s
                .fall
                .clone()
                .filter(|_| spec.fall)
                .map(|f| FallRule::new(f, s.persons.clone())),
            zones: (!spec.zones.is_empty()).then(|| {
                ZoneRules::new(
                    spec.zones.clone(),
                    s.utc_offset_min,
                    s.persons.clone(),
                    s.vehicles.clone(),
                )
            }),
            incidents: Incidents::new(
                camera.clone(),
                IncidentConfig {
                    long_lie_ms: spec.long_lie_ms.unwrap_or(s.incidents.long_lie_ms),
                    ..s.incidents.clone()
                },
            ),
        }
    }

    /// Source picture size of the last frame ((0, 0) before the first).
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// Tracker, rules and incidents for one frame's detections (source pixels of a `size`
    /// picture) taken at wall-clock `time`. Alerts carry `time` as their event time, whatever
    /// the rule clock ran on.
    pub fn step(
        &mut self,
        time: UnixMillis,
        size: (u32, u32),
        detections: &[Detection],
    ) -> Vec<IncidentAlert> {
        self.size = size;
        let wall = time;
        let time = self.time.map(wall);
        let tracks = self.tracker.update(time, detections);
        let mut findings = Vec::new();
        if let Some(fall) = &mut self.fall {
            findings.extend(fall.evaluate(time, size, tracks));
        }
        if let Some(zones) = &mut self.zones {
            findings.extend(zones.evaluate(time, size, tracks));
        }
        let mut outs = self.incidents.step(time, size, findings);
        if time != wall {
            outs.iter_mut()
                .for_each(|o| o.alert.event_time = wall.to_rfc3339());
        }
        outs
    }

    /// Ends the open incidents (the camera stops) at wall-clock `now`.
    pub fn end_all(&mut self, now: UnixMillis, size: (u32, u32)) -> Vec<Alert> {
        let t = self.time.map(now);
        self.incidents
            .end_all(t, size)
            .into_iter()
            .map(|o| {
                let mut a = o.alert;
                a.event_time = now.to_rfc3339();
                a
            })
            .collect()
    }

    /// What to save to continue after a restart.
    pub fn state(&self) -> SavedCamera {
        SavedCamera {
            rule_time: self.time.last(),
            incidents: self.incidents.state(),
            zones: self.zones.as_ref().map(ZoneRules::state),
        }
    }

    /// Takes up a saved state.
    pub fn restore(&mut self, saved: SavedCamera) {
        self.time = RuleTime::resume(saved.rule_time);
        self.incidents.restore(saved.incidents);
        if let (Some(zones), Some(z)) = (&mut self.zones, &saved.zones) {
            zones.restore(z);
        }
    }

    /// Whether anything is going on that needs every frame (a track or an open incident).
    pub fn busy(&self) -> bool {
        !self.tracker.tracks().is_empty() || self.incidents.any_open()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::{DailyWindow, Polygon};
    use crate::zone_rules::InactivitySpec;
    use sharpeyes_core::Lifecycle;

    #[test]
    fn rule_time_never_goes_back_and_keeps_the_rate_after_a_step() {
        let mut t = RuleTime::default();
        assert_eq!(t.map(UnixMillis(10_000)), UnixMillis(10_000));
        // Jitter: clamped, no drift.
        assert_eq!(t.map(UnixMillis(9_990)), UnixMillis(10_000));
        assert_eq!(t.map(UnixMillis(10_200)), UnixMillis(10_200));
        // A step back of an hour: time stands at the last value, then goes on at the real rate.
        assert_eq!(t.map(UnixMillis(10_200 - 3_600_000)), UnixMillis(10_200));
        assert_eq!(t.map(UnixMillis(11_200 - 3_600_000)), UnixMillis(11_200));
        // A restart resumes from the saved time.
        let mut t = RuleTime::resume(Some(UnixMillis(50_000)));
        assert_eq!(t.map(UnixMillis(20_000)), UnixMillis(50_000));
        assert_eq!(t.map(UnixMillis(21_000)), UnixMillis(51_000));
    }

    const H: i64 = 3_600_000;

    fn doorway_camera() -> (CameraId, RuleSettings, CameraSpec) {
        let id = CameraId::new("elder-door").expect("id");
        let settings = RuleSettings {
            fall: None,
            incidents: IncidentConfig::default(),
            tracker: TrackerConfig::default(),
            utc_offset_min: 0,
            persons: vec!["person".into()],
            vehicles: vec![],
        };
        let spec = CameraSpec {
            fall: false,
            long_lie_ms: None,
            zones: vec![ZoneSpec {
                name: "door".into(),
                polygon: Polygon::new(vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]),
                person_in_zone: None,
                loitering: None,
                vehicle_in_zone: None,
                inactivity: Some(InactivitySpec {
                    absent_ms: H,
                    window: DailyWindow::ALL_DAY,
                }),
            }],
        };
        (id, settings, spec)
    }

    /// Steps `cam` every minute of wall time in `from..=to` (ms) with nobody in view.
    fn empty_minutes(
        cam: &mut CameraAnalysis,
        from: i64,
        to: i64,
    ) -> Vec<(i64, Lifecycle, String)> {
        (from..=to)
            .step_by(60_000)
            .flat_map(|t| {
                cam.step(UnixMillis(t), (640, 480), &[])
                    .into_iter()
                    .map(move |o| (t, o.alert.lifecycle, o.alert.incident))
            })
            .collect()
    }

    #[test]
    fn a_wall_clock_step_back_keeps_the_open_incident() {
        let (id, settings, spec) = doorway_camera();
        let mut cam = CameraAnalysis::new(&id, &settings, &spec);
        let day = 20_000 * 24 * H;
        let first = empty_minutes(&mut cam, day, day + H);
        assert_eq!(first.len(), 1, "{first:?}");
        assert_eq!(first[0].1, Lifecycle::New);
        // The clock is set back 30 minutes and runs on for 40 minutes more: the incident goes
        // on with updates, never a second `new`.
        let after = empty_minutes(&mut cam, day + H / 2, day + H / 2 + 40 * 60_000);
        assert!(!after.is_empty(), "updates expected");
        assert!(
            after
                .iter()
                .all(|a| a.1 == Lifecycle::Update && a.2 == first[0].2),
            "{after:?}"
        );
    }

    #[test]
    fn a_saved_camera_continues_its_incident_after_a_restart() {
        let (id, settings, spec) = doorway_camera();
        let mut cam = CameraAnalysis::new(&id, &settings, &spec);
        let day = 20_000 * 24 * H;
        let first = empty_minutes(&mut cam, day, day + H);
        assert_eq!(first[0].1, Lifecycle::New);
        let json = serde_json::to_vec(&cam.state()).expect("json");

        // A restart 10 minutes later: the doorway is still empty.
        let mut cam = CameraAnalysis::new(&id, &settings, &spec);
        cam.restore(serde_json::from_slice(&json).expect("parses"));
        let after = empty_minutes(&mut cam, day + H + 10 * 60_000, day + 3 * H);
        assert!(!after.is_empty());
        assert!(
            after
                .iter()
                .all(|a| a.1 == Lifecycle::Update && a.2 == first[0].2),
            "{after:?}"
        );
    }

    #[test]
    fn a_stopped_camera_ends_its_incident() {
        let (id, settings, spec) = doorway_camera();
        let mut cam = CameraAnalysis::new(&id, &settings, &spec);
        let day = 20_000 * 24 * H;
        let first = empty_minutes(&mut cam, day, day + H);
        let ends = cam.end_all(UnixMillis(day + H + 1000), (640, 480));
        assert_eq!(ends.len(), 1);
        assert_eq!(ends[0].lifecycle, Lifecycle::End);
        assert_eq!(ends[0].incident, first[0].2);
    }
}
