//! `sharpeyes camera discover` and `sharpeyes camera add --onvif`: ONVIF devices on the local
//! network, and a camera config written from what a device says about itself (I/O: network,
//! files). The password is read from an environment variable, used for the probe, and never
//! written anywhere: the config names the variable. A camera that offers only HTTP Basic over
//! plain http is refused before the password is sent, unless `--allow-basic-over-http` says
//! otherwise; the camera file then records `onvif.allow_basic_over_http = true`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use sharpeyes_ingest::onvif::{
    self, DiscoveredDevice, OnvifCamera, OnvifClient, OnvifError, Password,
};

use crate::cameras::{NewCamera, add_camera};

/// Prints one line per device: address, name, hardware, location.
pub fn discover(
    timeout: Duration,
    at: Option<SocketAddr>,
    out: &mut impl Write,
) -> anyhow::Result<usize> {
    let devices = match at {
        Some(addr) => onvif::discover_at(addr, timeout)?,
        None => onvif::discover(timeout)?,
    };
    for d in &devices {
        writeln!(out, "{}", device_line(d))?;
    }
    writeln!(
        out,
        "{} ONVIF device(s) answered within {} ms",
        devices.len(),
        timeout.as_millis()
    )?;
    Ok(devices.len())
}

fn device_line(d: &DiscoveredDevice) -> String {
    format!(
        "{}\tname={}\thardware={}\tlocation={}",
        d.device_url().unwrap_or("(no address)"),
        d.name.as_deref().unwrap_or("-"),
        d.hardware.as_deref().unwrap_or("-"),
        d.location.as_deref().unwrap_or("-"),
    )
}

/// What `camera add` was told (its command-line arguments).
#[derive(clap::Args, Debug)]
pub struct AddOptions {
    /// Device service URL, or the camera's host[:port].
    #[arg(long)]
    pub onvif: String,
    #[arg(long)]
    pub user: String,
    /// Environment variable holding the password (read now for the probe; the file names the
    /// variable, not the password).
    #[arg(long)]
    pub password_env: String,
    /// Camera id (default: from the device's address).
    #[arg(long)]
    pub id: Option<String>,
    /// Display name (default: manufacturer and model).
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, default_value = "unassigned")]
    pub village: String,
    /// Camera config directory.
    #[arg(long, default_value = "configs/cameras")]
    pub dir: PathBuf,
    /// Answer the camera even if it offers only HTTP Basic over plain http (its password then
    /// crosses the network readable). Recorded in the camera file as
    /// `onvif.allow_basic_over_http = true`.
    #[arg(long)]
    pub allow_basic_over_http: bool,
}

/// A camera id from the device service URL's host: lowercase letters, digits and '-'.
fn default_id(device_url: &str) -> String {
    let base = url::Url::parse(device_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "camera".into());
    let id: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("cam-{}", id.trim_matches('-'))
}

/// Probes the device and writes its camera file; returns the file and what was found.
pub fn add(o: &AddOptions) -> anyhow::Result<(PathBuf, OnvifCamera)> {
    let password = std::env::var(&o.password_env).with_context(|| {
        format!(
            "--password-env {}: that environment variable is not set",
            o.password_env
        )
    })?;
    let url = onvif::device_url_for_host(&o.onvif);
    let client = OnvifClient::new(&url, &o.user, Some(Password::new(password)))?
        .allow_basic_over_http(o.allow_basic_over_http);
    let id =
        o.id.clone()
            .unwrap_or_else(|| default_id(client.device_url()));
    let mut cam = match onvif::probe_with(&client) {
        Err(e @ OnvifError::BasicOverHttp { .. }) => bail!(
            "camera {id} ({}): onvif.allow_basic_over_http is false (the default): {e}. To send \
             the password this way anyway, run `camera add` again with --allow-basic-over-http; \
             the camera file then says onvif.allow_basic_over_http = true",
            o.dir.join(format!("{id}.toml")).display()
        ),
        other => other?,
    };
    if cam.main.codec.video_codec().is_none() {
        bail!(
            "{}: the main stream is {:?}; Sharp Eyes decodes H.264 and H.265",
            cam.device_url,
            cam.main.codec
        );
    }
    // `select_streams` falls back to an MJPEG (or other) substream when no smaller H.264/H.265
    // profile exists. Detection could not decode it, so it uses the main stream instead.
    if let Some(sub) = cam.sub.take_if(|s| s.codec.video_codec().is_none()) {
        tracing::warn!(
            codec = ?sub.codec,
            profile = %sub.profile_token,
            "substream is not H.264/H.265, detection uses the main stream"
        );
    }
    let name = o.name.clone().unwrap_or_else(|| {
        [cam.manufacturer.as_deref(), cam.model.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ")
    });
    let new = NewCamera {
        id: id.clone(),
        name: if name.is_empty() { id.clone() } else { name },
        village: o.village.clone(),
        url: cam.main.uri.clone(),
        substream_url: cam.sub.as_ref().map(|s| s.uri.clone()),
        username: Some(o.user.clone()),
        password_env: Some(o.password_env.clone()),
        allow_basic_over_http: o.allow_basic_over_http,
    };
    let path = add_camera(&o.dir, &new).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((path, cam))
}

/// `camera add` output: the file and the streams, never the password.
pub fn describe(path: &Path, cam: &OnvifCamera) -> String {
    let mut s = format!(
        "wrote {}\n  main: {} {} {}x{}\n",
        path.display(),
        sharpeyes_ingest::redact_url(&cam.main.uri),
        cam.main.codec,
        cam.main.width,
        cam.main.height
    );
    match &cam.sub {
        Some(sub) => s.push_str(&format!(
            "  substream (used for detection): {} {} {}x{}\n",
            sharpeyes_ingest::redact_url(&sub.uri),
            sub.codec,
            sub.width,
            sub.height
        )),
        None => s.push_str("  no substream: detection uses the main stream\n"),
    }
    if let Some(off) = cam.clock_offset_ms {
        s.push_str(&format!("  camera clock offset: {off} ms\n"));
    }
    s
}
