//! Everything that can go wrong, in the user's words: the enum is the documentation.

use std::fmt;
use std::net::SocketAddr;

use crate::outcome::{cap, printable};

/// Text the user or a server wrote, as an error line shows it: control characters
/// replaced (a value can hold a newline via ${VAR}) and cut short, so that the line
/// stays one short line.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&cap(&printable(self.0), 100))
    }
}

/// What the probe was doing when it failed or ran out of time, in the order it happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Resolve,
    Connect,
    /// Waiting for a proxy's answer to CONNECT.
    Proxy,
    Response,
    Body,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Resolve => "resolving the host",
            Phase::Connect => "connecting",
            Phase::Proxy => "awaiting its answer to CONNECT",
            Phase::Response => "awaiting the response",
            Phase::Body => "reading the body",
        })
    }
}

#[derive(Debug)]
pub enum Error {
    // Usage and configuration errors: exit 64, nothing is probed.
    /// An option that does not exist, or a single-valued option given twice.
    UnknownOption(String),
    /// An option given without its value (`--timeout` at the end of the line).
    MissingValue(String),
    /// `source` is the flag or environment variable the value came from.
    InvalidValue {
        source: String,
        value: String,
        expected: &'static str,
    },
    InvalidTarget {
        target: String,
        reason: String,
    },
    UnsetVariable {
        name: String,
        source: String,
    },
    NoTargets,
    Conflict(&'static str),

    // Probe failures: the target is unhealthy, exit 1.
    Timeout(Phase),
    Resolve {
        host: String,
        reason: String,
    },
    /// Every address was tried; `reason` is what the last one answered.
    Connect {
        addrs: Vec<SocketAddr>,
        reason: String,
    },
    /// The server answered, but not with HTTP we can accept.
    Http(String),
    TooManyRedirects(u32),
    /// What went wrong on the way to the target was the --proxy's doing.
    Proxy {
        proxy: String,
        error: Box<Error>,
    },
    RedirectLoop(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownOption(option) => {
                write!(f, "unknown or repeated option '{}'", Quoted(option))
            }
            Error::MissingValue(option) => write!(f, "{option} needs a value"),
            Error::InvalidValue {
                source,
                value,
                expected,
            } => write!(
                f,
                "{}: invalid value '{}': expected {expected}",
                Quoted(source),
                Quoted(value)
            ),
            Error::InvalidTarget { target, reason } => {
                write!(f, "target '{}': {}", Quoted(target), Quoted(reason))
            }
            Error::UnsetVariable { name, source } => write!(
                f,
                "{}: variable '{name}' is not set (write ${{{name}:-default}} to give a default)",
                Quoted(source)
            ),
            Error::NoTargets => {
                f.write_str("no target given (name one, or set HEALTHPROBE_TARGETS)")
            }
            Error::Conflict(why) => f.write_str(why),
            Error::Timeout(phase) => write!(f, "timed out {phase}"),
            Error::Resolve { host, reason } => write!(f, "cannot resolve '{host}': {reason}"),
            Error::Connect { addrs, reason } => {
                write!(f, "{reason} (tried ")?;
                for (i, addr) in addrs.iter().enumerate() {
                    let separator = if i == 0 { "" } else { ", " };
                    write!(f, "{separator}{addr}")?;
                }
                f.write_str(")")
            }
            Error::Http(why) => f.write_str(why),
            Error::TooManyRedirects(limit) => write!(f, "stopped after {limit} redirects"),
            Error::RedirectLoop(url) => write!(f, "redirect loop back to {url}"),
            Error::Proxy { proxy, error } => write!(f, "proxy {proxy}: {error}"),
        }
    }
}
