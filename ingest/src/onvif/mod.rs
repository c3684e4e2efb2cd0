//! ONVIF for adding cameras: find them on the LAN (WS-Discovery) and ask one for its RTSP main
//! stream and substream, so nobody has to know vendor URL patterns. `probe_camera` and
//! `discovery::discover` do network I/O and block; call them from a thread (or
//! `tokio::task::spawn_blocking`). Choosing the streams (`select_streams`) and cleaning the URIs
//! (`strip_credentials`) are pure.
//!
//! # Why a small hand-written client and not the `oxvif` crate
//!
//! `oxvif` 0.17 (checked on crates.io) covers far more of ONVIF than the five calls needed here,
//! but it is async-only and brings `reqwest` 0.13 with `diqwest` for HTTP Digest — a second HTTP
//! stack (hyper, its own rustls setup) next to the workspace's `ureq` 3 — plus `quick-xml`,
//! `socket2`, `if-addrs`, `async-stream`, `async-trait`, `sha1` 0.11, `base64` 0.23 and
//! `rand` 0.10, and it asks for Rust 1.88 while the workspace promises 1.85. It is also young:
//! first release in April 2026 and some forty releases in the five months since, so its API
//! still moves. What we need fits in a few hundred lines we can read, test on loopback and fix
//! for odd cameras: five SOAP calls written as `format!` templates, replies read with `roxmltree`
//! (read-only, no dependencies of its own), a UsernameToken (`sha1` + `base64` + `getrandom` 0.2),
//! HTTP Digest and Basic with `WWW-Authenticate` parsing (`http-auth`, by retina's author), times
//! with `jiff`, and a UDP socket for WS-Discovery. Of these only `roxmltree` and `sha1` were new
//! to the lock file; the rest were already built for retina, ureq and the binary.
//!
//! # Protocol references
//!
//! ONVIF Core Specification: §5 (SOAP 1.2 web services framework, error handling), §5.12 (user
//! authentication: WS-UsernameToken, HTTP Digest), §7.3 (WS-Discovery), §8 (device management:
//! GetSystemDateAndTime, GetDeviceInformation, GetServices, GetCapabilities). ONVIF Media (ver10)
//! and Media2 (ver20) service specifications: GetProfiles, GetStreamUri. RFC 7616 / 2617 (HTTP
//! Digest), RFC 7617 (HTTP Basic), OASIS WS-Security UsernameToken Profile 1.0.

pub mod auth;
pub mod client;
pub mod discovery;
pub mod error;
pub mod responses;
pub(crate) mod soap;
#[cfg(feature = "test-util")]
pub mod testkit;
#[cfg(test)]
mod fuzz_tests;

use std::time::Duration;

pub use auth::Password;
pub use client::{CameraClock, OnvifClient};
pub use discovery::{DiscoveredDevice, discover, discover_at, parse_probe_matches};
pub use error::OnvifError;
pub use responses::{
    DeviceInformation, MediaService, MediaVersion, OnvifCodec, Profile, VideoEncoding,
};

use crate::redact::redact_url;

/// One stream of a camera, as ONVIF describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// The RTSP URI without user or password (cameras sometimes embed them); add credentials
    /// from the camera's secret store when connecting.
    pub uri: String,
    pub codec: OnvifCodec,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
    /// The media profile token, to ask for this stream again.
    pub profile_token: String,
    pub profile_name: String,
}

/// What `probe_camera` learned about a camera.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnvifCamera {
    /// The device service URL, without credentials.
    pub device_url: String,
    /// From GetDeviceInformation; `None` when the camera refused or failed that call.
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub firmware_version: Option<String>,
    pub serial_number: Option<String>,
    /// Camera UTC clock minus ours in milliseconds (positive: the camera is ahead); `None` when
    /// the camera did not tell its time. Worth a warning past a few seconds: alert times and
    /// recordings are stamped by the camera.
    pub clock_offset_ms: Option<i64>,
    /// Whether the camera sets its clock by NTP.
    pub ntp: bool,
    /// Which media service the streams came from.
    pub media: MediaVersion,
    /// The largest profile, H.264/H.265 preferred.
    pub main: StreamInfo,
    /// The smallest other profile, H.264/H.265 preferred; `None` when there is only one video
    /// profile or no other is smaller than the main one.
    pub sub: Option<StreamInfo>,
}

/// Asks the camera at `device_url` for its clock, identity, media profiles and their RTSP URIs:
/// GetSystemDateAndTime → GetDeviceInformation (optional) → GetServices (GetCapabilities on
/// old cameras) → GetProfiles → GetStreamUri for the main and the sub profile. Does network I/O
/// and blocks, for up to a few request timeouts (`client::DEFAULT_TIMEOUT` each).
///
/// `device_url` may also be a bare host or `host:port` (see [`device_url_for_host`]).
pub fn probe_camera(
    device_url: &str,
    username: &str,
    password: Option<Password>,
) -> Result<OnvifCamera, OnvifError> {
    let client = OnvifClient::new(&device_url_for_host(device_url), username, password)?;
    probe_with(&client)
}

