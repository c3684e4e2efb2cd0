//! Which guardians an alert goes to, and what they are sent. Pure.

use serde::Serialize;
use sharpeyes_core::{Alert, Severity};

use super::registry::{Guardian, Registry};

/// Version of the notification body (`schemas/guardian-notification.v1.schema.json`).
pub const NOTIFICATION_SCHEMA_VERSION: u32 = 1;

/// Whether `g` is to be told about `alert`: its camera is one `g` watches (and its zone one of
/// the watched zones, when the watch names zones), and `g` wants its kind and lifecycle.
pub fn wants(g: &Guardian, alert: &Alert) -> bool {
    g.kinds.contains(&alert.kind)
        && g.lifecycles.contains(&alert.lifecycle)
        && g.watch.iter().any(|w| {
            w.camera == alert.camera.id
                && (w.zones.is_empty() || alert.zone.as_ref().is_some_and(|z| w.zones.contains(z)))
        })
}

/// The guardians (indices into `registry.guardians`) `alert` goes to.
pub fn route(registry: &Registry, alert: &Alert) -> Vec<usize> {
    registry
        .guardians
        .iter()
        .enumerate()
        .filter(|(_, g)| wants(g, alert))
        .map(|(i, _)| i)
        .collect()
}

/// The body POSTed to a guardian's webhook.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Notification<'a> {
    pub schema_version: u32,
    /// `<alert id>/<guardian id>`: the dedup key, the same on every retry.
    pub notification_id: String,
    pub guardian: GuardianOut<'a>,
    pub text: String,
    pub alert: &'a Alert,
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
    pub fn new(g: &'a Guardian, alert: &'a Alert) -> Self {
        Self {
            schema_version: NOTIFICATION_SCHEMA_VERSION,
            notification_id: notification_id(&alert.id, &g.id),
            guardian: GuardianOut {
                id: &g.id,
                name: &g.name,
                contact: g.contact.as_deref(),
            },
            text: text_of(alert),
            alert,
        }
    }
}

/// One line for a phone: `URGENT fall at East gate (Xiaohe), 2026-11-23 18:51 UTC: person down
/// for 2.4 s`.
pub fn text_of(alert: &Alert) -> String {
    let urgency = match alert.severity {
        Severity::Critical => "URGENT ",
        Severity::Warning | Severity::Info => "",
    };
    let what = alert.kind.as_str().replace('_', " ");
    let stage = match alert.lifecycle {
        sharpeyes_core::Lifecycle::New => "",
        sharpeyes_core::Lifecycle::Update => " (still going on)",
        sharpeyes_core::Lifecycle::End => " (over)",
    };
    let place = if alert.camera.village.is_empty() {
        alert.camera.name.clone()
    } else {
        format!("{} ({})", alert.camera.name, alert.camera.village)
    };
    let zone = alert
        .zone
        .as_deref()
        .map(|z| format!(", zone {z}"))
        .unwrap_or_default();
    // "2026-11-23T18:51:00.123Z" -> "2026-11-23 18:51 UTC"
    let when = match alert.event_time.get(..16) {
        Some(t) => format!("{} UTC", t.replacen('T', " ", 1)),
        None => alert.event_time.clone(),
    };
    let detail = alert
        .message
        .as_deref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    format!("{urgency}{what}{stage} at {place}{zone}, {when}{detail}")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use sharpeyes_core::{AlertKind, CameraId, CameraRef, Lifecycle, UnixMillis};

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
"#,
            Path::new("g.toml"),
        )
        .expect("valid")
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
        let n = Notification::new(&r.guardians[0], &a);
        assert_eq!(n.notification_id, format!("{}/elder-son", a.id));
        let v = serde_json::to_value(&n).unwrap();
        assert_eq!(v["guardian"]["id"], "elder-son");
        assert_eq!(v["alert"]["id"], a.id.as_str());
        assert!(v["guardian"].get("contact").is_none());
    }
}
