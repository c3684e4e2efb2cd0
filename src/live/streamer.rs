//! One camera's connection loop, the [`Streamer`]: open the camera through an [`Opener`], take
//! its frames, watch its health (a first decoded frame within `stall_after` of connecting, then
//! no gap longer than that, whatever the state), reconnect with jittered exponential backoff
//! (refused credentials on their own, slower backoff: `sharpeyes_ingest::ReconnectBackoff`), and
//! hand the frames that are due to detection. Every connect goes through the process's [`ConnectLimiter`], so a connect
//! storm (hundreds of cameras starting at once, or all reconnecting after a network blip) is
//! bounded and never starves the cameras already running.
//!
//! No I/O of its own: the network and the decoder are behind the [`Opener`] (the real one opens
//! RTSP or a file; tests script sources), time behind a [`Clock`] that can sleep (tests use a
//! simulated one that moves when slept), so reconnects, stalls, backoff and connect storms have
//! fast deterministic tests (moonfire-nvr's `Streamer<C: Clocks>` with `&dyn Opener`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use sharpeyes_core::{
    CameraId, CameraState, Clock, SourceItem, StatusEvent, UnixMillis, sleep_unless,
};
use sharpeyes_ingest::{DecodeGate, Health, IngestError, ReconnectBackoff, StatusChange};

use super::admit::{Admission, Admit};
use super::{CameraCounters, CameraOutputs, CameraSpec};

/// One connection to a camera, as the [`Streamer`] reads it.
pub trait CameraSource: Send {
    /// The next decoded frame, waiting up to `timeout`; `End` when the stream ended; an error
    /// (reported once) when the connection failed.
    fn next_frame(&mut self, timeout: Duration) -> Result<SourceItem, IngestError>;
    /// A recording that starts over at its end (no failure, no backoff).
    fn loops(&self) -> bool {
        false
    }
    /// Frames wait for detection instead of replacing the waiting one (a file read as fast as
    /// detection goes, for benchmarks).
    fn waits_for_detection(&self) -> bool {
        false
    }
    /// Frames dropped by the source's own queue so far.
    fn dropped(&self) -> u64 {
        0
    }
    /// Access units not decoded by adaptive decode so far.
    fn skipped(&self) -> u64 {
        0
    }
    /// Access units received from the network so far.
    fn received(&self) -> u64 {
        0
    }
    /// Skipped access units decoded later (decode-only, to peek or wake) so far.
    fn caught_up(&self) -> u64 {
        0
    }
    /// Access units dropped so far because the decoder's input queue was full, and their bytes.
    fn input_drops(&self) -> sharpeyes_ingest::InputDrops {
        sharpeyes_ingest::InputDrops::default()
    }
    /// The expensive part of connecting (handshake, decoder build) is over; only the first
    /// frame is still to come (the next keyframe, up to a GOP away).
    fn ready(&self) -> bool {
        false
    }
}

/// Opens connections. The real one ([`super::MediaOpener`]) starts an RTSP session on the
/// network runtime or opens a file; tests give scripted sources.
pub trait Opener: Send + Sync {
    /// Starts connecting to `spec`; frames (or the failure) come through the source. `gate` is
    /// the camera's adaptive decode state, consulted per access unit.
    fn open(
        &self,
        spec: &CameraSpec,
        gate: &Arc<DecodeGate>,
    ) -> Result<Box<dyn CameraSource>, IngestError>;
}

/// How many connects may be in flight at once in the process (handshake, decoder build). A
/// connect holds its permit until its source is ready (the wait for the first keyframe, up to
/// a GOP, needs no permit), its first frame, its failure, or [`ConnectLimiter::hold_max`],
/// whichever comes first, so a camera that hangs in its handshake cannot keep the others out
/// for long.
#[derive(Debug)]
pub struct ConnectLimiter {
    max: usize,
    hold_max: Duration,
    state: Mutex<LimiterState>,
    freed: Condvar,
}

#[derive(Debug, Default)]
struct LimiterState {
    in_flight: usize,
    peak: usize,
    granted: u64,
}

/// A connect in flight; dropping it lets the next one start.
#[derive(Debug)]
pub struct ConnectPermit {
    limiter: Arc<ConnectLimiter>,
}

impl Drop for ConnectPermit {
    fn drop(&mut self) {
        let mut s = self.limiter.state.lock().unwrap_or_else(|p| p.into_inner());
        s.in_flight -= 1;
        drop(s);
        self.limiter.freed.notify_one();
    }
}

