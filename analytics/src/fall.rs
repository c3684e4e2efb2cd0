//! The fall rule: a person who goes from upright to down quickly and stays down. Pure: tracks and
//! frame times in, [`Finding`]s out. docs/falls.md explains the decision, the parameters and what
//! it misses.
//!
//! Per person track, every analysed frame gives a [`Posture`]:
//! - with keypoints (shoulders and hips seen): the torso's angle from vertical (mid-hip to
//!   mid-shoulder), and how far the head and the hips have dropped below where they were when
//!   the person last stood, as a share of their standing height (box height when upright);
//! - without (no pose model, or the joints not seen): the box's shape and how far its top edge
//!   dropped.
//!
//! A fall is an upright sample followed within `max_fall_ms` by a down sample (a fall takes
//! about a second; lying down on a bed takes several), then down for `confirm_ms` with no upright
//! sample in between. Missed detections do not cancel; getting up does. The finding lasts while
//! the person stays down, also while the detector loses them (up to `hold_ms`), and ends when they
//! get up.
//!
//! When the tracker gives the person on the floor a new id (the box changes shape a lot), the new
//! track inherits the history of a track that vanished nearby shortly before.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;
use sharpeyes_core::coco::{
    LEFT_EAR, LEFT_EYE, LEFT_HIP, LEFT_SHOULDER, NOSE, RIGHT_EAR, RIGHT_EYE, RIGHT_HIP,
    RIGHT_SHOULDER,
};
use sharpeyes_core::{AlertKind, BBox, UnixMillis};

use crate::track::{Track, TrackState};
use crate::zone::Finding;

/// Settings of [`FallRule`]; docs/falls.md says why these values.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FallConfig {
    /// Down this long (frame time) without getting up before the fall is confirmed. 2000.
    pub confirm_ms: i64,
    /// The last upright sample must be at most this long before the first down sample: a fall is
    /// fast, lying down is slow. 2000.
    pub max_fall_ms: i64,
    /// An upright sample older than this before the drop is no reference for standing height
    /// and position. 6000.
    pub reference_ms: i64,
    /// Torso at least this many degrees from vertical counts as down (with keypoints). 50.
    pub torso_down_deg: f32,
    /// Torso at most this many degrees from vertical, head near standing height, is upright. 30.
    pub torso_up_deg: f32,
    /// Head at least this share of standing height below its standing position: down. 0.35.
    pub head_drop: f32,
    /// Hips at least this share of standing height below their standing position: down. 0.15.
    pub hip_drop: f32,
    /// A torso (shoulders to hips) at most this share of its standing length points at or away
    /// from the camera: lying, when the head dropped too. 0.6.
    pub torso_short: f32,
    /// Without keypoints: a box at least this much wider than tall counts as down. 1.2.
    pub box_down_aspect: f32,
    /// Without keypoints: a box at least this much taller than wide counts as upright. 1.6.
    pub box_up_aspect: f32,
    /// Keypoints scoring below this are ignored. 0.3.
    pub keypoint_min_score: f32,
    /// A fallen person the detector no longer sees stays "down" this long. 30000.
    pub hold_ms: i64,
    /// A person seen for at least `vanish_min_hits` detections who vanishes in the middle of
    /// the picture (not within `edge_margin` of an edge, not behind another person) counts as
    /// down from then on: the detector often misses a person lying on the floor. true.
    pub vanish_as_down: bool,
    /// 5 (one second at 5 frames/s).
    pub vanish_min_hits: u32,
    /// Share of the picture's width / height along each edge where leaving is walking out. 0.05.
    pub edge_margin: f32,
    /// A person at an edge who, at their last second's speed, would have been out of the
    /// picture within this long walked out. 1500.
    pub exit_ms: i64,
    /// A new track inherits a vanished track's history if it appears within this long... 3000.
    pub handoff_ms: i64,
    /// ...and its box centre lies within this many standing heights of the vanished one's. 1.0.
    pub handoff_distance: f32,
}

