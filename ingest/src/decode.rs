//! GStreamer decode and scale (I/O: drives GStreamer pipelines).
//!
//! Two shapes share one tail: encoded access units from an RTSP client go
//! `appsrc → parse → decoder → videoscale → videoconvert → appsink`, files go
//! `filesrc → decodebin → videoscale → videoconvert → appsink`. The tail converts the picture to
//! packed BGR at the camera's own size (`videoscale` only squares non-square pixels, and passes
//! everything else through untouched); [`FrameBuilder`] then letterboxes it into the model's
//! canvas with the project's one resize (`sharpeyes_core::resize`, OpenCV's `INTER_LINEAR`, what
//! the models were trained on). GStreamer's own scalers filter differently and moved boxes by
//! 2 to 31 source pixels on the test pictures (docs/resize.md). The price: the colour conversion
//! runs on the whole picture (about 3 ms more CPU per delivered 1080p frame than converting at
//! 416x416; pictures the decoder drops cost nothing either way).

use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use sharpeyes_core::resize::{Canvas, Channels, letterbox};
use sharpeyes_core::{CameraId, Frame, PixelFormat, UnixMillis};

use crate::error::IngestError;

/// Initialises GStreamer once; cheap to call again.
pub fn init_gstreamer() -> Result<(), IngestError> {
    gst::init().map_err(|e| IngestError::GstInit(e.to_string()))
}

/// Compressed video formats the RTSP path decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoCodec {
    H264,
    H265,
}

impl VideoCodec {
    fn parser(self) -> &'static str {
        match self {
            VideoCodec::H264 => "h264parse",
            VideoCodec::H265 => "h265parse",
        }
    }

    /// Decoders in order of preference: NVIDIA, VA-API, V4L2 stateless/stateful, then software.
    fn decoders(self) -> &'static [(&'static str, bool)] {
        match self {
            VideoCodec::H264 => &[
                ("nvh264dec", true),
                ("vah264dec", true),
                ("v4l2slh264dec", true),
                ("v4l2h264dec", true),
                ("avdec_h264", false),
            ],
            VideoCodec::H265 => &[
                ("nvh265dec", true),
                ("vah265dec", true),
                ("v4l2slh265dec", true),
                ("v4l2h265dec", true),
                ("avdec_h265", false),
            ],
        }
    }
}

/// The decoder element picked for a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecoderChoice {
    pub element: &'static str,
    pub hardware: bool,
}

impl DecoderChoice {
    /// The most preferred decoder whose element exists here, or None if not even software
    /// decoding is installed. `SHARPEYES_SOFTWARE_DECODE=1` skips hardware decoders.
    pub fn pick(codec: VideoCodec) -> Option<Self> {
        let software_only = std::env::var_os("SHARPEYES_SOFTWARE_DECODE").is_some_and(|v| v == "1");
        codec
            .decoders()
            .iter()
            .filter(|(_, hw)| !(software_only && *hw))
            .find(|(name, _)| gst::ElementFactory::find(name).is_some())
            .map(|&(element, hardware)| Self { element, hardware })
    }
}

fn make(camera: &CameraId, factory: &str) -> Result<gst::Element, IngestError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| IngestError::MissingElement {
            camera: camera.clone(),
            element: factory.to_string(),
        })
}

fn pipeline_err(camera: &CameraId, e: impl std::fmt::Display) -> IngestError {
    IngestError::Pipeline {
        camera: camera.clone(),
        message: e.to_string(),
    }
}

