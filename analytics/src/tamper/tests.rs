//! Synthetic pictures: a world of random rectangles and fine texture seen through a window
//! (the camera's view), with sensor noise, blur, shifts, lighting changes and occluders.

use super::*;

const W: usize = 320;
const H: usize = 180;

/// A camera looking at one world; each call to `picture` is one decoded picture.
struct Scene {
    world: Vec<u8>,
    ww: usize,
    noise: u64,
}

/// How the camera sees the world at one moment.
#[derive(Clone, Copy)]
struct View {
    dx: usize,
    dy: usize,
    /// Box blur radius in pixels (0: sharp).
    blur: usize,
    gain: f32,
    offset: f32,
    /// Peak-to-peak sensor noise in grey levels (0: none).
    noise: u8,
    /// A uniform grey rectangle (x, y, w, h, level) in front of the camera: a person, a van.
    occluder: Option<(usize, usize, usize, usize, u8)>,
}

const NORMAL: View = View {
    dx: 40,
    dy: 30,
    blur: 0,
    gain: 1.0,
    offset: 0.0,
    noise: 6,
    occluder: None,
};

fn lcg(s: &mut u64) -> u64 {
    *s = s
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *s >> 33
}

impl Scene {
    fn new(seed: u64) -> Self {
        let (ww, wh) = (W + 160, H + 120);
        let mut s = seed;
        let mut world = vec![0u8; ww * wh];
        for (i, p) in world.iter_mut().enumerate() {
            // Fine texture (brick, leaves): what a blur takes away first.
            let (x, y) = (i % ww, i / ww);
            *p = 90 + ((x / 2 + y / 3) % 3) as u8 * 12;
        }
        for _ in 0..60 {
            let (x, y) = (lcg(&mut s) as usize % ww, lcg(&mut s) as usize % wh);
            let (w, h) = (8 + lcg(&mut s) as usize % 60, 8 + lcg(&mut s) as usize % 50);
            let level = (20 + lcg(&mut s) % 200) as u8;
            for yy in y..(y + h).min(wh) {
                for xx in x..(x + w).min(ww) {
                    world[yy * ww + xx] = level.saturating_add(((xx + yy) % 4) as u8 * 8);
                }
            }
        }
        Self {
            world,
            ww,
            noise: seed ^ 0x5eed,
        }
    }

    fn picture(&mut self, v: View) -> Vec<u8> {
        let mut p = vec![0u8; W * H];
        for y in 0..H {
            for x in 0..W {
                let mut l = self.world[(y + v.dy) * self.ww + x + v.dx];
                if let Some((ox, oy, ow, oh, level)) = v.occluder
                    && (ox..ox + ow).contains(&x)
                    && (oy..oy + oh).contains(&y)
                {
                    l = level;
                }
                p[y * W + x] = l;
            }
        }
        if v.blur > 0 {
            p = box_blur(&p, v.blur);
        }
        for l in p.iter_mut() {
            let n = if v.noise == 0 {
                0.0
            } else {
                (lcg(&mut self.noise) % (v.noise as u64 + 1)) as f32 - v.noise as f32 / 2.0
            };
            *l = (*l as f32 * v.gain + v.offset + n)
                .round()
                .clamp(0.0, 255.0) as u8;
        }
        p
    }
}

fn box_blur(p: &[u8], r: usize) -> Vec<u8> {
    let pass = |src: &[u8], horizontal: bool| {
        let mut out = vec![0u8; W * H];
        for y in 0..H {
            for x in 0..W {
                let (mut sum, mut n) = (0u32, 0u32);
                for k in 0..=2 * r {
                    let (xx, yy) = if horizontal {
                        ((x + k).checked_sub(r), Some(y))
                    } else {
                        (Some(x), (y + k).checked_sub(r))
                    };
                    if let (Some(xx), Some(yy)) = (xx, yy)
                        && xx < W
                        && yy < H
                    {
                        sum += src[yy * W + xx] as u32;
                        n += 1;
                    }
                }
                out[y * W + x] = (sum / n) as u8;
            }
        }
        out
    };
    pass(&pass(p, true), false)
}