impl Default for FallConfig {
    fn default() -> Self {
        Self {
            confirm_ms: 2000,
            max_fall_ms: 2000,
            reference_ms: 6000,
            torso_down_deg: 50.0,
            torso_up_deg: 30.0,
            head_drop: 0.35,
            hip_drop: 0.15,
            torso_short: 0.6,
            box_down_aspect: 1.2,
            box_up_aspect: 1.6,
            keypoint_min_score: 0.3,
            hold_ms: 30_000,
            vanish_as_down: true,
            vanish_min_hits: 5,
            edge_margin: 0.05,
            exit_ms: 1500,
            handoff_ms: 3000,
            handoff_distance: 1.0,
        }
    }
}

/// What one sample of a person looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Posture {
    Upright,
    Down,
    /// Neither clearly (sitting, crouching, bending, half-seen).
    Unclear,
}

/// The body measures of one sample, in source pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Body {
    t: UnixMillis,
    bbox: BBox,
    /// Degrees from vertical, 0 upright, 90 horizontal, up to 180 upside down.
    torso_deg: Option<f32>,
    head_y: Option<f32>,
    hip_y: Option<f32>,
    /// Shoulder-to-hip distance in pixels (shrinks when the body points at the camera).
    torso_len: Option<f32>,
}

impl Body {
    fn of(track: &Track, t: UnixMillis, min_score: f32) -> Self {
        let kp = |i: usize| {
            track
                .keypoints
                .get(i)
                .filter(|k| k.score >= min_score && k.x.is_finite() && k.y.is_finite())
        };
        let mean = |a: usize, b: usize| match (kp(a), kp(b)) {
            (Some(a), Some(b)) => Some(((a.x + b.x) / 2.0, (a.y + b.y) / 2.0)),
            (Some(a), None) | (None, Some(a)) => Some((a.x, a.y)),
            (None, None) => None,
        };
        let shoulders = mean(LEFT_SHOULDER, RIGHT_SHOULDER);
        let hips = mean(LEFT_HIP, RIGHT_HIP);
        let torso_len = match (shoulders, hips) {
            (Some((sx, sy)), Some((hx, hy))) => Some((sx - hx).hypot(sy - hy)),
            _ => None,
        };
        let torso_deg = match (shoulders, hips) {
            (Some((sx, sy)), Some((hx, hy))) if (sx - hx).hypot(sy - hy) > 1.0 => {
                // Image y grows downwards: upright = shoulders above hips (hy - sy > 0).
                Some((sx - hx).abs().atan2(hy - sy).to_degrees())
            }
            _ => None,
        };
        let head_y = [NOSE, LEFT_EYE, RIGHT_EYE, LEFT_EAR, RIGHT_EAR]
            .iter()
            .filter_map(|&i| kp(i))
            .map(|k| k.y)
            .reduce(f32::min);
        Self {
            t,
            bbox: track.bbox,
            torso_deg,
            head_y,
            hip_y: hips.map(|h| h.1),
            torso_len,
        }
    }

    fn centre(&self) -> (f32, f32) {
        (
            (self.bbox.x1 + self.bbox.x2) / 2.0,
            (self.bbox.y1 + self.bbox.y2) / 2.0,
        )
    }
}

/// A sample compared with the person's standing reference; drops are shares of the standing
/// height (box height when upright), positive downwards.
#[derive(Clone, Copy, Debug)]
#[allow(dead_code)] // read through Debug in traces
struct Measures {
    aspect: f32,
    height_ratio: Option<f32>,
    head_drop: Option<f32>,
    top_drop: Option<f32>,
    hip_drop: Option<f32>,
    torso_ratio: Option<f32>,
}

impl Measures {
    fn of(body: &Body, upright: Option<&Body>) -> Self {
        let (w, h) = (body.bbox.width().max(1e-3), body.bbox.height().max(1e-3));
        let standing_h = upright.map(|u| u.bbox.height().max(1.0));
        let drop = |now: Option<f32>, then: Option<f32>| match (now, then, standing_h) {
            (Some(now), Some(then), Some(sh)) => Some((now - then) / sh),
            _ => None,
        };
        Self {
            aspect: w / h,
            height_ratio: standing_h.map(|sh| h / sh),
            head_drop: drop(body.head_y, upright.and_then(|u| u.head_y)),
            top_drop: drop(Some(body.bbox.y1), upright.map(|u| u.bbox.y1)),
            hip_drop: drop(body.hip_y, upright.and_then(|u| u.hip_y)),
            torso_ratio: match (body.torso_len, upright.and_then(|u| u.torso_len)) {
                (Some(now), Some(then)) if then > 1.0 => Some(now / then),
                _ => None,
            },
        }
    }
}

