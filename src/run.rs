//! `sharpeyes run`: the production loop. Cameras come from `configs/cameras/*.toml`, polled
//! every second: a new file starts its camera, a removed one stops it, an edited one restarts
//! only that camera, and an invalid edit is reported while the last good config keeps running.
//! With `--cluster` they come from etcd instead: the cameras the leader assigned to this worker,
//! checked every 100 ms, through the same reloader and the same start / stop / restart path;
//! a fenced worker (lease about to expire) runs none (see `cluster/fence.rs`).
//! (I/O: files, cameras, sinks, the metrics endpoint.)

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sharpeyes_core::Canvas;

use crate::analyze::{Analyzer, CameraRules};
use crate::cameras::{CameraConfig, Change, Reloader, scan_dir};
use crate::cluster::{Desired, Member, MemberOptions};
use crate::delivery::Delivery;
use crate::live::{CameraSpec, LivePipeline};
use crate::metrics::{ClusterMetrics, MetricsServer, MetricsSource};

pub struct RunOptions {
    pub cameras_dir: PathBuf,
    /// Listen address of the metrics endpoint, e.g. 127.0.0.1:9464; None: no endpoint.
    pub metrics: Option<String>,
    pub duration: Option<Duration>,
    /// (max batch, max wait), see `LivePipeline::set_batching`.
    pub batching: (usize, Duration),
    /// Run as a worker of a cluster (cameras from etcd) instead of from `cameras_dir`.
    pub cluster: Option<ClusterRun>,
}

/// `run --cluster`.
pub struct ClusterRun {
    pub member: MemberOptions,
    /// Take assignments, decode nothing (the county simulation on one box).
    pub assign_only: bool,
}

/// How often a cluster worker looks at its assignment and its fence.
const CLUSTER_POLL: Duration = Duration::from_millis(100);

/// The scan a cluster worker hands the reloader: one pseudo-file per assigned camera
/// (`etcd:<key>`, which also labels its config errors).
fn cluster_scan(cameras: &std::collections::BTreeMap<String, String>) -> crate::cameras::Scan {
    cameras
        .iter()
        .map(|(id, text)| {
            let label = format!("etcd:{id}");
            (PathBuf::from(&label), CameraConfig::parse(text, &label))
        })
        .collect()
}

/// The spec of one camera from its config, the password resolved now. A `file://` camera
/// plays its file in real time, looping.
fn spec_for(cfg: &CameraConfig, canvas: Canvas) -> anyhow::Result<CameraSpec> {
    let mut s = if cfg.file_path().is_some() {
        CameraSpec::new(cfg.id.clone(), cfg.stream.url.clone(), cfg.detect.fps)
    } else {
        let o = cfg.rtsp_options(canvas)?;
        let mut s = CameraSpec::new(cfg.id.clone(), o.url, cfg.detect.fps);
        s.credentials = o.credentials;
        s.transport = o.transport;
        s
    };
    s.name = cfg.name.clone();
    s.village = cfg.village.clone();
    s.stall_after = cfg.health.stall_after;
    s.reconnect_max = cfg.health.reconnect_max;
    s.adaptive_quiet = cfg.detect.adaptive_quiet;
    s.adaptive_peek = cfg.detect.adaptive_peek;
    s.motion_gate = cfg.effective_motion_gate();
    s.privacy_masks = cfg.privacy_masks.clone();
    s.clip_pre_ms = cfg.clips.pre_ms;
    s.clip_post_ms = cfg.clips.post_ms;
    Ok(s)
}

