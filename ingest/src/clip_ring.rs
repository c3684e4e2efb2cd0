//! The pre-event ring of a camera's compressed stream, and the clips cut from it. Pure: access
//! units and times in, [`ClipJob`]s out; the writer (`crate::clip_writer`) does the I/O.
//!
//! The ring keeps access units (H.264/H.265 as the camera sent them, not decoded pictures), so
//! it costs memory at the stream's bitrate and no CPU: a 1 Mbit/s camera with the default 5 s
//! (plus [`DEFAULT_LATENCY_MARGIN_MS`]) holds about 0.9 MB. It always starts at a keyframe:
//! it keeps everything from the last keyframe at or before `newest - pre - margin`, so a clip
//! can start at `event - pre` even though the alert reaches it after the analysis latency.
//!
//! A clip starts when an alert asks ([`ClipRing::start`]): the ring's contents from the last
//! keyframe at or before `event - pre` are copied (reference-counted, not the bytes), then every
//! access unit up to `event + post` is added (and past it, the B-frames of the last reference
//! picture: see `Recording::ends_before`), and the clip is handed out as a [`ClipJob`] by the
//! [`ClipRing::push`] that passes its end. Overlapping alerts on one camera each get their own
//! clip (the access units are shared, so a second clip costs little memory); alerts of one
//! incident never overlap (only `new` alerts get clips).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use sharpeyes_core::CameraId;

use crate::decode::VideoCodec;
use crate::mask::MaskPolygon;

/// Default seconds of stream kept before an event.
pub const DEFAULT_PRE_S: f64 = 5.0;
/// Default seconds recorded after an event.
pub const DEFAULT_POST_S: f64 = 10.0;
/// Extra time the ring keeps beyond `pre`, for the alert's own latency (analysis queue,
/// detection, the rules' confirmation is in `event_time` already): an alert for event time T
/// reaches the ring up to this long after T and still finds `T - pre`.
pub const DEFAULT_LATENCY_MARGIN_MS: i64 = 2_000;
/// Default byte cap of one camera's ring: 8 MiB, 5 s at 12 Mbit/s. A higher bitrate keeps
/// fewer seconds (whole GOPs are dropped from the old end).
pub const DEFAULT_RING_MAX_BYTES: usize = 8 << 20;
/// Default byte cap of one clip being recorded; past it the clip ends early (truncated).
pub const DEFAULT_CLIP_MAX_BYTES: usize = 64 << 20;
/// Clips being recorded at once per camera; another alert meanwhile gets no clip (counted).
pub const DEFAULT_MAX_RECORDING: usize = 4;

/// The stream's format, as the decoder and the muxer need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamFormat {
    pub codec: VideoCodec,
    /// `avcC` (H.264) or `hvcC` (H.265) decoder configuration: the caps' `codec_data`.
    pub codec_data: Bytes,
}

/// One access unit: a whole picture, length-prefixed NAL units (`avc`/`hvc1` stream format).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingAu {
    /// The time alerts' `event_time` is in, ms: wall clock when received (live cameras), replay
    /// start + decode time (files). Not decreasing.
    pub time_ms: i64,
    /// Presentation time on the stream's own clock (RTP timestamp, container PTS), ns.
    pub pts_ns: u64,
    /// Decode time on the same clock, ns; None: not known (RTSP: RTP carries presentation
    /// times only), made from the presentation times when the clip is written
    /// ([`ClipJob::timeline`]), B-frames included.
    pub dts_ns: Option<u64>,
    pub keyframe: bool,
    pub data: Bytes,
}

impl RingAu {
    fn decode_ns(&self) -> u64 {
        self.dts_ns.unwrap_or(self.pts_ns)
    }
}

/// How far back a presentation time may go, on a stream without decode times, before the
/// stream counts as restarted: B-frames come a few frames ahead of the pictures shown before
/// them.
const REORDER_MAX_NS: u64 = 1_000_000_000;

/// `au`'s clock went back from `last`'s: decode times that decrease, or (RTSP, presentation
/// times only) a presentation time more than [`REORDER_MAX_NS`] back.
fn clock_went_back(last: &RingAu, au: &RingAu) -> bool {
    match (last.dts_ns, au.dts_ns) {
        (Some(l), Some(a)) => a < l,
        _ => au.pts_ns.saturating_add(REORDER_MAX_NS) < last.pts_ns,
    }
}

