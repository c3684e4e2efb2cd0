//! The zone rules of one camera: a person at the water (`person_in_zone`, seconds), a person
//! hanging about (`loitering`, minutes), a vehicle where none belongs (`vehicle_in_zone`), and
//! nobody at an elder's door for hours (`inactivity`). Pure: tracks and their media time in,
//! [`Finding`]s out; no I/O, no clock reads.
//!
//! Every rule reports its finding on every evaluation while its condition holds and stops when it
//! no longer does; [`crate::incident::Incidents`] turns that into start / update / end alerts with
//! a grace period and cooldown. Nothing here is one-shot or rate-limited.
//!
//! Common ground:
//! - Only tracks that are [`TrackState::Confirmed`] or [`TrackState::Lost`] count. A tentative
//!   track may be one frame's false detection: it never counts, not even as "someone was seen"
//!   for inactivity, and its time as tentative is not part of any dwell.
//! - Person rules look at tracks whose class is one of the person classes, anchored at
//!   [`Track::foot_point`] (where a standing person touches the ground, the point a zone drawn on
//!   the ground is about). The vehicle rule looks at the vehicle classes, anchored at the centre
//!   of the box: on a top-down or oblique camera a car's bottom edge lies well in front of where
//!   the car stands, its centre is much closer.
//! - A track's dwell starts at the first evaluation that sees it (matched in that frame) with its
//!   anchor inside the zone, and ends at the first evaluation that sees it outside, or when the
//!   tracker drops it. A [`TrackState::Lost`] track (not matched for a moment) keeps its dwell and
//!   still counts as inside, so a child hidden by reeds for a second at the water does not reset
//!   the timer; a lost track that was not inside does not start a dwell.
//! - If time goes backwards (a replay restarted) all state is forgotten, as after a restart: no
//!   panic, no negative durations.

use std::collections::HashMap;
use std::sync::Arc;

use sharpeyes_core::{AlertKind, UnixMillis};

use crate::track::{Track, TrackState};
use crate::zone::{DailyWindow, Finding, Polygon};

/// One zone of a camera and the rules that watch it.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneSpec {
    /// The zone's name (camera config `[[zones]] name`); goes into [`Finding::zone`] and the
    /// message.
    pub name: String,
    pub polygon: Polygon,
    /// A person inside for at least `min_ms` (seconds, usually): a riverbank, a pond's edge.
    /// [`AlertKind::PersonInZone`]; `None`: off.
    pub person_in_zone: Option<DwellSpec>,
    /// A person inside for at least `min_ms` (minutes, usually). [`AlertKind::Loitering`];
    /// `None`: off.
    pub loitering: Option<DwellSpec>,
    /// A vehicle inside for at least `min_ms` (no-vehicle or no-parking zone).
    /// [`AlertKind::VehicleInZone`]; `None`: off.
    pub vehicle_in_zone: Option<DwellSpec>,
    /// Nobody seen inside for `absent_ms` within a daily window (an elder's doorway).
    /// [`AlertKind::Inactivity`]; `None`: off.
    pub inactivity: Option<InactivitySpec>,
}

/// "Inside for at least `min_ms`", for the dwell rules (person in zone, loitering, vehicle in
/// zone).
///
/// The finding holds at an evaluation when the rule's window is open and at least one track has
/// been inside for `min_ms` or more, counting only time since the window opened: with
/// `hours = 06:00-20:00` and `min_ms` = 10 s, someone inside since 05:55 is reported at 06:00:10,
/// not at 06:00 (time before the window does not count, as for inactivity). It lists every track
/// inside that has qualified, not those still inside for less.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DwellSpec {
    /// Milliseconds of media time inside before a track counts; 0 counts at once. Negative acts
    /// like 0.
    pub min_ms: i64,
    /// The rule is on only within this daily window of local time (the camera's UTC offset);
    /// `None` or a whole-day window: always, never restarting at midnight.
    pub hours: Option<DailyWindow>,
}

/// "Nobody seen inside for `absent_ms` within `window`".
///
/// The finding holds at an evaluation when the window is open, no person track is seen (matched
/// in that frame) with its foot point inside, and the latest of these was at least `absent_ms`
/// ago: the last evaluation that saw a person inside, or the window's opening if later (nobody is
/// expected before the window: with 07:00-19:00 and 2 h, nobody seen since the evening before is
/// reported at 09:00), or the first evaluation of this [`ZoneRules`] if later still (nothing is
/// known from before: after a restart the count starts over, which delays an alert rather than
/// raising a false one). A whole-day window never restarts the count at midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InactivitySpec {
    /// Milliseconds of media time without a person seen inside.
    pub absent_ms: i64,
    /// Daily window of local time (the camera's UTC offset) in which the rule is on;
    /// [`DailyWindow::ALL_DAY`]: always.
    pub window: DailyWindow,
}

/// What [`ZoneRules`] keeps across a restart (see [`ZoneRules::state`]); times in ms.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ZoneRulesState {
    /// Since when the camera has been watched (inactivity counts from here when nobody was
    /// seen).
    pub watching_since: Option<UnixMillis>,
    /// Zone name → the latest time a person was seen inside.
    pub last_person: std::collections::BTreeMap<String, UnixMillis>,
}

/// The running state of one zone.
#[derive(Clone, Debug)]
struct ZoneState {
    spec: ZoneSpec,
    /// Person tracks inside (foot point): track id → time of the evaluation that first saw it
    /// inside (its dwell start).
    persons: HashMap<u64, UnixMillis>,
    /// Vehicle tracks inside (box centre), as `persons`.
    vehicles: HashMap<u64, UnixMillis>,
    /// The latest evaluation that saw a person's foot point inside.
    last_person: Option<UnixMillis>,
}