pub fn run(
    options: RunOptions,
    mut analyzer: Analyzer,
    mut delivery: Delivery,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let canvas = analyzer.canvas();
    let mut pipeline = LivePipeline::new(canvas)?;
    pipeline.set_batching(options.batching.0, options.batching.1);
    let clips = analyzer.clips();
    pipeline.set_clips(clips.clone());
    // Status events name the worker that runs the camera (None outside a cluster).
    pipeline.set_worker(options.cluster.as_ref().map(|c| c.member.worker_id.clone()));
    let mut reloader = Reloader::new();
    let metrics_source = Arc::new(Mutex::new(MetricsSource::default()));
    let _metrics = match &options.metrics {
        Some(addr) => {
            let server = MetricsServer::start(addr, metrics_source.clone())?;
            eprintln!("run: metrics on http://{}/metrics", server.addr);
            Some(server)
        }
        None => None,
    };
    if options.cluster.is_none() {
        eprintln!(
            "run: cameras from {} (checked every second); Ctrl-C stops",
            options.cameras_dir.display()
        );
    }
    let started = Instant::now();
    let mut next_poll = Instant::now();
    // The cluster membership, on its own small runtime.
    let cluster = match options.cluster {
        Some(c) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("cluster")
                .enable_all()
                .build()?;
            eprintln!(
                "run: worker {} (capacity {}) of the cluster at {:?}, prefix {}, lease TTL {:?}{}",
                c.member.worker_id,
                c.member.capacity,
                c.member.endpoints,
                c.member.keys.prefix(),
                c.member.ttl,
                if c.assign_only {
                    "; assign-only: nothing is decoded"
                } else {
                    ""
                }
            );
            let member = Member::start(c.member, rt.handle());
            if let Some(sender) = member.state_sender() {
                analyzer.set_state_mirror(Box::new(move |camera, state, urgent| {
                    sender.send(camera.as_str(), state, urgent)
                }));
            }
            Some((rt, member, c.assign_only))
        }
        None => None,
    };
    // Unassigned cameras already reported by a status event (while this worker leads).
    let mut reported_unassigned = std::collections::BTreeSet::new();
    // (assignment generation, fenced or not) last applied.
    let mut applied: Option<(u64, Option<crate::cluster::Fenced>)> = None;
    while !stop.load(Ordering::Relaxed) && options.duration.is_none_or(|d| started.elapsed() < d) {
        if let Some((_, member, assign_only)) = &cluster {
            if Instant::now() >= next_poll {
                next_poll = Instant::now() + CLUSTER_POLL;
                report_unassigned(member, &mut reported_unassigned, &mut delivery);
                let generation = member.generation();
                let desired = member.desired(Instant::now());
                let fenced = match &desired {
                    Desired::Fenced(f) => Some(*f),
                    Desired::Run(_) => None,
                };
                if applied != Some((generation, fenced)) {
                    if applied.map(|a| a.1) != Some(fenced) {
                        match fenced {
                            Some(f) => eprintln!(
                                "run: fenced ({}): stopping every camera ({} running)",
                                f.as_str(),
                                pipeline.cameras().count()
                            ),
                            None => eprintln!(
                                "run: cluster member in good standing: running the assigned cameras"
                            ),
                        }
                    }
                    applied = Some((generation, fenced));
                    let cams = match desired {
                        Desired::Run(c) => c,
                        Desired::Fenced(_) => Default::default(),
                    };
                    if !*assign_only {
                        for change in reloader.apply(cluster_scan(&cams)) {
                            apply(&mut pipeline, &mut analyzer, &mut delivery, change, canvas);
                        }
                    }
                }
            }
        } else if Instant::now() >= next_poll {
            next_poll = Instant::now() + crate::cameras::POLL_INTERVAL;
            match scan_dir(&options.cameras_dir) {
                Ok(scan) => {
                    for change in reloader.apply(scan) {
                        apply(&mut pipeline, &mut analyzer, &mut delivery, change, canvas);
                    }
                }
                Err(e) => {
                    tracing::warn!(dir = %options.cameras_dir.display(), error = %e, "cannot read the camera configs; keeping the running cameras")
                }
            }
        }
        pipeline.step(&mut analyzer, &mut delivery);
        let mut m = metrics_source.lock().unwrap_or_else(|p| p.into_inner());
        m.cameras = pipeline
            .cameras()
            .map(|h| (h.spec.id.clone(), h.counters.clone()))
            .collect();
        m.frames_analysed = analyzer.frames_analysed;
        m.kafka = delivery.kafka_state();
        if let Some((_, member, _)) = &cluster {
            let l = member.leader_state();
            m.cluster = Some(ClusterMetrics {
                worker: member.worker_id().to_string(),
                capacity: member.capacity(),
                assigned: member.assigned_ids().len(),
                fenced: matches!(applied, Some((_, Some(_)))),
                etcd_outage: member.etcd_outage(),
                leader: l.leading,
                unassigned: l.unassigned.len(),
                cluster_workers: l.workers,
                moves: l.moves,
            });
        }
        m.alerts = delivery
            .counts()
            .iter()
            .map(|(k, n)| (k.to_string(), *n))
            .collect();
        m.outbox = delivery.outbox_health();
        m.clips = clips
            .as_deref()
            .map(|c| crate::metrics::ClipMetrics::read(c, delivery.clip_state()));
    }
    pipeline.shutdown(&mut delivery);
    // Open incidents stay open across a restart of the process: the next start continues them.
    analyzer.save_all();
    if let Some((rt, member, _)) = cluster {
        // The cameras are stopped: hand them over now rather than after the TTL.
        member.leave();
        rt.shutdown_timeout(Duration::from_secs(1));
    }
    delivery.flush(Duration::from_secs(3));
    eprintln!(
        "summary: seconds={:.1} frames_analysed={} alerts: {}",
        started.elapsed().as_secs_f64(),
        analyzer.frames_analysed,
        delivery.counts_line()
    );
    Ok(())
}