/// Whether a person no longer detected most likely walked out of the picture: their last box
/// touches the left, right or bottom edge (within `margin` of the picture's size; the top edge is
/// where tall people's heads are) and, at the speed they moved over their last second, they
/// would have been wholly out of the picture within `exit_ms`. A person who vanishes while still
/// mostly in view and moving slowly did not walk out.
fn walked_out(p: &Person, (w, h): (u32, u32), margin: f32, exit_ms: i64) -> bool {
    if w == 0 || h == 0 {
        return true;
    }
    let b = p.last.bbox;
    let (w, h) = (w as f32, h as f32);
    let (mx, my) = (w * margin, h * margin);
    // Centre speed over the trail (px/s), else the tracker's estimate.
    let (vx, vy) = match (p.trail.front(), p.trail.back()) {
        (Some(a), Some(z)) if z.t.0 - a.t.0 >= 400 => {
            let dt = (z.t.0 - a.t.0) as f32 / 1000.0;
            let ((ax, ay), (zx, zy)) = (a.centre(), z.centre());
            ((zx - ax) / dt, (zy - ay) / dt)
        }
        _ => p.track.velocity,
    };
    let exit_s = exit_ms as f32 / 1000.0;
    // Out within exit_s: the far side of the box crosses the edge.
    let gone_by = |distance: f32, speed: f32| speed > 0.0 && distance / speed <= exit_s;
    (b.x1 <= mx && gone_by(b.x2, -vx))
        || (b.x2 >= w - mx && gone_by(w - b.x1, vx))
        || (b.y2 >= h - my && gone_by(h - b.y1, vy))
}

fn overlaps(a: &BBox, b: &BBox) -> bool {
    a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2
}

/// One person's fall state.
#[derive(Clone, Debug)]
struct Person {
    /// The last upright sample (the standing reference).
    upright: Option<Body>,
    /// First down sample of the current down spell, when the drop from `upright` was fast.
    down_since: Option<UnixMillis>,
    /// The current down spell started without a fast drop (lying down slowly, or first seen
    /// lying): it can never become a fall.
    slow_down: bool,
    /// The current down spell began with the person vanishing, not with a down sample.
    vanished: bool,
    confirmed: bool,
    last: Body,
    /// The samples of the last second (for the speed at which they moved).
    trail: std::collections::VecDeque<Body>,
    /// The track's last state seen (for the finding).
    track: Track,
}

/// Finds falls on one camera; feed it the tracker's tracks after every update.
#[derive(Clone, Debug)]
pub struct FallRule {
    config: FallConfig,
    /// Class names that count as a person.
    persons: Vec<Arc<str>>,
    people: HashMap<u64, Person>,
    /// Persons whose track the tracker dropped, kept for hand-off and for `hold_ms`.
    gone: Vec<Person>,
}

impl FallRule {
    /// `persons`: class names that count as a person (the model manifest's person classes).
    pub fn new(config: FallConfig, persons: Vec<Arc<str>>) -> Self {
        Self {
            config,
            persons,
            people: HashMap::new(),
            gone: Vec::new(),
        }
    }

    pub fn config(&self) -> &FallConfig {
        &self.config
    }

