//! Annotated snapshots carry readable labels: a 640x360 JPEG written by
//! `SnapshotWriter::write_annotated` shows the label's text in a tag on the box's top edge, and
//! nothing there without a label. Through the public API and a real JPEG encode and decode;
//! deterministic (no clock, no randomness, the font compiled in).

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use image::RgbImage;
use sharpeyes_sim::TempDir;
use sharpeyes_delivery::{Mark, SnapshotWriter};
use sharpeyes_core::{BBox, CameraId, Frame, Letterbox, PixelFormat, UnixMillis};

/// Background of the picture, as RGB: a dark blue-grey that is neither the tag's red nor the
/// text's white.
const BACKGROUND: [u8; 3] = [30, 40, 90];
/// The colour of a critical alert's marks (as `sharpeyes` draws them): white text on it.
const RED: [u8; 3] = [230, 30, 30];

/// A 1280x720 camera picture letterboxed into a 640x640 canvas: the snapshot is 640x360 and a
/// source pixel (x, y) lands on (x / 2, y / 2).
fn frame() -> Frame {
    let (w, h) = (640u32, 640u32);
    let lb = Letterbox::fit(1280, 720, w, h);
    let stride = w as usize * 3;
    let bgr = [BACKGROUND[2], BACKGROUND[1], BACKGROUND[0]];
    let data: Vec<u8> = bgr.repeat(w as usize * h as usize);
    Frame {
        camera: CameraId::new("gate-east").expect("valid id"),
        seq: 1,
        time: UnixMillis(1_000),
        width: w,
        height: h,
        stride,
        format: PixelFormat::Bgr24,
        data: Arc::from(data),
        letterbox: lb,
    }
}

/// A box from (100, 100) to (300, 325) in the snapshot, far from its edges: room above it for
/// the tag (text of 360 / 27 = 13.3 pixels plus padding: about 18 pixels tall).
fn mark(label: Option<&str>) -> Mark {
    Mark {
        bbox: BBox {
            x1: 200.0,
            y1: 200.0,
            x2: 600.0,
            y2: 650.0,
        },
        label: label.map(str::to_owned),
        colour: RED,
        keypoints: Vec::new(),
    }
}

fn write(dir: &Path, alert_id: &str, label: Option<&str>) -> (Vec<u8>, RgbImage) {
    let path = SnapshotWriter::new(dir)
        .write_annotated(alert_id, &frame(), &[mark(label)])
        .expect("snapshot written");
    assert_eq!(path, dir.join("gate-east").join(format!("{alert_id}.jpg")));
    let bytes = std::fs::read(&path).expect("snapshot read");
    let img = image::load_from_memory(&bytes)
        .expect("snapshot decodes")
        .to_rgb8();
    assert_eq!(img.dimensions(), (640, 360));
    (bytes, img)
}

/// Pixels in columns `xs` and rows `ys` for which `is` holds.
fn count(img: &RgbImage, xs: Range<u32>, ys: Range<u32>, is: impl Fn([u8; 3]) -> bool) -> usize {
    ys.flat_map(|y| xs.clone().map(move |x| img.get_pixel(x, y).0))
        .filter(|&p| is(p))
        .count()
}

/// Text pixels: white (the glyphs), with a margin for JPEG's rounding.
fn white(p: [u8; 3]) -> bool {
    p.iter().all(|&c| c > 170)
}

/// The tag's red, with a margin for JPEG's rounding.
fn red(p: [u8; 3]) -> bool {
    p[0] > 150 && p[1] < 100 && p[2] < 100
}

/// Where the label's text must be: above the box's top edge (row 100), from its left edge
/// (column 100), as wide as "person 87%" at least.
const TEXT_COLUMNS: Range<u32> = 102..170;
const TEXT_ROWS: Range<u32> = 84..99;

#[test]
fn snapshot_of_a_labelled_box_shows_its_text_in_a_tag_above_the_box() {
    let tmp = TempDir::with_prefix("sharpeyes-snapshot-labels").expect("temp dir");
    let (_, img) = write(tmp.path(), "labelled", Some("person 87% #12"));
    let text = count(&img, TEXT_COLUMNS, TEXT_ROWS, white);
    let tag = count(&img, TEXT_COLUMNS, TEXT_ROWS, red);
    assert!(text >= 60, "white text pixels in the label area: {text}");
    assert!(tag >= 300, "red tag pixels around the text: {tag}");
    // The text is only there: not elsewhere above the box, not inside it.
    assert_eq!(count(&img, 0..640, 0..80, white), 0, "above the tag");
    assert_eq!(count(&img, 0..640, 104..360, white), 0, "below the tag");
    // The box is still drawn: its left edge (columns 100 and 101) is red.
    assert!(
        red(img.get_pixel(100, 200).0),
        "{:?}",
        img.get_pixel(100, 200)
    );
}

#[test]
fn snapshot_of_a_box_without_a_label_has_no_text_and_no_tag() {
    let tmp = TempDir::with_prefix("sharpeyes-snapshot-labels").expect("temp dir");
    let (_, img) = write(tmp.path(), "unlabelled", None);
    assert_eq!(count(&img, TEXT_COLUMNS, TEXT_ROWS, white), 0, "no text");
    assert_eq!(count(&img, TEXT_COLUMNS, TEXT_ROWS, red), 0, "no tag");
    assert!(red(img.get_pixel(100, 200).0), "the box is drawn");
}

#[test]
fn snapshot_label_pixels_follow_the_text_and_are_the_same_every_time() {
    let tmp = TempDir::with_prefix("sharpeyes-snapshot-labels").expect("temp dir");
    let (first, img) = write(tmp.path(), "a-1", Some("person 87% #12"));
    let (again, _) = write(tmp.path(), "a-2", Some("person 87% #12"));
    assert!(first == again, "same marks, same JPEG bytes");
    let (_, other) = write(tmp.path(), "a-3", Some("car 40% #3"));
    let differing = TEXT_ROWS
        .flat_map(|y| TEXT_COLUMNS.map(move |x| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y) != other.get_pixel(x, y))
        .count();
    assert!(
        differing >= 100,
        "another text, other pixels in the label area: {differing} differ"
    );
}
