//! ONVIF against fake cameras on loopback: a small HTTP/1.1 server on 127.0.0.1 answering SOAP
//! requests with the replies in `testdata/onvif/`, with HTTP Digest, HTTP Basic or
//! WS-UsernameToken authentication checked the way a camera does; and a UDP WS-Discovery
//! responder on 127.0.0.1. Nothing is sent to the real network: no multicast, no other hosts.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use roxmltree::{Document, Node};
use sha1::Digest as _;

use sharpeyes_ingest::onvif::{
    self, MediaVersion, OnvifClient, OnvifCodec, OnvifError, Password, discover_at,
    parse_probe_matches, probe_camera,
};

const USER: &str = "admin";
const PASSWORD: &str = "Kq7-mango-Tr33";
const WRONG_PASSWORD: &str = "wrong-Pa55-guess";
/// The camera address written in the testdata replies.
const CAPTURE_HOST: &str = "http://192.168.1.64";
/// The UTC time in `get_system_date_and_time_spec_example.xml`: 2024-03-05T10:20:30Z.
const CAMERA_UTC_MS: i64 = 1_709_634_030_000;
const REALM: &str = "IP Camera(C2133)";
/// Requests one digest nonce is good for before the camera calls it stale.
const NONCE_USES: u32 = 3;

fn testdata(name: &str) -> String {
    let path = format!("{}/testdata/onvif/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

// ---------------------------------------------------------------------------------------------
// A fake ONVIF camera over HTTP.

#[derive(Clone, Copy, Debug, PartialEq)]
enum Auth {
    None,
    /// HTTP Digest (RFC 7616, MD5, qop=auth) on every request, nonces going stale.
    Digest,
    /// HTTP Basic on every request.
    Basic,
    /// WS-UsernameToken on everything but GetSystemDateAndTime; `Created` must be within 30 s
    /// of the camera's clock (the testdata time, far from ours).
    UsernameToken,
}

#[derive(Clone, Copy)]
struct CameraOptions {
    auth: Auth,
    /// GetServices answers `ter:ActionNotSupported`, as ONVIF 1.x cameras do.
    no_get_services: bool,
    /// Stream URIs come back with `admin:<password>@` in them.
    embed_credentials: bool,
}

impl CameraOptions {
    fn with(auth: Auth) -> Self {
        CameraOptions {
            auth,
            no_get_services: false,
            embed_credentials: false,
        }
    }
}

#[derive(Debug, Clone)]
struct Seen {
    action: String,
    namespace: String,
    had_username_token: bool,
}

#[derive(Default)]
struct CameraState {
    seen: Vec<Seen>,
    /// Things a real camera would reject that this fake let through; must stay empty.
    violations: Vec<String>,
    nonce_generation: u32,
    nonce_uses: u32,
    stale_answers: u32,
}

struct FakeCamera {
    device_url: String,
    state: Arc<Mutex<CameraState>>,
}

impl FakeCamera {
    fn start(opts: CameraOptions) -> FakeCamera {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(Mutex::new(CameraState::default()));
        let st = state.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                thread::spawn(move || serve_connection(conn, addr, opts, &st));
            }
        });
        FakeCamera {
            device_url: format!("http://{addr}/onvif/device_service"),
            state,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().expect("state").seen.clone()
    }

    fn violations(&self) -> Vec<String> {
        self.state.lock().expect("state").violations.clone()
    }
}

struct Request {
    path: String,
    headers: HashMap<String, String>,
    body: String,
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    assert_eq!(method, "POST", "ONVIF is POST only");
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Request {
        path,
        headers,
        body: String::from_utf8(body).ok()?,
    })
}

fn serve_connection(
    conn: TcpStream,
    addr: SocketAddr,
    opts: CameraOptions,
    st: &Mutex<CameraState>,
) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone stream"));
    let mut conn = conn;
    // Keep-alive: answer requests on this connection until the client closes it.
    while let Some(req) = read_request(&mut reader) {
        let (status, extra_headers, body) = answer(&req, addr, opts, st);
        let reason = match status {
            200 => "OK",
            400 => "Bad Request",
            401 => "Unauthorized",
            _ => "Internal Server Error",
        };
        let mut resp = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/soap+xml; charset=utf-8\r\nContent-Length: {}\r\n",
            body.len()
        );
        for h in extra_headers {
            resp.push_str(&h);
            resp.push_str("\r\n");
        }
        resp.push_str("\r\n");
        resp.push_str(&body);
        if conn.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

