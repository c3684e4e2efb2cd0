//! Findings to alerts: one incident per camera / zone / kind, with a start alert, periodic
//! updates while it lasts, an end alert, and a cooldown after the end. Pure: times come in.
//!
//! A person lying for five minutes is one fall incident (a start, four updates, an end), not
//! 1,500 alerts; two children at the same pond are one `person_in_zone` incident listing both.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sharpeyes_core::{Alert, AlertKind, CameraId, FrameSize, Lifecycle, ObjectOut, UnixMillis};

use crate::track::Track;
use crate::zone::Finding;

/// Timing of incidents.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentConfig {
    /// While an incident lasts, an update alert at most this often. 60000.
    pub update_every_ms: i64,
    /// An incident ends when its rule has not reported it for this long (so one missed
    /// detection does not end and restart it). 5000.
    pub end_after_ms: i64,
    /// After an end, the same camera / zone / kind starts no new incident for this long. 30000.
    pub cooldown_ms: i64,
    /// A fall incident whose rule still reports the person down this long after it began is
    /// escalated once: an `update` at once, flagged `urgent`, saying so. 0: never. 300000
    /// (5 min; per camera: `detect.long_lie_min`).
    pub long_lie_ms: i64,
}

impl Default for IncidentConfig {
    fn default() -> Self {
        Self {
            update_every_ms: 60_000,
            end_after_ms: 5_000,
            cooldown_ms: 30_000,
            long_lie_ms: 300_000,
        }
    }
}

/// An alert to deliver, with the tracks to draw on its snapshot (empty for an end).
#[derive(Clone, Debug)]
pub struct IncidentAlert {
    pub alert: Alert,
    pub tracks: Vec<Track>,
}

type Key = (AlertKind, Option<String>);

#[derive(Clone, Debug)]
struct Open {
    incident: String,
    started: UnixMillis,
    last_seen: UnixMillis,
    last_sent: UnixMillis,
    finding: Finding,
    /// The long-lie escalation was sent.
    escalated: bool,
}

/// The open incidents of one camera.
#[derive(Clone, Debug)]
pub struct Incidents {
    camera: CameraId,
    config: IncidentConfig,
    open: BTreeMap<Key, Open>,
    /// When each key's last incident ended.
    ended: HashMap<Key, UnixMillis>,
    /// Restored from a saved state and not stepped since: the first step counts the open
    /// incidents' silence from then (nobody watched in between), not from before the restart.
    restored: bool,
}

/// What [`Incidents`] must keep across a restart, a hot reload or a move: the open incidents
/// (their ids, so a restart continues them with `update` / `end` instead of raising a second
/// `new`) and when each key last ended (its cooldown). Times are the rules' time (ms). Plain
/// data, serialized as JSON by the caller.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IncidentsState {
    pub open: Vec<OpenState>,
    pub ended: Vec<EndedState>,
}

/// One open incident in an [`IncidentsState`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpenState {
    pub kind: AlertKind,
    pub zone: Option<String>,
    /// The `new` alert's id, which every later alert of the incident carries.
    pub incident: String,
    pub started: UnixMillis,
    pub last_seen: UnixMillis,
    pub last_sent: UnixMillis,
    /// The finding's last message (its tracks are not kept: track ids do not survive).
    pub message: String,
    /// The long-lie escalation was sent (absent in states saved before it existed).
    #[serde(default)]
    pub escalated: bool,
}

/// When a key's last incident ended, in an [`IncidentsState`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EndedState {
    pub kind: AlertKind,
    pub zone: Option<String>,
    pub at: UnixMillis,
}

impl Incidents {
    pub fn new(camera: CameraId, config: IncidentConfig) -> Self {
        Self {
            camera,
            config,
            open: BTreeMap::new(),
            ended: HashMap::new(),
            restored: false,
        }
    }

    /// What to save to continue after a restart (see [`IncidentsState`]).
    pub fn state(&self) -> IncidentsState {
        let mut ended: Vec<EndedState> = self
            .ended
            .iter()
            .map(|((kind, zone), at)| EndedState {
                kind: *kind,
                zone: zone.clone(),
                at: *at,
            })
            .collect();
        ended.sort_by(|a, b| (a.kind, &a.zone).cmp(&(b.kind, &b.zone)));
        IncidentsState {
            open: self
                .open
                .iter()
                .map(|((kind, zone), o)| OpenState {
                    kind: *kind,
                    zone: zone.clone(),
                    incident: o.incident.clone(),
                    started: o.started,
                    last_seen: o.last_seen,
                    last_sent: o.last_sent,
                    message: o.finding.message.clone(),
                    escalated: o.escalated,
                })
                .collect(),
            ended,
        }
    }

