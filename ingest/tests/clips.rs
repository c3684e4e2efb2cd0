//! Event clips with real parts: a recorded file's access units through the ring, written by
//! GStreamer (remux, and masked re-encode), checked with GStreamer's own discoverer
//! (`gst-discoverer-1.0`) and decoder, never with our parser.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sharpeyes_core::CameraId;
use sharpeyes_core::testing::asset;
use sharpeyes_ingest::MaskPolygon;
use sharpeyes_ingest::clip_ring::{ClipJob, ClipOptions, ClipRing};
use sharpeyes_ingest::clip_writer::{read_file_access_units, write_clip};
use sharpeyes_sim::clip_check::{decode_luma, discovered_duration};

/// The staged fall, H.264 30 fps, keyframes every 2 s, no B-frames, 6.9 s.
const FALL: &str = "videos/fall_staged_indoor_thanhnc58_Fall01.mp4";
/// The same re-encoded with B-frames, keyframes every 1 s, 16.9 s.
const FALL_PADDED: &str = "videos/fall_staged_indoor_thanhnc58_Fall01_padded.mp4";

fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/test-scratch")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// The clip of an event at `event_s` of `file` (replay start 0), cut by the ring.
fn cut(file: &Path, event_s: f64, pre_s: f64, post_s: f64, masks: Vec<MaskPolygon>) -> ClipJob {
    let camera = CameraId::new("cam").unwrap();
    let mut ring = ClipRing::new(
        camera.clone(),
        ClipOptions {
            pre_ms: (pre_s * 1000.0) as i64,
            post_ms: (post_s * 1000.0) as i64,
            masks: Arc::from(masks),
            ..ClipOptions::default()
        },
    );
    let event_ms = (event_s * 1000.0) as i64;
    let mut started = false;
    let mut format = None;
    let mut done = Vec::new();
    read_file_access_units(&camera, file, 0, |f, au| {
        if format.as_ref() != Some(f) {
            done.extend(ring.restart(f.clone()));
            format = Some(f.clone());
        }
        if !started && au.time_ms >= event_ms {
            ring.start("alert", event_ms).unwrap();
            started = true;
        }
        done.extend(ring.push(au));
    })
    .unwrap();
    done.extend(ring.finish_all());
    assert_eq!(done.len(), 1);
    done.pop().unwrap()
}

fn mean(luma: &[u8], w: u32, x: (u32, u32), y: (u32, u32)) -> f64 {
    let mut sum = 0u64;
    let mut n = 0u64;
    for yy in y.0..y.1 {
        for xx in x.0..x.1 {
            sum += luma[(yy * w + xx) as usize] as u64;
            n += 1;
        }
    }
    sum as f64 / n as f64
}

#[test]
fn remuxed_clip_spans_pre_and_post_from_a_keyframe() {
    let Some(file) = asset(FALL_PADDED) else {
        return;
    };
    // Event at 8.5 s, pre 5 s, post 5 s: the last keyframe at or before 3.5 s is at 3 s
    // (keyframes every second), the clip ends at 13.5 s: 10.5 s.
    let job = cut(&file, 8.5, 5.0, 5.0, Vec::new());
    assert!(!job.truncated);
    let dir = scratch("clips-remux");
    let path = dir.join("cam/alert.mp4");
    let ready = write_clip(&job, &path).unwrap();
    assert!(!ready.masked);
    assert!(path.is_file() && !dir.join("cam/alert.mp4.part").exists());
    let Some(duration) = discovered_duration(&path) else {
        return;
    };
    assert!(
        (duration - 10.5).abs() < 0.15,
        "duration {duration} s, wanted 10.5 s (pre to the keyframe before, plus post)"
    );
    let frames = decode_luma(&path);
    // 10.5 s at 30 fps.
    assert!(
        (313..=317).contains(&frames.len()),
        "{} frames",
        frames.len()
    );
    let first_pts = frames.iter().map(|f| f.0).fold(f64::INFINITY, f64::min);
    assert!(
        (0.0..0.1).contains(&first_pts),
        "first picture at {first_pts} s, wanted 0 (B-frames may delay it by a frame or two)"
    );
}

#[test]
fn a_clip_without_b_frames_starts_at_zero_and_keeps_the_camera_bytes() {
    let Some(file) = asset(FALL) else {
        return;
    };
    // Event at 5 s, pre 2 s → keyframe at 2 s; post 1.5 s → 6.5 s: 4.5 s.
    let job = cut(&file, 5.0, 2.0, 1.5, Vec::new());
    let dir = scratch("clips-remux-nob");
    let path = dir.join("cam/alert.mp4");
    write_clip(&job, &path).unwrap();
    let Some(duration) = discovered_duration(&path) else {
        return;
    };
    assert!((duration - 4.5).abs() < 0.1, "duration {duration}");
    let frames = decode_luma(&path);
    assert_eq!(
        frames.len(),
        job.aus.len(),
        "every access unit, none re-encoded away"
    );
    assert!(
        frames[0].0.abs() < 0.001,
        "first picture at {} s",
        frames[0].0
    );
}

