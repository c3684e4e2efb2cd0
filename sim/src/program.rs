//! What a simulated camera shows over time, for benchmarks and demos at scale: a clip encoded
//! once to H.264 (shared by every camera, so a hundred cameras cost a hundred packetisers, not a
//! hundred encoders) and an activity profile that decides, per camera, when the scene is empty
//! and when people walk through it.
//!
//! The schedule is pure logic ([`Schedule`]); encoding is I/O (GStreamer).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use sharpeyes_ingest::IngestError;
use sharpeyes_ingest::init_gstreamer;

/// A clip encoded once: `background` is its first frame held still for one GOP (an empty scene
/// when the clip starts empty), `gops` the clip itself, each GOP starting with an IDR frame.
/// Same encoder run for both, so the stream parameters never change at a switch.
#[derive(Debug)]
pub struct EncodedClip {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Frames per GOP (keyframe interval).
    pub gop: u32,
    pub background: Vec<gst::Buffer>,
    pub gops: Vec<Vec<gst::Buffer>>,
}

fn enc_err(clip: &Path, message: impl std::fmt::Display) -> IngestError {
    IngestError::GstInit(format!(
        "encoding {} for simulation: {message}",
        clip.display()
    ))
}

impl EncodedClip {
    /// Decodes `clip`, scales it to `width x height` (letterboxed) at `fps`, and encodes it
    /// (x264, constrained baseline, GOP of `2 * fps` frames, ~1 Mbit/s as a village camera's
    /// substream), preceded by one GOP of its first frame. At most `max_seconds` of the clip.
    pub fn encode(
        clip: &Path,
        width: u32,
        height: u32,
        fps: u32,
        max_seconds: f64,
    ) -> Result<Self, IngestError> {
        init_gstreamer()?;
        let gop = (2 * fps).max(1);
        let raw_caps = raw_caps(width, height, fps);
        let (reader, raw_sink) = with_sink(&format!(
            "filesrc location=\"{}\" ! decodebin ! videoconvert ! videoscale add-borders=true ! videorate ! {raw_caps} ! appsink name=sink sync=false max-buffers=8",
            clip.display()
        ))
        .map_err(|e| enc_err(clip, e))?;
        let mut encoder = Encoder::start(&raw_caps, gop, fps).map_err(|e| enc_err(clip, e))?;
        reader
            .set_state(gst::State::Playing)
            .map_err(|e| enc_err(clip, e))?;

        let max_frames = (max_seconds * fps as f64).ceil() as u64;
        let mut push = |buf: &gst::Buffer| encoder.push(buf).map_err(|e| enc_err(clip, e));
        let mut frames = 0u64;
        let mut failure = None;
        while frames < max_frames {
            let Ok(sample) = raw_sink.pull_sample() else {
                break; // end of the clip
            };
            let Some(buf) = sample.buffer_owned() else {
                continue;
            };
            if frames == 0 {
                for _ in 0..gop {
                    if let Err(e) = push(&buf) {
                        failure = Some(e);
                    }
                }
            }
            if let Err(e) = push(&buf) {
                failure = Some(e);
                break;
            }
            frames += 1;
        }
        let mut gops = encoder.finish();
        let _ = reader.set_state(gst::State::Null);
        if let Some(e) = failure {
            return Err(e);
        }
        if let Some(bus) = reader.bus()
            && let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error])
            && let gst::MessageView::Error(err) = msg.view()
        {
            return Err(enc_err(clip, err.error()));
        }
        if frames == 0 {
            return Err(enc_err(clip, "no frame decoded"));
        }
        if gops.len() < 2 {
            return Err(enc_err(
                clip,
                "clip too short: under one GOP after the background",
            ));
        }
        let background = gops.remove(0);
        Ok(Self {
            width,
            height,
            fps,
            gop,
            background,
            gops,
        })
    }

    /// Length of the clip part (without the background GOP).
    pub fn duration(&self) -> Duration {
        let frames: usize = self.gops.iter().map(Vec::len).sum();
        Duration::from_secs_f64(frames as f64 / self.fps as f64)
    }
}

/// The pipeline of `description` (`gst-launch` syntax) and its appsink named `sink`.
pub(crate) fn with_sink(description: &str) -> Result<(gst::Pipeline, gst_app::AppSink), String> {
    let pipeline = gst::parse::launch(description)
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_owned())?;
    let sink = pipeline
        .by_name("sink")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or("no appsink")?;
    Ok((pipeline, sink))
}

