//! `sharpeyes notify`: a Kafka consumer-group service that reads the alerts topic and POSTs each
//! alert to the guardians it concerns. Network and file I/O; the decisions are in the pure
//! modules ([`super::route`], [`super::pacing`], [`super::offsets`], [`super::webhook`]).
//!
//! Guarantees:
//! - Offsets are committed only past messages whose every delivery finished: delivered (2xx),
//!   or sent to the dead-letter topic after a permanent failure or `max_attempts` tries. A
//!   crash or restart reads the rest again.
//! - Each guardian has its own worker thread and queue: one guardian's failing gateway delays
//!   only that guardian (and the commit point), never another guardian's notifications.
//! - Dedup by `<alert id>/<guardian id>` ([`super::dedup::DeliveredLog`]): a message read again
//!   is not sent again to a guardian who already got it; the gateway also gets the id as
//!   `Idempotency-Key`.
//! - A malformed message (not JSON, another schema version, not an alert) is logged and copied
//!   to the dead-letter topic; the consumer goes on.
//! - Dead-letter writes wait for the broker's acknowledgement (retrying while it is away)
//!   before the message counts as finished.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use sharpeyes_core::{ALERT_SCHEMA_VERSION, Alert};

use super::dedup::DeliveredLog;
use super::offsets::OffsetTracker;
use super::pacing::{PriorityQueue, RateLimit};
use super::registry::{Guardian, Registry};
use super::route::{Notification, notification_id, route};
use super::webhook::{Outcome, Webhook, backoff};
use crate::kafka::{KafkaOptions, wait_for_topics};

/// Headers of a dead-letter message.
pub const DLQ_REASON: &str = "sharpeyes-dlq-reason";
/// `parse` (the message itself is bad) or `delivery` (a guardian could not be reached).
pub const DLQ_STAGE: &str = "sharpeyes-dlq-stage";
pub const DLQ_GUARDIAN: &str = "sharpeyes-dlq-guardian";
/// `<topic>/<partition>/<offset>` of the original message.
pub const DLQ_SOURCE: &str = "sharpeyes-dlq-source";
pub const DLQ_ATTEMPTS: &str = "sharpeyes-dlq-attempts";

/// Most messages read and not finished; past it, reading pauses.
const MAX_IN_FLIGHT: usize = 10_000;

/// Why the service could not start or went down.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Kafka(#[from] crate::AlertsError),
    #[error("kafka consumer for {topic}: {source}")]
    Consumer {
        topic: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("{path}: {source}")]
    State {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("gateway {url}: environment variable {var} (bearer_token_env) is not set")]
    Token { url: String, var: String },
}

/// Counts since start, for logs and the exit summary.
#[derive(Debug, Default)]
pub struct NotifyCounters {
    pub messages: AtomicU64,
    pub delivered: AtomicU64,
    pub retries: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub malformed: AtomicU64,
    pub duplicates_skipped: AtomicU64,
    pub commits: AtomicU64,
}

impl NotifyCounters {
    /// `messages=.. delivered=.. ...` for the summary line.
    pub fn line(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "messages={} delivered={} retries={} dead_lettered={} malformed={} duplicates_skipped={} commits={}",
            g(&self.messages),
            g(&self.delivered),
            g(&self.retries),
            g(&self.dead_lettered),
            g(&self.malformed),
            g(&self.duplicates_skipped),
            g(&self.commits)
        )
    }
}

/// Everything `run` needs.
#[derive(Clone, Debug)]
pub struct NotifyOptions {
    pub brokers: String,
    pub registry: Registry,
    /// librdkafka properties for every client (TLS, SASL), already resolved.
    pub kafka_properties: Vec<(String, String)>,
}

/// Where a finished message is reported.
struct MessageDone {
    partition: i32,
    offset: i64,
    remaining: AtomicUsize,
    tx: Sender<(i32, i64)>,
}

impl MessageDone {
    fn one_finished(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _ = self.tx.send((self.partition, self.offset));
        }
    }
}

struct Job {
    alert: Arc<Alert>,
    key: Option<Vec<u8>>,
    source: String,
    done: Arc<MessageDone>,
}

