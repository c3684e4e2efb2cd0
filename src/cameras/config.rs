//! One camera's config file (`configs/cameras/<anything>.toml`): parsed strictly into raw structs,
//! then validated into a typed [`CameraConfig`], collecting every problem of the file at once.
//! Pure: text in, config or issues out (reading files is in `load.rs`).
//!
//! The format, with every field explained, is in `configs/cameras/example-gate-east.toml`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sharpeyes_core::CameraId;
use sharpeyes_ingest::redact_url;
use url::Url;

// ---------------------------------------------------------------------------------------------
// Raw structs: exactly what the TOML says. No `Debug`: a raw URL may hold a password.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCamera {
    /// Required. A [`CameraId`]; unique across all camera files.
    id: String,
    /// Required, non-empty. Shown to people (web UI, alerts).
    name: String,
    /// Required, non-empty. The village the camera watches over.
    village: String,
    /// Default true.
    #[serde(default = "yes")]
    enabled: bool,
    /// Optional.
    site: Option<RawSite>,
    /// Required.
    stream: RawStream,
    /// Optional; every field has a default.
    #[serde(default)]
    detect: RawDetect,
    /// Default none.
    #[serde(default)]
    privacy_masks: Vec<RawPolygon>,
    /// Default none.
    #[serde(default)]
    zones: Vec<RawZone>,
    /// Optional; every field has a default.
    #[serde(default)]
    health: RawHealth,
    /// Optional; every field has a default.
    #[serde(default)]
    onvif: RawOnvif,
    /// Optional: this camera's event clip seconds (default: the pipeline's `[clips]`).
    #[serde(default)]
    clips: RawCameraClips,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCameraClips {
    /// Default: the pipeline's `clips.pre_s`; 0..=60 seconds.
    pre_s: Option<f64>,
    /// Default: the pipeline's `clips.post_s`; 0..=300 seconds.
    post_s: Option<f64>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    /// Required, degrees, -90..=90.
    lat: f64,
    /// Required, degrees, -180..=180.
    lon: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStream {
    /// Required. rtsp://, rtsps:// or file:// (a recording). No password in it.
    url: String,
    /// Optional. Used for detection when present (rtsp/rtsps only).
    substream_url: Option<String>,
    /// Default "tcp". One of "tcp", "udp", "auto".
    transport: Option<String>,
    /// Optional. Not together with a user in the URL.
    username: Option<String>,
    /// Optional; needs a user. Not together with `password_file`.
    password_env: Option<String>,
    /// Optional; needs a user. Not together with `password_env`.
    password_file: Option<PathBuf>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDetect {
    /// Default 5.0; 0.1..=30.
    fps: Option<f64>,
    /// Default ["yolox_nano"]; non-empty.
    models: Option<Vec<String>>,
    /// Default: every rule ([`Rule::ALL`]).
    rules: Option<Vec<String>>,
    /// Default false. Decode keyframes only while nothing moves and nothing is detected.
    adaptive_decode: Option<bool>,
    /// Default false. Send frames to the detector only within `quiet_s` of motion or a
    /// detection (a camera on an empty scene costs no inference).
    motion_gating: Option<bool>,
    /// Default 30; 1..=3600. Seconds without motion or detections before adaptive decode
    /// drops back to keyframes only, and motion gating stops sending frames to the detector.
    quiet_s: Option<f64>,
    /// Default 1; 0 (off: keyframes only) or 0.1..=10. While adaptive decode keeps a quiet
    /// camera on keyframes, its frames so far are decoded (without pictures, the newest with
    /// one) at least this often, so someone walking into view is seen within it whatever the
    /// camera's GOP. Costs decoding those frames (docs/density.md).
    peek_s: Option<f64>,
    /// Default: the pipeline's `rules.incidents.long_lie_s` (5 min). 0 (off) or up to 1440.
    /// Minutes a person may stay down after a fall before the incident is escalated (an urgent
    /// update the guardians' service sends first).
    long_lie_min: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolygon {
    /// Required; >= 3 points of [x, y], each within 0..=1.
    points: Vec<Vec<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZone {
    /// Required, non-empty, unique within the file.
    name: String,
    /// Required; >= 3 points of [x, y], each within 0..=1.
    points: Vec<Vec<f64>>,
    person_in_zone: Option<RawDwell>,
    loitering: Option<RawDwell>,
    vehicle_in_zone: Option<RawDwell>,
    inactivity: Option<RawInactivity>,
    /// Default false.
    #[serde(default)]
    always_detect: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDwell {
    /// Required; 0..=86400 seconds inside before the rule holds.
    min_s: f64,
    /// Optional "HH:MM-HH:MM" local time window when the rule is on.
    hours: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInactivity {
    /// Required; 0.01..=168 hours without a person in the zone.
    absent_h: f64,
    /// Optional "HH:MM-HH:MM" local time window (default the whole day).
    window: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    /// Default 10; 1..=600 seconds.
    stall_after_s: Option<i64>,
    /// Default 30; 1..=3600 seconds.
    reconnect_max_s: Option<i64>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOnvif {
    /// Default false. See [`OnvifConfig::allow_basic_over_http`].
    #[serde(default)]
    allow_basic_over_http: bool,
}

// ---------------------------------------------------------------------------------------------
// Typed config.

/// Default detector frames per second per camera.
pub const DEFAULT_FPS: f64 = 5.0;
/// Default model list.
pub const DEFAULT_MODEL: &str = "yolox_nano";
/// Default stall timeout, seconds.
pub const DEFAULT_STALL_AFTER_S: u64 = 10;
/// Default reconnect backoff cap, seconds.
pub const DEFAULT_RECONNECT_MAX_S: u64 = 30;

/// A validated camera config. Holds no secret: the password is a [`SecretRef`], resolved at
/// connect time (`secrets.rs`), and URLs never hold a password (rejected by `parse`) nor a user
/// (moved into [`Credentials`]).
#[derive(Clone, Debug, PartialEq)]
pub struct CameraConfig {
    pub id: CameraId,
    pub name: String,
    pub village: String,
    /// A disabled camera is checked but not run.
    pub enabled: bool,
    pub site: Option<Site>,
    pub stream: StreamConfig,
    pub detect: DetectConfig,
    /// Blacked out before detection and snapshots, in normalised image coordinates.
    pub privacy_masks: Vec<Polygon>,
    /// Named areas for rules, in normalised image coordinates; names unique.
    pub zones: Vec<Zone>,
    pub health: HealthConfig,
    pub onvif: OnvifConfig,
    pub clips: CameraClips,
}

/// A camera's own event clip seconds; None: the pipeline's `[clips]` default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CameraClips {
    pub pre_ms: Option<i64>,
    pub post_ms: Option<i64>,
}

/// How Sharp Eyes may talk ONVIF to the camera (`sharpeyes camera add --onvif`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OnvifConfig {
    /// Answer the camera when it offers only HTTP Basic on a plain `http` URL, which sends the
    /// password readable to anyone on its network. Default false: refused, with an error
    /// naming this key (`onvif.allow_basic_over_http`).
    pub allow_basic_over_http: bool,
}

/// Where the camera stands, WGS84 degrees.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Site {
    /// -90..=90.
    pub lat: f64,
    /// -180..=180.
    pub lon: f64,
}

/// How to reach the camera.
#[derive(Clone, PartialEq)]
pub struct StreamConfig {
    /// Main stream: `rtsp://` / `rtsps://` with a host, or `file:///absolute/path`.
    /// Never holds a user or password.
    pub url: Url,
    /// Lower-resolution stream used for detection when present (rtsp/rtsps only, like `url`).
    pub substream_url: Option<Url>,
    /// RTP transport; ignored for files.
    pub transport: Transport,
    /// None when the camera needs no login.
    pub credentials: Option<Credentials>,
}

impl fmt::Debug for StreamConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // URLs hold no password by construction; redact anyway so a future change cannot leak.
        f.debug_struct("StreamConfig")
            .field("url", &redact_url(self.url.as_str()))
            .field(
                "substream_url",
                &self.substream_url.as_ref().map(|u| redact_url(u.as_str())),
            )
            .field("transport", &self.transport)
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// RTP transport as configured. `Auto` currently means TCP (see `connect.rs`): retina cannot
/// fall back from UDP to TCP by itself yet, and TCP is what passes NAT and firewalls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    #[default]
    Tcp,
    Udp,
    Auto,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Auto => "auto",
        }
    }
}

/// A login. The password itself is never here, only where to find it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    /// None: a user without a password.
    pub secret: Option<SecretRef>,
}

