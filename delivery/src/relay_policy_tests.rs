//! [`RelayPolicy`] driven by a simulated clock ([`ManualClock`]: `sleep` moves it on at once),
//! as the relay drives it with the wall clock and librdkafka.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use proptest::prelude::*;
use sharpeyes_core::{Clock, ManualClock, UnixMillis};

use super::*;

const START: UnixMillis = UnixMillis(1_795_459_860_000);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A policy whose producer is up, with `ids` enqueued (events are their ids).
fn connected_with(clock: &ManualClock, ids: &[&str]) -> RelayPolicy<String> {
    let mut p = RelayPolicy::new(clock.now());
    assert!(
        p.connect_due(clock.now()),
        "the first attempt is due at once"
    );
    p.producer_built(clock.now());
    for id in ids {
        p.enqueue(*id, (*id).to_owned());
    }
    p
}

/// Offers and sends up to `max` events now, as the relay's send loop does; their ids.
fn send(p: &mut RelayPolicy<String>, now: UnixMillis, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < max {
        let Some(id) = p.next_to_send(now).cloned() else {
            break;
        };
        assert!(p.sent());
        out.push(id);
    }
    out
}

fn send_all(p: &mut RelayPolicy<String>, now: UnixMillis) -> Vec<String> {
    send(p, now, usize::MAX)
}

#[test]
fn backoff_doubles_from_base_to_cap_and_starts_over_after_reset() {
    let mut b = Backoff::new(secs(1), secs(30));
    let delays: Vec<u64> = (0..8).map(|_| b.next_delay().as_secs()).collect();
    assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
    assert_eq!(b.failures(), 8);
    b.reset();
    assert_eq!(b.next_delay(), secs(1));
    assert_eq!(b.delay(u32::MAX), secs(30), "no overflow far past the cap");
    assert_eq!(
        Backoff::new(secs(5), secs(1)).delay(0),
        secs(5),
        "cap raised to base"
    );
}

proptest! {
    #[test]
    fn backoff_never_shrinks_and_stays_between_base_and_cap(
        base_ms in 1u64..10_000,
        cap_ms in 0u64..600_000,
        n in 0usize..80,
    ) {
        let mut b = Backoff::new(Duration::from_millis(base_ms), Duration::from_millis(cap_ms));
        let cap = Duration::from_millis(cap_ms.max(base_ms));
        let mut last = Duration::ZERO;
        for _ in 0..n {
            let d = b.next_delay();
            prop_assert!(d >= last && d >= Duration::from_millis(base_ms) && d <= cap);
            last = d;
        }
        if n >= 64 {
            prop_assert_eq!(last, cap, "reaches the cap");
        }
    }
}

#[test]
fn a_refused_delivery_is_sent_again_after_the_backoff_and_done_only_when_delivered() {
    let clock = ManualClock::new(START);
    let mut p = connected_with(&clock, &["a", "b"]);
    assert_eq!(send_all(&mut p, clock.now()), ["a", "b"]);
    assert_eq!(
        p.failed("a", DeliveryFailure::Refused, clock.now()),
        Some(secs(1))
    );
    assert_eq!(p.unacknowledged(), 2, "a refused event is still owed");
    assert_eq!(p.next_retry_at(), Some(clock.now().plus_ms(1000)));
    assert!(p.delivered("b"));
    clock.sleep(Duration::from_millis(999));
    assert_eq!(p.next_to_send(clock.now()), None, "not before its backoff");
    clock.sleep(Duration::from_millis(1));
    assert_eq!(
        send_all(&mut p, clock.now()),
        ["a"],
        "sent again once it is due"
    );
    assert_eq!(p.unacknowledged(), 1, "sent again is not delivered");
    assert!(!p.delivered("b"), "b was acknowledged already");
    assert!(p.delivered("a"));
    assert_eq!(p.unacknowledged(), 0);
    assert!(!p.delivered("a"), "one send, one acknowledgement");
    assert!(!p.delivered("never-sent"));
    assert_eq!(
        p.failed("never-sent", DeliveryFailure::Refused, clock.now()),
        None
    );
}

