//! Event clips to MP4 files (I/O: GStreamer, files, worker threads).
//!
//! - [`ClipTap`]: one camera's [`ClipRing`] behind a lock, fed by the camera's network thread
//!   (one lock and a reference count per access unit, never blocking); a finished clip goes to
//!   the writer's queue.
//! - [`ClipWriter`]: a bounded queue and worker threads that write each [`ClipJob`] as
//!   `<dir>/<camera>/<alert id>.mp4`, off the cameras' network and decoder threads. A full
//!   queue drops the clip (warning, [`ClipStats::dropped`]) instead of growing memory.
//! - [`write_clip`]: a camera without privacy masks is remuxed as it came (`appsrc → parse →
//!   mp4mux`, no decode); with masks it is decoded, the masks blacked out on every picture, and
//!   re-encoded with x264 (`appsrc → parse → decoder → I420 → mask → x264enc → mp4mux`), so
//!   nothing unmasked is ever stored. Written to `<name>.mp4.part`, fsynced, renamed: a reader
//!   sees a complete file or none.
//! - [`read_file_access_units`]: a recorded file's compressed stream, for `replay`'s clips.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;
use sharpeyes_core::{CameraId, ClipReady, clip_file_name};

use crate::clip_ring::{ClipJob, ClipOptions, ClipRing, NoClip, RingAu, StreamFormat};
use crate::decode::{VideoCodec, init_gstreamer};
use crate::error::IngestError;
use crate::mask::{MaskPolygon, fill_masked_plane};

/// Default clips waiting for a writer thread, all cameras together; past it a finished clip is
/// dropped. Each holds its access units (≈ 2 MB for 15 s at 1 Mbit/s).
pub const DEFAULT_MAX_PENDING: usize = 16;

/// Longest a clip's pipeline may take from its first buffer to the muxer's end of stream.
const WRITE_TIMEOUT: Duration = Duration::from_secs(120);

/// What the clip writer did (counters for metrics).
#[derive(Debug, Default)]
pub struct ClipStats {
    /// Clips written and announced.
    pub written: AtomicU64,
    /// Of them, re-encoded with masks.
    pub masked: AtomicU64,
    /// Bytes of the files written.
    pub bytes: AtomicU64,
    /// Clips whose writing failed (logged).
    pub failed: AtomicU64,
    /// Finished clips dropped because the writer's queue was full.
    pub dropped: AtomicU64,
    /// Alerts that got no clip: nothing received from the camera yet, or too many clips
    /// recorded at once on its camera.
    pub refused: AtomicU64,
    /// Clips cut short (the stream stopped or changed, or the clip's byte cap).
    pub truncated: AtomicU64,
}

/// Called on a writer thread once per clip written (after the rename).
pub type OnClipReady = Arc<dyn Fn(&ClipReady) + Send + Sync>;

/// Where and how clips are written.
#[derive(Clone)]
pub struct ClipWriterOptions {
    /// Clips go to `<dir>/<camera>/<alert id>.mp4`.
    pub dir: PathBuf,
    /// Writer threads (default 1: a masked re-encode takes one core while it runs).
    pub workers: usize,
    /// [`DEFAULT_MAX_PENDING`].
    pub max_pending: usize,
    /// Told of each clip written: the hand-off to delivery.
    pub on_ready: Option<OnClipReady>,
}

impl ClipWriterOptions {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            workers: 1,
            max_pending: DEFAULT_MAX_PENDING,
            on_ready: None,
        }
    }
}

struct WriterShared {
    dir: PathBuf,
    tx: Mutex<Option<SyncSender<ClipJob>>>,
    stats: ClipStats,
}

impl WriterShared {
    fn path_for(&self, camera: &CameraId, alert_id: &str) -> PathBuf {
        self.dir
            .join(camera.as_str())
            .join(clip_file_name(alert_id))
    }

    fn submit(&self, job: ClipJob) {
        if job.truncated {
            self.stats.truncated.fetch_add(1, Ordering::Relaxed);
        }
        let tx = self.tx.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(tx) = tx.as_ref() else {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        match tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(job)) | Err(TrySendError::Disconnected(job)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(camera = %job.camera, alert = %job.alert_id, "clip writer behind: clip dropped");
            }
        }
    }
}

