//! `sharpeyes`: the command line. Logs go to stderr (RUST_LOG, default info); stdout carries
//! results (alerts as JSON lines, detections as JSON, summaries).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use sharpeyes::analyze::{Analyzer, RateSampler};
use sharpeyes::config::PipelineConfig;
use sharpeyes::delivery::Delivery;
use sharpeyes::live::{CameraSpec, run_live};
use sharpeyes::models::ModelStore;
use sharpeyes_core::{CameraId, Clock, Detector, FrameSource, SourceItem, SystemClock, UnixMillis};

#[derive(Parser)]
#[command(
    name = "sharpeyes",
    version,
    about = "Safety video analytics for village monitoring points"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Two simulated RTSP cameras on 127.0.0.1 (looping clips from the test assets, or a test
    /// pattern), through decode, detection and rules, alerts to the outbox, stdout and Kafka.
    Demo {
        /// Pipeline config (default: the embedded configs/default.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Also send alerts to this Kafka broker (HOST:PORT).
        #[arg(long)]
        kafka: Option<String>,
        /// RTSP port of the simulated cameras (0: any free port).
        #[arg(long, default_value_t = 8554)]
        port: u16,
        /// Stop after this many seconds (default: run until Ctrl-C).
        #[arg(long, value_parser = seconds)]
        duration: Option<f64>,
        /// Outbox file (default: the config's output.outbox).
        #[arg(long)]
        outbox: Option<PathBuf>,
        #[command(flatten)]
        web: WebArgs,
    },
    /// Run the cameras in a config directory, following edits live (hot reload), with alerts
    /// and camera status events to the outbox, stdout and Kafka, and Prometheus metrics.
    Run {
        /// Camera config directory (one TOML file per camera).
        #[arg(long, default_value = "configs/cameras")]
        cameras: PathBuf,
        /// Pipeline config (default: configs/default.toml, else the embedded copy).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Also send alerts and status events to this Kafka broker (HOST:PORT).
        #[arg(long)]
        kafka: Option<String>,
        /// Serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9464.
        #[arg(long)]
        metrics: Option<String>,
        /// Stop after this many seconds (default: run until Ctrl-C).
        #[arg(long, value_parser = seconds)]
        duration: Option<f64>,
        /// Outbox file (default: the config's output.outbox; with --cluster,
        /// <state-dir>/alerts.jsonl).
        #[arg(long)]
        outbox: Option<PathBuf>,
        #[command(flatten)]
        web: WebArgs,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// The cluster of `run --cluster` workers on etcd: status, and the county-scale simulation.
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// The command center alone: the web page and API, fed from the Kafka topics (alerts and
    /// camera status) as its own consumer group.
    Serve {
        /// Listen address of the page and API.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// The command center's database (SQLite; created if missing).
        #[arg(long, default_value = "var/command-center.db")]
        db: PathBuf,
        /// Kafka brokers (HOST:PORT[,...]); default: the config's kafka.brokers.
        #[arg(long)]
        kafka: Option<String>,
        /// Pipeline config: topic names and [kafka] properties (default: configs/default.toml,
        /// else the embedded copy).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Environment variable holding a token that opens /metrics to
        /// `Authorization: Bearer <token>` (for Prometheus).
        #[arg(long)]
        metrics_token_env: Option<String>,
        /// Mark the session cookie Secure (when a TLS proxy is in front).
        #[arg(long)]
        secure_cookie: bool,
        #[command(flatten)]
        sessions: SessionArgs,
        #[command(flatten)]
        retention: RetentionArgs,
        /// Stop after this many seconds (default: run until Ctrl-C or SIGTERM).
        #[arg(long, value_parser = seconds)]
        duration: Option<f64>,
    },
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
    Replay {
        #[arg(long)]
        input: PathBuf,
        /// JSON-lines file the alerts are written to (replaced).
        #[arg(long)]
        alerts_out: PathBuf,
        /// Pipeline config (default: configs/default.toml, else the embedded copy).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Motion gating: analyse frames only within this many seconds of motion or a
        /// detection (as a camera with detect.motion_gating would); the summary counts the
        /// frames it saved (`gated=`).
        #[arg(long, value_parser = seconds)]
        motion_gating: Option<f64>,
        /// A camera file (configs/cameras/*.toml) whose id, rules, zones and privacy masks
        /// apply to the clip, as they would to that camera live.
        #[arg(long)]
        camera: Option<PathBuf>,
        /// Unix time in ms of the clip's first frame (default: now); alert times are this plus
        /// the media time. Daily windows of zone rules see this clock.
        #[arg(long)]
        start_ms: Option<i64>,
        /// Also write every analysed frame as DIR/<camera>/<ms since the start>.jpg (to judge
        /// ground truth by eye, or to see what the model saw).
        #[arg(long)]
        frames_out: Option<PathBuf>,
    },
    /// The guardians' push service: reads the alerts topic as a Kafka consumer group and POSTs
    /// each alert to the guardians of its camera (registry file), with retries, a per-guardian
    /// rate limit (critical first), dedup, and a dead-letter topic for what cannot be delivered.
    Notify {
        /// The guardians' registry: [service], [kafka], [gateways.*], [[guardians]].
        #[arg(long, default_value = "configs/guardians.toml")]
        registry: PathBuf,
        /// Kafka brokers (HOST:PORT[,...]); default: the registry's kafka.brokers.
        #[arg(long)]
        kafka: Option<String>,
        /// Only check the registry: print every problem with its field; exit 2 when invalid.
        #[arg(long)]
        check: bool,
        /// Stop after this many seconds (default: run until Ctrl-C or SIGTERM).
        #[arg(long, value_parser = seconds)]
        duration: Option<f64>,
        /// Alerts older than this many seconds at send time are not pushed but dead-lettered
        /// (reason `stale`); overrides the registry's service.max_age_s (default 900).
        #[arg(long, value_parser = seconds)]
        max_age: Option<f64>,
    },
    /// Simulated RTSP cameras on 127.0.0.1 (gst-rtsp-server): a clip encoded once, played by
    /// every camera under an activity profile (village: an empty scene most of the time,
    /// people walking in at random moments). Mounts cam-001 ...; JSON lines on stdout say
    /// when each camera's activity starts and ends.
    Simulate {
        /// How many cameras.
        #[arg(long, default_value_t = 4)]
        cameras: usize,
        /// Clip to play (repeat for several: camera i plays clip i mod count). Default:
        /// people_walking_indoor_intel.mp4 from $SHARPEYES_CLIPS or ../shared/assets/videos.
        #[arg(long = "clip")]
        clips: Vec<PathBuf>,
        /// RTSP port on 127.0.0.1 (0: any free port; the ready line says which).
        #[arg(long, default_value_t = 8554)]
        port: u16,
        /// Activity profile: village, idle (the empty scene only: a village at night) or loop
        /// (the clip over and over).
        #[arg(long, default_value = "village")]
        activity: String,
        /// Village profile: mean seconds between activities of one camera.
        #[arg(long, value_parser = seconds, default_value = "120")]
        idle_mean_s: f64,
        /// Village profile: seconds each activity lasts (the clip from its start).
        #[arg(long, value_parser = seconds, default_value = "20")]
        active_s: f64,
        /// Frame rate of every camera.
        #[arg(long, default_value_t = 15)]
        fps: u32,
        /// Picture size, WIDTHxHEIGHT.
        #[arg(long, default_value = "640x360", value_parser = sharpeyes::simulate::parse_size)]
        size: (u32, u32),
        /// Seed of the activity schedules (camera i gets seed + i).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Stop after this many seconds (default: run until Ctrl-C).
        #[arg(long, value_parser = seconds)]
        duration: Option<f64>,
    },
    /// Benchmark: starts the simulator and a Kafka broker, runs the pipeline on N cameras (or
    /// searches for the most cameras within a p99 latency bound) and prints decode and
    /// inference rates, latency capture → Kafka ack, CPU and memory per camera and dropped
    /// frames, with baselines measured in the same run; results to benches/results/.
    Bench {
        /// Run this many cameras (default 8).
        #[arg(long, conflicts_with = "find_max")]
        cameras: Option<usize>,
        /// Search for the most cameras whose latency p99 stays within --p99-ms.
        #[arg(long)]
        find_max: bool,
        /// The latency bound of --find-max, ms.
        #[arg(long, default_value_t = 1000.0)]
        p99_ms: f64,
        /// cpu, or gpu (TensorRT/CUDA execution providers and NVDEC decoders when present).
        #[arg(long, default_value = "cpu")]
        profile: String,
        /// Measuring window of each trial, seconds.
        #[arg(long, value_parser = seconds, default_value = "60")]
        duration: f64,
        /// Warm-up before each window, seconds.
        #[arg(long, value_parser = seconds, default_value = "15")]
        warmup: f64,
        /// Pipeline config (default: the embedded default without the pose stage).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Clip the simulated cameras play (default: people_walking_indoor_intel.mp4).
        #[arg(long)]
        clip: Option<PathBuf>,
        /// Use this Kafka broker (HOST:PORT) instead of starting tansu.
        #[arg(long)]
        kafka: Option<String>,
        /// Skip the baselines (raw ONNX Runtime, decode-every-frame, Python loop).
        #[arg(long)]
        no_baselines: bool,
        /// Soak: one gated trial of --cameras N for this long (`90s`, `5m`, `1h`; no
        /// baselines); RSS and open files after warm-up and at the end, and their growth in %.
        #[arg(long, value_parser = sharpeyes::bench::parse_soak, conflicts_with = "find_max")]
        soak: Option<Duration>,
        /// Where the JSON and markdown results go.
        #[arg(long, default_value = "benches/results")]
        out: PathBuf,
        /// Upper limit of --find-max (also how many cameras the simulator serves).
        #[arg(long, default_value_t = 256)]
        max_cameras: usize,
        /// Quiet period of adaptive decode and motion gating in gated mode, seconds (a camera
        /// file's detect.quiet_s).
        #[arg(long, value_parser = seconds, default_value = "10")]
        quiet_s: f64,
        /// Village profile: mean seconds between activities of one camera.
        #[arg(long, value_parser = seconds, default_value = "120")]
        idle_mean_s: f64,
        /// Village profile: seconds each activity lasts.
        #[arg(long, value_parser = seconds, default_value = "20")]
        active_s: f64,
        /// ONNX Runtime intra-op threads of the saturated-camera comparisons (0: one per core).
        #[arg(long, default_value_t = 0)]
        saturated_threads: usize,
        /// Length of the saturated-camera comparisons, seconds.
        #[arg(long, value_parser = seconds, default_value = "40")]
        saturated_s: f64,
        /// Also a night run: this many gated cameras, every one idle the whole time (what an
        /// idle camera costs); 0: none. The issue's figure is 200.
        #[arg(long, default_value_t = 0)]
        night_cameras: usize,
        /// Adaptive decode's peek interval in gated mode (camera files' detect.peek_s; 0:
        /// keyframes only).
        #[arg(long, default_value_t = sharpeyes_ingest::DEFAULT_PEEK.as_secs_f64())]
        peek_s: f64,
        /// Seed of the simulator's activity schedules.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Run one image through a model and print the detections as JSON.
    Detect {
        #[arg(long)]
        image: PathBuf,
        /// Model manifest name (default: the config's detect.model).
        #[arg(long)]
        model: Option<String>,
    },
    /// Model files: fetch (verify SHA-256) or list.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
}

#[derive(Subcommand)]
enum CameraCommand {
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
struct EtcdArgs {
    /// etcd endpoints, HOST:PORT[,HOST:PORT...].
    #[arg(long, required = true)]
    etcd: String,
    /// Key prefix of this cluster in etcd.
    #[arg(long, default_value = sharpeyes::cluster::DEFAULT_PREFIX)]
    etcd_prefix: String,
}

impl EtcdArgs {
    fn parse(&self) -> anyhow::Result<(Vec<String>, sharpeyes::cluster::Keys)> {
        Ok((
            sharpeyes::cluster::etcd::endpoints(&self.etcd).map_err(anyhow::Error::msg)?,
            sharpeyes::cluster::Keys::new(&self.etcd_prefix).map_err(anyhow::Error::msg)?,
        ))
    }
}

/// `run --cluster ...`.
#[derive(clap::Args, Clone, Debug)]
struct ClusterArgs {
    /// Run as a worker of a cluster: the cameras come from etcd (`camera push`), as the
    /// elected leader assigns them, instead of from --cameras.
    #[arg(long, requires_all = ["etcd", "worker_id"])]
    cluster: bool,
    /// etcd endpoints, HOST:PORT[,HOST:PORT...] (with --cluster).
    #[arg(long, requires = "cluster")]
    etcd: Option<String>,
    /// Key prefix of the cluster in etcd.
    #[arg(long, default_value = sharpeyes::cluster::DEFAULT_PREFIX)]
    etcd_prefix: String,
    /// This worker's id (1-64 of A-Z a-z 0-9 . _ -), unique in the cluster.
    #[arg(long, requires = "cluster")]
    worker_id: Option<String>,
    /// Cameras this worker may run (default: what the density bench measured for one box; see
    /// docs/cluster.md).
    #[arg(long, default_value_t = sharpeyes::cluster::DEFAULT_CAPACITY)]
    capacity: usize,
    /// Lease TTL, seconds: a worker silent this long loses its cameras to the others.
    #[arg(long, default_value_t = sharpeyes::cluster::DEFAULT_TTL_S, value_parser = clap::value_parser!(u64).range(1..=300))]
    ttl_s: u64,
    /// This worker's state (outbox, ack log, snapshots); default var/workers/<worker-id>.
    #[arg(long, requires = "cluster")]
    state_dir: Option<PathBuf>,
    /// Take assignments but decode nothing (planning and tests of the assignment itself).
    #[arg(long, requires = "cluster")]
    assign_only: bool,
}

#[derive(Subcommand)]
enum ClusterCommand {
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
    Simulate {
        #[command(flatten)]
        etcd: EtcdArgs,
        #[arg(long, default_value_t = 15_000)]
        cameras: usize,
        #[arg(long, default_value_t = 500)]
        workers: usize,
        /// Capacity of each worker (default: enough for every camera plus 25 %).
        #[arg(long)]
        capacity: Option<usize>,
        /// Workers that stand in the election.
        #[arg(long, default_value_t = 3)]
        candidates: usize,
        #[arg(long, default_value_t = sharpeyes::cluster::DEFAULT_TTL_S)]
        ttl_s: u64,
        /// Share of the workers killed after the assignment (0-1).
        #[arg(long, default_value_t = 0.1)]
        kill: f64,
        /// Give up a phase after this many seconds.
        #[arg(long, default_value_t = 300.0, value_parser = seconds)]
        timeout: f64,
        /// Also write the report as JSON here.
        #[arg(long)]
        json_out: Option<PathBuf>,
    },
}

/// `--web` and `--db` of `run` and `demo`.
#[derive(clap::Args, Clone, Debug)]
struct WebArgs {
    /// Also serve the command center (page, API, live feed) at this address, e.g.
    /// 127.0.0.1:8080, fed by this pipeline directly.
    #[arg(long)]
    web: Option<String>,
    /// The command center's database (SQLite; created if missing).
    #[arg(long, default_value = "var/command-center.db")]
    db: PathBuf,
}

/// How long `serve` keeps what it stores (swept at start and hourly).
#[derive(clap::Args, Clone, Debug)]
struct RetentionArgs {
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
    fn start(
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
struct SessionArgs {
    /// Seconds a session lasts after sign-in.
    #[arg(long, value_parser = seconds, default_value = "43200")]
    session_ttl: f64,
    /// Password checks (argon2id, about 19 MiB and tens of ms of a core each) at once;
    /// 4 × as many sign-ins wait, more are answered 503. Default: the CPU cores.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    login_slots: Option<u16>,
}

impl SessionArgs {
    fn apply(&self, options: sharpeyes_web::WebOptions) -> sharpeyes_web::WebOptions {
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
enum UserCommand {
    /// Creates (or replaces) a user. The password comes from an environment variable, or
    /// else from the first line of stdin; it is stored only as an argon2id hash.
    Add {
        #[arg(long, default_value = "var/command-center.db")]
        db: PathBuf,
        #[arg(long)]
        username: String,
        /// admin (everything), operator (acts on their villages), viewer (reads their villages).
        #[arg(long)]
        role: String,
        /// Comma-separated villages of an operator or viewer.
        #[arg(long, default_value = "")]
        villages: String,
        /// Environment variable holding the password.
        #[arg(long)]
        password_env: Option<String>,
    },
    /// Removes a user (an operator who left). Their sessions end at once: pages and live
    /// feeds of a running `serve` are signed out within 2 s.
    Remove {
        #[arg(long, default_value = "var/command-center.db")]
        db: PathBuf,
        #[arg(long)]
        username: String,
    },
    /// Sets a user's password (from the variable, or else the first line of stdin) and ends
    /// their sessions, as `remove` does.
    Passwd {
        #[arg(long, default_value = "var/command-center.db")]
        db: PathBuf,
        #[arg(long)]
        username: String,
        /// Environment variable holding the password.
        #[arg(long)]
        password_env: Option<String>,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate config files: a config tree (default `configs`: the pipeline config, the
    /// guardians' registry and cameras/), a camera directory or one file, each
    /// file checked as what it is. Prints every problem with its file and field; exit status 0
    /// when all are valid, 2 otherwise.
    Check { path: Option<PathBuf> },
}

#[derive(Subcommand)]
enum ModelsCommand {
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

/// `sharpeyes serve`.
#[allow(clippy::too_many_arguments)]
fn serve(
    listen: &str,
    db: &Path,
    kafka: Option<String>,
    config: Option<&Path>,
    metrics_token_env: Option<String>,
    secure_cookie: bool,
    sessions: &SessionArgs,
    retention: &RetentionArgs,
    duration: Option<f64>,
) -> anyhow::Result<()> {
    let config = load_config(config)?;
    let metrics_token = match metrics_token_env {
        Some(var) => Some(
            std::env::var(&var)
                .with_context(|| format!("--metrics-token-env: {var} is not set"))?,
        ),
        None => None,
    };
    let store = Arc::new(
        sharpeyes_web::Store::open(db).with_context(|| format!("opening {}", db.display()))?,
    );
    let server = sharpeyes_web::WebServer::start(
        listen,
        store.clone(),
        sessions.apply(sharpeyes_web::WebOptions {
            secure_cookie,
            metrics_token,
            ..sharpeyes_web::WebOptions::default()
        }),
    )
    .with_context(|| format!("--listen {listen}"))?;
    let stop = ctrl_c_flag()?;
    let sweeper = retention.start(store, stop.clone());
    let reader = match kafka.or(config.kafka.brokers.clone()) {
        Some(brokers) => Some(sharpeyes_web::consume_kafka(
            brokers,
            vec![config.kafka_topic.clone(), config.status_topic.clone()],
            Some(config.snapshot_topic.clone()),
            "sharpeyes-command-center".into(),
            config.kafka.resolve().map_err(anyhow::Error::msg)?,
            server.feed.clone(),
            stop.clone(),
        )),
        None => {
            eprintln!("note: no Kafka brokers (--kafka or kafka.brokers): the feed stays empty");
            None
        }
    };
    eprintln!(
        "command center: http://{}/ ; database {} ; Ctrl-C stops",
        server.addr,
        db.display()
    );
    let started = std::time::Instant::now();
    while !stop.load(Ordering::Relaxed)
        && duration.is_none_or(|d| started.elapsed().as_secs_f64() < d)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(r) = reader {
        let _ = r.join();
    }
    let _ = sweeper.join();
    drop(server);
    Ok(())
}

/// `sharpeyes user add`.
fn user_add(
    db: &Path,
    username: &str,
    role: &str,
    villages: &str,
    password_env: Option<&str>,
) -> anyhow::Result<()> {
    let role = sharpeyes_web::Role::parse(role)
        .with_context(|| format!("--role {role:?}: one of admin, operator, viewer"))?;
    if username.trim().is_empty() || username.len() > sharpeyes_web::auth::MAX_USERNAME_BYTES {
        anyhow::bail!(
            "--username: 1 to {} bytes",
            sharpeyes_web::auth::MAX_USERNAME_BYTES
        );
    }
    let villages: std::collections::BTreeSet<String> = villages
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect();
    if role != sharpeyes_web::Role::Admin && villages.is_empty() {
        anyhow::bail!("--villages: an operator or viewer needs at least one village");
    }
    let password = read_password(password_env)?;
    let store =
        sharpeyes_web::Store::open(db).with_context(|| format!("opening {}", db.display()))?;
    let now = SystemClock.now();
    store.put_user(
        username,
        &sharpeyes_web::auth::hash_password(&password),
        role,
        &villages,
        now,
    )?;
    // put_user ended the sessions of the user it replaced, if any.
    store.audit(now, "cli", "user_add", username, role.as_str())?;
    println!(
        "user {username}: {} ({})",
        role.as_str(),
        if villages.is_empty() {
            "all villages".to_string()
        } else {
            villages.into_iter().collect::<Vec<_>>().join(", ")
        }
    );
    Ok(())
}

/// The password of `user add` / `user passwd`: from the variable, or the first line of stdin.
fn read_password(password_env: Option<&str>) -> anyhow::Result<String> {
    let password = match password_env {
        Some(var) => {
            std::env::var(var).with_context(|| format!("--password-env: {var} is not set"))?
        }
        None => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the password from stdin")?;
            line.trim_end_matches(['\n', '\r']).to_owned()
        }
    };
    if password.chars().count() < 10 {
        anyhow::bail!("the password must have at least 10 characters");
    }
    if password.len() > sharpeyes_web::auth::MAX_PASSWORD_BYTES {
        anyhow::bail!(
            "the password must have at most {} bytes",
            sharpeyes_web::auth::MAX_PASSWORD_BYTES
        );
    }
    Ok(password)
}

/// `sharpeyes user remove`: the user and their sessions.
fn user_remove(db: &Path, username: &str) -> anyhow::Result<()> {
    let store =
        sharpeyes_web::Store::open(db).with_context(|| format!("opening {}", db.display()))?;
    if !store.remove_user(username)? {
        anyhow::bail!("no user {username:?} in {}", db.display());
    }
    store.audit(SystemClock.now(), "cli", "user_remove", username, "")?;
    println!("user {username}: removed; their sessions are ended");
    Ok(())
}

/// `sharpeyes user passwd`: a new password; the user's sessions end.
fn user_passwd(db: &Path, username: &str, password_env: Option<&str>) -> anyhow::Result<()> {
    let store =
        sharpeyes_web::Store::open(db).with_context(|| format!("opening {}", db.display()))?;
    if store.user(username)?.is_none() {
        anyhow::bail!("no user {username:?} in {}", db.display());
    }
    let password = read_password(password_env)?;
    if !store.set_password(username, &sharpeyes_web::auth::hash_password(&password))? {
        anyhow::bail!("no user {username:?} in {}", db.display());
    }
    store.audit(SystemClock.now(), "cli", "user_passwd", username, "")?;
    println!("user {username}: password changed; their sessions are ended");
    Ok(())
}

/// `sharpeyes notify`.
fn notify(
    path: &Path,
    kafka: Option<String>,
    check: bool,
    duration: Option<f64>,
    max_age: Option<f64>,
) -> anyhow::Result<()> {
    use sharpeyes_alerts::notify;
    let registry = match notify::Registry::load(path) {
        Ok(r) => r,
        Err(e) => {
            for line in &e.0 {
                println!("{line}");
            }
            std::process::exit(2);
        }
    };
    if check {
        println!(
            "{}: ok ({} guardians, {} gateways)",
            path.display(),
            registry.guardians.len(),
            registry.gateways.len()
        );
        return Ok(());
    }
    let brokers = kafka
        .or_else(|| registry.kafka.brokers.clone())
        .with_context(|| {
            format!(
                "no Kafka brokers: give --kafka HOST:PORT or kafka.brokers in {}",
                path.display()
            )
        })?;
    let kafka_properties = registry.kafka.resolve().map_err(anyhow::Error::msg)?;
    let stop = ctrl_c_flag()?;
    if let Some(d) = duration {
        let s = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs_f64(d));
            s.store(true, Ordering::Relaxed);
        });
    }
    eprintln!(
        "notify: {} guardians, reading {} from {brokers} as group {}; Ctrl-C stops",
        registry.guardians.len(),
        registry.service.alerts_topic,
        registry.service.group_id
    );
    let counters = notify::run(
        notify::NotifyOptions {
            brokers,
            registry,
            registry_path: Some(path.to_owned()),
            max_age: max_age.map(Duration::from_secs_f64),
            kafka_properties,
        },
        stop,
    )?;
    eprintln!("summary: {}", counters.line());
    Ok(())
}

/// The parts `demo` and `run` share: the Ctrl-C flag, the analyzer, and delivery to the outbox,
/// stdout and (with `kafka`) Kafka.
#[allow(clippy::type_complexity)]
fn live_parts(
    config: &PipelineConfig,
    store: &ModelStore,
    outbox: Option<PathBuf>,
    kafka: Option<&str>,
    web: &WebArgs,
) -> anyhow::Result<(
    Arc<AtomicBool>,
    Analyzer,
    Delivery,
    PathBuf,
    Option<sharpeyes_web::WebServer>,
)> {
    let stop = ctrl_c_flag()?;
    let analyzer = Analyzer::new(config, store)?;
    let outbox = outbox.unwrap_or_else(|| config.outbox.clone());
    let kafka = match kafka.or(config.kafka.brokers.as_deref()) {
        Some(brokers) => {
            let mut options = sharpeyes_alerts::KafkaOptions::new(brokers)
                .topic(&config.kafka_topic)
                .client_id("sharpeyes");
            options.extra = config.kafka.resolve().map_err(anyhow::Error::msg)?;
            Some((options, config.status_topic.clone()))
        }
        None => None,
    };
    let mut delivery = Delivery::observed(
        &outbox,
        true,
        kafka,
        config.outbox_max_pending,
        None,
        Some(sharpeyes_alerts::SnapshotSource {
            dir: config.snapshots.clone(),
            topic: config.snapshot_topic.clone(),
        }),
    )?;
    delivery.set_rotate_at(config.outbox_rotate_bytes);
    let web = match &web.web {
        Some(listen) => {
            let db = sharpeyes_web::Store::open(&web.db)
                .with_context(|| format!("opening {}", web.db.display()))?;
            let server = sharpeyes_web::WebServer::start(
                listen,
                Arc::new(db),
                sharpeyes_web::WebOptions::default(),
            )
            .with_context(|| format!("--web {listen}"))?;
            eprintln!(
                "command center: http://{}/ (users: sharpeyes user add --db {})",
                server.addr,
                web.db.display()
            );
            delivery.attach_web(server.feed.clone(), Some(config.snapshots.clone()));
            Some(server)
        }
        None => None,
    };
    Ok((stop, analyzer, delivery, outbox, web))
}

/// A flag Ctrl-C or SIGTERM (the `termination` feature of ctrlc) sets.
fn ctrl_c_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    ctrlc::set_handler(move || s.store(true, Ordering::Relaxed))
        .context("installing the Ctrl-C handler")?;
    Ok(stop)
}

fn load_config(path: Option<&Path>) -> anyhow::Result<PipelineConfig> {
    Ok(match path {
        Some(p) => PipelineConfig::load(p)?,
        None if Path::new("configs/default.toml").is_file() => {
            PipelineConfig::load(Path::new("configs/default.toml"))?
        }
        None => PipelineConfig::embedded_default(),
    })
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let store = ModelStore::from_env();
    match cli.command {
        Command::Models {
            command: ModelsCommand::Fetch { name },
        } => {
            // One name: that model or an error. No name: every model that has a source; the
            // ones without (a user export with no URL or file yet) are listed, not fatal.
            let all = name.is_none();
            let names = name.map(|n| vec![n]).unwrap_or_else(|| store.names());
            let mut missing = 0;
            for n in names {
                let m = store.manifest(&n)?;
                match store.fetch(&m) {
                    Ok(path) => println!("{n}: {}", path.display()),
                    Err(e) if all => {
                        missing += 1;
                        println!("{n}: not fetched: {e:#}");
                    }
                    Err(e) => return Err(e),
                }
            }
            if missing > 0 {
                println!(
                    "{missing} model(s) not fetched; each needs its file in $SHARPEYES_ASSETS or a url in its manifest"
                );
            }
            Ok(())
        }
        Command::Models {
            command: ModelsCommand::List,
        } => {
            for n in store.names() {
                let m = store.manifest(&n)?;
                let p = m.model_path(&store.cache_dir);
                println!(
                    "{n}\t{}\t{}",
                    m.format.as_str(),
                    if p.is_file() {
                        p.display().to_string()
                    } else {
                        "not fetched".into()
                    }
                );
            }
            Ok(())
        }
        Command::Camera {
            command: CameraCommand::Discover { timeout, at },
        } => {
            sharpeyes::camera_cmd::discover(
                Duration::from_secs_f64(timeout),
                at,
                &mut std::io::stdout().lock(),
            )?;
            Ok(())
        }
        Command::Camera {
            command: CameraCommand::Add(o),
        } => {
            let (path, cam) = sharpeyes::camera_cmd::add(&o)?;
            print!("{}", sharpeyes::camera_cmd::describe(&path, &cam));
            Ok(())
        }
        Command::Camera {
            command: CameraCommand::Push { dir, etcd, prune },
        } => {
            let (eps, keys) = etcd.parse()?;
            let known = store.names();
            let mut out = std::io::stdout().lock();
            match sharpeyes::cluster::cli::push(&dir, &eps, &keys, prune, &known, &mut out)? {
                Some(_) => Ok(()),
                None => std::process::exit(2),
            }
        }
        Command::Camera {
            command: CameraCommand::List { etcd, json },
        } => {
            let (eps, keys) = etcd.parse()?;
            let cams = sharpeyes::cluster::cli::list(&eps, &keys)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&cams)?);
            } else {
                println!(
                    "{:<24} {:<12} {:<16} {:<10} name",
                    "camera", "village", "worker", "revision"
                );
                for c in &cams {
                    println!(
                        "{:<24} {:<12} {:<16} {:<10} {}",
                        c.id,
                        c.village,
                        c.worker.as_deref().unwrap_or("-"),
                        c.revision,
                        c.name
                    );
                }
                println!("{} cameras", cams.len());
            }
            Ok(())
        }
        Command::Cluster {
            command: ClusterCommand::Status { etcd, json },
        } => {
            let (eps, keys) = etcd.parse()?;
            let s = sharpeyes::cluster::cli::status(&eps, &keys)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                sharpeyes::cluster::cli::print_status(&s, &mut std::io::stdout().lock())?;
            }
            Ok(())
        }
        Command::Cluster {
            command:
                ClusterCommand::Simulate {
                    etcd,
                    cameras,
                    workers,
                    capacity,
                    candidates,
                    ttl_s,
                    kill,
                    timeout,
                    json_out,
                },
        } => {
            let (eps, keys) = etcd.parse()?;
            anyhow::ensure!(
                workers > 0 && cameras > 0,
                "--workers and --cameras must be more than 0"
            );
            anyhow::ensure!(
                (0.0..1.0).contains(&kill),
                "--kill must be at least 0 and below 1, got {kill}"
            );
            let capacity = capacity.unwrap_or((cameras * 5).div_ceil(workers * 4));
            let o = sharpeyes::cluster::cli::SimOptions {
                endpoints: eps,
                keys,
                cameras,
                workers,
                capacity,
                candidates: candidates.clamp(1, workers),
                ttl: Duration::from_secs(ttl_s.max(1)),
                kill,
                timeout: Duration::from_secs_f64(timeout),
            };
            // Not stderr().lock(): the log lines of the simulated workers (other threads) also
            // go to stderr and would wait for the lock for ever.
            let r = sharpeyes::cluster::cli::simulate(&o, &mut std::io::stderr())?;
            let text = serde_json::to_string_pretty(&r)?;
            println!("{text}");
            if let Some(p) = json_out {
                std::fs::write(&p, format!("{text}\n"))
                    .with_context(|| format!("writing {}", p.display()))?;
            }
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Check { path },
        } => {
            // Default: the whole tree (pipeline config, guardians' registry, cameras/).
            let path = path.unwrap_or_else(|| PathBuf::from("configs"));
            let ok = sharpeyes::config_check::run_check(&path, &mut std::io::stdout().lock());
            if !ok {
                std::process::exit(2);
            }
            Ok(())
        }
        Command::Run {
            cameras,
            config,
            kafka,
            metrics,
            duration,
            outbox,
            web,
            cluster,
        } => {
            let mut config = load_config(config.as_deref())?;
            let mut outbox = outbox;
            let mut cluster = match &cluster {
                ClusterArgs {
                    cluster: true,
                    etcd: Some(etcd),
                    worker_id: Some(id),
                    ..
                } => {
                    anyhow::ensure!(
                        sharpeyes::cluster::valid_worker_id(id),
                        "--worker-id {id:?}: 1-64 of A-Z a-z 0-9 . _ - (it names a key and a directory)"
                    );
                    let state = cluster
                        .state_dir
                        .clone()
                        .unwrap_or_else(|| Path::new("var/workers").join(id));
                    std::fs::create_dir_all(&state).with_context(|| {
                        format!("creating the state directory {}", state.display())
                    })?;
                    outbox.get_or_insert_with(|| state.join("alerts.jsonl"));
                    config.snapshots = state.join("snapshots");
                    Some(sharpeyes::run::ClusterRun {
                        member: sharpeyes::cluster::MemberOptions {
                            endpoints: sharpeyes::cluster::etcd::endpoints(etcd)
                                .map_err(anyhow::Error::msg)?,
                            keys: sharpeyes::cluster::Keys::new(&cluster.etcd_prefix)
                                .map_err(anyhow::Error::msg)?,
                            worker_id: id.clone(),
                            capacity: cluster.capacity,
                            ttl: Duration::from_secs(cluster.ttl_s),
                            fetch_configs: !cluster.assign_only,
                            campaign: true,
                            rule_state_dir: None, // set below, beside the outbox
                        },
                        assign_only: cluster.assign_only,
                    })
                }
                _ => None,
            };
            let (stop, mut analyzer, delivery, outbox, _web) =
                live_parts(&config, &store, outbox, kafka.as_deref(), &web)?;
            // Rule state (open incidents, "last seen") beside the outbox, per camera.
            let outbox_dir = outbox.parent().unwrap_or(Path::new("."));
            let state_dir = outbox_dir.join("state");
            analyzer.set_state_dir(state_dir.clone())?;
            // In a cluster the state also follows the camera to its next worker, through etcd.
            if let Some(c) = &mut cluster {
                c.member.rule_state_dir = Some(state_dir);
            }
            let options = sharpeyes::run::RunOptions {
                cameras_dir: cameras,
                metrics,
                duration: duration.map(Duration::from_secs_f64),
                batching: (config.max_batch, config.max_wait),
                cluster,
            };
            sharpeyes::run::run(options, analyzer, delivery, stop)
        }
        Command::Serve {
            listen,
            db,
            kafka,
            config,
            metrics_token_env,
            secure_cookie,
            sessions,
            retention,
            duration,
        } => serve(
            &listen,
            &db,
            kafka,
            config.as_deref(),
            metrics_token_env,
            secure_cookie,
            &sessions,
            &retention,
            duration,
        ),
        Command::User {
            command:
                UserCommand::Add {
                    db,
                    username,
                    role,
                    villages,
                    password_env,
                },
        } => user_add(&db, &username, &role, &villages, password_env.as_deref()),
        Command::User {
            command: UserCommand::Remove { db, username },
        } => user_remove(&db, &username),
        Command::User {
            command:
                UserCommand::Passwd {
                    db,
                    username,
                    password_env,
                },
        } => user_passwd(&db, &username, password_env.as_deref()),
        Command::Notify {
            registry,
            kafka,
            check,
            duration,
            max_age,
        } => notify(&registry, kafka, check, duration, max_age),
        Command::Detect { image, model } => detect(&store, &image, model),
        Command::Simulate {
            cameras,
            clips,
            port,
            activity,
            idle_mean_s,
            active_s,
            fps,
            size,
            seed,
            duration,
        } => {
            let activity = match sharpeyes_ingest::Activity::parse(&activity)
                .map_err(|e| anyhow::anyhow!("--activity: {e}"))?
            {
                sharpeyes_ingest::Activity::Village { .. } => sharpeyes_ingest::Activity::Village {
                    idle_mean: Duration::from_secs_f64(idle_mean_s),
                    active: Duration::from_secs_f64(active_s),
                },
                other => other,
            };
            let options = sharpeyes::simulate::SimulateOptions {
                cameras,
                clips,
                port,
                activity,
                fps,
                width: size.0,
                height: size.1,
                seed,
                ..Default::default()
            };
            let stop = ctrl_c_flag()?;
            sharpeyes::simulate::run(&options, duration.map(Duration::from_secs_f64), stop)
        }
        Command::Bench {
            cameras,
            find_max,
            p99_ms,
            profile,
            duration,
            warmup,
            config,
            clip,
            kafka,
            no_baselines,
            soak,
            out,
            max_cameras,
            quiet_s,
            idle_mean_s,
            active_s,
            saturated_threads,
            saturated_s,
            night_cameras,
            peek_s,
            seed,
        } => {
            use sharpeyes::bench::{BenchOptions, Profile};
            let profile = match profile.as_str() {
                "cpu" => Profile::Cpu,
                "gpu" => Profile::Gpu,
                other => anyhow::bail!("--profile {other:?}: expected cpu or gpu"),
            };
            let options = BenchOptions {
                cameras,
                find_max,
                p99_ms,
                profile,
                warmup: Duration::from_secs_f64(warmup),
                duration: Duration::from_secs_f64(duration),
                config,
                clip,
                kafka,
                baselines: !no_baselines,
                out_dir: out,
                max_cameras,
                seed,
                quiet: Duration::from_secs_f64(quiet_s.max(1.0)),
                idle_mean: Duration::from_secs_f64(idle_mean_s),
                active: Duration::from_secs_f64(active_s),
                saturated_threads,
                saturated_duration: Duration::from_secs_f64(saturated_s),
                night_cameras,
                peek: sharpeyes_ingest::peek_from_secs(peek_s)
                    .map_err(|e| anyhow::anyhow!("--peek-s: {e}"))?,
                soak,
            };
            let stop = ctrl_c_flag()?;
            sharpeyes::bench::run(&options, stop).map(|_| ())
        }
        Command::Replay {
            input,
            alerts_out,
            config,
            motion_gating,
            camera,
            start_ms,
            frames_out,
        } => replay(
            &store,
            &input,
            &alerts_out,
            config.as_deref(),
            ReplayOptions {
                motion_gating: motion_gating.map(Duration::from_secs_f64),
                camera,
                start: start_ms.map(UnixMillis),
                frames_out,
            },
        ),
        Command::Demo {
            config,
            kafka,
            port,
            duration,
            outbox,
            web,
        } => demo(
            &store,
            config.as_deref(),
            kafka,
            port,
            duration.map(Duration::from_secs_f64),
            outbox,
            &web,
        ),
    }
}

fn detect(store: &ModelStore, image: &Path, model: Option<String>) -> anyhow::Result<()> {
    let config = load_config(None)?;
    let name = model.unwrap_or(config.model);
    sharpeyes::runtime::init_onnxruntime()?;
    let manifest = store.manifest(&name)?;
    let path = store.ensure(&manifest)?;
    let img = image::open(image)
        .with_context(|| format!("{}: cannot read the image", image.display()))?
        .to_rgb8();
    let (w, h, pad) = (
        manifest.input.width,
        manifest.input.height,
        manifest.input.pad_value,
    );
    let frame = sharpeyes_inference::letterbox_image(&img, w, h, pad)?;
    let mut detector = sharpeyes_inference::OrtDetector::new(manifest, &path, Default::default())?;
    // Pose models: each detection also carries its keypoints (empty for other models).
    let dets = detector
        .detect(std::slice::from_ref(&frame))?
        .pop()
        .unwrap_or_default();
    let detections: Vec<serde_json::Value> = dets
        .iter()
        .map(|d| {
            let mut v = serde_json::json!({
                "class": d.class_name.as_ref(),
                "score": d.score,
                "x1": d.bbox.x1,
                "y1": d.bbox.y1,
                "x2": d.bbox.x2,
                "y2": d.bbox.y2,
            });
            if !d.keypoints.is_empty() {
                v["keypoints"] = d
                    .keypoints
                    .iter()
                    .map(|k| serde_json::json!([k.x, k.y, k.score]))
                    .collect();
            }
            v
        })
        .collect();
    let out = serde_json::json!({
        "image": image,
        "model": name,
        "width": img.width(),
        "height": img.height(),
        "detections": detections,
    });
    println!("{out}");
    Ok(())
}

/// `replay`'s optional settings.
struct ReplayOptions {
    motion_gating: Option<Duration>,
    camera: Option<PathBuf>,
    start: Option<UnixMillis>,
    frames_out: Option<PathBuf>,
}

fn replay(
    store: &ModelStore,
    input: &Path,
    alerts_out: &Path,
    config: Option<&Path>,
    options: ReplayOptions,
) -> anyhow::Result<()> {
    let motion_gating = options.motion_gating;
    let config = load_config(config)?;
    let mut analyzer = Analyzer::new(&config, store)?;
    let camera_config = match &options.camera {
        Some(path) => Some(sharpeyes::cameras::load_file(path).map_err(|issues| {
            anyhow::anyhow!(
                "{}",
                issues
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })?),
        None => None,
    };
    if alerts_out.exists() {
        std::fs::remove_file(alerts_out)
            .with_context(|| format!("replacing {}", alerts_out.display()))?;
    }
    let mut delivery = Delivery::new(alerts_out, false, None, config.outbox_max_pending)?;
    let (w, h) = analyzer.canvas_size();
    let camera = CameraId::new(
        input
            .file_stem()
            .and_then(|s| s.to_str())
            .map(|s| {
                s.replace(
                    |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_',
                    "_",
                )
            })
            .unwrap_or_default(),
    )
    .or_else(|_| CameraId::new("replay"))?;
    let camera = camera_config.as_ref().map_or(camera, |c| c.id.clone());
    let masks = camera_config
        .as_ref()
        .map(|c| c.privacy_masks.clone())
        .unwrap_or_default();
    if let Some(c) = &camera_config {
        analyzer.set_camera(&camera, sharpeyes::analyze::CameraRules::from_config(c));
    }
    let start = options.start.unwrap_or_else(|| SystemClock.now());
    let frames_out = options
        .frames_out
        .as_ref()
        .map(sharpeyes_alerts::SnapshotWriter::new);
    let mut source = sharpeyes_ingest::FileSource::open(camera, input, w, h, start)?;
    let mut sampler = RateSampler::new(config.detect_fps);
    let started = Instant::now();
    let mut frames = 0u64;
    let mut gated = 0u64;
    // Motion gating in media time, exactly as a camera thread does it in wall time.
    let gate = sharpeyes_ingest::DecodeGate::new(false, motion_gating.unwrap_or_default());
    let mut motion = sharpeyes_ingest::MotionDetector::default();
    loop {
        match source.next_frame(Duration::from_secs(30))? {
            SourceItem::Frame(mut f) => {
                frames += 1;
                sharpeyes_ingest::apply_privacy_masks(&mut f, &masks);
                if motion_gating.is_some() && motion.update(&f) >= sharpeyes::live::MOTION_THRESHOLD
                {
                    gate.activity(f.time);
                }
                if sampler.take(&f.camera, f.time) {
                    if motion_gating.is_some() && !gate.active(f.time) {
                        gated += 1;
                        let size = (f.letterbox.src_width, f.letterbox.src_height);
                        for a in analyzer.idle(&f.camera, f.time, Some(size)) {
                            delivery.deliver(a.into());
                        }
                        continue;
                    }
                    if let Some(w) = &frames_out {
                        w.write(&format!("{:07}", f.time.0 - start.0), &f)?;
                    }
                    for a in analyzer.analyze(std::slice::from_ref(&f))? {
                        delivery.deliver(a.into());
                    }
                    if !analyzer.active_cameras.is_empty() {
                        gate.activity(f.time);
                    }
                }
            }
            SourceItem::End => break,
            SourceItem::Timeout => anyhow::bail!("{}: no frame decoded for 30 s", input.display()),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "summary: frames={frames} analysed={} gated={gated} pose_runs={} persons={} skeletons={} seconds={secs:.2} fps={:.1} alerts: {}",
        analyzer.frames_analysed,
        analyzer.pose_runs.images,
        analyzer.pose_runs.persons,
        analyzer.pose_runs.matched,
        frames as f64 / secs.max(1e-9),
        delivery.counts_line()
    );
    Ok(())
}

/// The village of `demo`'s simulated cameras.
const DEMO_VILLAGE: &str = "Demo village";

fn demo(
    store: &ModelStore,
    config: Option<&Path>,
    kafka: Option<String>,
    port: u16,
    duration: Option<Duration>,
    outbox: Option<PathBuf>,
    web: &WebArgs,
) -> anyhow::Result<()> {
    let config = match config {
        Some(p) => PipelineConfig::load(p)?,
        None => PipelineConfig::embedded_default(),
    };

    let clips_dir = std::env::var_os("SHARPEYES_CLIPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| "../shared/assets/videos".into());
    let wanted = [
        ("cam-1", "people_walking_indoor_intel.mp4"),
        ("cam-2", "fall_staged_indoor_thanhnc58_Fall01.mp4"),
    ];
    let sims: Vec<sharpeyes_ingest::SimCamera> = wanted
        .iter()
        .map(|(mount, file)| {
            let clip = clips_dir.join(file);
            let clip = if clip.is_file() {
                Some(clip)
            } else {
                eprintln!("note: {} not found; {mount} shows a test pattern (set SHARPEYES_CLIPS to the clips folder)", clip.display());
                None
            };
            match clip {
                Some(c) => sharpeyes_ingest::SimCamera::clip(mount, c),
                None => sharpeyes_ingest::SimCamera::pattern(mount),
            }
        })
        .collect();
    let (stop, mut analyzer, delivery, outbox, _web) =
        live_parts(&config, store, outbox, kafka.as_deref(), web)?;
    let server = sharpeyes_ingest::SimServer::start(&sims, port)?;
    eprintln!(
        "demo: cameras {} ; alerts to stdout and {}{} ; Ctrl-C stops",
        sims.iter()
            .map(|c| server.url(&c.mount))
            .collect::<Vec<_>>()
            .join(", "),
        outbox.display(),
        kafka
            .as_deref()
            .map(|k| format!(" and Kafka {k} topic {}", config.kafka_topic))
            .unwrap_or_default()
    );
    let cameras = sims
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut spec = CameraSpec::new(
                CameraId::new(c.mount.clone())?,
                url::Url::parse(&server.url(&c.mount))?,
                config.detect_fps,
            );
            // Demo cameras are in one made-up village, so operators can be scoped to it.
            spec.name = format!("Simulated camera {}", i + 1);
            spec.village = DEMO_VILLAGE.into();
            analyzer.name_camera(spec.camera_ref());
            Ok(spec)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let summary = run_live(
        cameras,
        analyzer,
        delivery,
        stop,
        duration,
        (config.max_batch, config.max_wait),
    )?;
    drop(server);
    eprintln!(
        "summary: cameras={} seconds={:.1} frames_decoded={} decode_fps={:.1} frames_analysed={} analyse_fps={:.1} alerts: {}",
        sims.len(),
        summary.seconds,
        summary.frames_decoded,
        summary.frames_decoded as f64 / summary.seconds,
        summary.frames_analysed,
        summary.frames_analysed as f64 / summary.seconds,
        summary.alerts
    );
    Ok(())
}
