//! Checks of a written clip by GStreamer's own tools, never by our parser, for the clip tests
//! (`ingest/tests/clips.rs`, `tests/clips.rs`): its duration as `gst-discoverer-1.0` reports
//! it, and its decoded pictures. Panics on what a test should fail on.

use std::path::Path;
use std::process::Command;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

/// The duration `gst-discoverer-1.0` reports, s; None (SKIP printed) without the tool.
pub fn discovered_duration(path: &Path) -> Option<f64> {
    let out = match Command::new("gst-discoverer-1.0").arg(path).output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("SKIP: gst-discoverer-1.0 not runnable ({e}); scripts/setup.sh installs it");
            return None;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Duration: "))
        .unwrap_or_else(|| panic!("no duration in the discoverer's output:\n{text}"));
    let parts: Vec<f64> = line.split(':').map(|p| p.parse().unwrap()).collect();
    Some(parts[0] * 3600.0 + parts[1] * 60.0 + parts[2])
}

/// Every decoded picture of an MP4 as (pts s, width, height, luma plane), by GStreamer. A
/// picture without a pts has -1.
pub fn decode_luma(path: &Path) -> Vec<(f64, u32, u32, Vec<u8>)> {
    gst::init().unwrap();
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! qtdemux ! decodebin ! videoconvert ! \
         video/x-raw,format=GRAY8 ! appsink name=sink sync=false",
        path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut out = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        let caps = sample.caps().unwrap().structure(0).unwrap();
        let w = caps.get::<i32>("width").unwrap() as u32;
        let h = caps.get::<i32>("height").unwrap() as u32;
        let buffer = sample.buffer().unwrap();
        let map = buffer.map_readable().unwrap();
        // GRAY8 is one plane, its rows padded to the stride: the plane is stride x height.
        let stride = map.len() / h as usize;
        let mut luma = Vec::with_capacity((w * h) as usize);
        for y in 0..h as usize {
            luma.extend_from_slice(&map[y * stride..y * stride + w as usize]);
        }
        let pts = buffer.pts().map_or(-1.0, |t| t.nseconds() as f64 / 1e9);
        out.push((pts, w, h, luma));
    }
    pipeline.set_state(gst::State::Null).unwrap();
    out
}
