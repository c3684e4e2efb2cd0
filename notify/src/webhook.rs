//! Posting a notification to a guardian's webhook, with retries and exponential backoff.
//! [`classify`] and [`backoff`] are pure; [`Webhook::post`] does network I/O (ureq, blocking).

use std::time::Duration;

use sharpeyes_core::redact::{SecretUrl, redact_text};

/// What one HTTP attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: the gateway took it.
    Delivered,
    /// Worth trying again (5xx, 429, 408, timeout, connection refused).
    Retry(String),
    /// Trying again will not help (other 4xx, a bad URL): dead-letter it now.
    Permanent(String),
}

/// The outcome of an HTTP status code.
pub fn classify(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        408 | 425 | 429 | 500..=599 => Outcome::Retry(format!("HTTP {status}")),
        _ => Outcome::Permanent(format!("HTTP {status}")),
    }
}

/// Delay before retry number `retry` (1 = the first retry): `initial`, doubling, at most `max`.
pub fn backoff(retry: u32, initial: Duration, max: Duration) -> Duration {
    let factor = 2u32.saturating_pow(retry.saturating_sub(1).min(30));
    initial.saturating_mul(factor).min(max)
}

/// A blocking HTTP client for one guardian's endpoint.
pub struct Webhook {
    agent: ureq::Agent,
    /// Shown (logs, `Debug`) as `scheme://host[:port]/***`: a webhook's path and query often
    /// are its token.
    pub url: SecretUrl,
    /// `Authorization: Bearer ...`, read from the environment at start.
    bearer: Option<String>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .field("bearer", &self.bearer.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

impl Webhook {
    pub fn new(url: String, bearer: Option<String>, timeout: Duration) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            agent,
            url: SecretUrl::new(url),
            bearer,
        }
    }

    /// One POST of `body` (JSON) with `Idempotency-Key: key`.
    pub fn post(&self, body: &[u8], key: &str) -> Outcome {
        let mut req = self
            .agent
            .post(self.url.expose())
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", key)
            .header(
                "User-Agent",
                concat!("sharpeyes-notify/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(token) = &self.bearer {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        // The reasons are logged: an HTTP client's message may quote the URL.
        match req.send(body) {
            Ok(resp) => classify(resp.status().as_u16()),
            Err(ureq::Error::BadUri(e)) => {
                Outcome::Permanent(format!("bad URL: {}", redact_text(&e)))
            }
            Err(e) => Outcome::Retry(redact_text(&e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_split_into_done_retry_and_give_up() {
        assert_eq!(classify(200), Outcome::Delivered);
        assert_eq!(classify(204), Outcome::Delivered);
        for s in [500, 502, 503, 429, 408] {
            assert!(matches!(classify(s), Outcome::Retry(_)), "{s}");
        }
        for s in [400, 401, 403, 404, 410, 301] {
            assert!(matches!(classify(s), Outcome::Permanent(_)), "{s}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let (i, m) = (Duration::from_secs(1), Duration::from_secs(60));
        let d: Vec<u64> = (1..=9).map(|r| backoff(r, i, m).as_secs()).collect();
        assert_eq!(d, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(1000, i, m), m);
    }

    #[test]
    fn the_url_is_shown_without_its_token() {
        let w = Webhook::new(
            "https://hooks.example.org/services/T0/B0/XyZsecret?key=k".into(),
            Some("bearer-s3cret".into()),
            Duration::from_secs(2),
        );
        let shown = format!("{} {w:?}", w.url);
        assert!(
            shown.starts_with("https://hooks.example.org/*** "),
            "{shown}"
        );
        assert!(
            !shown.contains("XyZsecret")
                && !shown.contains("key=k")
                && !shown.contains("bearer-s3cret"),
            "{shown}"
        );
    }

    #[test]
    fn an_unreachable_endpoint_is_worth_retrying() {
        // Port 9 on loopback: nothing listens (connection refused).
        let w = Webhook::new(
            "http://127.0.0.1:9/hook".into(),
            None,
            Duration::from_secs(2),
        );
        assert!(matches!(w.post(b"{}", "k"), Outcome::Retry(_)));
    }
}
