//! Credentials for ONVIF: the WS-Security UsernameToken put in the SOAP header and the HTTP
//! Digest / Basic answers to a `401` challenge. Pure: nonces, client nonces and times are passed
//! in; `random_bytes` is the only function with I/O (it reads the OS random source).
//!
//! - UsernameToken with PasswordDigest: ONVIF Core §5.12 (user authentication, "Username token
//!   profile") and OASIS WS-Security UsernameToken Profile 1.0 §3.1:
//!   `PasswordDigest = Base64(SHA-1(nonce + created + password))`, the nonce as raw bytes.
//! - HTTP Digest: RFC 7616 (MD5, MD5-sess, SHA-256, SHA-256-sess; qop `auth` or `auth-int`, and
//!   the RFC 2069 form without qop), RFC 2617 for older cameras. HTTP Basic: RFC 7617.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::Md5;
use sha1::{Digest as _, Sha1};
use sha2::Sha256;

/// A camera password. `Debug` and `Display` print `***`; the text is reachable only through
/// [`Password::expose`], which callers use to hash it or hand it to the RTSP client.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(password: impl Into<String>) -> Self {
        Password(password.into())
    }

    /// The password itself. Never log or format what this returns.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Password {
    fn from(s: String) -> Self {
        Password(s)
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Self {
        Password(s.to_string())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// `n` bytes from the OS random source, for UsernameToken nonces, HTTP Digest client nonces and
/// WS-Discovery message ids. Does I/O (getrandom).
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    if getrandom::getrandom(&mut buf).is_err() {
        // The OS random source failing is close to impossible on Linux; a nonce from the clock
        // still differs between requests, which is all the camera checks.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (t >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(151);
        }
    }
    buf
}

/// `PasswordDigest = Base64(SHA-1(nonce + created + password))` (UsernameToken Profile 1.0
/// §3.1, ONVIF Core §5.12.2). `nonce` is the raw nonce, not its Base64 text; `created` is the
/// exact `wsu:Created` text sent.
pub fn password_digest(nonce: &[u8], created: &str, password: &str) -> String {
    let mut h = Sha1::new();
    h.update(nonce);
    h.update(created.as_bytes());
    h.update(password.as_bytes());
    BASE64.encode(h.finalize())
}

const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
const WSU_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
const PASSWORD_DIGEST_TYPE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";
const BASE64_BINARY: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";

/// The `wsse:Security` SOAP header with a UsernameToken (ONVIF Core §5.12.2). `created_unix_ms`
/// is the camera's idea of now: local time plus the clock offset from GetSystemDateAndTime,
/// because cameras reject a `Created` too far from their own clock. The password itself is never
/// in the output, only its digest.
pub fn username_token_header(
    username: &str,
    password: &str,
    nonce: &[u8],
    created_unix_ms: i64,
) -> String {
    let created = format_utc(created_unix_ms);
    let digest = password_digest(nonce, &created, password);
    format!(
        concat!(
            r#"<wsse:Security s:mustUnderstand="1" xmlns:wsse="{wsse}" xmlns:wsu="{wsu}">"#,
            r#"<wsse:UsernameToken><wsse:Username>{user}</wsse:Username>"#,
            r#"<wsse:Password Type="{ptype}">{digest}</wsse:Password>"#,
            r#"<wsse:Nonce EncodingType="{btype}">{nonce}</wsse:Nonce>"#,
            r#"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>"#
        ),
        wsse = WSSE_NS,
        wsu = WSU_NS,
        user = super::soap::xml_escape(username),
        ptype = PASSWORD_DIGEST_TYPE,
        digest = digest,
        btype = BASE64_BINARY,
        nonce = BASE64.encode(nonce),
        created = created,
    )
}