    /// Takes up a saved state in place of the current one: its open incidents continue (same
    /// `incident` id; the next alert of each is an `update` or an `end`, never a second `new`)
    /// and its cooldowns hold. The silence of an open incident counts from the first step after
    /// this, so one that no rule reports again ends `end_after_ms` later.
    pub fn restore(&mut self, state: IncidentsState) {
        self.open = state
            .open
            .into_iter()
            .map(|o| {
                let finding = Finding {
                    kind: o.kind,
                    zone: o.zone.clone(),
                    tracks: Vec::new(),
                    message: o.message,
                };
                let open = Open {
                    incident: o.incident,
                    started: o.started,
                    last_seen: o.last_seen,
                    last_sent: o.last_sent,
                    finding,
                    escalated: o.escalated,
                };
                ((o.kind, o.zone), open)
            })
            .collect();
        self.ended = state
            .ended
            .into_iter()
            .map(|e| ((e.kind, e.zone), e.at))
            .collect();
        self.restored = !self.open.is_empty();
    }

    /// Ends every open incident at `now` (the camera stops): one `end` alert each, and their
    /// cooldowns start.
    pub fn end_all(&mut self, now: UnixMillis, frame_size: (u32, u32)) -> Vec<IncidentAlert> {
        let keys: Vec<Key> = self.open.keys().cloned().collect();
        keys.into_iter()
            .map(|k| self.end(now, frame_size, k, "camera stopped"))
            .collect()
    }

    /// Whether any incident is open (the camera stays in full detection while one is).
    pub fn any_open(&self) -> bool {
        !self.open.is_empty()
    }

