//! Snapshots travel as data, never as paths, with real parts: a tansu broker process,
//! `sharpeyes serve` over real HTTP, and the real pipeline (`demo`) in another working
//! directory.
//!
//! - A forged alert whose `snapshot` names `/etc/passwd`, a traversal path or the command
//!   center's own database never gets that file served; neither does a forged "picture" on the
//!   snapshots topic that is not a JPEG.
//! - `serve` in a directory where none of the pipeline's files are shows the pipeline's real
//!   snapshots (they came over Kafka).

use std::time::{Duration, Instant};

use sharpeyes_core::{AlertKind, Event, EventSink};
use sharpeyes_delivery::{KafkaOptions, KafkaSink};

mod common;
use common::web::{Client, login, serve, user_add, village_alert};
use common::{Kill, scratch, sharpeyes};

/// The incidents `c` sees for `query`.
fn incidents(c: &Client, query: &str) -> Vec<serde_json::Value> {
    c.json(&format!("/api/incidents{query}"))
        .as_array()
        .unwrap()
        .clone()
}

/// Signed in with the password `user_add` gave.
fn sign_in(base: &str, name: &str) -> Client {
    login(base, name, &format!("{name}-password")).expect("login")
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn forged_snapshot_paths_are_never_served_and_real_snapshots_arrive_as_data() {
    let broker = sharpeyes_sim::broker_or_skip!();
    let bootstrap = broker.bootstrap();
    let dir = scratch("web-snapshots");
    let center = dir.join("center");
    let pipeline = dir.join("pipeline");
    std::fs::create_dir_all(&center).unwrap();
    std::fs::create_dir_all(&pipeline).unwrap();
    user_add(&center, "admin", "admin", "");
    user_add(&center, "op-dahe", "operator", "Dahe");
    let (server, base) = serve(&center, &bootstrap, "127.0.0.1:0");
    let _server = Kill(server);
    let admin = sign_in(&base, "admin");

    // Forged alerts, as anyone who can write to the alerts topic could send them.
    let passwd = std::fs::read("/etc/passwd").unwrap_or_else(|_| b"root:x:0:0".to_vec());
    let db_path = center.join("cc.db").display().to_string();
    let forged: Vec<(&str, sharpeyes_core::Alert)> = [
        ("/etc/passwd", 0),
        ("../../../../../../../../etc/passwd", 1000),
        ("/proc/self/environ", 2000),
        ("cc.db", 3000),
        (db_path.as_str(), 4000),
    ]
    .into_iter()
    .map(|(path, t)| {
        let mut a = village_alert(AlertKind::Fall, "cam-x", "Xiaohe", t);
        a.snapshot = Some(path.to_owned());
        (path, a)
    })
    .collect();
    let mut alerts =
        KafkaSink::connect(KafkaOptions::new(&bootstrap).topic("sharpeyes.alerts")).unwrap();
    for (_, a) in &forged {
        alerts.send(&Event::from(a.clone())).unwrap();
    }
    alerts.flush(Duration::from_secs(20)).unwrap();
    // And a "picture" that is the password file, keyed by the first forged alert.
    let mut pictures =
        KafkaSink::connect(KafkaOptions::new(&bootstrap).topic("sharpeyes.snapshots")).unwrap();
    pictures.send_keyed(&forged[0].1.id, &passwd).unwrap();
    pictures.flush(Duration::from_secs(20)).unwrap();
    wait_for("the forged incidents", 30, || {
        incidents(&admin, "?kind=fall").len() == forged.len()
    });
    // Let the forged picture reach serve too before asking.
    std::thread::sleep(Duration::from_secs(2));
    let environ = std::fs::read("/proc/self/environ").unwrap_or_default();
    for (path, a) in &forged {
        let (status, body) = admin.get_bytes(&format!("/api/incidents/{}/snapshot", a.incident));
        assert_eq!(status, 404, "snapshot naming {path} answered {status}");
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains("root:") && !text.contains("SQLite format") && !text.contains("PATH="),
            "snapshot naming {path} leaked a file: {text:.200}"
        );
        assert!(environ.is_empty() || !body.windows(8).any(|w| environ.starts_with(w)));
    }

    // The real pipeline, in a directory serve has never seen: its pictures come as data.
    let Some(mut cmd) = sharpeyes(&pipeline) else {
        return;
    };
    let out = cmd
        .args([
            "demo",
            "--port",
            "0",
            "--duration",
            "25",
            "--kafka",
            &bootstrap,
        ])
        .output()
        .expect("run the demo");
    assert!(
        out.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let local = walk_jpegs(&pipeline.join("var/snapshots"));
    assert!(!local.is_empty(), "the demo wrote snapshots");
    let mut shown = 0;
    let mut served_id = String::new();
    wait_for("a real snapshot served", 30, || {
        shown = 0;
        for row in incidents(&admin, "?kind=person_detected") {
            if row["has_snapshot"] != true {
                continue;
            }
            let id = row["id"].as_str().unwrap();
            let (status, body) = admin.get_bytes(&format!("/api/incidents/{id}/snapshot"));
            if status == 200 {
                assert!(body.starts_with(&[0xFF, 0xD8, 0xFF]), "a JPEG");
                assert!(
                    local.iter().any(|l| *l == body),
                    "the very picture the pipeline wrote"
                );
                shown += 1;
                served_id = id.to_owned();
            }
        }
        shown > 0
    });
    // An operator of another village cannot tell the incident exists.
    let other = sign_in(&base, "op-dahe");
    let (status, body) = other.get_bytes(&format!("/api/incidents/{served_id}/snapshot"));
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 404, "{body}");
    assert!(!body.contains("Demo village"), "{body}");
    println!(
        "forged: {} paths refused; real: {shown} snapshots served from Kafka ({} written)",
        forged.len(),
        local.len()
    );
}

/// The contents of every .jpg under `dir`.
fn walk_jpegs(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_jpegs(&p));
        } else if p.extension().is_some_and(|x| x == "jpg") {
            out.push(std::fs::read(&p).unwrap());
        }
    }
    out
}
