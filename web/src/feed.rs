//! What feeds the command center: events from the in-process pipeline (`run`, `demo`) or from
//! the Kafka topics (`serve`), stored and then broadcast to the connected pages.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use serde::Serialize;
use sharpeyes_core::{Clock, Event, SystemClock};
use tokio::sync::broadcast;

use crate::store::{CameraRow, DeadLetter, IncidentRow, Store, StoreError};

/// Store attempts of one Kafka message that failed for the message's own sake
/// ([`StoreError::is_transient`] false) before it is dead-lettered. Failures of the database
/// or its disk never count: those are retried for ever.
pub const MAX_PERMANENT_FAILURES: u32 = 5;

/// One change a page should show.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum FeedEvent {
    Incident(IncidentRow),
    Camera(CameraRow),
}

impl FeedEvent {
    /// The village it belongs to (pages only get their users' villages).
    pub fn village(&self) -> &str {
        match self {
            FeedEvent::Incident(r) => &r.village,
            FeedEvent::Camera(c) => &c.village,
        }
    }
}

/// Counters of the Kafka reader, for `/metrics`.
#[derive(Debug, Default)]
pub struct FeedStats {
    /// Store attempts of Kafka messages that failed (each then retried or dead-lettered).
    pub store_failures: AtomicU64,
    /// Kafka messages kept in the store's `dead_letters` instead of the feed.
    pub dead_letters: AtomicU64,
}

/// Stores events and tells the pages. Cheap to clone.
#[derive(Clone)]
pub struct Feed {
    pub store: Arc<Store>,
    pub tx: broadcast::Sender<FeedEvent>,
    pub stats: Arc<FeedStats>,
}

impl Feed {
    pub fn new(store: Arc<Store>) -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self {
            store,
            tx,
            stats: Arc::default(),
        }
    }

    /// Keeps `jpeg` as the picture of alert `alert_id` (data, never a path: see
    /// [`crate::snapshots`]). A message that is not a JPEG is logged and dropped.
    pub fn snapshot(&self, alert_id: &str, jpeg: &[u8]) {
        if let Err(e) = self.store.snapshots().put(alert_id, jpeg) {
            tracing::warn!(error = %e, "command center: snapshot not kept");
        }
    }

    /// Keeps `mp4` as the event clip of alert `alert_id` (data, never a path: see
    /// [`crate::clips`]) and tells the pages its incident changed (the clip is there now). A
    /// message that is not an MP4 is logged and dropped.
    pub fn clip(&self, alert_id: &str, mp4: &[u8]) {
        if let Err(e) = self.store.clips().put(alert_id, mp4) {
            tracing::warn!(error = %e, "command center: clip not kept");
            return;
        }
        tracing::debug!(alert = %alert_id, bytes = mp4.len(), "command center: clip kept");
        let row = self
            .store
            .incident_of(alert_id)
            .and_then(|i| i.map_or(Ok(None), |i| self.store.incident(&i)));
        match row {
            Ok(Some(row)) => {
                let _ = self.tx.send(FeedEvent::Incident(row));
            }
            // Its alert has not arrived yet: the page learns of both with the alert.
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(alert = %alert_id, error = %e, "command center: clip kept, incident not read")
            }
        }
    }

    /// Stores `event` (an alert seen before changes nothing) and broadcasts the change.
    pub fn publish(&self, event: &Event) {
        let _ = self.try_publish(event);
    }

    /// [`Feed::publish`], saying whether the store has the event (logged when not).
    pub fn try_publish(&self, event: &Event) -> bool {
        match self.store_event(event) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(event = %event.id(), error = %e, "command center: event not stored");
                false
            }
        }
    }

    /// Stores `event` and broadcasts the change; the store's error as it is, logged by the
    /// caller.
    fn store_event(&self, event: &Event) -> Result<(), StoreError> {
        let change = match event {
            Event::Alert(a) => self.store.ingest_alert(a)?.map(FeedEvent::Incident),
            Event::Status(s) => Some(FeedEvent::Camera(self.store.ingest_status(s)?)),
        };
        if let Some(c) = change {
            let _ = self.tx.send(c);
        }
        Ok(())
    }
}

