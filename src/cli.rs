//! The command line: clap's types for every subcommand and their arguments, and the value
//! parsers they share (`seconds`, `days`). Parsing only, except `RetentionArgs::start`, the
//! sweeper thread of `serve`'s retention settings. What each command does is in
//! `commands/<command>.rs`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Parser, Subcommand};
use sharpeyes_core::{Clock, SystemClock, UnixMillis};

#[derive(Parser)]
#[command(
    name = "sharpeyes",
    version,
    about = "Safety video analytics for village monitoring points"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Two simulated RTSP cameras on 127.0.0.1 (looping clips from the test assets, or a test
    /// pattern), through decode, detection and rules, alerts to the outbox, stdout and Kafka.
    Demo(DemoArgs),
    /// Run the cameras in a config directory, following edits live (hot reload), with alerts
    /// and camera status events to the outbox, stdout and Kafka, and Prometheus metrics.
    Run(RunArgs),
    /// The cluster of `run --cluster` workers on etcd: status, and the county-scale simulation.
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// The command center alone: the web page and API, fed from the Kafka topics (alerts and
    /// camera status) as its own consumer group.
    Serve(ServeArgs),
    /// Command-center users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// ONVIF cameras: find them, or add one from what it says about itself.
    Camera {
        #[command(subcommand)]
        command: CameraCommand,
    },
    /// Configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Run the pipeline on a recorded clip as fast as the machine allows.
    Replay(ReplayArgs),
    /// The guardians' push service: reads the alerts topic as a Kafka consumer group and POSTs
    /// each alert to the guardians of its camera (registry file), with retries, a per-guardian
    /// rate limit (critical first), dedup, and a dead-letter topic for what cannot be delivered.
    Notify(NotifyArgs),
    /// Simulated RTSP cameras on 127.0.0.1 (gst-rtsp-server): a clip encoded once, played by
    /// every camera under an activity profile (village: an empty scene most of the time,
    /// people walking in at random moments). Mounts cam-001 ...; JSON lines on stdout say
    /// when each camera's activity starts and ends.
    Simulate(SimulateArgs),
    /// Benchmark: starts the simulator and a Kafka broker, runs the pipeline on N cameras (or
    /// searches for the most cameras within a p99 latency bound) and prints decode and
    /// inference rates, latency capture → Kafka ack, CPU and memory per camera and dropped
    /// frames, with baselines measured in the same run; results to benches/results/.
    Bench(BenchArgs),
    /// Run one image through a model and print the detections as JSON.
    Detect(DetectArgs),
    /// Model files: fetch (verify SHA-256) or list.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
}

// A subcommand's help text is the doc comment of its `Command` variant, which clap puts over
// the doc comment of the `*Args` struct it takes.

/// `sharpeyes demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Pipeline config (default: the embedded configs/default.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Also send alerts to this Kafka broker (HOST:PORT).
    #[arg(long)]
    pub kafka: Option<String>,
    /// RTSP port of the simulated cameras (0: any free port).
    #[arg(long, default_value_t = 8554)]
    pub port: u16,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_parser = seconds)]
    pub duration: Option<f64>,
    /// Outbox file (default: the config's output.outbox).
    #[arg(long)]
    pub outbox: Option<PathBuf>,
    /// Without the command center. By default the demo serves it (at 127.0.0.1:8080, or any
    /// free port when 8080 is taken, unless --web says where) with a `demo` admin whose
    /// one-time password it prints.
    #[arg(long, conflicts_with = "web")]
    pub no_web: bool,
    #[command(flatten)]
    pub web: WebArgs,
}

