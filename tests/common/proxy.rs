//! A TCP proxy on loopback that can cut the line without closing it (I/O: sockets, threads).
//!
//! Each connection gets its own connection to the upstream and a pair of threads copying bytes
//! both ways. [`Proxy::blackhole`] turns it into a network partition as a cut-off client sees
//! one: every connection stays open and every byte, either way, is read and dropped; new
//! connections are accepted and never forwarded. Requests through it time out; nothing is
//! refused (a refusal would tell the client that the server is down, not that it is cut off).
//! [`Proxy::heal`] forwards again: the connections that lived through the cut are closed (TCP
//! would never have dropped their bytes silently, so their streams are broken), and new ones
//! are forwarded.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often a copying thread looks at the flags while nothing arrives.
const TICK: Duration = Duration::from_millis(20);

#[derive(Default)]
struct Flags {
    blackhole: AtomicBool,
    /// Bumped by every [`Proxy::blackhole`]: a connection that saw another value than the one
    /// it started with lived through a cut.
    cuts: AtomicU64,
    stop: AtomicBool,
}

/// Stops accepting and closes every connection when dropped.
pub struct Proxy {
    addr: SocketAddr,
    flags: Arc<Flags>,
    accept: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let upstream: SocketAddr = upstream.parse().expect("upstream host:port");
        let flags = Arc::new(Flags::default());
        let f = flags.clone();
        let accept = std::thread::spawn(move || {
            while !f.stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => connection(client, upstream, f.clone()),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(TICK),
                    Err(_) => std::thread::sleep(TICK),
                }
            }
        });
        Proxy {
            addr,
            flags,
            accept: Some(accept),
        }
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Cut the line: drop every byte, keep every connection open, accept and never forward.
    pub fn blackhole(&self) {
        self.flags.cuts.fetch_add(1, Ordering::SeqCst);
        self.flags.blackhole.store(true, Ordering::SeqCst);
    }

    /// Forward again (connections that lived through the cut are closed).
    pub fn heal(&self) {
        self.flags.blackhole.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.flags.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// Starts the threads of one accepted connection.
fn connection(client: TcpStream, upstream: SocketAddr, f: Arc<Flags>) {
    let _ = client.set_nodelay(true);
    let _ = client.set_nonblocking(false);
    if f.blackhole.load(Ordering::SeqCst) {
        // Accepted during a cut: swallow what comes, forward nothing, close when it heals.
        std::thread::spawn(move || pump(client, None, u64::MAX, f));
        return;
    }
    let server = match TcpStream::connect_timeout(&upstream, Duration::from_secs(1)) {
        Ok(s) => s,
        Err(_) => return, // upstream down: the client sees its connection closed
    };
    let _ = server.set_nodelay(true);
    let cuts = f.cuts.load(Ordering::SeqCst);
    let (c2, s2) = match (client.try_clone(), server.try_clone()) {
        (Ok(c), Ok(s)) => (c, s),
        _ => return,
    };
    let f2 = f.clone();
    std::thread::spawn(move || pump(client, Some(server), cuts, f));
    std::thread::spawn(move || pump(s2, Some(c2), cuts, f2));
}

/// Copies `from` → `to` until either end closes, the proxy stops, or the line heals after a
/// cut this connection lived through (`cuts` differs: then both ends are closed). While cut,
/// reads and drops.
fn pump(mut from: TcpStream, mut to: Option<TcpStream>, cuts: u64, f: Arc<Flags>) {
    let _ = from.set_read_timeout(Some(TICK));
    let mut buf = vec![0u8; 64 * 1024];
    let close = |from: &TcpStream, to: &Option<TcpStream>| {
        let _ = from.shutdown(Shutdown::Both);
        if let Some(t) = to {
            let _ = t.shutdown(Shutdown::Both);
        }
    };
    loop {
        let cut = f.blackhole.load(Ordering::SeqCst);
        if f.stop.load(Ordering::SeqCst) || (!cut && f.cuts.load(Ordering::SeqCst) != cuts) {
            close(&from, &to);
            return;
        }
        match from.read(&mut buf) {
            Ok(0) => {
                close(&from, &to);
                return;
            }
            Ok(n) => {
                if f.blackhole.load(Ordering::SeqCst) {
                    continue; // dropped
                }
                let Some(t) = to.as_mut() else { continue };
                if t.write_all(&buf[..n]).is_err() {
                    close(&from, &to);
                    return;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                close(&from, &to);
                return;
            }
        }
    }
}
