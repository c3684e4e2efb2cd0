//! The Kafka sink against a real Kafka-protocol broker (tansu) on loopback: alerts go out, come
//! back byte-for-byte, keyed by camera; an alert sent while the broker is down is delivered once
//! it is back. Skips with a printed `SKIP:` line when tansu is not installed.

use std::sync::Arc;
use std::time::Duration;

use sharpeyes_core::{
    ALERT_SCHEMA_VERSION, Alert, AlertKind, BBox, CameraId, Detection, Event, EventSink, UnixMillis,
};
use sharpeyes_delivery::{KafkaOptions, KafkaSink, SCHEMA_HEADER, ensure_topic};
use sharpeyes_sim::{TansuBroker, TansuOptions, TansuStorage, consume_n, free_port};

fn alert(camera: &str, t: i64) -> Event {
    let person = Detection {
        class_id: 0,
        class_name: Arc::from("person"),
        score: 0.87,
        bbox: BBox {
            x1: 100.0,
            y1: 50.0,
            x2: 180.0,
            y2: 300.0,
        },
        keypoints: Vec::new(),
    };
    Alert::new(
        AlertKind::PersonDetected,
        CameraId::new(camera).expect("valid camera id"),
        UnixMillis(t),
        &[person],
        (1280, 720),
    )
    .into()
}

#[test]
fn alerts_arrive_as_json_keyed_by_camera_with_schema_header() {
    let broker = sharpeyes_sim::broker_or_skip!();
    let topic = "sharpeyes.alerts.roundtrip";
    let mut sink = KafkaSink::connect(
        KafkaOptions::new(broker.bootstrap())
            .topic(topic)
            .partitions(3),
    )
    .expect("connects and creates the topic");
    let sent = [
        alert("gate-east", 1_000),
        alert("lobby", 1_500),
        alert("gate-east", 2_000),
    ];
    for a in &sent {
        sink.send(a).expect("queued");
    }
    sink.flush(Duration::from_secs(20)).expect("delivered");
    assert_eq!(sink.delivered(), 3);
    assert_eq!(sink.failed_deliveries(), 0);
    assert_eq!(sink.pending(), 0);

    let mut got = consume_n(&broker.bootstrap(), topic, 3, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\nbroker log:\n{}", broker.log_tail(3000)));
    got.sort_by_key(|m| (m.partition, m.offset));
    let schema = ALERT_SCHEMA_VERSION.to_string();
    for m in &got {
        let payload = m.payload.as_deref().expect("payload");
        let a: Event = serde_json::from_str(payload).expect("payload is an event");
        assert!(sent.contains(&a), "unexpected alert {a:?}");
        assert_eq!(
            payload,
            serde_json::to_string(&a).expect("encodes"),
            "same bytes as sent"
        );
        assert_eq!(
            m.key.as_deref(),
            Some(a.camera().id.as_str()),
            "key is the camera id"
        );
        assert_eq!(m.header(SCHEMA_HEADER), Some(schema.as_str()));
    }
    // One camera's alerts share a partition, in the order they were sent.
    let gate: Vec<_> = got
        .iter()
        .filter(|m| m.key.as_deref() == Some("gate-east"))
        .collect();
    assert_eq!(gate.len(), 2);
    assert_eq!(gate[0].partition, gate[1].partition);
    let first: Event =
        serde_json::from_str(gate[0].payload.as_deref().expect("payload")).expect("alert");
    assert_eq!(first, sent[0]);
}

#[test]
fn ensure_topic_accepts_an_existing_topic() {
    let broker = sharpeyes_sim::broker_or_skip!();
    let timeout = Duration::from_secs(10);
    ensure_topic(&broker.bootstrap(), "sharpeyes.status", 2, timeout).expect("created");
    ensure_topic(&broker.bootstrap(), "sharpeyes.status", 2, timeout).expect("already exists");
}

#[test]
fn connecting_to_an_absent_broker_fails_transiently() {
    // Needs no broker at all, but skip along with the others for a consistent picture.
    if let Err(reason) = sharpeyes_sim::find_tansu() {
        println!("SKIP: {reason}");
        return;
    }
    let port = free_port().expect("free port");
    let options = KafkaOptions::new(format!("127.0.0.1:{port}"))
        .topic("nowhere")
        .admin_timeout(Duration::from_secs(2));
    let e = KafkaSink::connect(options).expect_err("nobody listens there");
    assert!(e.is_transient(), "{e}");
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
}

#[test]
fn alert_sent_while_broker_is_down_is_delivered_after_restart() {
    let mut broker = sharpeyes_sim::broker_or_skip!(TansuBroker::start_with(TansuOptions {
        storage: TansuStorage::Sqlite,
        ..TansuOptions::default()
    }));
    let topic = "sharpeyes.alerts.outage";
    let mut sink = KafkaSink::connect(KafkaOptions::new(broker.bootstrap()).topic(topic))
        .expect("connects and creates the topic");
    let before = alert("yard", 10_000);
    sink.send(&before).expect("queued");
    sink.flush(Duration::from_secs(20))
        .expect("delivered before the outage");

    broker.stop();
    let during = alert("yard", 20_000);
    sink.send(&during).expect("queued while the broker is down");
    let e = sink
        .flush(Duration::from_secs(2))
        .expect_err("cannot be delivered yet");
    assert!(e.is_transient(), "{e}");
    assert_eq!(sink.pending(), 1, "still queued, not dropped");
    assert_eq!(sink.failed_deliveries(), 0);

    broker
        .restart()
        .expect("broker restarts on the same port with the same data");
    sink.flush(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}\nbroker log:\n{}", broker.log_tail(3000)));
    assert_eq!(sink.delivered(), 2);
    assert_eq!(sink.failed_deliveries(), 0);

    let got = consume_n(&broker.bootstrap(), topic, 2, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\nbroker log:\n{}", broker.log_tail(3000)));
    let alerts: Vec<Event> = got
        .iter()
        .map(|m| serde_json::from_str(m.payload.as_deref().expect("payload")).expect("alert"))
        .collect();
    assert_eq!(alerts, vec![before, during], "both, once each, in order");
}
