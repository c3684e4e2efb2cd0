//! The leader's assignment rule: which live worker runs each camera. Pure: the cameras, the
//! live workers and the assignment now come in, the next assignment comes out.
//!
//! - **Sticky.** A camera stays on its worker while that worker lives and is within its
//!   capacity. When nothing died and nobody joined, nothing moves.
//! - **Dead workers.** Their cameras (and new cameras) go one by one to the live worker with
//!   the lowest load for its capacity (ties: the lower worker id), never past a capacity.
//! - **Joins.** With `rebalance` (the leader sets it when a worker joined), cameras move from
//!   the most loaded worker to the least loaded one while that lowers the higher load: the
//!   fewest moves that even the load (equal capacities end within one camera of each other).
//! - **Over capacity.** Cameras that fit nowhere are `unassigned`, never dropped silently; the
//!   leader reports them. A worker whose capacity went down sheds its highest camera ids.
//!
//! Loads are compared as `load / capacity` by cross-multiplying integers (no float ties).

use std::collections::{BTreeMap, BTreeSet};

/// What the leader knows in one round.
#[derive(Clone, Debug)]
pub struct Round<'a> {
    /// Every camera that should run (enabled configs in the cluster).
    pub cameras: &'a BTreeSet<String>,
    /// Live workers and their capacities (cameras each may run).
    pub workers: &'a BTreeMap<String, usize>,
    /// camera → worker, as assigned now (may name dead workers or removed cameras).
    pub current: &'a BTreeMap<String, String>,
    /// Even the load out (a worker joined since the last round).
    pub rebalance: bool,
}

/// The next assignment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// camera → worker, for every camera that has one.
    pub assignment: BTreeMap<String, String>,
    /// Cameras that fit on no live worker, sorted.
    pub unassigned: Vec<String>,
}

impl Plan {
    /// Cameras whose worker differs from `current` (new, moved or unassigned).
    pub fn changes(&self, current: &BTreeMap<String, String>) -> usize {
        let moved = self
            .assignment
            .iter()
            .filter(|(c, w)| current.get(*c) != Some(*w))
            .count();
        let dropped = current
            .keys()
            .filter(|c| !self.assignment.contains_key(*c))
            .count();
        moved + dropped
    }

    /// Cameras per worker (every live worker of `workers`, zero included).
    pub fn loads(&self, workers: &BTreeMap<String, usize>) -> BTreeMap<String, usize> {
        let mut loads: BTreeMap<String, usize> = workers.keys().map(|w| (w.clone(), 0)).collect();
        for w in self.assignment.values() {
            *loads.entry(w.clone()).or_default() += 1;
        }
        loads
    }
}

/// `a / ca < b / cb` for loads and non-zero capacities.
fn lighter(a: usize, ca: usize, b: usize, cb: usize) -> bool {
    (a as u128) * (cb as u128) < (b as u128) * (ca as u128)
}

/// Orders (worker, its cameras) by load for its capacity, ties by worker id.
fn by_load(
    caps: &BTreeMap<&str, usize>,
    (wa, la): &(&&str, &Vec<&str>),
    (wb, lb): &(&&str, &Vec<&str>),
) -> std::cmp::Ordering {
    let (a, ca, b, cb) = (la.len(), caps[**wa], lb.len(), caps[**wb]);
    if lighter(a, ca, b, cb) {
        std::cmp::Ordering::Less
    } else if lighter(b, cb, a, ca) {
        std::cmp::Ordering::Greater
    } else {
        wa.cmp(wb)
    }
}

