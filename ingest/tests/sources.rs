//! Real parts on loopback: a gst-rtsp-server serving a real clip, read back through retina and
//! GStreamer decode; a file decoded as fast as possible.

use std::time::{Duration, Instant};

use sharpeyes_core::testing::asset;
use sharpeyes_core::{CameraId, Canvas, FrameSource, SourceItem, UnixMillis};
use sharpeyes_ingest::{FileSource, RtspOptions, RtspSource};
use sharpeyes_sim::{SimCamera, SimServer};

#[test]
fn rtsp_camera_yields_letterboxed_frames_from_a_real_server() {
    let Some(clip) = asset("videos/people_walking_indoor_intel.mp4") else {
        return;
    };
    let server = SimServer::start(&[SimCamera::clip("cam-1", clip)], 0).expect("server");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let url = url::Url::parse(&server.url("cam-1")).expect("url");
    let mut src = RtspSource::start(
        rt.handle(),
        RtspOptions::new(
            CameraId::new("cam-1").expect("id"),
            url,
            Canvas::new(416, 416, 114),
        ),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut frames = Vec::new();
    while frames.len() < 10 && Instant::now() < deadline {
        match src
            .next_frame(Duration::from_millis(500))
            .expect("source healthy")
        {
            SourceItem::Frame(f) => frames.push(f),
            SourceItem::Timeout => {}
            SourceItem::End => panic!("a live camera does not end"),
        }
    }
    assert_eq!(frames.len(), 10, "10 frames within 20 s");
    let f = &frames[9];
    assert_eq!((f.width, f.height), (416, 416));
    assert_eq!((f.letterbox.src_width, f.letterbox.src_height), (768, 432));
    assert_eq!(f.letterbox.pad_y, 91.0);
    // The border rows carry the model's pad, the picture rows are not all black.
    assert_eq!(f.bgr_at(208, 10), [114, 114, 114]);
    let mid_row_sum: u32 = (0..416)
        .map(|x| f.bgr_at(x, 208).iter().map(|&v| v as u32).sum::<u32>())
        .sum();
    assert!(mid_row_sum > 416 * 30, "picture area has content");
    assert!(frames.windows(2).all(|w| w[1].seq > w[0].seq));
}

#[test]
fn rtsp_to_a_closed_port_fails_with_a_transient_error() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = url::Url::parse(&format!("rtsp://127.0.0.1:{port}/x")).expect("url");
    let mut src = RtspSource::start(
        rt.handle(),
        RtspOptions::new(
            CameraId::new("gone").expect("id"),
            url,
            Canvas::new(416, 416, 114),
        ),
    );
    let err = loop {
        match src.next_frame(Duration::from_millis(500)) {
            Err(e) => break e,
            Ok(SourceItem::Timeout) => {}
            Ok(other) => panic!("unexpected {other:?}"),
        }
    };
    assert!(err.is_transient(), "{err}");
    assert!(
        err.to_string().contains("gone"),
        "error names the camera: {err}"
    );
}

#[test]
fn file_source_decodes_every_frame_then_ends() {
    let Some(clip) = asset("videos/vehicles_parking_overhead_intel.mp4") else {
        return;
    };
    let mut src = FileSource::open(
        CameraId::new("file").expect("id"),
        &clip,
        Canvas::new(416, 416, 114),
        UnixMillis(1_000_000),
    )
    .expect("open");
    let mut n = 0u64;
    let mut last_time = UnixMillis(0);
    loop {
        match src.next_frame(Duration::from_secs(10)).expect("decode") {
            SourceItem::Frame(f) => {
                assert_eq!(f.seq, n);
                last_time = f.time;
                n += 1;
            }
            SourceItem::End => break,
            SourceItem::Timeout => panic!("a file does not time out"),
        }
    }
    // 30 s at 12.5 fps.
    assert!((370..=380).contains(&n), "frames: {n}");
    assert!(
        (last_time.0 - 1_000_000 - 29_900).abs() < 300,
        "media time of the last frame: {last_time:?}"
    );
}

/// Every decoded frame reaches the model as the project's one resize makes it: the canvas is,
/// byte for byte, `sharpeyes_core::resize::letterbox` (OpenCV's `INTER_LINEAR`, the models'
/// training pre-processing) of the camera's own picture as GStreamer decoded it. Before, GStreamer
/// scaled live frames itself with another filter and black borders.
#[test]
fn frames_are_the_models_letterbox_of_the_decoded_picture() {
    let Some(clip) = asset("videos/vehicles_parking_overhead_intel.mp4") else {
        return;
    };
    let open = |canvas| {
        FileSource::open(
            CameraId::new("file").expect("id"),
            &clip,
            canvas,
            UnixMillis(0),
        )
        .expect("open")
    };
    let frames = |src: &mut FileSource, n: usize| {
        let mut out = Vec::new();
        while out.len() < n {
            match src.next_frame(Duration::from_secs(10)).expect("decode") {
                SourceItem::Frame(f) => out.push(f),
                other => panic!("expected a frame, got {other:?}"),
            }
        }
        out
    };
    let canvas = Canvas::new(416, 416, 114);
    let modelled = frames(&mut open(canvas), 5);
    let (w, h) = (
        modelled[0].letterbox.src_width,
        modelled[0].letterbox.src_height,
    );
    assert!(
        w > 416 && h != w,
        "a picture that must shrink and be padded: {w}x{h}"
    );
    // The same file at its own size: the resize is then a plain copy of the decoded picture.
    let own = frames(&mut open(Canvas::new(w, h, 0)), 5);
    for (m, o) in modelled.iter().zip(&own) {
        assert_eq!(
            (o.width, o.height, o.letterbox.pad_x, o.letterbox.pad_y),
            (w, h, 0.0, 0.0)
        );
        let (want, lb) = sharpeyes_core::resize::letterbox(
            &o.data,
            (w, h, o.stride),
            canvas,
            sharpeyes_core::resize::Channels::Same,
        );
        assert_eq!(m.letterbox, lb, "frame {}", m.seq);
        let first_difference = m.data.iter().zip(&want[..]).position(|(a, b)| a != b);
        assert_eq!(
            first_difference, None,
            "frame {}: first differing byte",
            m.seq
        );
    }
}

