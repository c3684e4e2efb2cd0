//! `sharpeyes bench`: the arguments into `BenchOptions`, then `sharpeyes::bench::run`, which
//! starts the simulator and the broker and writes the results. (I/O: what `bench::run` does.)

use std::time::Duration;

use sharpeyes::bench::{BenchOptions, Profile};

use super::ctrl_c_flag;
use crate::cli::BenchArgs;

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let BenchArgs {
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
    } = args;
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
