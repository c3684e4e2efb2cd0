//! Event clips in the pipeline: the `[clips]` config section, the live side ([`LiveClips`]:
//! one ring per camera, the writer, the retention sweep, the hand-off to delivery) and
//! `replay`'s clips of a recorded file ([`replay_clips`]). The ring is
//! `sharpeyes_ingest::clip_ring` (pure), the writer `sharpeyes_ingest::clip_writer` (I/O).
//!
//! Hand-off: every clip written is announced once, after its file is complete, as a
//! [`ClipReady`] to each callback given to [`LiveClips::subscribe`] (called on the clip
//! writer's thread: it must not block; send it on a channel).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Deserialize;
use sharpeyes_core::{Alert, CameraId, ClipReady, Lifecycle};
use sharpeyes_delivery::SnapshotSweeper;
use sharpeyes_ingest::MaskPolygon;
use sharpeyes_ingest::clip_ring::{ClipOptions, ClipRing, DEFAULT_POST_S, DEFAULT_PRE_S};
use sharpeyes_ingest::clip_writer::{
    ClipStats, ClipTap, ClipWriter, ClipWriterOptions, DEFAULT_MAX_PENDING, OnClipReady,
};

/// How often the clip sweeper looks for expired clips (as the snapshot sweeper).
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// A clip whose camera went silent is written this long after its end anyway.
const SILENT_GRACE_MS: i64 = 5_000;

/// `[clips]` of the pipeline config, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClips {
    /// Default true.
    enabled: Option<bool>,
    /// Default "var/clips".
    dir: Option<PathBuf>,
    /// Default 5, 0..=60.
    pre_s: Option<f64>,
    /// Default 10, 0..=300.
    post_s: Option<f64>,
    /// Default 8, 0.1..=1024.
    ring_max_mb: Option<f64>,
    /// Default 16, 1..=1024.
    max_pending: Option<usize>,
    /// Default 1, 1..=16.
    workers: Option<usize>,
}

/// A validated `[clips]` section.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipsConfig {
    /// Clips go to `<dir>/<camera>/<alert id>.mp4`.
    pub dir: PathBuf,
    /// Default pre and post of every camera (a camera may override them), ms.
    pub pre_ms: i64,
    pub post_ms: i64,
    /// Byte cap of each camera's ring.
    pub ring_max_bytes: usize,
    /// Finished clips waiting for a writer, all cameras together.
    pub max_pending: usize,
    pub workers: usize,
}

impl RawClips {
    /// None when clips are off; Err(field, message) for a bad value.
    pub fn validate(self) -> Result<Option<ClipsConfig>, (String, String)> {
        if self.enabled == Some(false) {
            return Ok(None);
        }
        let secs = |field: &str, v: Option<f64>, default: f64, max: f64| match v {
            None => Ok((default * 1000.0) as i64),
            Some(s) if s.is_finite() && (0.0..=max).contains(&s) => Ok((s * 1000.0) as i64),
            Some(s) => Err((
                format!("clips.{field}"),
                format!("must be between 0 and {max}, got {s}"),
            )),
        };
        let ring_mb = self.ring_max_mb.unwrap_or(8.0);
        if !(ring_mb.is_finite() && (0.1..=1024.0).contains(&ring_mb)) {
            return Err((
                "clips.ring_max_mb".into(),
                format!("must be between 0.1 and 1024, got {ring_mb}"),
            ));
        }
        let count = |field: &str, v: Option<usize>, default: usize, max: usize| match v {
            None => Ok(default),
            Some(n) if (1..=max).contains(&n) => Ok(n),
            Some(n) => Err((
                format!("clips.{field}"),
                format!("must be between 1 and {max}, got {n}"),
            )),
        };
        Ok(Some(ClipsConfig {
            dir: self.dir.unwrap_or_else(|| PathBuf::from("var/clips")),
            pre_ms: secs("pre_s", self.pre_s, DEFAULT_PRE_S, 60.0)?,
            post_ms: secs("post_s", self.post_s, DEFAULT_POST_S, 300.0)?,
            ring_max_bytes: (ring_mb * 1_048_576.0) as usize,
            max_pending: count("max_pending", self.max_pending, DEFAULT_MAX_PENDING, 1024)?,
            workers: count("workers", self.workers, 1, 16)?,
        }))
    }
}

