//! Property tests (fuzzing on stable Rust) of everything that reads a camera's bytes: SOAP
//! replies and faults, WS-Discovery ProbeMatches, `WWW-Authenticate` challenges. Seeds are the
//! spec examples in `testdata/onvif/`, mutated at the byte level; none may panic. Pure, no I/O.

use proptest::collection::vec;
use proptest::prelude::*;

use super::auth::{self, parse_challenges};
use super::discovery::parse_probe_matches;
use super::responses;
use super::soap::parse_fault;

/// Cases per property: enough to reach the odd corners, few enough for a few seconds in CI.
const CASES: u32 = 256;

macro_rules! seed {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/onvif/",
            $name
        ))
    };
}

const SEEDS: &[&str] = &[
    seed!("axis_probe_match_spec_example.xml"),
    seed!("dahua_probe_match_spec_example.xml"),
    seed!("hikvision_probe_match_spec_example.xml"),
    seed!("fault_action_not_supported_spec_example.xml"),
    seed!("fault_not_authorized_spec_example.xml"),
    seed!("get_capabilities_spec_example.xml"),
    seed!("get_device_information_spec_example.xml"),
    seed!("get_services_spec_example.xml"),
    seed!("get_system_date_and_time_spec_example.xml"),
    seed!("media1_get_profiles_spec_example.xml"),
    seed!("media1_get_stream_uri_profile_1_spec_example.xml"),
    seed!("media2_get_profiles_spec_example.xml"),
    seed!("media2_get_stream_uri_profile_1_spec_example.xml"),
];

/// One byte-level edit; positions are taken modulo the length at the time.
#[derive(Debug, Clone)]
enum Edit {
    Truncate(usize),
    Overwrite(usize, Vec<u8>),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    /// Copies a range to another place (repeated elements, nesting).
    Duplicate(usize, usize, usize),
}

/// Bytes that matter to XML and to the numbers and URLs inside it.
fn token() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 1..12),
        prop::sample::select(vec![
            "<",
            ">",
            "</",
            "/>",
            "&",
            "&amp;",
            "&#0;",
            "&#xFFFFFFFF;",
            "<![CDATA[",
            "]]>",
            "<!DOCTYPE x [<!ENTITY a \"aaaa\">]>",
            "&a;",
            "\"",
            "'",
            "=",
            ":",
            "xmlns:s=\"\"",
            "-1",
            "99999999999999999999",
            "9223372036854775807",
            "-9223372036854775808",
            "NaN",
            "inf",
            "1e309",
            "0",
            "\u{0}",
            "\u{feff}",
            "é",
            "\u{10ffff}",
            "http://[::1",
            "rtsp://u:p@",
            "%",
            "%ff",
            "onvif://www.onvif.org/",
            " ",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), token()).prop_map(|(at, b)| Edit::Overwrite(at, b)),
        (any::<usize>(), token()).prop_map(|(at, b)| Edit::Insert(at, b)),
        (any::<usize>(), 1usize..64).prop_map(|(at, n)| Edit::Remove(at, n)),
        (any::<usize>(), 1usize..256, any::<usize>())
            .prop_map(|(a, n, b)| Edit::Duplicate(a, n, b)),
    ]
}

fn apply(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for e in edits {
        let len = b.len();
        let at = |p: usize| p % (len + 1);
        match e {
            Edit::Truncate(p) => b.truncate(at(*p)),
            Edit::Overwrite(p, x) => {
                let p = at(*p);
                let end = (p + x.len()).min(len);
                b.splice(p..end, x.iter().copied());
            }
            Edit::Insert(p, x) => {
                let p = at(*p);
                b.splice(p..p, x.iter().copied());
            }
            Edit::Remove(p, n) => {
                let p = at(*p);
                b.drain(p..(p + n).min(len));
            }
            Edit::Duplicate(p, n, to) => {
                let p = at(*p);
                let copy = b[p..(p + n).min(len)].to_vec();
                let to = at(*to);
                b.splice(to..to, copy);
            }
        }
    }
    b
}

