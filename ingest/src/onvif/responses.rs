//! Reading the replies of the device and media services: values in, values out, no I/O.
//!
//! - GetSystemDateAndTime, GetDeviceInformation, GetServices, GetCapabilities: ONVIF Core §8
//!   (device management, sections "Capabilities" and "System").
//! - GetProfiles, GetStreamUri: ONVIF Media Service Specification (ver10, `trt:`), sections
//!   "Media profile" and "Stream URI", and ONVIF Media2 Service Specification (ver20, `tr2:`),
//!   sections "Media Profile" and "Streaming".
//!
//! Elements are matched by local name so that vendor prefixes do not matter (see `soap`).

use std::fmt;

use roxmltree::Node;

use super::auth::unix_ms_from_utc;
use super::error::OnvifError;
use super::soap::{child, child_text, children, with_response};

/// Namespace of the Media service (Profile S).
pub const MEDIA1_NS: &str = "http://www.onvif.org/ver10/media/wsdl";
/// Namespace of the Media2 service (Profile T), preferred when a camera offers it.
pub const MEDIA2_NS: &str = "http://www.onvif.org/ver20/media/wsdl";

/// What GetSystemDateAndTime says (ONVIF Core §8, "System"; `tt:SystemDateTime`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemDateAndTime {
    /// The camera's UTC clock in Unix milliseconds (whole seconds); `None` when the camera left
    /// out `UTCDateTime`, which the schema allows.
    pub utc_unix_ms: Option<i64>,
    /// Whether the camera sets its clock from NTP (`DateTimeType` is `NTP`).
    pub ntp: bool,
    /// The POSIX TZ string, if given (e.g. `CST-8`).
    pub time_zone: Option<String>,
}

pub fn parse_system_date_and_time(xml: &str) -> Result<SystemDateAndTime, OnvifError> {
    const ACTION: &str = "GetSystemDateAndTime";
    with_response(ACTION, xml, "GetSystemDateAndTimeResponse", |resp| {
        let sdt = child(resp, "SystemDateAndTime").ok_or_else(|| OnvifError::Parse {
            action: ACTION,
            message: "no SystemDateAndTime element".into(),
        })?;
        let utc_unix_ms = match child(sdt, "UTCDateTime") {
            Some(utc) => Some(read_date_time(utc).ok_or_else(|| OnvifError::Parse {
                action: ACTION,
                message: "UTCDateTime has missing or out-of-range fields".into(),
            })?),
            None => None,
        };
        Ok(SystemDateAndTime {
            utc_unix_ms,
            ntp: child_text(sdt, "DateTimeType").is_some_and(|t| t.eq_ignore_ascii_case("NTP")),
            time_zone: child(sdt, "TimeZone").and_then(|tz| child_text(tz, "TZ")),
        })
    })
}

/// `tt:DateTime` (`Date/Year,Month,Day` and `Time/Hour,Minute,Second`) → Unix ms.
fn read_date_time(dt: Node<'_, '_>) -> Option<i64> {
    let date = child(dt, "Date")?;
    let time = child(dt, "Time")?;
    let num = |n: Node<'_, '_>, name: &str| child_text(n, name)?.parse::<i64>().ok();
    let small = |n: Node<'_, '_>, name: &str| u32::try_from(num(n, name)?).ok();
    unix_ms_from_utc(
        num(date, "Year")?,
        small(date, "Month")?,
        small(date, "Day")?,
        small(time, "Hour")?,
        small(time, "Minute")?,
        small(time, "Second")?,
    )
}

/// How far the camera's clock is ahead of ours, in milliseconds (negative: behind). Our clock is
/// taken half way between sending the request and reading the reply, which halves the error from
/// the round trip; the camera reports whole seconds, so the result is good to about ±1 s.
pub fn clock_offset_ms(camera_utc_ms: i64, sent_unix_ms: i64, received_unix_ms: i64) -> i64 {
    let local = sent_unix_ms + (received_unix_ms - sent_unix_ms) / 2;
    camera_utc_ms - local
}

/// What GetDeviceInformation says (ONVIF Core §8, "System"). Every field is optional in practice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceInformation {
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub firmware_version: Option<String>,
    pub serial_number: Option<String>,
    pub hardware_id: Option<String>,
}

pub fn parse_device_information(xml: &str) -> Result<DeviceInformation, OnvifError> {
    with_response(
        "GetDeviceInformation",
        xml,
        "GetDeviceInformationResponse",
        |r| {
            Ok(DeviceInformation {
                manufacturer: child_text(r, "Manufacturer"),
                model: child_text(r, "Model"),
                firmware_version: child_text(r, "FirmwareVersion"),
                serial_number: child_text(r, "SerialNumber"),
                hardware_id: child_text(r, "HardwareId"),
            })
        },
    )
}