/// Per camera clip settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipOptions {
    /// Seconds before the event, ms (default [`DEFAULT_PRE_S`]).
    pub pre_ms: i64,
    /// Seconds after the event, ms (default [`DEFAULT_POST_S`]).
    pub post_ms: i64,
    /// Kept beyond `pre` for the alert's latency, ms ([`DEFAULT_LATENCY_MARGIN_MS`]).
    pub margin_ms: i64,
    /// Byte cap of the ring ([`DEFAULT_RING_MAX_BYTES`]).
    pub ring_max_bytes: usize,
    /// Byte cap of one clip ([`DEFAULT_CLIP_MAX_BYTES`]).
    pub clip_max_bytes: usize,
    /// Clips recorded at once ([`DEFAULT_MAX_RECORDING`]).
    pub max_recording: usize,
    /// The camera's privacy masks: non-empty means clips are decoded, masked and re-encoded.
    pub masks: Arc<[MaskPolygon]>,
}

impl Default for ClipOptions {
    fn default() -> Self {
        Self {
            pre_ms: (DEFAULT_PRE_S * 1000.0) as i64,
            post_ms: (DEFAULT_POST_S * 1000.0) as i64,
            margin_ms: DEFAULT_LATENCY_MARGIN_MS,
            ring_max_bytes: DEFAULT_RING_MAX_BYTES,
            clip_max_bytes: DEFAULT_CLIP_MAX_BYTES,
            max_recording: DEFAULT_MAX_RECORDING,
            masks: Arc::from(Vec::new()),
        }
    }
}

/// A clip ready to be written: its access units (from a keyframe, in decode order) and what
/// the writer needs with them.
#[derive(Clone, Debug)]
pub struct ClipJob {
    pub camera: CameraId,
    pub alert_id: String,
    pub format: StreamFormat,
    pub aus: Vec<RingAu>,
    /// The alert's event time, ms.
    pub event_ms: i64,
    /// Polygons to black out; empty: remux as is.
    pub masks: Arc<[MaskPolygon]>,
    /// Ended before `event + post` (the stream stopped or changed, or the byte cap).
    pub truncated: bool,
}

impl ClipJob {
    /// Media time from the first access unit's start to the last one's end (its duration taken
    /// as the previous frame interval), ms. Zero for fewer than two access units.
    pub fn duration_ms(&self) -> u64 {
        let n = self.aus.len() as u64;
        if n < 2 {
            return 0;
        }
        let span = self.timeline().last().map_or(0, |t| t.1);
        (span + span / (n - 1)) / 1_000_000
    }

    /// Each access unit's (presentation, decode) time, ns, from 0 at the first decode time.
    ///
    /// Access units without decode times (RTSP: RTP carries presentation times only, sent in
    /// decode order) get them from the presentation times: the i-th decode time is the i-th
    /// smallest presentation time, and every presentation time moves later by the stream's
    /// reorder delay (the most a picture comes ahead of its turn), so that no picture is shown
    /// before it is decoded. Without B-frames the delay is 0 and both are the presentation
    /// times; with them, a muxer gets decode times that only increase and the pictures keep
    /// their order.
    pub fn timeline(&self) -> Vec<(u64, u64)> {
        let Some(first) = self.aus.first() else {
            return Vec::new();
        };
        if self.aus.iter().all(|a| a.dts_ns.is_some()) {
            let base = first.decode_ns();
            return self
                .aus
                .iter()
                .map(|a| {
                    (
                        a.pts_ns.saturating_sub(base),
                        a.decode_ns().saturating_sub(base),
                    )
                })
                .collect();
        }
        let mut sorted: Vec<u64> = self.aus.iter().map(|a| a.pts_ns).collect();
        sorted.sort_unstable();
        let delay = sorted
            .iter()
            .zip(&self.aus)
            .map(|(s, a)| s.saturating_sub(a.pts_ns))
            .max()
            .unwrap_or(0);
        let base = sorted[0];
        self.aus
            .iter()
            .zip(&sorted)
            .map(|(a, s)| (a.pts_ns + delay - base, s - base))
            .collect()
    }

