//! Frames to model input: a batch of letterboxed BGR frames becomes one NCHW `f32` tensor in the
//! model's colour order and normalisation ([`preprocess`]), and a decoded picture becomes a
//! letterboxed frame ([`letterbox_image`], for `detect --image`, resized as
//! [`sharpeyes_core::resize`] says). Pure: no I/O.
//!
//! This is on the per-frame hot path. Each channel value is looked up in a 256-entry table built
//! once per call (`(pixel - mean) / std`, exact), and rows are copied with slice iterators into
//! contiguous channel planes, so there is no per-pixel bounds check or ndarray indexing. A batch of
//! frames is cut into bands of rows converted on rayon's pool (a single frame stays on the calling
//! thread: see `parallel`); each value is computed the same way whichever thread does it, so the
//! tensor is the same bit for bit.

use image::RgbImage;
use ndarray::Array4;
use rayon::prelude::*;
use sharpeyes_core::resize::{Canvas, Channels, letterbox};
use sharpeyes_core::{CameraId, Frame, PixelFormat, UnixMillis};

use crate::error::InferenceError;
use crate::manifest::{ColourOrder, InputSpec, Normalisation};

/// The NCHW tensor `[frames.len(), 3, input.height, input.width]` for `frames`.
///
/// Every frame must be `Bgr24` of exactly `input.width x input.height` (already letterboxed), with
/// `stride >= width * 3` and enough data for its rows. Channel `c` of the tensor holds the model's
/// `c`-th colour (per `input.colour_order`), normalised as `(pixel - mean[c]) / std[c]`.
pub fn preprocess(frames: &[Frame], input: &InputSpec) -> Result<Array4<f32>, InferenceError> {
    preprocess_into(frames, input, Vec::new())
}

/// Like [`preprocess`], but reuses `buffer`'s allocation (get it back from the previous tensor
/// with `into_raw_vec_and_offset().0`), which saves a large allocation and its page faults per
/// call.
pub fn preprocess_into(
    frames: &[Frame],
    input: &InputSpec,
    mut buffer: Vec<f32>,
) -> Result<Array4<f32>, InferenceError> {
    let (w, h) = (input.width as usize, input.height as usize);
    let plane = w * h;
    if plane == 0 {
        return Err(InferenceError::InvalidImage {
            message: format!("model input size {w}x{h} is empty"),
        });
    }
    for f in frames {
        check_frame(f, input)?;
    }
    let lut = ChannelTables::new(input.normalisation);
    // Model channel that the B, G and R bytes of a frame pixel go to.
    let [cb, cg, cr] = match input.colour_order {
        ColourOrder::Bgr => [0, 1, 2],
        ColourOrder::Rgb => [2, 1, 0],
    };
    let (tb, tg, tr) = (&lut.0[cb], &lut.0[cg], &lut.0[cr]);

    // Every element is overwritten below, so a reused buffer of the right size needs no clearing.
    let len = frames.len() * 3 * plane;
    if buffer.len() != len {
        buffer.clear();
        buffer.resize(len, 0.0);
    }
    // Bands of rows: one frame's planes cut at the same rows, each band converted by one call of
    // `convert_band`. Every output value is written by exactly one band with the same table
    // lookup, so the tensor is the same bit for bit however the bands are scheduled.
    let band_rows = if parallel(frames.len(), plane) {
        BAND_ROWS
    } else {
        h
    };
    let mut bands: Vec<Band<'_>> = Vec::with_capacity(frames.len() * h.div_ceil(band_rows));
    for (frame, out) in frames.iter().zip(buffer.chunks_exact_mut(3 * plane)) {
        let (p0, rest) = out.split_at_mut(plane);
        let (p1, p2) = rest.split_at_mut(plane);
        let mut planes = [Some(p0), Some(p1), Some(p2)];
        let (Some(pb), Some(pg), Some(pr)) =
            (planes[cb].take(), planes[cg].take(), planes[cr].take())
        else {
            unreachable!("cb, cg, cr are a permutation of 0, 1, 2");
        };
        let chunk = band_rows * w;
        for (i, ((b, g), r)) in pb
            .chunks_mut(chunk)
            .zip(pg.chunks_mut(chunk))
            .zip(pr.chunks_mut(chunk))
            .enumerate()
        {
            // check_frame guarantees the rows are there; the last row may lack its padding.
            let start = i * band_rows * frame.stride;
            let end = (start + band_rows * frame.stride).min(frame.data.len());
            bands.push(Band {
                src: &frame.data[start..end],
                stride: frame.stride,
                b,
                g,
                r,
            });
        }
    }
    let convert = |band: Band<'_>| convert_band(band, w, [tb, tg, tr]);
    if bands.len() > 1 {
        bands.into_par_iter().for_each(convert);
    } else {
        bands.into_iter().for_each(convert);
    }
    Array4::from_shape_vec((frames.len(), 3, h, w), buffer).map_err(|e| {
        InferenceError::InvalidImage {
            message: format!("cannot shape the input tensor: {e}"),
        }
    })
}

