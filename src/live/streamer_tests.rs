//! The camera loop with scripted sources and a simulated clock: reconnects, backoff, stalls,
//! the dark-camera case and connect storms, with no network and no sleeping on the wall clock.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sharpeyes_core::{
    CameraId, CameraState, Clock, ManualClock, SourceItem, StatusEvent, StatusKind, SystemClock,
    UnixMillis,
};
use sharpeyes_ingest::{DecodeGate, FrameSlots, IngestError};

use super::streamer::{CameraSource, ConnectLimiter, Opener, Streamer};
use super::{CameraCounters, CameraOutputs, CameraSpec};

/// One step of a scripted connection.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// A decoded frame, 1/15 s after the previous step.
    Frame,
    /// Nothing for the whole wait.
    Silence,
    /// The connection fails (transient).
    Fail,
    /// The camera refuses the credentials (an RTSP `401`).
    FailAuth,
}

struct Scripted {
    clock: Arc<dyn Clock>,
    camera: CameraId,
    steps: VecDeque<Step>,
    /// What comes after the script: silence or frames for ever.
    then: Step,
    /// Set while this connection has not delivered its first frame (connect-storm test).
    connecting: Option<Arc<AtomicUsize>>,
    real_delay: Duration,
    ready: bool,
}

impl CameraSource for Scripted {
    fn ready(&self) -> bool {
        self.ready
    }