impl ClipsConfig {
    /// The ring and clip options of a camera with `masks` and, if its camera file sets them,
    /// its own pre and post (ms).
    pub fn options(
        &self,
        masks: &[MaskPolygon],
        pre_ms: Option<i64>,
        post_ms: Option<i64>,
    ) -> ClipOptions {
        ClipOptions {
            pre_ms: pre_ms.unwrap_or(self.pre_ms),
            post_ms: post_ms.unwrap_or(self.post_ms),
            ring_max_bytes: self.ring_max_bytes,
            masks: Arc::from(masks.to_vec()),
            ..ClipOptions::default()
        }
    }
}

/// The live pipeline's clips: see the module docs. Shared (`Arc`) by the analyser, which
/// starts a clip on each `new` alert, and the live pipeline, which gives each camera its ring.
pub struct LiveClips {
    config: ClipsConfig,
    writer: ClipWriter,
    taps: Mutex<HashMap<CameraId, (ClipOptions, Arc<ClipTap>)>>,
    subscribers: Arc<Mutex<Vec<OnClipReady>>>,
    /// Deletes clips older than `output.snapshot_retention_days`: the snapshots' sweeper on
    /// the clips' directory.
    _sweeper: Option<SnapshotSweeper>,
    last_expire: Mutex<i64>,
}

impl LiveClips {
    /// Starts the writer thread(s) and, with a `retention`, the sweeper of `config.dir`.
    pub fn start(config: &ClipsConfig, retention: Option<Duration>) -> anyhow::Result<Self> {
        let subscribers: Arc<Mutex<Vec<OnClipReady>>> = Arc::default();
        let subs = subscribers.clone();
        let writer = ClipWriter::start(ClipWriterOptions {
            dir: config.dir.clone(),
            workers: config.workers,
            max_pending: config.max_pending,
            on_ready: Some(Arc::new(move |ready: &ClipReady| {
                for s in subs.lock().unwrap_or_else(PoisonError::into_inner).iter() {
                    s(ready);
                }
            })),
        })?;
        let sweeper = match retention {
            Some(max_age) => Some(SnapshotSweeper::start(&config.dir, max_age, SWEEP_EVERY)?),
            None => None,
        };
        Ok(Self {
            config: config.clone(),
            writer,
            taps: Mutex::default(),
            subscribers,
            _sweeper: sweeper,
            last_expire: Mutex::new(0),
        })
    }

    pub fn config(&self) -> &ClipsConfig {
        &self.config
    }

    /// `f` hears of every clip written from now on (on the writer's thread; must not block).
    pub fn subscribe(&self, f: OnClipReady) {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(f);
    }

    /// The ring of `camera` with these settings: the running one when they are unchanged (a
    /// restart keeps the seconds it holds), else a new one.
    pub fn tap_for(
        &self,
        camera: &CameraId,
        masks: &[MaskPolygon],
        pre_ms: Option<i64>,
        post_ms: Option<i64>,
    ) -> Arc<ClipTap> {
        let options = self.config.options(masks, pre_ms, post_ms);
        let mut taps = self.taps.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((o, tap)) = taps.get(camera)
            && *o == options
        {
            return tap.clone();
        }
        if let Some((_, old)) = taps.remove(camera) {
            old.finish();
        }
        let tap = self.writer.tap(camera.clone(), options.clone());
        taps.insert(camera.clone(), (options, tap.clone()));
        tap
    }

    /// The camera stopped for good: its clips being recorded are written as they are.
    pub fn remove(&self, camera: &CameraId) {
        let removed = self
            .taps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(camera);
        if let Some((_, tap)) = removed {
            tap.finish();
        }
    }