    /// Takes the findings that hold at `now` (all rules, one camera) and returns the alerts to
    /// send: starts, updates and ends. `frame_size` is the source picture's.
    pub fn step(
        &mut self,
        now: UnixMillis,
        frame_size: (u32, u32),
        findings: Vec<Finding>,
    ) -> Vec<IncidentAlert> {
        let c = self.config.clone();
        let mut out = Vec::new();
        if std::mem::take(&mut self.restored) {
            for o in self.open.values_mut() {
                o.last_seen = o.last_seen.max(now);
            }
        }
        // Time went backwards (a replay restarted): close nothing, forget everything.
        if self.open.values().any(|o| o.last_seen.0 > now.0)
            || self.ended.values().any(|t| t.0 > now.0)
        {
            self.open.clear();
            self.ended.clear();
        }
        // Several findings of one key (two fallen people): one incident, all their tracks.
        let mut merged: BTreeMap<Key, Finding> = BTreeMap::new();
        for f in findings {
            match merged.entry((f.kind, f.zone.clone())) {
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(f);
                }
                std::collections::btree_map::Entry::Occupied(mut e) => {
                    e.get_mut().tracks.extend(f.tracks);
                }
            }
        }
        for (key, finding) in merged {
            if let Some(open) = self.open.get_mut(&key) {
                open.last_seen = now;
                open.finding = finding;
                let down_ms = now.0 - open.started.0;
                if key.0 == AlertKind::Fall
                    && c.long_lie_ms > 0
                    && !open.escalated
                    && down_ms >= c.long_lie_ms
                {
                    open.escalated = true;
                    open.last_sent = now;
                    let mut alert = self.alert(now, frame_size, &key, Lifecycle::Update);
                    let open = &self.open[&key];
                    alert.incident = open.incident.clone();
                    alert.urgent = true;
                    let down = if down_ms < 120_000 {
                        format!("{:.0} s", down_ms as f64 / 1000.0)
                    } else {
                        format!("{:.0} min", down_ms as f64 / 60_000.0)
                    };
                    alert.message = Some(format!(
                        "long lie: still down {down} after the fall alert: {}",
                        open.finding.message
                    ));
                    out.push(IncidentAlert {
                        alert,
                        tracks: open.finding.tracks.clone(),
                    });
                    continue;
                }
                if now.0 - open.last_sent.0 >= c.update_every_ms {
                    open.last_sent = now;
                    let mut alert = self.alert(now, frame_size, &key, Lifecycle::Update);
                    let open = &self.open[&key];
                    alert.incident = open.incident.clone();
                    out.push(IncidentAlert {
                        alert,
                        tracks: open.finding.tracks.clone(),
                    });
                }
                continue;
            }
            if let Some(ended) = self.ended.get(&key)
                && now.0 - ended.0 < c.cooldown_ms
            {
                tracing::trace!(camera = %self.camera, kind = key.0.as_str(), "incident cooling down");
                continue;
            }
            let tracks = finding.tracks.clone();
            self.open.insert(
                key.clone(),
                Open {
                    incident: String::new(),
                    started: now,
                    last_seen: now,
                    last_sent: now,
                    finding,
                    escalated: false,
                },
            );
            let alert = self.alert(now, frame_size, &key, Lifecycle::New);
            if let Some(o) = self.open.get_mut(&key) {
                o.incident = alert.id.clone();
            }
            out.push(IncidentAlert { alert, tracks });
        }
        let over: Vec<Key> = self
            .open
            .iter()
            .filter(|(_, o)| now.0 - o.last_seen.0 >= c.end_after_ms)
            .map(|(k, _)| k.clone())
            .collect();
        for key in over {
            out.push(self.end(now, frame_size, key, "over"));
        }
        out
    }

    /// Closes the open incident `key` at `now` with its `end` alert; `why` starts its message.
    fn end(
        &mut self,
        now: UnixMillis,
        frame_size: (u32, u32),
        key: Key,
        why: &str,
    ) -> IncidentAlert {
        let mut alert = self.alert(now, frame_size, &key, Lifecycle::End);
        let open = self.open.remove(&key).expect("an open incident's key");
        alert.incident = open.incident;
        alert.objects.clear();
        alert.score = 0.0;
        alert.message = Some(format!(
            "{why} after {:.0} s: {}",
            (open.last_seen.0 - open.started.0) as f64 / 1000.0,
            open.finding.message
        ));
        self.ended.insert(key, now);
        IncidentAlert {
            alert,
            tracks: Vec::new(),
        }
    }

    /// The alert for the open incident `key` as it stands.
    fn alert(
        &self,
        now: UnixMillis,
        frame_size: (u32, u32),
        key: &Key,
        lifecycle: Lifecycle,
    ) -> Alert {
        let open = &self.open[key];
        let f = &open.finding;
        let mut alert = Alert::new(key.0, self.camera.clone(), now, &[], frame_size);
        alert.objects = f.tracks.iter().map(|t| object_of(t, alert.frame)).collect();
        alert.score = alert.objects.iter().map(|b| b.score).fold(0.0, f32::max);
        alert.lifecycle = lifecycle;
        alert.zone = key.1.clone();
        alert.message = Some(f.message.clone());
        alert
    }
}

/// `t` as an alert object, normalised by the source picture.
fn object_of(t: &Track, frame: FrameSize) -> ObjectOut {
    ObjectOut::new(
        &t.class_name,
        t.score,
        Some(t.id),
        &t.bbox,
        &t.keypoints,
        frame,
    )
}

#[cfg(test)]
mod tests {

    use sharpeyes_core::{BBox, Severity};

    use super::*;

    fn track(id: u64) -> Track {
        let bbox = BBox {
            x1: 10.0,
            y1: 10.0,
            x2: 50.0,
            y2: 90.0,
        };
        let mut t = crate::track::confirmed_track(id, "person", bbox, UnixMillis(0));
        t.score = 0.7;
        t
    }

    fn finding(kind: AlertKind, zone: Option<&str>, ids: &[u64]) -> Finding {
        Finding {
            kind,
            zone: zone.map(str::to_owned),
            tracks: ids.iter().map(|&i| track(i)).collect(),
            message: format!("{} now", kind.as_str()),
        }
    }

    fn incidents() -> Incidents {
        Incidents::new(CameraId::new("cam").unwrap(), IncidentConfig::default())
    }

    /// Every alert of a run of `holds(t)` every second from 0 to `end` s.
    fn alerts(inc: &mut Incidents, end: i64, holds: impl Fn(i64) -> Vec<Finding>) -> Vec<Alert> {
        (0..=end)
            .flat_map(|s| inc.step(UnixMillis(s * 1000), (640, 480), holds(s)))
            .map(|a| a.alert)
            .collect()
    }

