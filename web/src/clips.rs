//! The command center's own copies of the event clips. File I/O.
//!
//! Clips arrive like the snapshots ([`crate::snapshots`]), as data, never as paths: the
//! pipeline's clip shipper sends each MP4 to the clips topic (`sharpeyes.clips`), keyed by the
//! alert id, once it is complete (`post` seconds after the alert), and `serve` writes it here; an
//! in-process command center (`run --web`, `demo --web`) gets the bytes from the shipper. The file
//! name is the SHA-256 of the alert id, so no message can name a file. Only MP4 data (an `ftyp`
//! box first) of at most [`MAX_CLIP_BYTES`] is kept. Retention deletes a clip with its incident,
//! like a snapshot ([`crate::Store::sweep`]).

use std::io;
use std::path::PathBuf;

use crate::hashed_files::{HashedFiles, Kind, Refused};

/// The largest clip kept: 16 MiB, the most a Kafka message of this system carries
/// (`sharpeyes_delivery::MESSAGE_MAX_BYTES`). A 15 s clip of a 360p substream is 1-2 MB.
pub const MAX_CLIP_BYTES: usize = 16 << 20;

/// Why a clip was not kept.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    #[error("clip of alert {alert:?} is not an MP4")]
    NotMp4 { alert: String },
    #[error("clip of alert {alert:?} is {bytes} bytes, over the {max} byte limit")]
    TooLarge {
        alert: String,
        bytes: usize,
        max: usize,
    },
    #[error("clip of alert {alert:?}: {path}: {source}")]
    Io {
        alert: String,
        path: PathBuf,
        source: io::Error,
    },
}

/// A directory of clips named by the hash of their alert id: `<db>.clips/<sha256(alert id)>.mp4`
/// beside the database (none for `:memory:`). `put` writes to a temporary file, then renames: a
/// reader never sees half a clip; the same alert again replaces it.
pub type ClipStore = HashedFiles<Mp4>;

/// Only MP4 data (ISO BMFF: an `ftyp` box first) of a bounded size.
#[derive(Debug)]
pub enum Mp4 {}

impl Kind for Mp4 {
    const DIR_SUFFIX: &'static str = ".clips";
    const EXT: &'static str = "mp4";
    const MAX_BYTES: usize = MAX_CLIP_BYTES;
    type Error = ClipError;
    fn accepts(mp4: &[u8]) -> bool {
        sharpeyes_delivery::is_mp4(mp4)
    }
    fn error(why: Refused) -> ClipError {
        match why {
            Refused::NotKind { alert } => ClipError::NotMp4 { alert },
            Refused::TooLarge { alert, bytes, max } => ClipError::TooLarge { alert, bytes, max },
            Refused::Io {
                alert,
                path,
                source,
            } => ClipError::Io {
                alert,
                path,
                source,
            },
        }
    }
}

impl ClipStore {
    /// Whether the clip of `alert_id` has arrived (and is still kept).
    pub fn has(&self, alert_id: &str) -> bool {
        self.path_for(alert_id).is_some_and(|p| p.is_file())
    }