/// The leader tells the county which cameras fit on no worker: one `camera_unassigned` status
/// event per camera as it becomes unassigned (a new leader reports them again).
fn report_unassigned(
    member: &Member,
    reported: &mut std::collections::BTreeSet<String>,
    delivery: &mut Delivery,
) {
    let l = member.leader_state();
    if !l.leading {
        reported.clear();
        return;
    }
    reported.retain(|c| l.unassigned.contains_key(c));
    for (id, (name, village)) in &l.unassigned {
        if reported.contains(id) {
            continue;
        }
        let Ok(camera_id) = sharpeyes_core::CameraId::new(id) else {
            continue;
        };
        let camera = sharpeyes_core::CameraRef {
            id: camera_id,
            name: name.clone(),
            village: village.clone(),
        };
        let reason = format!(
            "no live worker has room ({} workers, {} cameras assigned)",
            l.workers, l.assigned
        );
        eprintln!("run: camera {id} unassigned: {reason}");
        delivery.deliver(sharpeyes_core::Event::Status(
            sharpeyes_core::StatusEvent::unassigned(
                camera,
                sharpeyes_core::Clock::now(&sharpeyes_core::SystemClock),
                Some(reason),
            ),
        ));
        reported.insert(id.clone());
    }
}

/// Applies one camera change: the single start / stop / restart-one-camera-from-its-config
/// path, for hot reload now and for a camera-config topic's assignment later.
/// A camera that stops ends its open incidents (`end` alerts, delivered here).
fn apply(
    pipeline: &mut LivePipeline,
    analyzer: &mut Analyzer,
    delivery: &mut Delivery,
    change: Change,
    canvas: Canvas,
) {
    match change {
        Change::Start(cfg) | Change::Restart(cfg) => match spec_for(&cfg, canvas) {
            Ok(spec) => {
                analyzer.set_camera(&cfg.id, CameraRules::from_config(&cfg));
                pipeline.start_camera(spec)
            }
            Err(e) => {
                tracing::error!(camera = %cfg.id, error = %format!("{e:#}"), "camera not started");
                stop(pipeline, analyzer, delivery, &cfg.id);
            }
        },
        Change::Stop(id) => stop(pipeline, analyzer, delivery, &id),
        Change::Rejected { file, issues } => {
            for i in &issues {
                tracing::error!(file = %file.display(), "{i}");
            }
            eprintln!(
                "run: {} rejected ({} problems); the last good config keeps running",
                file.display(),
                issues.len()
            );
        }
    }
}

/// Stops `id`: its frames and its rules; its open incidents end with `end` alerts.
fn stop(
    pipeline: &mut LivePipeline,
    analyzer: &mut Analyzer,
    delivery: &mut Delivery,
    id: &sharpeyes_core::CameraId,
) {
    pipeline.stop_camera(id);
    for alert in analyzer.remove_camera(id) {
        delivery.deliver(alert.into());
    }
}
