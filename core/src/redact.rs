//! Shows URLs, and text that may quote them, without their secrets: for logs, errors, metrics
//! and events. Pure. The one place every crate redacts with (cameras' RTSP and ONVIF URLs,
//! guardians' webhooks, messages copied from lower layers).
//!
//! What counts as a secret in a URL:
//! - the password of the user info (`rtsp://admin:***@host/`, RFC 3986 §3.2.1);
//! - the value of a query parameter whose name says it is one ([`is_secret_name`]): cameras
//!   take `?user=admin&password=...`, HTTP endpoints `?token=`, `?key=`, `?sig=`;
//! - for a webhook, the whole path and query ([`redact_webhook_url`]): chat and push gateways
//!   put the token in the path (`/services/T0/B0/<token>`, `/bot<token>/sendMessage`).

use std::fmt;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Whether a query parameter named `name` holds a secret: its lower-cased name contains `pass`
/// (`password`, `passwd`, `passphrase`), `pwd`, `token`, `secret`, `key` (`apikey`, `api_key`),
/// `sig` (`signature`), `auth`, `credential` or `session`. Errs on the side of hiding.
pub fn is_secret_name(name: &str) -> bool {
    const PARTS: [&str; 9] = [
        "pass",
        "pwd",
        "token",
        "secret",
        "key",
        "sig",
        "auth",
        "credential",
        "session",
    ];
    let name = name.to_ascii_lowercase();
    PARTS.iter().any(|p| name.contains(p))
}

/// `a=1&password=x&b` → `a=1&password=***&b`, as written otherwise; None when nothing is secret.
fn mask_query(query: &str) -> Option<String> {
    let mut changed = false;
    let masked: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if is_secret_name(name) && !value.is_empty() => {
                changed = true;
                format!("{name}={MASK}")
            }
            _ => pair.to_string(),
        })
        .collect();
    changed.then(|| masked.join("&"))
}

/// `rtsp://user:secret@host/path?password=x` → `rtsp://user:***@host/path?password=***`: the
/// password of the user info and the values of secret query parameters ([`is_secret_name`])
/// masked, the user and everything else kept so the URL still says which camera it is. Strings
/// that do not parse as URLs are masked the same way by their text.
pub fn redact_url(url: &str) -> String {
    redact(url).0
}

/// [`redact_url`]'s answer, and whether it hid anything.
fn redact(url: &str) -> (String, bool) {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let password = u.password().is_some();
            if password {
                // Only fails for cannot-be-a-base URLs, which have no password.
                let _ = u.set_password(Some(MASK));
            }
            let query = u.query().and_then(mask_query);
            let hid = password || query.is_some();
            if let Some(q) = query {
                u.set_query(Some(&q));
            }
            (u.to_string(), hid)
        }
        Err(_) => {
            let shown = redact_unparsed(url);
            let hid = shown != url;
            (shown, hid)
        }
    }
}

/// [`redact_url`] by text alone, for what `url` cannot parse.
fn redact_unparsed(url: &str) -> String {
    let (head, fragment) = match url.find('#') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let (head, query) = match head.find('?') {
        Some(i) => (&head[..i], Some(&head[i + 1..])),
        None => (head, None),
    };
    let mut out = match (head.find("://"), head.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &head[s + 3..at];
            match userinfo.find(':') {
                Some(c) => format!("{}{}:{MASK}{}", &head[..s + 3], &userinfo[..c], &head[at..]),
                None => head.to_string(),
            }
        }
        _ => head.to_string(),
    };
    if let Some(q) = query {
        out.push('?');
        out.push_str(&mask_query(q).unwrap_or_else(|| q.to_string()));
    }
    out.push_str(fragment);
    out
}

/// A webhook's URL as logs show it: `https://hooks.example.org/services/T0/B0/XyZ?k=1` →
/// `https://hooks.example.org/***`. Scheme, host and port say which endpoint it is; the user
/// info, path, query and fragment go, since gateways put their tokens there. A URL with only
/// `/` as its path comes back as `scheme://host[:port]/`.
pub fn redact_webhook_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) if u.has_host() => {
            let mut shown = format!("{}://{}", u.scheme(), u.host_str().unwrap_or_default());
            if let Some(port) = u.port() {
                shown.push_str(&format!(":{port}"));
            }
            let bare = u.path() == "/" && u.query().is_none() && u.fragment().is_none();
            shown.push('/');
            if !bare {
                shown.push_str(MASK);
            }
            shown
        }
        // Not a URL with a host: nothing in it can be told apart from a secret.
        _ => MASK.to_string(),
    }
}

