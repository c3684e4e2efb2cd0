//! JPEG snapshots of the frames that raised alerts, and their retention.
//!
//! - [`SnapshotWriter`] does file I/O: writes `<dir>/<camera>/<alert id>.jpg` (temp name, fsync,
//!   rename, so a reader never sees half a file), optionally with the detections drawn on it
//!   ([`SnapshotWriter::write_annotated`]).
//! - The crop and colour conversion ([`picture_rgb`]) and the drawing of boxes, labels and
//!   skeletons ([`draw_mark`]) are pure. Drawing is imageproc's; labels are set in DejaVu Sans
//!   Mono Bold, compiled into the binary (the `dejavu` crate), so they never depend on the fonts
//!   a machine has.
//! - [`sweep_snapshots`] deletes snapshots older than a maximum age (file I/O, time passed in);
//!   [`SnapshotSweeper`] runs it on a background thread every interval.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageBuffer, Rgb};
use imageproc::drawing::{BresenhamLineIter, draw_filled_rect_mut, draw_text_mut, text_size};
use imageproc::rect::Rect;
use sharpeyes_core::{BBox, Detection, Frame, Keypoint, PixelFormat, coco};

use crate::error::DeliveryError;

/// JPEG quality (1-100) of snapshots: small files, faces and clothing still recognisable.
pub const SNAPSHOT_JPEG_QUALITY: u8 = 80;

/// Keypoints scoring below this are not drawn, nor the skeleton lines that end at them.
pub const SKELETON_MIN_SCORE: f32 = 0.3;

/// Thickness in JPEG pixels of box outlines and skeleton lines. Two, not one: JPEG halves the
/// colour resolution (4:2:0), and a one-pixel coloured line comes out washed out.
const LINE_PX: i64 = 2;

/// Radius in JPEG pixels of the dot drawn at each keypoint.
const KEYPOINT_DOT_RADIUS_PX: i64 = 2;

/// Height of label text in JPEG pixels: the picture's height divided by this (about 13 pixels
/// in a 640x360 snapshot), kept within [`LABEL_TEXT_PX_MIN`, `LABEL_TEXT_PX_MAX`].
const LABEL_TEXT_PER_PICTURE_HEIGHT: f32 = 27.0;
const LABEL_TEXT_PX_MIN: f32 = 12.0;
const LABEL_TEXT_PX_MAX: f32 = 40.0;

/// Space in JPEG pixels between a label's text and the edges of its tag.
const LABEL_PAD_PX: i64 = 2;

/// Writes snapshots under one directory, one subdirectory per camera.
#[derive(Clone, Debug)]
pub struct SnapshotWriter {
    dir: PathBuf,
}

/// Something to draw on a snapshot: a detection's box with its label and, for a person seen by
/// a pose model, its skeleton.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    /// In pixels of the *source* picture (like [`Detection::bbox`]), not of the canvas.
    pub bbox: BBox,
    /// Text drawn in a tag of the mark's colour on the box's top-left corner (see [`draw_mark`]);
    /// None or empty: the box alone. [`Mark::label_text`] makes the usual one.
    pub label: Option<String>,
    /// Colour of the outline, label tag, skeleton and keypoint dots, as [r, g, b].
    pub colour: [u8; 3],
    /// Body keypoints in source pixels, COCO order ([`coco`]); may be empty or shorter than 17
    /// (missing ones are not drawn).
    pub keypoints: Vec<Keypoint>,
}

impl Mark {
    /// The box and keypoints of `detection`, labelled with its class name and score.
    pub fn from_detection(detection: &Detection, colour: [u8; 3]) -> Self {
        Self {
            bbox: detection.bbox,
            label: Some(Self::label_text(
                &detection.class_name,
                detection.score,
                None,
            )),
            colour,
            keypoints: detection.keypoints.clone(),
        }
    }

