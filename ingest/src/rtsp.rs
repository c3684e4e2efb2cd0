//! RTSP cameras through retina (I/O: network, a tokio task per camera, a GStreamer decoder).
//!
//! One [`RtspSource`] is one connection attempt: DESCRIBE, SETUP of the first H.264/H.265 video
//! stream (TCP-interleaved or UDP), PLAY, then access units into an [`AuDecoder`]. Decoded frames
//! land in a drop-oldest [`FrameQueue`], so a slow detector never stalls the network reader. When
//! the connection fails the source reports the error once; reconnecting (with backoff) is the
//! caller's job, so that "start/stop/restart one camera" stays one mechanism.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use retina::client::{
    PlayOptions, SessionOptions, SetupOptions, TcpTransportOptions, Transport, UdpTransportOptions,
};
use retina::codec::{CodecItem, ParametersRef, VideoParametersCodec};
use sharpeyes_core::{CameraId, Canvas, Frame, FrameSource, SourceItem};

use crate::adaptive::{AuAction, DecodeGate, GopKeeper, KeeperOptions};
use crate::decode::{AuDecoder, InputDrops, VideoCodec};
use crate::error::IngestError;
use crate::queue::{FrameQueue, Popped, QueueStats};
use crate::redact::{redact_text, redact_url};

/// RTP transport. `Tcp` (interleaved in the RTSP connection) passes NAT and firewalls and is the
/// default; `Udp` saves a little CPU on a LAN.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RtspTransport {
    #[default]
    Tcp,
    Udp,
}

/// How to reach one camera.
#[derive(Clone)]
pub struct RtspOptions {
    pub camera: CameraId,
    /// `rtsp://host[:port]/path`, without credentials.
    pub url: url::Url,
    /// (user, password), used if the camera asks for Basic or Digest auth.
    pub credentials: Option<(String, String)>,
    pub transport: RtspTransport,
    /// The model's canvas the frames are letterboxed into.
    pub canvas: Canvas,
    /// Timeout for each RTSP request. Default 10 s.
    pub connect_timeout: Duration,
    /// The first access unit (any frame, not only a keyframe) is due this long after PLAY.
    /// Default 3 s: a camera that streams sends several frames a second from PLAY on, whatever
    /// its GOP; a session that reached PLAY and sends no video at all (seen on loopback under
    /// load: one camera in 32 at times) is dropped and remade at once, not after the camera
    /// loop's `stall_after`.
    pub first_frame_timeout: Duration,
    /// Frames kept for the consumer before the oldest is dropped. Default 4.
    pub queue_capacity: usize,
    /// Adaptive decode: consulted for each access unit. Default None (decode everything).
    pub gate: Option<Arc<DecodeGate>>,
    /// While the gate says keyframes only, a peek at least this often (see [`GopKeeper`]);
    /// zero: none. Default [`crate::adaptive::DEFAULT_PEEK`].
    pub peek: Duration,
    /// The camera's pre-event ring for event clips: every access unit received goes in
    /// (decoded or not), with its receive time. Default None (no clips).
    pub clip_tap: Option<Arc<crate::clip_writer::ClipTap>>,
}

impl std::fmt::Debug for RtspOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtspOptions")
            .field("camera", &self.camera)
            .field("url", &redact_url(self.url.as_str()))
            .field("user", &self.credentials.as_ref().map(|c| &c.0))
            .field("transport", &self.transport)
            .field("canvas", &self.canvas)
            .finish()
    }
}

impl RtspOptions {
    pub fn new(camera: CameraId, url: url::Url, canvas: Canvas) -> Self {
        Self {
            camera,
            url,
            credentials: None,
            transport: RtspTransport::Tcp,
            canvas,
            connect_timeout: Duration::from_secs(10),
            first_frame_timeout: Duration::from_secs(3),
            queue_capacity: 4,
            gate: None,
            peek: crate::adaptive::DEFAULT_PEEK,
            clip_tap: None,
        }
    }
}

