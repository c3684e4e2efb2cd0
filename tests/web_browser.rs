//! The command center in a real browser: Debian's chromium driven by playwright-core
//! (web/e2e/browser.mjs), against `sharpeyes serve` fed by a tansu broker. Signs in, sees a
//! new alert appear live, acknowledges and resolves it, and checks that an operator of another
//! village never sees it. Writes the screenshot to target/test-artifacts/command-center.png.
//! Skips with a printed reason when chromium, node, the npm packages or tansu are missing.

use std::io::{BufRead, Write};
use std::time::Duration;

use sharpeyes_core::testing::asset;
use sharpeyes_core::{
    AlertKind, CameraId, CameraRef, CameraState, Event, EventSink, StatusEvent, UnixMillis,
};
use sharpeyes_delivery::{KafkaOptions, KafkaSink};

mod common;
use common::scratch;
use common::web::{Browser, E2e, serve, user_add, village_alert};

#[test]
fn operator_sees_an_alert_live_acknowledges_and_resolves_it_and_another_village_never_sees_it() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let broker = sharpeyes_sim::broker_or_skip!();
    let bootstrap = broker.bootstrap();
    let dir = scratch("web-browser");
    user_add(&dir, "op-x", "operator", "Xiaohe");
    user_add(&dir, "op-d", "operator", "Dahe");
    let (mut server, base) = serve(&dir, &bootstrap, "127.0.0.1:0");

    let E2e {
        mut node,
        out,
        shot,
    } = browser.start("browser.mjs", &base, "command-center.png", &[]);
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
