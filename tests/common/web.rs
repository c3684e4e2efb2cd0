//! Helpers of the command-center tests: users, `sharpeyes serve`, alerts of a village.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sharpeyes_core::{Alert, AlertKind, CameraId, CameraRef, ModelRef, UnixMillis};

use super::BIN;

/// An alert of `camera` in `village`, `t` ms after a fixed time, no objects.
pub fn village_alert(kind: AlertKind, camera: &str, village: &str, t: i64) -> Alert {
    let mut a = Alert::new(
        kind,
        CameraId::new(camera).unwrap(),
        UnixMillis(1_795_459_860_000 + t),
        &[],
        (640, 360),
    );
    a.camera = CameraRef {
        id: a.camera.id.clone(),
        name: format!("{camera} kitchen"),
        village: village.into(),
    };
    a.model = ModelRef {
        name: "yolox_nano".into(),
        version: "test".into(),
    };
    a.message = Some(format!("{} at {camera}", kind.as_str()));
    a
}

/// `sharpeyes user add` into `<dir>/cc.db`; the password is `<name>-password`.
pub fn user_add(dir: &Path, name: &str, role: &str, villages: &str) {
    let out = Command::new(BIN)
        .current_dir(dir)
        .args([
            "user",
            "add",
            "--db",
            "cc.db",
            "--username",
            name,
            "--role",
            role,
        ])
        .args(["--villages", villages, "--password-env", "PW"])
        .env("PW", format!("{name}-password"))
        .output()
        .expect("user add");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `sharpeyes serve` on `listen` with `<dir>/cc.db`, fed from `bootstrap`; returns the child
/// and its base URL once it listens (its stderr is drained meanwhile).
pub fn serve(dir: &Path, bootstrap: &str, listen: &str) -> (Child, String) {
    let (child, url, _) = serve_with(dir, &["--listen", listen, "--kafka", bootstrap]);
    (child, url)
}

/// What a server wrote on stderr so far (its logs).
pub type Log = Arc<Mutex<String>>;

/// `sharpeyes serve --db cc.db ARGS` in `dir` (no `--kafka`: an empty feed; `--listen`
/// defaults to any free port); returns the child, its base URL once it listens, and its
/// stderr as it comes.
pub fn serve_with(dir: &Path, args: &[&str]) -> (Child, String, Log) {
    let listen = if args.contains(&"--listen") {
        &[][..]
    } else {
        &["--listen", "127.0.0.1:0"][..]
    };
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .args(["serve", "--db", "cc.db"])
        .args(listen)
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start serve");
    let log = Log::default();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let url = loop {
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "serve exited");
        log.lock().unwrap().push_str(&line);
        if let Some(rest) = line.strip_prefix("command center: ") {
            let url = rest.split(' ').next().unwrap_or_default();
            break url.trim_end_matches('/').to_owned();
        }
    };
    let keep = log.clone();
    std::thread::spawn(move || {
        for line in err.lines().map_while(Result::ok) {
            let mut log = keep.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    (child, url, log)
}

/// `sharpeyes user ARGS --db cc.db` in `dir` with `PW` set to `password`: its output.
pub fn user_cmd(dir: &Path, args: &[&str], password: &str) -> std::process::Output {
    Command::new(BIN)
        .current_dir(dir)
        .arg("user")
        .args(args)
        .args(["--db", "cc.db"])
        .env("PW", password)
        .output()
        .expect("sharpeyes user")
}

/// A signed-in client: the session cookie and CSRF token.
pub struct Client {
    pub base: String,
    pub agent: ureq::Agent,
    pub cookie: String,
    pub csrf: String,
}

/// A test's HTTP client. It opens a connection per request: a handler that answers without
/// reading the request's body (a 403 for a missing CSRF token, logout) makes hyper close the
/// connection when the body has not arrived yet, and ureq would send the next request on the
/// closed pooled connection ("Peer disconnected"), where a browser retries.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_idle_connections(0)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

pub fn login(base: &str, name: &str, password: &str) -> Result<Client, u16> {
    let a = agent();
    let mut r = a
        .post(format!("{base}/api/login"))
        .header("Content-Type", "application/json")
        .send(serde_json::json!({"username": name, "password": password}).to_string())
        .unwrap();
    if r.status() != 200 {
        return Err(r.status().as_u16());
    }
    let set = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_owned();
    let body: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    Ok(Client {
        base: base.into(),
        agent: a,
        cookie,
        csrf: body["csrf"].as_str().unwrap().into(),
    })
}

impl Client {
    pub fn get(&self, path: &str) -> (u16, String) {
        let mut r = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .call()
            .unwrap();
        (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        )
    }

    /// Like [`Client::get`], the body as bytes (a snapshot).
    pub fn get_bytes(&self, path: &str) -> (u16, Vec<u8>) {
        let mut r = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .call()
            .unwrap();
        let status = r.status().as_u16();
        (
            status,
            r.body_mut()
                .with_config()
                .limit(16 << 20)
                .read_to_vec()
                .unwrap_or_default(),
        )
    }

    pub fn post(&self, path: &str, body: serde_json::Value, csrf: bool) -> (u16, String) {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .header("Content-Type", "application/json");
        if csrf {
            req = req.header("X-CSRF-Token", &self.csrf);
        }
        let mut r = req.send(body.to_string()).unwrap();
        (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        )
    }

    pub fn json(&self, path: &str) -> serde_json::Value {
        let (s, b) = self.get(path);
        assert_eq!(s, 200, "{path}: {b}");
        serde_json::from_str(&b).unwrap()
    }
}

/// The browser tests' tools: Debian's chromium, and node with web/e2e's npm packages.
pub struct Browser {
    chromium: PathBuf,
    e2e: PathBuf,
}

/// A web/e2e script running, signed in: its process, its stdout after "READY", and where it
/// writes its screenshot.
pub struct E2e {
    pub node: Child,
    pub out: BufReader<ChildStdout>,
    pub shot: PathBuf,
}

impl Browser {
    /// The tools, or None with a printed `SKIP:` naming what is missing.
    pub fn find() -> Option<Self> {
        let Some(chromium) = [
            "/usr/bin/chromium",
            "/usr/bin/chromium-browser",
            "/usr/bin/google-chrome",
        ]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file()) else {
            println!("SKIP: no chromium (apt install chromium, or ./dev setup)");
            return None;
        };
        let e2e = super::repo().join("web/e2e");
        if !e2e.join("node_modules/playwright-core").is_dir() {
            println!("SKIP: web/e2e/node_modules missing (./dev setup runs npm ci there)");
            return None;
        }
        if Command::new("node").arg("--version").output().is_err() {
            println!("SKIP: no node");
            return None;
        }
        Some(Self { chromium, e2e })
    }

    /// Runs `web/e2e/<script>` against the command center at `base`, as the operators `op-x`
    /// (Xiaohe) and `op-d` (Dahe) that [`user_add`] made, with `env` besides; the screenshot
    /// goes to `target/test-artifacts/<shot>`. Returns once the script says "READY" (panics
    /// with its stderr if it does not).
    pub fn start(&self, script: &str, base: &str, shot: &str, env: &[(&str, String)]) -> E2e {
        let artifacts = super::repo().join("target/test-artifacts");
        std::fs::create_dir_all(&artifacts).unwrap();
        let shot = artifacts.join(shot);
        let _ = std::fs::remove_file(&shot);
        let mut node = Command::new("node")
            .current_dir(&self.e2e)
            .arg(script)
            .env("BASE", base)
            .env("CHROMIUM", &self.chromium)
            .env("SHOT", &shot)
            .env("OP_USER", "op-x")
            .env("OP_PASS", "op-x-password")
            .env("OTHER_USER", "op-d")
            .env("OTHER_PASS", "op-d-password")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start node");
        let mut out = BufReader::new(node.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        if line.trim() != "READY" {
            let o = node.wait_with_output().unwrap();
            panic!(
                "browser not ready: {line}{}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        E2e { node, out, shot }
    }
}
