//! The Kafka sink: alerts as JSON messages on a Kafka topic, through librdkafka (rdkafka's
//! `ThreadedProducer`). Does network I/O.
//!
//! Message shape: key = camera id (so one camera's alerts stay in order on one partition),
//! payload = the event's JSON (the same bytes as an outbox line, without the `\n`), header
//! `schema` = the event's `schema_version` in decimal (alerts: `schemas/alert.v1.schema.json`,
//! status events: `schemas/camera-status.v2.schema.json`).
//!
//! Delivery guarantees and their limit:
//! - The producer is idempotent (`enable.idempotence=true`, `acks=all`): retries never
//!   duplicate or reorder messages on the broker.
//! - `message.timeout.ms=0` (infinite, see librdkafka's CONFIGURATION.md): an unreachable broker
//!   does not make librdkafka drop alerts; they wait in its queue and go out when the broker
//!   comes back, in order.
//! - That queue lives **in memory**. A process exit or crash loses what it holds, and dropping
//!   a [`KafkaSink`] purges it (call [`KafkaSink::flush`] first at shutdown). The durable copy
//!   of every alert is the outbox file, which the pipeline writes first; the outbox relay
//!   ([`crate::relay`]) feeds this sink from it and re-sends at start whatever the broker had
//!   not acknowledged (the ack log), so an alert may arrive twice, which consumers absorb by
//!   deduplicating on the alert `id`.
//! - The queue is bounded by librdkafka's `queue.buffering.max.messages` (100 000) and
//!   `queue.buffering.max.kbytes` (1 GiB). Past that `send` fails with a transient error.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use sharpeyes_core::{Event, EventSink};

use crate::error::DeliveryError;
use crate::relay_policy::{CONNECT_BACKOFF, DeliveryFailure};

/// Topic alerts go to unless configured otherwise.
pub const DEFAULT_ALERT_TOPIC: &str = "sharpeyes.alerts";

/// Name of the message header carrying the event's `schema_version`.
pub const SCHEMA_HEADER: &str = "schema";

/// `message.max.bytes` of every client (librdkafka's default is 1,000,000): room for an event
/// clip ([`crate::clips::MAX_CLIP_MESSAGE`], 15 MiB) with its framing. Consumers accept it with
/// librdkafka's defaults (`fetch.max.bytes` 50 MiB, `receive.message.max.bytes` 100 MB). A
/// Kafka broker also limits a message (its `message.max.bytes`, 1 MiB by default): the clips
/// topic is created with `max.message.bytes` set to this; a clips topic made by hand needs the
/// same. tansu does not limit message size.
pub const MESSAGE_MAX_BYTES: usize = 16 << 20;

/// Builder-style settings of [`KafkaSink::connect`]. `Debug` shows the keys of `extra` but not
/// their values (they may hold SASL passwords).
#[derive(Clone)]
pub struct KafkaOptions {
    /// Bootstrap servers, `host:port[,host:port...]`.
    pub brokers: String,
    /// Topic alerts are produced to. Default: `sharpeyes.alerts`.
    pub topic: String,
    /// librdkafka `client.id`, shown in broker logs. Default: `sharpeyes`.
    pub client_id: String,
    /// Partitions of the topic when `connect` has to create it. Default: 1.
    pub partitions: i32,
    /// How long `connect` waits for the broker to answer the topic creation. Default: 10 s.
    pub admin_timeout: Duration,
    /// Further librdkafka producer properties (TLS, SASL, tuning), applied after ours, so they
    /// can also override them.
    pub extra: Vec<(String, String)>,
    /// Topic configs set when `connect` creates the topic (`max.message.bytes` of the clips
    /// topic); an existing topic is left as it is. Default: none.
    pub topic_config: Vec<(String, String)>,
}

impl std::fmt::Debug for KafkaOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let extra_keys: Vec<&str> = self.extra.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("KafkaOptions")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("client_id", &self.client_id)
            .field("partitions", &self.partitions)
            .field("admin_timeout", &self.admin_timeout)
            .field("extra_keys", &extra_keys)
            .field("topic_config", &self.topic_config)
            .finish()
    }
}

impl KafkaOptions {
    /// A client of these brokers with this client id and the `extra` properties (see
    /// [`client`]).
    pub fn client(&self) -> ClientBuilder {
        client(&self.brokers, &self.client_id, &self.extra)
    }

