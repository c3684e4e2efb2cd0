//! Defences of the sign-in route against floods: how many attempts an address and a user name
//! may make per window ([`LoginLimiter`], pure: time passed in), and how many argon2 password
//! checks run at once ([`HashGate`], on tokio's blocking pool; argon2id costs about 19 MiB and
//! tens of milliseconds of one core per check, so an unbounded flood would exhaust both).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sharpeyes_core::UnixMillis;
use tokio::sync::Semaphore;

/// Limits of the sign-in route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginLimits {
    /// Attempts one client address may make per window; a successful sign-in does not count.
    /// Default 30.
    pub per_address: u32,
    /// Attempts per user name per window (whoever makes them); a successful sign-in clears
    /// the name's count. Default 10.
    pub per_username: u32,
    /// The sliding window both counts are over. Default 5 minutes.
    pub window: Duration,
    /// Password checks running at once. Default: the CPU cores.
    pub hash_slots: usize,
    /// Sign-ins waiting for a slot; more are answered 503 at once. Default 4 × `hash_slots`.
    pub hash_queue: usize,
}

impl Default for LoginLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_slots(cores)
    }
}

impl LoginLimits {
    /// The defaults with `slots` password checks at once (at least 1) and a queue of 4 × slots.
    pub fn with_slots(slots: usize) -> Self {
        let slots = slots.max(1);
        Self {
            per_address: 30,
            per_username: 10,
            window: Duration::from_secs(300),
            hash_slots: slots,
            hash_queue: 4 * slots,
        }
    }
}

/// Most keys each table of a [`LoginLimiter`] holds (memory bound under a spray of names or
/// addresses); when full, keys with no attempt in the window go first, then the stalest.
const MAX_KEYS: usize = 10_000;

/// Attempts per client address and per user name, each a sliding log of attempt times.
#[derive(Debug)]
pub struct LoginLimiter {
    per_address: usize,
    per_username: usize,
    window_ms: i64,
    addresses: HashMap<IpAddr, VecDeque<i64>>,
    usernames: HashMap<String, VecDeque<i64>>,
}

impl LoginLimiter {
    pub fn new(limits: &LoginLimits) -> Self {
        Self {
            per_address: limits.per_address.max(1) as usize,
            per_username: limits.per_username.max(1) as usize,
            window_ms: limits.window.as_millis().max(1) as i64,
            addresses: HashMap::new(),
            usernames: HashMap::new(),
        }
    }

    /// Counts an attempt by `address` for `username` at `now`, or refuses it (not counted)
    /// with how long until the address and the name both may try again (at least 1 s).
    /// Counted before the password is checked, so concurrent attempts cannot all slip in.
    pub fn attempt(
        &mut self,
        address: IpAddr,
        username: &str,
        now: UnixMillis,
    ) -> Result<(), Duration> {
        let since = now.0 - self.window_ms;
        let wait_address = wait(&mut self.addresses, &address, since, self.per_address);
        let wait_username = wait(&mut self.usernames, username, since, self.per_username);
        if let Some(first) = [wait_address, wait_username].into_iter().flatten().max() {
            let ms = (first + self.window_ms - now.0).max(1000);
            return Err(Duration::from_millis(ms as u64));
        }
        record(&mut self.addresses, address, since, now.0);
        record(&mut self.usernames, username.to_owned(), since, now.0);
        Ok(())
    }

    /// The attempt just counted for `address` and `username` was a successful sign-in: it no
    /// longer counts against the address, and the name's failures are forgotten.
    pub fn succeeded(&mut self, address: IpAddr, username: &str) {
        if let Some(log) = self.addresses.get_mut(&address) {
            log.pop_back();
        }
        self.usernames.remove(username);
    }
}

/// When the table is full for `key`: the time of the oldest attempt still in the window.
fn wait<K, Q>(table: &mut HashMap<K, VecDeque<i64>>, key: &Q, since: i64, max: usize) -> Option<i64>
where
    K: std::borrow::Borrow<Q> + Hash + Eq,
    Q: Hash + Eq + ?Sized,
{
    let log = table.get_mut(key)?;
    while log.front().is_some_and(|&t| t <= since) {
        log.pop_front();
    }
    (log.len() >= max).then(|| log.front().copied()).flatten()
}

fn record<K: Hash + Eq + Clone>(
    table: &mut HashMap<K, VecDeque<i64>>,
    key: K,
    since: i64,
    now: i64,
) {
    if !table.contains_key(&key) && table.len() >= MAX_KEYS {
        table.retain(|_, log| log.back().is_some_and(|&t| t > since));
        if table.len() >= MAX_KEYS {
            let stalest = table
                .iter()
                .min_by_key(|(_, log)| log.back().copied().unwrap_or(i64::MIN))
                .map(|(k, _)| k.clone());
            if let Some(k) = stalest {
                table.remove(&k);
            }
        }
    }
    table.entry(key).or_default().push_back(now);
}

/// A password check was refused: every slot busy and the queue full.
#[derive(Debug, PartialEq, Eq)]
pub struct Busy;

/// Bounds the password checks running at once (`slots`) and the requests waiting for one
/// (`queue`); a request beyond both is refused at once rather than piling up.
#[derive(Clone, Debug)]
pub struct HashGate {
    admit: Arc<Semaphore>,
    run: Arc<Semaphore>,
}

impl HashGate {
    pub fn new(slots: usize, queue: usize) -> Self {
        let slots = slots.max(1);
        Self {
            admit: Arc::new(Semaphore::new(slots + queue)),
            run: Arc::new(Semaphore::new(slots)),
        }
    }