#[test]
fn repeated_refusals_back_off_to_the_cap_while_other_events_flow_and_recover() {
    let clock = ManualClock::new(START);
    let mut p = connected_with(&clock, &["poison"]);
    assert_eq!(send_all(&mut p, clock.now()), ["poison"]);
    let mut waits = Vec::new();
    for i in 0..8 {
        let wait = p
            .failed("poison", DeliveryFailure::Refused, clock.now())
            .expect("in flight");
        waits.push(wait.as_secs());
        // Meanwhile new events are not held up behind it.
        let fresh = format!("fresh-{i}");
        p.enqueue(fresh.clone(), fresh.clone());
        assert_eq!(send_all(&mut p, clock.now()), std::slice::from_ref(&fresh));
        assert!(p.delivered(&fresh));
        clock.sleep(wait - Duration::from_millis(1));
        assert_eq!(p.next_to_send(clock.now()), None, "refusal {i}: too early");
        clock.sleep(Duration::from_millis(1));
        assert_eq!(send_all(&mut p, clock.now()), ["poison"], "refusal {i}");
    }
    assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
    assert!(p.delivered("poison"), "it finally went");
    assert_eq!(p.unacknowledged(), 0);
    // The backoff belongs to the event: the next one refused starts from 1 s.
    p.enqueue("next", "next".to_owned());
    assert_eq!(send_all(&mut p, clock.now()), ["next"]);
    assert_eq!(
        p.failed("next", DeliveryFailure::Refused, clock.now()),
        Some(secs(1))
    );
}

#[test]
fn events_given_back_by_a_lost_producer_go_again_at_once_in_send_order() {
    let clock = ManualClock::new(START);
    let mut p = connected_with(&clock, &["a", "b", "c", "d"]);
    assert_eq!(send(&mut p, clock.now(), 3), ["a", "b", "c"]);
    assert_eq!(
        p.failed("c", DeliveryFailure::ProducerLost, clock.now()),
        Some(Duration::ZERO)
    );
    assert_eq!(
        p.failed("a", DeliveryFailure::ProducerLost, clock.now()),
        Some(Duration::ZERO)
    );
    assert_eq!(
        send_all(&mut p, clock.now()),
        ["a", "c", "d"],
        "given back ones first, in the order they were sent, then the new one"
    );
}

#[test]
fn a_fatal_error_asks_for_exactly_one_rebuild_and_the_in_flight_go_again_first() {
    let clock = ManualClock::new(START);
    let mut p = connected_with(&clock, &["a", "b", "c", "d", "e"]);
    assert_eq!(send(&mut p, clock.now(), 4), ["a", "b", "c", "d"]);
    assert!(p.delivered("a"));
    assert_eq!(
        p.failed("d", DeliveryFailure::Refused, clock.now()),
        Some(secs(1))
    );

    assert!(p.fatal(clock.now()), "the first report asks for a rebuild");
    assert!(
        !p.fatal(clock.now()),
        "the second sink's report of it does not"
    );
    assert!(p.rebuild_needed());
    assert!(!p.connected(), "a broken producer is not connected");
    assert_eq!(
        p.next_to_send(clock.now()),
        None,
        "nothing for a broken producer"
    );
    assert!(!p.connect_due(clock.now()), "not before it is dropped");

    // Dropping it purges its queue: what it answered while going is told first.
    assert!(p.delivered("b"), "acknowledged just before: not sent again");
    assert_eq!(
        p.failed("c", DeliveryFailure::ProducerLost, clock.now()),
        Some(Duration::ZERO)
    );
    assert_eq!(p.producer_dropped(clock.now()), Duration::ZERO);
    assert!(!p.rebuild_needed());
    assert!(!p.fatal(clock.now()), "no producer to break");
    assert!(p.connect_due(clock.now()), "rebuilt at once");
    p.producer_built(clock.now());
    assert!(p.connected());
    assert_eq!(send_all(&mut p, clock.now()), ["c", "e"]);
    clock.sleep(secs(1));
    assert_eq!(
        send_all(&mut p, clock.now()),
        ["d"],
        "a refused one keeps its backoff across the rebuild"
    );
    for id in ["c", "d", "e"] {
        assert!(p.delivered(id), "{id}");
    }
    assert_eq!(p.unacknowledged(), 0);
}

