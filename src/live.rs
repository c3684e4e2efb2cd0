//! Live cameras (I/O: threads, RTSP, ONNX Runtime, sinks).
//!
//! One thread per camera owns its connection: it starts an `RtspSource`, takes the frames that
//! are due for detection, and reconnects with capped exponential backoff when the camera fails.
//! All cameras feed one bounded drop-oldest queue; the analysis thread takes batches from it
//! (one frame per camera at most, so a batch can later go to a GPU in one run), runs the model
//! and rules, and delivers alerts. [`CameraHandle`] starts and stops one camera, the single
//! mechanism that config hot reload and multi-machine assignment will both use.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sharpeyes_core::{
    CameraId, CameraRef, CameraState, Clock, FrameSource, SourceItem, StatusEvent, SystemClock,
};
use sharpeyes_ingest::{
    Backoff, DecodeGate, FileSource, FrameSlots, Health, IngestError, MaskPolygon, MotionDetector,
    RtspOptions, RtspSource, RtspTransport, StatusChange, apply_privacy_masks,
};

use crate::analyze::{Analyzer, Delivery, RateSampler};

/// What one camera needs to run.
#[derive(Clone)]
pub struct CameraSpec {
    pub id: CameraId,
    /// Shown to people (status events, alerts): the camera file's `name`.
    pub name: String,
    /// The camera file's `village`.
    pub village: String,
    /// The stream to detect on (the substream when the camera has one), without credentials.
    pub url: url::Url,
    /// (user, password) for Basic/Digest auth; the password is never logged.
    pub credentials: Option<(String, String)>,
    pub transport: RtspTransport,
    pub detect_fps: f64,
    /// No frame for this long while online = stalled, and the connection is remade.
    pub stall_after: Duration,
    /// Reconnect backoff: 0.5 s doubling up to this.
    pub reconnect_max: Duration,
    /// Adaptive decode (keyframes only while quiet) with this quiet period; None: off.
    pub adaptive_quiet: Option<Duration>,
    /// Motion gating of detection: frames go to the detector only within this long after
    /// motion or a detection (the start counts); None: every due frame is analysed.
    pub motion_gate: Option<Duration>,
    /// Blacked out in every frame before detection and snapshots (normalised coordinates).
    pub privacy_masks: Vec<MaskPolygon>,
    /// A `file://` camera plays at its own frame rate (true, the default), or as fast as
    /// detection takes its frames (false: no frame dropped, none decoded in vain; benchmarks).
    pub file_paced: bool,
}

impl std::fmt::Debug for CameraSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraSpec")
            .field("id", &self.id)
            .field("url", &sharpeyes_ingest::redact_url(self.url.as_str()))
            .field("user", &self.credentials.as_ref().map(|c| &c.0))
            .field("transport", &self.transport)
            .field("detect_fps", &self.detect_fps)
            .finish_non_exhaustive()
    }
}

impl CameraSpec {
    /// A camera with the default health settings (stall after 10 s, backoff cap 30 s), TCP.
    /// Who the camera is, as events name it.
    pub fn camera_ref(&self) -> CameraRef {
        CameraRef {
            id: self.id.clone(),
            name: self.name.clone(),
            village: self.village.clone(),
        }
    }

    /// Name = id and no village until set.
    pub fn new(id: CameraId, url: url::Url, detect_fps: f64) -> Self {
        Self {
            name: id.as_str().to_owned(),
            village: String::new(),
            id,
            url,
            credentials: None,
            transport: RtspTransport::Tcp,
            detect_fps,
            stall_after: Duration::from_secs(10),
            reconnect_max: Duration::from_secs(30),
            adaptive_quiet: None,
            motion_gate: None,
            privacy_masks: Vec::new(),
            file_paced: true,
        }
    }
}

