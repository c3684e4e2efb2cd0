//! The command center's store is durable and does not block, with real parts: a tansu broker
//! process, `sharpeyes serve` over real HTTP, and its SQLite database made to fail from
//! outside while it runs.
//!
//! - Offsets are committed only after the store has the message: while another connection
//!   holds the database's write lock (`BEGIN EXCLUSIVE`, so every write of `serve` fails with
//!   `SQLITE_BUSY`; chmod would not stop root), alerts arrive on Kafka; `serve` is stopped, the
//!   lock released, `serve` started again with the same group and database, and every alert is
//!   there, by id, once. Were the offset stored before the store had the message
//!   (`enable.auto.offset.store=true`, or marking it before the retry loop), the first alert
//!   read while locked would be missing.
//! - A poison message does not block the feed: a trigger added to the database refuses one
//!   alert (as a constraint would); it is kept in `dead_letters` with its topic, partition,
//!   offset and raw bytes, logged at error level and counted on `/metrics`, and the alerts
//!   after it are shown. After a restart it is not read again.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sharpeyes_core::{Alert, AlertKind, Event, EventSink};
use sharpeyes_delivery::{KafkaOptions, KafkaSink};
use sharpeyes_sim::consume_n;

mod common;
use common::web::{Client, Log, login, serve_with, user_add, village_alert};
use common::{Kill, scratch};

const ALERTS: &str = "sharpeyes.alerts";

/// Sends `alerts` in order, each in a record batch of its own: tansu 0.6 answers a fetch that
/// starts inside a batch with nothing from that batch, so an offset committed in the middle of
/// one would lose the rest of it whatever serve did, and hide which alert serve lost.
fn produce(bootstrap: &str, alerts: &[&Alert]) {
    let mut sink = KafkaSink::connect(KafkaOptions::new(bootstrap).topic(ALERTS)).unwrap();
    for a in alerts {
        sink.send(&Event::from((*a).clone())).expect("queued");
        sink.flush(Duration::from_secs(20)).unwrap();
    }
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The ids of the latest alert of every incident the client sees.
fn shown(c: &Client) -> Vec<String> {
    c.json("/api/incidents?limit=1000")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["alert"]["id"].as_str().unwrap().to_owned())
        .collect()
}

fn sign_in(base: &str) -> Client {
    login(base, "admin", "admin-password").expect("login")
}

/// `serve` in `dir` fed from `bootstrap`: the child, its URL and its log.
fn start(dir: &Path, bootstrap: &str) -> (Kill, String, Log) {
    let (child, url, log) = serve_with(dir, &["--kafka", bootstrap]);
    (Kill(child), url, log)
}

