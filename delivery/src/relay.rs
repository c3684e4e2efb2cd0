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
//! An event librdkafka gives back undelivered is sent again: at once when the producer was lost
//! (a fatal error, after which the producer is rebuilt, once, and what it had in flight goes
//! again first, in send order), after a backoff of its own (1 s doubling to 30 s) when the broker
//! refused that event, while the others keep flowing. Those decisions, the connection backoff
//! and the `connected` gauge are [`crate::relay_policy::RelayPolicy`], a pure state machine
//! tested with a simulated clock; this module is the I/O around it.
//!
//! Ephemeral events (camera heartbeats) take another way: [`OutboxRelay::send_ephemeral`] hands
//! them straight to a best-effort producer on the status topic ([`KafkaSink::connect_best_effort`],
//! made when the relay connects), never to the outbox or the ack log. Fire and forget: while the
//! relay is not connected they are dropped, and one the broker has not taken within
//! [`EPHEMERAL_TIMEOUT`] is dropped by librdkafka (both logged at debug and counted).

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sharpeyes_core::{Clock, Event, EventSink, UnixMillis};

use crate::ack_log::{AckLog, AckObserver};
use crate::error::DeliveryError;
use crate::kafka::{KafkaOptions, KafkaSink};
use crate::relay_policy::RelayPolicy;
use crate::wake::Wake;

/// How long librdkafka keeps an ephemeral event (a heartbeat) the broker has not taken; one
/// heartbeat interval, after which the next one says more.
pub const EPHEMERAL_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// Where the alerts' pictures are and the topic they go to; None: pictures stay local.
    pub snapshots: Option<SnapshotSource>,
}

/// The alerts' pictures travel as data: before an alert that has one, the relay reads the JPEG
/// the pipeline wrote under `dir` and sends it to `topic` keyed by the alert id, so a command
/// center on any machine shows it without ever reading a path from a message.
#[derive(Clone, Debug)]
pub struct SnapshotSource {
    /// The pipeline's snapshot directory (`output.snapshots`); a path outside it is never read.
    pub dir: PathBuf,
    pub topic: String,
}

/// The largest picture sent: under librdkafka's default `message.max.bytes` (1,000,000), which
/// a larger message would fail forever. A 1080p snapshot is about 300 KB.
pub const MAX_SNAPSHOT_MESSAGE: u64 = 900_000;

impl SnapshotSource {
    /// [`read_snapshot`] from `dir`.
    pub fn read(&self, alert: &sharpeyes_core::Alert) -> Option<Vec<u8>> {
        read_snapshot(&self.dir, alert)
    }
}

/// Whether the path an alert names lies under `dir`, lexically (no `..`): the pipeline's
/// files an event may point at (snapshots, clips), never any other.
pub(crate) fn lies_under(dir: &Path, named: &Path) -> bool {
    named.starts_with(dir)
        && !named
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
}

/// The picture of `alert`, if it has one that is a file under `dir` (the pipeline's snapshot
/// directory) of at most [`MAX_SNAPSHOT_MESSAGE`] bytes. Anything else (gone to retention,
/// outside `dir`, too large) is logged and skipped: the alert goes out without its picture.
pub fn read_snapshot(dir: &Path, alert: &sharpeyes_core::Alert) -> Option<Vec<u8>> {
    let named = Path::new(alert.snapshot.as_deref()?);
    if !lies_under(dir, named) {
        tracing::warn!(alert = %alert.id, path = %named.display(), dir = %dir.display(), "snapshot path is outside the snapshot directory; not sent");
        return None;
    }
    match std::fs::metadata(named) {
            Ok(m) if m.len() > MAX_SNAPSHOT_MESSAGE => {
                tracing::warn!(alert = %alert.id, bytes = m.len(), max = MAX_SNAPSHOT_MESSAGE, "snapshot too large for a kafka message; not sent");
                None
            }
            Ok(_) => std::fs::read(named)
                .inspect_err(|e| tracing::debug!(alert = %alert.id, error = %e, "snapshot not readable; not sent"))
                .ok(),
            Err(e) => {
                tracing::debug!(alert = %alert.id, error = %e, "snapshot no longer there (retention); not sent");
                None
            }
        }
}

