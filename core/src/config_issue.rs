//! One shape for every config problem, whichever file it is in (the pipeline config, a camera
//! file, the guardians' registry): where (file and field) and what, shown as
//! `file: field: message`. Pure.

use std::fmt;

use crate::redact::redact_text;

/// One config problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigIssue {
    pub file: String,
    /// Dotted path of the field (`stream.url`, `zones[1].name`), `line L, column C` for a TOML
    /// error, or `-` for the file as a whole.
    pub field: String,
    pub message: String,
}

impl ConfigIssue {
    /// Builds an issue; the secrets of any URL quoted in the message are masked (serde messages
    /// can echo a value; an id or name may be a pasted URL).
    pub fn new(file: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: file.to_string(),
            field: field.into(),
            message: redact_text(&message.into()),
        }
    }

    /// An issue at byte offset `at` of `text` (a TOML parser's error span): the field is
    /// `line L, column C`; without an offset, `-`.
    pub fn at(file: &str, text: &[u8], at: Option<usize>, message: impl Into<String>) -> Self {
        let field = match at {
            Some(at) => {
                let (line, col) = line_col(text, at);
                format!("line {line}, column {col}")
            }
            None => "-".into(),
        };
        Self::new(file, field, message)
    }
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.field, self.message)
    }
}

impl std::error::Error for ConfigIssue {}

/// Every problem one check found, in order (never empty when returned as an error); shown one
/// per line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigIssues(pub Vec<ConfigIssue>);

impl fmt::Display for ConfigIssues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigIssues {}

impl From<ConfigIssue> for ConfigIssues {
    fn from(issue: ConfigIssue) -> Self {
        Self(vec![issue])
    }
}

/// 1-based line and column (in characters) of byte offset `at`.
fn line_col(bytes: &[u8], at: usize) -> (usize, usize) {
    let at = at.min(bytes.len());
    let before = &bytes[..at];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_file_field_message_and_masks_passwords_in_the_message() {
        let i = ConfigIssue::new(
            "cam.toml",
            "stream.url",
            "a rtsp://u:p@h/x and `rtsps://v:q@[::1]:5/y` rtsp://h/z ://",
        );
        assert_eq!(
            i.to_string(),
            "cam.toml: stream.url: a rtsp://u:***@h/x and `rtsps://v:***@[::1]:5/y` rtsp://h/z ://"
        );
    }

    #[test]
    fn an_offset_becomes_line_and_column_in_characters() {
        let text = "a = 1\nb = \"é\" x\n";
        let at = text.find('x').unwrap();
        assert_eq!(
            ConfigIssue::at("f.toml", text.as_bytes(), Some(at), "bad").field,
            "line 2, column 9"
        );
        assert_eq!(
            ConfigIssue::at("f.toml", text.as_bytes(), None, "bad").field,
            "-"
        );
    }

    #[test]
    fn several_issues_show_one_per_line() {
        let all = ConfigIssues(vec![
            ConfigIssue::new("a", "x", "one"),
            ConfigIssue::new("a", "y", "two"),
        ]);
        assert_eq!(all.to_string(), "a: x: one\na: y: two");
    }
}
