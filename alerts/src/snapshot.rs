//! JPEG snapshots of the frames that raised alerts, and their retention.
//!
//! - [`SnapshotWriter`] does file I/O: writes `<dir>/<camera>/<alert id>.jpg` (temp name, fsync,
//!   rename, so a reader never sees half a file), optionally with the detections drawn on it
//!   ([`SnapshotWriter::write_annotated`]).
//! - The crop and colour conversion ([`picture_rgb`]) and the drawing of boxes and skeletons
//!   ([`draw_mark`]) are pure.
//! - [`sweep_snapshots`] deletes snapshots older than a maximum age (file I/O, time passed in);
//!   [`SnapshotSweeper`] runs it on a background thread every interval.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use image::ExtendedColorType;
use image::codecs::jpeg::JpegEncoder;
use sharpeyes_core::{BBox, Detection, Frame, Keypoint, PixelFormat, coco};

use crate::error::AlertsError;

/// JPEG quality (1-100) of snapshots: small files, faces and clothing still recognisable.
pub const SNAPSHOT_JPEG_QUALITY: u8 = 80;

/// Keypoints scoring below this are not drawn, nor the skeleton lines that end at them.
pub const SKELETON_MIN_SCORE: f32 = 0.3;

/// Thickness in JPEG pixels of box outlines and skeleton lines. Two, not one: JPEG halves the
/// colour resolution (4:2:0), and a one-pixel coloured line comes out washed out.
const LINE_PX: i64 = 2;

/// Radius in JPEG pixels of the dot drawn at each keypoint.
const KEYPOINT_DOT_RADIUS_PX: i64 = 2;

/// Writes snapshots under one directory, one subdirectory per camera.
#[derive(Clone, Debug)]
pub struct SnapshotWriter {
    dir: PathBuf,
}

/// Something to draw on a snapshot: a detection's box and, for a person seen by a pose model,
/// its skeleton.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    /// In pixels of the *source* picture (like [`Detection::bbox`]), not of the canvas.
    pub bbox: BBox,
    /// Not drawn (no font rendering); kept for callers that show it next to the picture.
    pub label: Option<String>,
    /// Colour of the outline, skeleton and keypoint dots, as [r, g, b].
    pub colour: [u8; 3],
    /// Body keypoints in source pixels, COCO order ([`coco`]); may be empty or shorter than 17
    /// (missing ones are not drawn).
    pub keypoints: Vec<Keypoint>,
}

impl Mark {
    /// The box and keypoints of `detection`, labelled with its class name.
    pub fn from_detection(detection: &Detection, colour: [u8; 3]) -> Self {
        Self {
            bbox: detection.bbox,
            label: Some(detection.class_name.to_string()),
            colour,
            keypoints: detection.keypoints.clone(),
        }
    }
}

impl SnapshotWriter {
    /// Snapshots go under `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the snapshot of `alert_id` from `camera` is (or will be) written.
    pub fn path_for(&self, camera: &sharpeyes_core::CameraId, alert_id: &str) -> PathBuf {
        self.dir
            .join(camera.as_str())
            .join(format!("{alert_id}.jpg"))
    }

    /// Encodes the picture area of `frame` (the letterbox borders cropped away, so the JPEG has
    /// the frame's `letterbox.inner_size()`) as JPEG and writes it to
    /// `<dir>/<camera>/<alert_id>.jpg`, replacing an older file of that name. Returns the path.
    ///
    /// `alert_id` must be a plain file name (no `/`, `\`, not starting with `.`); alert ids made
    /// by `Alert::new` always are.
    pub fn write(&self, alert_id: &str, frame: &Frame) -> Result<PathBuf, AlertsError> {
        self.write_annotated(alert_id, frame, &[])
    }

    /// Like [`SnapshotWriter::write`], with `marks` drawn on the picture: each box as a 2-pixel
    /// outline and, where a mark has keypoints, its skeleton (see [`draw_mark`]). Marks are in
    /// source pixels and mapped to the JPEG's pixels by the frame's letterbox scale; whatever
    /// falls outside the picture is clipped away.
    ///
    /// Privacy masks need nothing here: they are applied to the frame's pixels (blacked out)
    /// before frames reach detection and snapshots, so the masked areas are already black. A
    /// box may still be drawn over a masked area; it shows where a person was, not who.
    pub fn write_annotated(
        &self,
        alert_id: &str,
        frame: &Frame,
        marks: &[Mark],
    ) -> Result<PathBuf, AlertsError> {
        let path = self.path_for(&frame.camera, alert_id);
        if alert_id.is_empty() || alert_id.starts_with('.') || alert_id.contains(['/', '\\', '\0'])
        {
            return Err(AlertsError::Snapshot {
                path,
                source: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("alert id {alert_id:?} is not a plain file name"),
                ),
            });
        }
        let (mut rgb, width, height) =
            picture_rgb(frame).map_err(|reason| AlertsError::SnapshotEncode {
                camera: frame.camera.clone(),
                reason,
            })?;
        for mark in marks {
            draw_mark(&mut rgb, width, height, mark, frame.letterbox.scale);
        }
        let mut jpeg = Vec::with_capacity(rgb.len() / 8);
        JpegEncoder::new_with_quality(&mut jpeg, SNAPSHOT_JPEG_QUALITY)
            .encode(&rgb, width, height, ExtendedColorType::Rgb8)
            .map_err(|e| AlertsError::SnapshotEncode {
                camera: frame.camera.clone(),
                reason: e.to_string(),
            })?;
        write_atomically(&path, &jpeg).map_err(|source| AlertsError::Snapshot {
            path: path.clone(),
            source,
        })?;
        tracing::debug!(
            camera = %frame.camera,
            path = %path.display(),
            bytes = jpeg.len(),
            marks = marks.len(),
            "snapshot written"
        );
        Ok(path)
    }
}

