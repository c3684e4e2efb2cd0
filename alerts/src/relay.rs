//! Zero-loss delivery to Kafka: the outbox is the queue. Does file and network I/O.
//!
//! Every alert is appended and fsynced to the outbox ([`crate::JsonlOutbox`]) before anything
//! else sees it. The [`OutboxRelay`] thread reads the outbox's committed lines in order and
//! offers each alert to Kafka (alerts topic, or the status topic for camera status events); the
//! broker's acknowledgements are appended to an ack log beside the outbox (`<outbox>.acked`, one
//! alert id per line). At start the relay skips the ids in the ack log and sends everything else
//! again, so alerts written while the broker was down, or still in librdkafka's memory when the
//! process died (even `kill -9`), go out when the broker is back, in outbox order.
//!
//! Contract: **at least once**. An alert acknowledged by the broker just before a crash, whose
//! ack line had not reached the disk, is sent again at the next start; consumers deduplicate on
//! the alert `id`. Nothing accepted into the outbox is dropped: while the broker is unreachable
//! the relay retries connecting (backoff 1 s doubling to 30 s), and alerts wait in the outbox
//! file; past `max_pending` waiting alerts it logs a warning (and the `pending` gauge shows it)
//! but still drops nothing: the outbox is on disk and alerts are a few hundred bytes.
//!
//! Ephemeral events (camera heartbeats) take another way: [`OutboxRelay::send_ephemeral`] hands
//! them straight to a best-effort producer on the status topic ([`KafkaSink::connect_best_effort`],
//! made when the relay connects), never to the outbox or the ack log. Fire and forget: while the
//! relay is not connected they are dropped, and one the broker has not taken within
//! [`EPHEMERAL_TIMEOUT`] is dropped by librdkafka (both logged at debug and counted).

use std::collections::{HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sharpeyes_core::{Event, EventSink};

use crate::error::AlertsError;
use crate::kafka::{KafkaOptions, KafkaSink};

/// How long librdkafka keeps an ephemeral event (a heartbeat) the broker has not taken; one
/// heartbeat interval, after which the next one says more.
pub const EPHEMERAL_TIMEOUT: Duration = Duration::from_secs(10);

/// The ids the broker acknowledged, one per line, appended as acknowledgements arrive (written
/// through to the OS at once, not fsynced: losing the last few only means sending them again).
pub struct AckLog {
    path: PathBuf,
    file: Mutex<File>,
    recorded: AtomicU64,
    observer: Option<AckObserver>,
}

/// Told the id of each event the broker acknowledged, on librdkafka's delivery thread, right
/// after the ack log line is written (benchmarks measure capture → acknowledged with it).
pub type AckObserver = Arc<dyn Fn(&str) + Send + Sync>;

impl std::fmt::Debug for AckLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckLog")
            .field("path", &self.path)
            .field("recorded", &self.recorded)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

impl AckLog {
    /// The ack log of the outbox at `outbox`: `<outbox>.acked`.
    pub fn path_for(outbox: &Path) -> PathBuf {
        let mut name = outbox.as_os_str().to_owned();
        name.push(".acked");
        PathBuf::from(name)
    }

    pub fn open(path: impl Into<PathBuf>) -> Result<Self, AlertsError> {
        let path = path.into();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| AlertsError::Outbox {
                path: path.clone(),
                source,
            })?;
        Ok(Self {
            path,
            file: Mutex::new(file),
            recorded: AtomicU64::new(0),
            observer: None,
        })
    }

    /// Also tells `observer` of every acknowledgement.
    pub fn with_observer(mut self, observer: Option<AckObserver>) -> Self {
        self.observer = observer;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `id`. A failed write is logged: the alert will only be sent again.
    pub fn record(&self, id: &str) {
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = file.write_all(format!("{id}\n").as_bytes()) {
            tracing::warn!(path = %self.path.display(), error = %e, "ack log write failed; the alert may be sent again");
        }
        self.recorded.fetch_add(1, Ordering::Relaxed);
        drop(file);
        if let Some(o) = &self.observer {
            o(id);
        }
    }

    /// Acknowledgements recorded by this process.
    pub fn recorded(&self) -> u64 {
        self.recorded.load(Ordering::Relaxed)
    }

    /// The ids in the ack log at `path` (none when it does not exist). A torn last line is
    /// ignored (that alert is sent again).
    pub fn read_ids(path: &Path) -> Result<HashSet<String>, AlertsError> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HashSet::new()),
            Err(source) => {
                return Err(AlertsError::Outbox {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let mut ids = HashSet::new();
        let mut reader = BufReader::new(file);
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader
                .read_line(&mut line)
                .map_err(|source| AlertsError::Outbox {
                    path: path.to_owned(),
                    source,
                })?;
            if n == 0 || !line.ends_with('\n') {
                return Ok(ids);
            }
            ids.insert(line.trim_end().to_owned());
        }
    }
}

/// Settings of [`OutboxRelay::start`].
#[derive(Clone)]
pub struct RelayOptions {
    /// Alerts topic settings (brokers, topic, client id, TLS/SASL extras).
    pub alerts: KafkaOptions,
    /// Topic of camera status events (same brokers and extras).
    pub status_topic: String,
    /// Warn past this many alerts waiting for the broker. Default 10 000.
    pub max_pending: usize,
    /// How long a connection attempt waits for the broker. Default 3 s.
    pub connect_timeout: Duration,
    /// Told of every acknowledgement (see [`AckObserver`]).
    pub on_ack: Option<AckObserver>,
}

impl std::fmt::Debug for RelayOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayOptions")
            .field("alerts", &self.alerts)
            .field("status_topic", &self.status_topic)
            .field("max_pending", &self.max_pending)
            .field("connect_timeout", &self.connect_timeout)
            .field("on_ack", &self.on_ack.is_some())
            .finish()
    }
}

