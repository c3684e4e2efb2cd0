//! Fencing: whether a worker may run its cameras now, from what it knows of its lease. Pure:
//! the times come in, the verdict comes out.
//!
//! etcd expires a lease `ttl` after the last renewal it received. The worker only knows when it
//! *sent* each renewal that succeeded, which is earlier, so `sent + ttl` is never later than
//! the real expiry. It stops its cameras at `sent + ttl − margin`, before the lease can expire
//! and before the leader can give its cameras to another worker. A frozen process (SIGSTOP, a
//! swap storm) that wakes up past that point stops them at once, before it talks to anyone.
//!
//! The exception is a coordination outage. When every etcd endpoint refuses the connection
//! (the hosts answer, no etcd process listens), etcd is down for everybody: no lease can expire
//! and no camera can move, and etcd extends every lease by its TTL when it comes back. Then the
//! worker keeps its cameras running, so an etcd restart does not blind the county. A timeout is
//! not an outage: it is what a worker cut off from the network sees, and it fences.
//!
//! A lease etcd says is gone (a renewal answered with TTL 0) fences until the worker has joined
//! again with a new lease and re-read its assignment.

use std::time::{Duration, Instant};

/// How long before the earliest possible expiry the cameras stop: a fifth of the TTL, at least
/// 500 ms (the time to stop the cameras), at most half the TTL.
pub fn margin(ttl: Duration) -> Duration {
    (ttl / 5).max(Duration::from_millis(500)).min(ttl / 2)
}

/// How often to renew: a third of the TTL, so two renewals in a row may fail before the
/// fence deadline.
pub fn renew_every(ttl: Duration) -> Duration {
    ttl / 3
}

/// Why the cameras are stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fenced {
    /// Not joined yet, or joined again and not yet re-synced.
    NotJoined,
    /// No renewal succeeded in time: the lease may be about to expire.
    Deadline,
    /// etcd says the lease is gone.
    LeaseLost,
}

impl Fenced {
    pub fn as_str(self) -> &'static str {
        match self {
            Fenced::NotJoined => "not joined",
            Fenced::Deadline => "lease not renewed in time",
            Fenced::LeaseLost => "lease expired",
        }
    }
}

/// What the worker knows of its lease.
#[derive(Clone, Debug)]
pub struct Fence {
    ttl: Duration,
    /// Stop the cameras at this instant unless a renewal succeeds before; None: not joined.
    deadline: Option<Instant>,
    lost: bool,
    /// Since when every endpoint refuses connections (etcd down for everybody).
    outage_since: Option<Instant>,
}

impl Fence {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            deadline: None,
            lost: false,
            outage_since: None,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Joined with a new lease (granted after `sent`) and re-read the assignment.
    pub fn joined(&mut self, sent: Instant, ttl: Duration) {
        self.ttl = ttl;
        self.lost = false;
        self.renewed(sent, ttl);
    }

    /// A renewal sent at `sent` succeeded with `ttl` left.
    pub fn renewed(&mut self, sent: Instant, ttl: Duration) {
        if self.lost {
            return;
        }
        let deadline = sent + ttl.saturating_sub(margin(ttl));
        self.deadline = Some(self.deadline.map_or(deadline, |d| d.max(deadline)));
        self.outage_since = None;
    }

    /// etcd answered that the lease no longer exists.
    pub fn lost(&mut self) {
        self.lost = true;
        self.deadline = None;
    }

    /// The result of probing every endpoint after a failed request: `all_refused` when each
    /// one refused the connection.
    pub fn probed(&mut self, now: Instant, all_refused: bool) {
        if all_refused {
            self.outage_since.get_or_insert(now);
        } else {
            self.outage_since = None;
        }
    }

    /// etcd is down for everybody (every endpoint refuses), since then.
    pub fn outage(&self) -> Option<Instant> {
        self.outage_since
    }

