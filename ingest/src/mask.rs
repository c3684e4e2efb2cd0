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
        let x0 = poly
            .iter()
            .map(|p| p[0])
            .fold(f32::INFINITY, f32::min)
            .floor()
            .max(0.0) as u32;
        let x1 = (poly
            .iter()
            .map(|p| p[0])
            .fold(f32::NEG_INFINITY, f32::max)
            .ceil() as u32)
            .min(w);
        let y0 = poly
            .iter()
            .map(|p| p[1])
            .fold(f32::INFINITY, f32::min)
            .floor()
            .max(0.0) as u32;
        let y1 = (poly
            .iter()
            .map(|p| p[1])
            .fold(f32::NEG_INFINITY, f32::max)
            .ceil() as u32)
            .min(h);
        for y in y0..y1 {
            for x in x0..x1 {
                if inside(&poly, x as f32 + 0.5, y as f32 + 0.5) {
                    let i = y as usize * stride + x as usize * 3;
                    data[i..i + 3].fill(0);
                }
            }
        }
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
}