/// Writes finished clips on its worker threads; see the module docs. Dropping it writes the
/// clips already queued, then stops.
pub struct ClipWriter {
    shared: Arc<WriterShared>,
    threads: Vec<JoinHandle<()>>,
}

impl ClipWriter {
    /// Starts the worker threads.
    pub fn start(options: ClipWriterOptions) -> Result<Self, IngestError> {
        init_gstreamer()?;
        let (tx, rx) = std::sync::mpsc::sync_channel(options.max_pending.max(1));
        let shared = Arc::new(WriterShared {
            dir: options.dir.clone(),
            tx: Mutex::new(Some(tx)),
            stats: ClipStats::default(),
        });
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::new();
        for i in 0..options.workers.max(1) {
            let (rx, shared, on_ready) = (rx.clone(), shared.clone(), options.on_ready.clone());
            let thread = std::thread::Builder::new()
                .name(format!("clip-writer-{i}"))
                .spawn(move || worker(&rx, &shared, on_ready.as_ref()))
                .map_err(|e| IngestError::Clip {
                    camera: CameraId::new("clips").expect("a valid id"),
                    path: options.dir.clone(),
                    message: format!("starting a writer thread: {e}"),
                })?;
            threads.push(thread);
        }
        Ok(Self { shared, threads })
    }

    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Where the clip of `alert_id` on `camera` is written.
    pub fn path_for(&self, camera: &CameraId, alert_id: &str) -> PathBuf {
        self.shared.path_for(camera, alert_id)
    }

    pub fn stats(&self) -> &ClipStats {
        &self.shared.stats
    }

    /// Queues a finished clip (not blocking: dropped and counted when the queue is full).
    pub fn submit(&self, job: ClipJob) {
        self.shared.submit(job);
    }

    /// A new ring for `camera`, whose clips this writer writes.
    pub fn tap(&self, camera: CameraId, options: ClipOptions) -> Arc<ClipTap> {
        Arc::new(ClipTap {
            ring: Mutex::new(ClipRing::new(camera.clone(), options)),
            camera,
            writer: self.shared.clone(),
        })
    }
}

