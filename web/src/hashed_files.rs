//! The one store behind [`crate::clips::ClipStore`] and [`crate::snapshots::SnapshotStore`]: a
//! directory of files beside the database, each named by the SHA-256 of its alert id, so no
//! message can name a file. A [`Kind`] says which data is kept (extension, size cap, content
//! check) and how a refusal reads in its own error type. File I/O.

use std::io::{self, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// What one store keeps.
pub trait Kind {
    /// The directory beside the database: `<db><DIR_SUFFIX>`, e.g. `.clips`.
    const DIR_SUFFIX: &'static str;
    /// The files' extension, without the dot.
    const EXT: &'static str;
    /// The largest file kept.
    const MAX_BYTES: usize;
    type Error;
    /// Whether `data` is of this kind (the size is checked first, by the store).
    fn accepts(data: &[u8]) -> bool;
    /// The store's refusal as this kind's error.
    fn error(why: Refused) -> Self::Error;
}

/// Why a file was not kept, in the store's words; each [`Kind`] names it in its own error type.
pub enum Refused {
    NotKind {
        alert: String,
    },
    TooLarge {
        alert: String,
        bytes: usize,
        max: usize,
    },
    Io {
        alert: String,
        path: PathBuf,
        source: io::Error,
    },
}

/// A directory of files named by the hash of their alert id.
#[derive(Debug)]
pub struct HashedFiles<K> {
    /// None: an in-memory database; nothing is kept.
    dir: Option<PathBuf>,
    kind: PhantomData<K>,
}

// Not derived: a derive would ask `K: Clone` of the marker type.
impl<K> Clone for HashedFiles<K> {
    fn clone(&self) -> Self {
        Self {
            dir: self.dir.clone(),
            kind: PhantomData,
        }
    }
}

impl<K: Kind> HashedFiles<K> {
    /// The store beside the database at `db`: `<db><K::DIR_SUFFIX>/`. None for `:memory:`.
    pub fn beside(db: &Path) -> Self {
        let dir = (db.as_os_str() != ":memory:").then(|| {
            let mut name = db.as_os_str().to_owned();
            name.push(K::DIR_SUFFIX);
            PathBuf::from(name)
        });
        Self {
            dir,
            kind: PhantomData,
        }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Where the file of `alert_id` is kept: `<dir>/<sha256(alert id)>.<K::EXT>`.
    pub fn path_for(&self, alert_id: &str) -> Option<PathBuf> {
        let name: String = Sha256::digest(alert_id.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{name}.{}", K::EXT)))
    }

    /// Keeps `data` as the file of `alert_id` (written to a temporary file, then renamed: a
    /// reader never sees half a file). The same alert again replaces it.
    pub fn put(&self, alert_id: &str, data: &[u8]) -> Result<(), K::Error> {
        check::<K>(alert_id, data).map_err(K::error)?;
        let Some(path) = self.path_for(alert_id) else {
            return Ok(());
        };
        let io_err = |source| {
            K::error(Refused::Io {
                alert: alert_id.to_owned(),
                path: path.clone(),
                source,
            })
        };
        let dir = path.parent().expect("a file in the store directory");
        std::fs::create_dir_all(dir).map_err(io_err)?;
        let tmp = path.with_extension(format!("{}.tmp", K::EXT));
        let mut f = std::fs::File::create(&tmp).map_err(io_err)?;
        f.write_all(data).map_err(io_err)?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(io_err)
    }
}

/// Only data of the kind, of a bounded size.
fn check<K: Kind>(alert_id: &str, data: &[u8]) -> Result<(), Refused> {
    if data.len() > K::MAX_BYTES {
        return Err(Refused::TooLarge {
            alert: alert_id.to_owned(),
            bytes: data.len(),
            max: K::MAX_BYTES,
        });
    }
    if !K::accepts(data) {
        return Err(Refused::NotKind {
            alert: alert_id.to_owned(),
        });
    }
    Ok(())
}
