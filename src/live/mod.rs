//! Live cameras (I/O: threads, RTSP, ONNX Runtime, sinks).
//!
//! The camera runtime, built for hundreds of cameras in one process:
//! - The network: every camera's RTSP session is a task on a small tokio runtime
//!   ([`NETWORK_THREADS`] threads). Those threads only read sockets and push access units into
//!   decoders (a non-blocking push into a bounded queue); building a decoder, its state changes
//!   and its teardown run on tokio's blocking pool (see `sharpeyes_ingest::rtsp`).
//! - Decode: one GStreamer pipeline per camera, with its own streaming thread.
//! - The camera loop: one thread per camera runs a [`Streamer`] (health, stalls, backoff,
//!   motion, rate sampling) and hands due frames to detection. Connects go through one
//!   [`ConnectLimiter`] so a storm of them is bounded; first connects are spread over
//!   [`streamer::START_SPREAD`], reconnects jittered.
//! - Detection: all cameras feed one slot per camera; the analysis thread takes batches (one
//!   frame per camera at most, so a batch can go to a GPU in one run), runs the model and
//!   rules, and hands alerts to the delivery thread (`crate::delivery`), which never makes
//!   detection wait on the disk or the command center's store.
//!
//! [`CameraHandle`] starts and stops one camera, the single mechanism that config hot reload
//! and multi-machine assignment both use.

pub mod admit;
#[cfg(test)]
mod pipeline_tests;
pub mod streamer;
#[cfg(test)]
mod streamer_tests;
pub mod tamper;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sharpeyes_core::{
    CameraId, CameraRef, Canvas, CameraState, Clock, FrameSource, SourceItem, StatusEvent, SystemClock,
};
use sharpeyes_ingest::{
    DecodeGate, FileSource, FrameSlots, IngestError, MaskPolygon, RtspOptions, RtspSource,
    RtspTransport,
};

use crate::analyze::{Analysis, Analyzer};
use crate::delivery::Delivery;
pub use streamer::{CameraSource, ConnectLimiter, Opener, Streamer};

/// Threads of the runtime that drives every camera's network I/O. Two, so one busy moment on
/// one of them never holds every camera back; they do no blocking work.
pub const NETWORK_THREADS: usize = 2;

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
    /// No decoded frame for this long, in any state, and the connection is remade: `stalled`
    /// when it was online, `offline` when it never decoded one.
    pub stall_after: Duration,
    /// Reconnect backoff: 0.5 s doubling up to this. Refused credentials back off from 10 s
    /// to 5 min (or this, if longer): see `sharpeyes_ingest::ReconnectBackoff`.
    pub reconnect_max: Duration,
    /// Adaptive decode (keyframes only while quiet) with this quiet period; None: off.
    pub adaptive_quiet: Option<Duration>,
    /// While keyframes-only, a peek at least this often (see `sharpeyes_ingest::GopKeeper`);
    /// zero: none. Default [`sharpeyes_ingest::DEFAULT_PEEK`].
    pub adaptive_peek: Duration,
    /// Motion gating of detection: frames go to the detector only within this long after
    /// motion or a detection (the start counts); None: every due frame is analysed.
    pub motion_gate: Option<Duration>,
    /// Blacked out in every frame before detection and snapshots (normalised coordinates).
    pub privacy_masks: Vec<MaskPolygon>,
    /// A `file://` camera plays at its own frame rate (true, the default), or as fast as
    /// detection takes its frames (false: no frame dropped, none decoded in vain; benchmarks).
    pub file_paced: bool,
    /// Event clips: this camera's seconds before and after an event, ms, when its camera file
    /// sets them; None: the pipeline's `[clips]` defaults.
    pub clip_pre_ms: Option<i64>,
    pub clip_post_ms: Option<i64>,
    /// The camera's pre-event ring, attached by [`LivePipeline::start_camera`] when clips are
    /// on (RTSP cameras only; `file://` cameras have none).
    pub clip_tap: Option<Arc<sharpeyes_ingest::clip_writer::ClipTap>>,
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
            adaptive_peek: sharpeyes_ingest::DEFAULT_PEEK,
            motion_gate: None,
            privacy_masks: Vec::new(),
            file_paced: true,
            clip_pre_ms: None,
            clip_post_ms: None,
            clip_tap: None,
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
    /// Access units received from the camera.
    pub access_units: AtomicU64,
    /// Skipped access units decoded later, decode-only (a quiet camera's peeks and wakes).
    pub frames_caught_up: AtomicU64,
    /// Frames decoded per second over the last second, in thousandths.
    pub fps_in_milli: AtomicU64,
    /// Frames handed to detection per second over the last second, in thousandths.
    pub fps_out_milli: AtomicU64,
    /// Access units dropped before decode because the decoder's input queue (bounded in bytes,
    /// `sharpeyes_ingest::MAX_QUEUED_BYTES`) was full, and the deltas after them up to the
    /// next keyframe.
    pub decoder_input_dropped: AtomicU64,
    /// The bytes of those access units.
    pub decoder_input_dropped_bytes: AtomicU64,
    /// Tamper reasons active now, one bit each in `TamperReason::ALL` order (see
    /// [`tamper::reason_bit`]).
    pub tampered: AtomicU8,
    /// `camera_tampered` events raised.
    pub tamper_events: AtomicU64,
    /// Pictures the tamper watch looked at (one per 2 s at most).
    pub tamper_samples: AtomicU64,
    /// Time the tamper watch spent on them, ns (its cost).
    pub tamper_nanos: AtomicU64,
}

