//! `sharpeyes notify`: a Kafka consumer-group service that reads the alerts topic and POSTs
//! each alert to the guardians it concerns. It reads the camera status topic too, and pushes
//! the status events guardians asked for (`camera_tampered`, `camera_restored`, ...:
//! maintenance staff) the same way; every other status event (heartbeats) is skipped after a
//! glance at its `kind`. The status topic has a consumer of its own, in group
//! `<group_id>.status` ([`status_group`]). Everything below holds for both; "alert" stands for
//! either. Network and file I/O; the decisions are in the pure modules ([`super::route`],
//! [`super::freshness`], [`super::pacing`], [`super::offsets`], [`super::webhook`],
//! [`super::reload`]).
//!
//! Guarantees:
//! - Offsets are committed only past messages whose every delivery finished: delivered (2xx),
//!   or sent to the dead-letter topic (a permanent failure, `max_attempts` tries, too old, a
//!   full queue). A crash or restart reads the rest again.
//! - Never old news: an alert older than `service.max_age` (default 15 min) by its own
//!   `event_time` at send time is not pushed; it is logged and dead-lettered with reason
//!   [`REASON_STALE`]. It is judged when the message is read, over each guardian's queue while
//!   it waits (rate limit, slow gateway) and before every attempt: so a new consumer group,
//!   expired offsets, a lost `state_dir` or a backlog never push old alerts.
//! - Each guardian has its own worker thread and queue: a slow or hanging gateway delays only
//!   that guardian (and the commit point). Its queue holds at most [`LANE_CAPACITY`]
//!   notifications; past that a new one is dead-lettered ([`REASON_BACKLOG`]), so reading goes
//!   on for the others. Dead letters are written by a thread of their own, pipelined, never by
//!   the reading loop or a guardian's worker.
//! - Dedup by `<alert id>/<guardian id>` ([`super::dedup::DeliveredLog`], bounded to what may
//!   still be pushed): a message read again is not sent again to a guardian who already got
//!   it; the gateway also gets the id as `Idempotency-Key`.
//! - No duplicates after a rebalance (processes sharing one `state_dir`): when partitions are
//!   revoked, their queued notifications are dropped, the ones being sent finish their current
//!   attempt and are not retried, the finished offsets are committed synchronously, and only
//!   then does the process go back to the group. Whoever gets a partition reads the shared
//!   delivered log again before reading the partition, and again before each send.
//! - The registry file is read again every second: edits apply without a restart; a broken
//!   edit is logged with every problem and counted, and the last good registry keeps running
//!   ([`super::reload`]).
//! - A malformed message (not JSON, another schema version, not an alert) is logged and copied
//!   to the dead-letter topic; the consumer goes on.
//! - Dead-letter writes wait for the broker's acknowledgement (retrying while it is away)
//!   before the message counts as finished.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use sharpeyes_core::{
    ALERT_SCHEMA_VERSION, Alert, Clock, Event, STATUS_SCHEMA_VERSION, StatusEvent, UnixMillis,
    sleep_unless,
};

use super::dedup::DeliveredLog;
use super::freshness::{event_at, keep_from, stale};
use super::offsets::OffsetTracker;
use super::pacing::{PriorityQueue, RateLimit};
use super::registry::{Guardian, ROUTED_STATUS_KINDS, Registry};
use super::reload::{POLL_INTERVAL, RegistryWatch, Reload};
use super::route::{Notification, notification_id, priority, route, wants};
use super::webhook::{Outcome, Webhook, backoff};
use sharpeyes_delivery::kafka::{KafkaOptions, wait_for_topics};

/// Headers of a dead-letter message.
pub const DLQ_REASON: &str = "sharpeyes-dlq-reason";
/// `parse` (the message itself is bad) or `delivery` (a guardian was not sent it).
pub const DLQ_STAGE: &str = "sharpeyes-dlq-stage";
pub const DLQ_GUARDIAN: &str = "sharpeyes-dlq-guardian";
/// `<topic>/<partition>/<offset>` of the original message.
pub const DLQ_SOURCE: &str = "sharpeyes-dlq-source";
pub const DLQ_ATTEMPTS: &str = "sharpeyes-dlq-attempts";
/// How old the alert was (ms, by its `event_time`) when it was judged [`REASON_STALE`].
pub const DLQ_AGE_MS: &str = "sharpeyes-dlq-age-ms";

/// [`DLQ_REASON`] of an alert older than `service.max_age` at send time.
pub const REASON_STALE: &str = "stale";
/// [`DLQ_REASON`] of a notification that found its guardian's queue full.
pub const REASON_BACKLOG: &str = "backlog";

/// Most notifications one guardian's queue holds (a day of the highest rate limit is 86 400;
/// 1 000 is over 16 minutes of it, past the default `max_age`). Past it a new one is
/// dead-lettered ([`REASON_BACKLOG`]) rather than making the service stop reading.
pub const LANE_CAPACITY: usize = 1000;

/// Memory backstop: most messages read and not finished; past it reading pauses. Reached only
/// when many guardians' queues are full at once.
const MAX_IN_FLIGHT: usize = 100_000;

/// Most status messages read between two polls of the alerts topic.
const STATUS_BATCH: usize = 1000;

/// A delivered-log entry is kept this long past `max_age` (cameras' clocks differ from ours).
const DEDUP_SLACK: Duration = Duration::from_secs(3600);

