//! Frame admission, the one path for live cameras and replay: privacy masks → motion → the
//! decode gate → the detect rate → motion gating. It decides, per decoded frame, whether the
//! frame goes to detection, is skipped by motion gating (its camera's rules still advance with
//! no detections), or is not due. Live cameras run it in their camera thread on wall-clock
//! time; `replay` on the file's media time, so a replay admits the frames a live run would.

use std::collections::HashMap;

use sharpeyes_analytics::CLOCK_STEP_MS;
use sharpeyes_core::{CameraId, Frame, UnixMillis};
use sharpeyes_ingest::{DecodeGate, MaskPolygon, MotionDetector, apply_privacy_masks};

use super::MOTION_THRESHOLD;

/// What becomes of one decoded frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Not due at the detect rate.
    NotDue,
    /// Due, but nothing moved for the camera's quiet period (motion gating): no detection; the
    /// rules advance with no detections.
    Gated,
    /// To detection.
    Detect,
}

/// One camera's admission state.
#[derive(Debug)]
pub struct Admission {
    masks: Vec<MaskPolygon>,
    motion: MotionDetector,
    /// Measure motion at all (for motion gating, or adaptive decode).
    watch_motion: bool,
    /// Motion gating on: due frames of a quiet camera are `Gated`.
    gating: bool,
    sampler: RateSampler,
}

impl Admission {
    pub fn new(masks: Vec<MaskPolygon>, detect_fps: f64, watch_motion: bool, gating: bool) -> Self {
        Self {
            masks,
            motion: MotionDetector::default(),
            watch_motion: watch_motion || gating,
            gating,
            sampler: RateSampler::new(detect_fps),
        }
    }

    /// Blacks out the privacy masks in `f` (before anything else looks at it), tells `gate` of
    /// motion at `now`, and decides what becomes of the frame.
    pub fn admit(&mut self, f: &mut Frame, gate: &DecodeGate, now: UnixMillis) -> Admit {
        apply_privacy_masks(f, &self.masks);
        if self.watch_motion && self.motion.update(f) >= MOTION_THRESHOLD {
            gate.activity(now);
        }
        gate.update(now);
        if !self.sampler.take(&f.camera, f.time) {
            Admit::NotDue
        } else if self.gating && !gate.active(now) {
            Admit::Gated
        } else {
            Admit::Detect
        }
    }
}

/// Lets through at most `fps` frames per second per camera, in the frames' own time (media time
/// for files), evenly spaced. Pure.
#[derive(Debug)]
pub struct RateSampler {
    interval_ms: i64,
    next_due: HashMap<CameraId, i64>,
}

impl RateSampler {
    pub fn new(fps: f64) -> Self {
        Self {
            interval_ms: (1000.0 / fps).round().max(1.0) as i64,
            next_due: HashMap::new(),
        }
    }

    /// Whether the frame of `camera` taken at `time` should be analysed.
    pub fn take(&mut self, camera: &CameraId, time: UnixMillis) -> bool {
        let t = time.0;
        match self.next_due.get_mut(camera) {
            None => {
                self.next_due.insert(camera.clone(), t + self.interval_ms);
                true
            }
            // The clock stepped back (NTP, an operator): start the grid again from here, or no
            // frame would be analysed until the clock is back where it was.
            Some(next) if t < *next - self.interval_ms - CLOCK_STEP_MS => {
                *next = t + self.interval_ms;
                true
            }
            Some(next) if t >= *next => {
                // Stay on the grid unless we fell more than a period behind (a stall, a jump).
                *next = if t - *next >= self.interval_ms {
                    t + self.interval_ms
                } else {
                    *next + self.interval_ms
                };
                true
            }
            Some(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampler_keeps_the_rate_per_camera() {
        let mut s = RateSampler::new(5.0); // every 200 ms
        let a = CameraId::new("a").expect("id");
        let b = CameraId::new("b").expect("id");
        // 30 fps for one second: 5 frames pass for each camera.
        let taken_a = (0..30)
            .filter(|i| s.take(&a, UnixMillis(i * 1000 / 30)))
            .count();
        let taken_b = (0..30)
            .filter(|i| s.take(&b, UnixMillis(5000 + i * 1000 / 30)))
            .count();
        assert_eq!((taken_a, taken_b), (5, 5));
    }

    #[test]
    fn sampler_resyncs_after_a_gap() {
        let mut s = RateSampler::new(5.0);
        let a = CameraId::new("a").expect("id");
        assert!(s.take(&a, UnixMillis(0)));
        assert!(s.take(&a, UnixMillis(10_000)));
        assert!(!s.take(&a, UnixMillis(10_100)));
        assert!(s.take(&a, UnixMillis(10_200)));
    }

    #[test]
    fn sampler_goes_on_after_the_clock_steps_back() {
        let mut s = RateSampler::new(5.0);
        let a = CameraId::new("a").expect("id");
        assert!(s.take(&a, UnixMillis(3_600_000)));
        // The wall clock is set back an hour: frames are still analysed at the rate.
        assert!(s.take(&a, UnixMillis(0)));
        assert!(!s.take(&a, UnixMillis(100)));
        assert!(s.take(&a, UnixMillis(200)));
        // Arrival jitter of a few ms is not a step.
        assert!(!s.take(&a, UnixMillis(190)));
    }
}