    pub fn bytes(&self) -> usize {
        self.aus.iter().map(|a| a.data.len()).sum()
    }
}

/// Why [`ClipRing::start`] made no clip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoClip {
    /// Nothing received yet (or since the stream changed), no format known.
    NoStream,
    /// Already [`ClipOptions::max_recording`] clips being recorded.
    TooMany,
}

struct Recording {
    alert_id: String,
    event_ms: i64,
    end_ms: i64,
    aus: Vec<RingAu>,
    bytes: usize,
    /// The latest presentation time in `aus`, ns.
    last_shown_ns: Option<u64>,
}

impl Recording {
    /// The clip ends before `au`: past `end_ms`, at a picture shown after every picture the clip
    /// has. In decode order a reference picture comes before the B-frames shown ahead of it, so
    /// ending at the first access unit past `end_ms` could keep a reference and lose its
    /// B-frames (a gap in the clip's last pictures); the next picture that is shown later than
    /// all the clip's pictures is where the ones before it are complete. Without B-frames that
    /// is the first access unit past `end_ms`. At most [`REORDER_MAX_NS`] later, it ends anyway.
    fn ends_before(&self, au: &RingAu) -> bool {
        let after_all = self.last_shown_ns.is_none_or(|last| au.pts_ns > last);
        let reorder_max_ms = (REORDER_MAX_NS / 1_000_000) as i64;
        (au.time_ms > self.end_ms && after_all) || au.time_ms > self.end_ms + reorder_max_ms
    }
}

/// One camera's ring and the clips it is recording. See the module docs.
pub struct ClipRing {
    camera: CameraId,
    options: ClipOptions,
    format: Option<StreamFormat>,
    aus: VecDeque<RingAu>,
    bytes: usize,
    recording: Vec<Recording>,
}

impl ClipRing {
    pub fn new(camera: CameraId, options: ClipOptions) -> Self {
        Self {
            camera,
            options,
            format: None,
            aus: VecDeque::new(),
            bytes: 0,
            recording: Vec::new(),
        }
    }

    pub fn options(&self) -> &ClipOptions {
        &self.options
    }

    /// Bytes of access units held by the ring (clips being recorded share them, and hold their
    /// post-event part besides).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Seconds the ring spans now (first to newest access unit), ms.
    pub fn span_ms(&self) -> i64 {
        match (self.aus.front(), self.aus.back()) {
            (Some(a), Some(b)) => b.time_ms - a.time_ms,
            _ => 0,
        }
    }

    pub fn recording(&self) -> usize {
        self.recording.len()
    }

    /// A new stream starts (a new session, new parameters): the clips being recorded end here
    /// (returned, truncated; their timestamps cannot go on on another clock), the ring empties.
    pub fn restart(&mut self, format: StreamFormat) -> Vec<ClipJob> {
        let done = self.finish_all();
        self.aus.clear();
        self.bytes = 0;
        self.format = Some(format);
        done
    }

    /// Adds one access unit (in decode order). Returns the clips whose end it passed.
    pub fn push(&mut self, au: RingAu) -> Vec<ClipJob> {
        let mut done = Vec::new();
        if self.format.is_none() {
            return done;
        }
        // A stream whose clock jumps back (a looping file, a camera's restart within one
        // session) cannot continue a clip or the ring: both start over.
        if let Some(last) = self.aus.back()
            && (clock_went_back(last, &au) || au.time_ms < last.time_ms)
        {
            done = self.finish_all();
            self.aus.clear();
            self.bytes = 0;
        }
        let mut i = 0;
        while i < self.recording.len() {
            let r = &mut self.recording[i];
            let over_cap = r.bytes + au.data.len() > self.options.clip_max_bytes;
            if r.ends_before(&au) || over_cap {
                let r = self.recording.swap_remove(i);
                done.push(self.job(r, over_cap));
                continue;
            }
            if !r.aus.is_empty() || au.keyframe {
                r.bytes += au.data.len();
                r.last_shown_ns = r.last_shown_ns.max(Some(au.pts_ns));
                r.aus.push(au.clone());
            }
            i += 1;
        }
        // The ring starts at a keyframe: a delta with nothing before it cannot be decoded.
        if !self.aus.is_empty() || au.keyframe {
            self.bytes += au.data.len();
            self.aus.push_back(au);
            self.evict();
        }
        done
    }

