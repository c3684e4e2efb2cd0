//! The per-frame work shared by `demo` (live cameras) and `replay` (files): run the model on a
//! batch of admitted frames (`live::admit`), apply each camera's rules (`sharpeyes_analytics`),
//! write snapshots and the rule state. `Analyzer` does I/O (ONNX Runtime, files). Alerts then go to
//! `crate::delivery`.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
pub use sharpeyes_analytics::{CameraAnalysis, RuleSettings, RuleTime, SavedCamera};
use sharpeyes_analytics::{
    CameraSpec, DwellSpec, InactivitySpec, PersonPresenceConfig, PersonPresenceRule, Polygon,
    ZoneSpec,
};
use sharpeyes_core::{
    Alert, CameraId, CameraRef, Canvas, Clock, Detector, Frame, Lifecycle, ModelRef, Severity,
    SystemClock, UnixMillis,
};
use sharpeyes_delivery::{Mark, SnapshotSweeper, SnapshotWriter};
use sharpeyes_inference::{DetectorOptions, OrtDetector, PoseRun, PoseStage, crop_frame};

use crate::cameras::{Rule, Zone};
use crate::config::PipelineConfig;
use crate::models::ModelStore;

/// Told each rule state written: (camera, JSON, urgent). See [`Analyzer::set_state_mirror`].
pub type StateMirror = Box<dyn FnMut(&CameraId, &[u8], bool) + Send>;

/// A camera's state is written at most this often, unless an incident opened or ended.
const SAVE_EVERY: Duration = Duration::from_secs(2);

/// Where `camera`'s state lives under `dir`.
pub fn state_path(dir: &std::path::Path, camera: &CameraId) -> std::path::PathBuf {
    dir.join(format!("{camera}.json"))
}

/// Writes `bytes` to `path` so that a crash leaves the old file or the new one, never half of
/// one: a temporary file beside it, fsynced, renamed over it, the directory fsynced.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Reads `camera`'s saved state from `dir`; None when there is none or it cannot be read (a
/// warning: the camera starts with nothing known).
fn load_state(dir: &std::path::Path, camera: &CameraId) -> Option<SavedCamera> {
    let path = state_path(dir, camera);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(camera = %camera, path = %path.display(), error = %e, "rule state not read; starting with none");
            return None;
        }
    };
    serde_json::from_slice(&text)
        .inspect_err(|e| tracing::warn!(camera = %camera, path = %path.display(), error = %e, "rule state unreadable; starting with none"))
        .ok()
}

/// How often the snapshot sweeper looks for expired snapshots.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// Model + rules + snapshots.
pub struct Analyzer {
    detector: OrtDetector,
    /// The detector and pose model as alerts name them.
    model: ModelRef,
    pose_model: Option<ModelRef>,
    /// Keypoints for the people found, when `[pose]` is configured.
    pose: Option<PoseStage>,
    /// What the pose stage did, summed.
    pub pose_runs: PoseRun,
    person: Option<PersonPresenceRule>,
    snapshots: SnapshotWriter,
    /// Deletes snapshots older than `output.snapshot_retention_days`, hourly, while it lives.
    _sweeper: Option<SnapshotSweeper>,
    /// Event clips (`[clips]`): a `new` alert of a camera with a ring starts its clip.
    clips: Option<std::sync::Arc<crate::clips::LiveClips>>,
    rules: RuleSettings,
    /// Per camera: tracker, rules, open incidents. Created at a camera's first frame.
    cameras: HashMap<CameraId, CameraAnalysis>,
    /// Per camera: which rules and zones (`set_camera`); cameras not here run the defaults.
    camera_rules: HashMap<CameraId, CameraRules>,
    /// Names and villages of cameras without a camera file (`name_camera`, the demo's).
    names: HashMap<CameraId, CameraRef>,
    /// Where each camera's rule state is saved (`set_state_dir`); None: nowhere.
    state_dir: Option<std::path::PathBuf>,
    /// Per camera: the state last written and when.
    written: HashMap<CameraId, (SavedCamera, std::time::Instant)>,
    /// Also told each state written (`set_state_mirror`): a cluster worker's etcd mirror.
    mirror: Option<StateMirror>,
    /// States to take up when the camera's analysis is next created (a hot reload's).
    carried: HashMap<CameraId, SavedCamera>,
    pub frames_analysed: u64,
}

