//! Per-camera configuration: one TOML file per camera under `configs/cameras/`.
//!
//! - `config` (pure): parse and validate one file into a [`CameraConfig`], collecting every
//!   [`ConfigIssue`] of the file.
//! - `secrets` (I/O): resolve a password reference at connect time into a [`Secret`].
//! - `connect` (I/O): a config to `sharpeyes_ingest::RtspOptions`, password resolved.
//! - `load` (I/O): a directory or a file, duplicate ids, `sharpeyes config check`,
//!   `sharpeyes camera add`.
//! - `render` (pure): a new camera's file text.
//! - `reload` (pure) and `watch` (I/O): hot reload by polling the directory.

pub mod config;
pub mod connect;
pub mod load;
pub mod reload;
pub mod render;
pub mod secrets;
pub mod watch;

pub use config::{
    CameraConfig, ConfigIssue, Credentials, DEFAULT_PEEK, DetectConfig, DwellRule, HealthConfig,
    InactivityRule, OnvifConfig, Polygon, Rule, SecretRef, Site, StreamConfig, Transport, Zone,
};
pub use connect::{ConnectError, rtsp_transport};
pub use load::{
    AddError, CameraFile, CameraSet, add_camera, check, load_dir, load_file, run_check,
    run_check_with,
};
pub use reload::{Change, Reloader};
pub use render::{NewCamera, render_camera_toml};
pub use secrets::{Secret, SecretError, resolve};
pub use watch::{POLL_INTERVAL, Scan, scan_dir};

/// The default camera directory, relative to the working directory.
pub const DEFAULT_DIR: &str = "configs/cameras";