/// One entry of GetServices: a service namespace and the URL to post its requests to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub namespace: String,
    pub xaddr: String,
}

pub fn parse_services(xml: &str) -> Result<Vec<Service>, OnvifError> {
    with_response("GetServices", xml, "GetServicesResponse", |r| {
        Ok(children(r, "Service")
            .filter_map(|s| {
                Some(Service {
                    namespace: child_text(s, "Namespace")?,
                    xaddr: child_text(s, "XAddr")?,
                })
            })
            .collect())
    })
}

/// Which media service a URL belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaVersion {
    /// `ver10/media/wsdl` (`trt:`), every Profile S camera.
    Media1,
    /// `ver20/media/wsdl` (`tr2:`), Profile T cameras; knows H.265 properly.
    Media2,
}

/// A media service to ask for profiles and stream URIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaService {
    pub version: MediaVersion,
    pub url: String,
}

/// The media services in a GetServices reply, Media2 first.
pub fn media_services(services: &[Service]) -> Vec<MediaService> {
    let find = |ns: &str| {
        services
            .iter()
            .find(|s| s.namespace.trim_end_matches('/') == ns)
            .map(|s| s.xaddr.clone())
    };
    let mut out = Vec::new();
    if let Some(url) = find(MEDIA2_NS) {
        out.push(MediaService {
            version: MediaVersion::Media2,
            url,
        });
    }
    if let Some(url) = find(MEDIA1_NS) {
        out.push(MediaService {
            version: MediaVersion::Media1,
            url,
        });
    }
    out
}

/// The service URLs GetCapabilities gives (`Capabilities/<Service>/XAddr`), the way to find
/// services on cameras too old for GetServices. GetCapabilities never lists Media2.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub media: Option<String>,
    pub events: Option<String>,
    pub ptz: Option<String>,
}

pub fn parse_capabilities(xml: &str) -> Result<Capabilities, OnvifError> {
    with_response("GetCapabilities", xml, "GetCapabilitiesResponse", |r| {
        let caps = child(r, "Capabilities");
        let xaddr = |name: &str| {
            caps.and_then(|c| child(c, name))
                .and_then(|m| child_text(m, "XAddr"))
        };
        Ok(Capabilities {
            media: xaddr("Media"),
            events: xaddr("Events"),
            ptz: xaddr("PTZ"),
        })
    })
}

/// A video codec as a media profile names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OnvifCodec {
    H264,
    H265,
    /// Motion JPEG.
    Jpeg,
    /// MPEG-4 Part 2 (`MPEG4` in Media, `MPV4-ES` in Media2).
    Mpeg4,
    /// Anything else, as the camera wrote it.
    Other(String),
}

impl OnvifCodec {
    /// From `tt:VideoEncoding` (Media: `JPEG`, `MPEG4`, `H264`) or the MIME subtype names Media2
    /// uses (`JPEG`, `MPV4-ES`, `H264`, `H265`); vendor spellings like `H.265` and `HEVC` too.
    pub fn parse(s: &str) -> OnvifCodec {
        let norm: String = s
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_uppercase();
        match norm.as_str() {
            "H264" | "AVC" => OnvifCodec::H264,
            "H265" | "HEVC" => OnvifCodec::H265,
            "JPEG" | "MJPEG" | "MJPG" => OnvifCodec::Jpeg,
            "MPEG4" | "MPV4ES" => OnvifCodec::Mpeg4,
            _ => OnvifCodec::Other(s.to_string()),
        }
    }

    /// The decoder this crate would use, if it has one (H.264 and H.265).
    pub fn video_codec(&self) -> Option<crate::decode::VideoCodec> {
        match self {
            OnvifCodec::H264 => Some(crate::decode::VideoCodec::H264),
            OnvifCodec::H265 => Some(crate::decode::VideoCodec::H265),
            _ => None,
        }
    }
}

impl fmt::Display for OnvifCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OnvifCodec::H264 => f.write_str("H.264"),
            OnvifCodec::H265 => f.write_str("H.265"),
            OnvifCodec::Jpeg => f.write_str("JPEG"),
            OnvifCodec::Mpeg4 => f.write_str("MPEG-4"),
            OnvifCodec::Other(s) => f.write_str(s),
        }
    }
}

/// The video encoder of a media profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoEncoding {
    pub codec: OnvifCodec,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
}

