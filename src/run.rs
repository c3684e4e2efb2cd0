//! `sharpeyes run`: the production loop. Cameras come from `configs/cameras/*.toml`, polled
//! every second: a new file starts its camera, a removed one stops it, an edited one restarts
//! only that camera, and an invalid edit is reported while the last good config keeps running.
//! (I/O: files, cameras, sinks, the metrics endpoint.)

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::analyze::{Analyzer, CameraRules};
use crate::cameras::{CameraConfig, Change, Reloader, scan_dir};
use crate::delivery::Delivery;
use crate::live::{CameraSpec, LivePipeline};
use crate::metrics::{MetricsServer, MetricsSource};

pub struct RunOptions {
    pub cameras_dir: PathBuf,
    /// Listen address of the metrics endpoint, e.g. 127.0.0.1:9464; None: no endpoint.
    pub metrics: Option<String>,
    pub duration: Option<Duration>,
    /// (max batch, max wait), see `LivePipeline::set_batching`.
    pub batching: (usize, Duration),
}

/// The spec of one camera from its config, the password resolved now. A `file://` camera
/// plays its file in real time, looping.
fn spec_for(cfg: &CameraConfig, size: (u32, u32)) -> anyhow::Result<CameraSpec> {
    let mut s = if cfg.file_path().is_some() {
        CameraSpec::new(cfg.id.clone(), cfg.stream.url.clone(), cfg.detect.fps)
    } else {
        let o = cfg.rtsp_options(size.0, size.1)?;
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
    Ok(s)
}

pub fn run(
    options: RunOptions,
    mut analyzer: Analyzer,
    mut delivery: Delivery,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let size = analyzer.canvas_size();
    let mut pipeline = LivePipeline::new(size)?;
    pipeline.set_batching(options.batching.0, options.batching.1);
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
    eprintln!(
        "run: cameras from {} (checked every second); Ctrl-C stops",
        options.cameras_dir.display()
    );
    let started = Instant::now();
    let mut next_poll = Instant::now();
    while !stop.load(Ordering::Relaxed) && options.duration.is_none_or(|d| started.elapsed() < d) {
        if Instant::now() >= next_poll {
            next_poll = Instant::now() + crate::cameras::POLL_INTERVAL;
            match scan_dir(&options.cameras_dir) {
                Ok(scan) => {
                    for change in reloader.apply(scan) {
                        apply(&mut pipeline, &mut analyzer, change, size);
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
        m.alerts = delivery
            .counts
            .iter()
            .map(|(k, n)| (k.to_string(), *n))
            .collect();
    }
    pipeline.shutdown(&mut delivery);
    delivery.flush(Duration::from_secs(3));
    eprintln!(
        "summary: seconds={:.1} frames_analysed={} alerts: {}",
        started.elapsed().as_secs_f64(),
        analyzer.frames_analysed,
        delivery.counts_line()
    );
    Ok(())
}

/// Applies one camera change: the single start / stop / restart-one-camera-from-its-config
/// path, for hot reload now and for a camera-config topic's assignment later.
fn apply(pipeline: &mut LivePipeline, analyzer: &mut Analyzer, change: Change, size: (u32, u32)) {
    match change {
        Change::Start(cfg) | Change::Restart(cfg) => match spec_for(&cfg, size) {
            Ok(spec) => {
                analyzer.set_camera(&cfg.id, CameraRules::from_config(&cfg));
                pipeline.start_camera(spec)
            }
            Err(e) => {
                tracing::error!(camera = %cfg.id, error = %format!("{e:#}"), "camera not started");
                pipeline.stop_camera(&cfg.id);
                analyzer.remove_camera(&cfg.id);
            }
        },
        Change::Stop(id) => {
            pipeline.stop_camera(&id);
            analyzer.remove_camera(&id);
        }
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