    #[test]
    fn a_person_still_down_after_the_long_lie_escalates_the_incident_once() {
        let mut inc = incidents();
        let down = |_| vec![finding(AlertKind::Fall, None, &[1])];
        let out = alerts(&mut inc, 700, down);
        let urgent: Vec<&Alert> = out.iter().filter(|a| a.urgent).collect();
        assert_eq!(urgent.len(), 1, "exactly one escalation");
        let u = urgent[0];
        assert_eq!(u.lifecycle, Lifecycle::Update);
        assert_eq!(u.incident, out[0].id, "the fall incident's update");
        assert_eq!(u.event_time, UnixMillis(300_000).to_rfc3339(), "at 5 min");
        assert!(
            u.message
                .as_deref()
                .unwrap()
                .starts_with("long lie: still down 5 min after the fall alert"),
            "{:?}",
            u.message
        );
        assert_eq!(u.objects.len(), 1, "the person lying is on it");
        // Regular updates go on, unflagged; the escalation took the place of the 300 s one.
        let updates: Vec<i64> = out
            .iter()
            .filter(|a| a.lifecycle == Lifecycle::Update && !a.urgent)
            .map(|a| a.event_millis().unwrap().0 / 1000)
            .collect();
        assert_eq!(updates, [60, 120, 180, 240, 360, 420, 480, 540, 600, 660]);
        let json = serde_json::to_value(u).unwrap();
        assert_eq!(json["urgent"], true);
        assert!(
            serde_json::to_value(&out[0])
                .unwrap()
                .get("urgent")
                .is_none()
        );
    }

    #[test]
    fn no_long_lie_for_a_person_who_got_up_another_kind_or_when_off() {
        let mut inc = incidents();
        let got_up = |s| {
            if s < 200 {
                vec![finding(AlertKind::Fall, None, &[1])]
            } else {
                vec![]
            }
        };
        assert!(!alerts(&mut inc, 700, got_up).iter().any(|a| a.urgent));
        let mut inc = incidents();
        let pond = |_| vec![finding(AlertKind::PersonInZone, Some("pond"), &[1])];
        assert!(!alerts(&mut inc, 700, pond).iter().any(|a| a.urgent));
        let mut inc = Incidents::new(
            CameraId::new("cam").unwrap(),
            IncidentConfig {
                long_lie_ms: 0,
                ..IncidentConfig::default()
            },
        );
        let down = |_| vec![finding(AlertKind::Fall, None, &[1])];
        assert!(!alerts(&mut inc, 700, down).iter().any(|a| a.urgent));
    }

    #[test]
    fn the_escalation_is_not_repeated_after_a_restart() {
        let mut inc = incidents();
        let down = |_| vec![finding(AlertKind::Fall, None, &[1])];
        assert_eq!(
            alerts(&mut inc, 320, down)
                .iter()
                .filter(|a| a.urgent)
                .count(),
            1
        );
        let saved = serde_json::to_string(&inc.state()).unwrap();
        let mut again = incidents();
        again.restore(serde_json::from_str(&saved).unwrap());
        let later: Vec<Alert> = (321..=400)
            .flat_map(|s| again.step(UnixMillis(s * 1000), (640, 480), down(s)))
            .map(|a| a.alert)
            .collect();
        assert!(!later.is_empty() && !later.iter().any(|a| a.urgent));
        // A state saved before the field existed reads as not escalated.
        let old = saved.replace(",\"escalated\":true", "");
        assert!(!old.contains("escalated"));
        let mut old_inc = incidents();
        old_inc.restore(serde_json::from_str(&old).unwrap());
        let s = 330;
        assert!(
            old_inc.step(UnixMillis(s * 1000), (640, 480), down(s))[0]
                .alert
                .urgent
        );
    }

    /// Runs `holds(t)` every second from 0 to `end` s; returns (t, phase, id, incident).
    fn run(
        inc: &mut Incidents,
        end: i64,
        holds: impl Fn(i64) -> Vec<Finding>,
    ) -> Vec<(i64, Lifecycle, String, String)> {
        let mut out = Vec::new();
        for s in 0..=end {
            let t = s * 1000;
            for a in inc.step(UnixMillis(t), (640, 480), holds(s)) {
                out.push((s, a.alert.lifecycle, a.alert.id, a.alert.incident));
            }
        }
        out
    }