/// How often the delivered log is pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Why the service could not start or went down.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Kafka(#[from] sharpeyes_delivery::DeliveryError),
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
    /// Notifications not pushed because the alert was older than `max_age`.
    pub stale: AtomicU64,
    /// Notifications dead-lettered because their guardian's queue was full.
    pub backlog: AtomicU64,
    /// Status events no guardian is ever sent (heartbeats, ...), skipped.
    pub status_skipped: AtomicU64,
    /// Registry edits applied.
    pub registry_reloads: AtomicU64,
    /// Broken registry edits (each distinct set of problems once).
    pub registry_rejected: AtomicU64,
}

impl NotifyCounters {
    /// `messages=.. delivered=.. ...` for the summary line.
    pub fn line(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "messages={} delivered={} retries={} dead_lettered={} malformed={} duplicates_skipped={} commits={} stale={} backlog={} status_skipped={} registry_reloads={} registry_rejected={}",
            g(&self.messages),
            g(&self.delivered),
            g(&self.retries),
            g(&self.dead_lettered),
            g(&self.malformed),
            g(&self.duplicates_skipped),
            g(&self.commits),
            g(&self.stale),
            g(&self.backlog),
            g(&self.status_skipped),
            g(&self.registry_reloads),
            g(&self.registry_rejected)
        )
    }
}

/// Everything `run` needs.
#[derive(Clone)]
pub struct NotifyOptions {
    pub brokers: String,
    pub registry: Registry,
    /// The file `registry` came from, read again every second for edits; `None`: never.
    pub registry_path: Option<PathBuf>,
    /// `--max-age`: replaces `service.max_age` of this registry and of every edit of it.
    pub max_age: Option<Duration>,
    /// librdkafka properties for every client (TLS, SASL), already resolved.
    pub kafka_properties: Vec<(String, String)>,
    /// "Now" for freshness, the delivered log and the waits between retries (`SystemClock`;
    /// tests may pass a simulated one). Rate limits keep to the monotonic clock.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for NotifyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyOptions")
            .field("brokers", &self.brokers)
            .field("registry", &self.registry)
            .field("registry_path", &self.registry_path)
            .field("max_age", &self.max_age)
            .field("kafka_properties", &self.kafka_properties)
            .finish_non_exhaustive()
    }
}

/// Which of the topics read a message came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Source {
    Alerts,
    Status,
}

/// A partition of one of the topics read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Part {
    source: Source,
    partition: i32,
}

/// A message's work is done (for the offset tracker), in the assignment `generation` of its
/// partition it was read in.
struct Finished {
    part: Part,
    offset: i64,
    generation: u64,
}

/// Where a finished message is reported.
struct MessageDone {
    part: Part,
    offset: i64,
    generation: u64,
    remaining: AtomicUsize,
    tx: Sender<Finished>,
}

impl MessageDone {
    fn one_finished(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _ = self.tx.send(Finished {
                part: self.part,
                offset: self.offset,
                generation: self.generation,
            });
        }
    }
}

struct Job {
    event: Arc<Event>,
    /// The event's own time ([`event_at`]).
    at: Option<UnixMillis>,
    key: Option<Vec<u8>>,
    source: String,
    done: Arc<MessageDone>,
}

/// One guardian's queue, shared with its worker.
struct Lane {
    guardian: String,
    state: Mutex<LaneState>,
    /// Work arrived, or the lane was retired.
    ready: Condvar,
    /// The worker finished what it was sending.
    idle: Condvar,
}

#[derive(Default)]
struct LaneState {
    queue: PriorityQueue<Job>,
    /// The partition of the job being sent, if any.
    busy: Option<Part>,
    /// The guardian left the registry: the worker drops the queue and ends.
    retired: bool,
}