    fn next_frame(&mut self, timeout: Duration) -> Result<SourceItem, IngestError> {
        if !self.real_delay.is_zero() {
            std::thread::sleep(self.real_delay);
        }
        match self.steps.pop_front().unwrap_or(self.then) {
            Step::Frame => {
                self.clock.sleep(Duration::from_millis(67));
                if let Some(c) = self.connecting.take() {
                    c.fetch_sub(1, Ordering::SeqCst);
                }
                let mut f = sharpeyes_core::testing::grey_frame(
                    self.camera.as_str(),
                    (32, 32),
                    (32, 32),
                    |_, _| 128,
                );
                f.time = self.clock.now();
                Ok(SourceItem::Frame(f))
            }
            Step::Silence => {
                self.clock.sleep(timeout);
                Ok(SourceItem::Timeout)
            }
            Step::Fail => Err(IngestError::Closed {
                camera: self.camera.clone(),
            }),
            Step::FailAuth => Err(IngestError::Rtsp {
                camera: self.camera.clone(),
                url: "rtsp://127.0.0.1:1/x".into(),
                message: "401 Unauthorized".into(),
                auth: true,
            }),
        }
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        if let Some(c) = self.connecting.take() {
            c.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Hands out one script per open, then `then` for ever; records when each open happened.
struct ScriptedOpener {
    clock: Arc<dyn Clock>,
    scripts: Mutex<VecDeque<Vec<Step>>>,
    then: Step,
    opens: Mutex<Vec<UnixMillis>>,
    /// Connections open without a first frame yet, and the most at once.
    connecting: Arc<AtomicUsize>,
    peak: AtomicUsize,
    real_delay: Duration,
    /// Sources say they are ready (handshake done) from the start.
    ready: bool,
    /// The camera's counters, whose state is recorded at each open (what operators see
    /// during that attempt).
    watch: Option<Arc<CameraCounters>>,
    states: Mutex<Vec<CameraState>>,
}

impl ScriptedOpener {
    fn new(clock: Arc<dyn Clock>, scripts: Vec<Vec<Step>>, then: Step) -> Self {
        Self {
            clock,
            scripts: Mutex::new(scripts.into()),
            then,
            opens: Mutex::default(),
            connecting: Arc::default(),
            peak: AtomicUsize::new(0),
            real_delay: Duration::ZERO,
            ready: false,
            watch: None,
            states: Mutex::default(),
        }
    }

    fn opens(&self) -> Vec<UnixMillis> {
        self.opens.lock().expect("opens").clone()
    }

    /// The camera's state at each open, when watching its counters.
    fn states(&self) -> Vec<CameraState> {
        self.states.lock().expect("states").clone()
    }
}

impl Opener for ScriptedOpener {
    fn open(
        &self,
        spec: &CameraSpec,
        _gate: &Arc<DecodeGate>,
    ) -> Result<Box<dyn CameraSource>, IngestError> {
        self.opens.lock().expect("opens").push(self.clock.now());
        if let Some(c) = &self.watch {
            self.states.lock().expect("states").push(c.state());
        }
        let n = self.connecting.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(n, Ordering::SeqCst);
        let steps = self
            .scripts
            .lock()
            .expect("scripts")
            .pop_front()
            .unwrap_or_default();
        Ok(Box::new(Scripted {
            clock: self.clock.clone(),
            camera: spec.id.clone(),
            steps: steps.into(),
            then: self.then,
            connecting: Some(self.connecting.clone()),
            real_delay: self.real_delay,
            ready: self.ready,
        }))
    }
}

struct Running {
    stop: Arc<AtomicBool>,
    counters: Arc<CameraCounters>,
    status: Receiver<StatusEvent>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn wait_for(&self, what: &str, mut f: impl FnMut() -> bool) {
        let end = Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(Instant::now() < end, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Stops the streamer; the health changes it reported (`camera_online` / `camera_offline`).
    /// The fakes' made-up pictures may also look tampered (uniform, unchanging) when a run is
    /// slow: those events are the tamper watch's, tested in `live::tamper` and tests/tamper.rs.
    fn stop(self) -> Vec<StatusEvent> {
        self.stop_all()
            .into_iter()
            .filter(|e| matches!(e.kind, StatusKind::CameraOnline | StatusKind::CameraOffline))
            .collect()
    }

    /// Stops the streamer; every status event it sent.
    fn stop_all(mut self) -> Vec<StatusEvent> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("streamer thread");
        }
        self.status.try_iter().collect()
    }
}

fn spec(id: &str) -> CameraSpec {
    let mut s = CameraSpec::new(
        CameraId::new(id).expect("id"),
        url::Url::parse("rtsp://127.0.0.1:1/x").expect("url"),
        5.0,
    );
    s.stall_after = Duration::from_secs(10);
    s.reconnect_max = Duration::from_secs(8);
    s
}

fn start(
    spec: CameraSpec,
    clock: Arc<dyn Clock>,
    opener: Arc<dyn Opener>,
    limiter: Arc<ConnectLimiter>,
    frames: Arc<FrameSlots>,
) -> Running {
    let counters = Arc::new(CameraCounters::default());
    start_counted(spec, clock, opener, limiter, frames, counters)
}

/// [`start`] with the camera's counters made by the caller.
fn start_counted(
    spec: CameraSpec,
    clock: Arc<dyn Clock>,
    opener: Arc<dyn Opener>,
    limiter: Arc<ConnectLimiter>,
    frames: Arc<FrameSlots>,
    counters: Arc<CameraCounters>,
) -> Running {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, status) = std::sync::mpsc::channel();
    let gate = Arc::new(DecodeGate::new(false, Duration::from_secs(10)));
    let (s, c) = (stop.clone(), counters.clone());
    let thread = std::thread::spawn(move || {
        Streamer {
            spec,
            clock: clock.as_ref(),
            opener: opener.as_ref(),
            limiter,
            out: CameraOutputs { frames, status: tx },
            stop: s,
            counters: c,
            gate,
        }
        .run()
    });
    Running {
        stop,
        counters,
        status,
        thread: Some(thread),
    }
}

fn sim_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(UnixMillis(1_700_000_000_000)))
}