    /// Deletes the clip of `alert_id`, if kept (retention).
    pub fn remove(&self, alert_id: &str) {
        if let Some(p) = self.path_for(alert_id) {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A `Range` request header (RFC 9110 §14.2) for a body of `len` bytes, as served: the whole
/// body (no header, or one this server does not do: several ranges, another unit, nonsense),
/// one range (first and last byte, inclusive), or none satisfiable (416). Pure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteRange {
    Whole,
    Part(u64, u64),
    Unsatisfiable,
}

impl ByteRange {
    pub fn parse(header: Option<&str>, len: u64) -> Self {
        let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
            return Self::Whole;
        };
        let spec = spec.trim();
        if spec.contains(',') {
            // Several ranges: the whole body is a valid answer (§14.2).
            return Self::Whole;
        }
        let Some((first, last)) = spec.split_once('-') else {
            return Self::Whole;
        };
        let num = |s: &str| -> Option<Option<u64>> {
            let s = s.trim();
            if s.is_empty() {
                Some(None)
            } else if s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse().ok().map(Some)
            } else {
                None
            }
        };
        let (Some(first), Some(last)) = (num(first), num(last)) else {
            return Self::Whole;
        };
        match (first, last) {
            // bytes=-N: the last N bytes.
            (None, Some(n)) if n == 0 || len == 0 => Self::Unsatisfiable,
            (None, Some(n)) => Self::Part(len - n.min(len), len - 1),
            (None, None) => Self::Whole,
            (Some(a), _) if a >= len => Self::Unsatisfiable,
            (Some(a), None) => Self::Part(a, len - 1),
            (Some(a), Some(b)) if b < a => Self::Whole,
            (Some(a), Some(b)) => Self::Part(a, b.min(len - 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn mp4(n: usize) -> Vec<u8> {
        let mut b = vec![0, 0, 0, 24];
        b.extend_from_slice(b"ftypisom");
        b.resize(n, 1);
        b
    }

    #[test]
    fn names_come_from_the_alert_id_hash_never_from_the_id_itself() {
        let s = ClipStore::beside(Path::new("/x/cc.db"));
        for id in ["../../etc/passwd", "/etc/passwd", "a/b", ".."] {
            let p = s.path_for(id).unwrap();
            assert_eq!(p.parent(), Some(Path::new("/x/cc.db.clips")), "{id}");
            let name = p.file_name().unwrap().to_str().unwrap();
            let hash = name.strip_suffix(".mp4").unwrap();
            assert_eq!(hash.len(), 64, "{name}");
            assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
        }
        assert_ne!(s.path_for("a"), s.path_for("b"));
        assert_eq!(ClipStore::beside(Path::new(":memory:")).path_for("a"), None);
    }

    #[test]
    fn keeps_mp4s_only_and_removes_them() {
        let dir = std::env::temp_dir().join(format!("se-clipstore-{}", std::process::id()));
        let s = ClipStore::beside(&dir.join("cc.db"));
        assert!(!s.has("a1"));
        s.put("a1", &mp4(100)).unwrap();
        assert!(s.has("a1"));
        assert_eq!(std::fs::read(s.path_for("a1").unwrap()).unwrap(), mp4(100));
        assert!(matches!(
            s.put("a2", &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0, 0, 0, 0]),
            Err(ClipError::NotMp4 { .. })
        ));
        assert!(matches!(
            s.put("a3", b"ftyp"),
            Err(ClipError::NotMp4 { .. })
        ));
        assert!(matches!(
            s.put("a4", &mp4(MAX_CLIP_BYTES + 1)),
            Err(ClipError::TooLarge { .. })
        ));
        assert!(!s.has("a2") && !s.has("a3") && !s.has("a4"));
        s.remove("a1");
        assert!(!s.has("a1"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_clip_is_found_by_its_incident_and_goes_with_it_at_retention() {
        use sharpeyes_core::{Alert, AlertKind, CameraId, Lifecycle, UnixMillis};
        let dir = std::env::temp_dir().join(format!("se-clipretention-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = crate::Store::open(&dir.join("cc.db")).unwrap();
        let t = 1_795_459_860_000;
        let mut new = Alert::new(
            AlertKind::Fall,
            CameraId::new("gate").unwrap(),
            UnixMillis(t),
            &[],
            (640, 360),
        );
        new.camera.village = "Xiaohe".into();
        new.clip = Some("/anywhere/at/all.mp4".into());
        let mut update = new.clone();
        update.id = "update-1".into();
        update.lifecycle = Lifecycle::Update;
        update.clip = None;
        update.event_time = UnixMillis(t + 1000).to_rfc3339();
        store.ingest_alert(&new).unwrap();
        store.ingest_alert(&update).unwrap();
        // The incident's clip is its `new` alert's, whatever the latest alert says.
        assert_eq!(
            store.clip_alert(&new.incident).unwrap(),
            Some((new.id.clone(), "Xiaohe".to_owned()))
        );
        assert_eq!(store.incident_of("update-1").unwrap(), Some(new.id.clone()));
        store.clips().put(&new.id, &mp4(64)).unwrap();
        assert!(store.clips().has(&new.id));
        store.sweep(Some(UnixMillis(t + 2000)), None).unwrap();
        assert!(!store.clips().has(&new.id), "swept with its incident");
        assert_eq!(store.clip_alert(&new.incident).unwrap(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn byte_ranges_as_browsers_ask_for_them() {
        use ByteRange::*;
        let p = |h: &str| ByteRange::parse(Some(h), 1000);
        assert_eq!(ByteRange::parse(None, 1000), Whole);
        assert_eq!(p("bytes=0-"), Part(0, 999));
        assert_eq!(p("bytes=0-1"), Part(0, 1));
        assert_eq!(p("bytes=500-"), Part(500, 999));
        assert_eq!(p("bytes=900-5000"), Part(900, 999), "clamped to the end");
        assert_eq!(p("bytes=-100"), Part(900, 999), "the last 100");
        assert_eq!(p("bytes=-5000"), Part(0, 999));
        assert_eq!(p("bytes=1000-"), Unsatisfiable);
        assert_eq!(p("bytes=-0"), Unsatisfiable);
        assert_eq!(ByteRange::parse(Some("bytes=0-"), 0), Unsatisfiable);
        // What this server does not do is answered with the whole body.
        assert_eq!(p("bytes=0-1,5-6"), Whole);
        assert_eq!(p("items=0-1"), Whole);
        assert_eq!(p("bytes=5-1"), Whole);
        assert_eq!(p("bytes=x-1"), Whole);
        assert_eq!(p("bytes=-"), Whole);
        assert_eq!(p("bytes=+1-2"), Whole);
    }
}
