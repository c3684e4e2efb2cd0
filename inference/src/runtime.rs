//! Loading ONNX Runtime (I/O: opens a shared library). The library is loaded at run time
//! (`ort`'s `load-dynamic`), from `ORT_DYLIB_PATH` ([`environment`]) or from a path the caller
//! found ([`init_runtime`]). Never panics when the library is missing: the error says how to fix it.
//!
//! ONNX Runtime allows one environment per process, and `ort` only keeps a weak reference to it,
//! so the environment lives in a static here for the life of the process. Its log messages are
//! forwarded to `tracing` (target `ort`), ONNX Runtime's warnings and above, at our levels
//! (`tracing_level`): its warnings are mostly notes to model authors ("Removing initializer …
//! should be removed from the model"), which an operator cannot act on, so they arrive at DEBUG.

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

/// ONNX Runtime warnings that an operator should see (at INFO), matched by a piece of their
/// text. Kept short: a message belongs here only if it changes what someone running cameras
/// would do or expect.
/// - nodes assigned to the CPU although a GPU provider was asked for: the reason a GPU
///   deployment runs slower than expected (said once per session, at start).
const OPERATOR_WARNINGS: &[&str] = &["were not assigned to the preferred execution providers"];

/// The `tracing` level for an ONNX Runtime message. ONNX Runtime's ERROR and FATAL stay ERROR
/// (a model or provider failure someone must look at); its WARNING becomes DEBUG (graph
/// optimiser notes, unused initialisers: facts about the model file, not about the running
/// system), or INFO for the few in [`OPERATOR_WARNINGS`]; its INFO becomes DEBUG and VERBOSE
/// TRACE. Pure.
fn tracing_level(level: LogLevel, message: &str) -> tracing::Level {
    match level {
        LogLevel::Verbose => tracing::Level::TRACE,
        LogLevel::Info => tracing::Level::DEBUG,
        LogLevel::Warning if OPERATOR_WARNINGS.iter().any(|w| message.contains(w)) => {
            tracing::Level::INFO
        }
        LogLevel::Warning => tracing::Level::DEBUG,
        LogLevel::Error | LogLevel::Fatal => tracing::Level::ERROR,
    }
}

fn forward_to_tracing(level: LogLevel, category: &str, id: &str, location: &str, message: &str) {
    // `tracing`'s macros take the level as a constant, hence one call per level.
    match tracing_level(level, message) {
        tracing::Level::ERROR => {
            tracing::error!(target: "ort", category, id, location, "{message}")
        }
        tracing::Level::INFO => tracing::info!(target: "ort", category, id, location, "{message}"),
        tracing::Level::DEBUG => {
            tracing::debug!(target: "ort", category, id, location, "{message}")
        }
        // TRACE; `tracing_level` never says WARN.
        _ => tracing::trace!(target: "ort", category, id, location, "{message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onnx_runtime_warnings_are_debug_except_the_operator_ones_and_errors_stay_errors() {
        use tracing::Level;
        let housekeeping = "Removing initializer 'output0_scale'. It is not used by any node and \
                            should be removed from the model.";
        let cpu_nodes = "Some nodes were not assigned to the preferred execution providers which \
                         may or may not have an negative impact on performance.";
        assert_eq!(tracing_level(LogLevel::Warning, housekeeping), Level::DEBUG);
        assert_eq!(tracing_level(LogLevel::Warning, cpu_nodes), Level::INFO);
        assert_eq!(tracing_level(LogLevel::Error, housekeeping), Level::ERROR);
        assert_eq!(tracing_level(LogLevel::Fatal, "x"), Level::ERROR);
        assert_eq!(tracing_level(LogLevel::Info, cpu_nodes), Level::DEBUG);
        assert_eq!(tracing_level(LogLevel::Verbose, "x"), Level::TRACE);
        // Nothing ONNX Runtime says arrives as a warning of ours.
        for level in [
            LogLevel::Verbose,
            LogLevel::Info,
            LogLevel::Warning,
            LogLevel::Error,
            LogLevel::Fatal,
        ] {
            for message in [housekeeping, cpu_nodes, ""] {
                assert_ne!(tracing_level(level, message), Level::WARN);
            }
        }
    }

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
