//! Multi-object tracking for one camera: detections of successive frames in, tracks with stable
//! ids out. Pure logic, no I/O and no clock reads: each frame's media time comes in as an
//! argument, so a replay gives the same ids as the live camera did.
//!
//! The algorithm is ByteTrack (Zhang et al., "ByteTrack: Multi-Object Tracking by Associating
//! Every Detection Box", ECCV 2022) with a constant-velocity Kalman filter that uses the real time
//! between frames, because our frames arrive at irregular intervals (about 5 per second, with
//! gaps of seconds). See `docs/tracking.md` for the reasoning behind the parameters.
//!
//! Association is greedy by best IoU, not Hungarian: every (track, detection) pair of the same
//! class above the stage's IoU threshold is sorted by IoU, highest first, and taken when neither
//! side is taken yet. The two differ only when one track is the best match of several
//! detections and the runner-up assignment is better in total, which with a few people per
//! camera is rare and then mostly a coin toss anyway.

use std::sync::Arc;

use serde::Deserialize;
use sharpeyes_core::{BBox, Detection, Keypoint, UnixMillis};

/// Settings of [`Tracker`]. Scores are detector confidences in [0, 1]; IoU thresholds compare a
/// track's *predicted* box with a detection's box.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerConfig {
    /// Detections scoring at least this are "high" and take part in the first association stage
    /// (against confirmed and lost tracks) and the third (against tentative tracks). Default:
    /// 0.5, ByteTrack's value and the usual detector threshold, so a tracker-less pipeline and
    /// this one see the same "real" detections.
    pub high_score: f32,
    /// Detections scoring below this are ignored; those between this and `high_score` are "low"
    /// and may only keep an existing confirmed track going (second stage), never start one.
    /// Default: 0.1, as in ByteTrack: below it boxes are nearly all background.
    pub low_score: f32,
    /// An unmatched high detection starts a new (tentative) track only if it scores at least
    /// this. Default: 0.6, ByteTrack's `high_thresh + 0.1`: a little stricter than `high_score`
    /// so a flickering borderline box does not keep spawning tracks.
    pub new_track_score: f32,
    /// Minimum IoU between a predicted box and a high detection in the first stage (confirmed
    /// and lost tracks) and the third (tentative tracks). Default: 0.2 (ByteTrack's
    /// `match_thresh` 0.8 on the cost `1 - IoU`). Low because at 5 frames per second a walking
    /// person moves a good part of their width between frames, and a tentative track has no
    /// velocity yet to predict with.
    pub high_iou: f32,
    /// Minimum IoU between a predicted box and a low detection in the second stage. Default: 0.5
    /// (ByteTrack's 0.5 on the cost): low boxes are often background, so they must sit well on
    /// the prediction to count.
    pub low_iou: f32,
    /// A track not matched for longer than this many milliseconds of media time is removed;
    /// until then it is [`TrackState::Lost`] and can be found again by a high detection. Default:
    /// 2000: about 10 frames at 5 per second, long enough to bridge a person passing behind a
    /// pillar or a few missed detections, short enough that the straight-line prediction has
    /// not run far away from where the person really is.
    pub max_lost_ms: i64,
    /// Number of matched detections (the first included) after which a tentative track becomes
    /// confirmed. Default: 2: one frame's false positive never becomes a track a rule sees, and a
    /// real person is confirmed on their second frame (200 ms at 5 per second). 0 acts like 1.
    pub min_hits: u32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            high_score: 0.5,
            low_score: 0.1,
            new_track_score: 0.6,
            high_iou: 0.2,
            low_iou: 0.5,
            max_lost_ms: 2000,
            min_hits: 2,
        }
    }
}

/// Where a track is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrackState {
    /// Seen fewer than `min_hits` times. Removed at its first unmatched frame. Rules should
    /// ignore it: it may be a false detection.
    Tentative,
    /// Matched at the latest update.
    Confirmed,
    /// Was confirmed, not matched at the latest update, not yet older than `max_lost_ms`.
    Lost,
}

/// One object followed across frames of one camera.
///
/// Rules should look only at tracks that are [`TrackState::Confirmed`] or [`TrackState::Lost`]
/// (use [`Track::is_visible`] to tell whether the object is in the current frame), and use
/// [`Track::bbox`] (what the detector saw) rather than [`Track::predicted`] (the filter's guess).
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    /// Unique within one [`Tracker`], starting at 1 and increasing; never reused.
    pub id: u64,
    /// Class of the detections this track follows; it never changes.
    pub class_id: u32,
    pub class_name: Arc<str>,
    /// Box of the last matched detection, in source pixels.
    pub bbox: BBox,
    /// The Kalman filter's box at the latest update time: the corrected estimate when matched,
    /// the prediction when not. In source pixels; width and height at least 1.
    pub predicted: BBox,
    /// Score of the last matched detection.
    pub score: f32,
    /// Keypoints of the last matched detection (empty without a pose model).
    pub keypoints: Vec<Keypoint>,
    /// Media time of the first matched detection.
    pub first_seen: UnixMillis,
    /// Media time of the last matched detection.
    pub last_seen: UnixMillis,
    /// Number of detections matched to this track, the first included.
    pub hits: u32,
    pub state: TrackState,
    /// Estimated velocity of the box centre in pixels per second (x right, y down).
    pub velocity: (f32, f32),
}