fn local<'a>(n: &Node<'a, '_>) -> &'a str {
    n.tag_name().name()
}

fn find<'a, 'i>(root: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    root.descendants()
        .find(|n| n.is_element() && local(n) == name)
}

fn find_text(root: Node<'_, '_>, name: &str) -> Option<String> {
    find(root, name)
        .and_then(|n| n.text())
        .map(|t| t.trim().to_string())
}

fn answer(
    req: &Request,
    addr: SocketAddr,
    opts: CameraOptions,
    st: &Mutex<CameraState>,
) -> (u16, Vec<String>, String) {
    let mut st = st.lock().expect("state");
    let doc = match Document::parse(&req.body) {
        Ok(d) => d,
        Err(e) => {
            st.violations.push(format!("request is not XML: {e}"));
            return (400, vec![], String::new());
        }
    };
    let body_el = find(doc.root(), "Body")
        .and_then(|b| b.children().find(|c| c.is_element()))
        .expect("SOAP body with an operation");
    let action = local(&body_el).to_string();
    let namespace = body_el.tag_name().namespace().unwrap_or("").to_string();
    let token = find(doc.root(), "UsernameToken");
    st.seen.push(Seen {
        action: action.clone(),
        namespace: namespace.clone(),
        had_username_token: token.is_some(),
    });
    let ct = req.headers.get("content-type").cloned().unwrap_or_default();
    let expected_action = format!("action=\"{namespace}/{action}\"");
    if !ct.starts_with("application/soap+xml") || !ct.contains(&expected_action) {
        st.violations.push(format!(
            "{action}: Content-Type {ct:?} lacks {expected_action}"
        ));
    }

    match opts.auth {
        Auth::None | Auth::UsernameToken => {}
        Auth::Basic => {
            let want = format!("Basic {}", BASE64.encode(format!("{USER}:{PASSWORD}")));
            if req.headers.get("authorization") != Some(&want) {
                return (
                    401,
                    vec![r#"WWW-Authenticate: Basic realm="camera""#.into()],
                    String::new(),
                );
            }
        }
        Auth::Digest => {
            if let Some(challenge) = check_digest(req, &mut st) {
                return (401, vec![challenge], String::new());
            }
        }
    }
    if opts.auth == Auth::UsernameToken
        && action != "GetSystemDateAndTime"
        && check_username_token(token).is_err()
    {
        return (
            400,
            vec![],
            testdata("fault_not_authorized_spec_example.xml"),
        );
    }

    let media2 = namespace == "http://www.onvif.org/ver20/media/wsdl";
    let file = match action.as_str() {
        "GetSystemDateAndTime" => "get_system_date_and_time_spec_example.xml".to_string(),
        "GetDeviceInformation" => "get_device_information_spec_example.xml".to_string(),
        "GetServices" if opts.no_get_services => {
            return (
                500,
                vec![],
                testdata("fault_action_not_supported_spec_example.xml"),
            );
        }
        "GetServices" => "get_services_spec_example.xml".to_string(),
        "GetCapabilities" => "get_capabilities_spec_example.xml".to_string(),
        "GetProfiles" => {
            if media2 && find_text(body_el, "Type").as_deref() != Some("All") {
                st.violations.push(
                    "Media2 GetProfiles without Type All gets no encoder configuration".into(),
                );
            }
            format!(
                "media{}_get_profiles_spec_example.xml",
                if media2 { 2 } else { 1 }
            )
        }
        "GetStreamUri" => {
            let token = find_text(body_el, "ProfileToken").unwrap_or_default();
            let n = match token.as_str() {
                "Profile_1" => 1,
                "Profile_2" => 2,
                other => {
                    st.violations
                        .push(format!("unknown profile token {other:?}"));
                    return (
                        400,
                        vec![],
                        testdata("fault_action_not_supported_spec_example.xml"),
                    );
                }
            };
            if media2 {
                if find_text(body_el, "Protocol").as_deref() != Some("RtspUnicast") {
                    st.violations
                        .push("Media2 GetStreamUri without RtspUnicast".into());
                }
            } else if find_text(body_el, "Stream").as_deref() != Some("RTP-Unicast")
                || find_text(body_el, "Protocol").as_deref() != Some("RTSP")
            {
                st.violations
                    .push("Media GetStreamUri without RTP-Unicast/RTSP".into());
            }
            format!(
                "media{}_get_stream_uri_profile_{n}_spec_example.xml",
                if media2 { 2 } else { 1 }
            )
        }
        _ => {
            return (
                500,
                vec![],
                testdata("fault_action_not_supported_spec_example.xml"),
            );
        }
    };
    let mut reply = testdata(&file).replace(CAPTURE_HOST, &format!("http://{addr}"));
    if opts.embed_credentials {
        reply = reply.replace("rtsp://", &format!("rtsp://{USER}:{PASSWORD}@"));
    }
    (200, vec![], reply)
}

fn nonce_for(generation: u32) -> String {
    format!("4e4455784e324a6d4f54673a{generation:04x}")
}

fn challenge_header(nonce: &str, stale: bool) -> String {
    format!(
        r#"WWW-Authenticate: Digest qop="auth", realm="{REALM}", nonce="{nonce}", stale="{}", opaque="c0ffee""#,
        if stale { "TRUE" } else { "FALSE" }
    )
}

fn md5_hex(s: &str) -> String {
    md5::Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `None` when the request carries a valid digest for the current nonce; otherwise the
/// `WWW-Authenticate` header to answer with (stale when the digest was right but the nonce old).
fn check_digest(req: &Request, st: &mut CameraState) -> Option<String> {
    let current = nonce_for(st.nonce_generation);
    let Some(auth) = req.headers.get("authorization") else {
        return Some(challenge_header(&current, false));
    };
    let Some(params) = auth.strip_prefix("Digest ") else {
        return Some(challenge_header(&current, false));
    };
    let mut p = HashMap::new();
    for part in params.split(", ") {
        if let Some((k, v)) = part.split_once('=') {
            p.insert(k.trim().to_string(), v.trim().trim_matches('"').to_string());
        }
    }
    let get = |k: &str| p.get(k).cloned().unwrap_or_default();
    if get("uri") != req.path || get("opaque") != "c0ffee" || get("qop") != "auth" {
        st.violations.push(format!("digest fields wrong: {p:?}"));
    }
    let ha1 = md5_hex(&format!("{}:{REALM}:{PASSWORD}", get("username")));
    let ha2 = md5_hex(&format!("POST:{}", get("uri")));
    let expected = md5_hex(&format!(
        "{ha1}:{}:{}:{}:auth:{ha2}",
        get("nonce"),
        get("nc"),
        get("cnonce")
    ));
    let right = get("username") == USER && get("response") == expected;
    if !right {
        return Some(challenge_header(&current, false));
    }
    if get("nonce") != current {
        st.stale_answers += 1;
        return Some(challenge_header(&current, true));
    }
    st.nonce_uses += 1;
    if st.nonce_uses >= NONCE_USES {
        st.nonce_generation += 1;
        st.nonce_uses = 0;
    }
    None
}

/// Days since 1970-01-01 (H. Hinnant's algorithm), to read `wsu:Created` independently of the
/// code under test.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

fn parse_created(s: &str) -> Option<i64> {
    // YYYY-MM-DDTHH:MM:SS[.fff]Z
    let n = |a: usize, b: usize| s.get(a..b)?.parse::<i64>().ok();
    if !s.ends_with('Z') {
        return None;
    }
    let days = days_from_civil(n(0, 4)?, n(5, 7)?, n(8, 10)?);
    Some((days * 86_400 + n(11, 13)? * 3600 + n(14, 16)? * 60 + n(17, 19)?) * 1000)
}

fn check_username_token(token: Option<Node<'_, '_>>) -> Result<(), String> {
    let token = token.ok_or("no UsernameToken")?;
    let user = find_text(token, "Username").ok_or("no Username")?;
    let password_el = find(token, "Password").ok_or("no Password")?;
    if !password_el
        .attribute("Type")
        .is_some_and(|t| t.ends_with("#PasswordDigest"))
    {
        return Err("not a PasswordDigest".into());
    }
    let digest = password_el.text().unwrap_or("").trim().to_string();
    let nonce = BASE64
        .decode(find_text(token, "Nonce").ok_or("no Nonce")?)
        .map_err(|e| e.to_string())?;
    let created = find_text(token, "Created").ok_or("no Created")?;
    let created_ms = parse_created(&created).ok_or("bad Created")?;
    // The camera's clock stands at the testdata time; allow 30 s for the test's own run time.
    if (created_ms - CAMERA_UTC_MS).abs() > 30_000 {
        return Err(format!("Created {created} too far from the camera clock"));
    }
    let mut h = sha1::Sha1::new();
    h.update(&nonce);
    h.update(created.as_bytes());
    h.update(PASSWORD.as_bytes());
    if user != USER || BASE64.encode(h.finalize()) != digest {
        return Err("wrong user or password".into());
    }
    Ok(())
}

fn assert_hides_password(e: &OnvifError) {
    for text in [format!("{e}"), format!("{e:?}")] {
        assert!(!text.contains(PASSWORD), "password leaked: {text}");
        assert!(!text.contains(WRONG_PASSWORD), "password leaked: {text}");
    }
}

// ---------------------------------------------------------------------------------------------
// probe_camera end to end.

#[test]
fn probe_finds_main_and_substream_through_media2() {
    let cam = FakeCamera::start(CameraOptions::with(Auth::None));
    let before = now_ms();
    let c = probe_camera(&cam.device_url, "", None).expect("probe succeeds");
    let after = now_ms();

    assert_eq!(c.media, MediaVersion::Media2);
    assert_eq!(
        c.main.uri,
        "rtsp://192.168.1.64:554/Streaming/Channels/101?transportmode=unicast&profile=Profile_1"
    );
    assert_eq!(c.main.codec, OnvifCodec::H264);
    assert_eq!((c.main.width, c.main.height), (1920, 1080));
    assert_eq!(c.main.profile_token, "Profile_1");
    let sub = c.sub.as_ref().expect("two profiles give a substream");
    assert_eq!(
        sub.uri,
        "rtsp://192.168.1.64:554/Streaming/Channels/102?transportmode=unicast&profile=Profile_2"
    );
    assert_eq!(
        (sub.width, sub.height, &sub.codec),
        (640, 360, &OnvifCodec::H264)
    );
    assert_eq!(sub.profile_token, "Profile_2");

    assert_eq!(c.manufacturer.as_deref(), Some("HIKVISION"));
    assert_eq!(c.model.as_deref(), Some("DS-2CD2143G0-I"));
    assert!(!c.ntp);
    // The camera says 2024-03-05T10:20:30Z; the offset is that minus our clock then.
    let offset = c.clock_offset_ms.expect("camera gave UTC time");
    assert!(
        offset <= CAMERA_UTC_MS - before + 1_000 && offset >= CAMERA_UTC_MS - after - 1_000,
        "offset {offset} not camera time minus local time"
    );

    let actions: Vec<String> = cam.seen().into_iter().map(|s| s.action).collect();
    assert_eq!(
        actions.first().map(String::as_str),
        Some("GetSystemDateAndTime")
    );
    for a in [
        "GetDeviceInformation",
        "GetServices",
        "GetProfiles",
        "GetStreamUri",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} not called: {actions:?}"
        );
    }
    assert!(cam.violations().is_empty(), "{:?}", cam.violations());
}