/// Every parser of a reply; each may refuse, none may panic.
fn parse_everything(xml: &str) {
    let _ = parse_fault(xml);
    let _ = parse_probe_matches(xml).map(|d| {
        d.iter().for_each(|d| {
            let _ = d.device_url();
        })
    });
    let _ = responses::parse_system_date_and_time(xml);
    let _ = responses::parse_device_information(xml);
    let _ = responses::parse_services(xml).map(|s| responses::media_services(&s));
    let _ = responses::parse_capabilities(xml);
    if let Ok(profiles) = responses::parse_profiles(xml) {
        let _ = super::select_streams(&profiles);
        for p in &profiles {
            let _ = p.video.as_ref().map(|e| e.codec.video_codec());
        }
    }
    if let Ok(uri) = responses::parse_stream_uri(xml) {
        let _ = super::strip_credentials(&uri);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_replies_never_panic(
        seed in prop::sample::select(SEEDS),
        edits in vec(edit(), 1..8),
    ) {
        let bytes = apply(seed.as_bytes(), &edits);
        parse_everything(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_text_is_never_a_panic(text in ".{0,512}") {
        parse_everything(&text);
    }

    #[test]
    fn any_date_in_a_reply_is_a_time_or_an_error(
        year in prop_oneof![any::<i64>(), -1000i64..12000],
        month in prop_oneof![1i64..=12, any::<i64>()],
        day in prop_oneof![1i64..=31, any::<i64>()],
        hour in prop_oneof![0i64..24, any::<i64>()],
        minute in prop_oneof![0i64..60, any::<i64>()],
        second in prop_oneof![0i64..=60, any::<i64>()],
    ) {
        let xml = format!(
            concat!(
                r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" "#,
                r#"xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema">"#,
                "<s:Body><tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>",
                "<tt:DateTimeType>NTP</tt:DateTimeType><tt:UTCDateTime>",
                "<tt:Time><tt:Hour>{}</tt:Hour><tt:Minute>{}</tt:Minute><tt:Second>{}</tt:Second></tt:Time>",
                "<tt:Date><tt:Year>{}</tt:Year><tt:Month>{}</tt:Month><tt:Day>{}</tt:Day></tt:Date>",
                "</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse></s:Body></s:Envelope>",
            ),
            hour, minute, second, year, month, day
        );
        if let Ok(Some(ms)) = responses::parse_system_date_and_time(&xml).map(|d| d.utc_unix_ms) {
            // A time it gives is one a clock can hold: years 1 to 9999 (xs:dateTime's four
            // digits), not a product that wrapped around.
            prop_assert!((1..=9999).contains(&year), "year {year} read as {ms} ms");
            let _ = responses::clock_offset_ms(ms, 0, 0);
        }
    }

    #[test]
    fn any_www_authenticate_value_parses(values in vec(".{0,200}", 0..4)) {
        let challenges = parse_challenges(values.iter().map(String::as_str));
        for c in challenges {
            if let auth::Challenge::Digest(mut d) = c {
                let _ = d.is_supported();
                let _ = d.respond("admin", "pw", "POST", "/onvif/device_service");
            }
        }
    }

    #[test]
    fn mutated_digest_challenges_parse(
        edits in vec(edit(), 1..6),
        seed in prop::sample::select(&[
            r#"Digest realm="IP Camera(C2133)", nonce="4e6d3a2b", qop="auth,auth-int", opaque="xyz", algorithm=MD5-sess, stale=TRUE"#,
            r#"Basic realm="x", Digest realm="a\"b", nonce="n", algorithm=SHA-256"#,
            r#"Bearer, Negotiate abc==, Digest nonce="", qop=auth"#,
        ][..]),
    ) {
        let bytes = apply(seed.as_bytes(), &edits);
        let v = String::from_utf8_lossy(&bytes);
        for c in parse_challenges([v.as_ref(), v.as_ref()]) {
            if let auth::Challenge::Digest(mut d) = c {
                // Twice: the second answer counts the nonce's second use.
                let _ = d.respond("u", "p", "GET", "/");
                let _ = d.respond("u", "p", "GET", "/");
            }
        }
    }
}

/// Found by `any_date_in_a_reply_is_a_time_or_an_error`: a year far out of range overflowed
/// `days * 86_400` (a made-up time in release builds, a panic in debug ones).
#[test]
fn a_year_past_four_digits_is_refused_not_wrapped() {
    assert_eq!(auth::unix_ms_from_utc(i64::MAX, 1, 1, 0, 0, 0), None);
    assert_eq!(auth::unix_ms_from_utc(i64::MIN, 12, 31, 23, 59, 60), None);
    assert_eq!(auth::unix_ms_from_utc(10_000, 1, 1, 0, 0, 0), None);
    assert_eq!(auth::unix_ms_from_utc(1970, 1, 1, 0, 0, 0), Some(0));
}
