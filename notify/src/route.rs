//! Which guardians an event (an alert, or a camera status event such as `camera_tampered`)
//! goes to, and what they are sent. Pure.

use serde::Serialize;
use sharpeyes_core::{Alert, Event, Severity, StatusEvent, StatusKind};

use super::registry::{Guardian, Registry};

/// Version of the notification body (`schemas/guardian-notification.v1.schema.json`).
pub const NOTIFICATION_SCHEMA_VERSION: u32 = 1;

/// Whether `g` is to be told about `alert`: its camera is one `g` watches (and its zone one of
/// the watched zones, when the watch names zones), and `g` wants its kind and lifecycle. An
/// `urgent` alert (a long lie after a fall) goes to everyone who wants its kind, whatever
/// lifecycles they chose: someone who asked only for new falls must hear that the person is
/// still down.
pub fn wants_alert(g: &Guardian, alert: &Alert) -> bool {
    g.kinds.contains(&alert.kind)
        && (g.lifecycles.contains(&alert.lifecycle) || alert.urgent)
        && g.watch.iter().any(|w| {
            w.camera == alert.camera.id
                && (w.zones.is_empty() || alert.zone.as_ref().is_some_and(|z| w.zones.contains(z)))
        })
}

/// Whether `g` is to be told about the camera status event `status`: `g` asked for its kind
/// (`camera_tampered`, ...) and watches its camera. Zones do not limit it: the whole picture
/// is concerned.
pub fn wants_status(g: &Guardian, status: &StatusEvent) -> bool {
    g.status_kinds.contains(&status.kind) && g.watch.iter().any(|w| w.camera == status.camera.id)
}

/// [`wants_alert`] or [`wants_status`].
pub fn wants(g: &Guardian, event: &Event) -> bool {
    match event {
        Event::Alert(a) => wants_alert(g, a),
        Event::Status(s) => wants_status(g, s),
    }
}

/// The guardians (indices into `registry.guardians`) `event` goes to.
pub fn route(registry: &Registry, event: &Event) -> Vec<usize> {
    registry
        .guardians
        .iter()
        .enumerate()
        .filter(|(_, g)| wants(g, event))
        .map(|(i, _)| i)
        .collect()
}

/// (urgent, severity) of `event`, for the order of a guardian's queue: an alert's own; a
/// tampered or offline camera is a warning, its end is information.
pub fn priority(event: &Event) -> (bool, Severity) {
    match event {
        Event::Alert(a) => (a.urgent, a.severity),
        Event::Status(s) => match s.kind {
            StatusKind::CameraTampered | StatusKind::CameraOffline => (false, Severity::Warning),
            _ => (false, Severity::Info),
        },
    }
}

/// The body POSTed to a guardian's webhook.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Notification<'a> {
    pub schema_version: u32,
    /// `<event id>/<guardian id>`: the dedup key, the same on every retry.
    pub notification_id: String,
    pub guardian: GuardianOut<'a>,
    pub text: String,
    /// The alert, for an alert; exactly one of `alert` and `status` is present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<&'a Alert>,
    /// The camera status event (`camera_tampered`, ...), for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'a StatusEvent>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GuardianOut<'a> {
    pub id: &'a str,
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<&'a str>,
}

/// `<alert id>/<guardian id>`.
pub fn notification_id(alert_id: &str, guardian_id: &str) -> String {
    format!("{alert_id}/{guardian_id}")
}

impl<'a> Notification<'a> {
    pub fn new(g: &'a Guardian, event: &'a Event) -> Self {
        let (alert, status, text) = match event {
            Event::Alert(a) => (Some(a), None, text_of(a)),
            Event::Status(s) => (None, Some(s), status_text(s)),
        };
        Self {
            schema_version: NOTIFICATION_SCHEMA_VERSION,
            notification_id: notification_id(event.id(), &g.id),
            guardian: GuardianOut {
                id: &g.id,
                name: &g.name,
                contact: g.contact.as_deref(),
            },
            text,
            alert,
            status,
        }
    }
}