impl CameraCounters {
    pub fn state(&self) -> CameraState {
        CameraState::ALL[self.state.load(Ordering::Relaxed) as usize % CameraState::ALL.len()]
    }

    pub(crate) fn set_state(&self, s: CameraState) {
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
    /// Starts `spec` on its own connection limiter, its frames letterboxed into `canvas` (tests
    /// and single cameras; a pipeline shares one limiter, see [`CameraHandle::start_with`]).
    pub fn start(
        spec: CameraSpec,
        rt: tokio::runtime::Handle,
        out: CameraOutputs,
        canvas: Canvas,
    ) -> Self {
        let opener = Arc::new(MediaOpener { rt, canvas });
        let limiter = ConnectLimiter::new(
            streamer::DEFAULT_CONNECTS_IN_FLIGHT,
            streamer::DEFAULT_PERMIT_HOLD,
        );
        Self::start_with(spec, opener, limiter, out)
    }

    /// Starts `spec`, opened through `opener`, its connects limited by `limiter`.
    pub fn start_with(
        spec: CameraSpec,
        opener: Arc<dyn Opener>,
        limiter: Arc<ConnectLimiter>,
        out: CameraOutputs,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(CameraCounters::default());
        let quiet = spec
            .adaptive_quiet
            .or(spec.motion_gate)
            .unwrap_or(Duration::from_secs(30));
        let gate = Arc::new(DecodeGate::new(spec.adaptive_quiet.is_some(), quiet));
        let streamer_parts = (stop.clone(), counters.clone(), spec.clone(), gate.clone());
        let thread = std::thread::Builder::new()
            .name(format!("cam-{}", spec.id))
            // The camera loop keeps little on its stack: 256 KiB instead of the default 2 MiB
            // of address space per thread, for hundreds of cameras.
            .stack_size(256 << 10)
            .spawn(move || {
                let (stop, counters, spec, gate) = streamer_parts;
                Streamer {
                    spec,
                    clock: &SystemClock,
                    opener: opener.as_ref(),
                    limiter,
                    out,
                    stop,
                    counters,
                    gate,
                }
                .run()
            })
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

/// What a camera reads from: an RTSP camera, or a file played in real time and looped
/// (`file://` camera configs).
enum Source {
    Rtsp(RtspSource),
    File { source: FileSource, paced: bool },
}

/// The real [`Opener`]: RTSP sessions on the network runtime, files through GStreamer; frames
/// letterboxed into `canvas` (the models' input).
pub struct MediaOpener {
    pub rt: tokio::runtime::Handle,
    pub canvas: Canvas,
}

impl Opener for MediaOpener {
    fn open(
        &self,
        spec: &CameraSpec,
        gate: &Arc<DecodeGate>,
    ) -> Result<Box<dyn CameraSource>, IngestError> {
        let canvas = self.canvas;
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
                canvas,
                SystemClock.now(),
                spec.file_paced,
            )
            .map(|source| {
                Box::new(Source::File {
                    source,
                    paced: spec.file_paced,
                }) as Box<dyn CameraSource>
            });
        }
        let mut options = RtspOptions::new(spec.id.clone(), spec.url.clone(), canvas);
        options.credentials = spec.credentials.clone();
        options.transport = spec.transport;
        options.gate = Some(gate.clone());
        options.peek = spec.adaptive_peek;
        options.clip_tap = spec.clip_tap.clone();
        Ok(Box::new(Source::Rtsp(RtspSource::start(&self.rt, options))))
    }
}

impl Source {
    /// The RTSP connection; files count nothing of what it counts.
    fn rtsp(&self) -> Option<&RtspSource> {
        match self {
            Source::Rtsp(s) => Some(s),
            Source::File { .. } => None,
        }
    }
}

impl CameraSource for Source {
    fn next_frame(&mut self, timeout: Duration) -> Result<SourceItem, IngestError> {
        match self {
            Source::Rtsp(s) => s.next_frame(timeout),
            Source::File { source, .. } => source.next_frame(timeout),
        }
    }