/// Unix milliseconds → `YYYY-MM-DDTHH:MM:SSZ` (xs:dateTime in UTC, whole seconds: some cameras
/// reject fractional seconds in `wsu:Created`).
pub fn format_utc(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// Calendar date and time of day (UTC) → Unix milliseconds; `None` when a field is out of range.
pub fn unix_ms_from_utc(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
) -> Option<i64> {
    // 60 allows a leap second as cameras may report one. Years beyond xs:dateTime's four
    // digits would overflow the arithmetic below (a wrapped, made-up time in release builds).
    if !(1..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 86_400) + i64::from(hour * 3600 + minute * 60 + second)) * 1000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant, "chrono-Compatible Low-Level
/// Date Algorithms").
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// One challenge from a `WWW-Authenticate` header (RFC 7235 §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Digest(DigestChallenge),
    Basic {
        realm: Option<String>,
    },
    /// A scheme this client does not speak (Bearer, Negotiate, ...), lower-cased.
    Other(String),
}

/// The parameters of a `Digest` challenge (RFC 7616 §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChallenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    /// As sent, upper-cased; `MD5` when the camera named none (RFC 7616 §3.3).
    pub algorithm: String,
    /// The qop options offered, lower-cased; empty for an RFC 2069 challenge.
    pub qop: Vec<String>,
    /// The server says the nonce is stale, not the password wrong (RFC 7616 §3.3).
    pub stale: bool,
}

/// Every challenge in the `WWW-Authenticate` header values of one response, in order. Several
/// challenges may share one header value, separated by commas (RFC 7235 §4.1).
pub fn parse_challenges<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut out = Vec::new();
    for value in values {
        let mut current: Option<(String, Vec<(String, String)>)> = None;
        for item in split_params(value) {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            // "Digest realm=x" starts a challenge; "realm=x" continues one; "Basic" alone is a
            // challenge without parameters.
            let (scheme, rest) = match item.split_once(char::is_whitespace) {
                Some((s, r)) if !s.contains('=') => (Some(s), r.trim()),
                _ if !item.contains('=') => (Some(item), ""),
                _ => (None, item),
            };
            if let Some(scheme) = scheme {
                if let Some(c) = current.take() {
                    out.push(build_challenge(c));
                }
                current = Some((scheme.to_ascii_lowercase(), Vec::new()));
            }
            if let (Some((k, v)), Some((_, params))) = (rest.split_once('='), current.as_mut()) {
                params.push((k.trim().to_ascii_lowercase(), unquote(v.trim())));
            }
        }
        if let Some(c) = current.take() {
            out.push(build_challenge(c));
        }
    }
    out
}

