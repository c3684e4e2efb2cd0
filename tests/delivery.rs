//! Zero-loss delivery with real parts: the real binary, a real tansu broker process with sqlite
//! storage (survives its restart), `kill -9` of the pipeline while the broker is down. Every
//! alert the outbox accepted must be on its topic afterwards, once after deduplication by id.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use sharpeyes_core::{Event, StatusKind};
use sharpeyes_sim::{TansuBroker, TansuOptions, TansuStorage, consume_n};

mod common;
use common::{read_events, scratch, sharpeyes, validate_json};

/// Reads `topic` from the beginning until every id of `expected` has been seen (duplicates
/// allowed: at least once), up to `timeout`. Returns the ids read, with repeats, and the
/// payloads.
fn ids_on_topic(
    bootstrap: &str,
    topic: &str,
    expected: &HashSet<String>,
    timeout: Duration,
) -> (Vec<String>, Vec<String>) {
    let deadline = Instant::now() + timeout;
    let mut n = expected.len();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let payloads: Vec<String> =
            match consume_n(bootstrap, topic, n, left.max(Duration::from_secs(1))) {
                Ok(m) => m
                    .iter()
                    .map(|m| m.payload.clone().expect("payload"))
                    .collect(),
                Err(e) => panic!("{topic}: {e}"),
            };
        let got: Vec<String> = payloads
            .iter()
            .map(|p| {
                let e: Event = serde_json::from_str(p).expect("event JSON on the topic");
                e.id().to_owned()
            })
            .collect();
        let seen: HashSet<String> = got.iter().cloned().collect();
        if expected.is_subset(&seen) || Instant::now() >= deadline {
            return (got, payloads);
        }
        // Duplicates took some of the first n places: read further.
        n = got.len() + expected.difference(&seen).count();
    }
}

#[test]
fn alerts_written_while_the_broker_is_down_survive_kill_9_and_reach_kafka_once_deduplicated() {
    let mut broker = sharpeyes_sim::broker_or_skip!(TansuBroker::start_with(TansuOptions {
        storage: TansuStorage::Sqlite,
        ..TansuOptions::default()
    }));
    let bootstrap = broker.bootstrap();
    // The broker goes down before the pipeline starts.
    broker.stop();
    let dir = scratch("delivery-outage");
    let outbox = dir.join("outbox.jsonl");
    let Some(mut cmd) = sharpeyes(&dir) else {
        return;
    };
    let mut child = cmd
        .args([
            "demo",
            "--port",
            "0",
            "--kafka",
            &bootstrap,
            "--outbox",
            "outbox.jsonl",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start sharpeyes demo");
    // Two camera_online events and at least one person alert, all into the outbox only.
    let deadline = Instant::now() + Duration::from_secs(90);
    let written = loop {
        let n = std::fs::read_to_string(&outbox)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if n >= 3 || Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    child.kill().expect("kill -9 the pipeline");
    let _ = child.wait();
    assert!(
        written >= 3,
        "only {written} alerts in the outbox after 90 s"
    );
    let before_restart: Vec<Event> = read_events(&outbox);
    println!("outbox after kill -9: {} alerts", before_restart.len());

    // Broker back (same port, same sqlite file), pipeline back for a few seconds.
    broker.restart().expect("restart tansu");
    let Some(mut cmd) = sharpeyes(&dir) else {
        return;
    };
    let out = cmd
        .args([
            "demo",
            "--port",
            "0",
            "--duration",
            "8",
            "--kafka",
            &bootstrap,
            "--outbox",
            "outbox.jsonl",
        ])
        .output()
        .expect("run sharpeyes demo again");
    assert!(
        out.status.success(),
        "second run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = read_events(&outbox);
    assert!(all.len() > before_restart.len());
    for (topic, status) in [
        ("sharpeyes.alerts", false),
        ("sharpeyes.camera-status", true),
    ] {
        let expected: HashSet<String> = all
            .iter()
            .filter(|a| a.is_status() == status)
            .map(|a| a.id().to_owned())
            .collect();
        let (got, payloads) = ids_on_topic(&bootstrap, topic, &expected, Duration::from_secs(60));
        // Heartbeats reach the status topic without the outbox (best effort): not counted here.
        let heartbeats: HashSet<String> = payloads
            .iter()
            .filter_map(|p| match serde_json::from_str::<Event>(p).unwrap() {
                Event::Status(s) if s.kind == StatusKind::CameraHeartbeat => Some(s.id),
                _ => None,
            })
            .collect();
        let got: Vec<String> = got
            .into_iter()
            .filter(|id| !heartbeats.contains(id))
            .collect();
        // Every message read back is valid against its JSON Schema.
        validate_json(topic, &payloads);
        assert!(
            payloads.iter().all(|p| {
                let e: Event = serde_json::from_str(p).unwrap();
                e.is_status() == status
            }),
            "{topic} holds only its own kind of event"
        );
        let unique: HashSet<String> = got.iter().cloned().collect();
        let missing: Vec<&String> = expected.difference(&unique).collect();
        assert!(missing.is_empty(), "{topic}: missing {missing:?}");
        // Once each after dedup; nothing on the topic that the outbox did not accept.
        assert_eq!(unique, expected, "{topic}");
        println!(
            "{topic}: {} ids, {} messages ({} duplicates)",
            expected.len(),
            got.len(),
            got.len() - unique.len()
        );
    }
    // The alerts written before the kill are among them.
    assert!(before_restart.iter().all(|a| all.contains(a)));
}
