//! The project's one way to resize a picture: OpenCV's `INTER_LINEAR` ([`resize_linear`]), used
//! by `sharpeyes_inference::letterbox_image` for `detect --image`, by the decoder's frame builder
//! for every live and replayed frame (a camera's picture at its own size into the model's canvas),
//! and by [`crop_frame`] for a second model's input from the frame decoded for the first or a
//! person crop for a pose model. Pure: no I/O. It lives in core because both `ingest` and
//! `inference` need it and neither should depend on the other.
//!
//! Why OpenCV's bilinear and not a better filter: the models were trained on pictures that
//! Ultralytics' and YOLOX's loaders shrank with `cv2.resize(…, INTER_LINEAR)`, which samples two
//! pixels per axis at half-pixel centres with no anti-aliasing, so that is what they expect to
//! see. An anti-aliased filter (the `image` crate's Triangle, used here before; GStreamer's
//! scalers) averages more source pixels when shrinking, and on the test pictures moved boxes by
//! 4 to 31 source pixels or changed what was found (`tests/resize_reference.rs`, its control).
//! The arithmetic below is OpenCV 4.10's for 8-bit pictures, bit for bit (11-bit fixed-point
//! weights, its SIMD rounding), checked against bytes `cv2.resize` wrote
//! (`testdata/inter_linear/`) and against `cv2.resize` itself: the same bytes in, the same bytes
//! out, so no tolerance has to hide a drift. Hand-written rather than a crate: none in the lock
//! file reproduces that rounding, and it is short.
//!
//! Sample positions per output column and row are computed once per call; each needed source
//! row is interpolated horizontally once into a 16-bit row (two rows kept), then pairs of rows
//! are blended vertically. No intermediate image. About 0.3 ms for a 640x360 picture into
//! 416x416 on one core (`cargo bench --bench kernels -- resize`).

use std::sync::Arc;

use crate::{BBox, CameraId, Detection, Frame, Letterbox, PixelFormat};

/// A frame [`crop_frame`] cannot resample (its size, stride or buffer), or an empty canvas.
#[derive(Debug, thiserror::Error)]
#[error("camera {camera}, frame {seq}: {message}")]
pub struct ResizeError {
    pub camera: CameraId,
    pub seq: u64,
    pub message: String,
}

/// A frame made from a region of another frame's picture.
#[derive(Clone, Debug)]
pub struct Crop {
    /// Letterboxed to the requested canvas; its `letterbox` maps canvas pixels to pixels of the
    /// region (so `letterbox.src_width` is the region's width).
    pub frame: Frame,
    /// Where the region's top-left corner lies in the original picture, in source pixels.
    pub origin: (f32, f32),
}

impl Crop {
    /// A detection found on [`Crop::frame`], moved into the original picture's pixels.
    pub fn to_original(&self, mut d: Detection) -> Detection {
        let (ox, oy) = self.origin;
        d.bbox = BBox {
            x1: d.bbox.x1 + ox,
            y1: d.bbox.y1 + oy,
            x2: d.bbox.x2 + ox,
            y2: d.bbox.y2 + oy,
        };
        for k in &mut d.keypoints {
            k.x += ox;
            k.y += oy;
        }
        d
    }
}

