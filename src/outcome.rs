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

mod printable;
pub use printable::{is_replaced, printable};

/// What starts each line of ours that is not a verdict (usage errors, --wait progress).
pub const PREFIX: &str = "healthprobe: ";

/// The shortest a target is cut to, so that a shortened line still names it.
const MIN_TARGET: usize = 60;

impl Outcome {
    /// `healthy: TARGET: SUMMARY from PEER in N ms[, CAVEAT]` (`via proxy PEER` through a
    /// proxy), printable and at most MAX_LINE bytes: a long target is shortened first, so
    /// that the status or error, what was expected, the address and the time stay.
    pub fn line(&self) -> String {
        let verdict = if self.healthy {
            "healthy: "
        } else {
            "unhealthy: "
        };
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
        fit(
            verdict,
            &self.target,
            &[": ", &self.summary].concat(),
            &tail,
            MAX_LINE,
        )
    }
}

/// `head + target + rest + tail`, printable, in at most `room` bytes. `head` and `tail`
/// are ours and kept whole; the target (the user's text) is shortened first, down to
/// MIN_TARGET bytes, so that `rest` (the reason) survives; only then is `rest` cut.
pub fn fit(head: &str, target: &str, rest: &str, tail: &str, room: usize) -> String {
    let target = printable(target);
    let rest = printable(rest);
    let free = room.saturating_sub(head.len() + tail.len());
    if target.len() + rest.len() <= free {
        return [head, &target, &rest, tail].concat();
    }
    let target_room = free
        .saturating_sub(rest.len())
        .max(MIN_TARGET.min(target.len()));
    let target = cap(&target, target_room);
    let rest = cap(&rest, free.saturating_sub(target.len()));
    bounded(&[head, &target, &rest].concat(), tail)
}

/// One line of output: `text` made printable and cut so that with `tail` (ours, kept
/// whole) it is at most MAX_LINE bytes. Every line printed goes through here.
pub fn bounded(text: &str, tail: &str) -> String {
    let tail = printable(tail);
    cap(&printable(text), MAX_LINE.saturating_sub(tail.len())) + &tail
}

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut with "...".
pub fn cap(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub(3);
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
    fn a_long_target_is_shortened_before_the_reason() {
        let target = ["http://localhost/", &"a".repeat(400)].concat();
        let line = fit(
            "unhealthy: ",
            &target,
            ": 503 (expected 200-399)",
            " in 3 ms",
            MAX_LINE,
        );
        assert!(line.len() <= MAX_LINE, "{line}");
        assert!(
            line.starts_with("unhealthy: http://localhost/aaa"),
            "{line}"
        );
        assert!(
            line.ends_with("...: 503 (expected 200-399) in 3 ms"),
            "{line}"
        );
        let reason = "x".repeat(400);
        let line = fit("unhealthy: ", &target, &reason, " in 3 ms", MAX_LINE);
        assert!(
            line.len() <= MAX_LINE && line.ends_with("... in 3 ms"),
            "{line}"
        );
        assert!(line.contains(&target[..MIN_TARGET - 3]), "{line}");
    }
}
