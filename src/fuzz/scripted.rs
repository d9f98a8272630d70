//! The server side of a fuzz input: its first byte says how the bytes arrive (in chunks
//! of 1 to 64 bytes, varying) and how the connection ends (EOF, reset or timeout).

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use crate::probe::wire::Connection;

#[derive(Debug, Clone, Copy, PartialEq)]
enum End {
    Eof,
    Reset,
    Timeout,
}

/// How the bytes come: chunk sizes from a small generator, then the end.
#[derive(Debug, Clone, Copy)]
struct Pacing {
    end: End,
    largest: usize,
    state: u32,
}

impl Pacing {
    fn of(control: u8) -> Pacing {
        Pacing {
            end: match control & 3 {
                1 => End::Reset,
                2 => End::Timeout,
                _ => End::Eof,
            },
            largest: 1 + usize::from(control >> 2),
            state: u32::from(control) | 1,
        }
    }

    fn next_chunk(&mut self) -> usize {
        // xorshift32: varied sizes, the same for the same input.
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        1 + self.state as usize % self.largest
    }
}

/// An in-memory connection whose reads give the input, paced, then its end; writes
/// are taken and dropped.
#[derive(Debug)]
pub struct Scripted<'a> {
    input: &'a [u8],
    pacing: Pacing,
}

impl Scripted<'_> {
    pub fn new(input: &[u8]) -> Scripted<'_> {
        let (control, input) = input
            .split_first()
            .map_or((0, input), |(&c, rest)| (c, rest));
        Scripted {
            input,
            pacing: Pacing::of(control),
        }
    }
}

impl Read for Scripted<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return match self.pacing.end {
                End::Eof => Ok(0),
                End::Reset => Err(io::ErrorKind::ConnectionReset.into()),
                // What DeadlineStream says at the deadline.
                End::Timeout => Err(io::ErrorKind::TimedOut.into()),
            };
        }
        let size = self
            .pacing
            .next_chunk()
            .min(buffer.len())
            .min(self.input.len());
        let (chunk, rest) = self.input.split_at(size);
        buffer[..size].copy_from_slice(chunk);
        self.input = rest;
        Ok(size)
    }
}

impl Write for Scripted<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Connection for Scripted<'_> {}

/// Serves `input` (after its pacing byte) once on a loopback port, while `probe(port,
/// hint)` runs, and returns what it did; `hint` is the input's first byte. The end is EOF, or a reset (the
/// request left unread, so the close sends RST); a timeout ends as EOF here, since a
/// real one would cost the probe's whole deadline on every such input.
pub fn http_exchange<T>(input: &[u8], probe: impl FnOnce(u16, u8) -> T) -> Option<T> {
    let (&hint, input) = input.split_first()?;
    let (control, body) = input
        .split_first()
        .map_or((0, input), |(&c, rest)| (c, rest));
    let mut pacing = Pacing::of(control);
    let Ok(listener) = TcpListener::bind("127.0.0.1:0") else {
        panic!("no loopback port for the http fuzz target");
    };
    let Ok(port) = listener.local_addr().map(|addr| addr.port()) else {
        panic!("no loopback port for the http fuzz target");
    };
    let body = body.to_vec();
    let server = thread::spawn(move || {
        listener.set_nonblocking(true).ok();
        let until = Instant::now() + Duration::from_secs(5);
        let mut stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(_) if Instant::now() < until => thread::sleep(Duration::from_millis(1)),
                Err(_) => return,
            }
        };
        stream.set_nonblocking(false).ok();
        stream.set_nodelay(true).ok();
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok();
        if pacing.end != End::Reset {
            read_head(&mut stream);
        }
        let mut rest = &body[..];
        while !rest.is_empty() {
            let (chunk, after) = rest.split_at(pacing.next_chunk().min(rest.len()));
            if stream.write_all(chunk).is_err() {
                break;
            }
            rest = after;
        }
    });
    let result = probe(port, hint);
    server.join().ok();
    Some(result)
}

/// Reads the request's head, so that closing sends a FIN, not a reset.
fn read_head(stream: &mut impl Read) {
    let mut head = Vec::new();
    let mut buffer = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(read) => head.extend_from_slice(&buffer[..read]),
        }
    }
}
