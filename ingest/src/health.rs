//! Per-camera health tracking and reconnect backoff. Pure: times come in as arguments, jitter
//! as a number, so every transition is testable without sleeping.

use std::time::Duration;

use sharpeyes_core::{CameraState, UnixMillis};

/// A change of state worth telling operators about: `camera_online` when frames (re)start,
/// `camera_offline` once when they stop (not again for each failed reconnect).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusChange {
    pub state: CameraState,
    pub at: UnixMillis,
    pub reason: Option<String>,
}

/// The state machine of one camera's connection.
#[derive(Clone, Debug)]
pub struct Health {
    state: CameraState,
    last_frame: Option<UnixMillis>,
    /// What operators were last told: Some(true) online, Some(false) offline, None nothing yet.
    reported_online: Option<bool>,
    /// When the current connection attempt started.
    connecting_since: Option<UnixMillis>,
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    pub fn new() -> Self {
        Self {
            state: CameraState::Connecting,
            last_frame: None,
            reported_online: None,
            connecting_since: None,
        }
    }

    pub fn state(&self) -> CameraState {
        self.state
    }

    pub fn last_frame(&self) -> Option<UnixMillis> {
        self.last_frame
    }

    fn report(
        &mut self,
        state: CameraState,
        at: UnixMillis,
        reason: Option<String>,
    ) -> Option<StatusChange> {
        let online = state == CameraState::Online;
        if self.reported_online == Some(online) {
            return None;
        }
        self.reported_online = Some(online);
        Some(StatusChange { state, at, reason })
    }

    /// A connection attempt starts at `now`.
    pub fn on_connecting(&mut self, now: UnixMillis) {
        self.state = CameraState::Connecting;
        self.connecting_since = Some(now);
    }

    /// A frame arrived.
    pub fn on_frame(&mut self, now: UnixMillis) -> Option<StatusChange> {
        self.last_frame = Some(now);
        self.state = CameraState::Online;
        self.report(CameraState::Online, now, None)
    }

    /// The connection failed; `auth` when the camera refused the credentials.
    pub fn on_failure(
        &mut self,
        now: UnixMillis,
        auth: bool,
        reason: String,
    ) -> Option<StatusChange> {
        self.state = if auth {
            CameraState::AuthFailed
        } else {
            CameraState::Offline
        };
        self.report(self.state, now, Some(reason))
    }

    /// Called while waiting for frames: Stalled (and a change to report) when the camera is
    /// online and its last frame is older than `stall_after`, or when it is connecting and no
    /// first frame came within `stall_after` of the attempt's start (a session that reached
    /// PLAY and then delivered nothing would otherwise stay `connecting`, dark, for ever). The
    /// caller then drops the connection and reconnects.
    pub fn check_stall(&mut self, now: UnixMillis, stall_after: Duration) -> Option<StatusChange> {
        let limit = stall_after.as_millis() as i64;
        let reason = match self.state {
            CameraState::Online => {
                let last = self.last_frame?;
                if now.0 - last.0 < limit {
                    return None;
                }
                format!("no frame for {} ms", now.0 - last.0)
            }
            CameraState::Connecting => {
                let since = self.connecting_since?;
                if now.0 - since.0 < limit {
                    return None;
                }
                format!("no first frame {} ms after connecting", now.0 - since.0)
            }
            _ => return None,
        };
        self.state = CameraState::Stalled;
        self.report(CameraState::Stalled, now, Some(reason))
    }
}

/// Exponential backoff with jitter: `base`, doubling per failure up to `cap`, each delay
/// scaled by a factor in [0.5, 1) from the jitter input so that cameras that failed together
/// (a village's network coming back) do not reconnect in lockstep.
#[derive(Clone, Debug)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap: cap.max(base),
            failures: 0,
        }
    }

    /// The delay before the next attempt; `jitter` in [0, 1).
    pub fn next_delay(&mut self, jitter: f64) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << self.failures.min(20))
            .min(self.cap);
        self.failures = self.failures.saturating_add(1);
        exp.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 0.999_999))
    }

    /// Frames flow again: the next failure starts from `base`.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_frame_reports_online_once() {
        let mut h = Health::new();
        assert_eq!(
            h.on_frame(UnixMillis(10)).map(|c| c.state),
            Some(CameraState::Online)
        );
        assert_eq!(h.on_frame(UnixMillis(20)), None);
        assert_eq!(h.state(), CameraState::Online);
    }

    #[test]
    fn repeated_failures_report_offline_once() {
        let mut h = Health::new();
        h.on_frame(UnixMillis(0));
        let c = h
            .on_failure(UnixMillis(5), false, "connection refused".into())
            .expect("offline");
        assert_eq!(
            (c.state, c.reason.as_deref()),
            (CameraState::Offline, Some("connection refused"))
        );
        h.on_connecting(UnixMillis(6));
        assert_eq!(h.state(), CameraState::Connecting);
        assert_eq!(h.on_failure(UnixMillis(9), false, "again".into()), None);
        assert_eq!(
            h.on_frame(UnixMillis(20)).map(|c| c.state),
            Some(CameraState::Online)
        );
    }

    #[test]
    fn a_camera_that_never_came_up_is_reported_offline() {
        let mut h = Health::new();
        let c = h
            .on_failure(UnixMillis(1), true, "401".into())
            .expect("reported");
        assert_eq!(c.state, CameraState::AuthFailed);
        assert_eq!(h.state(), CameraState::AuthFailed);
    }

    #[test]
    fn stall_needs_the_full_limit_without_frames() {
        let mut h = Health::new();
        let limit = Duration::from_secs(10);
        assert_eq!(
            h.check_stall(UnixMillis(50_000), limit),
            None,
            "no frame yet: not a stall"
        );
        h.on_frame(UnixMillis(1_000));
        assert_eq!(h.check_stall(UnixMillis(10_999), limit), None);
        let c = h.check_stall(UnixMillis(11_000), limit).expect("stalled");
        assert_eq!(c.state, CameraState::Stalled);
        assert_eq!(h.state(), CameraState::Stalled);
        assert_eq!(h.check_stall(UnixMillis(12_000), limit), None);
    }

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(4));
        let full: Vec<u128> = (0..6)
            .map(|_| b.next_delay(0.999_999).as_millis())
            .collect();
        assert_eq!(full, vec![499, 999, 1999, 3999, 3999, 3999]);
        b.reset();
        assert_eq!(b.next_delay(0.0), Duration::from_millis(250));
    }

    #[test]
    fn a_connection_without_a_first_frame_stalls() {
        let mut h = Health::new();
        let limit = Duration::from_secs(10);
        h.on_connecting(UnixMillis(1_000));
        assert_eq!(h.check_stall(UnixMillis(10_999), limit), None);
        let c = h
            .check_stall(UnixMillis(11_000), limit)
            .expect("a connection that delivers nothing is a stall");
        assert_eq!(c.state, CameraState::Stalled);
        assert_eq!(
            c.reason.as_deref(),
            Some("no first frame 10000 ms after connecting")
        );
        // The next attempt has its own deadline; a camera already reported offline is not
        // reported again.
        h.on_connecting(UnixMillis(20_000));
        assert_eq!(h.check_stall(UnixMillis(29_999), limit), None);
        assert_eq!(h.check_stall(UnixMillis(30_000), limit), None);
        assert_eq!(h.state(), CameraState::Stalled);
        assert_eq!(
            h.on_frame(UnixMillis(31_000)).map(|c| c.state),
            Some(CameraState::Online)
        );
    }
}