/// Rows per parallel work item: 32 rows of a 416-wide frame are ~13k pixels (tens of
/// microseconds), large enough that rayon's per-item cost does not show.
const BAND_ROWS: usize = 32;

/// Whether to convert `frames` frames of `plane` pixels on rayon's pool rather than on the
/// calling thread. Measured on the 2-core reference machine with other work running
/// (`cargo bench --bench kernels -- preprocess`, see benches/README.md): a batch of 8 gains
/// (640x640: 6.9 ms to 3.6 ms; 416x416: 2.65 ms to 2.4 ms), but a single frame does not (416x416
/// the same, 640x640 0.48 ms to 0.72 ms: waking the pool costs more than half a frame saves when
/// the other core is busy), so single frames stay on the calling thread.
fn parallel(frames: usize, plane: usize) -> bool {
    frames >= 2 && frames * plane >= 160 * 160 && rayon::current_num_threads() > 1
}

/// One band of rows of one frame: its source rows (`stride` bytes apart, the last maybe without
/// padding) and the same rows of the three output planes, by frame colour.
struct Band<'a> {
    src: &'a [u8],
    stride: usize,
    b: &'a mut [f32],
    g: &'a mut [f32],
    r: &'a mut [f32],
}

/// Converts one band: for each pixel, the B, G and R bytes through their channel's table into
/// the three planes. Slice iterators only, so no per-pixel bounds checks.
fn convert_band(band: Band<'_>, w: usize, [tb, tg, tr]: [&[f32; 256]; 3]) {
    let rows = band.src.chunks(band.stride);
    let dst_rows = band
        .b
        .chunks_exact_mut(w)
        .zip(band.g.chunks_exact_mut(w))
        .zip(band.r.chunks_exact_mut(w));
    for (row, ((rb, rg), rr)) in rows.zip(dst_rows) {
        let pixels = row[..w * 3].chunks_exact(3);
        for (px, ((ob, og), or)) in pixels.zip(rb.iter_mut().zip(rg.iter_mut()).zip(rr.iter_mut()))
        {
            *ob = tb[px[0] as usize];
            *og = tg[px[1] as usize];
            *or = tr[px[2] as usize];
        }
    }
}

/// `(v - mean[c]) / std[c]` for every byte value `v` and model channel `c`.
struct ChannelTables([[f32; 256]; 3]);

impl ChannelTables {
    fn new(n: Normalisation) -> Self {
        let mut t = [[0.0_f32; 256]; 3];
        for (c, table) in t.iter_mut().enumerate() {
            for (v, out) in table.iter_mut().enumerate() {
                *out = (v as f32 - n.mean[c]) / n.std[c];
            }
        }
        Self(t)
    }
}

