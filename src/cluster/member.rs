//! One worker's membership in the cluster (I/O: etcd). Three tasks on the caller's tokio
//! runtime:
//!
//! - **session**: joins with a lease (`workers/<id>`, TTL `ttl`), re-reads its assignment, then
//!   renews every TTL/3. What a failed renewal means is the [`Fence`]'s business: the run loop
//!   asks [`Member::desired`] and gets either the cameras to run or why not. A lease etcd says
//!   is gone makes it join again with a new one.
//! - **follow**: mirrors `assign/<id>/` and, unless assign-only, the camera keys, and fetches
//!   the text of each assigned camera (again when it is edited).
//! - **elect** (with `campaign`): etcd's election on `leader`; the winner runs the leader loop
//!   ([`super::leader`]) until it loses the election or its lease.
//!
//! [`Member::leave`] revokes the lease: the worker's key and election key go at once, and its
//! cameras move without waiting for the TTL.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::{Client, PutOptions};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::etcd::{self, Mirror, timed};
use super::fence::{self, Fence, Fenced};
use super::keys::{Keys, WorkerRecord};
use super::rule_state::{self, StateSender};

#[derive(Clone, Debug)]
pub struct MemberOptions {
    /// etcd endpoint URLs (see [`etcd::endpoints`]).
    pub endpoints: Vec<String>,
    pub keys: Keys,
    pub worker_id: String,
    pub capacity: usize,
    pub ttl: Duration,
    /// Fetch the camera files (false: assignment only, nothing is decoded).
    pub fetch_configs: bool,
    /// Stand in the leader election.
    pub campaign: bool,
    /// The local rule state directory (`Analyzer::set_state_dir`): an assigned camera's state
    /// is pulled from etcd into it before the camera starts, and [`Member::state_sender`]
    /// mirrors what the analyser saves (see `rule_state.rs`). None: no rule state in etcd.
    pub rule_state_dir: Option<std::path::PathBuf>,
}

/// What the leader last decided, for status and metrics (only while this member leads).
#[derive(Clone, Debug, Default)]
pub struct LeaderState {
    pub leading: bool,
    /// Cameras that fit on no worker, with (name, village) when known.
    pub unassigned: BTreeMap<String, (String, String)>,
    /// Assignment rounds that wrote something, and cameras moved or placed by them.
    pub rounds: u64,
    pub moves: u64,
    /// Live workers and assigned cameras at the last round.
    pub workers: usize,
    pub assigned: usize,
}

/// What the run loop is told.
#[derive(Clone, Debug, PartialEq)]
pub enum Desired {
    /// Run exactly these cameras: id → camera file text (empty text in assign-only mode).
    Run(BTreeMap<String, String>),
    /// Run nothing, for this reason.
    Fenced(Fenced),
}

pub(super) struct Shared {
    pub opts: MemberOptions,
    pub fence: Mutex<Fence>,
    /// The lease in use (0: none).
    pub lease: AtomicI64,
    /// Assigned cameras and their text, as last fetched.
    assigned: Mutex<BTreeMap<String, String>>,
    /// Listings of the assignment mirror that `assigned` reflects.
    synced: AtomicU64,
    pub leader: Mutex<LeaderState>,
    /// Bumped whenever `assigned` changes.
    generation: AtomicU64,
    assign_mirror: Mirror,
}

/// A worker's membership; dropping it stops the tasks (the lease then expires by itself).
pub struct Member {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    rt: tokio::runtime::Handle,
    /// The rule state mirror (with `rule_state_dir`): its sender and its task.
    rule_state: Option<(StateSender, JoinHandle<()>)>,
}

impl Member {
    /// Starts the tasks on `rt`.
    pub fn start(opts: MemberOptions, rt: &tokio::runtime::Handle) -> Self {
        let shared = Arc::new(Shared {
            fence: Mutex::new(Fence::new(opts.ttl)),
            lease: AtomicI64::new(0),
            assigned: Mutex::new(BTreeMap::new()),
            synced: AtomicU64::new(0),
            leader: Mutex::new(LeaderState::default()),
            generation: AtomicU64::new(0),
            assign_mirror: Mirror::new(opts.keys.assign_of(&opts.worker_id), true),
            opts,
        });
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        tasks.push(rt.spawn(session(shared.clone(), stop_rx.clone())));
        tasks.push(rt.spawn(follow(shared.clone(), stop_rx.clone())));
        let rule_state = shared.opts.rule_state_dir.as_ref().map(|_| {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let task = rt.spawn(rule_state::push(
                shared.opts.endpoints.clone(),
                shared.opts.keys.clone(),
                rx,
                stop_rx.clone(),
            ));
            (StateSender(tx), task)
        });
        if shared.opts.campaign {
            tasks.push(rt.spawn(elect(shared.clone(), stop_rx)));
        }
        Self {
            shared,
            stop,
            tasks,
            rt: rt.clone(),
            rule_state,
        }
    }