/// A media profile: a token to ask for its stream with, a name, and its video encoder if it has
/// one (audio-only and metadata-only profiles have none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub token: String,
    pub name: String,
    pub video: Option<VideoEncoding>,
}

/// Profiles from GetProfiles of either media service: Media's
/// `Profiles/VideoEncoderConfiguration` or Media2's `Profiles/Configurations/VideoEncoder`, each
/// with `Encoding` and `Resolution/Width,Height`. Profiles without a token are skipped.
pub fn parse_profiles(xml: &str) -> Result<Vec<Profile>, OnvifError> {
    with_response("GetProfiles", xml, "GetProfilesResponse", |r| {
        Ok(children(r, "Profiles")
            .filter_map(|p| {
                let token = p.attribute("token")?.trim().to_string();
                if token.is_empty() {
                    return None;
                }
                let encoder = child(p, "VideoEncoderConfiguration")
                    .or_else(|| child(p, "Configurations").and_then(|c| child(c, "VideoEncoder")));
                Some(Profile {
                    name: child_text(p, "Name").unwrap_or_else(|| token.clone()),
                    token,
                    video: encoder.and_then(read_encoder),
                })
            })
            .collect())
    })
}

fn read_encoder(enc: Node<'_, '_>) -> Option<VideoEncoding> {
    let codec = OnvifCodec::parse(&child_text(enc, "Encoding")?);
    let res = child(enc, "Resolution")?;
    let width = child_text(res, "Width")?.parse().ok()?;
    let height = child_text(res, "Height")?.parse().ok()?;
    Some(VideoEncoding {
        codec,
        width,
        height,
    })
}

