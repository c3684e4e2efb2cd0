//! Resolves a camera's [`SecretRef`] to its password at connect time (I/O: the environment or
//! a file). Resolving late means a rotated password is picked up at the next reconnect without
//! touching the camera file. Errors name the variable or the file, never the value.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use super::config::SecretRef;

/// A password. `Debug` and `Display` print `***`; read it with [`Secret::expose`] only where
/// it is handed to the RTSP client.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The password itself. Never log or format the result.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Why a password could not be found. Never holds the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {var} is not set")]
    EnvMissing { var: String },
    #[error("environment variable {var} is not valid UTF-8")]
    EnvNotUnicode { var: String },
    #[error("cannot read password file {}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("password file {} is not UTF-8 text", path.display())]
    FileNotUnicode { path: PathBuf },
    #[error("the password in {what} is empty")]
    Empty { what: String },
}

impl SecretError {
    /// True when trying again later may help (a file on a network share, a variable set by a
    /// supervisor that restarts us): every case is, since the operator can fix it at any time.
    pub fn is_transient(&self) -> bool {
        true
    }
}

/// Reads the password from the process environment or the file.
pub fn resolve(secret: &SecretRef) -> Result<Secret, SecretError> {
    resolve_with(secret, |var| std::env::var_os(var))
}

/// [`resolve`] with the environment passed in (tests; Rust 2024 makes `set_var` unsafe).
pub fn resolve_with(
    secret: &SecretRef,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<Secret, SecretError> {
    let (value, what) = match secret {
        SecretRef::Env(var) => {
            let value = env(var).ok_or_else(|| SecretError::EnvMissing { var: var.clone() })?;
            let value = value
                .into_string()
                .map_err(|_| SecretError::EnvNotUnicode { var: var.clone() })?;
            (value, format!("environment variable {var}"))
        }
        SecretRef::File(path) => {
            let bytes = std::fs::read(path).map_err(|source| SecretError::File {
                path: path.clone(),
                source,
            })?;
            let value = String::from_utf8(bytes)
                .map_err(|_| SecretError::FileNotUnicode { path: path.clone() })?;
            (value, format!("password file {}", path.display()))
        }
    };
    let value = trim_one_newline(value);
    if value.is_empty() {
        return Err(SecretError::Empty { what });
    }
    Ok(Secret(value))
}

/// Drops one trailing `\n` or `\r\n` (what `echo pw > file` adds), nothing else: spaces may be
/// part of a password.
fn trim_one_newline(mut s: String) -> String {
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(tag: &str, contents: &[u8]) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("sharpeyes-secrets-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("pw");
        std::fs::write(&path, contents).expect("write");
        path
    }

    #[test]
    fn secret_debug_and_display_print_stars() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{:?}", Some(&s)), "Some(***)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn env_secret_is_read_from_the_given_environment() {
        let r = SecretRef::Env("CAM_PW".into());
        let s = resolve_with(&r, |k| (k == "CAM_PW").then(|| "hunter2\n".into())).expect("set");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn missing_env_names_the_variable() {
        let r = SecretRef::Env("CAM_PW".into());
        let e = resolve_with(&r, |_| None).unwrap_err();
        assert_eq!(e.to_string(), "environment variable CAM_PW is not set");
    }

    #[test]
    fn empty_env_is_an_error_without_the_value() {
        let r = SecretRef::Env("CAM_PW".into());
        let e = resolve_with(&r, |_| Some("\n".into())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the password in environment variable CAM_PW is empty"
        );
    }

    #[test]
    fn file_secret_trims_exactly_one_trailing_newline() {
        let p = temp_file("trim", b" pa ss\r\n");
        let s = resolve(&SecretRef::File(p.clone())).expect("readable");
        assert_eq!(s.expose(), " pa ss");
        std::fs::write(&p, b"pw\n\n").expect("write");
        assert_eq!(resolve(&SecretRef::File(p)).expect("ok").expose(), "pw\n");
    }

    #[test]
    fn unreadable_file_error_names_the_file() {
        let p = PathBuf::from("/nonexistent/sharpeyes/secret");
        let e = resolve(&SecretRef::File(p)).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read password file /nonexistent/sharpeyes/secret: "),
            "{e}"
        );
    }

    #[test]
    fn errors_never_hold_the_password() {
        let p = temp_file("binary", b"hunter2\xff");
        let e = resolve(&SecretRef::File(p)).unwrap_err();
        assert!(!format!("{e} {e:?}").contains("hunter2"), "{e:?}");
    }
}
