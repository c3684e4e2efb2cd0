//! The numbers of a benchmark run and how they are shown (pure: no I/O).

use serde::Serialize;

/// p50 / p95 / p99 / max of a set of latencies, ms; `n` samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub n: usize,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles; all zero (n = 0) for no samples.
    pub fn of(samples: &[f64]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        let mut v = samples.to_vec();
        v.sort_by(f64::total_cmp);
        let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Self {
            n: v.len(),
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
            max: v[v.len() - 1],
        }
    }
}

/// How the pipeline decides what to decode and analyse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Adaptive decode (keyframes only while quiet) and motion gating, as camera files get
    /// them with `adaptive_decode = true`, `motion_gating = true`.
    Gated,
    /// Every frame decoded, every due frame analysed (baseline b).
    EveryFrame,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::Gated => "gated",
            Mode::EveryFrame => "decode-every-frame",
        }
    }
}

/// One run of N cameras for a fixed time.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Trial {
    pub cameras: usize,
    pub mode: Option<Mode>,
    pub seconds: f64,
    /// Frames decoded per second, all cameras.
    pub decode_fps: f64,
    /// Frames through the detector per second, all cameras.
    pub inference_fps: f64,
    /// Frame capture (arrival of its access unit) → alert acknowledged by Kafka, for every
    /// alert raised in the window.
    pub alert_latency_ms: Percentiles,
    /// Frame capture → detections and rules done, for every analysed frame.
    pub frame_latency_ms: Percentiles,
    /// CPU time of the pipeline process over wall time, % of one core, per camera.
    pub cpu_pct_per_camera: f64,
    /// Whole pipeline process, % of one core.
    pub cpu_pct_total: f64,
    /// Resident memory of the pipeline process at the end, MiB.
    pub rss_mib: f64,
    /// (RSS at the end − RSS before the cameras started) / cameras, MiB.
    pub rss_mib_per_camera: f64,
    /// Frames dropped because detection fell behind (replaced in the camera's slot or
    /// dropped by its source queue).
    pub dropped_frames: u64,
    /// Access units not decoded by adaptive decode.
    pub skipped_frames: u64,
    /// Due frames not analysed by motion gating.
    pub gated_frames: u64,
    /// Cameras that delivered no frame in the window.
    pub cameras_without_frames: usize,
    /// The camera simulator and the broker (separate processes), % of one core.
    pub simulator_cpu_pct: f64,
    pub broker_cpu_pct: f64,
}

impl Trial {
    /// The worse of the alert and frame p99 (ms); None when neither has samples.
    pub fn p99(&self) -> Option<f64> {
        match (self.alert_latency_ms.n, self.frame_latency_ms.n) {
            (0, 0) => None,
            (0, _) => Some(self.frame_latency_ms.p99),
            (_, 0) => Some(self.alert_latency_ms.p99),
            _ => Some(self.alert_latency_ms.p99.max(self.frame_latency_ms.p99)),
        }
    }

    /// Whether this many cameras are served within the bound: every camera delivered frames,
    /// frames were analysed, and both p99s are within `p99_ms`.
    pub fn within(&self, p99_ms: f64) -> bool {
        self.cameras_without_frames == 0
            && self.frame_latency_ms.n > 0
            && self.p99().is_some_and(|p| p <= p99_ms)
    }
}

/// The search of `--find-max`: doubling from `start` until a trial fails (or `limit`), then
/// bisection between the last pass and the first fail, to within `resolution` (a fraction of
/// the pass, at least 1 camera).
#[derive(Clone, Debug, PartialEq)]
pub struct MaxSearch {
    pass: Option<usize>,
    fail: Option<usize>,
    next: Option<usize>,
    limit: usize,
    resolution: f64,
}

impl MaxSearch {
    pub fn new(start: usize, limit: usize, resolution: f64) -> Self {
        Self {
            pass: None,
            fail: None,
            next: Some(start.clamp(1, limit.max(1))),
            limit: limit.max(1),
            resolution,
        }
    }

    /// Cameras to try next; None when the search is over.
    pub fn next(&self) -> Option<usize> {
        self.next
    }

    /// The most cameras seen within the bound so far (0: none).
    pub fn best(&self) -> usize {
        self.pass.unwrap_or(0)
    }

    /// Records the outcome of trying [`MaxSearch::next`].
    pub fn record(&mut self, cameras: usize, passed: bool) {
        if passed {
            self.pass = Some(self.pass.map_or(cameras, |p| p.max(cameras)));
        } else {
            self.fail = Some(self.fail.map_or(cameras, |f| f.min(cameras)));
        }
        self.next = match (self.pass, self.fail) {
            (Some(p), None) if p >= self.limit => None,
            (Some(p), None) => Some((p * 2).min(self.limit)),
            (None, Some(1)) => None,
            (None, Some(f)) => Some(f / 2),
            (Some(p), Some(f)) => {
                let step = ((p as f64 * self.resolution).ceil() as usize).max(1);
                if f <= p + step {
                    None
                } else {
                    Some(p + (f - p) / 2)
                }
            }
            (None, None) => self.next,
        };
    }
}

/// A ratio with its target: `value / target` and whether it is met.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ratio {
    pub name: String,
    pub value: Option<f64>,
    pub target: f64,
    pub met: Option<bool>,
    /// How the value was obtained, and what to read when the target is missed.
    pub note: String,
}

impl Ratio {
    pub fn new(name: &str, value: Option<f64>, target: f64, note: String) -> Self {
        Self {
            name: name.into(),
            met: value.map(|v| v >= target),
            value,
            target,
            note,
        }
    }