/// The zone rules of one camera. Feed it the tracker's tracks after every update, also for frames
/// skipped for lack of motion (with the tracker's tracks after an update without detections), so
/// inactivity advances; it copes with evaluations hours apart.
#[derive(Clone, Debug)]
pub struct ZoneRules {
    zones: Vec<ZoneState>,
    utc_offset_min: i32,
    persons: Vec<Arc<str>>,
    vehicles: Vec<Arc<str>>,
    /// The first evaluation since creation or since time went backwards: inactivity counts from
    /// here when nobody has been seen yet.
    watching_since: Option<UnixMillis>,
    /// The latest evaluation, to notice time going backwards.
    last_eval: Option<UnixMillis>,
}

impl ZoneRules {
    /// `utc_offset_min`: the camera's local time offset for the daily windows (+480 for UTC+8).
    /// `person_classes` / `vehicle_classes`: detector class names that count as a person / a
    /// vehicle (the model manifest's).
    pub fn new(
        zones: Vec<ZoneSpec>,
        utc_offset_min: i32,
        person_classes: Vec<Arc<str>>,
        vehicle_classes: Vec<Arc<str>>,
    ) -> Self {
        Self {
            zones: zones
                .into_iter()
                .map(|spec| ZoneState {
                    spec,
                    persons: HashMap::new(),
                    vehicles: HashMap::new(),
                    last_person: None,
                })
                .collect(),
            utc_offset_min,
            persons: person_classes,
            vehicles: vehicle_classes,
            watching_since: None,
            last_eval: None,
        }
    }

    /// What to save so inactivity ("not seen for hours") survives a restart: when a person was
    /// last seen in each zone and since when the camera has been watched. Dwell times are not
    /// kept (track ids do not survive a restart).
    pub fn state(&self) -> ZoneRulesState {
        ZoneRulesState {
            watching_since: self.watching_since,
            last_person: self
                .zones
                .iter()
                .filter_map(|z| z.last_person.map(|t| (z.spec.name.clone(), t)))
                .collect(),
        }
    }

    /// Takes up a saved state: zones are matched by name (a zone renamed or removed since is
    /// ignored, a new one starts with nothing known).
    pub fn restore(&mut self, state: &ZoneRulesState) {
        if state.watching_since.is_some() {
            self.watching_since = state.watching_since;
        }
        for zone in &mut self.zones {
            if let Some(t) = state.last_person.get(&zone.spec.name) {
                zone.last_person = Some(*t);
            }
        }
        self.last_eval = self
            .zones
            .iter()
            .filter_map(|z| z.last_person)
            .chain(self.watching_since)
            .max();
    }

    /// The zones, in the order given to [`ZoneRules::new`].
    pub fn zones(&self) -> impl Iterator<Item = &ZoneSpec> {
        self.zones.iter().map(|z| &z.spec)
    }

    /// One camera's tracks after the tracker's update at media time `now`; `frame_size`: the
    /// source picture's (width, height) in pixels, which the tracks' boxes refer to.
    ///
    /// Returns what holds now: per zone, at most one finding per kind, in the order person in
    /// zone, loitering, vehicle in zone, inactivity, zones in the order given; each finding's
    /// tracks in the order of `tracks`.
    pub fn evaluate(
        &mut self,
        now: UnixMillis,
        frame_size: (u32, u32),
        tracks: &[Track],
    ) -> Vec<Finding> {
        if self.last_eval.is_some_and(|last| now < last) {
            // A replay restarted or a clock was set back: what we know is about another timeline.
            self.watching_since = None;
            for zone in &mut self.zones {
                zone.persons.clear();
                zone.vehicles.clear();
                zone.last_person = None;
            }
        }
        self.last_eval = Some(now);
        let watching_since = *self.watching_since.get_or_insert(now);
        let offset = self.utc_offset_min;
        let of = |classes: &[Arc<str>], t: &Track| {
            t.state != TrackState::Tentative && classes.iter().any(|c| **c == *t.class_name)
        };
        let persons: Vec<&Track> = tracks.iter().filter(|t| of(&self.persons, t)).collect();
        let vehicles: Vec<&Track> = tracks.iter().filter(|t| of(&self.vehicles, t)).collect();

        let mut findings = Vec::new();
        for zone in &mut self.zones {
            let polygon = &zone.spec.polygon;
            let name = zone.spec.name.as_str();
            let people = inside(&mut zone.persons, &persons, now, |t| {
                polygon.contains_px(t.foot_point(), frame_size)
            });
            let seen = people.iter().any(|(t, _)| t.is_visible(now));
            if seen {
                zone.last_person = Some(now);
            }

            let dwell = |spec: &Option<DwellSpec>, inside: &[(&Track, UnixMillis)], what: What| {
                spec.as_ref()
                    .and_then(|s| dwell_finding(s, inside, now, offset, name, what))
            };
            findings.extend(dwell(&zone.spec.person_in_zone, &people, What::PERSON));
            findings.extend(dwell(&zone.spec.loitering, &people, What::LOITERING));
            if zone.spec.vehicle_in_zone.is_some() {
                let cars = inside(&mut zone.vehicles, &vehicles, now, |t| {
                    polygon.contains_px(centre(t), frame_size)
                });
                findings.extend(dwell(&zone.spec.vehicle_in_zone, &cars, What::VEHICLE));
            }

            if let Some(spec) = &zone.spec.inactivity
                && !seen
                && let Some(opened) = opened_at(&spec.window, now, offset)
            {
                let from = zone.last_person.unwrap_or(watching_since).max(opened);
                let absent_ms = now.0 - from.0;
                if absent_ms >= spec.absent_ms {
                    findings.push(Finding {
                        kind: AlertKind::Inactivity,
                        zone: Some(name.to_owned()),
                        tracks: Vec::new(),
                        message: format!("no one seen in zone {name} for {}", duration(absent_ms)),
                    });
                }
            }
        }
        findings
    }
}

/// Which dwell rule, for the finding's kind and message.
#[derive(Clone, Copy)]
struct What {
    kind: AlertKind,
    noun: &'static str,
    /// Between the noun and "in zone".
    doing: &'static str,
}