    /// Drops what is older than needed: everything before the last keyframe at or before
    /// `newest - pre - margin`, then whole GOPs from the old end while over the byte cap.
    fn evict(&mut self) {
        let Some(newest) = self.aus.back().map(|a| a.time_ms) else {
            return;
        };
        let cutoff = newest - self.options.pre_ms - self.options.margin_ms;
        if let Some(k) = last_keyframe_at_or_before(&self.aus, cutoff) {
            self.drop_front(k);
        }
        while self.bytes > self.options.ring_max_bytes {
            // The next keyframe after the first: drop the first GOP; none (one GOP over the
            // cap): drop everything, the ring restarts at the next keyframe.
            let next = self.aus.iter().skip(1).position(|a| a.keyframe);
            match next {
                Some(k) => self.drop_front(k + 1),
                None => {
                    self.aus.clear();
                    self.bytes = 0;
                }
            }
        }
    }

    fn drop_front(&mut self, n: usize) {
        for au in self.aus.drain(..n) {
            self.bytes -= au.data.len();
        }
    }

    /// Starts the clip of alert `alert_id` at `event_ms`: from the last keyframe at or before
    /// `event_ms - pre` (or the ring's first, when it does not reach that far back) to
    /// `event_ms + post`.
    pub fn start(&mut self, alert_id: &str, event_ms: i64) -> Result<(), NoClip> {
        if self.format.is_none() || self.aus.is_empty() {
            return Err(NoClip::NoStream);
        }
        if self.recording.len() >= self.options.max_recording {
            return Err(NoClip::TooMany);
        }
        let from = event_ms - self.options.pre_ms;
        let k = last_keyframe_at_or_before(&self.aus, from).unwrap_or(0);
        let aus: Vec<RingAu> = self.aus.iter().skip(k).cloned().collect();
        let bytes = aus.iter().map(|a| a.data.len()).sum();
        self.recording.push(Recording {
            alert_id: alert_id.to_owned(),
            event_ms,
            end_ms: event_ms + self.options.post_ms,
            last_shown_ns: aus.iter().map(|a| a.pts_ns).max(),
            aus,
            bytes,
        });
        Ok(())
    }

    /// Clips whose end is more than `grace_ms` before `now_ms` although no access unit passed
    /// it (the camera went silent): returned, truncated.
    pub fn expire(&mut self, now_ms: i64, grace_ms: i64) -> Vec<ClipJob> {
        let (old, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.recording)
            .into_iter()
            .partition(|r| r.end_ms + grace_ms < now_ms);
        self.recording = keep;
        old.into_iter().map(|r| self.job(r, true)).collect()
    }

    /// Every clip being recorded, as it is (the end of the stream).
    pub fn finish_all(&mut self) -> Vec<ClipJob> {
        std::mem::take(&mut self.recording)
            .into_iter()
            .map(|r| self.job(r, true))
            .collect()
    }

    fn job(&self, r: Recording, truncated: bool) -> ClipJob {
        ClipJob {
            camera: self.camera.clone(),
            alert_id: r.alert_id,
            format: self
                .format
                .clone()
                .expect("recordings exist only with a format"),
            aus: r.aus,
            event_ms: r.event_ms,
            masks: self.options.masks.clone(),
            truncated,
        }
    }
}

