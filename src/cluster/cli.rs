//! The cluster's command-line tools (I/O: etcd, files, stdout): `camera push`, `camera list`,
//! `cluster status` and `cluster simulate` (the county-scale assignment simulation).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use etcd_client::{Client, Compare, Txn, TxnOp};
use serde::Serialize;

use super::etcd::{self, list_all, timed};
use super::keys::{Keys, WorkerRecord};
use super::member::{Desired, Member, MemberOptions};

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the etcd client runtime")
}

async fn client(endpoints: &[String]) -> anyhow::Result<Client> {
    let mut c = etcd::connect(endpoints, Some(etcd::REQUEST_TIMEOUT)).await?;
    // One cheap request, so "etcd is not there" is the error, not a later one.
    timed(c.get("/", Some(etcd_client::GetOptions::new().with_count_only())))
        .await
        .with_context(|| format!("etcd at {endpoints:?}"))?;
    Ok(c)
}

/// What `camera push` did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PushReport {
    pub new: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: usize,
    /// Disabled in DIR: not stored (removed when they were).
    pub disabled: Vec<String>,
    pub pruned: Vec<String>,
}

/// `sharpeyes camera push DIR --etcd …`: checks DIR exactly as `config check` does; any issue
/// refuses the whole push (printed to `out`, nothing written). Then each enabled camera's file
/// text goes to `cameras/<id>` (one put each: atomic per camera; unchanged texts are not
/// rewritten, so nothing restarts). A disabled camera is removed from the cluster. With
/// `prune`, cameras stored but no longer in DIR are removed. Err(None-like) is a refusal: the
/// caller exits 2.
pub fn push(
    dir: &Path,
    endpoints: &[String],
    keys: &Keys,
    prune: bool,
    known_models: &[String],
    out: &mut impl Write,
) -> anyhow::Result<Option<PushReport>> {
    let set = crate::cameras::check(dir, known_models);
    if !set.is_ok() {
        for i in &set.issues {
            writeln!(out, "{i}")?;
        }
        writeln!(
            out,
            "{} camera files, {} errors: nothing pushed",
            set.files,
            set.issues.len()
        )?;
        return Ok(None);
    }
    // The exact text of each valid file, checked again (it must not change under us).
    let mut texts: BTreeMap<String, (bool, String)> = BTreeMap::new();
    for f in &set.cameras {
        let text = std::fs::read_to_string(&f.path)
            .with_context(|| format!("reading {}", f.path.display()))?;
        let again = crate::cameras::CameraConfig::parse(&text, &f.path.display().to_string())
            .map_err(|_| {
                anyhow::anyhow!("{} changed while pushing; push again", f.path.display())
            })?;
        if again != f.config {
            anyhow::bail!("{} changed while pushing; push again", f.path.display());
        }
        texts.insert(f.config.id.as_str().to_string(), (f.config.enabled, text));
    }
    let rt = runtime()?;
    rt.block_on(async {
        let mut c = client(endpoints).await?;
        let (stored, _) = list_all(&mut c, &keys.cameras(), false).await?;
        let stored: BTreeMap<String, String> = stored
            .into_iter()
            .filter_map(|(k, e)| {
                Keys::id_under(&keys.cameras(), &k)
                    .map(|id| (id.to_string(), String::from_utf8_lossy(&e.value).into_owned()))
            })
            .collect();
        let mut r = PushReport::default();
        for (id, (enabled, text)) in &texts {
            if !enabled {
                if stored.contains_key(id) {
                    timed(c.delete(keys.camera(id), None)).await?;
                }
                r.disabled.push(id.clone());
                continue;
            }
            match stored.get(id) {
                Some(old) if old == text => r.unchanged += 1,
                old => {
                    timed(c.put(keys.camera(id), text.as_bytes(), None)).await?;
                    if old.is_some() {
                        r.changed.push(id.clone());
                    } else {
                        r.new.push(id.clone());
                    }
                }
            }
        }
        if prune {
            for id in stored.keys().filter(|id| !texts.contains_key(*id)) {
                timed(c.delete(keys.camera(id), None)).await?;
                // A pruned camera is gone for good: its rule state goes with it.
                timed(c.delete(keys.rule_state(id), None)).await?;
                r.pruned.push(id.clone());
            }
        }
        writeln!(
            out,
            "pushed {} cameras to {}: {} new, {} changed, {} unchanged, {} disabled (not stored), {} pruned",
            texts.len(),
            keys.cameras(),
            r.new.len(),
            r.changed.len(),
            r.unchanged,
            r.disabled.len(),
            r.pruned.len()
        )?;
        let not_pruned = stored.keys().filter(|id| !texts.contains_key(*id)).count();
        if !prune && not_pruned > 0 {
            writeln!(
                out,
                "note: {not_pruned} stored cameras are not in {} (kept; --prune removes them)",
                dir.display()
            )?;
        }
        Ok(Some(r))
    })
}