/// Where a password lives. Neither variant holds the password, so `Debug` is safe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretRef {
    /// The name of an environment variable.
    Env(String),
    /// A file holding the password (one trailing newline is ignored). A relative path is
    /// relative to the working directory, like the other paths in Sharp Eyes configs.
    File(PathBuf),
}

/// Default `detect.peek_s` (the reasons are on the constant in ingest).
pub use sharpeyes_ingest::DEFAULT_PEEK;

/// What runs on the frames.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectConfig {
    /// Detector frames per second, 0.1..=30.
    pub fps: f64,
    /// Model manifest names (`models/<name>.toml`), non-empty, no duplicates.
    pub models: Vec<String>,
    /// Rules to evaluate, no duplicates; may be empty (detection only).
    pub rules: Vec<Rule>,
    /// Keyframes-only decode while quiet: the quiet period, or None when off.
    pub adaptive_quiet: Option<Duration>,
    /// While keyframes-only: a peek at least this often; zero: none.
    pub adaptive_peek: Duration,
    /// Motion gating of detection: the quiet period, or None when off.
    pub motion_gate: Option<Duration>,
    /// How long after a fall a person still down escalates the incident (zero: never); None:
    /// the pipeline's `rules.incidents.long_lie_s`.
    pub long_lie: Option<Duration>,
}