#[test]
fn old_camera_without_get_services_is_read_through_get_capabilities_and_media1() {
    let cam = FakeCamera::start(CameraOptions {
        no_get_services: true,
        ..CameraOptions::with(Auth::None)
    });
    let c = probe_camera(&cam.device_url, "", None).expect("probe succeeds");
    assert_eq!(c.media, MediaVersion::Media1);
    assert_eq!((c.main.width, c.main.height), (1920, 1080));
    assert_eq!(c.main.profile_token, "Profile_1");
    assert_eq!(
        c.sub.as_ref().map(|s| (s.width, s.height)),
        Some((640, 360))
    );
    assert!(
        c.main
            .uri
            .ends_with("/Streaming/Channels/101?transportmode=unicast&profile=Profile_1")
    );
    let seen = cam.seen();
    assert!(seen.iter().any(|s| s.action == "GetCapabilities"));
    assert!(
        seen.iter()
            .filter(|s| s.action == "GetProfiles")
            .all(|s| s.namespace == "http://www.onvif.org/ver10/media/wsdl")
    );
    assert!(cam.violations().is_empty(), "{:?}", cam.violations());
}

#[test]
fn client_calls_work_one_by_one() {
    let cam = FakeCamera::start(CameraOptions::with(Auth::None));
    let client = OnvifClient::new(&cam.device_url, "", None).expect("client");
    let clock = client.get_system_date_and_time().expect("time");
    assert_eq!(clock.reply.utc_unix_ms, Some(CAMERA_UTC_MS));
    assert_eq!(
        client.clock_offset_ms(),
        clock.clock_offset_ms.expect("offset")
    );
    let media = client.media_service().expect("media service");
    assert_eq!(media.version, MediaVersion::Media2);
    assert!(media.url.ends_with("/onvif/Media2"), "{}", media.url);
    let profiles = client.get_profiles().expect("profiles");
    assert_eq!(profiles.len(), 2);
    assert_eq!(profiles[1].name, "subStream");
    let uri = client.get_stream_uri("Profile_2").expect("uri");
    assert!(uri.contains("/Streaming/Channels/102"), "{uri}");
}