    /// Where the analyser sends the rule states it saved, to be mirrored to etcd (None without
    /// `rule_state_dir`).
    pub fn state_sender(&self) -> Option<StateSender> {
        self.rule_state.as_ref().map(|(s, _)| s.clone())
    }

    pub fn worker_id(&self) -> &str {
        &self.shared.opts.worker_id
    }

    pub fn capacity(&self) -> usize {
        self.shared.opts.capacity
    }

    /// Changes whenever the assigned cameras change (cheap to poll).
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// What to run now (see [`Desired`]).
    pub fn desired(&self, now: Instant) -> Desired {
        let verdict = self
            .shared
            .fence
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .verdict(now);
        match verdict {
            Some(f) => Desired::Fenced(f),
            None => Desired::Run(
                self.shared
                    .assigned
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone(),
            ),
        }
    }

    /// The cameras assigned now, whatever the fence says.
    pub fn assigned_ids(&self) -> BTreeSet<String> {
        self.shared
            .assigned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// Whether etcd is down for everybody as far as this worker can tell (cameras keep running).
    pub fn etcd_outage(&self) -> bool {
        self.shared
            .fence
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .outage()
            .is_some()
    }

    pub fn leader_state(&self) -> LeaderState {
        self.shared
            .leader
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The lease in use (0: not joined).
    pub fn lease(&self) -> i64 {
        self.shared.lease.load(Ordering::Acquire)
    }

    /// Leaves the cluster: revokes the lease (its cameras move at once), then stops the tasks.
    pub fn leave(mut self) {
        let lease = self.lease();
        let eps = self.shared.opts.endpoints.clone();
        let _ = self.stop.send(true);
        // The last rule states (the stopped cameras' ended incidents) reach etcd before the
        // cameras move: the next worker takes them up.
        if let Some((sender, task)) = self.rule_state.take() {
            drop(sender);
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(5), task).await });
        }
        if lease != 0 {
            let r = self.rt.block_on(async move {
                let mut c = etcd::connect(&eps, Some(etcd::REQUEST_TIMEOUT)).await?;
                timed(c.lease_revoke(lease)).await?;
                anyhow::Ok(())
            });
            if let Err(e) = r {
                tracing::warn!(error = %format!("{e:#}"), "could not revoke the lease; the cameras move when it expires");
            }
        }
    }

    /// Stops the tasks without revoking the lease (as a crash would): the lease expires.
    pub fn abandon(self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = stop.changed() => true,
    }
}