/// The raw frames an [`Encoder`] takes: I420, `width x height` at `fps`, square pixels.
pub(crate) fn raw_caps(width: u32, height: u32, fps: u32) -> String {
    format!(
        "video/x-raw,format=I420,width={width},height={height},framerate={fps}/1,pixel-aspect-ratio=1/1"
    )
}

/// The simulation's x264 encoder (appsrc → x264enc → appsink: constrained baseline, a keyframe
/// every `gop` frames and no scene-cut ones, ~1 Mbit/s as a village camera's substream), fed
/// frame by frame and timed at `fps`. The one encoder of [`EncodedClip::encode`] and
/// [`crate::tamper::encode`]. Errors are messages, for the caller to name the clip.
pub(crate) struct Encoder {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    collector: std::thread::JoinHandle<Vec<gst::Buffer>>,
    frame_ns: u64,
    /// Frames pushed so far.
    n: u64,
}

impl Encoder {
    /// Starts encoding frames of `raw_caps` (see [`raw_caps`]).
    pub(crate) fn start(raw_caps: &str, gop: u32, fps: u32) -> Result<Self, String> {
        let (pipeline, sink) = with_sink(&format!(
            "appsrc name=src format=time caps=\"{raw_caps}\" ! x264enc tune=zerolatency speed-preset=ultrafast \
             key-int-max={gop} option-string=scenecut=0 bitrate=1000 \
             ! video/x-h264,stream-format=byte-stream,alignment=au,profile=constrained-baseline \
             ! appsink name=sink sync=false"
        ))?;
        let src = pipeline
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or("no appsrc")?;
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| e.to_string())?;
        // The encoder runs on its own thread; collect its output there.
        let collector = std::thread::spawn(move || {
            let mut out = Vec::new();
            while let Ok(s) = sink.pull_sample() {
                if let Some(b) = s.buffer_owned() {
                    out.push(b);
                }
            }
            out
        });
        Ok(Self {
            pipeline,
            src,
            collector,
            frame_ns: 1_000_000_000 / fps as u64,
            n: 0,
        })
    }

    /// Frames pushed so far.
    pub(crate) fn pushed(&self) -> u64 {
        self.n
    }

    /// Encodes `buf` as the next frame (a copy, timed at the frame rate).
    pub(crate) fn push(&mut self, buf: &gst::Buffer) -> Result<(), String> {
        let mut b = buf.copy();
        {
            let b = b.make_mut();
            b.set_pts(gst::ClockTime::from_nseconds(self.n * self.frame_ns));
            b.set_duration(gst::ClockTime::from_nseconds(self.frame_ns));
        }
        self.n += 1;
        self.src
            .push_buffer(b)
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    }

    /// Ends the stream and stops the encoder: what it made, cut into GOPs (each from a
    /// keyframe; a first one without is kept as it came).
    pub(crate) fn finish(self) -> Vec<Vec<gst::Buffer>> {
        let _ = self.src.end_of_stream();
        let encoded = self.collector.join().unwrap_or_default();
        let _ = self.pipeline.set_state(gst::State::Null);
        let mut gops: Vec<Vec<gst::Buffer>> = Vec::new();
        for b in encoded {
            let key = !b.flags().contains(gst::BufferFlags::DELTA_UNIT);
            match gops.last_mut() {
                Some(g) if !key => g.push(b),
                _ => gops.push(vec![b]),
            }
        }
        gops
    }
}

/// When people show up on a simulated camera.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activity {
    /// The clip over and over: always busy (a saturated camera).
    Loop,
    /// The empty scene only, for ever: a village camera at night (what an idle camera costs).
    Idle,
    /// A village monitoring point: the empty scene (the clip's first frame) most of the time;
    /// at random moments (exponential gaps, mean `idle_mean`) the clip plays from its start
    /// for `active` (people walk in, and out again), then the scene is empty again. Each
    /// camera's first activity comes at a uniform random time within `idle_mean`.
    Village {
        idle_mean: Duration,
        active: Duration,
    },
}

impl Activity {
    /// The `village` profile: idle for a minute on average, 20 s of activity.
    pub const VILLAGE: Activity = Activity::Village {
        idle_mean: Duration::from_secs(60),
        active: Duration::from_secs(20),
    };