    /// Defaults for everything but the brokers.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            topic: DEFAULT_ALERT_TOPIC.to_owned(),
            client_id: "sharpeyes".to_owned(),
            partitions: 1,
            admin_timeout: Duration::from_secs(10),
            extra: Vec::new(),
            topic_config: Vec::new(),
        }
    }

    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = topic.into();
        self
    }

    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = client_id.into();
        self
    }

    pub fn partitions(mut self, partitions: i32) -> Self {
        self.partitions = partitions;
        self
    }

    pub fn admin_timeout(mut self, timeout: Duration) -> Self {
        self.admin_timeout = timeout;
        self
    }

    /// Adds one config of the topic, for when it is created (see
    /// [`KafkaOptions::topic_config`]).
    pub fn topic_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.topic_config.push((key.into(), value.into()));
        self
    }

    /// Adds one librdkafka property (see [`KafkaOptions::extra`]).
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((key.into(), value.into()));
        self
    }
}

/// `[kafka]` of a config file: the brokers and the librdkafka properties every Kafka client of
/// the process gets (TLS, SASL, tuning). Secrets never go in the file: `properties_env` names the
/// environment variable each secret property is read from, at start.
///
/// ```toml
/// [kafka]
/// brokers = "kafka-1.county.example:9093"
/// [kafka.properties]
/// "security.protocol" = "SASL_SSL"
/// "sasl.mechanism" = "SCRAM-SHA-512"
/// "sasl.username" = "sharpeyes"
/// "ssl.ca.location" = "/etc/sharpeyes/county-ca.pem"
/// [kafka.properties_env]
/// "sasl.password" = "SHARPEYES_KAFKA_PASSWORD"
/// ```
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    /// `host:port[,host:port...]`; a `--kafka` flag overrides it.
    #[serde(default)]
    pub brokers: Option<String>,
    /// librdkafka properties (CONFIGURATION.md), passed through unchanged.
    #[serde(default)]
    pub properties: std::collections::BTreeMap<String, String>,
    /// librdkafka property -> environment variable holding its value.
    #[serde(default)]
    pub properties_env: std::collections::BTreeMap<String, String>,
}

impl std::fmt::Debug for KafkaSettings {
    /// Values of `properties_env` are variable names, safe to show; `properties` values are
    /// shown except for keys that look secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<(&str, &str)> = self
            .properties
            .iter()
            .map(|(k, v)| {
                let secret = k.contains("password") || k.contains("secret") || k.ends_with(".key");
                (k.as_str(), if secret { "<redacted>" } else { v.as_str() })
            })
            .collect();
        f.debug_struct("KafkaSettings")
            .field("brokers", &self.brokers)
            .field("properties", &shown)
            .field("properties_env", &self.properties_env)
            .finish()
    }
}