    /// The posture of `body` given the person's standing reference.
    fn posture(&self, body: &Body, upright: Option<&Body>) -> Posture {
        let c = &self.config;
        let m = Measures::of(body, upright);
        tracing::trace!(?m, "fall rule measures");
        if let Some(deg) = body.torso_deg {
            let head = m.head_drop.or(m.top_drop);
            if deg <= c.torso_up_deg
                && head.is_none_or(|d| d < c.head_drop / 2.0)
                && m.torso_ratio.is_none_or(|r| r >= c.torso_short)
            {
                return Posture::Upright;
            }
            // Lying: the torso flat in the picture, or pointing at the camera (much shorter
            // than standing), or the whole body wider than tall.
            let lying = deg >= c.torso_down_deg
                || m.torso_ratio.is_some_and(|r| r <= c.torso_short)
                || m.aspect >= 1.0;
            let dropped = head.is_some_and(|d| d >= c.head_drop)
                && m.hip_drop.is_none_or(|d| d >= c.hip_drop);
            if lying && dropped {
                return Posture::Down;
            }
            // Flat and no reference: lying, but whether it was a fall cannot be judged.
            if deg >= c.torso_down_deg && upright.is_none() && m.aspect > 1.0 {
                return Posture::Down;
            }
            return Posture::Unclear;
        }
        // Box shape only.
        if 1.0 / m.aspect >= c.box_up_aspect {
            return Posture::Upright;
        }
        if m.aspect >= c.box_down_aspect && m.top_drop.is_none_or(|d| d >= c.head_drop) {
            return Posture::Down;
        }
        Posture::Unclear
    }

    /// Updates with the tracks of one camera at `now` and returns the falls that hold now (one
    /// finding per fallen person; the incident layer merges them per camera).
    ///
    /// `frame_size`: the source picture's (width, height), to tell a person who left through
    /// an edge from one who vanished in the middle of the picture.
    pub fn evaluate(
        &mut self,
        now: UnixMillis,
        frame_size: (u32, u32),
        tracks: &[Track],
    ) -> Vec<Finding> {
        let c = self.config.clone();
        // Time went backwards (replay restarted): forget everything.
        if self
            .people
            .values()
            .chain(&self.gone)
            .any(|p| p.last.t.0 > now.0)
        {
            self.people.clear();
            self.gone.clear();
        }
        let live: Vec<&Track> = tracks
            .iter()
            .filter(|t| t.state != TrackState::Tentative && self.persons.contains(&t.class_name))
            .collect();
        // Tracks the tracker dropped: keep them for hand-off and hold.
        let ids: Vec<u64> = self.people.keys().copied().collect();
        for id in ids {
            if !live.iter().any(|t| t.id == id)
                && let Some(p) = self.people.remove(&id)
            {
                self.gone.push(p);
            }
        }
        self.gone.retain(|p| {
            let keep_for = if p.down_since.is_some() {
                c.hold_ms
            } else {
                c.handoff_ms
            };
            now.0 - p.last.t.0 <= keep_for
        });

        // Boxes of the people seen now: someone hidden behind one of them is occluded, not
        // fallen.
        let visible: Vec<BBox> = live
            .iter()
            .filter(|t| t.is_visible(now))
            .map(|t| t.bbox)
            .collect();
        for track in &live {
            if !track.is_visible(now)
                && let Some(p) = self.people.get_mut(&track.id)
            {
                p.track = (*track).clone();
            }
        }
        // Not seen now (lost, or dropped by the tracker): a fast drop seen before goes on
        // counting; a person who vanished in the middle of the picture, not behind someone,
        // counts as down from now (the detector often misses a person on the floor).
        for p in self
            .people
            .values_mut()
            .filter(|p| !p.track.is_visible(now))
            .chain(self.gone.iter_mut())
        {
            if p.down_since.is_none()
                && !p.slow_down
                && c.vanish_as_down
                && p.track.hits >= c.vanish_min_hits
                && !walked_out(p, frame_size, c.edge_margin, c.exit_ms)
                && !visible.iter().any(|b| overlaps(b, &p.last.bbox))
            {
                tracing::debug!(
                    track = p.track.id,
                    "person vanished mid-picture: counted as down"
                );
                p.down_since = Some(now);
                p.vanished = true;
            }
            if let Some(since) = p.down_since
                && !p.slow_down
                && now.0 - since.0 >= c.confirm_ms
            {
                p.confirmed = true;
            }
        }

        for track in live {
            if !track.is_visible(now) {
                continue;
            }
            let body = Body::of(track, now, c.keypoint_min_score);
            if !self.people.contains_key(&track.id) {
                let inherited = self.take_nearby_gone(&body);
                let person = inherited.unwrap_or_else(|| Person {
                    upright: None,
                    down_since: None,
                    slow_down: false,
                    vanished: false,
                    confirmed: false,
                    last: body,
                    trail: std::collections::VecDeque::new(),
                    track: track.clone(),
                });
                self.people.insert(track.id, person);
            }
            let reference = self.people[&track.id].upright.filter(|u| {
                now.0 - u.t.0 <= c.reference_ms || self.people[&track.id].down_since.is_some()
            });
            let posture = self.posture(&body, reference.as_ref());
            tracing::trace!(
                track = track.id,
                t = now.0,
                ?posture,
                torso_deg = body.torso_deg,
                bbox = ?track.bbox,
                hits = track.hits,
                "fall rule sample"
            );
            let p = self.people.get_mut(&track.id).expect("inserted above");
            p.track = track.clone();
            p.last = body;
            p.trail.push_back(body);
            while p.trail.front().is_some_and(|b| now.0 - b.t.0 > 1000) {
                p.trail.pop_front();
            }
            match posture {
                Posture::Upright => {
                    if p.confirmed {
                        tracing::debug!(track = track.id, "fallen person got up");
                    }
                    p.upright = Some(body);
                    p.down_since = None;
                    p.slow_down = false;
                    p.vanished = false;
                    p.confirmed = false;
                }
                Posture::Down => {
                    if p.down_since.is_none() && !p.slow_down {
                        let fast = p.upright.is_some_and(|u| now.0 - u.t.0 <= c.max_fall_ms);
                        if fast {
                            p.down_since = Some(now);
                        } else {
                            p.slow_down = true;
                        }
                    }
                    if let Some(since) = p.down_since
                        && now.0 - since.0 >= c.confirm_ms
                    {
                        p.confirmed = true;
                    }
                }
                Posture::Unclear => {}
            }
        }

        let mut findings = Vec::new();
        for p in self.people.values().chain(&self.gone) {
            if !p.confirmed {
                continue;
            }
            let since = p.down_since.map_or(0, |s| now.0 - s.0);
            let seen = if p.track.is_visible(now) {
                ""
            } else if p.vanished {
                ", vanished from view mid-picture (a person on the floor is often missed)"
            } else {
                ", no longer detected"
            };
            findings.push(Finding {
                kind: AlertKind::Fall,
                zone: None,
                tracks: vec![p.track.clone()],
                message: format!(
                    "person down for {:.1} s after a fall{seen}",
                    since as f64 / 1000.0
                ),
            });
        }
        findings.sort_by_key(|f| f.tracks[0].id);
        findings
    }

