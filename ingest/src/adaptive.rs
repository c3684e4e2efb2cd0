//! Adaptive decode: a camera where nothing moves and nothing is detected decodes keyframes
//! only (about one frame per GOP instead of every frame); motion or a detected object switches
//! it to full decode, from the next keyframe on (so within one GOP), and it goes back to
//! keyframes after `quiet` without activity. The decision and the motion measure are pure; the
//! RTSP reader consults a shared [`DecodeGate`] for each access unit.

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

/// Which access units to hand to the decoder, given the gate: in keyframes-only mode only
/// random-access points; when switching back to full decode, deltas only from the next
/// keyframe on (a delta without its references would decode to garbage). Pure.
#[derive(Debug, Default)]
pub struct AuFilter {
    /// Deltas are being skipped until the next keyframe.
    skipping: bool,
}

impl AuFilter {
    pub fn admit(&mut self, keyframe: bool, keyframes_only: bool) -> bool {
        if keyframe {
            self.skipping = keyframes_only;
            return true;
        }
        if keyframes_only {
            self.skipping = true;
        }
        !self.skipping
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

    #[test]
    fn filter_resumes_deltas_only_from_a_keyframe() {
        let mut f = AuFilter::default();
        // Full decode.
        assert!(f.admit(true, false) && f.admit(false, false));
        // Keyframes only: deltas dropped.
        assert!(!f.admit(false, true));
        assert!(f.admit(true, true));
        assert!(!f.admit(false, true));
        // Back to full: deltas still skipped until the next keyframe.
        assert!(!f.admit(false, false));
        assert!(f.admit(true, false));
        assert!(f.admit(false, false));
    }
}
