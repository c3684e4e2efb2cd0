//! A camera's rule state follows it from worker to worker. The choice of what to write when
//! ([`Pending`]) and of which copy wins ([`remote_is_newer`]) is pure; [`push`] and [`pull`]
//! do the etcd I/O.
//!
//! Each worker keeps its cameras' rule state (open incidents, "last seen" times, the rule
//! clock) in local files, `<state dir>/<camera>.json` (`Analyzer::set_state_dir`), and mirrors
//! them to etcd under `state/<camera>`:
//! - a change of the open incidents (one opened or ended), and the state at stop, at once;
//! - other changes ("last seen", the rule clock) at most every [`MIRROR_EVERY`] per camera: a
//!   county's 15,000 cameras then cost etcd at most 500 small puts a second, most of them far
//!   fewer because an idle camera's state does not change.
//!
//! When the leader assigns a camera to this worker, its etcd state is pulled before the camera
//! starts and replaces the local file when it is newer (a later rule time). So after a move,
//! even one forced by kill -9, the new worker continues the open incidents (same incident id:
//! their updates and `end` follow, never a second `new` for the same fall while it lasts) and
//! counts inactivity from the last time someone was seen. A kill -9 can lose at most
//! [`MIRROR_EVERY`] of "last seen" updates; incident changes are written before anything else.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use etcd_client::Client;
use tokio::sync::{mpsc, watch};

use super::etcd::timed;
use super::keys::Keys;
use sharpeyes_analytics::SavedCamera;

/// A camera's state reaches etcd at least this long after its last put, unless an incident
/// opened or ended (then at once).
pub const MIRROR_EVERY: Duration = Duration::from_secs(30);

/// How long stopping waits for the last states to reach etcd.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// States waiting to be put, newest per camera. Pure.
#[derive(Debug)]
pub struct Pending {
    every: Duration,
    /// camera → (state JSON, urgent).
    waiting: HashMap<String, (Vec<u8>, bool)>,
    /// camera → when its state was last put.
    last_put: HashMap<String, Instant>,
}