/// Writes `bytes` to `<path>.tmp`, fsyncs it and renames it to `path`. Alerts are rare, so the
/// fsync is cheap; it keeps the snapshot an alert in the (fsynced) outbox points to from being an
/// empty file after a power cut.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let parent = path.parent().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "snapshot path has no parent directory",
        )
    })?;
    fs::create_dir_all(parent)?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = parent.join(tmp_name);
    let result = (|| {
        let mut f = match fs::File::create(&tmp) {
            // The sweeper removes camera directories it finds empty; it may do so between the
            // `create_dir_all` above and here. Once the temp file exists the directory is not
            // empty and stays.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(parent)?;
                fs::File::create(&tmp)?
            }
            other => other?,
        };
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The picture area of `frame` (letterbox borders removed) as tightly packed RGB, with its width
/// and height. Err(reason) when the letterbox or stride do not fit the pixel buffer.
pub fn picture_rgb(frame: &Frame) -> Result<(Vec<u8>, u32, u32), String> {
    match frame.format {
        PixelFormat::Bgr24 => {}
    }
    let lb = &frame.letterbox;
    let x0 = lb.pad_x.max(0.0).round() as u32;
    let y0 = lb.pad_y.max(0.0).round() as u32;
    let (inner_w, inner_h) = lb.inner_size();
    // Rounding of the inner size may overshoot the canvas by a pixel; never read past it.
    let width = inner_w.min(frame.width.saturating_sub(x0));
    let height = inner_h.min(frame.height.saturating_sub(y0));
    if width == 0 || height == 0 {
        return Err(format!(
            "empty picture area: inner {inner_w}x{inner_h} at ({x0},{y0}) in a {}x{} frame",
            frame.width, frame.height
        ));
    }
    let row_bytes = width as usize * 3;
    let needed = (y0 + height - 1) as usize * frame.stride + (x0 as usize * 3) + row_bytes;
    if frame.stride < frame.width as usize * 3 || frame.data.len() < needed {
        return Err(format!(
            "pixel buffer of {} bytes with stride {} is too small for a {}x{} frame",
            frame.data.len(),
            frame.stride,
            frame.width,
            frame.height
        ));
    }
    let mut rgb = Vec::with_capacity(row_bytes * height as usize);
    for y in y0..y0 + height {
        let start = y as usize * frame.stride + x0 as usize * 3;
        for bgr in frame.data[start..start + row_bytes].chunks_exact(3) {
            rgb.extend_from_slice(&[bgr[2], bgr[1], bgr[0]]);
        }
    }
    Ok((rgb, width, height))
}

/// Draws `mark` on `rgb`, a tightly packed RGB picture of `width` x `height` pixels in which a
/// source pixel (x, y) lies at (x * `scale`, y * `scale`) (the letterbox's scale; the snapshot
/// is the letterbox's inner area, so there is no offset).
///
/// Draws the box as a 2-pixel outline just inside its edges and, when the mark has
/// keypoints, a 2-pixel line for each pair of [`coco::SKELETON`] whose two keypoints both score
/// at least [`SKELETON_MIN_SCORE`], and a dot of radius 2 at each keypoint scoring that much.
/// Everything is clipped to the picture: boxes or keypoints partly or wholly outside it, huge or
/// infinite coordinates are fine, a box with a NaN coordinate and keypoints with a non-finite
/// coordinate are skipped. Draws nothing when `rgb` is shorter than `width * height * 3`.
pub fn draw_mark(rgb: &mut [u8], width: u32, height: u32, mark: &Mark, scale: f32) {
    let fits = u64::from(width)
        .checked_mul(u64::from(height))
        .and_then(|n| n.checked_mul(3))
        .is_some_and(|n| n <= rgb.len() as u64);
    if !fits {
        return;
    }
    let mut canvas = RgbCanvas {
        rgb,
        width: i64::from(width),
        height: i64::from(height),
        colour: mark.colour,
    };
    // f64 so that even f32::MAX times the scale stays finite and exact enough to clip.
    let scale = f64::from(scale);
    let b = &mark.bbox;
    let corners = [b.x1, b.y1, b.x2, b.y2].map(|v| f64::from(v) * scale);
    if !corners.iter().any(|v| v.is_nan()) {
        canvas.box_outline(corners);
    }
    let point = |index: usize| -> Option<(f64, f64)> {
        // `>=` is false for a NaN score: not drawn.
        let k = mark
            .keypoints
            .get(index)
            .filter(|k| k.score >= SKELETON_MIN_SCORE)?;
        let (x, y) = (f64::from(k.x) * scale, f64::from(k.y) * scale);
        (x.is_finite() && y.is_finite()).then_some((x, y))
    };
    for (a, b) in coco::SKELETON {
        if let (Some(p), Some(q)) = (point(a), point(b)) {
            canvas.line(p, q);
        }
    }
    for index in 0..mark.keypoints.len() {
        if let Some(p) = point(index) {
            canvas.dot(p, KEYPOINT_DOT_RADIUS_PX);
        }
    }
}

/// An RGB buffer known to hold `width * height` pixels, drawn on in one colour. Coordinates are
/// i64 pixel indices kept within +-1e15 ([`to_px`]), so the arithmetic below cannot overflow.
struct RgbCanvas<'a> {
    rgb: &'a mut [u8],
    width: i64,
    height: i64,
    colour: [u8; 3],
}

