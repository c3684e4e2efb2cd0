//! The delivered-notifications log: which `<alert id>/<guardian id>` went out, so a message
//! read again (after a restart, or by another `notify` process after a rebalance) is not sent
//! to the same guardian twice. File I/O.
//!
//! Layout: `<state_dir>/delivered-<UTC hour>.log` (`delivered-2026-11-23T18.log`), one line
//! `<keep-from unix ms> <notification id>` per delivery, appended and synced before the
//! delivery counts as done. An entry goes into the file of the hour of its keep-from time: the
//! later of the delivery and the alert's own time ([`super::freshness::keep_from`]).
//!
//! - Bounded: [`DeliveredLog::prune`] forgets entries kept from before a cutoff and deletes the
//!   files of hours wholly before it. The service's cutoff is `max_age` plus an hour before now:
//!   an alert that old is dead-lettered as stale if it is read again, never pushed, so its entry
//!   is of no more use. The files hold the deliveries of the last `max_age` + 2 hours at most.
//! - Shared: `notify` processes of one consumer group given the same `state_dir` see each
//!   other's deliveries. [`DeliveredLog::refresh`] reads what was appended since the last look
//!   (the service calls it after each partition assignment and before each send). Each append
//!   is one `write` of one short line to a file opened in append mode, so lines of two
//!   processes never interleave; files are never rewritten, only deleted once their hour is
//!   long past and nobody writes to them.
//! - A torn last line (a crash mid-write) is closed by the next writer and then skipped: that
//!   one delivery may repeat.
//! - `delivered.log` of earlier versions (one id per line) is read at open, copied into the
//!   current hour's file and removed.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sharpeyes_core::UnixMillis;

/// One file per hour of keep-from time.
const HOUR_MS: i64 = 3_600_000;
/// Written before a line when the file ends in a torn line: turns it into a line that never
/// parses (an id has no spaces).
const CLOSE_TORN: &[u8] = b" torn\n";

/// The set of delivered notification ids, on disk and in memory.
#[derive(Debug)]
pub struct DeliveredLog {
    dir: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Notification id -> keep-from time (ms).
    seen: HashMap<String, i64>,
    /// Hour -> bytes of its file read so far (whole lines only).
    read: BTreeMap<i64, u64>,
    /// Hour -> this process's append handle.
    writers: BTreeMap<i64, File>,
}

/// `delivered-2026-11-23T18.log` for the hour starting at `hour * HOUR_MS`.
fn file_name(hour: i64) -> String {
    let t = UnixMillis(hour * HOUR_MS).to_rfc3339();
    format!("delivered-{}.log", &t[..13])
}

/// The hour of a `delivered-<hour>.log` name; `None` for any other file.
fn hour_of(name: &str) -> Option<i64> {
    let h = name.strip_prefix("delivered-")?.strip_suffix(".log")?;
    if h.len() != 13 {
        return None;
    }
    let t = UnixMillis::parse_rfc3339(&format!("{h}:00:00Z"))?;
    Some(t.0.div_euclid(HOUR_MS))
}

/// `(id, keep-from)` of one line; `None` for a torn or foreign line.
fn parse_line(line: &str) -> Option<(&str, i64)> {
    let (t, id) = line.split_once(' ')?;
    let t: i64 = t.parse().ok()?;
    (!id.is_empty() && !id.contains(' ')).then_some((id, t))
}