#[test]
fn a_camera_that_connects_but_never_delivers_a_frame_is_offline_and_keeps_reconnecting() {
    // The dark camera of the density issue: the session reached PLAY, no frame ever came.
    let clock = sim_clock();
    let counters = Arc::new(CameraCounters::default());
    let mut opener = ScriptedOpener::new(clock.clone(), vec![vec![]], Step::Silence);
    opener.watch = Some(counters.clone());
    let opener = Arc::new(opener);
    let r = start_counted(
        spec("dark"),
        clock.clone(),
        opener.clone(),
        ConnectLimiter::new(4, Duration::from_secs(3)),
        Arc::new(FrameSlots::new()),
        counters,
    );
    // Every dark attempt is dropped after `stall_after`, not only the first one.
    r.wait_for("a fourth connection", || opener.opens().len() >= 4);
    let events = r.stop();
    let opens = opener.opens();
    let gap = opens[1].0 - opens[0].0;
    // 10 s without a first frame, then a backoff of 0.25-0.5 s.
    assert!(
        (10_000..=10_800).contains(&gap),
        "reconnected after {gap} ms"
    );
    let states: Vec<_> = events.iter().map(|e| e.state).collect();
    assert_eq!(states, [CameraState::Offline], "reported once: {events:?}");
    assert_eq!(
        events[0].reason.as_deref(),
        Some("no decoded frame 10000 ms after connecting")
    );
    // `connecting` only before anything was known; offline through every reconnect since.
    assert_eq!(
        opener.states()[..4],
        [
            CameraState::Connecting,
            CameraState::Offline,
            CameraState::Offline,
            CameraState::Offline
        ]
    );
}

#[test]
fn refused_credentials_back_off_to_five_minutes_and_network_failures_do_not() {
    let clock = sim_clock();
    let mut scripts = vec![vec![Step::FailAuth]; 8];
    // The camera goes unreachable for a while: short waits again, the refusals' pace kept.
    scripts.extend(vec![vec![Step::Fail]; 3]);
    scripts.push(vec![Step::FailAuth]);
    let opener = Arc::new(ScriptedOpener::new(clock.clone(), scripts, Step::FailAuth));
    let r = start(
        spec("locked"),
        clock.clone(),
        opener.clone(),
        ConnectLimiter::new(4, Duration::from_secs(3)),
        Arc::new(FrameSlots::new()),
    );
    r.wait_for("fourteen connections", || opener.opens().len() >= 14);
    let events = r.stop();
    let opens = opener.opens();
    let gaps: Vec<i64> = opens.windows(2).map(|w| w[1].0 - w[0].0).collect();
    // 10 s doubling, each scaled by [0.5, 1): 5-10, 10-20, 20-40, 40-80, 80-160, then the
    // 5 min cap (150-300 s).
    let auth = [
        (5_000, 10_000),
        (10_000, 20_000),
        (20_000, 40_000),
        (40_000, 80_000),
        (80_000, 160_000),
        (150_000, 300_000),
        (150_000, 300_000),
    ];
    for (i, (lo, hi)) in auth.iter().enumerate() {
        assert!(
            (*lo..=*hi + 1).contains(&gaps[i]),
            "gap {i}: {} ms, expected {lo}-{hi}: {gaps:?}",
            gaps[i]
        );
    }
    // Gap 7 follows the 8th refusal (150-300 s); then the network failures: 0.25-0.5,
    // 0.5-1, 1-2 s; then a refusal again, still at the cap.
    let network = [(250, 500), (500, 1000), (1000, 2000)];
    for (i, (lo, hi)) in network.iter().enumerate() {
        let g = gaps[8 + i];
        assert!(
            (*lo..=*hi + 1).contains(&g),
            "gap {}: {g} ms: {gaps:?}",
            8 + i
        );
    }
    assert!(
        gaps[11] >= 150_000 && gaps[12] >= 150_000,
        "the refusals' pace is kept: {gaps:?}"
    );
    // Six refusals spread over more than 2.5 minutes (at the network pace, capped at 8 s
    // here, they would take under 20 s).
    assert!(opens[5].0 - opens[0].0 >= 155_000, "{gaps:?}");
    let states: Vec<_> = events.iter().map(|e| e.state).collect();
    assert_eq!(
        states,
        [CameraState::AuthFailed],
        "reported once: {events:?}"
    );
}

