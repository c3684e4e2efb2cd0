//! The guardians' push service (`sharpeyes notify`): registry (hot-reloaded), routing, freshness,
//! pacing, webhooks, offsets, dead letters. See [`service`] for the guarantees.

pub mod dedup;
pub mod freshness;
pub mod offsets;
pub mod pacing;
pub mod registry;
pub mod reload;
pub mod route;
pub mod service;
pub mod webhook;

pub use freshness::DEFAULT_MAX_AGE;
pub use registry::{Endpoint, Gateway, Guardian, Registry, ServiceSettings, Watch};
pub use route::{NOTIFICATION_SCHEMA_VERSION, Notification, route, text_of};
pub use service::{
    DLQ_AGE_MS, DLQ_ATTEMPTS, DLQ_GUARDIAN, DLQ_REASON, DLQ_SOURCE, DLQ_STAGE, LANE_CAPACITY,
    NotifyCounters, NotifyError, NotifyOptions, REASON_BACKLOG, REASON_STALE, run,
};