    /// A vanished person whose last box centre is near `body`'s, for a new track to continue.
    /// Only recent ones are in `gone`: `evaluate` drops the others (after `handoff_ms`, or
    /// `hold_ms` for someone down) before any new track looks here.
    fn take_nearby_gone(&mut self, body: &Body) -> Option<Person> {
        let c = &self.config;
        let (x, y) = body.centre();
        let best = self
            .gone
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let scale = p
                    .upright
                    .map_or(p.last.bbox.height(), |u| u.bbox.height())
                    .max(1.0);
                let (px, py) = p.last.centre();
                let d = (px - x).hypot(py - y) / scale;
                (d <= c.handoff_distance).then_some((i, d))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))?;
        Some(self.gone.swap_remove(best.0))
    }
}

#[cfg(test)]
mod tests {
    use sharpeyes_core::Keypoint;

    use super::*;

    /// A person as the tracker gives them at `t` ms: a standing, lying or crouching body around
    /// x = 300, feet on y = 400 (a 200 px tall person).
    fn person(id: u64, t: i64, body: &str, pose: bool) -> Track {
        // (box, shoulder y, hip y, head y, shoulder x offset from hip x)
        let (bbox, sy, hy, head, dx) = match body {
            "standing" => (bb(260.0, 200.0, 340.0, 400.0), 240.0, 300.0, 212.0, 0.0),
            // Torso tilted 70 degrees, head 150 px lower, hips 60 px lower: on the floor.
            "lying" => (bb(180.0, 340.0, 420.0, 400.0), 360.0, 380.0, 362.0, -55.0),
            // Knees bent, torso upright-ish (20 degrees), head 90 px lower.
            "crouching" => (bb(250.0, 290.0, 350.0, 400.0), 325.0, 370.0, 302.0, 16.0),
            // Torso horizontal but hips where they were: bending to pick something up.
            "bending" => (bb(240.0, 260.0, 380.0, 400.0), 300.0, 300.0, 310.0, 60.0),
            other => panic!("{other}"),
        };
        let mut keypoints = vec![
            Keypoint {
                x: 0.0,
                y: 0.0,
                score: 0.0
            };
            17
        ];
        if pose {
            let k = |x: f32, y: f32| Keypoint { x, y, score: 0.9 };
            keypoints[NOSE] = k(300.0 + dx, head);
            keypoints[LEFT_SHOULDER] = k(290.0 + dx, sy);
            keypoints[RIGHT_SHOULDER] = k(310.0 + dx, sy);
            keypoints[LEFT_HIP] = k(292.0, hy);
            keypoints[RIGHT_HIP] = k(308.0, hy);
        } else {
            keypoints.clear();
        }
        let mut track = crate::track::confirmed_track(id, "person", bbox, UnixMillis(t));
        track.first_seen = UnixMillis(0);
        track.score = 0.8;
        track.keypoints = keypoints;
        track
    }