impl RelayOptions {
    pub fn new(alerts: KafkaOptions, status_topic: impl Into<String>) -> Self {
        Self {
            alerts,
            status_topic: status_topic.into(),
            max_pending: 10_000,
            connect_timeout: Duration::from_secs(3),
            on_ack: None,
        }
    }
}

/// Counts of [`OutboxRelay::send_ephemeral`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EphemeralStats {
    /// Queued for the broker.
    pub sent: u64,
    /// Acknowledged by the broker.
    pub delivered: u64,
    /// Dropped before reaching librdkafka (not connected, queue full).
    pub dropped: u64,
}

/// Shared between the relay thread and its handle.
#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    wake: Mutex<bool>,
    cv: Condvar,
    /// Alerts read from the outbox and not yet acknowledged by the broker (queued here or in
    /// librdkafka).
    pending: AtomicU64,
    connected: AtomicBool,
    /// The best-effort producer of ephemeral events (status topic), once connected.
    ephemeral: Mutex<Option<KafkaSink>>,
    /// Ephemeral events queued in librdkafka / dropped before (relay not connected, queue
    /// full).
    ephemeral_sent: AtomicU64,
    ephemeral_dropped: AtomicU64,
}

impl Shared {
    fn wake(&self) {
        *self.wake.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
    }

    fn sleep(&self, d: Duration) {
        let guard = self.wake.lock().unwrap_or_else(|p| p.into_inner());
        let (mut woken, _) = self
            .cv
            .wait_timeout_while(guard, d, |w| !*w && !self.stop.load(Ordering::Relaxed))
            .unwrap_or_else(|p| p.into_inner());
        *woken = false;
    }
}

/// The thread that moves alerts from the outbox to Kafka; see the module docs. Stops (and
/// joins) on drop; what is not acknowledged by then is sent at the next start.
#[derive(Debug)]
pub struct OutboxRelay {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl OutboxRelay {
    /// Starts relaying the outbox at `outbox` (which may not exist yet).
    pub fn start(outbox: impl Into<PathBuf>, options: RelayOptions) -> Self {
        let outbox = outbox.into();
        let shared = Arc::new(Shared::default());
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("outbox-relay".into())
            .spawn(move || relay_loop(&outbox, &options, &thread_shared))
            .expect("spawning the outbox relay thread");
        Self {
            shared,
            thread: Some(thread),
        }
    }

    /// Tells the relay the outbox has grown (it also looks every 200 ms by itself).
    pub fn notify(&self) {
        self.shared.wake();
    }

    /// Alerts read from the outbox that the broker has not acknowledged yet.
    pub fn pending(&self) -> u64 {
        self.shared.pending.load(Ordering::Relaxed)
    }

    pub fn connected(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed)
    }