/// What [`Analyzer::analyze`] found in one batch of frames.
#[derive(Debug, Default)]
pub struct Analysis {
    /// The alerts raised, in frame order.
    pub alerts: Vec<Alert>,
    /// Cameras whose frames had a confident detection or an open incident (adaptive decode
    /// keeps them in full decode).
    pub active: Vec<CameraId>,
    /// Cameras whose frames had a person at the tracker's high score (the bench times
    /// appearances with it).
    pub persons: Vec<CameraId>,
}

impl Analyzer {
    pub fn new(config: &PipelineConfig, store: &ModelStore) -> anyhow::Result<Self> {
        crate::runtime::init_onnxruntime()?;
        let manifest = store.manifest(&config.model)?;
        let path = store.ensure(&manifest)?;
        let options = DetectorOptions {
            score_threshold: config.score_threshold,
            execution_provider: config.execution_provider,
            intra_op_threads: config.intra_op_threads,
            inter_op_threads: config.inter_op_threads,
            ..DetectorOptions::default()
        };
        let persons = manifest.person_classes.clone();
        let vehicles = manifest.vehicle_classes.clone();
        let model = manifest.model_ref();
        let detector = OrtDetector::new(manifest, &path, options.clone())?;
        let mut pose_model = None;
        let pose = match &config.pose {
            Some(p) => {
                let manifest = store
                    .manifest(&p.model)
                    .with_context(|| format!("pose.model = {:?}", p.model))?;
                if manifest.format != sharpeyes_inference::ModelFormat::UltralyticsPose {
                    anyhow::bail!(
                        "pose.model = {:?}: format {} has no keypoints; a pose model \
                         (format ultralytics-pose) is needed",
                        p.model,
                        manifest.format.as_str()
                    );
                }
                let path = store.ensure(&manifest)?;
                pose_model = Some(manifest.model_ref());
                let options = DetectorOptions {
                    score_threshold: None,
                    ..options
                };
                let pose = OrtDetector::new(manifest, &path, options)?;
                tracing::info!(model = %p.model, mode = p.mode.as_str(), "pose stage on");
                Some(PoseStage::new(pose, p.mode, p.min_person_score)?)
            }
            None => None,
        };
        let person = config.person_rule.as_ref().map(|r| {
            PersonPresenceRule::new(PersonPresenceConfig {
                classes: vec!["person".into()],
                min_score: r.min_score,
                cooldown_ms: r.cooldown_ms,
            })
        });
        Ok(Self {
            detector,
            model,
            pose_model,
            pose,
            pose_runs: PoseRun::default(),
            person,
            snapshots: SnapshotWriter::new(&config.snapshots),
            _sweeper: match config.snapshot_retention {
                Some(max_age) => Some(
                    SnapshotSweeper::start(&config.snapshots, max_age, SWEEP_EVERY)
                        .context("starting the snapshot retention sweeper")?,
                ),
                None => None,
            },
            clips: match &config.clips {
                Some(c) => Some(std::sync::Arc::new(
                    crate::clips::LiveClips::start(c, config.snapshot_retention)
                        .context("starting the clip writer")?,
                )),
                None => None,
            },
            rules: RuleSettings {
                fall: config.fall.clone(),
                incidents: config.incidents.clone(),
                tracker: config.tracker.clone(),
                utc_offset_min: config.utc_offset_min,
                persons,
                vehicles,
            },
            cameras: HashMap::new(),
            camera_rules: HashMap::new(),
            names: HashMap::new(),
            state_dir: None,
            written: HashMap::new(),
            mirror: None,
            carried: HashMap::new(),
            frames_analysed: 0,
        })
    }

    /// The event clips (None when `clips.enabled = false`): the live pipeline gives each camera
    /// its ring from them, delivery subscribes to their [`sharpeyes_core::ClipReady`]s.
    pub fn clips(&self) -> Option<std::sync::Arc<crate::clips::LiveClips>> {
        self.clips.clone()
    }