/// `sharpeyes run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Camera config directory (one TOML file per camera).
    #[arg(long, default_value = "configs/cameras")]
    pub cameras: PathBuf,
    /// Pipeline config (default: configs/default.toml, else the embedded copy).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Also send alerts and status events to this Kafka broker (HOST:PORT).
    #[arg(long)]
    pub kafka: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9464.
    #[arg(long)]
    pub metrics: Option<String>,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_parser = seconds)]
    pub duration: Option<f64>,
    /// Outbox file (default: the config's output.outbox; with --cluster,
    /// <state-dir>/alerts.jsonl).
    #[arg(long)]
    pub outbox: Option<PathBuf>,
    #[command(flatten)]
    pub web: WebArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `sharpeyes serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Listen address of the page and API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The command center's database (SQLite; created if missing).
    #[arg(long, default_value = "var/command-center.db")]
    pub db: PathBuf,
    /// Kafka brokers (HOST:PORT[,...]); default: the config's kafka.brokers.
    #[arg(long)]
    pub kafka: Option<String>,
    /// Pipeline config: topic names and [kafka] properties (default: configs/default.toml,
    /// else the embedded copy).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Environment variable holding a token that opens /metrics to
    /// `Authorization: Bearer <token>` (for Prometheus).
    #[arg(long)]
    pub metrics_token_env: Option<String>,
    /// Mark the session cookie Secure (when a TLS proxy is in front).
    #[arg(long)]
    pub secure_cookie: bool,
    #[command(flatten)]
    pub sessions: SessionArgs,
    #[command(flatten)]
    pub retention: RetentionArgs,
    /// Stop after this many seconds (default: run until Ctrl-C or SIGTERM).
    #[arg(long, value_parser = seconds)]
    pub duration: Option<f64>,
}

/// `sharpeyes replay`.
#[derive(clap::Args)]
pub struct ReplayArgs {
    #[arg(long)]
    pub input: PathBuf,
    /// JSON-lines file the alerts are written to (replaced).
    #[arg(long)]
    pub alerts_out: PathBuf,
    /// Pipeline config (default: configs/default.toml, else the embedded copy).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Motion gating: analyse frames only within this many seconds of motion or a
    /// detection (as a camera with detect.motion_gating would); the summary counts the
    /// frames it saved (`gated=`).
    #[arg(long, value_parser = seconds)]
    pub motion_gating: Option<f64>,
    /// A camera file (configs/cameras/*.toml) whose id, rules, zones and privacy masks
    /// apply to the clip, as they would to that camera live.
    #[arg(long)]
    pub camera: Option<PathBuf>,
    /// Unix time in ms of the clip's first frame (default: now); alert times are this plus
    /// the media time. Daily windows of zone rules see this clock.
    #[arg(long)]
    pub start_ms: Option<i64>,
    /// Also write every analysed frame as DIR/<camera>/<ms since the start>.jpg (to judge
    /// ground truth by eye, or to see what the model saw).
    #[arg(long)]
    pub frames_out: Option<PathBuf>,
    /// Also write each `new` alert's event clip (MP4: `clips.pre_s` before the event to
    /// `clips.post_s` after, cut from the file's stream; re-encoded with the camera file's
    /// privacy masks blacked out) as DIR/<camera>/<alert id>.mp4; the alert's `clip` names it.
    #[arg(long)]
    pub clips_out: Option<PathBuf>,
}

/// `sharpeyes notify`.
#[derive(clap::Args)]
pub struct NotifyArgs {
    /// The guardians' registry: [service], [kafka], [gateways.*], [[guardians]].
    #[arg(long, default_value = "configs/guardians.toml")]
    pub registry: PathBuf,
    /// Kafka brokers (HOST:PORT[,...]); default: the registry's kafka.brokers.
    #[arg(long)]
    pub kafka: Option<String>,
    /// Only check the registry: print every problem with its field; exit 2 when invalid.
    #[arg(long)]
    pub check: bool,
    /// Stop after this many seconds (default: run until Ctrl-C or SIGTERM).
    #[arg(long, value_parser = seconds)]
    pub duration: Option<f64>,
    /// Alerts older than this many seconds at send time are not pushed but dead-lettered
    /// (reason `stale`); overrides the registry's service.max_age_s (default 900).
    #[arg(long, value_parser = seconds)]
    pub max_age: Option<f64>,
}

/// `sharpeyes simulate`.
#[derive(clap::Args)]
pub struct SimulateArgs {
    /// How many cameras.
    #[arg(long, default_value_t = 4)]
    pub cameras: usize,
    /// Clip to play (repeat for several: camera i plays clip i mod count). Default:
    /// people_walking_indoor_intel.mp4 from $SHARPEYES_CLIPS or ../shared/assets/videos.
    #[arg(long = "clip")]
    pub clips: Vec<PathBuf>,
    /// RTSP port on 127.0.0.1 (0: any free port; the ready line says which).
    #[arg(long, default_value_t = 8554)]
    pub port: u16,
    /// Activity profile: village, idle (the empty scene only: a village at night) or loop
    /// (the clip over and over).
    #[arg(long, default_value = "village")]
    pub activity: String,
    /// Village profile: mean seconds between activities of one camera.
    #[arg(long, value_parser = seconds, default_value = "120")]
    pub idle_mean_s: f64,
    /// Village profile: seconds each activity lasts (the clip from its start).
    #[arg(long, value_parser = seconds, default_value = "20")]
    pub active_s: f64,
    /// Frame rate of every camera.
    #[arg(long, default_value_t = 15)]
    pub fps: u32,
    /// Picture size, WIDTHxHEIGHT.
    #[arg(long, default_value = "640x360", value_parser = sharpeyes::simulate::parse_size)]
    pub size: (u32, u32),
    /// Seed of the activity schedules (camera i gets seed + i).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_parser = seconds)]
    pub duration: Option<f64>,
}

/// `sharpeyes bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Run this many cameras (default 8).
    #[arg(long, conflicts_with = "find_max")]
    pub cameras: Option<usize>,
    /// Search for the most cameras whose latency p99 stays within --p99-ms.
    #[arg(long)]
    pub find_max: bool,
    /// The latency bound of --find-max, ms.
    #[arg(long, default_value_t = 1000.0)]
    pub p99_ms: f64,
    /// cpu, or gpu (TensorRT/CUDA execution providers and NVDEC decoders when present).
    #[arg(long, default_value = "cpu")]
    pub profile: String,
    /// Measuring window of each trial, seconds.
    #[arg(long, value_parser = seconds, default_value = "60")]
    pub duration: f64,
    /// Warm-up before each window, seconds.
    #[arg(long, value_parser = seconds, default_value = "15")]
    pub warmup: f64,
    /// Pipeline config (default: the embedded default without the pose stage).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Clip the simulated cameras play (default: people_walking_indoor_intel.mp4).
    #[arg(long)]
    pub clip: Option<PathBuf>,
    /// Use this Kafka broker (HOST:PORT) instead of starting tansu.
    #[arg(long)]
    pub kafka: Option<String>,
    /// Skip the baselines (raw ONNX Runtime, decode-every-frame, Python loop).
    #[arg(long)]
    pub no_baselines: bool,
    /// Soak: one gated trial of --cameras N for this long (`90s`, `5m`, `1h`; no
    /// baselines); RSS and open files after warm-up and at the end, and their growth in %.
    #[arg(long, value_parser = sharpeyes::bench::parse_soak, conflicts_with = "find_max")]
    pub soak: Option<Duration>,
    /// Where the JSON and markdown results go.
    #[arg(long, default_value = "benches/results")]
    pub out: PathBuf,
    /// Upper limit of --find-max (also how many cameras the simulator serves).
    #[arg(long, default_value_t = 256)]
    pub max_cameras: usize,
    /// Quiet period of adaptive decode and motion gating in gated mode, seconds (a camera
    /// file's detect.quiet_s).
    #[arg(long, value_parser = seconds, default_value = "10")]
    pub quiet_s: f64,
    /// Village profile: mean seconds between activities of one camera.
    #[arg(long, value_parser = seconds, default_value = "120")]
    pub idle_mean_s: f64,
    /// Village profile: seconds each activity lasts.
    #[arg(long, value_parser = seconds, default_value = "20")]
    pub active_s: f64,
    /// ONNX Runtime intra-op threads of the saturated-camera comparisons (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub saturated_threads: usize,
    /// Length of the saturated-camera comparisons, seconds.
    #[arg(long, value_parser = seconds, default_value = "40")]
    pub saturated_s: f64,
    /// Also a night run: this many gated cameras, every one idle the whole time (what an
    /// idle camera costs); 0: none. The figure is 200.
    #[arg(long, default_value_t = 0)]
    pub night_cameras: usize,
    /// Adaptive decode's peek interval in gated mode (camera files' detect.peek_s; 0:
    /// keyframes only).
    #[arg(long, default_value_t = sharpeyes_ingest::DEFAULT_PEEK.as_secs_f64())]
    pub peek_s: f64,
    /// Seed of the simulator's activity schedules.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// `sharpeyes detect`.