impl What {
    const PERSON: What = What {
        kind: AlertKind::PersonInZone,
        noun: "person",
        doing: "",
    };
    const LOITERING: What = What {
        kind: AlertKind::Loitering,
        noun: "person",
        doing: " loitering",
    };
    const VEHICLE: What = What {
        kind: AlertKind::VehicleInZone,
        noun: "vehicle",
        doing: "",
    };
}

/// The tracks of `candidates` (non-tentative, of the rule's classes) inside the zone at `now`,
/// with their dwell starts, in the order of `candidates`; updates `dwell` to hold exactly those.
/// A track matched at `now` is inside when `is_inside` says so (starting its dwell if new); one
/// not matched (lost) is inside when it already was.
fn inside<'a>(
    dwell: &mut HashMap<u64, UnixMillis>,
    candidates: &[&'a Track],
    now: UnixMillis,
    is_inside: impl Fn(&Track) -> bool,
) -> Vec<(&'a Track, UnixMillis)> {
    let found: Vec<(&Track, UnixMillis)> = candidates
        .iter()
        .filter_map(|&t| {
            let since = dwell.get(&t.id).copied();
            if t.is_visible(now) {
                is_inside(t).then(|| (t, since.unwrap_or(now)))
            } else {
                since.map(|s| (t, s))
            }
        })
        .collect();
    // Rebuilt each time: tracks that left, or that the tracker dropped, are forgotten.
    *dwell = found.iter().map(|(t, since)| (t.id, *since)).collect();
    found
}

/// The dwell rule's finding at `now`, if its window is open and a track of `inside` has been in
/// for `spec.min_ms`, counting from the window's opening at the earliest.
fn dwell_finding(
    spec: &DwellSpec,
    inside: &[(&Track, UnixMillis)],
    now: UnixMillis,
    utc_offset_min: i32,
    zone: &str,
    what: What,
) -> Option<Finding> {
    let opened = match &spec.hours {
        Some(w) => opened_at(w, now, utc_offset_min)?,
        None => UnixMillis(i64::MIN),
    };
    let qualified: Vec<(&Track, i64)> = inside
        .iter()
        .map(|&(t, since)| (t, now.0 - since.max(opened).0))
        .filter(|&(_, dwell_ms)| dwell_ms >= spec.min_ms.max(0))
        .collect();
    let longest_ms = qualified.iter().map(|&(_, ms)| ms).max()?;
    let (noun, doing, n) = (what.noun, what.doing, qualified.len());
    let message = if n == 1 {
        format!("{noun}{doing} in zone {zone} for {}", duration(longest_ms))
    } else {
        format!(
            "{n} {noun}s{doing} in zone {zone}, the longest for {}",
            duration(longest_ms)
        )
    };
    Some(Finding {
        kind: what.kind,
        zone: Some(zone.to_owned()),
        tracks: qualified.into_iter().map(|(t, _)| t.clone()).collect(),
        message,
    })
}

/// When the current opening of `window` began, if it is open at `now`. A whole-day window is
/// always open and has no opening (so nothing restarts at midnight): `UnixMillis(i64::MIN)`.
fn opened_at(window: &DailyWindow, now: UnixMillis, utc_offset_min: i32) -> Option<UnixMillis> {
    if window.start_min == window.end_min {
        return Some(UnixMillis(i64::MIN));
    }
    window
        .contains(now, utc_offset_min)
        .then(|| window.last_start(now, utc_offset_min))
}

/// Centre of the track's box, in source pixels: the vehicle anchor.
fn centre(t: &Track) -> (f32, f32) {
    ((t.bbox.x1 + t.bbox.x2) / 2.0, (t.bbox.y1 + t.bbox.y2) / 2.0)
}

/// A duration for people: "12 s" under 2 minutes, "6 min" under 2 hours, else "6.0 h".
fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 120_000 {
        format!("{} s", ms / 1000)
    } else if ms < 7_200_000 {
        format!("{} min", ms / 60_000)
    } else {
        format!("{:.1} h", ms as f64 / 3_600_000.0)
    }
}

#[cfg(test)]
mod tests {
    use sharpeyes_core::BBox;

    use super::*;

    const PERSON: &str = "person";
    const CAR: &str = "car";
    const FRAME: (u32, u32) = (1000, 1000);
    /// Local time offset of the window tests: UTC+8.
    const UTC8: i32 = 480;
    /// 2026-11-23T00:00Z, 08:00 local at UTC+8.
    const T0: i64 = 1_795_392_000_000;
    const S: i64 = 1000;
    const MIN: i64 = 60 * S;
    const H: i64 = 60 * MIN;
    /// Pixels inside and outside [`square`] in a [`FRAME`] picture.
    const IN: (f32, f32) = (500.0, 500.0);
    const OUT: (f32, f32) = (100.0, 100.0);

    fn at(ms: i64) -> UnixMillis {
        UnixMillis(T0 + ms)
    }

    /// Local time `h:m:s` at UTC+8, `day` days after 2026-11-23.
    fn local(day: i64, h: i64, m: i64, s: i64) -> UnixMillis {
        UnixMillis(T0 - 8 * H + day * 24 * H + h * H + m * MIN + s * S)
    }

    /// The zone (0.2, 0.2)-(0.8, 0.8).
    fn square() -> Polygon {
        Polygon::new(vec![(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8)])
    }

    fn zone(name: &str) -> ZoneSpec {
        ZoneSpec {
            name: name.to_owned(),
            polygon: square(),
            person_in_zone: None,
            loitering: None,
            vehicle_in_zone: None,
            inactivity: None,
        }
    }

    fn dwell(min_ms: i64) -> Option<DwellSpec> {
        Some(DwellSpec {
            min_ms,
            hours: None,
        })
    }

    fn window(text: &str) -> DailyWindow {
        DailyWindow::parse(text).expect("valid window")
    }

    fn rules(zones: Vec<ZoneSpec>) -> ZoneRules {
        ZoneRules::new(
            zones,
            UTC8,
            vec![PERSON.into()],
            vec![CAR.into(), "truck".into()],
        )
    }