/// Counters and state of one camera, shared with its thread (exported as metrics).
#[derive(Debug, Default)]
pub struct CameraCounters {
    pub frames_decoded: AtomicU64,
    /// Frames handed to detection.
    pub frames_queued: AtomicU64,
    /// Frames dropped by the camera's own queue because detection fell behind.
    pub frames_dropped: AtomicU64,
    pub reconnects: AtomicU64,
    /// Failed connections and broken streams (decode or network errors).
    pub errors: AtomicU64,
    /// Index into `CameraState::ALL`.
    pub state: AtomicU8,
    /// Wall-clock time of the last frame, ms since the epoch (0: none yet).
    pub last_frame_ms: AtomicI64,
    /// Access units not decoded by adaptive decode (its saving).
    pub frames_skipped: AtomicU64,
    /// Due frames not analysed because motion gating saw no motion and no recent detection.
    pub frames_gated: AtomicU64,
    /// Frames decoded per second over the last second, in thousandths.
    pub fps_in_milli: AtomicU64,
    /// Frames handed to detection per second over the last second, in thousandths.
    pub fps_out_milli: AtomicU64,
}

impl CameraCounters {
    pub fn state(&self) -> CameraState {
        CameraState::ALL[self.state.load(Ordering::Relaxed) as usize % CameraState::ALL.len()]
    }

    fn set_state(&self, s: CameraState) {
        let i = CameraState::ALL.iter().position(|x| *x == s).unwrap_or(0);
        self.state.store(i as u8, Ordering::Relaxed);
    }
}

/// A running camera thread; stops (and waits for the thread) on `stop` or drop.
pub struct CameraHandle {
    pub spec: CameraSpec,
    pub counters: Arc<CameraCounters>,
    /// Adaptive decode state; detections anywhere in the picture count as activity.
    pub gate: Arc<DecodeGate>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Where a camera thread sends its frames and status events.
#[derive(Clone)]
pub struct CameraOutputs {
    pub frames: Arc<FrameSlots>,
    pub status: std::sync::mpsc::Sender<StatusEvent>,
}

impl CameraHandle {
    /// Starts `spec`, its frames letterboxed to `size`.
    pub fn start(
        spec: CameraSpec,
        rt: tokio::runtime::Handle,
        out: CameraOutputs,
        size: (u32, u32),
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(CameraCounters::default());
        let quiet = spec
            .adaptive_quiet
            .or(spec.motion_gate)
            .unwrap_or(Duration::from_secs(30));
        let gate = Arc::new(DecodeGate::new(spec.adaptive_quiet.is_some(), quiet));
        let (s, c, sp, g) = (stop.clone(), counters.clone(), spec.clone(), gate.clone());
        let thread = std::thread::Builder::new()
            .name(format!("cam-{}", spec.id))
            .spawn(move || camera_loop(sp, rt, out, size, s, c, g))
            .expect("spawning a camera thread");
        Self {
            spec,
            counters,
            gate,
            stop,
            thread: Some(thread),
        }
    }

    /// Asks the thread to stop without waiting; drop (or [`CameraHandle::stop`]) waits.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Stops the camera and waits for its thread.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for CameraHandle {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Sleeps up to `d`, waking early on stop; returns false if stopping.
fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50).min(end - Instant::now()));
    }
    !stop.load(Ordering::Relaxed)
}

/// What a camera thread reads from: an RTSP camera, or a file played in real time and looped
/// (`file://` camera configs).
enum Source {
    Rtsp(RtspSource),
    File(FileSource),
    /// Opening failed; `next_frame` reports it once.
    Failed(Option<IngestError>),
}

impl Source {
    fn open(
        spec: &CameraSpec,
        rt: &tokio::runtime::Handle,
        size: (u32, u32),
        gate: &Arc<DecodeGate>,
    ) -> Result<Self, IngestError> {
        if spec.url.scheme() == "file" {
            let path = spec
                .url
                .to_file_path()
                .map_err(|_| IngestError::FileNotFound {
                    camera: spec.id.clone(),
                    path: spec.url.path().into(),
                })?;
            return FileSource::open_with(
                spec.id.clone(),
                &path,
                size.0,
                size.1,
                SystemClock.now(),
                spec.file_paced,
            )
            .map(Source::File);
        }
        let mut options = RtspOptions::new(spec.id.clone(), spec.url.clone(), size.0, size.1);
        options.credentials = spec.credentials.clone();
        options.transport = spec.transport;
        options.gate = Some(gate.clone());
        Ok(Source::Rtsp(RtspSource::start(rt, options)))
    }