#[derive(clap::Args)]
pub struct DetectArgs {
    #[arg(long)]
    pub image: PathBuf,
    /// Model manifest name (default: the config's detect.model).
    #[arg(long)]
    pub model: Option<String>,
}

#[derive(Subcommand)]
pub enum CameraCommand {
    /// WS-Discovery probe: lists the ONVIF devices that answer on the local network.
    Discover {
        /// Seconds to wait for answers.
        #[arg(long, default_value_t = 3.0, value_parser = seconds)]
        timeout: f64,
        /// Probe this address (unicast) instead of the multicast group.
        #[arg(long)]
        at: Option<std::net::SocketAddr>,
    },
    /// Probe an ONVIF camera (profiles, stream URIs) and write its config file.
    Add(sharpeyes::camera_cmd::AddOptions),
    /// Validate the camera files of DIR exactly as `config check` does, then store each enabled
    /// camera in etcd for the cluster's workers (nothing is written when any file is invalid;
    /// exit 2). Unchanged cameras are not rewritten.
    Push {
        /// Camera config directory.
        #[arg(default_value = "configs/cameras")]
        dir: PathBuf,
        #[command(flatten)]
        etcd: EtcdArgs,
        /// Also remove the stored cameras that are no longer in DIR.
        #[arg(long)]
        prune: bool,
    },
    /// The cameras stored in etcd and the worker each is assigned to.
    List {
        #[command(flatten)]
        etcd: EtcdArgs,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Where the cluster's etcd is.
#[derive(clap::Args, Clone, Debug)]
pub struct EtcdArgs {
    /// etcd endpoints, HOST:PORT[,HOST:PORT...].
    #[arg(long, required = true)]
    etcd: String,
    /// Key prefix of this cluster in etcd.
    #[arg(long, default_value = sharpeyes::cluster::DEFAULT_PREFIX)]
    etcd_prefix: String,
}

impl EtcdArgs {
    pub fn parse(&self) -> anyhow::Result<(Vec<String>, sharpeyes::cluster::Keys)> {
        Ok((
            sharpeyes::cluster::etcd::endpoints(&self.etcd).map_err(anyhow::Error::msg)?,
            sharpeyes::cluster::Keys::new(&self.etcd_prefix).map_err(anyhow::Error::msg)?,
        ))
    }
}

/// `run --cluster ...`.
#[derive(clap::Args, Clone, Debug)]
pub struct ClusterArgs {
    /// Run as a worker of a cluster: the cameras come from etcd (`camera push`), as the
    /// elected leader assigns them, instead of from --cameras.
    #[arg(long, requires_all = ["etcd", "worker_id"])]
    pub cluster: bool,
    /// etcd endpoints, HOST:PORT[,HOST:PORT...] (with --cluster).
    #[arg(long, requires = "cluster")]
    pub etcd: Option<String>,
    /// Key prefix of the cluster in etcd.
    #[arg(long, default_value = sharpeyes::cluster::DEFAULT_PREFIX)]
    pub etcd_prefix: String,
    /// This worker's id (1-64 of A-Z a-z 0-9 . _ -), unique in the cluster.
    #[arg(long, requires = "cluster")]
    pub worker_id: Option<String>,
    /// Cameras this worker may run (default: what the density bench measured for one box; see
    /// docs/cluster.md).
    #[arg(long, default_value_t = sharpeyes::cluster::DEFAULT_CAPACITY)]
    pub capacity: usize,
    /// Lease TTL, seconds: a worker silent this long loses its cameras to the others.
    #[arg(long, default_value_t = sharpeyes::cluster::DEFAULT_TTL_S, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub ttl_s: u64,
    /// This worker's state (outbox, ack log, snapshots); default var/workers/<worker-id>.
    #[arg(long, requires = "cluster")]
    pub state_dir: Option<PathBuf>,
    /// Take assignments but decode nothing (planning and tests of the assignment itself).
    #[arg(long, requires = "cluster")]
    pub assign_only: bool,
}

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Workers (id, capacity, cameras, lease age), the leader, unassigned cameras.
    Status {
        #[command(flatten)]
        etcd: EtcdArgs,
        #[arg(long)]
        json: bool,
    },
    /// County-scale simulation against a real etcd: N synthetic cameras, M assign-only workers
    /// in this process; measures the time to assign everything, the time to move the cameras
    /// of the killed share of the workers, and etcd's write load. Uses (and empties) the
    /// prefix: give it its own, never a production one.
    Simulate(ClusterSimulateArgs),
}

/// `sharpeyes cluster simulate`.
#[derive(clap::Args)]
pub struct ClusterSimulateArgs {
    #[command(flatten)]
    pub etcd: EtcdArgs,
    #[arg(long, default_value_t = 15_000)]
    pub cameras: usize,
    #[arg(long, default_value_t = 500)]
    pub workers: usize,
    /// Capacity of each worker (default: enough for every camera plus 25 %).
    #[arg(long)]
    pub capacity: Option<usize>,
    /// Workers that stand in the election.
    #[arg(long, default_value_t = 3)]
    pub candidates: usize,
    #[arg(long, default_value_t = sharpeyes::cluster::DEFAULT_TTL_S)]
    pub ttl_s: u64,
    /// Share of the workers killed after the assignment (0-1).
    #[arg(long, default_value_t = 0.1)]
    pub kill: f64,
    /// Give up a phase after this many seconds.
    #[arg(long, default_value_t = 300.0, value_parser = seconds)]
    pub timeout: f64,
    /// Also write the report as JSON here.
    #[arg(long)]
    pub json_out: Option<PathBuf>,
}

/// `--web` and `--db` of `run` and `demo`.
#[derive(clap::Args, Clone, Debug)]
pub struct WebArgs {
    /// Also serve the command center (page, API, live feed) at this address, e.g.
    /// 127.0.0.1:8080, fed by this pipeline directly.
    #[arg(long)]
    pub web: Option<String>,
    /// The command center's database (SQLite; created if missing).
    #[arg(long, default_value = "var/command-center.db")]
    pub db: PathBuf,
    /// Not a flag: `demo`'s default address may fall back to any free port when it is taken.
    #[arg(skip)]
    pub any_port_if_taken: bool,
}

/// How long `serve` keeps what it stores (swept at start and hourly).
#[derive(clap::Args, Clone, Debug)]
pub struct RetentionArgs {
    /// Days an incident (its alerts, actions and snapshots) is kept after its last alert; 0
    /// keeps them forever.
    #[arg(long, default_value = "180", value_parser = days)]
    incident_retention_days: f64,
    /// Days an audit record is kept; 0 keeps them forever.
    #[arg(long, default_value = "365", value_parser = days)]
    audit_retention_days: f64,
}

/// A number of days: finite, 0 to 36500.
fn days(s: &str) -> Result<f64, String> {
    let d: f64 = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    if d.is_finite() && (0.0..=36_500.0).contains(&d) {
        Ok(d)
    } else {
        Err(format!("{s:?}: must be a number of days from 0 to 36500"))
    }
}

impl RetentionArgs {
    /// Sweeps `store` now and every hour until `stop`, on a thread of its own.
    pub fn start(
        &self,
        store: Arc<sharpeyes_web::Store>,
        stop: Arc<AtomicBool>,
    ) -> std::thread::JoinHandle<()> {
        let age = |d: f64| (d > 0.0).then(|| (d * 86_400_000.0) as i64);
        let (incidents, audit) = (
            age(self.incident_retention_days),
            age(self.audit_retention_days),
        );
        std::thread::spawn(move || {
            let mut next = std::time::Instant::now();
            while !stop.load(Ordering::Relaxed) {
                if std::time::Instant::now() >= next {
                    next += Duration::from_secs(3600);
                    let now = SystemClock.now().0;
                    let before = |age: Option<i64>| age.map(|a| UnixMillis(now - a));
                    match store.sweep(before(incidents), before(audit)) {
                        Ok((0, 0)) => {}
                        Ok((i, a)) => {
                            tracing::info!(
                                incidents = i,
                                audit = a,
                                "command center retention: old records deleted"
                            )
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "command center retention sweep failed")
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    }
}

/// Sessions and sign-ins of `serve`.
#[derive(clap::Args, Clone, Debug)]
pub struct SessionArgs {
    /// Seconds a session lasts after sign-in.
    #[arg(long, value_parser = seconds, default_value = "43200")]
    session_ttl: f64,
    /// Password checks (argon2id, about 19 MiB and tens of ms of a core each) at once;
    /// 4 × as many sign-ins wait, more are answered 503. Default: the CPU cores.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    login_slots: Option<u16>,
}

impl SessionArgs {
    pub fn apply(&self, options: sharpeyes_web::WebOptions) -> sharpeyes_web::WebOptions {
        sharpeyes_web::WebOptions {
            session_ttl: Duration::from_secs_f64(self.session_ttl),
            login: match self.login_slots {
                Some(n) => sharpeyes_web::LoginLimits::with_slots(usize::from(n)),
                None => options.login.clone(),
            },
            ..options
        }
    }
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Creates (or replaces) a user. The password comes from an environment variable, or
    /// else from the first line of stdin; it is stored only as an argon2id hash.
    Add(UserAddArgs),
    /// Removes a user (an operator who left). Their sessions end at once: pages and live
    /// feeds of a running `serve` are signed out within 2 s.
    Remove(UserRemoveArgs),
    /// Sets a user's password (from the variable, or else the first line of stdin) and ends
    /// their sessions, as `remove` does.
    Passwd(UserPasswdArgs),
}

/// `sharpeyes user add`.
#[derive(clap::Args)]
pub struct UserAddArgs {
    #[arg(long, default_value = "var/command-center.db")]
    pub db: PathBuf,
    #[arg(long)]
    pub username: String,
    /// admin (everything), operator (acts on their villages), viewer (reads their villages).
    #[arg(long)]
    pub role: String,
    /// Comma-separated villages of an operator or viewer.
    #[arg(long, default_value = "")]
    pub villages: String,
    /// Environment variable holding the password.
    #[arg(long)]
    pub password_env: Option<String>,
}

/// `sharpeyes user remove`.
#[derive(clap::Args)]
pub struct UserRemoveArgs {
    #[arg(long, default_value = "var/command-center.db")]
    pub db: PathBuf,
    #[arg(long)]
    pub username: String,
}

/// `sharpeyes user passwd`.
#[derive(clap::Args)]
pub struct UserPasswdArgs {
    #[arg(long, default_value = "var/command-center.db")]
    pub db: PathBuf,
    #[arg(long)]
    pub username: String,
    /// Environment variable holding the password.
    #[arg(long)]
    pub password_env: Option<String>,
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Validate config files: a config tree (default `configs`: the pipeline config, the
    /// guardians' registry and cameras/), a camera directory or one file, each
    /// file checked as what it is. Prints every problem with its file and field; exit status 0
    /// when all are valid, 2 otherwise.
    Check { path: Option<PathBuf> },
}

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// Put a model (default: every known model) into the cache, from the assets or its URL.
    Fetch { name: Option<String> },
    /// List the known models and whether they are cached.
    List,
}

/// A number of seconds: finite, > 0, at most a year (what `Duration::from_secs_f64` accepts).
fn seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if v.is_finite() && v > 0.0 && v <= 366.0 * 86_400.0 {
        Ok(v)
    } else {
        Err(format!(
            "must be more than 0 and at most a year of seconds, got {s}"
        ))
    }
}
