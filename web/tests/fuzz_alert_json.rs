//! Property tests (fuzzing on stable Rust) of what `serve` reads from Kafka: a payload goes
//! through `serde_json::from_slice::<Event>` and, when it is an event, into the store and the
//! feed (as `consume_kafka` does). Valid events with values replaced by hostile ones, and
//! byte-level edits: refused or stored, never a panic. Pure apart from an in-memory SQLite.

use std::sync::Arc;

use proptest::collection::vec;
use proptest::prelude::*;
use sharpeyes_core::Event;

#[path = "../../notify/tests/common/alert_payload.rs"]
mod alert_payload;
use alert_payload::payload;

const CASES: u32 = 256;

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_payload_is_an_event_or_skipped(payloads in vec(payload(), 1..4)) {
        let store = Arc::new(sharpeyes_web::Store::open(std::path::Path::new(":memory:")).expect("an in-memory store"));
        let feed = sharpeyes_web::Feed::new(store.clone());
        for p in &payloads {
            if let Ok(ev) = serde_json::from_slice::<Event>(p) {
                if let Event::Alert(a) = &ev {
                    let _ = store.ingest_alert(a);
                }
                feed.publish(&ev);
            }
        }
    }
}
