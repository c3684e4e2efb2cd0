//! The command center in a real browser: Debian's chromium driven by playwright-core
//! (web/e2e/browser.mjs), against `sharpeyes serve` fed by a tansu broker. Signs in, sees a
//! new alert appear live, acknowledges and resolves it, and checks that an operator of another
//! village never sees it. Writes the screenshot to target/test-artifacts/command-center.png.
//! Skips with a printed reason when chromium, node, the npm packages or tansu are missing.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use sharpeyes_sim::TansuBroker;
use sharpeyes_delivery::{KafkaOptions, KafkaSink};
use sharpeyes_core::testing::asset;
use sharpeyes_core::{
    AlertKind, CameraId, CameraRef, CameraState, Event, EventSink, StatusEvent, UnixMillis,
};

mod common;
use common::web::{serve, user_add, village_alert};
use common::{repo, scratch};

fn chromium() -> Option<PathBuf> {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

#[test]
fn operator_sees_an_alert_live_acknowledges_and_resolves_it_and_another_village_never_sees_it() {
    let Some(chromium) = chromium() else {
        println!("SKIP: no chromium (apt install chromium, or ./dev setup)");
        return;
    };
    let e2e = repo().join("web/e2e");
    if !e2e.join("node_modules/playwright-core").is_dir() {
        println!("SKIP: web/e2e/node_modules missing (./dev setup runs npm ci there)");
        return;
    }
    if Command::new("node").arg("--version").output().is_err() {
        println!("SKIP: no node");
        return;
    }
    let broker = match TansuBroker::start() {
        Ok(b) => b,
        Err(reason) => {
            println!("SKIP: {reason}");
            return;
        }
    };
    let bootstrap = broker.bootstrap();
    let dir = scratch("web-browser");
    user_add(&dir, "op-x", "operator", "Xiaohe");
    user_add(&dir, "op-d", "operator", "Dahe");
    let (mut server, base) = serve(&dir, &bootstrap, "127.0.0.1:0");

    let artifacts = repo().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("command-center.png");
    let _ = std::fs::remove_file(&shot);
    let mut node = Command::new("node")
        .current_dir(&e2e)
        .arg("browser.mjs")
        .env("BASE", &base)
        .env("CHROMIUM", &chromium)
        .env("SHOT", &shot)
        .env("OP_USER", "op-x")
        .env("OP_PASS", "op-x-password")
        .env("OTHER_USER", "op-d")
        .env("OTHER_PASS", "op-d-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    let mut out = BufReader::new(node.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    if line.trim() != "READY" {
        let o = node.wait_with_output().unwrap();
        panic!(
            "browser not ready: {line}{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // Now the events: the cameras' health, a fall in Xiaohe (with a picture when the test
    // assets are there), and one in Dahe for the other operator.
    let mut fall = village_alert(AlertKind::Fall, "cam-x", "Xiaohe", 0);
    fall.message = Some("person down for 2.4 s".into());
    fall.snapshot = asset("images/img_people_poses.jpg").map(|p| p.display().to_string());
    let other = village_alert(AlertKind::Fall, "cam-d", "Dahe", 0);
    let mut status =
        KafkaSink::connect(KafkaOptions::new(&bootstrap).topic("sharpeyes.camera-status")).unwrap();
    for (id, village, state) in [
        ("cam-x", "Xiaohe", CameraState::Online),
        ("cam-x2", "Xiaohe", CameraState::Offline),
        ("cam-d", "Dahe", CameraState::Online),
    ] {
        let camera = CameraRef {
            id: CameraId::new(id).unwrap(),
            name: format!("{id} kitchen"),
            village: village.into(),
        };
        let reason = (state != CameraState::Online).then(|| "no frames for 10 s".to_string());
        status
            .send(&Event::from(StatusEvent::new(
                camera,
                UnixMillis(1_795_459_860_000),
                state,
                reason,
            )))
            .unwrap();
    }
    status.flush(Duration::from_secs(20)).unwrap();
    // The picture travels as data on its own topic, keyed by the alert id (as the relay sends
    // it); the path in the alert is never read by the command center.
    if let Some(path) = &fall.snapshot {
        let mut pictures =
            KafkaSink::connect(KafkaOptions::new(&bootstrap).topic("sharpeyes.snapshots")).unwrap();
        pictures
            .send_keyed(&fall.id, &std::fs::read(path).unwrap())
            .unwrap();
        pictures.flush(Duration::from_secs(20)).unwrap();
    }
    let mut sink =
        KafkaSink::connect(KafkaOptions::new(&bootstrap).topic("sharpeyes.alerts")).unwrap();
    for a in [&fall, &other] {
        sink.send(&Event::from(a.clone())).unwrap();
    }
    sink.flush(Duration::from_secs(20)).unwrap();
    writeln!(node.stdin.as_mut().unwrap(), "GO {} {}", fall.id, other.id).unwrap();
    let mut rest = String::new();
    for l in out.lines() {
        let l = l.unwrap();
        rest.push_str(&l);
        rest.push('\n');
        match l.as_str() {
            // The page must notice the server going away, then reconnect by itself.
            "KILL" => {
                let _ = server.kill();
                let _ = server.wait();
            }
            "LOST" => {
                let listen = base.trim_start_matches("http://").to_owned();
                server = serve(&dir, &bootstrap, &listen).0;
                writeln!(node.stdin.as_mut().unwrap(), "BACK").unwrap();
            }
            _ => {}
        }
    }
    let o = node.wait_with_output().unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        o.status.success() && rest.contains("OK"),
        "browser test failed:\n{rest}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let png = std::fs::read(&shot).expect("the screenshot");
    assert_eq!(&png[1..4], b"PNG");
    println!("screenshot: {} ({} bytes)", shot.display(), png.len());
}