/// `text` with every URL in it (a run of characters without spaces or quotes around a `://`)
/// that holds a secret passed through [`redact_url`], the others as written: for messages
/// copied from lower layers (an RTSP client's or an HTTP client's error text), which may quote
/// the URL they were given.
pub fn redact_text(text: &str) -> String {
    let is_scheme = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.');
    let ends = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let start = rest[..i]
            .char_indices()
            .rev()
            .take_while(|&(_, c)| is_scheme(c))
            .last()
            .map_or(i, |(j, _)| j);
        let end = rest[i..].find(ends).map_or(rest.len(), |e| i + e);
        out.push_str(&rest[..start]);
        if start == i {
            // `://` without a scheme before it: not a URL.
            out.push_str(&rest[i..i + 3]);
            rest = &rest[i + 3..];
            continue;
        }
        // A URL quoted at the end of a sentence or in brackets keeps its punctuation.
        let token = &rest[start..end];
        let trimmed = token.trim_end_matches([',', ';', ')', ']', '.', ':']);
        // A URL with nothing to hide is quoted as written (not as `url` would re-serialise it:
        // `ftp://x` stays `ftp://x`, not `ftp://x/`), so a message still shows what was given.
        match redact(trimmed) {
            (shown, true) => out.push_str(&shown),
            (_, false) => out.push_str(trimmed),
        }
        out.push_str(&token[trimmed.len()..]);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A URL that may hold a secret (a webhook's token in its path, a password): `Display` and
/// `Debug` show [`redact_webhook_url`]; only [`SecretUrl::expose`] gives the URL itself, to the
/// HTTP client.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL itself. Never log or format what this returns.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretUrl {
    fn from(url: String) -> Self {
        Self(url)
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_webhook_url(&self.0))
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({})", redact_webhook_url(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_the_password_keeps_the_user() {
        assert_eq!(
            redact_url("rtsp://admin:s3cret@10.0.0.5:554/h264"),
            "rtsp://admin:***@10.0.0.5:554/h264"
        );
    }

    #[test]
    fn leaves_urls_without_secrets_alone() {
        assert_eq!(redact_url("rtsp://10.0.0.5/h264"), "rtsp://10.0.0.5/h264");
        let plain =
            "rtsp://10.0.0.5:554/Streaming/Channels/101?transportmode=unicast&profile=Profile_1";
        assert_eq!(redact_url(plain), plain);
    }

    #[test]
    fn masks_secret_query_parameters_and_keeps_the_others() {
        assert_eq!(
            redact_url(
                "rtsp://10.0.0.5/cam/realmonitor?channel=1&user=admin&password=hunter2&subtype=0"
            ),
            "rtsp://10.0.0.5/cam/realmonitor?channel=1&user=admin&password=***&subtype=0"
        );
        for name in [
            "pwd",
            "passwd",
            "PASSWORD",
            "token",
            "access_token",
            "key",
            "apiKey",
            "api_key",
            "sig",
            "X-Amz-Signature",
            "secret",
            "client_secret",
            "auth",
            "sessionid",
        ] {
            let u = format!("https://h.example/x?a=1&{name}=s3cr%2Ft&b=2");
            assert_eq!(
                redact_url(&u),
                format!("https://h.example/x?a=1&{name}=***&b=2"),
                "{name}"
            );
        }
        // Both at once, and an empty value has nothing to hide.
        assert_eq!(
            redact_url("http://u:p@h/x?token=&key=k"),
            "http://u:***@h/x?token=&key=***"
        );
    }

    #[test]
    fn masks_unparseable_urls_too() {
        let r = redact_url("rtsp://admin:s3cret@[bad/h264?password=hunter2#x");
        assert!(!r.contains("s3cret") && !r.contains("hunter2"), "{r}");
        assert_eq!(r, "rtsp://admin:***@[bad/h264?password=***#x");
    }

    #[test]
    fn webhook_urls_show_only_where_they_go() {
        assert_eq!(
            redact_webhook_url("https://hooks.example.org/services/T0/B0/XyZsecret?k=1"),
            "https://hooks.example.org/***"
        );
        assert_eq!(
            redact_webhook_url("http://user:pw@127.0.0.1:8080/bot123:ABC/sendMessage"),
            "http://127.0.0.1:8080/***"
        );
        assert_eq!(redact_webhook_url("http://gw.local/"), "http://gw.local/");
        assert_eq!(redact_webhook_url("not a url /with/token"), "***");
    }

    #[test]
    fn urls_inside_text_are_redacted_and_the_rest_kept() {
        let t = "DESCRIBE rtsp://cam:p4ss@10.0.0.5/live?password=hunter2: 401 Unauthorized \
                 (see \"http://h/x?token=abc\", or ftp://a/b).";
        let r = redact_text(t);
        assert_eq!(
            r,
            "DESCRIBE rtsp://cam:***@10.0.0.5/live?password=***: 401 Unauthorized \
             (see \"http://h/x?token=***\", or ftp://a/b)."
        );
        assert_eq!(redact_text("no url :// here"), "no url :// here");
        assert_eq!(redact_text(""), "");
    }

    #[test]
    fn secret_url_never_formats_the_secret() {
        let u = SecretUrl::new("https://hooks.example.org/services/T0/B0/XyZsecret");
        assert_eq!(u.to_string(), "https://hooks.example.org/***");
        assert!(!format!("{u:?}").contains("XyZsecret"));
        assert!(u.expose().ends_with("XyZsecret"));
    }
}
