//! ONVIF against fake cameras on loopback (`sharpeyes_ingest::onvif::testkit`): a small
//! HTTP/1.1 server on 127.0.0.1 answering SOAP requests with the replies in `testdata/onvif/`,
//! with HTTP Digest, HTTP Basic or WS-UsernameToken authentication checked the way a camera
//! does; and a UDP WS-Discovery responder on 127.0.0.1. Nothing is sent to the real network: no
//! multicast, no other hosts.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use roxmltree::Document;

use sharpeyes_ingest::onvif::testkit::{
    Auth, CAMERA_UTC_MS, CameraOptions, FakeCamera, PASSWORD, USER, WRONG_PASSWORD, find_text,
    start_discovery_responder, testdata,
};
use sharpeyes_ingest::onvif::{
    self, MediaVersion, OnvifClient, OnvifCodec, OnvifError, Password, discover_at,
    parse_probe_matches, probe_camera,
};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
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
    let stale = cam.stale_answers();
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
fn http_basic_camera_accepts_the_right_password_and_refuses_a_wrong_one_when_allowed() {
    let cam = FakeCamera::start(CameraOptions::with(Auth::Basic));
    let client = |pw: &str| {
        OnvifClient::new(&cam.device_url, USER, Some(Password::new(pw)))
            .expect("client")
            .allow_basic_over_http(true)
    };
    let c = onvif::probe_with(&client(PASSWORD)).expect("probe");
    assert_eq!(c.main.profile_token, "Profile_1");
    let e = onvif::probe_with(&client(WRONG_PASSWORD)).expect_err("wrong password");
    assert!(matches!(e, OnvifError::Auth { .. }) && e.is_auth(), "{e:?}");
    assert_hides_password(&e);
}

#[test]
fn basic_only_over_plain_http_is_refused_before_the_password_is_sent() {
    // The camera answers every request with `401` and only `WWW-Authenticate: Basic`.
    let cam = FakeCamera::start(CameraOptions::with(Auth::Basic));
    let e = probe_camera(&cam.device_url, USER, Some(Password::new(PASSWORD)))
        .expect_err("Basic over http refused by default");
    assert!(
        matches!(e, OnvifError::BasicOverHttp { .. }) && e.is_auth() && !e.is_transient(),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains("HTTP Basic") && text.contains("plain http"),
        "{text}"
    );
    assert_hides_password(&e);
    let seen = cam.seen();
    assert!(!seen.is_empty(), "the camera was asked");
    assert!(
        seen.iter().all(|s| !s.had_basic_auth),
        "the password never went out in Basic: {seen:?}"
    );
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
