//! etcd plumbing shared by the worker, the leader and the command line (I/O: the network):
//! connecting, paged listing, a prefix mirror (list, then watch from the next revision, list
//! again after any break), and probing the endpoints when a request fails.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use etcd_client::{Client, ConnectOptions, EventType, GetOptions, WatchOptions};
use tokio::sync::{Notify, watch};

use super::keys::prefix_end;

/// Every request but the election's long wait: a request etcd cannot answer within this is
/// a failure (the renewal logic decides what a failure means).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Keys per page of a listing (keeps each answer well under gRPC's 4 MiB).
const PAGE: i64 = 1000;

/// `host:port[,host:port...]` (an `http://` in front is accepted) → endpoint URLs.
pub fn endpoints(list: &str) -> Result<Vec<String>, String> {
    let eps: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let hp = s.strip_prefix("http://").unwrap_or(s);
            if hp
                .rsplit_once(':')
                .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
            {
                Err(format!("--etcd {s:?}: expected HOST:PORT"))
            } else {
                Ok(format!("http://{hp}"))
            }
        })
        .collect::<Result<_, _>>()?;
    if eps.is_empty() {
        return Err("--etcd: no endpoint given (HOST:PORT[,HOST:PORT...])".into());
    }
    Ok(eps)
}

/// A client for `endpoints`; `timeout`: per-request deadline (None: none, for the election's
/// long wait). Connecting does not wait for etcd to answer.
pub async fn connect(endpoints: &[String], timeout: Option<Duration>) -> anyhow::Result<Client> {
    let mut o = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(1))
        .with_keep_alive(Duration::from_secs(1), Duration::from_secs(2))
        .with_keep_alive_while_idle(true);
    if let Some(t) = timeout {
        o = o.with_timeout(t);
    }
    let c = tokio::time::timeout(Duration::from_secs(5), Client::connect(endpoints, Some(o)))
        .await
        .map_err(|_| anyhow::anyhow!("connecting to etcd at {endpoints:?}: no answer in 5 s"))??;
    Ok(c)
}

/// Runs `f` with [`REQUEST_TIMEOUT`].
pub async fn timed<T>(f: impl Future<Output = Result<T, etcd_client::Error>>) -> anyhow::Result<T> {
    match tokio::time::timeout(REQUEST_TIMEOUT, f).await {
        Ok(r) => Ok(r?),
        Err(_) => anyhow::bail!("etcd did not answer within {REQUEST_TIMEOUT:?}"),
    }
}

/// One key of a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    /// Empty for a keys-only listing.
    pub value: Vec<u8>,
    pub mod_revision: i64,
    pub lease: i64,
}

/// Every key under `prefix` at one revision (paged), and that revision.
pub async fn list_all(
    client: &mut Client,
    prefix: &str,
    keys_only: bool,
) -> anyhow::Result<(BTreeMap<String, Entry>, i64)> {
    let end = prefix_end(prefix.as_bytes());
    let mut out = BTreeMap::new();
    let mut from = prefix.as_bytes().to_vec();
    let mut rev = 0;
    loop {
        let mut o = GetOptions::new().with_range(end.clone()).with_limit(PAGE);
        if keys_only {
            o = o.with_keys_only();
        }
        if rev > 0 {
            o = o.with_revision(rev);
        }
        let mut resp = timed(client.get(from.clone(), Some(o))).await?;
        if rev == 0 {
            rev = resp.header().map_or(0, |h| h.revision());
        }
        let more = resp.more();
        let kvs = resp.take_kvs();
        let last = kvs.last().map(|kv| kv.key().to_vec());
        for kv in kvs {
            out.insert(
                String::from_utf8_lossy(kv.key()).into_owned(),
                Entry {
                    value: kv.value().to_vec(),
                    mod_revision: kv.mod_revision(),
                    lease: kv.lease(),
                },
            );
        }
        match (more, last) {
            (true, Some(mut k)) => {
                k.push(0);
                from = k;
            }
            _ => return Ok((out, rev)),
        }
    }
}