impl Lane {
    fn new(guardian: &str) -> Self {
        Self {
            guardian: guardian.to_owned(),
            state: Mutex::new(LaneState::default()),
            ready: Condvar::new(),
            idle: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LaneState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One dead letter on its way to the dead-letter writer.
struct DeadLetter {
    payload: Vec<u8>,
    key: Option<Vec<u8>>,
    headers: Vec<(&'static str, String)>,
    done: Arc<MessageDone>,
}

/// What the reading loop, the rebalance callbacks and the workers share.
struct Shared {
    registry: RwLock<Arc<Registry>>,
    delivered: DeliveredLog,
    dead_letters: Sender<DeadLetter>,
    counters: Arc<NotifyCounters>,
    stop: Arc<AtomicBool>,
    clock: Arc<dyn Clock>,
    /// Partition -> assignment generation, raised when the partition is revoked: a job read in
    /// an older generation is no longer this process's to send.
    generations: Mutex<HashMap<Part, u64>>,
}

impl Shared {
    fn registry(&self) -> Arc<Registry> {
        self.registry
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn generation(&self, part: Part) -> u64 {
        self.generations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&part)
            .copied()
            .unwrap_or(0)
    }

    fn revoked(&self, job: &Job) -> bool {
        self.generation(job.done.part) != job.done.generation
    }

    /// Hands a dead letter to the writer; the message's delivery to `guardian` finishes when
    /// the broker acknowledges it.
    fn dead_letter(
        &self,
        job: &Job,
        guardian: &str,
        reason: &str,
        extra: &[(&'static str, String)],
    ) {
        let payload = serde_json::to_vec(&*job.event).expect("an event always encodes");
        let mut headers = vec![
            (DLQ_REASON, reason.to_owned()),
            (DLQ_STAGE, "delivery".to_owned()),
            (DLQ_GUARDIAN, guardian.to_owned()),
            (DLQ_SOURCE, job.source.clone()),
        ];
        headers.extend_from_slice(extra);
        // Fails only when the writer is gone (stopping): then the message is not finished and
        // is read again after the restart.
        let _ = self.dead_letters.send(DeadLetter {
            payload,
            key: job.key.clone(),
            headers,
            done: job.done.clone(),
        });
    }

    /// Dead-letters `job` for `guardian` as too old to push.
    fn dead_letter_stale(
        &self,
        job: &Job,
        guardian: &str,
        age: Duration,
        max_age: Duration,
        attempts: u32,
    ) {
        self.counters.stale.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            alert = %job.event.id(),
            guardian,
            kind = job.event.kind_str(),
            age_s = age.as_secs(),
            max_age_s = max_age.as_secs(),
            attempts,
            "alert too old to push; sent to the dead-letter topic"
        );
        self.dead_letter(
            job,
            guardian,
            REASON_STALE,
            &[
                (DLQ_AGE_MS, age.as_millis().to_string()),
                (DLQ_ATTEMPTS, attempts.to_string()),
            ],
        );
    }
}

/// Writes dead letters until `stop`: many in flight at once, each message finished when its
/// letter is acknowledged; failed writes are retried with backoff while the broker is away.
fn write_dead_letters(
    rx: Receiver<DeadLetter>,
    producer: FutureProducer,
    topic: String,
    counters: Arc<NotifyCounters>,
    stop: Arc<AtomicBool>,
    clock: Arc<dyn Clock>,
) {
    let mut retry: Vec<DeadLetter> = Vec::new();
    let mut delay = Duration::from_millis(500);
    loop {
        let mut batch = std::mem::take(&mut retry);
        if batch.is_empty() {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(d) => batch.push(d),
                Err(RecvTimeoutError::Timeout) => {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        while batch.len() < 10_000 {
            match rx.try_recv() {
                Ok(d) => batch.push(d),
                Err(_) => break,
            }
        }
        if stop.load(Ordering::Relaxed) {
            return; // not acknowledged: not finished, read again after the restart
        }
        let mut pending = Vec::with_capacity(batch.len());
        for d in batch {
            let mut h = OwnedHeaders::new();
            for (k, v) in &d.headers {
                h = h.insert(Header {
                    key: k,
                    value: Some(v.as_str()),
                });
            }
            let mut record = FutureRecord::to(&topic).payload(&d.payload[..]).headers(h);
            if let Some(k) = &d.key {
                record = record.key(&k[..]);
            }
            let sent = producer.send_result(record).map_err(|(e, _)| e.to_string());
            pending.push((d, sent));
        }
        let mut failed = Vec::new();
        let mut last_error = String::new();
        for (d, sent) in pending {
            let acked = match sent {
                Ok(future) => match futures::executor::block_on(future) {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err((e, _))) => Err(e.to_string()),
                    Err(_) => Err("producer closed".to_owned()),
                },
                Err(e) => Err(e),
            };
            match acked {
                Ok(()) => {
                    counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
                    d.done.one_finished();
                }
                Err(e) => {
                    last_error = e;
                    failed.push(d);
                }
            }
        }
        if failed.is_empty() {
            delay = Duration::from_millis(500);
            continue;
        }
        tracing::warn!(topic = %topic, failed = failed.len(), error = %last_error, retry_in_ms = delay.as_millis() as u64, "dead-letter writes failed; retrying");
        if sleep_unless(clock.as_ref(), delay, || stop.load(Ordering::Relaxed)) {
            return;
        }
        delay = (delay * 2).min(Duration::from_secs(30));
        retry = failed;
    }
}

/// The offset tracker and the finished messages it has not counted yet.
struct Tracking {
    offsets: OffsetTracker<Part>,
    /// Partition -> the generation its offsets are tracked in; finishes of other generations
    /// (read before a revoke) are ignored.
    generation: HashMap<Part, u64>,
    finished: Receiver<Finished>,
}

impl Tracking {
    fn collect(&mut self) {
        while let Ok(f) = self.finished.try_recv() {
            if self.generation.get(&f.part).copied().unwrap_or(0) == f.generation {
                self.offsets.finish(f.part, f.offset);
            }
        }
    }
}

/// The guardians' queues, shared by both consumers.
type Lanes = Arc<Mutex<BTreeMap<String, Arc<Lane>>>>;

/// A consumer's context (one per topic read): the rebalance callbacks hand partitions back
/// cleanly.
struct NotifyContext {
    shared: Arc<Shared>,
    lanes: Lanes,
    tracking: Mutex<Tracking>,
    source: Source,
    topic: String,
}

impl NotifyContext {
    fn tracking(&self) -> MutexGuard<'_, Tracking> {
        self.tracking.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lanes(&self) -> MutexGuard<'_, BTreeMap<String, Arc<Lane>>> {
        self.lanes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn parts(&self, tpl: &TopicPartitionList) -> Vec<Part> {
        tpl.elements()
            .iter()
            .map(|e| Part {
                source: self.source,
                partition: e.partition(),
            })
            .collect()
    }

    /// Before `parts` go to another member: drop their queued notifications, let the ones being
    /// sent finish their current attempt (no retries), commit what finished, and forget them.
    /// Runs inside the rebalance, so the new owner starts only after it.
    fn hand_back(&self, consumer: &BaseConsumer<Self>, parts: &[Part]) {
        {
            let mut g = self
                .shared
                .generations
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            for p in parts {
                *g.entry(*p).or_insert(0) += 1;
            }
        }
        let lanes: Vec<Arc<Lane>> = self.lanes().values().cloned().collect();
        let mut dropped = 0;
        for lane in &lanes {
            dropped += lane
                .lock()
                .queue
                .extract_if(|j| parts.contains(&j.done.part))
                .len();
        }
        let deadline = Instant::now()
            + self.shared.registry().service.request_timeout
            + Duration::from_secs(5);
        for lane in &lanes {
            let mut st = lane.lock();
            while st.busy.is_some_and(|p| parts.contains(&p)) {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    tracing::warn!(guardian = %lane.guardian, "a notification was still being sent when its partition was revoked; the new owner may send it again");
                    break;
                }
                st = lane
                    .idle
                    .wait_timeout(st, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
        let mut t = self.tracking();
        t.collect();
        commit(consumer, &self.topic, &mut t.offsets, &self.shared.counters);
        for p in parts {
            t.offsets.forget(*p);
            t.generation.insert(*p, self.shared.generation(*p));
        }
        tracing::info!(?parts, queued_dropped = dropped, "partitions handed back");
    }
}

impl ClientContext for NotifyContext {}

impl ConsumerContext for NotifyContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let parts = self.parts(tpl);
            tracing::info!(?parts, "partitions revoked");
            if !parts.is_empty() {
                self.hand_back(consumer, &parts);
            }
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let parts = self.parts(tpl);
                // What the previous owners delivered, before reading their partitions.
                if let Err(e) = self.shared.delivered.refresh() {
                    tracing::warn!(dir = %self.shared.delivered.dir().display(), error = %e, "delivered log not read again; a notification may be sent twice");
                }
                tracing::info!(
                    ?parts,
                    already_delivered = self.shared.delivered.len(),
                    "partitions assigned"
                );
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance failed"),
        }
    }
}

/// Runs until `stop` is raised. Returns the counters.
pub fn run(
    options: NotifyOptions,
    stop: Arc<AtomicBool>,
) -> Result<Arc<NotifyCounters>, NotifyError> {
    let mut registry = options.registry.clone();
    if let Some(a) = options.max_age {
        registry.service.max_age = a;
    }
    let svc = registry.service.clone();
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
        &[
            kafka(&svc.alerts_topic),
            kafka(&svc.status_topic),
            kafka(&svc.dead_letter_topic),
        ],
        &stop,
    )? {
        return Ok(counters);
    }
    for g in &registry.guardians {
        if let (url, Some(var)) = registry.endpoint_of(g)
            && std::env::var_os(&var).is_none()
        {
            return Err(NotifyError::Token { url, var });
        }
    }
    let delivered = DeliveredLog::open(&svc.state_dir, options.clock.now()).map_err(|source| {
        NotifyError::State {
            path: svc.state_dir.clone(),
            source,
        }
    })?;

    let producer_config = sharpeyes_delivery::kafka::client(
        &options.brokers,
        "sharpeyes-notify-dlq",
        &options.kafka_properties,
    )
    .set("enable.idempotence", "true")
    .set("acks", "all")
    // A write the broker does not take within 30 s fails and is retried by the writer.
    .set("message.timeout.ms", "30000")
    .config();
    let producer: FutureProducer =
        producer_config
            .create()
            .map_err(|source| NotifyError::Consumer {
                topic: svc.dead_letter_topic.clone(),
                source,
            })?;
    let (dlq_tx, dlq_rx) = std::sync::mpsc::channel();
    let dlq_writer = {
        let (topic, counters, stop, clock) = (
            svc.dead_letter_topic.clone(),
            counters.clone(),
            stop.clone(),
            options.clock.clone(),
        );
        std::thread::Builder::new()
            .name("notify-dlq".into())
            .spawn(move || write_dead_letters(dlq_rx, producer, topic, counters, stop, clock))
            .expect("spawn the dead-letter writer")
    };

    let mut watch = options
        .registry_path
        .clone()
        .map(|p| RegistryWatch::new(p, registry.clone(), options.max_age));
    let guardians = registry.guardians.len();
    let shared = Arc::new(Shared {
        registry: RwLock::new(Arc::new(registry)),
        delivered,
        dead_letters: dlq_tx,
        counters: counters.clone(),
        stop: stop.clone(),
        clock: options.clock.clone(),
        generations: Mutex::new(HashMap::new()),
    });
    let lanes: Lanes = Arc::default();
    let (done_tx, consumer) = subscribe(
        &options,
        &shared,
        &lanes,
        Source::Alerts,
        &svc.alerts_topic,
        &svc.group_id,
    )?;
    let (status_done_tx, status_consumer) = subscribe(
        &options,
        &shared,
        &lanes,
        Source::Status,
        &svc.status_topic,
        &status_group(&svc.group_id),
    )?;
    let ctx = consumer.context();
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    sync_lanes(ctx, &mut workers);
    tracing::info!(
        brokers = %options.brokers,
        topic = %svc.alerts_topic,
        status_topic = %svc.status_topic,
        group = %svc.group_id,
        guardians,
        max_age_s = svc.max_age.as_secs_f64(),
        already_delivered = shared.delivered.len(),
        "notify service started"
    );

    let mut last_commit = Instant::now();
    let mut last_reload = Instant::now();
    let mut last_prune: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        if poll_one(&consumer, &done_tx, Duration::from_millis(100)).is_none() {
            std::thread::sleep(Duration::from_millis(50));
        }
        // The status topic (heartbeats of every camera) is drained between alerts.
        for _ in 0..STATUS_BATCH {
            if poll_one(&status_consumer, &status_done_tx, Duration::ZERO) != Some(true) {
                break;
            }
        }
        if last_commit.elapsed() >= Duration::from_millis(200) {
            for c in [&consumer, &status_consumer] {
                let mut t = c.context().tracking();
                t.collect();
                commit(c, &c.context().topic, &mut t.offsets, &counters);
            }
            last_commit = Instant::now();
        }
        if let Some(w) = watch.as_mut()
            && last_reload.elapsed() >= POLL_INTERVAL
        {
            last_reload = Instant::now();
            reload(ctx, w, &mut workers);
        }
        if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            last_prune = Some(Instant::now());
            let max_age = shared.registry().service.max_age;
            let cutoff = shared
                .clock
                .now()
                .plus_ms(-((max_age + DEDUP_SLACK).as_millis() as i64));
            if let Err(e) = shared.delivered.prune(cutoff) {
                tracing::warn!(dir = %svc.state_dir.display(), error = %e, "delivered log not pruned");
            }
        }
    }
    // Stopping: workers drop what they hold (not finished, so read again after a restart);
    // commit what did finish.
    for lane in ctx.lanes().values() {
        lane.ready.notify_all();
    }
    for w in workers {
        let _ = w.join();
    }
    let _ = dlq_writer.join();
    for c in [&consumer, &status_consumer] {
        let mut t = c.context().tracking();
        t.collect();
        commit(c, &c.context().topic, &mut t.offsets, &counters);
    }
    tracing::info!(summary = %counters.line(), "notify service stopped");
    Ok(counters)
}

/// The consumer group of the status topic: `<group_id>.status`. A group of its own, so each
/// group reads one topic (and the alerts group's rebalances stay as they were).
pub fn status_group(group_id: &str) -> String {
    format!("{group_id}.status")
}

/// A consumer of `topic` in `group`, its context sharing `shared` and `lanes`, and where its
/// messages report being finished.
fn subscribe(
    options: &NotifyOptions,
    shared: &Arc<Shared>,
    lanes: &Lanes,
    source: Source,
    topic: &str,
    group: &str,
) -> Result<(Sender<Finished>, BaseConsumer<NotifyContext>), NotifyError> {
    let (done_tx, done_rx) = std::sync::mpsc::channel::<Finished>();
    let context = NotifyContext {
        shared: shared.clone(),
        lanes: lanes.clone(),
        tracking: Mutex::new(Tracking {
            offsets: OffsetTracker::default(),
            generation: HashMap::new(),
            finished: done_rx,
        }),
        source,
        topic: topic.to_owned(),
    };
    let consumer_config = sharpeyes_delivery::kafka::client(
        &options.brokers,
        "sharpeyes-notify",
        &options.kafka_properties,
    )
    .set("group.id", group)
    .set("enable.auto.commit", "false")
    .set("enable.auto.offset.store", "false")
    .set("auto.offset.reset", "earliest")
    .set("enable.partition.eof", "false")
    // A crashed notify process's partitions move to the others after 10 s, not 45 s
    // (librdkafka's default); [kafka.properties] may change it.
    .set("session.timeout.ms", "10000")
    .config();
    let err = |source| NotifyError::Consumer {
        topic: topic.to_owned(),
        source,
    };
    let consumer: BaseConsumer<NotifyContext> =
        consumer_config.create_with_context(context).map_err(err)?;
    consumer.subscribe(&[topic]).map_err(err)?;
    Ok((done_tx, consumer))
}

/// Reads at most one message and takes it. `None`: paused (too many messages unfinished);
/// `Some(true)`: something came (a message or an error); `Some(false)`: nothing within `wait`.
fn poll_one(
    consumer: &BaseConsumer<NotifyContext>,
    done_tx: &Sender<Finished>,
    wait: Duration,
) -> Option<bool> {
    let ctx = consumer.context();
    let in_flight = {
        let mut t = ctx.tracking();
        t.collect();
        t.offsets.in_flight()
    };
    if in_flight >= MAX_IN_FLIGHT {
        return None;
    }
    match consumer.poll(wait) {
        None => Some(false),
        Some(Err(e)) => {
            tracing::warn!(topic = %ctx.topic, error = %e, "kafka consumer error");
            Some(true)
        }
        Some(Ok(m)) => {
            let (p, o) = (m.partition(), m.offset());
            let part = Part {
                source: ctx.source,
                partition: p,
            };
            let source = format!("{}/{p}/{o}", m.topic());
            let key = m.key().map(<[u8]>::to_vec);
            let payload = m.payload().unwrap_or_default().to_vec();
            drop(m);
            take(ctx, done_tx.clone(), part, o, source, key, payload);
            Some(true)
        }
    }
}

/// Starts a lane and worker for each guardian of the registry that has none, and retires the
/// lanes of guardians no longer in it.
fn sync_lanes(ctx: &NotifyContext, workers: &mut Vec<JoinHandle<()>>) -> (usize, usize) {
    let reg = ctx.shared.registry();
    let mut lanes = ctx.lanes();
    let mut removed = 0;
    lanes.retain(|id, lane| {
        let keep = reg.guardian(id).is_some();
        if !keep {
            lane.lock().retired = true;
            lane.ready.notify_all();
            removed += 1;
        }
        keep
    });
    let mut added = 0;
    for g in &reg.guardians {
        if lanes.contains_key(&g.id) {
            continue;
        }
        let lane = Arc::new(Lane::new(&g.id));
        lanes.insert(g.id.clone(), lane.clone());
        let worker = Worker {
            id: g.id.clone(),
            lane,
            shared: ctx.shared.clone(),
        };
        workers.push(
            std::thread::Builder::new()
                .name(format!("notify-{}", g.id))
                .spawn(move || worker.run())
                .expect("spawn a notify worker"),
        );
        added += 1;
    }
    (added, removed)
}

/// One poll of the registry file, applied or reported.
fn reload(ctx: &NotifyContext, watch: &mut RegistryWatch, workers: &mut Vec<JoinHandle<()>>) {
    let counters = &ctx.shared.counters;
    match watch.poll() {
        None => {}
        Some(Reload::Rejected(problems)) => {
            counters.registry_rejected.fetch_add(1, Ordering::Relaxed);
            for line in &problems.0 {
                tracing::error!(file = %watch.path().display(), "{line}");
            }
            tracing::error!(
                file = %watch.path().display(),
                problems = problems.0.len(),
                "guardians' registry edit rejected; the last good registry keeps running"
            );
        }
        Some(Reload::Applied {
            registry,
            restart_needed,
        }) => {
            for setting in restart_needed {
                tracing::warn!(file = %watch.path().display(), setting, "changing this needs a restart of notify; the running value is kept");
            }
            let guardians = registry.guardians.len();
            *ctx.shared
                .registry
                .write()
                .unwrap_or_else(|p| p.into_inner()) = Arc::from(registry);
            let (added, removed) = sync_lanes(ctx, workers);
            counters.registry_reloads.fetch_add(1, Ordering::Relaxed);
            tracing::info!(file = %watch.path().display(), guardians, added, removed, "guardians' registry reloaded");
        }
    }
}

/// Takes one message read from partition `p` at offset `o`: dead-letters it when malformed,
/// skips a status event of a kind never pushed, else queues it for each guardian it concerns
/// (or dead-letters it for them: too old, queue full).
fn take(
    ctx: &NotifyContext,
    tx: Sender<Finished>,
    p: Part,
    o: i64,
    source: String,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
) {
    let shared = &ctx.shared;
    let counters = &shared.counters;
    counters.messages.fetch_add(1, Ordering::Relaxed);
    ctx.tracking().offsets.take(p, o);
    let done = |remaining: usize| {
        Arc::new(MessageDone {
            part: p,
            offset: o,
            generation: shared.generation(p),
            remaining: AtomicUsize::new(remaining),
            tx: tx.clone(),
        })
    };
    let parsed = match p.source {
        Source::Alerts => parse(&payload).map(|a| Some(Event::Alert(a))),
        Source::Status => parse_status(&payload).map(|s| s.map(Event::Status)),
    };
    let event = match parsed {
        Ok(Some(e)) => Arc::new(e),
        Ok(None) => {
            counters.status_skipped.fetch_add(1, Ordering::Relaxed);
            ctx.tracking().offsets.finish(p, o);
            return;
        }
        Err(reason) => {
            counters.malformed.fetch_add(1, Ordering::Relaxed);
            match p.source {
                Source::Alerts => {
                    tracing::error!(source = %source, reason = %reason, "malformed message on the alerts topic; sent to the dead-letter topic")
                }
                Source::Status => {
                    tracing::error!(source = %source, reason = %reason, "malformed message on the camera status topic; sent to the dead-letter topic")
                }
            }
            let _ = shared.dead_letters.send(DeadLetter {
                payload,
                key,
                headers: vec![
                    (DLQ_REASON, reason),
                    (DLQ_STAGE, "parse".to_owned()),
                    (DLQ_SOURCE, source),
                ],
                done: done(1),
            });
            return;
        }
    };
    let reg = shared.registry();
    let targets: Vec<&Guardian> = route(&reg, &event)
        .into_iter()
        .map(|i| &reg.guardians[i])
        .filter(|g| {
            let dup = shared
                .delivered
                .contains(&notification_id(event.id(), &g.id));
            if dup {
                counters.duplicates_skipped.fetch_add(1, Ordering::Relaxed);
            }
            !dup
        })
        .collect();
    tracing::debug!(alert = %event.id(), camera = %event.camera().id, kind = event.kind_str(), guardians = targets.len(), "alert routed");
    if targets.is_empty() {
        ctx.tracking().offsets.finish(p, o);
        return;
    }
    let at = event_at(&event);
    let max_age = reg.service.max_age;
    let too_old = stale(at, shared.clock.now(), max_age);
    let job = Job {
        event,
        at,
        key,
        source,
        done: done(targets.len()),
    };
    let lanes = ctx.lanes();
    for g in targets {
        if let Some(age) = too_old {
            shared.dead_letter_stale(&job, &g.id, age, max_age, 0);
            continue;
        }
        let Some(lane) = lanes.get(&g.id) else {
            job.done.one_finished(); // a guardian removed this very moment
            continue;
        };
        let mut st = lane.lock();
        if st.queue.len() >= LANE_CAPACITY {
            drop(st);
            counters.backlog.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(alert = %job.event.id(), guardian = %g.id, waiting = LANE_CAPACITY, "guardian's queue full; sent to the dead-letter topic");
            shared.dead_letter(
                &job,
                &g.id,
                REASON_BACKLOG,
                &[(DLQ_ATTEMPTS, "0".to_owned())],
            );
            continue;
        }
        let (urgent, severity) = priority(&job.event);
        st.queue.push_with(
            urgent,
            severity,
            Job {
                event: job.event.clone(),
                at: job.at,
                key: job.key.clone(),
                source: job.source.clone(),
                done: job.done.clone(),
            },
        );
        lane.ready.notify_one();
    }
}

/// Commits every partition whose finished prefix grew. The list is dropped before returning
/// (a list alive when the consumer is dropped hangs the drop).
fn commit(
    consumer: &BaseConsumer<NotifyContext>,
    topic: &str,
    tracker: &mut OffsetTracker<Part>,
    counters: &NotifyCounters,
) {
    let moves = tracker.to_commit();
    if moves.is_empty() {
        return;
    }
    let mut tpl = TopicPartitionList::new();
    for (p, next) in &moves {
        if let Err(e) = tpl.add_partition_offset(topic, p.partition, Offset::Offset(*next)) {
            tracing::warn!(topic, partition = p.partition, error = %e, "offset not committed");
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

/// The status event in `payload` when its kind is one guardians may be sent
/// ([`ROUTED_STATUS_KINDS`]), `None` for any other kind (heartbeats: skipped after reading only
/// the kind), or why it is not a status event this build reads.
pub fn parse_status(payload: &[u8]) -> Result<Option<StatusEvent>, String> {
    #[derive(serde::Deserialize)]
    struct Glance {
        kind: Option<String>,
        schema_version: Option<u64>,
    }
    if payload.is_empty() {
        return Err("empty message".into());
    }
    let glance: Glance = serde_json::from_slice(payload).map_err(|e| format!("not JSON: {e}"))?;
    let Some(kind) = glance.kind else {
        return Err("no kind: not a Sharp Eyes camera status event".into());
    };
    if !ROUTED_STATUS_KINDS.iter().any(|k| k.as_str() == kind) {
        return Ok(None);
    }
    match glance.schema_version {
        Some(v) if (1..=u64::from(STATUS_SCHEMA_VERSION)).contains(&v) => {}
        Some(v) => {
            return Err(format!(
                "status schema_version {v} is not supported (this build reads 1 to {STATUS_SCHEMA_VERSION})"
            ));
        }
        None => return Err("no schema_version: not a Sharp Eyes camera status event".into()),
    }
    serde_json::from_slice(payload)
        .map(Some)
        .map_err(|e| format!("not a camera status event: {e}"))
}

/// How a job left the worker.
enum Sent {
    /// Delivered, skipped (already delivered, no longer wanted): the guardian's part is done.
    Finished,
    /// Handed to the dead-letter writer, which finishes it when acknowledged.
    DeadLettered,
    /// Its partition was revoked: the new owner sends it.
    Abandoned,
    /// Stopping before it was done: read again after the restart.
    Stopping,
}

/// Sends one guardian's queue, following registry edits of that guardian.
struct Worker {
    id: String,
    lane: Arc<Lane>,
    shared: Arc<Shared>,
}

/// The parts of a guardian's entry a worker builds its client and rate limit from.
#[derive(Clone, PartialEq)]
struct ClientSettings {
    url: String,
    token_var: Option<String>,
    timeout: Duration,
}

impl Worker {
    fn run(self) {
        let _span = tracing::info_span!("guardian", id = %self.id).entered();
        let stop = self.shared.stop.clone();
        let mut client: Option<(ClientSettings, Webhook)> = None;
        let mut pace: Option<(u32, RateLimit)> = None;
        let mut limited = false;
        let mut last_sweep: Option<Instant> = None;
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let reg = self.shared.registry();
            let guardian = reg.guardian(&self.id).filter(|_| !self.lane.lock().retired);
            let Some(g) = guardian else {
                self.retire();
                return;
            };
            let (url, token_var) = reg.endpoint_of(g);
            let want = ClientSettings {
                url,
                token_var,
                timeout: reg.service.request_timeout,
            };
            if client.as_ref().is_none_or(|(e, _)| *e != want) {
                let bearer = want.token_var.as_ref().and_then(|v| std::env::var(v).ok());
                let hook = Webhook::new(want.url.clone(), bearer, want.timeout);
                client = Some((want, hook));
            }
            let webhook = &client.as_ref().expect("set just above").1;
            if pace.as_ref().is_none_or(|(n, _)| *n != g.max_per_hour) {
                pace = Some((
                    g.max_per_hour,
                    RateLimit::new(g.max_per_hour, Instant::now()),
                ));
            }
            let limit = &mut pace.as_mut().expect("set just above").1;
            if last_sweep.is_none_or(|t| t.elapsed() >= Duration::from_millis(500)) {
                last_sweep = Some(Instant::now());
                self.sweep(&reg, g);
            }
            // Wait for work.
            {
                let mut st = self.lane.lock();
                if st.queue.is_empty() {
                    st = self
                        .lane
                        .ready
                        .wait_timeout(st, Duration::from_millis(200))
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
                if st.queue.is_empty() {
                    continue;
                }
            }
            // Wait for a token in short naps: the queue is swept for stale alerts meanwhile
            // and the most urgent job is taken when the token comes.
            if let Err(wait) = limit.take(Instant::now()) {
                if !limited {
                    limited = true;
                    tracing::info!(
                        wait_s = wait.as_secs(),
                        waiting = self.lane.lock().queue.len(),
                        "rate limit reached; notifications wait"
                    );
                }
                if sleep_unless(
                    self.shared.clock.as_ref(),
                    wait.min(Duration::from_millis(500)),
                    || stop.load(Ordering::Relaxed),
                ) {
                    return;
                }
                continue;
            }
            limited = false;
            let job = {
                let mut st = self.lane.lock();
                let job = st.queue.pop();
                st.busy = job.as_ref().map(|j| j.done.part);
                job
            };
            let Some(job) = job else { continue };
            let sent = self.deliver(&reg, g, webhook, &job);
            if let Sent::Finished = sent {
                job.done.one_finished();
            }
            self.lane.lock().busy = None;
            self.lane.idle.notify_all();
            if let Sent::Stopping = sent {
                return;
            }
        }
    }

    /// The guardian left the registry: what waits for them is not sent.
    fn retire(&self) {
        let jobs = self.lane.lock().queue.extract_if(|_| true);
        if !jobs.is_empty() {
            tracing::info!(
                dropped = jobs.len(),
                "guardian removed from the registry; their waiting notifications are not sent"
            );
        }
        for j in jobs {
            j.done.one_finished();
        }
    }

    /// Takes out of the queue what must not wait any longer: alerts now too old (dead-lettered),
    /// alerts the guardian no longer wants after a registry edit (finished, not sent), and jobs
    /// of revoked partitions (dropped).
    fn sweep(&self, reg: &Registry, g: &Guardian) {
        let now = self.shared.clock.now();
        let max_age = reg.service.max_age;
        let out = self.lane.lock().queue.extract_if(|j| {
            self.shared.revoked(j) || stale(j.at, now, max_age).is_some() || !wants(g, &j.event)
        });
        for j in out {
            if self.shared.revoked(&j) {
                continue;
            }
            if let Some(age) = stale(j.at, now, max_age) {
                self.shared.dead_letter_stale(&j, &g.id, age, max_age, 0);
            } else {
                tracing::debug!(alert = %j.event.id(), "no longer wanted after a registry edit; not sent");
                j.done.one_finished();
            }
        }
    }

    /// Tries until delivered or dead-lettered, or revoked or stopped.
    fn deliver(&self, reg: &Registry, g: &Guardian, webhook: &Webhook, job: &Job) -> Sent {
        let svc = &reg.service;
        let shared = &self.shared;
        let id = notification_id(job.event.id(), &g.id);
        // Another process may have sent it (a rebalance): look at the shared log first.
        if let Err(e) = shared.delivered.refresh() {
            tracing::warn!(dir = %shared.delivered.dir().display(), error = %e, "delivered log not read again");
        }
        if shared.delivered.contains(&id) {
            shared
                .counters
                .duplicates_skipped
                .fetch_add(1, Ordering::Relaxed);
            return Sent::Finished;
        }
        if !wants(g, &job.event) {
            return Sent::Finished;
        }
        let body = serde_json::to_vec(&Notification::new(g, &job.event))
            .expect("a notification always encodes");
        let mut attempt = 0;
        let reason = loop {
            if shared.revoked(job) {
                return Sent::Abandoned;
            }
            let now = self.shared.clock.now();
            if let Some(age) = stale(job.at, now, svc.max_age) {
                shared.dead_letter_stale(job, &g.id, age, svc.max_age, attempt);
                return Sent::DeadLettered;
            }
            attempt += 1;
            match webhook.post(&body, &id) {
                Outcome::Delivered => {
                    if let Err(e) = shared.delivered.record(&id, keep_from(job.at, now)) {
                        tracing::warn!(dir = %shared.delivered.dir().display(), error = %e, "delivered log not written; a restart may send this notification again");
                    }
                    shared.counters.delivered.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(alert = %job.event.id(), kind = job.event.kind_str(), attempt, "notification delivered");
                    return Sent::Finished;
                }
                Outcome::Permanent(r) => break r,
                Outcome::Retry(r) if attempt >= svc.max_attempts => break r,
                Outcome::Retry(r) => {
                    let wait = backoff(attempt, svc.backoff_initial, svc.backoff_max);
                    shared.counters.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(alert = %job.event.id(), attempt, error = %r, retry_in_ms = wait.as_millis() as u64, "notification failed; retrying");
                    if sleep_unless(self.shared.clock.as_ref(), wait, || {
                        shared.stop.load(Ordering::Relaxed) || shared.revoked(job)
                    }) {
                        if shared.stop.load(Ordering::Relaxed) {
                            return Sent::Stopping;
                        }
                        return Sent::Abandoned;
                    }
                }
            }
        };
        tracing::error!(alert = %job.event.id(), attempts = attempt, error = %reason, url = %webhook.url, "notification failed for good; sent to the dead-letter topic");
        shared.dead_letter(job, &g.id, &reason, &[(DLQ_ATTEMPTS, attempt.to_string())]);
        Sent::DeadLettered
    }
}

#[cfg(test)]
mod tests {
    use sharpeyes_core::{AlertKind, CameraId, CameraRef, CameraState, UnixMillis};

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

    #[test]
    fn parse_status_reads_routed_kinds_and_skips_the_rest() {
        let camera = CameraRef::bare(CameraId::new("gate").unwrap());
        let t = UnixMillis(1_795_459_860_123);
        let tampered = StatusEvent::tamper(camera.clone(), t, CameraState::Online, true, "moved");
        let good = serde_json::to_vec(&tampered).unwrap();
        assert_eq!(parse_status(&good).unwrap(), Some(tampered));
        let beat = StatusEvent::heartbeat(camera, t, CameraState::Online, 5.0, Some(t));
        let beat = serde_json::to_vec(&beat).unwrap();
        assert_eq!(parse_status(&beat).unwrap(), None, "heartbeats are skipped");
        let mut v: serde_json::Value = serde_json::from_slice(&good).unwrap();
        v["schema_version"] = 9.into();
        let e = parse_status(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(
            e.starts_with("status schema_version 9 is not supported"),
            "{e}"
        );
        v["schema_version"] = 2.into();
        v["state"] = "sideways".into();
        let e = parse_status(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(e.starts_with("not a camera status event"), "{e}");
        assert!(parse_status(b"{oops").unwrap_err().starts_with("not JSON"));
        assert!(parse_status(b"{}").unwrap_err().starts_with("no kind"));
    }
}
