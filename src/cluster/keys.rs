//! Where the cluster keeps things in etcd. Pure.
//!
//! Under a prefix (default `/sharpeyes`):
//! - `cameras/<camera>`: a camera file's text, as `sharpeyes camera push` validated it;
//! - `workers/<worker>`: a live worker (JSON [`WorkerRecord`]), attached to its lease, so it
//!   disappears when the worker stops renewing;
//! - `assign/<worker>/<camera>`: the leader's assignment. One key per camera under its worker,
//!   so a worker watches only its own cameras (a county's 15,000 assignments never fan out to
//!   500 workers); a move deletes one key and puts another in one transaction;
//! - `leader`: the election (etcd's election API: `leader/<lease>` keys, lowest revision leads);
//! - `status/unassigned`: JSON list of the cameras that fit on no worker, written by the leader;
//! - `state/<camera>`: the camera's rule state (open incidents, "last seen"; JSON of
//!   `analyze::SavedCamera`), written by the worker that runs it and read by the next one, so
//!   the state follows a camera that moves (see `cluster/rule_state.rs`). No lease: it outlives
//!   the worker that wrote it.

use serde::{Deserialize, Serialize};

/// What a worker says about itself under `workers/<id>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRecord {
    /// Cameras it may run.
    pub capacity: usize,
    /// When this incarnation joined (Unix ms).
    pub joined_ms: i64,
    /// Its lease (a new one each time it joins).
    pub lease: i64,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub pid: u32,
    /// Takes assignments but decodes nothing (`--assign-only`, the county simulation).
    #[serde(default)]
    pub assign_only: bool,
}

/// Whether `id` can name a worker: 1-64 of `A-Z a-z 0-9 . _ -` (like camera ids: it becomes a
/// key segment and a directory name).
pub fn valid_worker_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The key layout under one prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// `prefix` must start with `/`; a trailing `/` is dropped.
    pub fn new(prefix: &str) -> Result<Self, String> {
        let p = prefix.trim_end_matches('/');
        if !prefix.starts_with('/') || p.is_empty() || p.contains("//") {
            return Err(format!(
                "etcd prefix {prefix:?}: must start with / and name a path, e.g. /sharpeyes"
            ));
        }
        Ok(Self {
            prefix: p.to_string(),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn cameras(&self) -> String {
        format!("{}/cameras/", self.prefix)
    }

    pub fn camera(&self, id: &str) -> String {
        format!("{}/cameras/{id}", self.prefix)
    }

    pub fn workers(&self) -> String {
        format!("{}/workers/", self.prefix)
    }

    pub fn worker(&self, id: &str) -> String {
        format!("{}/workers/{id}", self.prefix)
    }

    pub fn assign(&self) -> String {
        format!("{}/assign/", self.prefix)
    }

    pub fn assign_of(&self, worker: &str) -> String {
        format!("{}/assign/{worker}/", self.prefix)
    }

    pub fn assignment(&self, worker: &str, camera: &str) -> String {
        format!("{}/assign/{worker}/{camera}", self.prefix)
    }

    pub fn election(&self) -> String {
        format!("{}/leader", self.prefix)
    }

    /// `state/<camera>`: the camera's rule state.
    pub fn rule_state(&self, camera: &str) -> String {
        format!("{}/state/{camera}", self.prefix)
    }

    pub fn unassigned(&self) -> String {
        format!("{}/status/unassigned", self.prefix)
    }

    /// `assign/<worker>/<camera>` → (worker, camera).
    pub fn parse_assignment<'a>(&self, key: &'a str) -> Option<(&'a str, &'a str)> {
        let rest = key.strip_prefix(&self.prefix)?.strip_prefix("/assign/")?;
        let (w, c) = rest.split_once('/')?;
        (!w.is_empty() && !c.is_empty() && !c.contains('/')).then_some((w, c))
    }

    /// The last segment of a key under `base` (`cameras/`, `workers/`).
    pub fn id_under<'a>(base: &str, key: &'a str) -> Option<&'a str> {
        let id = key.strip_prefix(base)?;
        (!id.is_empty() && !id.contains('/')).then_some(id)
    }
}

/// The end of the key range holding every key that starts with `prefix` (etcd's range_end).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_parsing() {
        let k = Keys::new("/sharpeyes/").unwrap();
        assert_eq!(k.camera("cam-1"), "/sharpeyes/cameras/cam-1");
        assert_eq!(k.assignment("w1", "cam-1"), "/sharpeyes/assign/w1/cam-1");
        assert_eq!(
            k.parse_assignment("/sharpeyes/assign/w1/cam-1"),
            Some(("w1", "cam-1"))
        );
        assert_eq!(k.parse_assignment("/sharpeyes/assign/w1/"), None);
        assert_eq!(k.parse_assignment("/other/assign/w1/c"), None);
        assert_eq!(
            Keys::id_under(&k.workers(), "/sharpeyes/workers/w2"),
            Some("w2")
        );
        assert!(Keys::new("sharpeyes").is_err());
        assert!(Keys::new("/").is_err());
    }

    #[test]
    fn worker_ids() {
        assert!(valid_worker_id("w-01.box_a"));
        for bad in ["", "a/b", "..", "w 1", &"x".repeat(65)] {
            assert!(!valid_worker_id(bad), "{bad}");
        }
    }

    #[test]
    fn range_ends() {
        assert_eq!(prefix_end(b"/a/"), b"/a0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff"), vec![0]);
    }
}