impl Track {
    /// Bottom-centre of [`Track::bbox`]: where a standing person touches the ground, the point
    /// to test against zones drawn on the floor.
    pub fn foot_point(&self) -> (f32, f32) {
        ((self.bbox.x1 + self.bbox.x2) / 2.0, self.bbox.y2)
    }

    /// Whether a detection was matched to this track at `now` (normally the time of the latest
    /// update), i.e. the object is in that frame rather than only predicted.
    pub fn is_visible(&self, now: UnixMillis) -> bool {
        self.last_seen == now
    }
}

/// ByteTrack-style tracker for one camera. Feed it every processed frame's detections, in
/// time order, with [`Tracker::update`].
///
/// Each update:
/// 1. removes tracks not matched for longer than `max_lost_ms`, and predicts every other track's
///    box at the frame's time;
/// 2. matches high detections (score >= `high_score`) to confirmed and lost tracks
///    (IoU >= `high_iou`);
/// 3. matches low detections (`low_score` <= score < `high_score`) to confirmed tracks still
///    unmatched (IoU >= `low_iou`): this keeps a partly hidden person's track going while the
///    detector is unsure of them. Lost tracks are not revived by low detections (as in
///    ByteTrack): a low box near a stale prediction is too often background;
/// 4. matches the remaining high detections to tentative tracks (IoU >= `high_iou`);
/// 5. removes unmatched tentative tracks, marks unmatched confirmed tracks lost, and starts a
///    tentative track for each remaining high detection scoring at least `new_track_score`.
///
/// A detection matches only tracks of the same `class_name`, and at most one track. If time goes
/// backwards (a replay restarted, a camera clock corrected) every track is dropped: predictions
/// into the past are meaningless. Ids keep increasing across that.
#[derive(Clone, Debug)]
pub struct Tracker {
    config: TrackerConfig,
    /// Live tracks in increasing id order.
    tracks: Vec<Track>,
    /// `filters[i]` is the motion state of `tracks[i]`, as of `last_time`.
    filters: Vec<BoxFilter>,
    last_time: Option<UnixMillis>,
    next_id: u64,
}