impl std::fmt::Debug for RelayOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayOptions")
            .field("alerts", &self.alerts)
            .field("status_topic", &self.status_topic)
            .field("max_pending", &self.max_pending)
            .field("connect_timeout", &self.connect_timeout)
            .field("on_ack", &self.on_ack.is_some())
            .field("snapshots", &self.snapshots)
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
            snapshots: None,
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
    wake: Wake,
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
    /// How far the relay has read the outbox. Held while it reads and counts what is pending,
    /// and by [`OutboxRelay::rotate_outbox`], so a rotation never races a read.
    tail_offset: Mutex<u64>,
    /// The ack log, once open (emptied with a rotation).
    acks: Mutex<Option<Arc<AckLog>>>,
}

/// The thread that moves alerts from the outbox to Kafka; see the module docs. Stops (and
/// joins) on drop; what is not acknowledged by then is sent at the next start.
#[derive(Debug)]
pub struct OutboxRelay {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Shared {
    /// Lets go of the ephemeral producer (and the events it still holds).
    fn drop_ephemeral(&self) {
        drop(
            self.ephemeral
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
    }
}

impl OutboxRelay {
    /// Starts relaying the outbox at `outbox` (which may not exist yet).
    pub fn start(outbox: impl Into<PathBuf>, options: RelayOptions) -> Self {
        let outbox = outbox.into();
        let shared = Arc::new(Shared::default());
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("outbox-relay".into())
            .spawn(move || relay_loop(&outbox, &options, &thread_shared, &MonotonicClock::new()))
            .expect("spawning the outbox relay thread");
        Self {
            shared,
            thread: Some(thread),
        }
    }

    /// Tells the relay the outbox has grown (it also looks every 200 ms by itself).
    pub fn notify(&self) {
        self.shared.wake.wake();
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

    /// Rotates `outbox` ([`JsonlOutbox::rotate`]) and empties the ack log when the relay has
    /// read every line of it and the broker has acknowledged every event read; true if it did.
    /// Called by the outbox's writer, which appends nothing meanwhile.
    pub fn rotate_outbox(&self, outbox: &mut crate::JsonlOutbox) -> Result<bool, DeliveryError> {
        let mut offset = self
            .shared
            .tail_offset
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if *offset != outbox.len() || self.pending() != 0 {
            return Ok(false);
        }
        outbox.rotate()?;
        *offset = 0;
        if let Some(acks) = &*self.shared.acks.lock().unwrap_or_else(|p| p.into_inner())
            && let Err(e) = acks.clear()
        {
            tracing::warn!(path = %acks.path().display(), error = %e, "cannot empty the ack log after rotating the outbox");
        }
        Ok(true)
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
        self.shared.wake.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads complete lines of the outbox past `offset`.
struct Tail {
    path: PathBuf,
    offset: u64,
    /// (device, inode) of the file `offset` counts in: another file at the path (rotated by
    /// us, or moved away by someone else and made anew by the writer) is read from its start.
    file_id: Option<(u64, u64)>,
}

/// Most events taken from the outbox into memory at a time: a large backlog at start-up (a
/// long broker outage) is read in slices, not all at once.
const READ_SLICE: usize = 10_000;

impl Tail {
    fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            offset: 0,
            file_id: None,
        }
    }

    /// Where lines that are not events are moved aside: `<outbox>.rejected`.
    fn rejected_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".rejected");
        PathBuf::from(name)
    }

