//! A blocking ONVIF client for the few calls Sharp Eyes needs: the camera's clock, its device
//! information, where its media service is, its media profiles and their RTSP URIs. Does I/O
//! (HTTP POST through `ureq`, the wall clock for the UsernameToken); callers run it on a thread.
//!
//! Authentication (ONVIF Core §5.12): every authenticated request carries a WS-Security
//! UsernameToken with a PasswordDigest whose `Created` is corrected by the camera's clock offset
//! (Core §5.12.2). If the HTTP layer answers `401` with a `Digest` challenge (RFC 7616) or a
//! `Basic` one (RFC 7617), the request is sent again with the answer (computed by `http-auth`,
//! see [`super::auth`]), and later requests reuse the digest nonce with a growing nonce count
//! until the camera calls it stale. Cameras differ: some
//! check only the token, some only HTTP Digest, some both; this client satisfies all three.
//!
//! HTTP Basic over plain `http` is refused ([`OnvifError::BasicOverHttp`]) before the password
//! is sent, unless [`OnvifClient::allow_basic_over_http`] says otherwise: Basic is the password
//! in Base64, readable by anyone on the camera's network. Digest is always preferred when both
//! are offered, and Basic over `https` is fine.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::auth::{
    Challenge, DigestChallenge, Password, basic_authorization, parse_challenges, random_bytes,
    username_token_header,
};
use super::error::OnvifError;
use super::responses::{
    self, Capabilities, DeviceInformation, MediaService, MediaVersion, Profile, Service,
    SystemDateAndTime,
};
use super::soap;
use crate::redact::redact_url;

const DEVICE_NS: &str = "http://www.onvif.org/ver10/device/wsdl";

/// Default time allowed for one request, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The camera's clock as read by [`OnvifClient::get_system_date_and_time`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraClock {
    pub reply: SystemDateAndTime,
    /// Camera UTC minus local UTC in milliseconds (positive: the camera is ahead); `None` when
    /// the camera did not give its UTC time.
    pub clock_offset_ms: Option<i64>,
}

/// The HTTP authentication learned from the last `401`.
enum HttpAuth {
    /// Answered by http-auth, which counts the requests sent with the nonce.
    Digest(DigestChallenge),
    Basic,
}

/// A client for one camera's ONVIF services, addressed by its device service URL. Cheap to share
/// between threads by reference; it is `Send + Sync`.
pub struct OnvifClient {
    device_url: String,
    username: String,
    password: Option<Password>,
    timeout: Duration,
    agent: ureq::Agent,
    clock_offset_ms: AtomicI64,
    http_auth: Mutex<Option<HttpAuth>>,
    media: Mutex<Option<MediaService>>,
    /// Answer a Basic-only challenge on a plain `http` URL. Default false.
    allow_basic_over_http: bool,
}

impl fmt::Debug for OnvifClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnvifClient")
            .field("device_url", &redact_url(&self.device_url))
            .field("username", &self.username)
            .field("password", &self.password)
            .field("timeout", &self.timeout)
            .field(
                "clock_offset_ms",
                &self.clock_offset_ms.load(Ordering::Relaxed),
            )
            .finish_non_exhaustive()
    }
}