impl Tracker {
    pub fn new(config: TrackerConfig) -> Self {
        Self {
            config,
            tracks: Vec::new(),
            filters: Vec::new(),
            last_time: None,
            next_id: 1,
        }
    }

    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// Live tracks after the latest update (tentative, confirmed and lost), in increasing id
    /// order.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// Takes the detections of the frame at media time `time` and returns the live tracks after
    /// it, as [`Tracker::tracks`] does.
    pub fn update(&mut self, time: UnixMillis, detections: &[Detection]) -> &[Track] {
        let dt_s = match self.last_time {
            Some(last) if time < last => {
                self.tracks.clear();
                self.filters.clear();
                0.0
            }
            Some(last) => (time.0 - last.0) as f32 / 1000.0,
            None => 0.0,
        };
        self.last_time = Some(time);

        let max_lost_ms = self.config.max_lost_ms;
        self.remove_where(|t| time.0 - t.last_seen.0 > max_lost_ms);
        // Kept to re-predict, holding the size, the tracks that turn out to be unmatched.
        let before_predict = self.filters.clone();
        for (track, filter) in self.tracks.iter_mut().zip(&mut self.filters) {
            filter.predict(dt_s, track.state == TrackState::Lost);
            track.predicted = filter.bbox();
            track.velocity = filter.velocity();
        }

        let cfg = &self.config;
        let high: Vec<usize> = (0..detections.len())
            .filter(|&i| detections[i].score >= cfg.high_score)
            .collect();
        let low: Vec<usize> = (0..detections.len())
            .filter(|&i| (cfg.low_score..cfg.high_score).contains(&detections[i].score))
            .collect();
        let mut matches: Vec<Option<usize>> = vec![None; self.tracks.len()];
        let mut det_taken = vec![false; detections.len()];

        // (detections, states of the tracks they may match, minimum IoU), in order.
        let stages = [
            (
                &high,
                [TrackState::Confirmed, TrackState::Lost],
                cfg.high_iou,
            ),
            (&low, [TrackState::Confirmed; 2], cfg.low_iou),
            (&high, [TrackState::Tentative; 2], cfg.high_iou),
        ];
        for (dets, states, min_iou) in stages {
            let track_idx: Vec<usize> = (0..self.tracks.len())
                .filter(|&t| matches[t].is_none() && states.contains(&self.tracks[t].state))
                .collect();
            let det_idx: Vec<usize> = dets.iter().copied().filter(|&d| !det_taken[d]).collect();
            for (t, d) in greedy_match(&self.tracks, &track_idx, detections, &det_idx, min_iou) {
                matches[t] = Some(d);
                det_taken[d] = true;
            }
        }

        let min_hits = cfg.min_hits.max(1);
        for (i, m) in matches.iter().enumerate() {
            let (track, filter) = (&mut self.tracks[i], &mut self.filters[i]);
            match *m {
                Some(d) => {
                    let det = &detections[d];
                    filter.correct(&det.bbox);
                    track.predicted = filter.bbox();
                    track.velocity = filter.velocity();
                    track.bbox = det.bbox;
                    track.score = det.score;
                    track.keypoints.clone_from(&det.keypoints);
                    track.last_seen = time;
                    track.hits = track.hits.saturating_add(1);
                    if track.state != TrackState::Tentative || track.hits >= min_hits {
                        track.state = TrackState::Confirmed;
                    }
                }
                None if track.state == TrackState::Confirmed => {
                    // Matching used the size's rate of change too; an unseen object keeps the
                    // size it was last seen with (see `BoxFilter::predict`).
                    *filter = before_predict[i].clone();
                    filter.predict(dt_s, true);
                    track.predicted = filter.bbox();
                    track.state = TrackState::Lost;
                }
                None => {}
            }
        }
        let mut i = 0;
        self.remove_where(|t| {
            let unmatched_tentative = t.state == TrackState::Tentative && matches[i].is_none();
            i += 1;
            unmatched_tentative
        });

        for &d in &high {
            let det = &detections[d];
            if det_taken[d] || det.score < self.config.new_track_score {
                continue;
            }
            let filter = BoxFilter::new(&det.bbox);
            self.tracks.push(Track {
                id: self.next_id,
                class_id: det.class_id,
                class_name: det.class_name.clone(),
                bbox: det.bbox,
                predicted: filter.bbox(),
                score: det.score,
                keypoints: det.keypoints.clone(),
                first_seen: time,
                last_seen: time,
                hits: 1,
                state: if min_hits <= 1 {
                    TrackState::Confirmed
                } else {
                    TrackState::Tentative
                },
                velocity: (0.0, 0.0),
            });
            self.filters.push(filter);
            self.next_id += 1;
        }
        &self.tracks
    }

    /// Removes the tracks (and their filters) for which `remove` is true, keeping the order.
    /// `remove` sees the tracks in order, once each.
    fn remove_where(&mut self, mut remove: impl FnMut(&Track) -> bool) {
        let keep: Vec<bool> = self.tracks.iter().map(|t| !remove(t)).collect();
        let mut k = keep.iter();
        self.tracks
            .retain(|_| *k.next().expect("one flag per track"));
        let mut k = keep.iter();
        self.filters
            .retain(|_| *k.next().expect("one flag per filter"));
    }
}

