//! The outbox: a durable, append-only JSON-lines file holding every alert, written before any
//! other sink sees it. Does file I/O.
//!
//! Contract of [`JsonlOutbox`] as an [`EventSink`]: when `send` returns `Ok`, the alert's line
//! (the `serde_json` encoding of [`Alert`] followed by `\n`) has been written and `fdatasync`ed,
//! so it survives a crash or power cut of this machine. Alerts are rare (a few per minute per
//! camera at most), so one sync per alert costs nothing that matters; durability comes first.
//!
//! A record is committed exactly when its line is newline-terminated. A crash during `send` can
//! leave a torn last line without `\n`; that alert was never acknowledged. [`read_all`] skips
//! such a tail (and reports it), and [`JsonlOutbox::open`] cuts it off before appending so new
//! records never get glued to it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sharpeyes_core::{Event, EventSink};

use crate::error::DeliveryError;

/// An open outbox file. One writer per file: two processes appending to the same outbox is not
/// supported.
#[derive(Debug)]
pub struct JsonlOutbox {
    path: PathBuf,
    file: File,
    /// Length of the committed part of the file; a failed append is cut back to it.
    len: u64,
}

impl JsonlOutbox {
    /// Opens `path` for appending, creating it and its parent directories if needed. A torn last
    /// line left by a crash is truncated away (logged as a warning).
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, DeliveryError> {
        let path = path.into();
        let err = |source| DeliveryError::Outbox {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(err)?;
        }
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(err)?;
        let len = file.metadata().map_err(err)?.len();
        let committed = committed_len(&mut file, len).map_err(err)?;
        if committed < len {
            tracing::warn!(
                path = %path.display(),
                torn_bytes = len - committed,
                "outbox ends with a torn line (crash during a write); cutting it off"
            );
            file.set_len(committed).map_err(err)?;
            file.sync_data().map_err(err)?;
        }
        if !existed {
            sync_parent_dir(&path).map_err(err)?;
        }
        tracing::info!(path = %path.display(), bytes = committed, "outbox open");
        Ok(Self {
            path,
            file,
            len: committed,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes sure the open file is still the one at the path. One moved or deleted under the
    /// writer (an operator's logrotate, a clean-up script) would otherwise take every later
    /// event where the relay never looks: a new file is started at the path instead, and
    /// the relay reads it from its start.
    fn follow_path(&mut self) -> Result<(), DeliveryError> {
        use std::os::unix::fs::MetadataExt;
        let err = |source| DeliveryError::Outbox {
            path: self.path.clone(),
            source,
        };
        let open = self.file.metadata().map_err(err)?;
        let same =
            fs::metadata(&self.path).is_ok_and(|m| m.dev() == open.dev() && m.ino() == open.ino());
        if same {
            return Ok(());
        }
        tracing::warn!(path = %self.path.display(), "the outbox file was moved or deleted under the writer; starting a new one at its path");
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(err)?;
        sync_parent_dir(&self.path).map_err(err)?;
        self.len = file.metadata().map_err(err)?.len();
        self.file = file;
        Ok(())
    }

    /// Bytes committed in the file.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where [`JsonlOutbox::rotate`] moves the file: `<path>.1`.
    pub fn rotated_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".1");
        PathBuf::from(name)
    }

    /// Moves the file to `<path>.1` (replacing the one rotated before) and goes on in a new,
    /// empty file. Only for an outbox whose every event is relayed: the relay decides
    /// ([`crate::OutboxRelay::rotate_outbox`]).
    pub fn rotate(&mut self) -> Result<(), DeliveryError> {
        let err = |source| DeliveryError::Outbox {
            path: self.path.clone(),
            source,
        };
        fs::rename(&self.path, self.rotated_path()).map_err(err)?;
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(err)?;
        sync_parent_dir(&self.path).map_err(err)?;
        self.file = file;
        self.len = 0;
        tracing::info!(path = %self.path.display(), "outbox rotated (every event in it was relayed)");
        Ok(())
    }

    /// Appends one alert and syncs it; see the module docs for the durability contract.
    pub fn append(&mut self, event: &Event) -> Result<(), DeliveryError> {
        self.append_all(std::slice::from_ref(event))
    }

    /// Appends `events` in order and syncs once for all of them (group commit): when it
    /// returns `Ok`, every one is on disk; on an error none of them is committed (the file is
    /// cut back).
    pub fn append_all(&mut self, events: &[Event]) -> Result<(), DeliveryError> {
        if events.is_empty() {
            return Ok(());
        }
        self.follow_path()?;
        let mut line = Vec::new();
        for event in events {
            serde_json::to_writer(&mut line, event).map_err(|source| DeliveryError::Encode {
                alert_id: event.id().to_owned(),
                source,
            })?;
            line.push(b'\n');
        }
        let written = self
            .file
            .write_all(&line)
            .and_then(|()| self.file.sync_data());
        if let Err(source) = written {
            // Do not leave a partial line for the next record to be glued to.
            if let Err(e) = self.file.set_len(self.len) {
                tracing::warn!(path = %self.path.display(), error = %e, "outbox: could not cut back a failed append");
            }
            return Err(DeliveryError::Outbox {
                path: self.path.clone(),
                source,
            });
        }
        self.len += line.len() as u64;
        tracing::debug!(path = %self.path.display(), events = events.len(), "events appended to outbox");
        Ok(())
    }
}

impl EventSink for JsonlOutbox {
    type Error = DeliveryError;

