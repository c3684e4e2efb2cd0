//! Adaptive decode: a camera where nothing moves and nothing is detected decodes keyframes
//! only, plus a peek every [`DEFAULT_PEEK`] (the GOP so far is kept compressed and decoded in a
//! burst without pictures but the last, see [`GopKeeper`]); motion or a detected object
//! switches it to full decode at once, and it goes back after `quiet` without activity. The
//! decision and the motion measure are pure; the RTSP reader consults a shared [`DecodeGate`]
//! for each access unit.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use sharpeyes_core::{Frame, UnixMillis};

/// Shared between the camera's network reader (reads it per access unit) and whoever sees
/// activity (the camera thread for motion, the analysis thread for detections).
#[derive(Debug)]
pub struct DecodeGate {
    enabled: bool,
    quiet_ms: i64,
    /// Last activity, ms since the epoch; i64::MIN: none yet.
    last_activity_ms: AtomicI64,
    keyframes_only: AtomicBool,
}

impl DecodeGate {
    /// `enabled = false` always decodes every frame. Starts in full decode so that the first
    /// GOP is seen in full (a person may be there already).
    pub fn new(enabled: bool, quiet: Duration) -> Self {
        Self {
            enabled,
            quiet_ms: quiet.as_millis() as i64,
            last_activity_ms: AtomicI64::new(i64::MIN),
            keyframes_only: AtomicBool::new(false),
        }
    }

    /// Something happened at `now` (motion, an object): decode everything for `quiet` more.
    pub fn activity(&self, now: UnixMillis) {
        self.last_activity_ms.fetch_max(now.0, Ordering::Relaxed);
        self.keyframes_only.store(false, Ordering::Relaxed);
    }

    /// Re-evaluates at `now`; returns whether only keyframes should be decoded.
    pub fn update(&self, now: UnixMillis) -> bool {
        if !self.enabled {
            return false;
        }
        // The first look counts as activity: a camera starts with a full quiet period of full
        // decode (a person may be in view already; detection gets to see them).
        let _ = self.last_activity_ms.compare_exchange(
            i64::MIN,
            now.0,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        let last = self.last_activity_ms.load(Ordering::Relaxed);
        let quiet = now.0.saturating_sub(last) >= self.quiet_ms;
        self.keyframes_only.store(quiet, Ordering::Relaxed);
        quiet
    }

    /// Whether there was activity (or the start) within the quiet period before `now`, whether
    /// or not adaptive decode is enabled: motion gating of detection asks this.
    pub fn active(&self, now: UnixMillis) -> bool {
        let _ = self.last_activity_ms.compare_exchange(
            i64::MIN,
            now.0,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        now.0
            .saturating_sub(self.last_activity_ms.load(Ordering::Relaxed))
            < self.quiet_ms
    }

    /// What the reader should do now (as of the last `update`/`activity`).
    pub fn keyframes_only(&self) -> bool {
        self.enabled && self.keyframes_only.load(Ordering::Relaxed)
    }
}

/// Which access units to hand to the decoder, given the gate, and how a quiet camera still
/// sees a newcomer fast. Pure (time is passed in).
///
/// - Full decode: every access unit.
/// - Keyframes only: keyframes are decoded and deltas skipped, but the deltas of the current
///   GOP are kept (compressed: a few kB on a still scene). The decoder's last picture is then
///   that GOP's keyframe or the last peek, so the kept deltas can still be decoded in order.
/// - Peek: every [`KeeperOptions::peek_ms`] while quiet, the kept deltas are decoded in a
///   burst, decode-only (the decoder catches up, no picture comes out of them), and the
///   current one with a picture. A quiet camera thus shows the camera loop's motion detector a
///   picture every `peek_ms` (default 1 s) instead of every GOP (2 s and more on village
///   cameras), for the cost of decoding the deltas up to the peek, without scaling or
///   converting them.
/// - Why not wake on a jump in delta sizes (a P-frame grows when something moves)? Measured
///   on x264 at a constant bitrate, the way many cameras encode: a still picture's deltas go
///   147, 54, 146, 414, 1138, 319, 4350 ... 18957 bytes within one GOP as the encoder spends
///   its budget refining it, so any threshold either woke the camera all the time or never.
///   Peeks work whatever the encoder does, at a known cost.
/// - Back to full decode mid-GOP (motion or a detection): the kept deltas are decoded first,
///   no waiting for the next keyframe. With nothing decodable kept (the GOP's start was
///   missed), deltas wait for the next keyframe: a delta without its references decodes to
///   garbage.
#[derive(Debug)]
pub struct GopKeeper<T> {
    /// Deltas are skipped until the next keyframe.
    skipping: bool,
    /// Deltas skipped since the decoder's last picture, oldest first.
    kept: Vec<T>,
    kept_bytes: usize,
    /// `kept` is whole: every delta since the decoder's last picture is in it.
    whole: bool,
    /// When the decoder last put out a picture (keyframe, peek, burst), ms.
    last_picture_ms: Option<i64>,
    pub options: KeeperOptions,
}

/// How often [`GopKeeper`] peeks, and how much it keeps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KeeperOptions {
    /// While quiet, a picture at least this often (ms); 0: keyframes only, no peeks.
    pub peek_ms: i64,
    /// Most bytes kept; past it the GOP is dropped (deltas then wait for a keyframe).
    pub max_kept_bytes: usize,
}

/// Default peek interval (camera files' `detect.peek_s`): a newcomer in a quiet camera's view
/// is in a decoded picture within a second, whatever the camera's GOP (on the village cameras'
/// 2 s GOP, one peek halfway). Peeking every 0.5 s cost 0.59 % of a core per idle camera on
/// the reference machine (64 idle cameras: 0.91 % against 0.32 % without peeks), too much for
/// 128 cameras a box; see docs/density.md.
pub const DEFAULT_PEEK: Duration = Duration::from_secs(1);

/// Peek intervals camera files and the bench accept: 0 (off) or 0.1 s to 10 s. The error is
/// the message without the field's name.
pub fn peek_from_secs(s: f64) -> Result<Duration, String> {
    if s == 0.0 || (0.1..=10.0).contains(&s) {
        Ok(Duration::from_secs_f64(s))
    } else {
        Err(format!("must be 0 (off) or between 0.1 and 10, got {s}"))
    }
}

impl Default for KeeperOptions {
    fn default() -> Self {
        Self {
            peek_ms: DEFAULT_PEEK.as_millis() as i64,
            max_kept_bytes: 4 << 20,
        }
    }
}

/// Why the kept deltas are decoded now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The periodic look while quiet; the camera stays quiet.
    Peek,
    /// The gate went back to full decode mid-GOP.
    Resume,
}