/// One guardian's queue, shared with its worker.
struct Lane {
    queue: Mutex<PriorityQueue<Job>>,
    ready: Condvar,
}

/// The dead-letter producer, shared by the consumer loop and the workers.
#[derive(Clone)]
struct DeadLetters {
    producer: FutureProducer,
    topic: String,
    counters: Arc<NotifyCounters>,
    stop: Arc<AtomicBool>,
}

impl DeadLetters {
    /// Writes one dead letter and waits for the broker's ack, retrying while it is away.
    /// `false` only when stopping before it was acknowledged (then the message is not
    /// finished and is read again after the restart).
    fn send(&self, payload: &[u8], key: Option<&[u8]>, headers: &[(&str, &str)]) -> bool {
        let mut delay = Duration::from_millis(500);
        loop {
            let mut h = OwnedHeaders::new();
            for (k, v) in headers {
                h = h.insert(Header {
                    key: k,
                    value: Some(*v),
                });
            }
            let mut record = FutureRecord::to(&self.topic).payload(payload).headers(h);
            if let Some(k) = key {
                record = record.key(k);
            }
            let sent = futures::executor::block_on(self.producer.send(
                record,
                rdkafka::util::Timeout::After(Duration::from_secs(30)),
            ));
            match sent {
                Ok(_) => {
                    self.counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Err((e, _)) => {
                    tracing::warn!(topic = %self.topic, error = %e, "dead-letter write failed; retrying");
                    if sleep_unless_stopped(&self.stop, delay) {
                        return false;
                    }
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
}

/// Sleeps `d` in short steps; `true` when `stop` was raised meanwhile.
fn sleep_unless_stopped(stop: &AtomicBool, d: Duration) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(50)));
    }
    stop.load(Ordering::Relaxed)
}

/// Logs rebalances and tells the loop which partitions it lost.
struct NotifyContext {
    revoked: Mutex<Vec<i32>>,
}

impl ClientContext for NotifyContext {}

impl ConsumerContext for NotifyContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let parts: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
            tracing::info!(?parts, "partitions revoked");
            self.revoked
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(parts);
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let parts: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
            tracing::info!(?parts, "partitions assigned");
        }
    }
}