    /// None: run the cameras; else why not.
    pub fn verdict(&self, now: Instant) -> Option<Fenced> {
        if self.lost {
            return Some(Fenced::LeaseLost);
        }
        let Some(deadline) = self.deadline else {
            return Some(Fenced::NotJoined);
        };
        if now < deadline || self.outage_since.is_some() {
            None
        } else {
            Some(Fenced::Deadline)
        }
    }

    /// The deadline, for status output.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(5);

    #[test]
    fn runs_until_the_deadline_then_fences() {
        let t0 = Instant::now();
        let mut f = Fence::new(TTL);
        f.joined(t0, TTL);
        assert_eq!(f.verdict(t0 + Duration::from_secs(3)), None);
        // 5 s TTL: stop at 4 s, before the lease can expire at 5 s.
        assert_eq!(f.verdict(t0 + Duration::from_millis(3_999)), None);
        assert_eq!(
            f.verdict(t0 + Duration::from_secs(4)),
            Some(Fenced::Deadline)
        );
        // A renewal that succeeds late lifts it (the lease was still alive).
        f.renewed(t0 + Duration::from_secs(4), TTL);
        assert_eq!(f.verdict(t0 + Duration::from_secs(5)), None);
    }

    #[test]
    fn an_old_renewal_answer_never_pulls_the_deadline_in() {
        let t0 = Instant::now();
        let mut f = Fence::new(TTL);
        f.joined(t0 + Duration::from_secs(2), TTL);
        f.renewed(t0, TTL);
        assert_eq!(f.verdict(t0 + Duration::from_millis(5_500)), None);
    }

    #[test]
    fn not_joined_is_fenced_even_in_an_outage() {
        let t0 = Instant::now();
        let mut f = Fence::new(TTL);
        assert_eq!(f.verdict(t0), Some(Fenced::NotJoined));
        f.probed(t0, true);
        assert_eq!(f.verdict(t0), Some(Fenced::NotJoined));
    }

    #[test]
    fn an_etcd_outage_keeps_the_cameras_a_timeout_does_not() {
        let t0 = Instant::now();
        let mut f = Fence::new(TTL);
        f.joined(t0, TTL);
        // Every endpoint refuses: etcd is down for everybody.
        f.probed(t0 + Duration::from_secs(2), true);
        assert_eq!(f.verdict(t0 + Duration::from_secs(12)), None);
        // An endpoint times out instead: maybe only this worker is cut off.
        f.probed(t0 + Duration::from_secs(12), false);
        assert_eq!(
            f.verdict(t0 + Duration::from_secs(12)),
            Some(Fenced::Deadline)
        );
        // etcd back, the lease extended: renewals succeed again.
        f.renewed(t0 + Duration::from_secs(13), TTL);
        assert_eq!(f.outage(), None);
        assert_eq!(f.verdict(t0 + Duration::from_secs(14)), None);
    }

    #[test]
    fn a_lost_lease_fences_until_joined_again() {
        let t0 = Instant::now();
        let mut f = Fence::new(TTL);
        f.joined(t0, TTL);
        f.lost();
        assert_eq!(f.verdict(t0), Some(Fenced::LeaseLost));
        // A late renewal answer of the old lease changes nothing.
        f.renewed(t0, TTL);
        assert_eq!(f.verdict(t0), Some(Fenced::LeaseLost));
        f.probed(t0, true);
        assert_eq!(f.verdict(t0), Some(Fenced::LeaseLost));
        f.joined(t0 + Duration::from_secs(1), TTL);
        assert_eq!(f.verdict(t0 + Duration::from_secs(2)), None);
    }

    #[test]
    fn margins() {
        assert_eq!(margin(Duration::from_secs(5)), Duration::from_secs(1));
        assert_eq!(margin(Duration::from_secs(1)), Duration::from_millis(500));
        assert_eq!(
            margin(Duration::from_millis(600)),
            Duration::from_millis(300)
        );
        assert_eq!(renew_every(Duration::from_secs(6)), Duration::from_secs(2));
    }
}