/// One camera as `camera list` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ListedCamera {
    pub id: String,
    pub name: String,
    pub village: String,
    /// The worker it is assigned to (None: unassigned, or no leader yet).
    pub worker: Option<String>,
    pub revision: i64,
}

/// `sharpeyes camera list --etcd …`.
pub fn list(endpoints: &[String], keys: &Keys) -> anyhow::Result<Vec<ListedCamera>> {
    runtime()?.block_on(async {
        let mut c = client(endpoints).await?;
        let (cams, _) = list_all(&mut c, &keys.cameras(), false).await?;
        let (assign, _) = list_all(&mut c, &keys.assign(), true).await?;
        let by_cam: BTreeMap<&str, &str> = assign
            .keys()
            .filter_map(|k| keys.parse_assignment(k))
            .map(|(w, c)| (c, w))
            .collect();
        Ok(cams
            .iter()
            .filter_map(|(k, e)| {
                let id = Keys::id_under(&keys.cameras(), k)?;
                let t: toml::Table = std::str::from_utf8(&e.value).ok()?.parse().ok()?;
                let s = |f: &str| t.get(f).and_then(|v| v.as_str()).unwrap_or("").to_string();
                Some(ListedCamera {
                    id: id.to_string(),
                    name: s("name"),
                    village: s("village"),
                    worker: by_cam.get(id).map(|w| w.to_string()),
                    revision: e.mod_revision,
                })
            })
            .collect())
    })
}

/// One worker as `cluster status` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct WorkerStatus {
    pub id: String,
    pub capacity: usize,
    pub cameras: usize,
    /// Since this incarnation joined, seconds.
    pub lease_age_s: f64,
    /// What is left of its lease, seconds (-1: unknown).
    pub lease_ttl_left_s: i64,
    pub host: String,
    pub pid: u32,
    pub assign_only: bool,
}

/// `sharpeyes cluster status`.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterStatus {
    pub leader: Option<String>,
    pub workers: Vec<WorkerStatus>,
    pub cameras: usize,
    pub assigned: usize,
    /// As the leader last wrote them.
    pub unassigned: Vec<String>,
    /// Assigned to a worker that is not alive (moving, or no leader to move them).
    pub orphaned: Vec<String>,
}

