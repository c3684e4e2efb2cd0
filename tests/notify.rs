//! `sharpeyes notify` with real parts: the real binary, a tansu broker process, real HTTP
//! receivers on loopback. Alerts are produced by the pipeline's own Kafka sink.
//! Skips with a printed `SKIP:` line when tansu is not installed.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sharpeyes_alerts::notify::{DLQ_ATTEMPTS, DLQ_GUARDIAN, DLQ_REASON, DLQ_SOURCE, DLQ_STAGE};
use sharpeyes_alerts::testkit::{
    HttpReceiver, ReceivedRequest, TansuBroker, consume_n, produce_raw,
};
use sharpeyes_alerts::{KafkaOptions, KafkaSink};
use sharpeyes_core::{
    Alert, AlertKind, BBox, CameraId, CameraRef, Detection, Event, EventSink, Lifecycle, ModelRef,
    UnixMillis,
};

mod common;
use common::{BIN, scratch, validate_json};

const ALERTS: &str = "sharpeyes.alerts";
const DLQ: &str = "sharpeyes.alerts.dlq";

fn alert(kind: AlertKind, camera: &str, zone: Option<&str>, t: i64) -> Alert {
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
        UnixMillis(1_795_459_860_000 + t),
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
    let log = std::fs::File::create(dir.join(format!("notify-{n}.log"))).expect("log file");
    Command::new(BIN)
        .current_dir(dir)
        .args(["notify", "--registry"])
        .arg(registry)
        .args(["--kafka", bootstrap])
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

macro_rules! broker_or_skip {
    () => {
        match TansuBroker::start() {
            Ok(b) => b,
            Err(reason) => {
                println!("SKIP: {reason}");
                return;
            }
        }
    };
}

#[test]
fn each_guardian_gets_exactly_their_alerts_retries_succeed_once_and_failures_dead_letter() {
    let broker = broker_or_skip!();
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
    let broker = broker_or_skip!();
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
    let broker = broker_or_skip!();
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