// ---------------------------------------------------------------------------------------------
// Authentication.

#[test]
fn http_digest_camera_accepts_the_right_password_across_stale_nonces() {
    let cam = FakeCamera::start(CameraOptions {
        embed_credentials: true,
        ..CameraOptions::with(Auth::Digest)
    });
    let c = probe_camera(&cam.device_url, USER, Some(Password::new(PASSWORD))).expect("probe");
    assert_eq!((c.main.width, c.main.height), (1920, 1080));
    // The camera embedded admin:<password>@ in the URIs; they come back clean.
    assert_eq!(
        c.main.uri,
        "rtsp://192.168.1.64:554/Streaming/Channels/101?transportmode=unicast&profile=Profile_1"
    );
    let sub = c.sub.expect("substream");
    assert!(
        !sub.uri.contains('@') && !sub.uri.contains(PASSWORD),
        "{}",
        sub.uri
    );
    assert!(!format!("{:?}", c.main).contains(PASSWORD));
    let stale = cam.state.lock().expect("state").stale_answers;
    assert!(stale >= 1, "the nonce should have gone stale at least once");
    assert!(cam.violations().is_empty(), "{:?}", cam.violations());
}

#[test]
fn http_digest_camera_refuses_a_wrong_password_as_an_auth_error() {
    let cam = FakeCamera::start(CameraOptions::with(Auth::Digest));
    let e = probe_camera(&cam.device_url, USER, Some(Password::new(WRONG_PASSWORD)))
        .expect_err("wrong password");
    assert!(e.is_auth(), "{e:?}");
    assert!(!e.is_transient(), "{e:?}");
    assert!(matches!(e, OnvifError::Auth { .. }), "{e:?}");
    assert_hides_password(&e);
}

