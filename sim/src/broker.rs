//! A Kafka-protocol broker process on loopback (tansu): started and stopped by `sharpeyes bench`
//! (which measures capture → acknowledged by Kafka) and by the tests (through this crate's root). I/O:
//! a child process, sockets, a scratch directory.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, Consumer};

/// Environment variable naming the tansu binary to use.
pub const TANSU_BIN_ENV: &str = "TANSU_BIN";

/// How the project builds tansu (the message of a "not found" skip says so).
pub const TANSU_INSTALL_HINT: &str = "cargo install tansu --version 0.6.0 --locked \
     --features dynostore,libsql --root ~/.cache/sharpeyes/tansu-0.6.0";

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// A name no other call in this machine's recent past has produced: pid, time, counter.
pub(crate) fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        UNIQUE.fetch_add(1, Ordering::Relaxed)
    )
}

/// A directory removed with everything in it on drop (`tempfile`'s; re-exported for the tests).
pub use tempfile::TempDir;

/// Finds the tansu binary: `$TANSU_BIN`, else `$HOME/.cache/sharpeyes/tansu-0.6.0/bin/tansu`,
/// else `tansu` on `PATH`. Err(reason) when none exists.
pub fn find_tansu() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(TANSU_BIN_ENV) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{TANSU_BIN_ENV}={} is not a file", p.display()))
        };
    }
    if let Some(home) = std::env::var_os("HOME") {
        let p = Path::new(&home).join(".cache/sharpeyes/tansu-0.6.0/bin/tansu");
        if p.is_file() {
            return Ok(p);
        }
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("tansu"))
            .find(|p| p.is_file())
    });
    on_path.ok_or_else(|| {
        format!("tansu broker not found (set {TANSU_BIN_ENV}, or build it: {TANSU_INSTALL_HINT})")
    })
}

/// A loopback port that was free a moment ago (bound to port 0, read, released).
pub fn free_port() -> io::Result<u16> {
    TcpListener::bind("127.0.0.1:0")?
        .local_addr()
        .map(|a| a.port())
}

/// Where tansu keeps its data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TansuStorage {
    /// `memory://tansu/`: gone when the process exits.
    #[default]
    Memory,
    /// `sqlite://tansu.db` in the broker's temp dir: survives [`TansuBroker::restart`].
    Sqlite,
}

/// Settings of [`TansuBroker::start_with`].
#[derive(Clone, Debug)]
pub struct TansuOptions {
    /// Default: [`TansuStorage::Memory`].
    pub storage: TansuStorage,
    /// Port to listen on; default: a free one picked at start.
    pub port: Option<u16>,
    /// How long start and restart wait for the broker to answer a metadata request.
    /// Default: 20 s.
    pub ready_timeout: Duration,
}

impl Default for TansuOptions {
    fn default() -> Self {
        Self {
            storage: TansuStorage::Memory,
            port: None,
            ready_timeout: Duration::from_secs(20),
        }
    }
}

/// A tansu broker process on `127.0.0.1:<port>`, killed (and waited for) on drop. Its output
/// goes to a log file in its temp dir ([`TansuBroker::log_tail`] shows it).
#[derive(Debug)]
pub struct TansuBroker {
    bin: PathBuf,
    port: u16,
    storage: TansuStorage,
    ready_timeout: Duration,
    log_path: PathBuf,
    child: Option<Child>,
    // Last, so the directory is removed after the process is gone.
    dir: TempDir,
}

impl TansuBroker {
    /// A throwaway in-memory broker on a free port.
    pub fn start() -> Result<Self, String> {
        Self::start_with(TansuOptions::default())
    }

    /// A broker with the given storage and port; returns once it answers metadata requests.
    pub fn start_with(options: TansuOptions) -> Result<Self, String> {
        let bin = find_tansu()?;
        let dir = TempDir::with_prefix("sharpeyes-tansu")
            .map_err(|e| format!("temp dir for tansu: {e}"))?;
        let port = match options.port {
            Some(p) => p,
            None => free_port().map_err(|e| format!("no free loopback port: {e}"))?,
        };
        let mut broker = Self {
            bin,
            port,
            storage: options.storage,
            ready_timeout: options.ready_timeout,
            log_path: dir.path().join("tansu.log"),
            child: None,
            dir,
        };
        broker.spawn()?;
        Ok(broker)
    }

    /// `127.0.0.1:<port>`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The broker's scratch directory (holds `tansu.log` and, for sqlite, `tansu.db`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The broker's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is alive.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the process (SIGKILL: an abrupt crash, no clean shutdown) and waits for it.
    /// Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the broker if running and starts a new process on the same port with the same
    /// storage; returns once it answers. With [`TansuStorage::Sqlite`] topics and messages
    /// survive; with memory storage the new broker is empty.
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        self.spawn()
    }

    /// The last `max_bytes` of the broker's log (all restarts appended).
    pub fn log_tail(&self, max_bytes: u64) -> String {
        let read = || -> io::Result<String> {
            let mut f = File::open(&self.log_path)?;
            let len = f.metadata()?.len();
            f.seek(SeekFrom::Start(len.saturating_sub(max_bytes)))?;
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)?;
            Ok(String::from_utf8_lossy(&buf).into_owned())
        };
        read().unwrap_or_else(|e| format!("(no log: {e})"))
    }

    fn storage_url(&self) -> &'static str {
        match self.storage {
            TansuStorage::Memory => "memory://tansu/",
            // Relative to the child's working directory, which is our temp dir.
            TansuStorage::Sqlite => "sqlite://tansu.db",
        }
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| format!("tansu log {}: {e}", self.log_path.display()))?;
        let log_err = log.try_clone().map_err(|e| format!("tansu log: {e}"))?;
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(&self.bin)
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", self.storage_url()])
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", self.bin.display()))?;
        self.child = Some(child);
        self.wait_ready().inspect_err(|_| self.stop())
    }

    /// Polls until the port accepts TCP and a metadata request lists a broker.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + self.ready_timeout;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let probe: BaseConsumer =
            sharpeyes_delivery::kafka::client(&self.bootstrap(), "sharpeyes-probe", &[])
                .config()
                .create()
                .map_err(|e| format!("metadata probe client: {e}"))?;
        let mut last_error = String::from("port not open");
        while Instant::now() < deadline {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Err(format!(
                    "tansu exited ({status}) before it was ready; log:\n{}",
                    self.log_tail(4000)
                ));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                let left = deadline.saturating_duration_since(Instant::now());
                match probe.fetch_metadata(None, left.min(Duration::from_secs(2))) {
                    Ok(md) if !md.brokers().is_empty() => return Ok(()),
                    Ok(_) => last_error = "metadata lists no broker".into(),
                    Err(e) => last_error = format!("metadata: {e}"),
                }
            }
            thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "tansu on {} not ready after {:?} ({last_error}); log:\n{}",
            self.bootstrap(),
            self.ready_timeout,
            self.log_tail(4000)
        ))
    }
}

impl Drop for TansuBroker {
    fn drop(&mut self) {
        self.stop();
    }
}