impl RgbCanvas<'_> {
    /// Fills the pixels in columns `x0..=x1` and rows `y0..=y1` that lie in the picture.
    fn fill_rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64) {
        let (x0, x1) = (x0.max(0), x1.min(self.width - 1));
        let (y0, y1) = (y0.max(0), y1.min(self.height - 1));
        if x0 > x1 || y0 > y1 {
            return;
        }
        for y in y0..=y1 {
            let start = ((y * self.width + x0) * 3) as usize;
            let end = ((y * self.width + x1 + 1) * 3) as usize;
            for px in self.rgb[start..end].chunks_exact_mut(3) {
                px.copy_from_slice(&self.colour);
            }
        }
    }

    /// The outline of the box with corners (x1, y1), (x2, y2) in picture pixels (any order,
    /// infinities allowed, no NaN): the [`LINE_PX`] outermost columns and rows of the pixels it
    /// covers.
    fn box_outline(&mut self, [x1, y1, x2, y2]: [f64; 4]) {
        let left = to_px(x1.min(x2).floor());
        let right = (to_px(x1.max(x2).ceil()) - 1).max(left);
        let top = to_px(y1.min(y2).floor());
        let bottom = (to_px(y1.max(y2).ceil()) - 1).max(top);
        let t = LINE_PX - 1;
        self.fill_rect(left, top, right, (top + t).min(bottom));
        self.fill_rect(left, (bottom - t).max(top), right, bottom);
        self.fill_rect(left, top, (left + t).min(right), bottom);
        self.fill_rect((right - t).max(left), top, right, bottom);
    }

    /// A [`LINE_PX`]-thick line from `p` to `q` (finite picture coordinates), Bresenham's
    /// algorithm on the part of the segment near the picture.
    fn line(&mut self, p: (f64, f64), q: (f64, f64)) {
        let margin = (LINE_PX + 1) as f64;
        let (lo, hi) = (
            (-margin, -margin),
            (self.width as f64 + margin, self.height as f64 + margin),
        );
        let Some((p, q)) = clip_segment(p, q, lo, hi) else {
            return;
        };
        // Clipping far-away endpoints loses precision; clamping again bounds the loop below by
        // the picture's size whatever the rounding did.
        let end = |(x, y): (f64, f64)| {
            (
                to_px(x.clamp(lo.0, hi.0).floor()),
                to_px(y.clamp(lo.1, hi.1).floor()),
            )
        };
        let ((mut x, mut y), (x1, y1)) = (end(p), end(q));
        let (dx, sx) = ((x1 - x).abs(), if x < x1 { 1 } else { -1 });
        let (dy, sy) = (-(y1 - y).abs(), if y < y1 { 1 } else { -1 });
        let mut err = dx + dy;
        loop {
            self.fill_rect(x, y, x + LINE_PX - 1, y + LINE_PX - 1);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// A filled disc of `radius` pixels around the pixel holding `centre` (finite).
    fn dot(&mut self, (x, y): (f64, f64), radius: i64) {
        let (cx, cy) = (to_px(x.floor()), to_px(y.floor()));
        for py in (cy - radius).max(0)..=(cy + radius).min(self.height - 1) {
            for px in (cx - radius).max(0)..=(cx + radius).min(self.width - 1) {
                let (dx, dy) = (px - cx, py - cy);
                if dx * dx + dy * dy <= radius * radius {
                    self.fill_rect(px, py, px, py);
                }
            }
        }
    }
}

/// A picture coordinate (no NaN) as a pixel index, kept within +-1e15 so sums and products of a
/// few of them stay far from i64 overflow. Far outside any picture either way.
fn to_px(v: f64) -> i64 {
    v.clamp(-1e15, 1e15) as i64
}

/// The part of the segment `p`-`q` inside the rectangle `lo`..`hi` (Liang-Barsky), or None when
/// it misses it. Inputs finite.
///
/// A clipped end gets the boundary it was clipped at exactly, and only its other coordinate
/// interpolated: `p + t * (q - p)` alone would put a line from 1e30 to 20 far from the edge it
/// crosses. The interpolated coordinate is still only as precise as the far endpoints allow.
fn clip_segment(
    p: (f64, f64),
    q: (f64, f64),
    lo: (f64, f64),
    hi: (f64, f64),
) -> Option<((f64, f64), (f64, f64))> {
    /// Where along the segment an end lies, and the boundary that put it there: (is the
    /// boundary a vertical line x = v, v).
    type End = (f64, Option<(bool, f64)>);
    let (dx, dy) = (q.0 - p.0, q.1 - p.1);
    let mut start: End = (0.0, None);
    let mut end: End = (1.0, None);
    for (step, room, vertical, bound) in [
        (-dx, p.0 - lo.0, true, lo.0),
        (dx, hi.0 - p.0, true, hi.0),
        (-dy, p.1 - lo.1, false, lo.1),
        (dy, hi.1 - p.1, false, hi.1),
    ] {
        if step == 0.0 {
            if room < 0.0 {
                return None;
            }
            continue;
        }
        let t = room / step;
        if step < 0.0 {
            if t > start.0 {
                start = (t, Some((vertical, bound)));
            }
        } else if t < end.0 {
            end = (t, Some((vertical, bound)));
        }
        if start.0 > end.0 {
            return None;
        }
    }
    let point = |(t, boundary): End, unclipped: (f64, f64)| match boundary {
        None => unclipped,
        Some((true, x)) => (x, p.1 + t * dy),
        Some((false, y)) => (p.0 + t * dx, y),
    };
    Some((point(start, p), point(end, q)))
}

/// What one [`sweep_snapshots`] did. Counts snapshot files only (`*.jpg`, `*.jpg.tmp` directly
/// in a camera directory); other files are neither counted nor touched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Snapshot files deleted for being older than the maximum age.
    pub deleted: u64,
    /// Sum of the sizes of the deleted files, in bytes.
    pub bytes_freed: u64,
    /// Snapshot files young enough to keep.
    pub kept: u64,
    /// Files or directories that could not be listed, inspected or deleted (each logged at warn
    /// level); the sweep went on with the others.
    pub errors: u64,
}

/// Deletes the snapshots under `dir` (as written by [`SnapshotWriter`]: `dir/<camera>/*.jpg`,
/// plus `*.jpg.tmp` left by a write that died) last modified more than `max_age` before `now`,
/// and removes camera directories left empty. A file modified exactly `max_age` before `now` is
/// kept.
///
/// Leaves alone everything else: files directly in `dir`, other files and subdirectories in
/// camera directories, and symbolic links (a link is neither followed nor deleted, so nothing
/// outside `dir` is ever touched; `dir` itself may be a link). A missing `dir` is an empty sweep.
/// A file or camera directory that cannot be handled is counted in [`SweepReport::errors`] and
/// logged; Err only when `dir` exists but cannot be listed.
///
/// Time is passed in; the file system is the only I/O.
pub fn sweep_snapshots(
    dir: &Path,
    max_age: Duration,
    now: SystemTime,
) -> Result<SweepReport, AlertsError> {
    Sweep {
        cutoff: now.checked_sub(max_age),
        stop: &|| false,
        remove_file: &|path| fs::remove_file(path),
    }
    .run(dir)
}

/// One sweep, with its I/O edges that tests and the [`SnapshotSweeper`] replace.
struct Sweep<'a> {
    /// Files modified before this are deleted; None (max age reaches before the epoch) keeps all.
    cutoff: Option<SystemTime>,
    /// Checked before each file: true ends the sweep early (the report covers what was done).
    stop: &'a dyn Fn() -> bool,
    remove_file: &'a dyn Fn(&Path) -> io::Result<()>,
}

