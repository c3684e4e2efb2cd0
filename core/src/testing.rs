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
