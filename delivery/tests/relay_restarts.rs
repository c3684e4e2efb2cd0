//! The outbox relay against a real Kafka-protocol broker process (tansu, sqlite storage) that is
//! killed and restarted again and again while alerts keep being written: every alert id
//! arrives, the `connected` flag drops while the broker is away and comes back, and the
//! outbox, once all of it is acknowledged, is rotated without losing what comes after.
//! Skips with a printed `SKIP:` line when tansu is not installed.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use sharpeyes_core::{CameraId, CameraRef, CameraState, Event, StatusEvent, UnixMillis};
use sharpeyes_delivery::{JsonlOutbox, KafkaOptions, OutboxRelay, RelayOptions};
use sharpeyes_sim::{TansuBroker, TansuOptions, TansuStorage, TempDir, consume_n};

const STATUS_TOPIC: &str = "sharpeyes.camera-status";

fn event(i: i64) -> Event {
    StatusEvent::new(
        CameraRef::bare(CameraId::new(format!("cam-{}", i % 7)).unwrap()),
        UnixMillis(1_795_459_860_000 + i),
        if i % 2 == 0 {
            CameraState::Online
        } else {
            CameraState::Offline
        },
        None,
    )
    .into()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn every_alert_arrives_through_repeated_broker_kills_and_the_outbox_rotates_once_acknowledged() {
    let mut broker = sharpeyes_sim::broker_or_skip!(TansuBroker::start_with(TansuOptions {
        storage: TansuStorage::Sqlite,
        ..TansuOptions::default()
    }));
    let bootstrap = broker.bootstrap();
    let dir = TempDir::with_prefix("sharpeyes-relay-restarts").unwrap();
    let path = dir.path().join("outbox.jsonl");
    let mut outbox = JsonlOutbox::open(&path).unwrap();
    let mut options = RelayOptions::new(KafkaOptions::new(&bootstrap), STATUS_TOPIC);
    options.connect_timeout = Duration::from_secs(2);
    let relay = OutboxRelay::start(&path, options);
    wait_for("the relay to connect", Duration::from_secs(30), || {
        relay.connected()
    });

    let mut ids = Vec::new();
    let mut i = 0i64;
    let mut write = |outbox: &mut JsonlOutbox, n: usize, ids: &mut Vec<String>| {
        let batch: Vec<Event> = (0..n)
            .map(|_| {
                i += 1;
                event(i)
            })
            .collect();
        outbox.append_all(&batch).unwrap();
        ids.extend(batch.iter().map(|e| e.id().to_owned()));
        relay.notify();
    };
    let mut saw_down = 0;
    for round in 0..4 {
        // Load while the broker is up...
        for _ in 0..10 {
            write(&mut outbox, 50, &mut ids);
            std::thread::sleep(Duration::from_millis(100));
        }
        // ...then killed under it, more alerts written while it is away.
        broker.stop();
        write(&mut outbox, 200, &mut ids);
        let down_by = Instant::now() + Duration::from_secs(15);
        while relay.connected() && Instant::now() < down_by {
            std::thread::sleep(Duration::from_millis(50));
        }
        if !relay.connected() {
            saw_down += 1;
        }
        write(&mut outbox, 200, &mut ids);
        std::thread::sleep(Duration::from_secs(1));
        broker.restart().expect("restart tansu");
        wait_for(
            &format!("the relay to see the broker again (round {round})"),
            Duration::from_secs(60),
            || relay.connected(),
        );
    }
    assert!(
        saw_down >= 3,
        "`connected` went to false in only {saw_down} of 4 outages"
    );
    wait_for("every alert acknowledged", Duration::from_secs(120), || {
        relay.pending() == 0
    });
    let expected: HashSet<String> = ids.iter().cloned().collect();
    let got = consume_n(
        &bootstrap,
        STATUS_TOPIC,
        expected.len(),
        Duration::from_secs(60),
    )
    .expect("read the topic");
    let seen: HashSet<String> = got
        .iter()
        .map(|m| {
            let e: Event = serde_json::from_str(m.payload.as_deref().unwrap()).unwrap();
            e.id().to_owned()
        })
        .collect();
    let missing = expected.difference(&seen).count();
    assert_eq!(
        missing,
        0,
        "{missing} of {} alerts never arrived",
        ids.len()
    );

    // Everything acknowledged: the outbox rotates, the ack log empties, and what is written
    // next still goes out.
    wait_for("the rotation", Duration::from_secs(10), || {
        relay.rotate_outbox(&mut outbox).unwrap()
    });
    assert!(outbox.is_empty() && outbox.rotated_path().exists());
    assert_eq!(
        std::fs::metadata(sharpeyes_delivery::AckLog::path_for(&path))
            .unwrap()
            .len(),
        0,
        "the ack log is emptied"
    );
    let mut after = Vec::new();
    write(&mut outbox, 30, &mut after);
    wait_for(
        "the alerts after the rotation",
        Duration::from_secs(30),
        || {
            relay.pending() == 0
                && std::fs::read_to_string(sharpeyes_delivery::AckLog::path_for(&path))
                    .unwrap()
                    .lines()
                    .count()
                    >= after.len()
        },
    );
    let acked: HashSet<String> =
        sharpeyes_delivery::AckLog::read_ids(&sharpeyes_delivery::AckLog::path_for(&path)).unwrap();
    assert!(after.iter().all(|id| acked.contains(id)));
    println!(
        "{} alerts through 4 broker kills, all arrived ({} messages read); {} more after rotation",
        ids.len(),
        got.len(),
        after.len()
    );
}