/// One line for a phone: `URGENT fall at East gate (Xiaohe), 2026-11-23 18:51 UTC: person down
/// for 2.4 s`.
pub fn text_of(alert: &Alert) -> String {
    let urgency = match alert.severity {
        _ if alert.urgent => "URGENT ",
        Severity::Critical => "URGENT ",
        Severity::Warning | Severity::Info => "",
    };
    let what = alert.kind.as_str().replace('_', " ");
    let stage = match alert.lifecycle {
        _ if alert.urgent => " (ESCALATED)",
        sharpeyes_core::Lifecycle::New => "",
        sharpeyes_core::Lifecycle::Update => " (still going on)",
        sharpeyes_core::Lifecycle::End => " (over)",
    };
    let place = place_of(&alert.camera);
    let zone = alert
        .zone
        .as_deref()
        .map(|z| format!(", zone {z}"))
        .unwrap_or_default();
    let when = when_of(&alert.event_time);
    let detail = alert
        .message
        .as_deref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    format!("{urgency}{what}{stage} at {place}{zone}, {when}{detail}")
}

/// One line for a phone: `camera tampered (covered) at East gate (Xiaohe), 2026-11-23 18:51
/// UTC`, `camera restored (covered) at ...`, `camera offline (stalled) at ...`.
pub fn status_text(status: &StatusEvent) -> String {
    let what = status.kind.as_str().replace('_', " ");
    let why = status
        .reason
        .as_deref()
        .filter(|r| !r.is_empty())
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    format!(
        "{what}{why} at {}, {}",
        place_of(&status.camera),
        when_of(&status.event_time)
    )
}

/// `East gate (Xiaohe)`, or the bare name when the camera has no village.
fn place_of(camera: &sharpeyes_core::CameraRef) -> String {
    if camera.village.is_empty() {
        camera.name.clone()
    } else {
        format!("{} ({})", camera.name, camera.village)
    }
}

