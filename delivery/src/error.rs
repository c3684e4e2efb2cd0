//! The one error type of this crate, with the context (file, broker, topic, alert) each failure
//! happened in, and [`DeliveryError::is_transient`] for the retry loops in the binary. No I/O here.

use std::io;
use std::path::PathBuf;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use sharpeyes_core::CameraId;

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// Opening, appending to, syncing or reading the JSON-lines outbox failed.
    #[error("outbox {path}: {source}")]
    Outbox {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A complete (newline-terminated) line of the outbox is not an alert. Torn last lines are
    /// not reported this way: they are skipped (see `outbox::read_all`).
    #[error("outbox {path} line {line}: not an alert: {source}")]
    OutboxCorrupt {
        path: PathBuf,
        /// 1-based.
        line: usize,
        #[source]
        source: serde_json::Error,
    },

    /// Creating the directory, writing or renaming a snapshot file failed.
    #[error("snapshot {path}: {source}")]
    Snapshot {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Listing the snapshot directory for the retention sweep failed, or the sweeper thread could
    /// not be started. Single files the sweep cannot delete are counted, not reported this way.
    #[error("snapshot sweep of {path}: {source}")]
    SnapshotSweep {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The frame cannot be turned into a JPEG (geometry does not fit the buffer, encoder error).
    #[error("snapshot of camera {camera}: {reason}")]
    SnapshotEncode { camera: CameraId, reason: String },

    /// A Kafka client operation failed (client creation, topic creation, enqueueing, flush).
    /// Boxed: `KafkaError` is large and would bloat every `Result` of this crate.
    #[error("kafka {brokers} topic {topic}: {source}")]
    Kafka {
        brokers: String,
        topic: String,
        #[source]
        source: Box<KafkaError>,
    },

    /// Serializing an alert to JSON failed (should not happen for well-formed alerts).
    #[error("encoding alert {alert_id}: {source}")]
    Encode {
        alert_id: String,
        #[source]
        source: serde_json::Error,
    },

    /// Writing to standard output failed (closed pipe, full disk behind a redirect).
    #[error("stdout: {source}")]
    Stdout {
        #[source]
        source: io::Error,
    },
}

impl DeliveryError {
    pub(crate) fn kafka(brokers: &str, topic: &str, source: KafkaError) -> Self {
        DeliveryError::Kafka {
            brokers: brokers.to_owned(),
            topic: topic.to_owned(),
            source: Box::new(source),
        }
    }

    /// True when the same operation may succeed if retried later without any change of
    /// configuration: a broker that is down or busy, a full producer queue, an interrupted
    /// system call. False for bad configuration, corrupt files, encoding bugs and most file
    /// system errors (permissions, a full disk needs a person).
    pub fn is_transient(&self) -> bool {
        match self {
            DeliveryError::Outbox { source, .. }
            | DeliveryError::Snapshot { source, .. }
            | DeliveryError::SnapshotSweep { source, .. }
            | DeliveryError::Stdout { source } => io_is_transient(source),
            DeliveryError::Kafka { source, .. } => kafka_is_transient(source),
            DeliveryError::OutboxCorrupt { .. }
            | DeliveryError::SnapshotEncode { .. }
            | DeliveryError::Encode { .. } => false,
        }
    }
}

fn io_is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn kafka_is_transient(e: &KafkaError) -> bool {
    let code = match e {
        // `rdkafka_error_code()` returns None for admin results; the code is still in there.
        KafkaError::AdminOp(code) => Some(*code),
        KafkaError::Canceled => return true,
        other => other.rdkafka_error_code(),
    };
    code.is_some_and(code_is_transient)
}

fn code_is_transient(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code,
        C::QueueFull
            | C::AllBrokersDown
            | C::BrokerTransportFailure
            | C::OperationTimedOut
            | C::RequestTimedOut
            | C::MessageTimedOut
            | C::Resolve
            | C::BrokerNotAvailable
            | C::LeaderNotAvailable
            | C::NotLeaderForPartition
            | C::NetworkException
            | C::CoordinatorNotAvailable
            | C::NotCoordinator
            | C::NotEnoughReplicas
            | C::NotEnoughReplicasAfterAppend
            | C::PreferredLeaderNotAvailable
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kafka(source: KafkaError) -> DeliveryError {
        DeliveryError::kafka("b:9092", "t", source)
    }

    #[test]
    fn broker_down_and_full_queue_are_transient() {
        assert!(kafka(KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)).is_transient());
        assert!(kafka(KafkaError::AdminOp(RDKafkaErrorCode::OperationTimedOut)).is_transient());
        assert!(kafka(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut)).is_transient());
    }

    #[test]
    fn configuration_and_corruption_are_not_transient() {
        assert!(!kafka(KafkaError::ClientCreation("bad".into())).is_transient());
        assert!(
            !kafka(KafkaError::AdminOp(
                RDKafkaErrorCode::TopicAuthorizationFailed
            ))
            .is_transient()
        );
        let json_err = serde_json::from_str::<u32>("x").expect_err("not a number");
        let e = DeliveryError::OutboxCorrupt {
            path: "a.jsonl".into(),
            line: 3,
            source: json_err,
        };
        assert!(!e.is_transient());
        assert_eq!(
            e.to_string().split(':').next(),
            Some("outbox a.jsonl line 3")
        );
    }

    #[test]
    fn interrupted_io_is_transient_permission_is_not() {
        let e = |kind| DeliveryError::Outbox {
            path: "o".into(),
            source: io::Error::from(kind),
        };
        assert!(e(io::ErrorKind::Interrupted).is_transient());
        assert!(!e(io::ErrorKind::PermissionDenied).is_transient());
    }
}