    /// The person and vehicle detector (benchmarks measure its raw ceiling on the same session).
    pub fn detector(&mut self) -> &mut OrtDetector {
        &mut self.detector
    }

    /// The canvas frames should be letterboxed into as they are decoded: the detector's input,
    /// padded as the detector was trained, or the larger of the detector's and the pose model's
    /// inputs, so neither sees a picture upscaled from a smaller one. A model whose input
    /// differs gets the frame resampled (`crop_frame`, ~1 ms).
    pub fn canvas(&self) -> Canvas {
        let (w, h) = self.detector.input_size();
        let pad = self.detector.manifest().input.pad_value;
        match &self.pose {
            Some(p) => {
                let (pw, ph) = p.detector().input_size();
                Canvas::new(w.max(pw), h.max(ph), pad)
            }
            None => Canvas::new(w, h, pad),
        }
    }

    /// Runs the batch and returns the alerts it raised, snapshots written.
    pub fn analyze(&mut self, frames: &[Frame]) -> anyhow::Result<Analysis> {
        let (w, h) = self.detector.input_size();
        let mut detections = if frames.iter().all(|f| (f.width, f.height) == (w, h)) {
            self.detector.detect(frames)?
        } else {
            let pad = self.detector.manifest().input.pad_value;
            let resized = frames
                .iter()
                .map(|f| crop_frame(f, None, w, h, pad).map(|c| c.frame))
                .collect::<Result<Vec<_>, _>>()?;
            self.detector.detect(&resized)?
        };
        if let Some(pose) = &mut self.pose {
            let manifest = self.detector.manifest();
            let run = pose.attach(frames, &mut detections, |d| manifest.is_person(d.class_id))?;
            self.pose_runs.images += run.images;
            self.pose_runs.persons += run.persons;
            self.pose_runs.matched += run.matched;
        }
        self.frames_analysed += frames.len() as u64;
        let mut active = Vec::new();
        let mut persons = Vec::new();
        let confident = self.rules.tracker.high_score;
        let manifest = self.detector.manifest();
        for (frame, dets) in frames.iter().zip(&detections) {
            if dets.iter().any(|d| d.score >= confident) {
                active.push(frame.camera.clone());
            }
            if dets
                .iter()
                .any(|d| d.score >= confident && manifest.is_person(d.class_id))
            {
                persons.push(frame.camera.clone());
            }
        }
        let mut alerts = Vec::new();
        for (frame, dets) in frames.iter().zip(&detections) {
            let size = (frame.letterbox.src_width, frame.letterbox.src_height);
            let person_on = self
                .camera_rules
                .get(&frame.camera)
                .is_none_or(|r| r.rules.contains(&Rule::PersonDetected));
            if let Some(rule) = &mut self.person
                && person_on
                && let Some(mut alert) = rule.evaluate(&frame.camera, frame.time, size, dets)
            {
                let marks: Vec<Mark> = dets
                    .iter()
                    .filter(|d| d.score >= rule.config().min_score)
                    .map(|d| Mark::from_detection(d, colour_of(alert.severity)))
                    .collect();
                alert.snapshot = snapshot(&self.snapshots, &alert.id, frame, &marks);
                if let Some(clips) = &self.clips {
                    clips.on_alert(&mut alert);
                }
                self.stamp(&mut alert);
                alerts.push(alert);
            }
            let cam = self.camera(&frame.camera);
            let outs = cam.step(frame.time, size, dets);
            let busy = cam.busy();
            for mut out in outs {
                if out.alert.lifecycle != Lifecycle::End {
                    let marks: Vec<Mark> = out
                        .tracks
                        .iter()
                        .map(|t| Mark {
                            bbox: t.bbox,
                            label: Some(Mark::label_text(&t.class_name, t.score, Some(t.id))),
                            colour: colour_of(out.alert.severity),
                            keypoints: t.keypoints.clone(),
                        })
                        .collect();
                    out.alert.snapshot = snapshot(&self.snapshots, &out.alert.id, frame, &marks);
                }
                if let Some(clips) = &self.clips {
                    clips.on_alert(&mut out.alert);
                }
                self.stamp(&mut out.alert);
                alerts.push(out.alert);
            }
            if busy && !active.contains(&frame.camera) {
                active.push(frame.camera.clone());
            }
        }
        let stepped: Vec<CameraId> = frames.iter().map(|f| f.camera.clone()).collect();
        for camera in stepped {
            self.save(&camera, false);
        }
        Ok(Analysis {
            alerts,
            active,
            persons,
        })
    }

