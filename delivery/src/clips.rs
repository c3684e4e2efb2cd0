//! Event clips travel like the snapshots: as data keyed by the alert id, on a topic of their own
//! (`output.clip_topic`, default `sharpeyes.clips`), and to the command center in this process.
//! File and network I/O, on a thread of its own ([`ClipShipper`]).
//!
//! A clip is complete `post` seconds (10 by default) after its `new` alert went out, so it cannot
//! travel with the alert. The delivery thread hands every alert that names a clip, once it is in
//! the outbox, to the shipper ([`ClipShipper::expect`], which never waits); the shipper looks for
//! the file every [`LOOK_EVERY`], or at once when told the clip is done
//! ([`ClipShipper::ready`], from the clip writer's [`ClipReady`](sharpeyes_core::ClipReady)). The
//! writer renames `<x>.mp4.part` to `<x>.mp4` once the muxer is done, so a file at the named path
//! is whole: it is read and sent (message key = alert id, payload = the MP4, at most
//! [`MAX_CLIP_MESSAGE`] bytes). A clip still missing [`ClipSource::wait`] after its alert's
//! `emitted_time` (the camera went away, the writer failed) is given up: logged and counted.
//! Nothing of this is on the alerts' path: an alert never waits for its clip, and clips waiting
//! for the broker hold at most [`MAX_IN_FLIGHT_BYTES`] of memory (the rest wait on disk).
//!
//! Restarts: every clip the broker acknowledged, or that was given up, is recorded beside the
//! outbox (`<outbox>.clips`, one alert id per line). At start the shipper reads the outbox and
//! takes up every alert with a clip not recorded there: a clip complete on disk but not yet
//! acknowledged is sent after the restart (perhaps again: at least once, like the alerts; the
//! command center keeps the latest copy); one still missing waits out what is left of its wait.
//! Lost are only clips of alerts rotated out of the outbox before a restart (the delivery thread
//! rotates only while no clip is waiting, [`ClipShipper::waiting`]) and clips the retention
//! sweeper deleted first.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sharpeyes_core::{Alert, Clock, Event, SystemClock, UnixMillis};

use crate::ack_log::AckLog;
use crate::kafka::{KafkaOptions, KafkaSink, MESSAGE_MAX_BYTES};
use crate::relay_policy::{CONNECT_BACKOFF, DeliveryFailure, RETRY_BACKOFF};
use crate::wake::Wake;

/// The largest clip sent: 15 MiB, under [`MESSAGE_MAX_BYTES`] with room for the framing. A 15 s
/// clip of a 360p substream is 1-2 MB, of a 1080p main stream at 4 Mbit/s about 7.5 MB.
pub const MAX_CLIP_MESSAGE: u64 = 15 << 20;

/// How often the shipper looks for the clips it waits for.
pub const LOOK_EVERY: Duration = Duration::from_millis(500);

/// Clips handed to librdkafka and not yet acknowledged hold at most this much memory (at least
/// one clip always goes); the others wait on disk.
pub const MAX_IN_FLIGHT_BYTES: u64 = 32 << 20;

/// A clip the broker refused this many times is given up.
const MAX_REFUSALS: u32 = 3;

/// Where the clips are and where they go.
#[derive(Clone, Debug)]
pub struct ClipSource {
    /// The pipeline's clips directory; a clip named outside it is never read.
    pub dir: PathBuf,
    /// Topic of the clips (`output.clip_topic`).
    pub topic: String,
    /// How long after its alert's `emitted_time` a clip may take to be complete before it is
    /// given up (`output.clip_wait_s`, default [`ClipSource::DEFAULT_WAIT`]); more than the
    /// clips' `post` seconds and the time to write them.
    pub wait: Duration,
}

impl ClipSource {
    /// 60 s: a clip of `post` 10 s is usually complete 11 s after its alert.
    pub const DEFAULT_WAIT: Duration = Duration::from_secs(60);