    fn loops(&self) -> bool {
        matches!(self, Source::File { .. })
    }

    fn waits_for_detection(&self) -> bool {
        matches!(self, Source::File { paced: false, .. })
    }

    fn dropped(&self) -> u64 {
        self.rtsp().map_or(0, |s| s.queue_stats().dropped)
    }

    fn skipped(&self) -> u64 {
        self.rtsp().map_or(0, RtspSource::skipped)
    }

    fn received(&self) -> u64 {
        self.rtsp().map_or(0, RtspSource::received)
    }

    fn caught_up(&self) -> u64 {
        self.rtsp().map_or(0, RtspSource::caught_up)
    }

    fn input_drops(&self) -> sharpeyes_ingest::InputDrops {
        self.rtsp().map(RtspSource::input_drops).unwrap_or_default()
    }

    fn ready(&self) -> bool {
        match self {
            Source::Rtsp(s) => s.ready(),
            Source::File { .. } => true,
        }
    }
}

/// Fraction of thumbnail cells that must change (against a reference at least 0.5 s old) for
/// adaptive decode and motion gating to see motion: 0.5 %, 3 of 576 cells. A person at
/// village-camera distances covers 2-3 % of the picture; compression flicker on a still scene
/// changes none by more than 25 grey levels.
pub const MOTION_THRESHOLD: f32 = 0.005;

/// What [`LivePipeline::record_latencies`] keeps, for benchmarks.
#[derive(Debug, Default)]
struct Recording {
    /// Each analysed frame: capture → detections and rules done, ms.
    latencies: Vec<u32>,
    /// Each analysed frame: capture → taken by the analysis thread (decode, scale, hand-offs),
    /// ms: the part of the latency before detection starts.
    waits: Vec<u32>,
    /// (camera, when detection finished, ms) of every frame with a person.
    persons: Vec<(CameraId, i64)>,
}

/// How often [`LivePipeline`] sends each running camera's heartbeat by default.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(10);

/// The running cameras and the analysis loop that serves them. Starting, stopping and
/// restarting one camera goes through [`LivePipeline::start_camera`] /
/// [`LivePipeline::stop_camera`] only: the demo, config hot reload and (later) Kafka
/// consumer-group assignment of cameras all use this one mechanism.
pub struct LivePipeline {
    rt: tokio::runtime::Runtime,
    opener: Arc<dyn Opener>,
    limiter: Arc<ConnectLimiter>,
    frames: Arc<FrameSlots>,
    status_tx: std::sync::mpsc::Sender<StatusEvent>,
    status_rx: std::sync::mpsc::Receiver<StatusEvent>,
    cameras: BTreeMap<CameraId, CameraHandle>,
    /// Most frames per detector run (one per camera at most).
    max_batch: usize,
    /// How long to wait, after the first frame, for other cameras' frames to fill the batch.
    max_wait: Duration,
    /// When the command center (if any) was last told the cameras' fps and last frames.
    live_told: Instant,
    /// Named in every status event of this pipeline ([`LivePipeline::set_worker`]).
    worker: Option<String>,
    /// Heartbeat interval; None: no heartbeats ([`LivePipeline::set_heartbeat`]).
    heartbeat: Option<Duration>,
    /// When the last heartbeats went out.
    heartbeat_sent: Instant,
    /// What the benchmark records, from [`LivePipeline::record_latencies`] on.
    recording: Option<Recording>,
    /// Event clips ([`LivePipeline::set_clips`]); None: no rings, no clips.
    clips: Option<Arc<crate::clips::LiveClips>>,
}

impl LivePipeline {
    /// Batches of up to `max_batch` frames (each of another camera), waiting up to `max_wait`
    /// after the first for the rest. Defaults 8 and 0: no added latency; a GPU with a
    /// dynamic-batch model wants a few ms.
    pub fn set_batching(&mut self, max_batch: usize, max_wait: Duration) {
        self.max_batch = max_batch.max(1);
        self.max_wait = max_wait;
    }

