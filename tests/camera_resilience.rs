//! Camera ingest against a real gst-rtsp-server on loopback that the tests drive: stopped and
//! restarted, stalled, switching resolution, asking for a password. Cameras run exactly as in
//! `sharpeyes run` (`CameraHandle`: retina → GStreamer decode → health → status events).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use sharpeyes::live::{CameraHandle, CameraOutputs, CameraSpec};
use sharpeyes_core::testing::asset;
use sharpeyes_core::{CameraId, CameraState, StatusEvent, StatusKind};
use sharpeyes_ingest::{FrameSlots, RtspTransport};
use sharpeyes_sim::{SimAuth, SimCamera, SimCodec, SimOptions, SimServer};

struct Rig {
    rt: tokio::runtime::Runtime,
    frames: Arc<FrameSlots>,
    status_tx: std::sync::mpsc::Sender<StatusEvent>,
    status: Receiver<StatusEvent>,
}

impl Rig {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let (status_tx, status) = std::sync::mpsc::channel();
        Self {
            rt,
            frames: Arc::new(FrameSlots::new()),
            status_tx,
            status,
        }
    }

    fn camera(&self, spec: CameraSpec) -> CameraHandle {
        let out = CameraOutputs {
            frames: self.frames.clone(),
            status: self.status_tx.clone(),
        };
        CameraHandle::start(
            spec,
            self.rt.handle().clone(),
            out,
            sharpeyes_core::Canvas::new(416, 416, 114),
        )
    }

    /// Waits for the next status event, up to `timeout`.
    /// Waits for the next health change, up to `timeout`. Tamper events are skipped: the
    /// simulated pattern camera (a small ball on black) may rightly look covered on a slow run;
    /// tamper detection has its own tests (tests/tamper.rs).
    fn next_status(&self, timeout: Duration) -> Option<StatusEvent> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let e = self.status.recv_timeout(left).ok()?;
            if !matches!(
                e.kind,
                sharpeyes_core::StatusKind::CameraTampered
                    | sharpeyes_core::StatusKind::CameraRestored
            ) {
                return Some(e);
            }
        }
    }
}

fn spec(id: &str, url: &str) -> CameraSpec {
    let mut s = CameraSpec::new(
        CameraId::new(id).expect("id"),
        url::Url::parse(url).expect("url"),
        30.0,
    );
    s.reconnect_max = Duration::from_secs(2);
    s
}

fn decoded(h: &CameraHandle) -> u64 {
    h.counters.frames_decoded.load(Ordering::Relaxed)
}

fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn walking() -> Option<PathBuf> {
    asset("videos/people_walking_indoor_intel.mp4")
}

#[test]
fn reconnects_after_server_restart_with_online_offline_online() {
    let Some(clip) = walking() else { return };
    let rig = Rig::new();
    let port = free_port();
    let cams = [SimCamera::clip("cam", clip)];
    let server = SimServer::start(&cams, port).expect("server");
    let cam = rig.camera(spec("cam", &server.url("cam")));
    let online = rig
        .next_status(Duration::from_secs(15))
        .expect("online event");
    assert_eq!(
        (online.kind, online.state),
        (StatusKind::CameraOnline, CameraState::Online)
    );
    assert!(wait_until(Duration::from_secs(10), || decoded(&cam) >= 10));

    drop(server);
    let offline = rig
        .next_status(Duration::from_secs(15))
        .expect("offline event");
    assert_eq!(offline.kind, StatusKind::CameraOffline, "{offline:?}");
    assert_eq!(offline.state, CameraState::Offline);

    let server = SimServer::start(&cams, port).expect("server again");
    let before = decoded(&cam);
    let back = rig
        .next_status(Duration::from_secs(20))
        .expect("online again");
    assert_eq!(back.kind, StatusKind::CameraOnline);
    assert!(wait_until(Duration::from_secs(10), || decoded(&cam) >= before + 10));
    assert!(cam.counters.reconnects.load(Ordering::Relaxed) >= 1);
    drop(server);
}

