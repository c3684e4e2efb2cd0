//! Test support shared by every crate's tests (feature `test-util`): finding the shared test
//! assets, or saying why a test skips. Reads the file system; never used by production code.

use std::path::PathBuf;

/// The shared test assets: `$SHARPEYES_TEST_ASSETS`, else `../shared/assets` beside the
/// workspace root.
pub fn assets_root() -> PathBuf {
    match std::env::var_os("SHARPEYES_TEST_ASSETS") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/assets")),
    }
}

/// The asset at `rel` (e.g. `videos/people_walking_indoor_intel.mp4`), or `None` after printing
/// `SKIP: …` to stderr, so a test can `let Some(p) = asset(..) else { return };`.
pub fn asset(rel: &str) -> Option<PathBuf> {
    let p = assets_root().join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "SKIP: test asset {} not found (set SHARPEYES_TEST_ASSETS)",
            p.display()
        );
        None
    }
}

/// A `width x height` BGR frame of camera `camera` at time 0 whose pixel (x, y) is grey
/// `fill(x, y)`, holding a picture of `src` size letterboxed into it.
pub fn grey_frame(
    camera: &str,
    (width, height): (u32, u32),
    src: (u32, u32),
    fill: impl Fn(u32, u32) -> u8,
) -> crate::Frame {
    let mut data = vec![0u8; (width * height * 3) as usize];
    for y in 0..height {
        for x in 0..width {
            let i = ((y * width + x) * 3) as usize;
            data[i..i + 3].fill(fill(x, y));
        }
    }
    crate::Frame {
        camera: crate::CameraId::new(camera).expect("a valid test camera id"),
        seq: 0,
        time: crate::UnixMillis(0),
        width,
        height,
        stride: (width * 3) as usize,
        format: crate::PixelFormat::Bgr24,
        data: std::sync::Arc::from(data),
        letterbox: crate::Letterbox::fit(src.0, src.1, width, height),
    }
}
