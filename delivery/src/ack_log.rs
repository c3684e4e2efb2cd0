//! The ack log: the ids of the outbox's events the broker acknowledged, one per line beside the
//! outbox (`<outbox>.acked`). Written by the Kafka sink's delivery callbacks ([`crate::kafka`]),
//! read by the relay ([`crate::relay`]) to know what to send again after a restart, and the
//! hand-over of each delivery's outcome from librdkafka's thread to the relay's.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::DeliveryError;
use crate::relay_policy::DeliveryFailure;

/// The ids the broker acknowledged, one per line, appended as acknowledgements arrive (written
/// through to the OS at once, not fsynced: losing the last few only means sending them again).
pub struct AckLog {
    path: PathBuf,
    file: Mutex<File>,
    recorded: AtomicU64,
    observer: Option<AckObserver>,
    /// Outcomes not yet taken by the relay thread ([`AckLog::take_outcomes`]): acknowledged ids
    /// (done with) and ids whose delivery failed, with why (to send again).
    acked_ids: Mutex<Vec<String>>,
    failed_ids: Mutex<Vec<(String, DeliveryFailure)>>,
}

/// Told the id of each event the broker acknowledged, on librdkafka's delivery thread, right
/// after the ack log line is written (benchmarks measure capture → acknowledged with it).
pub type AckObserver = Arc<dyn Fn(&str) + Send + Sync>;

impl std::fmt::Debug for AckLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckLog")
            .field("path", &self.path)
            .field("recorded", &self.recorded)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

impl AckLog {
    /// The ack log of the outbox at `outbox`: `<outbox>.acked`.
    pub fn path_for(outbox: &Path) -> PathBuf {
        let mut name = outbox.as_os_str().to_owned();
        name.push(".acked");
        PathBuf::from(name)
    }

    pub fn open(path: impl Into<PathBuf>) -> Result<Self, DeliveryError> {
        let path = path.into();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| DeliveryError::Outbox {
                path: path.clone(),
                source,
            })?;
        Ok(Self {
            path,
            file: Mutex::new(file),
            recorded: AtomicU64::new(0),
            observer: None,
            acked_ids: Mutex::new(Vec::new()),
            failed_ids: Mutex::new(Vec::new()),
        })
    }

    /// Also tells `observer` of every acknowledgement.
    pub fn with_observer(mut self, observer: Option<AckObserver>) -> Self {
        self.observer = observer;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `id`. A failed write is logged: the alert will only be sent again.
    pub fn record(&self, id: &str) {
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = file.write_all(format!("{id}\n").as_bytes()) {
            tracing::warn!(path = %self.path.display(), error = %e, "ack log write failed; the alert may be sent again");
        }
        self.recorded.fetch_add(1, Ordering::Relaxed);
        drop(file);
        self.acked_ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(id.to_owned());
        if let Some(o) = &self.observer {
            o(id);
        }
    }

    /// librdkafka gave `id` back undelivered (`why`: see [`DeliveryFailure`]): the relay sends
    /// it again.
    pub fn failed(&self, id: &str, why: DeliveryFailure) {
        self.failed_ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((id.to_owned(), why));
    }

    /// (acknowledged, failed) ids since the last call.
    pub(crate) fn take_outcomes(&self) -> (Vec<String>, Vec<(String, DeliveryFailure)>) {
        let acked = std::mem::take(&mut *self.acked_ids.lock().unwrap_or_else(|p| p.into_inner()));
        let failed =
            std::mem::take(&mut *self.failed_ids.lock().unwrap_or_else(|p| p.into_inner()));
        (acked, failed)
    }

    /// Empties the log: the outbox it speaks of was rotated away.
    pub(crate) fn clear(&self) -> io::Result<()> {
        let file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.set_len(0)
    }

    /// Acknowledgements recorded by this process.
    pub fn recorded(&self) -> u64 {
        self.recorded.load(Ordering::Relaxed)
    }

    /// The ids in the ack log at `path` (none when it does not exist). A torn last line is
    /// ignored (that alert is sent again).
    pub fn read_ids(path: &Path) -> Result<HashSet<String>, DeliveryError> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HashSet::new()),
            Err(source) => {
                return Err(DeliveryError::Outbox {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let mut ids = HashSet::new();
        let mut reader = BufReader::new(file);
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader
                .read_line(&mut line)
                .map_err(|source| DeliveryError::Outbox {
                    path: path.to_owned(),
                    source,
                })?;
            if n == 0 || !line.ends_with('\n') {
                return Ok(ids);
            }
            ids.insert(line.trim_end().to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    #[test]
    fn ack_log_reads_back_complete_lines_only() {
        let dir = TempDir::with_prefix("sharpeyes-acklog").unwrap();
        let path = AckLog::path_for(&dir.path().join("alerts.jsonl"));
        assert!(path.ends_with("alerts.jsonl.acked"));
        assert!(AckLog::read_ids(&path).unwrap().is_empty());
        let log = AckLog::open(&path).unwrap();
        log.record("a-1");
        log.record("b-2");
        drop(log);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"c-3").unwrap(); // torn: no newline
        let ids = AckLog::read_ids(&path).unwrap();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains("a-1") && ids.contains("b-2") && !ids.contains("c-3"));
    }
}
