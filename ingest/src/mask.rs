//! Privacy masks: polygons of the camera picture blacked out in every frame before detection
//! and snapshots see it, so a neighbour's window or yard is never analysed or stored. Pure.

use std::sync::Arc;

use sharpeyes_core::Frame;

/// A polygon in normalised picture coordinates (0..1 of the source width and height), >= 3
/// points, any winding.
pub type MaskPolygon = Vec<[f32; 2]>;

/// Even-odd point-in-polygon test (W. R. Franklin's crossing rule).
fn inside(poly: &[[f32; 2]], x: f32, y: f32) -> bool {
    let mut c = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let ([xi, yi], [xj, yj]) = (poly[i], poly[j]);
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            c = !c;
        }
        j = i;
    }
    c
}

/// Blacks out `masks` in `frame` (pixel centres inside a polygon become 0). Copies the pixel
/// buffer only if it is shared.
pub fn apply_privacy_masks(frame: &mut Frame, masks: &[MaskPolygon]) {
    let masks: Vec<&MaskPolygon> = masks.iter().filter(|m| m.len() >= 3).collect();
    if masks.is_empty() {
        return;
    }
    let lb = frame.letterbox;
    let (iw, ih) = lb.inner_size();
    // Normalised picture coordinates → canvas pixels.
    let to_canvas = |p: &[f32; 2]| [lb.pad_x + p[0] * iw as f32, lb.pad_y + p[1] * ih as f32];
    let (w, h, stride) = (frame.width, frame.height, frame.stride);
    if Arc::get_mut(&mut frame.data).is_none() {
        frame.data = Arc::from(&frame.data[..]);
    }
    let data = Arc::get_mut(&mut frame.data).expect("the buffer was just made unique");
    for m in masks {
        let poly: Vec<[f32; 2]> = m.iter().map(to_canvas).collect();
        for_each_inside(&poly, w, h, |x, y| {
            let i = y as usize * stride + x as usize * 3;
            data[i..i + 3].fill(0);
        });
    }
}

/// Calls `each(x, y)` for every pixel of a `width x height` grid whose centre lies inside
/// `poly` (in that grid's pixels): the one rasterisation of a mask, for frames and for planes.
fn for_each_inside(poly: &[[f32; 2]], width: u32, height: u32, mut each: impl FnMut(u32, u32)) {
    let bound =
        |axis: usize, f: fn(f32, f32) -> f32, init: f32| poly.iter().map(|p| p[axis]).fold(init, f);
    let x0 = bound(0, f32::min, f32::INFINITY).floor().max(0.0) as u32;
    let x1 = (bound(0, f32::max, f32::NEG_INFINITY).ceil().max(0.0) as u32).min(width);
    let y0 = bound(1, f32::min, f32::INFINITY).floor().max(0.0) as u32;
    let y1 = (bound(1, f32::max, f32::NEG_INFINITY).ceil().max(0.0) as u32).min(height);
    for y in y0..y1 {
        for x in x0..x1 {
            if inside(poly, x as f32 + 0.5, y as f32 + 0.5) {
                each(x, y);
            }
        }
    }
}

/// Sets every sample of one picture plane (`width x height` samples, rows `stride` bytes apart)
/// whose centre lies inside one of `masks` (normalised to the whole plane) to `value`. The
/// event clips' re-encode uses it on each plane of a decoded I420 picture (luma 16 and chroma
/// 128: black), before the encoder sees it.
pub fn fill_masked_plane(
    plane: &mut [u8],
    width: u32,
    height: u32,
    stride: usize,
    masks: &[MaskPolygon],
    value: u8,
) {
    for m in masks.iter().filter(|m| m.len() >= 3) {
        let poly: Vec<[f32; 2]> = m
            .iter()
            .map(|p| [p[0] * width as f32, p[1] * height as f32])
            .collect();
        for_each_inside(&poly, width, height, |x, y| {
            if let Some(v) = plane.get_mut(y as usize * stride + x as usize) {
                *v = value;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn white(src_w: u32, src_h: u32) -> Frame {
        sharpeyes_core::testing::grey_frame("c", (40, 40), (src_w, src_h), |_, _| 255)
    }

    #[test]
    fn masks_the_left_half_of_the_picture_only() {
        let mut f = white(40, 40);
        apply_privacy_masks(
            &mut f,
            &[vec![[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]],
        );
        assert_eq!(f.bgr_at(0, 0), [0, 0, 0]);
        assert_eq!(f.bgr_at(19, 39), [0, 0, 0]);
        assert_eq!(f.bgr_at(20, 0), [255, 255, 255]);
        assert_eq!(f.bgr_at(39, 39), [255, 255, 255]);
    }

    #[test]
    fn mask_coordinates_follow_the_letterbox() {
        // A 2:1 picture in a square canvas: rows 10..30 hold the picture.
        let mut f = white(80, 40);
        apply_privacy_masks(
            &mut f,
            &[vec![[0.0, 0.0], [1.0, 0.0], [1.0, 0.5], [0.0, 0.5]]],
        );
        assert_eq!(f.bgr_at(20, 5), [255, 255, 255], "border untouched");
        assert_eq!(
            f.bgr_at(20, 12),
            [0, 0, 0],
            "top half of the picture masked"
        );
        assert_eq!(f.bgr_at(20, 25), [255, 255, 255], "bottom half kept");
    }

    #[test]
    fn a_shared_buffer_is_copied_not_changed_under_other_readers() {
        let mut f = white(40, 40);
        let other = f.data.clone();
        apply_privacy_masks(&mut f, &[vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]]);
        assert!(other.iter().all(|&v| v == 255));
        assert_eq!(f.bgr_at(39, 0), [0, 0, 0]);
    }

    #[test]
    fn fills_the_masked_samples_of_a_plane_only() {
        // 8x4 plane with 2 bytes of row padding; mask the right half.
        let mut plane = vec![200u8; 10 * 4];
        fill_masked_plane(
            &mut plane,
            8,
            4,
            10,
            &[vec![[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]],
            16,
        );
        for y in 0..4 {
            let row = &plane[y * 10..y * 10 + 10];
            assert_eq!(&row[..4], &[200; 4], "left half kept");
            assert_eq!(&row[4..8], &[16; 4], "right half masked");
            assert_eq!(&row[8..], &[200; 2], "padding untouched");
        }
    }
}
