//! Loading ONNX Runtime (I/O: opens a shared library). The library is loaded at run time
//! (`ort`'s `load-dynamic`), from `ORT_DYLIB_PATH` ([`environment`]) or from a path the caller
//! found ([`init_runtime`]). Never panics when the library is missing: the error says how to fix it.
//!
//! ONNX Runtime allows one environment per process, and `ort` only keeps a weak reference to it,
//! so the environment lives in a static here for the life of the process. Its log messages are
//! forwarded to `tracing` (target `ort`), warnings and above.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use ort::environment::Environment;
use ort::logging::LogLevel;

use crate::error::InferenceError;

/// Environment variable naming the ONNX Runtime shared library (`libonnxruntime.so.*`).
pub const ORT_DYLIB_PATH_VAR: &str = "ORT_DYLIB_PATH";

struct Loaded {
    environment: Environment,
    /// The path as the caller gave it (compared on later calls).
    library: PathBuf,
    /// The same file, canonicalised (shown in logs).
    absolute: PathBuf,
}

static RUNTIME: OnceLock<Loaded> = OnceLock::new();
/// Serialises first-time initialisation (ONNX Runtime refuses a second environment).
static INIT_LOCK: Mutex<()> = Mutex::new(());

/// The process's ONNX Runtime environment, loading the library named by `ORT_DYLIB_PATH` on the
/// first call (later calls return the same environment, however it was created).
pub fn environment() -> Result<Environment, InferenceError> {
    if let Some(loaded) = RUNTIME.get() {
        return Ok(loaded.environment.clone());
    }
    let path = match std::env::var_os(ORT_DYLIB_PATH_VAR) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => {
            return Err(InferenceError::RuntimeLibraryMissing {
                reason: format!("{ORT_DYLIB_PATH_VAR} is not set"),
            });
        }
    };
    init_runtime(&path)
}

/// Loads ONNX Runtime from `library` (a `libonnxruntime.so.*` file) and creates the process's
/// environment. If one already exists it is returned, and `library` is ignored (one runtime per
/// process; a warning is logged if it differs from the one loaded).
pub fn init_runtime(library: &Path) -> Result<Environment, InferenceError> {
    // The lock only guards initialisation; a poisoned lock means an earlier attempt panicked
    // half-way, which `ort` tolerates (its own state is behind once-cells), so carry on.
    let _guard = INIT_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(loaded) = RUNTIME.get() {
        if loaded.library != library {
            tracing::warn!(
                loaded = %loaded.library.display(),
                requested = %library.display(),
                "ONNX Runtime is already loaded; ignoring the other library"
            );
        }
        return Ok(loaded.environment.clone());
    }

    // An absolute, existing path: `ort` would otherwise resolve a relative one against the
    // executable's directory, and a missing file deserves the friendlier error.
    let absolute =
        std::fs::canonicalize(library).map_err(|e| InferenceError::RuntimeLibraryMissing {
            reason: format!(
                "{} does not exist or cannot be read ({e})",
                library.display()
            ),
        })?;
    if !absolute.is_file() {
        return Err(InferenceError::RuntimeLibraryMissing {
            reason: format!("{} is not a file", library.display()),
        });
    }

    let builder = ort::init_from(&absolute).map_err(|e| InferenceError::RuntimeLoad {
        path: absolute.clone(),
        message: e.to_string(),
    })?;
    let environment = builder
        .with_name("sharpeyes")
        .with_telemetry(false)
        .with_logger(Arc::new(forward_to_tracing))
        .build()
        .map_err(|source| InferenceError::Environment { source })?;
    // The custom logger is registered at verbose level; filter inside ONNX Runtime instead of
    // formatting messages nobody reads.
    environment.set_log_level(LogLevel::Warning);
    tracing::info!(library = %absolute.display(), "ONNX Runtime loaded");

    let loaded = Loaded {
        environment: environment.clone(),
        library: library.to_path_buf(),
        absolute,
    };
    // Cannot fail: we hold the lock and checked that it was empty.
    let _ = RUNTIME.set(loaded);
    Ok(environment)
}

/// The ONNX Runtime library this process loaded (canonical path), or `None` before
/// [`environment`] or [`init_runtime`] succeeded.
pub fn loaded_library() -> Option<&'static Path> {
    RUNTIME.get().map(|loaded| loaded.absolute.as_path())
}

fn forward_to_tracing(level: LogLevel, category: &str, id: &str, location: &str, message: &str) {
    match level {
        LogLevel::Verbose => tracing::trace!(target: "ort", category, id, location, "{message}"),
        LogLevel::Info => tracing::debug!(target: "ort", category, id, location, "{message}"),
        LogLevel::Warning => tracing::warn!(target: "ort", category, id, location, "{message}"),
        LogLevel::Error | LogLevel::Fatal => {
            tracing::error!(target: "ort", category, id, location, "{message}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_library_file_is_a_clear_error_not_a_panic() {
        match init_runtime(Path::new("/nonexistent/libonnxruntime.so")) {
            // Another test already loaded the runtime: the existing environment is returned.
            Ok(_) => assert!(RUNTIME.get().is_some()),
            Err(e) => {
                let text = e.to_string();
                assert!(
                    text.contains("/nonexistent/libonnxruntime.so does not exist"),
                    "{text}"
                );
                assert!(text.contains("ORT_DYLIB_PATH"), "{text}");
            }
        }
    }

    #[test]
    fn file_that_is_not_a_library_is_a_load_error() {
        let not_a_library = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
        match init_runtime(not_a_library) {
            Ok(_) => assert!(RUNTIME.get().is_some()),
            Err(e) => {
                assert!(matches!(e, InferenceError::RuntimeLoad { .. }), "{e:?}");
                assert!(
                    e.to_string().starts_with("cannot load ONNX Runtime from /"),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn environment_without_the_variable_says_how_to_fix_it() {
        if std::env::var_os(ORT_DYLIB_PATH_VAR).is_some() {
            eprintln!("SKIP: ORT_DYLIB_PATH is set; this checks the error when it is not");
            return;
        }
        let e = environment().unwrap_err().to_string();
        assert!(e.contains("ORT_DYLIB_PATH is not set"), "{e}");
        assert!(
            e.contains("Set ORT_DYLIB_PATH to the path of libonnxruntime.so"),
            "{e}"
        );
    }
}
