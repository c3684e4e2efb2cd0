//! The delivery stage: where alerts and camera status events go once raised (I/O: a thread,
//! files, Kafka through the relay, the command center's store).
//!
//! [`Delivery::deliver`] only counts the event and hands it to the delivery thread over a
//! bounded channel, so detection never waits on a disk sync or on the web store's lock. The
//! thread takes whatever has queued up and commits it as a group: every line written to the
//! outbox, then one `fdatasync` for the group (group commit), and only then stdout, the Kafka
//! relay (which reads the outbox) and the command center. The outbox stays the first place
//! an event reaches and nothing leaves the box before it is on disk; one sync serves every
//! event that arrived while the previous one ran, so a burst of alerts costs one sync, not one
//! each.
//!
//! When the outbox cannot be written (disk full, I/O error) the events of the group are held
//! in memory, in order, and the write is retried every [`RETRY_EVERY`] with whatever arrived
//! since; each failed write is counted (`sharpeyes_alerts_outbox_write_failures_total`) and
//! logged at error with the ids held. Nothing is counted as raised, printed, relayed or shown
//! before it is on disk. Past [`MAX_HELD`] held events the thread stops taking new ones, so the
//! queue fills and detection waits (back-pressure) rather than anything being dropped.
//!
//! Camera heartbeats ([`Delivery::heartbeat`]) are best effort and skip all of that: not in the
//! outbox, not on stdout; the thread hands them to the command center (if attached) and to the
//! relay's best-effort producer ([`OutboxRelay::send_ephemeral`]). A full queue drops them.
//!
//! Event clips ([`Delivery::ship_clips`]) complete `post` seconds after their alert: once an
//! alert naming one is on disk the thread hands it to the [`ClipShipper`] (never waiting), whose
//! own thread sends the clip to Kafka and the command center when the file is complete (see
//! delivery/src/clips.rs).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use sharpeyes_core::{CameraId, Event, EventSink, StatusEvent, UnixMillis};
use sharpeyes_delivery::{
    ClipShipper, ClipSource, JsonlOutbox, KafkaOptions, OutboxRelay, RelayOptions, SnapshotSource,
    StdoutSink,
};

/// Events waiting for the delivery thread before `deliver` waits (the disk is that far behind).
const QUEUE: usize = 4096;
/// Most events committed in one group.
const MAX_GROUP: usize = 512;
/// How often a failed outbox write is tried again.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);
/// Most events held in memory while the outbox cannot be written (a few hundred bytes each).
pub const MAX_HELD: usize = 100_000;

/// Where the delivery thread commits events: the outbox file (a seam for the unit tests of the
/// hold-and-retry logic, which need a disk that fails on demand).
trait Commit: Send {
    /// Every event on disk, or none (see [`JsonlOutbox::append_all`]).
    fn append_all(&mut self, events: &[Event]) -> Result<(), sharpeyes_delivery::DeliveryError>;
    /// The outbox file, to rotate once relayed.
    fn file(&mut self) -> Option<&mut JsonlOutbox> {
        None
    }
}

impl Commit for JsonlOutbox {
    fn append_all(&mut self, events: &[Event]) -> Result<(), sharpeyes_delivery::DeliveryError> {
        JsonlOutbox::append_all(self, events)
    }
    fn file(&mut self) -> Option<&mut JsonlOutbox> {
        Some(self)
    }
}

/// Default size past which a relayed outbox is rotated (`output.outbox_rotate_mb`).
pub const DEFAULT_ROTATE_AT: u64 = 64 << 20;
/// How often an idle delivery thread looks whether the outbox can be rotated.
const ROTATE_CHECK: Duration = Duration::from_secs(2);

/// The outbox as the delivery thread and `/metrics` see it.
#[derive(Debug, Default)]
struct OutboxState {
    /// Events raised (on disk) by kind.
    counts: BTreeMap<&'static str, u64>,
    /// Failed writes so far.
    write_failures: u64,
    /// Events held in memory now, waiting for the disk.
    held: usize,
}

