//! The command center's own copies of alert snapshots. File I/O.
//!
//! Snapshots reach the command center as data, never as paths: the pipeline's outbox relay
//! sends each alert's JPEG to the snapshots topic (`sharpeyes.snapshots`), keyed by the alert
//! id, and `serve` writes it here; an in-process command center (`run --web`, `demo --web`) gets
//! the bytes from the delivery thread. The file name is the SHA-256 of the alert id, so no
//! message can name a file: a forged alert saying `"snapshot": "/etc/passwd"` only says "this
//! alert has a picture", and the picture is looked up by the alert's id in this directory.
//! Only JPEG data of at most [`MAX_SNAPSHOT_BYTES`] is kept.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

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

/// A directory of snapshots named by the hash of their alert id.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    /// None: an in-memory database; snapshots are not kept.
    dir: Option<PathBuf>,
}

impl SnapshotStore {
    /// The store beside the database at `db`: `<db>.snapshots/`. None for `:memory:`.
    pub fn beside(db: &Path) -> Self {
        if db.as_os_str() == ":memory:" {
            return Self { dir: None };
        }
        let mut name = db.as_os_str().to_owned();
        name.push(".snapshots");
        Self {
            dir: Some(PathBuf::from(name)),
        }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Where the snapshot of `alert_id` is kept: `<dir>/<sha256(alert id)>.jpg`.
    pub fn path_for(&self, alert_id: &str) -> Option<PathBuf> {
        let name: String = Sha256::digest(alert_id.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.dir.as_ref().map(|d| d.join(format!("{name}.jpg")))
    }

    /// Keeps `jpeg` as the snapshot of `alert_id` (written to a temporary file, then renamed:
    /// a reader never sees half a picture). The same alert again replaces it.
    pub fn put(&self, alert_id: &str, jpeg: &[u8]) -> Result<(), SnapshotError> {
        check(alert_id, jpeg)?;
        let Some(path) = self.path_for(alert_id) else {
            return Ok(());
        };
        let io_err = |source| SnapshotError::Io {
            alert: alert_id.to_owned(),
            path: path.clone(),
            source,
        };
        let dir = path.parent().expect("a file in the store directory");
        std::fs::create_dir_all(dir).map_err(io_err)?;
        let tmp = path.with_extension("jpg.tmp");
        let mut f = std::fs::File::create(&tmp).map_err(io_err)?;
        f.write_all(jpeg).map_err(io_err)?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(io_err)
    }

    /// The snapshot of `alert_id`, if it has arrived (and is still kept).
    pub fn get(&self, alert_id: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path_for(alert_id)?).ok()
    }
}

/// Only JPEG data (it starts with the SOI marker and a segment marker) of a bounded size.
fn check(alert_id: &str, jpeg: &[u8]) -> Result<(), SnapshotError> {
    if jpeg.len() > MAX_SNAPSHOT_BYTES {
        return Err(SnapshotError::TooLarge {
            alert: alert_id.to_owned(),
            bytes: jpeg.len(),
            max: MAX_SNAPSHOT_BYTES,
        });
    }
    if !jpeg.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Err(SnapshotError::NotJpeg {
            alert: alert_id.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
