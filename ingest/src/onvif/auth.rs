//! Credentials for ONVIF: the WS-Security UsernameToken put in the SOAP header and the HTTP
//! Digest / Basic answers to a `401` challenge. Pure but for randomness: UsernameToken nonces and
//! times are passed in; `random_bytes` reads the OS random source, and http-auth draws each HTTP
//! Digest client nonce itself (`rand`).
//!
//! - UsernameToken with PasswordDigest: ONVIF Core §5.12 (user authentication, "Username token
//!   profile") and OASIS WS-Security UsernameToken Profile 1.0 §3.1:
//!   `PasswordDigest = Base64(SHA-1(nonce + created + password))`, the nonce as raw bytes. ONVIF's
//!   own, not HTTP's: written here.
//! - HTTP Digest: RFC 7616 (MD5, SHA-256, SHA-512-256 and their `-sess` forms; qop `auth`, and
//!   the RFC 2069 form without qop), RFC 2617 for older cameras. HTTP Basic: RFC 7617. Challenges
//!   are parsed and answered by `http-auth`, the crate retina answers RTSP cameras with; this
//!   module picks what to answer and how (see [`DigestChallenge::respond`]).
//! - Times (`wsu:Created`, the camera's clock) are read and written by `jiff`, in UTC.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http_auth::digest::Qop;
use http_auth::{ChallengeParser, ChallengeRef, DigestClient, ParamValue, PasswordParams};
use jiff::Timestamp;
use jiff::civil::DateTime;
use sha1::{Digest as _, Sha1};

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
/// reject fractional seconds in `wsu:Created`). Written by jiff (`{:.0}` drops the fraction,
/// rounding towards the past); instants beyond jiff's range (-9999-01-02T01:59:59Z to
/// 9999-12-30T22:00:00.999999999Z) are clamped to its ends.
pub fn format_utc(unix_ms: i64) -> String {
    let t = Timestamp::from_millisecond(unix_ms).unwrap_or(if unix_ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    format!("{t:.0}")
}

/// Calendar date and time of day (UTC) → Unix milliseconds; `None` when a field is out of range
/// or the day is not in the month (jiff checks the calendar).
pub fn unix_ms_from_utc(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
) -> Option<i64> {
    // Years beyond xs:dateTime's four digits are refused (jiff would take years down to -9999,
    // and 0). 60 allows a leap second as cameras may report one: jiff has no leap seconds, so it
    // is read as the first second of the next minute.
    if !(1..=9999).contains(&year) || second > 60 {
        return None;
    }
    let leap = second == 60;
    let dt = DateTime::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
        i8::try_from(hour).ok()?,
        i8::try_from(minute).ok()?,
        i8::try_from(if leap { 59 } else { second }).ok()?,
        0,
    )
    .ok()?;
    // Civil arithmetic, not a `Timestamp`: jiff's timestamps stop a day short of year 9999's
    // end (room for any UTC offset).
    let ms = i64::try_from(dt.duration_since(UNIX_EPOCH).as_millis()).ok()?;
    Some(ms + if leap { 1000 } else { 0 })
}

/// 1970-01-01T00:00:00 in UTC, as a civil time.
const UNIX_EPOCH: DateTime = DateTime::constant(1970, 1, 1, 0, 0, 0, 0);

/// One challenge from a `WWW-Authenticate` header (RFC 7235 §4.1).
#[derive(Debug, PartialEq, Eq)]
pub enum Challenge {
    Digest(DigestChallenge),
    Basic {
        realm: Option<String>,
    },
    /// A scheme this client does not speak (Bearer, Negotiate, ...), lower-cased; also a
    /// `digest` challenge http-auth cannot answer (an unknown algorithm, no realm or nonce).
    Other(String),
}

/// A `Digest` challenge (RFC 7616 §3.3) and the state of answering it: http-auth's client,
/// which counts the requests sent with the challenge's nonce (`nc`, from 1). Keep it for as
/// long as the camera accepts the nonce.
#[derive(Debug, PartialEq, Eq)]
pub struct DigestChallenge {
    client: DigestClient,
}

