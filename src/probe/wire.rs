//! A protocol conversation on a probe's connection, for the database probes: every write
//! and read runs under the deadline, and every read lands in a buffer of fixed size, so a
//! server that stalls costs at most the deadline and one that floods at most a few KiB.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};

use super::{Answer, Budget, Report};
use crate::config::HttpOptions;
use crate::error::{Error, Phase};
use crate::net::{DeadlineStream, closed, io_failure};
use crate::outcome::{cap, printable};
use crate::target::Target;

/// Quoted server text is cut to this many bytes; the line has other things to say.
const QUOTE_MAX: usize = 120;
/// Of a server that speaks another protocol, the line shows no more than this.
const STRANGER_MAX: usize = 48;

/// Of the first bytes a server sends, this many are kept to name its protocol.
const FIRST_BYTES: usize = 16;

/// What a probe converses over: the TCP connection under the deadline in the binary, a
/// scripted server's bytes in memory under the fuzz targets (src/fuzz.rs).
pub trait Connection: Read + Write {
    /// Ends our side politely, where the connection has such a thing.
    fn finish(&mut self) {}
}

impl Connection for DeadlineStream {
    /// A FIN, so the server logs no aborted connection where it can help it.
    fn finish(&mut self) {
        self.stream.shutdown(Shutdown::Write).ok();
    }
}

/// A wire probe's conversation once connected: the TCP connection in the binary, a
/// scripted server's bytes under the fuzz targets (src/fuzz.rs).
pub type Converse<S> = fn(Wire<S>, &Target, &HttpOptions, &Budget, &mut Report) -> Answer;

/// Every wire probe: connect under the budget, then hold the kind's conversation.
/// `expected` ("a Redis server") and `scheme` ("redis://") name it to a stranger.
pub fn probe(
    target: &Target,
    options: &HttpOptions,
    budget: &Budget,
    report: &mut Report,
    expected: &'static str,
    scheme: &'static str,
    converse: Converse<DeadlineStream>,
) -> Answer {
    let stream = super::open(target, budget, report)?;
    let wire = Wire::new(stream, budget, expected, scheme);
    converse(wire, target, options, budget, report)
}

/// Generic over the connection so that the fuzz targets run the probes' own code;
/// the binary has only `Wire<DeadlineStream>`, so the code it runs is the same.
pub struct Wire<S = DeadlineStream> {
    stream: S,
    /// What the kind expects ("a Redis server") and its scheme ("redis://"), to name a
    /// server of another protocol that leaves a read waiting or closes.
    expected: &'static str,
    scheme: &'static str,
    first: [u8; FIRST_BYTES],
    received: usize,
}

impl Wire {
    pub fn new(
        stream: TcpStream,
        budget: &Budget,
        expected: &'static str,
        scheme: &'static str,
    ) -> Wire {
        let stream = DeadlineStream {
            stream,
            deadline: budget.deadline,
        };
        Wire::over(stream, expected, scheme)
    }
}

impl<S: Connection> Wire<S> {
    pub fn over(stream: S, expected: &'static str, scheme: &'static str) -> Wire<S> {
        Wire {
            stream,
            expected,
            scheme,
            first: [0; FIRST_BYTES],
            received: 0,
        }
    }

    pub fn send(&mut self, bytes: &[u8], phase: Phase) -> Result<(), Error> {
        self.stream
            .write_all(bytes)
            .map_err(|e| io_failure(&e, phase))
    }

    /// Reads into `buffer[filled..]` until at least `want` bytes are there (`want` is at
    /// most the buffer's length), and returns how many are.
    pub fn fill(
        &mut self,
        buffer: &mut [u8],
        mut filled: usize,
        want: usize,
        phase: Phase,
    ) -> Result<usize, Error> {
        while filled < want.min(buffer.len()) {
            filled += self.read_some(&mut buffer[filled..], phase)?;
        }
        Ok(filled)
    }

    /// One read of whatever has arrived, at least one byte. A server that stops (or
    /// waits) after first bytes of another protocol is named by them.
    pub fn read_some(&mut self, buffer: &mut [u8], phase: Phase) -> Result<usize, Error> {
        let error = match self.stream.read(buffer) {
            Ok(0) => closed(phase),
            Ok(read) => {
                if self.received < FIRST_BYTES {
                    let keep = read.min(FIRST_BYTES - self.received);
                    self.first[self.received..self.received + keep]
                        .copy_from_slice(&buffer[..keep]);
                }
                self.received += read;
                return Ok(read);
            }
            Err(e) => io_failure(&e, phase),
        };
        let first = &self.first[..self.received.min(FIRST_BYTES)];
        match (recognise(first), error) {
            (Some((_, scheme)), _) if scheme != Some(self.scheme) => {
                Err(other_protocol(self.expected, self.scheme, first))
            }
            (_, Error::Timeout(phase)) if self.received == 0 => Err(Error::SentNothing(phase)),
            (_, error) => Err(error),
        }
    }

    /// Closes our side (with a FIN, on TCP).
    pub fn close(mut self) {
        self.stream.finish();
    }
}