/// `videoscale ! videoconvert ! capsfilter ! appsink` producing packed BGR with square pixels at
/// the camera's own size, added to `pipeline`. Returns the videoscale element: upstream links to
/// it. (`videoscale` works only for a camera with non-square pixels, stretching one axis so that
/// shapes are not distorted; for every other camera it is a pass-through.)
pub(crate) fn convert_tail(
    camera: &CameraId,
    pipeline: &gst::Pipeline,
    appsink: gst_app::AppSink,
) -> Result<gst::Element, IngestError> {
    let scale = make(camera, "videoscale")?;
    let convert = make(camera, "videoconvert")?;
    let caps = gst_video::VideoCapsBuilder::new()
        .format(gst_video::VideoFormat::Bgr)
        .pixel_aspect_ratio(gst::Fraction::new(1, 1))
        .build();
    let filter = gst::ElementFactory::make("capsfilter")
        .property("caps", &caps)
        .build()
        .map_err(|e| pipeline_err(camera, e))?;
    let sink = appsink.upcast::<gst::Element>();
    pipeline
        .add_many([&scale, &convert, &filter, &sink])
        .map_err(|e| pipeline_err(camera, e))?;
    gst::Element::link_many([&scale, &convert, &filter, &sink])
        .map_err(|e| pipeline_err(camera, e))?;
    Ok(scale)
}

/// Turns appsink samples (BGR at the camera's own size) into [`Frame`]s letterboxed into the
/// model's canvas: one resize, straight from GStreamer's buffer into the frame's shared memory,
/// so the camera-size picture is never copied or kept. Numbers the frames.
pub(crate) struct FrameBuilder {
    camera: CameraId,
    canvas: Canvas,
    next_seq: u64,
}

impl FrameBuilder {
    pub(crate) fn new(camera: CameraId, canvas: Canvas) -> Self {
        Self {
            camera,
            canvas,
            next_seq: 0,
        }
    }

    pub(crate) fn build(
        &mut self,
        sample: &gst::Sample,
        time: UnixMillis,
    ) -> Result<Frame, IngestError> {
        let caps = sample
            .caps()
            .ok_or_else(|| pipeline_err(&self.camera, "sample without caps"))?;
        let info =
            gst_video::VideoInfo::from_caps(caps).map_err(|e| pipeline_err(&self.camera, e))?;
        let buffer = sample
            .buffer()
            .ok_or_else(|| pipeline_err(&self.camera, "sample without buffer"))?;
        let map = buffer
            .map_readable()
            .map_err(|e| pipeline_err(&self.camera, e))?;
        let (w, h) = (info.width(), info.height());
        let stride = info.stride()[0] as usize;
        let needed = (h as usize).saturating_sub(1) * stride + w as usize * 3;
        if w == 0 || h == 0 || stride < w as usize * 3 || map.len() < needed {
            return Err(pipeline_err(
                &self.camera,
                format!(
                    "{w}x{h} BGR picture with stride {stride} in a buffer of {} bytes",
                    map.len()
                ),
            ));
        }
        let canvas = self.canvas;
        let (data, letterbox) = letterbox(map.as_slice(), (w, h, stride), canvas, Channels::Same);
        let seq = self.next_seq;
        self.next_seq += 1;
        Ok(Frame {
            camera: self.camera.clone(),
            seq,
            time,
            width: canvas.width,
            height: canvas.height,
            stride: canvas.width as usize * 3,
            format: PixelFormat::Bgr24,
            data,
            letterbox,
        })
    }
}

/// When the frame's access unit reached the decoder, as wall-clock time: the appsrc stamped it
/// with the running time at the push (`do-timestamp`), so the time spent queued in the decoder
/// and the scaler counts as latency, not as part of the capture time. Now when the element has
/// no clock yet or the frame has no timestamp.
fn arrival_time(element: &gst::Element, sample: &gst::Sample) -> UnixMillis {
    let now = sharpeyes_core::Clock::now(&sharpeyes_core::SystemClock);
    let pts = sample.buffer().and_then(|b| b.pts());
    let running = element
        .clock()
        .zip(element.base_time())
        .and_then(|(c, base)| c.time().checked_sub(base));
    match (pts, running) {
        (Some(pts), Some(running)) => {
            let queued = running.saturating_sub(pts).mseconds() as i64;
            tracing::trace!(element = %element.name(), queued_ms = queued, "picture out of the decoder");
            UnixMillis(now.0 - queued)
        }
        _ => now,
    }
}

/// The first error message on a pipeline's bus, if any, as an [`IngestError::Stream`].
pub(crate) fn bus_error(camera: &CameraId, pipeline: &gst::Pipeline) -> Option<IngestError> {
    let bus = pipeline.bus()?;
    while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
        if let gst::MessageView::Error(err) = msg.view() {
            return Some(IngestError::Stream {
                camera: camera.clone(),
                element: err
                    .src()
                    .map(|s| s.path_string().to_string())
                    .unwrap_or_default(),
                message: format!("{} ({:?})", err.error(), err.debug()),
            });
        }
    }
    None
}

