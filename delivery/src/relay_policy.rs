//! The outbox relay's decisions, apart from its I/O. Pure: no clock, no librdkafka, no files;
//! times come in as arguments. [`crate::relay`] drives a [`RelayPolicy`] with the wall clock
//! and rdkafka; the tests at the bottom drive it with a simulated clock.
//!
//! What it decides: which event to offer the producer next, when an event whose delivery
//! failed is offered again ([`Backoff`], per event), when to build the producer and when to
//! rebuild it after a fatal error, when to probe brokers that are all down, and the `connected`
//! gauge. What it keeps, whatever the order of events:
//! - nothing is lost: an event leaves the policy only through [`RelayPolicy::delivered`] (the
//!   broker acknowledged it); a failure, a fatal error or a dropped producer sends it again;
//! - nothing counts as delivered before it is: `delivered` for an id not in flight is ignored,
//!   and each send is acknowledged at most once;
//! - order: new events go out in the order they were enqueued (outbox order); events sent
//!   again go before new ones, in the order they were first sent.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use sharpeyes_core::UnixMillis;

/// Without jitter: the relay is one client per process; there is no herd to spread out.
pub use sharpeyes_core::Backoff;

/// Connecting to Kafka: 1 s, doubling to 30 s.
pub const CONNECT_BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));

/// Sending again an event the producer refused ([`DeliveryFailure::Refused`]), counted per
/// event; also the wait before a rebuild after a second fatal error in a row: 1 s, doubling to
/// 30 s.
pub const RETRY_BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));

/// While every broker is down, how often the relay asks whether one is back.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// Why the producer gave an event back undelivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryFailure {
    /// The broker or librdkafka refused this event (message too large, topic gone, not
    /// authorized, ...). Offered again after a backoff that grows with each refusal of it, so
    /// an event that can never go does not spin, and the others keep flowing meanwhile.
    Refused,
    /// The producer is gone (a fatal error, or purged when it was dropped): not the event's
    /// fault. Offered again as soon as there is a producer. Asks for no rebuild by itself:
    /// [`RelayPolicy::fatal`] does.
    ProducerLost,
}

#[derive(Debug)]
struct Entry<T> {
    id: String,
    item: T,
    /// [`DeliveryFailure::Refused`] answers for this event so far.
    refusals: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Producer {
    /// None; the next attempt to build one is due at this time.
    Absent {
        next_attempt: UnixMillis,
    },
    Up,
    /// Hit a fatal error: delivers nothing more and is to be dropped and built again.
    Broken,
}

/// The relay's state machine over events of type `T` (the relay's [`sharpeyes_core::Event`]),
/// each known by its id. See the module docs for what it keeps.
///
/// The relay, on every turn: [`enqueue`](Self::enqueue) what it read from the outbox, reports
/// [`delivered`](Self::delivered) / [`failed`](Self::failed) outcomes and a
/// [`fatal`](Self::fatal) error, drops the producer when [`rebuild_needed`](Self::rebuild_needed)
/// (then [`producer_dropped`](Self::producer_dropped)), builds one when
/// [`connect_due`](Self::connect_due) ([`producer_built`](Self::producer_built) /
/// [`connect_failed`](Self::connect_failed)), offers [`next_to_send`](Self::next_to_send) and
/// reports [`sent`](Self::sent), reports [`set_brokers_down`](Self::set_brokers_down) and
/// probes when [`probe_due`](Self::probe_due). [`connected`](Self::connected) is the gauge.
#[derive(Debug)]
pub struct RelayPolicy<T> {
    /// Whether delivery outcomes will come (the relay has an ack log). Without them a sent
    /// event is done with as soon as the producer took it.
    track: bool,
    /// New events, in enqueue order.
    queue: VecDeque<Entry<T>>,
    /// To send again now, by the sequence number of their last send.
    again: BTreeMap<u64, Entry<T>>,
    /// Refused, waiting for their backoff: by (due, sequence number of their last send).
    waiting: BTreeMap<(UnixMillis, u64), Entry<T>>,
    /// Taken by the producer and not yet acknowledged, by send sequence number.
    in_flight: BTreeMap<u64, Entry<T>>,
    /// In-flight sequence numbers of each id, oldest first (an id sent twice is acked twice).
    in_flight_seqs: HashMap<String, VecDeque<u64>>,
    next_seq: u64,
    producer: Producer,
    connect_backoff: Backoff,
    retry_backoff: Backoff,
    /// Fatal errors since the last delivery.
    fatal_streak: u32,
    brokers_down: bool,
    next_probe: UnixMillis,
}

impl<T> RelayPolicy<T> {
    /// A policy with nothing queued and no producer; the first connection attempt is due at
    /// `start`. Delivery outcomes are expected (see [`RelayPolicy::untracked`]).
    pub fn new(start: UnixMillis) -> Self {
        Self {
            track: true,
            queue: VecDeque::new(),
            again: BTreeMap::new(),
            waiting: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            in_flight_seqs: HashMap::new(),
            next_seq: 0,
            producer: Producer::Absent {
                next_attempt: start,
            },
            connect_backoff: CONNECT_BACKOFF,
            retry_backoff: RETRY_BACKOFF,
            fatal_streak: 0,
            brokers_down: false,
            next_probe: start,
        }
    }