/// `region` (source pixels of `frame`'s picture; `None`: all of it), clamped to the picture and
/// letterboxed into a `width x height` canvas padded with `pad`. Errors when the region has less
/// than one pixel inside the picture or the canvas is empty.
pub fn crop_frame(
    frame: &Frame,
    region: Option<BBox>,
    width: u32,
    height: u32,
    pad: u8,
) -> Result<Crop, ResizeError> {
    let invalid = |message: String| ResizeError {
        camera: frame.camera.clone(),
        seq: frame.seq,
        message,
    };
    match frame.format {
        PixelFormat::Bgr24 => {}
    }
    if width == 0 || height == 0 {
        return Err(invalid(format!("crop canvas is {width}x{height}")));
    }
    let lb = frame.letterbox;
    let (src_w, src_h) = (lb.src_width as f32, lb.src_height as f32);
    let r = region
        .unwrap_or(BBox {
            x1: 0.0,
            y1: 0.0,
            x2: src_w,
            y2: src_h,
        })
        .clamp_to(src_w, src_h);
    let (x1, y1) = (r.x1.floor(), r.y1.floor());
    let (rw, rh) = ((r.x2.ceil() - x1) as u32, (r.y2.ceil() - y1) as u32);
    if rw == 0 || rh == 0 {
        return Err(invalid(format!(
            "crop region {region:?} has no pixels inside the {}x{} picture",
            lb.src_width, lb.src_height
        )));
    }
    let row_bytes = frame.width as usize * 3;
    let needed = (frame.height as usize).saturating_sub(1) * frame.stride + row_bytes;
    if frame.stride < row_bytes || frame.data.len() < needed {
        return Err(invalid(format!(
            "{}x{} frame with stride {} has {} bytes",
            frame.width,
            frame.height,
            frame.stride,
            frame.data.len()
        )));
    }

    let out_lb = Letterbox::fit(rw, rh, width, height);
    let (inner_w, inner_h) = out_lb.inner_size();
    let (inner_w, inner_h) = (inner_w.min(width), inner_h.min(height));
    // The picture's extent in the frame's canvas (first and last pixel), for clamping samples.
    let (pic_w, pic_h) = lb.inner_size();
    let last = |pad: f32, n: u32, canvas: u32| {
        (pad as usize + n as usize)
            .min(canvas as usize)
            .saturating_sub(1)
    };
    // The region in the frame's canvas pixels, stretched over the output's inner size as
    // `cv2.resize` would stretch a picture of that size: for a whole frame with no borders
    // (`region` None, identity letterbox) this is exactly `cv2.resize(frame, inner size)`.
    // One axis: `out` samples over the region's `from`..`from + len` (source pixels), the
    // picture's `pic` pixels starting at `pad` in a canvas of `canvas`.
    let axis = |out: u32, from: f32, len: u32, pad: f32, pic: u32, canvas: u32, edge: Edge| {
        let scale = f64::from(lb.scale);
        Taps::new(
            out,
            f64::from(from) * scale + f64::from(pad),
            f64::from(len) * scale,
            (pad as usize, last(pad, pic, canvas)),
            edge,
        )
    };
    let xs = axis(
        inner_w,
        x1,
        rw,
        lb.pad_x,
        pic_w,
        frame.width,
        Edge::ZeroWeight,
    );
    let ys = axis(
        inner_h,
        y1,
        rh,
        lb.pad_y,
        pic_h,
        frame.height,
        Edge::ClampRows,
    );

    let stride = width as usize * 3;
    let mut data = canvas(stride * height as usize, pad);
    let start = out_lb.pad_y as usize * stride + out_lb.pad_x as usize * 3;
    resize_taps(
        &frame.data[..],
        frame.stride,
        &xs,
        &ys,
        &mut Arc::get_mut(&mut data).expect("a new Arc has one owner")[start..],
        stride,
        Channels::Same,
    );
    Ok(Crop {
        frame: Frame {
            camera: frame.camera.clone(),
            seq: frame.seq,
            time: frame.time,
            width,
            height,
            stride,
            format: PixelFormat::Bgr24,
            data,
            letterbox: out_lb,
        },
        origin: (x1, y1),
    })
}

/// What a model takes in: a `width x height` canvas of packed BGR pixels, the picture
/// letterboxed into it ([`Letterbox::fit`]) and the borders filled with `pad` (114 for YOLOX,
/// YOLO11 and RTMDet, 0 for NanoDet: what each model's training code padded with).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Canvas {
    pub width: u32,
    pub height: u32,
    pub pad: u8,
}

impl Canvas {
    pub fn new(width: u32, height: u32, pad: u8) -> Self {
        Self { width, height, pad }
    }
}

