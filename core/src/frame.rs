//! Camera identity and decoded frames, and the `FrameSource` trait every camera kind implements.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::clock::UnixMillis;
use crate::geometry::Letterbox;

/// Identifies one camera across configs, metrics, alerts and topics.
///
/// Invariant: non-empty, only ASCII letters, digits, `-`, `_` and `.` (so it is safe in file names,
/// metric labels and Kafka keys).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CameraId(String);

/// Why a string is not a valid [`CameraId`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "camera id {0:?} must be 1-64 characters of ASCII letters, digits, '-', '_' or '.', and not only dots"
)]
pub struct InvalidCameraId(pub String);

impl CameraId {
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidCameraId> {
        let id = id.into();
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            // `.` and `..` would name the directory itself or its parent in the paths made of
            // camera ids (snapshots/<camera>/, state directories).
            && !id.bytes().all(|b| b == b'.');
        if ok {
            Ok(Self(id))
        } else {
            Err(InvalidCameraId(id))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CameraId {
    type Error = InvalidCameraId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<CameraId> for String {
    fn from(id: CameraId) -> String {
        id.0
    }
}

impl fmt::Display for CameraId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Pixel layout of [`Frame::data`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    /// 3 bytes per pixel, blue first, rows `stride` bytes apart.
    Bgr24,
}

/// One decoded picture, already scaled (letterboxed) to the size the detector wants.
///
/// The pixel buffer is shared (`Arc`) so a frame can be fanned out to several models and to the
/// snapshot writer without copies, and so a batch can be assembled from frames of many cameras.
#[derive(Clone, Debug)]
pub struct Frame {
    pub camera: CameraId,
    /// Frame counter within this source, from 0, counting every decoded frame (dropped ones too).
    pub seq: u64,
    /// When the picture was taken: wall clock for live cameras, start-of-replay + media time for
    /// files. Rules use this time, never the wall clock, so a replay at 50x gives the same alerts.
    pub time: UnixMillis,
    /// Width of `data` in pixels.
    pub width: u32,
    /// Height of `data` in pixels.
    pub height: u32,
    /// Bytes between the starts of two rows of `data` (>= width * 3).
    pub stride: usize,
    pub format: PixelFormat,
    pub data: Arc<[u8]>,
    /// Where the source picture lies inside `data`.
    pub letterbox: Letterbox,
}

impl Frame {
    /// The pixel at (x, y) as [b, g, r]. Panics if out of range (callers iterate within bounds).
    pub fn bgr_at(&self, x: u32, y: u32) -> [u8; 3] {
        let i = y as usize * self.stride + x as usize * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }
}

/// A camera or file that yields decoded frames. Implementations may block inside `next_frame`
/// but must return within `timeout` so the caller can notice shutdown.
pub trait FrameSource: Send {
    type Error: std::error::Error + Send + Sync + 'static;

    fn camera(&self) -> &CameraId;

    /// The next frame, [`SourceItem::Timeout`] when none came within `timeout`,
    /// [`SourceItem::End`] at the end of a finite source, or `Err` when the source failed (the
    /// caller decides whether to reconnect).
    fn next_frame(&mut self, timeout: std::time::Duration) -> Result<SourceItem, Self::Error>;
}

/// What [`FrameSource::next_frame`] produced.
#[derive(Debug)]
pub enum SourceItem {
    Frame(Frame),
    /// Nothing arrived within the timeout; the source is still alive.
    Timeout,
    /// A finite source (a file) has ended.
    End,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_ids_that_would_name_a_directory_are_refused() {
        for bad in [".", "..", "...", "", "a/b", "a b", &"x".repeat(65)] {
            assert!(CameraId::new(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["gate", "cam.1", ".hidden-but-named", "a..b", "Cam_2-x"] {
            assert!(CameraId::new(good).is_ok(), "{good:?} refused");
        }
        assert!(
            CameraId::new("..")
                .unwrap_err()
                .to_string()
                .contains("not only dots")
        );
    }
}
