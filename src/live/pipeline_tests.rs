//! The pipeline's status path with a fake camera (no network, no model): status events and
//! heartbeats carry the worker id; heartbeats reach the command center but never the outbox.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sharpeyes_core::{
    CameraId, CameraState, Clock, Event, SourceItem, StatusKind, SystemClock, UnixMillis,
};
use sharpeyes_ingest::{DecodeGate, IngestError};

use super::streamer::{CameraSource, Opener};
use super::{CameraSpec, LivePipeline};
use crate::delivery::Delivery;

/// A camera that sends a frame every 20 ms for ever.
struct Steady(CameraId);

impl CameraSource for Steady {
    fn ready(&self) -> bool {
        true
    }

    fn next_frame(&mut self, _timeout: Duration) -> Result<SourceItem, IngestError> {
        std::thread::sleep(Duration::from_millis(20));
        let mut f =
            sharpeyes_core::testing::grey_frame(self.0.as_str(), (32, 32), (32, 32), |_, _| 128);
        f.time = SystemClock.now();
        Ok(SourceItem::Frame(f))
    }
}

struct SteadyOpener;

impl Opener for SteadyOpener {
    fn open(
        &self,
        spec: &CameraSpec,
        _gate: &Arc<DecodeGate>,
    ) -> Result<Box<dyn CameraSource>, IngestError> {
        Ok(Box::new(Steady(spec.id.clone())))
    }
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sharpeyes-{name}-{}-{}",
        std::process::id(),
        SystemClock.now().0
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn heartbeats_carry_the_worker_and_skip_the_outbox() {
    let dir = scratch("heartbeats");
    let outbox = dir.join("outbox.jsonl");
    let mut delivery = Delivery::new(&outbox, false, None, 100).expect("delivery");
    let store = Arc::new(sharpeyes_web::Store::open(&dir.join("cc.db")).expect("store"));
    let feed = sharpeyes_web::Feed::new(store.clone());
    delivery.attach_web(feed, None);

    let mut p = LivePipeline::new(sharpeyes_core::Canvas::new(32, 32, 0)).expect("pipeline");
    p.opener = Arc::new(SteadyOpener);
    // Only heartbeats may bring fps to the store in this test (not the in-process 2 s path).
    p.live_told = Instant::now() + Duration::from_secs(3600);
    p.set_worker(Some("w7".into()));
    p.set_heartbeat(Some(Duration::from_millis(300)));
    let mut spec = CameraSpec::new(
        CameraId::new("gate").expect("id"),
        url::Url::parse("rtsp://127.0.0.1:1/x").expect("url"),
        5.0,
    );
    spec.village = "Xiaohe".into();
    p.start_camera(spec);

    let admin = sharpeyes_web::User {
        username: "admin".into(),
        role: sharpeyes_web::Role::Admin,
        villages: Default::default(),
    };
    let end = Instant::now() + Duration::from_secs(15);
    let row = loop {
        p.deliver_status(&mut delivery);
        delivery.sync();
        let rows = store.cameras(&admin).expect("cameras");
        if let Some(r) = rows.into_iter().next()
            && r.fps.is_some_and(|f| f > 0.0)
            && delivery.heartbeat_stats().emitted >= 2
        {
            break r;
        }
        assert!(
            Instant::now() < end,
            "no heartbeat with frames reached the store"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        (row.state.as_str(), row.worker.as_deref()),
        ("online", Some("w7"))
    );
    assert!(row.last_frame.is_some());
    // What the heartbeats themselves say.
    let hb = p.heartbeats(UnixMillis(0));
    assert_eq!(hb.len(), 1);
    assert_eq!(
        (hb[0].kind, hb[0].state),
        (StatusKind::CameraHeartbeat, CameraState::Online)
    );
    assert_eq!(hb[0].worker.as_deref(), Some("w7"));
    assert!(hb[0].fps.is_some_and(|f| f > 0.0) && hb[0].last_frame_time.is_some());

    p.shutdown(&mut delivery);
    delivery.sync();
    let stats = delivery.heartbeat_stats();
    assert_eq!(
        (stats.kafka_sent, stats.kafka_dropped),
        (0, 0),
        "no Kafka here"
    );
    let kinds: Vec<(StatusKind, Option<String>)> = sharpeyes_delivery::outbox::read_all(&outbox)
        .expect("outbox")
        .into_iter()
        .map(|e| match e {
            Event::Status(s) => (s.kind, s.worker),
            Event::Alert(a) => panic!("an alert from a grey camera: {a:?}"),
        })
        .collect();
    assert_eq!(
        kinds.first(),
        Some(&(StatusKind::CameraOnline, Some("w7".to_string()))),
        "{kinds:?}"
    );
    assert!(
        kinds
            .iter()
            .all(|(k, w)| *k != StatusKind::CameraHeartbeat && w.as_deref() == Some("w7")),
        "heartbeats stay out of the outbox; every status event names the worker: {kinds:?}"
    );
    drop(delivery);
    let _ = std::fs::remove_dir_all(&dir);
}