/// "2026-11-23T18:51:00.123Z" -> "2026-11-23 18:51 UTC".
fn when_of(time: &str) -> String {
    match time.get(..16) {
        Some(t) => format!("{} UTC", t.replacen('T', " ", 1)),
        None => time.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use sharpeyes_core::{AlertKind, CameraId, CameraRef, CameraState, Lifecycle, UnixMillis};

    use super::*;

    fn registry() -> Registry {
        Registry::parse(
            r#"
[[guardians]]
id = "elder-son"
name = "Son"
webhook = "http://h/1"
[[guardians.watch]]
camera = "home"

[[guardians]]
id = "pond-mum"
name = "Mum"
webhook = "http://h/2"
kinds = ["person_in_zone"]
[[guardians.watch]]
camera = "village-pond"
zones = ["pond"]

[[guardians]]
id = "tech"
name = "Maintenance"
webhook = "http://h/3"
kinds = ["camera_tampered", "camera_restored"]
[[guardians.watch]]
camera = "village-pond"
zones = ["pond"]
[[guardians.watch]]
camera = "gate"
"#,
            Path::new("g.toml"),
        )
        .expect("valid")
    }

    fn route(r: &Registry, a: &Alert) -> Vec<usize> {
        super::route(r, &Event::from(a.clone()))
    }

    fn status(camera: &str, tampered: bool, reason: &str) -> Event {
        let camera = CameraRef {
            id: CameraId::new(camera).unwrap(),
            name: "East gate".into(),
            village: "Xiaohe".into(),
        };
        StatusEvent::tamper(
            camera,
            UnixMillis(1_795_459_860_123),
            CameraState::Online,
            tampered,
            reason,
        )
        .into()
    }

    fn alert(kind: AlertKind, camera: &str, zone: Option<&str>) -> Alert {
        let mut a = Alert::new(
            kind,
            CameraId::new(camera).unwrap(),
            UnixMillis(1_795_459_860_123),
            &[],
            (640, 360),
        );
        a.zone = zone.map(str::to_owned);
        a
    }

    #[test]
    fn each_guardian_gets_only_alerts_of_their_cameras_and_zones() {
        let r = registry();
        assert_eq!(route(&r, &alert(AlertKind::Fall, "home", None)), vec![0]);
        assert_eq!(
            route(
                &r,
                &alert(AlertKind::PersonInZone, "village-pond", Some("pond"))
            ),
            vec![1]
        );
        // Another zone of the pond camera, another camera, a kind not wanted: nobody.
        assert!(
            route(
                &r,
                &alert(AlertKind::PersonInZone, "village-pond", Some("road"))
            )
            .is_empty()
        );
        assert!(route(&r, &alert(AlertKind::PersonInZone, "village-pond", None)).is_empty());
        assert!(route(&r, &alert(AlertKind::Fall, "village-pond", None)).is_empty());
        assert!(route(&r, &alert(AlertKind::Fall, "neighbour", None)).is_empty());
        assert!(route(&r, &alert(AlertKind::PersonDetected, "home", None)).is_empty());
    }

    #[test]
    fn only_new_incidents_by_default() {
        let r = registry();
        let mut a = alert(AlertKind::Fall, "home", None);
        for (l, want) in [
            (Lifecycle::New, 1),
            (Lifecycle::Update, 0),
            (Lifecycle::End, 0),
        ] {
            a.lifecycle = l;
            assert_eq!(route(&r, &a).len(), want, "{l:?}");
        }
    }

    #[test]
    fn an_urgent_update_reaches_those_who_asked_only_for_new_incidents() {
        let r = registry();
        let mut a = alert(AlertKind::Fall, "home", None);
        a.lifecycle = Lifecycle::Update;
        assert!(route(&r, &a).is_empty(), "a plain update does not");
        a.urgent = true;
        a.message = Some("long lie: still down 5 min after the fall: person down".into());
        assert_eq!(route(&r, &a).len(), 1);
        let text = text_of(&a);
        assert!(text.starts_with("URGENT fall (ESCALATED) at"), "{text}");
        assert!(text.contains("long lie: still down 5 min"), "{text}");
        // Still only those who want the kind and watch the camera.
        let mut elsewhere = a.clone();
        elsewhere.camera.id = CameraId::new("neighbour").unwrap();
        assert!(route(&r, &elsewhere).is_empty());
    }

    #[test]
    fn the_text_says_what_where_and_when() {
        let mut a = alert(AlertKind::Fall, "home", None);
        a.camera = CameraRef {
            id: a.camera.id.clone(),
            name: "Zhang's kitchen".into(),
            village: "Xiaohe".into(),
        };
        a.message = Some("person down for 2.4 s".into());
        assert_eq!(
            text_of(&a),
            "URGENT fall at Zhang's kitchen (Xiaohe), 2026-11-23 18:51 UTC: person down for 2.4 s"
        );
        let r = registry();
        let e = Event::from(a.clone());
        let n = Notification::new(&r.guardians[0], &e);
        assert_eq!(n.notification_id, format!("{}/elder-son", a.id));
        let v = serde_json::to_value(&n).unwrap();
        assert_eq!(v["guardian"]["id"], "elder-son");
        assert_eq!(v["alert"]["id"], a.id.as_str());
        assert!(v.get("status").is_none());
        assert!(v["guardian"].get("contact").is_none());
    }

    #[test]
    fn tamper_events_go_only_to_those_who_asked_for_them_on_their_cameras() {
        let r = registry();
        for (camera, want) in [
            ("gate", vec![2]),
            ("village-pond", vec![2]),
            ("home", vec![]),
        ] {
            for tampered in [true, false] {
                let e = status(camera, tampered, "covered");
                assert_eq!(super::route(&r, &e), want, "{camera} {tampered}");
            }
        }
        // An outage, a heartbeat: not asked for.
        let Event::Status(mut s) = status("gate", true, "covered") else {
            unreachable!()
        };
        for kind in [StatusKind::CameraOffline, StatusKind::CameraHeartbeat] {
            s.kind = kind;
            assert!(super::route(&r, &s.clone().into()).is_empty(), "{kind:?}");
        }
        // The maintenance guardian gets no falls or zone alerts of their cameras.
        assert!(route(&r, &alert(AlertKind::Fall, "gate", None)).is_empty());
        assert_eq!(
            route(
                &r,
                &alert(AlertKind::PersonInZone, "village-pond", Some("pond"))
            ),
            vec![1]
        );
    }

    #[test]
    fn a_tamper_notification_carries_the_status_event_and_says_what_where_and_when() {
        let r = registry();
        let e = status("gate", true, "covered");
        let n = Notification::new(&r.guardians[2], &e);
        assert_eq!(
            n.text,
            "camera tampered (covered) at East gate (Xiaohe), 2026-11-23 18:51 UTC"
        );
        assert_eq!(n.notification_id, format!("{}/tech", e.id()));
        let v = serde_json::to_value(&n).unwrap();
        assert_eq!(v["status"]["kind"], "camera_tampered");
        assert_eq!(v["status"]["reason"], "covered");
        assert!(v.get("alert").is_none());
        assert_eq!(priority(&e), (false, Severity::Warning));
        let e = status("gate", false, "covered");
        assert_eq!(
            Notification::new(&r.guardians[2], &e).text,
            "camera restored (covered) at East gate (Xiaohe), 2026-11-23 18:51 UTC"
        );
        assert_eq!(priority(&e), (false, Severity::Info));
    }
}
