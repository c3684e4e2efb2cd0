//! Dev-only parts, for the demo, the tests and the bench: simulated RTSP cameras serving clips
//! on a schedule ([`cameras`], [`program`]: a real gst-rtsp-server on loopback), a real
//! Kafka-protocol broker (tansu) on loopback ([`broker`]), a consumer that reads a topic back, a producer of raw bytes, a webhook receiver,
//! and a self-deleting temporary directory. Does I/O (child processes, sockets, files). Never
//! used by `run`, `serve` or `notify`.
//!
//! Tests that need a broker skip, with a printed reason, when tansu is not installed:
//!
//! ```no_run
//! let broker = sharpeyes_sim::broker_or_skip!();
//! let bootstrap = broker.bootstrap(); // "127.0.0.1:<port>"
//! ```

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};

pub mod broker;
pub mod cameras;
pub mod clip_check;
pub mod mp4;
pub mod program;
pub mod tamper;

/// A started [`TansuBroker`] (`TansuBroker::start()`, or the given `start_with(..)`); when
/// none can start (tansu not installed), prints `SKIP: <why>` and returns from the calling test.
#[macro_export]
macro_rules! broker_or_skip {
    () => {
        $crate::broker_or_skip!($crate::TansuBroker::start())
    };
    ($start:expr) => {
        match $start {
            Ok(b) => b,
            Err(reason) => {
                println!("SKIP: {reason}");
                return;
            }
        }
    };
}

pub use cameras::{SimAuth, SimCamera, SimCodec, SimOptions, SimServer};
pub use program::{
    Activity, ActivityChange, ActivityObserver, EncodedClip, Schedule, Segment, SimProgram,
};

use crate::broker::unique_suffix;
pub use crate::broker::*;
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

/// One message read back by [`consume_n`]; key, payload and header values as (lossy) UTF-8.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsumedMessage {
    pub key: Option<String>,
    pub payload: Option<String>,
    pub headers: Vec<(String, Option<String>)>,
    pub partition: i32,
    pub offset: i64,
}

impl ConsumedMessage {
    /// The value of the first header named `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// Reads the first `n` messages of every partition of `topic` (from the beginning, with a fresh
/// consumer group), waiting up to `timeout`. Err when fewer than `n` arrived. Messages of one
/// partition are in offset order; partitions are interleaved as they arrive.
pub fn consume_n(
    bootstrap: &str,
    topic: &str,
    n: usize,
    timeout: Duration,
) -> Result<Vec<ConsumedMessage>, String> {
    let deadline = Instant::now() + timeout;
    let consumer: BaseConsumer =
        sharpeyes_delivery::kafka::client(bootstrap, "sharpeyes-testkit", &[])
            .set("group.id", format!("sharpeyes-testkit-{}", unique_suffix()))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .config()
            .create()
            .map_err(|e| format!("consumer: {e}"))?;
    let partitions = topic_partitions(&consumer, topic, deadline)?;
    {
        // Assign instead of subscribe: no group join round trips. The list must be gone before
        // the consumer is dropped, or the consumer's drop hangs (librdkafka keeps partition
        // references alive through it).
        let mut assignment = TopicPartitionList::new();
        for p in &partitions {
            assignment
                .add_partition_offset(topic, *p, Offset::Beginning)
                .map_err(|e| format!("assignment: {e}"))?;
        }
        consumer
            .assign(&assignment)
            .map_err(|e| format!("assign: {e}"))?;
    }
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "only {} of {n} messages from {topic} within {timeout:?}: {out:?}",
                out.len()
            ));
        }
        match consumer.poll(left.min(Duration::from_millis(200))) {
            Some(Ok(m)) => {
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                let headers = m
                    .headers()
                    .map(|hs| {
                        hs.iter()
                            .map(|h| (h.key.to_owned(), h.value.map(text)))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(ConsumedMessage {
                    key: m.key().map(text),
                    payload: m.payload().map(text),
                    headers,
                    partition: m.partition(),
                    offset: m.offset(),
                });
            }
            Some(Err(e)) => tracing::debug!(error = %e, "testkit consumer error (retrying)"),
            None => {}
        }
    }
    Ok(out)
}

