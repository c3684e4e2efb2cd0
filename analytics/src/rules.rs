//! Alert rules: detections of one frame in, at most one alert out. Pure logic, no I/O and no
//! clock reads: the frame's time comes in as an argument, so a replay at any speed raises the
//! same alerts as the live camera did.

use std::collections::HashMap;

use serde::Deserialize;
use sharpeyes_core::{Alert, AlertKind, CameraId, Detection, UnixMillis};

/// Settings of [`PersonPresenceRule`].
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PersonPresenceConfig {
    /// Class names (as in the model manifest) that count as a person. Default: `["person"]`.
    pub classes: Vec<String>,
    /// A matching detection must score at least this (0-1) to count. Default: 0.5.
    pub min_score: f32,
    /// After an alert, the same camera raises no new one for this many milliseconds of frame
    /// time. Default: 10000.
    pub cooldown_ms: i64,
}

impl Default for PersonPresenceConfig {
    fn default() -> Self {
        Self {
            classes: vec!["person".to_owned()],
            min_score: 0.5,
            cooldown_ms: 10_000,
        }
    }
}

/// Raises [`AlertKind::PersonDetected`] when a frame holds at least one person box scoring at
/// least `min_score`, at most once per `cooldown_ms` per camera.
///
/// State is one "last alert time" per camera; cameras never affect each other. The cooldown
/// counts from the last *raised* alert, not from the last frame with a person, so a person
/// standing in view for a minute with a 10 s cooldown gives 6-7 alerts.
///
/// If a camera's time goes backwards (a replay restarted, a camera clock corrected), the
/// cooldown is not applied to the earlier time: the alert is raised and the new time becomes the
/// reference. Otherwise a clock jump back by an hour would silence that camera for an hour.
#[derive(Debug, Clone)]
pub struct PersonPresenceRule {
    config: PersonPresenceConfig,
    last_alert: HashMap<CameraId, UnixMillis>,
}

impl PersonPresenceRule {
    pub fn new(config: PersonPresenceConfig) -> Self {
        Self {
            config,
            last_alert: HashMap::new(),
        }
    }

    pub fn config(&self) -> &PersonPresenceConfig {
        &self.config
    }

    /// Looks at the detections of one frame of `camera` taken at `time`.
    ///
    /// `frame_size` is the (width, height) of the source picture the boxes are in. Returns the
    /// alert (its boxes are the matching detections only) or `None` when nothing matched or the
    /// camera is cooling down.
    pub fn evaluate(
        &mut self,
        camera: &CameraId,
        time: UnixMillis,
        frame_size: (u32, u32),
        detections: &[Detection],
    ) -> Option<Alert> {
        let matching: Vec<Detection> = detections
            .iter()
            .filter(|d| {
                d.score >= self.config.min_score
                    && self
                        .config
                        .classes
                        .iter()
                        .any(|c| c.as_str() == &*d.class_name)
            })
            .cloned()
            .collect();
        if matching.is_empty() {
            return None;
        }
        if let Some(last) = self.last_alert.get(camera) {
            let since = time.0 - last.0;
            if (0..self.config.cooldown_ms).contains(&since) {
                tracing::trace!(camera = %camera, since_ms = since, "person alert cooling down");
                return None;
            }
        }
        self.last_alert.insert(camera.clone(), time);
        Some(Alert::new(
            AlertKind::PersonDetected,
            camera.clone(),
            time,
            &matching,
            frame_size,
        ))
    }