/// Runs until `stop` is raised. Returns the counters.
pub fn run(
    options: NotifyOptions,
    stop: Arc<AtomicBool>,
) -> Result<Arc<NotifyCounters>, NotifyError> {
    let reg = Arc::new(options.registry);
    let svc = &reg.service;
    let counters = Arc::new(NotifyCounters::default());
    let kafka = |topic: &str| {
        let mut o = KafkaOptions::new(options.brokers.clone())
            .topic(topic)
            .client_id("sharpeyes-notify");
        o.extra = options.kafka_properties.clone();
        o
    };
    // The broker may be away at start: wait for it; the alerts wait on the topic meanwhile.
    if !wait_for_topics(
        &[kafka(&svc.alerts_topic), kafka(&svc.dead_letter_topic)],
        &stop,
    )? {
        return Ok(counters);
    }
    let delivered =
        Arc::new(
            DeliveredLog::open(&svc.state_dir).map_err(|source| NotifyError::State {
                path: svc.state_dir.join("delivered.log"),
                source,
            })?,
        );

    let mut producer_config = ClientConfig::new();
    producer_config
        .set("bootstrap.servers", &options.brokers)
        .set("client.id", "sharpeyes-notify-dlq")
        .set("enable.idempotence", "true")
        .set("acks", "all");
    for (k, v) in &options.kafka_properties {
        producer_config.set(k, v);
    }
    let dlq = DeadLetters {
        producer: producer_config
            .create()
            .map_err(|source| NotifyError::Consumer {
                topic: svc.dead_letter_topic.clone(),
                source,
            })?,
        topic: svc.dead_letter_topic.clone(),
        counters: counters.clone(),
        stop: stop.clone(),
    };

    // One lane and worker per guardian.
    let mut lanes = Vec::new();
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    for (i, g) in reg.guardians.iter().enumerate() {
        let (url, token_var) = reg.endpoint_of(g);
        let bearer = match token_var {
            Some(var) => Some(std::env::var(&var).map_err(|_| NotifyError::Token {
                url: url.clone(),
                var: var.clone(),
            })?),
            None => None,
        };
        let lane = Arc::new(Lane {
            queue: Mutex::new(PriorityQueue::default()),
            ready: Condvar::new(),
        });
        lanes.push(lane.clone());
        let worker = Worker {
            registry: reg.clone(),
            guardian: i,
            webhook: Webhook::new(url, bearer, svc.request_timeout),
            lane,
            delivered: delivered.clone(),
            dlq: dlq.clone(),
            counters: counters.clone(),
            stop: stop.clone(),
        };
        workers.push(
            std::thread::Builder::new()
                .name(format!("notify-{}", g.id))
                .spawn(move || worker.run())
                .expect("spawn a notify worker"),
        );
    }

    let context = NotifyContext {
        revoked: Mutex::new(Vec::new()),
    };
    let mut consumer_config = ClientConfig::new();
    consumer_config
        .set("bootstrap.servers", &options.brokers)
        .set("group.id", &svc.group_id)
        .set("client.id", "sharpeyes-notify")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        // A crashed notify process's partitions move to the others after 10 s, not 45 s
        // (librdkafka's default); [kafka.properties] may change it.
        .set("session.timeout.ms", "10000");
    for (k, v) in &options.kafka_properties {
        consumer_config.set(k, v);
    }
    let consumer: BaseConsumer<NotifyContext> = consumer_config
        .create_with_context(context)
        .map_err(|source| NotifyError::Consumer {
            topic: svc.alerts_topic.clone(),
            source,
        })?;
    consumer
        .subscribe(&[&svc.alerts_topic])
        .map_err(|source| NotifyError::Consumer {
            topic: svc.alerts_topic.clone(),
            source,
        })?;
    tracing::info!(
        brokers = %options.brokers,
        topic = %svc.alerts_topic,
        group = %svc.group_id,
        guardians = reg.guardians.len(),
        already_delivered = delivered.len(),
        "notify service started"
    );

    let (done_tx, done_rx): (Sender<(i32, i64)>, Receiver<(i32, i64)>) = std::sync::mpsc::channel();
    let mut tracker = OffsetTracker::default();
    let mut last_commit = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        while let Ok((p, o)) = done_rx.try_recv() {
            tracker.finish(p, o);
        }
        for p in std::mem::take(
            &mut *consumer
                .context()
                .revoked
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        ) {
            tracker.forget(p);
        }
        if tracker.in_flight() >= MAX_IN_FLIGHT {
            std::thread::sleep(Duration::from_millis(50));
        } else {
            match consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "kafka consumer error");
                }
                Some(Ok(m)) => {
                    let (p, o) = (m.partition(), m.offset());
                    counters.messages.fetch_add(1, Ordering::Relaxed);
                    tracker.take(p, o);
                    let source = format!("{}/{p}/{o}", m.topic());
                    let key = m.key().map(<[u8]>::to_vec);
                    let payload = m.payload().unwrap_or_default().to_vec();
                    drop(m);
                    match parse(&payload) {
                        Err(reason) => {
                            counters.malformed.fetch_add(1, Ordering::Relaxed);
                            tracing::error!(source = %source, reason = %reason, "malformed message on the alerts topic; sent to the dead-letter topic");
                            let headers = [
                                (DLQ_REASON, reason.as_str()),
                                (DLQ_STAGE, "parse"),
                                (DLQ_SOURCE, source.as_str()),
                            ];
                            if dlq.send(&payload, key.as_deref(), &headers) {
                                tracker.finish(p, o);
                            }
                        }
                        Ok(alert) => {
                            let alert = Arc::new(alert);
                            let targets: Vec<usize> = route(&reg, &alert)
                                .into_iter()
                                .filter(|&g| {
                                    let dup = delivered.contains(&notification_id(
                                        &alert.id,
                                        &reg.guardians[g].id,
                                    ));
                                    if dup {
                                        counters.duplicates_skipped.fetch_add(1, Ordering::Relaxed);
                                    }
                                    !dup
                                })
                                .collect();
                            tracing::debug!(alert = %alert.id, camera = %alert.camera.id, kind = alert.kind.as_str(), guardians = targets.len(), "alert routed");
                            if targets.is_empty() {
                                tracker.finish(p, o);
                            } else {
                                let done = Arc::new(MessageDone {
                                    partition: p,
                                    offset: o,
                                    remaining: AtomicUsize::new(targets.len()),
                                    tx: done_tx.clone(),
                                });
                                for g in targets {
                                    let lane = &lanes[g];
                                    lane.queue.lock().unwrap_or_else(|p| p.into_inner()).push(
                                        alert.severity,
                                        Job {
                                            alert: alert.clone(),
                                            key: key.clone(),
                                            source: source.clone(),
                                            done: done.clone(),
                                        },
                                    );
                                    lane.ready.notify_one();
                                }
                            }
                        }
                    }
                }
            }
        }
        if last_commit.elapsed() >= Duration::from_millis(200) {
            commit(&consumer, &svc.alerts_topic, &mut tracker, &counters);
            last_commit = Instant::now();
        }
    }
    // Stopping: workers drop what they hold (not finished, so read again after a restart);
    // commit what did finish.
    for lane in &lanes {
        lane.ready.notify_all();
    }
    for w in workers {
        let _ = w.join();
    }
    while let Ok((p, o)) = done_rx.try_recv() {
        tracker.finish(p, o);
    }
    commit(&consumer, &svc.alerts_topic, &mut tracker, &counters);
    tracing::info!(summary = %counters.line(), "notify service stopped");
    Ok(counters)
}