    /// The label of an object: class name, score in percent, and track id when it has one, e.g.
    /// `person 87% #12`. `score` is in [0, 1]; a NaN or infinite one is left out.
    pub fn label_text(class_name: &str, score: f32, track_id: Option<u64>) -> String {
        let mut text = class_name.to_owned();
        if score.is_finite() {
            let percent = (score * 100.0).clamp(0.0, 100.0);
            let _ = write!(text, " {percent:.0}%");
        }
        if let Some(id) = track_id {
            let _ = write!(text, " #{id}");
        }
        text
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
    pub fn write(&self, alert_id: &str, frame: &Frame) -> Result<PathBuf, DeliveryError> {
        self.write_annotated(alert_id, frame, &[])
    }

    /// Like [`SnapshotWriter::write`], with `marks` drawn on the picture by [`draw_marks`]: each
    /// box as a 2-pixel outline with its label, and, where a mark has keypoints, its skeleton.
    /// Marks are in source pixels and mapped to the JPEG's pixels by the frame's letterbox
    /// scale; whatever falls outside the picture is clipped away.
    ///
    /// Privacy masks need nothing here: they are applied to the frame's pixels (blacked out)
    /// before frames reach detection and snapshots, so the masked areas are already black. A
    /// box may still be drawn over a masked area; it shows where a person was, not who.
    pub fn write_annotated(
        &self,
        alert_id: &str,
        frame: &Frame,
        marks: &[Mark],
    ) -> Result<PathBuf, DeliveryError> {
        let path = self.path_for(&frame.camera, alert_id);
        if alert_id.is_empty() || alert_id.starts_with('.') || alert_id.contains(['/', '\\', '\0'])
        {
            return Err(DeliveryError::Snapshot {
                path,
                source: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("alert id {alert_id:?} is not a plain file name"),
                ),
            });
        }
        let (mut rgb, width, height) =
            picture_rgb(frame).map_err(|reason| DeliveryError::SnapshotEncode {
                camera: frame.camera.clone(),
                reason,
            })?;
        draw_marks(&mut rgb, width, height, marks, frame.letterbox.scale);
        let mut jpeg = Vec::with_capacity(rgb.len() / 8);
        JpegEncoder::new_with_quality(&mut jpeg, SNAPSHOT_JPEG_QUALITY)
            .encode(&rgb, width, height, ExtendedColorType::Rgb8)
            .map_err(|e| DeliveryError::SnapshotEncode {
                camera: frame.camera.clone(),
                reason: e.to_string(),
            })?;
        write_atomically(&path, &jpeg).map_err(|source| DeliveryError::Snapshot {
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
/// - The box: a 2-pixel outline just inside its edges.
/// - The skeleton, when the mark has keypoints: a 2-pixel line for each pair of
///   [`coco::SKELETON`] whose two keypoints both score at least [`SKELETON_MIN_SCORE`], and a
///   dot of radius 2 at each keypoint scoring that much.
/// - The label, drawn last: its text (white, or black on a light colour) in a filled tag of the
///   mark's colour, sitting on the box's top edge at its left corner, or just inside the box
///   when there is no room above it; moved sideways or down to stay whole in the picture where
///   it fits. Text about a 27th of the picture's height (12 to 40 pixels). Only for a box that
///   shows in the picture: a label never points at something off it.
///
/// Everything is clipped to the picture: boxes or keypoints partly or wholly outside it, huge or
/// infinite coordinates are fine, a box with a NaN coordinate (and its label) and keypoints with
/// a non-finite coordinate are skipped. Draws nothing when `rgb` is shorter than
/// `width * height * 3` or a side is longer than `i32::MAX` (imageproc's coordinates).
pub fn draw_mark(rgb: &mut [u8], width: u32, height: u32, mark: &Mark, scale: f32) {
    if let Some(mut picture) = Picture::new(rgb, width, height) {
        picture.shapes(mark, f64::from(scale));
        picture.label(mark, f64::from(scale));
    }
}

/// Draws `marks` as [`draw_mark`] does, all outlines and skeletons first and then all labels, so
/// that no other mark's box or skeleton covers a label.
pub fn draw_marks(rgb: &mut [u8], width: u32, height: u32, marks: &[Mark], scale: f32) {
    if let Some(mut picture) = Picture::new(rgb, width, height) {
        for mark in marks {
            picture.shapes(mark, f64::from(scale));
        }
        for mark in marks {
            picture.label(mark, f64::from(scale));
        }
    }
}

/// The font of labels: DejaVu Sans Mono Bold (Bitstream Vera licence, DejaVu changes in the
/// public domain), compiled in. Bold and monospaced: digits stay legible at 12 pixels after JPEG.
fn label_font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| {
        FontRef::try_from_slice(dejavu::sans_mono::bold())
            .expect("the DejaVu font compiled into the binary is a valid TrueType font")
    })
}

/// Black text on a light tag colour, white on a dark one (by luma, ITU-R BT.601 weights).
fn text_colour_on([r, g, b]: [u8; 3]) -> Rgb<u8> {
    let luma = 299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b);
    if luma >= 128 * 1000 {
        Rgb([0, 0, 0])
    } else {
        Rgb([255, 255, 255])
    }
}

/// An RGB picture borrowed for drawing, with sides that fit in i32 (imageproc's coordinates).
/// Drawing coordinates here are i64 pixel indices kept within +-1e15 ([`to_px`]), so the
/// arithmetic on them cannot overflow, and are clipped to the picture before imageproc sees them.
struct Picture<'a> {
    image: ImageBuffer<Rgb<u8>, &'a mut [u8]>,
}