struct Shared {
    queue: FrameQueue<Frame>,
    error: Mutex<Option<IngestError>>,
    /// Access units not decoded when they came because adaptive decode wanted keyframes only
    /// (some are decoded later, see `caught_up`).
    skipped: AtomicU64,
    /// Access units received from the camera.
    received: AtomicU64,
    /// Kept deltas decoded later in a burst, decode-only (peeks, resumes; see [`GopKeeper`]).
    caught_up: AtomicU64,
    /// Access units dropped because the decoder's input queue was full (refused by it, or
    /// skipped after a refusal until the next keyframe), and their bytes.
    input_dropped: AtomicU64,
    input_dropped_bytes: AtomicU64,
    /// PLAY answered and a decoder built: the expensive part of connecting is over.
    ready: std::sync::atomic::AtomicBool,
}

impl Shared {
    /// One access unit of `bytes` dropped because the decoder is behind.
    fn input_drop(&self, bytes: usize) {
        self.input_dropped.fetch_add(1, Ordering::Relaxed);
        self.input_dropped_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn fail(&self, e: IngestError) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(e);
        }
        drop(slot);
        self.queue.close();
    }
}

/// A live connection to one RTSP camera. Dropping it tears the session down.
pub struct RtspSource {
    camera: CameraId,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl RtspSource {
    /// Starts connecting on `rt`; frames (or the failure) arrive through `next_frame`.
    pub fn start(rt: &tokio::runtime::Handle, options: RtspOptions) -> Self {
        let shared = Arc::new(Shared {
            queue: FrameQueue::new(options.queue_capacity),
            error: Mutex::new(None),
            skipped: AtomicU64::new(0),
            received: AtomicU64::new(0),
            caught_up: AtomicU64::new(0),
            input_dropped: AtomicU64::new(0),
            input_dropped_bytes: AtomicU64::new(0),
            ready: std::sync::atomic::AtomicBool::new(false),
        });
        let camera = options.camera.clone();
        let s = shared.clone();
        let task = rt.spawn(async move {
            let camera = options.camera.clone();
            if let Err(e) = run_session(options, s.clone()).await {
                s.fail(e);
            } else {
                s.fail(IngestError::Closed { camera });
            }
        });
        Self {
            camera,
            shared,
            task,
        }
    }

    /// Frames pushed and dropped (oldest-first) by the queue so far.
    pub fn queue_stats(&self) -> QueueStats {
        self.shared.queue.stats()
    }

    /// Access units skipped by adaptive decode so far.
    pub fn skipped(&self) -> u64 {
        self.shared.skipped.load(Ordering::Relaxed)
    }

    /// Whether the session is playing with a decoder built (what is left is waiting for a
    /// keyframe).
    pub fn ready(&self) -> bool {
        self.shared.ready.load(Ordering::Relaxed)
    }

    /// Access units received from the camera so far.
    pub fn received(&self) -> u64 {
        self.shared.received.load(Ordering::Relaxed)
    }

    /// Skipped deltas decoded later, decode-only, so far (see [`GopKeeper`]).
    pub fn caught_up(&self) -> u64 {
        self.shared.caught_up.load(Ordering::Relaxed)
    }

    /// Access units dropped so far because the decoder fell behind (its input queue, bounded
    /// in bytes, was full), and their bytes; across decoder rebuilds.
    pub fn input_drops(&self) -> InputDrops {
        InputDrops {
            access_units: self.shared.input_dropped.load(Ordering::Relaxed),
            bytes: self.shared.input_dropped_bytes.load(Ordering::Relaxed),
        }
    }
}

impl Drop for RtspSource {
    fn drop(&mut self) {
        self.task.abort();
        self.shared.queue.close();
    }
}

impl FrameSource for RtspSource {
    type Error = IngestError;

    fn camera(&self) -> &CameraId {
        &self.camera
    }

