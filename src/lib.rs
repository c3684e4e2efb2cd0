//! The `sharpeyes` binary's library: CLI commands and the wiring of ingest → inference →
//! alerts. The only crate that knows all three.

pub mod analyze;
pub mod bench;
pub mod camera_cmd;
pub mod clips;
pub mod cameras;
pub mod cluster;
pub mod config;
pub mod config_check;
pub mod delivery;
pub mod live;
pub mod metrics;
pub mod models;
pub mod run;
pub mod runtime;
pub mod simulate;