#[test]
fn what_a_fatal_error_leaves_in_flight_is_sent_again_after_the_rebuild() {
    let clock = ManualClock::new(START);
    let mut p = connected_with(&clock, &["a", "b", "c"]);
    assert_eq!(send(&mut p, clock.now(), 2), ["a", "b"]);
    assert!(p.fatal(clock.now()));
    // The dropped producer reported nothing: both are still owed.
    p.producer_dropped(clock.now());
    assert_eq!(p.in_flight(), 0);
    assert_eq!(p.unacknowledged(), 3);
    assert!(!p.delivered("a"), "a late answer about the dropped send");
    p.producer_built(clock.now());
    assert_eq!(send_all(&mut p, clock.now()), ["a", "b", "c"]);
    assert!(p.delivered("a") && p.delivered("b") && p.delivered("c"));
}

#[test]
fn a_producer_that_keeps_breaking_is_rebuilt_after_a_growing_wait() {
    let clock = ManualClock::new(START);
    let mut p = connected_with(&clock, &["a"]);
    let mut waits = Vec::new();
    for _ in 0..4 {
        assert!(p.fatal(clock.now()));
        let wait = p.producer_dropped(clock.now());
        waits.push(wait.as_secs());
        if !wait.is_zero() {
            clock.sleep(wait - Duration::from_millis(1));
            assert!(!p.connect_due(clock.now()));
            clock.sleep(Duration::from_millis(1));
        }
        assert!(p.connect_due(clock.now()));
        p.producer_built(clock.now());
    }
    assert_eq!(waits, [0, 1, 2, 4]);
    // A delivery shows the producer works: the next fatal error rebuilds at once again.
    assert_eq!(send_all(&mut p, clock.now()), ["a"]);
    assert!(p.delivered("a"));
    assert!(p.fatal(clock.now()));
    assert_eq!(p.producer_dropped(clock.now()), Duration::ZERO);
}

#[test]
fn connection_attempts_back_off_to_the_cap_and_start_over_after_a_connection() {
    let clock = ManualClock::new(START);
    let mut p: RelayPolicy<String> = RelayPolicy::new(clock.now());
    p.enqueue("a", "a".to_owned());
    let mut waits = Vec::new();
    for _ in 0..7 {
        assert!(p.connect_due(clock.now()));
        let wait = p.connect_failed(clock.now());
        waits.push(wait.as_secs());
        assert!(!p.connected());
        assert_eq!(p.next_to_send(clock.now()), None, "no producer");
        clock.sleep(wait - Duration::from_millis(1));
        assert!(!p.connect_due(clock.now()));
        clock.sleep(Duration::from_millis(1));
    }
    assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
    p.producer_built(clock.now());
    assert!(!p.connect_due(clock.now()), "connected");
    assert_eq!(send_all(&mut p, clock.now()), ["a"], "what waited goes");
    assert!(p.fatal(clock.now()));
    p.producer_dropped(clock.now());
    assert_eq!(p.connect_failed(clock.now()), secs(1), "starts over");
}

#[test]
fn the_connected_gauge_drops_when_the_brokers_go_and_comes_back_with_them() {
    let clock = ManualClock::new(START);
    let mut p: RelayPolicy<String> = RelayPolicy::new(clock.now());
    assert!(!p.connected(), "no producer yet");
    p.connect_failed(clock.now());
    assert!(!p.connected());
    clock.sleep(secs(1));
    p.producer_built(clock.now());
    assert!(p.connected());
    assert!(!p.probe_due(clock.now()), "no probing while brokers answer");

    p.set_brokers_down(true);
    assert!(!p.connected(), "every broker down: disconnected");
    assert!(p.probe_due(clock.now()), "asks at once");
    assert!(!p.probe_due(clock.now()), "then not again at once");
    clock.sleep(PROBE_INTERVAL - Duration::from_millis(1));
    assert!(!p.probe_due(clock.now()));
    clock.sleep(Duration::from_millis(1));
    assert!(p.probe_due(clock.now()), "every 2 s while down");
    p.set_brokers_down(false);
    assert!(p.connected(), "a broker answers again");
    assert!(!p.probe_due(clock.now().plus_ms(10_000)));

    p.set_brokers_down(true);
    assert!(p.fatal(clock.now()));
    p.producer_dropped(clock.now());
    assert!(!p.connected());
    p.producer_built(clock.now());
    assert!(p.connected(), "a new producer starts connected");
}