/// `src`, packed 3-byte pixels `src_width x src_height` with rows `src_stride` bytes apart,
/// letterboxed into `canvas` as the models' training code did it: [`Letterbox::fit`]'s
/// placement, [`resize_linear`] inside it (a copy when the sizes agree), `canvas.pad` around it.
/// Returns the canvas's pixels (rows `canvas.width * 3` bytes apart) and its letterbox. `channels`
/// as for [`resize_linear`]. Panics if `src` is too short for its sizes, or a size is 0.
pub fn letterbox(
    src: &[u8],
    (src_width, src_height, src_stride): (u32, u32, usize),
    canvas: Canvas,
    channels: Channels,
) -> (Arc<[u8]>, Letterbox) {
    let Canvas { width, height, pad } = canvas;
    assert!(src_width > 0 && src_height > 0 && width > 0 && height > 0);
    let letterbox = Letterbox::fit(src_width, src_height, width, height);
    let (inner_w, inner_h) = letterbox.inner_size();
    let (inner_w, inner_h) = (inner_w.min(width), inner_h.min(height));
    let stride = width as usize * 3;
    let mut data = self::canvas(stride * height as usize, pad);
    let start = letterbox.pad_y as usize * stride + letterbox.pad_x as usize * 3;
    // Same size: OpenCV copies, and so does `resize_linear` (every weight is 2048 and 0).
    resize_linear(
        src,
        (src_width, src_height, src_stride),
        &mut Arc::get_mut(&mut data).expect("a new Arc has one owner")[start..],
        (inner_w, inner_h, stride),
        channels,
    );
    (data, letterbox)
}

/// `len` bytes of `pad`, written straight into shared memory (a frame's pixels) so that filling
/// it in place and handing it over copies nothing.
pub fn canvas(len: usize, pad: u8) -> Arc<[u8]> {
    std::iter::repeat_n(pad, len).collect()
}

/// Resizes `src`, packed 3-byte pixels `src_width x src_height` with rows `src_stride` bytes
/// apart, to `dst_width x dst_height` as OpenCV 4's `cv::resize(src, dst, INTER_LINEAR)` does for
/// 8-bit pictures (same bytes out), writing rows `dst_stride` bytes apart from the start of `dst`
/// and touching nothing between rows. `channels` says whether the first and third byte of each
/// pixel trade places on the way (RGB in, BGR out). Panics if a slice is too short for its sizes
/// (callers size them).
pub fn resize_linear(
    src: &[u8],
    (src_width, src_height, src_stride): (u32, u32, usize),
    dst: &mut [u8],
    (dst_width, dst_height, dst_stride): (u32, u32, usize),
    channels: Channels,
) {
    if dst_width == 0 || dst_height == 0 || src_width == 0 || src_height == 0 {
        return;
    }
    let whole =
        |dst: u32, src: u32, edge| Taps::new(dst, 0.0, f64::from(src), (0, src as usize - 1), edge);
    let xs = whole(dst_width, src_width, Edge::ZeroWeight);
    let ys = whole(dst_height, src_height, Edge::ClampRows);
    resize_taps(src, src_stride, &xs, &ys, dst, dst_stride, channels);
}

/// Whether a resize keeps each pixel's byte order or swaps the first and third byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channels {
    Same,
    /// RGB to BGR (or back).
    SwapFirstAndThird,
}

/// OpenCV's fixed-point scale for interpolation weights (`INTER_RESIZE_COEF_BITS` = 11).
const WEIGHT_ONE: f32 = 2048.0;

/// How samples past the picture's first or last pixel are treated. OpenCV treats the axes
/// differently: columns move the sample back inside and drop the second weight, rows keep both
/// weights and read the edge row twice. With its rounding the two can differ by one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Edge {
    ZeroWeight,
    ClampRows,
}

/// One output column's or row's two source samples (pixel indices, `i0 <= i1`) and their
/// fixed-point weights (summing to about [`WEIGHT_ONE`]).
#[derive(Clone, Copy, Debug)]
struct Tap {
    i0: usize,
    i1: usize,
    w0: i32,
    w1: i32,
}

