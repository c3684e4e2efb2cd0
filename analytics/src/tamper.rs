//! Camera tamper detection (pure: pictures and their times in, `tampered` / `restored`
//! changes out; no I/O, no clock of its own).
//!
//! One [`Thumbnail`] per sample (every [`TamperConfig::sample_every_ms`] of frame time, 2 s by
//! default, taken from the frames the camera decodes anyway: an idle camera's keyframes are
//! enough): a 64x36 luma thumbnail of the picture's content (letterbox borders left out) and
//! two horizontal gradient energies of the full-resolution luma. A [`TamperDetector`] per
//! camera learns the camera's own baseline from its first samples (its reference structure
//! and its sharpness) and reports four reasons, each with hysteresis (it must hold for a while
//! before `tampered`, and be clear for a while before `restored`):
//!
//! - `covered`: the picture is nearly uniform (spatial standard deviation of the thumbnail
//!   under 6 grey levels), or very dark (mean under 14) / very bright (mean over 240) with
//!   little contrast (standard deviation under 12). A lens covered by a hand, tape, a bag,
//!   spray paint, or a lamp shone into it.
//! - `defocused`: the sharpness ratio (energy of 1-pixel luma differences over that of
//!   4-pixel differences: a blur removes the first much more than the second) falls under half
//!   of the camera's learned baseline. A ratio of gradient energies is the same under any gain
//!   and offset of the picture, so lighting changes and night gain do not move it.
//! - `moved`: the scene's structure no longer matches the reference view. The thumbnail's
//!   gradient field is compared with the reference's block by block (8x6 blocks, normalised
//!   cross-correlation); `moved` when under [`TamperConfig::moved_match`] of the blocks that
//!   have structure still match. Gradients of a luma picture, normalised per block, do not
//!   change with brightness, contrast or the loss of colour (IR night mode); people and vehicles
//!   hide some blocks, not nearly all, and pass within the 20 s the reason must hold.
//! - `frozen`: the decoded pictures stay the same (no thumbnail cell changes by more than
//!   [`TamperConfig::frozen_tolerance`] grey levels between samples) for 14 s while frames keep
//!   coming. A real sensor's noise changes some of the 2304 cells by more than that between any
//!   two pictures; a frozen encoder (or a still image fed in its place) repeats the same
//!   picture, up to the small re-quantisation of each keyframe, which the tolerance absorbs. A
//!   recording that holds its last picture for 10 s is not frozen yet. A perfectly still,
//!   noise-free synthetic scene (a test pattern) would count as frozen: it is one.
//!
//! While the picture is covered the other reasons are not evaluated (a uniform picture has no
//! structure, no sharpness and is the same from picture to picture). The reference and the
//! sharpness baseline follow slow changes (shadows, seasons): each sample that matches well
//! while nothing is tampered moves them 5 % of the way.

use sharpeyes_core::{Frame, UnixMillis};

/// Thumbnail width in cells.
pub const THUMB_W: usize = 64;
/// Thumbnail height in cells.
pub const THUMB_H: usize = 36;
/// Blocks of the structure comparison, across and down.
const BLOCKS_X: usize = 8;
const BLOCKS_Y: usize = 6;

/// Why a camera is tampered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TamperReason {
    Covered,
    Defocused,
    Moved,
    Frozen,
}

impl TamperReason {
    pub const ALL: [TamperReason; 4] = [
        TamperReason::Covered,
        TamperReason::Defocused,
        TamperReason::Moved,
        TamperReason::Frozen,
    ];