/// Server text for the output line: up to its first line break, printable, and short.
pub fn quote(text: &str) -> String {
    let first_line = text.split(['\r', '\n']).next().unwrap_or_default();
    cap(&printable(first_line.trim()), QUOTE_MAX)
}

/// What a server that speaks another protocol said, for "not a ... server (it said ...)":
/// its first line, in ASCII, with '?' for anything else (binary, most likely).
pub fn stranger(bytes: &[u8]) -> String {
    let first_line = bytes.split(|&b| b == b'\r' || b == b'\n').next();
    let ascii: String = first_line
        .unwrap_or_default()
        .iter()
        .map(|&b| match b {
            b' '..=b'~' => char::from(b),
            _ => '?',
        })
        .collect();
    format!("it said '{}'", cap(&ascii, STRANGER_MAX))
}

/// The answer of a server that is not `expected` ("a MySQL server", the kind probed with
/// `scheme`, "mysql://"): when its first bytes give away what it is, that and the scheme
/// to probe it with ("this is an HTTP/1.1 server, not a MySQL server: try http://"),
/// else what it said. The one place every kind asks.
pub fn other_protocol(expected: &str, scheme: &str, bytes: &[u8]) -> Error {
    match recognise(bytes) {
        // The TLS flavour of the kind, where it has one (grpcs://, else https://).
        Some((name @ TLS, _)) => {
            let over_tls = if scheme == "grpc://" {
                "grpcs://"
            } else {
                "https://"
            };
            Error::OtherProtocol(format!("this is {name}, not {expected}: try {over_tls}"))
        }
        Some((name, Some(other))) if other != scheme => {
            Error::OtherProtocol(format!("this is {name}, not {expected}: try {other}"))
        }
        Some((name, None)) => Error::OtherProtocol(format!("this is {name}, not {expected}")),
        _ => Error::OtherProtocol(format!("not {expected} ({})", stranger(bytes))),
    }
}

const TLS: &str = "a TLS server";

/// The protocol whose server's first bytes these are, and the scheme that probes it.
/// Only what each sends unasked or in answer to anything: a greeting (MySQL, SSH, NATS,
/// HTTP/2's SETTINGS), an error reply (PostgreSQL, Redis, memcached, HTTP/1's 400), a
/// protocol header (AMQP) or a TLS record (an alert, most often).
pub fn recognise(bytes: &[u8]) -> Option<(&'static str, Option<&'static str>)> {
    let starts = |prefix: &[u8]| bytes.starts_with(prefix);
    let u24_le = |at: usize| {
        bytes
            .get(at..at + 3)
            .map(|b| usize::from(b[0]) | usize::from(b[1]) << 8 | usize::from(b[2]) << 16)
    };
    let u24_be = |at: usize| {
        bytes
            .get(at..at + 3)
            .map(|b| usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]))
    };
    let u32_be = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let known = if starts(b"HTTP/1.1") {
        ("an HTTP/1.1 server", Some("http://"))
    } else if starts(b"HTTP/1.0") {
        ("an HTTP/1.0 server", Some("http://"))
    } else if starts(b"HTTP") {
        ("an HTTP server", Some("http://"))
    } else if starts(b"PRI * HTTP/2.0")
        // A SETTINGS frame (type 4) on stream 0, of whole 6-byte settings (8 bytes tell,
        // as many as fcgi:// reads of a record header).
        || (bytes.len() >= 8
            && bytes[3] == 4
            && bytes[5..8] == [0; 3]
            && bytes.get(8).is_none_or(|&last| last == 0)
            && u24_be(0).is_some_and(|length| length % 6 == 0 && length <= 16384))
    {
        ("an HTTP/2 server (gRPC?)", Some("grpc://"))
    } else if bytes.len() >= 3
        && (0x14..=0x17).contains(&bytes[0])
        && bytes[1] == 3
        && bytes[2] <= 4
    {
        (TLS, Some("https://"))
    } else if starts(b"SSH-") {
        ("an SSH server", None)
    } else if bytes.len() >= 5
        && bytes[3] == 0
        && matches!(bytes[4], 0x0a | 0xff)
        && u24_le(0).is_some_and(|length| (3..=1024).contains(&length))
    {
        // A MySQL packet: a 3-byte length, sequence 0, the handshake (10) or an error.
        ("a MySQL server", Some("mysql://"))
    } else if bytes.len() >= 6
        && bytes[0] == b'E'
        && bytes[5] == b'S'
        && u32_be(1).is_some_and(|length| (8..=8192).contains(&length))
    {
        // An ErrorResponse: 'E', a 4-byte length, then the severity field 'S'.
        ("a PostgreSQL server", Some("postgres://"))
    } else if starts(b"-ERR ") || starts(b"-NOAUTH") || starts(b"-WRONGPASS") || starts(b"+PONG") {
        ("a Redis server", Some("redis://"))
    } else if starts(b"INFO {") {
        ("a NATS server", Some("nats://"))
    } else if starts(b"AMQP") {
        ("an AMQP server", Some("amqp://"))
    } else if starts(b"ERROR\r\n") || starts(b"VERSION ") || starts(b"CLIENT_ERROR ") {
        ("a memcached server", Some("memcached://"))
    } else {
        return None;
    };
    Some(known)
}