/// The partition ids of `topic`, retrying until the broker knows the topic or `deadline`.
fn topic_partitions(
    consumer: &BaseConsumer,
    topic: &str,
    deadline: Instant,
) -> Result<Vec<i32>, String> {
    let mut last_error;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match consumer.fetch_metadata(Some(topic), left.min(Duration::from_secs(2))) {
            Ok(md) => match md.topics().iter().find(|t| t.name() == topic) {
                Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
                    return Ok(t.partitions().iter().map(|p| p.id()).collect());
                }
                Some(t) => last_error = format!("topic metadata error {:?}", t.error()),
                None => last_error = "topic not in metadata".to_owned(),
            },
            Err(e) => last_error = format!("metadata: {e}"),
        }
        if Instant::now() >= deadline {
            return Err(format!("partitions of {topic}: {last_error}"));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Produces one raw message (any bytes, for malformed-input tests) and waits for the ack.
pub fn produce_raw(
    bootstrap: &str,
    topic: &str,
    key: Option<&str>,
    payload: &[u8],
) -> Result<(), String> {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    sharpeyes_delivery::kafka::ensure_topic(bootstrap, topic, 1, Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let producer: BaseProducer =
        sharpeyes_delivery::kafka::client(bootstrap, "sharpeyes-testkit", &[])
            .config()
            .create()
            .map_err(|e| format!("producer: {e}"))?;
    let mut record = BaseRecord::<str, [u8]>::to(topic).payload(payload);
    if let Some(k) = key {
        record = record.key(k);
    }
    producer
        .send(record)
        .map_err(|(e, _)| format!("send: {e}"))?;
    producer
        .flush(Duration::from_secs(20))
        .map_err(|e| format!("flush: {e}"))
}

/// One request an [`HttpReceiver`] got.
#[derive(Clone, Debug)]
pub struct ReceivedRequest {
    pub method: String,
    pub path: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The status it was answered with.
    pub status: u16,
    pub at: Instant,
}

impl ReceivedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A real HTTP/1.1 server on loopback that records every request and answers each with the
/// status `script(n)` gives for the n-th request (0-based). One thread per connection; bodies
/// by Content-Length (what ureq and browsers send for JSON). Stops when dropped.
pub struct HttpReceiver {
    addr: SocketAddr,
    requests: std::sync::Arc<std::sync::Mutex<Vec<ReceivedRequest>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HttpReceiver {
    pub fn start(script: impl Fn(usize) -> u16 + Send + Sync + 'static) -> io::Result<Self> {
        Self::start_with_delay(Duration::ZERO, script)
    }

    /// Like [`Self::start`], but each answer goes out `delay` after the request was read (and
    /// recorded): a slow gateway, or with a long `delay` one that hangs.
    pub fn start_with_delay(
        delay: Duration,
        script: impl Fn(usize) -> u16 + Send + Sync + 'static,
    ) -> io::Result<Self> {
        use std::sync::{Arc, Mutex, atomic::AtomicBool};
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let requests: Arc<Mutex<Vec<ReceivedRequest>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let script = Arc::new(script);
        let (r, s) = (requests.clone(), stop.clone());
        thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (r, script, s) = (r.clone(), script.clone(), s.clone());
                        thread::spawn(move || serve_connection(stream, &r, &*script, delay, &s));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(10));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Ok(Self {
            addr,
            requests,
            stop,
        })
    }

    /// `http://127.0.0.1:PORT<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until at least `n` requests arrived (true) or `timeout` passed (false).
    pub fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.requests().len() < n {
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
        true
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve_connection(
    stream: TcpStream,
    requests: &std::sync::Mutex<Vec<ReceivedRequest>>,
    script: &(dyn Fn(usize) -> u16 + Send + Sync),
    delay: Duration,
    stop: &std::sync::atomic::AtomicBool,
) {
    use std::io::{BufRead, BufReader, Write};
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = write_half;
    // One request per connection (the reply says `Connection: close`).
    {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or_default().to_owned(),
            parts.next().unwrap_or_default().to_owned(),
        );
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let status = {
            let mut all = requests.lock().unwrap_or_else(|p| p.into_inner());
            let status = script(all.len());
            all.push(ReceivedRequest {
                method,
                path,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
                status,
                at: Instant::now(),
            });
            status
        };
        let answer_at = Instant::now() + delay;
        while Instant::now() < answer_at {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            thread::sleep((answer_at - Instant::now()).min(Duration::from_millis(20)));
        }
        let reply = format!(
            "HTTP/1.1 {status} {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            if status < 300 { "OK" } else { "Error" }
        );
        let _ = writer.write_all(reply.as_bytes());
        let _ = writer.flush();
    }
}