    /// `covered`, `defocused`, `moved`, `frozen`: the `reason` of the status events.
    pub fn as_str(self) -> &'static str {
        match self {
            TamperReason::Covered => "covered",
            TamperReason::Defocused => "defocused",
            TamperReason::Moved => "moved",
            TamperReason::Frozen => "frozen",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Thresholds and holds. Times in ms of frame time.
#[derive(Clone, Debug, PartialEq)]
pub struct TamperConfig {
    /// At most one sample per this long. Default 2000.
    pub sample_every_ms: i64,
    /// Samples (not covered) that make the reference and the sharpness baseline. Default 5.
    pub warmup_samples: usize,
    /// Covered: thumbnail standard deviation under this (grey levels). Default 6.
    pub uniform_std: f32,
    /// Defocused: sharpness under this fraction of the baseline. Default 0.5.
    pub defocus_ratio: f64,
    /// Defocused clears above this fraction of the baseline. Default 0.7.
    pub refocus_ratio: f64,
    /// Moved: under this fraction of the structured blocks match the reference. Default 0.35.
    pub moved_match: f32,
    /// Moved clears when at least this fraction matches again. Default 0.55.
    pub unmoved_match: f32,
    /// Frozen: no thumbnail cell changed by more than this many grey levels. Default 1.5.
    pub frozen_tolerance: f32,
    /// How long each reason must hold before `tampered`, in [`TamperReason::ALL`] order.
    /// Default covered 4 s, defocused 10 s, moved 20 s, frozen 14 s.
    pub raise_after_ms: [i64; 4],
    /// How long each reason must be clear before `restored`. Default 4 s, 8 s, 8 s, 4 s.
    pub clear_after_ms: [i64; 4],
}

impl Default for TamperConfig {
    fn default() -> Self {
        Self {
            sample_every_ms: 2000,
            warmup_samples: 5,
            uniform_std: 6.0,
            defocus_ratio: 0.5,
            refocus_ratio: 0.7,
            moved_match: 0.35,
            unmoved_match: 0.55,
            frozen_tolerance: 1.5,
            raise_after_ms: [4000, 10_000, 20_000, 14_000],
            clear_after_ms: [4000, 8000, 8000, 4000],
        }
    }
}

/// What the detector measures of one picture. Pure, cheap: one pass over every other row.
#[derive(Clone, Debug, PartialEq)]
pub struct Thumbnail {
    pub time: UnixMillis,
    /// Mean luma (0-255) of each of the [`THUMB_W`] x [`THUMB_H`] cells, row by row.
    pub luma: Vec<f32>,
    /// Sum of squared 1-pixel horizontal luma differences.
    pub fine: f64,
    /// Sum of squared 4-pixel horizontal luma differences.
    pub coarse: f64,
}

impl Thumbnail {
    /// The thumbnail of a decoded frame's picture (the letterbox borders, and 2 pixels inside
    /// them where the scaler blends, left out). None when the picture is under 16x9 pixels.
    pub fn from_frame(f: &Frame) -> Option<Self> {
        let (iw, ih) = f.letterbox.inner_size();
        let x0 = (f.letterbox.pad_x.max(0.0) as usize + 2).min(f.width as usize);
        let y0 = (f.letterbox.pad_y.max(0.0) as usize + 2).min(f.height as usize);
        let x1 = (x0 + iw as usize).saturating_sub(4).min(f.width as usize);
        let y1 = (y0 + ih as usize).saturating_sub(4).min(f.height as usize);
        if x1 < x0 + 16 || y1 < y0 + 9 || f.data.len() < y1 * f.stride {
            return None;
        }
        Some(Self::build(f.time, x1 - x0, y1 - y0, |y, row| {
            let start = (y0 + y) * f.stride + x0 * 3;
            let px = &f.data[start..start + row.len() * 3];
            for (l, bgr) in row.iter_mut().zip(px.chunks_exact(3)) {
                *l = luma(bgr[0], bgr[1], bgr[2]);
            }
        }))
    }

    /// The thumbnail of a `width` x `height` luma picture (rows `width` bytes apart).
    pub fn from_luma(time: UnixMillis, width: usize, height: usize, luma: &[u8]) -> Self {
        assert!(width >= 16 && height >= 9 && luma.len() >= width * height);
        Self::build(time, width, height, |y, row| {
            row.copy_from_slice(&luma[y * width..(y + 1) * width]);
        })
    }

    /// Every other row (`row(y, buf)` fills `buf` with row `y`'s luma): the thumbnail from
    /// every other pixel of it, the gradient energies from all of it.
    fn build(time: UnixMillis, w: usize, h: usize, mut row: impl FnMut(usize, &mut [u8])) -> Self {
        let mut sums = [0u32; THUMB_W * THUMB_H];
        let mut counts = [0u32; THUMB_W * THUMB_H];
        let cell_x: Vec<usize> = (0..w).map(|x| x * THUMB_W / w).collect();
        let mut buf = vec![0u8; w];
        let (mut fine, mut coarse) = (0u64, 0u64);
        for y in (0..h).step_by(2) {
            row(y, &mut buf);
            let base = (y * THUMB_H / h) * THUMB_W;
            for x in (0..w).step_by(2) {
                let i = base + cell_x[x];
                sums[i] += buf[x] as u32;
                counts[i] += 1;
            }
            let (mut f, mut c) = (0u32, 0u32);
            for x in 0..w - 4 {
                let p = buf[x] as i32;
                let d1 = buf[x + 1] as i32 - p;
                let d4 = buf[x + 4] as i32 - p;
                f += (d1 * d1) as u32;
                c += (d4 * d4) as u32;
            }
            fine += f as u64;
            coarse += c as u64;
        }
        let luma = sums
            .iter()
            .zip(&counts)
            .map(|(s, n)| if *n == 0 { 0.0 } else { *s as f32 / *n as f32 })
            .collect();
        Self {
            time,
            luma,
            fine: fine as f64,
            coarse: coarse as f64,
        }
    }

    /// (mean, standard deviation) of the cells.
    pub fn mean_std(&self) -> (f32, f32) {
        let n = self.luma.len() as f32;
        let mean = self.luma.iter().sum::<f32>() / n;
        let var = self
            .luma
            .iter()
            .map(|l| (l - mean) * (l - mean))
            .sum::<f32>()
            / n;
        (mean, var.sqrt())
    }

    /// Fine over coarse gradient energy: lower when blurred; the same under gain and offset.
    pub fn sharpness(&self) -> f64 {
        if self.coarse <= 0.0 {
            0.0
        } else {
            self.fine / self.coarse
        }
    }
}

/// BT.601 luma of a BGR pixel, in integer arithmetic.
fn luma(b: u8, g: u8, r: u8) -> u8 {
    ((29 * b as u32 + 150 * g as u32 + 77 * r as u32 + 128) >> 8) as u8
}

/// A reason turning on or off.
#[derive(Clone, Debug, PartialEq)]
pub struct TamperChange {
    pub reason: TamperReason,
    /// True: `camera_tampered`; false: `camera_restored`.
    pub tampered: bool,
    /// The sample that decided it.
    pub time: UnixMillis,
    /// For people: what was measured ("sharpness 31 % of the camera's baseline").
    pub detail: String,
}

/// What one sample measured (for metrics, logs and tuning).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TamperMeasure {
    pub mean: f32,
    pub std: f32,
    /// Sharpness over the learned baseline (None while learning, or covered).
    pub sharpness: Option<f64>,
    /// Fraction of structured blocks that match the reference (None while learning, covered, or
    /// without structure).
    pub matched: Option<f32>,
    /// Largest change of a cell since the previous sample (None for the first).
    pub change: Option<f32>,
}

/// One reason's hysteresis.
#[derive(Clone, Debug, Default)]
struct Hold {
    active: bool,
    /// Since when the condition has held (inactive) or been clear (active).
    since: Option<i64>,
}

impl Hold {
    /// `Some(true)` when it turns on, `Some(false)` when it turns off.
    fn step(&mut self, cond: bool, now: i64, raise_after: i64, clear_after: i64) -> Option<bool> {
        let (toward, after) = if self.active {
            (!cond, clear_after)
        } else {
            (cond, raise_after)
        };
        if !toward {
            self.since = None;
            return None;
        }
        let since = *self.since.get_or_insert(now);
        if now - since >= after {
            self.active = !self.active;
            self.since = None;
            Some(self.active)
        } else {
            None
        }
    }
}

/// One camera's tamper state. Feed it [`Thumbnail`]s in time order (see [`TamperDetector::due`]).
#[derive(Clone, Debug)]
pub struct TamperDetector {
    config: TamperConfig,
    last_sample: Option<i64>,
    warmup: Vec<Thumbnail>,
    /// Learned: reference luma thumbnail and sharpness.
    reference: Option<(Vec<f32>, f64)>,
    previous: Option<Thumbnail>,
    holds: [Hold; 4],
}

impl Default for TamperDetector {
    fn default() -> Self {
        Self::new(TamperConfig::default())
    }
}

impl TamperDetector {
    pub fn new(config: TamperConfig) -> Self {
        Self {
            config,
            last_sample: None,
            warmup: Vec::new(),
            reference: None,
            previous: None,
            holds: Default::default(),
        }
    }

