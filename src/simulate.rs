//! `sharpeyes simulate`: N RTSP cameras on loopback (gst-rtsp-server), each playing a clip
//! encoded once, under an activity profile (I/O: GStreamer, sockets, threads).
//!
//! Used by `sharpeyes bench` (as a child process, so its CPU is not counted as the pipeline's)
//! and for demos at scale. Mounts are `cam-001` ... ; stdout gets one JSON line when the server
//! is ready (`{"ready":true,"port":P,"cameras":N,...}`) and one per activity change
//! (`{"t_ms":...,"camera":"cam-007","active":true}`), so a harness can tell when people
//! appeared.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sharpeyes_core::{Clock, SystemClock};
use sharpeyes_sim::{Activity, ActivityChange, EncodedClip, SimCamera, SimProgram, SimServer};

/// The clip the simulator plays when none is given: people walk into an empty room one by one
/// (its first 6 s are empty, so its first frame is a clean empty scene).
pub const DEFAULT_CLIP: &str = "people_walking_indoor_intel.mp4";

/// Where the default clip is looked for: `$SHARPEYES_CLIPS`, else the test assets' videos.
pub fn default_clip() -> PathBuf {
    std::env::var_os("SHARPEYES_CLIPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| "../shared/assets/videos".into())
        .join(DEFAULT_CLIP)
}

#[derive(Clone, Debug)]
pub struct SimulateOptions {
    pub cameras: usize,
    /// Camera i plays clip i mod len. Empty: [`default_clip`].
    pub clips: Vec<PathBuf>,
    /// 0: any free port.
    pub port: u16,
    pub activity: Activity,
    pub fps: u32,
    pub width: u32,
    pub height: u32,
    /// Seeds every camera's schedule (camera i gets seed + i).
    pub seed: u64,
    /// Encode at most this much of each clip.
    pub max_clip_s: f64,
}

impl Default for SimulateOptions {
    fn default() -> Self {
        Self {
            cameras: 4,
            clips: Vec::new(),
            port: 8554,
            activity: Activity::VILLAGE,
            fps: 15,
            width: 640,
            height: 360,
            seed: 1,
            max_clip_s: 120.0,
        }
    }
}

/// The mount of camera `i` (0-based): `cam-001`, ...
pub fn mount(i: usize) -> String {
    format!("cam-{:03}", i + 1)
}

/// Encodes the clips (once each) and starts the server; `on_activity` hears every camera's
/// activity changes.
pub fn start(
    options: &SimulateOptions,
    on_activity: Option<sharpeyes_sim::ActivityObserver>,
) -> anyhow::Result<SimServer> {
    anyhow::ensure!(options.cameras >= 1, "--cameras must be at least 1");
    anyhow::ensure!(
        (1..=60).contains(&options.fps),
        "--fps must be between 1 and 60, got {}",
        options.fps
    );
    let clips = if options.clips.is_empty() {
        vec![default_clip()]
    } else {
        options.clips.clone()
    };
    let mut encoded = Vec::new();
    for clip in &clips {
        anyhow::ensure!(
            clip.is_file(),
            "clip {} not found (give --clip FILE, or set SHARPEYES_CLIPS to the folder holding {DEFAULT_CLIP})",
            clip.display()
        );
        let started = Instant::now();
        let e = EncodedClip::encode(
            clip,
            options.width,
            options.height,
            options.fps,
            options.max_clip_s,
        )
        .with_context(|| format!("--clip {}", clip.display()))?;
        tracing::info!(clip = %clip.display(), seconds = e.duration().as_secs_f64(), encode_ms = started.elapsed().as_millis() as u64, "clip encoded for simulation");
        encoded.push(Arc::new(e));
    }
    let cameras: Vec<SimCamera> = (0..options.cameras)
        .map(|i| {
            SimCamera::program(
                &mount(i),
                SimProgram {
                    clip: encoded[i % encoded.len()].clone(),
                    activity: options.activity,
                    seed: options.seed.wrapping_add(i as u64),
                    on_activity: on_activity.clone(),
                },
            )
        })
        .collect();
    Ok(SimServer::start(&cameras, options.port)?)
}

/// The command: serves until `stop` (Ctrl-C) or `duration`, printing the ready line and the
/// activity changes as JSON lines on stdout.
pub fn run(
    options: &SimulateOptions,
    duration: Option<Duration>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let o = out.clone();
    let observer: sharpeyes_sim::ActivityObserver = Arc::new(move |c: &ActivityChange| {
        let line = serde_json::json!({
            "t_ms": SystemClock.now().0,
            "camera": c.mount,
            "active": c.active,
        });
        let mut o = o.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(o, "{line}");
        let _ = o.flush();
    });
    let server = start(options, Some(observer))?;
    {
        let ready = serde_json::json!({
            "ready": true,
            "port": server.port(),
            "cameras": options.cameras,
            "activity": options.activity.name(),
            "fps": options.fps,
            "width": options.width,
            "height": options.height,
            "first": server.url(&mount(0)),
        });
        let mut o = out.lock().unwrap_or_else(|p| p.into_inner());
        writeln!(o, "{ready}")?;
        o.flush()?;
    }
    eprintln!(
        "simulate: {} cameras at rtsp://127.0.0.1:{}/cam-001 ... /{} ({}x{} H.264 {} fps, activity {}); Ctrl-C stops",
        options.cameras,
        server.port(),
        mount(options.cameras - 1),
        options.width,
        options.height,
        options.fps,
        options.activity.name()
    );
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) && duration.is_none_or(|d| started.elapsed() < d) {
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(server);
    Ok(())
}

/// `WxH` → (w, h).
pub fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once('x')
        .ok_or_else(|| format!("{s:?}: expected WIDTHxHEIGHT, e.g. 640x360"))?;
    let parse = |v: &str| {
        v.parse::<u32>()
            .ok()
            .filter(|n| (16..=7680).contains(n) && n % 2 == 0)
            .ok_or_else(|| format!("{s:?}: {v:?} is not an even size between 16 and 7680"))
    };
    Ok((parse(w)?, parse(h)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_or_say_what_is_wrong() {
        assert_eq!(parse_size("640x360"), Ok((640, 360)));
        assert!(parse_size("640").unwrap_err().contains("WIDTHxHEIGHT"));
        assert!(parse_size("641x360").unwrap_err().contains("\"641\""));
    }

    #[test]
    fn mounts_are_numbered_from_one() {
        assert_eq!(mount(0), "cam-001");
        assert_eq!(mount(99), "cam-100");
    }
}
