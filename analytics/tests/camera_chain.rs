//! One camera's chain, tracker → rules → incidents, fed made-up detections at made-up times: the
//! whole path from a detector's boxes to the alerts, with no model, no video and no clock. Each
//! test is a short scene at 5 frames a second.

use std::sync::Arc;

use sharpeyes_analytics::{
    CameraAnalysis, CameraSpec, DailyWindow, DwellSpec, FallConfig, IncidentConfig, Polygon,
    RuleSettings, TrackerConfig, ZoneSpec,
};
use sharpeyes_core::{Alert, AlertKind, BBox, CameraId, Detection, Lifecycle, UnixMillis};

const SIZE: (u32, u32) = (640, 480);
const FRAME_MS: i64 = 200;
/// Some day in 2026, midday UTC.
const T0: i64 = 1_780_000_000_000;

fn settings() -> RuleSettings {
    RuleSettings {
        fall: Some(FallConfig::default()),
        incidents: IncidentConfig::default(),
        tracker: TrackerConfig::default(),
        utc_offset_min: 0,
        persons: vec!["person".into()],
        vehicles: vec!["car".into()],
    }
}

fn det(class: &str, class_id: u32, (x1, y1, x2, y2): (f32, f32, f32, f32)) -> Detection {
    Detection {
        class_id,
        class_name: Arc::from(class),
        score: 0.9,
        bbox: BBox { x1, y1, x2, y2 },
        keypoints: Vec::new(),
    }
}

fn person(b: (f32, f32, f32, f32)) -> Detection {
    det("person", 0, b)
}

/// A scene: the camera stepped frame by frame, every alert kept with its frame time.
struct Scene {
    cam: CameraAnalysis,
    t: i64,
    alerts: Vec<(i64, Alert)>,
}

impl Scene {
    fn new(spec: CameraSpec) -> Self {
        let id = CameraId::new("pond-north").expect("id");
        Self {
            cam: CameraAnalysis::new(&id, &settings(), &spec),
            t: T0,
            alerts: Vec::new(),
        }
    }

    /// `frames` frames showing `dets` each.
    fn show(&mut self, frames: usize, dets: &[Detection]) {
        for _ in 0..frames {
            self.frame(dets);
        }
    }

    fn frame(&mut self, dets: &[Detection]) {
        let outs = self.cam.step(UnixMillis(self.t), SIZE, dets);
        self.alerts
            .extend(outs.into_iter().map(|o| (self.t - T0, o.alert)));
        self.t += FRAME_MS;
    }

    /// (ms since the start, kind, lifecycle, incident) of every alert.
    fn log(&self) -> Vec<(i64, AlertKind, Lifecycle, String)> {
        self.alerts
            .iter()
            .map(|(t, a)| (*t, a.kind, a.lifecycle, a.incident.clone()))
            .collect()
    }

    fn of(&self, kind: AlertKind) -> Vec<(i64, Lifecycle, String)> {
        self.log()
            .into_iter()
            .filter(|a| a.1 == kind)
            .map(|(t, _, l, i)| (t, l, i))
            .collect()
    }
}

fn pond() -> CameraSpec {
    CameraSpec {
        fall: false,
        long_lie_ms: None,
        zones: vec![ZoneSpec {
            name: "pond".into(),
            // The lower half of the picture.
            polygon: Polygon::new(vec![(0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)]),
            person_in_zone: Some(DwellSpec {
                min_ms: 3000,
                hours: None,
            }),
            loitering: None,
            vehicle_in_zone: None,
            inactivity: None,
        }],
    }
}

#[test]
fn a_child_at_the_pond_is_one_incident_from_start_to_end() {
    let mut s = Scene::new(pond());
    // Standing above the pond (feet at y 200): nothing.
    s.show(25, &[person((300.0, 80.0, 340.0, 200.0))]);
    assert!(s.alerts.is_empty(), "{:?}", s.log());
    // Feet in the pond zone (y 400) for 6 s: one `new` after the 3 s dwell.
    s.show(30, &[person((300.0, 280.0, 340.0, 400.0))]);
    let p = s.of(AlertKind::PersonInZone);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].1, Lifecycle::New);
    let dwell = p[0].0 - 25 * FRAME_MS;
    assert!(
        (3000..=3600).contains(&dwell),
        "raised {dwell} ms after entering"
    );
    let alert = &s.alerts[0].1;
    assert_eq!(alert.zone.as_deref(), Some("pond"));
    assert_eq!(alert.objects.len(), 1, "the child is in the alert");
    // Gone: the incident ends once the rule has not held for end_after (5 s), same id.
    s.show(40, &[]);
    let p = s.of(AlertKind::PersonInZone);
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!((p[1].1, &p[1].2), (Lifecycle::End, &p[0].2));
    // Back within the 30 s cooldown: no new incident.
    s.show(25, &[person((300.0, 280.0, 340.0, 400.0))]);
    assert_eq!(s.of(AlertKind::PersonInZone).len(), 2, "{:?}", s.log());
}