    /// No delivery outcomes will come (no ack log): an event is done with once the producer
    /// took it, and a fatal error has nothing to send again.
    pub fn untracked(mut self) -> Self {
        self.track = false;
        self
    }

    /// A new event to send, after every one enqueued before it.
    pub fn enqueue(&mut self, id: impl Into<String>, item: T) {
        self.queue.push_back(Entry {
            id: id.into(),
            item,
            refusals: 0,
        });
    }

    /// The event to offer the producer now, if there is a working producer and an event whose
    /// time has come: first those to send again (in the order they were sent), then new ones.
    /// Tell [`RelayPolicy::sent`] when the producer took it; when it did not (its queue is full),
    /// tell nothing: the same event is offered next time.
    pub fn next_to_send(&mut self, now: UnixMillis) -> Option<&T> {
        if self.producer != Producer::Up {
            return None;
        }
        while let Some(entry) = self.waiting.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, seq), e) = entry.remove_entry();
            self.again.insert(seq, e);
        }
        self.again
            .first_key_value()
            .map(|(_, e)| &e.item)
            .or_else(|| self.queue.front().map(|e| &e.item))
    }

    /// The producer took the event [`RelayPolicy::next_to_send`] offered: it is in flight until
    /// the broker answers. False when there was none.
    pub fn sent(&mut self) -> bool {
        let Some(entry) = self
            .again
            .pop_first()
            .map(|(_, e)| e)
            .or_else(|| self.queue.pop_front())
        else {
            return false;
        };
        if self.track {
            let seq = self.next_seq;
            self.next_seq += 1;
            self.in_flight_seqs
                .entry(entry.id.clone())
                .or_default()
                .push_back(seq);
            self.in_flight.insert(seq, entry);
        }
        true
    }

    /// Takes the oldest in-flight send of `id`.
    fn take_in_flight(&mut self, id: &str) -> Option<(u64, Entry<T>)> {
        let seqs = self.in_flight_seqs.get_mut(id)?;
        let seq = seqs.pop_front()?;
        if seqs.is_empty() {
            self.in_flight_seqs.remove(id);
        }
        let entry = self.in_flight.remove(&seq)?;
        Some((seq, entry))
    }

    /// The broker acknowledged `id`: done with its oldest send in flight. False (and nothing
    /// changes) when no send of it is in flight: an answer about a send already given up on
    /// (it goes again anyway) or about an id never sent.
    pub fn delivered(&mut self, id: &str) -> bool {
        if self.take_in_flight(id).is_none() {
            return false;
        }
        self.fatal_streak = 0;
        true
    }

    /// The producer gave `id` back undelivered. Returns how long until it is offered again
    /// (zero: at once), or None when no send of it is in flight (ignored, as in `delivered`).
    pub fn failed(&mut self, id: &str, kind: DeliveryFailure, at: UnixMillis) -> Option<Duration> {
        let (seq, mut entry) = self.take_in_flight(id)?;
        match kind {
            DeliveryFailure::ProducerLost => {
                self.again.insert(seq, entry);
                Some(Duration::ZERO)
            }
            DeliveryFailure::Refused => {
                let delay = self.retry_backoff.delay(entry.refusals);
                entry.refusals = entry.refusals.saturating_add(1);
                self.waiting.insert((plus(at, delay), seq), entry);
                Some(delay)
            }
        }
    }

    /// The producer hit a fatal error (it delivers nothing more). True when this asks for a
    /// rebuild; false when one was asked for already or there is no working producer, so each
    /// producer is rebuilt at most once.
    pub fn fatal(&mut self, _at: UnixMillis) -> bool {
        if self.producer != Producer::Up {
            return false;
        }
        self.producer = Producer::Broken;
        self.fatal_streak = self.fatal_streak.saturating_add(1);
        true
    }

    /// The producer must be dropped and built again.
    pub fn rebuild_needed(&self) -> bool {
        self.producer == Producer::Broken
    }

    /// The producer was dropped (after [`RelayPolicy::fatal`], and after the outcomes it
    /// reported while going were told): what it still had in flight is sent again, first, on
    /// the next one. The next build is due at once after the first fatal error since a
    /// delivery, and after [`RETRY_BACKOFF`] of the repeats, so a producer that keeps breaking
    /// is not rebuilt in a tight loop. Returns how long until that build.
    pub fn producer_dropped(&mut self, at: UnixMillis) -> Duration {
        for (seq, e) in std::mem::take(&mut self.in_flight) {
            self.again.insert(seq, e);
        }
        self.in_flight_seqs.clear();
        let wait = match self.fatal_streak {
            0 | 1 => Duration::ZERO,
            n => self.retry_backoff.delay(n - 2),
        };
        self.producer = Producer::Absent {
            next_attempt: plus(at, wait),
        };
        self.brokers_down = false;
        wait
    }

    /// Whether to try to build a producer now.
    pub fn connect_due(&self, now: UnixMillis) -> bool {
        matches!(self.producer, Producer::Absent { next_attempt } if now >= next_attempt)
    }

    /// Building the producer failed (no broker answered): the next attempt waits
    /// [`CONNECT_BACKOFF`], doubling. Returns that wait.
    pub fn connect_failed(&mut self, at: UnixMillis) -> Duration {
        let wait = self.connect_backoff.next_delay();
        self.producer = Producer::Absent {
            next_attempt: plus(at, wait),
        };
        wait
    }

    /// A producer was built: events are offered to it, and the connect backoff starts over.
    pub fn producer_built(&mut self, _at: UnixMillis) {
        self.producer = Producer::Up;
        self.connect_backoff.reset();
        self.brokers_down = false;
    }

    /// What librdkafka says now: every broker is down (`true`), or one answers again.
    pub fn set_brokers_down(&mut self, down: bool) {
        self.brokers_down = down;
    }

    /// Whether to ask the brokers now whether one is back (every [`PROBE_INTERVAL`] while
    /// all are down); counts as asked.
    pub fn probe_due(&mut self, now: UnixMillis) -> bool {
        if self.producer != Producer::Up || !self.brokers_down || now < self.next_probe {
            return false;
        }
        self.next_probe = plus(now, PROBE_INTERVAL);
        true
    }

    /// The gauge: a working producer and a broker that answers.
    pub fn connected(&self) -> bool {
        self.producer == Producer::Up && !self.brokers_down
    }

    /// Events not yet taken by the producer (new, to send again, waiting for a backoff).
    pub fn queued(&self) -> usize {
        self.queue.len() + self.again.len() + self.waiting.len()
    }

    /// Sends taken by the producer and not yet answered (0 when untracked).
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Events not yet acknowledged: [`RelayPolicy::queued`] + [`RelayPolicy::in_flight`].
    pub fn unacknowledged(&self) -> usize {
        self.queued() + self.in_flight()
    }

    /// When the earliest refused event is due to be offered again, if one waits.
    pub fn next_retry_at(&self) -> Option<UnixMillis> {
        self.waiting.first_key_value().map(|((due, _), _)| *due)
    }
}

fn plus(at: UnixMillis, d: Duration) -> UnixMillis {
    at.plus_ms(i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2))
}

#[cfg(test)]
#[path = "relay_policy_tests.rs"]
mod tests;
