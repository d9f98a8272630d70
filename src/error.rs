//! Everything that can go wrong, in the user's words: the enum is the documentation.

use std::fmt;
use std::net::SocketAddr;

use crate::config::MAX_TARGETS;
use crate::outcome::{cap, printable};

/// How to get https:// and the TLS options, for the errors of a build without them.
pub const TLS_BUILD: &str = "the TLS build of healthprobe (cargo build --release --features tls)";

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
    #[cfg(feature = "tls")]
    Handshake,
    Response,
    Body,
    /// A step of a database protocol, in words: "awaiting the reply to PING".
    Protocol(&'static str),
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Resolve => "resolving the host",
            Phase::Connect => "connecting",
            #[cfg(feature = "tls")]
            Phase::Handshake => "during the TLS handshake",
            Phase::Proxy => "awaiting its answer to CONNECT",
            Phase::Response => "awaiting the response",
            Phase::Body => "reading the body",
            Phase::Protocol(step) => step,
        })
    }
}

/// What was wrong with the HTTP/2 a gRPC server sent.
#[derive(Debug)]
pub enum Http2Fault {
    Protocol(String),
    HeaderBlock(String),
    FrameTooLarge { length: usize, max: usize },
}

#[derive(Debug)]
pub enum Error {
    // Usage and configuration errors: exit 64, nothing is probed.
    /// An option that does not exist, and the one of ours nearest to it (a typo).
    UnknownOption {
        option: String,
        nearest: Option<&'static str>,
    },
    /// One of our options given twice.
    RepeatedOption(String),
    /// A HEALTHPROBE_* variable that is none of ours, and the nearest that is.
    UnknownVariable {
        name: String,
        nearest: Option<&'static str>,
    },
    /// `--timeout 5000`: a number alone is seconds, and this many is surely not meant.
    BareSeconds {
        source: String,
        value: String,
        millis: String,
        seconds: String,
    },
    /// An option given on the command line that no target's kind uses.
    Inapplicable {
        option: &'static str,
        schemes: &'static [&'static str],
    },
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
    /// A variable whose value is not UTF-8: named, its value never shown.
    NotUtf8(String),
    /// `supported` comes from probe::KINDS; it is ours, so it is never cut short.
    UnsupportedScheme {
        target: String,
        scheme: String,
        supported: String,
    },
    UnsetVariable {
        name: String,
        source: String,
    },
    NoTargets,
    /// More targets than config::MAX_TARGETS.
    TooManyTargets(usize),
    Conflict(&'static str),
    /// A TLS option (named by its flag or variable) in a build without TLS.
    #[cfg(not(feature = "tls"))]
    NeedsTls(String),
    /// A --cacert, --cert or --key file that is missing, unreadable or not what it should be.
    #[cfg(feature = "tls")]
    File {
        source: String,
        path: String,
        reason: String,
    },
    /// `--` with nothing after it.
    MissingCommand,
    /// The command after `--` cannot be run: found before probing (exit 64 at once) or
    /// when exec fails after a healthy probe (still exit 64).
    Command {
        program: String,
        reason: String,
    },
    /// `--install DIR` was given something else too.
    InstallWith(String),
    /// `--install DIR`: DIR cannot take the copy (missing, not a directory, read-only,
    /// not writable by us), which only a change of configuration can fix.
    InstallDir {
        dir: String,
        reason: &'static str,
    },

    // Failures: exit 1.
    /// `--install DIR` failed for another reason (a full disk, no /proc and no path).
    Install {
        dir: String,
        reason: String,
    },

    // Probe failures: the target is unhealthy, exit 1.
    Timeout(Phase),
    /// The deadline passed, and the server had sent nothing at all on the connection (a
    /// server of another protocol, waiting for a request of its own).
    SentNothing(Phase),
    Resolve {
        host: String,
        reason: String,
    },
    /// Every address was tried; `reason` is what the last one answered.
    Connect {
        addrs: Vec<SocketAddr>,
        reason: String,
    },
    /// A unix socket refused or failed the connection; `reason` in words ("no such socket").
    UnixConnect {
        socket: String,
        reason: String,
    },
    /// The server speaks another protocol than the kind's (or its own badly): in the
    /// words of the kind that found out. Unhealthy (exit 1) for every kind.
    OtherProtocol(String),
    /// The request could not be put together (a method or header ureq refuses).
    Request(String),
    InvalidRedirect(String),
    HeadersTooLarge(usize),
    /// The --proxy refused CONNECT with this status.
    ProxyRefused(String),
    /// Anything else the HTTP client reports, with the phase it happened in if known.
    Client {
        what: String,
        phase: Option<Phase>,
    },
    InvalidMethod(String),
    /// HTTP/2 (gRPC) we cannot accept.
    Http2(Http2Fault),
    /// The server ended the gRPC call: RST_STREAM or GOAWAY, named, and GOAWAY's text.
    StreamReset(String),
    GoAway(String),
    /// The gRPC reply exceeds what a HealthCheckResponse can be.
    ReplyTooLarge(usize),
    /// A gRPC reply that is gRPC but not a valid health answer.
    InvalidReply(String),
    /// The target waited in line behind this many probes in flight, and the deadline
    /// came before its turn.
    NotProbed(usize),
    /// The wait was ended by this signal (SIGTERM, SIGINT).
    Stopped(&'static str),
    /// Some target is unhealthy: its line says why, so this one prints nothing.
    Unhealthy,
    TooManyRedirects(u32),
    /// What went wrong on the way to the target was the --proxy's doing.
    Proxy {
        proxy: String,
        error: Box<Error>,
    },
    RedirectLoop(String),
    /// The TLS handshake failed, or the server ended TLS with an alert: why, in a few words.
    #[cfg(feature = "tls")]
    Tls(String),
    /// The connection broke (closed, reset) in the middle of a protocol step; `reason`
    /// is net::io_words.
    Connection {
        phase: Phase,
        reason: String,
    },
}

/// Usage and configuration errors (BSD's EX_USAGE); never 2, which Docker reserves.
pub const EXIT_USAGE: u8 = 64;
pub const EXIT_UNHEALTHY: u8 = 1;

impl Error {
    /// Usage and configuration errors exit 64; the rest are failures (exit 1).
    pub fn exit_code(&self) -> u8 {
        if self.is_usage() {
            EXIT_USAGE
        } else {
            EXIT_UNHEALTHY
        }
    }

    fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::UnknownOption { .. }
                | Error::RepeatedOption(_)
                | Error::UnknownVariable { .. }
                | Error::BareSeconds { .. }
                | Error::Inapplicable { .. }
                | Error::MissingValue(_)
                | Error::InvalidValue { .. }
                | Error::InvalidTarget { .. }
                | Error::NotUtf8(_)
                | Error::UnsupportedScheme { .. }
                | Error::UnsetVariable { .. }
                | Error::NoTargets
                | Error::TooManyTargets(_)
                | Error::Conflict(_)
                | Error::InstallWith(_)
                | Error::InstallDir { .. }
                | Error::MissingCommand
                | Error::Command { .. }
        ) || self.is_tls_usage()
    }

    /// The TLS options' usage errors, which exist in one build or the other.
    fn is_tls_usage(&self) -> bool {
        #[cfg(feature = "tls")]
        return matches!(self, Error::File { .. });
        #[cfg(not(feature = "tls"))]
        return matches!(self, Error::NeedsTls(_));
    }
}