#[test]
fn http_digest_camera_without_credentials_is_an_auth_error() {
    let cam = FakeCamera::start(CameraOptions::with(Auth::Digest));
    let e = probe_camera(&cam.device_url, "", None).expect_err("no password");
    assert!(e.is_auth(), "{e:?}");
}

#[test]
fn http_basic_camera_accepts_the_right_password_and_refuses_a_wrong_one() {
    let cam = FakeCamera::start(CameraOptions::with(Auth::Basic));
    let c = probe_camera(&cam.device_url, USER, Some(Password::new(PASSWORD))).expect("probe");
    assert_eq!(c.main.profile_token, "Profile_1");
    let e = probe_camera(&cam.device_url, USER, Some(Password::new(WRONG_PASSWORD)))
        .expect_err("wrong password");
    assert!(e.is_auth(), "{e:?}");
    assert_hides_password(&e);
}

#[test]
fn username_token_camera_accepts_the_right_password_with_its_clock_corrected() {
    let cam = FakeCamera::start(CameraOptions::with(Auth::UsernameToken));
    let c = probe_camera(&cam.device_url, USER, Some(Password::new(PASSWORD))).expect("probe");
    assert_eq!((c.main.width, c.main.height), (1920, 1080));
    assert_eq!(
        c.sub.map(|s| s.profile_token),
        Some("Profile_2".to_string())
    );
    let seen = cam.seen();
    // GetSystemDateAndTime goes first and unauthenticated; the rest carry a token.
    assert_eq!(seen[0].action, "GetSystemDateAndTime");
    assert!(!seen[0].had_username_token);
    assert!(seen[1..].iter().all(|s| s.had_username_token), "{seen:?}");
    assert!(cam.violations().is_empty(), "{:?}", cam.violations());
}