/// A known alert rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    PersonDetected,
    Fall,
    /// The zone rules (person_in_zone, loitering, vehicle_in_zone, inactivity) of this camera's
    /// `[[zones]]`.
    Zones,
}

impl Rule {
    /// Every rule, the default of `detect.rules`.
    pub const ALL: &'static [Rule] = &[Rule::PersonDetected, Rule::Fall, Rule::Zones];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::PersonDetected => "person_detected",
            Rule::Fall => "fall",
            Rule::Zones => "zones",
        }
    }

    pub fn from_name(name: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.as_str() == name)
    }
}

/// A polygon in normalised image coordinates: >= 3 points, x and y within 0..=1, (0, 0) top left.
pub type Polygon = Vec<[f32; 2]>;

/// A named area of the picture (riverbank, pond) and the rules that watch it.
#[derive(Clone, Debug, PartialEq)]
pub struct Zone {
    pub name: String,
    pub points: Polygon,
    /// A person's foot point inside for at least `min` (drowning prevention).
    pub person_in_zone: Option<DwellRule>,
    /// A person inside longer than `min` (minutes, usually).
    pub loitering: Option<DwellRule>,
    /// A vehicle inside for at least `min` (no-vehicle / no-parking zone).
    pub vehicle_in_zone: Option<DwellRule>,
    /// No person seen inside for `absent` within the daily window (an elder's doorway).
    pub inactivity: Option<InactivityRule>,
    /// Detection runs on every due frame of this camera even when nothing moves (motion
    /// gating off): a child standing still at the water must still be seen.
    pub always_detect: bool,
}

/// "Inside for at least `min`", optionally only within a daily local-time window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DwellRule {
    pub min: Duration,
    pub hours: Option<sharpeyes_analytics::DailyWindow>,
}

/// "Nobody seen for `absent` within `window`".
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InactivityRule {
    pub absent: Duration,
    pub window: sharpeyes_analytics::DailyWindow,
}

