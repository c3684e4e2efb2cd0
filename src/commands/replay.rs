//! `sharpeyes replay`: a recorded clip through the pipeline as fast as the machine allows,
//! with a camera file's rules and masks if given, alerts to a JSON-lines file, and a summary
//! line on stdout. (I/O: the clip, the alerts file, `--frames-out`.)

use std::time::{Duration, Instant};

use anyhow::Context;
use sharpeyes::analyze::Analyzer;
use sharpeyes::delivery::Delivery;
use sharpeyes::live::admit::{Admission, Admit};
use sharpeyes::live::tamper;
use sharpeyes::models::ModelStore;
use sharpeyes_core::{CameraId, Clock, FrameSource, SourceItem, SystemClock, UnixMillis};

use super::load_config;
use crate::cli::ReplayArgs;

pub fn run(args: ReplayArgs, store: &ModelStore) -> anyhow::Result<()> {
    let ReplayArgs {
        input,
        alerts_out,
        config,
        motion_gating,
        camera: camera_file,
        start_ms,
        frames_out,
        clips_out,
    } = args;
    let (input, alerts_out) = (input.as_path(), alerts_out.as_path());
    let motion_gating = motion_gating.map(Duration::from_secs_f64);
    let config = load_config(config.as_deref())?;
    let mut analyzer = Analyzer::new(&config, store)?;
    let camera_config = match &camera_file {
        Some(path) => Some(sharpeyes::cameras::load_file(path).map_err(|issues| {
            anyhow::anyhow!(
                "{}",
                issues
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })?),
        None => None,
    };
    if alerts_out.exists() {
        std::fs::remove_file(alerts_out)
            .with_context(|| format!("replacing {}", alerts_out.display()))?;
    }
    let mut delivery = Delivery::new(alerts_out, false, None, config.outbox_max_pending)?;
    let canvas = analyzer.canvas();
    let camera = CameraId::new(
        input
            .file_stem()
            .and_then(|s| s.to_str())
            .map(|s| {
                s.replace(
                    |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_',
                    "_",
                )
            })
            .unwrap_or_default(),
    )
    .or_else(|_| CameraId::new("replay"))?;
    let camera = camera_config.as_ref().map_or(camera, |c| c.id.clone());
    let masks = camera_config
        .as_ref()
        .map(|c| c.privacy_masks.clone())
        .unwrap_or_default();
    // Tamper events name the camera as the alerts do: as its camera file does (bare without one).
    let camera_ref = match &camera_config {
        Some(c) => {
            let rules = sharpeyes::analyze::CameraRules::from_config(c);
            let named = rules.camera.clone();
            analyzer.set_camera(&camera, rules);
            named
        }
        None => sharpeyes_core::CameraRef::bare(camera.clone()),
    };
    let start = start_ms
        .map(UnixMillis)
        .unwrap_or_else(|| SystemClock.now());
    let frames_out = frames_out
        .as_ref()
        .map(sharpeyes_delivery::SnapshotWriter::new);
    // `--clips-out`: each `new` alert names its clip now; the clips are cut from the file's
    // compressed stream once the replay is done (see `write_clips`).
    let mut clips = clips_out.as_ref().map(|dir| ReplayClips {
        dir: dir.clone(),
        camera: camera.clone(),
        masks: masks.clone(),
        alerts: Vec::new(),
    });
    let mut source = sharpeyes_ingest::FileSource::open(camera, input, canvas, start)?;
    let started = Instant::now();
    let mut frames = 0u64;
    let mut gated = 0u64;
    // The camera thread's admission, on media time instead of wall time (no adaptive decode:
    // a file is decoded whole).
    let gate = sharpeyes_ingest::DecodeGate::new(false, motion_gating.unwrap_or_default());
    let mut admission = Admission::new(masks, config.detect_fps, false, motion_gating.is_some());
    let mut tamper = tamper::TamperWatch::default();
    let tamper_counters = sharpeyes::live::CameraCounters::default();
    loop {
        match source.next_frame(Duration::from_secs(30))? {
            SourceItem::Frame(mut f) => {
                frames += 1;
                let time = f.time;
                let admit = admission.admit(&mut f, &gate, time);
                // The live camera thread's tamper watch, on media time: the file's
                // `camera_tampered` / `camera_restored` events go to the output too.
                for c in tamper.observe(&f, &tamper_counters) {
                    let state = sharpeyes_core::CameraState::Online;
                    let event = tamper::status_event(camera_ref.clone(), state, &c);
                    delivery.deliver(event.into());
                }
                match admit {
                    Admit::NotDue => {}
                    Admit::Gated => {
                        gated += 1;
                        let size = (f.letterbox.src_width, f.letterbox.src_height);
                        for mut a in analyzer.idle(&f.camera, f.time, Some(size)) {
                            if let Some(c) = &mut clips {
                                c.name(&mut a);
                            }
                            delivery.deliver(a.into());
                        }
                    }
                    Admit::Detect => {
                        if let Some(w) = &frames_out {
                            w.write(&format!("{:07}", f.time.0 - start.0), &f)?;
                        }
                        let found = analyzer.analyze(std::slice::from_ref(&f))?;
                        for mut a in found.alerts {
                            if let Some(c) = &mut clips {
                                c.name(&mut a);
                            }
                            delivery.deliver(a.into());
                        }
                        if !found.active.is_empty() {
                            gate.activity(f.time);
                        }
                    }
                }
            }
            SourceItem::End => break,
            SourceItem::Timeout => anyhow::bail!("{}: no frame decoded for 30 s", input.display()),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "summary: frames={frames} analysed={} gated={gated} pose_runs={} persons={} skeletons={} seconds={secs:.2} fps={:.1} alerts: {}",
        analyzer.frames_analysed,
        analyzer.pose_runs.images,
        analyzer.pose_runs.persons,
        analyzer.pose_runs.matched,
        frames as f64 / secs.max(1e-9),
        delivery.counts_line()
    );
    if let Some(c) = clips {
        c.write(input, start, &config, camera_config.as_ref())?;
    }
    Ok(())
}

/// `replay --clips-out DIR`: the `new` alerts that get a clip, and where.
struct ReplayClips {
    dir: std::path::PathBuf,
    camera: CameraId,
    masks: Vec<sharpeyes_ingest::MaskPolygon>,
    /// (alert id, event time ms) of each `new` alert, in order.
    alerts: Vec<(String, i64)>,
}

impl ReplayClips {
    /// A `new` alert gets `clip` = `DIR/<camera>/<id>.mp4` (written by [`ReplayClips::write`]).
    fn name(&mut self, alert: &mut sharpeyes_core::Alert) {
        if alert.lifecycle != sharpeyes_core::Lifecycle::New {
            return;
        }
        let Some(t) = alert.event_millis() else {
            return;
        };
        let path = self
            .dir
            .join(self.camera.as_str())
            .join(sharpeyes_core::clip_file_name(&alert.id));
        alert.clip = Some(path.to_string_lossy().into_owned());
        self.alerts.push((alert.id.clone(), t.0));
    }

    /// Cuts and writes the clips with the pipeline's `[clips]` seconds (its defaults when the
    /// section turns clips off) and the camera file's own.
    fn write(
        self,
        input: &std::path::Path,
        start: UnixMillis,
        config: &sharpeyes::config::PipelineConfig,
        camera: Option<&sharpeyes::cameras::CameraConfig>,
    ) -> anyhow::Result<()> {
        let defaults = match &config.clips {
            Some(c) => c.clone(),
            None => sharpeyes::clips::RawClips::default()
                .validate()
                .map_err(|(f, m)| anyhow::anyhow!("{f}: {m}"))?
                .context("clips on by default")?,
        };
        let own = camera.map(|c| c.clips).unwrap_or_default();
        let options = defaults.options(&self.masks, own.pre_ms, own.post_ms);
        let written = sharpeyes::clips::replay_clips(
            input,
            &self.camera,
            start.0,
            &self.alerts,
            options,
            &self.dir,
        )?;
        println!(
            "clips: {} of {} written to {}",
            written.len(),
            self.alerts.len(),
            self.dir.display()
        );
        Ok(())
    }
}
