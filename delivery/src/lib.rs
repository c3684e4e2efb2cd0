//! Alerts' delivery. (The rules that make them are the `sharpeyes-analytics` crate; the guardians'
//! service is `sharpeyes-notify`; the tests' broker is `sharpeyes-sim`.)
//!
//! - [`snapshot`]: JPEG of the frame that raised an alert, boxes, labels and skeletons drawn, and the
//!   retention sweeper (file I/O).
//! - [`outbox`]: the durable JSON-lines file every alert is appended to first (file I/O).
//! - [`stdout`]: one JSON line per alert on stdout.
//! - [`clips`]: the alerts' event clips to Kafka and the command center once complete (file and
//!   network I/O, a thread of its own).
//! - [`kafka`]: alerts to a Kafka topic through librdkafka (network I/O).
//! - [`ack_log`]: the ids the broker acknowledged, beside the outbox (file I/O).
//! - [`relay`]: the outbox → Kafka relay: zero loss, at least once, ack log (file and network
//!   I/O).
//! - [`relay_policy`]: the relay's decisions (what to send again and when, producer rebuilds,
//!   backoff, the `connected` gauge) as a state machine ([`RelayPolicy`]). No I/O.
//!
//! Every sink implements [`sharpeyes_core::EventSink`] with [`DeliveryError`] as its error.
//!
//! [`Alert`]: sharpeyes_core::Alert

pub mod ack_log;
pub mod clips;
pub mod error;
pub mod kafka;
pub mod outbox;
pub mod relay;
pub mod relay_policy;
pub mod snapshot;
pub mod stdout;
mod wake;

pub use ack_log::{AckLog, AckObserver};
pub use clips::{
    ClipFile, ClipObserver, ClipShipper, ClipSource, ClipStats, MAX_CLIP_MESSAGE, is_mp4, read_clip,
};
pub use error::DeliveryError;
pub use kafka::{
    ClientBuilder, DEFAULT_ALERT_TOPIC, KafkaOptions, KafkaSettings, KafkaSink, MESSAGE_MAX_BYTES,
    SCHEMA_HEADER, ensure_topic, ensure_topic_with, wait_for_topics,
};
pub use outbox::{JsonlOutbox, OutboxContents, read_all, read_outbox};
pub use relay::{
    EPHEMERAL_TIMEOUT, EphemeralStats, MAX_SNAPSHOT_MESSAGE, OutboxRelay, RelayOptions,
    SnapshotSource, read_snapshot,
};
pub use relay_policy::{Backoff, DeliveryFailure, RelayPolicy};
pub use snapshot::{
    Mark, SKELETON_MIN_SCORE, SNAPSHOT_JPEG_QUALITY, SnapshotSweeper, SnapshotWriter, SweepReport,
    draw_mark, draw_marks, sweep_snapshots,
};
pub use stdout::StdoutSink;