/// What to do with one access unit.
#[derive(Debug, PartialEq, Eq)]
pub enum AuAction<T> {
    /// Decode it.
    Decode(T),
    /// Do not decode it now (kept, or dropped when nothing decodable can follow).
    Skip,
    /// Decode `catch_up` first, decode-only (the decoder catches up, no picture comes out),
    /// then `current` with its picture.
    Burst {
        catch_up: Vec<T>,
        current: T,
        why: Wake,
    },
}

impl<T> Default for GopKeeper<T> {
    fn default() -> Self {
        Self::new(KeeperOptions::default())
    }
}

impl<T> GopKeeper<T> {
    pub fn new(options: KeeperOptions) -> Self {
        Self {
            skipping: false,
            kept: Vec::new(),
            kept_bytes: 0,
            whole: false,
            last_picture_ms: None,
            options,
        }
    }

    fn drop_kept(&mut self) {
        self.kept.clear();
        self.kept_bytes = 0;
    }

    fn burst(&mut self, current: T, why: Wake, now_ms: i64) -> AuAction<T> {
        self.skipping = why == Wake::Peek;
        self.kept_bytes = 0;
        self.last_picture_ms = Some(now_ms);
        AuAction::Burst {
            catch_up: std::mem::take(&mut self.kept),
            current,
            why,
        }
    }

    /// An access unit handed to the decoder was lost (its input queue was full): deltas wait
    /// for the next keyframe.
    pub fn lost(&mut self) {
        self.drop_kept();
        self.whole = false;
        self.skipping = true;
    }

    /// Decides for one access unit of `size` bytes arriving at `now_ms`; `au` is kept when
    /// skipped.
    pub fn admit(
        &mut self,
        au: T,
        size: usize,
        keyframe: bool,
        keyframes_only: bool,
        now_ms: i64,
    ) -> AuAction<T> {
        if keyframe {
            self.drop_kept();
            self.whole = true;
            self.skipping = keyframes_only;
            self.last_picture_ms = Some(now_ms);
            return AuAction::Decode(au);
        }
        if !keyframes_only {
            if !self.skipping {
                return AuAction::Decode(au);
            }
            if self.whole {
                return self.burst(au, Wake::Resume, now_ms);
            }
            return AuAction::Skip;
        }
        // Keyframes only.
        self.skipping = true;
        if !self.whole {
            return AuAction::Skip;
        }
        let o = self.options;
        if o.peek_ms > 0
            && self
                .last_picture_ms
                .is_some_and(|t| now_ms - t >= o.peek_ms)
        {
            return self.burst(au, Wake::Peek, now_ms);
        }
        if self.kept_bytes + size > o.max_kept_bytes {
            self.drop_kept();
            self.whole = false;
            return AuAction::Skip;
        }
        self.kept_bytes += size;
        self.kept.push(au);
        AuAction::Skip
    }
}