    /// `loop` or `village`.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "loop" => Ok(Activity::Loop),
            "village" => Ok(Activity::VILLAGE),
            "idle" => Ok(Activity::Idle),
            other => Err(format!(
                "unknown activity profile {other:?}: expected \"village\", \"idle\" or \"loop\""
            )),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Activity::Loop => "loop",
            Activity::Idle => "idle",
            Activity::Village { .. } => "village",
        }
    }
}

/// One stretch of a camera's program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment {
    /// The background GOP, this many times.
    Idle { gops: u32 },
    /// The clip's GOPs from the first, this many (wrapping round for a loop).
    Active { gops: u32 },
}

/// The endless program of one camera under an activity profile (pure: a seeded generator).
#[derive(Clone, Debug)]
pub struct Schedule {
    activity: Activity,
    /// Seconds per GOP.
    gop_s: f64,
    /// GOPs in the clip.
    clip_gops: u32,
    rng: u64,
    started: bool,
    next_idle: bool,
}

impl Schedule {
    pub fn new(activity: Activity, gop_s: f64, clip_gops: u32, seed: u64) -> Self {
        Self {
            activity,
            gop_s,
            clip_gops: clip_gops.max(1),
            rng: seed ^ 0x9E37_79B9_7F4A_7C15,
            started: false,
            next_idle: true,
        }
    }

    /// splitmix64 → [0, 1).
    fn uniform(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    fn gops_for(&self, seconds: f64) -> u32 {
        (seconds / self.gop_s).round().max(1.0) as u32
    }

    /// The next segment.
    pub fn next_segment(&mut self) -> Segment {
        match self.activity {
            Activity::Loop => Segment::Active {
                gops: self.clip_gops,
            },
            Activity::Idle => Segment::Idle { gops: 1_000 },
            Activity::Village { idle_mean, active } => {
                let mean = idle_mean.as_secs_f64();
                let seg = if self.next_idle {
                    let idle = if self.started {
                        // Exponential gap, capped at 5 means so a run is never idle for ever.
                        (-(1.0 - self.uniform()).ln() * mean).min(5.0 * mean)
                    } else {
                        self.uniform() * mean
                    };
                    Segment::Idle {
                        gops: self.gops_for(idle),
                    }
                } else {
                    Segment::Active {
                        gops: self.gops_for(active.as_secs_f64()).min(self.clip_gops),
                    }
                };
                self.started = true;
                self.next_idle = !self.next_idle;
                seg
            }
        }
    }
}

/// What a simulated camera is doing, told to [`SimProgram::on_activity`] as it changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityChange {
    pub mount: String,
    /// True: the clip starts playing (people are about to walk in); false: the scene is empty.
    pub active: bool,
}

/// Told of each [`ActivityChange`], on the camera's feeder thread.
pub type ActivityObserver = Arc<dyn Fn(&ActivityChange) + Send + Sync>;

/// A camera that plays an [`EncodedClip`] under an [`Activity`] profile.
#[derive(Clone)]
pub struct SimProgram {
    pub clip: Arc<EncodedClip>,
    pub activity: Activity,
    /// Seeds the camera's schedule (give every camera its own).
    pub seed: u64,
    pub on_activity: Option<ActivityObserver>,
}

impl std::fmt::Debug for SimProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimProgram")
            .field("clip", &(self.clip.width, self.clip.height, self.clip.fps))
            .field("activity", &self.activity)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl SimProgram {
    /// The caps the camera's appsrc announces.
    pub(crate) fn caps(&self) -> gst::Caps {
        gst::Caps::builder("video/x-h264")
            .field("stream-format", "byte-stream")
            .field("alignment", "au")
            .field("width", self.clip.width as i32)
            .field("height", self.clip.height as i32)
            .field("framerate", gst::Fraction::new(self.clip.fps as i32, 1))
            .build()
    }

    /// Pushes the program's access units into `src` in real time (one every 1/fps s, on an
    /// absolute timeline so delays do not accumulate) until the media goes away or `stop`.
    pub(crate) fn feed(
        &self,
        mount: &str,
        src: &gst_app::AppSrc,
        stop: &std::sync::atomic::AtomicBool,
        stalled: &std::sync::atomic::AtomicBool,
    ) {
        use std::sync::atomic::Ordering;
        let clip = &self.clip;
        let gop_s = clip.gop as f64 / clip.fps as f64;
        let mut schedule = Schedule::new(self.activity, gop_s, clip.gops.len() as u32, self.seed);
        let period = Duration::from_secs_f64(1.0 / clip.fps as f64);
        let mut next = std::time::Instant::now();
        let mut clip_gop = 0usize;
        loop {
            let segment = schedule.next_segment();
            let (active, gops) = match segment {
                Segment::Idle { gops } => (false, gops),
                Segment::Active { gops } => (true, gops),
            };
            if let Some(o) = &self.on_activity
                && matches!(self.activity, Activity::Village { .. })
            {
                o(&ActivityChange {
                    mount: mount.to_owned(),
                    active,
                });
            }
            if active && matches!(self.activity, Activity::Village { .. }) {
                clip_gop = 0; // village activity plays the clip from its (empty) start
            }
            for _ in 0..gops {
                let gop = if active {
                    let g = &clip.gops[clip_gop % clip.gops.len()];
                    clip_gop += 1;
                    g
                } else {
                    &clip.background
                };
                for au in gop {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let now = std::time::Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    } else if now - next > Duration::from_secs(1) {
                        next = now; // far behind (machine overloaded): do not burst to catch up
                    }
                    next += period;
                    if stalled.load(Ordering::Relaxed) {
                        continue;
                    }
                    if src.push_buffer(untimed(au)).is_err() {
                        return; // media torn down
                    }
                }
            }
        }
    }
}

