//! Per-camera health tracking and reconnect backoff. Pure: times come in as arguments, jitter
//! as a number, so every transition is testable without sleeping.
//!
//! Two rules hold whatever the state:
//! - No decoded frame within `stall_after` of connecting (or of the last frame) ends the
//!   connection, and a camera that never decoded one is `offline` with the reason, not
//!   `connecting` for ever ([`Health::check_stall`]).
//! - Once reported offline, a camera stays in its offline state through its reconnect attempts
//!   until a frame arrives: operators see why it is down, not a hopeful `connecting`.

use std::time::Duration;

use sharpeyes_core::{CameraState, UnixMillis};

/// Backoff of the first retry after the camera refused the credentials (doubling from here).
pub const AUTH_BACKOFF_BASE: Duration = Duration::from_secs(10);

/// Cap of the backoff after refused credentials. Camera firmware locks the account (or the
/// client's address) after a handful of failed logins within minutes; one try every few minutes
/// never gets there, and a fixed password is picked up within this.
pub const AUTH_BACKOFF_MAX: Duration = Duration::from_secs(300);

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

    /// A connection attempt starts at `now`. The state becomes `Connecting` unless the camera
    /// was reported offline: then it keeps its offline state (and the reason already given)
    /// until a frame arrives.
    pub fn on_connecting(&mut self, now: UnixMillis) {
        if self.reported_online != Some(false) {
            self.state = CameraState::Connecting;
        }
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

    /// Called while waiting for frames, in every state: Some when the connection must be
    /// dropped and remade.
    /// - Online, and the last frame is older than `stall_after`: `Stalled`.
    /// - Any other state (connecting, or a reconnect of a camera already reported offline),
    ///   and no frame came within `stall_after` of the attempt's start: `Offline`, "no decoded
    ///   frame ...". A session that reached PLAY and then delivered nothing, or only what
    ///   cannot be decoded, would otherwise stay `connecting`, dark, for ever.
    ///
    /// The change is reported once (see [`Health::on_failure`]); the caller drops the
    /// connection and reconnects whether or not there is a change to report.
    pub fn check_stall(&mut self, now: UnixMillis, stall_after: Duration) -> Option<Stall> {
        let limit = stall_after.as_millis() as i64;
        let (state, reason) = match self.state {
            CameraState::Online => {
                let last = self.last_frame?;
                if now.0 - last.0 < limit {
                    return None;
                }
                (
                    CameraState::Stalled,
                    format!("no frame for {} ms", now.0 - last.0),
                )
            }
            _ => {
                let since = self.connecting_since?;
                if now.0 - since.0 < limit {
                    return None;
                }
                (
                    CameraState::Offline,
                    format!("no decoded frame {} ms after connecting", now.0 - since.0),
                )
            }
        };
        self.state = state;
        // The next attempt gets its own deadline from its own `on_connecting`.
        self.connecting_since = None;
        let change = self.report(state, now, Some(reason.clone()));
        Some(Stall { reason, change })
    }
}

/// What [`Health::check_stall`] found: the connection is dark and must be remade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stall {
    /// Why, for the log (also in `change` when there is one).
    pub reason: String,
    /// The change to tell operators about; None when the camera was already reported offline.
    pub change: Option<StatusChange>,
}

/// Camera reconnects use it jittered ([`Backoff::next_delay_jittered`]).
pub use sharpeyes_core::Backoff;

/// The reconnect delays of one camera: network trouble (refused, timed out, broken, dark) backs
/// off from 0.5 s to the camera's `reconnect_max`; refused credentials back off on their own,
/// from [`AUTH_BACKOFF_BASE`] to [`AUTH_BACKOFF_MAX`] (or `reconnect_max` if longer), so a
/// camera with a wrong password does not lock its account by knocking every few seconds. Only
/// frames reset either: a camera alternating between unreachable and refusing keeps its slow
/// pace for the refusals.
#[derive(Clone, Debug)]
pub struct ReconnectBackoff {
    network: Backoff,
    auth: Backoff,
}

impl ReconnectBackoff {
    /// Network failures from 0.5 s up to `network_max`.
    pub fn new(network_max: Duration) -> Self {
        Self {
            network: Backoff::new(Duration::from_millis(500), network_max),
            auth: Backoff::new(AUTH_BACKOFF_BASE, AUTH_BACKOFF_MAX.max(network_max)),
        }
    }

    /// The delay before the next attempt after a failure; `auth` when the camera refused the
    /// credentials (RTSP `401`), `jitter` in [0, 1).
    pub fn next_delay(&mut self, auth: bool, jitter: f64) -> Duration {
        if auth {
            self.auth.next_delay_jittered(jitter)
        } else {
            self.network.next_delay_jittered(jitter)
        }
    }