    fn next_frame(&mut self, timeout: Duration) -> Result<SourceItem, IngestError> {
        match self.shared.queue.pop(timeout) {
            Popped::Item(f) => Ok(SourceItem::Frame(f)),
            Popped::Timeout => Ok(SourceItem::Timeout),
            Popped::Closed => Err(self
                .shared
                .error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .unwrap_or(IngestError::Closed {
                    camera: self.camera.clone(),
                })),
        }
    }
}

fn rtsp_err(o: &RtspOptions, e: retina::Error) -> IngestError {
    // retina's messages quote the request URL: a password in its query must not follow.
    let message = redact_text(&e.to_string());
    // retina reports every 401 (credentials refused, none given, a challenge it cannot answer)
    // as an RTSP response error carrying the status.
    let auth = e.status_code() == Some(401);
    IngestError::Rtsp {
        camera: o.camera.clone(),
        url: redact_url(o.url.as_str()),
        message,
        auth,
    }
}

async fn timed<T>(
    o: &RtspOptions,
    during: &'static str,
    f: impl std::future::Future<Output = Result<T, retina::Error>>,
) -> Result<T, IngestError> {
    match tokio::time::timeout(o.connect_timeout, f).await {
        Ok(r) => r.map_err(|e| rtsp_err(o, e)),
        Err(_) => Err(IngestError::Timeout {
            camera: o.camera.clone(),
            url: redact_url(o.url.as_str()),
            timeout_ms: o.connect_timeout.as_millis() as u64,
            during,
        }),
    }
}

async fn run_session(o: RtspOptions, shared: Arc<Shared>) -> Result<(), IngestError> {
    let creds = o
        .credentials
        .clone()
        .map(|(username, password)| retina::client::Credentials { username, password });
    let session_options = SessionOptions::default()
        .creds(creds)
        .user_agent("sharpeyes".to_string());
    let mut session = timed(
        &o,
        "DESCRIBE",
        retina::client::Session::describe(o.url.clone(), session_options),
    )
    .await?;
    let stream_i = session
        .streams()
        .iter()
        .position(|s| s.media() == "video" && matches!(s.encoding_name(), "h264" | "h265"))
        .ok_or_else(|| IngestError::NoVideoStream {
            camera: o.camera.clone(),
            url: redact_url(o.url.as_str()),
            streams: session
                .streams()
                .iter()
                .map(|s| format!("{}/{}", s.media(), s.encoding_name()))
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let transport = match o.transport {
        RtspTransport::Tcp => Transport::Tcp(TcpTransportOptions::default()),
        RtspTransport::Udp => Transport::Udp(UdpTransportOptions::default()),
    };
    timed(
        &o,
        "SETUP",
        session.setup(stream_i, SetupOptions::default().transport(transport)),
    )
    .await?;
    let playing = timed(&o, "PLAY", session.play(PlayOptions::default())).await?;
    let mut demuxed = playing.demuxed().map_err(|e| rtsp_err(&o, e))?;
    tracing::info!(camera = %o.camera, url = %redact_url(o.url.as_str()), "rtsp session playing");

    let mut decoder: Option<DecoderBox> = None;
    let keeper_options = KeeperOptions {
        peek_ms: o.peek.as_millis() as i64,
        ..KeeperOptions::default()
    };
    let mut keeper: GopKeeper<bytes::Bytes> = GopKeeper::new(keeper_options);
    let mut first = true;
    // A push was refused (the decoder's input queue full): deltas until the next keyframe are
    // dropped too, and counted as such, not as adaptive decode's skips.
    let mut behind = false;
    // The first video frame is due within `first_frame_timeout` of PLAY, however many other
    // items (RTCP sender reports, every few seconds) arrive meanwhile: a session that sends
    // reports but no video would otherwise wait for ever.
    let first_due = tokio::time::Instant::now() + o.first_frame_timeout;
    loop {
        let wait = if first {
            first_due.saturating_duration_since(tokio::time::Instant::now())
        } else {
            // The camera loop watches for stalls (no frame within its `stall_after`) and drops
            // this source; this only ends a session that nobody reads any more.
            Duration::from_secs(3600)
        };
        let item = match tokio::time::timeout(wait, demuxed.next()).await {
            Err(_) => {
                return Err(IngestError::Timeout {
                    camera: o.camera.clone(),
                    url: redact_url(o.url.as_str()),
                    timeout_ms: o.first_frame_timeout.as_millis() as u64,
                    during: "waiting for the first frame",
                });
            }
            Ok(None) => return Ok(()),
            Ok(Some(item)) => item.map_err(|e| rtsp_err(&o, e))?,
        };
        let CodecItem::VideoFrame(frame) = item else {
            continue;
        };
        first = false;
        shared.received.fetch_add(1, Ordering::Relaxed);
        if decoder.is_none() || frame.has_new_parameters() {
            let Some(ParametersRef::Video(params)) = demuxed.streams()[stream_i].parameters()
            else {
                continue; // no SPS/PPS yet: nothing decodable
            };
            let codec = match params.codec_params() {
                VideoParametersCodec::H265 { .. } => VideoCodec::H265,
                _ => VideoCodec::H264,
            };
            let (w, h) = params.pixel_dimensions();
            tracing::info!(camera = %o.camera, ?codec, width = w, height = h, "stream parameters");
            if let Some(tap) = &o.clip_tap {
                tap.restart(crate::clip_ring::StreamFormat {
                    codec,
                    codec_data: bytes::Bytes::copy_from_slice(params.extra_data()),
                });
            }
            drop(decoder.take()); // the old decoder is torn down (off this thread) first
            // Building a GStreamer pipeline and setting it PLAYING blocks (plugin loading, state
            // changes, thread starts): done on the blocking pool, never on the network threads.
            let (camera, extra, canvas, s) = (
                o.camera.clone(),
                params.extra_data().to_vec(),
                o.canvas,
                shared.clone(),
            );
            let built = tokio::task::spawn_blocking(move || {
                AuDecoder::new(&camera, codec, &extra, canvas, move |f| match f {
                    Ok(f) => {
                        s.queue.push(f);
                    }
                    Err(e) => tracing::warn!(error = %e, "frame conversion failed"),
                })
            })
            .await
            .map_err(|e| IngestError::Pipeline {
                camera: o.camera.clone(),
                message: format!("building the decoder: {e}"),
            })??;
            decoder = Some(DecoderBox(Some(built)));
            shared.ready.store(true, Ordering::Relaxed);
            keeper = GopKeeper::new(keeper_options);
        }
        let Some(d) = decoder.as_ref().and_then(|d| d.0.as_ref()) else {
            continue;
        };
        let keyframe = frame.is_random_access_point();
        let keyframes_only = o.gate.as_ref().is_some_and(|g| g.keyframes_only());
        let media_time = frame.timestamp();
        // Shared, not copied, by the clip ring and the decoder's queue.
        let data = bytes::Bytes::from(frame.into_data());
        let size = data.len();
        let now = sharpeyes_core::Clock::now(&sharpeyes_core::SystemClock);
        if let Some(tap) = &o.clip_tap {
            tap.push(crate::clip_ring::RingAu {
                time_ms: now.0,
                pts_ns: media_ns(media_time),
                dts_ns: None,
                keyframe,
                data: data.clone(),
            });
        }
        let (catch_up, current) = match keeper.admit(data, size, keyframe, keyframes_only, now.0) {
            AuAction::Skip if behind => {
                shared.input_drop(size);
                continue;
            }
            AuAction::Skip => {
                shared.skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            AuAction::Decode(au) => (Vec::new(), au),
            AuAction::Burst {
                catch_up,
                current,
                why,
            } => {
                shared
                    .caught_up
                    .fetch_add(catch_up.len() as u64, Ordering::Relaxed);
                tracing::trace!(camera = %o.camera, frames = catch_up.len(), ?why, "decoding the kept deltas");
                (catch_up, current)
            }
        };
        if keyframe {
            behind = false;
        }
        let mut accepted = true;
        for (au, decode_only) in catch_up
            .iter()
            .map(|a| (a, true))
            .chain([(&current, false)])
        {
            let key = keyframe && !decode_only;
            if !d.push_au(au, key, decode_only)? {
                accepted = false;
                shared.input_drop(au.len());
            }
        }
        if !accepted {
            // The decoder is behind by its whole input queue: skip to the next keyframe rather
            // than grow memory or block the network thread.
            keeper.lost();
            behind = true;
            tracing::debug!(camera = %o.camera, "decoder queue full: skipping to the next keyframe");
        }
    }
}

/// An RTP timestamp as ns since the session's first (clips' media time). Taken as the decode
/// time too: RTP carries presentation times only, and IP cameras' streams have no B-frames
/// (a stream with them would give clips with misordered timestamps).
fn media_ns(t: retina::Timestamp) -> u64 {
    let ticks = t.elapsed().max(0) as u128;
    (ticks * 1_000_000_000 / u128::from(t.clock_rate().get())) as u64
}

/// Owns a decoder; dropping it tears the GStreamer pipeline down on the blocking pool (a state
/// change to NULL joins its streaming threads), never on the network threads.
struct DecoderBox(Option<AuDecoder>);

impl Drop for DecoderBox {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(h) => {
                    h.spawn_blocking(move || drop(d));
                }
                Err(_) => drop(d),
            }
        }
    }
}
