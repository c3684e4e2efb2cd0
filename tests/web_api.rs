//! The command center's API with real parts: `sharpeyes serve` (real HTTP on loopback) fed by
//! a tansu broker process, users made with `sharpeyes user add`. Every endpoint, and the 401 /
//! 403 answers for the wrong session, role or village. Skips when tansu is missing.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sharpeyes_core::{
    AlertKind, CameraId, CameraRef, CameraState, Event, EventSink, StatusEvent, UnixMillis,
};
use sharpeyes_delivery::{KafkaOptions, KafkaSink};

mod common;
use common::web::{
    Client, agent, login, serve, serve_with, user_add, user_cmd, village_alert as alert,
};
use common::{scratch, sharpeyes};

fn produce(bootstrap: &str, events: &[Event]) {
    let mut alerts =
        KafkaSink::connect(KafkaOptions::new(bootstrap).topic("sharpeyes.alerts")).unwrap();
    let mut status =
        KafkaSink::connect(KafkaOptions::new(bootstrap).topic("sharpeyes.camera-status")).unwrap();
    for e in events {
        if e.is_status() {
            status.send(e)
        } else {
            alerts.send(e)
        }
        .expect("queued");
    }
    alerts.flush(Duration::from_secs(20)).unwrap();
    status.flush(Duration::from_secs(20)).unwrap();
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn every_endpoint_with_its_roles_and_villages() {
    let broker = sharpeyes_sim::broker_or_skip!();
    let bootstrap = broker.bootstrap();
    let dir = scratch("web-api");
    user_add(&dir, "admin", "admin", "");
    user_add(&dir, "op-x", "operator", "Xiaohe");
    user_add(&dir, "op-d", "operator", "Dahe");
    user_add(&dir, "view-x", "viewer", "Xiaohe");
    let (mut child, base) = serve(&dir, &bootstrap, "127.0.0.1:0");

    // Without a session: only the page and /healthz.
    let anon = agent();
    for path in ["/", "/healthz", "/app.js", "/style.css"] {
        let r = anon.get(format!("{base}{path}")).call().unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    for path in [
        "/api/me",
        "/api/incidents",
        "/api/cameras",
        "/api/events",
        "/api/audit",
        "/metrics",
        "/api/incidents/x",
        "/api/incidents/x/snapshot",
    ] {
        let r = anon.get(format!("{base}{path}")).call().unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    let r = anon
        .post(format!("{base}/api/incidents/x/actions"))
        .header("Content-Type", "application/json")
        .send("{\"action\":\"acknowledge\"}")
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(login(&base, "op-x", "wrong").err(), Some(401));
    assert_eq!(login(&base, "nobody", "op-x-password").err(), Some(401));

    let admin = login(&base, "admin", "admin-password").unwrap();
    let opx = login(&base, "op-x", "op-x-password").unwrap();
    let opd = login(&base, "op-d", "op-d-password").unwrap();
    let viewer = login(&base, "view-x", "view-x-password").unwrap();
    assert_eq!(
        opx.json("/api/me")["user"]["villages"],
        serde_json::json!(["Xiaohe"])
    );

    // Events arrive through Kafka: one incident in each village, a camera in each.
    let fall_x = alert(AlertKind::Fall, "cam-x", "Xiaohe", 0);
    let pond_d = alert(AlertKind::PersonInZone, "cam-d", "Dahe", 1000);
    let cam = |id: &str, village: &str| {
        Event::from(StatusEvent::new(
            CameraRef {
                id: CameraId::new(id).unwrap(),
                name: id.into(),
                village: village.into(),
            },
            UnixMillis(1_795_459_860_000),
            CameraState::Online,
            None,
        ))
    };
    produce(
        &bootstrap,
        &[
            fall_x.clone().into(),
            pond_d.clone().into(),
            cam("cam-x", "Xiaohe"),
            cam("cam-d", "Dahe"),
        ],
    );
    wait_for("both incidents", || {
        admin.json("/api/incidents").as_array().unwrap().len() == 2
    });
    wait_for("both cameras", || {
        admin.json("/api/cameras").as_array().unwrap().len() == 2
    });

    // Scoping: each operator sees their village only, in lists and by id.
    let ids = |c: &Client, path: &str| -> Vec<String> {
        c.json(path)
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&opx, "/api/incidents"), vec![fall_x.id.clone()]);
    assert_eq!(ids(&opd, "/api/incidents"), vec![pond_d.id.clone()]);
    assert_eq!(ids(&opx, "/api/cameras"), vec!["cam-x".to_string()]);
    assert_eq!(
        ids(&admin, "/api/incidents?village=Dahe"),
        vec![pond_d.id.clone()]
    );
    assert_eq!(ids(&admin, "/api/incidents?severity=critical").len(), 2);
    assert_eq!(
        ids(&admin, "/api/incidents?kind=fall"),
        vec![fall_x.id.clone()]
    );
    assert_eq!(ids(&admin, "/api/incidents?state=resolved").len(), 0);
    let detail = opx.json(&format!("/api/incidents/{}", fall_x.id));
    assert_eq!(detail["incident"]["state"], "new");
    assert_eq!(detail["timeline"][0]["what"], "alert");
    // Another village's incident is one they cannot know of: 404 like none, no village named.
    let (s, b) = opd.get(&format!("/api/incidents/{}", fall_x.id));
    assert_eq!((s, b.contains("Xiaohe")), (404, false), "{b}");
    assert_eq!(opx.get("/api/incidents/no-such").0, 404);
    assert_eq!(
        opx.get(&format!("/api/incidents/{}/snapshot", fall_x.id)).0,
        404,
        "no snapshot in this alert"
    );

    // Actions: CSRF, role, village, state machine.
    let act = |c: &Client, id: &str, action: &str, csrf: bool| {
        c.post(
            &format!("/api/incidents/{id}/actions"),
            serde_json::json!({"action": action, "note": format!("{action} by test")}),
            csrf,
        )
    };
    assert_eq!(
        act(&opx, &fall_x.id, "acknowledge", false).0,
        403,
        "no CSRF header"
    );
    assert_eq!(
        act(&viewer, &fall_x.id, "acknowledge", true).0,
        403,
        "viewer"
    );
    let (s, b) = act(&opd, &fall_x.id, "acknowledge", true);
    assert_eq!(
        (s, b.contains("Xiaohe")),
        (404, false),
        "other village: {b}"
    );
    assert_eq!(act(&opx, &fall_x.id, "paint", true).0, 400);
    assert_eq!(
        act(&opx, &fall_x.id, "resolve", true).0,
        409,
        "acknowledge first"
    );
    assert_eq!(act(&opx, "no-such", "acknowledge", true).0, 404);
    for (action, state) in [
        ("acknowledge", "acknowledged"),
        ("dispatch", "dispatched"),
        ("resolve", "resolved"),
    ] {
        let (s, b) = act(&opx, &fall_x.id, action, true);
        assert_eq!(s, 200, "{b}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&b).unwrap()["state"],
            state
        );
    }
    let timeline = opx.json(&format!("/api/incidents/{}", fall_x.id))["timeline"].clone();
    let actions: Vec<&str> = timeline
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["what"] == "action")
        .map(|t| t["detail"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "acknowledge: acknowledge by test",
            "dispatch: dispatch by test",
            "resolve: resolve by test"
        ]
    );
    assert_eq!(
        act(&admin, &pond_d.id, "false_alarm", true).0,
        200,
        "admins act anywhere"
    );

    // Audit: admins only; who did what.
    assert_eq!(opx.get("/api/audit").0, 403);
    let audit = admin.json("/api/audit");
    let lines: Vec<String> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{} {}",
                a["username"].as_str().unwrap(),
                a["action"].as_str().unwrap()
            )
        })
        .collect();
    for want in [
        "op-x resolve",
        "op-x dispatch",
        "op-x acknowledge",
        "admin false_alarm",
        "op-x login",
        "op-x login_failed",
        "cli user_add",
    ] {
        assert!(lines.iter().any(|l| l == want), "{want} not in {lines:?}");
    }
    // A name nobody has is kept as its tag: it may be a password typed into the wrong field.
    let nobody = format!(
        "unknown {} login_failed",
        sharpeyes_web::auth::user_tag("nobody")
    );
    assert!(lines.contains(&nobody), "{nobody} not in {lines:?}");
    assert!(!lines.iter().any(|l| l.contains("nobody")), "{lines:?}");

    // Live feed: an SSE client of Xiaohe gets the new Xiaohe incident, never the Dahe one.
    let mut sse = opx
        .agent
        .get(format!("{base}/api/events"))
        .header("Cookie", &opx.cookie)
        .call()
        .unwrap();
    assert_eq!(sse.status(), 200);
    assert!(
        sse.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let second_d = alert(AlertKind::Fall, "cam-d", "Dahe", 5000);
    let second_x = alert(AlertKind::Inactivity, "cam-x", "Xiaohe", 6000);
    // Heartbeats (schema v2) from two workers: Dahe's first on the one status partition, so
    // Xiaohe's page has been offered it before the one it waits for.
    let frame_ms = 1_795_459_869_900;
    let beat = |id: &str, village: &str, worker: &str, fps: f64| {
        Event::from(
            StatusEvent::heartbeat(
                CameraRef {
                    id: CameraId::new(id).unwrap(),
                    name: id.into(),
                    village: village.into(),
                },
                UnixMillis(1_795_459_870_000),
                CameraState::Online,
                fps,
                Some(UnixMillis(frame_ms)),
            )
            .with_worker(Some(worker.into())),
        )
    };
    let unassigned = Event::from(StatusEvent::unassigned(
        CameraRef {
            id: CameraId::new("cam-x3").unwrap(),
            name: "cam-x3".into(),
            village: "Xiaohe".into(),
        },
        UnixMillis(1_795_459_870_000),
        Some("no worker has room".into()),
    ));
    produce(
        &bootstrap,
        &[
            second_d.clone().into(),
            second_x.clone().into(),
            beat("cam-d", "Dahe", "w3", 7.0),
            beat("cam-x", "Xiaohe", "w2", 12.5),
            unassigned,
        ],
    );
    let mut reader = BufReader::new(sse.body_mut().as_reader());
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.contains(&second_x.id) || !seen.contains("\"worker\":\"w2\"") {
        assert!(Instant::now() < deadline, "no live event: {seen}");
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        seen.push_str(&line);
    }
    assert!(
        seen.contains("event: incident") && seen.contains(&second_x.id),
        "{seen}"
    );
    assert!(
        !seen.contains(&second_d.id) && !seen.contains("cam-d") && !seen.contains("w3"),
        "an operator of Xiaohe got a Dahe event: {seen}"
    );
    drop(reader);

    // The heartbeats' numbers and workers in the camera lists, scoped by village; the state
    // is the status events' (online), the unassigned camera has no worker.
    wait_for("the unassigned camera", || {
        admin.json("/api/cameras").as_array().unwrap().len() == 3
    });
    let by_id = |c: &Client| -> std::collections::BTreeMap<String, serde_json::Value> {
        c.json("/api/cameras")
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["id"].as_str().unwrap().to_owned(), r.clone()))
            .collect()
    };
    let mine = by_id(&opx);
    assert_eq!(
        mine.keys().collect::<Vec<_>>(),
        vec!["cam-x", "cam-x3"],
        "{mine:?}"
    );
    let x = &mine["cam-x"];
    assert_eq!(
        (&x["state"], &x["worker"], &x["fps"], &x["last_frame"]),
        (
            &serde_json::json!("online"),
            &serde_json::json!("w2"),
            &serde_json::json!(12.5),
            &serde_json::json!(UnixMillis(frame_ms).to_rfc3339())
        ),
        "{x}"
    );
    let x3 = &mine["cam-x3"];
    assert_eq!(
        (&x3["state"], &x3["worker"], &x3["reason"]),
        (
            &serde_json::json!("unassigned"),
            &serde_json::Value::Null,
            &serde_json::json!("no worker has room")
        ),
        "{x3}"
    );
    let all = by_id(&admin);
    assert_eq!(
        (&all["cam-d"]["worker"], &all["cam-d"]["fps"]),
        (&serde_json::json!("w3"), &serde_json::json!(7.0))
    );
    assert_eq!(
        by_id(&opd).into_keys().collect::<Vec<_>>(),
        vec!["cam-d"],
        "Dahe's operator sees Dahe's camera only"
    );

    // Metrics with a session: an operator's count only their villages' incidents (Dahe's
    // false alarm is not there) and none of the server-wide counters; an admin's, all.
    let (s, m) = opx.get("/metrics");
    assert_eq!(s, 200);
    assert!(
        m.contains("sharpeyes_web_incidents{state=\"resolved\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("sharpeyes_web_incidents{state=\"false_alarm\"} 0"),
        "an operator of Xiaohe counts Dahe's incidents: {m}"
    );
    assert!(
        !m.contains("sharpeyes_web_actions_total") && !m.contains("sharpeyes_web_logins_total"),
        "{m}"
    );
    let m = admin.get("/metrics").1;
    assert!(
        m.contains("sharpeyes_web_incidents{state=\"false_alarm\"} 1")
            && m.contains("sharpeyes_web_actions_total 4"),
        "{m}"
    );
    // Logout ends the session.
    assert_eq!(
        opx.post("/api/logout", serde_json::json!({}), false).0,
        403,
        "logout needs CSRF too"
    );
    assert_eq!(opx.post("/api/logout", serde_json::json!({}), true).0, 204);
    assert_eq!(opx.get("/api/me").0, 401);

    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn demo_serves_the_command_center_fed_in_process() {
    if sharpeyes_core::testing::asset("videos/people_walking_indoor_intel.mp4").is_none() {
        return;
    }
    let dir = scratch("web-demo");
    user_add(&dir, "demo-op", "operator", "Demo village");
    user_add(&dir, "other-op", "operator", "Xiaohe");
    let Some(mut cmd) = sharpeyes(&dir) else {
        return;
    };
    let port = sharpeyes_sim::free_port().unwrap();
    let mut child = cmd
        .args([
            "demo",
            "--port",
            "0",
            "--duration",
            "40",
            "--db",
            "cc.db",
            "--web",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start demo --web");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let op = loop {
        match std::panic::catch_unwind(|| login(&base, "demo-op", "demo-op-password")) {
            Ok(Ok(c)) => break c,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            _ => panic!("demo --web never answered"),
        }
    };
    wait_for("a person alert of the demo", || {
        op.json("/api/incidents?kind=person_detected")
            .as_array()
            .is_some_and(|a| !a.is_empty())
    });
    wait_for("camera fps from the pipeline", || {
        let cams = op.json("/api/cameras");
        let cams = cams.as_array().unwrap();
        cams.len() == 2
            && cams
                .iter()
                .all(|c| c["state"] == "online" && c["fps"].as_f64().is_some_and(|f| f > 0.0))
    });
    let rows = op.json("/api/incidents");
    let first = &rows.as_array().unwrap()[0];
    assert_eq!(first["village"], "Demo village");
    assert!(
        first["camera_name"]
            .as_str()
            .unwrap()
            .starts_with("Simulated camera")
    );
    let id = first["id"].as_str().unwrap();
    assert_eq!(
        op.get(&format!("/api/incidents/{id}/snapshot")).0,
        200,
        "the snapshot is served"
    );
    let other = login(&base, "other-op", "other-op-password").unwrap();
    assert!(other.json("/api/incidents").as_array().unwrap().is_empty());
    assert!(other.json("/api/cameras").as_array().unwrap().is_empty());
    let _ = child.kill();
    let _ = child.wait();
}

/// `demo` with no web flags serves the command center anyway, prints its URL and a one-time
/// password of a `demo` admin, and that admin sees the demo's alerts, snapshots and clips; when
/// the demo stops, the password opens nothing any more.
#[test]
fn demo_serves_the_command_center_by_default_with_a_one_time_admin() {
    if sharpeyes_core::testing::asset("videos/people_walking_indoor_intel.mp4").is_none() {
        return;
    }
    let dir = scratch("web-demo-default");
    let Some(mut cmd) = sharpeyes(&dir) else {
        return;
    };
    let mut child = cmd
        .args(["demo", "--port", "0", "--duration", "90"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start demo");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let (base, password) = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).expect("read stderr") == 0 {
            panic!("demo ended without printing the command center's URL and password");
        }
        // "demo: command center http://ADDR/ : sign in as demo with the one-time password PW …"
        if let Some(rest) = line.strip_prefix("demo: command center ") {
            let url = rest.split_whitespace().next().expect("the URL");
            let password = rest
                .split("one-time password ")
                .nth(1)
                .and_then(|p| p.split_whitespace().next())
                .expect("the password");
            break (url.trim_end_matches('/').to_string(), password.to_string());
        }
    };
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert!(password.len() >= 16, "a real password: {password:?}");
    let drain = std::thread::spawn(move || {
        let mut rest = String::new();
        while stderr.read_line(&mut rest).map(|n| n > 0).unwrap_or(false) {}
    });
    let admin = login(&base, "demo", &password).expect("the printed password signs in");
    assert_eq!(
        try_login(&base, "demo", "not-the-password").0,
        401,
        "only the printed password"
    );
    wait_for("a person alert of the demo in the browser's API", || {
        admin
            .json("/api/incidents?kind=person_detected")
            .as_array()
            .is_some_and(|a| !a.is_empty())
    });
    let rows = admin.json("/api/incidents?kind=person_detected");
    let id = rows.as_array().unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for("the alert's snapshot", || {
        admin.get(&format!("/api/incidents/{id}/snapshot")).0 == 200
    });
    // The live camera's event clip: cut from its ring of access units, written `post` (10 s)
    // after the alert, handed to the command center in this process.
    // Up to a minute: on a loaded 2-core machine the writer may queue behind the analysis.
    let deadline = Instant::now() + Duration::from_secs(60);
    while admin.json(&format!("/api/incidents/{id}"))["clip"] != "ready" {
        assert!(Instant::now() < deadline, "no event clip within 60 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(admin.get(&format!("/api/incidents/{id}/clip")).0, 200);
    // Ctrl-C: the demo stops as an operator would stop it.
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(sent.success());
    assert!(child.wait().expect("demo ends").success());
    drain.join().unwrap();
    let store = sharpeyes_web::Store::open(&dir.join("var/command-center.db")).expect("db");
    let (_, hash) = store.user("demo").expect("read").expect("the demo admin");
    assert!(
        !sharpeyes_web::auth::verify_password(&password, &hash),
        "the one-time password is retired when the demo stops"
    );
}

/// A sign-in as it was answered: status, `Retry-After` (seconds) and body.
fn try_login(base: &str, name: &str, password: &str) -> (u16, Option<u64>, String) {
    let mut r = agent()
        .post(format!("{base}/api/login"))
        .header("Content-Type", "application/json")
        .send(serde_json::json!({"username": name, "password": password}).to_string())
        .unwrap();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let body = r.body_mut().read_to_string().unwrap_or_default();
    (r.status().as_u16(), retry, body)
}

fn stop(mut child: std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn sign_ins_are_limited_per_user_name_and_per_address() {
    let dir = scratch("web-login-limits");
    user_add(&dir, "op-x", "operator", "Xiaohe");
    user_add(&dir, "op-d", "operator", "Dahe");
    let (child, base, _) = serve_with(&dir, &[]);

    // 10 attempts per name per 5 minutes, from any address: the 11th is refused, even with
    // the right password, and says when to come back.
    for i in 0..10 {
        assert_eq!(try_login(&base, "op-x", "wrong").0, 401, "attempt {i}");
    }
    let (status, retry, _) = try_login(&base, "op-x", "op-x-password");
    assert_eq!(status, 429);
    assert!(retry.is_some_and(|s| (1..=300).contains(&s)), "{retry:?}");
    // Another name from the same address is not held back by op-x's count.
    assert_eq!(try_login(&base, "op-d", "op-d-password").0, 200);

    // 30 attempts per address per 5 minutes, whatever the names: 10 made, 20 more fit (the
    // refused one and the successful one do not count).
    let mut before_refused = 0;
    loop {
        let (status, retry, body) = try_login(&base, &format!("guess-{before_refused}"), "x");
        if status == 429 {
            assert!(retry.is_some_and(|s| s >= 1), "{retry:?}");
            assert!(body.contains("too many"), "{body}");
            break;
        }
        assert_eq!(status, 401);
        before_refused += 1;
        assert!(
            before_refused <= 40,
            "no 429 from the address after 50 attempts in all"
        );
    }
    assert_eq!(before_refused, 20);
    assert_eq!(
        try_login(&base, "op-d", "op-d-password").0,
        429,
        "the address is held back for every name"
    );
    stop(child);
}

#[test]
fn concurrent_password_checks_are_bounded_and_the_excess_gets_503() {
    let dir = scratch("web-login-slots");
    user_add(&dir, "op-x", "operator", "Xiaohe");
    // One check at a time, 4 waiting: of 24 sign-ins at once most are refused at once.
    let (child, base, _) = serve_with(&dir, &["--login-slots", "1"]);
    let start = std::sync::Arc::new(std::sync::Barrier::new(24));
    let answers: Vec<(u16, Option<u64>)> = (0..24)
        .map(|i| {
            let (base, start) = (base.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let (s, retry, _) = try_login(&base, &format!("flood-{i}"), "wrong password");
                (s, retry)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let busy: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
    assert!(!busy.is_empty(), "no 503 with one slot: {answers:?}");
    assert!(busy.iter().all(|a| a.1 == Some(1)), "{answers:?}");
    assert!(
        answers.iter().all(|a| a.0 == 503 || a.0 == 401),
        "{answers:?}"
    );
    assert!(
        answers.iter().filter(|a| a.0 == 401).count() >= 5,
        "the slot and the queue were served: {answers:?}"
    );
    // Nothing stays held: the next sign-in is checked.
    assert_eq!(try_login(&base, "op-x", "op-x-password").0, 200);
    stop(child);
}

#[test]
fn oversized_names_passwords_and_bodies_are_refused() {
    let dir = scratch("web-sizes");
    user_add(&dir, "op-x", "operator", "Xiaohe");
    let (child, base, _) = serve_with(&dir, &[]);
    assert_eq!(
        try_login(&base, &"n".repeat(65), "x").0,
        400,
        "name > 64 bytes"
    );
    assert_eq!(
        try_login(&base, "op-x", &"p".repeat(1025)).0,
        400,
        "password > 1 KiB"
    );
    assert_eq!(
        try_login(&base, "op-x", &"p".repeat(64 * 1024)).0,
        413,
        "body > 16 KiB"
    );
    let opx = login(&base, "op-x", "op-x-password").unwrap();
    let (s, _) = opx.post(
        "/api/incidents/x/actions",
        serde_json::json!({"action": "acknowledge", "note": "n".repeat(20 * 1024)}),
        true,
    );
    assert_eq!(s, 413);
    // `user add` holds to the same bounds.
    let out = user_cmd(
        &dir,
        &[
            "add",
            "--username",
            &"n".repeat(65),
            "--role",
            "admin",
            "--password-env",
            "PW",
        ],
        "a long password",
    );
    assert!(!out.status.success());
    stop(child);
}

#[test]
fn logs_and_the_audit_log_never_carry_a_name_as_typed() {
    let dir = scratch("web-log-names");
    user_add(&dir, "admin", "admin", "");
    let (child, base, log) = serve_with(&dir, &[]);
    // What someone typed into the name field may be their password.
    let typed = "Correct-Horse-Battery-9";
    assert_eq!(try_login(&base, typed, "x").0, 401);
    assert_eq!(try_login(&base, "admin", "wrong").0, 401);
    let tag = sharpeyes_web::auth::user_tag(typed);
    wait_for("two failed sign-ins in the log", || {
        log.lock().unwrap().matches("failed sign-in").count() == 2
    });
    let text = log.lock().unwrap().clone();
    assert!(!text.contains(typed), "a typed name in the log: {text}");
    let failed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("failed sign-in"))
        .collect();
    assert!(failed[0].contains(&tag), "{text}");
    assert!(
        failed[1].contains(&sharpeyes_web::auth::user_tag("admin")) && !failed[1].contains("admin"),
        "{text}"
    );
    let admin = login(&base, "admin", "admin-password").unwrap();
    let audit = admin.get("/api/audit").1;
    assert!(!audit.contains(typed), "{audit}");
    assert!(audit.contains(&format!("unknown {tag}")), "{audit}");
    stop(child);
}

/// How a live feed stream ended: the server closed it, or reading failed.
type FeedEnd = Result<(), String>;

/// Opens `c`'s live feed and waits for its `hello`; a thread reads it from then on and says
/// when it ends.
fn open_feed(c: &Client) -> mpsc::Receiver<FeedEnd> {
    let a: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let r = a
        .get(format!("{}/api/events", c.base))
        .header("Cookie", &c.cookie)
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut reader = BufReader::new(r.into_body().into_reader());
    let mut line = String::new();
    while !line.starts_with("event: hello") {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "ended before hello"
        );
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => return tx.send(Ok(())),
                Ok(_) => {}
                Err(e) => return tx.send(Err(e.to_string())),
            }
        }
    });
    rx
}

/// The server ends `feed` within 3 s.
fn assert_ends(feed: &mpsc::Receiver<FeedEnd>, why: &str) {
    match feed.recv_timeout(Duration::from_secs(3)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{why}: the live feed failed rather than ended: {e}"),
        Err(_) => panic!("{why}: the live feed is still open 3 s later"),
    }
}

#[test]
fn the_live_feed_and_the_session_end_with_logout_and_user_changes_from_the_cli() {
    let dir = scratch("web-revoke");
    for (name, role, villages) in [
        ("admin", "admin", ""),
        ("logs-out", "operator", "Xiaohe"),
        ("moved", "operator", "Xiaohe"),
        ("demoted", "operator", "Xiaohe"),
        ("re-added", "operator", "Xiaohe"),
        ("leaves", "operator", "Xiaohe"),
        ("forgot", "operator", "Xiaohe"),
    ] {
        user_add(&dir, name, role, villages);
    }
    let (child, base, _) = serve_with(&dir, &[]);
    let admin = login(&base, "admin", "admin-password").unwrap();
    let admin_feed = open_feed(&admin);
    let signed_in = |name: &str| {
        let c = login(&base, name, &format!("{name}-password")).unwrap();
        let feed = open_feed(&c);
        (c, feed)
    };
    let cli = |args: &[&str], password: &str| {
        let out = user_cmd(&dir, args, password);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let add = |name: &str, role: &str, villages: &str| {
        let password = format!("{name}-password");
        let args = [
            "add",
            "--username",
            name,
            "--role",
            role,
            "--villages",
            villages,
        ];
        cli(
            &[&args[..], &["--password-env", "PW"][..]].concat(),
            &password,
        );
    };

    let (c, feed) = signed_in("logs-out");
    assert_eq!(c.post("/api/logout", serde_json::json!({}), true).0, 204);
    assert_ends(&feed, "logout");

    // `user add` of an existing name replaces the user and ends their sessions, whether
    // their villages, their role or only their password changed.
    for (name, role, villages) in [
        ("moved", "operator", "Dahe"),
        ("demoted", "viewer", "Xiaohe"),
        ("re-added", "operator", "Xiaohe"),
    ] {
        let (c, feed) = signed_in(name);
        add(name, role, villages);
        assert_ends(&feed, name);
        assert_eq!(c.get("/api/me").0, 401, "{name}'s session");
    }

    // An operator who leaves: removed, their session and feed end, they cannot sign in.
    let (c, feed) = signed_in("leaves");
    cli(&["remove", "--username", "leaves"], "");
    assert_ends(&feed, "user remove");
    assert_eq!(c.get("/api/me").0, 401);
    assert_eq!(try_login(&base, "leaves", "leaves-password").0, 401);
    let again = user_cmd(&dir, &["remove", "--username", "leaves"], "");
    assert!(!again.status.success(), "removing a user who is not there");

    // A new password: the sessions end, the old password no longer opens one.
    let (c, feed) = signed_in("forgot");
    cli(
        &["passwd", "--username", "forgot", "--password-env", "PW"],
        "a brand new password",
    );
    assert_ends(&feed, "user passwd");
    assert_eq!(c.get("/api/me").0, 401);
    assert_eq!(try_login(&base, "forgot", "forgot-password").0, 401);
    assert_eq!(try_login(&base, "forgot", "a brand new password").0, 200);

    // None of it touched anyone else's session or feed.
    assert_eq!(admin.get("/api/me").0, 200);
    assert!(
        matches!(admin_feed.try_recv(), Err(mpsc::TryRecvError::Empty)),
        "the admin's feed ended"
    );
    stop(child);
}

#[test]
fn the_live_feed_ends_when_its_session_expires() {
    let dir = scratch("web-expiry");
    user_add(&dir, "op-x", "operator", "Xiaohe");
    let (child, base, _) = serve_with(&dir, &["--session-ttl", "2"]);
    let opx = login(&base, "op-x", "op-x-password").unwrap();
    let signed_in = Instant::now();
    let feed = open_feed(&opx);
    assert_eq!(opx.get("/api/me").0, 200);
    match feed.recv_timeout(Duration::from_secs(5)) {
        Ok(Ok(())) => {}
        other => panic!("the live feed of a 2 s session, 5 s on: {other:?}"),
    }
    assert!(
        signed_in.elapsed() >= Duration::from_secs(2),
        "ended before expiry"
    );
    assert_eq!(opx.get("/api/me").0, 401);
    stop(child);
}
