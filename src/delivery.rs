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
//! Camera heartbeats ([`Delivery::heartbeat`]) are best effort and skip all of that: not in the
//! outbox, not on stdout; the thread hands them to the command center (if attached) and to the
//! relay's best-effort producer ([`OutboxRelay::send_ephemeral`]). A full queue drops them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use sharpeyes_alerts::{JsonlOutbox, KafkaOptions, OutboxRelay, RelayOptions, StdoutSink};
use sharpeyes_core::{CameraId, Event, EventSink, StatusEvent, UnixMillis};

/// Events waiting for the delivery thread before `deliver` waits (the disk is that far behind).
const QUEUE: usize = 4096;
/// Most events committed in one group.
const MAX_GROUP: usize = 512;

/// What the delivery thread is asked to do.
enum Job {
    Event(Box<Event>),
    /// A camera heartbeat: the command center and Kafka, best effort (module docs).
    Heartbeat(Box<Event>),
    /// The command center's live view of the cameras: (camera, fps in, last frame).
    CamerasLive(Vec<(CameraId, f64, Option<UnixMillis>)>),
    /// The command center in this process, from now on.
    Web(sharpeyes_web::Feed),
    /// Answered once everything sent before is delivered.
    Sync(std::sync::mpsc::Sender<()>),
}

/// Where alerts go: the durable outbox first (an alert is accepted once it is there), then
/// stdout; Kafka is fed from the outbox by the [`OutboxRelay`] (zero loss, at least once: see
/// alerts/src/relay.rs); then the command center. Camera status events take the same path, to
/// their own topic. See the module docs for the thread and the group commit.
pub struct Delivery {
    tx: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
    relay: Option<Arc<OutboxRelay>>,
    /// Whether a command center is attached (`--web`).
    web: bool,
    /// Events delivered by kind (`fall`, `camera_online`, ...); heartbeats are not among them.
    pub counts: BTreeMap<&'static str, u64>,
    /// Heartbeats handed to [`Delivery::heartbeat`].
    heartbeats: u64,
    /// Groups committed and events in them (group commit at work), shared with the thread.
    stats: Arc<Mutex<GroupStats>>,
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
        Self::observed(outbox, stdout, kafka, max_pending, None)
    }

    /// Like [`Delivery::new`], `on_ack` told of each event the broker acknowledged.
    pub fn observed(
        outbox: &Path,
        stdout: bool,
        kafka: Option<(KafkaOptions, String)>,
        max_pending: usize,
        on_ack: Option<sharpeyes_alerts::AckObserver>,
    ) -> anyhow::Result<Self> {
        let outbox_file = JsonlOutbox::open(outbox)
            .with_context(|| format!("opening the outbox {}", outbox.display()))?;
        let relay = kafka.map(|(options, status_topic)| {
            let mut relay = RelayOptions::new(options, &status_topic);
            relay.max_pending = max_pending;
            relay.on_ack = on_ack;
            Arc::new(OutboxRelay::start(outbox, relay))
        });
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let stats = Arc::new(Mutex::new(GroupStats::default()));
        let worker = Worker {
            outbox: outbox_file,
            stdout: stdout.then(StdoutSink::new),
            relay: relay.clone(),
            web: None,
            stats: stats.clone(),
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
            counts: BTreeMap::new(),
            heartbeats: 0,
            stats,
        })
    }

    fn send(&self, job: Job) {
        if let Some(tx) = &self.tx
            && tx.send(job).is_err()
        {
            tracing::error!("the delivery thread is gone; event NOT delivered");
        }
    }

    /// Hands `event` to the delivery thread (waits only when [`QUEUE`] events are already
    /// waiting for the disk).
    pub fn deliver(&mut self, event: Event) {
        *self.counts.entry(event.kind_str()).or_default() += 1;
        self.send(Job::Event(Box::new(event)));
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

    /// From now on every event also goes to the command center in this process.
    pub fn attach_web(&mut self, feed: sharpeyes_web::Feed) {
        self.web = true;
        self.send(Job::Web(feed));
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
        if self.counts.is_empty() {
            return "none".into();
        }
        self.counts
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
    outbox: JsonlOutbox,
    stdout: Option<StdoutSink>,
    relay: Option<Arc<OutboxRelay>>,
    web: Option<sharpeyes_web::Feed>,
    stats: Arc<Mutex<GroupStats>>,
}

impl Worker {
    fn run(mut self, rx: Receiver<Job>) {
        while let Ok(first) = rx.recv() {
            let mut jobs = vec![first];
            while jobs.len() < MAX_GROUP
                && let Ok(j) = rx.try_recv()
            {
                jobs.push(j);
            }
            self.handle(jobs);
        }
    }

    /// One group: events committed together, the other jobs in order around them.
    fn handle(&mut self, jobs: Vec<Job>) {
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
                Job::Web(feed) => self.web = Some(feed),
                Job::Heartbeat(event) => {
                    if let Some(r) = &self.relay {
                        r.send_ephemeral(&event);
                    }
                    if let Some(w) = &self.web {
                        w.publish(&event);
                    }
                }
                Job::CamerasLive(cameras) => {
                    if let Some(web) = &self.web {
                        for (id, fps, last) in cameras {
                            if let Err(e) = web.store.camera_live(id.as_str(), fps, last) {
                                tracing::warn!(camera = %id, error = %e, "command center: camera live state not stored");
                            }
                        }
                    }
                }
                Job::Sync(done) => {
                    let _ = done.send(());
                }
                Job::Event(_) => unreachable!("events were taken out above"),
            }
        }
    }

    fn commit(&mut self, events: &[Event]) {
        if let Err(e) = self.outbox.append_all(events) {
            // Issue 16 makes this loss-free (kept and retried); until then it is loud.
            for ev in events {
                tracing::error!(event = %ev.id(), error = %e, "event NOT written to the outbox");
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
        if let Some(w) = &self.web {
            for event in events {
                w.publish(event);
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
        let stored: Vec<String> = sharpeyes_alerts::outbox::read_all(&outbox)
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
