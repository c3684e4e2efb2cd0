//! Simulated cameras (I/O: a real gst-rtsp-server on loopback, GStreamer pipelines, threads).
//!
//! Each mount loops a video clip at its own pace, re-encoded to H.264 (constrained baseline,
//! keyframe every 30 frames) the way a typical IP camera sends it; without a clip it serves a
//! moving test pattern. Used by `sharpeyes demo` and by the integration tests; a mount can be
//! told to stall (keep the connection, send nothing) to exercise stall detection, or serve a
//! stream that never decodes ([`SimCodec::Undecodable`]); the server records when each client
//! connected ([`SimServer::connections`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;

use crate::program::{SimProgram, untimed};
use sharpeyes_ingest::IngestError;
use sharpeyes_ingest::init_gstreamer;

/// Video codec a simulated camera sends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SimCodec {
    #[default]
    H264,
    H265,
    /// H.264 main profile with B-frames (2 between references, as many IP cameras send): the
    /// RTP timestamps (presentation times) go back and forth in sending order.
    H264BFrames,
    /// H.264 over RTP that no decoder can use: non-IDR slices of random bytes, 10 a second,
    /// and never a parameter set (SPS/PPS), neither in the SDP nor in band. The session plays
    /// and access units arrive, but no frame ever decodes. `clips` are not used.
    Undecodable,
}

impl SimCodec {
    fn encode(self) -> &'static str {
        match self {
            SimCodec::H264 => {
                "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bitrate=2000 \
                 ! video/x-h264,profile=constrained-baseline ! rtph264pay name=pay0 pt=96 config-interval=-1"
            }
            SimCodec::H264BFrames => {
                "x264enc speed-preset=ultrafast bframes=2 b-adapt=false key-int-max=30 bitrate=2000 \
                 ! video/x-h264,profile=main ! rtph264pay name=pay0 pt=96 config-interval=-1"
            }
            SimCodec::H265 => {
                "x265enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bitrate=2000 \
                 ! rtph265pay name=pay0 pt=96 config-interval=-1"
            }
            // Not an encoder: `start_with` feeds this mount itself.
            SimCodec::Undecodable => "rtph264pay name=pay0 pt=96",
        }
    }
}

/// One simulated camera: served at `rtsp://127.0.0.1:<port>/<mount>`.
#[derive(Clone, Debug)]
pub struct SimCamera {
    /// Path segment, e.g. "cam-1".
    pub mount: String,
    /// Clips played one after the other, then from the first again; clips of different sizes
    /// make the camera change resolution mid-stream. Empty: a 640x360 test pattern at 10 fps.
    pub clips: Vec<PathBuf>,
    pub codec: SimCodec,
    /// A clip encoded once and played under an activity profile (H.264); when set, `clips`
    /// and `codec` are not used.
    pub program: Option<SimProgram>,
}

impl SimCamera {
    /// A camera looping `clip` (H.264).
    pub fn clip(mount: &str, clip: PathBuf) -> Self {
        Self {
            mount: mount.into(),
            clips: vec![clip],
            codec: SimCodec::H264,
            program: None,
        }
    }

    /// A camera showing a moving test pattern (H.264).
    pub fn pattern(mount: &str) -> Self {
        Self {
            mount: mount.into(),
            clips: Vec::new(),
            codec: SimCodec::H264,
            program: None,
        }
    }

    /// A camera playing `program` (a pre-encoded clip under an activity profile).
    pub fn program(mount: &str, program: SimProgram) -> Self {
        Self {
            mount: mount.into(),
            clips: Vec::new(),
            codec: SimCodec::H264,
            program: Some(program),
        }
    }
}

/// Server-wide options.
#[derive(Clone, Debug, Default)]
pub struct SimOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// (user, password) every client must present.
    pub credentials: Option<(String, String)>,
    /// How the server asks for them (RFC 2617). Default Digest.
    pub auth: SimAuth,
}

/// The HTTP authentication scheme a simulated camera asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SimAuth {
    Basic,
    #[default]
    Digest,
}