/// Writes `items` separated by ", ", each as `item` writes it.
fn write_list<T>(
    f: &mut fmt::Formatter<'_>,
    items: &[T],
    item: impl Fn(&mut fmt::Formatter<'_>, &T) -> fmt::Result,
) -> fmt::Result {
    for (index, each) in items.iter().enumerate() {
        if index > 0 {
            f.write_str(", ")?;
        }
        item(f, each)?;
    }
    Ok(())
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownOption { option, nearest } => {
                write!(f, "unknown option '{}'", Quoted(option))?;
                match nearest {
                    Some(nearest) => write!(f, " (did you mean {nearest}?)"),
                    None => Ok(()),
                }
            }
            Error::RepeatedOption(option) => {
                write!(f, "option '{}' is given more than once", Quoted(option))
            }
            Error::UnknownVariable { name, nearest } => {
                write!(f, "unknown variable {}", Quoted(name))?;
                match nearest {
                    Some(nearest) => write!(f, " (did you mean {nearest}?)"),
                    None => f.write_str(" (the HEALTHPROBE_ prefix is healthprobe's own)"),
                }
            }
            Error::BareSeconds {
                source,
                value,
                millis,
                seconds,
            } => write!(
                f,
                "{source}: '{}' would be {} seconds (a number alone is seconds): write {millis} or {seconds}",
                Quoted(value),
                Quoted(value)
            ),
            Error::Inapplicable { option, schemes } => {
                write!(f, "{option} applies only to ")?;
                write_list(f, schemes, |f, scheme| write!(f, "{scheme}://"))?;
                f.write_str(" targets, and none is given")
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
            Error::NotUtf8(name) => write!(
                f,
                "{}: not valid UTF-8 (its value is not shown)",
                Quoted(name)
            ),
            Error::InvalidTarget { target, reason } => {
                write!(f, "target '{}': {}", Quoted(target), Quoted(reason))
            }
            Error::UnsupportedScheme {
                target,
                scheme,
                supported,
            } => {
                write!(f, "target '{}': unsupported scheme", Quoted(target))?;
                if !scheme.is_empty() {
                    write!(f, " '{}'", Quoted(scheme))?;
                }
                write!(f, " (supported: {supported})")
            }
            Error::UnsetVariable { name, source } => write!(
                f,
                "{}: variable '{name}' is not set (write ${{{name}:-default}} to give a default)",
                Quoted(source)
            ),
            Error::NoTargets => {
                f.write_str("no target given (name one, or set HEALTHPROBE_TARGETS)")
            }
            Error::TooManyTargets(count) => write!(
                f,
                "{count} targets: {MAX_TARGETS} at most (run more than one healthprobe)"
            ),
            Error::NotProbed(in_flight) => write!(
                f,
                "not probed: the deadline came while it waited its turn ({in_flight} probes run at once)"
            ),
            Error::Conflict(why) => f.write_str(why),
            #[cfg(not(feature = "tls"))]
            Error::NeedsTls(option) => write!(f, "{option} needs {TLS_BUILD}"),
            #[cfg(feature = "tls")]
            Error::File {
                source,
                path,
                reason,
            } => write!(f, "{source} '{}': {}", Quoted(path), Quoted(reason)),
            Error::MissingCommand => {
                f.write_str("'--' must be followed by the command to run once healthy")
            }
            Error::Command { program, reason } => {
                write!(f, "cannot run '{}': {reason}", Quoted(program))
            }
            Error::InstallWith(argument) => {
                write!(
                    f,
                    "--install DIR takes no other argument (got '{}')",
                    Quoted(argument)
                )
            }
            Error::InstallDir { dir, reason } => {
                write!(f, "cannot install into '{}': {reason}", Quoted(dir))
            }
            Error::Install { dir, reason } => {
                write!(
                    f,
                    "cannot install into '{}': {}",
                    Quoted(dir),
                    Quoted(reason)
                )
            }
            Error::Timeout(phase) => write!(f, "timed out {phase}"),
            Error::SentNothing(phase) => {
                write!(f, "timed out {phase} (the server sent nothing)")
            }
            Error::Resolve { host, reason } => write!(f, "cannot resolve '{host}': {reason}"),
            Error::Connect { addrs, reason } => {
                write!(f, "{reason} (tried ")?;
                write_list(f, addrs, |f, addr| write!(f, "{addr}"))?;
                f.write_str(")")
            }
            Error::UnixConnect { socket, reason } => write!(f, "{reason} (tried unix:{socket})"),
            Error::OtherProtocol(why) | Error::GoAway(why) => f.write_str(why),
            Error::Request(why) => write!(f, "cannot build the request: {why}"),
            Error::InvalidRedirect(location) => write!(f, "invalid redirect to '{location}'"),
            Error::HeadersTooLarge(limit) => {
                write!(f, "response headers larger than {limit} bytes")
            }
            Error::ProxyRefused(status) => write!(f, "it answered CONNECT with {status}"),
            Error::Client { what, phase: None } => f.write_str(what),
            Error::Client {
                what,
                phase: Some(phase),
            } => write!(f, "{what} {phase}"),
            Error::InvalidMethod(method) => write!(f, "invalid method '{method}'"),
            Error::Http2(Http2Fault::Protocol(what)) => {
                write!(f, "HTTP/2 protocol error from the server: {what}")
            }
            Error::Http2(Http2Fault::HeaderBlock(why)) => {
                write!(f, "bad header block from the server: {why}")
            }
            Error::Http2(Http2Fault::FrameTooLarge { length, max }) => write!(
                f,
                "the server sent a frame of {length} bytes, more than the {max} allowed"
            ),
            Error::StreamReset(code) => write!(f, "the server reset the stream ({code})"),
            Error::ReplyTooLarge(limit) => write!(f, "the reply is larger than {limit} bytes"),
            Error::InvalidReply(why) => f.write_str(why),
            Error::Stopped(signal) => write!(f, "stopped by {signal} while waiting"),
            Error::Unhealthy => f.write_str("unhealthy"),
            Error::TooManyRedirects(limit) => write!(f, "stopped after {limit} redirects"),
            Error::RedirectLoop(url) => write!(f, "redirect loop back to {url}"),
            #[cfg(feature = "tls")]
            Error::Tls(why) => f.write_str(why),
            Error::Connection { phase, reason } => write!(f, "{reason} {phase}"),
            Error::Proxy { proxy, error } => write!(f, "proxy {proxy}: {error}"),
        }
    }
}