    fn name(&self) -> &str {
        "outbox"
    }

    /// Returns once the alert is on disk (written and `fdatasync`ed).
    fn send(&mut self, event: &Event) -> Result<(), DeliveryError> {
        self.append(event)
    }

    /// Nothing to do: every `send` already synced.
    fn flush(&mut self, _timeout: Duration) -> Result<(), DeliveryError> {
        Ok(())
    }
}

/// What [`read_outbox`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxContents {
    /// Every committed event (alerts and status events), in file order.
    pub alerts: Vec<Event>,
    /// Bytes of a torn (not newline-terminated) last line that were skipped; 0 normally.
    pub torn_tail_bytes: usize,
}

/// Reads every committed alert of the outbox at `path`, in file order. A torn last line is
/// skipped with a `tracing` warning; use [`read_outbox`] to learn its size. A newline-terminated
/// line that is not an alert is an error ([`DeliveryError::OutboxCorrupt`]).
pub fn read_all(path: impl AsRef<Path>) -> Result<Vec<Event>, DeliveryError> {
    read_outbox(path).map(|c| c.alerts)
}

/// Like [`read_all`], also reporting the size of a skipped torn last line.
pub fn read_outbox(path: impl AsRef<Path>) -> Result<OutboxContents, DeliveryError> {
    let path = path.as_ref();
    let err = |source| DeliveryError::Outbox {
        path: path.to_owned(),
        source,
    };
    let mut reader = BufReader::new(File::open(path).map_err(err)?);
    let mut alerts = Vec::new();
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(err)?;
        if n == 0 {
            return Ok(OutboxContents {
                alerts,
                torn_tail_bytes: 0,
            });
        }
        number += 1;
        if line.last() != Some(&b'\n') {
            tracing::warn!(path = %path.display(), line = number, torn_bytes = n, "outbox: skipping torn last line");
            return Ok(OutboxContents {
                alerts,
                torn_tail_bytes: n,
            });
        }
        let text = &line[..line.len() - 1];
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let alert = serde_json::from_slice(text).map_err(|source| DeliveryError::OutboxCorrupt {
            path: path.to_owned(),
            line: number,
            source,
        })?;
        alerts.push(alert);
    }
}