/// The URI from GetStreamUri: Media's `MediaUri/Uri` or Media2's `Uri`.
pub fn parse_stream_uri(xml: &str) -> Result<String, OnvifError> {
    const ACTION: &str = "GetStreamUri";
    with_response(ACTION, xml, "GetStreamUriResponse", |r| {
        child(r, "MediaUri")
            .and_then(|m| child_text(m, "Uri"))
            .or_else(|| child_text(r, "Uri"))
            .ok_or_else(|| OnvifError::Parse {
                action: ACTION,
                message: "no Uri in GetStreamUriResponse".into(),
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEDIA1_PROFILES: &str = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><s:Body>
<trt:GetProfilesResponse>
 <trt:Profiles fixed="true" token="Profile_1"><tt:Name>mainStream</tt:Name>
  <tt:VideoSourceConfiguration token="VideoSourceToken"><tt:Name>VideoSourceConfig</tt:Name></tt:VideoSourceConfiguration>
  <tt:VideoEncoderConfiguration token="VideoEncoderToken_1"><tt:Name>VideoEncoder_1</tt:Name>
   <tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>2560</tt:Width><tt:Height>1440</tt:Height></tt:Resolution>
  </tt:VideoEncoderConfiguration></trt:Profiles>
 <trt:Profiles token="Audio"><tt:Name>audio only</tt:Name></trt:Profiles>
 <trt:Profiles token=""><tt:Name>broken</tt:Name></trt:Profiles>
</trt:GetProfilesResponse></s:Body></s:Envelope>"#;

    #[test]
    fn reads_media1_profiles_and_keeps_audio_only_ones_without_video() {
        let p = parse_profiles(MEDIA1_PROFILES).expect("parses");
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].token, "Profile_1");
        assert_eq!(p[0].name, "mainStream");
        assert_eq!(
            p[0].video,
            Some(VideoEncoding {
                codec: OnvifCodec::H264,
                width: 2560,
                height: 1440
            })
        );
        assert_eq!(p[1].video, None);
    }

    #[test]
    fn reads_media2_profiles_with_h265() {
        let xml = r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tr2="http://www.onvif.org/ver20/media/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><env:Body>
<tr2:GetProfilesResponse><tr2:Profiles token="MediaProfile000" fixed="true"><tr2:Name>MainStream</tr2:Name>
<tr2:Configurations><tr2:VideoEncoder token="VideoEncoderToken000" GovLength="50" Profile="Main"><tt:Name>VideoEncoder000</tt:Name>
<tt:UseCount>1</tt:UseCount><tt:Encoding>H265</tt:Encoding><tt:Resolution><tt:Width>3840</tt:Width><tt:Height>2160</tt:Height></tt:Resolution>
</tr2:VideoEncoder></tr2:Configurations></tr2:Profiles></tr2:GetProfilesResponse></env:Body></env:Envelope>"#;
        let p = parse_profiles(xml).expect("parses");
        assert_eq!(p.len(), 1);
        let v = p[0].video.as_ref().expect("has video");
        assert_eq!(
            (v.codec.clone(), v.width, v.height),
            (OnvifCodec::H265, 3840, 2160)
        );
    }

    #[test]
    fn codec_names_from_media_media2_and_vendors() {
        assert_eq!(OnvifCodec::parse("H264"), OnvifCodec::H264);
        assert_eq!(OnvifCodec::parse("H.265"), OnvifCodec::H265);
        assert_eq!(OnvifCodec::parse("hevc"), OnvifCodec::H265);
        assert_eq!(OnvifCodec::parse("MPV4-ES"), OnvifCodec::Mpeg4);
        assert_eq!(OnvifCodec::parse("JPEG"), OnvifCodec::Jpeg);
        assert_eq!(OnvifCodec::parse("SVAC"), OnvifCodec::Other("SVAC".into()));
    }

    #[test]
    fn reads_utc_time_and_ntp_flag() {
        let xml = r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><SOAP-ENV:Body>
<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>
<tt:TimeZone><tt:TZ>CST-8:00:00</tt:TZ></tt:TimeZone>
<tt:UTCDateTime><tt:Time><tt:Hour>2</tt:Hour><tt:Minute>3</tt:Minute><tt:Second>4</tt:Second></tt:Time><tt:Date><tt:Year>2024</tt:Year><tt:Month>3</tt:Month><tt:Day>5</tt:Day></tt:Date></tt:UTCDateTime>
</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;
        let t = parse_system_date_and_time(xml).expect("parses");
        assert_eq!(t.utc_unix_ms, unix_ms_from_utc(2024, 3, 5, 2, 3, 4));
        assert!(t.ntp);
        assert_eq!(t.time_zone.as_deref(), Some("CST-8:00:00"));
    }

    #[test]
    fn missing_utc_time_is_none_but_broken_utc_time_is_an_error() {
        let wrap = |inner: &str| {
            format!(
                r#"<Envelope><Body><GetSystemDateAndTimeResponse><SystemDateAndTime><DateTimeType>Manual</DateTimeType>{inner}</SystemDateAndTime></GetSystemDateAndTimeResponse></Body></Envelope>"#
            )
        };
        let t = parse_system_date_and_time(&wrap("")).expect("parses");
        assert_eq!(t.utc_unix_ms, None);
        assert!(!t.ntp);
        let bad = wrap(
            "<UTCDateTime><Time><Hour>25</Hour><Minute>0</Minute><Second>0</Second></Time><Date><Year>2024</Year><Month>1</Month><Day>1</Day></Date></UTCDateTime>",
        );
        assert!(parse_system_date_and_time(&bad).is_err());
    }

    #[test]
    fn clock_offset_uses_the_midpoint_of_the_round_trip() {
        assert_eq!(clock_offset_ms(10_000, 2_000, 4_000), 7_000);
        assert_eq!(clock_offset_ms(1_000, 2_000, 2_000), -1_000);
    }

    #[test]
    fn media2_is_listed_before_media1() {
        let services = vec![
            Service {
                namespace: MEDIA1_NS.into(),
                xaddr: "http://c/onvif/Media".into(),
            },
            Service {
                namespace: "http://www.onvif.org/ver10/device/wsdl".into(),
                xaddr: "http://c/onvif/device_service".into(),
            },
            Service {
                namespace: MEDIA2_NS.into(),
                xaddr: "http://c/onvif/Media2".into(),
            },
        ];
        let m = media_services(&services);
        assert_eq!(m[0].version, MediaVersion::Media2);
        assert_eq!(m[0].url, "http://c/onvif/Media2");
        assert_eq!(m[1].version, MediaVersion::Media1);
        assert!(media_services(&services[1..2]).is_empty());
    }

    #[test]
    fn stream_uri_from_media1_and_media2_shapes() {
        let m1 = r#"<E><B><trt:GetStreamUriResponse xmlns:trt="x"><trt:MediaUri><Uri> rtsp://c/1 </Uri></trt:MediaUri></trt:GetStreamUriResponse></B></E>"#;
        assert_eq!(parse_stream_uri(m1).expect("parses"), "rtsp://c/1");
        let m2 = r#"<E><B><tr2:GetStreamUriResponse xmlns:tr2="y"><tr2:Uri>rtsp://c/2</tr2:Uri></tr2:GetStreamUriResponse></B></E>"#;
        assert_eq!(parse_stream_uri(m2).expect("parses"), "rtsp://c/2");
        let none = r#"<E><GetStreamUriResponse/></E>"#;
        assert!(parse_stream_uri(none).is_err());
    }
}