/// Commits every partition whose finished prefix grew. The list is dropped before returning
/// (a list alive when the consumer is dropped hangs the drop).
fn commit(
    consumer: &BaseConsumer<NotifyContext>,
    topic: &str,
    tracker: &mut OffsetTracker,
    counters: &NotifyCounters,
) {
    let moves = tracker.to_commit();
    if moves.is_empty() {
        return;
    }
    let mut tpl = TopicPartitionList::new();
    for (p, next) in &moves {
        if let Err(e) = tpl.add_partition_offset(topic, *p, Offset::Offset(*next)) {
            tracing::warn!(partition = p, error = %e, "offset not committed");
        }
    }
    match consumer.commit(&tpl, CommitMode::Sync) {
        Ok(()) => {
            counters.commits.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(?moves, "offsets committed");
        }
        Err(e) => tracing::warn!(error = %e, "offset commit failed; retried with the next one"),
    }
    drop(tpl);
}

/// The alert in `payload`, or why it is not one this build reads.
pub fn parse(payload: &[u8]) -> Result<Alert, String> {
    if payload.is_empty() {
        return Err("empty message".into());
    }
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| format!("not JSON: {e}"))?;
    match value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
    {
        Some(v) if v == u64::from(ALERT_SCHEMA_VERSION) => {}
        Some(v) => {
            return Err(format!(
                "schema_version {v} is not supported (this build reads {ALERT_SCHEMA_VERSION})"
            ));
        }
        None => return Err("no schema_version: not a Sharp Eyes alert".into()),
    }
    serde_json::from_value(value).map_err(|e| format!("not an alert of schema version 1: {e}"))
}

struct Worker {
    registry: Arc<Registry>,
    guardian: usize,
    webhook: Webhook,
    lane: Arc<Lane>,
    delivered: Arc<DeliveredLog>,
    dlq: DeadLetters,
    counters: Arc<NotifyCounters>,
    stop: Arc<AtomicBool>,
}

impl Worker {
    fn guardian(&self) -> &Guardian {
        &self.registry.guardians[self.guardian]
    }

