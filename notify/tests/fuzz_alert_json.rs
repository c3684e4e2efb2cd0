//! Property tests (fuzzing on stable Rust) of what `notify` reads from Kafka: the alert parser
//! of the notification service. Valid events with values replaced by hostile ones, and
//! byte-level edits: an alert or a reason it is not one, never a panic. Pure, no I/O.

use proptest::prelude::*;

mod common;
use common::alert_payload::payload;

const CASES: u32 = 256;

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_payload_is_an_alert_or_a_reason(p in payload()) {
        if let Ok(a) = sharpeyes_notify::service::parse(&p) {
            let _ = serde_json::to_string(&a).expect("an alert read encodes again");
            let _ = a.event_millis();
        }
    }
}
