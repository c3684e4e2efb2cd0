//! `sharpeyes serve`: the command center alone, its page and API fed from the Kafka topics,
//! with the retention sweeper beside it. (I/O: the listening socket, the SQLite database,
//! Kafka.)

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;

use super::{ctrl_c_flag, load_config};
use crate::cli::ServeArgs;

/// `sharpeyes serve`.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let ServeArgs {
        listen,
        db,
        kafka,
        config,
        metrics_token_env,
        secure_cookie,
        sessions,
        retention,
        duration,
    } = args;
    let config = load_config(config.as_deref())?;
    let metrics_token = match metrics_token_env {
        Some(var) => Some(
            std::env::var(&var)
                .with_context(|| format!("--metrics-token-env: {var} is not set"))?,
        ),
        None => None,
    };
    let store = Arc::new(
        sharpeyes_web::Store::open(&db).with_context(|| format!("opening {}", db.display()))?,
    );
    let server = sharpeyes_web::WebServer::start(
        &listen,
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
            Some(config.clip_topic.clone()),
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