#[test]
fn username_token_camera_refuses_a_wrong_password_with_not_authorized() {
    let cam = FakeCamera::start(CameraOptions::with(Auth::UsernameToken));
    let e = probe_camera(&cam.device_url, USER, Some(Password::new(WRONG_PASSWORD)))
        .expect_err("wrong password");
    assert!(e.is_auth(), "{e:?}");
    assert!(!e.is_transient(), "{e:?}");
    match &e {
        OnvifError::Fault {
            action,
            code,
            reason,
            ..
        } => {
            assert_eq!(code, "ter:NotAuthorized");
            assert_eq!(reason, "Sender not Authorized");
            assert_ne!(*action, "GetSystemDateAndTime");
        }
        other => panic!("expected a SOAP fault, got {other:?}"),
    }
    assert!(e.to_string().contains("ter:NotAuthorized"), "{e}");
    assert_hides_password(&e);
}

#[test]
fn username_token_without_the_clock_correction_is_refused() {
    // Our clock is years past the camera's, so a token stamped with local time is stale to it.
    let cam = FakeCamera::start(CameraOptions::with(Auth::UsernameToken));
    let client =
        OnvifClient::new(&cam.device_url, USER, Some(Password::new(PASSWORD))).expect("client");
    let e = client
        .get_device_information()
        .expect_err("uncorrected clock");
    assert!(e.is_auth(), "{e:?}");
    client.get_system_date_and_time().expect("time");
    let info = client.get_device_information().expect("corrected clock");
    assert_eq!(info.manufacturer.as_deref(), Some("HIKVISION"));
}

#[test]
fn client_debug_and_errors_never_show_the_password() {
    // A loopback port nobody listens on any more: connections are refused.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let client = OnvifClient::new(
        &format!("http://{USER}:{PASSWORD}@127.0.0.1:{port}/onvif/device_service"),
        "",
        None,
    )
    .expect("client");
    let dbg = format!("{client:?}");
    assert!(!dbg.contains(PASSWORD), "{dbg}");
    assert_eq!(
        client.device_url(),
        format!("http://127.0.0.1:{port}/onvif/device_service")
    );
    let e = client
        .with_timeout(Duration::from_secs(2))
        .get_device_information()
        .expect_err("nobody listens");
    assert!(e.is_transient(), "{e:?}");
    assert_hides_password(&e);
}

// ---------------------------------------------------------------------------------------------
// WS-Discovery.

#[test]
fn parses_the_hikvision_probe_match() {
    let d =
        parse_probe_matches(&testdata("hikvision_probe_match_spec_example.xml")).expect("parses");
    assert_eq!(d.len(), 1);
    let d = &d[0];
    assert_eq!(d.endpoint, "urn:uuid:3f8c2b1a-9d4e-11b2-8c10-bcad2817a4c1");
    assert_eq!(d.name.as_deref(), Some("HIKVISION DS-2CD2143G0-I"));
    assert_eq!(d.hardware.as_deref(), Some("DS-2CD2143G0-I"));
    assert_eq!(d.location.as_deref(), Some("city/hangzhou"));
    assert_eq!(
        d.xaddrs,
        vec![
            "http://192.168.1.64/onvif/device_service",
            "http://[fe80::bead:28ff:fe17:a4c1]/onvif/device_service"
        ]
    );
    assert!(d.types.iter().any(|t| t == "dn:NetworkVideoTransmitter"));
    assert_eq!(d.profiles, vec!["Streaming", "G", "T"]);
    assert_eq!(d.metadata_version, Some(10));
    assert_eq!(
        d.device_url(),
        Some("http://192.168.1.64/onvif/device_service")
    );
}

