//! Prometheus metrics: rendering the text exposition format (pure) and the endpoint serving it
//! on `GET /metrics` (I/O: axum on a thread of its own, the same server as the command
//! center's, `sharpeyes_web::Background`).
//!
//! Names follow `sharpeyes_<crate>_<what>_<unit>`; labels are `camera` (and `state`, `kind`):
//! bounded sets, never a track id.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use sharpeyes_core::{CameraId, CameraState};

use crate::live::CameraCounters;

/// A per-camera gauge: name, help text, how to read it.
type Gauge = (&'static str, &'static str, fn(&CameraCounters) -> u64);

/// What the endpoint shows; the run loop replaces it as cameras come and go.
#[derive(Default)]
pub struct MetricsSource {
    pub cameras: Vec<(CameraId, Arc<CameraCounters>)>,
    pub frames_analysed: u64,
    pub alerts: BTreeMap<String, u64>,
    /// Alerts in the outbox not yet acknowledged by Kafka, and whether the relay is connected;
    /// None without Kafka.
    pub kafka: Option<(u64, bool)>,
    /// (failed outbox writes so far, events held in memory waiting for the disk).
    pub outbox: (u64, usize),
    /// In a cluster (`run --cluster`): what this worker knows; None otherwise.
    pub cluster: Option<ClusterMetrics>,
    /// Event clips; None when `[clips]` is off.
    pub clips: Option<ClipMetrics>,
}

/// The event clips' writer, rings and shipper, for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClipMetrics {
    /// The writer's counters (`sharpeyes_ingest_clips_<name>_total`).
    pub written: u64,
    pub masked: u64,
    pub bytes: u64,
    pub failed: u64,
    pub dropped: u64,
    pub refused: u64,
    pub truncated: u64,
    /// Per camera: bytes its pre-event ring holds, and the ms it spans.
    pub rings: Vec<(CameraId, usize, i64)>,
    /// Clips awaited by the Kafka clip shipper, and its counts; None without Kafka.
    pub shipper: Option<(u64, sharpeyes_delivery::ClipStats)>,
}

impl ClipMetrics {
    /// The writer's counters and the rings of `clips` now, with the shipper's `shipper`.
    pub fn read(
        clips: &crate::clips::LiveClips,
        shipper: Option<(u64, sharpeyes_delivery::ClipStats)>,
    ) -> Self {
        let s = clips.stats();
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        Self {
            written: get(&s.written),
            masked: get(&s.masked),
            bytes: get(&s.bytes),
            failed: get(&s.failed),
            dropped: get(&s.dropped),
            refused: get(&s.refused),
            truncated: get(&s.truncated),
            rings: clips.rings(),
            shipper,
        }
    }

    fn writer(&self) -> [(&'static str, &'static str, u64); 7] {
        [
            (
                "written",
                "Event clips written (MP4) and announced.",
                self.written,
            ),
            (
                "masked",
                "Of the clips written, those re-encoded with privacy masks blacked out.",
                self.masked,
            ),
            ("bytes", "Bytes of the clip files written.", self.bytes),
            (
                "failed",
                "Clips whose writing failed (logged with the camera and path).",
                self.failed,
            ),
            (
                "dropped",
                "Finished clips dropped because the clip writer's queue was full.",
                self.dropped,
            ),
            (
                "refused",
                "New alerts that got no clip: nothing received from the camera yet, or too many clips recording at once on it.",
                self.refused,
            ),
            (
                "truncated",
                "Clips cut short: the stream stopped or changed, or the clip reached its byte cap.",
                self.truncated,
            ),
        ]
    }
}