#[test]
fn untracked_events_are_done_with_once_the_producer_takes_them() {
    let clock = ManualClock::new(START);
    let mut p = RelayPolicy::new(clock.now()).untracked();
    p.producer_built(clock.now());
    p.enqueue("a", "a".to_owned());
    assert_eq!(send_all(&mut p, clock.now()), ["a"]);
    assert_eq!(p.unacknowledged(), 0);
    assert!(!p.delivered("a"));
}

#[test]
fn an_id_sent_twice_is_acknowledged_twice() {
    let clock = ManualClock::new(START);
    let mut p = connected_with(&clock, &["x", "x"]);
    assert_eq!(send_all(&mut p, clock.now()), ["x", "x"]);
    assert!(p.delivered("x"));
    assert_eq!(p.in_flight(), 1);
    assert!(p.delivered("x"));
    assert!(!p.delivered("x"));
    assert_eq!(p.unacknowledged(), 0);
}

/// One thing that happens to the relay, for the property test.
#[derive(Clone, Debug)]
enum Step {
    Enqueue,
    Connect(bool),
    Send(usize),
    /// The broker answers the n-th (mod in flight) send in flight.
    Deliver(usize),
    Fail(usize, DeliveryFailure),
    /// An answer about an id not in flight (late, or never sent).
    StrayAnswer(usize, bool),
    Fatal,
    /// The relay drops a broken producer after telling the failures (n-th in flight, mod) it
    /// reported while going.
    Rebuild(Vec<usize>),
    BrokersDown(bool),
    Wait(u64),
}

fn step() -> impl Strategy<Value = Step> {
    let failure = prop_oneof![
        Just(DeliveryFailure::Refused),
        Just(DeliveryFailure::ProducerLost)
    ];
    prop_oneof![
        3 => Just(Step::Enqueue),
        1 => any::<bool>().prop_map(Step::Connect),
        3 => (0usize..4).prop_map(Step::Send),
        3 => any::<usize>().prop_map(Step::Deliver),
        2 => (any::<usize>(), failure).prop_map(|(i, f)| Step::Fail(i, f)),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(i, ok)| Step::StrayAnswer(i, ok)),
        1 => Just(Step::Fatal),
        1 => proptest::collection::vec(any::<usize>(), 0..3).prop_map(Step::Rebuild),
        1 => any::<bool>().prop_map(Step::BrokersDown),
        2 => (0u64..40_000).prop_map(Step::Wait),
    ]
}