impl Pending {
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            waiting: HashMap::new(),
            last_put: HashMap::new(),
        }
    }

    /// A new state of `camera`; it replaces one still waiting (an urgent one stays urgent).
    pub fn offer(&mut self, camera: String, state: Vec<u8>, urgent: bool) {
        let e = self.waiting.entry(camera).or_insert((Vec::new(), false));
        e.0 = state;
        e.1 |= urgent;
    }

    fn is_due(&self, camera: &str, urgent: bool, now: Instant) -> bool {
        urgent
            || self
                .last_put
                .get(camera)
                .is_none_or(|t| now.saturating_duration_since(*t) >= self.every)
    }

    /// Takes what is due at `now` (`all`: everything waiting, at stop): urgent states, and
    /// those of cameras last put at least `every` ago or never.
    pub fn due(&mut self, now: Instant, all: bool) -> Vec<(String, Vec<u8>, bool)> {
        let ready: Vec<String> = self
            .waiting
            .iter()
            .filter(|(c, (_, urgent))| all || self.is_due(c, *urgent, now))
            .map(|(c, _)| c.clone())
            .collect();
        let mut out: Vec<(String, Vec<u8>, bool)> = ready
            .into_iter()
            .filter_map(|c| self.waiting.remove(&c).map(|(s, u)| (c, s, u)))
            .collect();
        // Urgent (incident) changes first: they matter most if the worker dies mid-way.
        out.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        out
    }

    /// `camera`'s state was put at `now`.
    pub fn put_ok(&mut self, camera: &str, now: Instant) {
        self.last_put.insert(camera.to_string(), now);
    }

    /// Putting `state` failed: it waits again unless a newer one came meanwhile.
    pub fn put_failed(&mut self, camera: String, state: Vec<u8>, urgent: bool) {
        match self.waiting.get_mut(&camera) {
            Some(newer) => newer.1 |= urgent,
            None => {
                self.waiting.insert(camera, (state, urgent));
            }
        }
    }

    /// When the next state falls due (None: nothing waits).
    pub fn next_due(&self, now: Instant) -> Option<Instant> {
        self.waiting
            .iter()
            .map(|(c, (_, urgent))| {
                if *urgent {
                    now
                } else {
                    self.last_put.get(c).map_or(now, |t| *t + self.every)
                }
            })
            .min()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

/// Whether etcd's copy of a camera's state should replace the local one: there is no local
/// one, or etcd's rule clock is later (another worker ran the camera after this one did).
pub fn remote_is_newer(local: Option<&SavedCamera>, remote: &SavedCamera) -> bool {
    match local {
        None => true,
        Some(l) => remote.rule_time > l.rule_time,
    }
}

/// What the analyser hands the pusher: (camera, state JSON, urgent).
pub type StateUpdate = (String, Vec<u8>, bool);

/// Where the analyser sends each state it saved (cheap, never blocks).
#[derive(Clone, Debug)]
pub struct StateSender(pub(super) mpsc::UnboundedSender<StateUpdate>);

impl StateSender {
    /// Queues `state` for etcd; `urgent`: an incident opened or ended, or the camera stopped.
    pub fn send(&self, camera: &str, state: &[u8], urgent: bool) {
        // Closed: the member is stopping; the local file has the state.
        let _ = self.0.send((camera.to_string(), state.to_vec(), urgent));
    }
}

/// Puts the states sent through `rx` to etcd as [`Pending`] says; on `stop` puts everything
/// still waiting (for at most [`FLUSH_TIMEOUT`]) and returns.
pub(super) async fn push(
    endpoints: Vec<String>,
    keys: Keys,
    mut rx: mpsc::UnboundedReceiver<StateUpdate>,
    mut stop: watch::Receiver<bool>,
) {
    let mut pending = Pending::new(MIRROR_EVERY);
    let mut client: Option<Client> = None;
    let mut stopping = false;
    loop {
        let wait = pending
            .next_due(Instant::now())
            .map_or(Duration::from_secs(1), |t| {
                t.saturating_duration_since(Instant::now())
            })
            .clamp(Duration::from_millis(10), Duration::from_secs(1));
        if !stopping {
            tokio::select! {
                m = rx.recv() => match m {
                    Some((c, s, u)) => pending.offer(c, s, u),
                    None => stopping = true,
                },
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => stopping = true,
            }
        }
        while let Ok((c, s, u)) = rx.try_recv() {
            pending.offer(c, s, u);
        }
        if stopping {
            let flushed = tokio::time::timeout(FLUSH_TIMEOUT, async {
                put_due(&endpoints, &keys, &mut client, &mut pending, true).await
            })
            .await;
            if flushed.is_err() || !pending.is_empty() {
                tracing::warn!(
                    "etcd: not every camera's rule state was mirrored before stopping; \
                     the local state files have them"
                );
            }
            return;
        }
        put_due(&endpoints, &keys, &mut client, &mut pending, false).await;
    }
}

/// Puts what is due; stops at the first failure (the rest waits for the next round).
async fn put_due(
    endpoints: &[String],
    keys: &Keys,
    client: &mut Option<Client>,
    pending: &mut Pending,
    all: bool,
) {
    let due = pending.due(Instant::now(), all);
    if due.is_empty() {
        return;
    }
    if client.is_none() {
        match super::etcd::connect(endpoints, Some(super::etcd::REQUEST_TIMEOUT)).await {
            Ok(c) => *client = Some(c),
            Err(e) => {
                tracing::debug!(error = %format!("{e:#}"), "etcd: cannot connect to mirror rule state; retrying");
                for (c, s, u) in due {
                    pending.put_failed(c, s, u);
                }
                return;
            }
        }
    }
    let c = client.as_mut().expect("connected above");
    let mut failed = false;
    for (camera, state, urgent) in due {
        if failed {
            pending.put_failed(camera, state, urgent);
            continue;
        }
        match timed(c.put(keys.rule_state(&camera), state.clone(), None)).await {
            Ok(_) => pending.put_ok(&camera, Instant::now()),
            Err(e) => {
                tracing::debug!(camera = %camera, error = %format!("{e:#}"), "etcd: rule state not mirrored; retrying");
                pending.put_failed(camera, state, urgent);
                failed = true;
            }
        }
    }
    if failed {
        *client = None;
    }
}

/// Makes `<dir>/<camera>.json` the newer of the local file and etcd's `state/<camera>` (see
/// [`remote_is_newer`]). Err: etcd did not answer, or the file could not be written (the
/// caller does not start the camera yet and tries again).
pub(super) async fn pull(
    client: &mut Client,
    keys: &Keys,
    dir: &Path,
    camera: &str,
) -> anyhow::Result<()> {
    let r = timed(client.get(keys.rule_state(camera), None)).await?;
    let Some(kv) = r.kvs().first() else {
        return Ok(()); // never mirrored: whatever is local stands
    };
    let remote: SavedCamera = match serde_json::from_slice(kv.value()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(camera, error = %e, "etcd: rule state unreadable; keeping the local one");
            return Ok(());
        }
    };
    let id = sharpeyes_core::CameraId::new(camera).map_err(anyhow::Error::msg)?;
    let path = crate::analyze::state_path(dir, &id);
    let local: Option<SavedCamera> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if remote_is_newer(local.as_ref(), &remote) {
        std::fs::create_dir_all(dir)?;
        crate::analyze::write_atomic(&path, kv.value())?;
        tracing::info!(
            camera,
            open_incidents = remote.incidents.open.len(),
            "rule state taken from etcd (the camera ran elsewhere since)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sharpeyes_core::UnixMillis;

    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn urgent_states_go_at_once_and_others_at_most_every_period() {
        let every = Duration::from_secs(30);
        let mut p = Pending::new(every);
        let t = t0();
        // Never put: due at once.
        p.offer("a".into(), b"1".to_vec(), false);
        let d = p.due(t, false);
        assert_eq!(d, vec![("a".to_string(), b"1".to_vec(), false)]);
        p.put_ok("a", t);
        // Put 1 s ago: waits, and a newer state replaces the waiting one.
        p.offer("a".into(), b"2".to_vec(), false);
        p.offer("a".into(), b"3".to_vec(), false);
        assert!(p.due(t + Duration::from_secs(1), false).is_empty());
        assert_eq!(p.next_due(t + Duration::from_secs(1)), Some(t + every));
        // An incident change: at once, with the newest bytes, and it stays urgent.
        p.offer("a".into(), b"4".to_vec(), true);
        p.offer("a".into(), b"5".to_vec(), false);
        let d = p.due(t + Duration::from_secs(2), false);
        assert_eq!(d, vec![("a".to_string(), b"5".to_vec(), true)]);
        p.put_ok("a", t + Duration::from_secs(2));
        // Period over: the ordinary change goes.
        p.offer("a".into(), b"6".to_vec(), false);
        assert!(p.due(t + Duration::from_secs(31), false).is_empty());
        assert_eq!(p.due(t + Duration::from_secs(32), false).len(), 1);
        assert!(p.is_empty());
    }

    #[test]
    fn a_failed_put_waits_again_unless_a_newer_state_came() {
        let mut p = Pending::new(Duration::from_secs(30));
        let t = t0();
        p.offer("a".into(), b"1".to_vec(), true);
        let (c, s, u) = p.due(t, false).remove(0);
        p.put_failed(c, s, u);
        assert_eq!(
            p.due(t, false),
            vec![("a".to_string(), b"1".to_vec(), true)]
        );
        // Failed while a newer state arrived: the newer one stays, still urgent.
        p.offer("a".into(), b"2".to_vec(), false);
        p.put_failed("a".into(), b"1".to_vec(), true);
        assert_eq!(
            p.due(t, false),
            vec![("a".to_string(), b"2".to_vec(), true)]
        );
    }

    #[test]
    fn at_stop_everything_goes_urgent_first() {
        let mut p = Pending::new(Duration::from_secs(30));
        let t = t0();
        for c in ["b", "c"] {
            p.offer(c.into(), b"x".to_vec(), false);
            p.due(t, false);
            p.put_ok(c, t);
            p.offer(c.into(), b"y".to_vec(), false);
        }
        p.offer("z".into(), b"!".to_vec(), true);
        assert_eq!(p.due(t, false).len(), 1, "only the urgent one is due");
        p.offer("z".into(), b"!".to_vec(), true);
        let all = p.due(t, true);
        let order: Vec<&str> = all.iter().map(|(c, _, _)| c.as_str()).collect();
        assert_eq!(order, ["z", "b", "c"]);
    }

    #[test]
    fn the_later_rule_clock_wins() {
        let at = |ms| SavedCamera {
            rule_time: Some(UnixMillis(ms)),
            ..SavedCamera::default()
        };
        assert!(remote_is_newer(None, &at(1)));
        assert!(remote_is_newer(Some(&at(1)), &at(2)));
        assert!(!remote_is_newer(Some(&at(2)), &at(2)));
        assert!(!remote_is_newer(Some(&at(3)), &at(2)));
        assert!(!remote_is_newer(Some(&at(3)), &SavedCamera::default()));
    }
}