    /// Up to `max` new events since the last call (complete lines only; a line being written
    /// is left for the next call). A line that is not an event is appended to the rejected
    /// file for a person to look at, and logged.
    fn read(&mut self, max: usize) -> Vec<Event> {
        use std::os::unix::fs::MetadataExt;
        let mut out = Vec::new();
        let Ok(mut file) = File::open(&self.path) else {
            return out;
        };
        let Ok(meta) = file.metadata() else {
            return out;
        };
        let id = (meta.dev(), meta.ino());
        if self.file_id != Some(id) {
            if self.file_id.is_some() {
                tracing::info!(path = %self.path.display(), "the outbox is a new file (rotated); reading it from its start");
            }
            self.file_id = Some(id);
            self.offset = 0;
        }
        if meta.len() < self.offset {
            // Truncated (a replay starting over): read it from the start.
            self.offset = 0;
        }
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return out;
        }
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        while out.len() < max {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return out,
                Ok(_) if line.last() != Some(&b'\n') => return out,
                Ok(n) => {
                    let at = self.offset;
                    self.offset += n as u64;
                    let text = &line[..line.len() - 1];
                    if text.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    match serde_json::from_slice::<Event>(text) {
                        Ok(a) => out.push(a),
                        Err(e) => self.reject(text, at, &e),
                    }
                }
            }
        }
        out
    }

    fn reject(&self, text: &[u8], offset: u64, error: &serde_json::Error) {
        let aside = self.rejected_path();
        let kept = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&aside)
            .and_then(|mut f| {
                f.write_all(text)?;
                f.write_all(b"\n")?;
                f.sync_data()
            });
        match kept {
            Ok(()) => tracing::error!(
                path = %self.path.display(),
                offset,
                error = %error,
                moved_to = %aside.display(),
                "outbox line is not an event of a known schema; moved aside, not relayed"
            ),
            Err(e) => tracing::error!(
                path = %self.path.display(),
                offset,
                error = %error,
                aside_error = %e,
                "outbox line is not an event of a known schema and could not be moved aside; not relayed"
            ),
        }
    }
}

/// The wall clock's reading when the relay started, moved on by the monotonic clock: a step of
/// the system clock (NTP) cannot stretch or skip the relay's backoffs.
#[derive(Debug)]
struct MonotonicClock {
    origin: Instant,
    origin_wall: UnixMillis,
}

impl MonotonicClock {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            origin_wall: sharpeyes_core::SystemClock.now(),
        }
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> UnixMillis {
        let elapsed = i64::try_from(self.origin.elapsed().as_millis()).unwrap_or(i64::MAX / 2);
        self.origin_wall.plus_ms(elapsed)
    }
}

/// Tells `policy` what the broker answered since the last call.
fn report_outcomes(acks: Option<&AckLog>, policy: &mut RelayPolicy<Event>, now: UnixMillis) {
    let Some(acks) = acks else {
        return;
    };
    let (acked, failed) = acks.take_outcomes();
    for id in acked {
        policy.delivered(&id);
    }
    for (id, why) in failed {
        // kafka.rs logged the failure itself; this says what happens next.
        if let Some(again_in) = policy.failed(&id, why, now) {
            tracing::debug!(event = %id, ?why, again_in_ms = again_in.as_millis() as u64, "sending again an event kafka did not take");
        }
    }
}

/// Events not yet acknowledged: waiting here, and in flight (as the policy counts them, or as
/// librdkafka does when the policy cannot know: no ack log).
fn pending(policy: &RelayPolicy<Event>, sinks: Option<&(KafkaSink, KafkaSink)>) -> usize {
    let in_kafka = sinks.map_or(0, |(a, s)| a.pending() + s.pending());
    policy.queued() + policy.in_flight().max(in_kafka)
}

