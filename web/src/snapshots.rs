//! The command center's own copies of alert snapshots. File I/O.
//!
//! Snapshots reach the command center as data, never as paths: the pipeline's outbox relay
//! sends each alert's JPEG to the snapshots topic (`sharpeyes.snapshots`), keyed by the alert
//! id, and `serve` writes it here; an in-process command center (`run --web`, `demo --web`) gets
//! the bytes from the delivery thread. The file name is the SHA-256 of the alert id, so no
//! message can name a file: a forged alert saying `"snapshot": "/etc/passwd"` only says "this
//! alert has a picture", and the picture is looked up by the alert's id in this directory.
//! Only JPEG data of at most [`MAX_SNAPSHOT_BYTES`] is kept.

use std::io;
use std::path::PathBuf;

use crate::hashed_files::{HashedFiles, Kind, Refused};

/// The largest snapshot kept (a 1080p JPEG at the pipeline's quality is about 300 KB).
pub const MAX_SNAPSHOT_BYTES: usize = 4 << 20;

/// Why a snapshot was not kept.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot of alert {alert:?} is not a JPEG")]
    NotJpeg { alert: String },
    #[error("snapshot of alert {alert:?} is {bytes} bytes, over the {max} byte limit")]
    TooLarge {
        alert: String,
        bytes: usize,
        max: usize,
    },
    #[error("snapshot of alert {alert:?}: {path}: {source}")]
    Io {
        alert: String,
        path: PathBuf,
        source: io::Error,
    },
}

/// A directory of snapshots named by the hash of their alert id:
/// `<db>.snapshots/<sha256(alert id)>.jpg` beside the database (none for `:memory:`). `put`
/// writes to a temporary file, then renames: a reader never sees half a picture; the same alert
/// again replaces it.
pub type SnapshotStore = HashedFiles<Jpeg>;

/// Only JPEG data (it starts with the SOI marker and a segment marker) of a bounded size.
#[derive(Debug)]
pub enum Jpeg {}

impl Kind for Jpeg {
    const DIR_SUFFIX: &'static str = ".snapshots";
    const EXT: &'static str = "jpg";
    const MAX_BYTES: usize = MAX_SNAPSHOT_BYTES;
    type Error = SnapshotError;
    fn accepts(jpeg: &[u8]) -> bool {
        jpeg.starts_with(&[0xFF, 0xD8, 0xFF])
    }
    fn error(why: Refused) -> SnapshotError {
        match why {
            Refused::NotKind { alert } => SnapshotError::NotJpeg { alert },
            Refused::TooLarge { alert, bytes, max } => {
                SnapshotError::TooLarge { alert, bytes, max }
            }
            Refused::Io {
                alert,
                path,
                source,
            } => SnapshotError::Io {
                alert,
                path,
                source,
            },
        }
    }
}

impl SnapshotStore {
    /// The snapshot of `alert_id`, if it has arrived (and is still kept).
    pub fn get(&self, alert_id: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path_for(alert_id)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3];

    #[test]
    fn names_come_from_the_alert_id_hash_never_from_the_id_itself() {
        let s = SnapshotStore::beside(Path::new("/x/cc.db"));
        for id in ["../../etc/passwd", "/etc/passwd", "a/b", ".."] {
            let p = s.path_for(id).unwrap();
            assert_eq!(p.parent(), Some(Path::new("/x/cc.db.snapshots")), "{id}");
            let name = p.file_name().unwrap().to_str().unwrap();
            let hash = name.strip_suffix(".jpg").unwrap();
            assert_eq!(hash.len(), 64, "{name}");
            assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
        }
        assert_ne!(s.path_for("a"), s.path_for("b"));
        assert_eq!(
            SnapshotStore::beside(Path::new(":memory:")).path_for("a"),
            None
        );
    }

    #[test]
    fn keeps_jpegs_only_and_reads_them_back() {
        let dir = std::env::temp_dir().join(format!("se-snapstore-{}", std::process::id()));
        let s = SnapshotStore::beside(&dir.join("cc.db"));
        assert!(s.get("a1").is_none());
        s.put("a1", JPEG).unwrap();
        assert_eq!(s.get("a1").as_deref(), Some(JPEG));
        assert!(matches!(
            s.put("a2", b"root:x:0:0:root:/root:/bin/bash\n"),
            Err(SnapshotError::NotJpeg { .. })
        ));
        let mut big = JPEG.to_vec();
        big.resize(MAX_SNAPSHOT_BYTES + 1, 0);
        assert!(matches!(
            s.put("a3", &big),
            Err(SnapshotError::TooLarge { .. })
        ));
        assert!(s.get("a2").is_none() && s.get("a3").is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