#[test]
fn failures_back_off_exponentially_up_to_the_cap_and_frames_reset_it() {
    let clock = sim_clock();
    let mut scripts = vec![vec![Step::Fail]; 6];
    // Then a connection that works for a while and fails, then failures again.
    scripts.push(vec![Step::Frame, Step::Frame, Step::Fail]);
    scripts.extend(vec![vec![Step::Fail]; 2]);
    let opener = Arc::new(ScriptedOpener::new(clock.clone(), scripts, Step::Frame));
    let r = start(
        spec("flaky"),
        clock.clone(),
        opener.clone(),
        ConnectLimiter::new(4, Duration::from_secs(3)),
        Arc::new(FrameSlots::new()),
    );
    r.wait_for("ten connections", || opener.opens().len() >= 10);
    let counters = r.counters.clone();
    r.wait_for("frames after the last failure", || {
        counters.frames_decoded.load(Ordering::SeqCst) > 3
    });
    let events = r.stop();
    let opens = opener.opens();
    let gaps: Vec<i64> = opens.windows(2).map(|w| w[1].0 - w[0].0).collect();
    // Base 0.5 s doubling, each scaled by [0.5, 1): 0.25-0.5, 0.5-1, 1-2, 2-4, 4-8, then the
    // 8 s cap (4-8 s).
    let bounds = [
        (250, 500),
        (500, 1000),
        (1000, 2000),
        (2000, 4000),
        (4000, 8000),
        (4000, 8000),
    ];
    for (i, (lo, hi)) in bounds.iter().enumerate() {
        assert!(
            (*lo..=*hi + 1).contains(&gaps[i]),
            "gap {i}: {} ms, expected {lo}-{hi}: {gaps:?}",
            gaps[i]
        );
    }
    // The 7th connection delivered frames: the backoff starts again from 0.5 s.
    assert!(
        gaps[6] < 1_000,
        "after frames the backoff is reset: {gaps:?}"
    );
    let states: Vec<_> = events.iter().map(|e| e.state).collect();
    assert_eq!(
        states,
        [
            CameraState::Offline,
            CameraState::Online,
            CameraState::Offline,
            CameraState::Online
        ],
        "each change reported once"
    );
}

#[test]
fn a_stream_that_stops_is_stalled_and_reconnected() {
    let clock = sim_clock();
    let opener = Arc::new(ScriptedOpener::new(
        clock.clone(),
        vec![vec![Step::Frame; 5]],
        Step::Silence,
    ));
    let r = start(
        spec("stops"),
        clock.clone(),
        opener.clone(),
        ConnectLimiter::new(4, Duration::from_secs(3)),
        Arc::new(FrameSlots::new()),
    );
    r.wait_for("a reconnect", || opener.opens().len() >= 2);
    let events = r.stop();
    let states: Vec<_> = events.iter().map(|e| e.state).collect();
    assert_eq!(states[..2], [CameraState::Online, CameraState::Stalled]);
    assert!(
        events[1]
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("no frame for")),
        "{:?}",
        events[1]
    );
}

#[test]
fn a_connect_storm_is_bounded_and_every_camera_comes_up() {
    // 200 cameras start at once (the wall clock here: real threads race for permits); each
    // connection takes a few real milliseconds per step before its first frame.
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut opener = ScriptedOpener::new(clock.clone(), vec![vec![Step::Frame]; 200], Step::Frame);
    opener.real_delay = Duration::from_millis(5);
    let opener = Arc::new(opener);
    let limiter = ConnectLimiter::new(16, Duration::from_secs(3));
    let frames = Arc::new(FrameSlots::new());
    let mut fast = spec("x");
    fast.stall_after = Duration::from_secs(30);
    let cams: Vec<Running> = (0..200)
        .map(|i| {
            let mut s = fast.clone();
            s.id = CameraId::new(format!("cam-{i:03}")).expect("id");
            start(
                s,
                clock.clone(),
                opener.clone(),
                limiter.clone(),
                frames.clone(),
            )
        })
        .collect();
    for c in &cams {
        let counters = c.counters.clone();
        c.wait_for("every camera's first frame", || {
            counters.frames_decoded.load(Ordering::SeqCst) > 0
        });
    }
    let (_, peak, granted) = limiter.stats();
    let opened = opener.opens().len();
    cams.into_iter().for_each(|c| {
        c.stop();
    });
    assert!(peak <= 16, "at most 16 connects in flight, saw {peak}");
    assert!(
        opener.peak.load(Ordering::SeqCst) <= 16,
        "connections without a first frame at once: {}",
        opener.peak.load(Ordering::SeqCst)
    );
    assert_eq!(opened, 200, "one connection each, none failed");
    assert_eq!(granted, 200);
}