/// The relay thread: the I/O around [`RelayPolicy`], which makes every decision (what to send,
/// send again and when, rebuilding the producer, the `connected` gauge).
fn relay_loop(outbox: &Path, options: &RelayOptions, shared: &Shared, clock: &dyn Clock) {
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
    *shared.acks.lock().unwrap_or_else(|p| p.into_inner()) = acks.clone();
    let mut tail = Tail::new(outbox);
    let mut policy = RelayPolicy::new(clock.now());
    if acks.is_none() {
        // No delivery reports reach us: a sent event is done with.
        policy = policy.untracked();
    }
    let mut sinks: Option<(KafkaSink, KafkaSink)> = None;
    let mut pictures: Option<KafkaSink> = None;
    let mut warned = false;
    let mut sent = 0u64;
    while !shared.wake.stopped() {
        // What the broker answered: done with the acknowledged, again with the failed (before
        // counting what is pending, so a failed event is never counted as done).
        report_outcomes(acks.as_deref(), &mut policy, clock.now());
        {
            // Read and count under the lock rotate_outbox takes (see Shared::tail_offset).
            let mut offset = shared.tail_offset.lock().unwrap_or_else(|p| p.into_inner());
            tail.offset = *offset;
            if policy.queued() < READ_SLICE {
                for e in tail.read(READ_SLICE) {
                    if !acked_before.contains(e.id()) {
                        policy.enqueue(e.id().to_owned(), e);
                    }
                }
            }
            *offset = tail.offset;
            shared
                .pending
                .store(pending(&policy, sinks.as_ref()) as u64, Ordering::Relaxed);
        }
        // A fatal producer error (idempotence broken): that producer delivers nothing more.
        if let Some(fatal) = sinks
            .as_ref()
            .and_then(|(a, s)| a.fatal_error().or_else(|| s.fatal_error()))
            && policy.fatal(clock.now())
        {
            tracing::error!(error = %fatal, in_flight = policy.in_flight(), "kafka producer hit a fatal error; rebuilding it and sending its unacknowledged events again");
        }
        if policy.rebuild_needed() {
            // Dropping the producer purges its queue; what it reported while going (purged,
            // or acknowledged just before) is told before the rest is sent again.
            sinks = None;
            pictures = None;
            shared.drop_ephemeral();
            report_outcomes(acks.as_deref(), &mut policy, clock.now());
            let wait = policy.producer_dropped(clock.now());
            shared
                .connected
                .store(policy.connected(), Ordering::Relaxed);
            if !wait.is_zero() {
                tracing::warn!(
                    rebuild_in_s = wait.as_secs(),
                    "kafka producer broke again before delivering anything; rebuilding it after a pause"
                );
            }
        }
        if sinks.is_none() && policy.connect_due(clock.now()) {
            match connect(options, acks.clone()) {
                Ok((s, ephemeral, snapshot_sink)) => {
                    *shared.ephemeral.lock().unwrap_or_else(|p| p.into_inner()) = Some(ephemeral);
                    pictures = snapshot_sink;
                    tracing::info!(brokers = %options.alerts.brokers, waiting = policy.queued(), "outbox relay connected to kafka");
                    sinks = Some(s);
                    policy.producer_built(clock.now());
                    shared
                        .connected
                        .store(policy.connected(), Ordering::Relaxed);
                }
                Err(e) => {
                    let wait = policy.connect_failed(clock.now());
                    tracing::warn!(error = %e, retry_in_s = wait.as_secs(), waiting = policy.queued(), "kafka unreachable; alerts wait in the outbox");
                }
            }
        }
        if let Some((alerts, status)) = &mut sinks {
            while let Some(a) = policy.next_to_send(clock.now()) {
                let sink = if a.is_status() {
                    &mut *status
                } else {
                    &mut *alerts
                };
                // The picture first (queued, not awaited), so it is usually there before the
                // alert that shows it; sent again with the alert after a restart.
                if let (Some(pics), Some(source), Event::Alert(alert)) =
                    (&mut pictures, &options.snapshots, a)
                    && let Some(jpeg) = source.read(alert)
                    && let Err(e) = pics.send_keyed(&alert.id, &jpeg)
                {
                    tracing::warn!(alert = %alert.id, error = %e, "kafka queue refused a snapshot; the alert goes without it");
                }
                match sink.send(a) {
                    Ok(()) => {
                        sent += 1;
                        policy.sent();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "kafka queue refused an alert; retrying");
                        break;
                    }
                }
            }
        }
        if let Some((alerts, _)) = &sinks {
            // Connected means a broker answers: librdkafka says when all are down; an idle
            // relay asks every 2 s whether one is back.
            policy.set_brokers_down(alerts.brokers_down());
            if policy.probe_due(clock.now()) {
                alerts.probe(Duration::from_millis(500));
                policy.set_brokers_down(alerts.brokers_down());
            }
            let up = policy.connected();
            if shared.connected.swap(up, Ordering::Relaxed) != up {
                if up {
                    tracing::info!(brokers = %options.alerts.brokers, "kafka brokers answer again");
                } else {
                    tracing::warn!(brokers = %options.alerts.brokers, "every kafka broker is down; alerts wait in the outbox and in memory");
                }
            }
        }
        let pending = pending(&policy, sinks.as_ref());
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
        shared.wake.sleep(Duration::from_millis(200));
    }
    if let Some(mut p) = pictures {
        let _ = p.flush(Duration::from_millis(500));
    }
    if let Some((mut a, mut s)) = sinks {
        let _ = a.flush(Duration::from_millis(500));
        let _ = s.flush(Duration::from_millis(500));
    }
    // Ephemeral events still in memory are let go.
    shared.drop_ephemeral();
    tracing::info!(
        sent,
        acked = acks.as_ref().map_or(0, |a| a.recorded()),
        "outbox relay stopped"
    );
}

