//! Which offsets may be committed: per partition, everything below the first message whose
//! deliveries are not all finished (delivered, or sent to the dead-letter topic). Pure.

use std::collections::{BTreeMap, BTreeSet};

/// Per-partition tracking of messages taken and finished. `P` names a partition: its number
/// (one topic), or a topic and number (several topics read by one consumer).
#[derive(Debug)]
pub struct OffsetTracker<P = i32> {
    /// partition -> offsets taken and not yet finished.
    open: BTreeMap<P, BTreeSet<i64>>,
    /// partition -> highest offset taken.
    taken: BTreeMap<P, i64>,
    /// partition -> offset last committed (the next offset to read).
    committed: BTreeMap<P, i64>,
}

impl<P> Default for OffsetTracker<P> {
    fn default() -> Self {
        Self {
            open: BTreeMap::new(),
            taken: BTreeMap::new(),
            committed: BTreeMap::new(),
        }
    }
}

impl<P: Ord + Copy> OffsetTracker<P> {
    /// A message was read and its work begins.
    pub fn take(&mut self, partition: P, offset: i64) {
        self.open.entry(partition).or_default().insert(offset);
        let t = self.taken.entry(partition).or_insert(offset);
        *t = (*t).max(offset);
    }

    /// Every delivery of the message is finished.
    pub fn finish(&mut self, partition: P, offset: i64) {
        if let Some(s) = self.open.get_mut(&partition) {
            s.remove(&offset);
        }
    }

    /// Messages read and not finished.
    pub fn in_flight(&self) -> usize {
        self.open.values().map(BTreeSet::len).sum()
    }

    /// (partition, next offset to read) for each partition whose committable position moved
    /// since the last call: the first unfinished offset, or one past the highest taken.
    pub fn to_commit(&mut self) -> Vec<(P, i64)> {
        let mut out = Vec::new();
        for (&p, &high) in &self.taken {
            let next = self
                .open
                .get(&p)
                .and_then(|s| s.first().copied())
                .unwrap_or(high + 1);
            if self.committed.get(&p) != Some(&next) {
                self.committed.insert(p, next);
                out.push((p, next));
            }
        }
        out
    }

    /// Forgets a partition (revoked in a rebalance): its unfinished messages will be read
    /// again by whoever gets it.
    pub fn forget(&mut self, partition: P) {
        self.open.remove(&partition);
        self.taken.remove(&partition);
        self.committed.remove(&partition);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_stop_at_the_first_unfinished_message() {
        let mut t = OffsetTracker::<i32>::default();
        for o in 10..15 {
            t.take(0, o);
        }
        t.take(1, 3);
        assert_eq!(t.to_commit(), vec![(0, 10), (1, 3)]);
        t.finish(0, 11);
        t.finish(0, 12);
        assert_eq!(t.to_commit(), vec![], "10 still open");
        t.finish(0, 10);
        assert_eq!(t.to_commit(), vec![(0, 13)]);
        t.finish(0, 14);
        t.finish(0, 13);
        t.finish(1, 3);
        assert_eq!(t.to_commit(), vec![(0, 15), (1, 4)]);
        assert_eq!(t.in_flight(), 0);
        assert_eq!(t.to_commit(), vec![], "nothing moved");
    }

    #[test]
    fn a_forgotten_partition_commits_nothing() {
        let mut t = OffsetTracker::<i32>::default();
        t.take(2, 7);
        t.forget(2);
        t.finish(2, 7);
        assert!(t.to_commit().is_empty());
        assert_eq!(t.in_flight(), 0);
    }
}