/// Most bytes of access units waiting in a decoder's input queue (≈ 2 s of 4K H.264).
pub const MAX_QUEUED_BYTES: u64 = 8 << 20;

/// Access units a decoder refused because its input queue was full, and their bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InputDrops {
    pub access_units: u64,
    pub bytes: u64,
}

/// Decodes access units (AVC/HVC length-prefixed, as retina delivers them) of one stream.
/// Decoded frames are handed to `on_frame` on GStreamer's streaming thread.
pub struct AuDecoder {
    camera: CameraId,
    pipeline: gst::Pipeline,
    appsrc: gst_app::AppSrc,
    /// Pictures of decode-only access units still to come out of the decoder: a probe on its
    /// output drops that many before they are scaled and converted. (The buffer flag
    /// `DECODE_ONLY` does not survive h264parse into avdec here, measured: every picture came
    /// out.) Decode order is output order for the streams cameras send without B-frames; with
    /// B-frames a dropped picture may be a neighbour of the intended one, never more.
    drop_pending: Arc<std::sync::atomic::AtomicU64>,
    /// The input queue's bound in bytes ([`MAX_QUEUED_BYTES`] unless set).
    max_queued_bytes: u64,
    /// What [`AuDecoder::push_au`] refused so far.
    refused_aus: std::sync::atomic::AtomicU64,
    refused_bytes: std::sync::atomic::AtomicU64,
    pub choice: DecoderChoice,
}

