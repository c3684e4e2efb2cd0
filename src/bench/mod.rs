//! `sharpeyes bench`: cameras per box at what latency, with baselines measured in the same run
//! (I/O: child processes, the pipeline, Kafka, files).
//!
//! The camera simulator (`sharpeyes simulate`) and the broker (tansu) run as child processes,
//! so the CPU and memory measured are the pipeline's own. Each trial starts N cameras in this
//! process, lets them warm up, then measures for a fixed window: decode and inference rates,
//! latency from a frame's capture (its access unit reaching the decoder) to the detections
//! being done (every analysed frame) and to the alert being acknowledged by Kafka (every alert),
//! CPU and RSS, dropped frames.

pub mod report;
pub mod system;

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::Serialize;
use sharpeyes_core::{CameraId, Clock as _, Event, SystemClock};

use crate::analyze::Analyzer;
use crate::config::PipelineConfig;
use crate::delivery::Delivery;
use crate::live::{CameraSpec, LivePipeline};
use crate::models::ModelStore;
use report::{MaxSearch, Mode, Percentiles, Ratio, Trial};

/// Where the model runs and which decoders are preferred.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Cpu,
    /// TensorRT, else CUDA, else CPU (the log and the results say which ran); NVDEC decoders
    /// are preferred automatically when GStreamer has them (see docs/gpu.md).
    Gpu,
}

#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// A fixed number of cameras (default 8 unless `find_max`).
    pub cameras: Option<usize>,
    pub find_max: bool,
    pub p99_ms: f64,
    pub profile: Profile,
    pub warmup: Duration,
    pub duration: Duration,
    /// Pipeline config; default: the embedded default without the pose stage.
    pub config: Option<PathBuf>,
    pub clip: Option<PathBuf>,
    /// Use this broker instead of starting tansu.
    pub kafka: Option<String>,
    /// Measure baselines (a)-(c) too.
    pub baselines: bool,
    pub out_dir: PathBuf,
    pub max_cameras: usize,
    pub seed: u64,
    /// Adaptive decode and motion gating quiet period in gated mode.
    pub quiet: Duration,
    /// The simulator's village profile.
    pub idle_mean: Duration,
    pub active: Duration,
    /// ONNX Runtime intra-op threads for the saturated single-camera comparisons (0: one per
    /// core, as the Python loop gets by default).
    pub saturated_threads: usize,
    pub saturated_duration: Duration,
    /// Cameras of the night run (every camera idle the whole time); 0: none.
    pub night_cameras: usize,
    /// Adaptive decode's peek interval in gated mode (zero: keyframes only).
    pub peek: Duration,
    /// `--soak`: one gated trial whose window lasts this long (no baselines, no night run),
    /// with RSS and open files read after warm-up, about every minute, and at the end.
    pub soak: Option<Duration>,
}

impl BenchOptions {
    /// The warm-up actually used: at least the quiet period plus 5 s. A camera's start counts
    /// as activity for one quiet period (a person may be in view already), so for that long
    /// every camera sends every due frame to detection; a window opening inside it measured the
    /// start-up rush (the detector saturated, frames waiting ~N × 13 ms), not the steady state.
    pub fn effective_warmup(&self) -> Duration {
        self.warmup.max(self.quiet + Duration::from_secs(5))
    }
}

/// Everything a run produced, as written to the JSON file.
#[derive(Debug, Serialize)]
pub struct BenchResults {
    pub started: String,
    pub profile: Profile,
    pub machine: system::Machine,
    pub settings: serde_json::Value,
    pub trials: Vec<Trial>,
    /// Most cameras within the p99 bound, per mode (find-max).
    pub max_cameras: HashMap<String, usize>,
    pub saturated: Option<Saturated>,
    pub ratios: Vec<Ratio>,
    /// Which execution provider ran.
    pub execution_provider: String,
    /// `--soak`: what the process held after warm-up and at the end of the window.
    pub soak: Option<Soak>,
}

/// The RSS growth the soak aims under over 1 h at 32 cameras, %.
pub const SOAK_RSS_TARGET_PCT: f64 = 5.0;

/// A soak run: resident memory (`VmRSS` of /proc/self/status) and open files (entries of
/// /proc/self/fd) after warm-up and at the end of the window, before the cameras stop.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Soak {
    pub cameras: usize,
    /// Length of the window, s (warm-up not included).
    pub seconds: f64,
    pub rss_mib_start: f64,
    pub rss_mib_end: f64,
    /// (end − start) / start × 100.
    pub rss_growth_pct: f64,
    pub open_files_start: u64,
    pub open_files_end: u64,
    pub open_files_growth_pct: f64,
    /// [`SOAK_RSS_TARGET_PCT`]; the target is set for 1 h at 32 cameras, so a shorter or
    /// smaller soak only hints at it.
    pub rss_target_pct: f64,
    pub rss_within_target: bool,
    /// About once a minute through the window.
    pub samples: Vec<SoakSample>,
}

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct SoakSample {
    /// Seconds into the window.
    pub t_s: f64,
    pub rss_mib: f64,
    pub open_files: u64,
}

impl SoakSample {
    fn now(t_s: f64) -> Self {
        Self {
            t_s,
            rss_mib: system::rss_mib("self"),
            open_files: system::open_files("self"),
        }
    }
}

/// Growth from `start` to `end`, % of `start` (0 when `start` is 0: nothing was read).
pub fn growth_pct(start: f64, end: f64) -> f64 {
    if start > 0.0 {
        (end - start) / start * 100.0
    } else {
        0.0
    }
}