/// Pairs of (index into `tracks`, index into `detections`), taken greedily by highest IoU of
/// the track's predicted box with the detection's box, same class only, IoU >= `min_iou`. Ties
/// go to the lower track index, then the lower detection index, so the result is deterministic.
fn greedy_match(
    tracks: &[Track],
    track_idx: &[usize],
    detections: &[Detection],
    det_idx: &[usize],
    min_iou: f32,
) -> Vec<(usize, usize)> {
    let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
    for &t in track_idx {
        for &d in det_idx {
            let (track, det) = (&tracks[t], &detections[d]);
            if track.class_name != det.class_name {
                continue;
            }
            let iou = track.predicted.iou(&det.bbox);
            // `iou > 0` also keeps a `min_iou` of 0 from pairing boxes that do not touch.
            if iou >= min_iou && iou > 0.0 {
                pairs.push((iou, t, d));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (_, t, d) in pairs {
        if out.iter().all(|&(ot, od)| ot != t && od != d) {
            out.push((t, d));
        }
    }
    out
}

/// Measurement noise standard deviation as a fraction of the box height (ByteTrack's 1/20): a
/// detector's box edges wobble by a few percent of the object's size.
const MEASUREMENT_STD: f32 = 0.05;
/// Standard deviation of the (white-noise) acceleration, as box heights per second squared, for
/// the centre and the size alike. ByteTrack's per-frame velocity noise (h/160 per frame at 30
/// frames per second) works out to about 1 h/s^2; a walking person speeding up, stopping or
/// turning is of that order too.
const ACCELERATION_STD: f32 = 1.0;
/// Initial velocity standard deviation, in box heights per second: a walking person covers
/// roughly their own height per second.
const INITIAL_VELOCITY_STD: f32 = 1.0;

/// Constant-velocity Kalman filter on the box centre, width and height, the state
/// `[cx, cy, w, h, vcx, vcy, vw, vh]` in pixels and pixels per second.
///
/// With the measurement being `[cx, cy, w, h]` and all noise diagonal, the 8x8 covariance
/// never couples different quantities: it is four independent 2x2 blocks (value, rate). So the
/// filter is kept as four 2-state filters, which is exact, not an approximation. The noise of
/// all four scales with the current box height, as in ByteTrack, so a far (small) person gets
/// proportionally smaller noise than a near one.
///
/// Process noise is the continuous white-acceleration model integrated over `dt`
/// (`Q = q [[dt^3/3, dt^2/2], [dt^2/2, dt]]`), so predicting 200 ms then 1300 ms gives the same
/// result as predicting 1500 ms at once, and nothing depends on a frame rate.
#[derive(Clone, Debug)]
struct BoxFilter {
    /// cx, cy, w, h.
    axes: [Axis; 4],
}

/// One quantity and its rate of change, with their 2x2 covariance.
#[derive(Clone, Copy, Debug)]
struct Axis {
    value: f32,
    rate: f32,
    /// Covariance `[[p[0], p[1]], [p[1], p[2]]]` (symmetric, stored once).
    p: [f32; 3],
}

impl BoxFilter {
    fn new(b: &BBox) -> Self {
        let (w, h) = (b.width().max(1.0), b.height().max(1.0));
        let values = [(b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0, w, h];
        // ByteTrack starts with twice the measurement noise on the position.
        let p_std = 2.0 * MEASUREMENT_STD * h;
        let v_std = INITIAL_VELOCITY_STD * h;
        Self {
            axes: values.map(|value| Axis {
                value,
                rate: 0.0,
                p: [p_std * p_std, 0.0, v_std * v_std],
            }),
        }
    }

    fn height(&self) -> f32 {
        self.axes[3].value.max(1.0)
    }

    /// Moves the state `dt_s` seconds ahead (nothing for `dt_s <= 0`). `hold_size` zeroes the
    /// width and height rates first, as ByteTrack does for lost tracks: a box shrinking while
    /// unseen (someone crouching, then hidden) would otherwise keep shrinking towards nothing,
    /// and with gaps of seconds between frames that happens fast. Unlike ByteTrack, which keeps
    /// the rates for the first missed frame (1/30 s), the tracker applies it from the first
    /// missed frame on, however long that gap is.
    fn predict(&mut self, dt_s: f32, hold_size: bool) {
        if hold_size {
            self.axes[2].rate = 0.0;
            self.axes[3].rate = 0.0;
        }
        if dt_s <= 0.0 {
            return;
        }
        let q = (ACCELERATION_STD * self.height()).powi(2);
        let dt = dt_s;
        for a in &mut self.axes {
            a.value += a.rate * dt;
            let [p00, p01, p11] = a.p;
            a.p = [
                p00 + 2.0 * dt * p01 + dt * dt * p11 + q * dt.powi(3) / 3.0,
                p01 + dt * p11 + q * dt * dt / 2.0,
                p11 + q * dt,
            ];
        }
        for i in [2, 3] {
            self.axes[i].value = self.axes[i].value.max(1.0);
        }
    }

    /// Corrects the state with a measured box.
    fn correct(&mut self, b: &BBox) {
        let r = (MEASUREMENT_STD * self.height()).powi(2);
        let z = [
            (b.x1 + b.x2) / 2.0,
            (b.y1 + b.y2) / 2.0,
            b.width().max(1.0),
            b.height().max(1.0),
        ];
        for (a, z) in self.axes.iter_mut().zip(z) {
            let [p00, p01, p11] = a.p;
            let s = p00 + r;
            let (k0, k1) = (p00 / s, p01 / s);
            let innovation = z - a.value;
            a.value += k0 * innovation;
            a.rate += k1 * innovation;
            a.p = [(1.0 - k0) * p00, (1.0 - k0) * p01, p11 - k1 * p01];
        }
        for i in [2, 3] {
            self.axes[i].value = self.axes[i].value.max(1.0);
        }
    }

    fn bbox(&self) -> BBox {
        let [cx, cy, w, h] = self.axes.map(|a| a.value);
        BBox::from_center(cx, cy, w.max(1.0), h.max(1.0))
    }

    fn velocity(&self) -> (f32, f32) {
        (self.axes[0].rate, self.axes[1].rate)
    }
}

/// A confirmed track of `class` with box `bbox`, first and last matched at `seen`, 10 hits, score
/// 0.9, no keypoints, at rest: what the rules' tests start from.
#[cfg(test)]
pub(crate) fn confirmed_track(id: u64, class: &str, bbox: BBox, seen: UnixMillis) -> Track {
    Track {
        id,
        class_id: 0,
        class_name: Arc::from(class),
        bbox,
        predicted: bbox,
        score: 0.9,
        keypoints: Vec::new(),
        first_seen: seen,
        last_seen: seen,
        hits: 10,
        state: TrackState::Confirmed,
        velocity: (0.0, 0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERSON: &str = "person";

    fn det(class: &str, score: f32, cx: f32, cy: f32, w: f32, h: f32) -> Detection {
        Detection {
            class_id: if class == PERSON { 0 } else { 2 },
            class_name: Arc::from(class),
            score,
            bbox: BBox::from_center(cx, cy, w, h),
            keypoints: Vec::new(),
        }
    }

    fn person(cx: f32, cy: f32) -> Detection {
        det(PERSON, 0.9, cx, cy, 60.0, 160.0)
    }

    fn ids(tracks: &[Track]) -> Vec<u64> {
        tracks.iter().map(|t| t.id).collect()
    }

    fn at(ms: i64) -> UnixMillis {
        UnixMillis(1_700_000_000_000 + ms)
    }

    fn centre(b: &BBox) -> (f32, f32) {
        ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0)
    }

    #[test]
    fn walking_person_keeps_one_id_over_30_updates() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        // 150 px/s to the right, a frame every 200 ms: 30 px per frame, half the box width.
        for k in 0..30 {
            let tracks = tracker.update(at(k * 200), &[person(100.0 + 30.0 * k as f32, 300.0)]);
            assert_eq!(ids(tracks), vec![1], "frame {k}");
            let expected = if k == 0 {
                TrackState::Tentative
            } else {
                TrackState::Confirmed
            };
            assert_eq!(tracks[0].state, expected, "frame {k}");
            assert_eq!(tracks[0].hits, k as u32 + 1);
        }
        let t = &tracker.tracks()[0];
        assert_eq!((t.first_seen, t.last_seen), (at(0), at(29 * 200)));
        assert!((t.velocity.0 - 150.0).abs() < 5.0, "{:?}", t.velocity);
        assert!(t.velocity.1.abs() < 5.0, "{:?}", t.velocity);
        assert_eq!(t.foot_point(), (100.0 + 30.0 * 29.0, 380.0));
    }

    #[test]
    fn crossing_people_keep_their_ids() {
        // A walks right, B walks left (10 px lower), 40 px per frame each with 60 px wide
        // boxes. At frame 9 A is 60 px left of B, at frame 10 20 px right of it: A's *last* box
        // is nearer B's new box (20 px) than A's own (40 px), so a tracker without a motion
        // model swaps them. Only the velocity tells them apart.
        let mut tracker = Tracker::new(TrackerConfig::default());
        let a_x = |k: i64| 100.0 + 40.0 * k as f32;
        let b_x = |k: i64| 880.0 - 40.0 * k as f32;
        let mut a_id = None;
        let mut b_id = None;
        for k in 0..20 {
            // The detector's output order flips at the crossing: a matcher taking pairs in
            // index order rather than best IoU first would give B's detection to A's track.
            let mut dets = [person(a_x(k), 300.0), person(b_x(k), 310.0)];
            if k >= 10 {
                dets.reverse();
            }
            let tracks = tracker.update(at(k * 200), &dets);
            assert_eq!(tracks.len(), 2, "frame {k}");
            for t in tracks {
                let (cx, cy) = centre(&t.bbox);
                let (id, x) = if cy < 305.0 {
                    (&mut a_id, a_x(k))
                } else {
                    (&mut b_id, b_x(k))
                };
                assert!((cx - x).abs() < 1.0, "frame {k}: {t:?}");
                assert_eq!(
                    *id.get_or_insert(t.id),
                    t.id,
                    "id changed at frame {k}: {t:?}"
                );
            }
        }
        assert_ne!(a_id, b_id);
        // The boxes really did overlap on the way.
        assert!(
            person(a_x(10), 300.0)
                .bbox
                .iou(&person(b_x(10), 310.0).bbox)
                > 0.4
        );
    }

    #[test]
    fn person_missing_for_three_frames_keeps_id_further_along_the_path() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        for k in 0..10 {
            tracker.update(at(k * 200), &[person(100.0 + 30.0 * k as f32, 300.0)]);
        }
        for k in 10..13 {
            let tracks = tracker.update(at(k * 200), &[]);
            assert_eq!(ids(tracks), vec![1]);
            assert_eq!(tracks[0].state, TrackState::Lost);
            assert!(!tracks[0].is_visible(at(k * 200)));
            // bbox stays the last detection; the prediction moves on.
            assert_eq!(centre(&tracks[0].bbox).0, 100.0 + 30.0 * 9.0);
            let predicted_x = centre(&tracks[0].predicted).0;
            assert!(
                (predicted_x - (100.0 + 30.0 * k as f32)).abs() < 10.0,
                "{predicted_x}"
            );
        }
        // Frame 13: 120 px (two box widths) from where it was last seen.
        let tracks = tracker.update(at(13 * 200), &[person(100.0 + 30.0 * 13.0, 300.0)]);
        assert_eq!(ids(tracks), vec![1]);
        assert_eq!(tracks[0].state, TrackState::Confirmed);
        assert!(tracks[0].is_visible(at(13 * 200)));
        assert_eq!(tracks[0].hits, 11);
    }

    #[test]
    fn person_missing_longer_than_max_lost_gets_a_new_id() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        for k in 0..5 {
            tracker.update(at(k * 200), &[person(300.0, 300.0)]);
        }
        // Last seen at 800 ms. Still there at 800 + 2000 ms...
        for k in 5..=14 {
            assert_eq!(ids(tracker.update(at(k * 200), &[])), vec![1], "frame {k}");
        }
        // ...gone at 800 + 2200 ms, even though the person stands where they stood.
        assert!(tracker.update(at(15 * 200), &[]).is_empty());
        let tracks = tracker.update(at(16 * 200), &[person(300.0, 300.0)]);
        assert_eq!(ids(tracks), vec![2]);
        assert_eq!(tracks[0].state, TrackState::Tentative);
    }

    #[test]
    fn track_older_than_max_lost_is_not_matched_at_the_same_update() {
        // A 2.5 s gap in the stream: the track is removed before matching, not found again.
        let mut tracker = Tracker::new(TrackerConfig::default());
        tracker.update(at(0), &[person(300.0, 300.0)]);
        tracker.update(at(200), &[person(300.0, 300.0)]);
        assert_eq!(
            ids(tracker.update(at(2700), &[person(300.0, 300.0)])),
            vec![2]
        );
    }

    #[test]
    fn low_score_detection_keeps_a_track_alive_but_never_starts_one() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        tracker.update(at(0), &[person(300.0, 300.0)]);
        tracker.update(at(200), &[person(310.0, 300.0)]);
        // Partly hidden for 3 s (longer than max_lost_ms): only 0.3 boxes, still on the path.
        for k in 2..17 {
            let x = 300.0 + 10.0 * k as f32;
            let tracks = tracker.update(at(k * 200), &[det(PERSON, 0.3, x, 300.0, 60.0, 160.0)]);
            assert_eq!(ids(tracks), vec![1], "frame {k}");
            assert_eq!(tracks[0].state, TrackState::Confirmed);
            assert_eq!(tracks[0].last_seen, at(k * 200));
            assert_eq!(tracks[0].score, 0.3);
        }

        // Nothing below new_track_score starts a track, however often it is seen.
        let mut tracker = Tracker::new(TrackerConfig::default());
        for k in 0..10 {
            let dets = [
                det(PERSON, 0.3, 300.0, 300.0, 60.0, 160.0),
                det(PERSON, 0.55, 700.0, 300.0, 60.0, 160.0),
            ];
            assert!(tracker.update(at(k * 200), &dets).is_empty(), "frame {k}");
        }
    }

    #[test]
    fn low_score_detection_does_not_revive_a_lost_track() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        tracker.update(at(0), &[person(300.0, 300.0)]);
        tracker.update(at(200), &[person(300.0, 300.0)]);
        tracker.update(at(400), &[]);
        let tracks = tracker.update(at(600), &[det(PERSON, 0.3, 300.0, 300.0, 60.0, 160.0)]);
        assert_eq!(tracks[0].state, TrackState::Lost);
        assert_eq!(tracks[0].last_seen, at(200));
        // A high one does.
        let tracks = tracker.update(at(800), &[person(300.0, 300.0)]);
        assert_eq!((tracks[0].id, tracks[0].state), (1, TrackState::Confirmed));
    }

    #[test]
    fn car_and_person_at_the_same_place_are_different_tracks() {
        let car = || det("car", 0.9, 300.0, 300.0, 60.0, 160.0);
        let mut tracker = Tracker::new(TrackerConfig::default());
        for k in 0..5 {
            // Same box; the order of the detections alternates so that a class-blind tie-break
            // by index would swap them.
            let mut dets = vec![car(), person(300.0, 300.0)];
            if k % 2 == 1 {
                dets.reverse();
            }
            let tracks = tracker.update(at(k * 200), &dets);
            assert_eq!(ids(tracks), vec![1, 2]);
            assert_eq!((&*tracks[0].class_name, tracks[0].class_id), ("car", 2));
            assert_eq!((&*tracks[1].class_name, tracks[1].class_id), (PERSON, 0));
            assert!(tracks.iter().all(|t| t.is_visible(at(k * 200))));
        }
        // The person leaves; the car's detection alone must not feed the person's track.
        let tracks = tracker.update(at(1000), &[car()]);
        assert_eq!(ids(tracks), vec![1, 2]);
        assert_eq!(tracks[0].state, TrackState::Confirmed);
        assert_eq!(tracks[1].state, TrackState::Lost);

        // A parked car; someone gets out and hides it from the detector: the person's box on the
        // car's track starts a person track, it does not continue the car's.
        let mut tracker = Tracker::new(TrackerConfig::default());
        let car = || det("car", 0.9, 300.0, 300.0, 100.0, 60.0);
        tracker.update(at(0), &[car()]);
        tracker.update(at(200), &[car()]);
        let tracks = tracker.update(at(400), &[det(PERSON, 0.9, 300.0, 290.0, 60.0, 160.0)]);
        assert_eq!(ids(tracks), vec![1, 2]);
        assert_eq!(tracks[0].state, TrackState::Lost);
        assert_eq!(&*tracks[1].class_name, PERSON);
    }

    #[test]
    fn lost_track_keeps_its_last_size() {
        // Someone crouching: the box gets 10 px shorter every frame, then they are hidden.
        let mut tracker = Tracker::new(TrackerConfig::default());
        for k in 0..10 {
            let h = 200.0 - 10.0 * k as f32;
            tracker.update(
                at(k * 200),
                &[det(PERSON, 0.9, 300.0, 400.0 - h / 2.0, 60.0, h)],
            );
        }
        let last_h = tracker.tracks()[0].predicted.height();
        let tracks = tracker.update(at(1800 + 1800), &[]);
        assert_eq!(tracks[0].state, TrackState::Lost);
        let h = tracks[0].predicted.height();
        assert!((h - last_h).abs() < 5.0, "height {last_h} became {h}");
    }

    #[test]
    fn irregular_intervals_predict_with_real_time() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        // 150 px/s, frames every 200 ms.
        for k in 0..10 {
            tracker.update(at(k * 200), &[person(100.0 + 30.0 * k as f32, 300.0)]);
        }
        // Then 1500 ms without a frame: 225 px further, nearly four box widths. A model that
        // counted frames instead of time would look 30 px ahead and miss.
        let t = 1800 + 1500;
        let x = 100.0 + 0.15 * t as f32;
        let tracks = tracker.update(at(t), &[]);
        let predicted_x = centre(&tracks[0].predicted).0;
        assert!(
            (predicted_x - x).abs() < 15.0,
            "predicted {predicted_x}, expected {x}"
        );
        let tracks = tracker.update(at(t + 200), &[person(x + 30.0, 300.0)]);
        assert_eq!(ids(tracks), vec![1]);
        assert_eq!(tracks[0].state, TrackState::Confirmed);
        assert!(
            (tracks[0].velocity.0 - 150.0).abs() < 10.0,
            "{:?}",
            tracks[0].velocity
        );

        // The same gap with a detection at its end matches directly.
        let mut tracker = Tracker::new(TrackerConfig::default());
        for k in 0..10 {
            tracker.update(at(k * 200), &[person(100.0 + 30.0 * k as f32, 300.0)]);
        }
        let tracks = tracker.update(at(3300), &[person(100.0 + 0.15 * 3300.0, 300.0)]);
        assert_eq!(ids(tracks), vec![1]);
        assert!(tracks[0].is_visible(at(3300)));
    }

    #[test]
    fn prediction_over_one_long_gap_equals_prediction_over_short_steps() {
        let mut f1 = BoxFilter::new(&BBox::from_center(100.0, 300.0, 60.0, 160.0));
        let mut f2 = f1.clone();
        f1.correct(&BBox::from_center(130.0, 300.0, 60.0, 160.0));
        f2.correct(&BBox::from_center(130.0, 300.0, 60.0, 160.0));
        f1.predict(1.5, false);
        f2.predict(0.2, false);
        f2.predict(1.3, false);
        for (a, b) in f1.axes.iter().zip(&f2.axes) {
            assert!((a.value - b.value).abs() < 1e-3);
            for (p, q) in a.p.iter().zip(&b.p) {
                assert!(
                    (p - q).abs() <= 1e-3 * p.abs().max(1.0),
                    "{:?} {:?}",
                    a.p,
                    b.p
                );
            }
        }
    }

    #[test]
    fn min_hits_confirms_a_track() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        assert_eq!(
            tracker.update(at(0), &[person(300.0, 300.0)])[0].state,
            TrackState::Tentative
        );
        assert_eq!(
            tracker.update(at(200), &[person(305.0, 300.0)])[0].state,
            TrackState::Confirmed
        );

        // A one-frame detection is dropped at its first miss instead of going lost.
        assert_eq!(
            tracker
                .update(at(400), &[person(305.0, 300.0), person(800.0, 300.0)])
                .len(),
            2
        );
        let tracks = tracker.update(at(600), &[person(305.0, 300.0)]);
        assert_eq!(ids(tracks), vec![1]);

        let mut tracker = Tracker::new(TrackerConfig {
            min_hits: 3,
            ..TrackerConfig::default()
        });
        let states: Vec<TrackState> = (0..3)
            .map(|k| tracker.update(at(k * 200), &[person(300.0, 300.0)])[0].state)
            .collect();
        use TrackState::*;
        assert_eq!(states, vec![Tentative, Tentative, Confirmed]);

        let mut tracker = Tracker::new(TrackerConfig {
            min_hits: 1,
            ..TrackerConfig::default()
        });
        assert_eq!(
            tracker.update(at(0), &[person(300.0, 300.0)])[0].state,
            Confirmed
        );
    }

    #[test]
    fn a_detection_matches_at_most_one_track() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        for k in 0..3 {
            tracker.update(at(k * 200), &[person(300.0, 300.0), person(330.0, 300.0)]);
        }
        let tracks = tracker.update(at(600), &[person(315.0, 300.0)]);
        assert_eq!(ids(tracks), vec![1, 2]);
        let visible = tracks.iter().filter(|t| t.is_visible(at(600))).count();
        assert_eq!(visible, 1);
    }

    #[test]
    fn ids_increase_and_are_never_reused_even_when_time_goes_back() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        tracker.update(at(0), &[person(100.0, 300.0), person(500.0, 300.0)]);
        assert_eq!(ids(tracker.tracks()), vec![1, 2]);
        // A replay restarts at an earlier time: old tracks are dropped, new ids continue.
        let tracks = tracker.update(at(-10_000), &[person(100.0, 300.0)]);
        assert_eq!(ids(tracks), vec![3]);
    }

    #[test]
    fn detections_below_low_score_and_empty_boxes_are_harmless() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        tracker.update(at(0), &[person(300.0, 300.0)]);
        let dets = [
            det(PERSON, 0.05, 300.0, 300.0, 60.0, 160.0),
            det(PERSON, 0.9, 900.0, 300.0, 0.0, 0.0),
            det(PERSON, f32::NAN, 300.0, 300.0, 60.0, 160.0),
        ];
        let tracks = tracker.update(at(200), &dets);
        // The first track missed (it was tentative, so it is gone); the empty box starts one.
        assert_eq!(ids(tracks), vec![2]);
        assert!(tracks[0].predicted.width() >= 1.0 && tracks[0].predicted.height() >= 1.0);
        let tracks = tracker.update(at(400), &dets);
        assert!(tracks.iter().all(|t| t.predicted.x1.is_finite()));
    }

    #[test]
    fn keypoints_and_box_come_from_the_last_matched_detection() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        tracker.update(at(0), &[person(300.0, 300.0)]);
        let mut d = person(310.0, 302.0);
        d.keypoints = vec![Keypoint {
            x: 310.0,
            y: 230.0,
            score: 0.8,
        }];
        let tracks = tracker.update(at(200), &[d.clone()]);
        assert_eq!(tracks[0].bbox, d.bbox);
        assert_eq!(tracks[0].keypoints, d.keypoints);
        assert_ne!(tracks[0].predicted, d.bbox, "the filter smooths");
    }

    #[test]
    fn config_defaults_apply_to_missing_fields() {
        #[derive(Deserialize)]
        struct Wrapper {
            tracker: TrackerConfig,
        }
        let w: Wrapper =
            serde_json::from_str(r#"{"tracker": {"max_lost_ms": 5000}}"#).expect("valid config");
        assert_eq!(
            w.tracker,
            TrackerConfig {
                max_lost_ms: 5000,
                ..TrackerConfig::default()
            }
        );
        assert!(serde_json::from_str::<TrackerConfig>(r#"{"max_lost": 1}"#).is_err());
    }
}