#[test]
fn garbage_on_the_rtsp_port_is_a_clear_error_not_a_panic() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        for _ in 0..3 {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            let _ =
                s.write_all(b"\x00\xffHTTP/9.9 banana\r\n\x07\x08garbage garbage\r\n\r\n\xfe\xfd");
        }
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let url = url::Url::parse(&format!("rtsp://127.0.0.1:{port}/x")).expect("url");
    let mut options = RtspOptions::new(
        CameraId::new("junk").expect("id"),
        url,
        Canvas::new(416, 416, 114),
    );
    options.connect_timeout = Duration::from_secs(3);
    let mut src = RtspSource::start(rt.handle(), options);
    let err = loop {
        match src.next_frame(Duration::from_millis(500)) {
            Err(e) => break e,
            Ok(SourceItem::Timeout) => {}
            Ok(other) => panic!("unexpected {other:?}"),
        }
    };
    let msg = err.to_string();
    assert!(
        msg.contains("junk") && msg.contains(&format!("127.0.0.1:{port}")),
        "names camera and address: {msg}"
    );
    assert!(err.is_transient(), "{msg}");
    drop(src);
    drop(server);
}

/// The H.264 access units of `clip` as retina hands them over (AVC: length-prefixed NAL units,
/// one whole picture each) with their keyframe flags, and the avcC record.
fn access_units(clip: &std::path::Path) -> (Vec<u8>, Vec<(Vec<u8>, bool)>) {
    use gstreamer as gst;
    use gstreamer::prelude::*;
    sharpeyes_ingest::init_gstreamer().expect("GStreamer");
    let launch = format!(
        "filesrc location=\"{}\" ! qtdemux ! h264parse \
         ! video/x-h264,stream-format=avc,alignment=au ! appsink name=sink sync=false",
        clip.display()
    );
    let pipeline = gst::parse::launch(&launch)
        .expect("reader")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    let sink = pipeline
        .by_name("sink")
        .and_then(|e| e.downcast::<gstreamer_app::AppSink>().ok())
        .expect("appsink");
    pipeline.set_state(gst::State::Playing).expect("playing");
    let (mut codec_data, mut aus) = (Vec::new(), Vec::new());
    while let Ok(sample) = sink.pull_sample() {
        if codec_data.is_empty() {
            let caps = sample.caps().expect("caps");
            let record = caps
                .structure(0)
                .and_then(|s| s.get::<gst::Buffer>("codec_data").ok())
                .expect("avcC in the caps");
            codec_data = record.map_readable().expect("readable").to_vec();
        }
        let buf = sample.buffer().expect("buffer");
        let key = !buf.flags().contains(gst::BufferFlags::DELTA_UNIT);
        aus.push((buf.map_readable().expect("readable").to_vec(), key));
    }
    let _ = pipeline.set_state(gst::State::Null);
    (codec_data, aus)
}

#[test]
fn a_decoder_that_falls_behind_drops_and_counts_instead_of_growing() {
    use sharpeyes_ingest::{AuDecoder, MAX_QUEUED_BYTES, VideoCodec};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(clip) = asset("videos/people_walking_indoor_intel.mp4") else {
        return;
    };
    let (codec_data, aus) = access_units(&clip);
    assert!(aus.len() > 1000, "{} access units", aus.len());
    // Whoever takes the frames is stuck (the callback runs on the decoder's streaming thread):
    // decoding stops after the first picture, and access units keep coming from the network.
    let release = Arc::new(AtomicBool::new(false));
    let held = release.clone();
    let decoder = AuDecoder::new(
        &CameraId::new("slow").expect("id"),
        VideoCodec::H264,
        &codec_data,
        Canvas::new(416, 416, 114),
        move |_| {
            while !held.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(5));
            }
        },
    )
    .expect("decoder");
    let (mut pushed, mut refused, mut refused_bytes, mut peak) = (0u64, 0u64, 0u64, 0u64);
    // The clip eight times (26 MB), as fast as the pushes go: far more than the queue holds.
    for (au, key) in aus.iter().cycle().take(aus.len() * 8) {
        pushed += au.len() as u64;
        if !decoder.push_au(au, *key, false).expect("pipeline healthy") {
            refused += 1;
            refused_bytes += au.len() as u64;
        }
        peak = peak.max(decoder.queued_bytes());
    }
    let drops = decoder.input_drops();
    println!(
        "pushed {pushed} bytes, queue peaked at {peak} bytes (bound {MAX_QUEUED_BYTES}), \
         {refused} access units ({refused_bytes} bytes) dropped"
    );
    release.store(true, Ordering::Relaxed);
    assert!(
        pushed > 2 * MAX_QUEUED_BYTES,
        "the test pushes more than the bound"
    );
    assert!(
        peak <= MAX_QUEUED_BYTES,
        "queue never grows past its bound: {peak}"
    );
    assert!(peak > MAX_QUEUED_BYTES / 2, "the queue did fill: {peak}");
    assert!(refused > 0, "the drop counter rises");
    assert_eq!(
        (drops.access_units, drops.bytes),
        (refused, refused_bytes),
        "every refusal counted"
    );
    drop(decoder);
}