    /// Runs `check` on the blocking pool once a slot is free. The slot is held until `check`
    /// returns, even when the request that asked for it has gone away.
    pub async fn run<R: Send + 'static>(
        &self,
        check: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, Busy> {
        let _admitted = self.admit.clone().try_acquire_owned().map_err(|_| Busy)?;
        let slot = self.run.clone().acquire_owned().await.map_err(|_| Busy)?;
        tokio::task::spawn_blocking(move || {
            let r = check();
            drop(slot);
            r
        })
        .await
        .map_err(|_| Busy)
    }
}

/// What the sign-in route shares: the limiter and the gate.
#[derive(Debug)]
pub struct LoginGuard {
    pub limiter: Mutex<LoginLimiter>,
    pub gate: HashGate,
}

impl LoginGuard {
    pub fn new(limits: &LoginLimits) -> Self {
        Self {
            limiter: Mutex::new(LoginLimiter::new(limits)),
            gate: HashGate::new(limits.hash_slots, limits.hash_queue),
        }
    }

    fn limiter(&self) -> std::sync::MutexGuard<'_, LoginLimiter> {
        self.limiter.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// [`LoginLimiter::attempt`].
    pub fn attempt(
        &self,
        address: IpAddr,
        username: &str,
        now: UnixMillis,
    ) -> Result<(), Duration> {
        self.limiter().attempt(address, username, now)
    }

    /// [`LoginLimiter::succeeded`].
    pub fn succeeded(&self, address: IpAddr, username: &str) {
        self.limiter().succeeded(address, username)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const T: i64 = 1_795_459_860_000;

    fn limits(per_address: u32, per_username: u32) -> LoginLimits {
        LoginLimits {
            per_address,
            per_username,
            window: Duration::from_secs(60),
            ..LoginLimits::with_slots(1)
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn a_user_name_is_refused_after_its_limit_from_any_address() {
        let mut l = LoginLimiter::new(&limits(100, 3));
        for (i, a) in ["10.0.0.1", "10.0.0.2", "10.0.0.3"].into_iter().enumerate() {
            assert_eq!(
                l.attempt(ip(a), "wang", UnixMillis(T + i as i64 * 1000)),
                Ok(())
            );
        }
        // The oldest attempt (T) leaves the window at T + 60 s.
        assert_eq!(
            l.attempt(ip("10.0.0.4"), "wang", UnixMillis(T + 10_000)),
            Err(Duration::from_secs(50))
        );
        assert_eq!(
            l.attempt(ip("10.0.0.4"), "li", UnixMillis(T + 10_000)),
            Ok(()),
            "another name is not limited"
        );
        // Refused attempts are not counted: once the first leaves the window, one more fits.
        assert_eq!(
            l.attempt(ip("10.0.0.4"), "wang", UnixMillis(T + 60_000)),
            Ok(())
        );
        assert!(
            l.attempt(ip("10.0.0.4"), "wang", UnixMillis(T + 60_001))
                .is_err()
        );
    }

    #[test]
    fn an_address_is_refused_after_its_limit_for_any_name() {
        let mut l = LoginLimiter::new(&limits(3, 100));
        for i in 0..3 {
            assert_eq!(
                l.attempt(ip("10.0.0.1"), &format!("n{i}"), UnixMillis(T + i)),
                Ok(())
            );
        }
        let refused = l.attempt(ip("10.0.0.1"), "n9", UnixMillis(T + 59_999));
        assert_eq!(refused, Err(Duration::from_secs(1)), "at least a second");
        assert_eq!(
            l.attempt(ip("10.0.0.2"), "n9", UnixMillis(T + 59_999)),
            Ok(())
        );
        assert_eq!(
            l.attempt(ip("10.0.0.1"), "n9", UnixMillis(T + 60_000)),
            Ok(())
        );
    }

    #[test]
    fn a_successful_sign_in_clears_the_name_and_does_not_count_for_the_address() {
        let mut l = LoginLimiter::new(&limits(2, 2));
        let a = ip("10.0.0.1");
        for i in 0..10 {
            assert_eq!(
                l.attempt(a, "wang", UnixMillis(T + i)),
                Ok(()),
                "attempt {i}"
            );
            l.succeeded(a, "wang");
        }
        assert_eq!(l.attempt(a, "wang", UnixMillis(T + 20)), Ok(()));
        assert_eq!(l.attempt(a, "wang", UnixMillis(T + 21)), Ok(()));
        assert!(l.attempt(a, "wang", UnixMillis(T + 22)).is_err());
    }

    #[test]
    fn the_tables_stay_bounded_under_a_spray_of_names() {
        let mut l = LoginLimiter::new(&limits(u32::MAX, 1));
        for i in 0..(MAX_KEYS as i64 + 500) {
            let _ = l.attempt(ip("10.0.0.1"), &format!("spray-{i}"), UnixMillis(T + i));
        }
        assert_eq!(l.usernames.len(), MAX_KEYS);
        assert!(
            l.usernames
                .contains_key(&format!("spray-{}", MAX_KEYS + 499))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_gate_runs_at_most_its_slots_and_refuses_beyond_its_queue() {
        let gate = HashGate::new(2, 3);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let checks = (0..10).map(|_| {
            let (running, most) = (running.clone(), most.clone());
            gate.run(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(50));
                running.fetch_sub(1, Ordering::SeqCst);
            })
        });
        let results = futures::future::join_all(checks).await;
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            5,
            "2 slots + 3 waiting"
        );
        assert_eq!(results.iter().filter(|r| **r == Err(Busy)).count(), 5);
        assert_eq!(most.load(Ordering::SeqCst), 2);
        // Slots and queue places come back.
        assert_eq!(gate.run(|| 7).await, Ok(7));
    }
}
