//! `sharpeyes notify` with real parts: the real binary, a tansu broker process, real HTTP
//! receivers on loopback. Alerts are produced by the pipeline's own Kafka sink.
//! Skips with a printed `SKIP:` line when tansu is not installed.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sharpeyes_core::{
    Alert, AlertKind, BBox, CameraId, CameraRef, CameraState, Clock, Detection, Event, EventSink,
    Lifecycle, ModelRef, StatusEvent, SystemClock, UnixMillis,
};
use sharpeyes_delivery::{KafkaOptions, KafkaSink};
use sharpeyes_notify::{
    DLQ_AGE_MS, DLQ_ATTEMPTS, DLQ_GUARDIAN, DLQ_REASON, DLQ_SOURCE, DLQ_STAGE, REASON_STALE,
};
use sharpeyes_sim::{HttpReceiver, ReceivedRequest, consume_n, produce_raw};

mod common;
use common::{BIN, scratch, validate_json};

const ALERTS: &str = "sharpeyes.alerts";
const DLQ: &str = "sharpeyes.alerts.dlq";
const STATUS: &str = "sharpeyes.camera-status";

/// An alert taken `t` ms after half a minute ago (fresh: notify pushes only alerts younger than
/// its max_age, 15 min by default).
fn alert(kind: AlertKind, camera: &str, zone: Option<&str>, t: i64) -> Alert {
    alert_at(kind, camera, zone, SystemClock.now().plus_ms(-30_000 + t))
}

fn alert_at(kind: AlertKind, camera: &str, zone: Option<&str>, at: UnixMillis) -> Alert {
    let person = Detection {
        class_id: 0,
        class_name: "person".into(),
        score: 0.9,
        bbox: BBox {
            x1: 100.0,
            y1: 50.0,
            x2: 200.0,
            y2: 300.0,
        },
        keypoints: Vec::new(),
    };
    let mut a = Alert::new(
        kind,
        CameraId::new(camera).unwrap(),
        at,
        &[person],
        (640, 360),
    );
    a.camera = CameraRef {
        id: a.camera.id.clone(),
        name: format!("{camera} (test)"),
        village: "Xiaohe".into(),
    };
    a.zone = zone.map(str::to_owned);
    a.model = ModelRef {
        name: "yolox_nano".into(),
        version: "test".into(),
    };
    a.message = Some(format!("{} seen", kind.as_str()));
    a
}

fn produce(bootstrap: &str, alerts: &[Alert]) {
    let mut sink = KafkaSink::connect(KafkaOptions::new(bootstrap).topic(ALERTS))
        .expect("connect the producer");
    for a in alerts {
        sink.send(&Event::from(a.clone())).expect("queued");
    }
    sink.flush(Duration::from_secs(20)).expect("acknowledged");
}

/// Starts `sharpeyes notify` on `registry`; stderr goes to `<dir>/notify-<n>.log`.
fn start_notify(dir: &Path, registry: &Path, bootstrap: &str, n: u32) -> Child {
    start_notify_with(dir, registry, bootstrap, n, &[])
}

fn start_notify_with(dir: &Path, registry: &Path, bootstrap: &str, n: u32, args: &[&str]) -> Child {
    let log = std::fs::File::create(dir.join(format!("notify-{n}.log"))).expect("log file");
    Command::new(BIN)
        .current_dir(dir)
        .args(["notify", "--registry"])
        .arg(registry)
        .args(["--kafka", bootstrap])
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start sharpeyes notify")
}

/// SIGTERM, then the exit status and the log.
fn stop_notify(mut child: Child, dir: &Path, n: u32) -> String {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "notify did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(dir.join(format!("notify-{n}.log"))).unwrap_or_default();
    assert!(status.success(), "notify exited with {status}:\n{log}");
    log
}

fn alert_ids(reqs: &[ReceivedRequest]) -> Vec<String> {
    reqs.iter()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_str(&r.body).expect("JSON body");
            v["alert"]["id"].as_str().expect("alert.id").to_owned()
        })
        .collect()
}

fn summary(log: &str) -> &str {
    log.lines()
        .rev()
        .find(|l| l.starts_with("summary: "))
        .unwrap_or_else(|| panic!("no summary line in:\n{log}"))
}

