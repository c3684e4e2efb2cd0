//! A bounded per-camera frame queue that never blocks the producer: when full, the oldest frame
//! is dropped and counted. Detection that falls behind thus sees the newest frames, and a slow
//! model never stalls a camera's network reader. No I/O.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Counters of a [`FrameQueue`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub pushed: u64,
    pub dropped: u64,
}

#[derive(Debug)]
struct Inner<T> {
    items: VecDeque<T>,
    stats: QueueStats,
    closed: bool,
}

/// Multi-producer, multi-consumer, drop-oldest queue of capacity >= 1.
#[derive(Debug)]
pub struct FrameQueue<T> {
    capacity: usize,
    inner: Mutex<Inner<T>>,
    ready: Condvar,
}

/// What [`FrameQueue::pop`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Popped<T> {
    Item(T),
    Timeout,
    /// Closed and drained.
    Closed,
}

impl<T> FrameQueue<T> {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner {
                items: VecDeque::new(),
                stats: QueueStats::default(),
                closed: false,
            }),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        // A panic while holding this lock leaves only a VecDeque and counters behind, which are
        // consistent at every await point, so the poison can be ignored.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an item, dropping the oldest one if full. Returns false (and drops `item`) if closed.
    pub fn push(&self, item: T) -> bool {
        let mut g = self.lock();
        if g.closed {
            return false;
        }
        if g.items.len() == self.capacity {
            g.items.pop_front();
            g.stats.dropped += 1;
        }
        g.items.push_back(item);
        g.stats.pushed += 1;
        drop(g);
        self.ready.notify_one();
        true
    }

    /// Waits up to `timeout` for an item.
    pub fn pop(&self, timeout: Duration) -> Popped<T> {
        let deadline = Instant::now() + timeout;
        let mut g = self.lock();
        loop {
            if let Some(item) = g.items.pop_front() {
                return Popped::Item(item);
            }
            if g.closed {
                return Popped::Closed;
            }
            let now = Instant::now();
            if now >= deadline {
                return Popped::Timeout;
            }
            g = self
                .ready
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// No more pushes; pops drain what is left, then see `Closed`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    pub fn stats(&self) -> QueueStats {
        self.lock().stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_the_oldest_when_full() {
        let q = FrameQueue::new(2);
        for i in 0..5 {
            assert!(q.push(i));
        }
        assert_eq!(
            q.stats(),
            QueueStats {
                pushed: 5,
                dropped: 3
            }
        );
        assert_eq!(q.pop(Duration::ZERO), Popped::Item(3));
        assert_eq!(q.pop(Duration::ZERO), Popped::Item(4));
        assert_eq!(q.pop(Duration::ZERO), Popped::Timeout);
    }

    #[test]
    fn close_drains_then_reports_closed() {
        let q = FrameQueue::new(4);
        q.push(1);
        q.close();
        assert!(!q.push(2));
        assert_eq!(q.pop(Duration::ZERO), Popped::Item(1));
        assert_eq!(q.pop(Duration::from_secs(5)), Popped::Closed);
    }

    #[test]
    fn pop_wakes_when_another_thread_pushes() {
        let q = std::sync::Arc::new(FrameQueue::new(1));
        let q2 = q.clone();
        let t = std::thread::spawn(move || q2.pop(Duration::from_secs(10)));
        q.push(7);
        assert_eq!(t.join().expect("popper thread"), Popped::Item(7));
    }
}

/// The newest due frame of each camera, for detection: bounded (one frame per camera), fair (a
/// busy camera cannot crowd out a quiet one), drop-oldest per camera (a replaced frame is
/// counted), and a take returns one frame per waiting camera: a ready-made batch. Beside the
/// frames, the cameras whose due frame was skipped because nothing moved ([`FrameSlots::put_idle`]):
/// their rules still advance with no detections.
#[derive(Debug, Default)]
pub struct FrameSlots {
    inner: Mutex<SlotsInner>,
    ready: Condvar,
    /// Signalled when frames are taken or cleared (for [`FrameSlots::put_when_free`]).
    taken: Condvar,
}

#[derive(Debug, Default)]
struct SlotsInner {
    slots: std::collections::BTreeMap<sharpeyes_core::CameraId, sharpeyes_core::Frame>,
    /// Cameras with an idle frame (motion gating skipped it) not yet taken; at most one entry
    /// per camera.
    idle: std::collections::BTreeSet<sharpeyes_core::CameraId>,
    replaced: u64,
}

impl FrameSlots {
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts `frame` in its camera's slot; true if it replaced an older frame not yet taken.
    pub fn put(&self, frame: sharpeyes_core::Frame) -> bool {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let replaced = g.slots.insert(frame.camera.clone(), frame).is_some();
        if replaced {
            g.replaced += 1;
        }
        drop(g);
        self.ready.notify_one();
        replaced
    }

    /// Waits up to `timeout` for the camera's slot to be free, then puts `frame` (replacing
    /// the waiting one if it is still there). Backpressure instead of drops, for a source that
    /// can wait (a file decoded as fast as detection takes its frames); true if it replaced.
    pub fn put_when_free(&self, frame: sharpeyes_core::Frame, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        while g.slots.contains_key(&frame.camera) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            g = self
                .taken
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        drop(g);
        self.put(frame)
    }

    /// Waits up to `timeout` for at least one frame, then takes up to `max` (oldest first).
    pub fn take(&self, max: usize, timeout: Duration) -> Vec<sharpeyes_core::Frame> {
        self.take_batch(max, timeout, Duration::ZERO)
    }

    /// Waits up to `timeout` for a first frame, then up to `max_wait` more for the batch to
    /// fill to `max` frames (frames of other cameras), then takes up to `max`, oldest first.
    /// `max_wait` trades a little latency for fuller batches on models with a dynamic batch.
    pub fn take_batch(
        &self,
        max: usize,
        timeout: Duration,
        max_wait: Duration,
    ) -> Vec<sharpeyes_core::Frame> {
        let deadline = Instant::now() + timeout;
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        while g.slots.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                return Vec::new();
            }
            g = self
                .ready
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let fill_deadline = Instant::now() + max_wait;
        while g.slots.len() < max.max(1) {
            let now = Instant::now();
            if now >= fill_deadline {
                break;
            }
            g = self
                .ready
                .wait_timeout(g, fill_deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let mut cams: Vec<_> = g.slots.iter().map(|(k, f)| (f.time, k.clone())).collect();
        cams.sort();
        let batch = cams
            .into_iter()
            .take(max.max(1))
            .filter_map(|(_, k)| g.slots.remove(&k))
            .collect();
        drop(g);
        self.taken.notify_all();
        batch
    }

    /// Marks that `camera` had a due frame that nothing moved in (motion gating skipped it).
    /// Bounded like the frames: one mark per camera until [`FrameSlots::take_idle`]. Wakes no
    /// one: the analysis loop takes the marks at its next round.
    pub fn put_idle(&self, camera: &sharpeyes_core::CameraId) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if !g.idle.contains(camera) {
            g.idle.insert(camera.clone());
        }
    }

    /// Takes the cameras marked idle since the last call, in id order.
    pub fn take_idle(&self) -> Vec<sharpeyes_core::CameraId> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut g.idle).into_iter().collect()
    }

    /// Drops a camera's waiting frame and idle mark (the camera was stopped).
    pub fn clear(&self, camera: &sharpeyes_core::CameraId) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.slots.remove(camera);
        g.idle.remove(camera);
        drop(g);
        self.taken.notify_all();
    }

    /// Frames replaced before detection took them, over all cameras.
    pub fn replaced(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replaced
    }
}