proptest! {
    /// Whatever happens, in whatever order: every event is acknowledged exactly once in the
    /// end, never while it is not in flight; new events are first sent in enqueue order;
    /// nothing is offered to a broken or absent producer; a fatal error asks for one rebuild.
    #[test]
    fn no_event_is_lost_or_acknowledged_twice_whatever_happens(
        steps in proptest::collection::vec(step(), 0..120),
    ) {
        let clock = ManualClock::new(START);
        let mut p: RelayPolicy<String> = RelayPolicy::new(clock.now());
        let mut enqueued = 0usize;
        // What the test knows is in flight, in send order.
        let mut in_flight: Vec<String> = Vec::new();
        let mut acked: HashMap<String, usize> = HashMap::new();
        let mut first_sends: Vec<usize> = Vec::new();
        let mut ever_sent: HashSet<String> = HashSet::new();
        let mut up = false;
        let mut rebuilds_asked = 0usize;
        let mut fatals_while_up = 0usize;
        for s in steps {
            let now = clock.now();
            match s {
                Step::Enqueue => {
                    p.enqueue(format!("e{enqueued}"), format!("e{enqueued}"));
                    enqueued += 1;
                }
                Step::Connect(ok) => {
                    if p.connect_due(now) {
                        if ok {
                            p.producer_built(now);
                            up = true;
                        } else {
                            prop_assert!(p.connect_failed(now) >= secs(1));
                        }
                    }
                }
                Step::Send(n) => {
                    let sent = send(&mut p, now, n);
                    prop_assert!(up || sent.is_empty(), "offered to no producer");
                    for id in sent {
                        if ever_sent.insert(id.clone()) {
                            first_sends.push(id[1..].parse().expect("e<n>"));
                        }
                        in_flight.push(id);
                    }
                }
                Step::Deliver(i) if !in_flight.is_empty() => {
                    let id = in_flight.remove(i % in_flight.len());
                    prop_assert!(p.delivered(&id), "{} in flight", id);
                    *acked.entry(id).or_default() += 1;
                }
                Step::Fail(i, kind) if !in_flight.is_empty() => {
                    let id = in_flight.remove(i % in_flight.len());
                    prop_assert!(p.failed(&id, kind, now).is_some());
                }
                Step::Deliver(_) | Step::Fail(..) => {}
                Step::StrayAnswer(i, ok) => {
                    let id = format!("e{}", i % (enqueued + 1));
                    if !in_flight.contains(&id) {
                        if ok {
                            prop_assert!(!p.delivered(&id), "{} not in flight", id);
                        } else {
                            prop_assert_eq!(p.failed(&id, DeliveryFailure::Refused, now), None);
                        }
                    }
                }
                Step::Fatal => {
                    if up {
                        fatals_while_up += 1;
                    }
                    if p.fatal(now) {
                        rebuilds_asked += 1;
                        up = false;
                    }
                    prop_assert!(!p.connected());
                    prop_assert!(p.next_to_send(now).is_none());
                }
                Step::Rebuild(purged) => {
                    if p.rebuild_needed() {
                        for i in purged {
                            if !in_flight.is_empty() {
                                let id = in_flight.remove(i % in_flight.len());
                                prop_assert_eq!(
                                    p.failed(&id, DeliveryFailure::ProducerLost, now),
                                    Some(Duration::ZERO)
                                );
                            }
                        }
                        p.producer_dropped(now);
                        in_flight.clear();
                    }
                }
                Step::BrokersDown(down) => {
                    p.set_brokers_down(down);
                    prop_assert_eq!(p.connected(), up && !down);
                }
                Step::Wait(ms) => clock.advance_ms(ms as i64),
            }
            prop_assert_eq!(p.in_flight(), in_flight.len());
            let done: usize = acked.values().sum();
            prop_assert_eq!(p.unacknowledged(), enqueued - done, "nothing lost, nothing done early");
        }
        prop_assert_eq!(rebuilds_asked, fatals_while_up, "one rebuild per producer that broke");
        // Then the broker behaves: everything owed gets through.
        for _ in 0..100 {
            if p.unacknowledged() == 0 {
                break;
            }
            let now = clock.now();
            if p.rebuild_needed() {
                p.producer_dropped(now);
                in_flight.clear();
            }
            if p.connect_due(now) {
                p.producer_built(now);
            }
            for id in send_all(&mut p, now) {
                prop_assert!(p.delivered(&id));
                *acked.entry(id).or_default() += 1;
            }
            for id in in_flight.drain(..) {
                prop_assert!(p.delivered(&id));
                *acked.entry(id).or_default() += 1;
            }
            clock.sleep(secs(1));
        }
        prop_assert_eq!(p.unacknowledged(), 0);
        prop_assert_eq!(acked.len(), enqueued, "every event acknowledged");
        prop_assert!(acked.values().all(|&n| n == 1), "and only once: {:?}", acked);
        prop_assert!(
            first_sends.windows(2).all(|w| w[0] < w[1]),
            "new events first sent in enqueue order: {:?}",
            first_sends
        );
    }
}