    fn run(self) {
        let g = self.guardian();
        let _span = tracing::info_span!("guardian", id = %g.id).entered();
        let mut limit = RateLimit::new(g.max_per_hour, Instant::now());
        loop {
            // Wait for work.
            {
                let mut q = self.lane.queue.lock().unwrap_or_else(|p| p.into_inner());
                while q.is_empty() && !self.stop.load(Ordering::Relaxed) {
                    q = self
                        .lane
                        .ready
                        .wait_timeout(q, Duration::from_millis(200))
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            // Wait for a token, then take the most urgent job (it may have arrived meanwhile).
            loop {
                match limit.take(Instant::now()) {
                    Ok(()) => break,
                    Err(wait) => {
                        tracing::info!(
                            wait_s = wait.as_secs(),
                            waiting = self.lane.queue.lock().map(|q| q.len()).unwrap_or(0),
                            "rate limit reached; notifications wait"
                        );
                        if sleep_unless_stopped(&self.stop, wait.min(Duration::from_secs(5))) {
                            return;
                        }
                    }
                }
            }
            let Some(job) = self
                .lane
                .queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop()
            else {
                continue;
            };
            if !self.deliver(&job) {
                return; // stopping; the job is not finished
            }
            job.done.one_finished();
        }
    }

    /// Tries until delivered or dead-lettered (`true`), or stopped (`false`).
    fn deliver(&self, job: &Job) -> bool {
        let g = self.guardian();
        let svc = &self.registry.service;
        let id = notification_id(&job.alert.id, &g.id);
        if self.delivered.contains(&id) {
            self.counters
                .duplicates_skipped
                .fetch_add(1, Ordering::Relaxed);
            return true;
        }
        let body = serde_json::to_vec(&Notification::new(g, &job.alert))
            .expect("a notification always encodes");
        let mut attempt = 0;
        let reason = loop {
            attempt += 1;
            match self.webhook.post(&body, &id) {
                Outcome::Delivered => {
                    self.delivered.record(&id);
                    self.counters.delivered.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(alert = %job.alert.id, kind = job.alert.kind.as_str(), attempt, "notification delivered");
                    return true;
                }
                Outcome::Permanent(r) => break r,
                Outcome::Retry(r) if attempt >= svc.max_attempts => break r,
                Outcome::Retry(r) => {
                    let wait = backoff(attempt, svc.backoff_initial, svc.backoff_max);
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(alert = %job.alert.id, attempt, error = %r, retry_in_ms = wait.as_millis() as u64, "notification failed; retrying");
                    if sleep_unless_stopped(&self.stop, wait) {
                        return false;
                    }
                }
            }
        };
        tracing::error!(alert = %job.alert.id, attempts = attempt, error = %reason, url = %self.webhook.url, "notification failed for good; sent to the dead-letter topic");
        let payload = serde_json::to_vec(&*job.alert).expect("an alert always encodes");
        let attempts = attempt.to_string();
        self.dlq.send(
            &payload,
            job.key.as_deref(),
            &[
                (DLQ_REASON, reason.as_str()),
                (DLQ_STAGE, "delivery"),
                (DLQ_GUARDIAN, g.id.as_str()),
                (DLQ_SOURCE, job.source.as_str()),
                (DLQ_ATTEMPTS, attempts.as_str()),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use sharpeyes_core::{AlertKind, CameraId, UnixMillis};

    use super::*;

    #[test]
    fn parse_names_what_is_wrong() {
        let a = Alert::new(
            AlertKind::Fall,
            CameraId::new("c").unwrap(),
            UnixMillis(0),
            &[],
            (1, 1),
        );
        let good = serde_json::to_vec(&a).unwrap();
        assert_eq!(parse(&good).unwrap(), a);
        let mut v: serde_json::Value = serde_json::from_slice(&good).unwrap();
        v["schema_version"] = 2.into();
        let e = parse(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(e.starts_with("schema_version 2 is not supported"), "{e}");
        assert!(parse(b"not json").unwrap_err().starts_with("not JSON"));
        assert_eq!(parse(b"").unwrap_err(), "empty message");
        assert!(
            parse(b"{\"x\":1}")
                .unwrap_err()
                .starts_with("no schema_version")
        );
        v["schema_version"] = 1.into();
        v["kind"] = "camera_online".into();
        assert!(
            parse(&serde_json::to_vec(&v).unwrap())
                .unwrap_err()
                .starts_with("not an alert")
        );
    }
}