pub fn status(endpoints: &[String], keys: &Keys) -> anyhow::Result<ClusterStatus> {
    runtime()?.block_on(async {
        let mut c = client(endpoints).await?;
        let (workers, _) = list_all(&mut c, &keys.workers(), false).await?;
        let (cams, _) = list_all(&mut c, &keys.cameras(), true).await?;
        let (assign, _) = list_all(&mut c, &keys.assign(), true).await?;
        let leader = match timed(c.leader(keys.election())).await {
            Ok(r) => r
                .kv()
                .map(|kv| String::from_utf8_lossy(kv.value()).into_owned()),
            Err(_) => None, // no leader elected: etcd answers "election: no leader"
        };
        let unassigned: Vec<String> = match timed(c.get(keys.unassigned(), None)).await {
            Ok(r) => r
                .kvs()
                .first()
                .and_then(|kv| serde_json::from_slice(kv.value()).ok())
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        let mut per_worker: BTreeMap<String, usize> = BTreeMap::new();
        let mut assigned_to: BTreeMap<String, String> = BTreeMap::new();
        for k in assign.keys() {
            if let Some((w, cam)) = keys.parse_assignment(k) {
                *per_worker.entry(w.to_string()).or_default() += 1;
                assigned_to.insert(cam.to_string(), w.to_string());
            }
        }
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut ws = Vec::new();
        let mut live = BTreeSet::new();
        for (k, e) in &workers {
            let Some(id) = Keys::id_under(&keys.workers(), k) else {
                continue;
            };
            let Ok(rec) = serde_json::from_slice::<WorkerRecord>(&e.value) else {
                continue;
            };
            let ttl = match timed(c.lease_time_to_live(e.lease, None)).await {
                Ok(r) => r.ttl(),
                Err(_) => -1,
            };
            live.insert(id.to_string());
            ws.push(WorkerStatus {
                id: id.to_string(),
                capacity: rec.capacity,
                cameras: per_worker.get(id).copied().unwrap_or(0),
                lease_age_s: (now_ms - rec.joined_ms).max(0) as f64 / 1000.0,
                lease_ttl_left_s: ttl,
                host: rec.host,
                pid: rec.pid,
                assign_only: rec.assign_only,
            });
        }
        let orphaned = assigned_to
            .iter()
            .filter(|(_, w)| !live.contains(*w))
            .map(|(c, _)| c.clone())
            .collect();
        Ok(ClusterStatus {
            leader,
            workers: ws,
            cameras: cams.len(),
            assigned: assigned_to.len(),
            unassigned,
            orphaned,
        })
    })
}

/// `cluster status` as text.
pub fn print_status(s: &ClusterStatus, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "leader: {}",
        s.leader.as_deref().unwrap_or("(none elected)")
    )?;
    writeln!(
        out,
        "cameras: {} stored, {} assigned, {} unassigned, {} on dead workers",
        s.cameras,
        s.assigned,
        s.unassigned.len(),
        s.orphaned.len()
    )?;
    writeln!(
        out,
        "{:<16} {:>8} {:>8} {:>10} {:>9}  host/pid",
        "worker", "capacity", "cameras", "lease age", "ttl left"
    )?;
    for w in &s.workers {
        writeln!(
            out,
            "{:<16} {:>8} {:>8} {:>9.0}s {:>8}s  {}/{}{}",
            w.id,
            w.capacity,
            w.cameras,
            w.lease_age_s,
            w.lease_ttl_left_s,
            w.host,
            w.pid,
            if w.assign_only { " (assign-only)" } else { "" }
        )?;
    }
    if !s.unassigned.is_empty() {
        writeln!(
            out,
            "unassigned (over capacity): {}",
            s.unassigned.join(" ")
        )?;
    }
    if !s.orphaned.is_empty() {
        writeln!(out, "on dead workers (moving): {}", s.orphaned.join(" "))?;
    }
    Ok(())
}

/// `sharpeyes cluster simulate`: options.
#[derive(Clone, Debug)]
pub struct SimOptions {
    pub endpoints: Vec<String>,
    pub keys: Keys,
    pub cameras: usize,
    pub workers: usize,
    pub capacity: usize,
    /// Workers that stand in the election (all would be 500 campaigns for one seat).
    pub candidates: usize,
    pub ttl: Duration,
    /// Share of the workers killed (leases left to expire), 0-1.
    pub kill: f64,
    pub timeout: Duration,
}