impl OnvifClient {
    /// A client for the device service at `device_service_url`
    /// (`http://192.168.1.64/onvif/device_service`, ONVIF Core §5.1, services overview, fixes
    /// that path for the entry point). User and password given inside the URL are taken out of it and used when
    /// `username` is empty and `password` is `None`. Without a password, requests go
    /// unauthenticated. No I/O happens here.
    pub fn new(
        device_service_url: &str,
        username: &str,
        password: Option<Password>,
    ) -> Result<Self, OnvifError> {
        let invalid = |message: &str| OnvifError::InvalidUrl {
            url: redact_url(device_service_url),
            message: message.to_string(),
        };
        let mut url = url::Url::parse(device_service_url).map_err(|e| invalid(&e.to_string()))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(invalid("the scheme must be http or https"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("no host"));
        }
        let (mut username, mut password) = (username.to_string(), password);
        if username.is_empty() && password.is_none() && !url.username().is_empty() {
            username = percent_decode(url.username());
            password = url.password().map(|p| Password::new(percent_decode(p)));
        }
        // Neither setter fails on an http(s) URL with a host, checked above.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        Ok(OnvifClient {
            device_url: url.to_string(),
            username,
            password,
            timeout: DEFAULT_TIMEOUT,
            agent: agent(DEFAULT_TIMEOUT),
            clock_offset_ms: AtomicI64::new(0),
            http_auth: Mutex::new(None),
            media: Mutex::new(None),
            allow_basic_over_http: false,
        })
    }

    /// Whether to answer a camera that offers only HTTP Basic on a plain `http` URL (sending
    /// the password readable on the network). Default false: such a request fails with
    /// [`OnvifError::BasicOverHttp`] and the password is not sent.
    pub fn allow_basic_over_http(mut self, allow: bool) -> Self {
        self.allow_basic_over_http = allow;
        self
    }

    /// Time allowed for each request, connection included. Default [`DEFAULT_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.agent = agent(timeout);
        self.timeout = timeout;
        self
    }

    /// The device service URL, without credentials.
    pub fn device_url(&self) -> &str {
        &self.device_url
    }

    /// Camera clock minus local clock in ms, as last measured (0 before any measurement). Used
    /// for the UsernameToken `Created`.
    pub fn clock_offset_ms(&self) -> i64 {
        self.clock_offset_ms.load(Ordering::Relaxed)
    }

    /// Sets the clock offset, e.g. one remembered from an earlier session.
    pub fn set_clock_offset_ms(&self, offset_ms: i64) {
        self.clock_offset_ms.store(offset_ms, Ordering::Relaxed);
    }

    /// GetSystemDateAndTime (ONVIF Core §8, "System"). Sent without a UsernameToken first, as the
    /// spec requires cameras to answer it unauthenticated so that clients can learn the clock
    /// before authenticating; sent again with one if the camera wants it anyway. Stores the clock
    /// offset for later UsernameTokens.
    pub fn get_system_date_and_time(&self) -> Result<CameraClock, OnvifError> {
        const ACTION: &str = "GetSystemDateAndTime";
        let body = "<tds:GetSystemDateAndTime/>";
        let sent = now_unix_ms();
        let xml = match self.call(ACTION, &self.device_url, DEVICE_NS, body, false) {
            Err(e) if e.is_auth() && self.password.is_some() => {
                self.call(ACTION, &self.device_url, DEVICE_NS, body, true)?
            }
            other => other?,
        };
        let received = now_unix_ms();
        let reply = responses::parse_system_date_and_time(&xml)?;
        let clock_offset_ms = reply
            .utc_unix_ms
            .map(|cam| responses::clock_offset_ms(cam, sent, received));
        if let Some(off) = clock_offset_ms {
            self.set_clock_offset_ms(off);
        }
        Ok(CameraClock {
            reply,
            clock_offset_ms,
        })
    }

    /// GetDeviceInformation (ONVIF Core §8, "System"): manufacturer, model, firmware.
    pub fn get_device_information(&self) -> Result<DeviceInformation, OnvifError> {
        let xml = self.call(
            "GetDeviceInformation",
            &self.device_url,
            DEVICE_NS,
            "<tds:GetDeviceInformation/>",
            true,
        )?;
        responses::parse_device_information(&xml)
    }

    /// GetServices (ONVIF Core §8, "Capabilities"): every service namespace and its URL.
    pub fn get_services(&self) -> Result<Vec<Service>, OnvifError> {
        let xml = self.call(
            "GetServices",
            &self.device_url,
            DEVICE_NS,
            "<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>",
            true,
        )?;
        responses::parse_services(&xml)
    }

    /// GetCapabilities with category `All` (ONVIF Core §8, "Capabilities"; deprecated in favour
    /// of GetServices but the only way on ONVIF 1.x cameras).
    pub fn get_capabilities(&self) -> Result<Capabilities, OnvifError> {
        let xml = self.call(
            "GetCapabilities",
            &self.device_url,
            DEVICE_NS,
            "<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>",
            true,
        )?;
        responses::parse_capabilities(&xml)
    }

    /// The camera's media services, Media2 first: from GetServices, or from GetCapabilities when
    /// GetServices fails for a reason other than credentials. Empty is an `Unsupported` error.
    pub fn media_services(&self) -> Result<Vec<MediaService>, OnvifError> {
        let found = match self.get_services() {
            Ok(services) => responses::media_services(&services),
            Err(e) if e.is_auth() => return Err(e),
            Err(e) => {
                tracing::debug!(error = %e, "GetServices failed, trying GetCapabilities");
                Vec::new()
            }
        };
        let found = if found.is_empty() {
            self.get_capabilities()?
                .media
                .map(|url| {
                    vec![MediaService {
                        version: MediaVersion::Media1,
                        url,
                    }]
                })
                .unwrap_or_default()
        } else {
            found
        };
        if found.is_empty() {
            return Err(OnvifError::Unsupported {
                action: "GetServices",
                url: redact_url(&self.device_url),
                what: "media service",
            });
        }
        Ok(found)
    }

    /// The media service `get_profiles` and `get_stream_uri` use: the one set with
    /// [`use_media_service`](Self::use_media_service), else the first of
    /// [`media_services`](Self::media_services) (Media2 when offered), looked up once.
    pub fn media_service(&self) -> Result<MediaService, OnvifError> {
        if let Some(m) = lock(&self.media).clone() {
            return Ok(m);
        }
        let first = self
            .media_services()?
            .into_iter()
            .next()
            .expect("media_services returns an error rather than an empty list");
        *lock(&self.media) = Some(first.clone());
        Ok(first)
    }

    /// Makes `get_profiles` and `get_stream_uri` use `media`.
    pub fn use_media_service(&self, media: MediaService) {
        *lock(&self.media) = Some(media);
    }

    /// GetProfiles on the current media service.
    pub fn get_profiles(&self) -> Result<Vec<Profile>, OnvifError> {
        let media = self.media_service()?;
        self.get_profiles_on(&media)
    }

    /// GetProfiles on `media`. Media2 is asked for all configurations (`Type` `All`), without
    /// which it answers with names and tokens only (Media2 spec, GetProfiles).
    pub fn get_profiles_on(&self, media: &MediaService) -> Result<Vec<Profile>, OnvifError> {
        let (ns, body) = match media.version {
            MediaVersion::Media1 => (responses::MEDIA1_NS, "<trt:GetProfiles/>"),
            MediaVersion::Media2 => (
                responses::MEDIA2_NS,
                "<tr2:GetProfiles><tr2:Type>All</tr2:Type></tr2:GetProfiles>",
            ),
        };
        let xml = self.call("GetProfiles", &media.url, ns, body, true)?;
        responses::parse_profiles(&xml)
    }

    /// GetStreamUri for `profile_token` on the current media service: RTP unicast over RTSP
    /// (Media: `StreamSetup` `RTP-Unicast`/`RTSP`; Media2: protocol `RtspUnicast`). The URI is
    /// returned as the camera gave it, credentials included if it embeds any; see
    /// `strip_credentials`.
    pub fn get_stream_uri(&self, profile_token: &str) -> Result<String, OnvifError> {
        let media = self.media_service()?;
        self.get_stream_uri_on(&media, profile_token)
    }

    /// GetStreamUri for `profile_token` on `media`.
    pub fn get_stream_uri_on(
        &self,
        media: &MediaService,
        profile_token: &str,
    ) -> Result<String, OnvifError> {
        let token = soap::xml_escape(profile_token);
        let (ns, body) = match media.version {
            MediaVersion::Media1 => (
                responses::MEDIA1_NS,
                format!(
                    "<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream>\
                     <tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup>\
                     <trt:ProfileToken>{token}</trt:ProfileToken></trt:GetStreamUri>"
                ),
            ),
            MediaVersion::Media2 => (
                responses::MEDIA2_NS,
                format!(
                    "<tr2:GetStreamUri><tr2:Protocol>RtspUnicast</tr2:Protocol>\
                     <tr2:ProfileToken>{token}</tr2:ProfileToken></tr2:GetStreamUri>"
                ),
            ),
        };
        let xml = self.call("GetStreamUri", &media.url, ns, &body, true)?;
        responses::parse_stream_uri(&xml)
    }

    /// One SOAP request/response. `authenticate` adds the UsernameToken; HTTP authentication is
    /// answered whenever the camera challenges. Returns the reply body of a 2xx answer without a
    /// fault.
    fn call(
        &self,
        action: &'static str,
        url: &str,
        namespace: &str,
        body: &str,
        authenticate: bool,
    ) -> Result<String, OnvifError> {
        let shown_url = redact_url(url);
        let request_target = request_target(url);
        let content_type =
            format!("application/soap+xml; charset=utf-8; action=\"{namespace}/{action}\"");
        let password = self.password.as_ref().map(Password::expose);
        let mut fresh_challenge = false;
        // At most: one try with what we know, one answering a new challenge, one more if the
        // camera calls that nonce stale right away.
        for _attempt in 0..3 {
            let security = match password {
                Some(pw) if authenticate => username_token_header(
                    &self.username,
                    pw,
                    &random_bytes::<16>(),
                    now_unix_ms() + self.clock_offset_ms(),
                ),
                _ => String::new(),
            };
            let envelope = soap::envelope(&security, body);
            let authorization =
                self.http_authorization(&request_target)
                    .map_err(|e| OnvifError::Auth {
                        action,
                        url: shown_url.clone(),
                        reason: format!(
                            "cannot answer the camera's HTTP Digest challenge: {}",
                            scrub(&e, self.password.as_ref())
                        ),
                    })?;
            let mut req = self.agent.post(url).header("Content-Type", &content_type);
            if let Some(a) = &authorization {
                req = req.header("Authorization", a);
            }
            let mut resp = req
                .send(envelope.as_str())
                .map_err(|e| self.transport_error(action, &shown_url, e))?;
            let status = resp.status().as_u16();
            tracing::debug!(action, url = %shown_url, status, "onvif reply");
            if status == 401 {
                let challenges = parse_challenges(
                    resp.headers()
                        .get_all("www-authenticate")
                        .iter()
                        .filter_map(|v| v.to_str().ok()),
                );
                let auth_err = |reason: &str| OnvifError::Auth {
                    action,
                    url: shown_url.clone(),
                    reason: reason.to_string(),
                };
                if password.is_none() {
                    return Err(auth_err("the camera wants a user name and password"));
                }
                let offered = !challenges.is_empty();
                let basic = challenges
                    .iter()
                    .any(|c| matches!(c, Challenge::Basic { .. }));
                // The first Digest challenge this client can answer (RFC 7616 §3.7), preferred
                // to Basic. Chosen here rather than by http-auth's `PasswordClient`, which takes
                // the first Digest even when it offers only `auth-int`, wants a realm on Basic
                // and does not tell "no challenge" from "none this client speaks".
                let digest = challenges.into_iter().find_map(|c| match c {
                    Challenge::Digest(d) if d.is_supported() => Some(d),
                    _ => None,
                });
                let retry = match (&digest, basic) {
                    (Some(d), _) => !fresh_challenge || d.client().stale(),
                    (None, true) => !fresh_challenge,
                    (None, false) if !offered => false,
                    (None, false) => {
                        return Err(auth_err(
                            "the camera offers no HTTP authentication this client speaks",
                        ));
                    }
                };
                if !retry {
                    return Err(auth_err("user name or password refused"));
                }
                if digest.is_none() && !self.allow_basic_over_http && is_plain_http(url) {
                    return Err(OnvifError::BasicOverHttp {
                        action,
                        url: shown_url,
                    });
                }
                *lock(&self.http_auth) = Some(match digest {
                    Some(challenge) => HttpAuth::Digest(challenge),
                    None => HttpAuth::Basic,
                });
                fresh_challenge = true;
                continue;
            }
            let text = resp
                .body_mut()
                .read_to_string()
                .map_err(|e| self.transport_error(action, &shown_url, e))?;
            if status == 403 {
                return Err(OnvifError::Auth {
                    action,
                    url: shown_url,
                    reason: "forbidden for this user".into(),
                });
            }
            // Cameras answer faults with 400 or 500 as SOAP 1.2 asks, and now and then with 200.
            if let Some(fault) = soap::parse_fault(&text) {
                return Err(OnvifError::Fault {
                    action,
                    url: shown_url,
                    code: fault.code,
                    reason: fault.reason,
                });
            }
            if !(200..300).contains(&status) {
                return Err(OnvifError::Http {
                    action,
                    url: shown_url,
                    status,
                });
            }
            return Ok(text);
        }
        Err(OnvifError::Auth {
            action,
            url: shown_url,
            reason: "the camera keeps asking for authentication".into(),
        })
    }

    /// The `Authorization` header for the next request, from the last challenge, if any. An
    /// error when http-auth cannot write the Digest answer (a value it cannot quote).
    fn http_authorization(&self, request_target: &str) -> Result<Option<String>, String> {
        let Some(password) = self.password.as_ref().map(Password::expose) else {
            return Ok(None);
        };
        match lock(&self.http_auth).as_mut() {
            None => Ok(None),
            Some(HttpAuth::Basic) => Ok(Some(basic_authorization(&self.username, password))),
            Some(HttpAuth::Digest(challenge)) => challenge
                .respond(&self.username, password, "POST", request_target)
                .map(Some),
        }
    }

    fn transport_error(&self, action: &'static str, url: &str, e: ureq::Error) -> OnvifError {
        match e {
            ureq::Error::Timeout(_) => OnvifError::Timeout {
                action,
                url: url.to_string(),
                timeout_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
            },
            other => OnvifError::Io {
                action,
                url: url.to_string(),
                message: scrub(
                    &crate::redact::redact_text(&other.to_string()),
                    self.password.as_ref(),
                ),
            },
        }
    }
}