    /// A `new` alert of a camera with a ring gets its clip started and the clip's path in
    /// `alert.clip`; other alerts are left alone.
    pub fn on_alert(&self, alert: &mut Alert) {
        if alert.lifecycle != Lifecycle::New {
            return;
        }
        let tap = self
            .taps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&alert.camera.id)
            .map(|(_, t)| t.clone());
        let (Some(tap), Some(t)) = (tap, alert.event_millis()) else {
            return;
        };
        alert.clip = tap
            .start(&alert.id, t.0)
            .map(|p| p.to_string_lossy().into_owned());
    }

    /// Writes clips whose camera went silent past their end; cheap, call it often (at most
    /// once a second does anything).
    pub fn tick(&self, now_ms: i64) {
        {
            let mut last = self
                .last_expire
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if now_ms - *last < 1000 {
                return;
            }
            *last = now_ms;
        }
        let taps: Vec<Arc<ClipTap>> = self
            .taps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|(_, t)| t.clone())
            .collect();
        for t in taps {
            t.expire(now_ms, SILENT_GRACE_MS);
        }
    }

    pub fn stats(&self) -> &ClipStats {
        self.writer.stats()
    }

    /// (camera, bytes held by its ring, ms it spans): the rings' memory, for metrics.
    pub fn rings(&self) -> Vec<(CameraId, usize, i64)> {
        self.taps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(id, (_, t))| (id.clone(), t.ring_bytes(), t.ring_span_ms()))
            .collect()
    }
}

/// `replay --clips-out`: the clips of `alerts` (id, event time ms; `new` alerts) of the
/// recorded `input`, cut from its compressed stream by the same ring as a live camera's (so
/// a clip starts at the last keyframe at or before `event - pre`), written (remuxed, or
/// re-encoded with `masks` blacked out) to `<dir>/<camera>/<alert id>.mp4`. Returns what was
/// written, in alert order.
pub fn replay_clips(
    input: &Path,
    camera: &CameraId,
    start_ms: i64,
    alerts: &[(String, i64)],
    options: ClipOptions,
    dir: &Path,
) -> anyhow::Result<Vec<ClipReady>> {
    let mut ring = ClipRing::new(camera.clone(), options);
    let mut jobs = Vec::new();
    let mut format = None;
    let mut next = 0;
    sharpeyes_ingest::clip_writer::read_file_access_units(camera, input, start_ms, |f, au| {
        if format.as_ref() != Some(f) {
            jobs.extend(ring.restart(f.clone()));
            format = Some(f.clone());
        }
        // Each alert starts its clip when the stream reaches its event time, as it would on a
        // live camera (with no latency).
        while let Some((id, t)) = alerts.get(next)
            && au.time_ms >= *t
        {
            if let Err(why) = ring.start(id, *t) {
                tracing::warn!(alert = %id, ?why, "no clip for this alert");
            }
            next += 1;
        }
        jobs.extend(ring.push(au));
    })?;
    jobs.extend(ring.finish_all());
    let mut written = Vec::new();
    for job in jobs {
        let path = dir
            .join(camera.as_str())
            .join(sharpeyes_core::clip_file_name(&job.alert_id));
        let ready = sharpeyes_ingest::clip_writer::write_clip(&job, &path)?;
        tracing::info!(alert = %ready.alert_id, path = %path.display(), duration_ms = ready.duration_ms, masked = ready.masked, truncated = job.truncated, "clip written");
        written.push(ready);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Option<ClipsConfig>, (String, String)> {
        toml::from_str::<RawClips>(text).unwrap().validate()
    }

    #[test]
    fn clips_are_on_by_default_with_five_and_ten_seconds() {
        let c = parse("").unwrap().unwrap();
        assert_eq!((c.pre_ms, c.post_ms), (5000, 10_000));
        assert_eq!(c.dir, PathBuf::from("var/clips"));
        assert_eq!(c.ring_max_bytes, 8 << 20);
    }

    #[test]
    fn clips_can_be_turned_off() {
        assert_eq!(parse("enabled = false").unwrap(), None);
    }

    #[test]
    fn bad_values_name_their_field() {
        assert_eq!(parse("pre_s = -1").unwrap_err().0, "clips.pre_s");
        assert_eq!(parse("post_s = 1000").unwrap_err().0, "clips.post_s");
        assert_eq!(parse("workers = 0").unwrap_err().0, "clips.workers");
        assert!(toml::from_str::<RawClips>("pre = 3").is_err());
    }

    #[test]
    fn a_camera_may_override_pre_and_post() {
        let c = parse("pre_s = 3").unwrap().unwrap();
        let o = c.options(&[], None, Some(4000));
        assert_eq!((o.pre_ms, o.post_ms), (3000, 4000));
    }
}
