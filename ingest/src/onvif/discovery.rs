//! Finding ONVIF cameras on the local network with WS-Discovery (ONVIF Core §7.3, "Device
//! discovery"; WS-Discovery 2005/04 over SOAP-over-UDP). `discover` multicasts a Probe for
//! `dn:NetworkVideoTransmitter` to 239.255.255.250:3702 and collects the ProbeMatches answered
//! to it; `discover_at` sends the same Probe to one address by unicast, which is what the tests
//! use on loopback. Both do I/O (one UDP socket); `parse_probe_matches` and the scope reading
//! are pure.
//!
//! Limits: IPv4 only, and the multicast leaves through the interface of the default route only;
//! a host with cameras on a second interface must probe that interface's cameras by address.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use roxmltree::Document;

use super::auth::random_bytes;
use super::client::percent_decode;
use super::error::OnvifError;
use super::soap::{child, child_text, is, xml_escape};

/// The WS-Discovery multicast group and port (SOAP-over-UDP; ONVIF Core §7.3).
pub const MULTICAST_ADDR: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(239, 255, 255, 250), 3702);

const ACTION: &str = "Probe";

/// One device that answered a Probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredDevice {
    /// `EndpointReference/Address`, a stable id such as `urn:uuid:...`; survives IP changes.
    pub endpoint: String,
    /// Device service URLs (`XAddrs`), in the camera's order. Cameras list IPv6, link-local and
    /// `https` addresses too; [`device_url`](Self::device_url) picks one.
    pub xaddrs: Vec<String>,
    /// `Types`, as QNames (`dn:NetworkVideoTransmitter`, `tds:Device`).
    pub types: Vec<String>,
    /// Every scope URI as given.
    pub scopes: Vec<String>,
    /// From `onvif://www.onvif.org/name/...`, percent-decoded.
    pub name: Option<String>,
    /// From `onvif://www.onvif.org/hardware/...`, percent-decoded (usually the model).
    pub hardware: Option<String>,
    /// From `onvif://www.onvif.org/location/...` (e.g. `city/hangzhou`), percent-decoded; several
    /// location scopes are joined with `, `.
    pub location: Option<String>,
    /// ONVIF profiles claimed in `onvif://www.onvif.org/Profile/...` (`Streaming` for Profile S,
    /// `T`, `G`, ...).
    pub profiles: Vec<String>,
    pub metadata_version: Option<u32>,
    /// Where the ProbeMatch came from; `None` for a parsed file.
    pub responder: Option<SocketAddr>,
}

impl DiscoveredDevice {
    /// The device service URL to use: a plain `http` XAddr on the address the reply came from,
    /// else any `http` XAddr on a routable IPv4 address, else the first XAddr.
    pub fn device_url(&self) -> Option<&str> {
        let host_of = |x: &str| {
            url::Url::parse(x)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
        };
        let is_http = |x: &&String| x.starts_with("http://");
        if let Some(from) = self.responder {
            let ip = from.ip().to_string();
            if let Some(x) = self
                .xaddrs
                .iter()
                .filter(is_http)
                .find(|x| host_of(x).as_deref() == Some(ip.as_str()))
            {
                return Some(x);
            }
        }
        self.xaddrs
            .iter()
            .filter(is_http)
            .find(|x| {
                host_of(x)
                    .and_then(|h| h.parse::<Ipv4Addr>().ok())
                    .is_some_and(|ip| !ip.is_link_local() && !ip.is_unspecified())
            })
            .or_else(|| self.xaddrs.first())
            .map(String::as_str)
    }
}

/// The Probe message (WS-Discovery §5.2, ONVIF Core §7.3: types `dn:NetworkVideoTransmitter`).
pub fn probe_message(message_id: &str) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope""#,
            r#" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing""#,
            r#" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery""#,
            r#" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">"#,
            r#"<s:Header>"#,
            r#"<a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>"#,
            r#"<a:MessageID>{id}</a:MessageID>"#,
            r#"<a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>"#,
            r#"<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>"#,
            r#"</s:Header>"#,
            r#"<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body>"#,
            r#"</s:Envelope>"#
        ),
        id = xml_escape(message_id)
    )
}

/// The devices in a ProbeMatches message. Pure. A message that is XML but has no `ProbeMatches`
/// (a Hello, another client's Probe) is a `Parse` error; a ProbeMatch without `XAddrs` is kept,
/// since the camera may still be resolved by its endpoint.
pub fn parse_probe_matches(xml: &str) -> Result<Vec<DiscoveredDevice>, OnvifError> {
    parse_reply(xml).map(|(_, devices)| devices)
}