    /// Saves every camera's rule state to `dir` (`<dir>/<camera>.json`) from now on, and
    /// restores a camera's from there when its analysis starts: open incidents continue after
    /// a restart (same `incident` id, no second `new`) and inactivity counts from the last time
    /// someone was seen, not from the restart.
    pub fn set_state_dir(&mut self, dir: std::path::PathBuf) -> anyhow::Result<()> {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating the rule state directory {}", dir.display()))?;
        self.state_dir = Some(dir);
        Ok(())
    }

    /// Also hands each state written to `mirror` (camera, JSON, urgent: an incident opened or
    /// ended, or the camera stopped): a cluster worker mirrors them to etcd so the state follows
    /// the camera to another worker (`cluster/rule_state.rs`).
    pub fn set_state_mirror(&mut self, mirror: StateMirror) {
        self.mirror = Some(mirror);
    }

    /// Writes `camera`'s state when it changed: at once when an incident opened or ended, else
    /// at most every [`SAVE_EVERY`]; `force`: whenever it changed (at stop).
    fn save(&mut self, camera: &CameraId, force: bool) {
        let Some(dir) = &self.state_dir else { return };
        let Some(cam) = self.cameras.get(camera) else {
            return;
        };
        let state = cam.state();
        // (urgent, worth mirroring): a change of the rule clock alone is not worth an etcd
        // write (an idle camera then writes nothing there).
        let (urgent, mirror) = match self.written.get(camera) {
            Some((last, at)) => {
                let incidents = last.incident_ids() != state.incident_ids();
                let due = force || incidents || at.elapsed() >= SAVE_EVERY;
                if *last == state || !due {
                    return;
                }
                let urgent = force || incidents;
                let changed = last.incidents != state.incidents || last.zones != state.zones;
                (urgent, urgent || changed)
            }
            None => (!state.incidents.open.is_empty(), true),
        };
        let path = state_path(dir, camera);
        let result = serde_json::to_vec(&state)
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_atomic(&path, &bytes).map(|()| bytes));
        match result {
            Ok(bytes) => {
                if let Some(m) = &mut self.mirror
                    && mirror
                {
                    m(camera, &bytes, urgent);
                }
                self.written
                    .insert(camera.clone(), (state, std::time::Instant::now()));
            }
            Err(e) => {
                tracing::warn!(camera = %camera, path = %path.display(), error = %e, "rule state not saved")
            }
        }
    }

    /// Writes every camera's rule state that changed since it was last written (at stop).
    pub fn save_all(&mut self) {
        let cameras: Vec<CameraId> = self.cameras.keys().cloned().collect();
        for camera in cameras {
            self.save(&camera, true);
        }
    }

    /// Sets the rules and zones of `camera` (from its camera file); its tracker starts over,
    /// its open incidents, cooldowns and "last seen" times carry over (an incident whose rule
    /// is gone ends `end_after_ms` later). Cameras never set run the pipeline config's rules
    /// with no zones.
    pub fn set_camera(&mut self, camera: &CameraId, rules: CameraRules) {
        if let Some(old) = self.cameras.remove(camera) {
            self.carried.insert(camera.clone(), old.state());
        }
        self.camera_rules.insert(camera.clone(), rules);
    }

    /// Name and village of a camera that has no camera file (its rules stay the defaults).
    pub fn name_camera(&mut self, camera: CameraRef) {
        self.names.insert(camera.id.clone(), camera);
    }

    /// Forgets `camera` (stopped: removed, moved to another worker, fenced): its open incidents
    /// end now, and the `end` alerts are returned; its state (cooldowns, "last seen") is saved
    /// for when it starts again; its tracker and rules are forgotten.
    pub fn remove_camera(&mut self, camera: &CameraId) -> Vec<Alert> {
        let mut alerts = Vec::new();
        if let Some(cam) = self.cameras.get_mut(camera) {
            let now = SystemClock.now();
            let size = cam.size();
            alerts = cam.end_all(now, size);
            self.save(camera, true);
        }
        alerts.iter_mut().for_each(|a| self.stamp(a));
        self.cameras.remove(camera);
        self.carried.remove(camera);
        self.written.remove(camera);
        self.camera_rules.remove(camera);
        alerts
    }

    /// Runs `camera`'s rules at `time` with no detections: for frames skipped for lack of motion
    /// (nothing moved, so nobody new is there), so time-based rules (inactivity) still advance.
    /// `size`: the source picture's, when known (else the last frame's).
    pub fn idle(
        &mut self,
        camera: &CameraId,
        time: UnixMillis,
        size: Option<(u32, u32)>,
    ) -> Vec<Alert> {
        let cam = self.camera(camera);
        let size = size.unwrap_or(cam.size());
        let mut alerts: Vec<Alert> = cam
            .step(time, size, &[])
            .into_iter()
            .map(|o| o.alert)
            .collect();
        alerts.iter_mut().for_each(|a| self.stamp(a));
        self.save(camera, false);
        alerts
    }

    /// Fills in what the rules do not know: the camera's name and village (from its camera
    /// file), the models, and the time the alert leaves the analyser.
    fn stamp(&self, alert: &mut Alert) {
        if let Some(r) = self.camera_rules.get(&alert.camera.id) {
            alert.camera = r.camera.clone();
        } else if let Some(c) = self.names.get(&alert.camera.id) {
            alert.camera = c.clone();
        }
        alert.model = self.model.clone();
        alert.pose_model = self.pose_model.clone();
        alert.emitted_time = SystemClock.now().to_rfc3339();
    }

    /// `camera`'s analysis, created at its first frame with the state a hot reload carried or
    /// else the saved one.
    fn camera(&mut self, camera: &CameraId) -> &mut CameraAnalysis {
        let rules = &self.rules;
        let spec = self.camera_rules.get(camera);
        let carried = &mut self.carried;
        let dir = self.state_dir.as_deref();
        self.cameras.entry(camera.clone()).or_insert_with(|| {
            let mut cam = CameraAnalysis::new(camera, rules, &camera_spec(spec));
            let saved = carried
                .remove(camera)
                .or_else(|| dir.and_then(|d| load_state(d, camera)));
            if let Some(saved) = saved {
                tracing::info!(
                    camera = %camera,
                    open_incidents = saved.incidents.open.len(),
                    "rule state restored"
                );
                cam.restore(saved);
            }
            cam
        })
    }
}

