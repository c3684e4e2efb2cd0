//! The stdout sink: one JSON line per alert on standard output, for piping into `jq` or another
//! program. Does I/O (writes stdout); printing is this sink's whole job, the one place in the
//! libraries that prints.

use std::io::{self, Write};
use std::time::Duration;

use sharpeyes_core::{Event, EventSink};

use crate::error::DeliveryError;

/// Writes each alert as one line of JSON to stdout. The stdout lock is held for the line and the
/// line is flushed before `send` returns, so lines from several threads never interleave and a
/// reader at the other end of a pipe sees each alert at once.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdoutSink;

impl StdoutSink {
    pub fn new() -> Self {
        Self
    }
}

impl EventSink for StdoutSink {
    type Error = DeliveryError;

    fn name(&self) -> &str {
        "stdout"
    }

    fn send(&mut self, event: &Event) -> Result<(), DeliveryError> {
        write_line(&mut io::stdout().lock(), event)
    }

    fn flush(&mut self, _timeout: Duration) -> Result<(), DeliveryError> {
        io::stdout()
            .lock()
            .flush()
            .map_err(|source| DeliveryError::Stdout { source })
    }
}

/// Writes `event` as one JSON line to `out` and flushes it.
fn write_line(out: &mut impl Write, event: &Event) -> Result<(), DeliveryError> {
    let mut line = serde_json::to_vec(event).map_err(|source| DeliveryError::Encode {
        alert_id: event.id().to_owned(),
        source,
    })?;
    line.push(b'\n');
    out.write_all(&line)
        .and_then(|()| out.flush())
        .map_err(|source| DeliveryError::Stdout { source })
}

#[cfg(test)]
mod tests {
    use sharpeyes_core::{Alert, AlertKind, CameraId, UnixMillis};

    use super::*;

    #[test]
    fn each_alert_is_one_parseable_json_line() {
        let cam = CameraId::new("door").expect("valid");
        let a = Event::from(Alert::new(
            AlertKind::PersonDetected,
            cam.clone(),
            UnixMillis(1),
            &[],
            (2, 2),
        ));
        let b = Event::from(Alert::new(
            AlertKind::PersonDetected,
            cam,
            UnixMillis(2),
            &[],
            (2, 2),
        ));
        let mut out = Vec::new();
        write_line(&mut out, &a).expect("written");
        write_line(&mut out, &b).expect("written");
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(serde_json::from_str::<Event>(lines[0]).expect("parses"), a);
        assert_eq!(serde_json::from_str::<Event>(lines[1]).expect("parses"), b);
        assert!(lines[0].contains(r#""kind":"person_detected""#));
    }
}