/// The taps along one axis.
struct Taps(Vec<Tap>);

impl Taps {
    /// `n` output samples over the source span starting at `origin` and `len` source pixels long
    /// (pixel edges, in source pixel units), reading only pixels `first..=last`. Output sample
    /// `i` sits at `origin + (i + 0.5) * len / n - 0.5` in source pixel centres, computed as
    /// OpenCV does (double, then float).
    fn new(n: u32, origin: f64, len: f64, (first, last): (usize, usize), edge: Edge) -> Self {
        // OpenCV keeps the inverse scale and inverts it; the last bit matters for `floor`.
        let scale = 1.0 / (f64::from(n) / len);
        let taps = (0..n)
            .map(|i| {
                let f = (origin + (f64::from(i) + 0.5) * scale - 0.5) as f32;
                let floor = f.floor();
                let mut w = f - floor;
                let s = floor as i64;
                let clamp = |v: i64| v.clamp(first as i64, last as i64) as usize;
                let (i0, i1) = match edge {
                    Edge::ClampRows => (clamp(s), clamp(s + 1)),
                    Edge::ZeroWeight if s < first as i64 => {
                        w = 0.0;
                        (first, first)
                    }
                    Edge::ZeroWeight if s >= last as i64 => {
                        w = 0.0;
                        (last, last)
                    }
                    Edge::ZeroWeight => (s as usize, s as usize + 1),
                };
                // OpenCV's saturate_cast<short>: round half to even.
                Tap {
                    i0,
                    i1,
                    w0: ((1.0 - w) * WEIGHT_ONE).round_ties_even() as i32,
                    w1: (w * WEIGHT_ONE).round_ties_even() as i32,
                }
            })
            .collect();
        Self(taps)
    }
}

/// The resize proper: for output row `y` and column `x`, the source pixels `xs[x]` of rows
/// `ys[y]`, blended; written from the start of `dst`, rows `dst_stride` apart.
fn resize_taps(
    src: &[u8],
    src_stride: usize,
    xs: &Taps,
    ys: &Taps,
    dst: &mut [u8],
    dst_stride: usize,
    channels: Channels,
) {
    let row_len = xs.0.len() * 3;
    // Two horizontally interpolated source rows, tagged with their row index.
    let mut rows = [
        (usize::MAX, vec![0u16; row_len]),
        (usize::MAX, vec![0u16; row_len]),
    ];
    let horizontal = |y: usize, out: &mut [u16]| {
        let line = &src[y * src_stride..];
        match channels {
            Channels::Same => horizontal_row::<false>(line, &xs.0, out),
            Channels::SwapFirstAndThird => horizontal_row::<true>(line, &xs.0, out),
        }
    };
    for (y, t) in ys.0.iter().enumerate() {
        // Rows only move forward: keep whichever cached row is still needed.
        let (k0, k1) = (rows[0].0, rows[1].0);
        if k0 != t.i0 && k1 == t.i0 {
            rows.swap(0, 1);
        }
        if rows[0].0 != t.i0 {
            rows[0].0 = t.i0;
            horizontal(t.i0, &mut rows[0].1);
        }
        if rows[1].0 != t.i1 {
            rows[1].0 = t.i1;
            horizontal(t.i1, &mut rows[1].1);
        }
        let out = &mut dst[y * dst_stride..y * dst_stride + row_len];
        vertical_row(&rows[0].1, &rows[1].1, t.w0 as u16, t.w1 as u16, out);
    }
}

