//! Human-readable rendering of entries for `shuyu audit show`.
//!
//! ```text
//! #12 2025-01-31T08:00:00.123Z op-acme release s-health job 20250131T080000123Z-ab12cd34
//!     {"product_id":"…","rows":12}
//! ```
//!
//! The first line is seq, time, actor, action, subject and job (`-` when none); the second,
//! present only when there are details, is their compact JSON cut to [`DETAILS_WIDTH`]
//! characters. Entries carry text from guests (`guest.log`) and operators, so every control
//! character and bidirectional-override character is shown escaped (`\u{1b}`): a log line must
//! not be able to move the cursor, recolour the terminal or fake another entry.

use std::fmt;

use super::canonical::canonical_json;
use super::Entry;

/// Longest details text shown, in characters; the rest is cut and marked with `…`.
pub(crate) const DETAILS_WIDTH: usize = 240;

impl Entry {
    /// One or two lines for a terminal (see the module docs for the format).
    pub fn render(&self) -> String {
        let mut out = format!(
            "#{} {} {} {} {} job {}",
            self.seq,
            safe(&self.time),
            safe(&self.actor),
            safe(&self.action),
            safe(&self.subject),
            self.job_id.as_deref().map_or_else(|| "-".to_string(), safe),
        );
        let empty = match &self.details {
            serde_json::Value::Null => true,
            serde_json::Value::Object(map) => map.is_empty(),
            _ => false,
        };
        if !empty {
            let details = canonical_json(&self.details);
            out.push_str("\n    ");
            let mut shown: String = details.chars().take(DETAILS_WIDTH).collect();
            if shown.len() < details.len() {
                shown.push('…');
            }
            out.push_str(&safe(&shown));
        }
        out
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// Escapes characters that could act on a terminal instead of being shown.
fn safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_dangerous(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

fn is_dangerous(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(details: serde_json::Value) -> Entry {
        Entry {
            seq: 12,
            time: "2025-01-31T08:00:00.123Z".into(),
            actor: "op-acme".into(),
            action: "release".into(),
            subject: "s-health".into(),
            job_id: Some("j-1".into()),
            details,
            prev_hash: "0".repeat(64),
            hash: "1".repeat(64),
        }
    }

    #[test]
    fn two_lines_with_details_one_without() {
        let text = entry(json!({"rows": 12, "product_id": "p"})).render();
        assert_eq!(
            text,
            "#12 2025-01-31T08:00:00.123Z op-acme release s-health job j-1\n    {\"product_id\":\"p\",\"rows\":12}"
        );
        let mut bare = entry(json!({}));
        bare.job_id = None;
        assert_eq!(
            bare.render(),
            "#12 2025-01-31T08:00:00.123Z op-acme release s-health job -"
        );
    }

    #[test]
    fn long_details_are_cut() {
        let text = entry(json!({"line": "x".repeat(1000)})).render();
        let second = text.lines().nth(1).unwrap();
        assert!(second.ends_with('…'));
        assert!(second.chars().count() <= DETAILS_WIDTH + 5);
    }

    #[test]
    fn terminal_controls_are_escaped() {
        let mut e = entry(json!({"line": "ok\u{7f}\u{9b}2J\u{202e}"}));
        e.actor = "evil\u{1b}[2J\n#13 fake".into();
        let text = e.render();
        assert_eq!(text.lines().count(), 2);
        assert!(
            !text.chars().any(|c| c != '\n' && is_dangerous(c)),
            "{text:?}"
        );
        assert!(text.contains("\\u{1b}"));
    }
}