#[test]
fn a_stalled_camera_is_reported_and_recovers() {
    let Some(clip) = walking() else { return };
    let rig = Rig::new();
    let server = SimServer::start(&[SimCamera::clip("cam", clip)], 0).expect("server");
    let mut s = spec("cam", &server.url("cam"));
    s.stall_after = Duration::from_secs(2);
    let cam = rig.camera(s);
    assert_eq!(
        rig.next_status(Duration::from_secs(15)).map(|a| a.kind),
        Some(StatusKind::CameraOnline)
    );

    server.set_stalled("cam", true);
    let stalled = rig
        .next_status(Duration::from_secs(10))
        .expect("stall event");
    assert_eq!(
        (stalled.kind, stalled.state),
        (StatusKind::CameraOffline, CameraState::Stalled)
    );

    server.set_stalled("cam", false);
    let back = rig
        .next_status(Duration::from_secs(30))
        .expect("online again");
    assert_eq!(back.kind, StatusKind::CameraOnline);
    assert_eq!(cam.counters.state(), CameraState::Online);
}

#[test]
fn follows_a_resolution_change_without_reconnecting() {
    let (Some(tall), Some(wide)) = (
        asset("videos/fall_staged_indoor_thanhnc58_Fall01.mp4"),
        asset("videos/fall_urfd_fall01_depth_rgb.mp4"),
    ) else {
        return;
    };
    let rig = Rig::new();
    let cams = [SimCamera {
        mount: "cam".into(),
        clips: vec![tall, wide],
        codec: SimCodec::H264,
        program: None,
    }];
    let server = SimServer::start(&cams, 0).expect("server");
    let cam = rig.camera(spec("cam", &server.url("cam")));
    let mut sizes = std::collections::BTreeSet::new();
    let end = Instant::now() + Duration::from_secs(25);
    while Instant::now() < end && sizes.len() < 2 {
        for f in rig.frames.take(1, Duration::from_millis(200)) {
            sizes.insert((f.letterbox.src_width, f.letterbox.src_height));
        }
    }
    assert_eq!(
        sizes.into_iter().collect::<Vec<_>>(),
        vec![(406, 720), (640, 240)]
    );
    assert_eq!(cam.counters.reconnects.load(Ordering::Relaxed), 0);
    drop(server);
}

fn auth_case(
    auth: SimAuth,
    password: &str,
) -> (Vec<StatusEvent>, Arc<sharpeyes::live::CameraCounters>) {
    let rig = Rig::new();
    let options = SimOptions {
        port: 0,
        credentials: Some(("viewer".into(), "s3cret-Pa55".into())),
        auth,
    };
    let server = SimServer::start_with(&[SimCamera::pattern("cam")], options).expect("server");
    let mut s = spec("cam", &server.url("cam"));
    s.credentials = Some(("viewer".into(), password.into()));
    let cam = rig.camera(s);
    let first = rig
        .next_status(Duration::from_secs(15))
        .into_iter()
        .collect();
    let counters = cam.counters.clone();
    drop(cam);
    drop(server);
    (first, counters)
}

#[test]
fn digest_and_basic_auth_with_the_right_password_get_frames() {
    for auth in [SimAuth::Digest, SimAuth::Basic] {
        let (events, counters) = auth_case(auth, "s3cret-Pa55");
        assert_eq!(
            events.first().map(|a| a.kind),
            Some(StatusKind::CameraOnline),
            "{auth:?}: {events:?}"
        );
        assert!(counters.frames_decoded.load(Ordering::Relaxed) >= 1);
    }
}

#[test]
fn a_wrong_password_is_auth_failed_and_never_echoed() {
    for auth in [SimAuth::Digest, SimAuth::Basic] {
        let (events, counters) = auth_case(auth, "wrong-Pa55word");
        let e = events
            .first()
            .unwrap_or_else(|| panic!("{auth:?}: no status event"));
        assert_eq!(
            (e.kind, e.state),
            (StatusKind::CameraOffline, CameraState::AuthFailed),
            "{e:?}"
        );
        let json = serde_json::to_string(e).expect("json");
        assert!(
            !json.contains("wrong-Pa55word") && !json.contains("s3cret-Pa55"),
            "{json}"
        );
        assert_eq!(counters.frames_decoded.load(Ordering::Relaxed), 0);
    }
}