/// What the simulation measured.
#[derive(Clone, Debug, Serialize)]
pub struct SimReport {
    pub cameras: usize,
    pub workers: usize,
    pub capacity: usize,
    pub ttl_s: f64,
    /// From the first worker starting to every camera seen by its worker.
    pub assign_all_s: f64,
    pub killed_workers: usize,
    pub moved_cameras: usize,
    /// From the kill to every moved camera seen by its new worker (includes the TTL).
    pub move_s: f64,
    /// Cameras that moved although their worker lived (must be 0: sticky).
    pub needless_moves: usize,
    /// etcd's own counters over each phase (its /metrics).
    pub etcd_puts_assign: Option<f64>,
    pub etcd_deletes_assign: Option<f64>,
    pub etcd_txns_assign: Option<f64>,
    pub etcd_puts_move: Option<f64>,
    pub etcd_deletes_move: Option<f64>,
    pub etcd_txns_move: Option<f64>,
    pub etcd_db_bytes: Option<f64>,
    /// Leader rounds that wrote, during the whole run.
    pub leader_rounds: u64,
}

/// etcd's Prometheus counters (`etcd_mvcc_put_total` ...), summed over label sets.
fn etcd_counters(endpoint: &str) -> BTreeMap<String, f64> {
    let url = format!("{}/metrics", endpoint.trim_end_matches('/'));
    let Ok(mut r) = ureq::get(&url).call() else {
        return BTreeMap::new();
    };
    let Ok(body) = r.body_mut().read_to_string() else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    for l in body.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, v)) = l.rsplit_once(' ') else {
            continue;
        };
        let name = name.split('{').next().unwrap_or(name);
        if let Ok(v) = v.parse::<f64>() {
            *out.entry(name.to_string()).or_default() += v;
        }
    }
    out
}

fn delta(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>, k: &str) -> Option<f64> {
    Some(b.get(k)? - a.get(k).copied().unwrap_or(0.0))
}