impl Soak {
    fn from_samples(cameras: usize, seconds: f64, samples: Vec<SoakSample>) -> Self {
        let first = samples.first().copied().unwrap_or_default();
        let last = samples.last().copied().unwrap_or_default();
        let rss_growth_pct = growth_pct(first.rss_mib, last.rss_mib);
        Self {
            cameras,
            seconds,
            rss_mib_start: first.rss_mib,
            rss_mib_end: last.rss_mib,
            rss_growth_pct,
            open_files_start: first.open_files,
            open_files_end: last.open_files,
            open_files_growth_pct: growth_pct(first.open_files as f64, last.open_files as f64),
            rss_target_pct: SOAK_RSS_TARGET_PCT,
            rss_within_target: rss_growth_pct < SOAK_RSS_TARGET_PCT,
            samples,
        }
    }

    /// The summary printed and written to the markdown.
    pub fn summary(&self) -> String {
        format!(
            "soak: {} cameras, {:.0} s: RSS {:.1} -> {:.1} MiB ({:+.2} %, target < {} %: {}), open files {} -> {} ({:+.2} %)",
            self.cameras,
            self.seconds,
            self.rss_mib_start,
            self.rss_mib_end,
            self.rss_growth_pct,
            self.rss_target_pct,
            if self.rss_within_target {
                "within"
            } else {
                "over"
            },
            self.open_files_start,
            self.open_files_end,
            self.open_files_growth_pct
        )
    }
}

/// `--soak DURATION`: seconds, or a number with `s`, `m` or `h` (`90s`, `5m`, `1h`, `1.5h`).
pub fn parse_soak(s: &str) -> Result<Duration, String> {
    let (num, unit) = match s.trim().char_indices().last() {
        Some((i, c @ ('s' | 'm' | 'h'))) => (&s.trim()[..i], c),
        _ => (s.trim(), 's'),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a duration such as 300, 90s, 5m or 1h"))?;
    let secs = v * match unit {
        'm' => 60.0,
        'h' => 3600.0,
        _ => 1.0,
    };
    if secs.is_finite() && secs > 0.0 && secs <= 7.0 * 86_400.0 {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err(format!("{s:?}: must be more than 0 and at most a week"))
    }
}

/// `300s` → `5m`, `3600s` → `1h`: how long a soak ran, for its file name.
pub fn soak_label(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        _ if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        _ if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

/// One saturated camera (the clip read as fast as detection takes frames) against the ceiling
/// and the Python loop.
#[derive(Debug, Default, Serialize)]
pub struct Saturated {
    pub clip: String,
    pub intra_op_threads: usize,
    pub raw_ort_fps: f64,
    pub pipeline_fps: f64,
    pub python: Option<serde_json::Value>,
    pub python_skipped: Option<String>,
}

/// A child process killed on drop.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The simulator child, its port, and the activity starts it reported.
struct Simulator {
    child: ChildGuard,
    port: u16,
    /// (mount, ms since the epoch) of every activity start so far.
    starts: Arc<Mutex<Vec<(String, i64)>>>,
}

impl Simulator {
    /// `activity`: `village` or `idle` (the night run).
    fn start(o: &BenchOptions, cameras: usize, log: &Path, activity: &str) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("finding the sharpeyes binary")?;
        let mut cmd = Command::new(exe);
        cmd.args(["simulate", "--port", "0", "--activity", activity])
            .args(["--cameras", &cameras.to_string()])
            .args(["--seed", &o.seed.to_string()])
            .args(["--idle-mean-s", &o.idle_mean.as_secs_f64().to_string()])
            .args(["--active-s", &o.active.as_secs_f64().to_string()]);
        if let Some(c) = &o.clip {
            cmd.arg("--clip").arg(c);
        }
        let log = std::fs::File::create(log)?;
        let mut child = cmd
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("starting `sharpeyes simulate`")?;
        let stdout = child.stdout.take().context("simulator stdout")?;
        let child = ChildGuard(child);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    // Nobody listens any more: keep draining so the child never blocks.
                    continue;
                }
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(180))
            .context("the simulator did not get ready within 180 s (see its log)")?;
        let ready: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("simulator said {line:?}"))?;
        let port = ready["port"]
            .as_u64()
            .context("simulator ready line without port")? as u16;
        // Activity lines: the starts time appearances.
        let starts: Arc<Mutex<Vec<(String, i64)>>> = Arc::default();
        let s = starts.clone();
        std::thread::spawn(move || {
            for line in rx {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if let (Some(c), Some(true), Some(t)) = (
                    v["camera"].as_str(),
                    v["active"].as_bool(),
                    v["t_ms"].as_i64(),
                ) {
                    s.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((c.to_owned(), t));
                }
            }
        });
        Ok(Self {
            child,
            port,
            starts,
        })
    }
}

/// The shared state of a run.
struct Ctx<'a> {
    options: &'a BenchOptions,
    config: PipelineConfig,
    store: ModelStore,
    brokers: String,
    sim: Simulator,
    /// The idle-only simulator of the night run, started when first needed.
    night_sim: Option<Simulator>,
    /// When the clip's first person becomes visible, ms into the clip (appearance latency).
    appear_offset_ms: Option<i64>,
    broker_pid: Option<u32>,
    tmp: PathBuf,
    trial_no: usize,
    stop: Arc<AtomicBool>,
    provider: String,
    /// `--soak`: filled by the trial.
    soak: Option<Soak>,
}

/// Redraws the progress bar on a terminal (at most every 0.5 s); elsewhere (a log file, CI)
/// prints it as a line every 15 s.
fn progress(label: &str, fraction: f64) {
    use std::io::IsTerminal as _;
    static LAST: Mutex<Option<Instant>> = Mutex::new(None);
    let tty = std::io::stderr().is_terminal();
    let every = if tty {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(15)
    };
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    if last.is_some_and(|t| t.elapsed() < every) {
        return;
    }
    *last = Some(Instant::now());
    let bar = report::progress_bar(fraction, 30, label);
    let mut e = std::io::stderr().lock();
    let _ = if tty {
        write!(e, "\r{bar:<100}")
    } else {
        writeln!(e, "{bar}")
    };
    let _ = e.flush();
}

fn progress_done() {
    use std::io::IsTerminal as _;
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
}