fn build_challenge((scheme, params): (String, Vec<(String, String)>)) -> Challenge {
    let get = |k: &str| {
        params
            .iter()
            .find(|(pk, _)| pk == k)
            .map(|(_, v)| v.clone())
    };
    match scheme.as_str() {
        "digest" => Challenge::Digest(DigestChallenge {
            realm: get("realm").unwrap_or_default(),
            nonce: get("nonce").unwrap_or_default(),
            opaque: get("opaque"),
            algorithm: get("algorithm")
                .map(|a| a.to_ascii_uppercase())
                .unwrap_or_else(|| "MD5".to_string()),
            qop: get("qop")
                .map(|q| {
                    q.split(',')
                        .map(|s| s.trim().to_ascii_lowercase())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        }),
        "basic" => Challenge::Basic {
            realm: get("realm"),
        },
        other => Challenge::Other(other.to_string()),
    }
}

/// Splits on commas outside double quotes.
fn split_params(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => v.to_string(),
    }
}

impl DigestChallenge {
    /// Whether this client can compute a response for the challenge's algorithm.
    pub fn is_supported(&self) -> bool {
        matches!(
            self.algorithm.as_str(),
            "MD5" | "MD5-SESS" | "SHA-256" | "SHA-256-SESS"
        )
    }

    fn hash(&self, data: &str) -> String {
        self.hash_bytes(data.as_bytes())
    }

    fn hash_bytes(&self, data: &[u8]) -> String {
        if self.algorithm.starts_with("SHA-256") {
            hex(&Sha256::digest(data))
        } else {
            hex(&Md5::digest(data))
        }
    }

    /// The qop this client answers with: `auth` when offered, else `auth-int`, else none
    /// (RFC 2069 compatibility, RFC 2617 §3.2.2.1).
    pub fn chosen_qop(&self) -> Option<&'static str> {
        if self.qop.iter().any(|q| q == "auth") {
            Some("auth")
        } else if self.qop.iter().any(|q| q == "auth-int") {
            Some("auth-int")
        } else {
            None
        }
    }

    /// The `response` value (RFC 7616 §3.4.1): `KD(H(A1), nonce:nc:cnonce:qop:H(A2))`, or
    /// `KD(H(A1), nonce:H(A2))` without qop. `nc` is the nonce count for this nonce, from 1;
    /// `body` is hashed only for `auth-int`.
    #[allow(clippy::too_many_arguments)]
    pub fn response(
        &self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        nc: u32,
        cnonce: &str,
        body: &[u8],
    ) -> String {
        let mut ha1 = self.hash(&format!("{username}:{}:{password}", self.realm));
        if self.algorithm.ends_with("-SESS") {
            ha1 = self.hash(&format!("{ha1}:{}:{cnonce}", self.nonce));
        }
        let qop = self.chosen_qop();
        let a2 = if qop == Some("auth-int") {
            format!("{method}:{uri}:{}", self.hash_bytes(body))
        } else {
            format!("{method}:{uri}")
        };
        let ha2 = self.hash(&a2);
        match qop {
            Some(qop) => self.hash(&format!(
                "{ha1}:{}:{nc:08x}:{cnonce}:{qop}:{ha2}",
                self.nonce
            )),
            None => self.hash(&format!("{ha1}:{}:{ha2}", self.nonce)),
        }
    }

    /// The `Authorization` header value answering this challenge (RFC 7616 §3.4).
    #[allow(clippy::too_many_arguments)]
    pub fn authorization(
        &self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        nc: u32,
        cnonce: &str,
        body: &[u8],
    ) -> String {
        let response = self.response(username, password, method, uri, nc, cnonce, body);
        let mut h = format!(
            r#"Digest username="{}", realm="{}", nonce="{}", uri="{}", algorithm={}, response="{}""#,
            quote_escape(username),
            quote_escape(&self.realm),
            quote_escape(&self.nonce),
            quote_escape(uri),
            self.algorithm,
            response
        );
        if let Some(opaque) = &self.opaque {
            h.push_str(&format!(r#", opaque="{}""#, quote_escape(opaque)));
        }
        if let Some(qop) = self.chosen_qop() {
            h.push_str(&format!(r#", qop={qop}, nc={nc:08x}, cnonce="{cnonce}""#));
        }
        h
    }
}

/// `Basic base64(user:password)` (RFC 7617 §2).
pub fn basic_authorization(username: &str, password: &str) -> String {
    format!("Basic {}", BASE64.encode(format!("{username}:{password}")))
}

fn quote_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_digest_matches_the_onvif_programmers_guide_example() {
        // ONVIF Application Programmer's Guide, "Authentication" (UsernameToken example).
        let nonce = BASE64
            .decode("LKqI6G/AikKCQrN0zqZFlg==")
            .expect("valid base64");
        assert_eq!(
            password_digest(&nonce, "2010-09-16T07:50:45Z", "userpassword"),
            "tuOSpGlFlIXsozq4HFNeeGeFLEI="
        );
    }

    #[test]
    fn username_token_header_carries_digest_nonce_and_created_but_not_the_password() {
        let nonce = BASE64
            .decode("LKqI6G/AikKCQrN0zqZFlg==")
            .expect("valid base64");
        let created_ms = unix_ms_from_utc(2010, 9, 16, 7, 50, 45).expect("valid date");
        let h = username_token_header("a&b", "userpassword", &nonce, created_ms);
        assert!(h.contains("tuOSpGlFlIXsozq4HFNeeGeFLEI="), "{h}");
        assert!(h.contains(">LKqI6G/AikKCQrN0zqZFlg==<"), "{h}");
        assert!(
            h.contains("<wsu:Created>2010-09-16T07:50:45Z</wsu:Created>"),
            "{h}"
        );
        assert!(h.contains("<wsse:Username>a&amp;b</wsse:Username>"), "{h}");
        assert!(!h.contains("userpassword"), "{h}");
    }

    #[test]
    fn utc_formatting_round_trips_across_leap_years_and_epoch() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_825_600_999), "2000-02-29T12:00:00Z");
        let ms = unix_ms_from_utc(2024, 2, 29, 23, 59, 59).expect("valid date");
        assert_eq!(format_utc(ms), "2024-02-29T23:59:59Z");
        assert_eq!(unix_ms_from_utc(2024, 13, 1, 0, 0, 0), None);
        assert_eq!(format_utc(-1000), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn digest_response_matches_rfc_2617_example() {
        // RFC 2617 §3.5.
        let c = DigestChallenge {
            realm: "testrealm@host.com".into(),
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093".into(),
            opaque: Some("5ccc069c403ebaf9f0171e9517f40e41".into()),
            algorithm: "MD5".into(),
            qop: vec!["auth".into(), "auth-int".into()],
            stale: false,
        };
        let r = c.response(
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            1,
            "0a4f113b",
            b"",
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn digest_response_matches_rfc_7616_examples_for_md5_and_sha256() {
        // RFC 7616 §3.9.1.
        let mut c = DigestChallenge {
            realm: "http-auth@example.org".into(),
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v".into(),
            opaque: Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS".into()),
            algorithm: "MD5".into(),
            qop: vec!["auth".into(), "auth-int".into()],
            stale: false,
        };
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let args = (
            "Mufasa",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            1,
            cnonce,
        );
        assert_eq!(
            c.response(args.0, args.1, args.2, args.3, args.4, args.5, b""),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
        c.algorithm = "SHA-256".into();
        assert_eq!(
            c.response(args.0, args.1, args.2, args.3, args.4, args.5, b""),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn parses_digest_and_basic_challenges_from_one_or_several_headers() {
        let cs = parse_challenges([
            r#"Digest qop="auth", realm="IP Camera(C2133)", nonce="4e4455784e324a6d4f54673a3335",stale="FALSE", opaque="x,y""#,
            "Basic realm=\"Login\"",
        ]);
        assert_eq!(cs.len(), 2, "{cs:?}");
        match &cs[0] {
            Challenge::Digest(d) => {
                assert_eq!(d.realm, "IP Camera(C2133)");
                assert_eq!(d.nonce, "4e4455784e324a6d4f54673a3335");
                assert_eq!(d.opaque.as_deref(), Some("x,y"));
                assert_eq!(d.algorithm, "MD5");
                assert_eq!(d.qop, vec!["auth"]);
                assert!(!d.stale);
            }
            other => panic!("not digest: {other:?}"),
        }
        assert_eq!(
            cs[1],
            Challenge::Basic {
                realm: Some("Login".into())
            }
        );
        let both =
            parse_challenges([r#"Basic realm="a", Digest realm="b", nonce="n", stale=true"#]);
        assert!(matches!(&both[0], Challenge::Basic { .. }), "{both:?}");
        assert!(
            matches!(&both[1], Challenge::Digest(d) if d.realm == "b" && d.stale),
            "{both:?}"
        );
    }

    #[test]
    fn digest_authorization_header_names_every_field_the_server_checks() {
        let c = DigestChallenge {
            realm: "r".into(),
            nonce: "n".into(),
            opaque: Some("o".into()),
            algorithm: "MD5".into(),
            qop: vec!["auth".into()],
            stale: false,
        };
        let h = c.authorization("admin", "pw", "POST", "/onvif/device_service", 2, "c", b"");
        for part in [
            r#"username="admin""#,
            r#"realm="r""#,
            r#"nonce="n""#,
            r#"uri="/onvif/device_service""#,
            "qop=auth",
            "nc=00000002",
            r#"cnonce="c""#,
            r#"opaque="o""#,
        ] {
            assert!(h.contains(part), "{part} missing from {h}");
        }
        assert!(!h.contains("pw\""), "{h}");
    }

    #[test]
    fn basic_authorization_matches_rfc_7617_example() {
        assert_eq!(
            basic_authorization("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn password_debug_and_display_hide_the_text() {
        let p = Password::new("hunter2");
        assert_eq!(format!("{p:?}"), "Password(***)");
        assert_eq!(format!("{p}"), "***");
        assert_eq!(p.expose(), "hunter2");
    }
}