/// Writes the alert's snapshot with `marks` drawn; a failure is logged, the alert goes out
/// without one. Returns the path as the alert's `snapshot` reference.
fn snapshot(
    writer: &SnapshotWriter,
    alert_id: &str,
    frame: &Frame,
    marks: &[Mark],
) -> Option<String> {
    writer
        .write_annotated(alert_id, frame, marks)
        .inspect_err(|e| tracing::warn!(camera = %frame.camera, error = %e, "snapshot not written"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Box colour on snapshots: red critical, orange warning, green info.
fn colour_of(severity: Severity) -> [u8; 3] {
    match severity {
        Severity::Critical => [230, 30, 30],
        Severity::Warning => [255, 150, 0],
        Severity::Info => [40, 200, 60],
    }
}

/// Who a camera is and its rules and zones (from its camera file).
#[derive(Clone, Debug, PartialEq)]
pub struct CameraRules {
    /// Name and village, as alerts show them.
    pub camera: CameraRef,
    pub rules: Vec<Rule>,
    pub zones: Vec<Zone>,
    /// `detect.long_lie_min`; None: the pipeline's.
    pub long_lie: Option<Duration>,
}

impl CameraRules {
    pub fn from_config(c: &crate::cameras::CameraConfig) -> Self {
        Self {
            camera: CameraRef {
                id: c.id.clone(),
                name: c.name.clone(),
                village: c.village.clone(),
            },
            rules: c.detect.rules.clone(),
            zones: c.zones.clone(),
            long_lie: c.detect.long_lie,
        }
    }
}

/// Which of the pipeline's rules `camera`'s file turns on, and its zones, as the analytics
/// crate takes them. Cameras without a file run every rule with no zones.
fn camera_spec(spec: Option<&CameraRules>) -> CameraSpec {
    let on = |r: Rule| spec.is_none_or(|c| c.rules.contains(&r));
    CameraSpec {
        long_lie_ms: spec.and_then(|c| c.long_lie).map(|d| d.as_millis() as i64),
        fall: on(Rule::Fall),
        zones: spec
            .filter(|_| on(Rule::Zones))
            .map(|c| c.zones.iter().map(zone_spec).collect())
            .unwrap_or_default(),
    }
}

fn zone_spec(z: &Zone) -> ZoneSpec {
    let dwell = |d: &crate::cameras::DwellRule| DwellSpec {
        min_ms: d.min.as_millis() as i64,
        hours: d.hours,
    };
    ZoneSpec {
        name: z.name.clone(),
        polygon: Polygon::new(z.points.iter().map(|p| (p[0], p[1])).collect()),
        person_in_zone: z.person_in_zone.as_ref().map(dwell),
        loitering: z.loitering.as_ref().map(dwell),
        vehicle_in_zone: z.vehicle_in_zone.as_ref().map(dwell),
        inactivity: z.inactivity.as_ref().map(|i| InactivitySpec {
            absent_ms: i.absent.as_millis() as i64,
            window: i.window,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cameras::Zone;
    use sharpeyes_analytics::{IncidentConfig, TrackerConfig};

    const H: i64 = 3_600_000;

    fn doorway_camera() -> (CameraId, RuleSettings, CameraRules) {
        let id = CameraId::new("elder-door").expect("id");
        let settings = RuleSettings {
            fall: None,
            incidents: IncidentConfig::default(),
            tracker: TrackerConfig::default(),
            utc_offset_min: 0,
            persons: vec!["person".into()],
            vehicles: vec![],
        };
        let rules = CameraRules {
            camera: CameraRef {
                id: id.clone(),
                name: "door".into(),
                village: "v".into(),
            },
            rules: vec![Rule::Zones],
            long_lie: None,
            zones: vec![Zone {
                name: "door".into(),
                points: vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]],
                person_in_zone: None,
                loitering: None,
                vehicle_in_zone: None,
                inactivity: Some(crate::cameras::InactivityRule {
                    absent: Duration::from_millis(H as u64),
                    window: sharpeyes_analytics::DailyWindow::ALL_DAY,
                }),
                always_detect: false,
            }],
        };
        (id, settings, rules)
    }

    /// The doorway camera, built from its camera file's rules, after an hour with nobody in
    /// view: its inactivity incident is open. (How a restored camera continues the incident is
    /// `sharpeyes_analytics::camera`'s test; this one is the file it is saved in.)
    #[test]
    fn a_camera_file_s_rules_open_an_incident_and_its_saved_state_reads_back_the_same() {
        let (id, settings, rules) = doorway_camera();
        let mut cam = CameraAnalysis::new(&id, &settings, &camera_spec(Some(&rules)));
        let day = 20_000 * 24 * H;
        let opened: Vec<_> = (day..=day + H)
            .step_by(60_000)
            .flat_map(|t| cam.step(UnixMillis(t), (640, 480), &[]))
            .map(|o| o.alert.lifecycle)
            .collect();
        assert_eq!(opened.first(), Some(&Lifecycle::New), "{opened:?}");
        let dir = tempfile::TempDir::with_prefix("sharpeyes-state").expect("temp dir");
        let path = state_path(dir.path(), &id);
        write_atomic(&path, &serde_json::to_vec(&cam.state()).expect("json")).expect("written");
        assert_eq!(load_state(dir.path(), &id), Some(cam.state()));
    }
}
