//! A region of a frame's picture, letterboxed into a canvas of another size: a second model's
//! input from the frame decoded for the first (the pose model's 640x640 from a 416x416 frame or
//! the other way round), or a person crop for a pose model. Pure: no I/O.
//!
//! Bilinear, straight from the frame's canvas pixels into the new canvas, with per-column and
//! per-row sample positions computed once; no intermediate image.

use std::sync::Arc;

use sharpeyes_core::{BBox, Detection, Frame, Letterbox, PixelFormat};

use crate::error::InferenceError;

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
) -> Result<Crop, InferenceError> {
    let invalid = |message: String| InferenceError::InvalidFrame {
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
    // The picture's extent in the frame's canvas, for clamping samples.
    let (pic_w, pic_h) = lb.inner_size();
    let pic = (
        lb.pad_x,
        lb.pad_y,
        (lb.pad_x + pic_w as f32 - 1.0).min(frame.width as f32 - 1.0),
        (lb.pad_y + pic_h as f32 - 1.0).min(frame.height as f32 - 1.0),
    );
    // Output pixel centre -> region source pixels -> the frame's canvas pixel index space.
    let taps = |n: u32, origin: f32, pad_in: f32, lo: f32, hi: f32| -> Vec<Tap> {
        (0..n)
            .map(|i| {
                let src = origin + (i as f32 + 0.5) / out_lb.scale;
                let c = (src * lb.scale + pad_in - 0.5).clamp(lo, hi);
                let i0 = c.floor();
                let w1 = c - i0;
                let i0 = i0 as usize;
                let i1 = if w1 > 0.0 { i0 + 1 } else { i0 };
                Tap { i0, i1, w1 }
            })
            .collect()
    };
    let xs = taps(inner_w, x1, lb.pad_x, pic.0, pic.2);
    let ys = taps(inner_h, y1, lb.pad_y, pic.1, pic.3);

    let stride = width as usize * 3;
    let mut data = vec![pad; stride * height as usize];
    let (ox, oy) = (out_lb.pad_x as usize, out_lb.pad_y as usize);
    let src = &frame.data[..];
    for (y, ty) in ys.iter().enumerate() {
        let row0 = &src[ty.i0 * frame.stride..];
        let row1 = &src[ty.i1 * frame.stride..];
        let start = (oy + y) * stride + ox * 3;
        let out = &mut data[start..start + inner_w as usize * 3];
        for (px, tx) in out.chunks_exact_mut(3).zip(&xs) {
            let (a, b) = (tx.i0 * 3, tx.i1 * 3);
            for c in 0..3 {
                let top = row0[a + c] as f32 * (1.0 - tx.w1) + row0[b + c] as f32 * tx.w1;
                let bottom = row1[a + c] as f32 * (1.0 - tx.w1) + row1[b + c] as f32 * tx.w1;
                px[c] = (top * (1.0 - ty.w1) + bottom * ty.w1 + 0.5) as u8;
            }
        }
    }
    Ok(Crop {
        frame: Frame {
            camera: frame.camera.clone(),
            seq: frame.seq,
            time: frame.time,
            width,
            height,
            stride,
            format: PixelFormat::Bgr24,
            data: Arc::from(data),
            letterbox: out_lb,
        },
        origin: (x1, y1),
    })
}

/// One output row's or column's two source samples and the weight of the second.
#[derive(Clone, Copy, Debug)]
struct Tap {
    i0: usize,
    i1: usize,
    w1: f32,
}

#[cfg(test)]
mod tests {
    use sharpeyes_core::{CameraId, Keypoint, UnixMillis};

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
        // Output x = 5 is source x 2.75 - 0.5 = 2.25: between 20 and 30.
        let [b, _, r] = c.frame.bgr_at(5, 20);
        assert_eq!((b, r), (23, 7));
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