    /// Every status event of this pipeline from now on (online, offline, heartbeat) names
    /// `worker` as the process running the camera; None (the default): no cluster, no name.
    pub fn set_worker(&mut self, worker: Option<String>) {
        self.worker = worker;
    }

    /// One `camera_heartbeat` per running camera every `every` (default
    /// [`DEFAULT_HEARTBEAT`], 10 s); None: none. Heartbeats go to the command center and Kafka
    /// only, best effort ([`Delivery::heartbeat`]).
    pub fn set_heartbeat(&mut self, every: Option<Duration>) {
        self.heartbeat = every;
    }

    /// Frames will be letterboxed into `canvas` (the models' input).
    pub fn new(canvas: Canvas) -> anyhow::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(NETWORK_THREADS)
            .enable_all()
            .thread_name("rtsp")
            .build()?;
        let (status_tx, status_rx) = std::sync::mpsc::channel();
        let opener = Arc::new(MediaOpener {
            rt: rt.handle().clone(),
            canvas,
        });
        Ok(Self {
            rt,
            opener,
            limiter: ConnectLimiter::new(
                streamer::DEFAULT_CONNECTS_IN_FLIGHT,
                streamer::DEFAULT_PERMIT_HOLD,
            ),
            frames: Arc::new(FrameSlots::new()),
            status_tx,
            status_rx,
            cameras: BTreeMap::new(),
            max_batch: 8,
            max_wait: Duration::ZERO,
            live_told: Instant::now(),
            worker: None,
            heartbeat: Some(DEFAULT_HEARTBEAT),
            heartbeat_sent: Instant::now(),
            recording: None,
            clips: None,
        })
    }

    /// From now on, keep the detection latency of every analysed frame, the part of it before
    /// detection, and when persons were detected (for benchmarks).
    pub fn record_latencies(&mut self) {
        self.recording.get_or_insert_with(Recording::default);
    }

    fn recorded<T>(&mut self, take: impl FnOnce(&mut Recording) -> &mut Vec<T>) -> Vec<T> {
        self.recording
            .as_mut()
            .map(|r| std::mem::take(take(r)))
            .unwrap_or_default()
    }

    /// The latencies recorded since the last call (ms), see [`LivePipeline::record_latencies`].
    pub fn take_latencies(&mut self) -> Vec<u32> {
        self.recorded(|r| &mut r.latencies)
    }

    /// Capture → taken by the analysis thread (ms) of the frames analysed since the last call,
    /// while recording.
    pub fn take_waits(&mut self) -> Vec<u32> {
        self.recorded(|r| &mut r.waits)
    }

    /// (camera, when detection finished) of the frames with a person since the last call,
    /// while recording.
    pub fn take_person_detections(&mut self) -> Vec<(CameraId, i64)> {
        self.recorded(|r| &mut r.persons)
    }

    /// Event clips for the cameras started from now on (the analyser's,
    /// [`crate::analyze::Analyzer::clips`], which starts a clip on each `new` alert): each RTSP
    /// camera keeps a pre-event ring of its stream. None: no clips.
    pub fn set_clips(&mut self, clips: Option<Arc<crate::clips::LiveClips>>) {
        self.clips = clips;
    }

    /// Starts a camera; a running camera with the same id is stopped first (a restart).
    pub fn start_camera(&mut self, mut spec: CameraSpec) {
        self.stop_camera(&spec.id);
        if let Some(clips) = &self.clips
            && spec.url.scheme() != "file"
        {
            spec.clip_tap = Some(clips.tap_for(
                &spec.id,
                &spec.privacy_masks,
                spec.clip_pre_ms,
                spec.clip_post_ms,
            ));
        }
        tracing::info!(camera = %spec.id, url = %sharpeyes_ingest::redact_url(spec.url.as_str()), "camera starting");
        let out = CameraOutputs {
            frames: self.frames.clone(),
            status: self.status_tx.clone(),
        };
        let handle = CameraHandle::start_with(spec, self.opener.clone(), self.limiter.clone(), out);
        self.cameras.insert(handle.spec.id.clone(), handle);
    }

