//! Per-guardian pacing: a token-bucket rate limit and a queue that serves critical alerts
//! first. Pure: times come in as arguments.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use sharpeyes_core::Severity;

/// Token bucket: `burst` notifications at once, refilled at `per_hour`.
#[derive(Clone, Debug)]
pub struct RateLimit {
    per_hour: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

/// Notifications a guardian may get at once before the hourly rate applies.
pub const BURST: u32 = 5;

impl RateLimit {
    pub fn new(per_hour: u32, now: Instant) -> Self {
        let burst = f64::from(BURST.min(per_hour.max(1)));
        Self {
            per_hour: f64::from(per_hour.max(1)),
            burst,
            tokens: burst,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + dt * self.per_hour / 3600.0).min(self.burst);
        self.at = now;
    }

    /// Takes a token if there is one; else how long until there is.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) * 3600.0 / self.per_hour,
            ))
        }
    }
}

/// One guardian's waiting notifications: urgent ones (a long lie) first, then highest severity,
/// then oldest.
#[derive(Debug)]
pub struct PriorityQueue<T> {
    heap: BinaryHeap<(bool, Severity, Reverse<u64>, Slot<T>)>,
    seq: u64,
}

/// Wraps the payload so the heap orders by (urgent, severity, sequence) only.
#[derive(Debug)]
struct Slot<T>(T);

impl<T> PartialEq for Slot<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<T> Eq for Slot<T> {}
impl<T> PartialOrd for Slot<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Slot<T> {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl<T> Default for PriorityQueue<T> {
    fn default() -> Self {
        Self {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<T> PriorityQueue<T> {
    pub fn push(&mut self, severity: Severity, item: T) {
        self.push_with(false, severity, item);
    }

    /// Like [`Self::push`]; an `urgent` item goes ahead of every item that is not.
    pub fn push_with(&mut self, urgent: bool, severity: Severity, item: T) {
        self.seq += 1;
        self.heap
            .push((urgent, severity, Reverse(self.seq), Slot(item)));
    }

    pub fn pop(&mut self) -> Option<T> {
        self.heap.pop().map(|(_, _, _, Slot(t))| t)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Takes out every item `pred` selects, in the order [`Self::pop`] would have given them;
    /// the others keep their places.
    pub fn extract_if(&mut self, mut pred: impl FnMut(&T) -> bool) -> Vec<T> {
        let (mut out, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.heap)
            .into_vec()
            .into_iter()
            .partition(|(_, _, _, Slot(t))| pred(t));
        self.heap = keep.into();
        out.sort_unstable_by(|a, b| b.cmp(a));
        out.into_iter().map(|(_, _, _, Slot(t))| t).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_hourly_rate() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(60, t0); // one a minute, burst 5
        for _ in 0..5 {
            assert_eq!(r.take(t0), Ok(()));
        }
        let wait = r.take(t0).expect_err("bucket empty");
        assert!((59..=60).contains(&wait.as_secs()), "{wait:?}");
        assert!(
            r.take(t0 + Duration::from_secs(59)).is_err(),
            "just under a minute"
        );
        assert_eq!(r.take(t0 + Duration::from_secs(61)), Ok(()), "just over");
        // Idle for a day refills to the burst, no more.
        let later = t0 + Duration::from_secs(86_400);
        for _ in 0..5 {
            assert_eq!(r.take(later), Ok(()));
        }
        assert!(r.take(later).is_err());
    }

    #[test]
    fn a_low_limit_has_a_small_burst() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(2, t0);
        assert_eq!((r.take(t0), r.take(t0).is_err()), (Ok(()), false));
        assert!(r.take(t0).is_err());
    }

    #[test]
    fn urgent_goes_ahead_of_everything_else() {
        let mut q = PriorityQueue::default();
        q.push(Severity::Critical, "fall-1");
        q.push_with(true, Severity::Critical, "long-lie-2");
        q.push(Severity::Critical, "pond-3");
        let order: Vec<&str> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec!["long-lie-2", "fall-1", "pond-3"]);
    }

    #[test]
    fn critical_first_then_oldest_first() {
        let mut q = PriorityQueue::default();
        q.push(Severity::Warning, "inactivity-1");
        q.push(Severity::Info, "person-1");
        q.push(Severity::Critical, "fall-1");
        q.push(Severity::Warning, "loitering-2");
        q.push(Severity::Critical, "pond-2");
        let order: Vec<&str> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            vec![
                "fall-1",
                "pond-2",
                "inactivity-1",
                "loitering-2",
                "person-1"
            ]
        );
    }

    #[test]
    fn extracting_keeps_the_order_of_the_rest() {
        let mut q = PriorityQueue::default();
        for (s, name) in [
            (Severity::Warning, "w1"),
            (Severity::Critical, "c1"),
            (Severity::Warning, "w2-old"),
            (Severity::Critical, "c2-old"),
            (Severity::Warning, "w3"),
        ] {
            q.push(s, name);
        }
        let out = q.extract_if(|n| n.ends_with("-old"));
        assert_eq!(
            out,
            vec!["c2-old", "w2-old"],
            "in the order they would be sent"
        );
        let order: Vec<&str> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec!["c1", "w1", "w3"]);
    }
}
