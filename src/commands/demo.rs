//! `sharpeyes demo`: two simulated RTSP cameras on 127.0.0.1 playing the test clips (or a test
//! pattern), run live through the whole pipeline until Ctrl-C or `--duration`, then a summary
//! on stderr. The command center is served too (unless `--no-web`), with a `demo` admin whose
//! one-time password is printed with the URL, so the first command shows alerts, snapshots
//! and clips arriving in a browser. (I/O: the RTSP server, the outbox, Kafka, the web server.)

use std::path::PathBuf;
use std::time::Duration;

use sharpeyes::config::PipelineConfig;
use sharpeyes::live::{CameraSpec, run_live};
use sharpeyes::models::ModelStore;
use sharpeyes_core::CameraId;

use super::live_parts;
use crate::cli::DemoArgs;

/// The village of `demo`'s simulated cameras.
const DEMO_VILLAGE: &str = "Demo village";

pub fn run(args: DemoArgs, store: &ModelStore) -> anyhow::Result<()> {
    let DemoArgs {
        config,
        kafka,
        port,
        duration,
        outbox,
        no_web,
        mut web,
    } = args;
    if web.web.is_none() && !no_web {
        web.web = Some(DEFAULT_LISTEN.into());
        web.any_port_if_taken = true;
    }
    let duration = duration.map(Duration::from_secs_f64);
    let config = match config {
        Some(p) => PipelineConfig::load(&p)?,
        None => PipelineConfig::embedded_default(),
    };

    let clips_dir = std::env::var_os("SHARPEYES_CLIPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| "../shared/assets/videos".into());
    let wanted = [
        ("cam-1", "people_walking_indoor_intel.mp4"),
        ("cam-2", "fall_staged_indoor_thanhnc58_Fall01.mp4"),
    ];
    let sims: Vec<sharpeyes_sim::SimCamera> = wanted
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
                Some(c) => sharpeyes_sim::SimCamera::clip(mount, c),
                None => sharpeyes_sim::SimCamera::pattern(mount),
            }
        })
        .collect();
    let (stop, mut analyzer, delivery, outbox, _web) =
        live_parts(&config, store, outbox, kafka.as_deref(), &web)?;
    let admin = match &_web {
        Some(server) => Some(DemoAdmin::create(&web.db, server.addr)?),
        None => None,
    };
    let server = sharpeyes_sim::SimServer::start(&sims, port)?;
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
    if let Some(admin) = admin {
        admin.retire();
    }
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

/// The demo's command center address, unless `--web` says otherwise; any free port when it is
/// taken (the URL is printed either way).
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The demo's admin, `demo`, with a password made for this run: printed once, stored only as an
/// argon2id hash, and replaced by an unknown one when the demo stops (its sessions end then too),
/// so it opens this run's command center and nothing later.
struct DemoAdmin {
    store: sharpeyes_web::Store,
}

impl DemoAdmin {
    const USERNAME: &str = "demo";

    fn create(db: &std::path::Path, addr: std::net::SocketAddr) -> anyhow::Result<Self> {
        use anyhow::Context;
        use sharpeyes_core::{Clock, SystemClock};
        let store = sharpeyes_web::Store::open(db)
            .with_context(|| format!("opening {} for the demo admin", db.display()))?;
        let password = sharpeyes_web::auth::new_password();
        let now = SystemClock.now();
        store.put_user(
            Self::USERNAME,
            &sharpeyes_web::auth::hash_password(&password),
            sharpeyes_web::Role::Admin,
            &Default::default(),
            now,
        )?;
        store.audit(now, "demo", "user_add", Self::USERNAME, "admin")?;
        eprintln!(
            "demo: command center http://{addr}/ : sign in as {} with the one-time password {password} (valid until this demo stops)",
            Self::USERNAME
        );
        Ok(Self { store })
    }

    /// Replaces the password with one nobody knows, ending the admin's sessions.
    fn retire(self) {
        let unknown = sharpeyes_web::auth::hash_password(&sharpeyes_web::auth::new_password());
        if let Err(e) = self.store.set_password(Self::USERNAME, &unknown) {
            tracing::warn!(error = %e, "demo: the demo admin's password was not retired");
        }
    }
}