/// [`probe_camera`] with a client set up by the caller (timeout, known clock offset).
pub fn probe_with(client: &OnvifClient) -> Result<OnvifCamera, OnvifError> {
    let shown = redact_url(client.device_url());
    let (clock_offset_ms, ntp) = match client.get_system_date_and_time() {
        Ok(c) => (c.clock_offset_ms, c.reply.ntp),
        // Auth or network trouble will show again on the next call, with its own action name.
        Err(e) if e.is_auth() || e.is_transient() => return Err(e),
        Err(e) => {
            tracing::warn!(url = %shown, error = %e, "camera clock unknown, UsernameToken uses ours");
            (None, false)
        }
    };
    if let Some(off) = clock_offset_ms.filter(|o| o.abs() > 5_000) {
        tracing::warn!(url = %shown, clock_offset_ms = off, "camera clock is off");
    }

    let info = match client.get_device_information() {
        Ok(i) => i,
        Err(e) if e.is_auth() => return Err(e),
        Err(e) => {
            tracing::debug!(url = %shown, error = %e, "no device information");
            DeviceInformation::default()
        }
    };

    // Media2 first; fall back to Media when Media2 is advertised but fails (not for auth).
    let services = client.media_services()?;
    let mut last_err = None;
    let mut chosen = None;
    for media in services {
        match client.get_profiles_on(&media) {
            Ok(profiles) => match select_streams(&profiles) {
                Some(sel) => {
                    chosen = Some((media, sel.0.clone(), sel.1.cloned()));
                    break;
                }
                None => {
                    last_err = Some(OnvifError::Unsupported {
                        action: "GetProfiles",
                        url: redact_url(&media.url),
                        what: "video profile",
                    });
                }
            },
            Err(e) if e.is_auth() => return Err(e),
            Err(e) => {
                tracing::debug!(url = %redact_url(&media.url), error = %e, "GetProfiles failed");
                last_err = Some(e);
            }
        }
    }
    let Some((media, main_profile, sub_profile)) = chosen else {
        return Err(last_err.unwrap_or(OnvifError::Unsupported {
            action: "GetProfiles",
            url: shown,
            what: "media service",
        }));
    };
    client.use_media_service(media.clone());

    let main = stream_info(client, &media, &main_profile)?;
    let sub = match sub_profile {
        Some(p) => match stream_info(client, &media, &p) {
            Ok(s) => Some(s),
            Err(e) if e.is_auth() => return Err(e),
            Err(e) => {
                tracing::warn!(url = %shown, profile = %p.token, error = %e, "no substream URI");
                None
            }
        },
        None => None,
    };
    Ok(OnvifCamera {
        device_url: client.device_url().to_string(),
        manufacturer: info.manufacturer,
        model: info.model,
        firmware_version: info.firmware_version,
        serial_number: info.serial_number,
        clock_offset_ms,
        ntp,
        media: media.version,
        main,
        sub,
    })
}

fn stream_info(
    client: &OnvifClient,
    media: &MediaService,
    profile: &Profile,
) -> Result<StreamInfo, OnvifError> {
    let uri = client.get_stream_uri_on(media, &profile.token)?;
    let video = profile
        .video
        .as_ref()
        .expect("select_streams only returns profiles with video");
    Ok(StreamInfo {
        uri: strip_credentials(&uri),
        codec: video.codec.clone(),
        width: video.width,
        height: video.height,
        profile_token: profile.token.clone(),
        profile_name: profile.name.clone(),
    })
}

/// Picks the main stream and the substream among media profiles. Pure.
///
/// Main: the largest video profile, H.264/H.265 ahead of any size of other codecs (we decode
/// only those). Sub: the smallest other video profile, again H.264/H.265 first, and only if it
/// is smaller than the main one — cameras often list a second profile on the same encoder.
/// Ties keep the camera's order. `None` when no profile has video.
pub fn select_streams(profiles: &[Profile]) -> Option<(&Profile, Option<&Profile>)> {
    let area = |p: &Profile| {
        p.video
            .as_ref()
            .map_or(0, |v| u64::from(v.width) * u64::from(v.height))
    };
    let decodable = |p: &Profile| {
        p.video
            .as_ref()
            .is_some_and(|v| v.codec.video_codec().is_some())
    };
    let video: Vec<&Profile> = profiles.iter().filter(|p| p.video.is_some()).collect();
    // max_by_key keeps the last of equals; reverse so the camera's first wins.
    let main = *video.iter().rev().max_by_key(|p| (decodable(p), area(p)))?;
    let sub = video
        .iter()
        .filter(|p| p.token != main.token && area(p) < area(main))
        .min_by_key(|p| (!decodable(p), area(p)))
        .copied();
    Some((main, sub))
}