/// ((alerts, status), best-effort status, snapshots) sinks.
#[allow(clippy::type_complexity)]
fn connect(
    options: &RelayOptions,
    acks: Option<Arc<AckLog>>,
) -> Result<((KafkaSink, KafkaSink), KafkaSink, Option<KafkaSink>), DeliveryError> {
    let alerts = options
        .alerts
        .clone()
        .admin_timeout(options.connect_timeout);
    let status = alerts.clone().topic(options.status_topic.clone());
    let pictures = options
        .snapshots
        .as_ref()
        .map(|s| alerts.clone().topic(s.topic.clone()));
    Ok((
        (
            KafkaSink::connect_with_acks(alerts, acks.clone())?,
            KafkaSink::connect_with_acks(status.clone(), acks)?,
        ),
        KafkaSink::connect_best_effort(status, EPHEMERAL_TIMEOUT)?,
        // Reliable like the alerts, without the ack log (acknowledged pictures are not
        // alerts): a picture waits in memory for the broker, not on a timeout.
        pictures.map(KafkaSink::connect).transpose()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    #[test]
    fn tail_reads_complete_lines_and_restarts_after_truncation() {
        let dir = TempDir::with_prefix("sharpeyes-tail").unwrap();
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
        let mut tail = Tail::new(&path);
        let ids = |t: &mut Tail, max| -> Vec<String> {
            t.read(max).into_iter().map(|a| a.id().to_owned()).collect()
        };
        assert!(tail.read(10).is_empty(), "no file yet");
        std::fs::write(&path, format!("{}\n{}", alert("one"), alert("two"))).unwrap();
        assert_eq!(
            ids(&mut tail, 10),
            vec!["one"],
            "the unterminated line waits"
        );
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"\nnot json\n").unwrap();
        assert_eq!(ids(&mut tail, 10), vec!["two"], "bad line not relayed");
        assert_eq!(
            std::fs::read_to_string(tail.rejected_path()).unwrap(),
            "not json\n",
            "the bad line is moved aside, not lost"
        );
        // A file made anew at the path (rotated, or moved away under the writer) is read from
        // its start even when it is already longer than the old offset.
        let longer = format!("{}\n{}\n{}\n", alert("three"), alert("four"), alert("five"));
        std::fs::rename(&path, dir.path().join("moved")).unwrap();
        std::fs::write(&path, &longer).unwrap();
        assert_eq!(
            ids(&mut tail, 2),
            vec!["three", "four"],
            "in slices of at most max"
        );
        assert_eq!(ids(&mut tail, 2), vec!["five"]);
        std::fs::write(&path, format!("{}\n", alert("six"))).unwrap();
        assert_eq!(
            ids(&mut tail, 10),
            vec!["six"],
            "a shorter file is read from the start"
        );
    }
}