impl Drop for ClipWriter {
    fn drop(&mut self) {
        self.shared
            .tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn worker(rx: &Mutex<Receiver<ClipJob>>, shared: &WriterShared, on_ready: Option<&OnClipReady>) {
    loop {
        let job = match rx.lock().unwrap_or_else(PoisonError::into_inner).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        let path = shared.path_for(&job.camera, &job.alert_id);
        let started = Instant::now();
        match write_clip(&job, &path) {
            Ok(ready) => {
                let stats = &shared.stats;
                stats.written.fetch_add(1, Ordering::Relaxed);
                stats.bytes.fetch_add(ready.bytes, Ordering::Relaxed);
                if ready.masked {
                    stats.masked.fetch_add(1, Ordering::Relaxed);
                }
                tracing::info!(
                    camera = %job.camera,
                    alert = %job.alert_id,
                    path = %path.display(),
                    bytes = ready.bytes,
                    duration_ms = ready.duration_ms,
                    masked = ready.masked,
                    truncated = job.truncated,
                    write_ms = started.elapsed().as_millis() as u64,
                    "clip written"
                );
                if let Some(f) = on_ready {
                    f(&ready);
                }
            }
            Err(e) => {
                shared.stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(camera = %job.camera, alert = %job.alert_id, error = %e, "clip not written");
            }
        }
    }
}

/// One camera's ring, shared by its network thread (which feeds it) and the analysis thread
/// (which starts clips on `new` alerts). Survives the camera's reconnects.
pub struct ClipTap {
    camera: CameraId,
    ring: Mutex<ClipRing>,
    writer: Arc<WriterShared>,
}

impl ClipTap {
    fn with_ring<T>(&self, f: impl FnOnce(&mut ClipRing) -> T) -> T {
        f(&mut self.ring.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn submit_all(&self, jobs: Vec<ClipJob>) {
        jobs.into_iter().for_each(|j| self.writer.submit(j));
    }

    /// A new stream (session or parameters): see [`ClipRing::restart`].
    pub fn restart(&self, format: StreamFormat) {
        let done = self.with_ring(|r| r.restart(format));
        self.submit_all(done);
    }

    /// One access unit, in decode order.
    pub fn push(&self, au: RingAu) {
        let done = self.with_ring(|r| r.push(au));
        self.submit_all(done);
    }

    /// Starts the clip of the `new` alert `alert_id` raised at `event_ms`; returns the path it
    /// will be written to, or None (counted in [`ClipStats::refused`]) when none can be made.
    pub fn start(&self, alert_id: &str, event_ms: i64) -> Option<PathBuf> {
        match self.with_ring(|r| r.start(alert_id, event_ms)) {
            Ok(()) => Some(self.writer.path_for(&self.camera, alert_id)),
            Err(why) => {
                self.writer.stats.refused.fetch_add(1, Ordering::Relaxed);
                let why = match why {
                    NoClip::NoStream => "nothing received from the camera yet",
                    NoClip::TooMany => "too many clips being recorded on this camera",
                };
                tracing::warn!(camera = %self.camera, alert = %alert_id, why, "no clip for this alert");
                None
            }
        }
    }

    /// Ends clips whose camera went silent `grace_ms` past their end ([`ClipRing::expire`]).
    pub fn expire(&self, now_ms: i64, grace_ms: i64) {
        let done = self.with_ring(|r| r.expire(now_ms, grace_ms));
        self.submit_all(done);
    }

    /// The end of the stream: every clip being recorded is written as it is.
    pub fn finish(&self) {
        let done = self.with_ring(ClipRing::finish_all);
        self.submit_all(done);
    }

    /// Bytes held by the ring now.
    pub fn ring_bytes(&self) -> usize {
        self.with_ring(|r| r.bytes())
    }

    /// The span of the ring now, ms.
    pub fn ring_span_ms(&self) -> i64 {
        self.with_ring(|r| r.span_ms())
    }
}

fn clip_err(job: &ClipJob, path: &Path, message: impl std::fmt::Display) -> IngestError {
    IngestError::Clip {
        camera: job.camera.clone(),
        path: path.to_owned(),
        message: message.to_string(),
    }
}

fn element(job: &ClipJob, path: &Path, factory: &str) -> Result<gst::Element, IngestError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| IngestError::MissingElement {
            camera: job.camera.clone(),
            element: factory.to_owned(),
        })
        .inspect_err(|_| tracing::debug!(path = %path.display(), factory, "element missing"))
}

fn stream_caps(format: &StreamFormat) -> gst::Caps {
    match format.codec {
        VideoCodec::H264 => gst::Caps::builder("video/x-h264").field("stream-format", "avc"),
        VideoCodec::H265 => gst::Caps::builder("video/x-h265").field("stream-format", "hvc1"),
    }
    .field("alignment", "au")
    .field(
        "codec_data",
        gst::Buffer::from_slice(format.codec_data.clone()),
    )
    .build()
}

/// Writes `job` to `path` (see the module docs) and returns what to announce. Blocks until the
/// file is complete; run it on a worker thread. Timestamps start at 0 at the first access unit
/// (its decode time): the first picture of a stream with B-frames shows a frame or two later.
pub fn write_clip(job: &ClipJob, path: &Path) -> Result<ClipReady, IngestError> {
    init_gstreamer()?;
    let err = |m: &dyn std::fmt::Display| clip_err(job, path, m);
    if job.aus.is_empty() {
        return Err(err(&"no access units"));
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| err(&"no file name"))?;
    let parent = path.parent().ok_or_else(|| err(&"no directory"))?;
    std::fs::create_dir_all(parent).map_err(|e| err(&e))?;
    let part = parent.join(format!("{name}.part"));
    let masked = !job.masks.is_empty();
    let result = run_pipeline(job, &part, masked).and_then(|()| {
        // The muxer's file is closed at EOS; fsync so the alert's (fsynced) reference never
        // points to an empty file after a power cut, then publish it whole.
        let f = std::fs::File::open(&part).map_err(|e| err(&e))?;
        f.sync_all().map_err(|e| err(&e))?;
        std::fs::rename(&part, path).map_err(|e| err(&e))?;
        std::fs::metadata(path)
            .map(|m| m.len())
            .map_err(|e| err(&e))
    });
    match result {
        Ok(bytes) => Ok(ClipReady {
            alert_id: job.alert_id.clone(),
            camera: job.camera.clone(),
            path: path.to_owned(),
            bytes,
            duration_ms: job.duration_ms(),
            masked,
        }),
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            Err(e)
        }
    }
}

fn run_pipeline(job: &ClipJob, out: &Path, masked: bool) -> Result<(), IngestError> {
    let err = |m: &dyn std::fmt::Display| clip_err(job, out, m);
    let pipeline = gst::Pipeline::with_name(&format!("clip-{}-{}", job.camera, job.alert_id));
    let appsrc = clip_source(&stream_caps(&job.format));
    let parse = element(
        job,
        out,
        match job.format.codec {
            VideoCodec::H264 => "h264parse",
            VideoCodec::H265 => "h265parse",
        },
    )?;
    let mux = element(job, out, "mp4mux")?;
    // moov first: a browser plays the clip while it downloads.
    mux.set_property("faststart", true);
    let sink = element(job, out, "filesink")?;
    sink.set_property("location", out.to_string_lossy().as_ref());
    sink.set_property("sync", false);
    let src = appsrc.clone().upcast::<gst::Element>();
    let mut chain = vec![src, parse];
    if masked {
        let dec = element(
            job,
            out,
            match job.format.codec {
                VideoCodec::H264 => "avdec_h264",
                VideoCodec::H265 => "avdec_h265",
            },
        )?;
        dec.set_property("max-threads", 1i32);
        let convert = element(job, out, "videoconvert")?;
        let i420 = gst::ElementFactory::make("capsfilter")
            .property(
                "caps",
                gst_video::VideoCapsBuilder::new()
                    .format(gst_video::VideoFormat::I420)
                    .build(),
            )
            .build()
            .map_err(|e| err(&e))?;
        let enc = element(job, out, "x264enc")?;
        enc.set_property_from_str("speed-preset", "ultrafast");
        enc.set_property_from_str("tune", "zerolatency");
        // Constant quality (like the camera's own stream), a keyframe every 2 s at most so
        // the clip seeks well; one thread: a clip must not take the detector's cores.
        enc.set_property_from_str("pass", "qual");
        enc.set_property("quantizer", 23u32);
        enc.set_property("key-int-max", 60u32);
        enc.set_property("threads", 1u32);
        let masks: Arc<[MaskPolygon]> = job.masks.clone();
        i420.static_pad("src")
            .ok_or_else(|| err(&"capsfilter without a src pad"))?
            .add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                let Some(caps) = pad.current_caps() else {
                    // Unmasked pictures must never reach the encoder.
                    return gst::PadProbeReturn::Drop;
                };
                let Ok(vinfo) = gst_video::VideoInfo::from_caps(&caps) else {
                    return gst::PadProbeReturn::Drop;
                };
                let Some(buffer) = info.buffer_mut() else {
                    return gst::PadProbeReturn::Ok;
                };
                if black_out(buffer.make_mut(), &vinfo, &masks) {
                    gst::PadProbeReturn::Ok
                } else {
                    gst::PadProbeReturn::Drop
                }
            });
        chain.extend([dec, convert, i420, enc]);
    }
    chain.extend([mux, sink]);
    pipeline.add_many(&chain).map_err(|e| err(&e))?;
    gst::Element::link_many(&chain).map_err(|e| err(&e))?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| err(&e))?;
    let result = feed_and_wait(job, &appsrc, &pipeline).map_err(|m| err(&m));
    let _ = pipeline.set_state(gst::State::Null);
    result
}

