//! No alert is lost to a full disk: the real binary (`demo`, simulated cameras over real RTSP)
//! with its outbox on a small tmpfs, a real tansu broker. The tmpfs is filled to the brim while
//! the pipeline runs; the events raised meanwhile are held in memory (the log says which), and
//! once space returns every one of them is in the outbox and on its Kafka topic, by id.
//!
//! Mounting a tmpfs needs root (or password-less sudo); without either the test is skipped and
//! says why.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sharpeyes_core::Event;
use sharpeyes_sim::consume_n;

mod common;
use common::{Kill, read_events, scratch, sharpeyes};

/// A tmpfs of `size` mounted at `dir` for the test's life.
struct Tmpfs {
    dir: std::path::PathBuf,
    sudo: bool,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Self, String> {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let mut cmd = if root {
            Command::new("mount")
        } else {
            let mut c = Command::new("sudo");
            c.args(["-n", "mount"]);
            c
        };
        let out = cmd
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cannot mount a tmpfs (needs root or password-less sudo): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self {
            dir: dir.to_owned(),
            sudo: !root,
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let mut c = if self.sudo {
            let mut c = Command::new("sudo");
            c.args(["-n", "umount", "-l"]);
            c
        } else {
            let mut c = Command::new("umount");
            c.arg("-l");
            c
        };
        let _ = c.arg(&self.dir).status();
    }
}

/// Writes zeros to `path` until the file system says it is full.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).expect("filler");
    let block = [0u8; 4096];
    let mut n = 0;
    loop {
        match f.write(&block) {
            Ok(0) => break,
            Ok(k) => n += k as u64,
            Err(_) => break,
        }
    }
    // The last partial block, byte by byte: to the brim.
    while let Ok(1) = f.write(&block[..1]) {
        n += 1;
    }
    let _ = f.sync_all();
    n
}

/// Ids of the events the log says were held because the outbox could not be written.
fn held_ids(log: &str) -> Vec<(String, String)> {
    log.lines()
        .filter(|l| l.contains("OUTBOX WRITE FAILED"))
        .filter_map(|l| {
            let field = |name: &str| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(name))
                    .map(|v| v.trim_matches('"').to_owned())
            };
            Some((field("event=")?, field("kind=")?))
        })
        .collect()
}

#[test]
fn alerts_raised_while_the_outbox_disk_is_full_reach_kafka_after_space_returns() {
    let broker = sharpeyes_sim::broker_or_skip!();
    let bootstrap = broker.bootstrap();
    let dir = scratch("outbox-disk-full");
    let full = dir.join("full");
    std::fs::create_dir_all(&full).unwrap();
    let _tmpfs = match Tmpfs::mount(&full, "256k") {
        Ok(t) => t,
        Err(reason) => {
            eprintln!("SKIP: {reason}");
            return;
        }
    };
    let log_path = dir.join("stderr.log");
    let Some(mut cmd) = sharpeyes(&dir) else {
        return;
    };
    // Killed however the test ends: a demo left running on a full disk holds its alerts forever.
    let mut child = Kill(
        cmd.args([
            "demo",
            "--port",
            "0",
            "--kafka",
            &bootstrap,
            "--outbox",
            "full/outbox.jsonl",
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("start sharpeyes demo"),
    );
    let outbox = full.join("outbox.jsonl");
    let wait = |what: &str, secs: u64, ok: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !ok() {
            assert!(Instant::now() < deadline, "{what}: not within {secs} s");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let lines = || {
        std::fs::read_to_string(&outbox)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    wait("the cameras' first events in the outbox", 90, &|| {
        lines() >= 2
    });
    let before = read_events(&outbox).len();

    // The disk fills up. Events raised from now on cannot be written.
    let filled = fill(&full.join("filler"));
    println!("tmpfs filled with {filled} bytes after {before} events");
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    wait(
        "an alert held in memory while the disk is full",
        120,
        &|| {
            held_ids(&log())
                .iter()
                .any(|(_, kind)| !kind.starts_with("camera_"))
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    // (A short line may still fit in the outbox's last, partly used page: only what the log
    // says was held is known not to be on disk.)
    let written: HashSet<String> = read_events(&outbox)
        .iter()
        .map(|e| e.id().to_owned())
        .collect();
    let held_now = held_ids(&log());
    assert!(
        held_now.iter().all(|(id, _)| !written.contains(id)),
        "an event reported held is in the outbox while the disk is still full"
    );

    // Space returns: the held events are written by the retry, then relayed.
    std::fs::remove_file(full.join("filler")).unwrap();
    let held: Vec<(String, String)> = held_ids(&log());
    let held_set: HashSet<String> = held.iter().map(|(id, _)| id.clone()).collect();
    wait("the held events written to the outbox", 30, &|| {
        let ids: HashSet<String> = read_events(&outbox)
            .iter()
            .map(|e| e.id().to_owned())
            .collect();
        held_set.is_subset(&ids)
    });
    // Ctrl-C: a clean stop that waits for Kafka.
    let _ = Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status();
    let status = child.0.wait().unwrap();
    assert!(status.success(), "demo exited with {status}");

    let all = read_events(&outbox);
    let ids: Vec<String> = all.iter().map(|e| e.id().to_owned()).collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "each event once in the outbox");
    let alerts_expected: HashSet<String> = all
        .iter()
        .filter(|e| !e.is_status())
        .map(|e| e.id().to_owned())
        .collect();
    let on_kafka: HashSet<String> = consume_n(
        &bootstrap,
        "sharpeyes.alerts",
        alerts_expected.len(),
        Duration::from_secs(60),
    )
    .expect("read the alerts topic")
    .iter()
    .map(|m| {
        let e: Event = serde_json::from_str(m.payload.as_deref().unwrap()).unwrap();
        e.id().to_owned()
    })
    .collect();
    let held_alerts: Vec<&String> = held
        .iter()
        .filter(|(_, k)| !k.starts_with("camera_"))
        .map(|(id, _)| id)
        .collect();
    for id in &held_alerts {
        assert!(
            on_kafka.contains(*id),
            "alert {id}, raised while the disk was full, is not on Kafka"
        );
    }
    assert_eq!(on_kafka, alerts_expected, "every alert of the outbox, once");
    let text = log();
    assert!(
        text.contains("the outbox is writable again"),
        "the recovery is logged"
    );
    println!(
        "{} events held while full ({} alerts), all in the outbox and {} alerts on Kafka",
        held.len(),
        held_alerts.len(),
        on_kafka.len()
    );
}