    fn bb(x1: f32, y1: f32, x2: f32, y2: f32) -> BBox {
        BBox { x1, y1, x2, y2 }
    }

    const SIZE: (u32, u32) = (640, 480);

    fn rule() -> FallRule {
        FallRule::new(FallConfig::default(), vec![Arc::from("person")])
    }

    /// Feeds `script` = [(time ms, body)] every 200 ms as given; returns the times a fall
    /// finding held.
    fn run(rule: &mut FallRule, script: &[(i64, &str)], pose: bool) -> Vec<i64> {
        let mut held = Vec::new();
        for &(t, body) in script {
            let tracks = if body == "gone" {
                vec![]
            } else {
                vec![person(1, t, body, pose)]
            };
            if !rule.evaluate(UnixMillis(t), SIZE, &tracks).is_empty() {
                held.push(t);
            }
        }
        held
    }

    /// Standing until `fall_at`, then `after` every 200 ms until `end`.
    fn script(fall_at: i64, after: &'static str, end: i64) -> Vec<(i64, &'static str)> {
        (0..=end / 200)
            .map(|i| {
                let t = i * 200;
                (t, if t < fall_at { "standing" } else { after })
            })
            .collect()
    }

    #[test]
    fn a_fall_is_confirmed_after_confirm_ms_down() {
        for pose in [true, false] {
            let mut r = rule();
            let held = run(&mut r, &script(1000, "lying", 6000), pose);
            // Down from 1000; confirmed at 3000 (2000 ms later), not at 2800.
            assert_eq!(held.first(), Some(&3000), "pose {pose}: {held:?}");
            assert_eq!(held.len(), 16, "held until the end: {held:?}");
        }
    }

    #[test]
    fn just_under_confirm_ms_is_not_a_fall() {
        let mut r = rule();
        let mut s = script(1000, "lying", 2800);
        s.push((3000, "standing"));
        s.push((3200, "standing"));
        assert!(run(&mut r, &s, true).is_empty());
    }

    #[test]
    fn getting_up_ends_the_finding() {
        let mut r = rule();
        let mut s = script(1000, "lying", 4000);
        s.extend([(4200, "standing"), (4400, "standing")]);
        let held = run(&mut r, &s, true);
        assert_eq!(held, vec![3000, 3200, 3400, 3600, 3800, 4000]);
    }

    #[test]
    fn crouching_and_bending_are_not_falls() {
        for body in ["crouching", "bending"] {
            let mut r = rule();
            assert!(
                run(&mut r, &script(1000, body, 8000), true).is_empty(),
                "{body}"
            );
        }
    }

    #[test]
    fn lying_down_slowly_is_not_a_fall() {
        // Standing until 1000, crouching (sitting on the bed edge) for 3 s, then lying.
        let mut r = rule();
        let s: Vec<(i64, &str)> = (0..=50)
            .map(|i| {
                let t = i * 200;
                let b = match t {
                    0..1000 => "standing",
                    1000..4000 => "crouching",
                    _ => "lying",
                };
                (t, b)
            })
            .collect();
        assert!(run(&mut r, &s, true).is_empty());
    }

