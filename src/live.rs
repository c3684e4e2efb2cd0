//! Live cameras (I/O: threads, RTSP, ONNX Runtime, sinks).
//!
//! One thread per camera owns its connection: it starts an `RtspSource`, takes the frames that
//! are due for detection, and reconnects with capped exponential backoff when the camera fails.
//! All cameras feed one bounded drop-oldest queue; the analysis thread takes batches from it
//! (one frame per camera at most, so a batch can later go to a GPU in one run), runs the model
//! and rules, and delivers alerts. [`CameraHandle`] starts and stops one camera, the single
//! mechanism that config hot reload and multi-machine assignment will both use.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sharpeyes_core::{CameraId, Frame, FrameSource, SourceItem};
use sharpeyes_ingest::{FrameQueue, Popped, RtspOptions, RtspSource};

use crate::analyze::{Analyzer, Delivery, RateSampler};

/// What one camera needs to run.
#[derive(Clone, Debug)]
pub struct CameraSpec {
    pub id: CameraId,
    pub url: url::Url,
    pub detect_fps: f64,
}

/// Counters of one camera, shared with its thread.
#[derive(Debug, Default)]
pub struct CameraCounters {
    pub frames_decoded: AtomicU64,
    pub frames_queued: AtomicU64,
    pub reconnects: AtomicU64,
}

/// A running camera thread; stops (and waits for the thread) on `stop` or drop.
pub struct CameraHandle {
    pub spec: CameraSpec,
    pub counters: Arc<CameraCounters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CameraHandle {
    /// Starts `spec` feeding `queue` with frames letterboxed to `size`.
    pub fn start(
        spec: CameraSpec,
        rt: tokio::runtime::Handle,
        queue: Arc<FrameQueue<Frame>>,
        size: (u32, u32),
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(CameraCounters::default());
        let (s, c, sp) = (stop.clone(), counters.clone(), spec.clone());
        let thread = std::thread::Builder::new()
            .name(format!("cam-{}", spec.id))
            .spawn(move || camera_loop(sp, rt, queue, size, s, c))
            .expect("spawning a camera thread");
        Self {
            spec,
            counters,
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

fn camera_loop(
    spec: CameraSpec,
    rt: tokio::runtime::Handle,
    queue: Arc<FrameQueue<Frame>>,
    size: (u32, u32),
    stop: Arc<AtomicBool>,
    counters: Arc<CameraCounters>,
) {
    let _span = tracing::info_span!("camera", camera = %spec.id).entered();
    let mut sampler = RateSampler::new(spec.detect_fps);
    let mut backoff = Duration::from_millis(500);
    while !stop.load(Ordering::Relaxed) {
        let mut src = RtspSource::start(
            &rt,
            RtspOptions::new(spec.id.clone(), spec.url.clone(), size.0, size.1),
        );
        let err = loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            match src.next_frame(Duration::from_millis(200)) {
                Ok(SourceItem::Frame(f)) => {
                    backoff = Duration::from_millis(500);
                    counters.frames_decoded.fetch_add(1, Ordering::Relaxed);
                    if sampler.take(&f.camera, f.time) {
                        counters.frames_queued.fetch_add(1, Ordering::Relaxed);
                        queue.push(f);
                    }
                }
                Ok(SourceItem::Timeout) => {}
                Ok(SourceItem::End) => break None,
                Err(e) => break Some(e),
            }
        };
        drop(src);
        match err {
            Some(e) if !e.is_transient() => {
                tracing::error!(error = %e, retry_in_ms = backoff.as_millis() as u64, "camera failed")
            }
            Some(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "camera failed")
            }
            None => tracing::warn!("camera stream ended"),
        }
        counters.reconnects.fetch_add(1, Ordering::Relaxed);
        if !sleep_unless_stopped(backoff, &stop) {
            return;
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
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

/// Runs `cameras` until `stop` is set (or `duration` passes), delivering alerts.
pub fn run_live(
    cameras: Vec<CameraSpec>,
    mut analyzer: Analyzer,
    mut delivery: Delivery,
    stop: Arc<AtomicBool>,
    duration: Option<Duration>,
) -> anyhow::Result<LiveSummary> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .thread_name("rtsp")
        .build()?;
    let size = analyzer.input_size();
    let max_batch = cameras.len().max(1);
    let queue = Arc::new(FrameQueue::new(max_batch * 2));
    let started = Instant::now();
    let handles: Vec<CameraHandle> = cameras
        .into_iter()
        .map(|c| CameraHandle::start(c, rt.handle().clone(), queue.clone(), size))
        .collect();
    let mut last_report = Instant::now();
    while !stop.load(Ordering::Relaxed) && duration.is_none_or(|d| started.elapsed() < d) {
        let mut batch: Vec<Frame> = Vec::with_capacity(max_batch);
        if let Popped::Item(f) = queue.pop(Duration::from_millis(100)) {
            batch.push(f);
            // Fill the batch with what is already waiting, one frame per camera.
            while batch.len() < max_batch {
                match queue.pop(Duration::ZERO) {
                    Popped::Item(f) if batch.iter().any(|b| b.camera == f.camera) => {
                        queue.push(f);
                        break;
                    }
                    Popped::Item(f) => batch.push(f),
                    _ => break,
                }
            }
        }
        if !batch.is_empty() {
            match analyzer.analyze(&batch) {
                Ok(alerts) => alerts.iter().for_each(|a| delivery.deliver(a)),
                Err(e) => tracing::error!(error = %format!("{e:#}"), "detection failed"),
            }
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            let per_cam: HashMap<String, u64> = handles
                .iter()
                .map(|h| {
                    (
                        h.spec.id.to_string(),
                        h.counters.frames_decoded.load(Ordering::Relaxed),
                    )
                })
                .collect();
            tracing::info!(frames_decoded = ?per_cam, frames_analysed = analyzer.frames_analysed, dropped = queue.stats().dropped, "progress");
        }
    }
    let frames_decoded = handles
        .iter()
        .map(|h| h.counters.frames_decoded.load(Ordering::Relaxed))
        .sum();
    handles.iter().for_each(CameraHandle::request_stop);
    drop(handles);
    delivery.flush(Duration::from_millis(500));
    rt.shutdown_timeout(Duration::from_millis(200));
    Ok(LiveSummary {
        seconds: started.elapsed().as_secs_f64(),
        frames_decoded,
        frames_analysed: analyzer.frames_analysed,
        alerts: delivery.counts_line(),
    })
}
