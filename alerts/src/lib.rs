//! Detections to alerts and their delivery.
//!
//! - [`rules`]: pure rules turning one frame's detections into at most one [`Alert`]
//!   ([`PersonPresenceRule`]). No I/O.
//! - [`track`]: ByteTrack-style multi-object tracker, one per camera ([`Tracker`]). No I/O.
//! - [`zone`]: zone polygons, daily windows and the [`Finding`] a rule reports. No I/O.
//! - [`fall`]: the fall rule on tracks and keypoints ([`FallRule`], docs/falls.md). No I/O.
//! - [`zone_rules`]: person_in_zone, loitering, vehicle_in_zone, inactivity ([`ZoneRules`]).
//!   No I/O.
//! - [`incident`]: findings to start / update / end alerts with cooldown ([`Incidents`]). No I/O.
//! - [`snapshot`]: JPEG of the frame that raised an alert, boxes and skeletons drawn, and the
//!   retention sweeper (file I/O).
//! - [`outbox`]: the durable JSON-lines file every alert is appended to first (file I/O).
//! - [`stdout`]: one JSON line per alert on stdout.
//! - [`kafka`]: alerts to a Kafka topic through librdkafka (network I/O).
//! - [`relay`]: the outbox → Kafka relay: zero loss, at least once, ack log (file and network
//!   I/O).
//! - [`notify`]: `sharpeyes notify`, the guardians' push service: registry, routing, rate limit,
//!   webhooks with retries, dead-letter topic, offsets committed after delivery (network and
//!   file I/O around pure parts).
//! - [`local_broker`]: a tansu broker process on loopback (benchmarks; the tests through testkit).
//! - [`testkit`] (feature `test-util`): a real tansu broker on loopback for tests.
//!
//! Every sink implements [`sharpeyes_core::EventSink`] with [`AlertsError`] as its error.
//!
//! [`Alert`]: sharpeyes_core::Alert

pub mod error;
pub mod fall;
pub mod incident;
pub mod kafka;
pub mod local_broker;
pub mod notify;
pub mod outbox;
pub mod relay;
pub mod rules;
pub mod snapshot;
pub mod stdout;
#[cfg(any(test, feature = "test-util"))]
pub mod testkit;
pub mod track;
pub mod zone;
pub mod zone_rules;

pub use error::AlertsError;
pub use fall::{FallConfig, FallRule, Posture};
pub use incident::{IncidentAlert, IncidentConfig, Incidents, IncidentsState};
pub use kafka::{
    DEFAULT_ALERT_TOPIC, KafkaOptions, KafkaSettings, KafkaSink, SCHEMA_HEADER, ensure_topic,
    ensure_topic_with, wait_for_topics,
};
pub use outbox::{JsonlOutbox, OutboxContents, read_all, read_outbox};
pub use relay::{
    AckLog, AckObserver, EPHEMERAL_TIMEOUT, EphemeralStats, MAX_SNAPSHOT_MESSAGE, OutboxRelay,
    RelayOptions, SnapshotSource, read_snapshot,
};
pub use rules::{PersonPresenceConfig, PersonPresenceRule};
pub use snapshot::{
    Mark, SKELETON_MIN_SCORE, SNAPSHOT_JPEG_QUALITY, SnapshotSweeper, SnapshotWriter, SweepReport,
    draw_mark, sweep_snapshots,
};
pub use stdout::StdoutSink;
pub use track::{Track, TrackState, Tracker, TrackerConfig};
pub use zone::{DailyWindow, Finding, Polygon};
pub use zone_rules::{DwellSpec, InactivitySpec, ZoneRules, ZoneRulesState, ZoneSpec};