    /// Frames flow: both start over from their base.
    pub fn reset(&mut self) {
        self.network.reset();
        self.auth.reset();
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
        assert_eq!(
            h.state(),
            CameraState::Offline,
            "offline while it reconnects"
        );
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
        let c = h
            .check_stall(UnixMillis(11_000), limit)
            .and_then(|s| s.change)
            .expect("stalled");
        assert_eq!(c.state, CameraState::Stalled);
        assert_eq!(h.state(), CameraState::Stalled);
        assert_eq!(h.check_stall(UnixMillis(12_000), limit), None);
    }

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(4));
        let full: Vec<u128> = (0..6)
            .map(|_| b.next_delay_jittered(0.999_999).as_millis())
            .collect();
        assert_eq!(full, vec![499, 999, 1999, 3999, 3999, 3999]);
        b.reset();
        assert_eq!(b.next_delay_jittered(0.0), Duration::from_millis(250));
    }

    #[test]
    fn a_connection_without_a_first_frame_goes_offline_with_the_reason() {
        let mut h = Health::new();
        let limit = Duration::from_secs(10);
        h.on_connecting(UnixMillis(1_000));
        assert_eq!(h.check_stall(UnixMillis(10_999), limit), None);
        let s = h
            .check_stall(UnixMillis(11_000), limit)
            .expect("a connection that decodes nothing is dropped");
        let c = s.change.expect("reported");
        assert_eq!(c.state, CameraState::Offline);
        assert_eq!(
            c.reason.as_deref(),
            Some("no decoded frame 10000 ms after connecting")
        );
        assert_eq!(h.state(), CameraState::Offline);
        // The next attempt has its own deadline; it is dropped again, and a camera already
        // reported offline is not reported again.
        h.on_connecting(UnixMillis(20_000));
        assert_eq!(h.check_stall(UnixMillis(29_999), limit), None);
        let again = h
            .check_stall(UnixMillis(30_000), limit)
            .expect("every dark attempt is dropped, not only the first");
        assert_eq!(again.change, None);
        assert_eq!(h.state(), CameraState::Offline);
        assert_eq!(
            h.on_frame(UnixMillis(31_000)).map(|c| c.state),
            Some(CameraState::Online)
        );
    }

    #[test]
    fn a_camera_reported_offline_stays_offline_while_it_reconnects() {
        let mut h = Health::new();
        h.on_connecting(UnixMillis(0));
        assert_eq!(h.state(), CameraState::Connecting);
        h.on_failure(UnixMillis(5), true, "401 Unauthorized".into());
        h.on_connecting(UnixMillis(10_000));
        assert_eq!(h.state(), CameraState::AuthFailed, "not `connecting`");
        // The credentials are accepted now but nothing decodes: offline, whatever the state.
        let s = h
            .check_stall(UnixMillis(20_000), Duration::from_secs(10))
            .expect("dropped");
        assert_eq!(s.change, None, "already reported offline");
        assert_eq!(h.state(), CameraState::Offline);
        h.on_connecting(UnixMillis(20_500));
        assert_eq!(h.state(), CameraState::Offline);
        // A stalled camera's reconnect also keeps `stalled` until frames come.
        let mut h = Health::new();
        h.on_frame(UnixMillis(0));
        h.check_stall(UnixMillis(10_000), Duration::from_secs(10))
            .expect("stalled");
        h.on_connecting(UnixMillis(10_500));
        assert_eq!(h.state(), CameraState::Stalled);
    }

    #[test]
    fn refused_credentials_back_off_to_minutes_apart_from_network_failures() {
        let mut b = ReconnectBackoff::new(Duration::from_secs(30));
        let top = |b: &mut ReconnectBackoff, auth: bool| b.next_delay(auth, 0.999_999).as_secs();
        let auth: Vec<u64> = (0..7).map(|_| top(&mut b, true)).collect();
        assert_eq!(auth, vec![9, 19, 39, 79, 159, 299, 299]);
        // Network failures keep their own, short pace...
        assert_eq!(b.next_delay(false, 0.0), Duration::from_millis(250));
        // ...and do not shorten the next refusal's wait.
        assert_eq!(top(&mut b, true), 299);
        // The least jitter still waits half: 2.5 min between tries at the cap, so five
        // refusals take more than ten minutes.
        assert_eq!(b.next_delay(true, 0.0), Duration::from_secs(150));
        b.reset();
        assert_eq!(b.next_delay(true, 0.0), Duration::from_secs(5));
        // A longer configured network cap also caps the credentials' backoff.
        let mut slow = ReconnectBackoff::new(Duration::from_secs(600));
        let last = (0..10).map(|_| top(&mut slow, true)).last();
        assert_eq!(last, Some(599));
    }
}
