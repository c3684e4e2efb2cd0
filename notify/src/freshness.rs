//! Whether an alert is still news: its age at send time, judged from its own `event_time`
//! against the wall clock, and the `max_age` past which it is dead-lettered (reason
//! [`super::service::REASON_STALE`]) instead of pushed. Pure: the time comes in.
//!
//! Judging by the alert's own time (not by when the message was read) catches every way old
//! alerts reach the service: a new consumer group or expired offsets reading the topic from the
//! start, a lost `state_dir`, and a backlog waiting behind a guardian's rate limit or a slow
//! gateway.

use std::time::Duration;

use sharpeyes_core::{Alert, Event, UnixMillis};

/// `service.max_age_s` when the registry does not set it: 15 minutes.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(15 * 60);

/// When the alert happened: its `event_time`, else its `emitted_time`; `None` when neither is
/// RFC 3339 (such an alert is judged fresh: better an old push than a missed fall).
pub fn alert_time(alert: &Alert) -> Option<UnixMillis> {
    UnixMillis::parse_rfc3339(&alert.event_time)
        .or_else(|| UnixMillis::parse_rfc3339(&alert.emitted_time))
}

/// When the event happened: [`alert_time`] of an alert; a status event's `event_time`, else
/// its `emitted_time`.
pub fn event_at(event: &Event) -> Option<UnixMillis> {
    match event {
        Event::Alert(a) => alert_time(a),
        Event::Status(s) => UnixMillis::parse_rfc3339(&s.event_time)
            .or_else(|| UnixMillis::parse_rfc3339(&s.emitted_time)),
    }
}

/// How old an alert of time `at` is at `now`; zero for an alert dated ahead of `now` (a camera
/// clock running fast).
pub fn age(at: UnixMillis, now: UnixMillis) -> Duration {
    Duration::from_millis(u64::try_from(now.0.saturating_sub(at.0)).unwrap_or(0))
}

/// `Some(age)` when an alert of time `at` is older than `max_age` at `now`: too old to push.
pub fn stale(at: Option<UnixMillis>, now: UnixMillis, max_age: Duration) -> Option<Duration> {
    let a = age(at?, now);
    (a > max_age).then_some(a)
}

/// The time a delivered-log entry is kept from: the later of `now` and the alert's time, so an
/// entry outlives the alert's freshness even when the alert is dated ahead of the clock.
pub fn keep_from(at: Option<UnixMillis>, now: UnixMillis) -> UnixMillis {
    at.map_or(now, |a| a.max(now))
}

#[cfg(test)]
mod tests {
    use sharpeyes_core::{AlertKind, CameraId};

    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn older_than_max_age_is_stale_and_the_future_is_fresh() {
        let now = UnixMillis(1_000 * MIN);
        let max = Duration::from_secs(15 * 60);
        assert_eq!(stale(Some(UnixMillis(now.0 - 14 * MIN)), now, max), None);
        assert_eq!(stale(Some(UnixMillis(now.0 - 15 * MIN)), now, max), None);
        assert_eq!(
            stale(Some(UnixMillis(now.0 - 15 * MIN - 1)), now, max),
            Some(Duration::from_millis(15 * 60_000 + 1))
        );
        assert_eq!(stale(Some(UnixMillis(now.0 + 60 * MIN)), now, max), None);
        assert_eq!(stale(None, now, max), None, "no time: judged fresh");
        assert_eq!(
            keep_from(Some(UnixMillis(now.0 + 5)), now),
            UnixMillis(now.0 + 5)
        );
        assert_eq!(keep_from(Some(UnixMillis(now.0 - 5)), now), now);
        assert_eq!(keep_from(None, now), now);
    }

    #[test]
    fn the_alert_time_is_its_event_time() {
        let mut a = Alert::new(
            AlertKind::Fall,
            CameraId::new("c").unwrap(),
            UnixMillis(1_795_459_860_123),
            &[],
            (1, 1),
        );
        assert_eq!(alert_time(&a), Some(UnixMillis(1_795_459_860_123)));
        a.event_time = "yesterday".into();
        a.emitted_time = UnixMillis(7).to_rfc3339();
        assert_eq!(
            alert_time(&a),
            Some(UnixMillis(7)),
            "falls back to emitted_time"
        );
        a.emitted_time = "soon".into();
        assert_eq!(alert_time(&a), None);
    }
}