    pub fn new(dir: impl Into<PathBuf>, topic: impl Into<String>) -> Self {
        Self {
            dir: dir.into(),
            topic: topic.into(),
            wait: Self::DEFAULT_WAIT,
        }
    }
}

/// Told (alert id, MP4 bytes) of each clip found: the command center in this process.
pub type ClipObserver = Arc<dyn Fn(&str, &[u8]) + Send + Sync>;

/// What [`read_clip`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum ClipFile {
    /// The whole MP4.
    Complete(Vec<u8>),
    /// Not there (yet).
    Missing,
    /// There, and never sendable: outside the clips directory, too large, not an MP4.
    Unusable(String),
}

/// Whether `bytes` start like an MP4 (ISO BMFF): a box of type `ftyp` first.
pub fn is_mp4(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && &bytes[4..8] == b"ftyp"
}

/// The path `clip` names, when it is under `dir` (lexically: no `..`); else why not.
fn clip_path(dir: &Path, clip: &str) -> Result<PathBuf, String> {
    let named = Path::new(clip);
    if crate::relay::lies_under(dir, named) {
        Ok(named.to_owned())
    } else {
        Err(format!(
            "clip path {} is outside the clips directory {}",
            named.display(),
            dir.display()
        ))
    }
}

/// The size of the clip file, or None when it is not there yet.
fn clip_size(path: &Path) -> Result<Option<u64>, String> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => Err(format!("{} is not a file", path.display())),
        Ok(m) if m.len() > MAX_CLIP_MESSAGE => Err(format!(
            "{} bytes, over the {MAX_CLIP_MESSAGE} byte limit of a clip message",
            m.len()
        )),
        Ok(m) => Ok(Some(m.len())),
        Err(_) => Ok(None),
    }
}

/// The clip of `alert` under `dir`, if it names one (see [`ClipFile`]).
pub fn read_clip(dir: &Path, alert: &Alert) -> Option<ClipFile> {
    Some(read_named(dir, alert.clip.as_deref()?))
}

fn read_named(dir: &Path, clip: &str) -> ClipFile {
    let path = match clip_path(dir, clip) {
        Ok(p) => p,
        Err(why) => return ClipFile::Unusable(why),
    };
    match clip_size(&path) {
        Err(why) => return ClipFile::Unusable(why),
        Ok(None) => return ClipFile::Missing,
        Ok(Some(_)) => {}
    }
    match std::fs::read(&path) {
        Ok(b) if is_mp4(&b) => ClipFile::Complete(b),
        Ok(_) => ClipFile::Unusable(format!("{} is not an MP4", path.display())),
        Err(_) => ClipFile::Missing,
    }
}

/// The record of finished clips beside the outbox at `outbox`: `<outbox>.clips`.
pub fn done_log_path(outbox: &Path) -> PathBuf {
    let mut name = outbox.as_os_str().to_owned();
    name.push(".clips");
    PathBuf::from(name)
}

/// Counts of a [`ClipShipper`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClipStats {
    /// Acknowledged by the broker.
    pub sent: u64,
    /// Handed to the command center in this process.
    pub shown: u64,
    /// Given up: never complete within the wait, unusable, or refused by the broker.
    pub given_up: u64,
}

/// An alert whose clip is awaited.
#[derive(Clone, Debug)]
struct Expected {
    alert_id: String,
    clip: String,
    /// The alert's `emitted_time` (else its `event_time`, else when it was handed over).
    emitted: Option<UnixMillis>,
}

impl Expected {
    fn of(alert: &Alert) -> Option<Self> {
        Some(Self {
            alert_id: alert.id.clone(),
            clip: alert.clip.clone()?,
            emitted: UnixMillis::parse_rfc3339(&alert.emitted_time).or(alert.event_millis()),
        })
    }
}

#[derive(Default)]
struct Shared {
    wake: Wake,
    inbox: Mutex<Vec<Expected>>,
    local: Mutex<Option<ClipObserver>>,
    /// Clips awaited or in flight.
    waiting: AtomicU64,
    sent: AtomicU64,
    shown: AtomicU64,
    given_up: AtomicU64,
    done: Mutex<Option<Arc<AckLog>>>,
}