    /// A confirmed track of `class` matched at `seen`, its box `w` x `h` with bottom centre at
    /// `foot`.
    fn track(id: u64, class: &str, foot: (f32, f32), w: f32, h: f32, seen: UnixMillis) -> Track {
        let bbox = BBox {
            x1: foot.0 - w / 2.0,
            y1: foot.1 - h,
            x2: foot.0 + w / 2.0,
            y2: foot.1,
        };
        crate::track::confirmed_track(id, class, bbox, seen)
    }

    /// A person standing at `foot`, matched at `seen`.
    fn person(id: u64, foot: (f32, f32), seen: UnixMillis) -> Track {
        track(id, PERSON, foot, 40.0, 120.0, seen)
    }

    /// A car whose box centre is `centre`, matched at `seen`.
    fn car(id: u64, centre: (f32, f32), seen: UnixMillis) -> Track {
        track(id, CAR, (centre.0, centre.1 + 50.0), 160.0, 100.0, seen)
    }

    /// The same track, not matched since `last_seen`.
    fn lost(mut t: Track, last_seen: UnixMillis) -> Track {
        t.state = TrackState::Lost;
        t.last_seen = last_seen;
        t
    }

    fn tentative(mut t: Track) -> Track {
        t.state = TrackState::Tentative;
        t
    }

    fn of_kind(findings: &[Finding], kind: AlertKind) -> Vec<&Finding> {
        findings.iter().filter(|f| f.kind == kind).collect()
    }

    /// Ids of the tracks of the only finding of `kind`, or `None` if there is none.
    fn ids(findings: &[Finding], kind: AlertKind) -> Option<Vec<u64>> {
        let f = of_kind(findings, kind);
        assert!(f.len() <= 1, "one finding per zone and kind: {findings:?}");
        f.first().map(|f| f.tracks.iter().map(|t| t.id).collect())
    }

    #[test]
    fn person_in_zone_needs_min_ms_inside() {
        let mut r = rules(vec![ZoneSpec {
            person_in_zone: dwell(10 * S),
            ..zone("riverbank")
        }]);
        for t in (0..10 * S).step_by(200) {
            assert!(
                r.evaluate(at(t), FRAME, &[person(1, IN, at(t))]).is_empty(),
                "at {t}"
            );
        }
        let just_under = r.evaluate(at(10 * S - 1), FRAME, &[person(1, IN, at(10 * S - 1))]);
        assert!(just_under.is_empty(), "{just_under:?}");
        let f = r.evaluate(at(10 * S), FRAME, &[person(1, IN, at(10 * S))]);
        assert_eq!(
            f,
            vec![Finding {
                kind: AlertKind::PersonInZone,
                zone: Some("riverbank".into()),
                tracks: vec![person(1, IN, at(10 * S))],
                message: "person in zone riverbank for 10 s".into(),
            }]
        );
        // Reported on every evaluation while it holds, not once.
        for t in [10 * S + 1, 12 * S, 12 * S + 200] {
            let f = r.evaluate(at(t), FRAME, &[person(1, IN, at(t))]);
            assert_eq!(ids(&f, AlertKind::PersonInZone), Some(vec![1]), "at {t}");
        }
        let f = r.evaluate(at(12 * S + 400), FRAME, &[person(1, IN, at(12 * S + 400))]);
        assert_eq!(f[0].message, "person in zone riverbank for 12 s");
    }

    #[test]
    fn leaving_the_zone_resets_and_reentering_starts_over() {
        let mut r = rules(vec![ZoneSpec {
            person_in_zone: dwell(10 * S),
            ..zone("riverbank")
        }]);
        let step =
            |r: &mut ZoneRules, t: i64, foot| r.evaluate(at(t), FRAME, &[person(1, foot, at(t))]);
        assert!(step(&mut r, 0, IN).is_empty());
        assert!(step(&mut r, 9 * S, IN).is_empty());
        // Out for one frame, back in: the dwell starts over at 9.2 s.
        assert!(step(&mut r, 9 * S + 100, OUT).is_empty());
        assert!(step(&mut r, 9 * S + 200, IN).is_empty());
        assert!(
            step(&mut r, 10 * S, IN).is_empty(),
            "counted from the first entry"
        );
        assert!(step(&mut r, 19 * S + 199, IN).is_empty());
        assert_eq!(
            ids(&step(&mut r, 19 * S + 200, IN), AlertKind::PersonInZone),
            Some(vec![1])
        );
        // Leaving ends the finding at once.
        assert!(step(&mut r, 20 * S, OUT).is_empty());
        assert!(step(&mut r, 20 * S + 200, IN).is_empty());
        assert!(step(&mut r, 30 * S + 199, IN).is_empty());
        assert!(!step(&mut r, 30 * S + 200, IN).is_empty());
        // The tracker dropping the track forgets it; the same id back later starts over.
        assert!(r.evaluate(at(31 * S), FRAME, &[]).is_empty());
        assert!(step(&mut r, 32 * S, IN).is_empty());
        assert!(step(&mut r, 41 * S, IN).is_empty());
        assert!(!step(&mut r, 42 * S, IN).is_empty());
    }