/// Default connects in flight: enough that 200 cameras are all up within seconds on loopback,
/// few enough that their decoder builds (GStreamer state changes, ~10 ms of CPU each) never
/// crowd out the decoding of cameras already running on a 2-core box.
pub const DEFAULT_CONNECTS_IN_FLIGHT: usize = 16;

/// Default longest a connect keeps its permit without a first frame.
pub const DEFAULT_PERMIT_HOLD: Duration = Duration::from_secs(3);

impl ConnectLimiter {
    pub fn new(max: usize, hold_max: Duration) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            hold_max,
            state: Mutex::default(),
            freed: Condvar::new(),
        })
    }

    /// Longest a connect keeps its permit without a first frame.
    pub fn hold_max(&self) -> Duration {
        self.hold_max
    }

    /// Waits for a permit; None if `stop` was set meanwhile.
    pub fn acquire(self: &Arc<Self>, stop: &AtomicBool) -> Option<ConnectPermit> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            if s.in_flight < self.max {
                s.in_flight += 1;
                s.peak = s.peak.max(s.in_flight);
                s.granted += 1;
                return Some(ConnectPermit {
                    limiter: self.clone(),
                });
            }
            s = self
                .freed
                .wait_timeout(s, Duration::from_millis(50))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// (in flight now, most ever in flight at once, permits granted).
    pub fn stats(&self) -> (usize, usize, u64) {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (s.in_flight, s.peak, s.granted)
    }
}

/// A value in [0, 1) that differs between cameras and attempts (no RNG dependency).
pub fn jitter(camera: &CameraId, attempt: u64, now: UnixMillis) -> f64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (camera, attempt, now.0).hash(&mut h);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// How long the first connect of a camera waits, at most, so that cameras started together
/// (a box booting with 200 camera files) do not all knock at once.
pub const START_SPREAD: Duration = Duration::from_millis(500);

/// One camera's loop; [`Streamer::run`] returns when `stop` is set.
pub struct Streamer<'a> {
    pub spec: CameraSpec,
    pub clock: &'a dyn Clock,
    pub opener: &'a dyn Opener,
    pub limiter: Arc<ConnectLimiter>,
    pub out: CameraOutputs,
    pub stop: Arc<AtomicBool>,
    pub counters: Arc<CameraCounters>,
    pub gate: Arc<DecodeGate>,
}