/// Motion between consecutive frames: the fraction (0-1) of a 32x18 luma thumbnail of the
/// picture area whose cells changed by more than [`CELL_CHANGE`] grey levels. A person walking
/// through a village scene changes a few percent of the cells; compression flicker almost none.
/// Pure.
///
/// The reference thumbnail is at least [`REFERENCE_AGE_MS`] old, not the previous frame: a slow
/// walker changes little between two frames 0.1 s apart, much over half a second.
#[derive(Debug, Default)]
pub struct MotionDetector {
    reference: Option<(UnixMillis, Vec<u8>)>,
}

/// How old (in frame time) the thumbnail compared against may get before it is replaced.
pub const REFERENCE_AGE_MS: i64 = 500;

/// Grey levels a thumbnail cell must change by to count as changed.
pub const CELL_CHANGE: u8 = 25;
const THUMB_W: u32 = 32;
const THUMB_H: u32 = 18;

impl MotionDetector {
    /// Fraction of cells changed since the reference thumbnail (0 for the first frame).
    pub fn update(&mut self, frame: &Frame) -> f32 {
        let thumb = thumbnail(frame);
        let score = match &self.reference {
            Some((_, r)) if r.len() == thumb.len() => {
                r.iter()
                    .zip(&thumb)
                    .filter(|(a, b)| a.abs_diff(**b) > CELL_CHANGE)
                    .count() as f32
                    / thumb.len() as f32
            }
            _ => 0.0,
        };
        let stale = self.reference.as_ref().is_none_or(|(t, r)| {
            frame.time.0 - t.0 >= REFERENCE_AGE_MS || frame.time.0 < t.0 || r.len() != thumb.len()
        });
        if stale {
            self.reference = Some((frame.time, thumb));
        }
        score
    }
}

