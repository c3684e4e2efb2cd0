//! Boxes and the letterbox mapping between model input and source picture. Pure.

use serde::{Deserialize, Serialize};

/// An axis-aligned box in pixels, `x1 <= x2`, `y1 <= y2`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl BBox {
    pub fn from_center(cx: f32, cy: f32, w: f32, h: f32) -> Self {
        Self {
            x1: cx - w / 2.0,
            y1: cy - h / 2.0,
            x2: cx + w / 2.0,
            y2: cy + h / 2.0,
        }
    }

    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    /// Intersection over union, 0 when either box is empty.
    pub fn iou(&self, other: &BBox) -> f32 {
        let ix = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let iy = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = ix * iy;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// This box clamped to `[0, width] x [0, height]`.
    pub fn clamp_to(&self, width: f32, height: f32) -> Self {
        Self {
            x1: self.x1.clamp(0.0, width),
            y1: self.y1.clamp(0.0, height),
            x2: self.x2.clamp(0.0, width),
            y2: self.y2.clamp(0.0, height),
        }
    }
}

/// How a source picture of `src_width x src_height` was placed into a model-sized canvas: scaled
/// by `scale` (same on both axes) and shifted by `pad_x`, `pad_y` pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Letterbox {
    pub src_width: u32,
    pub src_height: u32,
    pub scale: f32,
    pub pad_x: f32,
    pub pad_y: f32,
}

impl Letterbox {
    /// The placement that fits `src` into `dst` keeping the aspect ratio, centred. This is what
    /// GStreamer's `videoscale add-borders=true` does (up to rounding of the inner size).
    pub fn fit(src_width: u32, src_height: u32, dst_width: u32, dst_height: u32) -> Self {
        let scale =
            (dst_width as f32 / src_width as f32).min(dst_height as f32 / src_height as f32);
        let (w, h) = Self::inner_size_for(src_width, src_height, scale);
        Self {
            src_width,
            src_height,
            scale,
            pad_x: ((dst_width - w) / 2) as f32,
            pad_y: ((dst_height - h) / 2) as f32,
        }
    }

    fn inner_size_for(src_width: u32, src_height: u32, scale: f32) -> (u32, u32) {
        (
            ((src_width as f32 * scale).round() as u32).max(1),
            ((src_height as f32 * scale).round() as u32).max(1),
        )
    }

    /// Size in canvas pixels of the picture area (without the borders).
    pub fn inner_size(&self) -> (u32, u32) {
        Self::inner_size_for(self.src_width, self.src_height, self.scale)
    }

    /// Maps a box in canvas pixels to source pixels, clamped to the source picture.
    pub fn to_source(&self, b: &BBox) -> BBox {
        BBox {
            x1: (b.x1 - self.pad_x) / self.scale,
            y1: (b.y1 - self.pad_y) / self.scale,
            x2: (b.x2 - self.pad_x) / self.scale,
            y2: (b.y2 - self.pad_y) / self.scale,
        }
        .clamp_to(self.src_width as f32, self.src_height as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_half_overlapping_boxes() {
        let a = BBox {
            x1: 0.0,
            y1: 0.0,
            x2: 2.0,
            y2: 2.0,
        };
        let b = BBox {
            x1: 1.0,
            y1: 0.0,
            x2: 3.0,
            y2: 2.0,
        };
        assert!((a.iou(&b) - 2.0 / 6.0).abs() < 1e-6);
        assert_eq!(
            a.iou(&BBox {
                x1: 5.0,
                y1: 5.0,
                x2: 6.0,
                y2: 6.0
            }),
            0.0
        );
    }

    #[test]
    fn letterbox_maps_canvas_back_to_source() {
        // 768x432 into 416x416: scale 416/768, inner 416x234, pad_y 91.
        let lb = Letterbox::fit(768, 432, 416, 416);
        assert_eq!(lb.inner_size(), (416, 234));
        assert_eq!(lb.pad_x, 0.0);
        assert_eq!(lb.pad_y, 91.0);
        let b = lb.to_source(&BBox {
            x1: 0.0,
            y1: 91.0,
            x2: 416.0,
            y2: 325.0,
        });
        assert!((b.x2 - 768.0).abs() < 0.01 && (b.y2 - 432.0).abs() < 0.5 && b.y1.abs() < 0.01);
    }

    #[test]
    fn boxes_in_the_border_clamp_into_the_picture() {
        let lb = Letterbox::fit(768, 432, 416, 416);
        let b = lb.to_source(&BBox {
            x1: -10.0,
            y1: 0.0,
            x2: 50.0,
            y2: 416.0,
        });
        assert_eq!((b.x1, b.y1, b.y2), (0.0, 0.0, 432.0));
    }
}