    fn is_file(&self) -> bool {
        matches!(self, Source::File(_))
    }

    fn next_frame(&mut self, timeout: Duration) -> Result<SourceItem, IngestError> {
        match self {
            Source::Rtsp(s) => s.next_frame(timeout),
            Source::File(s) => s.next_frame(timeout),
            Source::Failed(e) => match e.take() {
                Some(e) => Err(e),
                None => Ok(SourceItem::End),
            },
        }
    }

    /// Frames dropped by the source's own queue.
    fn dropped(&self) -> u64 {
        match self {
            Source::Rtsp(s) => s.queue_stats().dropped,
            _ => 0,
        }
    }

    /// Access units skipped by adaptive decode.
    fn skipped(&self) -> u64 {
        match self {
            Source::Rtsp(s) => s.skipped(),
            _ => 0,
        }
    }
}

/// Fraction of thumbnail cells that must change (against a reference at least 0.5 s old) for
/// adaptive decode and motion gating to see motion: 0.5 %, 3 of 576 cells. A person at
/// village-camera distances covers 2-3 % of the picture; compression flicker on a still scene
/// changes none by more than 25 grey levels.
pub const MOTION_THRESHOLD: f32 = 0.005;

/// A jitter value in [0, 1) that differs between cameras and attempts (no RNG dependency).
fn jitter(camera: &CameraId, attempt: u64) -> f64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (camera, attempt, SystemClock.now().0).hash(&mut h);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

