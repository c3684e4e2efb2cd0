//! The leader loop (I/O: etcd): mirrors the workers, the camera keys and the assignment, and
//! after each change (100 ms to let a burst settle, and every second anyway) writes what
//! [`assign::plan`] says. Every write is a transaction that first checks the leader's election
//! key still exists with its revision, so a leader that lost the election (its lease expired
//! while it was frozen, say) cannot write anything.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, LeaderKey, Txn, TxnOp};
use tokio::sync::watch;

use super::assign::{self, Round};
use super::etcd::{Mirror, timed};
use super::keys::{Keys, WorkerRecord};
use super::member::Shared;

/// Operations per transaction (etcd's default limit is 128), the guard not counted.
const OPS_PER_TXN: usize = 120;

/// Leads until the election key or the lease is gone, or `stop`.
pub(super) async fn lead(
    shared: Arc<Shared>,
    mut client: Client,
    key: LeaderKey,
    lease: i64,
    mut stop: watch::Receiver<bool>,
) {
    let o = shared.opts.clone();
    let keys = &o.keys;
    let workers = Arc::new(Mirror::new(keys.workers(), false));
    let cameras = Arc::new(Mirror::new(keys.cameras(), true));
    let assigned = Arc::new(Mirror::new(keys.assign(), true));
    let mut tasks = Vec::new();
    for m in [&workers, &cameras, &assigned] {
        let (m, c, s) = (m.clone(), client.clone(), stop.clone());
        tasks.push(tokio::spawn(async move { m.run(c, s).await }));
    }
    shared
        .leader
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .leading = true;
    let guard = Compare::create_revision(key.key().to_vec(), CompareOp::Equal, key.rev());
    // Workers (id, lease) seen at the last round that wrote: a new pair is a join.
    let mut known: Option<BTreeSet<(String, i64)>> = None;
    let mut last_unassigned: Option<Vec<String>> = None;
    loop {
        tokio::select! {
            _ = workers.changed.notified() => {}
            _ = cameras.changed.notified() => {}
            _ = assigned.changed.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => break,
        }
        // Let a burst of changes settle (a worker's death deletes its key; a push writes many).
        tokio::time::sleep(Duration::from_millis(100)).await;
        if shared.lease.load(Ordering::Acquire) != lease {
            break;
        }
        let (w, c, a) = (workers.snapshot(), cameras.snapshot(), assigned.snapshot());
        if w.listings == 0 || c.listings == 0 || a.listings == 0 {
            continue;
        }
        let mut live: BTreeMap<String, usize> = BTreeMap::new();
        let mut incarnations = BTreeSet::new();
        for (k, e) in &w.entries {
            let Some(id) = Keys::id_under(&keys.workers(), k) else {
                continue;
            };
            let Ok(rec) = serde_json::from_slice::<WorkerRecord>(&e.value) else {
                tracing::warn!(key = %k, "worker record unreadable; ignored");
                continue;
            };
            live.insert(id.to_string(), rec.capacity);
            incarnations.insert((id.to_string(), e.lease));
        }
        let cams: BTreeSet<String> = c
            .entries
            .keys()
            .filter_map(|k| Keys::id_under(&keys.cameras(), k).map(str::to_string))
            .collect();
        // camera → every worker it is under (normally one).
        let mut under: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for k in a.entries.keys() {
            if let Some((wk, cam)) = keys.parse_assignment(k) {
                under
                    .entry(cam.to_string())
                    .or_default()
                    .push(wk.to_string());
            }
        }
        let current: BTreeMap<String, String> = under
            .iter()
            .map(|(cam, ws)| {
                // Prefer a live worker when a camera is (wrongly) under two.
                let w = ws.iter().find(|w| live.contains_key(*w)).unwrap_or(&ws[0]);
                (cam.clone(), w.clone())
            })
            .collect();
        let rebalance = known
            .as_ref()
            .is_none_or(|k| incarnations.iter().any(|i| !k.contains(i)));
        let plan = assign::plan(&Round {
            cameras: &cams,
            workers: &live,
            current: &current,
            rebalance,
        });
        // The writes: every assignment key that should not exist goes, every missing one comes.
        let mut ops = Vec::new();
        let mut moved = 0u64;
        for (cam, ws) in &under {
            for wk in ws {
                if plan.assignment.get(cam) != Some(wk) {
                    ops.push(TxnOp::delete(keys.assignment(wk, cam), None));
                }
            }
        }
        for (cam, wk) in &plan.assignment {
            if !under.get(cam).is_some_and(|ws| ws.contains(wk)) {
                ops.push(TxnOp::put(keys.assignment(wk, cam), wk.as_bytes(), None));
                moved += 1;
            }
        }
        let unassigned_changed = last_unassigned.as_ref() != Some(&plan.unassigned);
        if unassigned_changed {
            ops.push(TxnOp::put(
                keys.unassigned(),
                serde_json::to_vec(&plan.unassigned).unwrap_or_default(),
                None,
            ));
        }
        let mut ok = true;
        let mut lost = false;
        for chunk in ops.chunks(OPS_PER_TXN) {
            let txn = Txn::new().when([guard.clone()]).and_then(chunk.to_vec());
            match timed(client.txn(txn)).await {
                Ok(r) if r.succeeded() => {}
                Ok(_) => {
                    lost = true;
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "leader: writing the assignment failed; retrying");
                    ok = false;
                    break;
                }
            }
        }
        if lost {
            tracing::warn!(worker = %o.worker_id, "leader: the election key is gone; stepping down");
            break;
        }
        if !ok {
            continue;
        }
        if !ops.is_empty() {
            tracing::info!(
                workers = live.len(),
                cameras = cams.len(),
                placed_or_moved = moved,
                unassigned = plan.unassigned.len(),
                rebalance,
                "leader: assignment written"
            );
        }
        known = Some(incarnations);
        // Names of the unassigned cameras (for status events), fetched when the list changes.
        let mut unassigned = BTreeMap::new();
        if unassigned_changed {
            for cam in &plan.unassigned {
                let (name, village) = match timed(client.get(keys.camera(cam), None)).await {
                    Ok(r) => r
                        .kvs()
                        .first()
                        .and_then(|kv| name_and_village(kv.value()))
                        .unwrap_or_else(|| (cam.clone(), String::new())),
                    Err(_) => (cam.clone(), String::new()),
                };
                unassigned.insert(cam.clone(), (name, village));
            }
            last_unassigned = Some(plan.unassigned.clone());
        }
        let mut st = shared.leader.lock().unwrap_or_else(|p| p.into_inner());
        if unassigned_changed {
            st.unassigned = unassigned;
        }
        if !ops.is_empty() {
            st.rounds += 1;
            st.moves += moved;
        }
        st.workers = live.len();
        st.assigned = plan.assignment.len();
    }
    for t in tasks {
        t.abort();
    }
}

/// `name` and `village` of a camera file's text (what a status event needs).
fn name_and_village(text: &[u8]) -> Option<(String, String)> {
    let v: toml::Table = std::str::from_utf8(text).ok()?.parse().ok()?;
    Some((
        v.get("name")?.as_str()?.to_string(),
        v.get("village")
            .and_then(|x| x.as_str())
            .unwrap_or("")
            .to_string(),
    ))
}