/// The thread that sends the clips once complete (module docs). Stops (and joins) on drop; what
/// is not acknowledged by then is taken up at the next start.
pub struct ClipShipper {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ClipShipper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipShipper")
            .field("waiting", &self.waiting())
            .field("stats", &self.stats())
            .finish()
    }
}

impl ClipShipper {
    /// Starts the shipper of the pipeline whose outbox is at `outbox`: clips of `source` to
    /// `kafka` (brokers, client properties; its topic is replaced by `source.topic`), and to
    /// the observer of [`ClipShipper::set_local`]. Without Kafka a clip is done once shown.
    pub fn start(source: ClipSource, kafka: Option<KafkaOptions>, outbox: &Path) -> Self {
        Self::start_with(source, kafka, outbox, Arc::new(SystemClock))
    }

    /// [`ClipShipper::start`] on `clock` (the waits are measured on it).
    pub fn start_with(
        source: ClipSource,
        kafka: Option<KafkaOptions>,
        outbox: &Path,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let shared = Arc::new(Shared::default());
        let thread_shared = shared.clone();
        let outbox = outbox.to_owned();
        let kafka = kafka.map(|k| {
            k.topic(source.topic.clone())
                .topic_config("max.message.bytes", MESSAGE_MAX_BYTES.to_string())
        });
        let thread = std::thread::Builder::new()
            .name("clip-shipper".into())
            .spawn(move || ship_loop(&source, kafka, &outbox, &thread_shared, &*clock))
            .expect("spawning the clip shipper thread");
        Self {
            shared,
            thread: Some(thread),
        }
    }

    /// Awaits the clip of `alert` (none: nothing to do). Never waits.
    pub fn expect(&self, alert: &Alert) {
        if let Some(e) = Expected::of(alert) {
            self.shared
                .inbox
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(e);
            self.shared.waiting.fetch_add(1, Ordering::Relaxed);
            self.shared.wake.wake();
        }
    }

    /// The clip writer says a clip is complete: look now rather than at the next round.
    pub fn ready(&self) {
        self.shared.wake.wake();
    }

    /// From now on every clip found is also handed to `observer` (once per clip and process).
    pub fn set_local(&self, observer: ClipObserver) {
        *self.shared.local.lock().unwrap_or_else(|p| p.into_inner()) = Some(observer);
        self.shared.wake.wake();
    }