#[cfg(test)]
mod slot_tests {
    use sharpeyes_core::{Frame, UnixMillis};

    use super::*;

    fn camera_id(id: &str) -> sharpeyes_core::CameraId {
        sharpeyes_core::CameraId::new(id).expect("id")
    }

    fn frame(cam: &str, t: i64) -> Frame {
        let mut f = sharpeyes_core::testing::grey_frame(cam, (1, 1), (1, 1), |_, _| 0);
        f.seq = t as u64;
        f.time = UnixMillis(t);
        f
    }

    #[test]
    fn idle_marks_are_one_per_camera_taken_once_and_cleared_with_the_camera() {
        let s = FrameSlots::new();
        let (a, b) = (camera_id("a"), camera_id("b"));
        s.put_idle(&b);
        s.put_idle(&a);
        s.put_idle(&b);
        assert_eq!(s.take_idle(), vec![a.clone(), b.clone()]);
        assert!(s.take_idle().is_empty());
        s.put_idle(&a);
        s.clear(&a);
        assert!(
            s.take_idle().is_empty(),
            "a stopped camera's mark goes with it"
        );
        assert!(
            s.take(8, Duration::ZERO).is_empty(),
            "idle marks are not frames"
        );
    }

    #[test]
    fn a_busy_camera_replaces_its_own_frame_only() {
        let s = FrameSlots::new();
        assert!(!s.put(frame("a", 1)));
        assert!(!s.put(frame("b", 2)));
        assert!(s.put(frame("a", 3)));
        let batch = s.take(8, Duration::ZERO);
        let got: Vec<(String, i64)> = batch
            .iter()
            .map(|f| (f.camera.to_string(), f.time.0))
            .collect();
        assert_eq!(got, vec![("b".to_string(), 2), ("a".to_string(), 3)]);
        assert_eq!(s.replaced(), 1);
        assert!(s.take(8, Duration::ZERO).is_empty());
    }

