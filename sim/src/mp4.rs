//! Test MP4 files made with GStreamer: what an event clip looks like (H.264 in MP4, the `moov`
//! box first), for the tests of the clips' way to the command center. Does file I/O.

use std::path::Path;

use gstreamer as gst;
use gstreamer::prelude::*;

/// Writes `path`: `seconds` of a `width`x`height` test pattern of noise (incompressible: the file comes out at about the bitrate) at `fps`, H.264 at about
/// `kbps` (constrained baseline, a keyframe a second, as browsers play it) in an MP4 with the
/// `moov` box first (`faststart`). Blocks until written (about a second for 15 s of 360p).
pub fn write_test_mp4(
    path: &Path,
    seconds: u32,
    (width, height): (u32, u32),
    fps: u32,
    kbps: u32,
) -> Result<(), String> {
    sharpeyes_ingest::init_gstreamer().map_err(|e| e.to_string())?;
    let launch = format!(
        "videotestsrc pattern=snow num-buffers={n} ! video/x-raw,width={width},height={height},framerate={fps}/1 \
         ! videoconvert ! video/x-raw,format=I420 \
         ! x264enc speed-preset=ultrafast key-int-max={fps} bitrate={kbps} \
         ! video/x-h264,profile=constrained-baseline ! h264parse \
         ! mp4mux faststart=true ! filesink location=\"{path}\"",
        n = seconds * fps,
        path = path.display(),
    );
    let pipeline = gst::parse::launch(&launch)
        .map_err(|e| format!("{launch}: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("cannot start the encoder: {e}"))?;
    let bus = pipeline.bus().ok_or("no bus")?;
    let mut outcome = Err("no end of stream within 60 s".to_string());
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Eos(_) => {
                outcome = Ok(());
                break;
            }
            gst::MessageView::Error(e) => {
                outcome = Err(format!("{}: {:?}", e.error(), e.debug()));
                break;
            }
            _ => {}
        }
    }
    let _ = pipeline.set_state(gst::State::Null);
    outcome
}