    /// "met", "missed by 12%" or "not measured".
    pub fn verdict(&self) -> String {
        match (self.value, self.met) {
            (Some(_), Some(true)) => "met".into(),
            (Some(v), _) => format!("missed by {:.0}%", (1.0 - v / self.target) * 100.0),
            _ => "not measured".into(),
        }
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}"))
        .unwrap_or_else(|| "-".into())
}

/// The trials as a markdown table (also what the terminal shows).
pub fn trials_table(trials: &[Trial]) -> String {
    let mut out = String::from(
        "| mode | cameras | decode fps | inference fps | alert latency p50/p95/p99 ms (n) | frame latency p50/p95/p99 ms | CPU %/cam | RSS MiB/cam | dropped | skipped (adaptive) | gated |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for t in trials {
        let a = &t.alert_latency_ms;
        let f = &t.frame_latency_ms;
        let alert = if a.n == 0 {
            "- (0)".to_string()
        } else {
            format!("{:.0} / {:.0} / {:.0} ({})", a.p50, a.p95, a.p99, a.n)
        };
        let frame = if f.n == 0 {
            "-".to_string()
        } else {
            format!("{:.0} / {:.0} / {:.0}", f.p50, f.p95, f.p99)
        };
        out.push_str(&format!(
            "| {} | {} | {:.1} | {:.1} | {alert} | {frame} | {:.1} | {:.1} | {} | {} | {} |\n",
            t.mode.map(Mode::label).unwrap_or("-"),
            t.cameras,
            t.decode_fps,
            t.inference_fps,
            t.cpu_pct_per_camera,
            t.rss_mib_per_camera,
            t.dropped_frames,
            t.skipped_frames,
            t.gated_frames,
        ));
    }
    out
}

/// The ratios against the targets, as a markdown table.
pub fn ratios_table(ratios: &[Ratio]) -> String {
    let mut out =
        String::from("| ratio | value | target | verdict | how |\n|---|---|---|---|---|\n");
    for r in ratios {
        out.push_str(&format!(
            "| {} | {} | ≥ {} | {} | {} |\n",
            r.name,
            opt(r.value, 2),
            r.target,
            r.verdict(),
            r.note
        ));
    }
    out
}

/// A one-line progress bar: `[#####.....] 50% label`.
pub fn progress_bar(fraction: f64, width: usize, label: &str) -> String {
    let f = fraction.clamp(0.0, 1.0);
    let filled = (f * width as f64).round() as usize;
    format!(
        "[{}{}] {:>3.0}% {label}",
        "#".repeat(filled),
        ".".repeat(width - filled),
        f * 100.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = Percentiles::of(&v);
        assert_eq!(
            (p.n, p.p50, p.p95, p.p99, p.max),
            (100, 50.0, 95.0, 99.0, 100.0)
        );
        let one = Percentiles::of(&[7.0]);
        assert_eq!((one.p50, one.p99), (7.0, 7.0));
        assert_eq!(Percentiles::of(&[]).n, 0);
    }

    fn trial(alert_p99: f64, n_alert: usize, frame_p99: f64) -> Trial {
        Trial {
            cameras: 4,
            alert_latency_ms: Percentiles {
                n: n_alert,
                p99: alert_p99,
                ..Default::default()
            },
            frame_latency_ms: Percentiles {
                n: 10,
                p99: frame_p99,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn a_trial_is_within_the_bound_only_if_both_latencies_and_every_camera_are() {
        assert!(trial(900.0, 5, 300.0).within(1000.0));
        assert!(!trial(1100.0, 5, 300.0).within(1000.0));
        assert!(!trial(900.0, 5, 1300.0).within(1000.0));
        assert!(
            trial(5000.0, 0, 300.0).within(1000.0),
            "no alert: frames decide"
        );
        let mut dark = trial(100.0, 5, 100.0);
        dark.cameras_without_frames = 1;
        assert!(!dark.within(1000.0));
    }

    #[test]
    fn find_max_doubles_then_bisects() {
        let capacity = 50;
        let mut s = MaxSearch::new(8, 512, 0.1);
        let mut tried = Vec::new();
        while let Some(n) = s.next() {
            tried.push(n);
            s.record(n, n <= capacity);
        }
        assert_eq!(&tried[..4], &[8, 16, 32, 64]);
        assert!(
            s.best() <= capacity && s.best() >= 46,
            "{} after {tried:?}",
            s.best()
        );
        assert!(tried.len() <= 8, "{tried:?}");
    }

    #[test]
    fn find_max_stops_at_the_limit_and_at_one() {
        let mut s = MaxSearch::new(8, 16, 0.1);
        s.record(8, true);
        s.record(16, true);
        assert_eq!((s.next(), s.best()), (None, 16));
        let mut s = MaxSearch::new(4, 64, 0.1);
        while let Some(n) = s.next() {
            s.record(n, false);
        }
        assert_eq!(s.best(), 0);
    }

    #[test]
    fn ratios_say_by_how_much_a_target_is_missed() {
        assert_eq!(
            Ratio::new("x", Some(0.9), 0.95, String::new()).verdict(),
            "missed by 5%"
        );
        assert_eq!(
            Ratio::new("x", Some(1.2), 1.15, String::new()).verdict(),
            "met"
        );
        assert_eq!(
            Ratio::new("x", None, 10.0, String::new()).verdict(),
            "not measured"
        );
    }

    #[test]
    fn tables_have_a_row_per_trial() {
        let t = trials_table(&[trial(900.0, 5, 300.0), trial(0.0, 0, 10.0)]);
        assert_eq!(t.lines().count(), 4);
        assert!(t.contains("- (0)"), "{t}");
        assert_eq!(progress_bar(0.5, 10, "x"), "[#####.....]  50% x");
    }
}