    #[test]
    fn a_long_incident_is_one_start_updates_and_one_end() {
        let mut inc = incidents();
        // A fall held from 10 s to 200 s.
        let out = run(&mut inc, 260, |s| {
            if (10..=200).contains(&s) {
                vec![finding(AlertKind::Fall, None, &[1])]
            } else {
                vec![]
            }
        });
        let phases: Vec<(i64, Lifecycle)> = out.iter().map(|o| (o.0, o.1)).collect();
        assert_eq!(
            phases,
            vec![
                (10, Lifecycle::New),
                (70, Lifecycle::Update),
                (130, Lifecycle::Update),
                (190, Lifecycle::Update),
                (205, Lifecycle::End)
            ]
        );
        let start = &out[0];
        assert!(
            out.iter().all(|o| o.3 == start.2),
            "one incident id, the new alert's: {out:?}"
        );
        let ids: std::collections::HashSet<&String> = out.iter().map(|o| &o.2).collect();
        assert_eq!(ids.len(), out.len(), "every alert its own id: {out:?}");
    }

    #[test]
    fn start_alert_carries_severity_zone_message_and_track_boxes() {
        let mut inc = incidents();
        let a = inc.step(
            UnixMillis(5000),
            (640, 480),
            vec![finding(AlertKind::PersonInZone, Some("pond"), &[3, 4])],
        );
        assert_eq!(a.len(), 1);
        let alert = &a[0].alert;
        assert_eq!(alert.severity, Severity::Critical);
        assert_eq!(alert.zone.as_deref(), Some("pond"));
        assert_eq!(alert.message.as_deref(), Some("person_in_zone now"));
        assert_eq!(
            alert.objects.iter().map(|b| b.track_id).collect::<Vec<_>>(),
            vec![Some(3), Some(4)]
        );
        assert_eq!((alert.frame.width, alert.frame.height), (640, 480));
        // Track box (10, 10)-(50, 90) in a 640x480 picture, normalised.
        assert_eq!(
            alert.objects[0].bbox,
            [10.0 / 640.0, 10.0 / 480.0, 50.0 / 640.0, 90.0 / 480.0]
        );
        assert_eq!(a[0].tracks.len(), 2);
    }

    #[test]
    fn a_short_gap_does_not_end_the_incident_and_a_long_one_does() {
        let mut inc = incidents();
        // Held 0-10 s, gap of 4 s (< end_after 5 s), held 15-20, then gone.
        let out = run(&mut inc, 40, |s| {
            if s <= 10 || (15..=20).contains(&s) {
                vec![finding(AlertKind::Fall, None, &[1])]
            } else {
                vec![]
            }
        });
        let phases: Vec<(i64, Lifecycle)> = out.iter().map(|o| (o.0, o.1)).collect();
        assert_eq!(phases, vec![(0, Lifecycle::New), (25, Lifecycle::End)]);
    }

    #[test]
    fn cooldown_after_an_end_then_a_new_incident() {
        let mut inc = incidents();
        // Held 0-2 s (ends at 7 s), again from 20 s (within the 30 s cooldown: nothing) and
        // still at 37 s (cooldown over: a new incident).
        let out = run(&mut inc, 40, |s| {
            if s <= 2 || s >= 20 {
                vec![finding(AlertKind::Fall, None, &[1])]
            } else {
                vec![]
            }
        });
        let phases: Vec<(i64, Lifecycle)> = out.iter().map(|o| (o.0, o.1)).collect();
        assert_eq!(
            phases,
            vec![
                (0, Lifecycle::New),
                (7, Lifecycle::End),
                (37, Lifecycle::New)
            ]
        );
        // Just under the cooldown: 36 s - 7 s = 29 s < 30 s.
        assert_ne!(out[2].2, out[0].2);
    }

    #[test]
    fn kinds_and_zones_are_separate_incidents_and_same_key_findings_merge() {
        let mut inc = incidents();
        let a = inc.step(
            UnixMillis(0),
            (640, 480),
            vec![
                finding(AlertKind::PersonInZone, Some("pond"), &[1]),
                finding(AlertKind::PersonInZone, Some("river"), &[2]),
                finding(AlertKind::Fall, None, &[3]),
                finding(AlertKind::Fall, None, &[4]),
            ],
        );
        assert_eq!(a.len(), 3);
        let fall = a.iter().find(|x| x.alert.kind == AlertKind::Fall).unwrap();
        assert_eq!(fall.alert.objects.len(), 2);
    }