/// Index of the last keyframe whose time is at or before `t`.
fn last_keyframe_at_or_before(aus: &VecDeque<RingAu>, t: i64) -> Option<usize> {
    aus.iter()
        .enumerate()
        .take_while(|(_, a)| a.time_ms <= t)
        .filter(|(_, a)| a.keyframe)
        .map(|(i, _)| i)
        .last()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cam() -> CameraId {
        CameraId::new("cam").unwrap()
    }

    fn format() -> StreamFormat {
        StreamFormat {
            codec: VideoCodec::H264,
            codec_data: Bytes::from_static(&[1, 2, 3]),
        }
    }

    /// 10 fps, a keyframe every `gop` frames, 100 bytes each; frame i at 1000 + 100 i ms.
    fn au(i: i64, gop: i64) -> RingAu {
        RingAu {
            time_ms: 1000 + i * 100,
            pts_ns: i as u64 * 100_000_000,
            dts_ns: None,
            keyframe: i % gop == 0,
            data: Bytes::from(vec![0u8; 100]),
        }
    }

    fn ring(pre_ms: i64, post_ms: i64) -> ClipRing {
        let mut r = ClipRing::new(
            cam(),
            ClipOptions {
                pre_ms,
                post_ms,
                margin_ms: 0,
                ..ClipOptions::default()
            },
        );
        assert!(r.restart(format()).is_empty());
        r
    }

    fn feed(r: &mut ClipRing, range: std::ops::Range<i64>, gop: i64) -> Vec<ClipJob> {
        range.flat_map(|i| r.push(au(i, gop))).collect()
    }

    #[test]
    fn ring_keeps_pre_seconds_from_a_keyframe() {
        let mut r = ring(2000, 1000);
        feed(&mut r, 0..100, 10); // 10 s, keyframes every second
        let first = r.aus.front().unwrap();
        assert!(first.keyframe);
        // Newest at 10.9 s: cutoff 8.9 s; the last keyframe at or before it is at 8 s (media
        // time 7 s): 2.9 s kept, not fewer than pre.
        assert_eq!(first.time_ms, 8000);
        assert_eq!(r.bytes(), 30 * 100);
        assert_eq!(r.span_ms(), 2900);
    }

    #[test]
    fn ring_never_starts_with_a_delta() {
        let mut r = ring(2000, 1000);
        // Frames 3..9 are deltas of a GOP whose keyframe was never seen.
        feed(&mut r, 3..25, 10);
        assert_eq!(r.aus.front().unwrap().time_ms, 1000 + 1000);
        assert!(r.aus.front().unwrap().keyframe);
    }

    #[test]
    fn byte_cap_drops_whole_gops_from_the_old_end() {
        let mut r = ClipRing::new(
            cam(),
            ClipOptions {
                pre_ms: 60_000,
                ring_max_bytes: 2500,
                ..ClipOptions::default()
            },
        );
        r.restart(format());
        feed(&mut r, 0..40, 10);
        assert!(r.bytes() <= 2500);
        assert!(r.aus.front().unwrap().keyframe);
        assert_eq!(r.aus.front().unwrap().time_ms, 1000 + 2000);
    }

    #[test]
    fn one_gop_over_the_cap_empties_the_ring_until_the_next_keyframe() {
        let mut r = ClipRing::new(
            cam(),
            ClipOptions {
                ring_max_bytes: 500,
                ..ClipOptions::default()
            },
        );
        r.restart(format());
        feed(&mut r, 0..6, 10);
        assert_eq!(r.bytes(), 0, "6 frames of one GOP, 600 bytes, over 500");
        feed(&mut r, 6..11, 10);
        assert_eq!(r.aus.len(), 1);
        assert!(r.aus[0].keyframe);
    }

    #[test]
    fn clip_spans_pre_before_to_post_after_the_event() {
        let mut r = ring(2000, 3000);
        feed(&mut r, 0..50, 10); // up to 5.9 s
        // Event at 5.5 s: pre reaches back to 3.5 s, the last keyframe before is at 3 s.
        r.start("a1", 1000 + 4500).unwrap();
        assert!(
            feed(&mut r, 50..75, 10).is_empty(),
            "ends at 7.5 s media time"
        );
        let done = feed(&mut r, 75..80, 10);
        assert_eq!(done.len(), 1);
        let job = &done[0];
        assert_eq!(job.alert_id, "a1");
        assert!(!job.truncated);
        assert!(job.aus[0].keyframe);
        assert_eq!(job.aus[0].time_ms, 3000);
        assert_eq!(job.aus.last().unwrap().time_ms, 8500);
        assert_eq!(job.duration_ms(), 5600);
        assert_eq!(job.event_ms, 5500);
    }

    #[test]
    fn a_short_ring_gives_what_it_has_from_its_first_keyframe() {
        let mut r = ring(5000, 1000);
        feed(&mut r, 0..20, 10);
        r.start("a", 1000 + 1500).unwrap();
        let done = feed(&mut r, 20..40, 10);
        assert_eq!(done[0].aus[0].time_ms, 1000);
    }

    #[test]
    fn overlapping_alerts_each_get_their_clip_sharing_the_bytes() {
        let mut r = ring(1000, 1000);
        feed(&mut r, 0..30, 10);
        r.start("a", 1000 + 2900).unwrap();
        feed(&mut r, 30..35, 10);
        r.start("b", 1000 + 3400).unwrap();
        let done = feed(&mut r, 35..60, 10);
        let ids: Vec<_> = done.iter().map(|j| j.alert_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(done[0].aus[0].time_ms, 1000 + 1000);
        assert_eq!(done[1].aus[0].time_ms, 1000 + 2000);
        // The same access unit in both clips is one allocation.
        let shared = done[0].aus.iter().find(|a| a.time_ms == 3500).unwrap();
        let other = done[1].aus.iter().find(|a| a.time_ms == 3500).unwrap();
        assert_eq!(shared.data.as_ptr(), other.data.as_ptr());
    }

    #[test]
    fn too_many_clips_at_once_are_refused() {
        let mut r = ClipRing::new(
            cam(),
            ClipOptions {
                max_recording: 1,
                ..ClipOptions::default()
            },
        );
        assert_eq!(r.start("x", 0), Err(NoClip::NoStream));
        r.restart(format());
        feed(&mut r, 0..10, 10);
        r.start("a", 1500).unwrap();
        assert_eq!(r.start("b", 1600), Err(NoClip::TooMany));
    }

    #[test]
    fn a_new_stream_ends_the_clips_being_recorded() {
        let mut r = ring(1000, 5000);
        feed(&mut r, 0..20, 10);
        r.start("a", 2500).unwrap();
        feed(&mut r, 20..25, 10);
        let done = r.restart(format());
        assert_eq!(done.len(), 1);
        assert!(done[0].truncated);
        assert_eq!(r.bytes(), 0);
        assert_eq!(r.recording(), 0);
    }

    #[test]
    fn a_clock_jumping_back_ends_clips_and_empties_the_ring() {
        let mut r = ring(1000, 5000);
        feed(&mut r, 10..20, 10);
        r.start("a", 2500).unwrap();
        let done = feed(&mut r, 0..5, 10);
        assert_eq!(done.len(), 1);
        assert!(done[0].truncated);
        assert_eq!(r.aus.len(), 5);
    }

    #[test]
    fn silent_camera_clips_expire_after_the_grace() {
        let mut r = ring(1000, 1000);
        feed(&mut r, 0..20, 10);
        r.start("a", 2500).unwrap();
        assert!(r.expire(3500 + 999, 1000).is_empty());
        let done = r.expire(3500 + 1001, 1000);
        assert_eq!(done.len(), 1);
        assert!(done[0].truncated);
    }

    #[test]
    fn clip_byte_cap_ends_a_clip_early() {
        let mut r = ClipRing::new(
            cam(),
            ClipOptions {
                pre_ms: 0,
                post_ms: 60_000,
                margin_ms: 0,
                clip_max_bytes: 1000,
                ..ClipOptions::default()
            },
        );
        r.restart(format());
        feed(&mut r, 0..10, 10);
        r.start("a", 1000).unwrap();
        let done = feed(&mut r, 10..30, 10);
        assert_eq!(done.len(), 1);
        assert!(done[0].truncated);
        assert!(done[0].bytes() <= 1000);
    }

    #[test]
    fn nothing_is_kept_before_the_format_is_known() {
        let mut r = ClipRing::new(cam(), ClipOptions::default());
        feed(&mut r, 0..10, 10);
        assert_eq!(r.bytes(), 0);
    }

    /// Frame `i` in decode order of an RTSP stream with B-frames, 10 fps, RTP presentation
    /// times only: closed GOPs of 6 pictures, shown I0 B1 B2 P3 B4 P5 and sent I0 P3 B1 B2 P5
    /// B4 (each reference before the B-frames shown ahead of it).
    fn au_b_frames(i: i64) -> RingAu {
        let shown = i - i % 6 + [0, 3, 1, 2, 5, 4][(i % 6) as usize];
        RingAu {
            pts_ns: 5_000_000_000 + shown as u64 * 100_000_000,
            ..au(i, 6)
        }
    }

    #[test]
    fn timeline_without_b_frames_is_the_presentation_times_from_zero() {
        let mut r = ring(1000, 1000);
        feed(&mut r, 0..10, 5);
        r.start("a", 1500).unwrap();
        let done = feed(&mut r, 10..30, 5);
        let t = done[0].timeline();
        assert_eq!(t[0], (0, 0));
        assert!(t.iter().all(|(p, d)| p == d), "{t:?}");
        assert_eq!(t[1], (100_000_000, 100_000_000));
        assert_eq!(done[0].duration_ms(), 100 * done[0].aus.len() as u64);
    }

    #[test]
    fn b_frames_without_decode_times_keep_the_ring_and_get_decode_times_that_increase() {
        // Post 1.4 s: the clip ends with a whole GOP (decode index 29).
        let mut r = ring(1000, 1400);
        let mut done: Vec<ClipJob> = (0..12).flat_map(|i| r.push(au_b_frames(i))).collect();
        assert!(done.is_empty(), "B-frames going back are not a new stream");
        r.start("a", 1000 + 1500).unwrap();
        done.extend((12..40).flat_map(|i| r.push(au_b_frames(i))));
        assert_eq!(done.len(), 1);
        let job = &done[0];
        assert!(!job.truncated);
        let t = job.timeline();
        assert!(
            t.windows(2).all(|w| w[1].1 > w[0].1),
            "decode times increase: {t:?}"
        );
        assert!(t.iter().all(|(p, d)| p >= d), "shown after decoded: {t:?}");
        // The reorder delay is one frame (B1 is sent third, shown second); the pictures keep
        // their own times, one apart, moved by it.
        assert_eq!(
            &t[..3],
            &[
                (100_000_000, 0),
                (400_000_000, 100_000_000),
                (200_000_000, 200_000_000)
            ]
        );
        let mut shown: Vec<u64> = t.iter().map(|x| x.0).collect();
        shown.sort_unstable();
        assert!(
            shown.windows(2).all(|w| w[1] - w[0] == 100_000_000),
            "{shown:?}"
        );
        assert_eq!(job.duration_ms(), 100 * job.aus.len() as u64);
    }

    #[test]
    fn a_clip_of_b_frames_ends_with_every_picture_before_its_last() {
        // Whatever frame the end falls on, the clip ends where its pictures are complete: none
        // missing between the first and the last shown.
        for post_ms in (1000..2000).step_by(100) {
            let mut r = ring(1000, post_ms);
            for i in 0..12 {
                r.push(au_b_frames(i));
            }
            r.start("a", 1000 + 1500).unwrap();
            let done: Vec<ClipJob> = (12..60).flat_map(|i| r.push(au_b_frames(i))).collect();
            assert_eq!(done.len(), 1, "post {post_ms} ms");
            let mut shown: Vec<u64> = done[0].aus.iter().map(|a| a.pts_ns).collect();
            shown.sort_unstable();
            assert!(
                shown.windows(2).all(|w| w[1] - w[0] == 100_000_000),
                "post {post_ms} ms: {shown:?}"
            );
            let last = done[0].aus.last().unwrap().time_ms;
            assert!(
                (2500 + post_ms - 100..=2500 + post_ms + 200).contains(&last),
                "post {post_ms} ms: ends at {last}"
            );
        }
    }

    #[test]
    fn presentation_times_more_than_a_second_back_are_a_new_stream() {
        let mut r = ring(1000, 5000);
        feed(&mut r, 0..20, 10);
        r.start("a", 2500).unwrap();
        // The wall clock goes on; the camera's RTP clock jumps 1.5 s back.
        let back = |i: i64| RingAu {
            pts_ns: (i as u64 * 100_000_000).saturating_sub(1_500_000_000 + 2_000_000_000),
            ..au(i, 10)
        };
        let done: Vec<ClipJob> = (20..25).flat_map(|i| r.push(back(i))).collect();
        assert_eq!(done.len(), 1);
        assert!(done[0].truncated);
    }
}
