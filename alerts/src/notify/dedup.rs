//! The delivered-notifications log: one `notification_id` per line, appended (and synced)
//! after each successful delivery, read at start, so a message read again after a restart or
//! a rebalance is not sent to the same guardian twice. File I/O.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Append-only set of delivered notification ids.
#[derive(Debug)]
pub struct DeliveredLog {
    path: PathBuf,
    file: Mutex<File>,
    seen: Mutex<HashSet<String>>,
}

impl DeliveredLog {
    /// Opens (creating) `<dir>/delivered.log` and reads what it holds. A torn last line (a
    /// crash mid-write) is ignored: that delivery may repeat once.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("delivered.log");
        let mut seen = HashSet::new();
        if let Ok(f) = File::open(&path) {
            let mut r = BufReader::new(f);
            let mut line = String::new();
            while r.read_line(&mut line)? > 0 {
                if let Some(id) = line.strip_suffix('\n')
                    && !id.is_empty()
                {
                    seen.insert(id.to_owned());
                }
                line.clear();
            }
        }
        let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
        // After a torn last line, start on a fresh line so the next id is not glued to it.
        let len = file.metadata()?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            use std::io::{Read, Seek, SeekFrom};
            let mut r = File::open(&path)?;
            r.seek(SeekFrom::Start(len - 1))?;
            r.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
            }
        }
        Ok(Self {
            path,
            file: Mutex::new(file),
            seen: Mutex::new(seen),
        })
    }

    pub fn contains(&self, id: &str) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(id)
    }

    /// Records `id` as delivered (synced to disk before it returns).
    pub fn record(&self, id: &str) {
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = f
            .write_all(format!("{id}\n").as_bytes())
            .and_then(|()| f.sync_data())
        {
            tracing::warn!(path = %self.path.display(), error = %e, "delivered log not written; a restart may send this notification again");
        }
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned());
    }

    pub fn len(&self) -> usize {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::TempDir;

    #[test]
    fn delivered_ids_survive_a_reopen_and_a_torn_line_is_ignored() {
        let dir = TempDir::new("delivered").unwrap();
        let log = DeliveredLog::open(dir.path()).unwrap();
        assert!(!log.contains("a/g1"));
        log.record("a/g1");
        log.record("b/g2");
        drop(log);
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("delivered.log"))
            .unwrap();
        f.write_all(b"c/g3").unwrap();
        let log = DeliveredLog::open(dir.path()).unwrap();
        assert!(log.contains("a/g1") && log.contains("b/g2") && !log.contains("c/g3"));
        assert_eq!(log.len(), 2);
        log.record("d/g4");
        drop(log);
        let log = DeliveredLog::open(dir.path()).unwrap();
        assert!(log.contains("d/g4"), "not glued to the torn line");
    }
}
