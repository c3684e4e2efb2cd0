//! Finds and loads the ONNX Runtime shared library (I/O: the file system).
//!
//! `ort` is built with `load-dynamic`: the library is loaded at run time from `ORT_DYLIB_PATH`,
//! or, when that is unset, from the project-local virtual environment that `./dev setup` creates
//! (`.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so*`).

use std::path::PathBuf;

use anyhow::bail;

/// The library to load, or an error saying how to get one.
pub fn locate_onnxruntime() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        bail!(
            "ORT_DYLIB_PATH={} is not a file; point it at libonnxruntime.so (run `./dev setup` to get one)",
            p.display()
        );
    }
    if let Ok(rd) = std::fs::read_dir(".venv/lib") {
        for py in rd.flatten() {
            let capi = py.path().join("site-packages/onnxruntime/capi");
            if let Ok(files) = std::fs::read_dir(&capi) {
                let mut libs: Vec<PathBuf> = files
                    .flatten()
                    .map(|f| f.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with("libonnxruntime.so"))
                    })
                    .collect();
                libs.sort();
                if let Some(p) = libs.pop() {
                    return Ok(p);
                }
            }
        }
    }
    bail!(
        "ONNX Runtime library not found: set ORT_DYLIB_PATH to libonnxruntime.so, or run `./dev setup` in the checkout"
    )
}

/// Loads ONNX Runtime (once per process; later calls return at once).
pub fn init_onnxruntime() -> anyhow::Result<()> {
    let path = locate_onnxruntime()?;
    sharpeyes_inference::init_runtime(&path)?;
    Ok(())
}

/// The `MALLOC_ARENA_MAX` this process runs with, set by [`limit_malloc_arenas`].
static MALLOC_ARENAS: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// How many malloc arenas the process uses unless the operator sets `MALLOC_ARENA_MAX`.
pub const MALLOC_ARENA_MAX: i32 = 2;

/// Caps glibc's malloc arenas at [`MALLOC_ARENA_MAX`] unless the environment sets
/// `MALLOC_ARENA_MAX` (which glibc then reads itself). Call first thing in `main`, before any
/// thread starts.
///
/// Why: glibc gives threads that contend for the heap arenas of their own, up to 8 per core.
/// A pipeline runs ~3 threads per camera (network, GStreamer, the camera loop), and memory freed
/// in one of many half-empty arenas is seldom handed back, so resident memory creeps up. The
/// 1 h / 32-camera soak (benches/README.md "Soak") grew +5.31 % with glibc's default and +1.04 %
/// with 2 arenas, at the same CPU per camera (2.05 %).
pub fn limit_malloc_arenas() {
    let setting = match std::env::var("MALLOC_ARENA_MAX") {
        Ok(v) => format!("{v} (MALLOC_ARENA_MAX)"),
        Err(_) => set_arenas(MALLOC_ARENA_MAX),
    };
    let _ = MALLOC_ARENAS.set(setting);
}

/// What [`limit_malloc_arenas`] settled on, for the bench's settings: `2`, `4
/// (MALLOC_ARENA_MAX)`, or why it could not be set.
pub fn malloc_arenas() -> &'static str {
    MALLOC_ARENAS.get().map_or("glibc default", String::as_str)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_arenas(n: i32) -> String {
    // SAFETY: mallopt only changes a malloc tunable; called before other threads exist.
    if unsafe { libc::mallopt(libc::M_ARENA_MAX, n) } == 1 {
        n.to_string()
    } else {
        "glibc default (mallopt refused)".into()
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_arenas(_: i32) -> String {
    "not glibc: the allocator's default".into()
}
