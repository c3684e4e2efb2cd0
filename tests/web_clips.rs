//! Event clips in the command center, the way real clips travel: the pipeline's delivery
//! (outbox, relay, clip shipper) sends a `new` alert to a tansu broker at once and its MP4 once
//! the file is complete; `sharpeyes serve` keeps both; Debian's chromium (playwright-core,
//! web/e2e/clips.mjs) opens the incident, sees "clip not yet available", then the player by
//! itself once the clip is there, which reaches a playable state with the clip's whole duration
//! (pre 5 s + post 10 s). An operator of another village gets 404 for the clip, as for the
//! snapshot; signed out, 401. The clip is over 1 MB: librdkafka's default message limit would
//! refuse it. Screenshot: target/test-artifacts/command-center-clip.png. Skips with a printed
//! reason when chromium, node, the npm packages, GStreamer's x264 or tansu are missing.

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use sharpeyes::delivery::Delivery;
use sharpeyes_core::{AlertKind, Clock, Event, SystemClock};
use sharpeyes_delivery::{ClipSource, KafkaOptions};
use sharpeyes_sim::mp4::write_test_mp4;

mod common;
use common::scratch;
use common::web::{Browser, E2e, serve, user_add, village_alert};

/// The clip: `pre` 5 s before the event and `post` 10 s after it.
const PRE_S: u32 = 5;
const POST_S: u32 = 10;
/// Media durations of an encoder's output differ from the frames' count by about a frame.
const TOLERANCE_S: f64 = 0.5;

#[test]
fn the_incident_detail_plays_its_clip_once_it_arrives_and_another_village_cannot_fetch_it() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let dir = scratch("web-clips");
    // The clip as the writer makes it: H.264 in MP4, pre + post seconds, ~1.9 MB.
    let made = dir.join("made.mp4");
    if let Err(e) = write_test_mp4(&made, PRE_S + POST_S, (640, 360), 10, 1000) {
        println!("SKIP: cannot encode a test MP4 with GStreamer (x264enc, mp4mux): {e}");
        return;
    }
    let size = std::fs::metadata(&made).unwrap().len();
    assert!(
        size > 1_000_000,
        "the test clip ({size} bytes) must be over librdkafka's default message.max.bytes"
    );
    let broker = sharpeyes_sim::broker_or_skip!();
    let bootstrap = broker.bootstrap();
    user_add(&dir, "op-x", "operator", "Xiaohe");
    user_add(&dir, "op-d", "operator", "Dahe");
    let (mut server, base) = serve(&dir, &bootstrap, "127.0.0.1:0");

    // The pipeline's side: outbox → relay → Kafka, and the clip shipper.
    let pipeline = dir.join("pipeline");
    let outbox = pipeline.join("alerts.jsonl");
    let clips = pipeline.join("clips");
    let kafka = KafkaOptions::new(&bootstrap)
        .topic("sharpeyes.alerts")
        .client_id("sharpeyes");
    let mut delivery = Delivery::observed(
        &outbox,
        false,
        Some((kafka.clone(), "sharpeyes.camera-status".into())),
        10_000,
        None,
        None,
    )
    .unwrap();
    delivery.ship_clips(
        ClipSource::new(&clips, "sharpeyes.clips"),
        Some(kafka),
        &outbox,
    );

    let min_duration = f64::from(PRE_S + POST_S) - TOLERANCE_S;
    let E2e {
        mut node,
        out,
        shot,
    } = browser.start(
        "clips.mjs",
        &base,
        "command-center-clip.png",
        &[("MIN_DURATION", min_duration.to_string())],
    );
    // A fall in Xiaohe, raised now; its clip is written `post` seconds later.
    let mut fall = village_alert(AlertKind::Fall, "cam-x", "Xiaohe", 0);
    fall.emitted_time = SystemClock.now().to_rfc3339();
    let clip = clips.join("cam-x").join(format!("{}.mp4", fall.id));
    fall.clip = Some(clip.display().to_string());
    delivery.deliver(Event::from(fall.clone()));
    writeln!(node.stdin.as_mut().unwrap(), "GO {}", fall.id).unwrap();
    let mut rest = String::new();
    let mut lines = out.lines();
    for l in lines.by_ref() {
        let l = l.unwrap();
        rest.push_str(&l);
        rest.push('\n');
        if l == "PENDING" {
            // The writer's way: the muxer writes `<clip>.part`, renamed once complete.
            std::fs::create_dir_all(clip.parent().unwrap()).unwrap();
            let part = clip.with_extension("mp4.part");
            std::fs::copy(&made, &part).unwrap();
            std::fs::rename(&part, &clip).unwrap();
            delivery.clip_ready();
            writeln!(node.stdin.as_mut().unwrap(), "WRITTEN").unwrap();
        }
    }
    let o = node.wait_with_output().unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        o.status.success() && rest.contains("\nOK\n"),
        "browser test failed:\n{rest}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The broker acknowledged the clip: it is recorded, not sent again after a restart.
    let deadline = Instant::now() + Duration::from_secs(10);
    while delivery.clip_state().unwrap().1.sent < 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (waiting, stats) = delivery.clip_state().unwrap();
    assert_eq!((waiting, stats.sent, stats.given_up), (0, 1, 0));
    let png = std::fs::read(&shot).expect("the screenshot");
    assert_eq!(&png[1..4], b"PNG");
    println!(
        "clip of {size} bytes played; screenshot: {}",
        shot.display()
    );
}