    /// Sends `event` to its topic now, bypassing the outbox (module docs: ephemeral events).
    /// Never blocks on the network; true when it was queued for the broker, false when it was
    /// dropped (not connected yet, queue full), which is logged at debug.
    pub fn send_ephemeral(&self, event: &Event) -> bool {
        let mut sink = self
            .shared
            .ephemeral
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let result = match sink.as_mut() {
            Some(s) => s.send(event).map_err(|e| e.to_string()),
            None => Err("kafka not connected".into()),
        };
        drop(sink);
        match result {
            Ok(()) => {
                self.shared.ephemeral_sent.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(reason) => {
                self.shared
                    .ephemeral_dropped
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(event = %event.id(), kind = event.kind_str(), camera = %event.camera().id, reason, "ephemeral event dropped");
                false
            }
        }
    }

    /// What [`OutboxRelay::send_ephemeral`] did so far.
    pub fn ephemeral_stats(&self) -> EphemeralStats {
        let delivered = self
            .shared
            .ephemeral
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(0, KafkaSink::delivered);
        EphemeralStats {
            sent: self.shared.ephemeral_sent.load(Ordering::Relaxed),
            delivered,
            dropped: self.shared.ephemeral_dropped.load(Ordering::Relaxed),
        }
    }

    /// Waits up to `timeout` until nothing is pending; true if so.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.notify();
        // Let the relay read what was just written before judging "nothing pending".
        std::thread::sleep(Duration::from_millis(50));
        while Instant::now() < deadline {
            if self.pending() == 0 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.pending() == 0
    }
}

impl Drop for OutboxRelay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads complete lines of the outbox past `offset`.
struct Tail {
    path: PathBuf,
    offset: u64,
}

impl Tail {
    /// New alerts since the last call (complete lines only; a line being written is left for
    /// the next call). A line that is not an alert is logged and skipped.
    fn read(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        let Ok(mut file) = File::open(&self.path) else {
            return out;
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            // Replaced or truncated (a replay starting over): read it from the start.
            self.offset = 0;
        }
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return out;
        }
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return out,
                Ok(_) if line.last() != Some(&b'\n') => return out,
                Ok(n) => {
                    self.offset += n as u64;
                    let text = &line[..line.len() - 1];
                    if text.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    match serde_json::from_slice::<Event>(text) {
                        Ok(a) => out.push(a),
                        Err(e) => tracing::error!(
                            path = %self.path.display(),
                            offset = self.offset,
                            error = %e,
                            "outbox line is not an event of a known schema; not relayed"
                        ),
                    }
                }
            }
        }
    }
}

fn relay_loop(outbox: &Path, options: &RelayOptions, shared: &Shared) {
    let ack_path = AckLog::path_for(outbox);
    let acked_before = AckLog::read_ids(&ack_path).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read the ack log; every outbox alert will be sent again");
        HashSet::new()
    });
    let acks = match AckLog::open(&ack_path) {
        Ok(a) => Some(Arc::new(a.with_observer(options.on_ack.clone()))),
        Err(e) => {
            tracing::warn!(error = %e, "cannot open the ack log; alerts may be sent again after a restart");
            None
        }
    };
    let mut tail = Tail {
        path: outbox.to_owned(),
        offset: 0,
    };
    let mut queue: VecDeque<Event> = VecDeque::new();
    let mut sinks: Option<(KafkaSink, KafkaSink)> = None;
    let mut backoff = Duration::from_secs(1);
    let mut next_connect = Instant::now();
    let mut warned = false;
    let mut sent = 0u64;
    while !shared.stop.load(Ordering::Relaxed) {
        queue.extend(
            tail.read()
                .into_iter()
                .filter(|a| !acked_before.contains(a.id())),
        );
        if sinks.is_none() && Instant::now() >= next_connect {
            match connect(options, acks.clone()) {
                Ok((s, ephemeral)) => {
                    *shared.ephemeral.lock().unwrap_or_else(|p| p.into_inner()) = Some(ephemeral);
                    tracing::info!(brokers = %options.alerts.brokers, waiting = queue.len(), "outbox relay connected to kafka");
                    sinks = Some(s);
                    shared.connected.store(true, Ordering::Relaxed);
                    backoff = Duration::from_secs(1);
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_s = backoff.as_secs(), waiting = queue.len(), "kafka unreachable; alerts wait in the outbox");
                    next_connect = Instant::now() + backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
        if let Some((alerts, status)) = &mut sinks {
            while let Some(a) = queue.front() {
                let sink = if a.is_status() {
                    &mut *status
                } else {
                    &mut *alerts
                };
                match sink.send(a) {
                    Ok(()) => {
                        sent += 1;
                        queue.pop_front();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "kafka queue refused an alert; retrying");
                        break;
                    }
                }
            }
        }
        let in_kafka = sinks.as_ref().map_or(0, |(a, s)| a.pending() + s.pending());
        let pending = queue.len() + in_kafka;
        shared.pending.store(pending as u64, Ordering::Relaxed);
        if pending > options.max_pending && !warned {
            tracing::warn!(
                pending,
                max = options.max_pending,
                "alerts waiting for kafka exceed outbox.max_pending (none is dropped; the outbox keeps them)"
            );
            warned = true;
        } else if pending <= options.max_pending {
            warned = false;
        }
        shared.sleep(Duration::from_millis(200));
    }
    if let Some((mut a, mut s)) = sinks {
        let _ = a.flush(Duration::from_millis(500));
        let _ = s.flush(Duration::from_millis(500));
    }
    // Ephemeral events still in memory are let go.
    drop(
        shared
            .ephemeral
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(),
    );
    tracing::info!(
        sent,
        acked = acks.as_ref().map_or(0, |a| a.recorded()),
        "outbox relay stopped"
    );
}