/// Every challenge in the `WWW-Authenticate` header values of one response, in order. Several
/// challenges may share one header value, separated by commas (RFC 7235 §4.1). http-auth's
/// parser reads each value up to its first syntax error (e.g. non-ASCII text, which `ureq`
/// does not hand over anyway); the challenges before the error still count.
pub fn parse_challenges<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut out = Vec::new();
    for value in values {
        for parsed in ChallengeParser::new(value) {
            let Ok(mut c) = parsed else { break };
            out.push(if c.scheme.eq_ignore_ascii_case("Digest") {
                canonical_algorithm(&mut c);
                match DigestClient::try_from(&c) {
                    Ok(client) => Challenge::Digest(DigestChallenge { client }),
                    Err(_) => Challenge::Other("digest".to_string()),
                }
            } else if c.scheme.eq_ignore_ascii_case("Basic") {
                let realm = c
                    .params
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("realm"));
                Challenge::Basic {
                    realm: realm.map(|(_, v)| v.to_unescaped()),
                }
            } else {
                Challenge::Other(c.scheme.to_ascii_lowercase())
            });
        }
    }
    out
}

/// http-auth matches `algorithm` case-sensitively, as the IANA registry spells it (`MD5-sess`);
/// cameras also write `md5` or `MD5-SESS`, which this client has always answered. Rewrites a
/// known name to the registry's spelling; an unknown one is left for http-auth to refuse.
fn canonical_algorithm(c: &mut ChallengeRef<'_>) {
    const KNOWN: [&str; 6] = [
        "MD5",
        "MD5-sess",
        "SHA-256",
        "SHA-256-sess",
        "SHA-512-256",
        "SHA-512-256-sess",
    ];
    for (k, v) in &mut c.params {
        if !k.eq_ignore_ascii_case("algorithm") {
            continue;
        }
        let known = KNOWN
            .iter()
            .find(|n| n.eq_ignore_ascii_case(v.as_escaped()));
        if let Some(canonical) = known.and_then(|n| ParamValue::try_from_escaped(n).ok()) {
            *v = canonical;
        }
    }
}

impl DigestChallenge {
    /// http-auth's client: realm, nonce, opaque, algorithm, qop, stale, nonce count.
    pub fn client(&self) -> &DigestClient {
        &self.client
    }

    /// Whether this client can answer: with qop `auth`, or without qop (RFC 2069). A challenge
    /// offering only `auth-int` is not answered (see [`respond`](Self::respond)).
    pub fn is_supported(&self) -> bool {
        self.client.qop() & Qop::Auth
    }

    /// The `Authorization` header value for the next request (RFC 7616 §3.4), with a fresh
    /// random client nonce and the nonce count one higher than the last answer's. Errors when
    /// a value cannot be written in the header (e.g. a non-ASCII realm) or the challenge offers
    /// only `auth-int`.
    pub fn respond(
        &mut self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
    ) -> Result<String, String> {
        self.client
            .respond(&params(username, password, method, uri))
    }

    /// [`respond`](Self::respond) with a given client nonce, for known-answer tests.
    #[cfg(test)]
    fn respond_with_cnonce(
        &mut self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        cnonce: &str,
    ) -> Result<String, String> {
        self.client
            .respond_with_testing_cnonce(&params(username, password, method, uri), cnonce)
    }
}

/// What http-auth needs for an answer. No body: given one, http-auth (0.1.10) answers with qop
/// `auth-int` whenever offered, and puts the body itself into A2 where RFC 7616 §3.4.3 wants
/// its hash. Without one it answers with `auth`; a challenge offering only `auth-int` is left
/// unanswered ([`DigestChallenge::is_supported`] is false: the client falls back to Basic if
/// offered, else reports no usable authentication).
fn params<'a>(
    username: &'a str,
    password: &'a str,
    method: &'a str,
    uri: &'a str,
) -> PasswordParams<'a> {
    PasswordParams {
        username,
        password,
        uri,
        method,
        body: None,
    }
}

/// `Basic base64(user:password)` (RFC 7617 §2), by http-auth.
pub fn basic_authorization(username: &str, password: &str) -> String {
    http_auth::basic::encode_credentials(username, password)
}

