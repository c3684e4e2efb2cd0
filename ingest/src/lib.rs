//! Camera to decoded frame. RTSP cameras are read with retina and decoded by GStreamer; files
//! are read and decoded by GStreamer. Either way frames come out letterboxed to the detector's
//! input size, in BGR, as `sharpeyes_core::Frame`. (The simulated camera server the demo, the
//! bench and the tests use is in `sharpeyes-sim`.)

pub mod adaptive;
pub mod clip_ring;
pub mod clip_writer;
pub mod decode;
pub mod error;
pub mod file;
pub mod health;
pub mod mask;
pub mod onvif;
pub mod queue;
pub mod redact;
pub mod rtsp;

pub use adaptive::{
    AuAction, DEFAULT_PEEK, DecodeGate, GopKeeper, KeeperOptions, MotionDetector, Wake,
    peek_from_secs,
};
pub use decode::{
    AuDecoder, DecoderChoice, InputDrops, MAX_QUEUED_BYTES, VideoCodec, init_gstreamer,
};
pub use error::IngestError;
pub use file::FileSource;
pub use health::{
    AUTH_BACKOFF_BASE, AUTH_BACKOFF_MAX, Backoff, Health, ReconnectBackoff, Stall, StatusChange,
};
pub use mask::{MaskPolygon, apply_privacy_masks, fill_masked_plane};
pub use queue::{FrameQueue, FrameSlots, Popped, QueueStats};
pub use redact::{redact_text, redact_url};
pub use rtsp::{RtspOptions, RtspSource, RtspTransport};