    #[test]
    fn put_when_free_waits_for_the_take_instead_of_replacing() {
        let s = std::sync::Arc::new(FrameSlots::new());
        assert!(!s.put_when_free(frame("a", 1), Duration::ZERO));
        let s2 = s.clone();
        let putter =
            std::thread::spawn(move || s2.put_when_free(frame("a", 2), Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(50));
        assert!(!putter.is_finished(), "the slot is taken: the putter waits");
        let first = s.take(8, Duration::ZERO);
        assert!(!putter.join().expect("putter"), "nothing replaced");
        let second = s.take(8, Duration::from_secs(1));
        assert_eq!((first[0].time.0, second[0].time.0), (1, 2));
        assert_eq!(s.replaced(), 0);
        // A slot nobody takes: the wait ends at the timeout and the frame replaces.
        assert!(s.put_when_free(frame("b", 3), Duration::ZERO) == false);
        assert!(s.put_when_free(frame("b", 4), Duration::from_millis(20)));
    }

    #[test]
    fn take_batch_waits_for_other_cameras_up_to_max_wait() {
        let s = std::sync::Arc::new(FrameSlots::new());
        s.put(frame("a", 1));
        let s2 = s.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            s2.put(frame("b", 2));
        });
        let batch = s.take_batch(2, Duration::from_secs(1), Duration::from_secs(5));
        t.join().expect("putter");
        assert_eq!(batch.len(), 2, "waited for b");
        // Nobody else comes: max_wait bounds the wait.
        s.put(frame("c", 3));
        let started = std::time::Instant::now();
        assert_eq!(
            s.take_batch(4, Duration::from_secs(1), Duration::from_millis(50))
                .len(),
            1
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn take_respects_max_oldest_first() {
        let s = FrameSlots::new();
        s.put(frame("a", 5));
        s.put(frame("b", 1));
        s.put(frame("c", 3));
        let batch = s.take(2, Duration::ZERO);
        assert_eq!(
            batch.iter().map(|f| f.time.0).collect::<Vec<_>>(),
            vec![1, 3]
        );
    }
}
