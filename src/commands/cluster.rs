//! `sharpeyes cluster status` and `sharpeyes cluster simulate`: the checks of the arguments and
//! the output; the work is in `cluster/cli.rs`. (I/O: etcd, stdout, stderr, the JSON report.)

use std::time::Duration;

use anyhow::Context;

use crate::cli::{ClusterCommand, ClusterSimulateArgs};

pub fn run(command: ClusterCommand) -> anyhow::Result<()> {
    match command {
        ClusterCommand::Status { etcd, json } => {
            let (eps, keys) = etcd.parse()?;
            let s = sharpeyes::cluster::cli::status(&eps, &keys)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                sharpeyes::cluster::cli::print_status(&s, &mut std::io::stdout().lock())?;
            }
            Ok(())
        }
        ClusterCommand::Simulate(args) => simulate(args),
    }
}

/// `sharpeyes cluster simulate`.
fn simulate(args: ClusterSimulateArgs) -> anyhow::Result<()> {
    let ClusterSimulateArgs {
        etcd,
        cameras,
        workers,
        capacity,
        candidates,
        ttl_s,
        kill,
        timeout,
        json_out,
    } = args;
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