#[test]
fn udp_transport_and_h265_streams_decode() {
    let rig = Rig::new();
    let cams = [
        SimCamera::pattern("h264"),
        SimCamera {
            mount: "h265".into(),
            clips: Vec::new(),
            codec: SimCodec::H265,
            program: None,
        },
    ];
    let server = SimServer::start(&cams, 0).expect("server");
    let mut udp = spec("udp", &server.url("h264"));
    udp.transport = RtspTransport::Udp;
    let udp = rig.camera(udp);
    let h265 = rig.camera(spec("h265", &server.url("h265")));
    assert!(
        wait_until(Duration::from_secs(20), || decoded(&udp) >= 10
            && decoded(&h265) >= 10),
        "udp {} h265 {}",
        decoded(&udp),
        decoded(&h265)
    );
}

#[test]
fn one_camera_down_does_not_slow_the_other() {
    let Some(clip) = walking() else { return };
    let rig = Rig::new();
    let a_server = SimServer::start(&[SimCamera::clip("a", clip.clone())], 0).expect("server a");
    let b_server = SimServer::start(&[SimCamera::clip("b", clip)], 0).expect("server b");
    let a = rig.camera(spec("a", &a_server.url("a")));
    let b = rig.camera(spec("b", &b_server.url("b")));
    assert!(wait_until(Duration::from_secs(15), || decoded(&a) >= 5
        && decoded(&b) >= 5));
    // The clip runs at 10 fps: measure b's rate while a is up, then while a is down.
    let rate = |h: &CameraHandle| {
        let n0 = decoded(h);
        std::thread::sleep(Duration::from_secs(4));
        (decoded(h) - n0) as f64 / 4.0
    };
    let with_a = rate(&b);
    drop(a_server);
    assert!(wait_until(Duration::from_secs(10), || a.counters.state()
        != CameraState::Online));
    let without_a = rate(&b);
    println!(
        "camera b: {with_a:.1} fps with a up, {without_a:.1} fps with a down ({:?})",
        a.counters.state()
    );
    assert!(
        with_a >= 7.0 && without_a >= 7.0,
        "b kept its ~10 fps: {with_a} then {without_a}"
    );
}

#[test]
fn adaptive_decode_drops_to_keyframes_when_still_and_wakes_on_motion() {
    // About 7 s of a person moving, then the last frame held for 10 s, then it loops.
    let Some(clip) = asset("videos/fall_staged_indoor_thanhnc58_Fall01_padded.mp4") else {
        return;
    };
    let rig = Rig::new();
    let server = SimServer::start(&[SimCamera::clip("cam", clip)], 0).expect("server");
    let mut s = spec("cam", &server.url("cam"));
    s.adaptive_quiet = Some(Duration::from_secs(2));
    let cam = rig.camera(s);
    let skipped = |h: &CameraHandle| h.counters.frames_skipped.load(Ordering::Relaxed);
    let rate = |h: &CameraHandle, d: Duration| {
        let n0 = decoded(h);
        std::thread::sleep(d);
        (decoded(h) - n0) as f64 / d.as_secs_f64()
    };
    // The still part: the camera settles into keyframes only (one per 30-frame GOP).
    assert!(
        wait_until(Duration::from_secs(25), || skipped(&cam) >= 60
            && cam.gate.keyframes_only()),
        "skipped {}",
        skipped(&cam)
    );
    let still_fps = rate(&cam, Duration::from_secs(2));
    // The clip starts over: motion brings full decode back.
    let woke = wait_until(Duration::from_secs(20), || !cam.gate.keyframes_only());
    assert!(woke, "motion woke the camera");
    // Deltas resume at the next keyframe: within one GOP (30 frames, 1 s here).
    std::thread::sleep(Duration::from_millis(1100));
    let busy_fps = rate(&cam, Duration::from_secs(1));
    println!(
        "adaptive decode: {still_fps:.1} fps decoded while still, {busy_fps:.1} fps after motion, {} frames skipped",
        skipped(&cam)
    );
    assert!(still_fps <= 3.0, "still: {still_fps} fps");
    assert!(busy_fps >= 15.0, "moving: {busy_fps} fps");
}