impl Streamer<'_> {
    fn emit(&self, c: Option<StatusChange>) {
        if let Some(c) = c {
            tracing::info!(
                state = c.state.as_str(),
                reason = c.reason.as_deref().unwrap_or(""),
                "camera state"
            );
            self.send_status(StatusEvent::new(
                self.spec.camera_ref(),
                c.at,
                c.state,
                c.reason,
            ));
        }
    }

    /// Sends `event` on the status channel, stamped with the time it is emitted.
    fn send_status(&self, mut event: StatusEvent) {
        event.emitted_time = self.clock.now().to_rfc3339();
        let _ = self.out.status.send(event);
    }

    fn open(&self) -> Box<dyn CameraSource> {
        match self.opener.open(&self.spec, &self.gate) {
            Ok(s) => s,
            Err(e) => Box::new(Failed(Some(e))),
        }
    }

    /// Adds to the camera's counters what `src` counted since its counts were `seen`.
    fn account(&self, src: &dyn CameraSource, seen: &mut SourceCounts) {
        let now = SourceCounts::of(src);
        let c = &self.counters;
        for (counter, now, then) in [
            (&c.frames_dropped, now.dropped, seen.dropped),
            (&c.frames_skipped, now.skipped, seen.skipped),
            (&c.access_units, now.received, seen.received),
            (&c.frames_caught_up, now.caught_up, seen.caught_up),
            (
                &c.decoder_input_dropped,
                now.input_dropped,
                seen.input_dropped,
            ),
            (
                &c.decoder_input_dropped_bytes,
                now.input_dropped_bytes,
                seen.input_dropped_bytes,
            ),
        ] {
            counter.fetch_add(now.saturating_sub(then), Ordering::Relaxed);
        }
        *seen = now;
    }

    /// Runs until `stop`.
    pub fn run(self) {
        let _span = tracing::info_span!("camera", camera = %self.spec.id).entered();
        self.watch();
        self.close_tamper_marks();
    }

    /// The camera stops, and its tamper watch (its learned view) with it: each reason it still
    /// reports tampered is closed with a `camera_restored`, so the command center's health grid
    /// and the guardians' service are not left with a mark that nobody will clear. The
    /// camera's next start learns its view again and reports what it sees then.
    fn close_tamper_marks(&self) {
        let marks = self.counters.tampered.swap(0, Ordering::Relaxed);
        for reason in sharpeyes_analytics::TamperReason::ALL {
            if marks & (1 << super::tamper::reason_bit(reason)) == 0 {
                continue;
            }
            tracing::info!(
                reason = reason.as_str(),
                "camera stopped: its tamper mark is closed"
            );
            self.send_status(StatusEvent::tamper(
                self.spec.camera_ref(),
                self.clock.now(),
                self.counters.state(),
                false,
                reason.as_str(),
            ));
        }
    }

    fn watch(&self) {
        let (spec, clock, counters) = (&self.spec, self.clock, &self.counters);
        // Motion is always measured: adaptive decode wakes on it even without motion gating.
        let mut admission = Admission::new(
            spec.privacy_masks.clone(),
            spec.detect_fps,
            true,
            spec.motion_gate.is_some(),
        );
        let mut health = Health::new();
        // Kept across reconnects: the camera's learned view survives a network blip.
        let mut tamper = super::tamper::TamperWatch::default();
        let mut backoff = ReconnectBackoff::new(spec.reconnect_max);
        let mut attempt = 0u64;
        let mut window = (clock.now(), 0u64, 0u64);
        let mut measure_fps = |counters: &CameraCounters| {
            let now = clock.now();
            let elapsed_ms = now.0 - window.0.0;
            if elapsed_ms >= 1000 {
                let (n_in, n_out) = (
                    counters.frames_decoded.load(Ordering::Relaxed),
                    counters.frames_queued.load(Ordering::Relaxed),
                );
                let per_s = |n: u64, m: u64| (n - m) * 1_000_000 / elapsed_ms as u64;
                counters
                    .fps_in_milli
                    .store(per_s(n_in, window.1), Ordering::Relaxed);
                counters
                    .fps_out_milli
                    .store(per_s(n_out, window.2), Ordering::Relaxed);
                window = (now, n_in, n_out);
            }
        };
        let spread = START_SPREAD.mul_f64(jitter(&spec.id, 0, clock.now()));
        if sleep_unless(clock, spread, || self.stop.load(Ordering::Relaxed)) {
            return;
        }
        while !self.stop.load(Ordering::Relaxed) {
            let Some(permit) = self.limiter.acquire(&self.stop) else {
                return;
            };
            let mut permit = Some(permit);
            let opened = clock.now();
            health.on_connecting(opened);
            // `connecting` until the first report; a camera reported offline stays so (with
            // its reason) through its reconnects until frames come.
            counters.set_state(health.state());
            let mut src = self.open();
            let mut seen = SourceCounts::default();
            let failure = loop {
                if self.stop.load(Ordering::Relaxed) {
                    self.account(src.as_ref(), &mut seen);
                    return;
                }
                if permit.is_some()
                    && (src.ready()
                        || clock.now().0 - opened.0 >= self.limiter.hold_max().as_millis() as i64)
                {
                    permit = None;
                }
                measure_fps(counters);
                self.account(src.as_ref(), &mut seen);
                match src.next_frame(Duration::from_millis(200)) {
                    Ok(SourceItem::Frame(mut f)) => {
                        permit = None;
                        let now = clock.now();
                        let admit = admission.admit(&mut f, &self.gate, now);
                        let change = health.on_frame(now);
                        counters.set_state(CameraState::Online);
                        self.emit(change);
                        // Every decoded frame, an idle camera's keyframes too; one per 2 s
                        // is looked at.
                        for c in tamper.observe(&f, counters) {
                            self.send_status(super::tamper::status_event(
                                spec.camera_ref(),
                                CameraState::Online,
                                &c,
                            ));
                        }
                        counters.last_frame_ms.store(now.0, Ordering::Relaxed);
                        backoff.reset();
                        counters.frames_decoded.fetch_add(1, Ordering::Relaxed);
                        match admit {
                            Admit::NotDue => {}
                            Admit::Gated => {
                                counters.frames_gated.fetch_add(1, Ordering::Relaxed);
                                self.out.frames.put_idle(&f.camera);
                            }
                            Admit::Detect => {
                                counters.frames_queued.fetch_add(1, Ordering::Relaxed);
                                tracing::trace!(age_ms = now.0 - f.time.0, "frame to detection");
                                let replaced = if src.waits_for_detection() {
                                    self.out.frames.put_when_free(f, Duration::from_secs(1))
                                } else {
                                    self.out.frames.put(f)
                                };
                                if replaced {
                                    counters.frames_dropped.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                    }
                    Ok(SourceItem::Timeout) => {
                        // In every state: a connection without a decoded frame for
                        // `stall_after` is remade, reported or not.
                        if let Some(stall) = health.check_stall(clock.now(), spec.stall_after) {
                            counters.set_state(health.state());
                            let reason = with_received(stall.reason, src.received(), &health);
                            tracing::warn!(
                                stall_after_ms = spec.stall_after.as_millis() as u64,
                                state = health.state().as_str(),
                                reason = %reason,
                                "no decoded frame; reconnecting"
                            );
                            self.emit(stall.change.map(|c| StatusChange {
                                reason: Some(reason),
                                ..c
                            }));
                            break None;
                        }
                    }
                    Ok(SourceItem::End) if src.loops() => {
                        // A file camera loops: open it again at once, no failure, no backoff.
                        self.account(src.as_ref(), &mut seen);
                        src = self.open();
                        seen = SourceCounts::default();
                    }
                    Ok(SourceItem::End) => break Some((false, "the stream ended".to_string())),
                    Err(e) => {
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                        let auth = matches!(e, IngestError::Rtsp { auth: true, .. });
                        if e.is_transient() {
                            tracing::warn!(error = %e, "camera failed");
                        } else {
                            tracing::error!(error = %e, "camera failed");
                        }
                        break Some((auth, e.to_string()));
                    }
                }
            };
            drop(permit);
            self.account(src.as_ref(), &mut seen);
            // Dropping the source never blocks: the network task is aborted and its decoder
            // torn down off the network threads (see `sharpeyes_ingest::RtspSource`).
            drop(src);
            let mut auth_failed = false;
            if let Some((auth, reason)) = failure {
                auth_failed = auth;
                let change = health.on_failure(clock.now(), auth, reason);
                counters.set_state(health.state());
                self.emit(change);
            }
            counters.reconnects.fetch_add(1, Ordering::Relaxed);
            attempt += 1;
            // Refused credentials back off to minutes (see `ReconnectBackoff`): knocking every
            // few seconds with a wrong password gets the camera's account locked.
            let delay = backoff.next_delay(auth_failed, jitter(&spec.id, attempt, clock.now()));
            if auth_failed {
                tracing::warn!(
                    retry_in_ms = delay.as_millis() as u64,
                    "camera refused the credentials; retrying slowly"
                );
            } else {
                tracing::debug!(retry_in_ms = delay.as_millis() as u64, "reconnecting");
            }
            if sleep_unless(clock, delay, || self.stop.load(Ordering::Relaxed)) {
                return;
            }
        }
    }
}

/// `reason`, saying how many access units came when the camera sent some but none decoded
/// (an undecodable stream, not a silent one).
fn with_received(reason: String, received: u64, health: &Health) -> String {
    if received > 0 && health.state() != CameraState::Stalled {
        format!("{reason} ({received} access units received, none decoded)")
    } else {
        reason
    }
}

/// What a source has counted so far (each connection counts from zero).
#[derive(Clone, Copy, Debug, Default)]
struct SourceCounts {
    dropped: u64,
    skipped: u64,
    received: u64,
    caught_up: u64,
    input_dropped: u64,
    input_dropped_bytes: u64,
}

impl SourceCounts {
    fn of(src: &dyn CameraSource) -> Self {
        let drops = src.input_drops();
        Self {
            dropped: src.dropped(),
            skipped: src.skipped(),
            received: src.received(),
            caught_up: src.caught_up(),
            input_dropped: drops.access_units,
            input_dropped_bytes: drops.bytes,
        }
    }
}

/// A connection that could not even start: reports its error once, then ends.
struct Failed(Option<IngestError>);

impl CameraSource for Failed {
    fn next_frame(&mut self, _timeout: Duration) -> Result<SourceItem, IngestError> {
        match self.0.take() {
            Some(e) => Err(e),
            None => Ok(SourceItem::End),
        }
    }
}
