//! Event clips as the rest of the system learns of them: [`ClipReady`], sent once a clip's MP4
//! is complete on disk, and [`clip_file_name`], the one naming rule. Pure; the ring and the
//! writer are `sharpeyes_ingest::clip_ring` and `sharpeyes_ingest::clip_writer`.

use std::path::PathBuf;

use crate::frame::CameraId;

/// A clip finished: `path` is a complete MP4 (renamed from `<path>.part` after the muxer's
/// end of stream), referenced by the `new` alert `alert_id` in its `clip` field. Sent once
/// per clip, from the clip writer's thread; a clip that failed is never announced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClipReady {
    /// The `new` alert whose `clip` names `path` (also its incident's id).
    pub alert_id: String,
    pub camera: CameraId,
    /// As written in the alert's `clip` (`<clips dir>/<camera>/<alert id>.mp4`).
    pub path: PathBuf,
    /// Size of the file.
    pub bytes: u64,
    /// Media time from the first to the end of the last frame, ms.
    pub duration_ms: u64,
    /// Whether privacy masks were burnt in (decoded, blacked out, re-encoded); false: the
    /// camera's own stream, remuxed.
    pub masked: bool,
}

/// `<alert id>.mp4`: a clip's file name in its camera's directory, like the snapshot's
/// `<alert id>.jpg`.
pub fn clip_file_name(alert_id: &str) -> String {
    format!("{alert_id}.mp4")
}