/// The next assignment (see the module docs).
pub fn plan(round: &Round) -> Plan {
    let workers: BTreeMap<&str, usize> = round
        .workers
        .iter()
        .filter(|(_, c)| **c > 0)
        .map(|(w, c)| (w.as_str(), *c))
        .collect();
    // Kept: cameras on a live worker, per worker in camera order.
    let mut kept: BTreeMap<&str, Vec<&str>> = workers.keys().map(|w| (*w, Vec::new())).collect();
    let mut pending: Vec<&str> = Vec::new();
    for cam in round.cameras {
        match round
            .current
            .get(cam)
            .and_then(|w| kept.get_mut(w.as_str()))
        {
            Some(list) => list.push(cam),
            None => pending.push(cam),
        }
    }
    // A worker over its capacity sheds its highest ids.
    for (w, list) in kept.iter_mut() {
        let cap = workers[w];
        if list.len() > cap {
            pending.extend(list.drain(cap..));
        }
    }
    pending.sort_unstable();

    let mut unassigned = Vec::new();
    for cam in pending {
        let best = kept
            .iter()
            .filter(|(w, l)| l.len() < workers[*w])
            .min_by(|x, y| by_load(&workers, x, y))
            .map(|(w, _)| *w);
        match best {
            Some(w) => kept.get_mut(w).expect("a live worker").push(cam),
            None => unassigned.push(cam.to_string()),
        }
    }

    if round.rebalance {
        loop {
            // The most loaded worker (ties: the higher id) and the least loaded one with room
            // (ties: the lower id).
            let heavy = kept
                .iter()
                .filter(|(_, l)| !l.is_empty())
                .max_by(|x, y| by_load(&workers, x, y))
                .map(|(w, l)| (*w, l.len()));
            let light = kept
                .iter()
                .filter(|(w, l)| l.len() < workers[*w])
                .min_by(|x, y| by_load(&workers, x, y))
                .map(|(w, l)| (*w, l.len()));
            let (Some((h, hl)), Some((l, ll))) = (heavy, light) else {
                break;
            };
            // Move only when the receiver stays at or below what the giver keeps: then the
            // move lowers the top load and cannot be undone by the next one.
            if h == l || lighter(hl - 1, workers[h], ll + 1, workers[l]) {
                break;
            }
            let list = kept.get_mut(h).expect("a live worker");
            list.sort_unstable();
            let cam = list.pop().expect("not empty");
            kept.get_mut(l).expect("a live worker").push(cam);
        }
    }

    let assignment = kept
        .into_iter()
        .flat_map(|(w, l)| l.into_iter().map(move |c| (c.to_string(), w.to_string())))
        .collect();
    unassigned.sort_unstable();
    Plan {
        assignment,
        unassigned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cams(n: usize) -> BTreeSet<String> {
        (1..=n).map(|i| format!("cam-{i:03}")).collect()
    }

    fn workers(list: &[(&str, usize)]) -> BTreeMap<String, usize> {
        list.iter().map(|(w, c)| (w.to_string(), *c)).collect()
    }

    fn run(
        cameras: &BTreeSet<String>,
        w: &BTreeMap<String, usize>,
        current: &BTreeMap<String, String>,
        rebalance: bool,
    ) -> Plan {
        plan(&Round {
            cameras,
            workers: w,
            current,
            rebalance,
        })
    }

    #[test]
    fn first_round_spreads_evenly_within_capacity() {
        let c = cams(12);
        let w = workers(&[("w1", 8), ("w2", 8), ("w3", 8)]);
        let p = run(&c, &w, &BTreeMap::new(), true);
        assert_eq!(p.assignment.len(), 12);
        assert!(p.unassigned.is_empty());
        assert_eq!(p.loads(&w).values().copied().collect::<Vec<_>>(), [4, 4, 4]);
    }

    #[test]
    fn nothing_moves_when_nothing_changed() {
        let c = cams(12);
        let w = workers(&[("w1", 8), ("w2", 8), ("w3", 8)]);
        let first = run(&c, &w, &BTreeMap::new(), true);
        for rebalance in [false, true] {
            let again = run(&c, &w, &first.assignment, rebalance);
            assert_eq!(again, first);
            assert_eq!(again.changes(&first.assignment), 0);
        }
    }

    #[test]
    fn only_the_dead_workers_cameras_move() {
        let c = cams(12);
        let w = workers(&[("w1", 8), ("w2", 8), ("w3", 8)]);
        let first = run(&c, &w, &BTreeMap::new(), true);
        let alive = workers(&[("w1", 8), ("w3", 8)]);
        let next = run(&c, &alive, &first.assignment, false);
        for (cam, worker) in &first.assignment {
            if worker != "w2" {
                assert_eq!(&next.assignment[cam], worker, "{cam} moved");
            } else {
                assert_ne!(next.assignment[cam], "w2");
            }
        }
        assert_eq!(next.changes(&first.assignment), 4);
        assert_eq!(
            next.loads(&alive).values().copied().collect::<Vec<_>>(),
            [6, 6]
        );
    }

    #[test]
    fn a_join_moves_the_fewest_cameras_to_even_the_load() {
        let c = cams(12);
        let two = workers(&[("w1", 8), ("w3", 8)]);
        let before = run(&c, &two, &BTreeMap::new(), true);
        let three = workers(&[("w1", 8), ("w2", 8), ("w3", 8)]);
        let after = run(&c, &three, &before.assignment, true);
        assert_eq!(
            after.loads(&three).values().copied().collect::<Vec<_>>(),
            [4, 4, 4]
        );
        // 6/6 → 4/4/4: two from each, all to the newcomer.
        assert_eq!(after.changes(&before.assignment), 4);
        for (cam, w) in &after.assignment {
            if before.assignment[cam] != *w {
                assert_eq!(w, "w2");
            }
        }
        // Without rebalance the newcomer waits for new or orphaned cameras.
        let lazy = run(&c, &three, &before.assignment, false);
        assert_eq!(lazy.changes(&before.assignment), 0);
    }

    #[test]
    fn over_total_capacity_is_reported_unassigned() {
        let c = cams(10);
        let w = workers(&[("w1", 3), ("w2", 4)]);
        let p = run(&c, &w, &BTreeMap::new(), true);
        assert_eq!(p.assignment.len(), 7);
        assert_eq!(p.unassigned.len(), 3);
        let loads = p.loads(&w);
        assert_eq!((loads["w1"], loads["w2"]), (3, 4));
        // No worker at all: everything unassigned.
        let none = run(&c, &BTreeMap::new(), &p.assignment, true);
        assert!(none.assignment.is_empty());
        assert_eq!(none.unassigned.len(), 10);
    }

    #[test]
    fn lowered_capacity_sheds_the_excess_and_zero_takes_nothing() {
        let c = cams(8);
        let w = workers(&[("w1", 8), ("w2", 8)]);
        let first = run(&c, &w, &BTreeMap::new(), false);
        let lowered = workers(&[("w1", 1), ("w2", 8), ("w3", 0)]);
        let next = run(&c, &lowered, &first.assignment, false);
        let loads = next.loads(&lowered);
        assert_eq!((loads["w1"], loads["w2"], loads["w3"]), (1, 7, 0));
        assert!(next.unassigned.is_empty());
    }

    #[test]
    fn unequal_capacities_share_by_capacity() {
        let c = cams(30);
        let w = workers(&[("big", 20), ("small", 10)]);
        let p = run(&c, &w, &BTreeMap::new(), true);
        let loads = p.loads(&w);
        assert_eq!((loads["big"], loads["small"]), (20, 10));
        let c = cams(15);
        let p = run(&c, &w, &BTreeMap::new(), true);
        let loads = p.loads(&w);
        assert_eq!((loads["big"], loads["small"]), (10, 5));
    }

    #[test]
    fn removed_cameras_and_unknown_workers_drop_out() {
        let c = cams(3);
        let mut current = BTreeMap::new();
        current.insert("cam-001".to_string(), "w1".to_string());
        current.insert("gone".to_string(), "w1".to_string());
        current.insert("cam-002".to_string(), "ghost".to_string());
        let w = workers(&[("w1", 4)]);
        let p = run(&c, &w, &current, false);
        assert_eq!(p.assignment.len(), 3);
        assert!(!p.assignment.contains_key("gone"));
        assert_eq!(p.assignment["cam-002"], "w1");
    }

    #[test]
    fn county_scale_round_is_fast_and_exact() {
        let c = cams(15_000);
        let w: BTreeMap<String, usize> = (0..500).map(|i| (format!("w{i:03}"), 40)).collect();
        let first = run(&c, &w, &BTreeMap::new(), true);
        assert!(first.unassigned.is_empty());
        assert!(first.loads(&w).values().all(|&l| l == 30));
        // Kill 10 %: only their 1,500 cameras move.
        let alive: BTreeMap<String, usize> = w
            .iter()
            .filter(|(k, _)| !k.ends_with('0'))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        assert_eq!(alive.len(), 450);
        let next = run(&c, &alive, &first.assignment, false);
        assert_eq!(next.changes(&first.assignment), 1_500);
        assert!(next.loads(&alive).values().all(|&l| (33..=34).contains(&l)));
    }
}