impl<'a> Picture<'a> {
    /// None when `rgb` is shorter than `width * height * 3` or a side exceeds `i32::MAX`.
    fn new(rgb: &'a mut [u8], width: u32, height: u32) -> Option<Self> {
        if i32::try_from(width).is_err() || i32::try_from(height).is_err() {
            return None;
        }
        let image = ImageBuffer::from_raw(width, height, rgb)?;
        Some(Self { image })
    }

    fn width(&self) -> i64 {
        i64::from(self.image.width())
    }

    fn height(&self) -> i64 {
        i64::from(self.image.height())
    }

    /// The box outline and skeleton of `mark` (see [`draw_mark`]).
    fn shapes(&mut self, mark: &Mark, scale: f64) {
        let colour = Rgb(mark.colour);
        if let Some(edges) = box_px(&mark.bbox, scale) {
            self.box_outline(edges, colour);
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
                self.line(p, q, colour);
            }
        }
        for index in 0..mark.keypoints.len() {
            if let Some(p) = point(index) {
                self.dot(p, KEYPOINT_DOT_RADIUS_PX, colour);
            }
        }
    }

    /// The label of `mark` in its tag (see [`draw_mark`]); nothing without a label or when the
    /// box is not in the picture.
    fn label(&mut self, mark: &Mark, scale: f64) {
        let Some(text) = mark.label.as_deref().filter(|t| !t.is_empty()) else {
            return;
        };
        let Some([left, top, right, bottom]) = box_px(&mark.bbox, scale) else {
            return;
        };
        let (width, height) = (self.width(), self.height());
        if right < 0 || bottom < 0 || left >= width || top >= height {
            return;
        }
        let font = label_font();
        let text_px = (height as f32 / LABEL_TEXT_PER_PICTURE_HEIGHT)
            .clamp(LABEL_TEXT_PX_MIN, LABEL_TEXT_PX_MAX);
        let size = PxScale::from(text_px);
        let line = font.as_scaled(size);
        let text_w = i64::from(text_size(size, font, text).0);
        let text_h = (line.ascent() - line.descent()).ceil() as i64;
        let (tag_w, tag_h) = (text_w + 2 * LABEL_PAD_PX, text_h + 2 * LABEL_PAD_PX);
        let above = top - tag_h;
        let y = if above >= 0 { above } else { top.max(0) };
        // Whole in the picture where it fits; flush with the top-left corner where it does not.
        let x = left.max(0).min(width - tag_w).max(0);
        let y = y.min(height - tag_h).max(0);
        self.fill(x, y, x + tag_w - 1, y + tag_h - 1, Rgb(mark.colour));
        // In the picture, so within i32 (checked in `new`).
        draw_text_mut(
            &mut self.image,
            text_colour_on(mark.colour),
            (x + LABEL_PAD_PX) as i32,
            (y + LABEL_PAD_PX) as i32,
            size,
            font,
            text,
        );
    }

    /// Fills the pixels in columns `x0..=x1` and rows `y0..=y1` that lie in the picture.
    fn fill(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, colour: Rgb<u8>) {
        let (x0, x1) = (x0.max(0), x1.min(self.width() - 1));
        let (y0, y1) = (y0.max(0), y1.min(self.height() - 1));
        if x0 > x1 || y0 > y1 {
            return;
        }
        // Clipped to the picture, whose sides fit in i32.
        let rect =
            Rect::at(x0 as i32, y0 as i32).of_size((x1 - x0 + 1) as u32, (y1 - y0 + 1) as u32);
        draw_filled_rect_mut(&mut self.image, rect, colour);
    }

    /// The outline of the box whose pixels are [left, top, right, bottom] ([`box_px`]): its
    /// [`LINE_PX`] outermost columns and rows.
    fn box_outline(&mut self, [left, top, right, bottom]: [i64; 4], colour: Rgb<u8>) {
        let t = LINE_PX - 1;
        self.fill(left, top, right, (top + t).min(bottom), colour);
        self.fill(left, (bottom - t).max(top), right, bottom, colour);
        self.fill(left, top, (left + t).min(right), bottom, colour);
        self.fill((right - t).max(left), top, right, bottom, colour);
    }

    /// A [`LINE_PX`]-thick line from `p` to `q` (finite picture coordinates): imageproc's
    /// Bresenham iterator on the part of the segment near the picture.
    fn line(&mut self, p: (f64, f64), q: (f64, f64), colour: Rgb<u8>) {
        let margin = (LINE_PX + 1) as f64;
        let (lo, hi) = (
            (-margin, -margin),
            (self.width() as f64 + margin, self.height() as f64 + margin),
        );
        let Some((p, q)) = clip_segment(p, q, lo, hi) else {
            return;
        };
        // Clipping far-away endpoints loses precision; clamping again bounds the line by the
        // picture's size whatever the rounding did. Whole numbers within i32: exact in f32.
        let end = |(x, y): (f64, f64)| {
            (
                x.clamp(lo.0, hi.0).floor() as f32,
                y.clamp(lo.1, hi.1).floor() as f32,
            )
        };
        for (x, y) in BresenhamLineIter::new(end(p), end(q)) {
            let (x, y) = (i64::from(x), i64::from(y));
            self.fill(x, y, x + LINE_PX - 1, y + LINE_PX - 1, colour);
        }
    }

    /// A filled disc of `radius` pixels around the pixel holding `centre` (finite): the pixels
    /// (x, y) with (x - cx)^2 + (y - cy)^2 <= radius^2, one row at a time.
    fn dot(&mut self, (x, y): (f64, f64), radius: i64, colour: Rgb<u8>) {
        let (cx, cy) = (to_px(x.floor()), to_px(y.floor()));
        for dy in -radius..=radius {
            let half = (radius * radius - dy * dy).isqrt();
            self.fill(cx - half, cy + dy, cx + half, cy + dy, colour);
        }
    }
}