/// Sum of a counter over the cameras.
fn sum(p: &LivePipeline, get: impl Fn(&crate::live::CameraCounters) -> u64) -> u64 {
    p.cameras().map(|h| get(&h.counters)).sum()
}

impl Ctx<'_> {
    /// One trial: `cameras` cameras in `mode` for warm-up + the measuring window.
    fn trial(&mut self, cameras: usize, mode: Mode) -> anyhow::Result<Trial> {
        self.trial_on(cameras, mode, false)
    }

    /// The night run: `cameras` gated cameras, every one idle the whole time.
    fn night(&mut self, cameras: usize) -> anyhow::Result<Trial> {
        if self.night_sim.is_none() {
            eprintln!("bench: starting {cameras} idle simulated cameras (night run)");
            self.night_sim = Some(Simulator::start(
                self.options,
                cameras,
                &self.tmp.join("simulate-night.log"),
                "idle",
            )?);
        }
        self.trial_on(cameras, Mode::Gated, true)
    }

    /// The simulator a trial's cameras are on: the idle one for the night run.
    fn simulator(&self, night: bool) -> &Simulator {
        match (&self.night_sim, night) {
            (Some(s), true) => s,
            _ => &self.sim,
        }
    }

    fn trial_on(&mut self, cameras: usize, mode: Mode, night: bool) -> anyhow::Result<Trial> {
        let sim_port = self.simulator(night).port;
        self.trial_no += 1;
        let dir = self.tmp.join(format!("trial-{}", self.trial_no));
        std::fs::create_dir_all(&dir)?;
        let mut config = self.config.clone();
        config.outbox = dir.join("alerts.jsonl");
        config.snapshots = dir.join("snapshots");
        let mut analyzer = Analyzer::new(&config, &self.store)?;
        self.provider = analyzer
            .detector()
            .execution_provider_used()
            .name()
            .to_owned();
        let acks: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
        let a = acks.clone();
        let observer: sharpeyes_delivery::AckObserver = Arc::new(move |id: &str| {
            let now = SystemClock.now().0;
            a.lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id.to_owned(), now);
        });
        let kafka = sharpeyes_delivery::KafkaOptions::new(&self.brokers)
            .topic(&config.kafka_topic)
            .client_id("sharpeyes-bench");
        let mut delivery = Delivery::observed(
            &config.outbox,
            false,
            Some((kafka, config.status_topic.clone())),
            config.outbox_max_pending,
            Some(observer),
            Some(sharpeyes_delivery::SnapshotSource {
                dir: config.snapshots.clone(),
                topic: config.snapshot_topic.clone(),
            }),
        )?;
        let mut pipeline = LivePipeline::new(analyzer.canvas())?;
        pipeline.set_batching(config.max_batch, config.max_wait);
        let rss_before = system::rss_mib("self");
        for i in 0..cameras {
            let m = crate::simulate::mount(i);
            let url = url::Url::parse(&format!("rtsp://127.0.0.1:{sim_port}/{m}"))?;
            let mut spec = CameraSpec::new(CameraId::new(m.clone())?, url, config.detect_fps);
            spec.village = "Bench".into();
            if mode == Mode::Gated {
                spec.adaptive_quiet = Some(self.options.quiet);
                spec.adaptive_peek = self.options.peek;
                spec.motion_gate = Some(self.options.quiet);
            }
            analyzer.name_camera(spec.camera_ref());
            pipeline.start_camera(spec);
        }
        let label = format!(
            "{} cameras, {}{}",
            cameras,
            mode.label(),
            if night { ", night" } else { "" }
        );
        let (warmup, window) = (self.options.effective_warmup(), self.options.duration);
        let total = (warmup + window).as_secs_f64();
        let started = Instant::now();
        let bar = |phase: &str| {
            progress(
                &format!("{label}: {phase}"),
                started.elapsed().as_secs_f64() / total,
            )
        };
        while started.elapsed() < warmup && !self.stop.load(Ordering::Relaxed) {
            pipeline.step(&mut analyzer, &mut delivery);
            bar("warming up");
        }
        let per_camera = |p: &LivePipeline| -> Vec<u64> {
            p.cameras()
                .map(|h| h.counters.frames_decoded.load(Ordering::Relaxed))
                .collect()
        };
        let decoded0 = per_camera(&pipeline);
        let read = |p: &LivePipeline| {
            (
                sum(p, |c| c.frames_dropped.load(Ordering::Relaxed)),
                sum(p, |c| c.frames_skipped.load(Ordering::Relaxed)),
                sum(p, |c| c.frames_gated.load(Ordering::Relaxed)),
            )
        };
        let counts0 = read(&pipeline);
        let analysed0 = analyzer.frames_analysed;
        let cpu0 = system::cpu_seconds("self");
        let sim_pid = self.simulator(night).child.0.id().to_string();
        let sim_cpu0 = system::cpu_seconds(&sim_pid);
        let broker_pid = self.broker_pid.map(|p| p.to_string());
        let broker_cpu0 = broker_pid.as_deref().map_or(0.0, system::cpu_seconds);
        pipeline.record_latencies();
        pipeline.take_latencies();
        pipeline.take_waits();
        pipeline.take_person_detections();
        let window_start = SystemClock.now().0;
        let soak = self.options.soak.is_some() && !night;
        let mut soak_samples = Vec::new();
        if soak {
            soak_samples.push(SoakSample::now(0.0));
        }
        // A soak measures the pipeline's memory, not the bench's: its per-frame samples go
        // into bounded samplers every minute (an hour at 32 cameras would otherwise keep
        // ~100,000 latencies and person detections, several MiB), and it times no
        // appearances.
        let mut soak_latencies = Decimated::new(SOAK_SAMPLES);
        let mut soak_waits = Decimated::new(SOAK_SAMPLES);
        let mut drain = |p: &mut LivePipeline| {
            p.take_latencies()
                .into_iter()
                .for_each(|v| soak_latencies.push(v));
            p.take_waits().into_iter().for_each(|v| soak_waits.push(v));
            drop(p.take_person_detections());
        };
        let t0 = Instant::now();
        while t0.elapsed() < window && !self.stop.load(Ordering::Relaxed) {
            pipeline.step(&mut analyzer, &mut delivery);
            bar("measuring");
            if soak
                && t0.elapsed().as_secs_f64()
                    >= soak_samples.last().map_or(0.0, |s: &SoakSample| s.t_s) + 60.0
            {
                drain(&mut pipeline);
                soak_samples.push(SoakSample::now(t0.elapsed().as_secs_f64()));
            }
        }
        let seconds = t0.elapsed().as_secs_f64();
        if soak {
            drain(&mut pipeline);
            // Read before the cameras stop: what a running pipeline holds.
            soak_samples.push(SoakSample::now(seconds));
            let s = Soak::from_samples(cameras, seconds, soak_samples);
            eprintln!("bench: {}", s.summary());
            self.soak = Some(s);
        }
        let window_end = SystemClock.now().0;
        let cpu = system::cpu_seconds("self") - cpu0;
        let sim_cpu = system::cpu_seconds(&sim_pid) - sim_cpu0;
        let broker_cpu = broker_pid.as_deref().map_or(0.0, system::cpu_seconds) - broker_cpu0;
        let rss = system::rss_mib("self");
        let threads = system::threads("self");
        let waits: Vec<f64> = if soak {
            soak_waits.values.iter().copied().map(f64::from).collect()
        } else {
            pipeline.take_waits().into_iter().map(f64::from).collect()
        };
        let persons: Vec<(String, i64)> = pipeline
            .take_person_detections()
            .into_iter()
            .map(|(c, t)| (c.to_string(), t))
            .collect();
        let decoded1 = per_camera(&pipeline);
        let counts1 = read(&pipeline);
        let analysed = analyzer.frames_analysed - analysed0;
        let frame_latencies: Vec<f64> = if soak {
            soak_latencies
                .values
                .iter()
                .copied()
                .map(f64::from)
                .collect()
        } else {
            pipeline
                .take_latencies()
                .into_iter()
                .map(f64::from)
                .collect()
        };
        let decoded: u64 = decoded1.iter().zip(&decoded0).map(|(b, a)| b - a).sum();
        let dark = decoded1
            .iter()
            .zip(&decoded0)
            .filter(|(b, a)| b <= a)
            .count();
        progress(
            &format!("{label}: waiting for the last acknowledgements"),
            1.0,
        );
        pipeline.shutdown(&mut delivery);
        delivery.flush(Duration::from_secs(10));
        drop(delivery);
        progress_done();
        let alert_latencies = alert_latencies(
            &config.outbox,
            &acks.lock().unwrap_or_else(|p| p.into_inner()),
            window_start,
            window_end,
        );
        let (appearances, appearances_missed) = match (self.appear_offset_ms, night) {
            (Some(offset), false) if !soak => {
                let starts = self
                    .sim
                    .starts
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                report::appearance_latencies(&starts, offset, &persons, (window_start, window_end))
            }
            _ => (Vec::new(), 0),
        };
        Ok(Trial {
            cameras,
            mode: Some(mode),
            seconds,
            decode_fps: decoded as f64 / seconds,
            inference_fps: analysed as f64 / seconds,
            alert_latency_ms: Percentiles::of(&alert_latencies),
            frame_latency_ms: Percentiles::of(&frame_latencies),
            cpu_pct_per_camera: cpu / seconds * 100.0 / cameras as f64,
            cpu_pct_total: cpu / seconds * 100.0,
            rss_mib: rss,
            rss_mib_per_camera: (rss - rss_before).max(0.0) / cameras as f64,
            dropped_frames: counts1.0 - counts0.0,
            skipped_frames: counts1.1 - counts0.1,
            gated_frames: counts1.2 - counts0.2,
            cameras_without_frames: dark,
            appearance_latency_ms: Percentiles::of(&appearances),
            capture_to_detector_ms: Percentiles::of(&waits),
            appearances_missed,
            threads,
            threads_per_camera: threads as f64 / cameras as f64,
            night,
            simulator_cpu_pct: sim_cpu / seconds * 100.0,
            broker_cpu_pct: broker_cpu / seconds * 100.0,
        })
    }

    /// `--find-max`: the most cameras in `mode` within the p99 bound.
    fn find_max(&mut self, mode: Mode, trials: &mut Vec<Trial>) -> anyhow::Result<usize> {
        let start = if mode == Mode::Gated { 16 } else { 4 };
        let mut search = MaxSearch::new(start, self.options.max_cameras, 0.1);
        while let Some(n) = search.next() {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            let t = self.trial(n, mode)?;
            let ok = t.within(self.options.p99_ms);
            eprintln!(
                "  {} cameras ({}): p99 {} ms (alerts {}, frames {}), cameras without frames {} -> {}",
                n,
                mode.label(),
                t.p99().map_or("-".into(), |p| format!("{p:.0}")),
                t.alert_latency_ms.n,
                t.frame_latency_ms.n,
                t.cameras_without_frames,
                if ok { "within" } else { "over" }
            );
            trials.push(t);
            search.record(n, ok);
        }
        Ok(search.best())
    }

    /// Baselines (a) and the pipeline on one saturated camera: the clip as a `file://` camera
    /// read as fast as detection takes frames, no gating, detection on every frame.
    fn saturated(&mut self, clip: &Path) -> anyhow::Result<Saturated> {
        let mut config = self.config.clone();
        config.intra_op_threads = self.options.saturated_threads;
        let dir = self.tmp.join("saturated");
        std::fs::create_dir_all(&dir)?;
        config.outbox = dir.join("alerts.jsonl");
        config.snapshots = dir.join("snapshots");
        let mut analyzer = Analyzer::new(&config, &self.store)?;
        // (a) the ceiling: the same session, its input prepared once.
        let frames: Vec<sharpeyes_core::Frame> = {
            let mut src = sharpeyes_ingest::FileSource::open(
                CameraId::new("ceiling")?,
                clip,
                analyzer.canvas(),
                SystemClock.now(),
            )?;
            let mut out = Vec::new();
            while out.len() < 8 {
                match sharpeyes_core::FrameSource::next_frame(&mut src, Duration::from_secs(5))? {
                    sharpeyes_core::SourceItem::Frame(f) => out.push(f),
                    sharpeyes_core::SourceItem::Timeout => continue,
                    sharpeyes_core::SourceItem::End => break,
                }
            }
            out
        };
        anyhow::ensure!(!frames.is_empty(), "{}: no frame decoded", clip.display());
        let d = self.options.saturated_duration;
        progress("saturated camera: raw ONNX Runtime (ceiling)", 0.0);
        let raw1 = analyzer.detector().raw_throughput(&frames, d / 4)?;
        // The pipeline: decode thread + analysis loop, every frame analysed.
        let mut delivery = Delivery::new(&config.outbox, false, None, config.outbox_max_pending)?;
        let mut pipeline = LivePipeline::new(analyzer.canvas())?;
        let url = url::Url::from_file_path(std::fs::canonicalize(clip)?)
            .map_err(|_| anyhow::anyhow!("{}: not a file path", clip.display()))?;
        let mut spec = CameraSpec::new(CameraId::new("saturated")?, url, 1000.0);
        spec.file_paced = false;
        pipeline.start_camera(spec);
        let started = Instant::now();
        let warm = Duration::from_secs(2);
        let mut analysed0 = None;
        while started.elapsed() < warm + d / 2 && !self.stop.load(Ordering::Relaxed) {
            pipeline.step(&mut analyzer, &mut delivery);
            if analysed0.is_none() && started.elapsed() >= warm {
                analysed0 = Some((analyzer.frames_analysed, Instant::now()));
            }
            progress(
                "saturated camera: pipeline",
                0.25 + 0.5 * started.elapsed().as_secs_f64() / (warm + d / 2).as_secs_f64(),
            );
        }
        let (a0, t0) = analysed0.unwrap_or((0, started));
        let pipeline_fps = (analyzer.frames_analysed - a0) as f64 / t0.elapsed().as_secs_f64();
        pipeline.shutdown(&mut delivery);
        progress("saturated camera: raw ONNX Runtime again", 0.8);
        let raw2 = analyzer.detector().raw_throughput(&frames, d / 4)?;
        progress_done();
        let mut sat = Saturated {
            clip: clip.display().to_string(),
            intra_op_threads: config.intra_op_threads,
            raw_ort_fps: (raw1 + raw2) / 2.0,
            pipeline_fps,
            ..Default::default()
        };
        match python_loop(clip, &self.store, &config, d / 2) {
            Ok(v) => sat.python = Some(v),
            Err(e) => {
                eprintln!("python baseline skipped: {e:#}");
                sat.python_skipped = Some(format!("{e:#}"));
            }
        }
        Ok(sat)
    }
}

