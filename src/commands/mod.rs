//! One module per subcommand (`run.rs` is `sharpeyes run`, and so on), each a function that
//! takes its parsed arguments from `cli.rs`; and here, what several of them share: the Ctrl-C
//! flag, the pipeline config's loading, and the live parts of `run` and `demo`.
//! (I/O: everything the commands do.)

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use sharpeyes::analyze::Analyzer;
use sharpeyes::config::PipelineConfig;
use sharpeyes::delivery::Delivery;
use sharpeyes::models::ModelStore;

use crate::cli::WebArgs;

pub mod bench;
pub mod camera;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod detect;
pub mod models;
pub mod notify;
pub mod replay;
pub mod run;
pub mod serve;
pub mod simulate;
pub mod user;

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
            let mut options = sharpeyes_delivery::KafkaOptions::new(brokers)
                .topic(&config.kafka_topic)
                .client_id("sharpeyes");
            options.extra = config.kafka.resolve().map_err(anyhow::Error::msg)?;
            Some((options, config.status_topic.clone()))
        }
        None => None,
    };
    let clip_kafka = kafka.as_ref().map(|(options, _)| options.clone());
    let mut delivery = Delivery::observed(
        &outbox,
        true,
        kafka,
        config.outbox_max_pending,
        None,
        Some(sharpeyes_delivery::SnapshotSource {
            dir: config.snapshots.clone(),
            topic: config.snapshot_topic.clone(),
        }),
    )?;
    // Event clips follow the snapshots: to Kafka and the command center in this process. The
    // writer's "clip complete" wakes the shipper at once (it also looks every 500 ms).
    if let (Some(clips_config), true) = (&config.clips, clip_kafka.is_some() || web.web.is_some()) {
        let mut clips =
            sharpeyes_delivery::ClipSource::new(clips_config.dir.clone(), &config.clip_topic);
        clips.wait = config.clip_wait;
        delivery.ship_clips(clips, clip_kafka, &outbox);
        if let (Some(live), Some(wake)) = (analyzer.clips(), delivery.clip_waker()) {
            live.subscribe(Arc::new(move |_: &sharpeyes_core::ClipReady| wake()));
        }
    }
    delivery.set_rotate_at(config.outbox_rotate_bytes);
    let web = match &web.web {
        Some(listen) => {
            let db = sharpeyes_web::Store::open(&web.db)
                .with_context(|| format!("opening {}", web.db.display()))?;
            let db = Arc::new(db);
            let start = |listen: &str| {
                sharpeyes_web::WebServer::start(
                    listen,
                    db.clone(),
                    sharpeyes_web::WebOptions::default(),
                )
            };
            let server = match start(listen) {
                // The demo's default address is taken (another demo, another server): any free
                // port will do, the URL is printed.
                Err(e) if web.any_port_if_taken && e.kind() == std::io::ErrorKind::AddrInUse => {
                    start("127.0.0.1:0")
                }
                other => other,
            }
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
