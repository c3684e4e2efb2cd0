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
    /// The part of it before detection: capture → taken by the analysis thread (decode,
    /// scale, hand-offs).
    pub capture_to_detector_ms: Percentiles,
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
    /// From the moment a person first becomes visible in a simulated camera's clip to that
    /// camera's first person detection, for every appearance in the window.
    pub appearance_latency_ms: Percentiles,
    /// Appearances in the window with no person detection within [`APPEARANCE_WAIT_MS`].
    pub appearances_missed: usize,
    /// OS threads of the pipeline process at the end of the window, and per camera.
    pub threads: u64,
    pub threads_per_camera: f64,
    /// Every camera idle the whole time (the night run): what an idle camera costs.
    pub night: bool,
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
    /// frames were analysed, both p99s are within `p99_ms`, and so is the appearance latency
    /// p99 when appearances were timed.
    pub fn within(&self, p99_ms: f64) -> bool {
        self.cameras_without_frames == 0
            && self.frame_latency_ms.n > 0
            && self.p99().is_some_and(|p| p <= p99_ms)
            && (self.appearance_latency_ms.n == 0 || self.appearance_latency_ms.p99 <= p99_ms)
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
        "| mode | cameras | decode fps | inference fps | alert latency p50/p95/p99 ms (n) | frame latency p50/p95/p99 ms (of which before detection) | appearance latency p50/p95/p99/max ms (n, missed) | CPU %/cam | RSS MiB/cam | threads (/cam) | without frames | dropped | skipped (adaptive) | gated |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
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
            let w = &t.capture_to_detector_ms;
            format!(
                "{:.0} / {:.0} / {:.0} ({:.0} / {:.0} / {:.0})",
                f.p50, f.p95, f.p99, w.p50, w.p95, w.p99
            )
        };
        let p = &t.appearance_latency_ms;
        let appear = if p.n == 0 && t.appearances_missed == 0 {
            "-".to_string()
        } else {
            format!(
                "{:.0} / {:.0} / {:.0} / {:.0} ({}, {})",
                p.p50, p.p95, p.p99, p.max, p.n, t.appearances_missed
            )
        };
        out.push_str(&format!(
            "| {}{} | {} | {:.1} | {:.1} | {alert} | {frame} | {appear} | {:.2} | {:.1} | {} ({:.1}) | {} | {} | {} | {} |\n",
            t.mode.map(Mode::label).unwrap_or("-"),
            if t.night { ", night (all idle)" } else { "" },
            t.cameras,
            t.decode_fps,
            t.inference_fps,
            t.cpu_pct_per_camera,
            t.rss_mib_per_camera,
            t.threads,
            t.threads_per_camera,
            t.cameras_without_frames,
            t.dropped_frames,
            t.skipped_frames,
            t.gated_frames,
        ));
    }
    out
}

/// How long after a person becomes visible a detection still counts as seeing them.
pub const APPEARANCE_WAIT_MS: i64 = 10_000;

/// Appearance latencies (pure). Each activity start `(camera, t_ms)` shows a person from
/// `t_ms + offset_ms` on (the clip's first visible person); the latency is the camera's first
/// person detection at or after that moment, within [`APPEARANCE_WAIT_MS`]. Only appearances
/// in `[window.0, window.1 - APPEARANCE_WAIT_MS]` count. `detections`: (camera, when the
/// detection was done, ms), any order. Returns the latencies (ms) and how many were missed.
pub fn appearance_latencies(
    starts: &[(String, i64)],
    offset_ms: i64,
    detections: &[(String, i64)],
    window: (i64, i64),
) -> (Vec<f64>, usize) {
    let mut by_camera: std::collections::HashMap<&str, Vec<i64>> = Default::default();
    for (c, t) in detections {
        by_camera.entry(c.as_str()).or_default().push(*t);
    }
    by_camera.values_mut().for_each(|v| v.sort_unstable());
    let (mut out, mut missed) = (Vec::new(), 0);
    for (camera, start) in starts {
        let visible = start + offset_ms;
        if visible < window.0 || visible > window.1 - APPEARANCE_WAIT_MS {
            continue;
        }
        let first = by_camera.get(camera.as_str()).and_then(|v| {
            let i = v.partition_point(|t| *t < visible);
            v.get(i)
                .copied()
                .filter(|t| t - visible <= APPEARANCE_WAIT_MS)
        });
        match first {
            Some(t) => out.push((t - visible) as f64),
            None => missed += 1,
        }
    }
    (out, missed)
}