/// The pixels a box covers in the picture, as inclusive [left, top, right, bottom] pixel indices
/// (corners in any order, infinities allowed); None when a coordinate is NaN.
fn box_px(b: &BBox, scale: f64) -> Option<[i64; 4]> {
    // f64 so that even f32::MAX times the scale stays finite and exact enough to clip.
    let [x1, y1, x2, y2] = [b.x1, b.y1, b.x2, b.y2].map(|v| f64::from(v) * scale);
    if [x1, y1, x2, y2].iter().any(|v| v.is_nan()) {
        return None;
    }
    let left = to_px(x1.min(x2).floor());
    let right = (to_px(x1.max(x2).ceil()) - 1).max(left);
    let top = to_px(y1.min(y2).floor());
    let bottom = (to_px(y1.max(y2).ceil()) - 1).max(top);
    Some([left, top, right, bottom])
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
) -> Result<SweepReport, DeliveryError> {
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
    fn run(&self, dir: &Path) -> Result<SweepReport, DeliveryError> {
        let mut report = SweepReport::default();
        let cameras = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(report),
            Err(source) => {
                return Err(DeliveryError::SnapshotSweep {
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

/// `*.jpg` (a snapshot) or `*.jpg.tmp` (a write that did not finish); the same for event clips,
/// which the pipeline sweeps with this same code and retention: `*.mp4` and `*.mp4.part`.
fn is_snapshot_name(name: &OsStr) -> bool {
    name.to_str().is_some_and(|n| {
        [".jpg", ".jpg.tmp", ".mp4", ".mp4.part"]
            .iter()
            .any(|end| n.ends_with(end))
    })
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
    ) -> Result<Self, DeliveryError> {
        let dir = dir.into();
        let interval = interval.max(Self::MIN_INTERVAL);
        let signal = Arc::new(StopSignal::default());
        let thread_signal = Arc::clone(&signal);
        let thread_dir = dir.clone();
        let thread = thread::Builder::new()
            .name("snapshot-sweeper".into())
            .spawn(move || sweep_loop(&thread_dir, max_age, interval, &thread_signal))
            .map_err(|source| DeliveryError::SnapshotSweep { path: dir, source })?;
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
    use tempfile::TempDir;

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
        let tmp = TempDir::with_prefix("sharpeyes-snapshot").expect("temp dir");
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
        let tmp = TempDir::with_prefix("sharpeyes-snapshot").expect("temp dir");
        let writer = SnapshotWriter::new(tmp.path());
        let f = letterboxed_frame();
        for bad in ["", "../escape", "a/b", ".hidden"] {
            let e = writer.write(bad, &f).expect_err("rejected");
            assert!(matches!(e, DeliveryError::Snapshot { .. }), "{bad:?}: {e}");
        }
    }

    #[test]
    fn short_buffer_is_an_error_not_a_panic() {
        let mut f = letterboxed_frame();
        f.data = Arc::from(vec![0u8; 100]);
        let tmp = TempDir::with_prefix("sharpeyes-snapshot").expect("temp dir");
        let e = SnapshotWriter::new(tmp.path())
            .write("x", &f)
            .expect_err("too small");
        assert!(matches!(e, DeliveryError::SnapshotEncode { .. }), "{e}");
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

    /// A box with no label (the tests of boxes count every coloured pixel; labels have their
    /// own tests below).
    fn boxed(b: BBox) -> Mark {
        Mark {
            bbox: b,
            label: None,
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

    // --- labels --------------------------------------------------------------------------

    /// A 200x120 black picture (label text at its smallest, 12 pixels).
    const LW: u32 = 200;
    const LH: u32 = 120;
    const WHITE: [u8; 3] = [255, 255, 255];

    fn blank_wide() -> Vec<u8> {
        vec![0; (LW * LH * 3) as usize]
    }

    fn labelled(b: BBox, label: &str, colour: [u8; 3]) -> Mark {
        Mark {
            bbox: b,
            label: Some(label.into()),
            colour,
            keypoints: Vec::new(),
        }
    }

    fn px_wide(rgb: &[u8], x: u32, y: u32) -> [u8; 3] {
        let i = ((y * LW + x) * 3) as usize;
        [rgb[i], rgb[i + 1], rgb[i + 2]]
    }

    /// Pixels of the 200x120 picture in columns `xs` and rows `ys` for which `is` holds.
    fn count_in(
        rgb: &[u8],
        xs: std::ops::Range<u32>,
        ys: std::ops::Range<u32>,
        is: impl Fn([u8; 3]) -> bool,
    ) -> usize {
        ys.flat_map(|y| xs.clone().map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let i = ((y * LW + x) * 3) as usize;
                is([rgb[i], rgb[i + 1], rgb[i + 2]])
            })
            .count()
    }

    /// Text on a red tag: white, or blended from red towards white at the glyphs' edges.
    fn text_on_red(p: [u8; 3]) -> bool {
        p[0] > 200 && p[1] > 60 && p[2] > 60
    }

    #[test]
    fn label_text_has_class_score_and_track_id() {
        assert_eq!(
            Mark::label_text("person", 0.873, Some(12)),
            "person 87% #12"
        );
        assert_eq!(Mark::label_text("car", 0.4, None), "car 40%");
        assert_eq!(Mark::label_text("person", f32::NAN, Some(3)), "person #3");
        assert_eq!(Mark::label_text("person", 1.7, None), "person 100%");
        let d = Detection {
            class_id: 0,
            class_name: "person".into(),
            score: 0.91,
            bbox: bbox(1.0, 2.0, 3.0, 4.0),
            keypoints: Vec::new(),
        };
        let mark = Mark::from_detection(&d, RED);
        assert_eq!(mark.label.as_deref(), Some("person 91%"));
        assert_eq!((mark.bbox, mark.colour), (d.bbox, RED));
    }

    #[test]
    fn label_is_drawn_in_a_tag_on_the_box_top_edge() {
        let mut rgb = blank_wide();
        let b = bbox(40.0, 60.0, 160.0, 110.0);
        draw_mark(&mut rgb, LW, LH, &labelled(b, "person 87% #12", RED), 1.0);
        // 12-pixel text and 2 pixels of padding: the tag is rows 44..=59, from column 40.
        assert_eq!(
            px_wide(&rgb, 40, 59),
            RED,
            "tag's bottom-left on the box's corner"
        );
        assert_eq!(px_wide(&rgb, 40, 44), RED, "tag's top-left");
        assert_eq!(px_wide(&rgb, 40, 43), BLACK, "nothing above the tag");
        assert_eq!(px_wide(&rgb, 39, 50), BLACK, "nothing left of the tag");
        let text = count_in(&rgb, 40..LW, 44..60, text_on_red);
        assert!(text > 60, "the text shows in the tag: {text} pixels");
        assert_eq!(count_in(&rgb, 0..LW, 0..44, |p| p != BLACK), 0, "above");
        assert_eq!(count_in(&rgb, 0..LW, 60..LH, text_on_red), 0, "below");

        let mut unlabelled = blank_wide();
        draw_mark(&mut unlabelled, LW, LH, &boxed(b), 1.0);
        assert_eq!(count_in(&unlabelled, 0..LW, 0..60, |p| p != BLACK), 0);
        let mut empty = blank_wide();
        draw_mark(&mut empty, LW, LH, &labelled(b, "", RED), 1.0);
        assert!(empty == unlabelled, "an empty label draws no tag");
    }

    #[test]
    fn label_goes_inside_the_box_when_there_is_no_room_above() {
        let mut rgb = blank_wide();
        draw_mark(
            &mut rgb,
            LW,
            LH,
            &labelled(bbox(40.0, 5.0, 160.0, 110.0), "person", RED),
            1.0,
        );
        assert_eq!(px_wide(&rgb, 50, 20), RED, "tag under the top edge");
        assert!(count_in(&rgb, 40..LW, 5..21, text_on_red) > 20);
        assert_eq!(count_in(&rgb, 0..LW, 0..5, |p| p != BLACK), 0);

        // A box reaching above the picture: the tag at its top, in the box.
        let mut rgb = blank_wide();
        draw_mark(
            &mut rgb,
            LW,
            LH,
            &labelled(bbox(40.0, -50.0, 160.0, 110.0), "person", RED),
            1.0,
        );
        assert_eq!(px_wide(&rgb, 50, 0), RED);
        assert!(count_in(&rgb, 40..LW, 0..16, text_on_red) > 20);
    }

    #[test]
    fn label_is_moved_to_stay_whole_in_the_picture() {
        // A thin box at the right edge: the tag is moved left so its text is not cut off.
        let mut rgb = blank_wide();
        let mark = labelled(bbox(190.0, 60.0, 200.0, 110.0), "person 87% #12", RED);
        draw_mark(&mut rgb, LW, LH, &mark, 1.0);
        assert_eq!(px_wide(&rgb, LW - 1, 59), RED, "tag reaches the right edge");
        assert!(count_in(&rgb, 0..LW, 44..60, text_on_red) > 60);

        // A label wider than the picture: flush left, the rest cut off, no panic.
        let mut rgb = blank_wide();
        let long = "person ".repeat(40);
        draw_mark(
            &mut rgb,
            LW,
            LH,
            &labelled(bbox(50.0, 60.0, 80.0, 70.0), &long, RED),
            1.0,
        );
        assert_eq!(px_wide(&rgb, 0, 59), RED);
        assert_eq!(px_wide(&rgb, LW - 1, 59), RED);
    }

    #[test]
    fn label_of_a_box_off_the_picture_or_with_nan_is_not_drawn() {
        let mut rgb = blank_wide();
        for b in [
            bbox(-100.0, -100.0, -50.0, -50.0),
            bbox(300.0, 10.0, 400.0, 50.0),
            bbox(10.0, 130.0, 50.0, 150.0),
            bbox(f32::NAN, 5.0, 20.0, 20.0),
            bbox(1e9, 1e9, 2e9, 2e9),
        ] {
            draw_mark(&mut rgb, LW, LH, &labelled(b, "person", RED), 1.0);
        }
        assert_eq!(count_in(&rgb, 0..LW, 0..LH, |p| p != BLACK), 0);
        // Huge or infinite boxes covering the picture: outline off it, label in its corner.
        for b in [
            bbox(f32::MIN, f32::MIN, f32::MAX, f32::MAX),
            bbox(f32::NEG_INFINITY, -1e9, f32::INFINITY, f32::INFINITY),
        ] {
            let mut rgb = blank_wide();
            draw_mark(&mut rgb, LW, LH, &labelled(b, "person", RED), 1.0);
            assert_eq!(px_wide(&rgb, 0, 0), RED, "{b:?}");
        }
        // A buffer too short or an empty picture: nothing, no panic.
        let mut tiny = vec![0u8; 10];
        draw_mark(
            &mut tiny,
            LW,
            LH,
            &labelled(bbox(0.0, 0.0, 5.0, 5.0), "x", RED),
            1.0,
        );
        assert_eq!(tiny, vec![0u8; 10]);
        draw_mark(
            &mut [],
            0,
            0,
            &labelled(bbox(0.0, 0.0, 5.0, 5.0), "x", RED),
            1.0,
        );
    }

    #[test]
    fn label_text_is_black_on_a_light_colour_and_white_on_a_dark_one() {
        let b = bbox(40.0, 60.0, 160.0, 110.0);
        for (colour, text_is_dark) in [
            ([255, 150, 0], true),
            ([40, 200, 60], true),
            ([230, 30, 30], false),
            ([0, 0, 255], false),
        ] {
            let mut rgb = blank_wide();
            draw_mark(&mut rgb, LW, LH, &labelled(b, "person 87%", colour), 1.0);
            // Within the tag (about 76 pixels wide); the picture beyond it is black.
            let dark = count_in(&rgb, 40..100, 44..60, |p| p == BLACK);
            let light = count_in(&rgb, 40..100, 44..60, |p| p == WHITE);
            assert_eq!(
                (dark > 20, light > 20),
                (text_is_dark, !text_is_dark),
                "{colour:?}"
            );
        }
    }

    #[test]
    fn labels_are_drawn_over_every_box() {
        // The second mark's top edge (rows 50 and 51) crosses the first mark's tag.
        let first = labelled(bbox(40.0, 60.0, 160.0, 110.0), "person", RED);
        let second = Mark {
            bbox: bbox(0.0, 50.0, 200.0, 120.0),
            label: None,
            colour: [0, 0, 255],
            keypoints: Vec::new(),
        };
        let mut rgb = blank_wide();
        draw_marks(&mut rgb, LW, LH, &[first, second], 1.0);
        assert_eq!(
            px_wide(&rgb, 41, 50),
            RED,
            "the tag, not the later box's edge"
        );
        assert_eq!(
            px_wide(&rgb, 10, 50),
            [0, 0, 255],
            "the edge away from the tag"
        );
    }

    #[test]
    fn label_font_is_compiled_in() {
        let font = label_font();
        for c in "person 0123456789%#".chars() {
            assert_ne!(font.glyph_id(c).0, 0, "glyph for {c:?}");
        }
    }

    #[test]
    fn annotated_snapshot_shows_the_box_over_the_picture() {
        let tmp = TempDir::with_prefix("sharpeyes-snapshot").expect("temp dir");
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
        let tmp = TempDir::with_prefix("sharpeyes-sweep").expect("temp dir");
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
    fn sweep_deletes_old_event_clips_and_their_unfinished_parts_too() {
        let tmp = TempDir::with_prefix("sharpeyes-sweep").expect("temp dir");
        let dir = tmp.path();
        let now = SystemTime::now();
        let old_clip = file_at(dir, "cam-a/1.mp4", 100, now - 2 * HOUR);
        let old_part = file_at(dir, "cam-a/2.mp4.part", 50, now - 2 * HOUR);
        let young = file_at(dir, "cam-a/3.mp4", 10, now - HOUR / 6);
        let other = file_at(dir, "cam-a/4.mkv", 10, now - 2 * HOUR);
        let report = sweep_snapshots(dir, HOUR, now).expect("sweeps");
        assert_eq!((report.deleted, report.bytes_freed, report.kept), (2, 150, 1));
        assert!(!old_clip.exists() && !old_part.exists());
        assert!(young.exists() && other.exists());
    }

    #[test]
    fn sweep_keeps_a_file_exactly_max_age_old() {
        let tmp = TempDir::with_prefix("sharpeyes-sweep").expect("temp dir");
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
        let tmp = TempDir::with_prefix("sharpeyes-sweep").expect("temp dir");
        let report = sweep_snapshots(&tmp.path().join("never-written"), HOUR, SystemTime::now())
            .expect("ok");
        assert_eq!(report, SweepReport::default());
        let file = file_at(tmp.path(), "plain-file", 1, SystemTime::now());
        let e = sweep_snapshots(&file, HOUR, SystemTime::now()).expect_err("not a directory");
        assert!(
            matches!(e, DeliveryError::SnapshotSweep { ref path, .. } if *path == file),
            "{e}"
        );
    }

    #[test]
    fn sweep_counts_a_file_it_cannot_delete_and_goes_on() {
        let tmp = TempDir::with_prefix("sharpeyes-sweep").expect("temp dir");
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
        let tmp = TempDir::with_prefix("sharpeyes-sweep").expect("temp dir");
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
        let tmp = TempDir::with_prefix("sharpeyes-sweep").expect("temp dir");
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
        let tmp = TempDir::with_prefix("sharpeyes-sweep").expect("temp dir");
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
        let tmp = TempDir::with_prefix("sharpeyes-sweep").expect("temp dir");
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
        let tmp = TempDir::with_prefix("sharpeyes-sweep").expect("temp dir");
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
        let tmp = TempDir::with_prefix("sharpeyes-sweep").expect("temp dir");
        let sweeper =
            SnapshotSweeper::start(tmp.path(), HOUR, Duration::from_millis(20)).expect("starts");
        // Created after the first sweep may have run: a later sweep deletes it.
        let late = file_at(tmp.path(), "cam/late.jpg", 3, SystemTime::now() - 2 * HOUR);
        assert!(eventually(|| !late.exists()), "a later sweep deletes it");
        drop(sweeper);
    }
}