/// When the clip's first person becomes visible, ms into the clip: its first frame (decoded
/// as the pipeline decodes it, at the detector's input size) with a person at the tracker's
/// high score. Measured once per run, on the same model.
fn first_person_ms(
    clip: &Path,
    config: &PipelineConfig,
    store: &ModelStore,
    tmp: &Path,
) -> anyhow::Result<i64> {
    use sharpeyes_core::Detector as _;
    // Like the trials' analyzers: its snapshot sweeper works in the run's temporary
    // directory, never in the configured one.
    let mut config = config.clone();
    config.snapshots = tmp.join("first-person").join("snapshots");
    let mut analyzer = Analyzer::new(&config, store)?;
    let start = sharpeyes_core::UnixMillis(0);
    let mut src = sharpeyes_ingest::FileSource::open_with(
        CameraId::new("clip")?,
        clip,
        analyzer.canvas(),
        start,
        false,
    )?;
    let high = config.tracker.high_score;
    loop {
        match sharpeyes_core::FrameSource::next_frame(&mut src, Duration::from_secs(5))? {
            sharpeyes_core::SourceItem::Frame(f) => {
                let det = analyzer.detector();
                let found = det.detect(std::slice::from_ref(&f))?;
                let manifest = det.manifest();
                if found
                    .iter()
                    .flatten()
                    .any(|d| d.score >= high && manifest.is_person(d.class_id))
                {
                    return Ok(f.time.0 - start.0);
                }
            }
            sharpeyes_core::SourceItem::Timeout => continue,
            sharpeyes_core::SourceItem::End => bail!("{}: no person in the clip", clip.display()),
        }
    }
}