/// Runs the simulation: writes `cameras` synthetic camera keys (under the prefix, which must
/// be empty or a former simulation's), starts `workers` assign-only members in this process,
/// waits until every camera is seen by its worker, kills `kill` of them (their leases expire as
/// after a kill -9) and waits until their cameras are seen by the others.
pub fn simulate(o: &SimOptions, out: &mut impl Write) -> anyhow::Result<SimReport> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let keys = o.keys.clone();
    // Fresh state under the prefix.
    rt.block_on(async {
        let mut c = client(&o.endpoints).await?;
        timed(c.delete(
            format!("{}/", keys.prefix()),
            Some(etcd_client::DeleteOptions::new().with_prefix()),
        ))
        .await?;
        let ids: Vec<String> = (1..=o.cameras).map(|i| format!("sim-{i:05}")).collect();
        for chunk in ids.chunks(100) {
            let ops: Vec<TxnOp> = chunk
                .iter()
                .map(|id| {
                    let text = format!(
                        "id = \"{id}\"\nname = \"Simulated {id}\"\nvillage = \"Village {}\"\n[stream]\nurl = \"rtsp://192.0.2.1/{id}\"\n",
                        &id[4..8]
                    );
                    TxnOp::put(keys.camera(id), text, None)
                })
                .collect();
            let txn = Txn::new()
                .when(Vec::<Compare>::new())
                .and_then(ops);
            timed(c.txn(txn)).await?;
        }
        anyhow::Ok(())
    })?;
    writeln!(
        out,
        "simulate: {} cameras written under {}",
        o.cameras,
        keys.cameras()
    )?;

    let ids: Vec<String> = (0..o.workers).map(|i| format!("sim-w{i:03}")).collect();
    let c0 = etcd_counters(&o.endpoints[0]);
    let started = Instant::now();
    let mut members: Vec<Member> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            Member::start(
                MemberOptions {
                    endpoints: o.endpoints.clone(),
                    keys: keys.clone(),
                    worker_id: id.clone(),
                    capacity: o.capacity,
                    ttl: o.ttl,
                    fetch_configs: false,
                    campaign: i < o.candidates,
                    rule_state_dir: None,
                },
                rt.handle(),
            )
        })
        .collect();
    let seen = |members: &[Member]| -> BTreeMap<String, String> {
        let now = Instant::now();
        let mut m = BTreeMap::new();
        for w in members {
            if let Desired::Run(cams) = w.desired(now) {
                for c in cams.into_keys() {
                    m.insert(c, w.worker_id().to_string());
                }
            }
        }
        m
    };
    let expect = o.cameras.min(o.workers * o.capacity);
    let deadline = started + o.timeout;
    let before = loop {
        let s = seen(&members);
        if s.len() >= expect {
            break s;
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "only {} of {expect} cameras assigned and seen after {:?}",
                s.len(),
                o.timeout
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let assign_all = started.elapsed();
    writeln!(
        out,
        "simulate: {} cameras assigned to {} workers and seen by them in {:.2} s",
        before.len(),
        o.workers,
        assign_all.as_secs_f64()
    )?;
    let c1 = etcd_counters(&o.endpoints[0]);

    // Kill a share of the workers (every n-th), leases left to expire as after kill -9.
    let n_kill = ((o.workers as f64) * o.kill).round() as usize;
    let step = o.workers.checked_div(n_kill).unwrap_or(usize::MAX);
    let mut killed = BTreeSet::new();
    let mut kept = Vec::new();
    for (i, m) in members.drain(..).enumerate() {
        if n_kill > 0 && i % step == step - 1 && killed.len() < n_kill {
            killed.insert(m.worker_id().to_string());
            m.abandon();
        } else {
            kept.push(m);
        }
    }
    let members = kept;
    let to_move: BTreeSet<String> = before
        .iter()
        .filter(|(_, w)| killed.contains(*w))
        .map(|(c, _)| c.clone())
        .collect();
    let killed_at = Instant::now();
    let deadline = killed_at + o.timeout;
    let after = loop {
        let s = seen(&members);
        if to_move.iter().all(|c| s.contains_key(c)) && s.len() >= expect.min(o.cameras) {
            break s;
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "{} of {} moved cameras seen after {:?}",
                to_move.iter().filter(|c| s.contains_key(*c)).count(),
                to_move.len(),
                o.timeout
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let move_s = killed_at.elapsed();
    let needless = before
        .iter()
        .filter(|(c, w)| !killed.contains(*w) && after.get(*c) != Some(*w))
        .count();
    writeln!(
        out,
        "simulate: killed {} workers; their {} cameras seen on others {:.2} s after the kill (TTL {:?}); {} needless moves",
        killed.len(),
        to_move.len(),
        move_s.as_secs_f64(),
        o.ttl,
        needless
    )?;
    let c2 = etcd_counters(&o.endpoints[0]);
    let rounds = members
        .iter()
        .map(|m| m.leader_state().rounds)
        .max()
        .unwrap_or(0);
    let report = SimReport {
        cameras: o.cameras,
        workers: o.workers,
        capacity: o.capacity,
        ttl_s: o.ttl.as_secs_f64(),
        assign_all_s: assign_all.as_secs_f64(),
        killed_workers: killed.len(),
        moved_cameras: to_move.len(),
        move_s: move_s.as_secs_f64(),
        needless_moves: needless,
        etcd_puts_assign: delta(&c0, &c1, "etcd_mvcc_put_total"),
        etcd_deletes_assign: delta(&c0, &c1, "etcd_mvcc_delete_total"),
        etcd_txns_assign: delta(&c0, &c1, "etcd_mvcc_txn_total"),
        etcd_puts_move: delta(&c1, &c2, "etcd_mvcc_put_total"),
        etcd_deletes_move: delta(&c1, &c2, "etcd_mvcc_delete_total"),
        etcd_txns_move: delta(&c1, &c2, "etcd_mvcc_txn_total"),
        etcd_db_bytes: c2.get("etcd_mvcc_db_total_size_in_bytes").copied(),
        leader_rounds: rounds,
    };
    for m in members {
        m.abandon();
    }
    rt.block_on(async {
        if let Ok(mut c) = client(&o.endpoints).await {
            let _ = timed(c.delete(
                format!("{}/", keys.prefix()),
                Some(etcd_client::DeleteOptions::new().with_prefix()),
            ))
            .await;
        }
    });
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(report)
}
