//! Camera status events against their JSON Schemas (schemas/camera-status.v1 and v2) with the
//! reference validator (scripts/validate_events.py): what this build writes is valid v2, the
//! v1 events older builds wrote stay valid v1 (and parse as `StatusEvent`), and the v2 rules
//! refuse what they should. Skips when the validator is not installed.

use std::io::Write;
use std::process::{Command, Stdio};

use sharpeyes_core::{
    CameraId, CameraRef, CameraState, Event, STATUS_SCHEMA_VERSION, StatusEvent, UnixMillis,
};

mod common;
use common::{repo, validate_json};

const T: UnixMillis = UnixMillis(1_795_459_860_000);

const V1: [&str; 2] = [
    r#"{"schema_version":1,"id":"0190d5a2-7c1e-7000-8000-000000000001","kind":"camera_online","camera":{"id":"gate","name":"Gate","village":"Xiaohe"},"state":"online","event_time":"2026-11-23T18:51:00.000Z","emitted_time":"2026-11-23T18:51:00.000Z"}"#,
    r#"{"schema_version":1,"id":"0190d5a2-7c1e-7000-8000-000000000002","kind":"camera_offline","camera":{"id":"gate","name":"Gate","village":"Xiaohe"},"state":"auth_failed","reason":"401","event_time":"2026-11-23T18:51:01.000Z","emitted_time":"2026-11-23T18:51:01.000Z"}"#,
];

fn gate() -> CameraRef {
    CameraRef {
        id: CameraId::new("gate").unwrap(),
        name: "Gate".into(),
        village: "Xiaohe".into(),
    }
}

/// Every shape of status event this build writes.
fn written() -> Vec<StatusEvent> {
    let w = || Some("w-01.box_a".to_string());
    let mut out = vec![
        StatusEvent::new(gate(), T, CameraState::Online, None),
        StatusEvent::new(gate(), T, CameraState::Online, None).with_worker(w()),
        StatusEvent::new(gate(), T, CameraState::Stalled, Some("no frames".into()))
            .with_worker(w()),
        StatusEvent::heartbeat(gate(), T, CameraState::Online, 14.5, Some(T)).with_worker(w()),
        StatusEvent::heartbeat(gate(), T, CameraState::Connecting, 0.0, None),
        StatusEvent::unassigned(gate(), T, Some("no worker has room".into())),
    ];
    out.extend(
        [
            CameraState::Connecting,
            CameraState::Offline,
            CameraState::AuthFailed,
        ]
        .map(|s| StatusEvent::new(gate(), T, s, None)),
    );
    for reason in sharpeyes_core::TAMPER_REASONS {
        for tampered in [true, false] {
            out.push(
                StatusEvent::tamper(gate(), T, CameraState::Online, tampered, reason)
                    .with_worker(w()),
            );
        }
    }
    out
}

/// The validator's verdict on one text: Some(true) valid, Some(false) invalid, None not run.
fn verdict(text: &str) -> Option<bool> {
    let python = repo().join(".venv/bin/python");
    let mut child = Command::new(python)
        .arg(repo().join("scripts/validate_events.py"))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    writeln!(child.stdin.take()?, "{text}").ok()?;
    let out = child.wait_with_output().ok()?;
    match out.status.code() {
        Some(0) => Some(true),
        Some(1) => Some(false),
        _ => None,
    }
}

#[test]
fn written_events_are_valid_v2_and_v1_events_stay_valid_and_readable() {
    assert_eq!(STATUS_SCHEMA_VERSION, 2);
    let mut texts: Vec<String> = written()
        .into_iter()
        .map(|e| serde_json::to_string(&Event::from(e)).unwrap())
        .collect();
    for v1 in V1 {
        let e: Event = serde_json::from_str(v1).expect("a v1 event parses");
        assert!(e.is_status() && e.schema_version() == 1, "{e:?}");
        texts.push(v1.to_owned());
    }
    validate_json("status events v1 and v2", &texts);
}

#[test]
fn the_v2_schema_refuses_what_its_rules_forbid() {
    if !validate_json(
        "a heartbeat",
        &[serde_json::to_string(&written()[3]).unwrap()],
    ) {
        return;
    }
    let base = |e: StatusEvent| serde_json::to_value(e).unwrap();
    let heartbeat = base(written()[3].clone());
    let online = base(StatusEvent::new(gate(), T, CameraState::Online, None));
    let unassigned = base(StatusEvent::unassigned(gate(), T, None));
    let tampered = base(StatusEvent::tamper(
        gate(),
        T,
        CameraState::Online,
        true,
        "covered",
    ));
    let bad: Vec<(&str, serde_json::Value)> = vec![
        ("heartbeat without fps", {
            let mut v = heartbeat.clone();
            v.as_object_mut().unwrap().remove("fps");
            v
        }),
        ("negative fps", {
            let mut v = heartbeat.clone();
            v["fps"] = (-1.0).into();
            v
        }),
        ("heartbeat in a v1 event", {
            let mut v = heartbeat.clone();
            v["schema_version"] = 1.into();
            v
        }),
        ("online kind, offline state", {
            let mut v = online.clone();
            v["state"] = "offline".into();
            v
        }),
        ("offline kind, unassigned state", {
            let mut v = online.clone();
            v["kind"] = "camera_offline".into();
            v["state"] = "unassigned".into();
            v
        }),
        ("fps outside a heartbeat", {
            let mut v = online.clone();
            v["fps"] = 3.0.into();
            v
        }),
        ("unassigned with a worker", {
            let mut v = unassigned.clone();
            v["worker"] = "w1".into();
            v
        }),
        ("unassigned kind, online state", {
            let mut v = unassigned.clone();
            v["state"] = "online".into();
            v
        }),
        ("tampered without a reason", {
            let mut v = tampered.clone();
            v.as_object_mut().unwrap().remove("reason");
            v
        }),
        ("restored for an unknown reason", {
            let mut v = tampered.clone();
            v["kind"] = "camera_restored".into();
            v["reason"] = "stolen".into();
            v
        }),
        ("a worker id with a space", {
            let mut v = online.clone();
            v["worker"] = "w 1".into();
            v
        }),
    ];
    for (what, v) in bad {
        assert_eq!(verdict(&v.to_string()), Some(false), "{what}: {v}");
    }
}
