//! Helpers shared by the end-to-end test files: the real binary, run with absolute paths to the
//! models, assets and ONNX Runtime, in a scratch directory.
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::Command;

use sharpeyes_core::Alert;

pub const BIN: &str = env!("CARGO_BIN_EXE_sharpeyes");

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn assets() -> PathBuf {
    sharpeyes_core::testing::assets_root()
}

/// A scratch directory for one test, emptied first.
pub fn scratch(name: &str) -> PathBuf {
    let d = repo().join("target/test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// The binary, run in `cwd`, with absolute paths to the model cache, assets and ONNX Runtime.
pub fn sharpeyes(cwd: &Path) -> Option<Command> {
    let ort = match std::env::current_dir()
        .ok()
        .and_then(|_| sharpeyes::runtime::locate_onnxruntime().ok())
    {
        Some(p) => p.canonicalize().unwrap_or(p),
        None => {
            eprintln!(
                "SKIP: ONNX Runtime library not found (set ORT_DYLIB_PATH or run ./dev setup)"
            );
            return None;
        }
    };
    let mut c = Command::new(BIN);
    c.current_dir(cwd)
        .env("ORT_DYLIB_PATH", ort)
        .env("SHARPEYES_MODELS", repo().join("models"))
        .env("SHARPEYES_MODEL_CACHE", repo().join("models/.cache"))
        .env("SHARPEYES_ASSETS", assets().join("models"))
        .env("SHARPEYES_CLIPS", assets().join("videos"))
        .env("RUST_LOG", "info");
    Some(c)
}

pub fn read_alerts(path: &Path) -> Vec<Alert> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad alert line {l}: {e}")))
        .collect()
}

/// The number after `key=` in a summary line.
pub fn summary_field(summary: &str, key: &str) -> u64 {
    summary
        .split(' ')
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in {summary}"))
}