#[test]
fn a_car_in_a_no_vehicle_zone_and_a_person_there_are_told_apart() {
    let spec = CameraSpec {
        fall: false,
        long_lie_ms: None,
        zones: vec![ZoneSpec {
            name: "footbridge".into(),
            polygon: Polygon::new(vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]),
            person_in_zone: None,
            loitering: None,
            vehicle_in_zone: Some(DwellSpec {
                min_ms: 2000,
                hours: None,
            }),
            inactivity: None,
        }],
    };
    let mut s = Scene::new(spec);
    s.show(25, &[person((100.0, 100.0, 140.0, 220.0))]);
    assert!(
        s.alerts.is_empty(),
        "a person is not a vehicle: {:?}",
        s.log()
    );
    s.show(
        20,
        &[
            person((100.0, 100.0, 140.0, 220.0)),
            det("car", 2, (300.0, 250.0, 460.0, 330.0)),
        ],
    );
    let v = s.of(AlertKind::VehicleInZone);
    assert_eq!(v.len(), 1, "{:?}", s.log());
    assert_eq!(s.alerts[0].1.objects.len(), 1, "only the car is listed");
    assert_eq!(s.alerts[0].1.objects[0].class, "car");
}

/// A person standing at `x`, then falling to the floor over `fall_frames` frames (boxes in
/// between), then lying there.
fn falling(s: &mut Scene, fall_frames: usize, lying_frames: usize) {
    let up = (300.0, 100.0, 350.0, 340.0); // 50 x 240: upright
    let down = (230.0, 290.0, 420.0, 350.0); // 190 x 60: lying
    s.show(15, &[person(up)]);
    for i in 1..=fall_frames {
        let k = i as f32 / fall_frames as f32;
        let lerp = |a: f32, b: f32| a + (b - a) * k;
        s.frame(&[person((
            lerp(up.0, down.0),
            lerp(up.1, down.1),
            lerp(up.2, down.2),
            lerp(up.3, down.3),
        ))]);
    }
    s.show(lying_frames, &[person(down)]);
}

fn fall_only() -> CameraSpec {
    CameraSpec {
        fall: true,
        zones: Vec::new(),
        long_lie_ms: None,
    }
}

#[test]
fn a_fast_fall_then_lying_is_one_fall_incident_and_getting_up_ends_it() {
    let mut s = Scene::new(fall_only());
    // Down within a second, then lying for 4 s: confirmed after confirm (2 s).
    falling(&mut s, 4, 20);
    let f = s.of(AlertKind::Fall);
    assert_eq!(f.len(), 1, "{:?}", s.log());
    assert_eq!(f[0].1, Lifecycle::New);
    // Up again: the incident ends, under the same id.
    s.show(40, &[person((300.0, 100.0, 350.0, 340.0))]);
    let f = s.of(AlertKind::Fall);
    assert_eq!(f.len(), 2, "{:?}", s.log());
    assert_eq!((f[1].1, &f[1].2), (Lifecycle::End, &f[0].2));
}

#[test]
fn lying_down_slowly_is_not_a_fall() {
    let mut s = Scene::new(fall_only());
    // The same change of shape over 12 s (60 frames): someone lying down on a bed. (Without
    // keypoints the box passes from upright (taller than 1.6:1) to down (wider than 1.2:1) in
    // about a quarter of the change: 3 s here, more than max_fall (2 s).)
    falling(&mut s, 60, 30);
    assert!(s.of(AlertKind::Fall).is_empty(), "{:?}", s.log());
}

#[test]
fn a_fall_saved_mid_incident_continues_after_a_restart_with_no_second_new() {
    let mut s = Scene::new(fall_only());
    falling(&mut s, 4, 20);
    let f = s.of(AlertKind::Fall);
    assert_eq!(f.len(), 1, "{:?}", s.log());
    let saved = serde_json::to_string(&s.cam.state()).expect("state serializes");

    // The process restarts 3 s later; the person is still on the floor, then gets up.
    let mut after = Scene::new(fall_only());
    after.t = s.t + 3000;
    after
        .cam
        .restore(serde_json::from_str(&saved).expect("state parses"));
    after.show(20, &[person((230.0, 290.0, 420.0, 350.0))]);
    after.show(40, &[person((300.0, 100.0, 350.0, 340.0))]);
    let g = after.of(AlertKind::Fall);
    assert!(
        g.iter().all(|a| a.1 != Lifecycle::New),
        "a second new for the same fall: {g:?}"
    );
    assert!(
        g.iter().any(|a| a.1 == Lifecycle::End && a.2 == f[0].2),
        "the fall ends under its id: {g:?}"
    );
}

#[test]
fn a_daily_window_only_watches_its_hours() {
    let mut spec = pond();
    // 00:00-06:00 UTC only; the scene is at midday.
    spec.zones[0].person_in_zone = Some(DwellSpec {
        min_ms: 1000,
        hours: Some(DailyWindow::parse("00:00-06:00").expect("window")),
    });
    let mut s = Scene::new(spec);
    s.show(30, &[person((300.0, 280.0, 340.0, 400.0))]);
    assert!(s.alerts.is_empty(), "{:?}", s.log());
}