    pub fn config(&self) -> &TamperConfig {
        &self.config
    }

    /// Whether a picture taken at `time` should be sampled (one per `sample_every_ms`; a clock
    /// that steps back starts the grid again).
    pub fn due(&self, time: UnixMillis) -> bool {
        self.last_sample.is_none_or(|t| {
            time.0 >= t + self.config.sample_every_ms || time.0 < t - self.config.sample_every_ms
        })
    }

    /// The reasons active now.
    pub fn active(&self) -> Vec<TamperReason> {
        TamperReason::ALL
            .into_iter()
            .filter(|r| self.holds[r.index()].active)
            .collect()
    }

    /// Whether the reference view and sharpness baseline are learned.
    pub fn learned(&self) -> bool {
        self.reference.is_some()
    }

    /// One sample: what it measured and the reasons that turned on or off.
    pub fn observe(&mut self, t: Thumbnail) -> (TamperMeasure, Vec<TamperChange>) {
        let now = t.time.0;
        if self.last_sample.is_some_and(|last| now < last) {
            // The clock stepped back: timings start again, what was learned stays.
            self.holds.iter_mut().for_each(|h| h.since = None);
            self.previous = None;
        }
        self.last_sample = Some(now);
        let c = self.config.clone();
        let (mean, std) = t.mean_std();
        let mut m = TamperMeasure {
            mean,
            std,
            ..TamperMeasure::default()
        };
        let covered = std < c.uniform_std || ((!(14.0..=240.0).contains(&mean)) && std < 12.0);
        let mut conds: [Option<bool>; 4] = [Some(covered), None, None, None];
        if !covered {
            m.change = self.previous.as_ref().map(|p| max_change(&p.luma, &t.luma));
            conds[TamperReason::Frozen.index()] =
                Some(m.change.is_some_and(|d| d <= c.frozen_tolerance));
            if let Some((reference, base_sharp)) = &self.reference {
                let ratio = t.sharpness() / base_sharp.max(1e-9);
                m.sharpness = Some(ratio);
                let defocused = self.holds[TamperReason::Defocused.index()].active;
                conds[TamperReason::Defocused.index()] = Some(if defocused {
                    ratio < c.refocus_ratio
                } else {
                    ratio < c.defocus_ratio
                });
                m.matched = block_match(reference, &t.luma);
                let moved = self.holds[TamperReason::Moved.index()].active;
                conds[TamperReason::Moved.index()] = m.matched.map(|f| {
                    if moved {
                        f < c.unmoved_match
                    } else {
                        f < c.moved_match
                    }
                });
            }
        }
        let mut changes = Vec::new();
        for r in TamperReason::ALL {
            let hold = &mut self.holds[r.index()];
            let Some(cond) = conds[r.index()] else {
                // Not measurable now (covered, learning): no progress either way.
                if !hold.active {
                    hold.since = None;
                }
                continue;
            };
            let (raise, clear) = (c.raise_after_ms[r.index()], c.clear_after_ms[r.index()]);
            if let Some(tampered) = hold.step(cond, now, raise, clear) {
                changes.push(TamperChange {
                    reason: r,
                    tampered,
                    time: t.time,
                    detail: detail(r, &m),
                });
            }
        }
        if !covered {
            self.learn(&t, &m);
            self.previous = Some(t);
        } else {
            self.previous = None;
        }
        (m, changes)
    }

