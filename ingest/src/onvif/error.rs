//! Errors of the ONVIF client and of WS-Discovery. Pure. URLs in them are shown through
//! `redact_url`, and no variant holds a password: the client scrubs it from any message it copies
//! from a lower layer.

/// What went wrong talking ONVIF to a camera. `action` is the ONVIF operation that failed
/// (`GetProfiles`, `GetStreamUri`, `Probe`, ...); `url` never carries a password.
#[derive(Debug, thiserror::Error)]
pub enum OnvifError {
    #[error("ONVIF {action}: {url}: HTTP status {status}")]
    Http {
        action: &'static str,
        url: String,
        status: u16,
    },

    #[error("ONVIF {action}: {url}: not authorised ({reason})")]
    Auth {
        action: &'static str,
        url: String,
        reason: String,
    },

    /// A SOAP 1.2 fault (ONVIF Core, "Error handling": SOAP errors). `code` is the most specific fault code the camera gave,
    /// for example `ter:NotAuthorized`; `reason` is its `env:Reason` text.
    #[error("ONVIF {action}: {url}: SOAP fault {code}: {reason}")]
    Fault {
        action: &'static str,
        url: String,
        code: String,
        reason: String,
    },

    #[error("ONVIF {action}: unexpected reply: {message}")]
    Parse {
        action: &'static str,
        message: String,
    },

    #[error("ONVIF {action}: {url}: no answer within {timeout_ms} ms")]
    Timeout {
        action: &'static str,
        url: String,
        timeout_ms: u64,
    },

    #[error("ONVIF {action}: {url}: {message}")]
    Io {
        action: &'static str,
        url: String,
        message: String,
    },

    #[error("ONVIF: {url}: not a usable device service URL: {message}")]
    InvalidUrl { url: String, message: String },

    /// The camera asks for HTTP Basic (RFC 7617) on a plain `http` URL: the password would
    /// cross the network merely Base64-encoded. Refused unless the client was told to allow it
    /// (`OnvifClient::allow_basic_over_http`, the camera file's `onvif.allow_basic_over_http`).
    #[error(
        "ONVIF {action}: {url}: the camera offers only HTTP Basic authentication, which over \
         plain http sends the password readable to anyone on the network; refused (use https, \
         turn on HTTP Digest or WS-UsernameToken on the camera, or allow it for this camera)"
    )]
    BasicOverHttp { action: &'static str, url: String },

    #[error("ONVIF {action}: {url}: the camera offers no {what}")]
    Unsupported {
        action: &'static str,
        url: String,
        what: &'static str,
    },
}

/// Fault codes that mean "who are you?" rather than "what you asked is wrong": ONVIF's
/// `ter:NotAuthorized` (Core, "Error handling", generic faults) and WS-Security's `wsse:FailedAuthentication`,
/// `wsse:InvalidSecurity` and `wsse:InvalidSecurityToken` (SOAP Message Security 1.0 §12), which
/// some cameras send instead.
const AUTH_FAULTS: &[&str] = &[
    "NotAuthorized",
    "FailedAuthentication",
    "InvalidSecurity",
    "InvalidSecurityToken",
];

impl OnvifError {
    /// Whether the camera refused the credentials (wrong user name or password, or a clock so far
    /// off that the UsernameToken is rejected), or this client refused to send them (HTTP Basic
    /// over plain http). A person must fix these; retrying will not help.
    pub fn is_auth(&self) -> bool {
        match self {
            OnvifError::Auth { .. } | OnvifError::BasicOverHttp { .. } => true,
            OnvifError::Fault { code, .. } => {
                let local = code.rsplit(':').next().unwrap_or(code);
                AUTH_FAULTS.iter().any(|f| f.eq_ignore_ascii_case(local))
            }
            OnvifError::Http { status, .. } => *status == 401 || *status == 403,
            _ => false,
        }
    }

    /// Whether trying again later can help (the camera is rebooting, the network dropped a
    /// packet, the camera is overloaded), as opposed to something a person must fix.
    pub fn is_transient(&self) -> bool {
        match self {
            OnvifError::Timeout { .. } | OnvifError::Io { .. } => true,
            OnvifError::Http { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            OnvifError::Auth { .. }
            | OnvifError::BasicOverHttp { .. }
            | OnvifError::Fault { .. }
            | OnvifError::Parse { .. }
            | OnvifError::InvalidUrl { .. }
            | OnvifError::Unsupported { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(code: &str) -> OnvifError {
        OnvifError::Fault {
            action: "GetProfiles",
            url: "http://10.0.0.5/onvif/media".into(),
            code: code.into(),
            reason: "x".into(),
        }
    }

    #[test]
    fn not_authorized_faults_are_auth_errors_whatever_the_prefix() {
        assert!(fault("ter:NotAuthorized").is_auth());
        assert!(fault("wsse:FailedAuthentication").is_auth());
        assert!(fault("NotAuthorized").is_auth());
        assert!(!fault("ter:ActionNotSupported").is_auth());
        assert!(!fault("ter:NotAuthorized").is_transient());
    }

    #[test]
    fn timeouts_and_server_errors_are_transient_auth_is_not() {
        let t = OnvifError::Timeout {
            action: "GetProfiles",
            url: "u".into(),
            timeout_ms: 5000,
        };
        assert!(t.is_transient() && !t.is_auth());
        let h = |status| OnvifError::Http {
            action: "GetProfiles",
            url: "u".into(),
            status,
        };
        assert!(h(503).is_transient());
        assert!(!h(404).is_transient());
        assert!(h(401).is_auth());
        let a = OnvifError::Auth {
            action: "GetProfiles",
            url: "u".into(),
            reason: "r".into(),
        };
        assert!(a.is_auth() && !a.is_transient());
    }
}