/// Connects, retrying until it works or `stop`.
async fn connect_retry(
    eps: &[String],
    timeout: Option<Duration>,
    stop: &mut watch::Receiver<bool>,
) -> Option<Client> {
    loop {
        match etcd::connect(eps, timeout).await {
            Ok(c) => return Some(c),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "etcd: cannot connect; retrying");
                if sleep_or_stop(Duration::from_millis(500), stop).await {
                    return None;
                }
            }
        }
    }
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Join, resync, renew; join again when the lease is lost.
async fn session(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let o = shared.opts.clone();
    let Some(mut client) =
        connect_retry(&o.endpoints, Some(etcd::REQUEST_TIMEOUT), &mut stop).await
    else {
        return;
    };
    let ttl_s = o.ttl.as_secs().max(1) as i64;
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    while !*stop.borrow() {
        // Join: a lease, our key on it.
        let sent = Instant::now();
        let joined: anyhow::Result<i64> = async {
            let lease = timed(client.lease_grant(ttl_s, None)).await?.id();
            let record = WorkerRecord {
                capacity: o.capacity,
                joined_ms: unix_ms(),
                lease,
                host: host.clone(),
                pid: std::process::id(),
                assign_only: !o.fetch_configs,
            };
            timed(client.put(
                o.keys.worker(&o.worker_id),
                serde_json::to_vec(&record)?,
                Some(PutOptions::new().with_lease(lease)),
            ))
            .await?;
            Ok(lease)
        }
        .await;
        let lease = match joined {
            Ok(l) => l,
            Err(e) => {
                let refused = etcd::all_refuse(&o.endpoints).await;
                shared
                    .fence
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .probed(Instant::now(), refused);
                tracing::warn!(worker = %o.worker_id, error = %format!("{e:#}"), etcd_down = refused, "cannot join the cluster; retrying");
                if sleep_or_stop(Duration::from_millis(500), &mut stop).await {
                    return;
                }
                continue;
            }
        };
        shared.lease.store(lease, Ordering::Release);
        // Re-read the assignment before running anything: what this worker saw before it lost
        // its lease may have moved since.
        let before = shared.assign_mirror.listings();
        shared.assign_mirror.relist();
        let resync_by = Instant::now() + o.ttl;
        while shared.synced.load(Ordering::Acquire) <= before && Instant::now() < resync_by {
            if sleep_or_stop(Duration::from_millis(20), &mut stop).await {
                return;
            }
        }
        if shared.synced.load(Ordering::Acquire) <= before {
            // Running on an assignment read before the lease was lost could start a camera that
            // has moved to another worker: give this lease back and join again instead.
            tracing::warn!(worker = %o.worker_id, lease = format!("{lease:x}"), "joined but could not re-read the assignment within the TTL; joining again");
            let _ = timed(client.lease_revoke(lease)).await;
            shared.lease.store(0, Ordering::Release);
            if sleep_or_stop(Duration::from_millis(500), &mut stop).await {
                return;
            }
            continue;
        }
        shared
            .fence
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .joined(sent, o.ttl);
        tracing::info!(worker = %o.worker_id, lease = format!("{lease:x}"), "joined the cluster");

        // Renew until the lease is gone.
        let mut keeper = None;
        loop {
            if sleep_or_stop(fence::renew_every(o.ttl), &mut stop).await {
                return;
            }
            let sent = Instant::now();
            let answer: anyhow::Result<i64> = async {
                if keeper.is_none() {
                    // Opening the stream renews once; a lease etcd no longer has is refused
                    // here with "lease not found" (TTL 0), not answered on the stream.
                    match timed(client.lease_keep_alive(lease)).await {
                        Ok(k) => keeper = Some(k),
                        Err(e) if lease_not_found(&e) => return Ok(0),
                        Err(e) => return Err(e),
                    }
                }
                let (k, s) = keeper.as_mut().expect("just made");
                timed(k.keep_alive()).await?;
                match timed(s.message()).await? {
                    Some(r) => Ok(r.ttl()),
                    None => anyhow::bail!("keep-alive stream closed"),
                }
            }
            .await;
            match answer {
                Ok(ttl) if ttl > 0 => {
                    shared
                        .fence
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .renewed(sent, Duration::from_secs(ttl as u64));
                }
                Ok(_) => {
                    tracing::warn!(worker = %o.worker_id, lease = format!("{lease:x}"), "the lease expired; cameras stop, joining again");
                    shared
                        .fence
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .lost();
                    shared.lease.store(0, Ordering::Release);
                    break;
                }
                Err(e) => {
                    keeper = None;
                    let refused = etcd::all_refuse(&o.endpoints).await;
                    let mut f = shared.fence.lock().unwrap_or_else(|p| p.into_inner());
                    let was = f.outage().is_some();
                    f.probed(Instant::now(), refused);
                    drop(f);
                    if refused && !was {
                        tracing::warn!(worker = %o.worker_id, "etcd is down (every endpoint refuses): cameras keep running until it is back");
                    } else if !refused {
                        tracing::warn!(worker = %o.worker_id, error = %format!("{e:#}"), "lease renewal failed");
                    }
                }
            }
        }
    }
}

/// Whether `e` is etcd-client's "the lease does not exist" (a keep-alive answered with TTL 0).
fn lease_not_found(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<etcd_client::Error>(),
        Some(etcd_client::Error::LeaseKeepAliveError(m)) if m.contains("not found")
    ) || matches!(
        e.downcast_ref::<etcd_client::Error>(),
        Some(etcd_client::Error::GRpcStatus(s)) if s.message().contains("lease not found")
    )
}

