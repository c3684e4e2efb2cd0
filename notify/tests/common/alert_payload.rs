//! Hostile alert payloads for the property tests of the two readers of the alerts topic:
//! `notify` (notify/tests/fuzz_alert_json.rs) and `serve` (web/tests/fuzz_alert_json.rs, which
//! includes this file by path). Valid events with values replaced by hostile ones, and
//! byte-level edits.

use std::sync::Arc;

use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::Value;
use sharpeyes_core::{Alert, AlertKind, BBox, CameraId, Detection, Event, UnixMillis};

/// Valid events to mutate: a fall with a detection, and a camera status.
fn seeds() -> Vec<Vec<u8>> {
    let d = Detection {
        class_id: 0,
        class_name: Arc::from("person"),
        score: 0.8,
        bbox: BBox {
            x1: 1.0,
            y1: 2.0,
            x2: 300.0,
            y2: 200.0,
        },
        keypoints: Vec::new(),
    };
    let a = Alert::new(
        AlertKind::Fall,
        CameraId::new("gate-east").expect("a valid id"),
        UnixMillis(1_795_459_860_000),
        &[d],
        (640, 360),
    );
    let status = r#"{"schema_version":1,"id":"0190d5a2-7c1e-7000-8000-000000000001","kind":"camera_offline","camera":{"id":"gate","name":"Gate","village":"Xiaohe"},"state":"stalled","reason":"no frames for 10 s","event_time":"2026-11-23T12:51:00.000Z","emitted_time":"2026-11-23T12:51:00.000Z"}"#;
    vec![
        serde_json::to_vec(&Event::Alert(a)).expect("an alert encodes"),
        status.as_bytes().to_vec(),
    ]
}

/// Values a broken or hostile producer may put anywhere.
fn hostile() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(serde_json::json!(1e308)),
        Just(serde_json::json!(-1)),
        ".{0,40}".prop_map(Value::from),
        Just(Value::from("x".repeat(5000))),
        Just(serde_json::json!([])),
        Just(serde_json::json!({})),
        Just(serde_json::json!([[[[[[[[[[1]]]]]]]]]])),
    ]
}

/// Replaces the `k`-th node (pre-order, modulo the count) with `v`.
fn replace_node(root: &mut Value, k: usize, v: Value) {
    fn count(v: &Value) -> usize {
        1 + match v {
            Value::Array(a) => a.iter().map(count).sum(),
            Value::Object(o) => o.values().map(count).sum(),
            _ => 0,
        }
    }
    fn walk(node: &mut Value, k: &mut usize, v: &mut Option<Value>) {
        if *k == 0 {
            if let Some(v) = v.take() {
                *node = v;
            }
            return;
        }
        *k -= 1;
        match node {
            Value::Array(a) => a.iter_mut().for_each(|c| walk(c, k, v)),
            Value::Object(o) => o.values_mut().for_each(|c| walk(c, k, v)),
            _ => {}
        }
    }
    let mut k = k % count(root);
    walk(root, &mut k, &mut Some(v));
}

/// A byte-level edit at a position taken modulo the length.
fn byte_edit() -> impl Strategy<Value = (usize, usize, Vec<u8>)> {
    (
        any::<usize>(),
        0usize..8,
        prop_oneof![
            vec(any::<u8>(), 0..8),
            prop::sample::select(vec![
                "{", "}", "[", "]", "\"", ",", ":", "\\u0000", "\\ud800", "1e999", "-", "null"
            ])
            .prop_map(|s| s.as_bytes().to_vec()),
        ],
    )
}

fn apply_bytes(mut b: Vec<u8>, edits: &[(usize, usize, Vec<u8>)]) -> Vec<u8> {
    for (at, remove, insert) in edits {
        let at = at % (b.len() + 1);
        let end = (at + remove).min(b.len());
        b.splice(at..end, insert.iter().copied());
    }
    b
}

/// A payload: a seed with some of its values replaced, then some bytes edited.
pub fn payload() -> impl Strategy<Value = Vec<u8>> {
    (
        0usize..2,
        vec((any::<usize>(), hostile()), 0..4),
        vec(byte_edit(), 0..3),
    )
        .prop_map(|(seed, values, bytes)| {
            let mut v: Value = serde_json::from_slice(&seeds()[seed]).expect("seeds are JSON");
            for (k, x) in values {
                replace_node(&mut v, k, x);
            }
            apply_bytes(serde_json::to_vec(&v).expect("a Value encodes"), &bytes)
        })
}
