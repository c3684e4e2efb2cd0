//! What feeds the command center: events from the in-process pipeline (`run`, `demo`) or from
//! the Kafka topics (`serve`), stored and then broadcast to the connected pages.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use serde::Serialize;
use sharpeyes_core::Event;
use tokio::sync::broadcast;

use crate::store::{CameraRow, IncidentRow, Store};

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

/// Stores events and tells the pages. Cheap to clone.
#[derive(Clone)]
pub struct Feed {
    pub store: Arc<Store>,
    pub tx: broadcast::Sender<FeedEvent>,
}

impl Feed {
    pub fn new(store: Arc<Store>) -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self { store, tx }
    }

    /// Keeps `jpeg` as the picture of alert `alert_id` (data, never a path: see
    /// [`crate::snapshots`]). A message that is not a JPEG is logged and dropped.
    pub fn snapshot(&self, alert_id: &str, jpeg: &[u8]) {
        if let Err(e) = self.store.snapshots().put(alert_id, jpeg) {
            tracing::warn!(error = %e, "command center: snapshot not kept");
        }
    }

    /// Stores `event` (an alert seen before changes nothing) and broadcasts the change.
    pub fn publish(&self, event: &Event) {
        let _ = self.try_publish(event);
    }

    /// [`Feed::publish`], saying whether the store has the event (logged when not).
    pub fn try_publish(&self, event: &Event) -> bool {
        let change = match event {
            Event::Alert(a) => self
                .store
                .ingest_alert(a)
                .map(|r| r.map(FeedEvent::Incident)),
            Event::Status(s) => self
                .store
                .ingest_status(s)
                .map(|c| Some(FeedEvent::Camera(c))),
        };
        match change {
            Ok(Some(c)) => {
                let _ = self.tx.send(c);
                true
            }
            Ok(None) => true,
            Err(e) => {
                tracing::error!(event = %event.id(), error = %e, "command center: event not stored");
                false
            }
        }
    }
}

/// Reads the alerts and camera-status topics into `feed` until `stop`, as consumer group
/// `group` (from the beginning the first time, so the history is there). Runs on its own
/// thread. Messages that are not events of a known schema are logged and skipped (the
/// guardians' service owns the dead-letter topic). Messages of `snapshot_topic` are alert
/// pictures keyed by alert id ([`Feed::snapshot`]).
pub fn consume_kafka(
    brokers: String,
    topics: Vec<String>,
    snapshot_topic: Option<String>,
    group: String,
    properties: Vec<(String, String)>,
    feed: Feed,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("web-kafka".into())
        .spawn(move || {
            let mut config = ClientConfig::new();
            config
                .set("bootstrap.servers", &brokers)
                .set("group.id", &group)
                .set("client.id", "sharpeyes-web")
                .set("auto.offset.reset", "earliest")
                // Offsets are committed (every 5 s) only for messages the store has: each one
                // is marked by hand once stored (store_offset_from_message below).
                .set("enable.auto.offset.store", "false")
                .set("enable.partition.eof", "false")
                .set("session.timeout.ms", "10000");
            for (k, v) in &properties {
                config.set(k, v);
            }
            // The admin client gets the same properties (TLS, SASL) as the consumer.
            let topics: Vec<String> = topics.into_iter().chain(snapshot_topic.clone()).collect();
            let admin: Vec<sharpeyes_alerts::KafkaOptions> = topics
                .iter()
                .map(|t| {
                    let mut o = sharpeyes_alerts::KafkaOptions::new(brokers.clone())
                        .topic(t)
                        .client_id("sharpeyes-web");
                    o.extra = properties.clone();
                    o
                })
                .collect();
            match sharpeyes_alerts::wait_for_topics(&admin, &stop) {
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
                    Some(Ok(m)) if snapshot_topic.as_deref() == Some(m.topic()) => {
                        match m.key().map(std::str::from_utf8) {
                            Some(Ok(alert)) => feed.snapshot(alert, m.payload().unwrap_or_default()),
                            _ => tracing::warn!(
                                topic = m.topic(), partition = m.partition(), offset = m.offset(),
                                "command center: snapshot without an alert id as its key; skipped"
                            ),
                        }
                        mark(&consumer, &m);
                    }
                    Some(Ok(m)) => {
                        match serde_json::from_slice::<Event>(m.payload().unwrap_or_default()) {
                            Ok(ev) => {
                                // Not stored (disk full, database locked): try again, and do
                                // not move past it, so it is read again after a restart.
                                let mut wait = Duration::from_millis(100);
                                while !feed.try_publish(&ev) {
                                    if stop.load(Ordering::Relaxed) {
                                        return;
                                    }
                                    std::thread::sleep(wait);
                                    wait = (wait * 2).min(Duration::from_secs(5));
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