/// What the delivery thread is asked to do.
enum Job {
    Event(Box<Event>),
    /// A camera heartbeat: the command center and Kafka, best effort (module docs).
    Heartbeat(Box<Event>),
    /// The command center's live view of the cameras: (camera, fps in, last frame).
    CamerasLive(Vec<(CameraId, f64, Option<UnixMillis>)>),
    /// The command center in this process, from now on, and the pipeline's snapshot
    /// directory its pictures are read from.
    Web(sharpeyes_web::Feed, Option<PathBuf>),
    /// Answered once everything sent before is delivered.
    Sync(std::sync::mpsc::Sender<()>),
    /// From now on alerts naming a clip go to this shipper.
    Clips(Arc<ClipShipper>),
}

/// Where alerts go: the durable outbox first (an alert is accepted once it is there), then
/// stdout; Kafka is fed from the outbox by the [`OutboxRelay`] (zero loss, at least once: see
/// delivery/src/relay.rs); then the command center. Camera status events take the same path, to
/// their own topic. See the module docs for the thread and the group commit.
pub struct Delivery {
    tx: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
    relay: Option<Arc<OutboxRelay>>,
    /// Whether a command center is attached (`--web`).
    web: bool,
    /// Events on disk by kind, failures and events held (module docs), shared with the thread.
    state: Arc<Mutex<OutboxState>>,
    /// Outbox rotation size, shared with the thread.
    rotate_at: Arc<std::sync::atomic::AtomicU64>,
    /// Heartbeats handed to [`Delivery::heartbeat`].
    heartbeats: u64,
    /// Groups committed and events in them (group commit at work), shared with the thread.
    stats: Arc<Mutex<GroupStats>>,
    /// The event clips' shipper ([`Delivery::ship_clips`]).
    clips: Option<Arc<ClipShipper>>,
    /// The command center in this process, for the clips' shipper.
    web_feed: Option<sharpeyes_web::Feed>,
}

/// Heartbeats: handed to [`Delivery::heartbeat`], queued for Kafka, dropped by the relay (not
/// connected).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeartbeatStats {
    pub emitted: u64,
    pub kafka_sent: u64,
    pub kafka_dropped: u64,
}

/// What group commit did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// Outbox syncs (one per group).
    pub groups: u64,
    pub events: u64,
}

impl Delivery {
    /// `kafka`: (alert topic options with brokers and client properties, status topic). An
    /// unreachable broker is not an error: alerts wait in the outbox until it answers (a
    /// warning past `max_pending`).
    pub fn new(
        outbox: &Path,
        stdout: bool,
        kafka: Option<(KafkaOptions, String)>,
        max_pending: usize,
    ) -> anyhow::Result<Self> {
        Self::observed(outbox, stdout, kafka, max_pending, None, None)
    }

    /// Like [`Delivery::new`], `on_ack` told of each event the broker acknowledged, and with
    /// `snapshots` the alerts' pictures sent to Kafka as data (see [`SnapshotSource`]).
    pub fn observed(
        outbox: &Path,
        stdout: bool,
        kafka: Option<(KafkaOptions, String)>,
        max_pending: usize,
        on_ack: Option<sharpeyes_delivery::AckObserver>,
        snapshots: Option<SnapshotSource>,
    ) -> anyhow::Result<Self> {
        let outbox_file = JsonlOutbox::open(outbox)
            .with_context(|| format!("opening the outbox {}", outbox.display()))?;
        let relay = kafka.map(|(options, status_topic)| {
            let mut relay = RelayOptions::new(options, &status_topic);
            relay.max_pending = max_pending;
            relay.on_ack = on_ack;
            relay.snapshots = snapshots;
            Arc::new(OutboxRelay::start(outbox, relay))
        });
        Self::start(Box::new(outbox_file), stdout, relay)
    }