impl Sweep<'_> {
    fn run(&self, dir: &Path) -> Result<SweepReport, AlertsError> {
        let mut report = SweepReport::default();
        let cameras = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(report),
            Err(source) => {
                return Err(AlertsError::SnapshotSweep {
                    path: dir.to_owned(),
                    source,
                });
            }
        };
        for entry in cameras {
            if (self.stop)() {
                break;
            }
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    failed(&mut report, dir, "listing", &e);
                    continue;
                }
            };
            // `DirEntry::file_type` does not follow links: a link to a directory is skipped.
            match entry.file_type() {
                Ok(t) if t.is_dir() => self.camera_dir(&entry.path(), &mut report),
                Ok(_) => {}
                Err(e) => failed(&mut report, &entry.path(), "inspecting", &e),
            }
        }
        Ok(report)
    }

    fn camera_dir(&self, dir: &Path, report: &mut SweepReport) {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return,
            Err(e) => return failed(report, dir, "listing", &e),
        };
        let mut deleted_here = false;
        for entry in entries {
            if (self.stop)() {
                return;
            }
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    failed(report, dir, "listing", &e);
                    continue;
                }
            };
            if !is_snapshot_name(&entry.file_name()) {
                continue;
            }
            let path = entry.path();
            // Neither follows links: a link named *.jpg is not a regular file here and is kept.
            let meta = match entry.metadata() {
                Ok(meta) if meta.file_type().is_file() => meta,
                Ok(_) => continue,
                Err(e) => {
                    failed(report, &path, "inspecting", &e);
                    continue;
                }
            };
            let modified = match meta.modified() {
                Ok(t) => t,
                Err(e) => {
                    failed(report, &path, "inspecting", &e);
                    continue;
                }
            };
            if !self.is_old(modified) {
                report.kept += 1;
                continue;
            }
            match (self.remove_file)(&path) {
                Ok(()) => {
                    report.deleted += 1;
                    report.bytes_freed += meta.len();
                    deleted_here = true;
                    tracing::debug!(path = %path.display(), "old snapshot deleted");
                }
                // Gone already (deleted by hand meanwhile): nothing left to do.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => failed(report, &path, "deleting", &e),
            }
        }
        // Only a directory this sweep emptied, or one that has not changed for max_age: a
        // camera directory the writer has just created (empty until its first file is renamed
        // in) is left for it.
        let stale = deleted_here
            || fs::symlink_metadata(dir)
                .and_then(|m| m.modified())
                .is_ok_and(|t| self.is_old(t));
        let empty = fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none());
        if stale && empty {
            match fs::remove_dir(dir) {
                Ok(()) => tracing::debug!(dir = %dir.display(), "empty camera directory removed"),
                // A snapshot arrived meanwhile, or someone else removed it.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::DirectoryNotEmpty | io::ErrorKind::NotFound
                    ) => {}
                Err(e) => failed(report, dir, "removing", &e),
            }
        }
    }

    fn is_old(&self, modified: SystemTime) -> bool {
        self.cutoff.is_some_and(|cutoff| modified < cutoff)
    }
}

/// `*.jpg` (a snapshot) or `*.jpg.tmp` (a write that did not finish).
fn is_snapshot_name(name: &OsStr) -> bool {
    name.to_str()
        .is_some_and(|n| n.ends_with(".jpg") || n.ends_with(".jpg.tmp"))
}

fn failed(report: &mut SweepReport, path: &Path, doing: &str, error: &io::Error) {
    report.errors += 1;
    tracing::warn!(path = %path.display(), error = %error, "snapshot sweep: {doing} failed");
}