/// Length of the file up to and including its last `\n` (0 if there is none): the committed
/// part. Reads backwards from the end in blocks, so it is cheap on a large outbox.
fn committed_len(file: &mut File, len: u64) -> io::Result<u64> {
    const BLOCK: u64 = 4096;
    let mut end = len;
    let mut buf = vec![0u8; BLOCK as usize];
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// Makes a newly created file's directory entry durable too (POSIX needs an fsync of the
/// directory for that). A no-op where directories cannot be opened (Windows).
fn sync_parent_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(parent)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sharpeyes_core::{Alert, AlertKind, BBox, CameraId, Detection, UnixMillis};

    use super::*;
    use tempfile::TempDir;

    /// The same event for the same arguments (a fixed id).
    fn alert(camera: &str, t: i64) -> Event {
        let d = Detection {
            class_id: 0,
            class_name: Arc::from("person"),
            score: 0.8,
            bbox: BBox {
                x1: 1.0,
                y1: 2.0,
                x2: 3.0,
                y2: 4.0,
            },
            keypoints: Vec::new(),
        };
        let mut a = Alert::new(
            AlertKind::PersonDetected,
            CameraId::new(camera).expect("valid"),
            UnixMillis(t),
            &[d],
            (640, 480),
        );
        a.id = format!("{camera}-{t}");
        a.incident = a.id.clone();
        if t % 2 == 0 {
            a.snapshot = Some(format!("snaps/{camera}/{}.jpg", a.id));
        }
        a.into()
    }

    #[test]
    fn alerts_round_trip_through_the_file() {
        let tmp = TempDir::with_prefix("sharpeyes-outbox").expect("temp dir");
        let path = tmp.path().join("nested/dir/alerts.jsonl");
        let mut outbox = JsonlOutbox::open(&path).expect("opens");
        let sent = vec![alert("a", 1), alert("b", 2), alert("a", 3)];
        for a in &sent {
            outbox.send(a).expect("appended");
        }
        outbox.flush(Duration::ZERO).expect("flush is a no-op");
        assert_eq!(read_all(&path).expect("reads"), sent);
        let text = fs::read_to_string(&path).expect("utf-8");
        assert_eq!(text.lines().count(), 3);
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn reopening_appends_after_existing_alerts() {
        let tmp = TempDir::with_prefix("sharpeyes-outbox").expect("temp dir");
        let path = tmp.path().join("alerts.jsonl");
        JsonlOutbox::open(&path)
            .expect("opens")
            .send(&alert("a", 1))
            .expect("appended");
        JsonlOutbox::open(&path)
            .expect("reopens")
            .send(&alert("b", 2))
            .expect("appended");
        assert_eq!(
            read_all(&path).expect("reads"),
            vec![alert("a", 1), alert("b", 2)]
        );
    }

    #[test]
    fn a_file_moved_or_deleted_under_the_writer_is_followed_by_a_new_one_at_the_path() {
        let tmp = TempDir::with_prefix("sharpeyes-outbox").expect("temp dir");
        let path = tmp.path().join("alerts.jsonl");
        let mut outbox = JsonlOutbox::open(&path).expect("opens");
        outbox.send(&alert("a", 1)).expect("appended");
        let moved = tmp.path().join("alerts.jsonl.old");
        fs::rename(&path, &moved).unwrap();
        outbox.send(&alert("b", 2)).expect("appended");
        assert_eq!(read_all(&moved).unwrap(), vec![alert("a", 1)]);
        assert_eq!(read_all(&path).unwrap(), vec![alert("b", 2)]);
        fs::remove_file(&path).unwrap();
        outbox.send(&alert("c", 3)).expect("appended");
        assert_eq!(read_all(&path).unwrap(), vec![alert("c", 3)]);
        // Our own rotation keeps writing at the path too.
        outbox.rotate().unwrap();
        outbox.send(&alert("d", 4)).expect("appended");
        assert_eq!(
            read_all(outbox.rotated_path()).unwrap(),
            vec![alert("c", 3)]
        );
        assert_eq!(read_all(&path).unwrap(), vec![alert("d", 4)]);
    }

    #[test]
    fn torn_last_line_is_skipped_and_reported() {
        let tmp = TempDir::with_prefix("sharpeyes-outbox").expect("temp dir");
        let path = tmp.path().join("alerts.jsonl");
        JsonlOutbox::open(&path)
            .expect("opens")
            .send(&alert("a", 1))
            .expect("appended");
        let full = serde_json::to_string(&alert("b", 2)).expect("encodes");
        let torn = &full[..full.len() / 2];
        OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(torn.as_bytes()))
            .expect("writes torn line");
        let read = read_outbox(&path).expect("reads despite torn tail");
        assert_eq!(read.alerts, vec![alert("a", 1)]);
        assert_eq!(read.torn_tail_bytes, torn.len());
        assert_eq!(read_all(&path).expect("reads"), vec![alert("a", 1)]);
    }

    #[test]
    fn reopening_cuts_a_torn_line_before_appending() {
        let tmp = TempDir::with_prefix("sharpeyes-outbox").expect("temp dir");
        let path = tmp.path().join("alerts.jsonl");
        JsonlOutbox::open(&path)
            .expect("opens")
            .send(&alert("a", 1))
            .expect("appended");
        OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(b"{\"schema\":1,\"id\":\"tor"))
            .expect("writes torn line");
        JsonlOutbox::open(&path)
            .expect("reopens")
            .send(&alert("c", 3))
            .expect("appended");
        let read = read_outbox(&path).expect("reads");
        assert_eq!(read.alerts, vec![alert("a", 1), alert("c", 3)]);
        assert_eq!(read.torn_tail_bytes, 0);
    }

    #[test]
    fn a_file_that_is_only_a_torn_line_reopens_empty() {
        let tmp = TempDir::with_prefix("sharpeyes-outbox").expect("temp dir");
        let path = tmp.path().join("alerts.jsonl");
        fs::write(&path, "{\"sch").expect("writes");
        let mut outbox = JsonlOutbox::open(&path).expect("opens");
        outbox.send(&alert("a", 1)).expect("appended");
        assert_eq!(read_all(&path).expect("reads"), vec![alert("a", 1)]);
    }

    #[test]
    fn corrupt_complete_line_is_an_error_naming_the_line() {
        let tmp = TempDir::with_prefix("sharpeyes-outbox").expect("temp dir");
        let path = tmp.path().join("alerts.jsonl");
        let good = serde_json::to_string(&alert("a", 1)).expect("encodes");
        fs::write(&path, format!("{good}\nnot json\n{good}\n")).expect("writes");
        match read_all(&path) {
            Err(DeliveryError::OutboxCorrupt { line, .. }) => assert_eq!(line, 2),
            other => panic!("expected OutboxCorrupt, got {other:?}"),
        }
    }

    #[test]
    fn committed_len_finds_the_last_newline_across_blocks() {
        let tmp = TempDir::with_prefix("sharpeyes-outbox").expect("temp dir");
        let path = tmp.path().join("big.jsonl");
        let mut content = vec![b'x'; 10_000];
        content[99] = b'\n';
        fs::write(&path, &content).expect("writes");
        let mut f = File::open(&path).expect("opens");
        assert_eq!(
            committed_len(&mut f, content.len() as u64).expect("reads"),
            100
        );
        content[99] = b'x';
        fs::write(&path, &content).expect("writes");
        let mut f = File::open(&path).expect("opens");
        assert_eq!(
            committed_len(&mut f, content.len() as u64).expect("reads"),
            0
        );
    }
}