/// Every change over a program: `view(t_ms)` for t from 0 to `len_ms`, one picture per second
/// (the detector samples every other one).
fn run(
    seed: u64,
    len_ms: i64,
    mut view: impl FnMut(i64) -> View,
) -> (Vec<TamperChange>, TamperDetector) {
    let mut scene = Scene::new(seed);
    let mut d = TamperDetector::default();
    let mut changes = Vec::new();
    let mut t = 0;
    while t <= len_ms {
        let time = UnixMillis(1_000_000 + t);
        if d.due(time) {
            let pic = scene.picture(view(t));
            let (_, c) = d.observe(Thumbnail::from_luma(time, W, H, &pic));
            changes.extend(c);
        }
        t += 1000;
    }
    (changes, d)
}

/// (reason, tampered, seconds into the program) of each change.
fn summary(changes: &[TamperChange]) -> Vec<(&'static str, bool, i64)> {
    changes
        .iter()
        .map(|c| (c.reason.as_str(), c.tampered, (c.time.0 - 1_000_000) / 1000))
        .collect()
}

/// Normal for 20 s, `tampered` from 20 s to 60 s, normal again to 100 s: the reason is raised
/// once within `within_s` of 20 s, restored once within 20 s of 60 s, and nothing else happens.
fn raises_and_restores(reason: &str, within_s: i64, tampered: impl Fn(i64) -> View) {
    let (changes, _) = run(7, 100_000, |t| {
        if (20_000..60_000).contains(&t) {
            tampered(t)
        } else {
            NORMAL
        }
    });
    let s = summary(&changes);
    assert_eq!(s.len(), 2, "{s:?}");
    assert_eq!((s[0].0, s[0].1), (reason, true), "{s:?}");
    assert!((20..=20 + within_s).contains(&s[0].2), "{s:?}");
    assert_eq!((s[1].0, s[1].1), (reason, false), "{s:?}");
    assert!((60..=80).contains(&s[1].2), "{s:?}");
}

fn raises_nothing(len_ms: i64, view: impl Fn(i64) -> View) {
    for seed in [1, 2, 3] {
        let (changes, d) = run(seed, len_ms, &view);
        assert!(d.learned());
        assert!(changes.is_empty(), "seed {seed}: {:?}", summary(&changes));
    }
}

#[test]
fn a_black_picture_is_covered_within_seconds_and_restored_after() {
    raises_and_restores("covered", 8, |_| View {
        gain: 0.0,
        offset: 8.0,
        noise: 2,
        ..NORMAL
    });
}

#[test]
fn a_bright_uniform_picture_is_covered() {
    raises_and_restores("covered", 8, |_| View {
        gain: 0.05,
        offset: 245.0,
        ..NORMAL
    });
}

#[test]
fn a_blurred_picture_is_defocused() {
    raises_and_restores("defocused", 14, |_| View { blur: 4, ..NORMAL });
}

#[test]
fn a_shifted_view_is_moved() {
    raises_and_restores("moved", 24, |_| View {
        dx: 140,
        dy: 90,
        ..NORMAL
    });
}

#[test]
fn identical_pictures_are_frozen() {
    // The same picture every time: no sensor noise at all.
    raises_and_restores("frozen", 18, |_| View { noise: 0, ..NORMAL });
}

#[test]
fn a_picture_held_for_ten_seconds_is_not_frozen() {
    raises_nothing(60_000, |t| View {
        noise: if (30_000..40_000).contains(&t) { 0 } else { 6 },
        ..NORMAL
    });
}

#[test]
fn sensor_noise_on_a_still_scene_is_not_frozen() {
    raises_nothing(120_000, |_| View { noise: 3, ..NORMAL });
}

#[test]
fn brightness_stepping_up_and_down_is_not_tampering() {
    raises_nothing(120_000, |t| {
        let offset = match (t / 10_000) % 4 {
            0 => 0.0,
            1 => 60.0,
            2 => 0.0,
            _ => -60.0,
        };
        View { offset, ..NORMAL }
    });
}