fn thumbnail(f: &Frame) -> Vec<u8> {
    let (iw, ih) = f.letterbox.inner_size();
    let (px, py) = (f.letterbox.pad_x as u32, f.letterbox.pad_y as u32);
    let mut out = Vec::with_capacity((THUMB_W * THUMB_H) as usize);
    for ty in 0..THUMB_H {
        for tx in 0..THUMB_W {
            let x = (px + (tx * 2 + 1) * iw / (THUMB_W * 2)).min(f.width.saturating_sub(1));
            let y = (py + (ty * 2 + 1) * ih / (THUMB_H * 2)).min(f.height.saturating_sub(1));
            let [b, g, r] = f.bgr_at(x, y);
            out.push(((29 * b as u32 + 150 * g as u32 + 77 * r as u32) >> 8) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(fill: impl Fn(u32, u32) -> u8) -> Frame {
        sharpeyes_core::testing::grey_frame("c", (64, 64), (64, 64), fill)
    }

    #[test]
    fn a_still_picture_has_no_motion_a_moving_block_has_some() {
        let mut m = MotionDetector::default();
        let still = frame(|x, _| (x * 4) as u8);
        assert_eq!(m.update(&still), 0.0);
        assert_eq!(m.update(&still), 0.0);
        // Compared with the reference, not only the previous frame: a change that builds up
        // over several frames is seen in full.
        let moved = frame(|x, y| {
            if (20..40).contains(&x) && (20..40).contains(&y) {
                255
            } else {
                (x * 4) as u8
            }
        });
        // A 20x20 block of a 64x64 picture: about 10% of the cells.
        let score = m.update(&moved);
        assert!((0.05..0.2).contains(&score), "{score}");
    }

    #[test]
    fn gate_goes_quiet_after_the_quiet_period_and_wakes_on_activity() {
        let g = DecodeGate::new(true, Duration::from_secs(10));
        assert!(!g.keyframes_only(), "starts in full decode");
        assert!(!g.update(UnixMillis(1_000)), "the start counts as activity");
        assert!(
            g.update(UnixMillis(11_000)),
            "quiet for 10 s: keyframes only"
        );
        g.activity(UnixMillis(2_000));
        assert!(!g.keyframes_only());
        assert!(!g.update(UnixMillis(11_999)));
        assert!(g.update(UnixMillis(12_000)));
    }

    #[test]
    fn activity_is_tracked_even_when_adaptive_decode_is_off() {
        let g = DecodeGate::new(false, Duration::from_secs(5));
        assert!(g.active(UnixMillis(1_000)), "the start counts");
        assert!(!g.active(UnixMillis(6_000)));
        g.activity(UnixMillis(7_000));
        assert!(g.active(UnixMillis(11_999)));
        assert!(!g.keyframes_only());
    }

    #[test]
    fn a_disabled_gate_always_decodes_everything() {
        let g = DecodeGate::new(false, Duration::from_secs(1));
        assert!(!g.update(UnixMillis(1_000_000)));
        assert!(!g.keyframes_only());
    }

    type Keeper = GopKeeper<u32>;

    fn no_peeks() -> Keeper {
        Keeper::new(KeeperOptions {
            peek_ms: 0,
            ..KeeperOptions::default()
        })
    }

    /// What `admit` did, for short assertions: D decode, S skip, B[kept](why) burst. Access
    /// unit `au` arrives at `au * 67` ms (15 fps).
    fn act(k: &mut Keeper, au: u32, size: usize, key: bool, quiet: bool) -> String {
        match k.admit(au, size, key, quiet, au as i64 * 67) {
            AuAction::Decode(a) => {
                assert_eq!(a, au);
                "D".into()
            }
            AuAction::Skip => "S".into(),
            AuAction::Burst {
                catch_up,
                current,
                why,
            } => {
                assert_eq!(current, au);
                format!("B{catch_up:?}{why:?}")
            }
        }
    }

    #[test]
    fn full_decode_decodes_everything() {
        let mut k = Keeper::default();
        let got: Vec<String> = (0..5).map(|i| act(&mut k, i, 100, i == 0, false)).collect();
        assert_eq!(got, ["D", "D", "D", "D", "D"]);
    }

    #[test]
    fn quiet_decodes_keyframes_keeps_the_gop_and_resumes_mid_gop_with_a_burst() {
        let mut k = no_peeks();
        assert_eq!(act(&mut k, 0, 20_000, true, true), "D");
        assert_eq!(act(&mut k, 1, 80, false, true), "S");
        assert_eq!(act(&mut k, 2, 90, false, true), "S");
        // The gate went back to full decode (motion on the keyframe, a detection): the kept
        // deltas are decoded first, no waiting for the next keyframe.
        assert_eq!(act(&mut k, 3, 85, false, false), "B[1, 2]Resume");
        assert_eq!(act(&mut k, 4, 85, false, false), "D");
    }

    #[test]
    fn a_quiet_camera_peeks_every_half_second() {
        let mut k = Keeper::new(KeeperOptions {
            peek_ms: 500,
            ..KeeperOptions::default()
        });
        assert_eq!(act(&mut k, 0, 20_000, true, true), "D");
        let got: Vec<String> = (1..30).map(|i| act(&mut k, i, 100, false, true)).collect();
        // 15 fps: the 8th delta is 536 ms after the keyframe, the 16th 536 ms after that.
        let peeks: Vec<(usize, &String)> =
            got.iter().enumerate().filter(|(_, a)| *a != "S").collect();
        assert_eq!(
            peeks,
            [
                (7, &"B[1, 2, 3, 4, 5, 6, 7]Peek".to_string()),
                (15, &"B[9, 10, 11, 12, 13, 14, 15]Peek".to_string()),
                (23, &"B[17, 18, 19, 20, 21, 22, 23]Peek".to_string()),
            ]
        );
        // Still quiet after a peek: the next keyframe is decoded, deltas skipped again.
        assert_eq!(act(&mut k, 30, 20_000, true, true), "D");
        assert_eq!(act(&mut k, 31, 100, false, true), "S");
    }

    #[test]
    fn deltas_without_their_keyframe_wait_for_the_next_one() {
        let mut k = Keeper::default();
        // Joined mid-GOP while quiet: nothing decodable is kept.
        assert_eq!(act(&mut k, 0, 100, false, true), "S");
        assert_eq!(act(&mut k, 20, 50_000, false, true), "S");
        assert_eq!(act(&mut k, 21, 100, false, false), "S");
        assert_eq!(act(&mut k, 22, 20_000, true, false), "D");
        assert_eq!(act(&mut k, 23, 100, false, false), "D");
        // A lost access unit (decoder queue full): skip to the next keyframe.
        k.lost();
        assert_eq!(act(&mut k, 24, 100, false, false), "S");
        assert_eq!(act(&mut k, 25, 20_000, true, false), "D");
    }

    #[test]
    fn a_gop_too_large_to_keep_is_dropped() {
        let mut k = Keeper::new(KeeperOptions {
            peek_ms: 0,
            max_kept_bytes: 250,
            ..KeeperOptions::default()
        });
        assert_eq!(act(&mut k, 0, 20_000, true, true), "D");
        assert_eq!(act(&mut k, 1, 100, false, true), "S");
        assert_eq!(act(&mut k, 2, 100, false, true), "S");
        assert_eq!(act(&mut k, 3, 100, false, true), "S"); // over 250 bytes: dropped
        assert_eq!(
            act(&mut k, 4, 100, false, false),
            "S",
            "waits for a keyframe"
        );
        assert_eq!(act(&mut k, 5, 20_000, true, false), "D");
    }
}
