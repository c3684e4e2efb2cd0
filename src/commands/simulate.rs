//! `sharpeyes simulate`: the activity profile from the arguments, then the simulated RTSP
//! cameras of `sharpeyes::simulate` until Ctrl-C or `--duration`. (I/O: the RTSP server.)

use std::time::Duration;

use super::ctrl_c_flag;
use crate::cli::SimulateArgs;

pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let SimulateArgs {
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
    } = args;
    let activity = match sharpeyes_sim::Activity::parse(&activity)
        .map_err(|e| anyhow::anyhow!("--activity: {e}"))?
    {
        sharpeyes_sim::Activity::Village { .. } => sharpeyes_sim::Activity::Village {
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
