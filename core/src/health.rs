//! The health of a camera as operators see it. Pure.

use serde::{Deserialize, Serialize};

/// Where a camera's connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    /// Opening the session (first attempt or a reconnect).
    Connecting,
    /// Frames are arriving.
    Online,
    /// Connected, but no frame for longer than the stall limit.
    Stalled,
    /// Unreachable, refused, or the session broke; retrying with backoff.
    Offline,
    /// The camera refused the credentials; retrying slowly, a person should check them.
    AuthFailed,
    /// No worker runs the camera: the cluster leader found no capacity left for it. Said by
    /// the leader only; a running camera's health never is in this state.
    Unassigned,
}

impl CameraState {
    /// The states a running camera's health goes through (every state but
    /// [`CameraState::Unassigned`]): what the per-camera counters and metrics hold.
    pub const ALL: [CameraState; 5] = [
        CameraState::Connecting,
        CameraState::Online,
        CameraState::Stalled,
        CameraState::Offline,
        CameraState::AuthFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CameraState::Connecting => "connecting",
            CameraState::Online => "online",
            CameraState::Stalled => "stalled",
            CameraState::Offline => "offline",
            CameraState::AuthFailed => "auth_failed",
            CameraState::Unassigned => "unassigned",
        }
    }
}