/// ((alerts, status), best-effort status) sinks.
fn connect(
    options: &RelayOptions,
    acks: Option<Arc<AckLog>>,
) -> Result<((KafkaSink, KafkaSink), KafkaSink), AlertsError> {
    let alerts = options
        .alerts
        .clone()
        .admin_timeout(options.connect_timeout);
    let status = alerts.clone().topic(options.status_topic.clone());
    Ok((
        (
            KafkaSink::connect_with_acks(alerts, acks.clone())?,
            KafkaSink::connect_with_acks(status.clone(), acks)?,
        ),
        KafkaSink::connect_best_effort(status, EPHEMERAL_TIMEOUT)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::TempDir;

    #[test]
    fn ack_log_reads_back_complete_lines_only() {
        let dir = TempDir::new("acklog").unwrap();
        let path = AckLog::path_for(&dir.path().join("alerts.jsonl"));
        assert!(path.ends_with("alerts.jsonl.acked"));
        assert!(AckLog::read_ids(&path).unwrap().is_empty());
        let log = AckLog::open(&path).unwrap();
        log.record("a-1");
        log.record("b-2");
        drop(log);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"c-3").unwrap(); // torn: no newline
        let ids = AckLog::read_ids(&path).unwrap();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains("a-1") && ids.contains("b-2") && !ids.contains("c-3"));
    }

    #[test]
    fn tail_reads_complete_lines_and_restarts_after_truncation() {
        let dir = TempDir::new("tail").unwrap();
        let path = dir.path().join("alerts.jsonl");
        let alert = |id: &str| {
            let mut a = sharpeyes_core::StatusEvent::new(
                sharpeyes_core::CameraRef::bare(sharpeyes_core::CameraId::new("cam").unwrap()),
                sharpeyes_core::UnixMillis(1),
                sharpeyes_core::CameraState::Online,
                None,
            );
            a.id = id.into();
            serde_json::to_string(&Event::from(a)).unwrap()
        };
        let mut tail = Tail {
            path: path.clone(),
            offset: 0,
        };
        assert!(tail.read().is_empty(), "no file yet");
        std::fs::write(&path, format!("{}\n{}", alert("one"), alert("two"))).unwrap();
        let got: Vec<String> = tail.read().into_iter().map(|a| a.id().to_owned()).collect();
        assert_eq!(got, vec!["one"], "the unterminated line waits");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"\nnot json\n").unwrap();
        let got: Vec<String> = tail.read().into_iter().map(|a| a.id().to_owned()).collect();
        assert_eq!(got, vec!["two"], "bad line skipped");
        std::fs::write(&path, format!("{}\n", alert("three"))).unwrap();
        let got: Vec<String> = tail.read().into_iter().map(|a| a.id().to_owned()).collect();
        assert_eq!(got, vec!["three"], "a shorter file is read from the start");
    }
}