/// The HTTP agent: status codes come back as responses (401 and faults are read, not errors),
/// no redirects (a POST is not re-sent elsewhere), no proxy (cameras sit on the local network; a
/// proxy from the environment would only get in the way).
fn agent(timeout: Duration) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .max_redirects(0)
        .proxy(None)
        .user_agent("sharpeyes-onvif")
        .build();
    ureq::Agent::new_with_config(config)
}

/// Takes the password out of a message from a lower layer, in case one ever quotes it.
fn scrub(message: &str, password: Option<&Password>) -> String {
    match password.map(Password::expose) {
        Some(p) if !p.is_empty() && message.contains(p) => message.replace(p, "***"),
        _ => message.to_string(),
    }
}

/// Whether `url` is plain `http` (not TLS).
fn is_plain_http(url: &str) -> bool {
    url::Url::parse(url).map_or(true, |u| u.scheme() != "https")
}

/// Path and query of `url`, as the Digest `uri` parameter wants it (RFC 7616 §3.4).
fn request_target(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        },
        Err(_) => "/".to_string(),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks leaves plain data behind, still usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now_unix_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// `%XX` escapes → bytes, then UTF-8 (lossy); invalid escapes are kept as they are. Used for
/// user info in URLs and for scopes.
pub(crate) fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_device_url_move_out_of_it() {
        let c = OnvifClient::new(
            "http://admin:s%40cret@192.168.1.64/onvif/device_service",
            "",
            None,
        )
        .expect("valid url");
        assert_eq!(c.device_url(), "http://192.168.1.64/onvif/device_service");
        assert_eq!(c.username, "admin");
        assert_eq!(c.password.as_ref().map(Password::expose), Some("s@cret"));
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("s@cret") && !dbg.contains("s%40cret"),
            "{dbg}"
        );
    }

    #[test]
    fn rejects_urls_that_are_not_http() {
        let e = OnvifClient::new("rtsp://192.168.1.64/", "admin", None).expect_err("rtsp");
        assert!(matches!(e, OnvifError::InvalidUrl { .. }), "{e:?}");
        assert!(OnvifClient::new("not a url", "", None).is_err());
    }

    #[test]
    fn digest_uri_is_path_and_query() {
        assert_eq!(
            request_target("http://10.0.0.5:8080/onvif/Media?x=1"),
            "/onvif/Media?x=1"
        );
        assert_eq!(request_target("http://10.0.0.5"), "/");
    }

    #[test]
    fn percent_decoding_keeps_bad_escapes() {
        assert_eq!(percent_decode("HIKVISION%20DS-2CD"), "HIKVISION DS-2CD");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn scrub_removes_the_password_from_lower_layer_messages() {
        let p = Password::new("hunter2");
        assert_eq!(scrub("bad uri x:hunter2@h", Some(&p)), "bad uri x:***@h");
        assert_eq!(scrub("fine", None), "fine");
    }
}
