//! `sharpeyes run`: the production loop's setup. The pipeline config, `--cluster`'s worker
//! settings and state directory, the live parts (analyzer, delivery, web), then
//! `sharpeyes::run::run`, which follows the camera files (or etcd) live.
//! (I/O: files, and what `run::run` does.)

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use sharpeyes::models::ModelStore;

use super::{live_parts, load_config};
use crate::cli::{ClusterArgs, RunArgs};

pub fn run(args: RunArgs, store: &ModelStore) -> anyhow::Result<()> {
    let RunArgs {
        cameras,
        config,
        kafka,
        metrics,
        duration,
        outbox,
        web,
        cluster,
    } = args;
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
            std::fs::create_dir_all(&state)
                .with_context(|| format!("creating the state directory {}", state.display()))?;
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
        live_parts(&config, store, outbox, kafka.as_deref(), &web)?;
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