/// Ctrl-C, as an operator stops it (the consumer commits what it stored as it closes), and
/// waits for the exit.
fn stop(server: &mut Kill) {
    let ok = Command::new("kill")
        .args(["-INT", &server.0.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "SIGINT to serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            assert!(status.success(), "serve exited with {status}");
            return;
        }
        assert!(Instant::now() < deadline, "serve did not stop within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A line of `name` in Prometheus text.
fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn offsets_are_committed_only_after_the_store_has_the_message() {
    let broker = sharpeyes_sim::broker_or_skip!();
    let bootstrap = broker.bootstrap();
    let dir = scratch("web-store-durable-offsets");
    user_add(&dir, "admin", "admin", "");
    let (mut server, base, log) = start(&dir, &bootstrap);
    let admin = sign_in(&base);
    let first = village_alert(AlertKind::Fall, "cam-a", "Xiaohe", 0);
    produce(&bootstrap, &[&first]);
    // Also proves the group has its partition and has read from it.
    wait_for("the first alert", 60, || {
        shown(&admin) == [first.id.clone()]
    });

    // Another process takes the write lock: every write of serve's now fails (SQLITE_BUSY
    // after its 5 s busy timeout); reads still work (WAL).
    let lock = rusqlite::Connection::open(dir.join("cc.db")).unwrap();
    lock.busy_timeout(Duration::from_secs(10)).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let later: Vec<Alert> = (1..=5)
        .map(|i| village_alert(AlertKind::Fall, &format!("cam-{i}"), "Xiaohe", i * 1000))
        .collect();
    produce(&bootstrap, &later.iter().collect::<Vec<_>>());
    wait_for("serve to fail storing the next alert", 60, || {
        let log = log.lock().unwrap();
        log.contains("event not stored; retrying") && log.contains("database is locked")
    });
    // Longer than librdkafka's auto-commit interval (5 s): an offset stored on poll, or
    // marked before the store had the message, would be committed by now (and it would be
    // at the latest when the consumer closes on Ctrl-C below).
    std::thread::sleep(Duration::from_secs(7));
    let in_db: i64 = lock
        .query_row("SELECT count(*) FROM alerts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(in_db, 1, "nothing was written while locked");
    stop(&mut server);
    drop(server);
    lock.execute_batch("ROLLBACK").unwrap();
    drop(lock);
    let first_log = log.lock().unwrap().clone();
    assert!(
        !first_log.contains("dead_letters"),
        "a locked database is never the message's fault:\n{first_log}"
    );

    // Same database, same consumer group; then one more alert. One partition, read in order:
    // once that one is shown, everything before it that the group's offset did not pass has
    // been read.
    let (_server, base, log) = start(&dir, &bootstrap);
    let admin = sign_in(&base);
    let last = village_alert(AlertKind::Fall, "cam-9", "Xiaohe", 9000);
    produce(&bootstrap, &[&last]);
    wait_for("the alert sent after the restart", 60, || {
        shown(&admin).contains(&last.id)
    });
    let s = shown(&admin);
    let lost: Vec<&str> = later
        .iter()
        .filter(|a| !s.contains(&a.id))
        .map(|a| a.camera.id.as_str())
        .collect();
    assert!(
        lost.is_empty(),
        "alerts sent while the store failed are lost: {lost:?}; offsets were committed before \
         the store had the messages (serve was retrying cam-1's when stopped)\n\
         log of the first run:\n{}\nlog of the restart:\n{}",
        first_log,
        log.lock().unwrap()
    );
    let mut want: Vec<String> = [&first, &last]
        .into_iter()
        .chain(&later)
        .map(|a| a.id.clone())
        .collect();
    want.sort();
    let mut got = s;
    got.sort();
    assert_eq!(got, want, "every alert, once");
    let db = rusqlite::Connection::open(dir.join("cc.db")).unwrap();
    let (alerts, dead): (i64, i64) = db
        .query_row(
            "SELECT (SELECT count(*) FROM alerts), (SELECT count(*) FROM dead_letters)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((alerts, dead), (7, 0));
    println!("7 alerts stored, 5 of them sent while the database was locked; none dead-lettered");
}

#[test]
fn a_message_the_store_refuses_is_dead_lettered_and_the_feed_goes_on() {
    let broker = sharpeyes_sim::broker_or_skip!();
    let bootstrap = broker.bootstrap();
    let dir = scratch("web-store-durable-poison");
    user_add(&dir, "admin", "admin", "");
    let (mut server, base, log) = start(&dir, &bootstrap);
    let admin = sign_in(&base);
    let first = village_alert(AlertKind::Fall, "cam-a", "Xiaohe", 0);
    produce(&bootstrap, &[&first]);
    wait_for("the first alert", 60, || {
        shown(&admin) == [first.id.clone()]
    });

    // A rule only this one alert breaks, as a constraint would: SQLITE_CONSTRAINT for it,
    // while the database takes every other write.
    rusqlite::Connection::open(dir.join("cc.db"))
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER poison BEFORE INSERT ON alerts WHEN NEW.message = 'poison' \
             BEGIN SELECT RAISE(ABORT, 'poison refused'); END;",
        )
        .unwrap();
    let mut poison = village_alert(AlertKind::Fall, "cam-p", "Xiaohe", 1000);
    poison.message = Some("poison".into());
    let after: Vec<Alert> = (2..=3)
        .map(|i| village_alert(AlertKind::Fall, &format!("cam-{i}"), "Xiaohe", i * 1000))
        .collect();
    produce(&bootstrap, &[&poison, &after[0], &after[1]]);
    wait_for("the alerts after the poison", 30, || {
        let s = shown(&admin);
        after.iter().all(|a| s.contains(&a.id))
    });
    assert!(!shown(&admin).contains(&poison.id));
    let (status, m) = admin.get("/metrics");
    assert_eq!(status, 200, "{m}");
    assert_eq!(
        metric(&m, "sharpeyes_web_dead_letters_total"),
        Some(1),
        "{m}"
    );
    assert_eq!(
        metric(&m, "sharpeyes_web_store_failures_total"),
        Some(5),
        "five attempts, then the dead letter\n{m}"
    );
    {
        let log = log.lock().unwrap();
        let line = log
            .lines()
            .find(|l| l.contains("kept in its dead_letters table"))
            .unwrap_or_else(|| panic!("no dead-letter line in the log:\n{log}"));
        assert!(
            line.contains("ERROR") && line.contains(&poison.id) && line.contains("poison refused"),
            "{line}"
        );
    }

    // The dead letter: where the message was, and its very bytes.
    let sent = consume_n(&bootstrap, ALERTS, 4, Duration::from_secs(30)).unwrap();
    let original = sent
        .iter()
        .find(|m| m.payload.as_deref().is_some_and(|p| p.contains(&poison.id)))
        .expect("the poison on the topic");
    let db = rusqlite::Connection::open(dir.join("cc.db")).unwrap();
    let count: i64 = db
        .query_row("SELECT count(*) FROM dead_letters", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 1);
    let (topic, partition, offset, key, payload): (String, i32, i64, Option<Vec<u8>>, Vec<u8>) = db
        .query_row(
            "SELECT topic, kafka_partition, kafka_offset, msg_key, payload FROM dead_letters",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    let (event_id, reason, attempts): (String, String, u32) = db
        .query_row(
            "SELECT event_id, reason, attempts FROM dead_letters",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (topic.as_str(), partition, offset),
        (ALERTS, original.partition, original.offset)
    );
    assert_eq!(
        key.as_deref().map(String::from_utf8_lossy),
        original.key.as_deref().map(Into::into)
    );
    assert_eq!(
        String::from_utf8_lossy(&payload),
        original.payload.clone().unwrap()
    );
    assert_eq!((event_id.as_str(), attempts), (poison.id.as_str(), 5));
    assert!(reason.contains("poison refused"), "{reason}");

    // Its offset moved on: after a restart it is not read again.
    stop(&mut server);
    drop(server);
    let (_server, base, _log) = start(&dir, &bootstrap);
    let admin = sign_in(&base);
    let last = village_alert(AlertKind::Fall, "cam-4", "Xiaohe", 4000);
    produce(&bootstrap, &[&last]);
    wait_for("an alert after the restart", 60, || {
        shown(&admin).contains(&last.id)
    });
    let (_, m) = admin.get("/metrics");
    assert_eq!(
        (
            metric(&m, "sharpeyes_web_store_failures_total"),
            metric(&m, "sharpeyes_web_dead_letters_total")
        ),
        (Some(0), Some(0)),
        "the poison was not read again\n{m}"
    );
    let dead: i64 = db
        .query_row("SELECT count(*) FROM dead_letters", [], |r| r.get(0))
        .unwrap();
    assert_eq!(dead, 1);
    println!(
        "poison at offset {} dead-lettered after 5 attempts; the 2 alerts after it shown",
        original.offset
    );
}
