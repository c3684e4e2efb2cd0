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
