//! What the safety rules share: zone polygons, daily time windows, and the [`Finding`] a rule
//! reports while its condition holds (turned into alerts by [`crate::incident`]). Pure.

use sharpeyes_core::{AlertKind, UnixMillis};

use crate::track::Track;

/// A polygon in normalised picture coordinates (0..1, (0, 0) top left), as camera files write
/// zones and privacy masks, so it holds whatever resolution the camera sends.
#[derive(Clone, Debug, PartialEq)]
pub struct Polygon {
    points: Vec<(f32, f32)>,
}

impl Polygon {
    /// At least three points; callers (config checking) guarantee it.
    pub fn new(points: Vec<(f32, f32)>) -> Self {
        Self { points }
    }

    pub fn points(&self) -> &[(f32, f32)] {
        &self.points
    }

    /// Whether the normalised point (x, y) is inside (even-odd rule; a point exactly on an
    /// edge may fall either way).
    pub fn contains(&self, x: f32, y: f32) -> bool {
        let mut inside = false;
        let n = self.points.len();
        if n < 3 {
            return false;
        }
        let mut j = n - 1;
        for i in 0..n {
            let (xi, yi) = self.points[i];
            let (xj, yj) = self.points[j];
            if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
                inside = !inside;
            }
            j = i;
        }
        inside
    }

    /// Whether the pixel point (x, y) of a `frame_size` picture is inside.
    pub fn contains_px(&self, (x, y): (f32, f32), frame_size: (u32, u32)) -> bool {
        let (w, h) = (frame_size.0.max(1) as f32, frame_size.1.max(1) as f32);
        self.contains(x / w, y / h)
    }
}

/// A daily window of local time, `[start, end)` in minutes after local midnight; `end < start`
/// wraps past midnight (22:00-06:00), `start == end` is the whole day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DailyWindow {
    pub start_min: u32,
    pub end_min: u32,
}

impl DailyWindow {
    pub const ALL_DAY: DailyWindow = DailyWindow {
        start_min: 0,
        end_min: 0,
    };

    /// Parses `"HH:MM-HH:MM"` (24 h clock).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not HH:MM-HH:MM (24 h clock), e.g. \"06:00-20:00\"");
        let (a, b) = text.split_once('-').ok_or_else(bad)?;
        let minutes = |t: &str| -> Option<u32> {
            let (h, m) = t.trim().split_once(':')?;
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (h < 24 && m < 60 && t.trim().len() == 5).then_some(h * 60 + m)
        };
        Ok(Self {
            start_min: minutes(a).ok_or_else(bad)?,
            end_min: minutes(b).ok_or_else(bad)?,
        })
    }

    /// Minutes after local midnight of `t` at `utc_offset_min` (e.g. +480 for UTC+8).
    pub fn local_minute(t: UnixMillis, utc_offset_min: i32) -> u32 {
        let minutes = t.0.div_euclid(60_000) + utc_offset_min as i64;
        minutes.rem_euclid(24 * 60) as u32
    }

    pub fn contains(&self, t: UnixMillis, utc_offset_min: i32) -> bool {
        let m = Self::local_minute(t, utc_offset_min);
        match self.start_min.cmp(&self.end_min) {
            std::cmp::Ordering::Equal => true,
            std::cmp::Ordering::Less => (self.start_min..self.end_min).contains(&m),
            std::cmp::Ordering::Greater => m >= self.start_min || m < self.end_min,
        }
    }

    /// When the window last opened at or before `t` (the start of the current or latest
    /// window), in UnixMillis. For the whole-day window: local midnight.
    pub fn last_start(&self, t: UnixMillis, utc_offset_min: i32) -> UnixMillis {
        let offset_ms = utc_offset_min as i64 * 60_000;
        let local = t.0 + offset_ms;
        let day = local.div_euclid(86_400_000) * 86_400_000;
        let mut start = day + self.start_min as i64 * 60_000;
        if start > local {
            start -= 86_400_000;
        }
        UnixMillis(start - offset_ms)
    }
}

/// A rule's condition that holds right now on one camera: what, where, and who. A rule reports
/// it on every evaluation while it holds; [`crate::incident::Incidents`] makes one incident of
/// it (start, updates, end), with cooldown and dedup per camera / zone / kind.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub kind: AlertKind,
    /// The zone's name, for zone rules.
    pub zone: Option<String>,
    /// The tracks involved (their boxes go into the alert and the snapshot); empty for
    /// inactivity.
    pub tracks: Vec<Track>,
    /// One line for people, e.g. "person in zone riverbank for 12 s".
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Polygon {
        Polygon::new(vec![(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8)])
    }

    #[test]
    fn points_inside_and_outside_a_polygon() {
        let p = square();
        assert!(p.contains(0.5, 0.5));
        assert!(!p.contains(0.1, 0.5));
        assert!(!p.contains(0.5, 0.9));
        // Pixels of a 1000x500 picture.
        assert!(p.contains_px((500.0, 250.0), (1000, 500)));
        assert!(!p.contains_px((500.0, 450.0), (1000, 500)));
        // A concave L shape: the notch is outside.
        let l = Polygon::new(vec![
            (0.0, 0.0),
            (1.0, 0.0),
            (1.0, 0.5),
            (0.5, 0.5),
            (0.5, 1.0),
            (0.0, 1.0),
        ]);
        assert!(l.contains(0.25, 0.75));
        assert!(!l.contains(0.75, 0.75));
    }

    #[test]
    fn daily_windows_parse_and_wrap_midnight() {
        let day = DailyWindow::parse("06:00-20:00").unwrap();
        assert_eq!((day.start_min, day.end_min), (360, 1200));
        let night = DailyWindow::parse("22:00-06:00").unwrap();
        // UTC+8: 2026-11-23T00:00Z is 08:00 local.
        let t0 = UnixMillis(1_795_392_000_000);
        assert_eq!(DailyWindow::local_minute(t0, 480), 480);
        assert!(day.contains(t0, 480));
        assert!(!night.contains(t0, 480));
        let at = |h: i64| UnixMillis(t0.0 + h * 3_600_000);
        // 14 h later = 22:00 local.
        assert!(!day.contains(at(14), 480));
        assert!(night.contains(at(14), 480));
        assert!(night.contains(at(21), 480)); // 05:00
        assert!(!night.contains(at(22), 480)); // 06:00
        assert!(DailyWindow::ALL_DAY.contains(at(5), 0));
        for bad in ["6-20", "06:00", "25:00-06:00", "06:00-20:60", "06:00-2000"] {
            assert!(DailyWindow::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn last_start_is_the_latest_opening() {
        let day = DailyWindow::parse("06:00-20:00").unwrap();
        let t0 = UnixMillis(1_795_392_000_000); // 08:00 local at UTC+8
        // Opened at 06:00 local the same day: 2 h earlier.
        assert_eq!(day.last_start(t0, 480).0, t0.0 - 2 * 3_600_000);
        // At 05:00 local the latest opening was yesterday 06:00.
        let early = UnixMillis(t0.0 - 3 * 3_600_000);
        assert_eq!(day.last_start(early, 480).0, t0.0 - 26 * 3_600_000);
    }
}