/// A running RTSP server with simulated cameras. Stops (and disconnects its clients) on drop.
pub struct SimServer {
    port: u16,
    server: rtsp::RTSPServer,
    main_loop: glib::MainLoop,
    context: glib::MainContext,
    source: Option<glib::SourceId>,
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    stalled: HashMap<String, Arc<AtomicBool>>,
    connections: Arc<std::sync::Mutex<Vec<std::time::Instant>>>,
}

fn sim_err(message: impl std::fmt::Display) -> IngestError {
    IngestError::GstInit(format!("simulated camera server: {message}"))
}

impl SimServer {
    /// Starts serving `cameras` on 127.0.0.1, on `port` (0 picks a free one), without auth.
    pub fn start(cameras: &[SimCamera], port: u16) -> Result<Self, IngestError> {
        Self::start_with(
            cameras,
            SimOptions {
                port,
                ..SimOptions::default()
            },
        )
    }

    /// Starts serving `cameras` with `options`.
    pub fn start_with(cameras: &[SimCamera], options: SimOptions) -> Result<Self, IngestError> {
        init_gstreamer()?;
        quiet_gio_criticals();
        let port = options.port;
        let server = rtsp::RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service(&port.to_string());
        if let Some((user, pass)) = &options.credentials {
            let auth = rtsp::RTSPAuth::new();
            let token = rtsp::RTSPToken::builder()
                .field("media.factory.role", "user")
                .build();
            auth.add_basic(rtsp::RTSPAuth::make_basic(user, pass).as_str(), &token);
            auth.add_digest(user, pass, &token);
            // The binding takes one method, not a set: the server asks for that one.
            auth.set_supported_methods(match options.auth {
                SimAuth::Basic => rtsp::gst_rtsp::RTSPAuthMethod::Basic,
                SimAuth::Digest => rtsp::gst_rtsp::RTSPAuthMethod::Digest,
            });
            server.set_auth(Some(&auth));
        }
        let connections = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = connections.clone();
        server.connect_client_connected(move |_, _| {
            seen.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(std::time::Instant::now());
        });
        let mounts = server
            .mount_points()
            .ok_or_else(|| sim_err("no mount points"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut stalled = HashMap::new();
        for cam in cameras {
            let factory = rtsp::RTSPMediaFactory::new();
            factory.set_shared(true);
            if options.credentials.is_some() {
                factory.add_role_from_structure(
                    &gst::Structure::builder("user")
                        .field("media.factory.access", true)
                        .field("media.factory.construct", true)
                        .build(),
                );
            }
            let encode = cam.codec.encode();
            let flag = Arc::new(AtomicBool::new(false));
            stalled.insert(cam.mount.clone(), flag.clone());
            if let Some(program) = &cam.program {
                factory.set_launch(
                    "( appsrc name=src is-live=true do-timestamp=true format=time \
                     ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )",
                );
                let (program, stop, mount) = (program.clone(), stop.clone(), cam.mount.clone());
                factory.connect_media_configure(move |_, media| {
                    let Some(src) = media_appsrc(media) else {
                        return;
                    };
                    src.set_caps(Some(&program.caps()));
                    let (program, stop, flag, mount) =
                        (program.clone(), stop.clone(), flag.clone(), mount.clone());
                    std::thread::spawn(move || program.feed(&mount, &src, &stop, &flag));
                });
                mounts.add_factory(&format!("/{}", cam.mount), factory);
                continue;
            }
            if cam.codec == SimCodec::Undecodable {
                factory.set_launch(
                    "( appsrc name=src is-live=true do-timestamp=true format=time \
                     caps=video/x-h264,stream-format=byte-stream,alignment=au \
                     ! rtph264pay name=pay0 pt=96 )",
                );
                let stop = stop.clone();
                factory.connect_media_configure(move |_, media| {
                    let Some(src) = media_appsrc(media) else {
                        return;
                    };
                    let stop = stop.clone();
                    std::thread::spawn(move || feed_garbage(&src, &stop));
                });
                mounts.add_factory(&format!("/{}", cam.mount), factory);
                continue;
            }
            match cam.clips.is_empty() {
                false => {
                    factory.set_launch(&format!(
                        "( appsrc name=src is-live=true do-timestamp=true format=time ! videoconvert ! {encode} )"
                    ));
                    let clips = cam.clips.clone();
                    let stop = stop.clone();
                    factory.connect_media_configure(move |_, media| {
                        let Some(src) = media_appsrc(media) else {
                            return;
                        };
                        let (clips, stop, flag) = (clips.clone(), stop.clone(), flag.clone());
                        std::thread::spawn(move || feed_clips(&clips, &src, &stop, &flag));
                    });
                }
                true => {
                    factory.set_launch(&format!(
                        "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=10/1 \
                         ! identity name=gate ! videoconvert ! {encode} )"
                    ));
                    let flag = flag.clone();
                    factory.connect_media_configure(move |_, media| {
                        let gate = media
                            .element()
                            .downcast::<gst::Bin>()
                            .ok()
                            .and_then(|b| b.by_name("gate"));
                        if let Some(pad) = gate.and_then(|g| g.static_pad("src")) {
                            let flag = flag.clone();
                            pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                                if flag.load(Ordering::Relaxed) {
                                    gst::PadProbeReturn::Drop
                                } else {
                                    gst::PadProbeReturn::Ok
                                }
                            });
                        }
                    });
                }
            }
            mounts.add_factory(&format!("/{}", cam.mount), factory);
        }
        let ctx = glib::MainContext::new();
        let source = server
            .attach(Some(&ctx))
            .map_err(|e| sim_err(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
        let bound = server.bound_port();
        let main_loop = glib::MainLoop::new(Some(&ctx), false);
        let ml = main_loop.clone();
        let context = ctx.clone();
        let thread = std::thread::Builder::new()
            .name("sim-rtsp".into())
            .spawn(move || {
                let _ = ctx.with_thread_default(|| ml.run());
            })
            .map_err(sim_err)?;
        tracing::info!(
            port = bound,
            cameras = cameras.len(),
            "simulated camera server listening"
        );
        Ok(Self {
            port: bound as u16,
            server,
            main_loop,
            context,
            source: Some(source),
            thread: Some(thread),
            stop,
            stalled,
            connections,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// When each client connection (a TCP connection to the RTSP port) was accepted, in order:
    /// how often cameras knock.
    pub fn connections(&self) -> Vec<std::time::Instant> {
        self.connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The URL of a mount, e.g. `rtsp://127.0.0.1:8554/cam-1`.
    pub fn url(&self, mount: &str) -> String {
        format!("rtsp://127.0.0.1:{}/{mount}", self.port)
    }

    /// Makes a mount stop sending frames (true) while keeping its connections open, or resume.
    pub fn set_stalled(&self, mount: &str, stalled: bool) {
        if let Some(f) = self.stalled.get(mount) {
            f.store(stalled, Ordering::Relaxed);
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // The listening source lives on our own context; SourceId::remove would look in the
        // default one.
        if let Some(s) = self
            .source
            .take()
            .and_then(|id| self.context.find_source_by_id(&id))
        {
            s.destroy();
        }
        self.server
            .client_filter(Some(&mut |_, _| rtsp::RTSPFilterResult::Remove));
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// gst-rtsp-server 1.22 sometimes dispatches a client connection's watch after its stream
/// was closed (a client that went away mid-handshake), and GLib then prints
/// "g_pollable_input_stream_read_nonblocking: assertion failed" in a loop: millions of lines
/// in a test log once. Harmless for the simulated cameras; counted and logged sparsely here.
fn quiet_gio_criticals() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let seen = std::sync::atomic::AtomicU64::new(0);
        glib::log_set_handler(
            Some("GLib-GIO"),
            glib::LogLevels::LEVEL_CRITICAL,
            false,
            false,
            move |domain, _level, message| {
                let n = seen.fetch_add(1, Ordering::Relaxed);
                if n < 3 || n.is_power_of_two() {
                    tracing::warn!(
                        domain = domain.unwrap_or(""),
                        times = n + 1,
                        "simulated camera server: {message}"
                    );
                }
            },
        );
    });
}

/// The appsrc named `src` of a simulated camera's media (logged when missing).
fn media_appsrc(media: &rtsp::RTSPMedia) -> Option<gst_app::AppSrc> {
    let src = media
        .element()
        .downcast::<gst::Bin>()
        .ok()
        .and_then(|b| b.by_name("src"))
        .and_then(|e| e.downcast::<gst_app::AppSrc>().ok());
    if src.is_none() {
        tracing::error!("simulated camera media has no appsrc");
    }
    src
}

/// Pushes an undecodable H.264 access unit (see [`SimCodec::Undecodable`]) into `src` every
/// 100 ms until the media goes away or the server stops.
fn feed_garbage(src: &gst_app::AppSrc, stop: &AtomicBool) {
    let mut x: u32 = 0x2545_f491;
    while !stop.load(Ordering::Relaxed) {
        // Annex B start code, a non-IDR slice header byte (nal_ref_idc 2, type 1), then bytes
        // that are never 0, so no start code (and no other NAL type) hides in them.
        let mut au = vec![0, 0, 0, 1, 0x41];
        au.extend((0..1500).map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x % 255) as u8 + 1
        }));
        if src.push_buffer(gst::Buffer::from_mut_slice(au)).is_err() {
            return; // media torn down
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Decodes the clips in turn in real time and pushes raw frames into `src` (timestamped on
/// arrival by the appsrc), starting over after the last, until the media goes away or the server
/// stops. A clip of another size changes the caps, and so the encoded stream's resolution.
fn feed_clips(clips: &[PathBuf], src: &gst_app::AppSrc, stop: &AtomicBool, stalled: &AtomicBool) {
    let mut caps: Option<gst::Caps> = None;
    while !stop.load(Ordering::Relaxed) {
        let mut played_any = false;
        for clip in clips {
            match feed_clip(clip, src, stop, stalled, &mut caps) {
                Fed::Ended => played_any = true,
                Fed::Unplayable => {}
                Fed::Done => return,
            }
        }
        if !played_any {
            tracing::error!(
                clips = clips.len(),
                "no playable clip; simulated camera stops"
            );
            return;
        }
    }
}

enum Fed {
    /// The clip played to its end.
    Ended,
    /// The clip could not be played (logged).
    Unplayable,
    /// The media or the server is gone.
    Done,
}

fn feed_clip(
    clip: &std::path::Path,
    src: &gst_app::AppSrc,
    stop: &AtomicBool,
    stalled: &AtomicBool,
    caps: &mut Option<gst::Caps>,
) -> Fed {
    let launch = format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=I420 ! appsink name=sink sync=true max-buffers=2",
        clip.display()
    );
    let reader = match gst::parse::launch(&launch).map(|e| e.downcast::<gst::Pipeline>()) {
        Ok(Ok(p)) => p,
        _ => {
            tracing::error!(clip = %clip.display(), "cannot build the clip reader");
            return Fed::Unplayable;
        }
    };
    let Some(sink) = reader
        .by_name("sink")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
    else {
        return Fed::Unplayable;
    };
    if reader.set_state(gst::State::Playing).is_err() {
        tracing::error!(clip = %clip.display(), "cannot play the clip");
        return Fed::Unplayable;
    }
    let mut played = false;
    let outcome = loop {
        if stop.load(Ordering::Relaxed) {
            break Fed::Done;
        }
        match sink.try_pull_sample(gst::ClockTime::from_mseconds(200)) {
            Some(sample) => {
                played = true;
                if stalled.load(Ordering::Relaxed) {
                    continue;
                }
                if let Some(c) = sample.caps()
                    && caps.as_ref().is_none_or(|old| old.as_ref() != c)
                {
                    src.set_caps(Some(&c.to_owned()));
                    *caps = Some(c.to_owned());
                }
                let Some(buf) = sample.buffer_owned() else {
                    continue;
                };
                if src.push_buffer(untimed(&buf)).is_err() {
                    break Fed::Done; // media torn down: this feeder's job is over
                }
            }
            None if sink.is_eos() => break if played { Fed::Ended } else { Fed::Unplayable },
            None => {}
        }
    };
    let _ = reader.set_state(gst::State::Null);
    outcome
}