/// One source row (`line` from its first byte) sampled at `xs`: the two pixels' bytes times
/// their weights, per channel, first and third channel swapped if `SWAP`, divided by 16 as
/// OpenCV's vertical step does first (at most 255 x 2049 / 16 < 2^15).
fn horizontal_row<const SWAP: bool>(line: &[u8], xs: &[Tap], out: &mut [u16]) {
    let (c0, c2) = if SWAP { (2, 0) } else { (0, 2) };
    for (o, t) in out.chunks_exact_mut(3).zip(xs) {
        let (a, b) = if t.i1 == t.i0 + 1 {
            // Inside the picture: both pixels in one read.
            let p = &line[t.i0 * 3..t.i0 * 3 + 6];
            (&p[..3], &p[3..])
        } else {
            let a = &line[t.i0 * 3..t.i0 * 3 + 3];
            (a, &line[t.i1 * 3..t.i1 * 3 + 3])
        };
        let mix = |c: usize| ((i32::from(a[c]) * t.w0 + i32::from(b[c]) * t.w1) >> 4) as u16;
        o[c0] = mix(0);
        o[1] = mix(1);
        o[c2] = mix(2);
    }
}

/// Two interpolated rows blended with weights `w0` and `w1` into bytes, rounded as OpenCV's
/// SIMD path rounds (`VResizeLinearVec_32s8u`: each product's high 16 bits, then + 2 >> 2),
/// which is what `cv2.resize` runs on x86 and ARM. Everything is non-negative, so unsigned
/// 16-bit high products give the same bits, and those vectorise with plain SSE2 (`pmulhuw`;
/// the signed form did not, and took twice as long).
fn vertical_row(r0: &[u16], r1: &[u16], w0: u16, w1: u16, out: &mut [u8]) {
    let high = |a: u16, w: u16| ((u32::from(a) * u32::from(w)) >> 16) as u16;
    for ((o, &a), &b) in out.iter_mut().zip(r0).zip(r1) {
        let v = high(a, w0) + high(b, w1);
        *o = ((v + 2) >> 2).min(255) as u8;
    }
}

#[cfg(test)]
mod tests {
    use crate::{Keypoint, UnixMillis};

    use super::*;

    /// A 20x10 picture letterboxed into a 20x20 canvas (pad_y 5), pixel value = 10 * x (blue),
    /// 20 * y (green), 7 (red).
    fn gradient() -> Frame {
        let lb = Letterbox::fit(20, 10, 20, 20);
        assert_eq!((lb.pad_x, lb.pad_y, lb.scale), (0.0, 5.0, 1.0));
        let mut data = vec![0u8; 20 * 20 * 3];
        for y in 0..10 {
            for x in 0..20 {
                let i = ((y + 5) * 20 + x) * 3;
                data[i] = (10 * x) as u8;
                data[i + 1] = (20 * y) as u8;
                data[i + 2] = 7;
            }
        }
        Frame {
            camera: CameraId::new("c").unwrap(),
            seq: 3,
            time: UnixMillis(5),
            width: 20,
            height: 20,
            stride: 60,
            format: PixelFormat::Bgr24,
            data: Arc::from(data),
            letterbox: lb,
        }
    }

    /// `cv2.resize(source, (w, h), INTER_LINEAR)` of a random 62x46 picture, written by
    /// `testdata/inter_linear/generate.py` (OpenCV 4.10).
    const OPENCV_SOURCE: &[u8] = include_bytes!("../testdata/inter_linear/source_62x46.bin");
    macro_rules! opencv_outputs {
        ($(($w:literal, $h:literal)),* $(,)?) => {
            &[$((
                $w,
                $h,
                include_bytes!(concat!("../testdata/inter_linear/", $w, "x", $h, ".bin")),
            )),*]
        };
    }
    const OPENCV_OUTPUTS: &[(u32, u32, &[u8])] = opencv_outputs![
        (23, 17),
        (41, 31),
        (31, 23),
        (30, 46),
        (62, 46),
        (63, 47),
        (124, 92),
        (97, 71),
        (20, 90),
        (1, 1),
    ];

