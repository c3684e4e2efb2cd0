//! Tamper sampling of one camera's decoded frames, the one path for live cameras and replay
//! (no I/O: frames in, status events out). Every decoded frame passes by, a quiet camera's
//! keyframes and peeks too (adaptive decode), but only one per
//! [`TamperConfig::sample_every_ms`] of frame time (2 s) is looked at: a 64x36 thumbnail and
//! two gradient sums from every other row, then the camera's [`TamperDetector`]. No decode of
//! its own, no copy of the frame. Runs after admission, so privacy masks are already applied.

use std::sync::atomic::Ordering;
use std::time::Instant;

use sharpeyes_analytics::{TamperChange, TamperConfig, TamperDetector, TamperReason, Thumbnail};
use sharpeyes_core::{CameraRef, CameraState, Frame, StatusEvent};

use super::CameraCounters;

/// One camera's tamper watch.
#[derive(Debug, Default)]
pub struct TamperWatch {
    detector: TamperDetector,
}

impl TamperWatch {
    pub fn new(config: TamperConfig) -> Self {
        Self {
            detector: TamperDetector::new(config),
        }
    }

    /// Looks at `f` if a sample is due; the changes it decided (usually none). Counts the
    /// samples, the time they took and the changes in `counters`, and keeps its
    /// `tampered` set there.
    pub fn observe(&mut self, f: &Frame, counters: &CameraCounters) -> Vec<TamperChange> {
        if !self.detector.due(f.time) {
            return Vec::new();
        }
        let started = Instant::now();
        let changes = match Thumbnail::from_frame(f) {
            Some(t) => {
                let (measure, changes) = self.detector.observe(t);
                tracing::trace!(?measure, "tamper sample");
                changes
            }
            None => Vec::new(),
        };
        counters
            .tamper_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        counters.tamper_samples.fetch_add(1, Ordering::Relaxed);
        for c in &changes {
            let bit = 1u8 << reason_bit(c.reason);
            if c.tampered {
                counters.tampered.fetch_or(bit, Ordering::Relaxed);
                counters.tamper_events.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(reason = c.reason.as_str(), detail = %c.detail, "camera tampered");
            } else {
                counters.tampered.fetch_and(!bit, Ordering::Relaxed);
                tracing::info!(reason = c.reason.as_str(), detail = %c.detail, "camera restored");
            }
        }
        changes
    }
}

/// The status event of a change: `camera_tampered` / `camera_restored`, reason the bare word.
pub fn status_event(camera: CameraRef, state: CameraState, c: &TamperChange) -> StatusEvent {
    StatusEvent::tamper(camera, c.time, state, c.tampered, c.reason.as_str())
}

/// The bit of `reason` in [`CameraCounters::tampered`].
pub fn reason_bit(reason: TamperReason) -> u32 {
    TamperReason::ALL
        .iter()
        .position(|r| *r == reason)
        .unwrap_or(0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use sharpeyes_core::{CameraId, Letterbox, PixelFormat, UnixMillis};

    fn frame(time: i64, level: u8) -> Frame {
        let data: Vec<u8> = (0..160 * 90 * 3)
            .map(|i| {
                if level > 0 {
                    level
                } else {
                    // A still scene with a little sensor noise.
                    ((i / 3) % 160 * 7 % 241 + (i * 31 + time as usize / 500) % 5) as u8
                }
            })
            .collect();
        Frame {
            camera: CameraId::new("c").expect("id"),
            seq: 0,
            time: UnixMillis(time),
            width: 160,
            height: 90,
            stride: 160 * 3,
            format: PixelFormat::Bgr24,
            data: data.into(),
            letterbox: Letterbox::fit(160, 90, 160, 90),
        }
    }

    #[test]
    fn a_covered_camera_is_counted_marked_and_unmarked() {
        let counters = CameraCounters::default();
        let mut w = TamperWatch::default();
        let mut changes = Vec::new();
        // Every 500 ms: one frame in four is sampled.
        for i in 0..80 {
            let level = if (20..50).contains(&i) { 3 } else { 0 };
            changes.extend(w.observe(&frame(i * 500, level), &counters));
            if i == 45 {
                assert_eq!(counters.tampered.load(Ordering::Relaxed), 1);
            }
        }
        let s: Vec<_> = changes.iter().map(|c| (c.reason, c.tampered)).collect();
        assert_eq!(
            s,
            [
                (TamperReason::Covered, true),
                (TamperReason::Covered, false)
            ]
        );
        assert_eq!(counters.tampered.load(Ordering::Relaxed), 0);
        assert_eq!(counters.tamper_events.load(Ordering::Relaxed), 1);
        assert_eq!(counters.tamper_samples.load(Ordering::Relaxed), 20);
        let e = status_event(
            CameraRef::bare(CameraId::new("c").expect("id")),
            CameraState::Online,
            &changes[0],
        );
        assert_eq!(
            (e.kind.as_str(), e.reason.as_deref()),
            ("camera_tampered", Some("covered"))
        );
    }
}
