//! Ephemeral events (camera heartbeats) through the outbox relay against a real Kafka-protocol
//! broker (tansu) on loopback: they reach the status topic keyed by camera with the schema
//! header, and never touch the outbox or the ack log; without a broker they are dropped and
//! counted. Skips with a printed `SKIP:` line when tansu is not installed.

use std::time::{Duration, Instant};

use sharpeyes_core::{CameraId, CameraRef, CameraState, Event, StatusEvent, UnixMillis};
use sharpeyes_delivery::{AckLog, KafkaOptions, OutboxRelay, RelayOptions, SCHEMA_HEADER};
use sharpeyes_sim::{TempDir, consume_n, find_tansu, free_port};

const STATUS_TOPIC: &str = "sharpeyes.camera-status";

fn heartbeat(camera: &str) -> Event {
    StatusEvent::heartbeat(
        CameraRef::bare(CameraId::new(camera).expect("id")),
        UnixMillis(1_795_459_870_000),
        CameraState::Online,
        12.5,
        Some(UnixMillis(1_795_459_869_900)),
    )
    .with_worker(Some("w2".into()))
    .into()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn heartbeats_reach_the_status_topic_without_the_outbox() {
    let broker = sharpeyes_sim::broker_or_skip!();
    let dir = TempDir::with_prefix("sharpeyes-ephemeral").expect("temp dir");
    let outbox = dir.path().join("outbox.jsonl");
    let relay = OutboxRelay::start(
        &outbox,
        RelayOptions::new(KafkaOptions::new(broker.bootstrap()), STATUS_TOPIC),
    );
    wait_for("the relay to connect", Duration::from_secs(30), || {
        relay.connected()
    });
    let sent = heartbeat("gate");
    assert!(relay.send_ephemeral(&sent), "queued");
    wait_for("the broker's ack", Duration::from_secs(20), || {
        relay.ephemeral_stats().delivered == 1
    });
    let got = consume_n(
        &broker.bootstrap(),
        STATUS_TOPIC,
        1,
        Duration::from_secs(20),
    )
    .unwrap_or_else(|e| panic!("{e}\nbroker log:\n{}", broker.log_tail(3000)));
    let m = &got[0];
    let e: Event = serde_json::from_str(m.payload.as_deref().expect("payload")).expect("event");
    assert_eq!(e, sent);
    assert_eq!(m.key.as_deref(), Some("gate"));
    assert_eq!(m.header(SCHEMA_HEADER), Some("2"));
    let stats = relay.ephemeral_stats();
    assert_eq!((stats.sent, stats.dropped), (1, 0));
    assert_eq!(
        relay.pending(),
        0,
        "heartbeats are not waiting outbox events"
    );
    drop(relay);
    assert!(!outbox.exists(), "the relay never writes the outbox");
    let acked = AckLog::read_ids(&AckLog::path_for(&outbox)).expect("ack log");
    assert!(acked.is_empty(), "no ack line for a heartbeat: {acked:?}");
}

#[test]
fn heartbeats_are_dropped_while_the_relay_is_not_connected() {
    // Needs no broker, but skip along with the others for a consistent picture.
    if let Err(reason) = find_tansu() {
        println!("SKIP: {reason}");
        return;
    }
    let dir = TempDir::with_prefix("sharpeyes-ephemeral-down").expect("temp dir");
    let port = free_port().expect("free port");
    let relay = OutboxRelay::start(
        dir.path().join("outbox.jsonl"),
        RelayOptions::new(KafkaOptions::new(format!("127.0.0.1:{port}")), STATUS_TOPIC),
    );
    assert!(!relay.send_ephemeral(&heartbeat("gate")));
    assert!(!relay.send_ephemeral(&heartbeat("lobby")));
    let stats = relay.ephemeral_stats();
    assert_eq!((stats.sent, stats.dropped), (0, 2));
    assert_eq!(relay.pending(), 0);
}
