//! The guardians' push service (`sharpeyes notify`): registry (hot-reloaded), routing of alerts
//! and of camera status events (tampering, outages: for maintenance staff), freshness, pacing,
//! webhooks, offsets, dead letters. See [`service`] for the guarantees.

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
pub use registry::{
    DEFAULT_STATUS_TOPIC, Endpoint, Gateway, Guardian, ROUTED_STATUS_KINDS, Registry,
    ServiceSettings, Watch,
};
pub use route::{NOTIFICATION_SCHEMA_VERSION, Notification, route, status_text, text_of};
pub use service::{
    DLQ_AGE_MS, DLQ_ATTEMPTS, DLQ_GUARDIAN, DLQ_REASON, DLQ_SOURCE, DLQ_STAGE, LANE_CAPACITY,
    NotifyCounters, NotifyError, NotifyOptions, REASON_BACKLOG, REASON_STALE, parse_status, run,
    status_group,
};