    fn start(
        outbox: Box<dyn Commit>,
        stdout: bool,
        relay: Option<Arc<OutboxRelay>>,
    ) -> anyhow::Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let stats = Arc::new(Mutex::new(GroupStats::default()));
        let state = Arc::new(Mutex::new(OutboxState::default()));
        let rotate_at = Arc::new(std::sync::atomic::AtomicU64::new(DEFAULT_ROTATE_AT));
        let worker = Worker {
            outbox,
            held: Vec::new(),
            failing_since: None,
            rotate_at: rotate_at.clone(),
            last_rotate_check: std::time::Instant::now(),
            state: state.clone(),
            stdout: stdout.then(StdoutSink::new),
            relay: relay.clone(),
            web: None,
            stats: stats.clone(),
            clips: None,
        };
        let thread = std::thread::Builder::new()
            .name("delivery".into())
            .spawn(move || worker.run(rx))
            .context("starting the delivery thread")?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
            relay,
            web: false,
            state,
            rotate_at,
            heartbeats: 0,
            stats,
            clips: None,
            web_feed: None,
        })
    }

    /// Sends the alerts' event clips from `source` to `kafka` (brokers and client properties;
    /// the topic is `source.topic`) and to the command center attached ([`Delivery::attach_web`],
    /// before or after) once each is complete, on a thread of its own; takes up the clips of
    /// the outbox not sent before a restart. See delivery/src/clips.rs.
    pub fn ship_clips(&mut self, source: ClipSource, kafka: Option<KafkaOptions>, outbox: &Path) {
        let shipper = Arc::new(ClipShipper::start(source, kafka, outbox));
        if let Some(feed) = &self.web_feed {
            shipper.set_local(clip_observer(feed.clone()));
        }
        self.clips = Some(shipper.clone());
        self.send(Job::Clips(shipper));
    }

    /// The clip writer says a clip is complete: the shipper looks now.
    pub fn clip_ready(&self) {
        if let Some(c) = &self.clips {
            c.ready();
        }
    }

    /// [`Delivery::clip_ready`] for another thread (the clip writer's); None without
    /// [`Delivery::ship_clips`].
    pub fn clip_waker(&self) -> Option<impl Fn() + Send + Sync + 'static> {
        let c = self.clips.clone()?;
        Some(move || c.ready())
    }

    /// Event clips: (awaited or unacknowledged, stats); None without [`Delivery::ship_clips`].
    pub fn clip_state(&self) -> Option<(u64, sharpeyes_delivery::ClipStats)> {
        self.clips.as_ref().map(|c| (c.waiting(), c.stats()))
    }

    fn send(&self, job: Job) {
        if let Some(tx) = &self.tx
            && tx.send(job).is_err()
        {
            tracing::error!("the delivery thread is gone; event NOT delivered");
        }
    }

    /// Hands `event` to the delivery thread (waits only when [`QUEUE`] events are already
    /// waiting for the disk). It counts as raised once it is on disk.
    pub fn deliver(&mut self, event: Event) {
        self.send(Job::Event(Box::new(event)));
    }

    /// Rotate the outbox (to `<outbox>.1`) once it is past `bytes` and Kafka has
    /// acknowledged all of it ([`DEFAULT_ROTATE_AT`] unless set).
    pub fn set_rotate_at(&self, bytes: u64) {
        self.rotate_at
            .store(bytes.max(1), std::sync::atomic::Ordering::Relaxed);
    }

    /// Events on disk so far, by kind (`fall`, `camera_online`, ...); heartbeats are not
    /// among them.
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        self.lock_state().counts.clone()
    }

    /// (failed outbox writes so far, events held in memory now waiting for the disk).
    pub fn outbox_health(&self) -> (u64, usize) {
        let s = self.lock_state();
        (s.write_failures, s.held)
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, OutboxState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands a camera heartbeat to the delivery thread, for the command center (if attached)
    /// and Kafka (if configured), never the outbox or stdout; dropped (debug) when the queue is
    /// full or there is nowhere to send it. Never waits.
    pub fn heartbeat(&mut self, event: StatusEvent) {
        self.heartbeats += 1;
        if !self.web && self.relay.is_none() {
            return;
        }
        let Some(tx) = &self.tx else { return };
        match tx.try_send(Job::Heartbeat(Box::new(event.into()))) {
            Ok(()) => {}
            Err(TrySendError::Full(Job::Heartbeat(e))) => {
                tracing::debug!(camera = %e.camera().id, "delivery queue full; heartbeat dropped")
            }
            Err(_) => tracing::debug!("the delivery thread is gone; heartbeat dropped"),
        }
    }

    /// What became of the heartbeats so far.
    pub fn heartbeat_stats(&self) -> HeartbeatStats {
        let kafka = self
            .relay
            .as_ref()
            .map(|r| r.ephemeral_stats())
            .unwrap_or_default();
        HeartbeatStats {
            emitted: self.heartbeats,
            kafka_sent: kafka.sent,
            kafka_dropped: kafka.dropped,
        }
    }

    /// From now on every event also goes to the command center in this process; alerts'
    /// pictures are copied to it from `snapshots` (the pipeline's snapshot directory), never
    /// read from elsewhere.
    pub fn attach_web(&mut self, feed: sharpeyes_web::Feed, snapshots: Option<PathBuf>) {
        self.web = true;
        if let Some(c) = &self.clips {
            c.set_local(clip_observer(feed.clone()));
        }
        self.web_feed = Some(feed.clone());
        self.send(Job::Web(feed, snapshots));
    }

    /// Whether a command center is attached.
    pub fn has_web(&self) -> bool {
        self.web
    }

    /// Tells the command center (if any) the cameras' fps and last frames.
    pub fn cameras_live(&self, cameras: Vec<(CameraId, f64, Option<UnixMillis>)>) {
        if self.web {
            self.send(Job::CamerasLive(cameras));
        }
    }

    /// Waits until everything delivered so far is in the outbox and the other sinks.
    pub fn sync(&self) {
        let (tx, rx) = std::sync::mpsc::channel();
        self.send(Job::Sync(tx));
        let _ = rx.recv();
    }

    /// Waits for the delivery thread, then up to `timeout` for Kafka to acknowledge what the
    /// outbox holds; what is left is sent at the next start.
    pub fn flush(&mut self, timeout: Duration) {
        self.sync();
        if let Some(r) = &self.relay
            && !r.flush(timeout)
        {
            tracing::warn!(
                pending = r.pending(),
                "Kafka has not acknowledged every alert; they stay in the outbox and go out at the next start"
            );
        }
    }

    /// (alerts not yet acknowledged by Kafka, relay connected); None without Kafka.
    pub fn kafka_state(&self) -> Option<(u64, bool)> {
        self.relay.as_ref().map(|r| (r.pending(), r.connected()))
    }

    /// Outbox groups committed so far.
    pub fn group_stats(&self) -> GroupStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `person_detected=3 ...` or `none`.
    pub fn counts_line(&self) -> String {
        let counts = self.counts();
        if counts.is_empty() {
            return "none".into();
        }
        counts
            .iter()
            .map(|(k, n)| format!("{k}={n}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Drop for Delivery {
    /// Delivers what is queued, then stops the thread.
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The delivery thread's state.
struct Worker {
    outbox: Box<dyn Commit>,
    /// Events the outbox could not take yet, oldest first (module docs).
    held: Vec<Event>,
    /// Rotate a relayed outbox past this many bytes.
    rotate_at: Arc<std::sync::atomic::AtomicU64>,
    last_rotate_check: std::time::Instant,
    /// When the current run of failed writes began (for the log line when it ends).
    failing_since: Option<std::time::Instant>,
    state: Arc<Mutex<OutboxState>>,
    stdout: Option<StdoutSink>,
    relay: Option<Arc<OutboxRelay>>,
    web: Option<WebSide>,
    stats: Arc<Mutex<GroupStats>>,
    clips: Option<Arc<ClipShipper>>,
}

/// Clips found by the shipper go to the command center in this process (its own thread: the
/// store's lock never holds up delivery).
fn clip_observer(feed: sharpeyes_web::Feed) -> sharpeyes_delivery::ClipObserver {
    Arc::new(move |alert: &str, mp4: &[u8]| feed.clip(alert, mp4))
}

/// The command center in this process, fed by a thread of its own: its store's lock (a page's
/// query, a slow disk) never holds up the delivery thread, and so never the pipeline. Past
/// [`WEB_QUEUE`] waiting jobs new ones are dropped for the command center only (logged); the
/// outbox and Kafka have every event.
struct WebSide {
    tx: SyncSender<WebJob>,
}

/// Jobs waiting for the command center before new ones are dropped for it.
const WEB_QUEUE: usize = 8192;

enum WebJob {
    Event(Box<Event>),
    Live(Vec<(CameraId, f64, Option<UnixMillis>)>),
    /// Answered once everything handed over before is stored.
    Sync(std::sync::mpsc::Sender<()>),
}

impl WebSide {
    fn start(feed: sharpeyes_web::Feed, snapshots: Option<PathBuf>) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<WebJob>(WEB_QUEUE);
        let spawned = std::thread::Builder::new()
            .name("delivery-web".into())
            .spawn(move || {
                for job in rx {
                    match job {
                        WebJob::Event(event) => {
                            if let (Event::Alert(a), Some(dir)) = (&*event, &snapshots)
                                && let Some(jpeg) = sharpeyes_delivery::read_snapshot(dir, a)
                            {
                                feed.snapshot(&a.id, &jpeg);
                            }
                            feed.publish(&event);
                        }
                        WebJob::Sync(done) => {
                            let _ = done.send(());
                        }
                        WebJob::Live(cameras) => {
                            for (id, fps, last) in cameras {
                                if let Err(e) = feed.store.camera_live(id.as_str(), fps, last) {
                                    tracing::warn!(camera = %id, error = %e, "command center: camera live state not stored");
                                }
                            }
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the command center's delivery thread");
        }
        Self { tx }
    }

    /// Hands `job` over without waiting (module docs of [`WebSide`]).
    fn hand(&self, job: WebJob) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(job) {
            tracing::warn!(
                "the command center is behind; an event was not shown there (it is in the outbox and on Kafka)"
            );
        }
    }
}

impl Worker {
    fn run(mut self, rx: Receiver<Job>) {
        loop {
            let first = if self.held.is_empty() {
                match rx.recv_timeout(ROTATE_CHECK) {
                    Ok(j) => j,
                    Err(RecvTimeoutError::Timeout) => {
                        self.rotate_if_relayed();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else if self.held.len() >= MAX_HELD {
                // Back-pressure: take nothing new until the disk takes what is held.
                std::thread::sleep(RETRY_EVERY);
                self.commit(&[]);
                continue;
            } else {
                match rx.recv_timeout(RETRY_EVERY) {
                    Ok(j) => j,
                    Err(RecvTimeoutError::Timeout) => {
                        self.commit(&[]);
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            };
            let mut jobs = vec![first];
            while jobs.len() < MAX_GROUP
                && let Ok(j) = rx.try_recv()
            {
                jobs.push(j);
            }
            self.handle(jobs);
        }
        // Shutting down: a last few tries for what is still held, then say what is lost.
        for _ in 0..3 {
            if self.held.is_empty() {
                return;
            }
            std::thread::sleep(RETRY_EVERY);
            self.commit(&[]);
        }
        for ev in &self.held {
            tracing::error!(event = %ev.id(), kind = ev.kind_str(), "shutting down with the outbox still unwritable: event LOST");
        }
    }

    /// One group: events committed together, the other jobs in order around them.
    fn handle(&mut self, jobs: Vec<Job>) {
        // A busy box never idles for ROTATE_CHECK: look before the group too, as often.
        if self.last_rotate_check.elapsed() >= ROTATE_CHECK {
            self.rotate_if_relayed();
        }
        let mut events = Vec::new();
        let mut after = Vec::new();
        for job in jobs {
            match job {
                Job::Event(e) => events.push(*e),
                other => after.push(other),
            }
        }
        if !events.is_empty() {
            self.commit(&events);
        }
        for job in after {
            match job {
                Job::Web(feed, snapshots) => {
                    self.web = Some(WebSide::start(feed, snapshots));
                }
                Job::Clips(shipper) => {
                    self.clips = Some(shipper);
                }
                Job::Heartbeat(event) => {
                    if let Some(r) = &self.relay {
                        r.send_ephemeral(&event);
                    }
                    if let Some(w) = &self.web {
                        w.hand(WebJob::Event(event));
                    }
                }
                Job::CamerasLive(cameras) => {
                    if let Some(w) = &self.web {
                        w.hand(WebJob::Live(cameras));
                    }
                }
                Job::Sync(done) => {
                    // Sync also waits for the command center (tests, shutdown); the pipeline's
                    // own calls never do.
                    if let Some(w) = &self.web {
                        let (tx, rx) = std::sync::mpsc::channel();
                        if w.tx.send(WebJob::Sync(tx)).is_ok() {
                            let _ = rx.recv();
                        }
                    }
                    let _ = done.send(());
                }
                Job::Event(_) => unreachable!("events were taken out above"),
            }
        }
    }

    /// Rotates the outbox (and empties the ack log) once it has grown past the rotation size
    /// and the relay has had every event of it acknowledged; without Kafka the outbox is the
    /// only record and is kept whole.
    fn rotate_if_relayed(&mut self) {
        self.last_rotate_check = std::time::Instant::now();
        let at = self.rotate_at.load(std::sync::atomic::Ordering::Relaxed);
        // A clip still awaited needs its alert in the outbox after a restart.
        if self.clips.as_ref().is_some_and(|c| c.waiting() > 0) {
            return;
        }
        if let (Some(relay), Some(file)) = (&self.relay, self.outbox.file())
            && file.len() >= at
        {
            match relay.rotate_outbox(file) {
                Ok(true) => {
                    if let Some(c) = &self.clips {
                        c.forget_done();
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "outbox rotation failed; it goes on growing"),
            }
        }
    }

    /// Writes what is held, then `new`, in one group; on failure holds them all (module docs).
    fn commit(&mut self, new: &[Event]) {
        if self.held.is_empty() && new.is_empty() {
            return;
        }
        let mut batch = std::mem::take(&mut self.held);
        batch.extend_from_slice(new);
        if let Err(e) = self.outbox.append_all(&batch) {
            let first = self.failing_since.is_none();
            self.failing_since
                .get_or_insert_with(std::time::Instant::now);
            for ev in new {
                tracing::error!(event = %ev.id(), kind = ev.kind_str(), error = %e, "OUTBOX WRITE FAILED: event held in memory, retried every second");
            }
            if first || !new.is_empty() {
                tracing::error!(held = batch.len(), error = %e, "the outbox cannot be written (disk full?); alerts are held in memory and NOT yet delivered anywhere");
            }
            self.held = batch;
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            s.write_failures += 1;
            s.held = self.held.len();
            return;
        }
        if let Some(since) = self.failing_since.take() {
            tracing::warn!(
                written = batch.len(),
                after_s = since.elapsed().as_secs_f64(),
                "the outbox is writable again; held events written"
            );
        }
        let events = &batch[..];
        {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            s.held = 0;
            for ev in events {
                *s.counts.entry(ev.kind_str()).or_default() += 1;
            }
        }
        {
            let mut s = self.stats.lock().unwrap_or_else(|p| p.into_inner());
            s.groups += 1;
            s.events += events.len() as u64;
        }
        for event in events {
            if let Some(s) = &mut self.stdout
                && let Err(e) = s.send(event)
            {
                tracing::warn!(error = %e, "stdout");
            }
        }
        if let Some(r) = &self.relay {
            r.notify();
        }
        if let Some(c) = &self.clips {
            for event in events {
                if let Event::Alert(a) = event {
                    c.expect(a);
                }
            }
        }
        if let Some(w) = &self.web {
            for event in events {
                w.hand(WebJob::Event(Box::new(event.clone())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sharpeyes_core::{CameraRef, CameraState, StatusEvent};

    fn event(i: i64) -> Event {
        let camera = CameraRef {
            id: CameraId::new("gate").expect("id"),
            name: "Gate".into(),
            village: "Xiaohe".into(),
        };
        StatusEvent::new(
            camera,
            UnixMillis(1_700_000_000_000 + i),
            CameraState::Online,
            None,
        )
        .into()
    }

    #[test]
    fn events_reach_the_outbox_in_order_in_groups_of_one_sync() {
        let dir = std::env::temp_dir().join(format!("sharpeyes-delivery-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let outbox = dir.join("outbox.jsonl");
        let mut d = Delivery::new(&outbox, false, None, 100).expect("delivery");
        let sent: Vec<String> = (0..500)
            .map(|i| {
                let e = event(i);
                let id = e.id().to_owned();
                d.deliver(e);
                id
            })
            .collect();
        d.sync();
        let stored: Vec<String> = sharpeyes_delivery::outbox::read_all(&outbox)
            .expect("outbox")
            .iter()
            .map(|e| e.id().to_owned())
            .collect();
        assert_eq!(stored, sent, "every event, in the order delivered");
        let g = d.group_stats();
        assert_eq!(g.events, 500);
        // 500 events handed over faster than a sync takes: far fewer syncs than events.
        assert!(g.groups < 250, "{g:?}");
        assert_eq!(d.counts_line(), "camera_online=500");
        drop(d);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(test)]
mod hold_tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A disk that fails while `full` is set, and otherwise keeps what it is given.
    struct Disk {
        full: Arc<AtomicBool>,
        kept: Arc<Mutex<Vec<String>>>,
    }

    impl Commit for Disk {
        fn append_all(
            &mut self,
            events: &[Event],
        ) -> Result<(), sharpeyes_delivery::DeliveryError> {
            if self.full.load(Ordering::SeqCst) {
                return Err(sharpeyes_delivery::DeliveryError::Outbox {
                    path: "/full/outbox.jsonl".into(),
                    source: std::io::Error::from_raw_os_error(28),
                });
            }
            let mut k = self.kept.lock().unwrap();
            k.extend(events.iter().map(|e| e.id().to_owned()));
            Ok(())
        }
    }

    fn status(i: i64) -> Event {
        let camera = sharpeyes_core::CameraRef {
            id: CameraId::new("gate").expect("id"),
            name: "Gate".into(),
            village: "Xiaohe".into(),
        };
        StatusEvent::new(
            camera,
            UnixMillis(1_700_000_000_000 + i),
            sharpeyes_core::CameraState::Online,
            None,
        )
        .into()
    }

    #[test]
    fn events_the_disk_refuses_are_held_uncounted_and_written_in_order_when_it_takes_them() {
        let full = Arc::new(AtomicBool::new(false));
        let kept = Arc::new(Mutex::new(Vec::new()));
        let disk = Disk {
            full: full.clone(),
            kept: kept.clone(),
        };
        let mut d = Delivery::start(Box::new(disk), false, None).expect("delivery");
        let mut sent = Vec::new();
        let mut send = |d: &mut Delivery, i| {
            let e = status(i);
            sent.push(e.id().to_owned());
            d.deliver(e);
        };
        send(&mut d, 0);
        d.sync();
        full.store(true, Ordering::SeqCst);
        for i in 1..=5 {
            send(&mut d, i);
        }
        d.sync();
        let (failures, held) = d.outbox_health();
        assert!(failures >= 1, "the failed write is counted");
        assert_eq!(held, 5, "held in memory");
        assert_eq!(
            d.counts_line(),
            "camera_online=1",
            "nothing counts as raised before it is on disk"
        );
        assert_eq!(kept.lock().unwrap().len(), 1);
        // Retried every second while the disk stays full: still held, more failures.
        std::thread::sleep(RETRY_EVERY * 2 + Duration::from_millis(300));
        assert!(d.outbox_health().0 > failures, "{:?}", d.outbox_health());
        // Space returns: written by the retry alone, in the order delivered.
        full.store(false, Ordering::SeqCst);
        std::thread::sleep(RETRY_EVERY + Duration::from_millis(500));
        assert_eq!(d.outbox_health().1, 0);
        send(&mut d, 6);
        d.sync();
        assert_eq!(*kept.lock().unwrap(), sent, "every event, in order");
        assert_eq!(d.counts_line(), "camera_online=7");
    }

    #[test]
    fn a_locked_command_center_store_never_holds_up_the_outbox() {
        let dir = std::env::temp_dir().join(format!("sharpeyes-weblock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("cc.db");
        let store = Arc::new(sharpeyes_web::Store::open(&db).expect("store"));
        let kept = Arc::new(Mutex::new(Vec::new()));
        let disk = Disk {
            full: Arc::new(AtomicBool::new(false)),
            kept: kept.clone(),
        };
        let mut d = Delivery::start(Box::new(disk), false, None).expect("delivery");
        d.attach_web(sharpeyes_web::Feed::new(store), None);
        // Another process holds the database: every write of the store waits for it.
        let blocker = rusqlite::Connection::open(&db).unwrap();
        blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let wait_kept = |n: usize| {
            let deadline = std::time::Instant::now() + Duration::from_secs(4);
            while kept.lock().unwrap().len() < n {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the outbox got {} of {n} events while the command center's store was locked",
                    kept.lock().unwrap().len()
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        for i in 0..10 {
            d.deliver(status(i));
        }
        wait_kept(10);
        for i in 10..20 {
            d.deliver(status(i));
        }
        wait_kept(20);
        blocker.execute_batch("ROLLBACK").unwrap();
        drop(blocker);
        drop(d);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
