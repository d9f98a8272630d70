//! The verdict on one target and its one-line rendering, built for `docker inspect`
//! (which keeps only the first 4096 bytes of each run's output).

use std::fmt::Write;
use std::time::Duration;

use crate::net::Peer;

/// A line never exceeds this many bytes, whatever the server sends.
pub const MAX_LINE: usize = 300;

#[derive(Debug)]
pub struct Outcome {
    pub target: String,
    pub healthy: bool,
    /// What happened: "200 OK", "503 Service Unavailable (expected 200-399)", "timed out connecting".
    pub summary: String,
    /// The address actually connected to, when a connection was made.
    pub peer: Option<Peer>,
    /// The peer is the --proxy the request went through.
    pub via_proxy: bool,
    pub elapsed: Duration,
    /// For --verbose: resolved addresses and per-phase timings, one entry a line.
    pub trace: Vec<String>,
    /// Said at the end of the line whatever happened, and never cut: "certificate not
    /// verified (--insecure)".
    pub caveat: Option<&'static str>,
}

impl Outcome {
    /// `healthy: TARGET: SUMMARY from PEER in N ms[, CAVEAT]` (`via proxy PEER` through a
    /// proxy), cleaned of control characters and
    /// capped at MAX_LINE bytes.
    pub fn line(&self) -> String {
        let verdict = if self.healthy { "healthy" } else { "unhealthy" };
        let head = printable(&[verdict, ": ", &self.target, ": ", &self.summary].concat());
        // The tail is ours and short; the head holds the user's and the server's text,
        // so that is what gets cut when the line is too long.
        let mut tail = String::with_capacity(64);
        if let Some(peer) = &self.peer {
            tail.push_str(if self.via_proxy {
                " via proxy "
            } else {
                " from "
            });
            let _ = write!(tail, "{peer}");
        }
        // u64, not the u128 of as_millis(), whose formatting costs far more.
        let millis = u64::try_from(self.elapsed.as_millis()).unwrap_or(u64::MAX);
        for piece in [" in ", &millis.to_string(), " ms"] {
            tail.push_str(piece);
        }
        if let Some(caveat) = self.caveat {
            tail.push_str(", ");
            tail.push_str(caveat);
        }
        cap(&head, MAX_LINE - tail.len()) + &tail
    }
}

/// Replaces control characters (which could forge lines or escape sequences in a
/// terminal), Unicode line separators and bidirectional overrides (which could make a
/// line read as something else) with '?'.
pub fn printable(text: &str) -> String {
    // The usual case, checked byte by byte, at a fraction of the cost of rebuilding the
    // text char by char: control characters are ASCII's, or U+0080-U+009F (0xC2 0x80-0x9F);
    // the deceptive ones (U+200E-U+2069) all start with 0xE2.
    if !text
        .bytes()
        .any(|b| b < 0x20 || b == 0x7f || b == 0xc2 || b == 0xe2)
    {
        return text.to_string();
    }
    text.chars()
        .map(|c| if is_deceptive(c) { '?' } else { c })
        .collect()
}

fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut with "...".
pub fn cap(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max - 3;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// Milliseconds with one decimal, for the --verbose timings. Integer arithmetic: float
/// formatting would add ~10 KB to the binary for this one line.
pub fn millis(elapsed: Duration) -> String {
    let tenths = u64::try_from((elapsed.as_micros() + 50) / 100).unwrap_or(u64::MAX);
    format!("{}.{} ms", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_replaces_every_control_character() {
        let cases = [
            ("ok é £ ©", "ok é £ ©"),
            ("a\r\nb\x1b[31m\x7f", "a??b?[31m?"),
            ("next\u{85}line \u{9f}", "next?line ?"),
        ];
        for (raw, shown) in cases {
            assert_eq!(printable(raw), shown, "{raw:?}");
        }
    }
}
