//! Bounded exponential backoff, the one used by every retry loop: camera reconnects (with
//! jitter, `ingest::health`), the Kafka relay's connects and re-sends (`delivery::relay_policy`).
//! Pure: it says how long to wait, the caller waits.

use std::time::Duration;

/// `base`, doubling per failure, at most `cap`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl Backoff {
    /// `cap` below `base` is raised to `base`.
    pub const fn new(base: Duration, cap: Duration) -> Self {
        let cap = if cap.as_nanos() < base.as_nanos() {
            base
        } else {
            cap
        };
        Self {
            base,
            cap,
            failures: 0,
        }
    }

    /// The delay after `failures` failures before this one: `base * 2^failures`, at most `cap`.
    pub fn delay(&self, failures: u32) -> Duration {
        self.base
            .saturating_mul(1u32 << failures.min(31))
            .min(self.cap)
    }

    /// The delay before the next attempt; each call counts one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.delay(self.failures);
        self.failures = self.failures.saturating_add(1);
        d
    }

    /// [`Backoff::next_delay`] scaled by a factor in [0.5, 1) from `jitter` in [0, 1), so that
    /// clients that failed together (a village's cameras when its network comes back) do not
    /// retry in lockstep.
    pub fn next_delay_jittered(&mut self, jitter: f64) -> Duration {
        self.next_delay()
            .mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 0.999_999))
    }

    /// It worked: the next failure waits `base` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Failures since the last [`Backoff::reset`].
    pub fn failures(&self) -> u32 {
        self.failures
    }
}
