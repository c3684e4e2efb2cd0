//! ONNX Runtime's own log messages reach `tracing` at levels an operator can act on: loading the
//! YOLO11n-pose model makes ONNX Runtime warn "Removing initializer …" (graph-optimiser
//! housekeeping) several times; those must arrive at DEBUG, not WARN. Its own test binary, so the
//! capturing subscriber is the process's global default and sees ONNX Runtime's threads too.
//! Skips with a printed reason without the assets or ONNX Runtime.

mod common;

use std::sync::{Arc, Mutex};

use tracing::{Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// One event as the log would show it: level, target, message.
#[derive(Clone, Debug)]
struct Seen {
    level: Level,
    target: String,
    message: String,
}

/// Records every event (all levels) into a shared list.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Seen>>>);

impl<S: Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{v:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        let meta = event.metadata();
        self.0.lock().expect("recorder lock").push(Seen {
            level: *meta.level(),
            target: meta.target().to_string(),
            message: message.0,
        });
    }
}

#[test]
fn pose_model_start_writes_no_onnx_runtime_warnings() {
    let recorder = Recorder::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(recorder.clone()))
        .expect("the only subscriber in this test binary");
    let Some((_, detector)) = common::detector("yolo11n_pose") else {
        return;
    };
    drop(detector);

    let seen = recorder.0.lock().expect("recorder lock").clone();
    let from_ort: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.target.starts_with("ort"))
        .collect();
    for s in &from_ort {
        eprintln!("{:>5} {}: {}", s.level, s.target, s.message);
    }
    // The messages still arrive (at DEBUG): the mapping lowers them, it does not drop them.
    let removing = from_ort
        .iter()
        .filter(|s| s.message.contains("Removing initializer"))
        .collect::<Vec<_>>();
    assert!(
        !removing.is_empty(),
        "ONNX Runtime no longer says \"Removing initializer\" for this model; pick another \
         housekeeping warning to test with"
    );
    assert!(
        removing.iter().all(|s| s.level == Level::DEBUG),
        "{removing:#?}"
    );
    let loud: Vec<&&Seen> = from_ort.iter().filter(|s| s.level <= Level::WARN).collect();
    assert!(
        loud.is_empty(),
        "ONNX Runtime wrote at WARN or above while loading the pose model: {loud:#?}"
    );
}