/// Liveness of the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthConfig {
    /// No decoded frame for this long, in any state, and the connection is remade (`stalled` if
    /// it was online, `offline` if it never decoded one). 1..=600 s, default 10 s.
    pub stall_after: Duration,
    /// Cap of the reconnect backoff. 1..=3600 s, default 30 s.
    pub reconnect_max: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            stall_after: Duration::from_secs(DEFAULT_STALL_AFTER_S),
            reconnect_max: Duration::from_secs(DEFAULT_RECONNECT_MAX_S),
        }
    }
}

pub use sharpeyes_core::ConfigIssue;

// ---------------------------------------------------------------------------------------------
// Parsing and validation.

impl CameraConfig {
    /// Parses raw file bytes: invalid UTF-8 is an issue, not a panic.
    pub fn parse_bytes(bytes: &[u8], file_label: &str) -> Result<CameraConfig, Vec<ConfigIssue>> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::parse(text, file_label),
            Err(e) => Err(vec![ConfigIssue::at(
                file_label,
                bytes,
                Some(e.valid_up_to()),
                "not UTF-8 text (a camera file must be UTF-8 TOML)",
            )]),
        }
    }

    /// Parses and validates one camera file; `file_label` (usually the path) starts every issue.
    ///
    /// A TOML syntax error, a wrong type or an unknown key stops at that first problem (serde
    /// does); once the file deserializes, every semantic problem is collected.
    pub fn parse(text: &str, file_label: &str) -> Result<CameraConfig, Vec<ConfigIssue>> {
        let raw: RawCamera = toml::from_str(text).map_err(|e| {
            vec![ConfigIssue::at(
                file_label,
                text.as_bytes(),
                e.span().map(|s| s.start),
                e.message().trim_end(),
            )]
        })?;
        let mut v = Validator {
            file: file_label,
            issues: Vec::new(),
        };
        let config = v.camera(raw);
        match config {
            Some(c) if v.issues.is_empty() => Ok(c),
            _ => Err(v.issues),
        }
    }

    /// The RTSP URL the detector should read: the substream when present, else the main
    /// stream. None for a file source (see [`CameraConfig::file_path`]).
    pub fn rtsp_url_for_detection(&self) -> Option<&Url> {
        if self.file_path().is_some() {
            return None;
        }
        Some(
            self.stream
                .substream_url
                .as_ref()
                .unwrap_or(&self.stream.url),
        )
    }

    /// The recording's path when the source is a `file://` URL.
    pub fn file_path(&self) -> Option<PathBuf> {
        if self.stream.url.scheme() == "file" {
            // Validated: a local absolute path.
            self.stream.url.to_file_path().ok()
        } else {
            None
        }
    }
}

/// The unit of a config number that becomes a [`Duration`], and how its messages name it.
#[derive(Clone, Copy)]
enum Unit {
    /// Seconds, named by the key alone (`quiet_s`): "must be between 1 and 3600".
    Bare,
    /// Seconds: "must be between 0 and 86400 seconds".
    Seconds,
    /// Hours: "must be between 0.01 and 168 hours".
    Hours,
    /// Minutes: "must be between 0 and 1440 minutes".
    Minutes,
}

impl Unit {
    fn seconds(self) -> f64 {
        match self {
            Unit::Bare | Unit::Seconds => 1.0,
            Unit::Minutes => 60.0,
            Unit::Hours => 3600.0,
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Unit::Bare => "",
            Unit::Seconds => " seconds",
            Unit::Minutes => " minutes",
            Unit::Hours => " hours",
        }
    }
}

struct Validator<'a> {
    file: &'a str,
    issues: Vec<ConfigIssue>,
}

impl CameraConfig {
    /// Motion gating's quiet period, or None when it is off: off too when a zone forces
    /// detection (`always_detect`).
    pub fn effective_motion_gate(&self) -> Option<Duration> {
        if self.zones.iter().any(|z| z.always_detect) {
            return None;
        }
        self.detect.motion_gate
    }
}