impl AuDecoder {
    /// `codec_data` is the avcC / hvcC record (retina's `VideoParameters::extra_data`).
    pub fn new(
        camera: &CameraId,
        codec: VideoCodec,
        codec_data: &[u8],
        canvas: Canvas,
        on_frame: impl FnMut(Result<Frame, IngestError>) + Send + 'static,
    ) -> Result<Self, IngestError> {
        init_gstreamer()?;
        let choice = DecoderChoice::pick(codec).ok_or_else(|| IngestError::MissingElement {
            camera: camera.clone(),
            element: codec
                .decoders()
                .last()
                .map(|d| d.0)
                .unwrap_or_default()
                .to_string(),
        })?;
        tracing::info!(camera = %camera, decoder = choice.element, hardware = choice.hardware, "decoder chosen");
        let caps = match codec {
            VideoCodec::H264 => gst::Caps::builder("video/x-h264").field("stream-format", "avc"),
            VideoCodec::H265 => gst::Caps::builder("video/x-h265").field("stream-format", "hvc1"),
        }
        .field("alignment", "au")
        .field("codec_data", gst::Buffer::from_slice(codec_data.to_vec()))
        .build();
        let pipeline = gst::Pipeline::with_name(&format!("decode-{camera}"));
        let appsrc = gst_app::AppSrc::builder()
            .caps(&caps)
            .format(gst::Format::Time)
            .is_live(true)
            .do_timestamp(true)
            // Bounded: a stuck decoder must not grow memory without limit (≈ 2 s of 4K H.264);
            // `push_au` refuses past it rather than block the network thread.
            .max_bytes(MAX_QUEUED_BYTES)
            .block(false)
            .build();
        let parse = make(camera, codec.parser())?;
        let dec = make(camera, choice.element)?;
        if choice.element.starts_with("avdec_") {
            // One decoding thread per camera. libav's frame threading (its default: one thread
            // per core) holds back one frame per extra thread: at 15 fps that is 67 ms more
            // latency per thread, and in keyframes-only mode a whole GOP, so motion in the
            // quiet picture was seen 2 s late. Cameras decode in parallel with each other.
            dec.set_property("max-threads", 1i32);
        }
        let drop_pending = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let pending = drop_pending.clone();
        dec.static_pad("src")
            .ok_or_else(|| pipeline_err(camera, "decoder without a src pad"))?
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                use std::sync::atomic::Ordering;
                let dropped = pending
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok();
                if dropped {
                    gst::PadProbeReturn::Drop
                } else {
                    gst::PadProbeReturn::Ok
                }
            });
        let appsink = gst_app::AppSink::builder()
            .sync(false)
            .max_buffers(2)
            .drop(false)
            .build();
        let src_el = appsrc.clone().upcast::<gst::Element>();
        pipeline
            .add_many([&src_el, &parse, &dec])
            .map_err(|e| pipeline_err(camera, e))?;
        let scale = convert_tail(camera, &pipeline, appsink.clone())?;
        gst::Element::link_many([&src_el, &parse, &dec, &scale])
            .map_err(|e| pipeline_err(camera, e))?;

        let builder = Mutex::new(FrameBuilder::new(camera.clone(), canvas));
        let on_frame = Mutex::new(on_frame);
        appsink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let now = arrival_time(sink.upcast_ref(), &sample);
                    let frame = builder
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .build(&sample, now);
                    (on_frame.lock().unwrap_or_else(|p| p.into_inner()))(frame);
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| pipeline_err(camera, e))?;
        Ok(Self {
            camera: camera.clone(),
            pipeline,
            appsrc,
            drop_pending,
            max_queued_bytes: MAX_QUEUED_BYTES,
            refused_aus: Default::default(),
            refused_bytes: Default::default(),
            choice,
        })
    }

    /// Bounds the input queue at `bytes` instead of [`MAX_QUEUED_BYTES`].
    pub fn with_max_queued_bytes(mut self, bytes: u64) -> Self {
        self.max_queued_bytes = bytes;
        self.appsrc.set_max_bytes(bytes);
        self
    }

    /// Bytes of access units waiting in the input queue now (never more than the bound, see
    /// [`AuDecoder::push_au`]).
    pub fn queued_bytes(&self) -> u64 {
        self.appsrc.current_level_bytes()
    }

    /// The access units refused so far because the input queue was full, and their bytes.
    pub fn input_drops(&self) -> InputDrops {
        use std::sync::atomic::Ordering::Relaxed;
        InputDrops {
            access_units: self.refused_aus.load(Relaxed),
            bytes: self.refused_bytes.load(Relaxed),
        }
    }

    /// Queues one access unit; never blocks. `decode_only`: the decoder decodes it (a later
    /// frame may refer to it) but no picture comes out (catching up on a kept GOP). Returns
    /// false, drops it and counts it ([`AuDecoder::input_drops`]) when it does not fit in the
    /// decoder's input queue ([`MAX_QUEUED_BYTES`]; an access unit larger than the whole bound
    /// is taken only into an empty queue): the queue never grows past its bound, and the
    /// caller must skip to the next keyframe. Errors if the pipeline failed (see the bus).
    pub fn push_au(
        &self,
        au: &[u8],
        keyframe: bool,
        decode_only: bool,
    ) -> Result<bool, IngestError> {
        if let Some(e) = bus_error(&self.camera, &self.pipeline) {
            return Err(e);
        }
        let queued = self.appsrc.current_level_bytes();
        let len = au.len() as u64;
        if queued > 0 && queued + len > self.max_queued_bytes {
            use std::sync::atomic::Ordering::Relaxed;
            self.refused_aus.fetch_add(1, Relaxed);
            self.refused_bytes.fetch_add(len, Relaxed);
            return Ok(false);
        }
        let mut buf = gst::Buffer::from_slice(au.to_vec());
        if !keyframe && let Some(b) = buf.get_mut() {
            b.set_flags(gst::BufferFlags::DELTA_UNIT);
        }
        // Not also flagged DECODE_ONLY: a decoder that honours the flag would drop the picture
        // and the probe would then drop the next one as well.
        if decode_only {
            self.drop_pending
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.appsrc
            .push_buffer(buf)
            .map(|_| true)
            .map_err(|e| IngestError::Stream {
                camera: self.camera.clone(),
                element: "appsrc".into(),
                message: format!("push refused: {e:?}"),
            })
    }
}

impl Drop for AuDecoder {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// "GStreamer 1.22.0" (the library loaded at run time).
pub fn gstreamer_version() -> String {
    gst::version_string().to_string()
}