/// Removes `user:password@` from a URI (cameras may embed the credentials they were asked
/// with). Other parts are kept as the camera wrote them; a URI without user info comes back
/// unchanged. Credentials some firmware puts in the path or query (`?user=..&password=..`) are
/// part of the stream address and are left alone.
pub fn strip_credentials(uri: &str) -> String {
    let Some(scheme_end) = uri.find("://") else {
        return uri.to_string();
    };
    let authority_start = scheme_end + 3;
    let authority_end = uri[authority_start..]
        .find(['/', '?', '#'])
        .map_or(uri.len(), |i| authority_start + i);
    match uri[authority_start..authority_end].rfind('@') {
        Some(at) => format!(
            "{}{}",
            &uri[..authority_start],
            &uri[authority_start + at + 1..]
        ),
        None => uri.to_string(),
    }
}

/// `192.168.1.64` or `192.168.1.64:8080` → `http://192.168.1.64[:8080]/onvif/device_service`
/// (the fixed entry point, ONVIF Core §5.1); anything with `://` is returned as given.
pub fn device_url_for_host(host_or_url: &str) -> String {
    let s = host_or_url.trim();
    if s.contains("://") {
        s.to_string()
    } else {
        format!("http://{}/onvif/device_service", s.trim_end_matches('/'))
    }
}

/// Default time `discover` waits for answers.
pub const DEFAULT_DISCOVERY_TIMEOUT: Duration = Duration::from_secs(3);

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(token: &str, codec: OnvifCodec, w: u32, h: u32) -> Profile {
        Profile {
            token: token.into(),
            name: token.into(),
            video: Some(VideoEncoding {
                codec,
                width: w,
                height: h,
            }),
        }
    }

    #[test]
    fn main_is_largest_h26x_and_sub_is_smallest_other() {
        let ps = vec![
            profile("sub", OnvifCodec::H264, 640, 360),
            profile("mjpeg", OnvifCodec::Jpeg, 3840, 2160),
            profile("main", OnvifCodec::H265, 2560, 1440),
            profile("third", OnvifCodec::H264, 1280, 720),
            Profile {
                token: "audio".into(),
                name: "audio".into(),
                video: None,
            },
        ];
        let (main, sub) = select_streams(&ps).expect("has video");
        assert_eq!(main.token, "main");
        assert_eq!(sub.map(|p| p.token.as_str()), Some("sub"));
    }

    #[test]
    fn one_profile_or_equal_sizes_give_no_substream() {
        let one = vec![profile("only", OnvifCodec::H264, 1920, 1080)];
        let (main, sub) = select_streams(&one).expect("has video");
        assert_eq!((main.token.as_str(), sub), ("only", None));
        let twins = vec![
            profile("a", OnvifCodec::H264, 1920, 1080),
            profile("b", OnvifCodec::H264, 1920, 1080),
        ];
        let (main, sub) = select_streams(&twins).expect("has video");
        assert_eq!((main.token.as_str(), sub), ("a", None));
        assert!(select_streams(&[]).is_none());
    }

    #[test]
    fn prefers_a_decodable_sub_over_a_smaller_mjpeg_one() {
        let ps = vec![
            profile("main", OnvifCodec::H264, 1920, 1080),
            profile("jpeg", OnvifCodec::Jpeg, 320, 240),
            profile("sub", OnvifCodec::H264, 704, 576),
        ];
        let (_, sub) = select_streams(&ps).expect("has video");
        assert_eq!(sub.map(|p| p.token.as_str()), Some("sub"));
    }

    #[test]
    fn strips_embedded_credentials_and_keeps_the_rest_verbatim() {
        assert_eq!(
            strip_credentials(
                "rtsp://admin:pa%40ss@192.168.1.108:554/cam/realmonitor?channel=1&subtype=0"
            ),
            "rtsp://192.168.1.108:554/cam/realmonitor?channel=1&subtype=0"
        );
        assert_eq!(
            strip_credentials("rtsp://user@10.0.0.5/live"),
            "rtsp://10.0.0.5/live"
        );
        let plain = "rtsp://192.168.1.64:554/Streaming/Channels/101?transportmode=unicast&profile=Profile_1";
        assert_eq!(strip_credentials(plain), plain);
        // An @ in the query is not user info.
        let q = "rtsp://10.0.0.5/live?who=a@b";
        assert_eq!(strip_credentials(q), q);
    }

    #[test]
    fn bare_hosts_become_device_service_urls() {
        assert_eq!(
            device_url_for_host("192.168.1.64"),
            "http://192.168.1.64/onvif/device_service"
        );
        assert_eq!(
            device_url_for_host("cam.local:8080"),
            "http://cam.local:8080/onvif/device_service"
        );
        assert_eq!(
            device_url_for_host("http://10.0.0.5:8000/onvif/device_service"),
            "http://10.0.0.5:8000/onvif/device_service"
        );
    }
}
