//! Scans the camera directory for hot reload (I/O: reads every camera file).
//!
//! `sharpeyes run` calls [`scan_dir`] every [`POLL_INTERVAL`] and hands the result to
//! `Reloader::apply`. Polling is deliberate: no inotify dependency, and it works on network
//! file systems and bind mounts where change notifications are missing or unreliable. Parsing a
//! few dozen small files each second costs well under a millisecond.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::config::{CameraConfig, ConfigIssue};
use super::load::{camera_files, load_file};

/// How often `sharpeyes run` rescans the camera directory.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// One scan: every camera file present now, with its parse result, sorted by path.
pub type Scan = Vec<(PathBuf, Result<CameraConfig, Vec<ConfigIssue>>)>;

/// Reads every camera file of `dir` (same selection as `load_dir`: `*.toml`, not hidden, not
/// recursive). An unreadable file is an entry with a "cannot read" issue, so its last good
/// config keeps running. An unreadable directory is `Err`: skip that round rather than apply
/// an empty scan, which would stop every camera (a network share that blinks must not).
pub fn scan_dir(dir: &Path) -> io::Result<Scan> {
    Ok(camera_files(dir)?
        .into_iter()
        .map(|p| {
            let r = load_file(&p);
            (p, r)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::reload::{Change, Reloader};
    use super::*;

    #[test]
    fn scan_then_apply_follows_edits_on_disk() {
        let d = std::env::temp_dir().join(format!("sharpeyes-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("dir");
        let cam = "id = \"w\"\nname = \"W\"\nvillage = \"V\"\n[stream]\nurl = \"rtsp://h/w\"\n";
        std::fs::write(d.join("w.toml"), cam).expect("write");
        let mut r = Reloader::new();
        let first = r.apply(scan_dir(&d).expect("scan"));
        assert!(matches!(first.as_slice(), [Change::Start(c)] if c.id.as_str() == "w"));
        std::fs::write(d.join("w.toml"), b"\xff\xfe").expect("write");
        let bad = r.apply(scan_dir(&d).expect("scan"));
        assert!(
            matches!(bad.as_slice(), [Change::Rejected { .. }]),
            "{bad:?}"
        );
        std::fs::remove_file(d.join("w.toml")).expect("rm");
        let gone = r.apply(scan_dir(&d).expect("scan"));
        assert!(matches!(gone.as_slice(), [Change::Stop(id)] if id.as_str() == "w"));
        assert!(scan_dir(&d.join("missing")).is_err());
    }
}