#[test]
fn privacy_masks_are_black_before_detection_sees_the_frame() {
    let Some(clip) = walking() else { return };
    let rig = Rig::new();
    let server = SimServer::start(&[SimCamera::clip("cam", clip)], 0).expect("server");
    let mut s = spec("cam", &server.url("cam"));
    // The left half of the picture.
    s.privacy_masks = vec![vec![[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]];
    let _cam = rig.camera(s);
    let f = loop {
        if let Some(f) = rig.frames.take(1, Duration::from_secs(15)).pop() {
            break f;
        }
    };
    let (py, ih) = (f.letterbox.pad_y as u32, f.letterbox.inner_size().1);
    let row_sum = |x0: u32, x1: u32| -> u64 {
        (py..py + ih)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .map(|(x, y)| f.bgr_at(x, y).iter().map(|&v| v as u64).sum::<u64>())
            .sum()
    };
    assert_eq!(row_sum(0, 207), 0, "masked half is black");
    assert!(row_sum(209, 416) > 0, "the other half has the picture");
}

#[test]
fn a_file_camera_plays_in_real_time_and_loops() {
    // 5.3 s at 30 fps = 159 frames.
    let Some(clip) = asset("videos/fall_urfd_fall01_depth_rgb.mp4") else {
        return;
    };
    let rig = Rig::new();
    let url = url::Url::from_file_path(clip.canonicalize().expect("path")).expect("file url");
    let cam = rig.camera(CameraSpec::new(
        CameraId::new("file").expect("id"),
        url,
        5.0,
    ));
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(8));
    let n = decoded(&cam);
    let fps = n as f64 / t.elapsed().as_secs_f64();
    println!("file camera: {n} frames in 8 s ({fps:.1} fps)");
    assert!(n > 159, "it looped: {n} frames");
    assert!(
        (20.0..=32.0).contains(&fps),
        "paced at the clip's 30 fps: {fps:.1}"
    );
    assert_eq!(cam.counters.state(), CameraState::Online);
}

#[test]
fn a_wrong_password_is_tried_again_only_seconds_then_minutes_apart() {
    // Cameras lock the account after a handful of failed logins: refusals back off from 10 s
    // doubling to 5 min, apart from the network backoff (capped at 2 s in `spec`).
    let rig = Rig::new();
    let options = SimOptions {
        port: 0,
        credentials: Some(("viewer".into(), "s3cret-Pa55".into())),
        auth: SimAuth::Digest,
    };
    let server = SimServer::start_with(&[SimCamera::pattern("cam")], options).expect("server");
    let mut s = spec("cam", &server.url("cam"));
    s.credentials = Some(("viewer".into(), "wrong-Pa55word".into()));
    let started = Instant::now();
    let cam = rig.camera(s);
    let refused = rig
        .next_status(Duration::from_secs(15))
        .expect("a status event");
    assert_eq!(refused.state, CameraState::AuthFailed, "{refused:?}");
    // Attempts at ~0, +5-10 s, +10-20 s; the next would come 20-40 s later still.
    std::thread::sleep(Duration::from_secs(32).saturating_sub(started.elapsed()));
    let knocks = server.connections();
    let errors = cam.counters.errors.load(Ordering::Relaxed);
    drop(cam);
    drop(server);
    let at: Vec<f64> = knocks
        .iter()
        .map(|t| t.saturating_duration_since(started).as_secs_f64())
        .collect();
    println!("wrong password: connections at {at:.1?} s, {errors} failed attempts");
    assert_eq!(knocks.len(), 3, "three tries in 32 s: {at:.1?}");
    assert_eq!(errors, 3, "one connection per try");
    let gaps: Vec<f64> = at.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        (4.9..10.5).contains(&gaps[0]),
        "first retry after 5-10 s: {gaps:.1?}"
    );
    assert!(
        gaps[1] > gaps[0] && gaps[1] >= 9.9,
        "spacing out: {gaps:.1?}"
    );
}