    /// Clips awaited or waiting for the broker's acknowledgement.
    pub fn waiting(&self) -> u64 {
        self.shared.waiting.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> ClipStats {
        ClipStats {
            sent: self.shared.sent.load(Ordering::Relaxed),
            shown: self.shared.shown.load(Ordering::Relaxed),
            given_up: self.shared.given_up.load(Ordering::Relaxed),
        }
    }

    /// Empties the record of finished clips: the outbox it speaks of was rotated away (done only
    /// while nothing is [`ClipShipper::waiting`]).
    pub fn forget_done(&self) {
        if let Some(done) = &*self.shared.done.lock().unwrap_or_else(|p| p.into_inner())
            && let Err(e) = done.clear()
        {
            tracing::warn!(path = %done.path().display(), error = %e, "cannot empty the record of sent clips");
        }
    }
}

impl Drop for ClipShipper {
    fn drop(&mut self) {
        self.shared.wake.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A clip awaited.
struct Waiting {
    clip: String,
    /// Given up when still missing at this wall-clock time.
    deadline: UnixMillis,
    shown: bool,
    refusals: u32,
    next_try: Instant,
}

/// The alerts of the outbox at `outbox` that name a clip, in file order; lines that are not
/// events are skipped (the relay moves them aside).
fn outbox_clips(outbox: &Path) -> Vec<Expected> {
    let Ok(file) = File::open(outbox) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in BufReader::new(file).split(b'\n').map_while(Result::ok) {
        if let Ok(Event::Alert(a)) = serde_json::from_slice::<Event>(&line)
            && let Some(e) = Expected::of(&a)
        {
            out.push(e);
        }
    }
    out
}

/// The shipper's state on its thread.
struct Shipper<'a> {
    source: &'a ClipSource,
    shared: &'a Shared,
    clock: &'a dyn Clock,
    done: Option<Arc<AckLog>>,
    /// Finished in an earlier run (the record) or in this one.
    finished: HashSet<String>,
    /// By alert id: ids begin with their time, so this is about their order.
    waiting: BTreeMap<String, Waiting>,
    /// Sent, not yet acknowledged: (state, bytes).
    in_flight: HashMap<String, (Waiting, u64)>,
}

impl Shipper<'_> {
    fn take_up(&mut self, e: Expected) {
        if self.finished.contains(&e.alert_id)
            || self.waiting.contains_key(&e.alert_id)
            || self.in_flight.contains_key(&e.alert_id)
        {
            return;
        }
        let from = e.emitted.unwrap_or_else(|| self.clock.now());
        let wait_ms = i64::try_from(self.source.wait.as_millis()).unwrap_or(i64::MAX / 4);
        self.waiting.insert(
            e.alert_id,
            Waiting {
                clip: e.clip,
                deadline: from.plus_ms(wait_ms),
                shown: false,
                refusals: 0,
                next_try: Instant::now(),
            },
        );
    }

    /// Done with `id`: recorded, never tried again (also after a restart).
    fn finish(&mut self, id: &str) {
        if let Some(done) = &self.done {
            done.record(id);
        }
        self.finished.insert(id.to_owned());
    }

    fn give_up(&mut self, id: &str, why: &str) {
        tracing::warn!(alert = %id, reason = why, "event clip given up; the alert stays without it");
        self.shared.given_up.fetch_add(1, Ordering::Relaxed);
        self.finish(id);
    }

    /// What the broker answered since the last call.
    fn outcomes(&mut self) {
        let Some(done) = &self.done else { return };
        let (acked, failed) = done.take_outcomes();
        for id in acked {
            if self.in_flight.remove(&id).is_some() {
                self.shared.sent.fetch_add(1, Ordering::Relaxed);
                self.finished.insert(id);
            }
        }
        for (id, why) in failed {
            let Some((mut w, _)) = self.in_flight.remove(&id) else {
                continue;
            };
            if why == DeliveryFailure::Refused {
                w.refusals += 1;
                if w.refusals >= MAX_REFUSALS {
                    self.give_up(&id, "refused by the kafka broker");
                    continue;
                }
                w.next_try = Instant::now() + RETRY_BACKOFF.delay(w.refusals);
            }
            self.waiting.insert(id, w);
        }
    }