/// After a failed request: whether every endpoint refuses TCP connections (the hosts answer,
/// no etcd listens: etcd is down for everybody, see `fence.rs`). A timeout or an accepted
/// connection is `false`.
pub async fn all_refuse(endpoints: &[String]) -> bool {
    for ep in endpoints {
        let hp = ep.strip_prefix("http://").unwrap_or(ep);
        let r = tokio::time::timeout(
            Duration::from_millis(300),
            tokio::net::TcpStream::connect(hp),
        )
        .await;
        match r {
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
            _ => return false,
        }
    }
    true
}

/// A copy of every key under a prefix, kept current by a watch.
#[derive(Debug, Default)]
pub struct Mirror {
    pub prefix: String,
    keys_only: bool,
    state: Mutex<MirrorState>,
    /// Told after each change (a listing or a batch of events); one consumer per mirror (a
    /// permit waits for it if it is busy).
    pub changed: Notify,
    relist: Notify,
}

#[derive(Clone, Debug, Default)]
pub struct MirrorState {
    pub entries: BTreeMap<String, Entry>,
    /// The revision the copy is at.
    pub revision: i64,
    /// Complete listings done so far (0: nothing known yet).
    pub listings: u64,
}

impl Mirror {
    pub fn new(prefix: String, keys_only: bool) -> Self {
        Self {
            prefix,
            keys_only,
            ..Self::default()
        }
    }

    pub fn snapshot(&self) -> MirrorState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn with<R>(&self, f: impl FnOnce(&MirrorState) -> R) -> R {
        f(&self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn listings(&self) -> u64 {
        self.with(|s| s.listings)
    }

    /// Asks for a fresh listing (after joining again: nothing seen before counts).
    pub fn relist(&self) {
        self.relist.notify_one();
    }

    /// List, watch, list again after any break, until `stop` turns true.
    pub async fn run(&self, mut client: Client, mut stop: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(100);
        while !*stop.borrow() {
            let listed = tokio::select! {
                r = list_all(&mut client, &self.prefix, self.keys_only) => r,
                _ = stop.changed() => return,
            };
            let rev = match listed {
                Ok((entries, rev)) => {
                    let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                    s.entries = entries;
                    s.revision = rev;
                    s.listings += 1;
                    drop(s);
                    self.changed.notify_one();
                    backoff = Duration::from_millis(100);
                    rev
                }
                Err(e) => {
                    tracing::debug!(prefix = %self.prefix, error = %format!("{e:#}"), "etcd listing failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            let opts = WatchOptions::new()
                .with_prefix()
                .with_start_revision(rev + 1)
                .with_progress_notify();
            let mut ws = match timed(client.watch(self.prefix.clone(), Some(opts))).await {
                Ok(ws) => ws,
                Err(_) => continue,
            };
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = self.relist.notified() => break,
                    m = ws.message() => match m {
                        Ok(Some(resp)) => {
                            if resp.canceled() {
                                break;
                            }
                            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                            for ev in resp.events() {
                                let Some(kv) = ev.kv() else { continue };
                                let key = String::from_utf8_lossy(kv.key()).into_owned();
                                match ev.event_type() {
                                    EventType::Put => {
                                        let value = if self.keys_only { Vec::new() } else { kv.value().to_vec() };
                                        s.entries.insert(key, Entry { value, mod_revision: kv.mod_revision(), lease: kv.lease() });
                                    }
                                    EventType::Delete => {
                                        s.entries.remove(&key);
                                    }
                                }
                            }
                            if let Some(h) = resp.header() {
                                s.revision = s.revision.max(h.revision());
                            }
                            let any = !resp.events().is_empty();
                            drop(s);
                            if any {
                                self.changed.notify_one();
                            }
                        }
                        Ok(None) | Err(_) => break,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_lists() {
        assert_eq!(
            endpoints("127.0.0.1:2379, http://h:1").unwrap(),
            ["http://127.0.0.1:2379", "http://h:1"]
        );
        for bad in ["", "h", "h:x", ":1"] {
            assert!(endpoints(bad).is_err(), "{bad}");
        }
    }
}
