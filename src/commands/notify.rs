//! `sharpeyes notify`: the guardians' push service. Loads and checks the registry, then runs
//! `sharpeyes_notify` until Ctrl-C, SIGTERM or `--duration`.
//! (I/O: the registry file, Kafka, the guardians' gateways.)

use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;

use super::ctrl_c_flag;
use crate::cli::NotifyArgs;

/// `sharpeyes notify`.
pub fn run(args: NotifyArgs) -> anyhow::Result<()> {
    use sharpeyes_notify as notify;
    let NotifyArgs {
        registry: path,
        kafka,
        check,
        duration,
        max_age,
    } = args;
    let registry = match notify::Registry::load(&path) {
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
        "notify: {} guardians, reading {} and {} from {brokers} as group {}; Ctrl-C stops",
        registry.guardians.len(),
        registry.service.alerts_topic,
        registry.service.status_topic,
        registry.service.group_id
    );
    let counters = notify::run(
        notify::NotifyOptions {
            brokers,
            registry,
            registry_path: Some(path),
            max_age: max_age.map(Duration::from_secs_f64),
            kafka_properties,
            clock: std::sync::Arc::new(sharpeyes_core::SystemClock),
        },
        stop,
    )?;
    eprintln!("summary: {}", counters.line());
    Ok(())
}