    /// One look at every clip due: shown here, sent to `sink` (room permitting), or given up.
    fn look(&mut self, sink: Option<&mut KafkaSink>, kafka: bool) {
        let local = self
            .shared
            .local
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut sink = sink;
        let mut in_flight_bytes: u64 = self.in_flight.values().map(|(_, b)| b).sum();
        let now = Instant::now();
        let due: Vec<String> = self
            .waiting
            .iter()
            .filter(|(_, w)| w.next_try <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            let Some(w) = self.waiting.get_mut(&id) else {
                continue;
            };
            let size = match clip_path(&self.source.dir, &w.clip).and_then(|p| clip_size(&p)) {
                Err(why) => {
                    self.waiting.remove(&id);
                    self.give_up(&id, &why);
                    continue;
                }
                Ok(None) => {
                    if self.clock.now() >= w.deadline {
                        self.waiting.remove(&id);
                        let why = format!(
                            "not complete {} s after its alert",
                            self.source.wait.as_secs()
                        );
                        self.give_up(&id, &why);
                    }
                    continue;
                }
                Ok(Some(size)) => size,
            };
            let show = local.is_some() && !w.shown;
            let room = sink.is_some()
                && (self.in_flight.is_empty() || in_flight_bytes + size <= MAX_IN_FLIGHT_BYTES);
            if !show && !room {
                // Complete: it waits for the broker (or the room), with no deadline.
                continue;
            }
            let bytes = match read_named(&self.source.dir, &w.clip) {
                ClipFile::Complete(b) => b,
                ClipFile::Missing => continue,
                ClipFile::Unusable(why) => {
                    self.waiting.remove(&id);
                    self.give_up(&id, &why);
                    continue;
                }
            };
            if show && let Some(observer) = &local {
                observer(&id, &bytes);
                w.shown = true;
                self.shared.shown.fetch_add(1, Ordering::Relaxed);
            }
            if !kafka {
                self.waiting.remove(&id);
                self.finish(&id);
                continue;
            }
            if !room {
                continue;
            }
            let Some(s) = sink.as_deref_mut() else {
                continue;
            };
            match s.send_keyed(&id, &bytes) {
                Ok(()) => {
                    tracing::debug!(alert = %id, bytes = bytes.len(), "event clip queued for kafka");
                    let w = self.waiting.remove(&id).expect("looked up above");
                    in_flight_bytes += bytes.len() as u64;
                    self.in_flight.insert(id, (w, bytes.len() as u64));
                }
                Err(e) => {
                    tracing::warn!(alert = %id, error = %e, "kafka queue refused an event clip; trying again");
                    w.next_try = Instant::now() + Duration::from_secs(1);
                }
            }
        }
    }

