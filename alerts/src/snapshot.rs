//! JPEG snapshots of the frames that raised alerts. Does file I/O: writes
//! `<dir>/<camera>/<alert id>.jpg` (temp name, fsync, rename, so a reader never sees half a
//! file). The crop and colour conversion ([`picture_rgb`]) are pure.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use image::ExtendedColorType;
use image::codecs::jpeg::JpegEncoder;
use sharpeyes_core::{Frame, PixelFormat};

use crate::error::AlertsError;

/// JPEG quality (1-100) of snapshots: small files, faces and clothing still recognisable.
pub const SNAPSHOT_JPEG_QUALITY: u8 = 80;

/// Writes snapshots under one directory, one subdirectory per camera.
#[derive(Clone, Debug)]
pub struct SnapshotWriter {
    dir: PathBuf,
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
        let (rgb, width, height) =
            picture_rgb(frame).map_err(|reason| AlertsError::SnapshotEncode {
                camera: frame.camera.clone(),
                reason,
            })?;
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
        tracing::debug!(camera = %frame.camera, path = %path.display(), bytes = jpeg.len(), "snapshot written");
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
        let mut f = fs::File::create(&tmp)?;
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

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
}