    #[test]
    fn time_going_back_starts_over_without_panicking() {
        let mut inc = incidents();
        inc.step(
            UnixMillis(50_000),
            (1, 1),
            vec![finding(AlertKind::Fall, None, &[1])],
        );
        let a = inc.step(
            UnixMillis(1_000),
            (1, 1),
            vec![finding(AlertKind::Fall, None, &[1])],
        );
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].alert.lifecycle, Lifecycle::New);
    }

    /// Saves `inc` as JSON and restores it into a fresh camera (a restart).
    fn restarted(inc: &Incidents) -> Incidents {
        let json = serde_json::to_string(&inc.state()).expect("serializes");
        let mut fresh = incidents();
        fresh.restore(serde_json::from_str(&json).expect("parses"));
        fresh
    }

    #[test]
    fn a_restored_incident_continues_with_update_and_end_never_a_second_new() {
        let mut inc = incidents();
        let fall = || vec![finding(AlertKind::Fall, None, &[1])];
        let first = inc.step(UnixMillis(10_000), (640, 480), fall());
        assert_eq!(first[0].alert.lifecycle, Lifecycle::New);
        let id = first[0].alert.id.clone();
        inc.step(UnixMillis(12_000), (640, 480), fall());

        // Down 20 s (the process restarted), then the rule reports the fall again.
        let mut inc = restarted(&inc);
        assert!(inc.any_open());
        let mut out = Vec::new();
        for s in 32..=100 {
            let f = if s <= 80 { fall() } else { vec![] };
            out.extend(inc.step(UnixMillis(s * 1000), (640, 480), f));
        }
        let phases: Vec<(Lifecycle, &str)> = out
            .iter()
            .map(|a| (a.alert.lifecycle, a.alert.incident.as_str()))
            .collect();
        assert_eq!(
            phases,
            vec![
                (Lifecycle::Update, id.as_str()),
                (Lifecycle::End, id.as_str())
            ]
        );
    }

    #[test]
    fn a_restored_incident_the_rule_no_longer_reports_ends_after_end_after_ms() {
        let mut inc = incidents();
        inc.step(
            UnixMillis(10_000),
            (640, 480),
            vec![finding(AlertKind::Fall, None, &[1])],
        );
        let mut inc = restarted(&inc);
        // Back 60 s later: not ended at once (nobody watched), but 5 s after.
        assert!(inc.step(UnixMillis(70_000), (640, 480), vec![]).is_empty());
        assert!(inc.step(UnixMillis(74_000), (640, 480), vec![]).is_empty());
        let end = inc.step(UnixMillis(75_000), (640, 480), vec![]);
        assert_eq!(end.len(), 1);
        assert_eq!(end[0].alert.lifecycle, Lifecycle::End);
    }

    #[test]
    fn a_restored_cooldown_still_holds() {
        let mut inc = incidents();
        let fall = || vec![finding(AlertKind::Fall, None, &[1])];
        inc.step(UnixMillis(0), (1, 1), fall());
        let end = inc.end_all(UnixMillis(1_000), (1, 1));
        assert_eq!(end.len(), 1);
        let mut inc = restarted(&inc);
        assert!(inc.step(UnixMillis(20_000), (1, 1), fall()).is_empty());
        assert_eq!(
            inc.step(UnixMillis(31_000), (1, 1), fall())[0]
                .alert
                .lifecycle,
            Lifecycle::New
        );
    }

    #[test]
    fn a_stopped_camera_ends_its_open_incidents() {
        let mut inc = incidents();
        let a = inc.step(
            UnixMillis(0),
            (640, 480),
            vec![
                finding(AlertKind::Fall, None, &[1]),
                finding(AlertKind::PersonInZone, Some("pond"), &[2]),
            ],
        );
        let ends = inc.end_all(UnixMillis(3_000), (640, 480));
        assert!(!inc.any_open());
        let mut started: Vec<&str> = a.iter().map(|x| x.alert.id.as_str()).collect();
        let mut ended: Vec<&str> = ends.iter().map(|x| x.alert.incident.as_str()).collect();
        started.sort();
        ended.sort();
        assert_eq!(started, ended);
        assert!(ends.iter().all(|x| {
            x.alert.lifecycle == Lifecycle::End
                && x.alert
                    .message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("camera stopped"))
        }));
    }
}
