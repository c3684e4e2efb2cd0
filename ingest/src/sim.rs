//! Simulated cameras (I/O: a real gst-rtsp-server on loopback, GStreamer pipelines, threads).
//!
//! Each mount loops a video clip at its own pace, re-encoded to H.264 (constrained baseline,
//! keyframe every 30 frames) the way a typical IP camera sends it; without a clip it serves a
//! moving test pattern. Used by `sharpeyes demo` and by the integration tests; a mount can be
//! told to stall (keep the connection, send nothing) to exercise stall detection.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;

use crate::decode::init_gstreamer;
use crate::error::IngestError;

/// One simulated camera: served at `rtsp://127.0.0.1:<port>/<mount>`.
#[derive(Clone, Debug)]
pub struct SimCamera {
    /// Path segment, e.g. "cam-1".
    pub mount: String,
    /// A clip to loop; `None` serves a test pattern.
    pub clip: Option<PathBuf>,
}

const ENCODE: &str = "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bitrate=2000 \
    ! video/x-h264,profile=constrained-baseline ! rtph264pay name=pay0 pt=96 config-interval=-1";

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
}

fn sim_err(message: impl std::fmt::Display) -> IngestError {
    IngestError::GstInit(format!("simulated camera server: {message}"))
}

impl SimServer {
    /// Starts serving `cameras` on 127.0.0.1, on `port` (0 picks a free one).
    pub fn start(cameras: &[SimCamera], port: u16) -> Result<Self, IngestError> {
        init_gstreamer()?;
        let server = rtsp::RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service(&port.to_string());
        let mounts = server
            .mount_points()
            .ok_or_else(|| sim_err("no mount points"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut stalled = HashMap::new();
        for cam in cameras {
            let factory = rtsp::RTSPMediaFactory::new();
            factory.set_shared(true);
            let flag = Arc::new(AtomicBool::new(false));
            stalled.insert(cam.mount.clone(), flag.clone());
            match &cam.clip {
                Some(clip) => {
                    factory.set_launch(&format!(
                        "( appsrc name=src is-live=true do-timestamp=true format=time ! videoconvert ! {ENCODE} )"
                    ));
                    let clip = clip.clone();
                    let stop = stop.clone();
                    factory.connect_media_configure(move |_, media| {
                        let Some(src) = media
                            .element()
                            .downcast::<gst::Bin>()
                            .ok()
                            .and_then(|b| b.by_name("src"))
                            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
                        else {
                            tracing::error!("simulated camera media has no appsrc");
                            return;
                        };
                        let (clip, stop, flag) = (clip.clone(), stop.clone(), flag.clone());
                        std::thread::spawn(move || feed_clip_loop(&clip, &src, &stop, &flag));
                    });
                }
                None => {
                    factory.set_launch(&format!(
                        "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=10/1 \
                         ! identity name=gate ! {ENCODE} )"
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
        })
    }

    pub fn port(&self) -> u16 {
        self.port
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

/// Decodes `clip` in real time and pushes raw frames into `src` (timestamped on arrival by the
/// appsrc), starting over at the end, until the media goes away or the server stops.
fn feed_clip_loop(
    clip: &std::path::Path,
    src: &gst_app::AppSrc,
    stop: &AtomicBool,
    stalled: &AtomicBool,
) {
    let launch = format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=I420 ! appsink name=sink sync=true max-buffers=2",
        clip.display()
    );
    let mut caps_set = false;
    while !stop.load(Ordering::Relaxed) {
        let Ok(reader) = gst::parse::launch(&launch).map(|e| e.downcast::<gst::Pipeline>()) else {
            tracing::error!(clip = %clip.display(), "cannot build the clip reader");
            return;
        };
        let Ok(reader) = reader else { return };
        let Some(sink) = reader
            .by_name("sink")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        else {
            return;
        };
        if reader.set_state(gst::State::Playing).is_err() {
            tracing::error!(clip = %clip.display(), "cannot play the clip");
            return;
        }
        let mut pushed_any = false;
        let done = loop {
            if stop.load(Ordering::Relaxed) {
                break true;
            }
            match sink.try_pull_sample(gst::ClockTime::from_mseconds(200)) {
                Some(sample) => {
                    pushed_any = true;
                    if stalled.load(Ordering::Relaxed) {
                        continue;
                    }
                    if !caps_set && let Some(c) = sample.caps() {
                        src.set_caps(Some(&c.to_owned()));
                        caps_set = true;
                    }
                    let Some(buf) = sample.buffer_owned() else {
                        continue;
                    };
                    let mut buf = buf.copy();
                    {
                        let b = buf.make_mut();
                        b.set_pts(gst::ClockTime::NONE);
                        b.set_dts(gst::ClockTime::NONE);
                        b.set_duration(gst::ClockTime::NONE);
                    }
                    if src.push_buffer(buf).is_err() {
                        break true; // media torn down: this feeder's job is over
                    }
                }
                None if sink.is_eos() => break false,
                None => {}
            }
        };
        let _ = reader.set_state(gst::State::Null);
        if done || !pushed_any {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