/// Where a Kafka message came from and its bytes, for a dead letter.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Raw<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    pub payload: &'a [u8],
}

/// What the Kafka reader does after a failed store attempt of one message. Pure.
#[derive(Debug)]
struct StoreRetry {
    wait: Duration,
    permanent: u32,
}

#[derive(Debug, PartialEq)]
enum Next {
    /// Wait this long, then try the same message again.
    Retry(Duration),
    /// Keep it in the dead letters and go on.
    DeadLetter,
}

impl StoreRetry {
    const FIRST_WAIT: Duration = Duration::from_millis(100);
    const MAX_WAIT: Duration = Duration::from_secs(5);

    fn new() -> Self {
        Self {
            wait: Self::FIRST_WAIT,
            permanent: 0,
        }
    }

    /// After a failure that [`StoreError::is_transient`] calls `transient`: a transient one
    /// is retried for ever, the [`MAX_PERMANENT_FAILURES`]th other one is dead-lettered.
    /// Waits double from 0.1 s to 5 s.
    fn failed(&mut self, transient: bool) -> Next {
        if !transient {
            self.permanent = self.permanent.saturating_add(1);
            if self.permanent >= MAX_PERMANENT_FAILURES {
                return Next::DeadLetter;
            }
        }
        Next::Retry(self.backoff())
    }

    /// The next wait, for a retry that is not the message's fault.
    fn backoff(&mut self) -> Duration {
        let wait = self.wait;
        self.wait = (self.wait * 2).min(Self::MAX_WAIT);
        wait
    }

    /// Attempts so far that failed for the message's own sake.
    fn permanent(&self) -> u32 {
        self.permanent
    }
}

/// How [`deliver`] ended.
#[derive(Debug, PartialEq)]
pub(crate) enum Delivered {
    /// The store has it.
    Stored,
    /// The store kept it in its dead letters.
    DeadLettered,
    /// `stop` came first: neither, and its offset must not move.
    Stopped,
}

/// Stores one message of the events topics. Failures of the database or its disk (busy,
/// locked, full, I/O) are retried for ever: the message is never dropped, and nothing after it
/// is read until it is stored, so a restart reads it again. A failure that is the message's
/// own ([`StoreError::is_transient`] false) is tried [`MAX_PERMANENT_FAILURES`] times, then the
/// raw message goes to the store's dead letters, logged at error level and counted, and the
/// feed goes on. Writing the dead letter is itself the proof that the database takes writes:
/// when that fails too, the message is retried like a transient failure.
pub(crate) fn deliver(
    feed: &Feed,
    event: &Event,
    raw: Raw<'_>,
    stop: &AtomicBool,
    clock: &dyn Clock,
) -> Delivered {
    let mut retry = StoreRetry::new();
    loop {
        let e = match feed.store_event(event) {
            Ok(()) => return Delivered::Stored,
            Err(e) => e,
        };
        feed.stats.store_failures.fetch_add(1, Ordering::Relaxed);
        let transient = e.is_transient();
        let wait = match retry.failed(transient) {
            Next::Retry(wait) => {
                tracing::warn!(
                    topic = raw.topic, partition = raw.partition, offset = raw.offset,
                    event = %event.id(), error = %e, transient, retry_in_ms = wait.as_millis() as u64,
                    "command center: event not stored; retrying"
                );
                wait
            }
            Next::DeadLetter => {
                let letter = DeadLetter {
                    topic: raw.topic.to_owned(),
                    partition: raw.partition,
                    offset: raw.offset,
                    key: raw.key.map(<[u8]>::to_vec),
                    payload: raw.payload.to_vec(),
                    event_id: Some(event.id().to_string()),
                    reason: e.to_string(),
                    attempts: retry.permanent(),
                };
                match feed.store.dead_letter(&letter, clock.now()) {
                    Ok(added) => {
                        // Counted once: the same message read again after a restart (its
                        // offset not yet committed) is not a second one.
                        if added {
                            feed.stats.dead_letters.fetch_add(1, Ordering::Relaxed);
                        }
                        tracing::error!(
                            topic = raw.topic, partition = raw.partition, offset = raw.offset,
                            event = %event.id(), error = %e, attempts = letter.attempts, again = !added,
                            "command center: event refused by the store; kept in its dead_letters table, the feed goes on"
                        );
                        return Delivered::DeadLettered;
                    }
                    Err(dl) => {
                        let wait = retry.backoff();
                        tracing::warn!(
                            topic = raw.topic, partition = raw.partition, offset = raw.offset,
                            event = %event.id(), error = %e, dead_letter_error = %dl,
                            retry_in_ms = wait.as_millis() as u64,
                            "command center: event not stored, nor its dead letter; retrying"
                        );
                        wait
                    }
                }
            }
        };
        // Waits in short steps, so that a stop is not held up by a long backoff.
        let mut left = wait;
        while !left.is_zero() {
            if stop.load(Ordering::Relaxed) {
                return Delivered::Stopped;
            }
            let step = left.min(Duration::from_millis(100));
            clock.sleep(step);
            left -= step;
        }
        if stop.load(Ordering::Relaxed) {
            return Delivered::Stopped;
        }
    }
}