/// Capture → acknowledged, ms, of the alerts (not status events) whose frame was captured in
/// [start, end] ms.
fn alert_latencies(outbox: &Path, acks: &HashMap<String, i64>, start: i64, end: i64) -> Vec<f64> {
    let mut out = Vec::new();
    let text = std::fs::read_to_string(outbox).unwrap_or_default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(Event::Alert(a)) = serde_json::from_str::<Event>(line) else {
            continue;
        };
        let Some(t) = a.event_millis() else { continue };
        if t.0 < start || t.0 > end {
            continue;
        }
        if let Some(ack) = acks.get(&a.id) {
            out.push((ack - t.0) as f64);
        }
    }
    out
}

/// Baseline (c): `benches/python_loop.py` in the project venv, OpenCV + onnxruntime on the same
/// clip and model; installs opencv-python-headless into the venv when missing.
fn python_loop(
    clip: &Path,
    store: &ModelStore,
    config: &PipelineConfig,
    duration: Duration,
) -> anyhow::Result<serde_json::Value> {
    let root = project_root().context(
        "benches/python_loop.py not found in the working directory or above the binary (run from the checkout)",
    )?;
    let script = root.join("benches/python_loop.py");
    let python = root.join(".venv/bin/python");
    anyhow::ensure!(
        python.is_file(),
        "{} not found (run scripts/setup.sh first)",
        python.display()
    );
    let python = python.as_path();
    let has_cv2 = Command::new(python)
        .args(["-c", "import cv2, onnxruntime, numpy"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_cv2 {
        eprintln!("python baseline: installing opencv-python-headless into .venv");
        let st = Command::new(python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "opencv-python-headless==4.10.0.84",
            ])
            .status()
            .context("running pip")?;
        anyhow::ensure!(
            st.success(),
            "pip install opencv-python-headless failed ({st})"
        );
    }
    let manifest = store.manifest(&config.model)?;
    let model = store.ensure(&manifest)?;
    let out = Command::new(python)
        .arg(&script)
        .arg("--clip")
        .arg(clip)
        .arg("--model")
        .arg(&model)
        .args(["--size", &manifest.input.width.to_string()])
        .args(["--threads", &config.intra_op_threads.to_string()])
        .args(["--seconds", &duration.as_secs_f64().to_string()])
        .output()
        .context("running benches/python_loop.py")?;
    anyhow::ensure!(
        out.status.success(),
        "benches/python_loop.py failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).with_context(|| format!("python loop printed {last:?}"))
}

/// The checkout: the working directory, else the nearest folder above the binary
/// (`target/release/sharpeyes`) holding `benches/python_loop.py`.
fn project_root() -> Option<PathBuf> {
    let has = |d: &Path| d.join("benches/python_loop.py").is_file();
    let cwd = std::env::current_dir().ok()?;
    if has(&cwd) {
        return Some(cwd);
    }
    let exe = std::env::current_exe().ok()?;
    exe.ancestors().find(|d| has(d)).map(Path::to_path_buf)
}

/// The pipeline config the bench runs: `--config`, else the embedded default without the pose
/// stage (person and vehicle detection; pose costs ~135 ms per frame with people and is for
/// fall cameras); alerts stay on (person_detected is what the latency is measured on).
fn bench_config(o: &BenchOptions) -> anyhow::Result<PipelineConfig> {
    let mut c = match &o.config {
        Some(p) => PipelineConfig::load(p)?,
        None => {
            let mut c = PipelineConfig::embedded_default();
            c.pose = None;
            c
        }
    };
    if o.profile == Profile::Gpu {
        c.execution_provider = sharpeyes_inference::ExecutionProvider::TensorRt { device_id: 0 };
    }
    Ok(c)
}

/// Runs the bench, prints the tables, writes `<out_dir>/<time>-<profile>.{json,md}`; returns
/// the results.
pub fn run(o: &BenchOptions, stop: Arc<AtomicBool>) -> anyhow::Result<BenchResults> {
    crate::runtime::init_onnxruntime()?;
    if o.find_max && o.cameras.is_some() {
        bail!("give either --cameras N or --find-max, not both");
    }
    let soak_options;
    let o = match o.soak {
        Some(window) => {
            if o.find_max {
                bail!("give either --soak or --find-max, not both");
            }
            // One long gated trial: the window is the soak, and nothing else runs.
            soak_options = BenchOptions {
                duration: window,
                baselines: false,
                night_cameras: 0,
                ..o.clone()
            };
            &soak_options
        }
        None => o,
    };
    let started = SystemClock.now();
    let machine = system::Machine::describe();
    let config = bench_config(o)?;
    let clip = o.clip.clone().unwrap_or_else(crate::simulate::default_clip);
    anyhow::ensure!(
        clip.is_file(),
        "clip {} not found (give --clip FILE, or set SHARPEYES_CLIPS to the folder holding {})",
        clip.display(),
        crate::simulate::DEFAULT_CLIP
    );
    let tmp = std::env::temp_dir().join(format!("sharpeyes-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let _cleanup = TmpDir(tmp.clone());
    let (broker, brokers) = match &o.kafka {
        Some(b) => (None, b.clone()),
        None => {
            eprintln!("bench: starting a tansu broker");
            let b = sharpeyes_sim::TansuBroker::start()
                .map_err(|e| anyhow::anyhow!("{e} (or give --kafka HOST:PORT)"))?;
            let s = b.bootstrap();
            (Some(b), s)
        }
    };
    let sim_cameras = o.cameras.unwrap_or(o.max_cameras).max(1);
    eprintln!("bench: encoding the clip and starting {sim_cameras} simulated cameras");
    let sim = Simulator::start(o, sim_cameras, &tmp.join("simulate.log"), "village")?;
    let store = ModelStore::from_env();
    let appear_offset_ms = match first_person_ms(&clip, &config, &store, &tmp) {
        Ok(t) => {
            eprintln!("bench: the clip's first person is visible {t} ms into it");
            Some(t)
        }
        Err(e) => {
            eprintln!("bench: appearance latency not measured: {e:#}");
            None
        }
    };
    let mut ctx = Ctx {
        options: o,
        config,
        store,
        brokers,
        sim,
        night_sim: None,
        appear_offset_ms,
        broker_pid: broker.as_ref().and_then(|b| b.pid()),
        tmp,
        trial_no: 0,
        stop,
        provider: String::new(),
        soak: None,
    };
    let mut trials = Vec::new();
    let mut max_cameras = HashMap::new();
    if o.find_max {
        let best = ctx.find_max(Mode::Gated, &mut trials)?;
        max_cameras.insert(Mode::Gated.label().to_owned(), best);
        if o.baselines {
            let best = ctx.find_max(Mode::EveryFrame, &mut trials)?;
            max_cameras.insert(Mode::EveryFrame.label().to_owned(), best);
        }
    } else {
        let n = o.cameras.unwrap_or(8);
        trials.push(ctx.trial(n, Mode::Gated)?);
        if o.baselines {
            trials.push(ctx.trial(n, Mode::EveryFrame)?);
        }
    }
    if o.night_cameras > 0 {
        trials.push(ctx.night(o.night_cameras)?);
    }
    let saturated = if o.baselines {
        Some(ctx.saturated(&clip)?)
    } else {
        None
    };
    let ratios = ratios(o, &trials, &max_cameras, saturated.as_ref(), &ctx.config);
    let results = BenchResults {
        started: started.to_rfc3339(),
        profile: o.profile,
        machine,
        settings: serde_json::json!({
            "warmup_s": o.effective_warmup().as_secs_f64(),
            "duration_s": o.duration.as_secs_f64(),
            "p99_bound_ms": o.p99_ms,
            "clip": clip.display().to_string(),
            "camera": "640x360 H.264 15 fps, GOP 30",
            "night_cameras": o.night_cameras,
            "appearance_offset_ms": ctx.appear_offset_ms,
            "activity": format!("village: idle mean {} s, active {} s", o.idle_mean.as_secs_f64(), o.active.as_secs_f64()),
            "gated_quiet_s": o.quiet.as_secs_f64(),
            "gated_peek_s": o.peek.as_secs_f64(),
            "model": ctx.config.model,
            "detect_fps": ctx.config.detect_fps,
            "intra_op_threads": ctx.config.intra_op_threads,
            "pose": ctx.config.pose.is_some(),
            "malloc_arena_max": crate::runtime::malloc_arenas(),
            "kafka": if broker.is_some() { "tansu 0.6.0 on loopback (memory storage)" } else { "--kafka" },
        }),
        trials,
        max_cameras,
        saturated,
        ratios,
        execution_provider: ctx.provider.clone(),
        soak: ctx.soak.take(),
    };
    drop(ctx);
    drop(broker);
    let md = markdown(&results);
    println!("{md}");
    std::fs::create_dir_all(&o.out_dir)
        .with_context(|| format!("creating {}", o.out_dir.display()))?;
    let stamp = results.started.replace([':', '.'], "-");
    let base = o.out_dir.join(format!(
        "{stamp}-{}{}",
        serde_json::to_value(o.profile)?.as_str().unwrap_or("cpu"),
        o.soak
            .map(|d| format!("-soak-{}-{}cams", soak_label(d), o.cameras.unwrap_or(8)))
            .unwrap_or_default()
    ));
    std::fs::write(
        base.with_extension("json"),
        serde_json::to_string_pretty(&results)?,
    )?;
    let stem = base
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let md = format!(
        "{md}\n## Chart\n\n![cameras against CPU and frame latency p99, one line per mode]({stem}.svg)\n"
    );
    std::fs::write(base.with_extension("md"), &md)?;
    let svg = report::chart_svg(
        &results.trials,
        &format!("sharpeyes bench {} — cameras per box", results.started),
    );
    std::fs::write(base.with_extension("svg"), svg)?;
    eprintln!(
        "bench: results in {}.json, .md and .svg (chart)",
        base.display()
    );
    Ok(results)
}

struct TmpDir(PathBuf);

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The targets of the issue, from what was measured.
fn ratios(
    o: &BenchOptions,
    trials: &[Trial],
    max: &HashMap<String, usize>,
    sat: Option<&Saturated>,
    config: &PipelineConfig,
) -> Vec<Ratio> {
    let mut out = Vec::new();
    if let Some(s) = sat {
        out.push(Ratio::new(
            "pipeline / raw ONNX Runtime, saturated camera (frames/s)",
            Some(s.pipeline_fps / s.raw_ort_fps),
            0.9,
            format!(
                "{:.1} vs {:.1} frames/s, {} intra-op threads",
                s.pipeline_fps, s.raw_ort_fps, s.intra_op_threads
            ),
        ));
        let py_fps = s.python.as_ref().and_then(|p| p["fps"].as_f64());
        out.push(Ratio::new(
            "pipeline / Python loop, saturated camera (frames/s)",
            py_fps.map(|p| s.pipeline_fps / p),
            1.05,
            py_fps.map_or_else(
                || s.python_skipped.clone().unwrap_or_default(),
                |p| format!("{:.1} vs {p:.1} frames/s", s.pipeline_fps),
            ),
        ));
        // Cameras a Python loop serves: it decodes every frame of every camera and detects at
        // detect.fps; estimated from its own measured costs (generous to it: no RTSP, no
        // queueing).
        let py_cams = s.python.as_ref().and_then(|p| {
            let (dec, fps) = (p["decode_fps"].as_f64()?, p["fps"].as_f64()?);
            let per_cam = 15.0 / dec + config.detect_fps * (1.0 / fps - 1.0 / dec).max(0.0);
            Some((1.0 / per_cam).floor())
        });
        if let (Some(pc), Some(g)) = (py_cams, max.get(Mode::Gated.label())) {
            out.push(Ratio::new(
                "cameras: pipeline (gated) / Python loop",
                (pc > 0.0).then(|| *g as f64 / pc),
                10.0,
                format!("{g} vs {pc:.0} (Python: estimated from its decode and detect rates)"),
            ));
        }
    }
    if let Some(g) = max.get(Mode::Gated.label()) {
        out.push(Ratio::new(
            &format!("village cameras within p99 ≤ {} ms", o.p99_ms),
            Some(*g as f64),
            128.0,
            format!("find-max, {} s windows", o.duration.as_secs_f64()),
        ));
        if let Some(e) = max.get(Mode::EveryFrame.label()) {
            out.push(Ratio::new(
                "cameras: gated / decode-every-frame",
                (*e > 0).then(|| *g as f64 / *e as f64),
                6.0,
                format!("{g} vs {e}"),
            ));
        }
    } else if let (Some(gated), Some(every)) = (
        trials
            .iter()
            .find(|t| t.mode == Some(Mode::Gated) && !t.night),
        trials.iter().find(|t| t.mode == Some(Mode::EveryFrame)),
    ) {
        out.push(Ratio::new(
            "CPU per camera: decode-every-frame / gated",
            (gated.cpu_pct_per_camera > 0.0)
                .then(|| every.cpu_pct_per_camera / gated.cpu_pct_per_camera),
            6.0,
            format!(
                "{:.1}% vs {:.1}% of a core per camera at {} cameras (use --find-max for camera counts)",
                every.cpu_pct_per_camera, gated.cpu_pct_per_camera, gated.cameras
            ),
        ));
    }
    out
}

/// The results file's markdown.
pub fn markdown(r: &BenchResults) -> String {
    let mut md = format!(
        "# sharpeyes bench — {} profile, {}\n\n## Machine\n\n{}- execution provider: {}\n\n## Settings\n\n```json\n{}\n```\n\n## Trials\n\n{}",
        serde_json::to_value(r.profile)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        r.started,
        r.machine.markdown(),
        r.provider_line(),
        serde_json::to_string_pretty(&r.settings).unwrap_or_default(),
        report::trials_table(&r.trials),
    );
    if !r.max_cameras.is_empty() {
        md.push_str("\n## Most cameras within the p99 bound\n\n");
        let mut v: Vec<_> = r.max_cameras.iter().collect();
        v.sort();
        for (mode, n) in v {
            md.push_str(&format!("- {mode}: {n}\n"));
        }
    }
    if let Some(s) = &r.saturated {
        md.push_str(&format!(
            "\n## Saturated camera ({}; {} intra-op threads)\n\n- raw ONNX Runtime: {:.1} frames/s\n- pipeline: {:.1} frames/s\n",
            s.clip, s.intra_op_threads, s.raw_ort_fps, s.pipeline_fps
        ));
        match (&s.python, &s.python_skipped) {
            (Some(p), _) => md.push_str(&format!(
                "- Python loop (OpenCV + onnxruntime): {:.1} frames/s (decode alone {:.1} frames/s)\n",
                p["fps"].as_f64().unwrap_or(0.0),
                p["decode_fps"].as_f64().unwrap_or(0.0)
            )),
            (None, Some(why)) => md.push_str(&format!("- Python loop: not measured: {why}\n")),
            _ => {}
        }
    }
    if !r.ratios.is_empty() {
        md.push_str("\n## Against the targets\n\n");
        md.push_str(&report::ratios_table(&r.ratios));
    }
    if let Some(s) = &r.soak {
        md.push_str(&format!(
            "\n## Soak\n\n- {}\n\n| s | RSS MiB | open files |\n|---:|---:|---:|\n",
            s.summary()
        ));
        for x in &s.samples {
            md.push_str(&format!(
                "| {:.0} | {:.1} | {} |\n",
                x.t_s, x.rss_mib, x.open_files
            ));
        }
    }
    md
}

impl BenchResults {
    fn provider_line(&self) -> String {
        if self.execution_provider.is_empty() {
            "-".into()
        } else {
            self.execution_provider.clone()
        }
    }
}

/// Samples a soak keeps of each per-frame figure (frame latency, wait).
const SOAK_SAMPLES: usize = 50_000;

/// At most `cap` values of a long series, evenly spread over it: every `stride`-th value is
/// kept, and when full every other kept value is dropped and the stride doubles. Memory stays
/// bounded however long the series; percentiles of the kept values follow the whole series'.
/// Pure.
#[derive(Debug)]
struct Decimated {
    cap: usize,
    stride: u64,
    seen: u64,
    values: Vec<u32>,
}

impl Decimated {
    fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(2),
            stride: 1,
            seen: 0,
            values: Vec::with_capacity(cap.max(2)),
        }
    }

    fn push(&mut self, v: u32) {
        if self.seen % self.stride == 0 {
            if self.values.len() == self.cap {
                let mut i = 0;
                self.values.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride *= 2;
                if self.seen % self.stride != 0 {
                    self.seen += 1;
                    return;
                }
            }
            self.values.push(v);
        }
        self.seen += 1;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn decimated_keeps_a_bounded_even_sample() {
        let mut d = super::Decimated::new(100);
        for v in 0..10_000u32 {
            d.push(v);
        }
        assert!(
            d.values.len() <= 100 && d.values.len() >= 50,
            "{}",
            d.values.len()
        );
        // Evenly spread: consecutive kept values one stride apart, from the start.
        assert_eq!(d.values[0], 0);
        let stride = d.values[1] - d.values[0];
        assert!(
            d.values.windows(2).all(|w| w[1] - w[0] == stride),
            "{:?}",
            d.values
        );
        assert!(*d.values.last().expect("kept") >= 10_000 - 2 * stride);
    }

    use super::*;

    #[test]
    fn soak_durations_take_a_unit() {
        assert_eq!(parse_soak("300"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_soak("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_soak("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_soak("1.5h"), Ok(Duration::from_secs(5400)));
        for bad in ["", "m", "0", "-5m", "5d", "NaNh", "infs", "8d1", "200h"] {
            assert!(parse_soak(bad).is_err(), "{bad:?} is refused");
        }
        assert_eq!(soak_label(Duration::from_secs(300)), "5m");
        assert_eq!(soak_label(Duration::from_secs(3600)), "1h");
        assert_eq!(soak_label(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn soak_growth_is_end_against_start() {
        let at = |t_s, rss_mib, open_files| SoakSample {
            t_s,
            rss_mib,
            open_files,
        };
        let s = Soak::from_samples(
            8,
            300.0,
            vec![
                at(0.0, 400.0, 100),
                at(60.0, 450.0, 90),
                at(300.0, 410.0, 110),
            ],
        );
        assert!(
            (s.rss_growth_pct - 2.5).abs() < 1e-9,
            "{}",
            s.rss_growth_pct
        );
        assert!(s.rss_within_target);
        assert!((s.open_files_growth_pct - 10.0).abs() < 1e-9);
        assert!(
            !Soak::from_samples(8, 1.0, vec![at(0.0, 100.0, 1), at(1.0, 106.0, 1)])
                .rss_within_target
        );
        assert_eq!(growth_pct(0.0, 5.0), 0.0, "nothing read, no growth claimed");
    }
}
