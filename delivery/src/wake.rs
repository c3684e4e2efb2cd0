//! A background thread's wake-up call and stop flag: the handle wakes it (more to do) or stops
//! it; the thread sleeps between rounds until woken, stopped, or the time is up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

#[derive(Debug, Default)]
pub(crate) struct Wake {
    stop: AtomicBool,
    /// Set by [`Wake::wake`], cleared by the sleeper: a wake-up before the sleep is not lost.
    woken: Mutex<bool>,
    cv: Condvar,
}

impl Wake {
    /// Ends the current (or the next) sleep early.
    pub(crate) fn wake(&self) {
        *self.woken.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
    }

    /// Tells the thread to stop, and wakes it.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wake();
    }

    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Sleeps for `d`, or until woken or stopped.
    pub(crate) fn sleep(&self, d: Duration) {
        let guard = self.woken.lock().unwrap_or_else(|p| p.into_inner());
        let (mut woken, _) = self
            .cv
            .wait_timeout_while(guard, d, |w| !*w && !self.stopped())
            .unwrap_or_else(|p| p.into_inner());
        *woken = false;
    }
}