    /// The first samples make the reference; later ones that match well while nothing is
    /// tampered move it 5 % of the way.
    fn learn(&mut self, t: &Thumbnail, m: &TamperMeasure) {
        match &mut self.reference {
            None => {
                self.warmup.push(t.clone());
                if self.warmup.len() >= self.config.warmup_samples.max(1) {
                    // Per cell, the median of the first pictures: people and vehicles passing
                    // through are not part of the view.
                    let mut cell = Vec::with_capacity(self.warmup.len());
                    let luma = (0..THUMB_W * THUMB_H)
                        .map(|i| {
                            cell.clear();
                            cell.extend(self.warmup.iter().map(|w| w.luma[i]));
                            cell.sort_by(f32::total_cmp);
                            cell[cell.len() / 2]
                        })
                        .collect();
                    let mut sharp: Vec<f64> =
                        self.warmup.iter().map(Thumbnail::sharpness).collect();
                    sharp.sort_by(f64::total_cmp);
                    self.reference = Some((luma, sharp[sharp.len() / 2]));
                    self.warmup.clear();
                }
            }
            Some((luma, sharp)) => {
                let calm = self.holds.iter().all(|h| !h.active && h.since.is_none());
                let good = m.matched.is_none_or(|f| f >= 0.6)
                    && m.sharpness.is_some_and(|s| (0.75..1.5).contains(&s));
                if calm && good {
                    const ALPHA: f32 = 0.05;
                    luma.iter_mut()
                        .zip(&t.luma)
                        .for_each(|(a, b)| *a += ALPHA * (b - *a));
                    *sharp += ALPHA as f64 * (t.sharpness() - *sharp);
                }
            }
        }
    }
}

fn detail(r: TamperReason, m: &TamperMeasure) -> String {
    match r {
        TamperReason::Covered => format!("mean luma {:.0}, contrast {:.1}", m.mean, m.std),
        TamperReason::Defocused => format!(
            "sharpness {:.0} % of the camera's baseline",
            m.sharpness.unwrap_or(0.0) * 100.0
        ),
        TamperReason::Moved => format!(
            "{:.0} % of the reference view's structure matches",
            m.matched.unwrap_or(0.0) * 100.0
        ),
        TamperReason::Frozen => format!(
            "largest change between pictures {:.1} grey levels",
            m.change.unwrap_or(0.0)
        ),
    }
}

fn max_change(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Central-difference gradients (gx, gy) of a thumbnail, zero on its edge.
fn gradients(l: &[f32]) -> Vec<(f32, f32)> {
    let mut g = vec![(0.0, 0.0); THUMB_W * THUMB_H];
    for y in 1..THUMB_H - 1 {
        for x in 1..THUMB_W - 1 {
            let i = y * THUMB_W + x;
            g[i] = (l[i + 1] - l[i - 1], l[i + THUMB_W] - l[i - THUMB_W]);
        }
    }
    g
}

/// Fraction of the reference's structured blocks whose gradient field still correlates
/// (normalised cross-correlation over 0.5) with the picture's; None when the reference has
/// too little structure.
fn block_match(reference: &[f32], luma: &[f32]) -> Option<f32> {
    let (r, g) = (gradients(reference), gradients(luma));
    let (bw, bh) = (THUMB_W / BLOCKS_X, THUMB_H / BLOCKS_Y);
    let mut blocks = Vec::with_capacity(BLOCKS_X * BLOCKS_Y);
    for by in 0..BLOCKS_Y {
        for bx in 0..BLOCKS_X {
            let (mut rr, mut gg, mut rg) = (0.0f32, 0.0f32, 0.0f32);
            for y in by * bh..(by + 1) * bh {
                for x in bx * bw..(bx + 1) * bw {
                    let (a, b) = (r[y * THUMB_W + x], g[y * THUMB_W + x]);
                    rr += a.0 * a.0 + a.1 * a.1;
                    gg += b.0 * b.0 + b.1 * b.1;
                    rg += a.0 * b.0 + a.1 * b.1;
                }
            }
            blocks.push((rr, gg, rg));
        }
    }
    // Structured: a block with at least a quarter of the mean block's gradient energy, and
    // some in absolute terms (gradients of 2 grey levels per cell on average). A view with
    // fewer than 6 such blocks (a bare car park from above, fog) has too little to tell.
    let mean_rr = blocks.iter().map(|b| b.0).sum::<f32>() / blocks.len() as f32;
    let floor = (0.25 * mean_rr).max(4.0 * (bw * bh) as f32);
    let structured: Vec<_> = blocks.iter().filter(|b| b.0 >= floor).collect();
    if structured.len() < 6 {
        return None;
    }
    let matching = structured
        .iter()
        .filter(|(rr, gg, rg)| *gg > 0.0 && rg / (rr * gg).sqrt() > 0.5)
        .count();
    Some(matching as f32 / structured.len() as f32)
}

#[cfg(test)]
mod tests;