/// `RelatesTo` (the Probe's MessageID the reply answers, if given) and the devices.
fn parse_reply(xml: &str) -> Result<(Option<String>, Vec<DiscoveredDevice>), OnvifError> {
    let doc = Document::parse(xml).map_err(|e| OnvifError::Parse {
        action: ACTION,
        message: format!("not XML: {e}"),
    })?;
    let matches = doc
        .descendants()
        .find(|n| is(n, "ProbeMatches"))
        .ok_or_else(|| OnvifError::Parse {
            action: ACTION,
            message: "no ProbeMatches in the message".into(),
        })?;
    let relates_to = doc
        .descendants()
        .find(|n| is(n, "Header"))
        .and_then(|h| child_text(h, "RelatesTo"));
    let devices = matches
        .children()
        .filter(|n| is(n, "ProbeMatch"))
        .map(|m| {
            let list = |name: &str| -> Vec<String> {
                child_text(m, name)
                    .map(|t| t.split_whitespace().map(str::to_string).collect())
                    .unwrap_or_default()
            };
            let scopes = list("Scopes");
            let info = read_scopes(&scopes);
            DiscoveredDevice {
                endpoint: child(m, "EndpointReference")
                    .and_then(|e| child_text(e, "Address"))
                    .unwrap_or_default(),
                xaddrs: list("XAddrs"),
                types: list("Types"),
                name: info.name,
                hardware: info.hardware,
                location: info.location,
                profiles: info.profiles,
                scopes,
                metadata_version: child_text(m, "MetadataVersion").and_then(|v| v.parse().ok()),
                responder: None,
            }
        })
        .collect();
    Ok((relates_to, devices))
}

#[derive(Default)]
struct ScopeInfo {
    name: Option<String>,
    hardware: Option<String>,
    location: Option<String>,
    profiles: Vec<String>,
}

/// Reads the ONVIF scopes (ONVIF Core §7.3, "Scopes"): `onvif://www.onvif.org/<kind>/<value>`,
/// the kind matched without regard to case (cameras write `Profile` and `profile`).
fn read_scopes(scopes: &[String]) -> ScopeInfo {
    const PREFIX: &str = "onvif://www.onvif.org/";
    let mut info = ScopeInfo::default();
    let mut locations = Vec::new();
    for scope in scopes {
        let Some(head) = scope.get(..PREFIX.len()) else {
            continue;
        };
        if !head.eq_ignore_ascii_case(PREFIX) {
            continue;
        }
        let rest = &scope[PREFIX.len()..];
        let (kind, value) = rest.split_once('/').unwrap_or((rest, ""));
        let value = percent_decode(value.trim_end_matches('/'))
            .trim()
            .to_string();
        if value.is_empty() {
            continue;
        }
        match kind.to_ascii_lowercase().as_str() {
            "name" if info.name.is_none() => info.name = Some(value),
            "hardware" if info.hardware.is_none() => info.hardware = Some(value),
            "location" => locations.push(value),
            "profile" => info.profiles.push(value),
            _ => {}
        }
    }
    if !locations.is_empty() {
        info.location = Some(locations.join(", "));
    }
    info
}

/// Probes the local network by multicast and returns every camera that answered within
/// `timeout`. Does I/O: sends to 239.255.255.250:3702, which reaches the whole LAN segment.
pub fn discover(timeout: Duration) -> Result<Vec<DiscoveredDevice>, OnvifError> {
    discover_at(SocketAddr::V4(MULTICAST_ADDR), timeout)
}

/// Sends the Probe to `addr` (the multicast group, or one camera or responder by unicast) and
/// collects ProbeMatches for `timeout`. Replies to another Probe (`RelatesTo` not our MessageID),
/// messages that are not ProbeMatches, and a second answer from the same endpoint are ignored.
/// The Probe is sent twice, 200 ms apart, because UDP may lose it (SOAP-over-UDP, Appendix I:
/// one repetition); cameras answer both and the duplicates are dropped.
pub fn discover_at(
    addr: SocketAddr,
    timeout: Duration,
) -> Result<Vec<DiscoveredDevice>, OnvifError> {
    let target = addr.to_string();
    let io = |what: &str, e: std::io::Error| OnvifError::Io {
        action: ACTION,
        url: format!("soap.udp://{target}"),
        message: format!("{what}: {e}"),
    };
    let bind: SocketAddr = match addr.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => (Ipv4Addr::LOCALHOST, 0).into(),
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(ip) if ip.is_loopback() => (std::net::Ipv6Addr::LOCALHOST, 0).into(),
        IpAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(bind).map_err(|e| io("binding a UDP socket", e))?;
    let message_id = new_message_id();
    let probe = probe_message(&message_id);
    socket
        .send_to(probe.as_bytes(), addr)
        .map_err(|e| io("sending the Probe", e))?;
    tracing::debug!(to = %addr, %message_id, "ws-discovery probe sent");

    let start = Instant::now();
    let deadline = start + timeout;
    let mut resend_at = Some(start + Duration::from_millis(200)).filter(|t| *t < deadline);
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    let mut buf = vec![0u8; 65_536];
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if let Some(t) = resend_at
            && now >= t
        {
            socket
                .send_to(probe.as_bytes(), addr)
                .map_err(|e| io("sending the Probe", e))?;
            resend_at = None;
            continue;
        }
        let wait = resend_at.unwrap_or(deadline).min(deadline) - now;
        socket
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .map_err(|e| io("setting the read timeout", e))?;
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            // Linux reports an ICMP port-unreachable from an earlier unicast send here; nobody
            // listens there, which is an empty answer, not a failure.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
            Err(e) => return Err(io("receiving", e)),
        };
        let text = String::from_utf8_lossy(&buf[..n]);
        match parse_reply(&text) {
            Ok((relates_to, devices)) => {
                if relates_to.as_deref().is_some_and(|r| r != message_id) {
                    tracing::debug!(%from, "ignoring a ProbeMatch for another probe");
                    continue;
                }
                for mut d in devices {
                    let key = if d.endpoint.is_empty() {
                        d.xaddrs.join(" ")
                    } else {
                        d.endpoint.clone()
                    };
                    if seen.insert(key) {
                        d.responder = Some(from);
                        found.push(d);
                    }
                }
            }
            Err(e) => tracing::debug!(%from, error = %e, "ignoring a WS-Discovery message"),
        }
    }
    Ok(found)
}