#[test]
fn a_ready_connect_lets_the_next_one_in_before_its_first_frame() {
    // One permit. Camera a's session is up (ready) but waits for a keyframe that never comes;
    // camera b must not wait behind it.
    let clock = sim_clock();
    let limiter = ConnectLimiter::new(1, Duration::from_secs(3600));
    let mut waiting = ScriptedOpener::new(clock.clone(), vec![], Step::Silence);
    waiting.ready = true;
    waiting.real_delay = Duration::from_millis(1);
    let flowing = Arc::new(ScriptedOpener::new(clock.clone(), vec![], Step::Frame));
    let mut slow = spec("a");
    slow.stall_after = Duration::from_secs(3600);
    let a = start(
        slow,
        clock.clone(),
        Arc::new(waiting),
        limiter.clone(),
        Arc::new(FrameSlots::new()),
    );
    a.wait_for("a's connect", || limiter.stats().2 >= 1);
    let b = start(
        spec("b"),
        clock.clone(),
        flowing,
        limiter.clone(),
        Arc::new(FrameSlots::new()),
    );
    let counters = b.counters.clone();
    b.wait_for("b's first frame", || {
        counters.frames_decoded.load(Ordering::SeqCst) > 0
    });
    a.stop();
    b.stop();
}

#[test]
fn a_still_scene_under_motion_gating_marks_its_camera_idle_instead_of_queueing_frames() {
    let clock = sim_clock();
    let opener = Arc::new(ScriptedOpener::new(clock.clone(), vec![], Step::Frame));
    let frames = Arc::new(FrameSlots::new());
    let mut s = spec("still");
    s.motion_gate = Some(Duration::from_secs(10));
    let counters = Arc::new(CameraCounters::default());
    let r = start_counted(
        s,
        clock.clone(),
        opener,
        ConnectLimiter::new(4, Duration::from_secs(3)),
        frames.clone(),
        counters.clone(),
    );
    r.wait_for("a gated frame", || {
        counters.frames_gated.load(Ordering::Relaxed) > 0
    });
    r.stop();
    // The gated frames reached the analysis loop as one idle mark (not one per frame), so the
    // camera's rules advance with no detections; nothing moved, so no frame waits for detection.
    let idle = frames.take_idle();
    assert_eq!(idle, vec![CameraId::new("still").expect("id")]);
    assert!(frames.take_idle().is_empty(), "a mark is taken once");
}

#[test]
fn a_camera_stopped_while_tampered_closes_its_tamper_mark() {
    // The fake's pictures are one still grey: tampered after the holds (sim clock).
    let clock = sim_clock();
    let opener = Arc::new(ScriptedOpener::new(clock.clone(), Vec::new(), Step::Frame));
    let run = start(
        spec("cam"),
        clock,
        opener,
        ConnectLimiter::new(4, Duration::from_secs(3)),
        Arc::new(FrameSlots::new()),
    );
    run.wait_for("the covered mark", || {
        run.counters.tampered.load(Ordering::Relaxed) != 0
    });
    let counters = run.counters.clone();
    let events = run.stop_all();
    let tamper: Vec<(StatusKind, Option<&str>)> = events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                StatusKind::CameraTampered | StatusKind::CameraRestored
            )
        })
        .map(|e| (e.kind, e.reason.as_deref()))
        .collect();
    // Whichever reasons the still grey picture raised (frozen, defocused): each is closed.
    let raised: Vec<_> = tamper
        .iter()
        .filter(|(k, _)| *k == StatusKind::CameraTampered)
        .map(|(_, r)| *r)
        .collect();
    assert!(!raised.is_empty(), "{tamper:?}");
    for r in &raised {
        let at = |kind| tamper.iter().position(|x| *x == (kind, *r));
        assert!(
            at(StatusKind::CameraRestored) > at(StatusKind::CameraTampered),
            "{r:?} closed after it was raised: {tamper:?}"
        );
    }
    assert_eq!(tamper.len(), 2 * raised.len(), "{tamper:?}");
    assert_eq!(counters.tampered.load(Ordering::Relaxed), 0);
}
