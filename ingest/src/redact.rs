//! Shows URLs without their secrets, for logs, errors, metrics and events. Pure. The functions
//! live in `sharpeyes_core::redact`, shared with the alerts crate (webhook URLs); re-exported
//! here where the camera code has always found them.

pub use sharpeyes_core::redact::{redact_text, redact_url};