fn camera_loop(
    spec: CameraSpec,
    rt: tokio::runtime::Handle,
    out: CameraOutputs,
    size: (u32, u32),
    stop: Arc<AtomicBool>,
    counters: Arc<CameraCounters>,
    gate: Arc<DecodeGate>,
) {
    let _span = tracing::info_span!("camera", camera = %spec.id).entered();
    let mut motion = MotionDetector::default();
    let mut sampler = RateSampler::new(spec.detect_fps);
    let mut health = Health::new();
    let mut backoff = Backoff::new(Duration::from_millis(500), spec.reconnect_max);
    let emit = |c: Option<StatusChange>| {
        if let Some(c) = c {
            tracing::info!(
                state = c.state.as_str(),
                reason = c.reason.as_deref().unwrap_or(""),
                "camera state"
            );
            let mut event = StatusEvent::new(spec.camera_ref(), c.at, c.state, c.reason);
            event.emitted_time = SystemClock.now().to_rfc3339();
            let _ = out.status.send(event);
        }
    };
    let mut attempt = 0u64;
    let mut window = (Instant::now(), 0u64, 0u64);
    let mut measure_fps = |counters: &CameraCounters| {
        let elapsed = window.0.elapsed();
        if elapsed >= Duration::from_secs(1) {
            let (n_in, n_out) = (
                counters.frames_decoded.load(Ordering::Relaxed),
                counters.frames_queued.load(Ordering::Relaxed),
            );
            let per_s = |n: u64, m: u64| ((n - m) as f64 * 1000.0 / elapsed.as_secs_f64()) as u64;
            counters
                .fps_in_milli
                .store(per_s(n_in, window.1), Ordering::Relaxed);
            counters
                .fps_out_milli
                .store(per_s(n_out, window.2), Ordering::Relaxed);
            window = (Instant::now(), n_in, n_out);
        }
    };
    while !stop.load(Ordering::Relaxed) {
        health.on_connecting();
        counters.set_state(CameraState::Connecting);
        let mut src = match Source::open(&spec, &rt, size, &gate) {
            Ok(s) => s,
            Err(e) => Source::Failed(Some(e)),
        };
        let mut skipped_seen = 0;
        let failure = loop {
            if stop.load(Ordering::Relaxed) {
                counters
                    .frames_dropped
                    .fetch_add(src.dropped(), Ordering::Relaxed);
                return;
            }
            measure_fps(&counters);
            match src.next_frame(Duration::from_millis(200)) {
                Ok(SourceItem::Frame(mut f)) => {
                    apply_privacy_masks(&mut f, &spec.privacy_masks);
                    let now = SystemClock.now();
                    let change = health.on_frame(now);
                    counters.set_state(CameraState::Online);
                    emit(change);
                    counters.last_frame_ms.store(now.0, Ordering::Relaxed);
                    backoff.reset();
                    counters.frames_decoded.fetch_add(1, Ordering::Relaxed);
                    if motion.update(&f) >= MOTION_THRESHOLD {
                        gate.activity(now);
                    }
                    gate.update(now);
                    let skipped = src.skipped();
                    counters
                        .frames_skipped
                        .fetch_add(skipped - skipped_seen, Ordering::Relaxed);
                    skipped_seen = skipped;
                    if sampler.take(&f.camera, f.time) {
                        if spec.motion_gate.is_some() && !gate.active(now) {
                            counters.frames_gated.fetch_add(1, Ordering::Relaxed);
                        } else {
                            counters.frames_queued.fetch_add(1, Ordering::Relaxed);
                            let replaced = if src.is_file() && !spec.file_paced {
                                out.frames.put_when_free(f, Duration::from_secs(1))
                            } else {
                                out.frames.put(f)
                            };
                            if replaced {
                                counters.frames_dropped.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
                Ok(SourceItem::Timeout) => {
                    if let Some(c) = health.check_stall(SystemClock.now(), spec.stall_after) {
                        counters.set_state(CameraState::Stalled);
                        tracing::warn!(
                            stall_after_ms = spec.stall_after.as_millis() as u64,
                            "camera stalled; reconnecting"
                        );
                        emit(Some(c));
                        break None;
                    }
                }
                Ok(SourceItem::End) if src.is_file() => {
                    // A file camera loops: open it again at once, no failure, no backoff.
                    counters
                        .frames_dropped
                        .fetch_add(src.dropped(), Ordering::Relaxed);
                    src = match Source::open(&spec, &rt, size, &gate) {
                        Ok(s) => s,
                        Err(e) => Source::Failed(Some(e)),
                    };
                    skipped_seen = 0;
                    continue;
                }
                Ok(SourceItem::End) => break Some((false, "the stream ended".to_string())),
                Err(e) => {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                    let auth = matches!(e, sharpeyes_ingest::IngestError::Rtsp { auth: true, .. });
                    if e.is_transient() {
                        tracing::warn!(error = %e, "camera failed");
                    } else {
                        tracing::error!(error = %e, "camera failed");
                    }
                    break Some((auth, e.to_string()));
                }
            }
        };
        counters
            .frames_dropped
            .fetch_add(src.dropped(), Ordering::Relaxed);
        drop(src);
        if let Some((auth, reason)) = failure {
            let change = health.on_failure(SystemClock.now(), auth, reason);
            counters.set_state(health.state());
            emit(change);
        }
        counters.reconnects.fetch_add(1, Ordering::Relaxed);
        attempt += 1;
        let delay = backoff.next_delay(jitter(&spec.id, attempt));
        tracing::debug!(retry_in_ms = delay.as_millis() as u64, "reconnecting");
        if !sleep_unless_stopped(delay, &stop) {
            return;
        }
    }
}

/// The running cameras and the analysis loop that serves them. Starting, stopping and
/// restarting one camera goes through [`LivePipeline::start_camera`] /
/// [`LivePipeline::stop_camera`] only: the demo, config hot reload and (later) Kafka
/// consumer-group assignment of cameras all use this one mechanism.
pub struct LivePipeline {
    rt: tokio::runtime::Runtime,
    size: (u32, u32),
    frames: Arc<FrameSlots>,
    status_tx: std::sync::mpsc::Sender<StatusEvent>,
    status_rx: std::sync::mpsc::Receiver<StatusEvent>,
    cameras: BTreeMap<CameraId, CameraHandle>,
    /// Most frames per detector run (one per camera at most).
    max_batch: usize,
    /// How long to wait, after the first frame, for other cameras' frames to fill the batch.
    max_wait: Duration,
    /// Per camera: `frames_gated` at the last `tick_gated`.
    gated_seen: HashMap<CameraId, u64>,
    /// When the command center (if any) was last told the cameras' fps and last frames.
    live_told: Instant,
    /// Detection latency of each analysed frame (capture → detections and rules done), ms;
    /// kept only after [`LivePipeline::record_latencies`].
    latencies: Option<Vec<u32>>,
}

impl LivePipeline {
    /// Batches of up to `max_batch` frames (each of another camera), waiting up to `max_wait`
    /// after the first for the rest. Defaults 8 and 0: no added latency; a GPU with a
    /// dynamic-batch model wants a few ms.
    pub fn set_batching(&mut self, max_batch: usize, max_wait: Duration) {
        self.max_batch = max_batch.max(1);
        self.max_wait = max_wait;
    }

    /// Frames will be letterboxed to `size` (the detector's input).
    pub fn new(size: (u32, u32)) -> anyhow::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .thread_name("rtsp")
            .build()?;
        let (status_tx, status_rx) = std::sync::mpsc::channel();
        Ok(Self {
            rt,
            size,
            frames: Arc::new(FrameSlots::new()),
            status_tx,
            status_rx,
            cameras: BTreeMap::new(),
            max_batch: 8,
            max_wait: Duration::ZERO,
            gated_seen: HashMap::new(),
            live_told: Instant::now(),
            latencies: None,
        })
    }

    /// From now on, keep the detection latency of every analysed frame (for benchmarks).
    pub fn record_latencies(&mut self) {
        self.latencies.get_or_insert_with(Vec::new);
    }

    /// The latencies recorded since the last call (ms), see [`LivePipeline::record_latencies`].
    pub fn take_latencies(&mut self) -> Vec<u32> {
        self.latencies
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Starts a camera; a running camera with the same id is stopped first (a restart).
    pub fn start_camera(&mut self, spec: CameraSpec) {
        self.stop_camera(&spec.id);
        tracing::info!(camera = %spec.id, url = %sharpeyes_ingest::redact_url(spec.url.as_str()), "camera starting");
        let out = CameraOutputs {
            frames: self.frames.clone(),
            status: self.status_tx.clone(),
        };
        let handle = CameraHandle::start(spec, self.rt.handle().clone(), out, self.size);
        self.cameras.insert(handle.spec.id.clone(), handle);
    }

    /// Stops a camera if it runs; its waiting frame is dropped. Returns whether it ran.
    pub fn stop_camera(&mut self, id: &CameraId) -> bool {
        match self.cameras.remove(id) {
            Some(h) => {
                h.stop();
                self.frames.clear(id);
                tracing::info!(camera = %id, "camera stopped");
                true
            }
            None => false,
        }
    }

    pub fn cameras(&self) -> impl Iterator<Item = &CameraHandle> {
        self.cameras.values()
    }

    /// One round: delivers pending status events, waits up to 100 ms for frames, analyses one
    /// batch (one frame per camera at most) and delivers its alerts.
    pub fn step(&mut self, analyzer: &mut Analyzer, delivery: &mut Delivery) {
        while let Ok(event) = self.status_rx.try_recv() {
            delivery.deliver(event.into());
        }
        if let Some(web) = &delivery.web
            && self.live_told.elapsed() >= Duration::from_secs(2)
        {
            self.live_told = Instant::now();
            for (id, h) in &self.cameras {
                let c = &h.counters;
                let last = c.last_frame_ms.load(Ordering::Relaxed);
                let _ = web.store.camera_live(
                    id.as_str(),
                    c.fps_in_milli.load(Ordering::Relaxed) as f64 / 1000.0,
                    (last > 0).then_some(sharpeyes_core::UnixMillis(last)),
                );
            }
        }
        self.tick_gated(analyzer, delivery);
        // A model with a fixed batch of 1 takes one frame per step: each frame's detections
        // and alerts go out as soon as its own run is done, not after the whole batch's.
        let max_batch = if analyzer.detector().batches() {
            self.max_batch
        } else {
            1
        };
        let max = max_batch.min(self.cameras.len()).max(1);
        let batch = self
            .frames
            .take_batch(max, Duration::from_millis(100), self.max_wait);
        if batch.is_empty() {
            return;
        }
        match analyzer.analyze(&batch) {
            Ok(alerts) => alerts.into_iter().for_each(|a| delivery.deliver(a.into())),
            Err(e) => tracing::error!(error = %format!("{e:#}"), "detection failed"),
        }
        let now = SystemClock.now();
        if let Some(l) = &mut self.latencies {
            l.extend(
                batch
                    .iter()
                    .map(|f| (now.0 - f.time.0).clamp(0, u32::MAX as i64) as u32),
            );
        }
        for id in &analyzer.active_cameras {
            if let Some(h) = self.cameras.get(id) {
                h.gate.activity(now);
            }
        }
    }

    /// Cameras whose frames motion gating skipped since the last call get their rules run with
    /// no detections (nothing moved), so time-based rules such as inactivity advance.
    fn tick_gated(&mut self, analyzer: &mut Analyzer, delivery: &mut Delivery) {
        let now = SystemClock.now();
        for (id, h) in &self.cameras {
            let gated = h.counters.frames_gated.load(Ordering::Relaxed);
            let last = self.gated_seen.entry(id.clone()).or_insert(0);
            if gated != *last {
                *last = gated;
                for a in analyzer.idle(id, now, None) {
                    delivery.deliver(a.into());
                }
            }
        }
    }

    pub fn frames_decoded(&self) -> u64 {
        self.cameras
            .values()
            .map(|h| h.counters.frames_decoded.load(Ordering::Relaxed))
            .sum()
    }

    /// Stops every camera (in parallel), then delivers their last status events.
    pub fn shutdown(mut self, delivery: &mut Delivery) {
        self.cameras.values().for_each(CameraHandle::request_stop);
        self.cameras.clear();
        while let Ok(event) = self.status_rx.try_recv() {
            delivery.deliver(event.into());
        }
        self.rt.shutdown_timeout(Duration::from_millis(200));
    }
}

/// What a live run did.
#[derive(Debug)]
pub struct LiveSummary {
    pub seconds: f64,
    pub frames_decoded: u64,
    pub frames_analysed: u64,
    pub alerts: String,
}

/// Runs a fixed set of `cameras` until `stop` is set (or `duration` passes).
pub fn run_live(
    cameras: Vec<CameraSpec>,
    mut analyzer: Analyzer,
    mut delivery: Delivery,
    stop: Arc<AtomicBool>,
    duration: Option<Duration>,
    batching: (usize, Duration),
) -> anyhow::Result<LiveSummary> {
    let mut pipeline = LivePipeline::new(analyzer.canvas_size())?;
    pipeline.set_batching(batching.0, batching.1);
    let started = Instant::now();
    cameras.into_iter().for_each(|c| pipeline.start_camera(c));
    let mut last_report = Instant::now();
    while !stop.load(Ordering::Relaxed) && duration.is_none_or(|d| started.elapsed() < d) {
        pipeline.step(&mut analyzer, &mut delivery);
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            let per_cam: BTreeMap<String, u64> = pipeline
                .cameras()
                .map(|h| {
                    (
                        h.spec.id.to_string(),
                        h.counters.frames_decoded.load(Ordering::Relaxed),
                    )
                })
                .collect();
            tracing::info!(frames_decoded = ?per_cam, frames_analysed = analyzer.frames_analysed, "progress");
        }
    }
    let frames_decoded = pipeline.frames_decoded();
    pipeline.shutdown(&mut delivery);
    delivery.flush(Duration::from_secs(3));
    Ok(LiveSummary {
        seconds: started.elapsed().as_secs_f64(),
        frames_decoded,
        frames_analysed: analyzer.frames_analysed,
        alerts: delivery.counts_line(),
    })
}