fn check_frame(f: &Frame, input: &InputSpec) -> Result<(), InferenceError> {
    let bad = |message: String| InferenceError::InvalidFrame {
        camera: f.camera.clone(),
        seq: f.seq,
        message,
    };
    match f.format {
        PixelFormat::Bgr24 => {}
    }
    if (f.width, f.height) != (input.width, input.height) {
        return Err(bad(format!(
            "frame is {}x{} but the model input is {}x{} (frames must be letterboxed to the model size)",
            f.width, f.height, input.width, input.height
        )));
    }
    let row_bytes = f.width as usize * 3;
    if f.stride < row_bytes {
        return Err(bad(format!(
            "stride {} is less than width * 3 = {row_bytes}",
            f.stride
        )));
    }
    let needed = (f.height as usize).saturating_sub(1) * f.stride + row_bytes;
    if f.data.len() < needed {
        return Err(bad(format!(
            "data has {} bytes, {needed} needed for {}x{} at stride {}",
            f.data.len(),
            f.width,
            f.height,
            f.stride
        )));
    }
    Ok(())
}

/// Letterboxes `img` into a `width x height` BGR frame: scaled keeping its aspect ratio with the
/// crate's one resize ([`resize_linear`], OpenCV's `INTER_LINEAR`, what the models were trained
/// on), centred as [`Letterbox::fit`] describes, borders filled with `pad`. The frame's camera is
/// `image`, its `seq` 0 and its time 0.
pub fn letterbox_image(
    img: &RgbImage,
    width: u32,
    height: u32,
    pad: u8,
) -> Result<Frame, InferenceError> {
    if img.width() == 0 || img.height() == 0 {
        return Err(InferenceError::InvalidImage {
            message: format!("picture is {}x{}", img.width(), img.height()),
        });
    }
    if width == 0 || height == 0 {
        return Err(InferenceError::InvalidImage {
            message: format!("canvas is {width}x{height}"),
        });
    }
    let (data, letterbox) = letterbox(
        img.as_raw(),
        (img.width(), img.height(), img.width() as usize * 3),
        Canvas::new(width, height, pad),
        Channels::SwapFirstAndThird,
    );
    Ok(Frame {
        camera: CameraId::new("image").expect("\"image\" is a valid camera id"),
        seq: 0,
        time: UnixMillis(0),
        width,
        height,
        stride: width as usize * 3,
        format: PixelFormat::Bgr24,
        data,
        letterbox,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sharpeyes_core::Letterbox;

    use super::*;

    /// The random 62x46 picture of core's `INTER_LINEAR` check.
    const OPENCV_SOURCE: &[u8] =
        include_bytes!("../../core/testdata/inter_linear/source_62x46.bin");

    #[test]
    fn a_whole_frame_is_resized_as_a_picture_is() {
        // A camera frame at its own size (no borders) into a model input goes the same way, to
        // the byte, as the same picture does for `detect --image`.
        let (w, h) = (62u32, 46u32);
        let rgb = image::RgbImage::from_raw(w, h, OPENCV_SOURCE.to_vec()).expect("62x46x3");
        let bgr: Vec<u8> = OPENCV_SOURCE
            .chunks(3)
            .flat_map(|p| [p[2], p[1], p[0]])
            .collect();
        let frame = Frame {
            width: w,
            height: h,
            stride: w as usize * 3,
            data: Arc::from(bgr),
            letterbox: Letterbox::fit(w, h, w, h),
            camera: CameraId::new("c").unwrap(),
            seq: 3,
            time: UnixMillis(5),
            format: PixelFormat::Bgr24,
        };
        for (cw, ch) in [(41, 41), (64, 64), (30, 17)] {
            let want = letterbox_image(&rgb, cw, ch, 114).unwrap();
            let got = sharpeyes_core::resize::crop_frame(&frame, None, cw, ch, 114)
                .unwrap()
                .frame;
            assert_eq!(got.letterbox, want.letterbox, "{cw}x{ch}");
            let first_difference = got
                .data
                .iter()
                .zip(&want.data[..])
                .position(|(a, b)| a != b);
            assert_eq!(first_difference, None, "{cw}x{ch}: first differing byte");
        }
    }

    /// A 2x2 BGR frame with one padding byte per row (stride 7); the padding must be ignored.
    fn frame_2x2() -> Frame {
        #[rustfmt::skip]
        let data: Vec<u8> = vec![
            // (b, g, r) (b, g, r) pad
            10, 20, 30,   40, 50, 60,   255,
            70, 80, 90,   100, 110, 120, 255,
        ];
        Frame {
            camera: CameraId::new("cam").unwrap(),
            seq: 7,
            time: UnixMillis(0),
            width: 2,
            height: 2,
            stride: 7,
            format: PixelFormat::Bgr24,
            data: Arc::from(data),
            letterbox: Letterbox::fit(2, 2, 2, 2),
        }
    }

    fn spec(order: ColourOrder, normalisation: Normalisation) -> InputSpec {
        InputSpec {
            name: None,
            width: 2,
            height: 2,
            colour_order: order,
            normalisation,
            pad_value: 114,
        }
    }

    #[test]
    fn bgr_model_gets_planes_in_frame_order_skipping_stride_padding() {
        let t = preprocess(
            &[frame_2x2()],
            &spec(ColourOrder::Bgr, Normalisation::IDENTITY),
        )
        .unwrap();
        assert_eq!(t.shape(), &[1, 3, 2, 2]);
        assert_eq!(
            t.as_slice().unwrap(),
            &[
                10.0, 40.0, 70.0, 100.0, 20.0, 50.0, 80.0, 110.0, 30.0, 60.0, 90.0, 120.0
            ]
        );
    }

    #[test]
    fn rgb_model_gets_red_first_and_normalisation_in_its_order() {
        let n = Normalisation {
            mean: [30.0, 0.0, 10.0],
            std: [2.0, 1.0, 10.0],
        };
        let t = preprocess(&[frame_2x2()], &spec(ColourOrder::Rgb, n)).unwrap();
        // channel 0 = red: (r - 30) / 2; channel 1 = green; channel 2 = blue: (b - 10) / 10.
        assert_eq!(
            t.as_slice().unwrap(),
            &[
                0.0, 15.0, 30.0, 45.0, 20.0, 50.0, 80.0, 110.0, 0.0, 3.0, 6.0, 9.0
            ]
        );
    }

    #[test]
    fn batch_stacks_frames_in_order() {
        let a = frame_2x2();
        let mut b = frame_2x2();
        b.data = Arc::from(vec![1u8; 14]);
        let t = preprocess(&[a, b], &spec(ColourOrder::Bgr, Normalisation::IDENTITY)).unwrap();
        assert_eq!(t.shape(), &[2, 3, 2, 2]);
        assert_eq!(t[[0, 2, 1, 1]], 120.0);
        assert!(
            t.slice(ndarray::s![1, .., .., ..])
                .iter()
                .all(|v| *v == 1.0)
        );
    }

    #[test]
    fn reused_buffer_gives_the_same_tensor() {
        let s = spec(ColourOrder::Bgr, Normalisation::IDENTITY);
        let first = preprocess(&[frame_2x2()], &s).unwrap();
        let expected = first.clone();
        let (buf, _) = first.into_raw_vec_and_offset();
        let second = preprocess_into(&[frame_2x2()], &s, buf).unwrap();
        assert_eq!(second, expected);
    }

    #[test]
    fn parallel_bands_match_the_formula_for_every_pixel() {
        // A batch big enough to take the parallel path, height not a multiple of the band,
        // padded rows and a last row without its padding.
        let (w, h, stride) = (200u32, 141u32, 200 * 3 + 5);
        let frames: Vec<Frame> = (0..3u8)
            .map(|k| {
                let mut data: Vec<u8> = (0..stride * h as usize)
                    .map(|i| (i * 7 + k as usize * 13) as u8)
                    .collect();
                data.truncate(stride * (h as usize - 1) + w as usize * 3);
                Frame {
                    width: w,
                    height: h,
                    stride,
                    data: Arc::from(data),
                    letterbox: Letterbox::fit(w, h, w, h),
                    ..frame_2x2()
                }
            })
            .collect();
        let n = Normalisation {
            mean: [1.0, 2.0, 3.0],
            std: [3.0, 5.0, 7.0],
        };
        let mut s = spec(ColourOrder::Rgb, n);
        (s.width, s.height) = (w, h);
        let t = preprocess(&frames, &s).unwrap();
        for (i, f) in frames.iter().enumerate() {
            for y in 0..h {
                for x in 0..w {
                    let [b, g, r] = f.bgr_at(x, y);
                    for (c, v) in [r, g, b].into_iter().enumerate() {
                        let want = (v as f32 - n.mean[c]) / n.std[c];
                        let got = t[[i, c, y as usize, x as usize]];
                        assert_eq!(got.to_bits(), want.to_bits(), "frame {i} ({x}, {y}) c{c}");
                    }
                }
            }
        }
    }

    #[test]
    fn frame_of_wrong_size_is_rejected_with_camera_and_seq() {
        let mut s = spec(ColourOrder::Bgr, Normalisation::IDENTITY);
        s.width = 4;
        let e = preprocess(&[frame_2x2()], &s).unwrap_err().to_string();
        assert!(
            e.starts_with("camera cam, frame 7: frame is 2x2 but the model input is 4x2"),
            "{e}"
        );
    }

    #[test]
    fn short_buffer_is_rejected_not_panicking() {
        let mut f = frame_2x2();
        f.data = Arc::from(vec![0u8; 10]);
        let e = preprocess(&[f], &spec(ColourOrder::Bgr, Normalisation::IDENTITY)).unwrap_err();
        assert!(
            e.to_string().contains("data has 10 bytes, 13 needed"),
            "{e}"
        );
    }

    #[test]
    fn letterbox_centres_a_wide_picture_and_converts_to_bgr() {
        // 4x2 red-ish picture into 4x4: scale 1, pad_y 1, rows 0 and 3 are border.
        let img = RgbImage::from_pixel(4, 2, image::Rgb([200, 100, 50]));
        let f = letterbox_image(&img, 4, 4, 114).unwrap();
        assert_eq!((f.width, f.height, f.stride), (4, 4, 12));
        assert_eq!(f.letterbox, Letterbox::fit(4, 2, 4, 4));
        assert_eq!((f.letterbox.pad_x, f.letterbox.pad_y), (0.0, 1.0));
        assert_eq!(f.bgr_at(0, 0), [114, 114, 114]);
        assert_eq!(f.bgr_at(3, 1), [50, 100, 200]);
        assert_eq!(f.bgr_at(0, 2), [50, 100, 200]);
        assert_eq!(f.bgr_at(2, 3), [114, 114, 114]);
        assert_eq!(f.camera.as_str(), "image");
    }

    #[test]
    fn letterbox_scales_a_tall_picture_down() {
        let img = RgbImage::from_pixel(50, 100, image::Rgb([1, 2, 3]));
        let f = letterbox_image(&img, 40, 40, 0).unwrap();
        // scale 0.4: inner 20x40 centred, pad_x 10.
        assert_eq!(f.letterbox.pad_x, 10.0);
        assert_eq!(f.bgr_at(9, 20), [0, 0, 0]);
        assert_eq!(f.bgr_at(10, 20), [3, 2, 1]);
        assert_eq!(f.bgr_at(29, 39), [3, 2, 1]);
        assert_eq!(f.bgr_at(30, 0), [0, 0, 0]);
    }

    #[test]
    fn empty_picture_is_an_error() {
        assert!(letterbox_image(&RgbImage::new(0, 5), 4, 4, 0).is_err());
    }
}