    #[test]
    fn a_lost_track_keeps_its_dwell_and_counts_as_inside() {
        let mut r = rules(vec![ZoneSpec {
            person_in_zone: dwell(5 * S),
            ..zone("pond")
        }]);
        for t in [0, 2 * S, 4 * S] {
            assert!(r.evaluate(at(t), FRAME, &[person(1, IN, at(t))]).is_empty());
        }
        // Hidden by reeds from 4.2 s: the timer keeps running and the track stays in the finding.
        let hidden = lost(person(1, IN, at(4 * S)), at(4 * S));
        assert!(
            r.evaluate(at(4 * S + 200), FRAME, std::slice::from_ref(&hidden))
                .is_empty()
        );
        assert!(
            r.evaluate(at(5 * S - 1), FRAME, std::slice::from_ref(&hidden))
                .is_empty()
        );
        let f = r.evaluate(at(5 * S), FRAME, std::slice::from_ref(&hidden));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].tracks, vec![hidden]);
        // Seen again: still the same dwell.
        let f = r.evaluate(at(6 * S), FRAME, &[person(1, IN, at(6 * S))]);
        assert_eq!(f[0].message, "person in zone pond for 6 s");

        // A track lost before it was ever seen inside does not start a dwell.
        let mut r = rules(vec![ZoneSpec {
            person_in_zone: dwell(0),
            ..zone("pond")
        }]);
        let ghost = lost(person(7, IN, at(0)), at(-200));
        for t in [0, 5 * S, 60 * S] {
            assert!(
                r.evaluate(at(t), FRAME, std::slice::from_ref(&ghost))
                    .is_empty()
            );
        }
    }

    #[test]
    fn a_tentative_track_never_counts() {
        let mut r = rules(vec![ZoneSpec {
            person_in_zone: dwell(10 * S),
            inactivity: Some(InactivitySpec {
                absent_ms: H,
                window: DailyWindow::ALL_DAY,
            }),
            ..zone("riverbank")
        }]);
        assert!(r.evaluate(at(0), FRAME, &[]).is_empty());
        // A tentative track inside for an hour: no dwell, and it is nobody for inactivity.
        for t in [10 * S, 30 * MIN, H - 1] {
            assert!(
                r.evaluate(at(t), FRAME, &[tentative(person(1, IN, at(t)))])
                    .is_empty()
            );
        }
        let f = r.evaluate(at(H), FRAME, &[tentative(person(1, IN, at(H)))]);
        assert_eq!(ids(&f, AlertKind::PersonInZone), None);
        assert_eq!(ids(&f, AlertKind::Inactivity), Some(vec![]));
        // Confirmed at last: the dwell starts now, not at its first sighting.
        let f = r.evaluate(at(H + 200), FRAME, &[person(1, IN, at(H + 200))]);
        assert!(f.is_empty(), "{f:?}");
        let t = H + 200 + 10 * S - 1;
        assert!(r.evaluate(at(t), FRAME, &[person(1, IN, at(t))]).is_empty());
        let t = H + 200 + 10 * S;
        let f = r.evaluate(at(t), FRAME, &[person(1, IN, at(t))]);
        assert_eq!(ids(&f, AlertKind::PersonInZone), Some(vec![1]));
    }

    #[test]
    fn loitering_takes_minutes() {
        let mut r = rules(vec![ZoneSpec {
            loitering: dwell(6 * MIN),
            ..zone("school gate")
        }]);
        let step =
            |r: &mut ZoneRules, t: i64, foot| r.evaluate(at(t), FRAME, &[person(3, foot, at(t))]);
        assert!(step(&mut r, 0, IN).is_empty());
        assert!(step(&mut r, 3 * MIN, IN).is_empty());
        assert!(step(&mut r, 6 * MIN - 1, IN).is_empty());
        let f = step(&mut r, 6 * MIN, IN);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, AlertKind::Loitering);
        assert_eq!(f[0].zone.as_deref(), Some("school gate"));
        assert_eq!(
            f[0].message,
            "person loitering in zone school gate for 6 min"
        );
        assert!(step(&mut r, 6 * MIN + 1, OUT).is_empty());
        assert!(step(&mut r, 7 * MIN, IN).is_empty());
        assert!(step(&mut r, 13 * MIN - 1, IN).is_empty());
        assert!(!step(&mut r, 13 * MIN, IN).is_empty());
    }

    #[test]
    fn person_in_zone_and_loitering_run_side_by_side() {
        let mut r = rules(vec![ZoneSpec {
            person_in_zone: dwell(10 * S),
            loitering: dwell(5 * MIN),
            ..zone("riverbank")
        }]);
        r.evaluate(at(0), FRAME, &[person(1, IN, at(0))]);
        let f = r.evaluate(at(MIN), FRAME, &[person(1, IN, at(MIN))]);
        assert_eq!(ids(&f, AlertKind::PersonInZone), Some(vec![1]));
        assert_eq!(ids(&f, AlertKind::Loitering), None);
        let f = r.evaluate(at(5 * MIN), FRAME, &[person(1, IN, at(5 * MIN))]);
        let kinds: Vec<AlertKind> = f.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, vec![AlertKind::PersonInZone, AlertKind::Loitering]);
    }

    #[test]
    fn one_finding_per_zone_and_kind_lists_the_tracks_that_qualified() {
        let left = Polygon::new(vec![(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]);
        let right = Polygon::new(vec![(0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)]);
        let mut r = rules(vec![
            ZoneSpec {
                polygon: left,
                person_in_zone: dwell(10 * S),
                ..zone("pond")
            },
            ZoneSpec {
                polygon: right,
                person_in_zone: dwell(10 * S),
                ..zone("river")
            },
        ]);
        let (a, b, c) = ((200.0, 500.0), (300.0, 500.0), (800.0, 500.0));
        let all = |t: i64, b_in: bool| {
            let mut v = vec![person(1, a, at(t)), person(3, c, at(t))];
            if b_in {
                v.push(person(2, b, at(t)));
            }
            v
        };
        r.evaluate(at(0), FRAME, &all(0, false));
        r.evaluate(at(8 * S), FRAME, &all(8 * S, true));
        let f = r.evaluate(at(12 * S), FRAME, &all(12 * S, true));
        // Person 2 is in the pond for only 4 s: not listed yet.
        let zones: Vec<(Option<&str>, Vec<u64>)> = f
            .iter()
            .map(|f| (f.zone.as_deref(), f.tracks.iter().map(|t| t.id).collect()))
            .collect();
        assert_eq!(
            zones,
            vec![(Some("pond"), vec![1]), (Some("river"), vec![3])]
        );
        let f = r.evaluate(at(18 * S), FRAME, &all(18 * S, true));
        assert_eq!(
            f[0].tracks.iter().map(|t| t.id).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(f[0].message, "2 persons in zone pond, the longest for 18 s");
        assert_eq!(f[1].message, "person in zone river for 18 s");
    }

    #[test]
    fn vehicle_rule_ignores_persons_and_person_rules_ignore_vehicles() {
        let spec = ZoneSpec {
            person_in_zone: dwell(0),
            loitering: dwell(0),
            vehicle_in_zone: dwell(0),
            ..zone("lane")
        };
        let mut r = rules(vec![spec.clone()]);
        let f = r.evaluate(at(0), FRAME, &[car(1, IN, at(0))]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(ids(&f, AlertKind::VehicleInZone), Some(vec![1]));
        assert_eq!(f[0].message, "vehicle in zone lane for 0 s");

        let mut r = rules(vec![spec.clone()]);
        let f = r.evaluate(at(0), FRAME, &[person(2, IN, at(0))]);
        let kinds: Vec<AlertKind> = f.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, vec![AlertKind::PersonInZone, AlertKind::Loitering]);

        // Neither class: nothing. Another vehicle class counts.
        let mut r = rules(vec![spec]);
        let dog = track(3, "dog", IN, 40.0, 30.0, at(0));
        let truck = track(4, "truck", (500.0, 550.0), 200.0, 100.0, at(0));
        let f = r.evaluate(at(0), FRAME, &[dog, truck]);
        assert_eq!(f.len(), 1);
        assert_eq!(ids(&f, AlertKind::VehicleInZone), Some(vec![4]));
    }

    #[test]
    fn vehicle_in_zone_uses_the_box_centre_and_needs_min_ms() {
        let mut r = rules(vec![ZoneSpec {
            vehicle_in_zone: dwell(MIN),
            ..zone("fire lane")
        }]);
        // Centre above the zone, bottom edge inside it: not in (a foot point would say it is).
        let nose_in = car(1, (500.0, 170.0), at(0));
        assert!(square().contains_px(nose_in.foot_point(), FRAME));
        // Centre inside, bottom edge below the zone: in.
        let parked = |t| car(2, (500.0, 780.0), at(t));
        assert!(!square().contains_px(parked(0).foot_point(), FRAME));
        let step = |r: &mut ZoneRules, t: i64| {
            let mut nose = nose_in.clone();
            nose.last_seen = at(t);
            r.evaluate(at(t), FRAME, &[nose, parked(t)])
        };
        assert!(step(&mut r, 0).is_empty());
        assert!(step(&mut r, MIN - 1).is_empty());
        let f = step(&mut r, MIN);
        assert_eq!(ids(&f, AlertKind::VehicleInZone), Some(vec![2]));
        assert_eq!(f[0].message, "vehicle in zone fire lane for 60 s");
        let f = step(&mut r, 3 * MIN);
        assert_eq!(f[0].message, "vehicle in zone fire lane for 3 min");
        // Driven off (centre out), back in: starts over.
        let away = car(2, OUT, at(3 * MIN + 1));
        assert!(r.evaluate(at(3 * MIN + 1), FRAME, &[away]).is_empty());
        assert!(step(&mut r, 3 * MIN + 2).is_empty());
        assert!(step(&mut r, 4 * MIN + 1).is_empty());
        assert!(!step(&mut r, 4 * MIN + 2).is_empty());
    }

    #[test]
    fn dwell_rules_hold_only_inside_their_hours() {
        let mut r = rules(vec![ZoneSpec {
            person_in_zone: Some(DwellSpec {
                min_ms: 10 * S,
                hours: Some(window("06:00-20:00")),
            }),
            ..zone("riverbank")
        }]);
        let step = |r: &mut ZoneRules, t: UnixMillis| r.evaluate(t, FRAME, &[person(1, IN, t)]);
        // Inside since 19:59:40: reported until the window closes at 20:00.
        assert!(step(&mut r, local(0, 19, 59, 40)).is_empty());
        assert!(step(&mut r, local(0, 19, 59, 49)).is_empty());
        assert!(!step(&mut r, local(0, 19, 59, 50)).is_empty());
        assert!(!step(&mut r, local(0, 19, 59, 59)).is_empty());
        assert!(step(&mut r, local(0, 20, 0, 0)).is_empty());
        assert!(step(&mut r, local(0, 23, 0, 0)).is_empty());
        assert!(step(&mut r, local(1, 5, 59, 59)).is_empty());
        // Still there (same track) when the window opens: counted from 06:00, not from entry.
        assert!(step(&mut r, local(1, 6, 0, 0)).is_empty());
        assert!(step(&mut r, local(1, 6, 0, 9)).is_empty());
        let f = step(&mut r, local(1, 6, 0, 10));
        assert_eq!(f[0].message, "person in zone riverbank for 10 s");
    }

    #[test]
    fn dwell_hours_may_wrap_past_midnight() {
        let mut r = rules(vec![ZoneSpec {
            loitering: Some(DwellSpec {
                min_ms: 10 * MIN,
                hours: Some(window("22:00-06:00")),
            }),
            ..zone("shop front")
        }]);
        let step = |r: &mut ZoneRules, t: UnixMillis| r.evaluate(t, FRAME, &[person(1, IN, t)]);
        assert!(step(&mut r, local(0, 21, 30, 0)).is_empty());
        assert!(step(&mut r, local(0, 22, 9, 59)).is_empty());
        assert!(!step(&mut r, local(0, 22, 10, 0)).is_empty());
        // After midnight the window still opened at 22:00 the day before.
        let f = step(&mut r, local(1, 1, 0, 0));
        assert_eq!(
            f[0].message,
            "person loitering in zone shop front for 3.0 h"
        );
        assert!(!step(&mut r, local(1, 5, 59, 59)).is_empty());
        assert!(step(&mut r, local(1, 6, 0, 0)).is_empty());
        assert!(step(&mut r, local(1, 12, 0, 0)).is_empty());

        // Someone arriving after midnight counts from their arrival.
        let mut r = rules(vec![ZoneSpec {
            loitering: Some(DwellSpec {
                min_ms: 10 * MIN,
                hours: Some(window("22:00-06:00")),
            }),
            ..zone("shop front")
        }]);
        assert!(step(&mut r, local(1, 0, 30, 0)).is_empty());
        assert!(step(&mut r, local(1, 0, 39, 59)).is_empty());
        assert!(!step(&mut r, local(1, 0, 40, 0)).is_empty());
    }

    #[test]
    fn a_whole_day_window_does_not_restart_at_midnight() {
        let mut r = rules(vec![ZoneSpec {
            loitering: Some(DwellSpec {
                min_ms: H,
                hours: Some(DailyWindow::ALL_DAY),
            }),
            inactivity: Some(InactivitySpec {
                absent_ms: 6 * H,
                window: DailyWindow::ALL_DAY,
            }),
            ..zone("doorway")
        }]);
        let l = AlertKind::Loitering;
        let i = AlertKind::Inactivity;
        let f = r.evaluate(
            local(0, 23, 30, 0),
            FRAME,
            &[person(1, IN, local(0, 23, 30, 0))],
        );
        assert!(f.is_empty());
        let t = local(1, 0, 30, 0);
        assert_eq!(
            ids(&r.evaluate(t, FRAME, &[person(1, IN, t)]), l),
            Some(vec![1])
        );
        // Last seen 00:30: nobody for 6 h at 06:30, across no window opening.
        assert!(r.evaluate(local(1, 6, 29, 59), FRAME, &[]).is_empty());
        let f = r.evaluate(local(1, 6, 30, 0), FRAME, &[]);
        assert_eq!(ids(&f, i), Some(vec![]));
        assert_eq!(f[0].message, "no one seen in zone doorway for 6.0 h");
    }

    fn doorway(absent_ms: i64, w: &str) -> ZoneRules {
        rules(vec![ZoneSpec {
            inactivity: Some(InactivitySpec {
                absent_ms,
                window: window(w),
            }),
            ..zone("doorway")
        }])
    }

    #[test]
    fn inactivity_fires_after_absent_ms_and_clears_when_someone_is_seen() {
        let mut r = doorway(2 * H, "06:00-22:00");
        let inactive = |f: Vec<Finding>| {
            assert!(
                f.iter()
                    .all(|f| f.kind == AlertKind::Inactivity && f.tracks.is_empty())
            );
            assert!(f.len() <= 1);
            f.first().map(|f| f.message.clone())
        };
        assert_eq!(
            inactive(r.evaluate(
                local(0, 8, 0, 0),
                FRAME,
                &[person(1, IN, local(0, 8, 0, 0))]
            )),
            None
        );
        // Evaluated rarely and with no tracks (frames skipped for lack of motion).
        assert_eq!(inactive(r.evaluate(local(0, 9, 0, 0), FRAME, &[])), None);
        let just_under = UnixMillis(local(0, 10, 0, 0).0 - 1);
        assert_eq!(inactive(r.evaluate(just_under, FRAME, &[])), None);
        assert_eq!(
            inactive(r.evaluate(local(0, 10, 0, 0), FRAME, &[])).as_deref(),
            Some("no one seen in zone doorway for 2.0 h")
        );
        assert_eq!(
            inactive(r.evaluate(local(0, 10, 30, 0), FRAME, &[])).as_deref(),
            Some("no one seen in zone doorway for 2.5 h")
        );
        // Someone outside the zone, a tentative or lost track inside: still nobody seen there.
        let t = local(0, 10, 31, 0);
        let others = [
            person(2, OUT, t),
            tentative(person(3, IN, t)),
            lost(person(4, IN, t), local(0, 10, 30, 0)),
            car(5, IN, t),
        ];
        assert!(inactive(r.evaluate(t, FRAME, &others)).is_some());
        // Seen: the finding stops at once and the count starts over.
        let t = local(0, 10, 32, 0);
        assert_eq!(inactive(r.evaluate(t, FRAME, &[person(6, IN, t)])), None);
        assert_eq!(inactive(r.evaluate(local(0, 10, 33, 0), FRAME, &[])), None);
        let just_under = UnixMillis(local(0, 12, 32, 0).0 - 1);
        assert_eq!(inactive(r.evaluate(just_under, FRAME, &[])), None);
        assert!(inactive(r.evaluate(local(0, 12, 32, 0), FRAME, &[])).is_some());
    }

    #[test]
    fn inactivity_wants_a_person_seen_not_a_lost_track() {
        // Seen inside at 0, then lost there (a fake tracker that keeps it lost for long): the
        // absence counts from the last time the person was matched, not while only predicted.
        let mut r = doorway(10 * S, "00:00-00:00");
        assert!(r.evaluate(at(0), FRAME, &[person(1, IN, at(0))]).is_empty());
        let gone = lost(person(1, IN, at(0)), at(0));
        assert!(
            r.evaluate(at(10 * S - 1), FRAME, std::slice::from_ref(&gone))
                .is_empty()
        );
        let f = r.evaluate(at(10 * S), FRAME, &[gone]);
        assert_eq!(ids(&f, AlertKind::Inactivity), Some(vec![]));
    }

    #[test]
    fn inactivity_counts_from_the_window_opening() {
        // Last seen the evening before; the window opens at 07:00: reported at 09:00.
        let mut r = doorway(2 * H, "07:00-19:00");
        let t = local(0, 18, 0, 0);
        assert!(r.evaluate(t, FRAME, &[person(1, IN, t)]).is_empty());
        for t in [
            local(0, 19, 30, 0),
            local(0, 23, 0, 0),
            local(1, 6, 59, 59),
            local(1, 7, 0, 0),
            local(1, 8, 59, 59),
        ] {
            assert!(r.evaluate(t, FRAME, &[]).is_empty(), "{t:?}");
        }
        let f = r.evaluate(local(1, 9, 0, 0), FRAME, &[]);
        assert_eq!(f[0].message, "no one seen in zone doorway for 2.0 h");

        // The same with no evaluation between the evening and the morning.
        let mut r = doorway(2 * H, "07:00-19:00");
        let t = local(0, 18, 0, 0);
        r.evaluate(t, FRAME, &[person(1, IN, t)]);
        assert!(r.evaluate(local(1, 8, 59, 59), FRAME, &[]).is_empty());
        assert_eq!(r.evaluate(local(1, 9, 0, 0), FRAME, &[]).len(), 1);
    }

    #[test]
    fn inactivity_holds_only_inside_its_window() {
        let mut r = doorway(2 * H, "07:00-19:00");
        let t = local(0, 12, 0, 0);
        r.evaluate(t, FRAME, &[person(1, IN, t)]);
        assert_eq!(r.evaluate(local(0, 14, 0, 0), FRAME, &[]).len(), 1);
        assert_eq!(r.evaluate(local(0, 18, 59, 59), FRAME, &[]).len(), 1);
        for t in [local(0, 19, 0, 0), local(1, 0, 0, 0), local(1, 6, 59, 59)] {
            assert!(r.evaluate(t, FRAME, &[]).is_empty(), "{t:?}");
        }
    }

    #[test]
    fn inactivity_window_may_wrap_past_midnight() {
        let mut r = doorway(2 * H, "22:00-06:00");
        let t = local(0, 21, 0, 0);
        r.evaluate(t, FRAME, &[person(1, IN, t)]);
        assert!(r.evaluate(local(0, 23, 59, 59), FRAME, &[]).is_empty());
        assert_eq!(r.evaluate(local(1, 0, 0, 0), FRAME, &[]).len(), 1);
        assert_eq!(r.evaluate(local(1, 5, 59, 59), FRAME, &[]).len(), 1);
        assert!(r.evaluate(local(1, 6, 0, 0), FRAME, &[]).is_empty());
        assert!(r.evaluate(local(1, 21, 0, 0), FRAME, &[]).is_empty());
    }

    #[test]
    fn inactivity_without_history_counts_from_the_first_evaluation() {
        // Started at 10:00 inside the window: nothing known before, so 2 h from then.
        let mut r = doorway(2 * H, "07:00-19:00");
        assert!(r.evaluate(local(0, 10, 0, 0), FRAME, &[]).is_empty());
        assert!(r.evaluate(local(0, 11, 59, 59), FRAME, &[]).is_empty());
        assert_eq!(r.evaluate(local(0, 12, 0, 0), FRAME, &[]).len(), 1);

        // Started at night: from the window's opening.
        let mut r = doorway(2 * H, "07:00-19:00");
        assert!(r.evaluate(local(0, 3, 0, 0), FRAME, &[]).is_empty());
        assert!(r.evaluate(local(0, 8, 59, 59), FRAME, &[]).is_empty());
        assert_eq!(r.evaluate(local(0, 9, 0, 0), FRAME, &[]).len(), 1);
    }

    #[test]
    fn inactivity_survives_a_restart() {
        // Seen at 08:00; the pipeline restarts at 09:30 with what it saved.
        let mut r = doorway(2 * H, "06:00-22:00");
        let t = local(0, 8, 0, 0);
        r.evaluate(t, FRAME, &[person(1, IN, t)]);
        r.evaluate(local(0, 9, 30, 0), FRAME, &[]);
        let json = serde_json::to_string(&r.state()).expect("serializes");
        let mut r = doorway(2 * H, "06:00-22:00");
        r.restore(&serde_json::from_str(&json).expect("parses"));
        assert!(r.evaluate(local(0, 9, 45, 0), FRAME, &[]).is_empty());
        // Two hours from 08:00, not from the restart.
        let f = r.evaluate(local(0, 10, 0, 0), FRAME, &[]);
        assert_eq!(ids(&f, AlertKind::Inactivity), Some(vec![]));
    }

    #[test]
    fn time_going_backwards_starts_over() {
        let mut r = rules(vec![ZoneSpec {
            person_in_zone: dwell(10 * S),
            ..zone("riverbank")
        }]);
        for t in [100 * S, 110 * S, 120 * S] {
            r.evaluate(at(t), FRAME, &[person(1, IN, at(t))]);
        }
        // The replay restarts at 50 s with the same track inside: a fresh dwell from 50 s.
        assert!(
            r.evaluate(at(50 * S), FRAME, &[person(1, IN, at(50 * S))])
                .is_empty()
        );
        assert!(
            r.evaluate(at(59 * S), FRAME, &[person(1, IN, at(59 * S))])
                .is_empty()
        );
        let f = r.evaluate(at(60 * S), FRAME, &[person(1, IN, at(60 * S))]);
        assert_eq!(f[0].message, "person in zone riverbank for 10 s");
        // A lost track whose dwell began in the "future" is forgotten too.
        r.evaluate(at(200 * S), FRAME, &[person(2, IN, at(200 * S))]);
        let ghost = lost(person(2, IN, at(200 * S)), at(200 * S));
        for t in [10 * S, 30 * S] {
            assert!(
                r.evaluate(at(t), FRAME, std::slice::from_ref(&ghost))
                    .is_empty()
            );
        }

        // Inactivity: last seen at 12:00, then back to 09:00: counted from 09:00 again.
        let mut r = doorway(H, "06:00-22:00");
        let t = local(0, 12, 0, 0);
        r.evaluate(t, FRAME, &[person(1, IN, t)]);
        assert!(r.evaluate(local(0, 9, 0, 0), FRAME, &[]).is_empty());
        assert!(r.evaluate(local(0, 9, 59, 59), FRAME, &[]).is_empty());
        assert_eq!(r.evaluate(local(0, 10, 0, 0), FRAME, &[]).len(), 1);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(-5), "0 s");
        assert_eq!(duration(12_400), "12 s");
        assert_eq!(duration(119_999), "119 s");
        assert_eq!(duration(6 * MIN), "6 min");
        assert_eq!(duration(2 * H - 1), "119 min");
        assert_eq!(duration(6 * H), "6.0 h");
    }
}