#[test]
fn a_camera_that_never_decodes_a_frame_is_offline_with_the_reason() {
    // The session plays and access units arrive, but none decodes (no parameter sets): the
    // camera must not stay `connecting`.
    let rig = Rig::new();
    let cams = [SimCamera {
        mount: "cam".into(),
        clips: Vec::new(),
        codec: SimCodec::Undecodable,
        program: None,
    }];
    let server = SimServer::start(&cams, 0).expect("server");
    let mut s = spec("cam", &server.url("cam"));
    s.stall_after = Duration::from_secs(2);
    let cam = rig.camera(s);
    let offline = rig
        .next_status(Duration::from_secs(10))
        .expect("a status event");
    assert_eq!(
        (offline.kind, offline.state),
        (StatusKind::CameraOffline, CameraState::Offline),
        "{offline:?}"
    );
    let reason = offline.reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with("no decoded frame") && reason.contains("access units received"),
        "{reason}"
    );
    // Through the reconnects that follow, it stays offline, and each dark attempt is remade.
    let reconnects = cam.counters.reconnects.load(Ordering::Relaxed);
    let mut seen = std::collections::BTreeSet::new();
    let end = Instant::now() + Duration::from_secs(8);
    while Instant::now() < end {
        seen.insert(cam.counters.state().as_str());
        std::thread::sleep(Duration::from_millis(20));
    }
    let later = cam.counters.reconnects.load(Ordering::Relaxed);
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        vec!["offline"],
        "never back to connecting"
    );
    assert!(
        later >= reconnects + 2,
        "reconnected {reconnects} → {later}"
    );
    assert_eq!(decoded(&cam), 0);
    assert!(cam.counters.access_units.load(Ordering::Relaxed) > 10);
    assert!(
        rig.next_status(Duration::from_millis(100)).is_none(),
        "reported once"
    );
    drop(server);
}

/// Everything logged in this test binary from the first call on (DEBUG and up), as text.
fn captured_logs() -> Arc<std::sync::Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<Arc<std::sync::Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let logs = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        logs
    })
    .clone()
}

#[test]
fn passwords_in_the_url_query_never_reach_the_log() {
    // Some cameras take their credentials in the query (`?user=..&password=..`): the URL is
    // logged (session playing, failures quoting the request) with the value masked.
    let logs = captured_logs();
    let rig = Rig::new();
    let options = SimOptions {
        port: 0,
        credentials: Some(("viewer".into(), "s3cret-Pa55".into())),
        auth: SimAuth::Digest,
    };
    let server = SimServer::start_with(&[SimCamera::pattern("cam")], options).expect("server");
    let query = "?user=viewer&password=Qu3ry-Pa55&token=T0ken-Pa55";
    let mut good = spec("query-good", &format!("{}{query}", server.url("cam")));
    good.credentials = Some(("viewer".into(), "s3cret-Pa55".into()));
    let mut bad = spec("query-bad", &format!("{}{query}", server.url("cam")));
    bad.credentials = Some(("viewer".into(), "wrong-Pa55word".into()));
    let good = rig.camera(good);
    let bad = rig.camera(bad);
    let mut states = std::collections::BTreeMap::new();
    while states.len() < 2 {
        let e = rig
            .next_status(Duration::from_secs(15))
            .unwrap_or_else(|| panic!("two status events, got {states:?}"));
        states.insert(e.camera.id.to_string(), e.state);
    }
    drop((good, bad, server));
    let text =
        String::from_utf8_lossy(&logs.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    let ours: Vec<&str> = text.lines().filter(|l| l.contains("query-")).collect();
    let joined = ours.join("\n");
    assert_eq!(
        (states.get("query-good"), states.get("query-bad")),
        (Some(&CameraState::Online), Some(&CameraState::AuthFailed)),
        "{states:?}"
    );
    assert!(
        joined.contains("password=***&token=***"),
        "the URL is logged, masked:\n{joined}"
    );
    for secret in ["Qu3ry-Pa55", "T0ken-Pa55", "s3cret-Pa55", "wrong-Pa55word"] {
        assert!(!text.contains(secret), "{secret} in the log:\n{joined}");
    }
}
