//! Tamper programs for simulated cameras (I/O: GStreamer decode, filters and encode): a clip
//! that plays normally, is tampered with for a while (covered, blurred, shifted, frozen), then
//! plays normally again; and the negatives a tamper detector must not flag (brightness steps,
//! a switch to greyscale as IR cameras make at night). Each program is encoded once into an
//! [`EncodedClip`] and served with [`Activity::Loop`](crate::Activity::Loop).
//!
//! Every effect is a GStreamer element on the decoded clip: `videobalance` (black, brightness,
//! greyscale), `gaussianblur` (gst-plugins-bad's gaudieffects: out of focus), `videobox` (the
//! view shifted: the camera turned); a frozen picture is the segment's first frame repeated
//! (what a hung encoder, or a still image fed in the camera's place, sends).

use std::path::Path;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;

use sharpeyes_ingest::{IngestError, init_gstreamer};

use crate::program::{EncodedClip, Encoder, raw_caps, with_sink};

/// What a stretch of a tamper program does to the picture.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Effect {
    Normal,
    /// Black: the lens covered.
    Black,
    /// Gaussian blur of this sigma (pixels of the encoded size): out of focus.
    Blur(f64),
    /// The view moved by this fraction of the width and height (right and down, black fill).
    Shift(f64, f64),
    /// The stretch's first picture, repeated.
    Freeze,
    /// `videobalance brightness` (-1..1): lighting changes.
    Brightness(f64),
    /// `videobalance saturation=0`: a day/night switch to greyscale.
    Greyscale,
}

impl Effect {
    /// The GStreamer elements that make it (empty: none).
    fn filter(self, width: u32, height: u32) -> String {
        match self {
            Effect::Normal | Effect::Freeze => String::new(),
            Effect::Black => "videobalance brightness=-1 contrast=0 ! ".into(),
            Effect::Blur(sigma) => {
                format!("videoconvert ! gaussianblur sigma={sigma} ! videoconvert ! ")
            }
            Effect::Shift(fx, fy) => {
                let (dx, dy) = (
                    (width as f64 * fx).round() as i32,
                    (height as f64 * fy).round() as i32,
                );
                format!(
                    "videobox left={} right={dx} top={} bottom={dy} ! ",
                    -dx, -dy
                )
            }
            Effect::Brightness(b) => format!("videobalance brightness={b} ! "),
            Effect::Greyscale => "videobalance saturation=0 ! ".into(),
        }
    }
}

/// A program: stretches of (effect, seconds), played in order (and looped by the camera).
pub type Timeline = Vec<(Effect, f64)>;

/// Normal for `before` s, `effect` for `during` s, normal for `after` s.
pub fn tampered(effect: Effect, before: f64, during: f64, after: f64) -> Timeline {
    vec![
        (Effect::Normal, before),
        (effect, during),
        (Effect::Normal, after),
    ]
}

fn err(clip: &Path, message: impl std::fmt::Display) -> IngestError {
    IngestError::GstInit(format!("tamper program of {}: {message}", clip.display()))
}

/// Encodes `timeline` over `clip` (which must be at least as long): `width x height` at `fps`,
/// x264 as [`EncodedClip::encode`] does (GOP of 2 s). Each stretch decodes the clip through its
/// effect from the stretch's start, so the scene goes on under the effect.
pub fn encode(
    clip: &Path,
    width: u32,
    height: u32,
    fps: u32,
    timeline: &[(Effect, f64)],
) -> Result<EncodedClip, IngestError> {
    init_gstreamer()?;
    let gop = (2 * fps).max(1);
    let raw_caps = raw_caps(width, height, fps);
    let mut encoder = Encoder::start(&raw_caps, gop, fps).map_err(|e| err(clip, e))?;
    let mut result = Ok(());
    for (effect, seconds) in timeline {
        let frames = (seconds * fps as f64).round() as u64;
        let (reader, raw_sink) = with_sink(&format!(
            "filesrc location=\"{}\" ! decodebin ! videoconvert ! videoscale add-borders=true \
             ! videorate ! {raw_caps} ! {}videoconvert ! {raw_caps} ! appsink name=sink sync=false max-buffers=8",
            clip.display(),
            effect.filter(width, height)
        ))
        .map_err(|e| err(clip, e))?;
        reader
            .set_state(gst::State::Playing)
            .map_err(|e| err(clip, e))?;
        // The stretch starts where the clip is by now.
        let mut skipped = 0;
        while skipped < encoder.pushed() {
            if raw_sink.pull_sample().is_err() {
                break;
            }
            skipped += 1;
        }
        let mut held: Option<gst::Buffer> = None;
        for _ in 0..frames {
            let buf = match (&held, *effect) {
                (Some(b), Effect::Freeze) => b.clone(),
                _ => match raw_sink.pull_sample().ok().and_then(|s| s.buffer_owned()) {
                    Some(b) => b,
                    None => {
                        result = Err(err(clip, "clip shorter than the program"));
                        break;
                    }
                },
            };
            held.get_or_insert_with(|| buf.clone());
            if let Err(e) = encoder.push(&buf) {
                result = Err(err(clip, e));
                break;
            }
        }
        let _ = reader.set_state(gst::State::Null);
        if result.is_err() {
            break;
        }
    }
    let gops = encoder.finish();
    result?;
    let background = gops
        .first()
        .cloned()
        .ok_or_else(|| err(clip, "nothing encoded"))?;
    Ok(EncodedClip {
        width,
        height,
        fps,
        gop,
        background,
        gops,
    })
}

/// The length of a timeline.
pub fn length(timeline: &[(Effect, f64)]) -> Duration {
    Duration::from_secs_f64(timeline.iter().map(|(_, s)| s).sum())
}

/// The GStreamer elements the programs need that are not installed (empty: all are).
pub fn missing_elements() -> Vec<&'static str> {
    if init_gstreamer().is_err() {
        return vec!["gstreamer"];
    }
    ["gaussianblur", "videobalance", "videobox", "x264enc"]
        .into_iter()
        .filter(|e| gst::ElementFactory::find(e).is_none())
        .collect()
}