/// `urn:uuid:` and a random (version 4) UUID.
fn new_message_id() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_asks_for_network_video_transmitters_with_our_message_id() {
        let id = new_message_id();
        assert!(id.starts_with("urn:uuid:") && id.len() == 45, "{id}");
        let p = probe_message(&id);
        let doc = Document::parse(&p).expect("probe is XML");
        let types = doc
            .descendants()
            .find(|n| is(n, "Types"))
            .and_then(|n| n.text())
            .expect("has Types");
        assert_eq!(types, "dn:NetworkVideoTransmitter");
        assert!(p.contains(&format!("<a:MessageID>{id}</a:MessageID>")));
    }

    #[test]
    fn scopes_give_name_hardware_location_and_profiles() {
        let scopes: Vec<String> = [
            "onvif://www.onvif.org/type/video_encoder",
            "onvif://www.onvif.org/Profile/Streaming",
            "onvif://www.onvif.org/profile/T",
            "onvif://www.onvif.org/name/Gate%20East",
            "onvif://www.onvif.org/hardware/DS-2CD2143G0-I",
            "onvif://www.onvif.org/location/country/china",
            "onvif://www.onvif.org/location/",
            "http://example.com/name/not-onvif",
        ]
        .map(String::from)
        .to_vec();
        let i = read_scopes(&scopes);
        assert_eq!(i.name.as_deref(), Some("Gate East"));
        assert_eq!(i.hardware.as_deref(), Some("DS-2CD2143G0-I"));
        assert_eq!(i.location.as_deref(), Some("country/china"));
        assert_eq!(i.profiles, vec!["Streaming", "T"]);
    }

    #[test]
    fn device_url_prefers_the_responders_address_then_routable_http() {
        let mut d = DiscoveredDevice {
            endpoint: "urn:uuid:x".into(),
            xaddrs: vec![
                "https://192.168.0.90/onvif/device_service".into(),
                "http://169.254.3.4/onvif/device_service".into(),
                "http://192.168.0.90/onvif/device_service".into(),
                "http://10.1.1.1/onvif/device_service".into(),
            ],
            types: vec![],
            scopes: vec![],
            name: None,
            hardware: None,
            location: None,
            profiles: vec![],
            metadata_version: None,
            responder: None,
        };
        assert_eq!(
            d.device_url(),
            Some("http://192.168.0.90/onvif/device_service")
        );
        d.responder = Some("10.1.1.1:3702".parse().expect("addr"));
        assert_eq!(d.device_url(), Some("http://10.1.1.1/onvif/device_service"));
    }

    #[test]
    fn a_hello_or_garbage_is_not_a_probe_match() {
        let hello = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><d:Hello xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"/></s:Body></s:Envelope>"#;
        assert!(parse_probe_matches(hello).is_err());
        assert!(parse_probe_matches("\u{0}\u{1}garbage").is_err());
    }

    #[test]
    fn reads_relates_to_from_the_header() {
        let xml = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">
<s:Header><a:RelatesTo>urn:uuid:abc</a:RelatesTo></s:Header>
<s:Body><d:ProbeMatches><d:ProbeMatch><a:EndpointReference><a:Address>urn:uuid:dev</a:Address></a:EndpointReference>
<d:XAddrs>http://10.0.0.9/onvif/device_service</d:XAddrs></d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>"#;
        let (rel, devices) = parse_reply(xml).expect("parses");
        assert_eq!(rel.as_deref(), Some("urn:uuid:abc"));
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].endpoint, "urn:uuid:dev");
        assert_eq!(devices[0].types, Vec::<String>::new());
    }
}