#[test]
fn each_guardian_gets_exactly_their_alerts_retries_succeed_once_and_failures_dead_letter() {
    let broker = sharpeyes_sim::broker_or_skip!();
    let bootstrap = broker.bootstrap();
    let dir = scratch("notify-routing");
    // A: always 200. B: 500 three times, then 200. C: always 500.
    let ra = HttpReceiver::start(|_| 200).unwrap();
    let rb = HttpReceiver::start(|n| if n < 3 { 500 } else { 200 }).unwrap();
    let rc = HttpReceiver::start(|_| 500).unwrap();
    let registry = dir.join("guardians.toml");
    std::fs::write(
        &registry,
        format!(
            r#"
[service]
group_id = "notify-routing"
state_dir = "state"
max_attempts = 4
backoff_initial_ms = 400
backoff_max_ms = 800

[[guardians]]
id = "ga"
name = "Guardian A"
webhook = "{}"
[[guardians.watch]]
camera = "cam-a"

[[guardians]]
id = "gb"
name = "Guardian B"
webhook = "{}"
[[guardians.watch]]
camera = "cam-b"
zones = ["pond"]

[[guardians]]
id = "gc"
name = "Guardian C"
webhook = "{}"
kinds = ["fall"]
[[guardians.watch]]
camera = "cam-a"
"#,
            ra.url("/a"),
            rb.url("/b"),
            rc.url("/c")
        ),
    )
    .unwrap();

    let fall_a = alert(AlertKind::Fall, "cam-a", None, 0);
    let mut fall_a_update = alert(AlertKind::Fall, "cam-a", None, 60_000);
    fall_a_update.lifecycle = Lifecycle::Update;
    fall_a_update.incident = fall_a.id.clone();
    let pond_b = alert(AlertKind::PersonInZone, "cam-b", Some("pond"), 1_000);
    let road_b = alert(AlertKind::PersonInZone, "cam-b", Some("road"), 2_000);
    let inactive_a = alert(AlertKind::Inactivity, "cam-a", None, 3_000);
    let fall_c = alert(AlertKind::Fall, "cam-c", None, 4_000);
    produce(
        &bootstrap,
        &[
            fall_a.clone(),
            fall_a_update,
            pond_b.clone(),
            road_b,
            inactive_a.clone(),
            fall_c,
        ],
    );

    let child = start_notify(&dir, &registry, &bootstrap, 1);
    let t = Duration::from_secs(60);
    assert!(ra.wait_for(2, t), "A: {:?}", alert_ids(&ra.requests()));
    assert!(rb.wait_for(4, t), "B: {:?}", alert_ids(&rb.requests()));
    let dead = consume_n(&bootstrap, DLQ, 1, t).expect("C's failure in the dead-letter topic");
    // Give stragglers (a wrong extra request) a moment to show up.
    std::thread::sleep(Duration::from_secs(2));
    let log = stop_notify(child, &dir, 1);
    println!("{}", summary(&log));

    // A: the fall and the inactivity of cam-a, once each; not the update, not cam-b or cam-c.
    let (a, b, c) = (ra.requests(), rb.requests(), rc.requests());
    let mut got_a = alert_ids(&a);
    got_a.sort();
    let mut want_a = vec![fall_a.id.clone(), inactive_a.id.clone()];
    want_a.sort();
    assert_eq!(got_a, want_a, "A gets exactly the cam-a alerts");
    // Critical first is the queue's order; here both went out at once (no rate limit hit).
    // B: four tries of the pond alert, the last one answered 200: delivered once.
    assert_eq!(alert_ids(&b), vec![pond_b.id.clone(); 4]);
    assert_eq!(b.iter().filter(|r| r.status == 200).count(), 1);
    let keys: HashSet<&str> = b
        .iter()
        .filter_map(|r| r.header("idempotency-key"))
        .collect();
    assert_eq!(keys, HashSet::from([format!("{}/gb", pond_b.id).as_str()]));
    // C: max_attempts tries of the cam-a fall, then the dead-letter topic.
    assert_eq!(alert_ids(&c), vec![fall_a.id.clone(); 4]);
    let d = &dead[0];
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(d.header(DLQ_STAGE), Some("delivery"));
    assert_eq!(d.header(DLQ_GUARDIAN), Some("gc"));
    assert_eq!(d.header(DLQ_REASON), Some("HTTP 500"));
    assert_eq!(d.header(DLQ_ATTEMPTS), Some("4"));
    assert!(
        d.header(DLQ_SOURCE)
            .is_some_and(|s| s.starts_with("sharpeyes.alerts/0/"))
    );
    let dead_alert: Alert = serde_json::from_str(d.payload.as_deref().unwrap()).unwrap();
    assert_eq!(dead_alert, fall_a);
    // C's failing gateway did not hold A back: A had both alerts before C's last try.
    let a_done = a.iter().map(|r| r.at).max().unwrap();
    let c_last = c.iter().map(|r| r.at).max().unwrap();
    assert!(a_done < c_last, "A waited for C");
    // Nobody got an alert of a camera not theirs.
    let cams: HashMap<&str, &str> =
        HashMap::from([("/a", "cam-a"), ("/b", "cam-b"), ("/c", "cam-a")]);
    for r in a.iter().chain(&b).chain(&c) {
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(
            v["alert"]["camera"]["id"],
            cams[r.path.as_str()],
            "{}",
            r.path
        );
        assert_eq!(r.method, "POST");
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    // Every body is a valid notification (its alert a valid alert).
    let bodies: Vec<String> = a
        .iter()
        .chain(&b)
        .chain(&c)
        .map(|r| r.body.clone())
        .collect();
    validate_json("notification bodies", &bodies);
    assert!(summary(&log).contains("delivered=3 "), "{}", summary(&log));
    assert!(
        summary(&log).contains("dead_lettered=1 "),
        "{}",
        summary(&log)
    );

    // Restart with the same group: offsets were committed after delivery, nothing is sent
    // again and nothing is read again.
    let child = start_notify(&dir, &registry, &bootstrap, 2);
    std::thread::sleep(Duration::from_secs(6));
    let log = stop_notify(child, &dir, 2);
    println!("after restart: {}", summary(&log));
    assert_eq!(
        (
            ra.requests().len(),
            rb.requests().len(),
            rc.requests().len()
        ),
        (2, 4, 4),
        "nothing sent twice"
    );
    assert!(
        summary(&log).starts_with("summary: messages=0 "),
        "{}",
        summary(&log)
    );
}

#[test]
fn malformed_messages_go_to_the_dead_letter_topic_and_the_consumer_goes_on() {
    let broker = sharpeyes_sim::broker_or_skip!();
    let bootstrap = broker.bootstrap();
    let dir = scratch("notify-malformed");
    let ra = HttpReceiver::start(|_| 200).unwrap();
    let registry = dir.join("guardians.toml");
    std::fs::write(
        &registry,
        format!(
            "[service]\ngroup_id = \"notify-malformed\"\nstate_dir = \"state\"\n\
             [[guardians]]\nid = \"ga\"\nname = \"A\"\nwebhook = \"{}\"\n\
             [[guardians.watch]]\ncamera = \"cam-a\"\n",
            ra.url("/a")
        ),
    )
    .unwrap();
    let good = alert(AlertKind::Fall, "cam-a", None, 0);
    let mut v2 = serde_json::to_value(&good).unwrap();
    v2["schema_version"] = 99.into();
    let wrong_version = serde_json::to_string(&v2).unwrap();
    produce_raw(&bootstrap, ALERTS, Some("cam-a"), b"not json {").unwrap();
    produce_raw(&bootstrap, ALERTS, Some("cam-a"), wrong_version.as_bytes()).unwrap();
    let mut child = start_notify(&dir, &registry, &bootstrap, 1);
    // The good alert comes after the bad ones: it is still delivered.
    produce(&bootstrap, std::slice::from_ref(&good));
    assert!(
        ra.wait_for(1, Duration::from_secs(60)),
        "the good alert after the bad ones"
    );
    let dead = consume_n(&bootstrap, DLQ, 2, Duration::from_secs(30)).expect("two dead letters");
    assert!(child.try_wait().unwrap().is_none(), "notify still running");
    let log = stop_notify(child, &dir, 1);
    assert_eq!(alert_ids(&ra.requests()), vec![good.id.clone()]);
    assert_eq!(dead[0].payload.as_deref(), Some("not json {"));
    assert!(
        dead[0].header(DLQ_REASON).unwrap().starts_with("not JSON"),
        "{dead:?}"
    );
    assert_eq!(dead[1].payload.as_deref(), Some(wrong_version.as_str()));
    assert_eq!(
        dead[1].header(DLQ_REASON),
        Some("schema_version 99 is not supported (this build reads 1)")
    );
    for d in &dead {
        assert_eq!(d.header(DLQ_STAGE), Some("parse"));
        assert_eq!(d.key.as_deref(), Some("cam-a"), "the original key is kept");
    }
    assert!(
        log.contains("malformed message on the alerts topic"),
        "logged:\n{log}"
    );
    assert!(summary(&log).contains("malformed=2 "), "{}", summary(&log));
}

#[test]
fn an_alert_not_yet_delivered_when_notify_is_killed_is_delivered_after_the_restart() {
    let broker = sharpeyes_sim::broker_or_skip!();
    let bootstrap = broker.bootstrap();
    let dir = scratch("notify-kill");
    // The first try fails; the retry would come 30 s later, but the process dies first.
    let rx = HttpReceiver::start(|n| if n == 0 { 503 } else { 200 }).unwrap();
    let registry = dir.join("guardians.toml");
    std::fs::write(
        &registry,
        format!(
            "[service]\ngroup_id = \"notify-kill\"\nstate_dir = \"state\"\n\
             backoff_initial_ms = 30000\n\
             [[guardians]]\nid = \"ga\"\nname = \"A\"\nwebhook = \"{}\"\n\
             [[guardians.watch]]\ncamera = \"cam-a\"\n",
            rx.url("/a")
        ),
    )
    .unwrap();
    let fall = alert(AlertKind::Fall, "cam-a", None, 0);
    produce(&bootstrap, std::slice::from_ref(&fall));
    let mut child = start_notify(&dir, &registry, &bootstrap, 1);
    assert!(rx.wait_for(1, Duration::from_secs(60)), "first try");
    child.kill().expect("kill -9");
    let _ = child.wait();
    // The offset was not committed (nothing finished): the restarted service reads the alert
    // again and delivers it.
    let child = start_notify(&dir, &registry, &bootstrap, 2);
    assert!(
        rx.wait_for(2, Duration::from_secs(60)),
        "delivered after the restart"
    );
    std::thread::sleep(Duration::from_secs(1));
    let log = stop_notify(child, &dir, 2);
    let reqs = rx.requests();
    assert_eq!(alert_ids(&reqs), vec![fall.id.clone(); 2]);
    assert_eq!(
        reqs.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![503, 200]
    );
    assert!(
        summary(&log).contains("messages=1 delivered=1 "),
        "{}",
        summary(&log)
    );
}

fn read_log(dir: &Path, n: u32) -> String {
    std::fs::read_to_string(dir.join(format!("notify-{n}.log"))).unwrap_or_default()
}

/// Polls `f` every 50 ms for up to `timeout`.
fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !f() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// Replaces `path` at once (write aside, rename), as editors and config tools do.
fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn guardian(id: &str, url: &str, cameras: &[&str], extra: &str) -> String {
    let mut s =
        format!("[[guardians]]\nid = \"{id}\"\nname = \"{id}\"\nwebhook = \"{url}\"\n{extra}\n");
    for c in cameras {
        s.push_str(&format!("[[guardians.watch]]\ncamera = \"{c}\"\n"));
    }
    s
}

#[test]
fn alerts_older_than_max_age_are_dead_lettered_as_stale_not_pushed() {
    let broker = sharpeyes_sim::broker_or_skip!();
    let bootstrap = broker.bootstrap();
    let dir = scratch("notify-stale");
    let rx = HttpReceiver::start(|_| 200).unwrap();
    let registry = dir.join("guardians.toml");
    // The registry's max_age (1 h) is overridden by --max-age 6 below. Two notifications an
    // hour: two go out at once, the rest wait behind the rate limit until they are stale.
    std::fs::write(
        &registry,
        format!(
            "[service]\ngroup_id = \"notify-stale\"\nstate_dir = \"state\"\nmax_age_s = 3600\n{}",
            guardian("ga", &rx.url("/a"), &["cam-a"], "max_per_hour = 2")
        ),
    )
    .unwrap();
    // Twenty minutes old: what a new consumer group, expired offsets or a lost state_dir read
    // from the start of the topic.
    let old = alert_at(
        AlertKind::Fall,
        "cam-a",
        None,
        SystemClock.now().plus_ms(-20 * 60_000),
    );
    let fresh: Vec<Alert> = (0..4)
        .map(|i| alert(AlertKind::Inactivity, "cam-a", None, 30_000 + i))
        .collect();
    let mut all = vec![old.clone()];
    all.extend(fresh.iter().cloned());
    produce(&bootstrap, &all);
    let started = Instant::now();
    let child = start_notify_with(&dir, &registry, &bootstrap, 1, &["--max-age", "6"]);
    assert!(
        rx.wait_for(2, Duration::from_secs(60)),
        "the two fresh ones within the burst"
    );
    let dead = consume_n(&bootstrap, DLQ, 3, Duration::from_secs(60))
        .expect("the old alert and the two that waited too long, in the dead-letter topic");
    let waited = started.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let log = stop_notify(child, &dir, 1);
    println!("{}", summary(&log));

    assert_eq!(
        alert_ids(&rx.requests()),
        vec![fresh[0].id.clone(), fresh[1].id.clone()],
        "only fresh alerts are pushed; the old one never"
    );
    assert_eq!(dead.len(), 3, "{dead:?}");
    let mut dead_ids = Vec::new();
    for d in &dead {
        assert_eq!(d.header(DLQ_REASON), Some(REASON_STALE), "{d:?}");
        assert_eq!(d.header(DLQ_STAGE), Some("delivery"));
        assert_eq!(d.header(DLQ_GUARDIAN), Some("ga"));
        assert_eq!(d.header(DLQ_ATTEMPTS), Some("0"), "never tried");
        let age: u64 = d.header(DLQ_AGE_MS).unwrap().parse().unwrap();
        assert!(age > 6_000, "{age}");
        let a: Alert = serde_json::from_str(d.payload.as_deref().unwrap()).unwrap();
        dead_ids.push(a.id);
    }
    assert_eq!(
        dead_ids,
        vec![old.id.clone(), fresh[2].id.clone(), fresh[3].id.clone()]
    );
    assert!(
        waited < Duration::from_secs(40),
        "the waiting ones go stale 6 s after their time, not when the rate limit frees: {waited:?}"
    );
    assert!(log.contains("alert too old to push"), "logged:\n{log}");
    assert!(summary(&log).contains(" stale=3 "), "{}", summary(&log));
}

#[test]
fn a_hanging_gateway_does_not_hold_back_the_other_guardians() {
    let broker = sharpeyes_sim::broker_or_skip!();
    let bootstrap = broker.bootstrap();
    let dir = scratch("notify-hang");
    // A's gateway reads the request and never answers; B's answers at once.
    let ra = HttpReceiver::start_with_delay(Duration::from_secs(3600), |_| 200).unwrap();
    let rb = HttpReceiver::start(|_| 200).unwrap();
    let registry = dir.join("guardians.toml");
    std::fs::write(
        &registry,
        format!(
            "[service]\ngroup_id = \"notify-hang\"\nstate_dir = \"state\"\nrequest_timeout_s = 2\n\
             max_attempts = 100\nbackoff_initial_ms = 100\nbackoff_max_ms = 200\n{}{}",
            guardian("ga", &ra.url("/a"), &["cam-a"], "max_per_hour = 3600"),
            guardian("gb", &rb.url("/b"), &["cam-b"], "")
        ),
    )
    .unwrap();
    let child = start_notify(&dir, &registry, &bootstrap, 1);
    // More alerts for A than the service has ever held in flight (10 000), then B's.
    let for_a: Vec<Alert> = (0..10_050)
        .map(|i| alert(AlertKind::PersonInZone, "cam-a", None, i))
        .collect();
    produce(&bootstrap, &for_a);
    let for_b: Vec<Alert> = (0..3)
        .map(|i| alert(AlertKind::Fall, "cam-b", None, 20_000 + i))
        .collect();
    produce(&bootstrap, &for_b);
    let produced = Instant::now();
    assert!(
        rb.wait_for(3, Duration::from_secs(60)),
        "B got {} of 3 while A hangs",
        rb.requests().len()
    );
    let b_took = produced.elapsed();
    assert!(ra.wait_for(1, Duration::from_secs(5)), "A was tried");
    let log = stop_notify(child, &dir, 1);
    println!(
        "B served {b_took:?} after its alerts were produced; {}",
        summary(&log)
    );
    let mut got = alert_ids(&rb.requests());
    got.sort();
    let mut want: Vec<String> = for_b.iter().map(|a| a.id.clone()).collect();
    want.sort();
    assert_eq!(got, want);
    assert!(b_took < Duration::from_secs(30), "{b_took:?}");
    // A's queue stayed bounded: what did not fit was dead-lettered, not held.
    let backlog: u64 = summary(&log)
        .split(" backlog=")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("backlog= in the summary");
    assert!(backlog >= 9_000, "{}", summary(&log));
}

#[test]
fn two_processes_in_one_group_push_each_alert_once_across_a_rebalance() {
    let broker = sharpeyes_sim::broker_or_skip!();
    let bootstrap = broker.bootstrap();
    let dir = scratch("notify-rebalance");
    sharpeyes_delivery::ensure_topic(&bootstrap, ALERTS, 4, Duration::from_secs(20))
        .expect("alerts topic with 4 partitions");
    // Gateways that take a while: notifications are being sent and waiting when partitions
    // move.
    let r1 = HttpReceiver::start_with_delay(Duration::from_millis(300), |_| 200).unwrap();
    let r2 = HttpReceiver::start_with_delay(Duration::from_millis(300), |_| 200).unwrap();
    let registry = dir.join("guardians.toml");
    std::fs::write(
        &registry,
        format!(
            "[service]\ngroup_id = \"notify-rebalance\"\nstate_dir = \"state\"\n{}{}",
            guardian(
                "g1",
                &r1.url("/1"),
                &["c1", "c2", "c3", "c4"],
                "max_per_hour = 3600"
            ),
            guardian(
                "g2",
                &r2.url("/2"),
                &["c3", "c4", "c5", "c6"],
                "max_per_hour = 3600"
            )
        ),
    )
    .unwrap();
    let a = start_notify(&dir, &registry, &bootstrap, 1);
    // Alerts keep coming while B joins; each guardian gets them faster than its rate limit (a
    // burst of 5, then one a second) lets them out, so many wait in the queues.
    let producer = {
        let bootstrap = bootstrap.clone();
        std::thread::spawn(move || {
            let mut sink = KafkaSink::connect(KafkaOptions::new(&bootstrap).topic(ALERTS))
                .expect("connect the producer");
            let mut sent = Vec::new();
            for i in 0..48 {
                let cam = format!("c{}", i % 6 + 1);
                let a = alert(AlertKind::Fall, &cam, None, i);
                sink.send(&Event::from(a.clone())).expect("queued");
                sink.flush(Duration::from_secs(20)).expect("acknowledged");
                sent.push(a);
                std::thread::sleep(Duration::from_millis(100));
            }
            sent
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    let b = start_notify(&dir, &registry, &bootstrap, 2);
    let sent = producer.join().expect("producer");
    let want = |cams: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = sent
            .iter()
            .filter(|a| cams.contains(&a.camera.id.as_str()))
            .map(|a| a.id.clone())
            .collect();
        v.sort();
        v
    };
    let (want1, want2) = (
        want(&["c1", "c2", "c3", "c4"]),
        want(&["c3", "c4", "c5", "c6"]),
    );
    let all_there = |r: &HttpReceiver, want: &[String]| {
        let got: HashSet<String> = alert_ids(&r.requests()).into_iter().collect();
        want.iter().all(|id| got.contains(id))
    };
    let complete = wait_until(Duration::from_secs(120), || {
        all_there(&r1, &want1) && all_there(&r2, &want2)
    });
    std::thread::sleep(Duration::from_secs(3));
    let log_b = stop_notify(b, &dir, 2);
    let log_a = stop_notify(a, &dir, 1);
    println!("A: {}\nB: {}", summary(&log_a), summary(&log_b));
    assert!(complete, "not all delivered");
    for (name, r, want) in [("g1", &r1, &want1), ("g2", &r2, &want2)] {
        let mut got = alert_ids(&r.requests());
        got.sort();
        let mut seen = HashSet::new();
        let twice: Vec<&String> = got.iter().filter(|id| !seen.insert(*id)).collect();
        assert!(twice.is_empty(), "{name} got these twice: {twice:?}");
        assert_eq!(&got, want, "{name}");
    }
    // The group really did rebalance and B really took part.
    assert!(log_a.contains("partitions revoked"), "A:\n{log_a}");
    assert!(
        !summary(&log_b).starts_with("summary: messages=0 "),
        "B read nothing: {}\n{log_b}",
        summary(&log_b)
    );
}

#[test]
fn an_edited_registry_applies_without_a_restart_and_a_broken_edit_keeps_the_last_good() {
    let broker = sharpeyes_sim::broker_or_skip!();
    let bootstrap = broker.bootstrap();
    let dir = scratch("notify-reload");
    let ra = HttpReceiver::start(|_| 200).unwrap();
    let rb = HttpReceiver::start(|_| 200).unwrap();
    let registry = dir.join("guardians.toml");
    let service = "[service]\ngroup_id = \"notify-reload\"\nstate_dir = \"state\"\n";
    let ga = guardian("ga", &ra.url("/a"), &["cam-a"], "");
    let gb = guardian("gb", &rb.url("/b"), &["cam-b"], "");
    std::fs::write(&registry, format!("{service}{ga}")).unwrap();
    let child = start_notify(&dir, &registry, &bootstrap, 1);
    let a1 = alert(AlertKind::Fall, "cam-a", None, 0);
    produce(&bootstrap, std::slice::from_ref(&a1));
    assert!(ra.wait_for(1, Duration::from_secs(60)), "A before the edit");

    // A guardian added: served without a restart.
    write_atomically(&registry, &format!("{service}{ga}{gb}"));
    assert!(
        wait_until(Duration::from_secs(10), || read_log(&dir, 1)
            .contains("guardians' registry reloaded")),
        "{}",
        read_log(&dir, 1)
    );
    let b1 = alert(AlertKind::Fall, "cam-b", None, 1);
    produce(&bootstrap, std::slice::from_ref(&b1));
    assert!(
        rb.wait_for(1, Duration::from_secs(30)),
        "B added by the edit"
    );

    // A broken edit: reported with its place, and the last good registry goes on.
    let broken = format!(
        "{service}{ga}{}",
        gb.replace("name = \"gb\"", "name = \"gb\"\nmax_per_hour = 0")
    );
    write_atomically(&registry, &broken);
    assert!(
        wait_until(Duration::from_secs(10), || read_log(&dir, 1)
            .contains("edit rejected; the last good registry keeps running")),
        "{}",
        read_log(&dir, 1)
    );
    let b2 = alert(AlertKind::Fall, "cam-b", None, 2);
    produce(&bootstrap, std::slice::from_ref(&b2));
    assert!(rb.wait_for(2, Duration::from_secs(30)), "B still served");

    // A removed: no longer sent anything.
    write_atomically(&registry, &format!("{service}{gb}"));
    assert!(
        wait_until(Duration::from_secs(10), || read_log(&dir, 1)
            .matches("guardians' registry reloaded")
            .count()
            == 2),
        "{}",
        read_log(&dir, 1)
    );
    let a2 = alert(AlertKind::Fall, "cam-a", None, 3);
    let b3 = alert(AlertKind::Fall, "cam-b", None, 4);
    produce(&bootstrap, &[a2, b3.clone()]);
    assert!(
        rb.wait_for(3, Duration::from_secs(30)),
        "B after the removal"
    );
    std::thread::sleep(Duration::from_secs(1));
    let log = stop_notify(child, &dir, 1);
    println!("{}", summary(&log));
    assert_eq!(
        alert_ids(&ra.requests()),
        vec![a1.id.clone()],
        "A: only before removal"
    );
    assert_eq!(alert_ids(&rb.requests()), vec![b1.id, b2.id, b3.id]);
    assert!(
        log.contains(&format!(
            "{}: guardians[1] (gb).max_per_hour: must be 1 to 3600, got 0",
            registry.display()
        )),
        "the problem with its file and field:\n{log}"
    );
    assert!(
        summary(&log).ends_with("registry_reloads=2 registry_rejected=1"),
        "{}",
        summary(&log)
    );
}

/// Camera status events on the status topic, as the pipeline's Kafka sink writes them.
fn produce_status(bootstrap: &str, events: &[StatusEvent]) {
    let mut sink = KafkaSink::connect(KafkaOptions::new(bootstrap).topic(STATUS))
        .expect("connect the producer");
    for e in events {
        sink.send(&Event::from(e.clone())).expect("queued");
    }
    sink.flush(Duration::from_secs(20)).expect("acknowledged");
}

fn gate_camera(id: &str) -> CameraRef {
    CameraRef {
        id: CameraId::new(id).unwrap(),
        name: "East gate".into(),
        village: "Xiaohe".into(),
    }
}

#[test]
fn camera_tamper_events_reach_maintenance_staff_and_nobody_else() {
    let broker = sharpeyes_sim::broker_or_skip!();
    let bootstrap = broker.bootstrap();
    let dir = scratch("notify-tamper");
    let rm = HttpReceiver::start(|_| 200).unwrap();
    let rf = HttpReceiver::start(|_| 200).unwrap();
    let registry = dir.join("guardians.toml");
    std::fs::write(
        &registry,
        format!(
            "[service]\ngroup_id = \"notify-tamper\"\nstate_dir = \"state\"\n{}{}",
            guardian(
                "maintenance",
                &rm.url("/m"),
                &["cam-gate"],
                "kinds = [\"camera_tampered\", \"camera_restored\"]"
            ),
            guardian("family", &rf.url("/f"), &["cam-gate"], "kinds = [\"fall\"]"),
        ),
    )
    .unwrap();
    let now = SystemClock.now();
    let status = |camera: &str, t: i64, tampered: bool| {
        StatusEvent::tamper(
            gate_camera(camera),
            now.plus_ms(-30_000 + t),
            CameraState::Online,
            tampered,
            "covered",
        )
    };
    let heartbeat = StatusEvent::heartbeat(
        gate_camera("cam-gate"),
        now.plus_ms(-31_000),
        CameraState::Online,
        5.0,
        Some(now.plus_ms(-31_000)),
    );
    let tampered = status("cam-gate", 0, true);
    let restored = status("cam-gate", 60_000, false);
    let elsewhere = status("cam-other", 1_000, true);
    let fall = alert(AlertKind::Fall, "cam-gate", None, 2_000);
    produce_status(
        &bootstrap,
        &[heartbeat, tampered.clone(), elsewhere, restored.clone()],
    );
    produce(&bootstrap, std::slice::from_ref(&fall));

    let child = start_notify(&dir, &registry, &bootstrap, 1);
    let t = Duration::from_secs(60);
    assert!(rm.wait_for(2, t), "maintenance: {:?}", rm.requests());
    assert!(rf.wait_for(1, t), "family: {:?}", rf.requests());
    std::thread::sleep(Duration::from_secs(2));
    let log = stop_notify(child, &dir, 1);
    println!("{}", summary(&log));

    // Maintenance: the tampering of their camera and its end, once each; no fall, nothing of
    // another camera.
    let (m, f) = (rm.requests(), rf.requests());
    let bodies: Vec<serde_json::Value> = m
        .iter()
        .map(|r| serde_json::from_str(&r.body).expect("JSON body"))
        .collect();
    let mut got: Vec<(&str, &str)> = bodies
        .iter()
        .map(|v| {
            (
                v["status"]["id"].as_str().expect("status.id"),
                v["text"].as_str().expect("text"),
            )
        })
        .collect();
    got.sort();
    let when = |e: &StatusEvent| format!("{} UTC", e.event_time[..16].replacen('T', " ", 1));
    let mut want = vec![
        (
            tampered.id.as_str(),
            format!(
                "camera tampered (covered) at East gate (Xiaohe), {}",
                when(&tampered)
            ),
        ),
        (
            restored.id.as_str(),
            format!(
                "camera restored (covered) at East gate (Xiaohe), {}",
                when(&restored)
            ),
        ),
    ];
    want.sort();
    let want: Vec<(&str, &str)> = want.iter().map(|(i, t)| (*i, t.as_str())).collect();
    assert_eq!(got, want);
    for (r, v) in m.iter().zip(&bodies) {
        assert!(v.get("alert").is_none(), "{v}");
        assert_eq!(v["status"]["reason"], "covered");
        assert_eq!(v["status"]["camera"]["id"], "cam-gate");
        assert_eq!(
            r.header("idempotency-key"),
            Some(format!("{}/maintenance", v["status"]["id"].as_str().unwrap()).as_str())
        );
    }
    // The family, who want falls only: the fall, no camera status.
    assert_eq!(alert_ids(&f), vec![fall.id.clone()]);
    // Every body is a valid notification (its status event a valid camera status event).
    let all: Vec<String> = m.iter().chain(&f).map(|r| r.body.clone()).collect();
    validate_json("tamper notification bodies", &all);
    let line = summary(&log);
    assert!(line.starts_with("summary: messages=5 "), "{line}");
    assert!(line.contains(" delivered=3 "), "{line}");
    assert!(line.contains(" malformed=0 "), "{line}");
    assert!(line.contains(" status_skipped=1 "), "the heartbeat: {line}");

    // Restart with the same group: the status topic's offsets were committed too.
    let child = start_notify(&dir, &registry, &bootstrap, 2);
    std::thread::sleep(Duration::from_secs(6));
    let log = stop_notify(child, &dir, 2);
    assert_eq!((rm.requests().len(), rf.requests().len()), (2, 1));
    assert!(
        summary(&log).starts_with("summary: messages=0 "),
        "{}",
        summary(&log)
    );
}