/// An SVG chart of the trials (plotters): cameras against CPU (% of one core, whole pipeline)
/// and against frame latency p99 (ms), one line per mode; night runs left out.
pub fn chart_svg(trials: &[Trial], title: &str) -> String {
    use plotters::prelude::*;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 420)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let root = root.titled(title, ("sans-serif", 18)).unwrap_or(root);
        let panels = root.split_evenly((1, 2));
        let modes = [
            (Mode::Gated, RGBColor(31, 119, 180)),
            (Mode::EveryFrame, RGBColor(214, 39, 40)),
        ];
        let series = |mode: Mode, y: &dyn Fn(&Trial) -> f64| -> Vec<(f64, f64)> {
            let mut v: Vec<(f64, f64)> = trials
                .iter()
                .filter(|t| t.mode == Some(mode) && !t.night && t.frame_latency_ms.n > 0)
                .map(|t| (t.cameras as f64, y(t)))
                .collect();
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            v
        };
        let metrics: [(&str, &dyn Fn(&Trial) -> f64); 2] = [
            ("CPU, % of one core (pipeline)", &|t: &Trial| {
                t.cpu_pct_total
            }),
            ("frame latency p99, ms", &|t: &Trial| t.frame_latency_ms.p99),
        ];
        for (area, (label, y)) in panels.iter().zip(metrics) {
            let all: Vec<(f64, f64)> = modes.iter().flat_map(|(m, _)| series(*m, y)).collect();
            let x_max = all.iter().map(|p| p.0).fold(1.0, f64::max) * 1.05;
            let y_max = all.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
            let Ok(mut chart) = ChartBuilder::on(area)
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(56)
                .caption(label, ("sans-serif", 15))
                .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            else {
                continue;
            };
            let _ = chart
                .configure_mesh()
                .x_desc("cameras")
                .y_desc(label)
                .draw();
            for (mode, colour) in modes {
                let points = series(mode, y);
                if points.is_empty() {
                    continue;
                }
                if let Ok(s) =
                    chart.draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
                {
                    s.label(mode.label()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
                    });
                }
                let _ = chart.draw_series(
                    points
                        .into_iter()
                        .map(|p| Circle::new(p, 3, colour.filled())),
                );
            }
            let _ = chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                .position(SeriesLabelPosition::UpperLeft)
                .draw();
        }
        let _ = root.present();
    }
    svg
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
    #[test]
    fn appearance_is_timed_from_the_visible_person_to_the_first_detection_after_it() {
        let starts = vec![
            ("cam-001".to_string(), 10_000),
            ("cam-002".to_string(), 12_000),
            // Before the window, and too late in it: not counted.
            ("cam-001".to_string(), -5_000),
            ("cam-003".to_string(), 50_000),
        ];
        let detections = vec![
            ("cam-001".to_string(), 16_000), // before the person is visible (17 s): not it
            ("cam-001".to_string(), 17_400),
            ("cam-001".to_string(), 17_900),
            ("cam-003".to_string(), 57_100),
        ];
        // Person visible 7 s into the clip; window 5 s .. 60 s.
        let (lat, missed) = appearance_latencies(&starts, 7_000, &detections, (5_000, 60_000));
        assert_eq!(lat, vec![400.0]);
        assert_eq!(missed, 1, "cam-002 never saw its person");
    }

    #[test]
    fn the_chart_draws_one_line_per_mode() {
        let t = |mode, cameras, cpu, p99| Trial {
            cameras,
            mode: Some(mode),
            cpu_pct_total: cpu,
            frame_latency_ms: Percentiles {
                n: 10,
                p99,
                ..Percentiles::default()
            },
            ..Trial::default()
        };
        let svg = chart_svg(
            &[
                t(Mode::Gated, 16, 20.0, 30.0),
                t(Mode::Gated, 64, 60.0, 80.0),
                t(Mode::EveryFrame, 16, 90.0, 200.0),
            ],
            "test",
        );
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
        // Two panels, each with a gated line and an every-frame line (and their legend).
        let lines = |colour: &str| {
            svg.lines()
                .filter(|l| l.starts_with("<polyline") && l.contains(colour))
                .count()
        };
        assert_eq!(lines("stroke=\"#1F77B4\""), 4, "gated: {svg}");
        assert_eq!(lines("stroke=\"#D62728\""), 4, "every frame: {svg}");
        assert!(svg.contains("gated") && svg.contains("decode-every-frame"));
    }

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
        let mut slow_to_see = trial(100.0, 5, 100.0);
        slow_to_see.appearance_latency_ms = Percentiles::of(&[300.0, 1500.0]);
        assert!(!slow_to_see.within(1000.0), "a newcomer seen after 1.5 s");
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