    /// Forgets a camera's cooldown (when the camera is removed from the configuration).
    pub fn forget(&mut self, camera: &CameraId) {
        self.last_alert.remove(camera);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sharpeyes_core::BBox;

    use super::*;

    fn det(class: &str, score: f32) -> Detection {
        Detection {
            class_id: if class == "person" { 0 } else { 2 },
            class_name: Arc::from(class),
            score,
            bbox: BBox {
                x1: 10.0,
                y1: 20.0,
                x2: 110.0,
                y2: 220.0,
            },
            keypoints: Vec::new(),
        }
    }

    fn cam(id: &str) -> CameraId {
        CameraId::new(id).expect("valid test camera id")
    }

    fn rule(cooldown_ms: i64) -> PersonPresenceRule {
        PersonPresenceRule::new(PersonPresenceConfig {
            cooldown_ms,
            ..Default::default()
        })
    }

    const SIZE: (u32, u32) = (1280, 720);

    #[test]
    fn person_above_threshold_raises_alert_with_only_matching_boxes() {
        let mut r = rule(1000);
        let dets = [
            det("person", 0.9),
            det("car", 0.95),
            det("person", 0.2),
            det("person", 0.6),
        ];
        let a = r
            .evaluate(&cam("gate"), UnixMillis(5_000), SIZE, &dets)
            .expect("alert");
        assert_eq!(a.kind, AlertKind::PersonDetected);
        assert_eq!(a.camera.id, cam("gate"));
        assert_eq!(a.event_millis(), Some(UnixMillis(5_000)));
        assert_eq!(a.objects.len(), 2);
        assert!(
            a.objects
                .iter()
                .all(|b| b.class == "person" && b.score >= 0.5)
        );
        assert_eq!(a.score, 0.9);
        assert_eq!((a.frame.width, a.frame.height), SIZE);
    }

    #[test]
    fn low_scores_are_ignored() {
        let mut r = rule(1000);
        assert!(
            r.evaluate(&cam("gate"), UnixMillis(0), SIZE, &[det("person", 0.49)])
                .is_none()
        );
        // Exactly at the threshold counts.
        assert!(
            r.evaluate(&cam("gate"), UnixMillis(1), SIZE, &[det("person", 0.5)])
                .is_some()
        );
    }

    #[test]
    fn non_person_classes_are_ignored() {
        let mut r = rule(1000);
        let dets = [det("car", 0.99), det("dog", 0.99)];
        assert!(
            r.evaluate(&cam("gate"), UnixMillis(0), SIZE, &dets)
                .is_none()
        );
        assert!(r.evaluate(&cam("gate"), UnixMillis(0), SIZE, &[]).is_none());
    }

    #[test]
    fn configured_classes_replace_person() {
        let mut r = PersonPresenceRule::new(PersonPresenceConfig {
            classes: vec!["pedestrian".into(), "cyclist".into()],
            ..Default::default()
        });
        assert!(
            r.evaluate(&cam("a"), UnixMillis(0), SIZE, &[det("person", 0.9)])
                .is_none()
        );
        assert!(
            r.evaluate(&cam("a"), UnixMillis(0), SIZE, &[det("cyclist", 0.9)])
                .is_some()
        );
    }

    #[test]
    fn cooldown_holds_until_exactly_its_end() {
        let mut r = rule(10_000);
        let c = cam("gate");
        let p = [det("person", 0.9)];
        assert!(r.evaluate(&c, UnixMillis(100_000), SIZE, &p).is_some());
        assert!(r.evaluate(&c, UnixMillis(100_000), SIZE, &p).is_none());
        assert!(r.evaluate(&c, UnixMillis(109_999), SIZE, &p).is_none());
        assert!(r.evaluate(&c, UnixMillis(110_000), SIZE, &p).is_some());
        assert!(r.evaluate(&c, UnixMillis(119_999), SIZE, &p).is_none());
    }

    #[test]
    fn frames_without_persons_do_not_extend_the_cooldown() {
        let mut r = rule(1000);
        let c = cam("gate");
        assert!(
            r.evaluate(&c, UnixMillis(0), SIZE, &[det("person", 0.9)])
                .is_some()
        );
        assert!(
            r.evaluate(&c, UnixMillis(500), SIZE, &[det("person", 0.1)])
                .is_none()
        );
        assert!(
            r.evaluate(&c, UnixMillis(999), SIZE, &[det("person", 0.9)])
                .is_none()
        );
        assert!(
            r.evaluate(&c, UnixMillis(1000), SIZE, &[det("person", 0.9)])
                .is_some()
        );
    }

    #[test]
    fn cameras_cool_down_independently() {
        let mut r = rule(10_000);
        let p = [det("person", 0.9)];
        assert!(r.evaluate(&cam("a"), UnixMillis(0), SIZE, &p).is_some());
        assert!(r.evaluate(&cam("b"), UnixMillis(1), SIZE, &p).is_some());
        assert!(r.evaluate(&cam("a"), UnixMillis(2), SIZE, &p).is_none());
        assert!(r.evaluate(&cam("b"), UnixMillis(3), SIZE, &p).is_none());
        assert!(
            r.evaluate(&cam("a"), UnixMillis(10_000), SIZE, &p)
                .is_some()
        );
        assert!(
            r.evaluate(&cam("b"), UnixMillis(10_000), SIZE, &p)
                .is_none()
        );
        assert!(
            r.evaluate(&cam("b"), UnixMillis(10_001), SIZE, &p)
                .is_some()
        );
    }

    #[test]
    fn time_going_backwards_does_not_silence_a_camera() {
        let mut r = rule(10_000);
        let c = cam("replay");
        let p = [det("person", 0.9)];
        assert!(r.evaluate(&c, UnixMillis(3_600_000), SIZE, &p).is_some());
        assert!(r.evaluate(&c, UnixMillis(0), SIZE, &p).is_some());
        assert!(r.evaluate(&c, UnixMillis(5_000), SIZE, &p).is_none());
    }

    #[test]
    fn zero_cooldown_alerts_on_every_matching_frame() {
        let mut r = rule(0);
        let p = [det("person", 0.9)];
        assert!(r.evaluate(&cam("a"), UnixMillis(7), SIZE, &p).is_some());
        assert!(r.evaluate(&cam("a"), UnixMillis(7), SIZE, &p).is_some());
    }

    #[test]
    fn forget_clears_a_cameras_cooldown() {
        let mut r = rule(10_000);
        let p = [det("person", 0.9)];
        assert!(r.evaluate(&cam("a"), UnixMillis(0), SIZE, &p).is_some());
        r.forget(&cam("a"));
        assert!(r.evaluate(&cam("a"), UnixMillis(1), SIZE, &p).is_some());
    }

    #[test]
    fn config_defaults_apply_to_missing_fields() {
        let c: PersonPresenceConfig = serde_json::from_str(r#"{"min_score":0.7}"#).expect("parses");
        assert_eq!(c.classes, vec!["person".to_owned()]);
        assert_eq!(c.min_score, 0.7);
        assert_eq!(c.cooldown_ms, 10_000);
        assert!(serde_json::from_str::<PersonPresenceConfig>(r#"{"min_scor":0.7}"#).is_err());
    }
}
