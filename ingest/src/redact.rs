//! Shows URLs without their password, for logs, errors, metrics and events. Pure.

/// `rtsp://user:secret@host/path` → `rtsp://user:***@host/path`; URLs without a password and
/// strings that are not URLs come back unchanged except that anything between `://` and `@` that
/// contains a `:` is masked after the colon.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            // set_password only fails for cannot-be-a-base URLs, which have no password.
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => match (url.find("://"), url.rfind('@')) {
            (Some(s), Some(at)) if at > s => {
                let userinfo = &url[s + 3..at];
                match userinfo.find(':') {
                    Some(c) => format!("{}{}:***{}", &url[..s + 3], &userinfo[..c], &url[at..]),
                    None => url.to_string(),
                }
            }
            _ => url.to_string(),
        },
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
    fn leaves_urls_without_password_alone() {
        assert_eq!(redact_url("rtsp://10.0.0.5/h264"), "rtsp://10.0.0.5/h264");
    }

    #[test]
    fn masks_unparseable_urls_too() {
        let r = redact_url("rtsp://admin:s3cret@[bad/h264");
        assert!(!r.contains("s3cret"), "{r}");
    }
}