#[cfg(test)]
mod tests {
    use http_auth::digest::Algorithm;

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
        assert_eq!(format_utc(-1), "1969-12-31T23:59:59Z");
        // A leap second is the next minute's first; a day the month lacks is refused.
        assert_eq!(
            unix_ms_from_utc(2016, 12, 31, 23, 59, 60),
            unix_ms_from_utc(2017, 1, 1, 0, 0, 0)
        );
        assert_eq!(unix_ms_from_utc(2023, 2, 29, 0, 0, 0), None);
        // The last second xs:dateTime can write.
        assert_eq!(
            unix_ms_from_utc(9999, 12, 31, 23, 59, 59),
            Some(253_402_300_799_000)
        );
    }

    /// The one `Digest` challenge in `header`.
    fn digest(header: &str) -> DigestChallenge {
        match parse_challenges([header]).pop() {
            Some(Challenge::Digest(d)) => d,
            other => panic!("not digest: {other:?}"),
        }
    }

    #[test]
    fn digest_response_matches_rfc_2617_example() {
        // RFC 2617 §3.5.
        let mut c = digest(concat!(
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", "#,
            r#"nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", "#,
            r#"opaque="5ccc069c403ebaf9f0171e9517f40e41""#
        ));
        let h = c
            .respond_with_cnonce(
                "Mufasa",
                "Circle Of Life",
                "GET",
                "/dir/index.html",
                "0a4f113b",
            )
            .expect("answerable");
        assert!(
            h.contains(r#"response="6629fae49393a05397450978507c4ef1""#),
            "{h}"
        );
    }

    #[test]
    fn digest_response_matches_rfc_7616_examples_for_md5_and_sha256() {
        // RFC 7616 §3.9.1.
        let challenge = |algorithm: &str| {
            digest(&format!(
                concat!(
                    r#"Digest realm="http-auth@example.org", qop="auth, auth-int", "#,
                    r#"algorithm={}, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "#,
                    r#"opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#
                ),
                algorithm
            ))
        };
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let args = ("Mufasa", "Circle of Life", "GET", "/dir/index.html", cnonce);
        for (algorithm, response) in [
            ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
            (
                "SHA-256",
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
        ] {
            let h = challenge(algorithm)
                .respond_with_cnonce(args.0, args.1, args.2, args.3, args.4)
                .expect("answerable");
            assert!(h.contains(&format!(r#"response="{response}""#)), "{h}");
        }
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
                let d = d.client();
                assert_eq!(d.realm(), "IP Camera(C2133)");
                assert_eq!(d.nonce(), "4e4455784e324a6d4f54673a3335");
                assert_eq!(d.opaque(), Some("x,y"));
                assert_eq!((d.algorithm(), d.session()), (Algorithm::Md5, false));
                assert!(d.qop() & Qop::Auth && !(d.qop() & Qop::AuthInt));
                assert!(!d.stale());
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
            matches!(&both[1], Challenge::Digest(d) if d.client().realm() == "b" && d.client().stale()),
            "{both:?}"
        );
    }

    #[test]
    fn algorithm_names_are_read_in_any_case_and_auth_int_alone_is_not_answered() {
        let d = digest(r#"Digest realm="r", nonce="n", algorithm=sha-256-SESS, qop="auth""#);
        assert_eq!(
            (d.client().algorithm(), d.client().session()),
            (Algorithm::Sha256, true)
        );
        assert!(d.is_supported());
        assert!(!digest(r#"Digest realm="r", nonce="n", qop="auth-int""#).is_supported());
        // RFC 2069: no qop, answered without nc and cnonce.
        let mut old = digest(r#"Digest realm="r", nonce="n""#);
        assert!(old.is_supported());
        let h = old.respond("u", "p", "GET", "/").expect("answerable");
        assert!(!h.contains("nc=") && !h.contains("cnonce="), "{h}");
        assert_eq!(
            parse_challenges([r#"Digest realm="r", nonce="n", algorithm=SHA-1"#]),
            [Challenge::Other("digest".into())]
        );
    }

    #[test]
    fn digest_authorization_header_names_every_field_the_server_checks() {
        let mut c = digest(r#"Digest realm="r", nonce="n", opaque="o", qop="auth""#);
        let uri = "/onvif/device_service";
        let first = c
            .respond_with_cnonce("admin", "pw", "POST", uri, "c")
            .expect("answerable");
        assert!(first.contains("nc=00000001"), "{first}");
        // The nonce count grows with each answer to the same nonce.
        let h = c
            .respond_with_cnonce("admin", "pw", "POST", uri, "c")
            .expect("answerable");
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
        assert_eq!(c.client().nonce_count(), 2);
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