/// Mirrors this worker's assignment (and the camera keys) and fetches the camera files.
async fn follow(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let o = shared.opts.clone();
    let Some(client) = connect_retry(&o.endpoints, Some(etcd::REQUEST_TIMEOUT), &mut stop).await
    else {
        return;
    };
    let cameras = Arc::new(Mirror::new(o.keys.cameras(), true));
    let mut mirrors = Vec::new();
    {
        let s = shared.clone();
        let (c, st) = (client.clone(), stop.clone());
        mirrors.push(tokio::spawn(
            async move { s.assign_mirror.run(c, st).await },
        ));
    }
    if o.fetch_configs {
        let m = cameras.clone();
        let (c, st) = (client.clone(), stop.clone());
        mirrors.push(tokio::spawn(async move { m.run(c, st).await }));
    }
    let mut client = client;
    // id → (mod revision, text)
    let mut cache: BTreeMap<String, (i64, String)> = BTreeMap::new();
    // Assigned cameras whose rule state was pulled from etcd since they were assigned.
    let mut pulled: BTreeSet<String> = BTreeSet::new();
    loop {
        let a = shared.assign_mirror.snapshot();
        if a.listings > 0 {
            let prefix = o.keys.assign_of(&o.worker_id);
            let ids: Vec<String> = a
                .entries
                .keys()
                .filter_map(|k| Keys::id_under(&prefix, k).map(str::to_string))
                .collect();
            let mut next = BTreeMap::new();
            let mut complete = true;
            if o.fetch_configs {
                let cams = cameras.snapshot();
                if cams.listings == 0 {
                    complete = false;
                }
                for id in &ids {
                    let Some(e) = cams.entries.get(&o.keys.camera(id)) else {
                        continue; // removed: the leader drops its assignment too
                    };
                    let fresh = cache.get(id).is_some_and(|(r, _)| *r == e.mod_revision);
                    if !fresh {
                        match timed(client.get(o.keys.camera(id), None)).await {
                            Ok(r) => {
                                if let Some(kv) = r.kvs().first() {
                                    cache.insert(
                                        id.clone(),
                                        (
                                            kv.mod_revision(),
                                            String::from_utf8_lossy(kv.value()).into_owned(),
                                        ),
                                    );
                                }
                            }
                            Err(e) => {
                                tracing::debug!(camera = %id, error = %format!("{e:#}"), "cannot fetch the camera file; retrying");
                                complete = false;
                            }
                        }
                    }
                    // A newly assigned camera starts with the newest rule state: another
                    // worker may have run it since this one last did.
                    if let Some(dir) = &o.rule_state_dir
                        && !pulled.contains(id)
                    {
                        match rule_state::pull(&mut client, &o.keys, dir, id).await {
                            Ok(()) => {
                                pulled.insert(id.clone());
                            }
                            Err(e) => {
                                tracing::debug!(camera = %id, error = %format!("{e:#}"), "cannot take the rule state from etcd; retrying before the camera starts");
                                complete = false;
                                continue;
                            }
                        }
                    }
                    if let Some((_, text)) = cache.get(id) {
                        next.insert(id.clone(), text.clone());
                    }
                }
                cache.retain(|id, _| ids.contains(id));
                pulled.retain(|id| ids.contains(id));
            } else {
                next = ids.iter().map(|id| (id.clone(), String::new())).collect();
            }
            let mut cur = shared.assigned.lock().unwrap_or_else(|p| p.into_inner());
            if *cur != next {
                *cur = next;
                shared.generation.fetch_add(1, Ordering::AcqRel);
            }
            drop(cur);
            if complete {
                shared.synced.store(a.listings, Ordering::Release);
            }
        }
        tokio::select! {
            _ = shared.assign_mirror.changed.notified() => {}
            _ = cameras.changed.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => break,
        }
    }
    for m in mirrors {
        m.abort();
    }
}

/// Stands in the election while joined; leads when elected.
async fn elect(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let o = shared.opts.clone();
    // The election's wait has no deadline: its own client, without the request timeout.
    let Some(mut waiting) = connect_retry(&o.endpoints, None, &mut stop).await else {
        return;
    };
    let Some(client) = connect_retry(&o.endpoints, Some(etcd::REQUEST_TIMEOUT), &mut stop).await
    else {
        return;
    };
    while !*stop.borrow() {
        let lease = shared.lease.load(Ordering::Acquire);
        if lease == 0 {
            if sleep_or_stop(Duration::from_millis(100), &mut stop).await {
                return;
            }
            continue;
        }
        // Campaign until elected; give up when the lease changes (it is dead: so is the bid).
        let won = tokio::select! {
            r = waiting.campaign(o.keys.election(), o.worker_id.clone(), lease) => Some(r),
            _ = async {
                while shared.lease.load(Ordering::Acquire) == lease {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            } => None,
            _ = stop.changed() => return,
        };
        match won {
            Some(Ok(mut r)) => {
                let Some(key) = r.take_leader() else { continue };
                tracing::info!(worker = %o.worker_id, "elected leader");
                super::leader::lead(
                    shared.clone(),
                    client.clone(),
                    key.clone(),
                    lease,
                    stop.clone(),
                )
                .await;
                shared
                    .leader
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .leading = false;
                tracing::info!(worker = %o.worker_id, "no longer the leader");
                let mut c = client.clone();
                let _ =
                    timed(c.resign(Some(etcd_client::ResignOptions::new().with_leader(key)))).await;
            }
            Some(Err(e)) => {
                tracing::debug!(worker = %o.worker_id, error = %e, "campaign interrupted; again");
                if sleep_or_stop(Duration::from_millis(500), &mut stop).await {
                    return;
                }
            }
            None => {}
        }
    }
}