/// Runs [`sweep_snapshots`] on a background thread: once at start, then every `interval`, until
/// dropped. Reads the wall clock for `now` (snapshot modification times are wall-clock times).
/// Each sweep's report is logged at info level, a failed sweep at warn level.
///
/// Dropping it stops the thread and waits for it: promptly while it waits for the next sweep,
/// and within one file's deletion during a sweep.
#[derive(Debug)]
pub struct SnapshotSweeper {
    signal: Arc<StopSignal>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct StopSignal {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl StopSignal {
    fn is_stopped(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.wake.notify_all();
    }

    /// Waits up to `timeout`; true if stopped before or meanwhile.
    fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        while !*stopped {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            stopped = self
                .wake
                .wait_timeout(stopped, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

impl SnapshotSweeper {
    /// Shortest interval between sweeps; shorter ones are raised to it so a misconfiguration
    /// cannot make the thread spin.
    pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

    /// Starts the thread that sweeps `dir` every `interval` (e.g. an hour), deleting snapshots
    /// older than `max_age`. Err only when the thread cannot be spawned.
    pub fn start(
        dir: impl Into<PathBuf>,
        max_age: Duration,
        interval: Duration,
    ) -> Result<Self, AlertsError> {
        let dir = dir.into();
        let interval = interval.max(Self::MIN_INTERVAL);
        let signal = Arc::new(StopSignal::default());
        let thread_signal = Arc::clone(&signal);
        let thread_dir = dir.clone();
        let thread = thread::Builder::new()
            .name("snapshot-sweeper".into())
            .spawn(move || sweep_loop(&thread_dir, max_age, interval, &thread_signal))
            .map_err(|source| AlertsError::SnapshotSweep { path: dir, source })?;
        Ok(Self {
            signal,
            thread: Some(thread),
        })
    }
}

impl Drop for SnapshotSweeper {
    fn drop(&mut self) {
        self.signal.stop();
        if let Some(thread) = self.thread.take() {
            // A panic in the thread has been printed already; nothing more to do here.
            let _ = thread.join();
        }
    }
}

fn sweep_loop(dir: &Path, max_age: Duration, interval: Duration, signal: &StopSignal) {
    tracing::info!(
        dir = %dir.display(),
        max_age_s = max_age.as_secs(),
        interval_s = interval.as_secs(),
        "snapshot sweeper started"
    );
    loop {
        let sweep = Sweep {
            cutoff: SystemTime::now().checked_sub(max_age),
            stop: &|| signal.is_stopped(),
            remove_file: &|path| fs::remove_file(path),
        };
        match sweep.run(dir) {
            Ok(r) => tracing::info!(
                dir = %dir.display(),
                deleted = r.deleted,
                bytes_freed = r.bytes_freed,
                kept = r.kept,
                errors = r.errors,
                "snapshot sweep done"
            ),
            Err(e) => tracing::warn!(error = %e, "snapshot sweep failed"),
        }
        if signal.wait(interval) {
            break;
        }
    }
    tracing::info!(dir = %dir.display(), "snapshot sweeper stopped");
}

#[cfg(test)]
mod tests {
    use sharpeyes_core::{CameraId, Letterbox, UnixMillis};

    use super::*;
    use crate::testkit::TempDir;

    /// A 416x416 canvas holding a 768x432 picture (416x234 at y=91): borders black, picture
    /// left half red, right half blue. Rows padded to a stride wider than the width.
    fn letterboxed_frame() -> Frame {
        let (w, h) = (416u32, 416u32);
        let stride = w as usize * 3 + 16;
        let lb = Letterbox::fit(768, 432, w, h);
        let (iw, ih) = lb.inner_size();
        let mut data = vec![0u8; stride * h as usize];
        for y in lb.pad_y as u32..lb.pad_y as u32 + ih {
            for x in lb.pad_x as u32..lb.pad_x as u32 + iw {
                let i = y as usize * stride + x as usize * 3;
                let bgr = if x < w / 2 { [0, 0, 255] } else { [255, 0, 0] };
                data[i..i + 3].copy_from_slice(&bgr);
            }
        }
        Frame {
            camera: CameraId::new("gate-east").expect("valid"),
            seq: 7,
            time: UnixMillis(1_000),
            width: w,
            height: h,
            stride,
            format: PixelFormat::Bgr24,
            data: Arc::from(data),
            letterbox: lb,
        }
    }

    #[test]
    fn crop_removes_letterbox_borders_and_swaps_to_rgb() {
        let f = letterboxed_frame();
        let (rgb, w, h) = picture_rgb(&f).expect("fits");
        assert_eq!((w, h), (416, 234));
        assert_eq!(rgb.len(), 416 * 234 * 3);
        assert_eq!(
            &rgb[0..3],
            &[255, 0, 0],
            "top-left is red, not border black"
        );
        let last = rgb.len() - 3;
        assert_eq!(&rgb[last..], &[0, 0, 255], "bottom-right is blue");
    }

    #[test]
    fn writes_a_decodable_jpeg_of_the_inner_size() {
        let tmp = TempDir::new("snapshot").expect("temp dir");
        let writer = SnapshotWriter::new(tmp.path().join("snaps"));
        let f = letterboxed_frame();
        let path = writer
            .write("gate-east-1000-person_detected", &f)
            .expect("written");
        assert_eq!(
            path,
            tmp.path()
                .join("snaps/gate-east/gate-east-1000-person_detected.jpg")
        );
        let img = image::open(&path).expect("decodes").to_rgb8();
        assert_eq!(img.dimensions(), (416, 234));
        let red = img.get_pixel(10, 10).0;
        assert!(red[0] > 200 && red[2] < 60, "left is red, got {red:?}");
        let blue = img.get_pixel(400, 200).0;
        assert!(blue[2] > 200 && blue[0] < 60, "right is blue, got {blue:?}");
        let leftovers: Vec<_> = fs::read_dir(path.parent().expect("has parent"))
            .expect("lists")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no temp file left behind");
    }

    #[test]
    fn rejects_alert_ids_that_are_not_file_names() {
        let tmp = TempDir::new("snapshot").expect("temp dir");
        let writer = SnapshotWriter::new(tmp.path());
        let f = letterboxed_frame();
        for bad in ["", "../escape", "a/b", ".hidden"] {
            let e = writer.write(bad, &f).expect_err("rejected");
            assert!(matches!(e, AlertsError::Snapshot { .. }), "{bad:?}: {e}");
        }
    }

    #[test]
    fn short_buffer_is_an_error_not_a_panic() {
        let mut f = letterboxed_frame();
        f.data = Arc::from(vec![0u8; 100]);
        let tmp = TempDir::new("snapshot").expect("temp dir");
        let e = SnapshotWriter::new(tmp.path())
            .write("x", &f)
            .expect_err("too small");
        assert!(matches!(e, AlertsError::SnapshotEncode { .. }), "{e}");
    }

    // --- drawing -------------------------------------------------------------------------

    const RED: [u8; 3] = [255, 0, 0];
    const BLACK: [u8; 3] = [0, 0, 0];
    /// A 40x30 black picture.
    const W: u32 = 40;
    const H: u32 = 30;

    fn blank() -> Vec<u8> {
        vec![0; (W * H * 3) as usize]
    }

    fn px(rgb: &[u8], x: u32, y: u32) -> [u8; 3] {
        let i = ((y * W + x) * 3) as usize;
        [rgb[i], rgb[i + 1], rgb[i + 2]]
    }

    fn coloured_pixels(rgb: &[u8]) -> usize {
        rgb.chunks_exact(3).filter(|p| *p != BLACK).count()
    }

    fn bbox(x1: f32, y1: f32, x2: f32, y2: f32) -> BBox {
        BBox { x1, y1, x2, y2 }
    }

    /// A mark with a box outside any picture (draws nothing) and the given keypoints, the rest
    /// of the 17 scoring 0.
    fn skeleton(points: &[(usize, f32, f32, f32)]) -> Mark {
        let mut keypoints = vec![
            Keypoint {
                x: 0.0,
                y: 0.0,
                score: 0.0
            };
            coco::KEYPOINTS
        ];
        for &(i, x, y, score) in points {
            keypoints[i] = Keypoint { x, y, score };
        }
        Mark {
            bbox: bbox(-100.0, -100.0, -50.0, -50.0),
            label: None,
            colour: RED,
            keypoints,
        }
    }

    fn boxed(b: BBox) -> Mark {
        Mark {
            bbox: b,
            label: Some("person".into()),
            colour: RED,
            keypoints: Vec::new(),
        }
    }

    #[test]
    fn box_outline_is_two_pixels_and_the_inside_stays() {
        let mut rgb = blank();
        draw_mark(&mut rgb, W, H, &boxed(bbox(10.0, 10.0, 30.0, 20.0)), 1.0);
        // Covers columns 10..=29, rows 10..=19; the two outer columns and rows are coloured.
        for (x, y) in [(10, 15), (11, 15), (28, 15), (29, 15), (20, 10), (20, 11)] {
            assert_eq!(px(&rgb, x, y), RED, "outline at ({x},{y})");
        }
        for (x, y) in [(20, 18), (20, 19), (10, 10), (29, 19)] {
            assert_eq!(px(&rgb, x, y), RED, "outline at ({x},{y})");
        }
        for (x, y) in [(12, 15), (20, 15), (27, 15), (20, 12), (20, 17)] {
            assert_eq!(px(&rgb, x, y), BLACK, "inside at ({x},{y})");
        }
        for (x, y) in [(9, 15), (30, 15), (20, 9), (20, 20)] {
            assert_eq!(px(&rgb, x, y), BLACK, "outside at ({x},{y})");
        }
        // 2 * 20 + 2 * 20 rows/columns of the long sides, minus the 4 corners counted twice.
        assert_eq!(coloured_pixels(&rgb), 2 * 2 * 20 + 2 * 2 * 10 - 4 * 4);
    }

    #[test]
    fn box_is_mapped_from_source_to_picture_pixels() {
        let mut scaled = blank();
        draw_mark(&mut scaled, W, H, &boxed(bbox(20.0, 20.0, 60.0, 40.0)), 0.5);
        let mut direct = blank();
        draw_mark(&mut direct, W, H, &boxed(bbox(10.0, 10.0, 30.0, 20.0)), 1.0);
        assert!(scaled == direct, "source box at scale 0.5 = picture box");
    }

    #[test]
    fn skeleton_line_colours_the_midpoint_and_dots_the_keypoints() {
        let mut rgb = blank();
        let mark = skeleton(&[
            (coco::LEFT_SHOULDER, 10.0, 10.0, 0.9),
            (coco::LEFT_HIP, 30.0, 20.0, 0.3),
        ]);
        draw_mark(&mut rgb, W, H, &mark, 1.0);
        assert_eq!(px(&rgb, 20, 15), RED, "midpoint of the shoulder-hip line");
        assert_eq!(px(&rgb, 20, 5), BLACK, "away from the line");
        assert_eq!(px(&rgb, 20, 25), BLACK, "away from the line");
        // Radius-2 dots, on the sides the line does not pass.
        assert_eq!(px(&rgb, 8, 10), RED, "dot left of the shoulder");
        assert_eq!(px(&rgb, 10, 8), RED, "dot above the shoulder");
        assert_eq!(px(&rgb, 7, 10), BLACK, "beyond the dot's radius");
        assert_eq!(px(&rgb, 8, 8), BLACK, "dot is round, not square");
        assert_eq!(px(&rgb, 32, 20), RED, "dot right of the hip");
        assert_eq!(px(&rgb, 30, 22), RED, "dot below the hip");
    }

    #[test]
    fn keypoints_below_the_score_draw_nothing() {
        let mut rgb = blank();
        let mark = skeleton(&[
            (coco::LEFT_SHOULDER, 10.0, 10.0, 0.29),
            (coco::LEFT_HIP, 30.0, 20.0, 0.1),
            (coco::NOSE, 20.0, 5.0, f32::NAN),
        ]);
        draw_mark(&mut rgb, W, H, &mark, 1.0);
        assert_eq!(coloured_pixels(&rgb), 0);

        // One end good: its dot, but no line.
        let mark = skeleton(&[
            (coco::LEFT_SHOULDER, 10.0, 10.0, 0.9),
            (coco::LEFT_HIP, 30.0, 20.0, 0.29),
        ]);
        draw_mark(&mut rgb, W, H, &mark, 1.0);
        assert_eq!(px(&rgb, 10, 10), RED, "the shoulder's dot");
        assert_eq!(px(&rgb, 20, 15), BLACK, "no line to a weak hip");
        assert_eq!(coloured_pixels(&rgb), 13, "one radius-2 dot only");
    }

    #[test]
    fn out_of_range_coordinates_are_clipped_without_panic() {
        // A box reaching out of the top-left corner: only its right and bottom edges show.
        let mut rgb = blank();
        draw_mark(&mut rgb, W, H, &boxed(bbox(-10.0, -10.0, 20.0, 15.0)), 1.0);
        assert_eq!(px(&rgb, 19, 5), RED, "right edge");
        assert_eq!(px(&rgb, 5, 14), RED, "bottom edge");
        assert_eq!(px(&rgb, 0, 5), BLACK, "left edge is off the picture");
        assert_eq!(px(&rgb, 5, 0), BLACK, "top edge is off the picture");

        // Boxes far out, infinite, NaN, reversed: no panic; the huge one's edges are all off.
        let mut rgb = blank();
        for b in [
            bbox(-1e30, -1e30, 1e30, 1e30),
            bbox(f32::MIN, f32::MIN, f32::MAX, f32::MAX),
            bbox(f32::NEG_INFINITY, -1e9, f32::INFINITY, f32::INFINITY),
            bbox(f32::NAN, 5.0, 20.0, 20.0),
            bbox(1e9, 1e9, 2e9, 2e9),
        ] {
            draw_mark(&mut rgb, W, H, &boxed(b), 1.0);
        }
        assert_eq!(coloured_pixels(&rgb), 0);

        // A line between far-away keypoints is drawn where it crosses the picture, quickly.
        let mut rgb = blank();
        let mark = skeleton(&[
            (coco::LEFT_SHOULDER, -1e30, 15.0, 1.0),
            (coco::RIGHT_SHOULDER, f32::MAX, 15.0, 1.0),
            (coco::LEFT_HIP, -1e6, -1e6, 1.0),
            (coco::RIGHT_HIP, 1e6, 1e6, 1.0),
            (coco::LEFT_KNEE, f32::NAN, 3.0, 1.0),
            (coco::RIGHT_KNEE, f32::INFINITY, 3.0, 1.0),
        ]);
        draw_mark(&mut rgb, W, H, &mark, 1.0);
        assert_eq!(px(&rgb, 0, 15), RED, "shoulder line enters at the left");
        assert_eq!(px(&rgb, 39, 15), RED, "and leaves at the right");
        assert_eq!(px(&rgb, 0, 0), RED, "hip line on the diagonal, top left");
        assert_eq!(px(&rgb, 20, 20), RED, "hip line on the diagonal, middle");
        assert_eq!(px(&rgb, 29, 29), RED, "hip line on the diagonal, bottom");
        assert_eq!(px(&rgb, 20, 3), BLACK, "knees with NaN/inf are skipped");
        // Endpoints at the ends of f32: where the line lands is as precise as f32::MAX allows,
        // but it is drawn without panic and in time bounded by the picture's size.
        let mark = skeleton(&[
            (coco::LEFT_HIP, f32::MIN, f32::MIN, 1.0),
            (coco::RIGHT_HIP, f32::MAX, f32::MAX, 1.0),
            (coco::LEFT_ANKLE, f32::MAX, f32::MIN, 1.0),
            (coco::LEFT_KNEE, f32::MIN, f32::MAX, 1.0),
        ]);
        draw_mark(&mut rgb, W, H, &mark, f32::MAX);

        // Fewer than 17 keypoints, an empty picture, a buffer too short: nothing, no panic.
        let mut short = skeleton(&[(coco::NOSE, 5.0, 5.0, 1.0)]);
        short.keypoints.truncate(3);
        let mut rgb = blank();
        draw_mark(&mut rgb, W, H, &short, 1.0);
        assert_eq!(px(&rgb, 5, 5), RED);
        draw_mark(&mut [], 0, 0, &boxed(bbox(0.0, 0.0, 5.0, 5.0)), 1.0);
        let mut tiny = vec![0u8; 10];
        draw_mark(&mut tiny, W, H, &boxed(bbox(0.0, 0.0, 5.0, 5.0)), 1.0);
        assert_eq!(tiny, vec![0u8; 10]);
        draw_mark(&mut rgb, u32::MAX, u32::MAX, &short, 1.0);
    }

    #[test]
    fn annotated_snapshot_shows_the_box_over_the_picture() {
        let tmp = TempDir::new("snapshot").expect("temp dir");
        let writer = SnapshotWriter::new(tmp.path());
        let f = letterboxed_frame();
        // Source 768x432 at scale 416/768: source (100,100)-(300,300) is about (54,54)-(163,163).
        let mark = Mark {
            bbox: bbox(100.0, 100.0, 300.0, 300.0),
            label: Some("person".into()),
            colour: [0, 255, 0],
            keypoints: Vec::new(),
        };
        let path = writer
            .write_annotated("a-1", &f, std::slice::from_ref(&mark))
            .expect("written");
        let img = image::open(&path).expect("decodes").to_rgb8();
        assert_eq!(img.dimensions(), (416, 234));
        let edge = img.get_pixel(55, 110).0;
        assert!(
            edge[1] > 150 && edge[0] < 150,
            "left edge is green, got {edge:?}"
        );
        let inside = img.get_pixel(110, 110).0;
        assert!(
            inside[0] > 200 && inside[1] < 60,
            "inside stays red, got {inside:?}"
        );
        let plain = image::open(writer.write("a-2", &f).expect("written"))
            .expect("decodes")
            .to_rgb8();
        let p = plain.get_pixel(55, 110).0;
        assert!(p[0] > 200 && p[1] < 60, "write draws nothing, got {p:?}");
    }

    // --- retention -----------------------------------------------------------------------

    const HOUR: Duration = Duration::from_secs(3600);

    /// Writes `bytes` bytes to `dir/rel` (parents created) with modification time `mtime`.
    fn file_at(dir: &Path, rel: &str, bytes: usize, mtime: SystemTime) -> PathBuf {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
        let mut f = fs::File::create(&path).expect("create");
        f.write_all(&vec![0xAB; bytes]).expect("write");
        f.set_modified(mtime).expect("set mtime");
        path
    }

    #[test]
    fn sweep_deletes_old_snapshots_only_and_removes_emptied_camera_dirs() {
        let tmp = TempDir::new("sweep").expect("temp dir");
        let dir = tmp.path();
        let now = SystemTime::now();
        let old = now - 2 * HOUR;
        let young = now - HOUR / 6;
        let a_old = file_at(dir, "cam-a/old.jpg", 100, old);
        let a_young = file_at(dir, "cam-a/young.jpg", 10, young);
        let a_notes = file_at(dir, "cam-a/notes.txt", 10, old);
        let b_old = file_at(dir, "cam-b/1.jpg", 200, old);
        let b_tmp = file_at(dir, "cam-b/2.jpg.tmp", 30, old);
        let c_young_tmp = file_at(dir, "cam-c/3.jpg.tmp", 5, young);
        let top = file_at(dir, "stray.jpg", 10, old);
        let nested = file_at(dir, "cam-d/sub/deep.jpg", 10, old);
        let other_ext = file_at(dir, "cam-d/old.jpeg", 10, old);

        let report = sweep_snapshots(dir, HOUR, now).expect("sweeps");
        assert_eq!(
            report,
            SweepReport {
                deleted: 3,
                bytes_freed: 330,
                kept: 2,
                errors: 0
            }
        );
        for gone in [&a_old, &b_old, &b_tmp] {
            assert!(!gone.exists(), "{} deleted", gone.display());
        }
        for kept in [&a_young, &a_notes, &c_young_tmp, &top, &nested, &other_ext] {
            assert!(kept.exists(), "{} kept", kept.display());
        }
        assert!(!dir.join("cam-b").exists(), "emptied camera dir removed");
        assert!(dir.join("cam-a").is_dir() && dir.join("cam-d/sub").is_dir());

        let again = sweep_snapshots(dir, HOUR, now).expect("sweeps");
        assert_eq!((again.deleted, again.kept), (0, 2), "nothing more to do");
    }

    #[test]
    fn sweep_keeps_a_file_exactly_max_age_old() {
        let tmp = TempDir::new("sweep").expect("temp dir");
        let path = file_at(tmp.path(), "cam/x.jpg", 1, SystemTime::now() - 2 * HOUR);
        // The time as the file system stored it (it may round what was set).
        let mtime = fs::metadata(&path)
            .and_then(|m| m.modified())
            .expect("mtime");
        let report = sweep_snapshots(tmp.path(), HOUR, mtime + HOUR).expect("sweeps");
        assert_eq!((report.deleted, report.kept), (0, 1));
        let later = mtime + HOUR + Duration::from_micros(1);
        let report = sweep_snapshots(tmp.path(), HOUR, later).expect("sweeps");
        assert_eq!((report.deleted, report.kept), (1, 0));
        assert!(!path.exists());
    }

    #[test]
    fn sweep_of_a_missing_dir_is_empty_and_a_file_as_dir_is_an_error() {
        let tmp = TempDir::new("sweep").expect("temp dir");
        let report = sweep_snapshots(&tmp.path().join("never-written"), HOUR, SystemTime::now())
            .expect("ok");
        assert_eq!(report, SweepReport::default());
        let file = file_at(tmp.path(), "plain-file", 1, SystemTime::now());
        let e = sweep_snapshots(&file, HOUR, SystemTime::now()).expect_err("not a directory");
        assert!(
            matches!(e, AlertsError::SnapshotSweep { ref path, .. } if *path == file),
            "{e}"
        );
    }

    #[test]
    fn sweep_counts_a_file_it_cannot_delete_and_goes_on() {
        let tmp = TempDir::new("sweep").expect("temp dir");
        let now = SystemTime::now();
        let stuck = file_at(tmp.path(), "cam/stuck.jpg", 7, now - 2 * HOUR);
        let fine = file_at(tmp.path(), "cam/fine.jpg", 11, now - 2 * HOUR);
        let other = file_at(tmp.path(), "cam2/fine.jpg", 13, now - 2 * HOUR);
        let remove_file = |path: &Path| {
            if path.ends_with("stuck.jpg") {
                Err(io::Error::from(io::ErrorKind::PermissionDenied))
            } else {
                fs::remove_file(path)
            }
        };
        let sweep = Sweep {
            cutoff: now.checked_sub(HOUR),
            stop: &|| false,
            remove_file: &remove_file,
        };
        let report = sweep.run(tmp.path()).expect("sweeps");
        assert_eq!(
            report,
            SweepReport {
                deleted: 2,
                bytes_freed: 24,
                kept: 0,
                errors: 1
            }
        );
        assert!(stuck.exists() && !fine.exists() && !other.exists());
        assert!(tmp.path().join("cam").is_dir(), "not empty, not removed");
        assert!(!tmp.path().join("cam2").exists());
    }

    #[test]
    fn sweep_stops_early_when_asked() {
        let tmp = TempDir::new("sweep").expect("temp dir");
        let now = SystemTime::now();
        let path = file_at(tmp.path(), "cam/x.jpg", 1, now - 2 * HOUR);
        let sweep = Sweep {
            cutoff: now.checked_sub(HOUR),
            stop: &|| true,
            remove_file: &|path| fs::remove_file(path),
        };
        assert_eq!(sweep.run(tmp.path()).expect("ok"), SweepReport::default());
        assert!(path.exists());
    }

    #[test]
    fn sweep_removes_a_stale_empty_camera_dir_but_not_a_new_one() {
        let tmp = TempDir::new("sweep").expect("temp dir");
        let stale = tmp.path().join("stale");
        let fresh = tmp.path().join("fresh");
        fs::create_dir_all(&stale).expect("mkdir");
        fs::create_dir_all(&fresh).expect("mkdir");
        fs::File::open(&stale)
            .and_then(|d| d.set_modified(SystemTime::now() - 2 * HOUR))
            .expect("set dir mtime");
        let report = sweep_snapshots(tmp.path(), HOUR, SystemTime::now()).expect("sweeps");
        assert_eq!(report, SweepReport::default());
        assert!(!stale.exists(), "empty for longer than max age: removed");
        assert!(fresh.is_dir(), "just created by a writer: kept");
    }

    #[cfg(unix)]
    #[test]
    fn sweep_never_follows_links_out_of_the_dir() {
        use std::os::unix::fs::symlink;
        let tmp = TempDir::new("sweep").expect("temp dir");
        let old = SystemTime::now() - 2 * HOUR;
        let outside = tmp.path().join("outside");
        let target = file_at(&outside, "cam/victim.jpg", 5, old);
        let snaps = tmp.path().join("snaps");
        fs::create_dir_all(snaps.join("cam")).expect("mkdir");
        symlink(outside.join("cam"), snaps.join("linked-cam")).expect("dir link");
        symlink(&target, snaps.join("cam/link.jpg")).expect("file link");
        let report = sweep_snapshots(&snaps, HOUR, SystemTime::now()).expect("sweeps");
        assert_eq!(report, SweepReport::default());
        assert!(target.exists(), "file outside dir untouched");
        assert!(snaps.join("cam/link.jpg").symlink_metadata().is_ok());
        assert!(snaps.join("linked-cam").symlink_metadata().is_ok());
    }

    #[test]
    fn writer_writes_again_after_the_sweep_removed_its_camera_dir() {
        let tmp = TempDir::new("sweep").expect("temp dir");
        let writer = SnapshotWriter::new(tmp.path());
        let f = letterboxed_frame();
        let first = writer.write("a-1", &f).expect("written");
        fs::File::options()
            .write(true)
            .open(&first)
            .and_then(|file| file.set_modified(SystemTime::now() - 2 * HOUR))
            .expect("age it");
        let report = sweep_snapshots(tmp.path(), HOUR, SystemTime::now()).expect("sweeps");
        assert_eq!(report.deleted, 1);
        assert!(!first.parent().expect("has parent").exists());
        let second = writer.write("a-2", &f).expect("written again");
        assert!(second.is_file());
    }

    /// Polls `done` every 5 ms for up to 10 s.
    fn eventually(done: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if done() {
                return true;
            }
            thread::sleep(Duration::from_millis(5));
        }
        done()
    }

    #[test]
    fn sweeper_sweeps_at_start_and_stops_promptly_on_drop() {
        let tmp = TempDir::new("sweep").expect("temp dir");
        let old = file_at(tmp.path(), "cam/old.jpg", 3, SystemTime::now() - 2 * HOUR);
        let young = file_at(tmp.path(), "cam/young.jpg", 3, SystemTime::now());
        // An hour between sweeps: only the first one runs during this test, and drop must not
        // wait for the second.
        let sweeper = SnapshotSweeper::start(tmp.path(), HOUR, HOUR).expect("starts");
        assert!(
            eventually(|| !old.exists()),
            "first sweep deletes the old file"
        );
        assert!(young.exists());
        let t = Instant::now();
        drop(sweeper);
        // Generous bound for a loaded machine; without the wake-up drop would take an hour.
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "drop took {:?}",
            t.elapsed()
        );
    }

    #[test]
    fn sweeper_sweeps_again_every_interval() {
        let tmp = TempDir::new("sweep").expect("temp dir");
        let sweeper =
            SnapshotSweeper::start(tmp.path(), HOUR, Duration::from_millis(20)).expect("starts");
        // Created after the first sweep may have run: a later sweep deletes it.
        let late = file_at(tmp.path(), "cam/late.jpg", 3, SystemTime::now() - 2 * HOUR);
        assert!(eventually(|| !late.exists()), "a later sweep deletes it");
        drop(sweeper);
    }
}