/// The clip pipeline's source, fed by [`push_then_wait`]. It never blocks: `push_then_wait`
/// waits for room itself (the clip's access units are in memory already, they need not be
/// queued twice), asked for again when the queue is half empty.
fn clip_source(caps: &gst::Caps) -> gst_app::AppSrc {
    gst_app::AppSrc::builder()
        .caps(caps)
        .format(gst::Format::Time)
        .is_live(false)
        .block(false)
        .min_percent(50)
        .build()
}

/// Blacks out `masks` in an I420 (or any planar YUV) picture: luma 16, chroma 128. False if
/// the picture cannot be mapped (it is then dropped, never encoded unmasked).
fn black_out(
    buffer: &mut gst::BufferRef,
    info: &gst_video::VideoInfo,
    masks: &[MaskPolygon],
) -> bool {
    let Ok(mut frame) = gst_video::VideoFrameRef::from_buffer_ref_writable(buffer, info) else {
        return false;
    };
    let (w, h) = (info.width(), info.height());
    for plane in 0..frame.n_planes() {
        let (pw, ph) = if plane == 0 {
            (w, h)
        } else {
            (w.div_ceil(2), h.div_ceil(2))
        };
        let stride = frame.plane_stride()[plane as usize] as usize;
        let value = if plane == 0 { 16 } else { 128 };
        let Ok(data) = frame.plane_data_mut(plane) else {
            return false;
        };
        fill_masked_plane(data, pw, ph, stride, masks, value);
    }
    true
}