#[test]
fn night_mode_with_less_contrast_and_more_noise_is_not_tampering() {
    raises_nothing(120_000, |t| {
        if t >= 40_000 {
            View {
                gain: 0.55,
                offset: 30.0,
                noise: 12,
                ..NORMAL
            }
        } else {
            NORMAL
        }
    });
}

#[test]
fn people_passing_and_a_van_parking_in_part_of_the_view_are_not_moved() {
    raises_nothing(180_000, |t| {
        let occluder = match t {
            // People walking through, one after another.
            20_000..60_000 => Some((((t - 20_000) / 200) as usize % 260, 40, 50, 130, 60)),
            // A van parked in the lower left for a minute.
            80_000..140_000 => Some((0, 70, 150, 110, 200)),
            _ => None,
        };
        View { occluder, ..NORMAL }
    });
}

#[test]
fn greyscale_and_colour_frames_give_the_same_thumbnail() {
    use sharpeyes_core::{CameraId, Frame, Letterbox, PixelFormat};
    let mut scene = Scene::new(4);
    let pic = scene.picture(NORMAL);
    // A 320x180 picture letterboxed in a 320x320 canvas: borders of 70 rows, grey 114.
    let frame = |colour: bool| {
        let mut data = vec![114u8; 320 * 320 * 3];
        for y in 0..H {
            for x in 0..W {
                let l = pic[y * W + x];
                // A colour whose luma is l (BT.601): more red, less blue, in balance.
                let bgr = if colour {
                    let (b, r) = (l.saturating_sub(20), l.saturating_add(7));
                    [b, l.saturating_sub(0), r]
                } else {
                    [l, l, l]
                };
                data[((y + 70) * 320 + x) * 3..][..3].copy_from_slice(&bgr);
            }
        }
        Frame {
            camera: CameraId::new("c").expect("id"),
            seq: 0,
            time: UnixMillis(0),
            width: 320,
            height: 320,
            stride: 320 * 3,
            format: PixelFormat::Bgr24,
            data: data.into(),
            letterbox: Letterbox::fit(320, 180, 320, 320),
        }
    };
    let (grey, colour) = (
        Thumbnail::from_frame(&frame(false)).expect("thumbnail"),
        Thumbnail::from_frame(&frame(true)).expect("thumbnail"),
    );
    assert!(max_change(&grey.luma, &colour.luma) < 3.0);
    // The borders are not part of the picture: its own mean, not the padding's.
    let direct = Thumbnail::from_luma(UnixMillis(0), W, H, &pic);
    assert!((grey.mean_std().0 - direct.mean_std().0).abs() < 2.0);
    assert!((grey.sharpness() / direct.sharpness() - 1.0).abs() < 0.2);
}

#[test]
fn a_camera_that_starts_covered_learns_its_view_once_uncovered() {
    let (changes, d) = run(5, 80_000, |t| {
        if t < 20_000 {
            View {
                gain: 0.0,
                offset: 3.0,
                ..NORMAL
            }
        } else {
            NORMAL
        }
    });
    let s = summary(&changes);
    assert_eq!(
        s.iter().map(|c| (c.0, c.1)).collect::<Vec<_>>(),
        [("covered", true), ("covered", false)],
        "{s:?}"
    );
    assert!(d.learned());
}

#[test]
fn sampling_takes_one_picture_per_interval_and_restarts_after_a_clock_step() {
    let mut d = TamperDetector::default();
    let pic = Scene::new(1).picture(NORMAL);
    assert!(d.due(UnixMillis(10_000)));
    d.observe(Thumbnail::from_luma(UnixMillis(10_000), W, H, &pic));
    assert!(!d.due(UnixMillis(11_000)));
    assert!(d.due(UnixMillis(12_000)));
    // Set back an hour: sampled at once.
    assert!(d.due(UnixMillis(10_000 - 3_600_000)));
}

#[test]
fn reasons_have_stable_names() {
    for r in TamperReason::ALL {
        assert_eq!(TamperReason::parse(r.as_str()), Some(r));
    }
    assert_eq!(TamperReason::parse("stolen"), None);
}
