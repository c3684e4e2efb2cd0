//! Turns a [`CameraConfig`] into the ingest crate's [`RtspOptions`] (I/O: resolves the password
//! from the environment or its file, at the moment of connecting).

use sharpeyes_core::{CameraId, Canvas};
use sharpeyes_ingest::{RtspOptions, RtspTransport};

use super::config::{CameraConfig, Transport};
use super::secrets::{self, SecretError};

/// Why a camera config cannot become [`RtspOptions`].
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("camera {camera}: the source is a file, not an RTSP stream")]
    NotRtsp { camera: CameraId },
    #[error("camera {camera}: rtsps (RTSP over TLS) is not supported by the RTSP client yet")]
    TlsUnsupported { camera: CameraId },
    #[error("camera {camera}: {source}")]
    Secret {
        camera: CameraId,
        source: SecretError,
    },
}

impl ConnectError {
    /// A missing secret may appear later (retry with backoff); the other cases need an edit.
    pub fn is_transient(&self) -> bool {
        matches!(self, ConnectError::Secret { .. })
    }
}

/// The configured transport for retina. `Auto` maps to TCP for now: retina has no UDP→TCP
/// fallback, and TCP works through NAT and firewalls (UDP must be asked for explicitly).
pub fn rtsp_transport(t: Transport) -> RtspTransport {
    match t {
        Transport::Tcp | Transport::Auto => RtspTransport::Tcp,
        Transport::Udp => RtspTransport::Udp,
    }
}

impl CameraConfig {
    /// Options for connecting the detector to this camera: the substream when configured (else
    /// the main stream), frames letterboxed into `canvas`, the password resolved now.
    /// Timeouts and queue size keep `RtspOptions::new`'s defaults.
    pub fn rtsp_options(&self, canvas: Canvas) -> Result<RtspOptions, ConnectError> {
        let camera = self.id.clone();
        let url = self
            .rtsp_url_for_detection()
            .ok_or_else(|| ConnectError::NotRtsp {
                camera: camera.clone(),
            })?;
        if url.scheme() == "rtsps" {
            return Err(ConnectError::TlsUnsupported { camera });
        }
        let mut o = RtspOptions::new(camera.clone(), url.clone(), canvas);
        o.transport = rtsp_transport(self.stream.transport);
        if let Some(c) = &self.stream.credentials {
            let password = match &c.secret {
                Some(r) => secrets::resolve(r)
                    .map_err(|source| ConnectError::Secret { camera, source })?
                    .into_inner(),
                None => String::new(),
            };
            o.credentials = Some((c.username.clone(), password));
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn camera(stream: &str) -> CameraConfig {
        let text = format!("id = \"c1\"\nname = \"C\"\nvillage = \"V\"\n[stream]\n{stream}\n");
        CameraConfig::parse(&text, "c1.toml").unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn options_use_the_substream_and_the_user_without_putting_it_in_the_url() {
        let c = camera(
            "url = \"rtsp://admin@10.0.0.5/main\"\nsubstream_url = \"rtsp://10.0.0.5/sub\"\ntransport = \"udp\"",
        );
        let o = c
            .rtsp_options(Canvas::new(416, 416, 114))
            .expect("no secret needed");
        assert_eq!(o.url.as_str(), "rtsp://10.0.0.5/sub");
        assert_eq!(o.credentials, Some(("admin".into(), String::new())));
        assert_eq!(o.transport, RtspTransport::Udp);
    }

    #[test]
    fn auto_transport_maps_to_tcp() {
        assert_eq!(rtsp_transport(Transport::Auto), RtspTransport::Tcp);
        let o = camera("url = \"rtsp://h/x\"\ntransport = \"auto\"")
            .rtsp_options(Canvas::new(32, 32, 0))
            .expect("ok");
        assert_eq!(o.transport, RtspTransport::Tcp);
        assert_eq!(o.credentials, None);
    }

    #[test]
    fn password_file_is_read_at_connect_time() {
        let dir = std::env::temp_dir().join(format!("sharpeyes-connect-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let pw = dir.join("pw");
        std::fs::write(&pw, "s3cret\n").expect("write");
        let c = camera(&format!(
            "url = \"rtsp://h/x\"\nusername = \"op\"\npassword_file = {:?}",
            pw.display().to_string()
        ));
        let o = c.rtsp_options(Canvas::new(32, 32, 0)).expect("readable");
        assert_eq!(o.credentials, Some(("op".into(), "s3cret".into())));
        assert!(!format!("{o:?}").contains("s3cret"));
    }

    #[test]
    fn missing_secret_is_a_transient_error_naming_the_variable() {
        let c = camera(
            "url = \"rtsp://h/x\"\nusername = \"op\"\npassword_env = \"SHARPEYES_TEST_SURELY_UNSET_PW\"",
        );
        let e = c.rtsp_options(Canvas::new(32, 32, 0)).unwrap_err();
        assert!(e.is_transient());
        assert_eq!(
            e.to_string(),
            "camera c1: environment variable SHARPEYES_TEST_SURELY_UNSET_PW is not set"
        );
    }

    #[test]
    fn file_and_rtsps_sources_have_no_rtsp_options() {
        let e = camera("url = \"file:///var/rec/a.mp4\"").rtsp_options(Canvas::new(32, 32, 0));
        assert!(matches!(e, Err(ConnectError::NotRtsp { .. })));
        let e = camera("url = \"rtsps://h/x\"").rtsp_options(Canvas::new(32, 32, 0));
        assert!(matches!(e, Err(ConnectError::TlsUnsupported { .. })));
    }
}