impl DeliveredLog {
    /// Opens (creating) `dir` and reads every delivered file in it. `now` dates the entries of
    /// an old `delivered.log`.
    pub fn open(dir: &Path, now: UnixMillis) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let log = Self {
            dir: dir.to_owned(),
            inner: Mutex::new(Inner::default()),
        };
        log.refresh()?;
        let legacy = dir.join("delivered.log");
        if let Ok(text) = std::fs::read_to_string(&legacy) {
            // Only whole lines: the last one may be torn.
            for id in text
                .split_inclusive('\n')
                .filter_map(|l| l.strip_suffix('\n'))
            {
                if !id.is_empty() && !id.contains(' ') && !log.contains(id) {
                    log.record(id, now)?;
                }
            }
            std::fs::remove_file(&legacy)?;
        }
        Ok(log)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the lines appended since the last look (by this process or another sharing the
    /// directory), including files of hours that were not there before.
    pub fn refresh(&self) -> std::io::Result<()> {
        let mut inner = self.lock();
        let mut present = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let Some(hour) = entry.file_name().to_str().and_then(hour_of) else {
                continue;
            };
            present.push(hour);
            let len = match entry.metadata() {
                Ok(m) => m.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue, // just pruned
                Err(e) => return Err(e),
            };
            let done = inner.read.get(&hour).copied().unwrap_or(0);
            if len <= done {
                continue;
            }
            let mut f = match File::open(entry.path()) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            f.seek(SeekFrom::Start(done))?;
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes)?;
            // Up to the last newline: a line being written (or torn) is read next time.
            let Some(end) = bytes.iter().rposition(|&b| b == b'\n') else {
                continue;
            };
            for line in String::from_utf8_lossy(&bytes[..end]).split('\n') {
                if let Some((id, t)) = parse_line(line) {
                    let k = inner.seen.entry(id.to_owned()).or_insert(t);
                    *k = (*k).max(t);
                }
            }
            inner.read.insert(hour, done + end as u64 + 1);
        }
        inner.read.retain(|h, _| present.contains(h));
        Ok(())
    }

    /// Whether `id` went out, as far as the last [`Self::refresh`] (or this process's own
    /// [`Self::record`]) knows.
    pub fn contains(&self, id: &str) -> bool {
        self.lock().seen.contains_key(id)
    }

    /// Records `id` as delivered, kept from `keep_from` (synced to disk before it returns).
    pub fn record(&self, id: &str, keep_from: UnixMillis) -> std::io::Result<()> {
        let hour = keep_from.0.div_euclid(HOUR_MS);
        let mut inner = self.lock();
        let mut line = Vec::with_capacity(id.len() + 24);
        let f = match inner.writers.entry(hour) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let path = self.dir.join(file_name(hour));
                let f = OpenOptions::new().create(true).append(true).open(&path)?;
                if ends_torn(&path)? {
                    line.extend_from_slice(CLOSE_TORN);
                }
                e.insert(f)
            }
        };
        line.extend_from_slice(format!("{} {id}\n", keep_from.0).as_bytes());
        f.write_all(&line)?;
        f.sync_data()?;
        inner.seen.insert(id.to_owned(), keep_from.0);
        Ok(())
    }

    /// Forgets entries kept from before `cutoff` and deletes the files of hours wholly before
    /// it (this process's and any other's).
    pub fn prune(&self, cutoff: UnixMillis) -> std::io::Result<()> {
        let mut inner = self.lock();
        inner.seen.retain(|_, t| *t >= cutoff.0);
        let old = |h: i64| (h + 1) * HOUR_MS <= cutoff.0;
        inner.writers.retain(|h, _| !old(*h));
        inner.read.retain(|h, _| !old(*h));
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry
                .file_name()
                .to_str()
                .and_then(hour_of)
                .is_some_and(old)
            {
                match std::fs::remove_file(entry.path()) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Entries known (delivered and not yet pruned).
    pub fn len(&self) -> usize {
        self.lock().seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where the files are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Whether the file at `path` is non-empty and does not end in a newline.
fn ends_torn(path: &Path) -> std::io::Result<bool> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    f.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    f.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    const T0: UnixMillis = UnixMillis(1_795_459_860_000);

    fn lines_on_disk(dir: &Path) -> (usize, usize) {
        let mut files = 0;
        let mut lines = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            if e.file_name().to_str().and_then(hour_of).is_some() {
                files += 1;
                lines += std::fs::read_to_string(e.path()).unwrap().lines().count();
            }
        }
        (files, lines)
    }

    #[test]
    fn hour_file_names_round_trip() {
        let h = T0.0.div_euclid(HOUR_MS);
        assert_eq!(file_name(h), "delivered-2026-11-23T18.log");
        assert_eq!(hour_of(&file_name(h)), Some(h));
        assert_eq!(hour_of("delivered.log"), None);
        assert_eq!(hour_of("delivered-2026-11-23T18.log.tmp"), None);
    }

    #[test]
    fn delivered_ids_survive_a_reopen_and_a_torn_line_is_skipped() {
        let dir = TempDir::with_prefix("sharpeyes-delivered").unwrap();
        let log = DeliveredLog::open(dir.path(), T0).unwrap();
        assert!(!log.contains("a/g1"));
        log.record("a/g1", T0).unwrap();
        log.record("b/g2", T0).unwrap();
        drop(log);
        let path = dir.path().join(file_name(T0.0.div_euclid(HOUR_MS)));
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        // A crash in the middle of "<t> a/g33": "a/g3" is another guardian's id.
        f.write_all(format!("{} a/g3", T0.0).as_bytes()).unwrap();
        let log = DeliveredLog::open(dir.path(), T0).unwrap();
        assert!(log.contains("a/g1") && log.contains("b/g2") && !log.contains("a/g3"));
        assert_eq!(log.len(), 2);
        log.record("d/g4", T0).unwrap();
        drop(log);
        let log = DeliveredLog::open(dir.path(), T0).unwrap();
        assert!(log.contains("d/g4"), "not glued to the torn line");
        assert!(!log.contains("a/g3"), "the torn line stays skipped");
    }

    #[test]
    fn the_log_stays_bounded_as_time_goes_by() {
        let dir = TempDir::with_prefix("sharpeyes-delivered-bounded").unwrap();
        let log = DeliveredLog::open(dir.path(), T0).unwrap();
        let keep = 75 * 60_000; // max_age 15 min + an hour
        // Two days of 2 deliveries a minute, pruned once a minute as the service does.
        let mut most = (0, 0);
        for minute in 0..2 * 24 * 60 {
            let now = T0.plus_ms(minute * 60_000);
            for n in 0..2 {
                log.record(&format!("alert-{minute}-{n}/g"), now).unwrap();
            }
            log.prune(UnixMillis(now.0 - keep)).unwrap();
            let (files, lines) = lines_on_disk(dir.path());
            most = (most.0.max(files), most.1.max(lines));
        }
        // At most the last 75 minutes plus the rest of the oldest hour's file: 2 h 15 min.
        assert!(most.0 <= 4, "files: {most:?}");
        assert!(most.1 <= 2 * (135 + 1), "lines: {most:?}");
        assert!(log.len() <= 2 * 76, "in memory: {}", log.len());
        let last = 2 * 24 * 60 - 1;
        assert!(log.contains(&format!("alert-{last}-1/g")));
        assert!(log.contains(&format!("alert-{}-0/g", last - 74)));
        assert!(!log.contains("alert-0-0/g"));
        drop(log);
        let log = DeliveredLog::open(dir.path(), T0).unwrap();
        assert!(log.contains(&format!("alert-{last}-1/g")), "after a reopen");
    }

    #[test]
    fn two_processes_sharing_the_directory_see_each_others_deliveries() {
        let dir = TempDir::with_prefix("sharpeyes-delivered-shared").unwrap();
        let a = DeliveredLog::open(dir.path(), T0).unwrap();
        let b = DeliveredLog::open(dir.path(), T0).unwrap();
        a.record("x/g", T0).unwrap();
        b.record("y/g", T0.plus_ms(HOUR_MS)).unwrap();
        assert!(!b.contains("x/g"));
        b.refresh().unwrap();
        a.refresh().unwrap();
        assert!(b.contains("x/g") && a.contains("y/g"));
        // One prunes the other's old hour; both go on appending.
        b.prune(T0.plus_ms(HOUR_MS)).unwrap();
        a.record("z/g", T0.plus_ms(HOUR_MS)).unwrap();
        b.refresh().unwrap();
        assert!(b.contains("z/g") && !b.contains("x/g"));
    }

    #[test]
    fn an_old_single_file_log_is_taken_over() {
        let dir = TempDir::with_prefix("sharpeyes-delivered-legacy").unwrap();
        std::fs::write(dir.path().join("delivered.log"), "a/g1\nb/g2\nc/g").unwrap();
        let log = DeliveredLog::open(dir.path(), T0).unwrap();
        assert!(log.contains("a/g1") && log.contains("b/g2") && !log.contains("c/g"));
        assert!(!dir.path().join("delivered.log").exists());
        drop(log);
        let log = DeliveredLog::open(dir.path(), T0).unwrap();
        assert!(log.contains("a/g1") && log.contains("b/g2"));
    }
}