impl Validator<'_> {
    fn issue(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.issues
            .push(ConfigIssue::new(self.file, field, message));
    }

    /// Checks everything; returns the config when every part converted (the caller also checks
    /// that no issue was recorded).
    fn camera(&mut self, raw: RawCamera) -> Option<CameraConfig> {
        let id = match CameraId::new(raw.id.clone()) {
            Ok(id) => Some(id),
            Err(_) => {
                self.issue(
                    "id",
                    format!(
                        "must be 1-64 characters of ASCII letters, digits, '-', '_' or '.', got {:?}",
                        raw.id
                    ),
                );
                None
            }
        };
        self.non_empty("name", &raw.name);
        self.non_empty("village", &raw.village);
        let site = raw.site.map(|s| {
            if !(-90.0..=90.0).contains(&s.lat) {
                self.issue(
                    "site.lat",
                    format!("must be between -90 and 90, got {}", s.lat),
                );
            }
            if !(-180.0..=180.0).contains(&s.lon) {
                self.issue(
                    "site.lon",
                    format!("must be between -180 and 180, got {}", s.lon),
                );
            }
            Site {
                lat: s.lat,
                lon: s.lon,
            }
        });
        let stream = self.stream(raw.stream);
        let detect = self.detect(raw.detect);
        let privacy_masks: Vec<Polygon> = raw
            .privacy_masks
            .iter()
            .enumerate()
            .map(|(i, m)| self.polygon(&format!("privacy_masks[{i}].points"), &m.points))
            .collect();
        let mut zones: Vec<Zone> = Vec::with_capacity(raw.zones.len());
        for (i, z) in raw.zones.into_iter().enumerate() {
            let field = format!("zones[{i}].name");
            if z.name.trim().is_empty() {
                self.issue(field, "must not be empty");
            } else if let Some(j) = zones.iter().position(|o| o.name == z.name) {
                self.issue(
                    field,
                    format!("zone {:?} is already defined at zones[{j}]", z.name),
                );
            }
            let points = self.polygon(&format!("zones[{i}].points"), &z.points);
            let person_in_zone = z
                .person_in_zone
                .map(|d| self.dwell(&format!("zones[{i}].person_in_zone"), d));
            let loitering = z
                .loitering
                .map(|d| self.dwell(&format!("zones[{i}].loitering"), d));
            let vehicle_in_zone = z
                .vehicle_in_zone
                .map(|d| self.dwell(&format!("zones[{i}].vehicle_in_zone"), d));
            let inactivity = z.inactivity.map(|r| {
                let field = format!("zones[{i}].inactivity");
                InactivityRule {
                    absent: self.duration(
                        &format!("{field}.absent_h"),
                        r.absent_h,
                        0.01..=168.0,
                        Unit::Hours,
                    ),
                    window: self.window(&format!("{field}.window"), r.window.as_deref()),
                }
            });
            zones.push(Zone {
                name: z.name,
                points,
                person_in_zone,
                loitering,
                vehicle_in_zone,
                inactivity,
                always_detect: z.always_detect,
            });
        }
        let health = HealthConfig {
            stall_after: self.seconds(
                "health.stall_after_s",
                raw.health.stall_after_s,
                DEFAULT_STALL_AFTER_S,
                600,
            ),
            reconnect_max: self.seconds(
                "health.reconnect_max_s",
                raw.health.reconnect_max_s,
                DEFAULT_RECONNECT_MAX_S,
                3600,
            ),
        };
        Some(CameraConfig {
            id: id?,
            name: raw.name,
            village: raw.village,
            enabled: raw.enabled,
            site,
            stream: stream?,
            detect,
            privacy_masks,
            zones,
            health,
            onvif: OnvifConfig {
                allow_basic_over_http: raw.onvif.allow_basic_over_http,
            },
            clips: CameraClips {
                pre_ms: raw.clips.pre_s.map(|v| {
                    self.duration("clips.pre_s", v, 0.0..=60.0, Unit::Seconds)
                        .as_millis() as i64
                }),
                post_ms: raw.clips.post_s.map(|v| {
                    self.duration("clips.post_s", v, 0.0..=300.0, Unit::Seconds)
                        .as_millis() as i64
                }),
            },
        })
    }

    fn dwell(&mut self, field: &str, raw: RawDwell) -> DwellRule {
        DwellRule {
            min: self.duration(
                &format!("{field}.min_s"),
                raw.min_s,
                0.0..=86_400.0,
                Unit::Seconds,
            ),
            hours: raw
                .hours
                .as_deref()
                .map(|h| self.window(&format!("{field}.hours"), Some(h))),
        }
    }

    /// A "HH:MM-HH:MM" window; absent: the whole day.
    fn window(&mut self, field: &str, text: Option<&str>) -> sharpeyes_analytics::DailyWindow {
        match text.map(sharpeyes_analytics::DailyWindow::parse) {
            None => sharpeyes_analytics::DailyWindow::ALL_DAY,
            Some(Ok(w)) => w,
            Some(Err(message)) => {
                self.issue(field, message);
                sharpeyes_analytics::DailyWindow::ALL_DAY
            }
        }
    }

    /// A config number as a [`Duration`]: `value` (in `unit`) when it lies within `range`, else
    /// an issue `must be between A and B[ unit], got V` and zero. The range check also refuses
    /// NaN and the infinities, and the conversion cannot panic (`try_from_secs_f64`): a bad
    /// number in a camera file is an issue of that file, never a crash of `sharpeyes run`.
    fn duration(
        &mut self,
        field: &str,
        value: f64,
        range: std::ops::RangeInclusive<f64>,
        unit: Unit,
    ) -> Duration {
        let seconds = value * unit.seconds();
        match Duration::try_from_secs_f64(seconds) {
            Ok(d) if range.contains(&value) => d,
            _ => {
                self.issue(
                    field,
                    format!(
                        "must be between {} and {}{}, got {value}",
                        range.start(),
                        range.end(),
                        unit.suffix()
                    ),
                );
                Duration::ZERO
            }
        }
    }

    fn non_empty(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.issue(field, "must not be empty");
        }
    }

    fn seconds(&mut self, field: &str, value: Option<i64>, default: u64, max: u64) -> Duration {
        match value {
            None => Duration::from_secs(default),
            Some(s) if s >= 1 && s as u64 <= max => Duration::from_secs(s as u64),
            Some(s) => {
                self.issue(field, format!("must be between 1 and {max}, got {s}"));
                Duration::from_secs(default)
            }
        }
    }

    fn polygon(&mut self, field: &str, points: &[Vec<f64>]) -> Polygon {
        if points.len() < 3 {
            self.issue(
                field,
                format!("needs at least 3 points, got {}", points.len()),
            );
        }
        let mut out = Vec::with_capacity(points.len());
        for (i, p) in points.iter().enumerate() {
            let &[x, y] = p.as_slice() else {
                self.issue(
                    format!("{field}[{i}]"),
                    format!("must be [x, y], got {} numbers", p.len()),
                );
                continue;
            };
            let unit = 0.0..=1.0;
            if !unit.contains(&x) || !unit.contains(&y) {
                self.issue(
                    format!("{field}[{i}]"),
                    format!("must be within 0..1 (normalised image coordinates), got [{x}, {y}]"),
                );
            }
            out.push([x as f32, y as f32]);
        }
        out
    }

    fn detect(&mut self, raw: RawDetect) -> DetectConfig {
        let fps = raw.fps.unwrap_or(DEFAULT_FPS);
        if !(0.1..=30.0).contains(&fps) {
            self.issue(
                "detect.fps",
                format!("must be between 0.1 and 30, got {fps}"),
            );
        }
        let models = raw
            .models
            .unwrap_or_else(|| vec![DEFAULT_MODEL.to_string()]);
        if models.is_empty() {
            self.issue("detect.models", "must name at least one model");
        }
        for (i, m) in models.iter().enumerate() {
            let field = format!("detect.models[{i}]");
            if CameraId::new(m.clone()).is_err() {
                // Model names follow the same character rules as camera ids (manifest `name`).
                self.issue(
                    field,
                    format!(
                        "must be a model name (ASCII letters, digits, '-', '_', '.'), got {m:?}"
                    ),
                );
            } else if models[..i].contains(m) {
                self.issue(field, format!("model {m:?} is listed twice"));
            }
        }
        let rules = match raw.rules {
            None => Rule::ALL.to_vec(),
            Some(names) => {
                let mut rules = Vec::with_capacity(names.len());
                for (i, name) in names.iter().enumerate() {
                    let field = format!("detect.rules[{i}]");
                    match Rule::from_name(name) {
                        Some(r) if rules.contains(&r) => {
                            self.issue(field, format!("rule {name:?} is listed twice"))
                        }
                        Some(r) => rules.push(r),
                        None => self.issue(
                            field,
                            format!(
                                "unknown rule {name:?}; known rules: {}",
                                Rule::ALL
                                    .iter()
                                    .map(|r| r.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ),
                    }
                }
                rules
            }
        };
        let quiet = self.duration(
            "detect.quiet_s",
            raw.quiet_s.unwrap_or(30.0),
            1.0..=3600.0,
            Unit::Bare,
        );
        if raw.quiet_s.is_some()
            && raw.adaptive_decode != Some(true)
            && raw.motion_gating != Some(true)
        {
            self.issue(
                "detect.quiet_s",
                "only applies with detect.adaptive_decode = true or detect.motion_gating = true",
            );
        }
        let adaptive_quiet = (raw.adaptive_decode == Some(true)).then_some(quiet);
        let motion_gate = (raw.motion_gating == Some(true)).then_some(quiet);
        let adaptive_peek = match raw.peek_s.map(sharpeyes_ingest::peek_from_secs) {
            None => DEFAULT_PEEK,
            Some(Ok(peek)) => peek,
            Some(Err(e)) => {
                self.issue("detect.peek_s", e);
                DEFAULT_PEEK
            }
        };
        if raw.peek_s.is_some() && raw.adaptive_decode != Some(true) {
            self.issue(
                "detect.peek_s",
                "only applies with detect.adaptive_decode = true",
            );
        }
        let long_lie = raw
            .long_lie_min
            .map(|m| self.duration("detect.long_lie_min", m, 0.0..=1440.0, Unit::Minutes));
        DetectConfig {
            fps,
            models,
            rules,
            adaptive_quiet,
            adaptive_peek,
            motion_gate,
            long_lie,
        }
    }

    fn stream(&mut self, raw: RawStream) -> Option<StreamConfig> {
        let main = self.url("stream.url", &raw.url);
        let sub = raw
            .substream_url
            .as_deref()
            .map(|s| self.url("stream.substream_url", s));
        let transport = match raw.transport.as_deref() {
            None | Some("tcp") => Transport::Tcp,
            Some("udp") => Transport::Udp,
            Some("auto") => Transport::Auto,
            Some(other) => {
                self.issue(
                    "stream.transport",
                    format!("must be tcp, udp or auto, got {other:?}"),
                );
                Transport::Tcp
            }
        };

        // Users named inside the URLs.
        let main_user = main.as_ref().and_then(|p| p.user.clone());
        let sub_user = sub
            .as_ref()
            .and_then(|s| s.as_ref())
            .and_then(|p| p.user.clone());
        if let (Some(a), Some(b)) = (&main_user, &sub_user)
            && a != b
        {
            self.issue(
                "stream.substream_url",
                "names a different user than stream.url; a camera has one login",
            );
        }
        if let (Some(m), Some(Some(s))) = (&main, &sub)
            && (m.is_file || s.is_file)
        {
            self.issue(
                "stream.substream_url",
                "a substream only applies to rtsp/rtsps streams, not to a file",
            );
        }
        let url_user = main_user.or(sub_user);

        let username = match (raw.username, url_user) {
            (Some(_), Some(_)) => {
                self.issue(
                    "stream.username",
                    "the URL already names a user; give the user in one place",
                );
                None
            }
            (Some(u), None) => {
                if u.is_empty() {
                    self.issue("stream.username", "must not be empty");
                } else if u.contains(':') || u.chars().any(char::is_control) {
                    self.issue(
                        "stream.username",
                        "must not contain ':' or control characters",
                    );
                }
                Some(u)
            }
            (None, u) => u,
        };

        let secret = match (raw.password_env, raw.password_file) {
            (Some(_), Some(_)) => {
                self.issue(
                    "stream.password_file",
                    "give only one of stream.password_env and stream.password_file",
                );
                None
            }
            (Some(var), None) => {
                let valid = var
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                    && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !valid {
                    self.issue(
                        "stream.password_env",
                        format!(
                            "must be an environment variable name (ASCII letters, digits, '_', not starting with a digit), got {var:?}"
                        ),
                    );
                }
                Some(("stream.password_env", SecretRef::Env(var)))
            }
            (None, Some(path)) => {
                if path.as_os_str().is_empty() {
                    self.issue("stream.password_file", "must not be empty");
                } else if path.to_string_lossy().contains("://") {
                    // The path is shown in errors: a URL here may hold a password.
                    self.issue("stream.password_file", "must be a file path, not a URL");
                }
                Some(("stream.password_file", SecretRef::File(path)))
            }
            (None, None) => None,
        };
        if let (Some((field, _)), None) = (&secret, &username) {
            self.issue(
                *field,
                "needs a user: set stream.username or put user@ in stream.url",
            );
        }
        let credentials = username.map(|username| Credentials {
            username,
            secret: secret.map(|(_, s)| s),
        });

        Some(StreamConfig {
            url: main?.url,
            substream_url: match sub {
                None => None,
                Some(s) => Some(s?.url),
            },
            transport,
            credentials,
        })
    }

    /// Checks one stream URL; returns it with the user moved out. `None` after an issue.
    fn url(&mut self, field: &str, text: &str) -> Option<ParsedUrl> {
        let mut url = match Url::parse(text.trim()) {
            Ok(u) => u,
            // url::ParseError messages never echo the input, so no password can leak here.
            Err(e) => {
                self.issue(field, format!("not a URL: {e}"));
                return None;
            }
        };
        if url.password().is_some() {
            self.issue(
                field,
                "contains a password; put it in stream.password_env or stream.password_file",
            );
            return None;
        }
        match url.scheme() {
            "rtsp" | "rtsps" => {
                if url.host_str().is_none_or(str::is_empty) {
                    self.issue(
                        field,
                        format!(
                            "an {} URL needs a host, like rtsp://192.168.1.64:554/path",
                            url.scheme()
                        ),
                    );
                    return None;
                }
                let user = if url.username().is_empty() {
                    None
                } else {
                    Some(percent_decode(url.username()))
                };
                if user.is_some() {
                    // Cannot fail: the URL has a non-empty host and is not file://.
                    let _ = url.set_username("");
                }
                Some(ParsedUrl {
                    url,
                    user,
                    is_file: false,
                })
            }
            "file" => {
                if url.to_file_path().is_err() {
                    self.issue(
                        field,
                        "a file URL must be an absolute local path, like file:///var/recordings/gate.mp4",
                    );
                    return None;
                }
                Some(ParsedUrl {
                    url,
                    user: None,
                    is_file: true,
                })
            }
            other => {
                self.issue(
                    field,
                    format!("scheme must be rtsp, rtsps or file, got {other:?}"),
                );
                None
            }
        }
    }
}

/// Decodes `%XX` escapes (URL user info); invalid escapes are kept as they are.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

struct ParsedUrl {
    url: Url,
    user: Option<String>,
    is_file: bool,
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