/// A worker's view of the cluster, for `/metrics` (every series labelled `worker`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterMetrics {
    pub worker: String,
    pub capacity: usize,
    /// Cameras the leader assigned to this worker.
    pub assigned: usize,
    /// 1 while the cameras are stopped by the fence (lease not renewed in time, or lost).
    pub fenced: bool,
    /// etcd down for everybody as far as this worker can tell (cameras keep running).
    pub etcd_outage: bool,
    pub leader: bool,
    /// The leader's figures (only the leader has them).
    pub unassigned: usize,
    pub cluster_workers: usize,
    pub moves: u64,
}

/// The text exposition format (version 0.0.4) of `src`.
pub fn render(src: &MetricsSource) -> String {
    let mut out = String::new();
    let counter =
        |out: &mut String, name: &str, help: &str, get: &dyn Fn(&CameraCounters) -> u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (id, c) in &src.cameras {
                let _ = writeln!(out, "{name}{{camera=\"{id}\"}} {}", get(c));
            }
        };
    counter(
        &mut out,
        "sharpeyes_ingest_frames_decoded_total",
        "Frames decoded.",
        &|c| c.frames_decoded.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "sharpeyes_ingest_frames_to_detection_total",
        "Frames handed to detection (at detect fps).",
        &|c| c.frames_queued.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "sharpeyes_ingest_frames_dropped_total",
        "Frames dropped because detection fell behind.",
        &|c| c.frames_dropped.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "sharpeyes_ingest_frames_skipped_total",
        "Frames not decoded by adaptive decode (its saving).",
        &|c| c.frames_skipped.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "sharpeyes_ingest_frames_caught_up_total",
        "Skipped frames decoded later without a picture (a quiet camera's peeks and wakes).",
        &|c| c.frames_caught_up.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "sharpeyes_ingest_access_units_total",
        "Access units (compressed frames) received from the camera.",
        &|c| c.access_units.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "sharpeyes_ingest_frames_gated_total",
        "Due frames not analysed: no motion, no recent detection (motion gating).",
        &|c| c.frames_gated.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "sharpeyes_ingest_decoder_input_dropped_total",
        "Access units dropped before decode: the decoder's input queue (bounded in bytes) was full.",
        &|c| c.decoder_input_dropped.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "sharpeyes_ingest_decoder_input_dropped_bytes_total",
        "Bytes of the access units dropped before decode.",
        &|c| c.decoder_input_dropped_bytes.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "sharpeyes_ingest_reconnects_total",
        "Connections remade after a failure or stall.",
        &|c| c.reconnects.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "sharpeyes_ingest_errors_total",
        "Failed connections and broken streams.",
        &|c| c.errors.load(Ordering::Relaxed),
    );
    let _ = writeln!(
        out,
        "# HELP sharpeyes_ingest_camera_state Current state (1) of each camera.\n# TYPE sharpeyes_ingest_camera_state gauge"
    );
    for (id, c) in &src.cameras {
        let now = c.state();
        for s in CameraState::ALL {
            let _ = writeln!(
                out,
                "sharpeyes_ingest_camera_state{{camera=\"{id}\",state=\"{}\"}} {}",
                s.as_str(),
                u8::from(s == now)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP sharpeyes_analytics_camera_tampered Tampering now (1) per camera and reason.\n# TYPE sharpeyes_analytics_camera_tampered gauge"
    );
    for (id, c) in &src.cameras {
        let bits = c.tampered.load(Ordering::Relaxed);
        for r in sharpeyes_analytics::TamperReason::ALL {
            let on = bits >> crate::live::tamper::reason_bit(r) & 1;
            let _ = writeln!(
                out,
                "sharpeyes_analytics_camera_tampered{{camera=\"{id}\",reason=\"{}\"}} {on}",
                r.as_str()
            );
        }
    }
    counter(
        &mut out,
        "sharpeyes_analytics_tamper_events_total",
        "camera_tampered events raised (any reason).",
        &|c| c.tamper_events.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "sharpeyes_analytics_tamper_samples_total",
        "Pictures the tamper watch looked at (one per 2 s at most).",
        &|c| c.tamper_samples.load(Ordering::Relaxed),
    );
    let _ = writeln!(
        out,
        "# HELP sharpeyes_analytics_tamper_seconds_total CPU time of the tamper watch.\n# TYPE sharpeyes_analytics_tamper_seconds_total counter"
    );
    for (id, c) in &src.cameras {
        let ns = c.tamper_nanos.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "sharpeyes_analytics_tamper_seconds_total{{camera=\"{id}\"}} {:.6}",
            ns as f64 / 1e9
        );
    }
    let gauges: [Gauge; 2] = [
        (
            "sharpeyes_ingest_fps_in",
            "Frames decoded per second (last second).",
            |c| c.fps_in_milli.load(Ordering::Relaxed),
        ),
        (
            "sharpeyes_ingest_fps_out",
            "Frames handed to detection per second (last second).",
            |c| c.fps_out_milli.load(Ordering::Relaxed),
        ),
    ];
    for (name, help, get) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (id, c) in &src.cameras {
            let _ = writeln!(
                out,
                "{name}{{camera=\"{id}\"}} {:.3}",
                get(c) as f64 / 1000.0
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP sharpeyes_ingest_last_frame_timestamp_seconds Wall-clock time of the last frame.\n# TYPE sharpeyes_ingest_last_frame_timestamp_seconds gauge"
    );
    for (id, c) in &src.cameras {
        let ms = c.last_frame_ms.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "sharpeyes_ingest_last_frame_timestamp_seconds{{camera=\"{id}\"}} {:.3}",
            ms as f64 / 1000.0
        );
    }
    let _ = writeln!(
        out,
        "# HELP sharpeyes_inference_frames_analysed_total Frames run through the detector.\n# TYPE sharpeyes_inference_frames_analysed_total counter\nsharpeyes_inference_frames_analysed_total {}",
        src.frames_analysed
    );
    let _ = writeln!(
        out,
        "# HELP sharpeyes_alerts_raised_total Alerts and status events delivered, by kind.\n# TYPE sharpeyes_alerts_raised_total counter"
    );
    for (kind, n) in &src.alerts {
        let _ = writeln!(out, "sharpeyes_alerts_raised_total{{kind=\"{kind}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP sharpeyes_alerts_outbox_write_failures_total Outbox writes that failed (disk full, I/O error); their events are held in memory and retried.\n# TYPE sharpeyes_alerts_outbox_write_failures_total counter\nsharpeyes_alerts_outbox_write_failures_total {}",
        src.outbox.0
    );
    let _ = writeln!(
        out,
        "# HELP sharpeyes_alerts_outbox_held Events held in memory because the outbox cannot be written; not yet delivered anywhere.\n# TYPE sharpeyes_alerts_outbox_held gauge\nsharpeyes_alerts_outbox_held {}",
        src.outbox.1
    );
    if let Some(c) = &src.cluster {
        let w = &c.worker;
        let _ = writeln!(
            out,
            "# HELP sharpeyes_cluster_worker_info This process's worker id (join on it: camera series carry no worker label).\n# TYPE sharpeyes_cluster_worker_info gauge\nsharpeyes_cluster_worker_info{{worker=\"{w}\"}} 1"
        );
        let gauges: [(&str, &str, String); 5] = [
            (
                "sharpeyes_cluster_capacity",
                "Cameras this worker may run.",
                c.capacity.to_string(),
            ),
            (
                "sharpeyes_cluster_cameras_assigned",
                "Cameras the leader assigned to this worker.",
                c.assigned.to_string(),
            ),
            (
                "sharpeyes_cluster_fenced",
                "1 while this worker's cameras are stopped because its lease may expire or has expired.",
                u8::from(c.fenced).to_string(),
            ),
            (
                "sharpeyes_cluster_etcd_outage",
                "1 while every etcd endpoint refuses connections (cameras keep running).",
                u8::from(c.etcd_outage).to_string(),
            ),
            (
                "sharpeyes_cluster_leader",
                "1 on the worker that leads the assignment.",
                u8::from(c.leader).to_string(),
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{worker=\"{w}\"}} {v}"
            );
        }
        if c.leader {
            let _ = writeln!(
                out,
                "# HELP sharpeyes_cluster_cameras_unassigned Cameras that fit on no live worker (leader only).\n# TYPE sharpeyes_cluster_cameras_unassigned gauge\nsharpeyes_cluster_cameras_unassigned{{worker=\"{w}\"}} {}",
                c.unassigned
            );
            let _ = writeln!(
                out,
                "# HELP sharpeyes_cluster_workers Live workers (leader only).\n# TYPE sharpeyes_cluster_workers gauge\nsharpeyes_cluster_workers{{worker=\"{w}\"}} {}",
                c.cluster_workers
            );
            let _ = writeln!(
                out,
                "# HELP sharpeyes_cluster_assignment_changes_total Cameras placed or moved by this leader.\n# TYPE sharpeyes_cluster_assignment_changes_total counter\nsharpeyes_cluster_assignment_changes_total{{worker=\"{w}\"}} {}",
                c.moves
            );
        }
    }
    if let Some(c) = &src.clips {
        let mut counters: Vec<(String, &str, u64)> = c
            .writer()
            .into_iter()
            .map(|(what, help, v)| (format!("sharpeyes_ingest_clips_{what}_total"), help, v))
            .collect();
        let rings: [(&str, &str, fn(usize, i64) -> String); 2] = [
            (
                "sharpeyes_ingest_clip_ring_bytes",
                "Bytes of compressed stream held by the camera's pre-event ring.",
                |bytes, _| bytes.to_string(),
            ),
            (
                "sharpeyes_ingest_clip_ring_seconds",
                "Seconds of stream the camera's pre-event ring spans.",
                |_, ms| format!("{:.3}", ms as f64 / 1000.0),
            ),
        ];
        for (name, help, value) in rings {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (id, bytes, ms) in &c.rings {
                let _ = writeln!(out, "{name}{{camera=\"{id}\"}} {}", value(*bytes, *ms));
            }
        }
        if let Some((waiting, s)) = &c.shipper {
            let _ = writeln!(
                out,
                "# HELP sharpeyes_delivery_clips_waiting Alerts whose clip the Kafka clip shipper still awaits or has not sent.\n# TYPE sharpeyes_delivery_clips_waiting gauge\nsharpeyes_delivery_clips_waiting {waiting}"
            );
            let shipper = [
                ("sent", "Clips acknowledged by the Kafka broker.", s.sent),
                (
                    "shown",
                    "Clips handed to this process's command center.",
                    s.shown,
                ),
                (
                    "given_up",
                    "Clips given up: never complete within the wait, unusable, or refused by the broker.",
                    s.given_up,
                ),
            ];
            counters.extend(shipper.into_iter().map(|(what, help, v)| {
                (format!("sharpeyes_delivery_clips_{what}_total"), help, v)
            }));
        }
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        }
    }
    if let Some((pending, connected)) = src.kafka {
        let _ = writeln!(
            out,
            "# HELP sharpeyes_alerts_kafka_pending Alerts in the outbox the Kafka broker has not acknowledged yet.\n# TYPE sharpeyes_alerts_kafka_pending gauge\nsharpeyes_alerts_kafka_pending {pending}"
        );
        let _ = writeln!(
            out,
            "# HELP sharpeyes_alerts_kafka_connected 1 when the outbox relay has reached the broker.\n# TYPE sharpeyes_alerts_kafka_connected gauge\nsharpeyes_alerts_kafka_connected {}",
            u8::from(connected)
        );
    }
    out
}

/// Serves `GET /metrics` on `addr` until dropped.
pub struct MetricsServer {
    pub addr: SocketAddr,
    _server: sharpeyes_web::Background,
}

impl MetricsServer {
    pub fn start(addr: &str, source: Arc<Mutex<MetricsSource>>) -> anyhow::Result<Self> {
        use axum::http::header::CONTENT_TYPE;
        let app = axum::Router::new()
            .route(
                "/metrics",
                axum::routing::get(move || {
                    let text = render(&source.lock().unwrap_or_else(|p| p.into_inner()));
                    async move { ([(CONTENT_TYPE, "text/plain; version=0.0.4")], text) }
                }),
            )
            .fallback(|| async {
                (
                    axum::http::StatusCode::NOT_FOUND,
                    "not found: try GET /metrics\n",
                )
            });
        let server = sharpeyes_web::Background::start("metrics", addr, 1, app)
            .map_err(|e| anyhow::anyhow!("metrics: cannot listen on {addr}: {e}"))?;
        Ok(Self {
            addr: server.addr,
            _server: server,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_one_hot_state_per_camera() {
        let c = Arc::new(CameraCounters::default());
        c.frames_decoded.store(42, Ordering::Relaxed);
        let src = MetricsSource {
            cameras: vec![(CameraId::new("gate").expect("id"), c)],
            frames_analysed: 7,
            alerts: [("person_detected".to_string(), 3)].into(),
            kafka: None,
            outbox: (2, 5),
            cluster: None,
            clips: None,
        };
        let text = render(&src);
        assert!(text.contains("sharpeyes_alerts_outbox_write_failures_total 2\n"));
        assert!(text.contains("sharpeyes_alerts_outbox_held 5\n"));
        assert!(
            text.contains("sharpeyes_ingest_frames_decoded_total{camera=\"gate\"} 42\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "sharpeyes_ingest_camera_state{camera=\"gate\",state=\"connecting\"} 1\n"
            )
        );
        assert!(
            text.contains("sharpeyes_ingest_camera_state{camera=\"gate\",state=\"online\"} 0\n")
        );
        assert!(text.contains("sharpeyes_inference_frames_analysed_total 7\n"));
        assert!(!text.contains("kafka"), "no Kafka gauges without Kafka");
        let with_kafka = render(&MetricsSource {
            kafka: Some((12, false)),
            ..MetricsSource::default()
        });
        assert!(
            with_kafka.contains("sharpeyes_alerts_kafka_pending 12\n"),
            "{with_kafka}"
        );
        assert!(
            with_kafka.contains("sharpeyes_alerts_kafka_connected 0\n"),
            "{with_kafka}"
        );
        assert!(text.contains("sharpeyes_alerts_raised_total{kind=\"person_detected\"} 3\n"));
        assert!(
            !text.contains("sharpeyes_cluster"),
            "no cluster series outside a cluster"
        );
    }

    #[test]
    fn tampering_is_a_gauge_per_reason_with_its_events_and_cost() {
        let c = Arc::new(CameraCounters::default());
        let frozen = crate::live::tamper::reason_bit(sharpeyes_analytics::TamperReason::Frozen);
        c.tampered.store(1 << frozen, Ordering::Relaxed);
        c.tamper_events.store(2, Ordering::Relaxed);
        c.tamper_nanos.store(1_500_000, Ordering::Relaxed);
        let text = render(&MetricsSource {
            cameras: vec![(CameraId::new("gate").expect("id"), c)],
            ..MetricsSource::default()
        });
        for line in [
            "sharpeyes_analytics_camera_tampered{camera=\"gate\",reason=\"frozen\"} 1\n",
            "sharpeyes_analytics_camera_tampered{camera=\"gate\",reason=\"covered\"} 0\n",
            "sharpeyes_analytics_tamper_events_total{camera=\"gate\"} 2\n",
            "sharpeyes_analytics_tamper_seconds_total{camera=\"gate\"} 0.001500\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn decoder_input_drops_are_counted_per_camera() {
        let c = Arc::new(CameraCounters::default());
        c.decoder_input_dropped.store(3, Ordering::Relaxed);
        c.decoder_input_dropped_bytes
            .store(61_440, Ordering::Relaxed);
        let text = render(&MetricsSource {
            cameras: vec![(CameraId::new("gate").expect("id"), c)],
            ..MetricsSource::default()
        });
        assert!(
            text.contains("sharpeyes_ingest_decoder_input_dropped_total{camera=\"gate\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "sharpeyes_ingest_decoder_input_dropped_bytes_total{camera=\"gate\"} 61440\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn cluster_series_carry_the_worker_and_leader_figures_only_on_the_leader() {
        let mut c = ClusterMetrics {
            worker: "w2".into(),
            capacity: 8,
            assigned: 4,
            fenced: true,
            unassigned: 3,
            ..ClusterMetrics::default()
        };
        let text = render(&MetricsSource {
            cluster: Some(c.clone()),
            ..MetricsSource::default()
        });
        assert!(
            text.contains("sharpeyes_cluster_worker_info{worker=\"w2\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("sharpeyes_cluster_cameras_assigned{worker=\"w2\"} 4\n"));
        assert!(text.contains("sharpeyes_cluster_fenced{worker=\"w2\"} 1\n"));
        assert!(text.contains("sharpeyes_cluster_leader{worker=\"w2\"} 0\n"));
        assert!(!text.contains("sharpeyes_cluster_cameras_unassigned"));
        c.leader = true;
        let text = render(&MetricsSource {
            cluster: Some(c),
            ..MetricsSource::default()
        });
        assert!(
            text.contains("sharpeyes_cluster_cameras_unassigned{worker=\"w2\"} 3\n"),
            "{text}"
        );
    }

    #[test]
    fn clips_show_the_writers_counts_each_cameras_ring_and_the_shipper() {
        let gate = CameraId::new("gate").expect("id");
        let mut clips = ClipMetrics {
            written: 3,
            masked: 1,
            bytes: 5_000_000,
            refused: 2,
            rings: vec![(gate, 280_000, 4_900)],
            ..ClipMetrics::default()
        };
        let text = render(&MetricsSource {
            clips: Some(clips.clone()),
            ..MetricsSource::default()
        });
        for line in [
            "sharpeyes_ingest_clips_written_total 3\n",
            "sharpeyes_ingest_clips_masked_total 1\n",
            "sharpeyes_ingest_clips_bytes_total 5000000\n",
            "sharpeyes_ingest_clips_refused_total 2\n",
            "sharpeyes_ingest_clips_failed_total 0\n",
            "sharpeyes_ingest_clip_ring_bytes{camera=\"gate\"} 280000\n",
            "sharpeyes_ingest_clip_ring_seconds{camera=\"gate\"} 4.900\n",
            "# TYPE sharpeyes_ingest_clip_ring_bytes gauge\n",
        ] {
            assert!(text.contains(line), "{line:?} in {text}");
        }
        assert!(
            !text.contains("sharpeyes_delivery_clips"),
            "no shipper without Kafka"
        );
        clips.shipper = Some((
            4,
            sharpeyes_delivery::ClipStats {
                sent: 7,
                shown: 1,
                given_up: 2,
            },
        ));
        let text = render(&MetricsSource {
            clips: Some(clips),
            ..MetricsSource::default()
        });
        for line in [
            "sharpeyes_delivery_clips_waiting 4\n",
            "sharpeyes_delivery_clips_sent_total 7\n",
            "sharpeyes_delivery_clips_shown_total 1\n",
            "sharpeyes_delivery_clips_given_up_total 2\n",
        ] {
            assert!(text.contains(line), "{line:?} in {text}");
        }
        let none = render(&MetricsSource::default());
        assert!(
            !none.contains("clip"),
            "no clip series with clips off: {none}"
        );
    }
}