/// Reads the alerts and camera-status topics into `feed` until `stop`, as consumer group
/// `group` (from the beginning the first time, so the history is there). Runs on its own
/// thread. A message's offset is stored for the next commit only once the store has it, or
/// once it is in the store's dead letters (see `deliver`). Messages that are not events of a
/// known schema are logged and skipped (the guardians' service owns the dead-letter topic).
/// Messages of `snapshot_topic` are alert pictures keyed by alert id ([`Feed::snapshot`]), of
/// `clip_topic` event clips keyed by alert id ([`Feed::clip`]).
#[allow(clippy::too_many_arguments)]
pub fn consume_kafka(
    brokers: String,
    topics: Vec<String>,
    snapshot_topic: Option<String>,
    clip_topic: Option<String>,
    group: String,
    properties: Vec<(String, String)>,
    feed: Feed,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("web-kafka".into())
        .spawn(move || {
            let config = sharpeyes_delivery::kafka::client(&brokers, "sharpeyes-web", &properties)
                .set("group.id", &group)
                .set("auto.offset.reset", "earliest")
                // Offsets are committed (every 5 s) only for messages the store has: each one
                // is marked by hand once stored (store_offset_from_message below).
                .set("enable.auto.offset.store", "false")
                .set("enable.partition.eof", "false")
                .set("session.timeout.ms", "10000")
                .config();
            // The admin client gets the same properties (TLS, SASL) as the consumer.
            let topics: Vec<String> = topics
                .into_iter()
                .chain(snapshot_topic.clone())
                .chain(clip_topic.clone())
                .collect();
            let admin: Vec<sharpeyes_delivery::KafkaOptions> = topics
                .iter()
                .map(|t| {
                    let mut o = sharpeyes_delivery::KafkaOptions::new(brokers.clone())
                        .topic(t)
                        .client_id("sharpeyes-web");
                    if clip_topic.as_ref() == Some(t) {
                        // Made here first, the clips topic still takes clips.
                        o = o.topic_config(
                            "max.message.bytes",
                            sharpeyes_delivery::MESSAGE_MAX_BYTES.to_string(),
                        );
                    }
                    o.extra = properties.clone();
                    o
                })
                .collect();
            match sharpeyes_delivery::wait_for_topics(&admin, &stop) {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::error!(error = %e, "command center: kafka topics not available");
                    return;
                }
            }
            let consumer: BaseConsumer = match config.create() {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "command center: kafka consumer not created");
                    return;
                }
            };
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            if let Err(e) = consumer.subscribe(&names) {
                tracing::error!(error = %e, "command center: subscribe failed");
                return;
            }
            tracing::info!(%brokers, ?topics, %group, "command center reading kafka");
            while !stop.load(Ordering::Relaxed) {
                match consumer.poll(Duration::from_millis(200)) {
                    None => {}
                    Some(Err(e)) => tracing::warn!(error = %e, "command center: kafka error"),
                    // An alert's picture or clip, keyed by the alert's id.
                    Some(Ok(m))
                        if snapshot_topic.as_deref() == Some(m.topic())
                            || clip_topic.as_deref() == Some(m.topic()) =>
                    {
                        let clip = clip_topic.as_deref() == Some(m.topic());
                        match m.key().map(std::str::from_utf8) {
                            Some(Ok(alert)) if clip => feed.clip(alert, m.payload().unwrap_or_default()),
                            Some(Ok(alert)) => feed.snapshot(alert, m.payload().unwrap_or_default()),
                            _ => tracing::warn!(
                                topic = m.topic(), partition = m.partition(), offset = m.offset(),
                                "command center: {} without an alert id as its key; skipped",
                                if clip { "clip" } else { "snapshot" }
                            ),
                        }
                        mark(&consumer, &m);
                    }
                    Some(Ok(m)) => {
                        match serde_json::from_slice::<Event>(m.payload().unwrap_or_default()) {
                            Ok(ev) => {
                                let raw = Raw {
                                    topic: m.topic(),
                                    partition: m.partition(),
                                    offset: m.offset(),
                                    key: m.key(),
                                    payload: m.payload().unwrap_or_default(),
                                };
                                // Marked below only once stored or dead-lettered; stopped
                                // before, it is read again after a restart.
                                if deliver(&feed, &ev, raw, &stop, &SystemClock) == Delivered::Stopped {
                                    return;
                                }
                            }
                            Err(e) => tracing::warn!(
                                topic = m.topic(), partition = m.partition(), offset = m.offset(),
                                error = %e, "command center: not an event of a known schema; skipped"
                            ),
                        }
                        mark(&consumer, &m);
                    }
                }
            }
        })
        .expect("spawn the kafka reader")
}