    #[test]
    fn resize_is_opencv_inter_linear_byte_for_byte() {
        for &(w, h, expected) in OPENCV_OUTPUTS {
            // Rows padded by 5 bytes, left untouched.
            let stride = w as usize * 3 + 5;
            let mut out = vec![9u8; stride * h as usize];
            resize_linear(
                OPENCV_SOURCE,
                (62, 46, 62 * 3),
                &mut out,
                (w, h, stride),
                Channels::Same,
            );
            let mut swapped = vec![0u8; w as usize * 3 * h as usize];
            resize_linear(
                OPENCV_SOURCE,
                (62, 46, 62 * 3),
                &mut swapped,
                (w, h, w as usize * 3),
                Channels::SwapFirstAndThird,
            );
            for (y, (row, want)) in out
                .chunks(stride)
                .zip(expected.chunks(w as usize * 3))
                .enumerate()
            {
                assert_eq!(&row[..want.len()], want, "{w}x{h}, row {y}");
                assert!(
                    row[want.len()..].iter().all(|&b| b == 9),
                    "{w}x{h}: padding"
                );
            }
            for (got, want) in swapped.chunks(3).zip(expected.chunks(3)) {
                assert_eq!(got, [want[2], want[1], want[0]], "{w}x{h}, swapped");
            }
        }
    }

    #[test]
    fn a_same_scale_crop_copies_the_pixels() {
        let f = gradient();
        let region = BBox {
            x1: 4.0,
            y1: 2.0,
            x2: 8.0,
            y2: 6.0,
        };
        let c = crop_frame(&f, Some(region), 4, 4, 114).unwrap();
        assert_eq!(c.origin, (4.0, 2.0));
        assert_eq!(c.frame.letterbox.scale, 1.0);
        assert_eq!(c.frame.bgr_at(0, 0), [40, 40, 7]);
        assert_eq!(c.frame.bgr_at(3, 3), [70, 100, 7]);
        assert_eq!((c.frame.seq, c.frame.time), (3, UnixMillis(5)));
    }

    #[test]
    fn upscaling_interpolates_and_pads_the_rest() {
        let f = gradient();
        // The whole 20x10 picture into 40x40: scale 2, pad_y 10.
        let c = crop_frame(&f, None, 40, 40, 114).unwrap();
        assert_eq!(c.frame.letterbox.pad_y, 10.0);
        assert_eq!(c.frame.bgr_at(0, 0), [114, 114, 114]);
        assert_eq!(c.frame.bgr_at(39, 39), [114, 114, 114]);
        // Output x = 5 is source x 2.75 - 0.5 = 2.25: a quarter of the way from 20 to 30, 22.5,
        // which OpenCV's fixed-point arithmetic truncates to 22 (cv2.resize gives 22 too).
        let [b, _, r] = c.frame.bgr_at(5, 20);
        assert_eq!((b, r), (22, 7));
        // Left and right edges clamp to the picture's first and last columns.
        assert_eq!(c.frame.bgr_at(0, 20)[0], 0);
        assert_eq!(c.frame.bgr_at(39, 20)[0], 190);
    }

    #[test]
    fn detections_on_a_crop_move_back_to_the_picture() {
        let f = gradient();
        let region = BBox {
            x1: 10.0,
            y1: 4.0,
            x2: 20.0,
            y2: 10.0,
        };
        let c = crop_frame(&f, Some(region), 40, 40, 0).unwrap();
        let d = Detection {
            class_id: 0,
            class_name: Arc::from("person"),
            score: 0.9,
            bbox: BBox {
                x1: 1.0,
                y1: 1.0,
                x2: 5.0,
                y2: 6.0,
            },
            keypoints: vec![Keypoint {
                x: 2.0,
                y: 3.0,
                score: 0.5,
            }],
        };
        let d = c.to_original(d);
        assert_eq!(
            (d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2),
            (11.0, 5.0, 15.0, 10.0)
        );
        assert_eq!((d.keypoints[0].x, d.keypoints[0].y), (12.0, 7.0));
    }

    #[test]
    fn a_region_outside_the_picture_is_an_error() {
        let f = gradient();
        let region = BBox {
            x1: 30.0,
            y1: 0.0,
            x2: 40.0,
            y2: 5.0,
        };
        let e = crop_frame(&f, Some(region), 10, 10, 0).unwrap_err();
        assert!(
            e.to_string().contains("no pixels inside the 20x10 picture"),
            "{e}"
        );
    }
}
