//! Real parts on loopback: a gst-rtsp-server serving a real clip, read back through retina and
//! GStreamer decode; a file decoded as fast as possible.

use std::time::{Duration, Instant};

use sharpeyes_core::testing::asset;
use sharpeyes_core::{CameraId, FrameSource, SourceItem, UnixMillis};
use sharpeyes_ingest::{FileSource, RtspOptions, RtspSource, SimCamera, SimServer};

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
        RtspOptions::new(CameraId::new("cam-1").expect("id"), url, 416, 416),
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
    // The border rows are black, the picture rows are not all black.
    assert_eq!(f.bgr_at(208, 10), [0, 0, 0]);
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
        RtspOptions::new(CameraId::new("gone").expect("id"), url, 416, 416),
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
        416,
        416,
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
    let mut options = RtspOptions::new(CameraId::new("junk").expect("id"), url, 416, 416);
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
