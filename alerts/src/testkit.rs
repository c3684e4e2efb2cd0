//! Test helpers (cargo feature `test-util`): a real Kafka-protocol broker (tansu) on loopback,
//! a consumer that reads a topic back, and a self-deleting temporary directory. Does I/O
//! (child processes, sockets, files). For tests only.
//!
//! Tests that need a broker should skip, with a printed reason, when tansu is not installed:
//!
//! ```no_run
//! use sharpeyes_alerts::testkit::TansuBroker;
//! let broker = match TansuBroker::start() {
//!     Ok(b) => b,
//!     Err(reason) => {
//!         println!("SKIP: {reason}");
//!         return;
//!     }
//! };
//! let bootstrap = broker.bootstrap(); // "127.0.0.1:<port>"
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

/// Environment variable naming the tansu binary to use.
pub const TANSU_BIN_ENV: &str = "TANSU_BIN";

/// How the project builds tansu (the message of a "not found" skip says so).
pub const TANSU_INSTALL_HINT: &str = "cargo install tansu --version 0.6.0 --locked \
     --features dynostore,libsql --root ~/.cache/sharpeyes/tansu-0.6.0";

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// A name no other call in this machine's recent past has produced: pid, time, counter.
fn unique_suffix() -> String {
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

/// A directory under the system temp dir, removed with everything in it on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `<tmp>/sharpeyes-<prefix>-<unique>`.
    pub fn new(prefix: &str) -> io::Result<Self> {
        let path = std::env::temp_dir().join(format!("sharpeyes-{prefix}-{}", unique_suffix()));
        fs::create_dir_all(&path)?;
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

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
        let dir = TempDir::new("tansu").map_err(|e| format!("temp dir for tansu: {e}"))?;
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
        let probe: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
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

/// One message read back by [`consume_n`]; key, payload and header values as (lossy) UTF-8.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsumedMessage {
    pub key: Option<String>,
    pub payload: Option<String>,
    pub headers: Vec<(String, Option<String>)>,
    pub partition: i32,
    pub offset: i64,
}

impl ConsumedMessage {
    /// The value of the first header named `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// Reads the first `n` messages of every partition of `topic` (from the beginning, with a fresh
/// consumer group), waiting up to `timeout`. Err when fewer than `n` arrived. Messages of one
/// partition are in offset order; partitions are interleaved as they arrive.
pub fn consume_n(
    bootstrap: &str,
    topic: &str,
    n: usize,
    timeout: Duration,
) -> Result<Vec<ConsumedMessage>, String> {
    let deadline = Instant::now() + timeout;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("sharpeyes-testkit-{}", unique_suffix()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .map_err(|e| format!("consumer: {e}"))?;
    let partitions = topic_partitions(&consumer, topic, deadline)?;
    {
        // Assign instead of subscribe: no group join round trips. The list must be gone before
        // the consumer is dropped, or the consumer's drop hangs (librdkafka keeps partition
        // references alive through it).
        let mut assignment = TopicPartitionList::new();
        for p in &partitions {
            assignment
                .add_partition_offset(topic, *p, Offset::Beginning)
                .map_err(|e| format!("assignment: {e}"))?;
        }
        consumer
            .assign(&assignment)
            .map_err(|e| format!("assign: {e}"))?;
    }
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "only {} of {n} messages from {topic} within {timeout:?}: {out:?}",
                out.len()
            ));
        }
        match consumer.poll(left.min(Duration::from_millis(200))) {
            Some(Ok(m)) => {
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                let headers = m
                    .headers()
                    .map(|hs| {
                        hs.iter()
                            .map(|h| (h.key.to_owned(), h.value.map(text)))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(ConsumedMessage {
                    key: m.key().map(text),
                    payload: m.payload().map(text),
                    headers,
                    partition: m.partition(),
                    offset: m.offset(),
                });
            }
            Some(Err(e)) => tracing::debug!(error = %e, "testkit consumer error (retrying)"),
            None => {}
        }
    }
    Ok(out)
}

/// The partition ids of `topic`, retrying until the broker knows the topic or `deadline`.
fn topic_partitions(
    consumer: &BaseConsumer,
    topic: &str,
    deadline: Instant,
) -> Result<Vec<i32>, String> {
    let mut last_error;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match consumer.fetch_metadata(Some(topic), left.min(Duration::from_secs(2))) {
            Ok(md) => match md.topics().iter().find(|t| t.name() == topic) {
                Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
                    return Ok(t.partitions().iter().map(|p| p.id()).collect());
                }
                Some(t) => last_error = format!("topic metadata error {:?}", t.error()),
                None => last_error = "topic not in metadata".to_owned(),
            },
            Err(e) => last_error = format!("metadata: {e}"),
        }
        if Instant::now() >= deadline {
            return Err(format!("partitions of {topic}: {last_error}"));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Produces one raw message (any bytes, for malformed-input tests) and waits for the ack.
pub fn produce_raw(
    bootstrap: &str,
    topic: &str,
    key: Option<&str>,
    payload: &[u8],
) -> Result<(), String> {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    crate::kafka::ensure_topic(bootstrap, topic, 1, Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(|e| format!("producer: {e}"))?;
    let mut record = BaseRecord::<str, [u8]>::to(topic).payload(payload);
    if let Some(k) = key {
        record = record.key(k);
    }
    producer
        .send(record)
        .map_err(|(e, _)| format!("send: {e}"))?;
    producer
        .flush(Duration::from_secs(20))
        .map_err(|e| format!("flush: {e}"))
}

/// One request an [`HttpReceiver`] got.
#[derive(Clone, Debug)]
pub struct ReceivedRequest {
    pub method: String,
    pub path: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The status it was answered with.
    pub status: u16,
    pub at: Instant,
}

impl ReceivedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A real HTTP/1.1 server on loopback that records every request and answers each with the
/// status `script(n)` gives for the n-th request (0-based). One thread per connection; bodies
/// by Content-Length (what ureq and browsers send for JSON). Stops when dropped.
pub struct HttpReceiver {
    addr: SocketAddr,
    requests: std::sync::Arc<std::sync::Mutex<Vec<ReceivedRequest>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HttpReceiver {
    pub fn start(script: impl Fn(usize) -> u16 + Send + Sync + 'static) -> io::Result<Self> {
        use std::sync::{Arc, Mutex, atomic::AtomicBool};
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let requests: Arc<Mutex<Vec<ReceivedRequest>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let script = Arc::new(script);
        let (r, s) = (requests.clone(), stop.clone());
        thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (r, script) = (r.clone(), script.clone());
                        thread::spawn(move || serve_connection(stream, &r, &*script));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(10));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Ok(Self {
            addr,
            requests,
            stop,
        })
    }

    /// `http://127.0.0.1:PORT<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until at least `n` requests arrived (true) or `timeout` passed (false).
    pub fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.requests().len() < n {
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
        true
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve_connection(
    stream: TcpStream,
    requests: &std::sync::Mutex<Vec<ReceivedRequest>>,
    script: &(dyn Fn(usize) -> u16 + Send + Sync),
) {
    use std::io::{BufRead, BufReader, Write};
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = write_half;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or_default().to_owned(),
            parts.next().unwrap_or_default().to_owned(),
        );
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let status = {
            let mut all = requests.lock().unwrap_or_else(|p| p.into_inner());
            let status = script(all.len());
            all.push(ReceivedRequest {
                method,
                path,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
                status,
                at: Instant::now(),
            });
            status
        };
        let reply = format!(
            "HTTP/1.1 {status} {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            if status < 300 { "OK" } else { "Error" }
        );
        let _ = writer.write_all(reply.as_bytes());
        let _ = writer.flush();
        return;
    }
}
