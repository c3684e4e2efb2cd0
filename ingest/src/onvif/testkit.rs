//! Test support (cargo feature `test-util`): a fake ONVIF camera and a fake WS-Discovery
//! responder, both on 127.0.0.1, for this crate's and the binary's integration tests. Does I/O:
//! binds loopback sockets, spawns threads, reads the replies from `testdata/onvif/`. Not for
//! production use.
//!
//! [`FakeCamera`] is a small HTTP/1.1 server answering SOAP requests with the replies in
//! `testdata/onvif/`, with HTTP Digest (RFC 7616), HTTP Basic (RFC 7617) or WS-UsernameToken
//! (ONVIF Core §5.12) authentication checked the way a camera does, accepting [`USER`] and
//! [`PASSWORD`]. [`start_discovery_responder`] answers WS-Discovery probes (ONVIF Core §7.3)
//! sent to it by unicast. Nothing is sent to the real network: no multicast, no other hosts.
//!
//! ```no_run
//! use sharpeyes_ingest::onvif::testkit::{Auth, CameraOptions, FakeCamera, PASSWORD, USER};
//! use sharpeyes_ingest::onvif::{Password, probe_camera};
//! let cam = FakeCamera::start(CameraOptions::with(Auth::Digest));
//! let found = probe_camera(&cam.device_url, USER, Some(Password::new(PASSWORD)));
//! assert!(found.is_ok());
//! assert!(cam.violations().is_empty());
//! ```

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use roxmltree::{Document, Node};
use sha1::Digest as _;

/// The user name the fake camera accepts.
pub const USER: &str = "admin";
/// The password the fake camera accepts.
pub const PASSWORD: &str = "Kq7-mango-Tr33";
/// A password the fake camera refuses.
pub const WRONG_PASSWORD: &str = "wrong-Pa55-guess";
/// The camera address written in the testdata replies; the fake camera puts its own
/// `http://127.0.0.1:<port>` in its place. RTSP stream URIs keep this host.
pub const CAPTURE_HOST: &str = "http://192.168.1.64";
/// The UTC time in `get_system_date_and_time_spec_example.xml`: 2024-03-05T10:20:30Z, in
/// milliseconds since 1970. The fake camera's clock stands still at it.
pub const CAMERA_UTC_MS: i64 = 1_709_634_030_000;
/// The HTTP Digest realm the fake camera challenges with.
pub const REALM: &str = "IP Camera(C2133)";
/// Requests one digest nonce is good for before the camera calls it stale.
pub const NONCE_USES: u32 = 3;

/// The testdata directory, absolute: this crate's `testdata/onvif/`.
const TESTDATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/onvif/");

/// The text of `testdata/onvif/<name>`. Panics when the file cannot be read (the testdata is
/// part of the source tree).
pub fn testdata(name: &str) -> String {
    let path = format!("{TESTDATA_DIR}{name}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// A fake ONVIF camera over HTTP.

/// How the fake camera authenticates requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// No authentication.
    None,
    /// HTTP Digest (RFC 7616, MD5, qop=auth) on every request, nonces going stale.
    Digest,
    /// HTTP Basic on every request.
    Basic,
    /// WS-UsernameToken on everything but GetSystemDateAndTime; `Created` must be within 30 s
    /// of the camera's clock (the testdata time, far from ours).
    UsernameToken,
}

/// How the fake camera behaves.
#[derive(Clone, Copy, Debug)]
pub struct CameraOptions {
    pub auth: Auth,
    /// GetServices answers `ter:ActionNotSupported`, as ONVIF 1.x cameras do.
    pub no_get_services: bool,
    /// Stream URIs come back with `admin:<password>@` in them.
    pub embed_credentials: bool,
}

impl CameraOptions {
    /// A camera using `auth`, answering GetServices, with clean stream URIs.
    pub fn with(auth: Auth) -> Self {
        CameraOptions {
            auth,
            no_get_services: false,
            embed_credentials: false,
        }
    }
}

/// One SOAP request the fake camera received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The operation: the local name of the SOAP body's element (`GetProfiles`).
    pub action: String,
    /// Its namespace (the service: `http://www.onvif.org/ver20/media/wsdl`).
    pub namespace: String,
    /// Whether the request carried a WS-UsernameToken.
    pub had_username_token: bool,
    /// Whether the request carried an `Authorization: Basic` header (the password, merely
    /// Base64-encoded).
    pub had_basic_auth: bool,
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

/// A fake ONVIF camera: an HTTP server on `127.0.0.1:<free port>`, one thread per connection,
/// running until the process exits. Every request, answered or refused, is recorded.
pub struct FakeCamera {
    /// `http://127.0.0.1:<port>/onvif/device_service`.
    pub device_url: String,
    state: Arc<Mutex<CameraState>>,
}

impl FakeCamera {
    /// Binds a free loopback port and starts serving. Panics when loopback cannot be bound.
    pub fn start(opts: CameraOptions) -> FakeCamera {
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

    /// The requests received so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().expect("camera state lock").seen.clone()
    }

    /// Things a real camera would reject that this fake let through (a wrong Content-Type
    /// action, a GetStreamUri without RTSP, digest fields that do not match the request).
    /// A client that talks ONVIF correctly leaves this empty.
    pub fn violations(&self) -> Vec<String> {
        self.state
            .lock()
            .expect("camera state lock")
            .violations
            .clone()
    }

    /// How many times a right digest came with a stale nonce and was answered `stale=TRUE`.
    pub fn stale_answers(&self) -> u32 {
        self.state.lock().expect("camera state lock").stale_answers
    }
}

struct Request {
    method: String,
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
        method,
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

/// The trimmed text of the first element named `name` (any namespace) under `root`.
pub fn find_text(root: Node<'_, '_>, name: &str) -> Option<String> {
    find(root, name)
        .and_then(|n| n.text())
        .map(|t| t.trim().to_string())
}

/// The reply to one request: HTTP status, extra header lines, body.
fn answer(
    req: &Request,
    addr: SocketAddr,
    opts: CameraOptions,
    st: &Mutex<CameraState>,
) -> (u16, Vec<String>, String) {
    let mut st = st.lock().expect("camera state lock");
    if req.method != "POST" {
        st.violations
            .push(format!("{} {}: ONVIF is POST only", req.method, req.path));
        return (400, vec![], String::new());
    }
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
        had_basic_auth: req
            .headers
            .get("authorization")
            .is_some_and(|a| a.to_ascii_lowercase().starts_with("basic ")),
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

/// `wsu:Created` (`YYYY-MM-DDTHH:MM:SS[.fff]Z`, xs:dateTime in UTC) → Unix milliseconds, read
/// by jiff's parser, apart from the code under test that writes it. Only UTC (`Z`), as cameras
/// want it.
fn parse_created(s: &str) -> Option<i64> {
    if !s.ends_with('Z') {
        return None;
    }
    s.parse::<jiff::Timestamp>()
        .ok()
        .map(jiff::Timestamp::as_millisecond)
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

// ---------------------------------------------------------------------------------------------
// A WS-Discovery responder over UDP.

/// A WS-Discovery responder on 127.0.0.1 answering each Probe with: a ProbeMatch for another
/// probe (Dahua, to be ignored), a datagram that is not XML, and the Hikvision ProbeMatch
/// relating to the probe (its `RelatesTo` set to the probe's `MessageID`). Returns its address
/// and the probes it saw, as text. The responder thread stops after 10 s without a probe.
pub fn start_discovery_responder() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set a read timeout");
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
            seen.lock().expect("probes lock").push(text);
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