#[test]
fn masked_clip_is_black_inside_the_mask_only() {
    let Some(file) = asset(FALL) else {
        return;
    };
    // The left half of the picture masked.
    let mask = vec![[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]];
    let job = cut(&file, 4.0, 2.0, 2.0, vec![mask]);
    let dir = scratch("clips-masked");
    let path = dir.join("cam/alert.mp4");
    let ready = write_clip(&job, &path).unwrap();
    assert!(ready.masked);
    let frames = decode_luma(&path);
    assert!(frames.len() >= 100, "{} frames", frames.len());
    for (pts, w, h, luma) in &frames {
        // Two pixels away from the mask's edge, where the encoder may blur it.
        let masked = mean(luma, *w, (0, w / 2 - 2), (0, *h));
        let open = mean(luma, *w, (w / 2 + 2, *w), (0, *h));
        assert!(
            masked < 20.0,
            "at {pts} s the masked half has mean luma {masked}"
        );
        assert!(open > 40.0, "at {pts} s the open half has mean luma {open}");
    }
    if let Some(duration) = discovered_duration(&path) {
        // Keyframe at 2 s (pre reaches 2 s exactly), end 6 s: 4 s.
        assert!((duration - 4.0).abs() < 0.1, "duration {duration}");
    }
}

/// CPU seconds (user + system) of this process so far, from /proc (Linux).
fn process_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which is in parentheses): utime is the 12th, stime the
    // 13th of them; in clock ticks (100 per second on Linux).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

/// The measurement behind README's "Clips" numbers (run by hand, one at a time):
/// `cargo test --release -p sharpeyes-ingest --test clips -- --ignored --nocapture clip_costs`
#[test]
#[ignore = "a measurement, not a check"]
fn clip_costs() {
    let Some(file) = asset(FALL_PADDED) else {
        return;
    };
    let dir = scratch("clips-cost");
    // A 15 s clip (pre 5, post 10) of the 406x720 30 fps file.
    let plain = cut(&file, 6.0, 5.0, 10.0, Vec::new());
    let mask = vec![[0.0, 0.0], [1.0, 0.0], [1.0, 0.33], [0.0, 0.33]];
    let masked = cut(&file, 6.0, 5.0, 10.0, vec![mask]);
    let seconds = plain.duration_ms() as f64 / 1000.0;
    let n = 10;
    for (what, job) in [("remux", &plain), ("masked re-encode", &masked)] {
        let cpu0 = process_cpu_s();
        let t0 = std::time::Instant::now();
        for i in 0..n {
            write_clip(job, &dir.join(format!("cam/{i}.mp4"))).unwrap();
        }
        let cpu = (process_cpu_s() - cpu0) / n as f64;
        let wall = t0.elapsed().as_secs_f64() / n as f64;
        println!(
            "{what}: {seconds:.1} s clip, {} KB in: CPU {cpu:.3} s per clip, wall {wall:.3} s",
            job.bytes() / 1000
        );
    }
    // The ring: a camera's pre + margin at this file's bitrate.
    let camera = CameraId::new("cam").unwrap();
    let mut ring = ClipRing::new(camera.clone(), ClipOptions::default());
    let mut max = 0;
    read_file_access_units(&camera, &file, 0, |f, au| {
        if ring.bytes() == 0 && au.keyframe {
            ring.restart(f.clone());
        }
        ring.push(au);
        max = max.max(ring.bytes());
    })
    .unwrap();
    println!(
        "ring (pre 5 s + 2 s margin): at most {} KB, {} KB at the end spanning {} ms",
        max / 1000,
        ring.bytes() / 1000,
        ring.span_ms()
    );
}