/// Marks `m` as done, so the next automatic commit includes it.
fn mark(consumer: &BaseConsumer, m: &rdkafka::message::BorrowedMessage<'_>) {
    if let Err(e) = consumer.store_offset_from_message(m) {
        tracing::warn!(topic = m.topic(), partition = m.partition(), offset = m.offset(), error = %e, "command center: kafka offset not stored");
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use sharpeyes_core::{Alert, AlertKind, CameraId, UnixMillis};

    const T: i64 = 1_795_459_860_000;

    /// A clock whose every sleep is instant and calls the closure: the test's hand on the
    /// database while the reader waits between attempts.
    struct Hands<F: Fn() + Send + Sync>(F);

    impl<F: Fn() + Send + Sync> Clock for Hands<F> {
        fn now(&self) -> UnixMillis {
            UnixMillis(T)
        }
        fn sleep(&self, _: Duration) {
            (self.0)();
        }
    }

    fn failures(feed: &Feed) -> u64 {
        feed.stats.store_failures.load(Ordering::Relaxed)
    }

    fn alert(message: &str, t: i64) -> Event {
        let mut a = Alert::new(
            AlertKind::Fall,
            CameraId::new("gate").expect("id"),
            UnixMillis(T + t),
            &[],
            (640, 360),
        );
        a.message = Some(message.into());
        Event::from(a)
    }

    /// An alert too big for the pages a database has left once limited to its size (its
    /// message and JSON need overflow pages).
    fn big_alert(message: &str, t: i64) -> Event {
        alert(&format!("{message} {}", "x".repeat(20_000)), t)
    }

    fn feed() -> Feed {
        Feed::new(Arc::new(
            Store::open(Path::new(":memory:")).expect("in-memory store"),
        ))
    }

    /// Delivers `event` as if read at `offset` of `sharpeyes.alerts`.
    fn deliver_at(feed: &Feed, event: &Event, offset: i64, clock: &dyn Clock) -> Delivered {
        let payload = serde_json::to_vec(event).expect("encodes");
        let raw = Raw {
            topic: "sharpeyes.alerts",
            partition: 0,
            offset,
            key: Some(b"gate"),
            payload: &payload,
        };
        deliver(feed, event, raw, &AtomicBool::new(false), clock)
    }

    fn stored_ids(feed: &Feed) -> Vec<String> {
        let admin = crate::model::User {
            username: "a".into(),
            role: crate::model::Role::Admin,
            villages: Default::default(),
        };
        feed.store
            .incidents(&admin, &crate::store::Filter::default())
            .expect("incidents")
            .into_iter()
            .map(|r| r.alert["id"].as_str().expect("id").to_owned())
            .collect()
    }

    const POISON_TRIGGER: &str = "CREATE TRIGGER poison BEFORE INSERT ON alerts \
        WHEN NEW.message LIKE 'poison%' BEGIN SELECT RAISE(ABORT, 'poison refused'); END;";

    #[test]
    fn transient_failures_are_retried_for_ever_with_backoff_from_a_tenth_to_five_seconds() {
        let mut r = StoreRetry::new();
        let waits: Vec<Next> = (0..10_000).map(|_| r.failed(true)).collect();
        assert!(waits.iter().all(|n| matches!(n, Next::Retry(_))));
        let ms = |n: &Next| match n {
            Next::Retry(d) => d.as_millis(),
            Next::DeadLetter => unreachable!("checked above"),
        };
        assert_eq!(
            waits[..8].iter().map(ms).collect::<Vec<_>>(),
            [100, 200, 400, 800, 1600, 3200, 5000, 5000]
        );
        assert_eq!(ms(&waits[9_999]), 5000);
    }

    #[test]
    fn the_fifth_failure_of_the_messages_own_dead_letters_it_whatever_came_between() {
        let mut r = StoreRetry::new();
        for _ in 0..MAX_PERMANENT_FAILURES - 1 {
            assert!(matches!(r.failed(false), Next::Retry(_)));
            // The database failing in between neither counts nor resets the count.
            assert!(matches!(r.failed(true), Next::Retry(_)));
        }
        assert_eq!(r.permanent(), MAX_PERMANENT_FAILURES - 1);
        assert_eq!(r.failed(false), Next::DeadLetter);
        assert_eq!(r.permanent(), MAX_PERMANENT_FAILURES);
    }

    #[test]
    fn a_message_the_store_refuses_is_dead_lettered_and_the_next_one_is_stored() {
        let feed = feed();
        feed.store
            .with_conn(|c| c.execute_batch(POISON_TRIGGER))
            .expect("trigger");
        let clock = Hands(|| {});
        let poison = alert("poison", 0);
        assert_eq!(
            deliver_at(&feed, &poison, 7, &clock),
            Delivered::DeadLettered
        );
        assert_eq!(failures(&feed), u64::from(MAX_PERMANENT_FAILURES));
        assert_eq!(feed.stats.dead_letters.load(Ordering::Relaxed), 1);
        let good = alert("fine", 1000);
        assert_eq!(deliver_at(&feed, &good, 8, &clock), Delivered::Stored);
        assert_eq!(stored_ids(&feed), [good.id()]);

        let letters = feed.store.dead_letters(10).expect("dead letters");
        assert_eq!(letters.len(), 1);
        let (at, letter) = &letters[0];
        assert_eq!(*at, UnixMillis(T).to_rfc3339());
        assert_eq!(
            (letter.topic.as_str(), letter.partition, letter.offset),
            ("sharpeyes.alerts", 0, 7)
        );
        assert_eq!(letter.key.as_deref(), Some(&b"gate"[..]));
        assert_eq!(
            letter.payload,
            serde_json::to_vec(&poison).expect("encodes"),
            "the raw message, as read"
        );
        assert_eq!(letter.event_id.as_deref(), Some(poison.id()));
        assert!(
            letter.reason.contains("poison refused"),
            "{}",
            letter.reason
        );
        assert_eq!(letter.attempts, MAX_PERMANENT_FAILURES);

        // Read again after a restart (offset not yet committed): one dead letter, counted once.
        assert_eq!(
            deliver_at(&feed, &poison, 7, &clock),
            Delivered::DeadLettered
        );
        assert_eq!(feed.store.dead_letters(10).expect("dead letters").len(), 1);
        assert_eq!(feed.stats.dead_letters.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_full_database_is_retried_until_it_has_room_and_nothing_is_dead_lettered() {
        let feed = feed();
        let limit = |pages: Option<i64>| {
            feed.store.with_conn(|c| {
                let now: i64 = c
                    .query_row("PRAGMA page_count", [], |r| r.get(0))
                    .expect("page count");
                let to = pages.unwrap_or(now);
                c.query_row(&format!("PRAGMA max_page_count = {to}"), [], |r| {
                    r.get::<_, i64>(0)
                })
                .expect("page limit")
            })
        };
        limit(None);
        let a = big_alert("fine", 0);
        let e = feed.store_event(&a).expect_err("the database is full");
        assert!(
            matches!(&e, StoreError::Db(rusqlite::Error::SqliteFailure(f, _)) if f.code == rusqlite::ErrorCode::DiskFull),
            "{e}"
        );
        assert!(e.is_transient());
        // Room again after 20 failed attempts, four times the dead-letter bound.
        let clock = Hands(|| {
            if failures(&feed) == 20 {
                limit(Some(1 << 20));
            }
        });
        assert_eq!(deliver_at(&feed, &a, 0, &clock), Delivered::Stored);
        assert_eq!(failures(&feed), 20);
        assert_eq!(stored_ids(&feed), [a.id()]);
        assert!(
            feed.store
                .dead_letters(10)
                .expect("dead letters")
                .is_empty()
        );
        assert_eq!(feed.stats.dead_letters.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_database_locked_by_another_process_is_retried_until_released() {
        let dir = std::env::temp_dir().join(format!(
            "sharpeyes-feed-locked-{}-{}",
            std::process::id(),
            SystemClock.now().0
        ));
        let path = dir.join("cc.db");
        let store = Store::open(&path).expect("store");
        store
            .with_conn(|c| c.busy_timeout(Duration::from_millis(20)))
            .expect("busy timeout");
        let feed = Feed::new(Arc::new(store));
        let other = rusqlite::Connection::open(&path).expect("second connection");
        other.execute_batch("BEGIN EXCLUSIVE").expect("lock");
        let other = std::sync::Mutex::new(Some(other));
        let a = alert("fine", 0);
        let clock = Hands(|| {
            if failures(&feed) == 10
                && let Some(c) = other.lock().expect("lock").take()
            {
                c.execute_batch("ROLLBACK").expect("unlock");
            }
        });
        assert_eq!(deliver_at(&feed, &a, 0, &clock), Delivered::Stored);
        assert_eq!(failures(&feed), 10);
        assert_eq!(stored_ids(&feed), [a.id()]);
        assert!(
            feed.store
                .dead_letters(10)
                .expect("dead letters")
                .is_empty()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_poison_message_on_a_full_disk_waits_for_room_for_its_dead_letter() {
        let feed = feed();
        feed.store
            .with_conn(|c| {
                c.execute_batch(POISON_TRIGGER)?;
                let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0))?;
                c.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
                    r.get::<_, i64>(0)
                })
            })
            .expect("trigger and page limit");
        let clock = Hands(|| {
            if failures(&feed) == 30 {
                feed.store
                    .with_conn(|c| {
                        c.query_row("PRAGMA max_page_count = 1048576", [], |r| {
                            r.get::<_, i64>(0)
                        })
                    })
                    .expect("room");
            }
        });
        let poison = big_alert("poison", 0);
        assert_eq!(
            deliver_at(&feed, &poison, 3, &clock),
            Delivered::DeadLettered
        );
        // From the fifth failure on, each one tried the dead letter, which failed until the
        // 31st: nothing was dropped meanwhile.
        assert_eq!(failures(&feed), 31);
        assert_eq!(feed.store.dead_letters(10).expect("dead letters").len(), 1);
        assert!(stored_ids(&feed).is_empty());
    }

    #[test]
    fn a_stop_during_an_outage_leaves_the_message_neither_stored_nor_dead_lettered() {
        let feed = feed();
        feed.store
            .with_conn(|c| {
                let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0))?;
                c.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
                    r.get::<_, i64>(0)
                })
            })
            .expect("page limit");
        let stop = AtomicBool::new(false);
        let clock = Hands(|| {
            if failures(&feed) == 10 {
                stop.store(true, Ordering::Relaxed);
            }
        });
        let a = big_alert("fine", 0);
        let payload = serde_json::to_vec(&a).expect("encodes");
        let raw = Raw {
            topic: "sharpeyes.alerts",
            partition: 0,
            offset: 0,
            key: None,
            payload: &payload,
        };
        assert_eq!(deliver(&feed, &a, raw, &stop, &clock), Delivered::Stopped);
        assert!(stored_ids(&feed).is_empty());
        assert!(
            feed.store
                .dead_letters(10)
                .expect("dead letters")
                .is_empty()
        );
    }
}