    #[test]
    fn a_person_first_seen_lying_raises_nothing() {
        let mut r = rule();
        assert!(run(&mut r, &script(0, "lying", 8000), true).is_empty());
    }

    #[test]
    fn missed_detections_do_not_cancel_and_the_fall_is_held_while_unseen() {
        let mut r = rule();
        // Down at 1000, not detected from 1400 to 2600, seen lying again at 2800.
        let mut s = script(1000, "lying", 1200);
        s.extend([(1400, "gone"), (2000, "gone"), (2600, "gone")]);
        s.extend([(2800, "lying"), (3000, "lying"), (3200, "lying")]);
        let held = run(&mut r, &s, true);
        assert_eq!(held, vec![3000, 3200]);
        // Now unseen: still held (hold_ms), then gone after it.
        assert!(!r.evaluate(UnixMillis(20_000), SIZE, &[]).is_empty());
        assert!(r.evaluate(UnixMillis(33_300), SIZE, &[]).is_empty());
    }

    #[test]
    fn a_new_track_on_the_floor_inherits_the_fall() {
        let mut r = rule();
        for t in (0..1000).step_by(200) {
            r.evaluate(UnixMillis(t), SIZE, &[person(1, t, "standing", true)]);
        }
        // The tracker lost id 1 and the person lying is id 2.
        let mut held = Vec::new();
        for t in (1000..=3400).step_by(200) {
            if !r
                .evaluate(UnixMillis(t), SIZE, &[person(2, t, "lying", true)])
                .is_empty()
            {
                held.push(t);
            }
        }
        assert_eq!(held.first(), Some(&3000), "{held:?}");
    }

    #[test]
    fn time_going_back_forgets_everything() {
        let mut r = rule();
        run(&mut r, &script(1000, "lying", 4000), true);
        assert!(
            r.evaluate(UnixMillis(100), SIZE, &[person(1, 100, "lying", true)])
                .is_empty()
        );
    }

    #[test]
    fn vanishing_mid_picture_counts_as_down_but_not_at_an_edge_or_behind_someone() {
        // Seen standing for 1 s (6 detections), then not detected at all.
        let standing = |r: &mut FallRule, p: &dyn Fn(i64) -> Track| {
            for t in (0..=1000).step_by(200) {
                r.evaluate(UnixMillis(t), SIZE, &[p(t)]);
            }
        };
        let mid = |t: i64| {
            let mut p = person(1, t, "standing", true);
            p.hits = ((t / 200) + 1) as u32;
            p
        };
        let mut r = rule();
        standing(&mut r, &mid);
        let held: Vec<i64> = (6..=20)
            .map(|i| i * 200)
            .filter(|&t| !r.evaluate(UnixMillis(t), SIZE, &[]).is_empty())
            .collect();
        // Counted down from the first frame without them (1200): confirmed at 3200.
        assert_eq!(held.first(), Some(&3200), "{held:?}");

        // The same at the right edge: walked out.
        // Walking right at 100 px/s: at 1000 ms the box is at x 560-640.
        let edge = |t: i64| {
            let mut p = mid(t);
            let dx = 200.0 + t as f32 * 0.1;
            p.bbox.x1 += dx;
            p.bbox.x2 += dx;
            p
        };
        let mut r = rule();
        standing(&mut r, &edge);
        assert!((6..=20).all(|i| r.evaluate(UnixMillis(i * 200), SIZE, &[]).is_empty()));

        // Hidden behind another person who stays in view.
        let mut r = rule();
        standing(&mut r, &mid);
        let other = |t: i64| {
            let mut p = person(7, t, "standing", true);
            p.bbox.x1 -= 20.0;
            p.bbox.x2 -= 20.0;
            p
        };
        assert!((6..=20).all(|i| {
            r.evaluate(UnixMillis(i * 200), SIZE, &[other(i * 200)])
                .is_empty()
        }));

        // Seen too briefly (fewer than 5 detections): no.
        let mut r = rule();
        let brief = |t: i64| {
            let mut p = mid(t);
            p.hits = 3;
            p
        };
        standing(&mut r, &brief);
        assert!((6..=20).all(|i| r.evaluate(UnixMillis(i * 200), SIZE, &[]).is_empty()));
    }
}