    /// Stops a camera if it runs; its waiting frame is dropped. Returns whether it ran.
    pub fn stop_camera(&mut self, id: &CameraId) -> bool {
        match self.cameras.remove(id) {
            Some(h) => {
                h.stop();
                if let Some(clips) = &self.clips {
                    clips.remove(id);
                }
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
        self.deliver_status(delivery);
        self.tick_gated(analyzer, delivery);
        if let Some(clips) = &self.clips {
            clips.tick(SystemClock.now().0);
        }
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
        let taken = SystemClock.now();
        let ages = |at: sharpeyes_core::UnixMillis| {
            batch
                .iter()
                .map(move |f| (at.0 - f.time.0).clamp(0, u32::MAX as i64) as u32)
        };
        for (f, age_ms) in batch.iter().zip(ages(taken)) {
            tracing::trace!(camera = %f.camera, age_ms, "frame taken for detection");
        }
        if let Some(r) = &mut self.recording {
            r.waits.extend(ages(taken));
        }
        let found = analyzer.analyze(&batch).unwrap_or_else(|e| {
            tracing::error!(error = %format!("{e:#}"), "detection failed");
            Analysis::default()
        });
        found
            .alerts
            .into_iter()
            .for_each(|a| delivery.deliver(a.into()));
        let now = SystemClock.now();
        if let Some(r) = &mut self.recording {
            r.latencies.extend(ages(now));
            r.persons
                .extend(found.persons.iter().map(|c| (c.clone(), now.0)));
        }
        for id in &found.active {
            if let Some(h) = self.cameras.get(id) {
                h.gate.activity(now);
            }
        }
    }

    /// The cameras' status events (with the worker id), their heartbeats when due, and their
    /// fps and last frames to an in-process command center every 2 s. Part of every `step`.
    pub(crate) fn deliver_status(&mut self, delivery: &mut Delivery) {
        while let Ok(event) = self.status_rx.try_recv() {
            delivery.deliver(event.with_worker(self.worker.clone()).into());
        }
        if delivery.has_web() && self.live_told.elapsed() >= Duration::from_secs(2) {
            self.live_told = Instant::now();
            let live = self
                .cameras
                .iter()
                .map(|(id, h)| {
                    let (fps, last) = live_numbers(&h.counters);
                    (id.clone(), fps, last)
                })
                .collect();
            delivery.cameras_live(live);
        }
        if let Some(every) = self.heartbeat
            && self.heartbeat_sent.elapsed() >= every
        {
            self.heartbeat_sent = Instant::now();
            for event in self.heartbeats(SystemClock.now()) {
                delivery.heartbeat(event);
            }
        }
    }

    /// One `camera_heartbeat` per running camera, at `now`: its state, fps and last frame.
    fn heartbeats(&self, now: sharpeyes_core::UnixMillis) -> Vec<StatusEvent> {
        self.cameras
            .values()
            .map(|h| {
                let (fps, last) = live_numbers(&h.counters);
                StatusEvent::heartbeat(h.spec.camera_ref(), now, h.counters.state(), fps, last)
                    .with_worker(self.worker.clone())
            })
            .collect()
    }

    /// Cameras whose camera thread marked a frame idle (motion gating skipped it) since the
    /// last call get their rules run with no detections (nothing moved), so time-based rules
    /// such as inactivity advance.
    fn tick_gated(&mut self, analyzer: &mut Analyzer, delivery: &mut Delivery) {
        let now = SystemClock.now();
        for id in self.frames.take_idle() {
            if self.cameras.contains_key(&id) {
                for a in analyzer.idle(&id, now, None) {
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
            delivery.deliver(event.with_worker(self.worker.clone()).into());
        }
        self.rt.shutdown_timeout(Duration::from_millis(200));
    }
}

/// A camera's (frames decoded per second over the last second, last frame): what the command
/// center shows, in-process and from heartbeats.
fn live_numbers(c: &CameraCounters) -> (f64, Option<sharpeyes_core::UnixMillis>) {
    let last = c.last_frame_ms.load(Ordering::Relaxed);
    (
        c.fps_in_milli.load(Ordering::Relaxed) as f64 / 1000.0,
        (last > 0).then_some(sharpeyes_core::UnixMillis(last)),
    )
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
    let mut pipeline = LivePipeline::new(analyzer.canvas())?;
    pipeline.set_batching(batching.0, batching.1);
    pipeline.set_clips(analyzer.clips());
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