#[test]
fn a_clip_of_b_frames_without_decode_times_is_whole_and_in_order() {
    // An RTSP camera gives only presentation times (RTP), in decode order: with B-frames they
    // go back and forth. The padded fall has B-frames; drop its decode times as RTSP would.
    let Some(file) = asset(FALL_PADDED) else {
        return;
    };
    let mut job = cut(&file, 8.5, 5.0, 5.0, Vec::new());
    assert!(
        job.aus.windows(2).any(|w| w[1].pts_ns < w[0].pts_ns),
        "the file has B-frames: presentation times out of decode order"
    );
    for au in &mut job.aus {
        au.dts_ns = None;
    }
    let dir = scratch("clips-bframes-rtsp");
    let path = dir.join("cam/alert.mp4");
    write_clip(&job, &path).unwrap();
    let Some(duration) = discovered_duration(&path) else {
        return;
    };
    assert!((duration - 10.5).abs() < 0.15, "duration {duration} s");
    let frames = decode_luma(&path);
    assert_eq!(frames.len(), job.aus.len(), "every picture decoded");
    let times: Vec<f64> = frames.iter().map(|f| f.0).collect();
    assert!(
        times.windows(2).all(|w| w[1] > w[0]),
        "pictures in presentation order, none twice: {times:?}"
    );
    // Shown after the reorder delay made for it (3 frames of this file: 0.1 s).
    assert!(
        (0.0..0.15).contains(&times[0]),
        "first picture at {} s",
        times[0]
    );
}

#[test]
fn an_rtsp_camera_with_b_frames_gets_a_whole_clip_in_order() {
    use sharpeyes_core::{Canvas, Clock, FrameSource, SourceItem, SystemClock};
    use sharpeyes_ingest::clip_writer::{ClipWriter, ClipWriterOptions};
    use sharpeyes_ingest::{RtspOptions, RtspSource};
    use sharpeyes_sim::{SimCamera, SimCodec, SimServer};
    use std::time::{Duration, Instant};

    // A real RTSP server sending H.264 with B-frames; retina gives presentation times only.
    let Some(video) = asset("videos/people_walking_indoor_intel.mp4") else {
        return;
    };
    let camera_spec = SimCamera {
        codec: SimCodec::H264BFrames,
        ..SimCamera::clip("cam-b", video)
    };
    let server = SimServer::start(&[camera_spec], 0).expect("server");
    let dir = scratch("clips-rtsp-bframes");
    let (tx, rx) = std::sync::mpsc::channel();
    let mut options = ClipWriterOptions::new(&dir);
    options.on_ready = Some(Arc::new(move |r: &sharpeyes_core::ClipReady| {
        let _ = tx.send(r.clone());
    }));
    let writer = ClipWriter::start(options).expect("clip writer");
    let camera = CameraId::new("cam-b").unwrap();
    let tap = writer.tap(
        camera.clone(),
        ClipOptions {
            pre_ms: 2000,
            post_ms: 2000,
            ..ClipOptions::default()
        },
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let mut rtsp = RtspOptions::new(
        camera,
        url::Url::parse(&server.url("cam-b")).expect("url"),
        Canvas::new(416, 416, 114),
    );
    rtsp.clip_tap = Some(tap.clone());
    let mut src = RtspSource::start(rt.handle(), rtsp);
    let mut frames = 0;
    let mut pump = |until: Instant, frames: &mut usize| {
        while Instant::now() < until {
            if let SourceItem::Frame(_) =
                src.next_frame(Duration::from_millis(200)).expect("healthy")
            {
                *frames += 1;
            }
        }
    };
    // The ring fills (it would start over at every B-frame if it took them for a new stream).
    let deadline = Instant::now() + Duration::from_secs(30);
    while tap.ring_span_ms() < 2500 && Instant::now() < deadline {
        pump(Instant::now() + Duration::from_millis(300), &mut frames);
    }
    assert!(
        tap.ring_span_ms() >= 2500,
        "the ring holds pre and more within 30 s: {} ms",
        tap.ring_span_ms()
    );
    assert!(frames > 10, "the camera's B-frames decode: {frames} frames");
    let event_ms = SystemClock.now().0;
    tap.start("alert", event_ms).expect("a clip starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    let ready = loop {
        if let Ok(r) = rx.try_recv() {
            break r;
        }
        assert!(Instant::now() < deadline, "no clip within 20 s");
        pump(Instant::now() + Duration::from_millis(300), &mut frames);
    };
    let Some(duration) = discovered_duration(&ready.path) else {
        return;
    };
    assert!(
        (4.0..7.5).contains(&duration),
        "pre 2 s from a keyframe (GOP 30) + post 2 s: {duration} s"
    );
    let pictures = decode_luma(&ready.path);
    let times: Vec<f64> = pictures.iter().map(|p| p.0).collect();
    assert!(
        times.windows(2).all(|w| w[1] > w[0]),
        "pictures in presentation order, none twice: {times:?}"
    );
    let step = (times[times.len() - 1] - times[0]) / (times.len() - 1) as f64;
    assert!(
        times.windows(2).all(|w| w[1] - w[0] < 2.5 * step),
        "no picture missing: {times:?}"
    );
    assert!(
        (duration - (times.len() as f64 * step)).abs() < 0.2,
        "{duration} s, {} pictures",
        times.len()
    );
}
