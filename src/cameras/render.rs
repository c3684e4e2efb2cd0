//! Renders a new camera's file for `sharpeyes camera add`. Pure: values in, TOML text out.

use super::config::{DEFAULT_FPS, DEFAULT_MODEL, DEFAULT_RECONNECT_MAX_S, DEFAULT_STALL_AFTER_S};

/// What `sharpeyes camera add` asks for. Plain strings as typed: [`render_camera_toml`] never
/// fails; parse its output (`CameraConfig::parse`, or use `load::add_camera`) to validate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCamera {
    pub id: String,
    pub name: String,
    pub village: String,
    /// Main stream URL, without a password.
    pub url: String,
    pub substream_url: Option<String>,
    pub username: Option<String>,
    /// Name of the environment variable holding the password.
    pub password_env: Option<String>,
    /// Written as `onvif.allow_basic_over_http = true` (only when true): the operator allowed
    /// HTTP Basic over plain http for this camera.
    pub allow_basic_over_http: bool,
}

/// A commented camera file with every default written out, so the operator sees what can be
/// tuned. For valid input, `CameraConfig::parse` of the output gives back these values.
pub fn render_camera_toml(c: &NewCamera) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "# Camera {}, written by `sharpeyes camera add`.\n\
         # Every field is explained in configs/cameras/example-gate-east.toml.\n\
         # Check edits with `sharpeyes config check`; `sharpeyes run` picks them up within a second.\n\n",
        quote(&c.id)
    ));
    s.push_str(&format!("id = {}\n", quote(&c.id)));
    s.push_str(&format!("name = {}\n", quote(&c.name)));
    s.push_str(&format!("village = {}\n", quote(&c.village)));
    s.push_str("enabled = true\n\n[stream]\n");
    s.push_str(&format!("url = {}\n", quote(&c.url)));
    if let Some(sub) = &c.substream_url {
        s.push_str("# Used for detection.\n");
        s.push_str(&format!("substream_url = {}\n", quote(sub)));
    }
    s.push_str("# tcp | udp | auto\ntransport = \"tcp\"\n");
    if let Some(u) = &c.username {
        s.push_str(&format!("username = {}\n", quote(u)));
    }
    if let Some(e) = &c.password_env {
        s.push_str("# The password is read from this environment variable when connecting.\n");
        s.push_str(&format!("password_env = {}\n", quote(e)));
    }
    s.push_str(&format!(
        "\n[detect]\n\
         # Detector frames per second, 0.1 to 30.\n\
         fps = {DEFAULT_FPS:?}\n\
         models = [{}]\n\
         # rules = [\"fall\", \"zones\"]   # default: every rule (person_detected, fall, zones)\n\n\
         [health]\n\
         # Seconds without a decoded frame, in any state, before the connection is remade (1-600).\n\
         stall_after_s = {DEFAULT_STALL_AFTER_S}\n\
         # Cap of the reconnect backoff in seconds (1-3600).\n\
         reconnect_max_s = {DEFAULT_RECONNECT_MAX_S}\n",
        quote(DEFAULT_MODEL)
    ));
    if c.allow_basic_over_http {
        s.push_str(
            "\n[onvif]\n\
             # The camera offers only HTTP Basic over plain http: its password crosses the network\n\
             # readable. Allowed for this camera by `camera add --allow-basic-over-http`.\n\
             allow_basic_over_http = true\n",
        );
    }
    s
}

/// A TOML basic string (spec 1.0 "Basic strings"): `"` and `\` escaped, control characters as
/// `\uXXXX`, everything else as is.
fn quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for ch in v.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::super::config::{CameraConfig, SecretRef, Transport};
    use super::*;

    fn new() -> NewCamera {
        NewCamera {
            id: "gate-east".into(),
            name: "East \"main\" gate\\1\n".into(),
            village: "小河 Xiaohe".into(),
            url: "rtsp://192.168.1.64:554/Streaming/Channels/101".into(),
            substream_url: Some("rtsp://192.168.1.64:554/Streaming/Channels/102".into()),
            username: Some("admin".into()),
            password_env: Some("GATE_EAST_PASSWORD".into()),
            allow_basic_over_http: false,
        }
    }

    #[test]
    fn rendered_toml_parses_back_to_the_same_values() {
        let n = new();
        let c = CameraConfig::parse(&render_camera_toml(&n), "new.toml")
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(c.id.as_str(), n.id);
        assert_eq!(c.name, n.name);
        assert_eq!(c.village, n.village);
        assert!(c.enabled);
        assert_eq!(c.stream.url.as_str(), n.url);
        assert_eq!(
            c.stream.substream_url.as_ref().map(|u| u.as_str()),
            n.substream_url.as_deref()
        );
        assert_eq!(c.stream.transport, Transport::Tcp);
        let creds = c.stream.credentials.expect("user");
        assert_eq!(creds.username, "admin");
        assert_eq!(
            creds.secret,
            Some(SecretRef::Env("GATE_EAST_PASSWORD".into()))
        );
        assert_eq!(c.detect.models, vec!["yolox_nano".to_string()]);
        assert!(!c.onvif.allow_basic_over_http);
        let allowed = NewCamera {
            allow_basic_over_http: true,
            ..n
        };
        let c = CameraConfig::parse(&render_camera_toml(&allowed), "new.toml")
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(c.onvif.allow_basic_over_http);
    }

    #[test]
    fn minimal_new_camera_renders_without_optional_fields() {
        let n = NewCamera {
            substream_url: None,
            username: None,
            password_env: None,
            ..new()
        };
        let text = render_camera_toml(&n);
        assert!(!text.contains("substream_url ="));
        assert!(!text.contains("username ="));
        let c = CameraConfig::parse(&text, "new.toml").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(c.stream.credentials, None);
    }

    #[test]
    fn hostile_strings_cannot_inject_keys() {
        let n = NewCamera {
            name: "x\"\nenabled = false\n#".into(),
            ..new()
        };
        let c = CameraConfig::parse(&render_camera_toml(&n), "new.toml")
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(c.enabled);
        assert_eq!(c.name, n.name);
    }
}
