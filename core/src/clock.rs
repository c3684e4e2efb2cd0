//! Time as the rest of the code sees it: milliseconds since the Unix epoch, from a `Clock` that
//! tests replace with a manual one.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixMillis(pub i64);

impl UnixMillis {
    pub fn plus_ms(self, ms: i64) -> Self {
        Self(self.0 + ms)
    }

    /// RFC 3339 in UTC with millisecond precision, e.g. `2026-11-23T18:51:00.123Z`.
    pub fn to_rfc3339(self) -> String {
        let ms = self.0.rem_euclid(1000);
        let secs = self.0.div_euclid(1000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

impl UnixMillis {
    /// Parses RFC 3339 (`2026-11-23T18:51:00.123Z`, `2026-11-24T02:51:00+08:00`; fractions of a
    /// second beyond milliseconds are truncated). `None` when `s` is not RFC 3339.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let t = s.get(r)?;
            t.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| t.parse().ok())?
        };
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
            return None;
        }
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        let mut i = 19;
        let mut ms = 0i64;
        if b[i] == b'.' {
            let start = i + 1;
            i = start;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == start {
                return None;
            }
            let frac = &s[start..i.min(start + 3)];
            ms = frac.parse::<i64>().ok()? * 10i64.pow(3 - frac.len() as u32);
        }
        let offset_min = match b.get(i)? {
            b'Z' | b'z' if i + 1 == b.len() => 0,
            c @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
                let m = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
                if *c == b'-' { -m } else { m }
            }
            _ => return None,
        };
        let days = days_from_civil(y, mo as u32, d as u32);
        let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
        Some(Self(secs * 1000 + ms))
    }
}

/// (year, month, day) to days since 1970-01-01, proleptic Gregorian (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
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
        for bad in [
            "",
            "2026-11-23",
            "2026-11-23T18:51:00",
            "2026-13-23T18:51:00Z",
            "2026-11-23T18:51:00.Z",
            "2026-11-23T18:51:00+0800",
            "2026-11-23T18:51:00Zjunk",
            "2026-11-23T1x:51:00Z",
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