/// A copy of `buf` (sharing its memory) without timestamps, for an appsrc that stamps buffers
/// on arrival (`do-timestamp`).
pub(crate) fn untimed(buf: &gst::Buffer) -> gst::Buffer {
    let mut b = buf.copy();
    {
        let b = b.make_mut();
        b.set_pts(gst::ClockTime::NONE);
        b.set_dts(gst::ClockTime::NONE);
        b.set_duration(gst::ClockTime::NONE);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loop_plays_the_whole_clip_again_and_again() {
        let mut s = Schedule::new(Activity::Loop, 2.0, 7, 1);
        for _ in 0..3 {
            assert_eq!(s.next_segment(), Segment::Active { gops: 7 });
        }
    }

    #[test]
    fn village_alternates_idle_and_active_and_is_idle_most_of_the_time() {
        let mut s = Schedule::new(Activity::VILLAGE, 2.0, 60, 42);
        let (mut idle, mut active) = (0u64, 0u64);
        for i in 0..2000 {
            match s.next_segment() {
                Segment::Idle { gops } => {
                    assert_eq!(i % 2, 0, "idle first, then alternating");
                    assert!(gops >= 1 && gops <= 150, "capped at 5 means: {gops}");
                    idle += gops as u64;
                }
                Segment::Active { gops } => {
                    assert_eq!(i % 2, 1);
                    assert_eq!(gops, 10, "20 s of 2 s GOPs");
                    active += gops as u64;
                }
            }
        }
        let share = active as f64 / (idle + active) as f64;
        // Mean idle 60 s, active 20 s: a quarter of the time.
        assert!((0.2..0.3).contains(&share), "active share {share}");
    }

    #[test]
    fn village_activity_is_capped_at_the_clip_length() {
        let mut s = Schedule::new(Activity::VILLAGE, 2.0, 4, 7);
        s.next_segment();
        assert_eq!(s.next_segment(), Segment::Active { gops: 4 });
    }

    #[test]
    fn cameras_with_other_seeds_start_their_activity_at_other_times() {
        let first_idle = |seed| match Schedule::new(Activity::VILLAGE, 2.0, 60, seed).next_segment()
        {
            Segment::Idle { gops } => gops,
            other => panic!("{other:?}"),
        };
        let starts: std::collections::BTreeSet<u32> = (0..20).map(first_idle).collect();
        assert!(starts.len() > 10, "{starts:?}");
        assert!(
            starts.iter().all(|g| *g <= 30),
            "first start within one mean"
        );
        assert_eq!(first_idle(3), first_idle(3), "same seed, same program");
    }

    #[test]
    fn idle_never_plays_the_clip() {
        let mut s = Schedule::new(Activity::Idle, 2.0, 10, 3);
        for _ in 0..5 {
            assert!(matches!(s.next_segment(), Segment::Idle { .. }));
        }
    }

    #[test]
    fn unknown_profile_names_the_choices() {
        let e = Activity::parse("busy").unwrap_err();
        assert!(
            e.contains("\"busy\"") && e.contains("village") && e.contains("loop"),
            "{e}"
        );
        assert_eq!(Activity::parse("village").unwrap(), Activity::VILLAGE);
    }
}
