//! Time as the rest of the code sees it: milliseconds since the Unix epoch, from a `Clock` that
//! tests replace with a manual one.

use std::time::{SystemTime, UNIX_EPOCH};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixMillis(pub i64);

impl UnixMillis {
    pub fn plus_ms(self, ms: i64) -> Self {
        Self(self.0 + ms)
    }

    /// RFC 3339 in UTC with millisecond precision, e.g. `2026-11-23T18:51:00.123Z`, written by
    /// jiff. Instants beyond jiff's range (-9999-01-02T01:59:59Z to 9999-12-30T22:00:00.999Z,
    /// about what RFC 3339's four-digit years can write anyway) are clamped to its ends.
    pub fn to_rfc3339(self) -> String {
        let t = Timestamp::from_millisecond(self.0).unwrap_or(if self.0 < 0 {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        });
        format!("{t:.3}")
    }

    /// Parses RFC 3339 (`2026-11-23T18:51:00.123Z`, `2026-11-24T02:51:00+08:00`; fractions of a
    /// second beyond milliseconds are truncated). `None` when `s` is not RFC 3339 or names a day
    /// that does not exist. jiff reads it; a leap second (`:60`) is read as `:59`, as jiff does.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        if !has_rfc3339_shape(s) {
            return None;
        }
        let t: Timestamp = s.parse().ok()?;
        // Whole milliseconds towards the past, before 1970 too (`as_millisecond` would round
        // those towards 1970).
        i64::try_from(t.as_nanosecond().div_euclid(1_000_000))
            .ok()
            .map(Self)
    }
}

/// Whether `s` has the shape of RFC 3339's `date-time` (§5.6): `YYYY-MM-DD`, `T` (or `t`, or a
/// space), `HH:MM:SS`, an optional fraction, then `Z` (or `z`) or `±HH:MM`. jiff parses the
/// Temporal grammar, a superset of RFC 3339 that also takes ISO 8601's basic format
/// (`20261123T185100Z`), offsets without a colon or minutes (`+0800`, `+08`), no seconds, a
/// comma before the fraction and `[...]` annotations; this turns those away and leaves the
/// digits and values to jiff.
fn has_rfc3339_shape(s: &str) -> bool {
    let b = s.as_bytes();
    let offset = match b.last() {
        Some(b'Z' | b'z') => true,
        _ => b.len() >= 6 && matches!(b[b.len() - 6], b'+' | b'-') && b[b.len() - 3] == b':',
    };
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[13] == b':'
        && b[16] == b':'
        && !s.contains([',', '['])
        && offset
}

/// Source of "now". Pure logic takes times as arguments; only the edges ask a clock.
pub trait Clock: Send + Sync {
    fn now(&self) -> UnixMillis;

    /// Waits `d`: the wall clock sleeps the thread; a simulated clock moves on by `d` at once,
    /// so loops that back off or wait for stalls run in tests without waiting.
    fn sleep(&self, d: std::time::Duration) {
        std::thread::sleep(d)
    }
}

/// Sleeps up to `d` on `clock` in steps of at most 50 ms, so that an interruption is seen
/// quickly; true if `interrupted()` said so (before, during or at the end of the wait). The one
/// interruptible sleep of the blocking loops (camera reconnects, the guardians' retries); on a
/// simulated clock it returns at once. (The relay's wait is a condition variable, woken by new
/// alerts; the cluster member's is a tokio `select!`.)
pub fn sleep_unless(
    clock: &dyn Clock,
    d: std::time::Duration,
    interrupted: impl Fn() -> bool,
) -> bool {
    let end = clock
        .now()
        .0
        .saturating_add(d.as_millis().min(i64::MAX as u128) as i64);
    loop {
        if interrupted() {
            return true;
        }
        let left = end - clock.now().0;
        if left <= 0 {
            return false;
        }
        clock.sleep(std::time::Duration::from_millis(left.min(50) as u64));
    }
}

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixMillis {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        UnixMillis(d.as_millis() as i64)
    }
}

/// A clock that moves only when told to, for tests.
#[cfg(any(test, feature = "test-util"))]
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

#[cfg(any(test, feature = "test-util"))]
impl ManualClock {
    pub fn new(start: UnixMillis) -> Self {
        Self(std::sync::atomic::AtomicI64::new(start.0))
    }
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(any(test, feature = "test-util"))]
impl Clock for ManualClock {
    fn now(&self) -> UnixMillis {
        UnixMillis(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// Moves the clock on by `d` (and lets other threads run).
    fn sleep(&self, d: std::time::Duration) {
        self.advance_ms(d.as_millis() as i64);
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_unless_waits_out_the_time_or_stops_at_the_interruption() {
        let clock = ManualClock::new(UnixMillis(1_000));
        assert!(!sleep_unless(
            &clock,
            std::time::Duration::from_secs(2),
            || false
        ));
        assert_eq!(clock.now(), UnixMillis(3_000));
        let asked = std::sync::atomic::AtomicU32::new(0);
        let interrupted = sleep_unless(&clock, std::time::Duration::from_secs(10), || {
            asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 3
        });
        assert!(interrupted);
        assert_eq!(
            clock.now(),
            UnixMillis(3_150),
            "three 50 ms steps, then stopped"
        );
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(UnixMillis(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            UnixMillis(1_795_459_860_123).to_rfc3339(),
            "2026-11-23T18:51:00.123Z"
        );
        assert_eq!(
            UnixMillis(951_782_400_000).to_rfc3339(),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn rfc3339_parses_what_it_writes_and_offsets() {
        for ms in [
            0,
            1_795_459_860_123,
            951_782_400_000,
            -86_400_001,
            4_102_444_800_999,
        ] {
            let t = UnixMillis(ms);
            assert_eq!(UnixMillis::parse_rfc3339(&t.to_rfc3339()), Some(t), "{ms}");
        }
        assert_eq!(
            UnixMillis::parse_rfc3339("2026-11-24T02:51:00+08:00"),
            UnixMillis::parse_rfc3339("2026-11-23T18:51:00Z")
        );
        assert_eq!(
            UnixMillis::parse_rfc3339("2026-11-23T18:51:00.1234567Z"),
            Some(UnixMillis(1_795_459_860_123))
        );
        assert_eq!(
            UnixMillis::parse_rfc3339("2026-11-23T18:51:00.5Z"),
            Some(UnixMillis(1_795_459_860_500))
        );
        assert_eq!(
            UnixMillis::parse_rfc3339("1969-12-31t23:59:59.9999z"),
            Some(UnixMillis(-1))
        );
        assert_eq!(
            UnixMillis::parse_rfc3339("2026-11-23 18:51:00-00:30"),
            Some(UnixMillis(1_795_461_660_000))
        );
        for bad in [
            "",
            "2026-11-23",
            "2026-11-23T18:51:00",
            "2026-13-23T18:51:00Z",
            "2026-11-23T18:51:00.Z",
            "2026-11-23T18:51:00+0800",
            "2026-11-23T18:51:00Zjunk",
            "2026-11-23T1x:51:00Z",
            // RFC 3339 is stricter than the Temporal grammar jiff reads.
            "20261123T185100Z",
            "2026-11-23T18:51Z",
            "2026-11-23T18:51:00+08",
            "2026-11-23T18:51:00,5Z",
            "2026-11-23T18:51:00Z[UTC]",
            "2026-02-30T18:51:00Z",
        ] {
            assert_eq!(UnixMillis::parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(UnixMillis(10));
        assert_eq!(c.now(), UnixMillis(10));
        c.advance_ms(5);
        assert_eq!(c.now(), UnixMillis(15));
    }
}