    fn count(&self) {
        let inbox = self
            .shared
            .inbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len();
        self.shared.waiting.store(
            (self.waiting.len() + self.in_flight.len() + inbox) as u64,
            Ordering::Relaxed,
        );
    }
}

fn ship_loop(
    source: &ClipSource,
    kafka: Option<KafkaOptions>,
    outbox: &Path,
    shared: &Shared,
    clock: &dyn Clock,
) {
    let done_path = done_log_path(outbox);
    let finished = AckLog::read_ids(&done_path).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read the record of sent clips; clips of the outbox are sent again");
        HashSet::new()
    });
    let done = match AckLog::open(&done_path) {
        Ok(d) => Some(Arc::new(d)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot open the record of sent clips; they may be sent again after a restart");
            None
        }
    };
    *shared.done.lock().unwrap_or_else(|p| p.into_inner()) = done.clone();
    let mut s = Shipper {
        source,
        shared,
        clock,
        done: done.clone(),
        finished,
        waiting: BTreeMap::new(),
        in_flight: HashMap::new(),
    };
    // Clips of the outbox's alerts that were not finished before the restart.
    for e in outbox_clips(outbox) {
        s.take_up(e);
    }
    if !s.waiting.is_empty() {
        tracing::info!(
            clips = s.waiting.len(),
            "event clips of earlier alerts taken up again"
        );
    }
    let mut sink: Option<KafkaSink> = None;
    let mut backoff = CONNECT_BACKOFF;
    let mut next_connect = Instant::now();
    while !shared.wake.stopped() {
        let new = std::mem::take(&mut *shared.inbox.lock().unwrap_or_else(|p| p.into_inner()));
        for e in new {
            s.take_up(e);
        }
        s.outcomes();
        if let Some(fatal) = sink.as_ref().and_then(KafkaSink::fatal_error) {
            tracing::error!(error = %fatal, "kafka producer of the clips hit a fatal error; rebuilding it");
            sink = None;
            s.outcomes();
            let lost: Vec<_> = s.in_flight.drain().collect();
            for (id, (w, _)) in lost {
                s.waiting.insert(id, w);
            }
        }
        if let Some(k) = &kafka
            && sink.is_none()
            && !s.waiting.is_empty()
            && Instant::now() >= next_connect
        {
            match KafkaSink::connect_with_acks(k.clone(), done.clone()) {
                Ok(k) => {
                    backoff.reset();
                    sink = Some(k);
                }
                Err(e) => {
                    let wait = backoff.next_delay();
                    next_connect = Instant::now() + wait;
                    tracing::warn!(error = %e, retry_in_s = wait.as_secs(), waiting = s.waiting.len(), "kafka unreachable; event clips wait on disk");
                }
            }
        }
        s.look(sink.as_mut(), kafka.is_some());
        s.count();
        shared.wake.sleep(LOOK_EVERY);
    }
    if let Some(mut k) = sink {
        use sharpeyes_core::EventSink;
        let _ = k.flush(Duration::from_millis(500));
        s.outcomes();
    }
    tracing::debug!(
        waiting = s.waiting.len() + s.in_flight.len(),
        sent = shared.sent.load(Ordering::Relaxed),
        "clip shipper stopped"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use sharpeyes_core::{AlertKind, CameraId, ManualClock};
    use tempfile::TempDir;

    const T: i64 = 1_795_459_860_000;

    /// An MP4 as far as the checks go: an `ftyp` box, then bytes.
    fn mp4(n: usize) -> Vec<u8> {
        let mut b = vec![0, 0, 0, 24];
        b.extend_from_slice(b"ftypisom");
        b.resize(n, 7);
        b
    }

    /// A scratch directory (removed on drop), its clips directory and its outbox.
    fn scratch() -> (TempDir, PathBuf, PathBuf) {
        let dir = TempDir::with_prefix("sharpeyes-clips").unwrap();
        let clips = dir.path().join("clips");
        let outbox = dir.path().join("alerts.jsonl");
        (dir, clips, outbox)
    }

    /// The alerts whose clips are recorded as done beside `outbox`.
    fn done_ids(outbox: &Path) -> HashSet<String> {
        AckLog::read_ids(&done_log_path(outbox)).unwrap()
    }

    fn alert(clips: &Path, camera: &str, t: i64) -> Alert {
        let mut a = Alert::new(
            AlertKind::Fall,
            CameraId::new(camera).unwrap(),
            UnixMillis(T + t),
            &[],
            (640, 360),
        );
        a.clip = Some(
            clips
                .join(camera)
                .join(format!("{}.mp4", a.id))
                .display()
                .to_string(),
        );
        a
    }

    fn write_clip(a: &Alert, bytes: &[u8]) {
        let path = PathBuf::from(a.clip.as_deref().unwrap());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let part = path.with_extension("mp4.part");
        std::fs::write(&part, bytes).unwrap();
        std::fs::rename(part, path).unwrap();
    }

    type Seen = Arc<Mutex<Vec<(String, usize)>>>;

    fn observer(seen: &Seen) -> ClipObserver {
        let seen = seen.clone();
        Arc::new(move |id: &str, b: &[u8]| seen.lock().unwrap().push((id.to_owned(), b.len())))
    }

    fn until(what: &str, f: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn read_clip_reads_mp4s_under_the_clips_directory_only() {
        let (_dir, clips, _) = scratch();
        let a = alert(&clips, "cam", 0);
        assert_eq!(read_clip(&clips, &a), Some(ClipFile::Missing));
        write_clip(&a, &mp4(100));
        assert_eq!(read_clip(&clips, &a), Some(ClipFile::Complete(mp4(100))));
        let mut outside = a.clone();
        outside.clip = Some(clips.join("../secret.mp4").display().to_string());
        assert!(matches!(
            read_clip(&clips, &outside),
            Some(ClipFile::Unusable(_))
        ));
        outside.clip = Some("/etc/passwd".into());
        assert!(matches!(
            read_clip(&clips, &outside),
            Some(ClipFile::Unusable(_))
        ));
        write_clip(&a, b"not a video at all");
        assert!(matches!(read_clip(&clips, &a), Some(ClipFile::Unusable(_))));
        let mut none = a.clone();
        none.clip = None;
        assert_eq!(read_clip(&clips, &none), None);
    }

    #[test]
    fn a_clip_is_handed_over_once_its_file_is_complete_and_recorded_as_done() {
        let (_dir, clips, outbox) = scratch();
        let shipper = ClipShipper::start(ClipSource::new(&clips, "t"), None, &outbox);
        let seen = Seen::default();
        shipper.set_local(observer(&seen));
        // Raised now: well within its wait on the wall clock.
        let a = alert(&clips, "cam", SystemClock.now().0 - T);
        shipper.expect(&a);
        // Being written: the part file is not the clip.
        let path = PathBuf::from(a.clip.as_deref().unwrap());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path.with_extension("mp4.part"), mp4(10)).unwrap();
        std::thread::sleep(LOOK_EVERY * 2);
        assert!(seen.lock().unwrap().is_empty());
        assert_eq!(shipper.waiting(), 1);
        write_clip(&a, &mp4(5000));
        shipper.ready();
        until("the clip", || !seen.lock().unwrap().is_empty());
        assert_eq!(*seen.lock().unwrap(), vec![(a.id.clone(), 5000)]);
        until("nothing waiting", || shipper.waiting() == 0);
        assert_eq!(
            shipper.stats(),
            ClipStats {
                sent: 0,
                shown: 1,
                given_up: 0
            }
        );
        drop(shipper);
        assert!(done_ids(&outbox).contains(&a.id));
    }

    #[test]
    fn a_clip_that_never_appears_is_given_up_after_its_wait() {
        let (_dir, clips, outbox) = scratch();
        let clock = Arc::new(ManualClock::new(UnixMillis(T)));
        let mut source = ClipSource::new(&clips, "t");
        source.wait = Duration::from_secs(30);
        let shipper = ClipShipper::start_with(source, None, &outbox, clock.clone());
        let a = alert(&clips, "gone", 0);
        shipper.expect(&a);
        clock.advance_ms(29_000);
        shipper.ready();
        std::thread::sleep(LOOK_EVERY * 2);
        assert_eq!(shipper.stats().given_up, 0, "still within its wait");
        assert_eq!(shipper.waiting(), 1);
        clock.advance_ms(1_000);
        shipper.ready();
        until("given up", || shipper.stats().given_up == 1);
        until("nothing waiting", || shipper.waiting() == 0);
        drop(shipper);
        assert!(done_ids(&outbox).contains(&a.id));
    }

    #[test]
    fn after_a_restart_clips_of_the_outbox_not_yet_done_are_taken_up() {
        let (_dir, clips, outbox) = scratch();
        let pending = alert(&clips, "cam", 0);
        let done = alert(&clips, "cam", 1);
        let late = alert(&clips, "cam", 2);
        let mut no_clip = alert(&clips, "cam", 3);
        no_clip.clip = None;
        let mut lines = String::new();
        for a in [&pending, &done, &late, &no_clip] {
            lines.push_str(&serde_json::to_string(&Event::from(a.clone())).unwrap());
            lines.push('\n');
        }
        lines.push_str("not an event\n");
        std::fs::write(&outbox, lines).unwrap();
        std::fs::write(done_log_path(&outbox), format!("{}\n", done.id)).unwrap();
        for a in [&pending, &done] {
            write_clip(a, &mp4(64));
        }
        // Restarted long after the alerts: a clip on disk goes, one still missing is given up.
        let clock = Arc::new(ManualClock::new(UnixMillis(T + 3_600_000)));
        let shipper = ClipShipper::start_with(ClipSource::new(&clips, "t"), None, &outbox, clock);
        let seen = Seen::default();
        shipper.set_local(observer(&seen));
        until("the clips", || {
            shipper.stats().shown == 1 && shipper.stats().given_up == 1
        });
        assert_eq!(*seen.lock().unwrap(), vec![(pending.id.clone(), 64)]);
        until("nothing waiting", || shipper.waiting() == 0);
        drop(shipper);
        let ids = done_ids(&outbox);
        for a in [&pending, &done, &late] {
            assert!(ids.contains(&a.id), "{}", a.id);
        }
    }
}