/// Pushes the access units with their timestamps ([`ClipJob::timeline`]: from 0 at the first
/// one's decode time, decode times made for RTSP's B-frames), then EOS; waits for the muxer's
/// EOS or an error.
fn feed_and_wait(
    job: &ClipJob,
    appsrc: &gst_app::AppSrc,
    pipeline: &gst::Pipeline,
) -> Result<(), String> {
    let times = job.timeline();
    let mut prev_dur = 33_333_333u64;
    let buffers = job.aus.iter().enumerate().map(|(i, au)| {
        let (pts, dts) = times[i];
        let dur = times
            .get(i + 1)
            .map(|n| n.1.saturating_sub(dts))
            .filter(|d| *d > 0)
            .unwrap_or(prev_dur);
        prev_dur = dur;
        let mut buffer = gst::Buffer::from_slice(au.data.clone());
        {
            let b = buffer.get_mut().expect("a new buffer is writable");
            b.set_pts(gst::ClockTime::from_nseconds(pts));
            b.set_dts(gst::ClockTime::from_nseconds(dts));
            b.set_duration(gst::ClockTime::from_nseconds(dur));
            if !au.keyframe {
                b.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
        }
        buffer
    });
    push_then_wait(appsrc, pipeline, buffers, WRITE_TIMEOUT)
}

/// What [`push_then_wait`] waits for: room in the appsrc's queue (its `need-data`), or the
/// pipeline's end (EOS, or its first error).
enum Wake {
    Room,
    Ended(Result<(), String>),
}

/// Pushes `buffers` into `appsrc` (made by [`clip_source`]), then EOS, and waits for the
/// pipeline's EOS or its first error, all within `timeout`.
///
/// While the appsrc's queue holds its `max-bytes`, this waits for its `need-data` or the
/// pipeline's end, not in a blocking push: when an element downstream fails, the appsrc's
/// streaming task pauses and never takes another buffer, so a blocking push would wait forever
/// (a clip writer once hung that way at a pipeline's shutdown, and the process with it).
fn push_then_wait(
    appsrc: &gst_app::AppSrc,
    pipeline: &gst::Pipeline,
    buffers: impl IntoIterator<Item = gst::Buffer>,
    timeout: Duration,
) -> Result<(), String> {
    let bus = pipeline.bus().ok_or("pipeline without a bus")?;
    let (tx, rx) = std::sync::mpsc::channel();
    let room = tx.clone();
    appsrc.set_callbacks(
        gst_app::AppSrcCallbacks::builder()
            .need_data(move |_, _| {
                let _ = room.send(Wake::Room);
            })
            .build(),
    );
    let ended = [gst::MessageType::Eos, gst::MessageType::Error];
    let end = tx.clone();
    bus.set_sync_handler(move |_, msg| {
        if ended.contains(&msg.type_()) {
            let _ = end.send(Wake::Ended(finished(msg)));
        }
        gst::BusSyncReply::Pass
    });
    // Posted before the handler was there (the pipeline failed as it started).
    if let Some(msg) = bus.pop_filtered(&ended) {
        let _ = tx.send(Wake::Ended(finished(&msg)));
    }
    let deadline = Instant::now() + timeout;
    let wait = || {
        let left = deadline.saturating_duration_since(Instant::now());
        rx.recv_timeout(left)
            .map_err(|_| format!("not finished within {} s", timeout.as_secs()))
    };
    let result = (|| {
        let max_bytes = appsrc.max_bytes();
        for buffer in buffers {
            while appsrc.current_level_bytes() >= max_bytes {
                if let Wake::Ended(r) = wait()? {
                    r?;
                    return Err("the pipeline ended before its last access unit".to_owned());
                }
            }
            if appsrc.push_buffer(buffer).is_err() {
                // Flushing or an error downstream: the bus says which.
                break;
            }
        }
        let _ = appsrc.end_of_stream();
        loop {
            if let Wake::Ended(r) = wait()? {
                return r;
            }
        }
    })();
    bus.unset_sync_handler();
    result
}

/// Ok for an EOS message; an error message as text (the error, the element, the details).
fn finished(msg: &gst::Message) -> Result<(), String> {
    match msg.view() {
        gst::MessageView::Eos(_) => Ok(()),
        gst::MessageView::Error(e) => Err(format!(
            "{} from {} ({:?})",
            e.error(),
            e.src()
                .map(|s| s.path_string().to_string())
                .unwrap_or_default(),
            e.debug()
        )),
        _ => Err("unexpected message".into()),
    }
}

/// Reads the compressed video of a recorded file (`filesrc → parsebin → parser → appsink`,
/// nothing decoded) and hands each access unit to `on_au`, in decode order, with its format
/// (the same until the file's codec data changes). Its time is `start_ms` + its decode time, as
/// `FileSource` times the frames alerts come from.
pub fn read_file_access_units(
    camera: &CameraId,
    path: &Path,
    start_ms: i64,
    mut on_au: impl FnMut(&StreamFormat, RingAu),
) -> Result<(), IngestError> {
    init_gstreamer()?;
    let pe = |m: &dyn std::fmt::Display| IngestError::Pipeline {
        camera: camera.clone(),
        message: m.to_string(),
    };
    if !path.is_file() {
        return Err(IngestError::FileNotFound {
            camera: camera.clone(),
            path: path.to_owned(),
        });
    }
    let pipeline = gst::Pipeline::with_name(&format!("clip-read-{camera}"));
    let src = gst::ElementFactory::make("filesrc")
        .property("location", path.to_string_lossy().as_ref())
        .build()
        .map_err(|e| pe(&e))?;
    let parsebin = gst::ElementFactory::make("parsebin")
        .build()
        .map_err(|e| pe(&e))?;
    let sink_caps = gst::Caps::builder("video/x-h264")
        .field("stream-format", "avc")
        .field("alignment", "au")
        .build();
    let mut all = sink_caps.clone();
    all.merge(
        gst::Caps::builder("video/x-h265")
            .field("stream-format", "hvc1")
            .field("alignment", "au")
            .build(),
    );
    let appsink = gst_app::AppSink::builder()
        .caps(&all)
        .sync(false)
        .max_buffers(64)
        .build();
    pipeline
        .add_many([&src, &parsebin, appsink.upcast_ref()])
        .map_err(|e| pe(&e))?;
    src.link(&parsebin).map_err(|e| pe(&e))?;
    let weak = pipeline.downgrade();
    let sink_el = appsink.clone().upcast::<gst::Element>();
    parsebin.connect_pad_added(move |_, pad| {
        let Some(pipeline) = weak.upgrade() else {
            return;
        };
        let Some(caps) = pad.current_caps().or_else(|| Some(pad.query_caps(None))) else {
            return;
        };
        let Some(name) = caps.structure(0).map(|s| s.name().to_string()) else {
            return;
        };
        let parser = match name.as_str() {
            "video/x-h264" => "h264parse",
            "video/x-h265" => "h265parse",
            _ => return,
        };
        let sink_pad = sink_el.static_pad("sink").expect("appsink has a sink pad");
        if sink_pad.is_linked() {
            return;
        }
        let Ok(parse) = gst::ElementFactory::make(parser).build() else {
            return;
        };
        if pipeline.add(&parse).is_err() {
            return;
        }
        let linked = parse
            .static_pad("sink")
            .is_some_and(|p| pad.link(&p).is_ok())
            && parse.link(&sink_el).is_ok();
        let _ = parse.sync_state_with_parent();
        if !linked {
            tracing::warn!(parser, "linking the file's video stream failed");
        }
    });
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| pe(&e))?;
    let result = (|| {
        let mut format: Option<StreamFormat> = None;
        let mut last_caps: Option<gst::Caps> = None;
        while let Ok(sample) = appsink.pull_sample() {
            let (Some(buffer), Some(caps)) = (sample.buffer(), sample.caps()) else {
                continue;
            };
            if last_caps.as_deref() != Some(caps) {
                let s = caps
                    .structure(0)
                    .ok_or_else(|| pe(&"caps without structure"))?;
                let codec = if s.name() == "video/x-h265" {
                    VideoCodec::H265
                } else {
                    VideoCodec::H264
                };
                let codec_data = s
                    .get::<gst::Buffer>("codec_data")
                    .map_err(|_| pe(&"no codec_data in the file's video caps"))?;
                let data = codec_data.map_readable().map_err(|e| pe(&e))?;
                format = Some(StreamFormat {
                    codec,
                    codec_data: Bytes::copy_from_slice(data.as_slice()),
                });
                last_caps = Some(caps.to_owned());
            }
            let Some(format) = &format else { continue };
            let Some(pts) = buffer.pts().or(buffer.dts()) else {
                continue;
            };
            let dts = buffer.dts();
            let map = buffer.map_readable().map_err(|e| pe(&e))?;
            let decode = dts.unwrap_or(pts);
            on_au(
                format,
                RingAu {
                    time_ms: start_ms + decode.mseconds() as i64,
                    pts_ns: pts.nseconds(),
                    dts_ns: dts.map(|d| d.nseconds()),
                    keyframe: !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
                    data: Bytes::copy_from_slice(map.as_slice()),
                },
            );
        }
        match crate::decode::bus_error(camera, &pipeline) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipeline_failing_downstream_is_an_error_not_a_hang() {
        // H.264 into a raw-video filter: not negotiated at the first buffer, and the appsrc's
        // task stops taking buffers. Fed far more than its queue holds (100 x 10 kB).
        init_gstreamer().expect("GStreamer");
        let pipeline = gst::Pipeline::new();
        let src = clip_source(&stream_caps(&StreamFormat {
            codec: VideoCodec::H264,
            codec_data: Bytes::from_static(&[1, 100, 0, 30, 0xff, 0xe1, 0, 0]),
        }));
        let raw = gst::ElementFactory::make("capsfilter")
            .property("caps", gst::Caps::builder("video/x-raw").build())
            .build()
            .expect("capsfilter");
        let sink = gst::ElementFactory::make("fakesink")
            .build()
            .expect("fakesink");
        let chain = [src.clone().upcast(), raw, sink];
        pipeline.add_many(&chain).expect("add");
        gst::Element::link_many(&chain).expect("link");
        pipeline.set_state(gst::State::Playing).expect("playing");
        let buffers = (0..100u64).map(|i| {
            let mut b = gst::Buffer::from_slice(vec![0u8; 10_000]);
            b.get_mut()
                .expect("new")
                .set_pts(gst::ClockTime::from_mseconds(33 * i));
            b
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let p = pipeline.clone();
        std::thread::spawn(move || {
            let _ = tx.send(push_then_wait(&src, &p, buffers, Duration::from_secs(20)));
        });
        let result = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("push_then_wait answers within 30 s (a blocking push never returns)");
        let _ = pipeline.set_state(gst::State::Null);
        let e = result.expect_err("a pipeline that cannot negotiate is an error");
        assert!(e.contains("not-negotiated"), "{e}");
    }
}