#[test]
fn parses_the_dahua_probe_match() {
    let d = parse_probe_matches(&testdata("dahua_probe_match_spec_example.xml")).expect("parses");
    assert_eq!(d.len(), 1);
    let d = &d[0];
    assert_eq!(d.endpoint, "uuid:5e8a1f20-47c3-4b9e-a0d6-e0508b3c7d21");
    assert_eq!(d.name.as_deref(), Some("Dahua"));
    assert_eq!(d.hardware.as_deref(), Some("IPC-HFW2431S-S-S2"));
    assert_eq!(d.location.as_deref(), Some("country/china"));
    assert_eq!(d.xaddrs, vec!["http://192.168.1.108/onvif/device_service"]);
    assert_eq!(
        d.device_url(),
        Some("http://192.168.1.108/onvif/device_service")
    );
}

#[test]
fn parses_the_axis_probe_match_and_picks_its_plain_http_address() {
    let d = parse_probe_matches(&testdata("axis_probe_match_spec_example.xml")).expect("parses");
    assert_eq!(d.len(), 1);
    let d = &d[0];
    assert_eq!(d.name.as_deref(), Some("AXIS P3245-LVE"));
    assert_eq!(d.hardware.as_deref(), Some("P3245-LVE"));
    assert_eq!(d.location, None, "an empty location scope is no location");
    assert_eq!(d.xaddrs.len(), 4);
    assert_eq!(
        d.device_url(),
        Some("http://192.168.0.90/onvif/device_service")
    );
    assert_eq!(d.profiles, vec!["Streaming", "G", "M", "T"]);
}

/// A WS-Discovery responder on 127.0.0.1 answering each Probe with: a ProbeMatch for another
/// probe (Dahua, to be ignored), a datagram that is not XML, and the Hikvision ProbeMatch
/// relating to the probe. Returns its address and the probes it saw.
fn start_discovery_responder() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let addr = sock.local_addr().expect("addr");
    let probes = Arc::new(Mutex::new(Vec::new()));
    let seen = probes.clone();
    thread::spawn(move || {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            let id = {
                let doc = Document::parse(&text).expect("probe is XML");
                find_text(doc.root(), "MessageID").expect("probe has a MessageID")
            };
            seen.lock().expect("probes").push(text);
            let other = testdata("dahua_probe_match_spec_example.xml");
            let _ = sock.send_to(other.as_bytes(), from);
            let _ = sock.send_to(b"\x00\x01 not xml", from);
            let ours = testdata("hikvision_probe_match_spec_example.xml")
                .replace("urn:uuid:0d2a4f6e-8b5c-4e1a-9f3d-7a6b5c4d3e2f", &id);
            let _ = sock.send_to(ours.as_bytes(), from);
        }
    });
    (addr, probes)
}

#[test]
fn discover_at_collects_the_probe_match_relating_to_its_probe() {
    let (addr, probes) = start_discovery_responder();
    let found = discover_at(addr, Duration::from_millis(800)).expect("discovery runs");
    assert_eq!(found.len(), 1, "{found:?}");
    let d = &found[0];
    assert_eq!(d.endpoint, "urn:uuid:3f8c2b1a-9d4e-11b2-8c10-bcad2817a4c1");
    assert_eq!(d.name.as_deref(), Some("HIKVISION DS-2CD2143G0-I"));
    assert_eq!(d.responder, Some(addr));
    let probes = probes.lock().expect("probes");
    assert!(!probes.is_empty());
    for p in probes.iter() {
        let doc = Document::parse(p).expect("probe is XML");
        assert_eq!(
            find_text(doc.root(), "Types").as_deref(),
            Some("dn:NetworkVideoTransmitter")
        );
        assert_eq!(
            find_text(doc.root(), "Action").as_deref(),
            Some("http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe")
        );
    }
}

#[test]
fn discover_at_an_address_where_nobody_answers_finds_nothing() {
    let port = {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
        s.local_addr().expect("addr").port()
    };
    let found = discover_at(
        SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(300),
    )
    .expect("no answer is not an error");
    assert!(found.is_empty());
}

#[test]
fn multicast_address_is_the_ws_discovery_group() {
    // Only checks the constant; tests never send to it.
    assert_eq!(
        onvif::discovery::MULTICAST_ADDR.to_string(),
        "239.255.255.250:3702"
    );
}