impl KafkaSettings {
    /// Properties Sharp Eyes sets itself for its delivery guarantees (idempotence, acks, no
    /// message timeout, manual offset commits); a config may not change them.
    pub const RESERVED: &'static [&'static str] = &[
        "bootstrap.servers",
        "metadata.broker.list",
        "enable.idempotence",
        "acks",
        "request.required.acks",
        "message.timeout.ms",
        "delivery.timeout.ms",
        "group.id",
        "enable.auto.commit",
        "enable.auto.offset.store",
        "transactional.id",
    ];

    /// Problems as `(field, message)`, field relative to the section (`properties."acks"`).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(b) = &self.brokers
            && b.trim().is_empty()
        {
            out.push(("brokers".into(), "must not be empty".into()));
        }
        let keys = self
            .properties
            .keys()
            .map(|k| ("properties", k))
            .chain(self.properties_env.keys().map(|k| ("properties_env", k)));
        for (table, key) in keys {
            let field = format!("{table}.{key:?}");
            if key.trim().is_empty() || key.contains(char::is_whitespace) {
                out.push((field, "is not a librdkafka property name".into()));
            } else if Self::RESERVED.contains(&key.as_str()) {
                out.push((
                    field,
                    "is set by Sharp Eyes for its delivery guarantees and cannot be changed".into(),
                ));
            } else if table == "properties_env" && self.properties.contains_key(key) {
                out.push((field, "is also in [kafka.properties]; give it once".into()));
            }
        }
        for (key, var) in &self.properties_env {
            if var.is_empty() || var.contains(['=', '\0']) {
                out.push((
                    format!("properties_env.{key:?}"),
                    format!("{var:?} is not an environment variable name"),
                ));
            }
        }
        out
    }

    /// The properties with the `properties_env` ones read from the environment now. Fails
    /// naming the property and the variable when one is unset.
    pub fn resolve(&self) -> Result<Vec<(String, String)>, String> {
        let mut out: Vec<(String, String)> = self
            .properties
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (key, var) in &self.properties_env {
            match std::env::var(var) {
                Ok(v) => out.push((key.clone(), v)),
                Err(_) => {
                    return Err(format!(
                        "kafka.properties_env.{key:?}: environment variable {var} is not set"
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// Creates `topic` with `partitions` partitions (replication: the broker's default) unless it
/// exists already. Blocks up to about `timeout`. Idempotent: "topic already exists" is success.
///
/// Needed because brokers may not auto-create topics (tansu never does; Kafka clusters often
/// disable it). A broker that does not answer in time gives a transient error. For a cluster
/// that needs TLS or SASL properties, use [`ensure_topic_with`].
pub fn ensure_topic(
    brokers: &str,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> Result<(), DeliveryError> {
    ensure_topic_with(
        &KafkaOptions::new(brokers)
            .topic(topic)
            .partitions(partitions)
            .admin_timeout(timeout),
    )
}

/// The one way an rdkafka client (producer, consumer, admin) of Sharp Eyes is configured:
/// `bootstrap.servers` and `client.id`, then the caller's own settings ([`ClientBuilder::set`]),
/// then the operator's `[kafka.properties]` (TLS, SASL, timeouts) last, so they reach every
/// client and may override the caller's. (Hand-built configs once missed the TLS/SASL
/// properties on one client.)
pub fn client(brokers: &str, client_id: &str, properties: &[(String, String)]) -> ClientBuilder {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", client_id)
        // Event clips are messages of a few MB (see MESSAGE_MAX_BYTES).
        .set("message.max.bytes", MESSAGE_MAX_BYTES.to_string());
    ClientBuilder {
        config,
        properties: properties.to_vec(),
    }
}

/// See [`client`].
#[derive(Debug)]
pub struct ClientBuilder {
    config: ClientConfig,
    properties: Vec<(String, String)>,
}

impl ClientBuilder {
    /// A setting of this client (the operator's properties still win).
    pub fn set(mut self, key: &str, value: impl Into<String>) -> Self {
        self.config.set(key, value);
        self
    }

    /// The finished config: the operator's properties applied last.
    pub fn config(mut self) -> ClientConfig {
        for (k, v) in &self.properties {
            self.config.set(k, v);
        }
        self.config
    }
}

/// [`ensure_topic`] for `options.topic` with `options.partitions`, waiting up to
/// `options.admin_timeout`, with `options.extra` applied to the admin client (so TLS and SASL
/// settings reach it too).
pub fn ensure_topic_with(options: &KafkaOptions) -> Result<(), DeliveryError> {
    let (brokers, topic) = (options.brokers.as_str(), options.topic.as_str());
    let err = |source| DeliveryError::kafka(brokers, topic, source);
    let timeout = options.admin_timeout;
    let config = options
        .client()
        .set(
            "socket.timeout.ms",
            timeout.as_millis().clamp(10, 300_000).to_string(),
        )
        .config();
    let admin: AdminClient<DefaultClientContext> = config.create().map_err(err)?;
    let mut new_topic = NewTopic::new(topic, options.partitions, TopicReplication::Fixed(-1));
    for (key, value) in &options.topic_config {
        new_topic = new_topic.set(key, value);
    }
    let admin_options = AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout));
    // The future is completed by the admin client's own polling thread, so blocking on it here
    // needs no async runtime.
    let results = futures::executor::block_on(admin.create_topics([&new_topic], &admin_options))
        .map_err(err)?;
    for result in results {
        match result {
            Ok(_) => {
                tracing::info!(
                    brokers,
                    topic,
                    partitions = options.partitions,
                    "kafka topic created"
                )
            }
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                tracing::debug!(brokers, topic, "kafka topic exists")
            }
            Err((_, code)) => return Err(err(KafkaError::AdminOp(code))),
        }
    }
    Ok(())
}

/// Creates every topic of `topics` ([`ensure_topic_with`]), waiting for a broker that does not
/// answer (a county network outage at start): retries with backoff 1 s doubling to 30 s while
/// the error is transient. `Ok(true)` when all exist, `Ok(false)` when `stop` was raised first,
/// `Err` for an error that waiting will not cure.
pub fn wait_for_topics(
    topics: &[KafkaOptions],
    stop: &std::sync::atomic::AtomicBool,
) -> Result<bool, DeliveryError> {
    let mut backoff = CONNECT_BACKOFF;
    loop {
        match topics.iter().try_for_each(ensure_topic_with) {
            Ok(()) => return Ok(true),
            Err(e) if e.is_transient() => {
                let wait = backoff.next_delay();
                tracing::warn!(error = %e, retry_in_s = wait.as_secs(), "kafka unreachable; waiting");
                let until = std::time::Instant::now() + wait;
                while std::time::Instant::now() < until {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(false);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sends alerts to Kafka. See the module docs for the delivery contract: `send` returns once
/// the alert is queued in librdkafka's memory, not once the broker has it; [`KafkaSink::flush`]
/// waits for that.
pub struct KafkaSink {
    producer: ThreadedProducer<SinkContext>,
    brokers: String,
    topic: String,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("delivered", &self.delivered())
            .field("failed_deliveries", &self.failed_deliveries())
            .finish()
    }
}

impl KafkaSink {
    /// Makes sure the topic exists ([`ensure_topic`], blocking up to `admin_timeout`), then
    /// starts the idempotent producer. Fails (transiently) when the broker does not answer.
    pub fn connect(options: KafkaOptions) -> Result<Self, DeliveryError> {
        Self::connect_with_acks(options, None)
    }

    /// Like [`KafkaSink::connect`]; every alert the broker acknowledges is also recorded in
    /// `acks` (the outbox relay's record of what needs no re-sending).
    pub fn connect_with_acks(
        options: KafkaOptions,
        acks: Option<std::sync::Arc<crate::ack_log::AckLog>>,
    ) -> Result<Self, DeliveryError> {
        Self::build(options, acks, None)
    }

    /// A sink for events that may be lost (heartbeats), with none of the guarantees above: not
    /// idempotent, `acks=1`, and a message the broker has not taken within `message_timeout`
    /// is dropped (a failed delivery, logged at debug). Same topic check and client
    /// properties (TLS, SASL) as [`KafkaSink::connect`].
    pub fn connect_best_effort(
        options: KafkaOptions,
        message_timeout: Duration,
    ) -> Result<Self, DeliveryError> {
        Self::build(options, None, Some(message_timeout))
    }

    /// The one producer builder; `best_effort`: the message timeout of a best-effort sink.
    fn build(
        options: KafkaOptions,
        acks: Option<std::sync::Arc<crate::ack_log::AckLog>>,
        best_effort: Option<Duration>,
    ) -> Result<Self, DeliveryError> {
        ensure_topic_with(&options)?;
        // Alerts are small JSON; batches of them compress well. lz4 is built into the bundled
        // librdkafka (no system library), and tansu reads it.
        let builder = options.client().set("compression.type", "lz4");
        let config = match best_effort {
            None => builder
                .set("enable.idempotence", "true")
                .set("acks", "all")
                // 0 = never time out: alerts wait in memory for the broker instead of being
                // dropped.
                .set("message.timeout.ms", "0"),
            Some(timeout) => builder
                .set("enable.idempotence", "false")
                .set("acks", "1")
                .set(
                    "message.timeout.ms",
                    timeout.as_millis().clamp(1, i32::MAX as u128).to_string(),
                )
                // A broker away for long holds at most this many in memory; past it `send`
                // fails and the caller drops the event.
                .set("queue.buffering.max.messages", "10000"),
        }
        .config();
        let context = SinkContext {
            brokers: options.brokers.clone(),
            topic: options.topic.clone(),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            acks,
            best_effort: best_effort.is_some(),
            brokers_down: AtomicBool::new(false),
        };
        let producer = config
            .create_with_context(context)
            .map_err(|source| DeliveryError::kafka(&options.brokers, &options.topic, source))?;
        tracing::info!(brokers = %options.brokers, topic = %options.topic, best_effort = best_effort.is_some(), "kafka sink connected");
        Ok(Self {
            producer,
            brokers: options.brokers,
            topic: options.topic,
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Alerts the broker has acknowledged since the sink started.
    pub fn delivered(&self) -> u64 {
        self.producer.context().delivered.load(Ordering::Relaxed)
    }

    /// Alerts librdkafka gave up on (each also logged at warn). With the infinite message
    /// timeout this stays 0 unless the broker rejects a message outright (topic deleted,
    /// authorization, message too large) or the producer hit a fatal error.
    pub fn failed_deliveries(&self) -> u64 {
        self.producer.context().failed.load(Ordering::Relaxed)
    }

    /// Alerts queued or in flight, waiting for the broker's acknowledgement.
    pub fn pending(&self) -> usize {
        self.producer.in_flight_count().max(0) as usize
    }

    /// A fatal producer error (an idempotence guarantee could not be kept), after which this
    /// sink delivers nothing more and must be replaced. `None` normally.
    pub fn fatal_error(&self) -> Option<String> {
        self.producer
            .client()
            .fatal_error()
            .map(|(code, reason)| format!("{code}: {reason}"))
    }

    /// Queues `payload` keyed by `key` (an alert's snapshot, keyed by the alert id) and returns
    /// at once, like [`EventSink::send`].
    pub fn send_keyed(&mut self, key: &str, payload: &[u8]) -> Result<(), DeliveryError> {
        let record = BaseRecord::with_opaque_to(&self.topic, Box::new(key.to_owned()))
            .key(key)
            .payload(payload);
        self.producer
            .send(record)
            .map_err(|(source, _record)| self.err(source))?;
        tracing::debug!(topic = %self.topic, key, bytes = payload.len(), "record queued for kafka");
        Ok(())
    }

    /// Whether librdkafka last said that every broker is down (no delivery or successful
    /// [`KafkaSink::probe`] since).
    pub fn brokers_down(&self) -> bool {
        self.producer.context().brokers_down.load(Ordering::Relaxed)
    }

    /// Asks a broker for this topic's metadata (blocking up to `timeout`); true and the
    /// "brokers down" mark cleared when one answers.
    pub fn probe(&self, timeout: Duration) -> bool {
        let ok = self
            .producer
            .client()
            .fetch_metadata(Some(&self.topic), timeout)
            .is_ok();
        if ok {
            self.producer
                .context()
                .brokers_down
                .store(false, Ordering::Relaxed);
        }
        ok
    }

    fn err(&self, source: KafkaError) -> DeliveryError {
        DeliveryError::kafka(&self.brokers, &self.topic, source)
    }
}

impl EventSink for KafkaSink {
    type Error = DeliveryError;

    fn name(&self) -> &str {
        "kafka"
    }

    /// Queues the alert in librdkafka and returns at once; never blocks on the network. Fails
    /// only when the queue is full (transient) or the producer is dead (fatal error).
    fn send(&mut self, event: &Event) -> Result<(), DeliveryError> {
        let payload = serde_json::to_vec(event).map_err(|source| DeliveryError::Encode {
            alert_id: event.id().to_owned(),
            source,
        })?;
        let schema = event.schema_version().to_string();
        let headers = OwnedHeaders::new().insert(Header {
            key: SCHEMA_HEADER,
            value: Some(schema.as_str()),
        });
        let record = BaseRecord::with_opaque_to(&self.topic, Box::new(event.id().to_owned()))
            .key(event.camera().id.as_str())
            .payload(&payload)
            .headers(headers);
        self.producer
            .send(record)
            .map_err(|(source, _record)| self.err(source))?;
        tracing::debug!(topic = %self.topic, event = %event.id(), camera = %event.camera().id, "event queued for kafka");
        Ok(())
    }

    /// Waits up to `timeout` until every queued alert is acknowledged by the broker. On timeout
    /// the alerts stay queued (transient error); nothing is lost.
    fn flush(&mut self, timeout: Duration) -> Result<(), DeliveryError> {
        self.producer
            .flush(timeout)
            .map_err(|source| self.err(source))
    }
}

impl Drop for KafkaSink {
    /// librdkafka purges its queue when the producer is dropped; say so if that loses anything.
    fn drop(&mut self) {
        let pending = self.pending();
        if pending > 0 && self.producer.context().best_effort {
            tracing::debug!(topic = %self.topic, pending, "best-effort kafka sink dropped with undelivered events");
        } else if pending > 0 {
            tracing::warn!(
                brokers = %self.brokers,
                topic = %self.topic,
                pending,
                "kafka sink dropped with undelivered alerts (they remain in the outbox)"
            );
        }
    }
}

/// Why librdkafka gave a message back: the producer is gone (its fatal error, or purged when it
/// was dropped), or this message was refused.
fn delivery_failure(error: &KafkaError) -> DeliveryFailure {
    match error.rdkafka_error_code() {
        Some(
            RDKafkaErrorCode::Fatal
            | RDKafkaErrorCode::PurgeQueue
            | RDKafkaErrorCode::PurgeInflight,
        ) => DeliveryFailure::ProducerLost,
        _ => DeliveryFailure::Refused,
    }
}

/// Counts delivery reports and routes librdkafka's logs and errors to `tracing`.
struct SinkContext {
    brokers: String,
    topic: String,
    delivered: AtomicU64,
    failed: AtomicU64,
    acks: Option<std::sync::Arc<crate::ack_log::AckLog>>,
    /// A [`KafkaSink::connect_best_effort`] sink: failed deliveries are expected (debug).
    best_effort: bool,
    /// librdkafka said every broker is down; cleared by a delivery or [`KafkaSink::probe`].
    brokers_down: AtomicBool,
}

impl ClientContext for SinkContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        use RDKafkaLogLevel as L;
        match level {
            L::Emerg | L::Alert | L::Critical | L::Error | L::Warning if self.best_effort => {
                tracing::debug!(target: "librdkafka", brokers = %self.brokers, facility = fac, "{message}")
            }
            L::Emerg | L::Alert | L::Critical | L::Error | L::Warning => {
                tracing::warn!(target: "librdkafka", brokers = %self.brokers, facility = fac, "{message}")
            }
            L::Notice => tracing::info!(target: "librdkafka", facility = fac, "{message}"),
            L::Info => tracing::debug!(target: "librdkafka", facility = fac, "{message}"),
            L::Debug => tracing::trace!(target: "librdkafka", facility = fac, "{message}"),
        }
    }

    /// Broker down, connection refused, and the like: librdkafka keeps retrying by itself, so
    /// this is "degraded", not "a person must act".
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.brokers_down.store(true, Ordering::Relaxed);
        }
        if self.best_effort {
            // The reliable sinks of the same process say it already.
            tracing::debug!(brokers = %self.brokers, topic = %self.topic, error = %error, reason, "kafka client error (best-effort sink)");
            return;
        }
        tracing::warn!(brokers = %self.brokers, topic = %self.topic, error = %error, reason, "kafka client error");
    }
}

impl ProducerContext for SinkContext {
    /// The alert id, for the log line of a failed delivery.
    type DeliveryOpaque = Box<String>;

    fn delivery(&self, result: &DeliveryResult<'_>, alert_id: Box<String>) {
        match result {
            Ok(message) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                self.brokers_down.store(false, Ordering::Relaxed);
                if let Some(acks) = &self.acks {
                    acks.record(&alert_id);
                }
                tracing::debug!(
                    topic = %self.topic,
                    alert = %alert_id,
                    partition = message.partition(),
                    offset = message.offset(),
                    "alert delivered to kafka"
                );
            }
            Err((error, _message)) if self.best_effort => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(topic = %self.topic, event = %alert_id, error = %error, "best-effort event dropped");
            }
            Err((error, _message)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let why = delivery_failure(error);
                if let Some(acks) = &self.acks {
                    acks.failed(&alert_id, why);
                }
                if why == DeliveryFailure::ProducerLost {
                    // The producer's fatal error (or its drop) is logged once, by the relay.
                    tracing::debug!(topic = %self.topic, alert = %alert_id, error = %error, "kafka delivery given back by a producer going away; the relay sends the alert again");
                } else {
                    tracing::warn!(
                        brokers = %self.brokers,
                        topic = %self.topic,
                        alert = %alert_id,
                        error = %error,
                        "kafka delivery failed; the relay sends the alert again"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> KafkaSettings {
        toml::from_str(text).expect("parses")
    }

    #[test]
    fn settings_pass_properties_through_and_read_secrets_from_the_environment() {
        let s = settings(
            "brokers = \"k:9093\"\n[properties]\n\"security.protocol\" = \"SASL_SSL\"\n\
             \"sasl.mechanism\" = \"SCRAM-SHA-512\"\n[properties_env]\n\
             \"sasl.password\" = \"SHARPEYES_TEST_KAFKA_PW_1\"\n",
        );
        assert!(s.problems().is_empty(), "{:?}", s.problems());
        let e = s.resolve().expect_err("variable unset");
        assert!(
            e.contains("sasl.password") && e.contains("SHARPEYES_TEST_KAFKA_PW_1"),
            "{e}"
        );
        // SAFETY: a variable only this test uses; no other thread reads it.
        unsafe { std::env::set_var("SHARPEYES_TEST_KAFKA_PW_1", "s3cret") };
        let p = s.resolve().expect("resolves");
        assert!(p.contains(&("sasl.password".into(), "s3cret".into())));
        assert!(p.contains(&("security.protocol".into(), "SASL_SSL".into())));
        assert!(!format!("{s:?}").contains("s3cret"));
    }

    #[test]
    fn settings_may_not_weaken_the_delivery_guarantees() {
        let s = settings(
            "[properties]\nacks = \"1\"\n\"enable.auto.commit\" = \"true\"\n\"x y\" = \"1\"\n[properties_env]\n\"ssl.key.password\" = \"\"\n",
        );
        let p: Vec<String> = s
            .problems()
            .into_iter()
            .map(|(f, m)| format!("{f}: {m}"))
            .collect();
        assert_eq!(p.len(), 4, "{p:#?}");
        assert!(
            p.iter()
                .any(|l| l.starts_with("properties.\"acks\": is set by Sharp Eyes"))
        );
        assert!(
            p.iter()
                .any(|l| l.starts_with("properties.\"enable.auto.commit\""))
        );
        assert!(p.iter().any(|l| l.starts_with("properties.\"x y\"")));
        assert!(
            p.iter()
                .any(|l| l.starts_with("properties_env.\"ssl.key.password\""))
        );
    }

    /// librdkafka checks `security.protocol` when a client is created: this fails with
    /// "OpenSSL not available at build time" unless rdkafka is built with TLS.
    #[test]
    fn the_operators_properties_reach_every_client_and_win() {
        let props = vec![
            ("security.protocol".to_string(), "SASL_SSL".to_string()),
            ("session.timeout.ms".to_string(), "30000".to_string()),
        ];
        let c = client("b:9092", "me", &props)
            .set("session.timeout.ms", "10000")
            .set("group.id", "g")
            .config();
        assert_eq!(c.get("bootstrap.servers"), Some("b:9092"));
        assert_eq!(c.get("client.id"), Some("me"));
        assert_eq!(c.get("group.id"), Some("g"));
        assert_eq!(c.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(
            c.get("session.timeout.ms"),
            Some("30000"),
            "the operator's value wins"
        );
    }

    #[test]
    fn tls_and_sasl_properties_are_accepted_by_the_built_librdkafka() {
        for (protocol, mechanism) in [
            ("SSL", None),
            ("SASL_SSL", Some("SCRAM-SHA-512")),
            ("SASL_PLAINTEXT", Some("PLAIN")),
        ] {
            let mut props = vec![("security.protocol".to_string(), protocol.to_string())];
            if let Some(m) = mechanism {
                props.extend([
                    ("sasl.mechanism".to_string(), m.to_string()),
                    ("sasl.username".to_string(), "u".to_string()),
                    ("sasl.password".to_string(), "p".to_string()),
                ]);
            }
            let made: Result<rdkafka::producer::BaseProducer, _> =
                client("127.0.0.1:1", "test", &props).config().create();
            assert!(made.is_ok(), "{protocol}: {:?}", made.err());
        }
    }

    #[test]
    fn options_default_to_the_alert_topic() {
        let o = KafkaOptions::new("k:9092");
        assert_eq!(o.topic, "sharpeyes.alerts");
        assert_eq!(o.partitions, 1);
        assert_eq!(o.client_id, "sharpeyes");
    }

    #[test]
    fn options_debug_hides_extra_values() {
        let o = KafkaOptions::new("k:9092").set("sasl.password", "hunter2");
        let shown = format!("{o:?}");
        assert!(shown.contains("sasl.password"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
