//! Name resolution and connecting under the deadline, shared by every kind of probe.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Phase};

/// Resolves `host` to every address it has. `localhost` (and `*.localhost`) answer
/// 127.0.0.1 and ::1 without asking any resolver (RFC 6761), so an image with no
/// /etc/hosts still works, whichever family the service listens on.
pub fn resolve(host: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>, Error> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        // IPv4 first: it is what most services listen on, so it usually connects first time.
        return Ok(vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port),
        ]);
    }
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Err(Error::Timeout(Phase::Resolve));
    }
    // getaddrinfo cannot be interrupted, so it runs on a thread that we stop waiting for
    // when the deadline passes; the process exits soon after and takes it along.
    let answer = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&answer);
    let waiter = thread::current();
    let query = (host.to_string(), port);
    thread::Builder::new()
        .spawn(move || {
            let result = query.to_socket_addrs().map(Vec::from_iter);
            *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
            waiter.unpark();
        })
        .map_err(|e| resolve_error(host, &e))?;
    let addrs = loop {
        if let Some(result) = answer.lock().unwrap_or_else(PoisonError::into_inner).take() {
            break result.map_err(|e| resolve_error(host, &e))?;
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(Error::Timeout(Phase::Resolve));
        }
        thread::park_timeout(remaining);
    };
    if addrs.is_empty() {
        return Err(Error::Resolve {
            host: host.to_string(),
            reason: "no addresses".to_string(),
        });
    }
    Ok(addrs)
}

fn resolve_error(host: &str, e: &io::Error) -> Error {
    let text = e.to_string();
    // std prefixes getaddrinfo's message with "failed to lookup address information: ".
    let reason = text.rsplit(": ").next().unwrap_or(&text);
    Error::Resolve {
        host: host.to_string(),
        reason: reason.to_string(),
    }
}

/// Tries every address in turn until one connects.
pub fn connect(addrs: &[SocketAddr], deadline: Instant) -> Result<(TcpStream, SocketAddr), Error> {
    connect_each(addrs, deadline, |addr, timeout| {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        // Without it, a small request waits on Nagle and delayed ACKs.
        stream.set_nodelay(true)?;
        Ok(stream)
    })
}

/// Calls `attempt` on every address in turn until one connects, and says which did.
/// Each attempt gets an equal share of the time that is left, so one address that drops
/// packets cannot starve the others.
pub fn connect_each<T>(
    addrs: &[SocketAddr],
    deadline: Instant,
    mut attempt: impl FnMut(SocketAddr, Duration) -> io::Result<T>,
) -> Result<(T, SocketAddr), Error> {
    let mut last_error = None;
    for (index, &addr) in addrs.iter().enumerate() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        let share = remaining / (addrs.len() - index) as u32;
        match attempt(addr, share) {
            Ok(connection) => return Ok((connection, addr)),
            Err(e) => last_error = Some(e),
        }
    }
    match last_error {
        Some(e) if e.kind() != io::ErrorKind::TimedOut => Err(Error::Connect {
            addrs: addrs.to_vec(),
            reason: io_words(&e),
        }),
        _ => Err(Error::Timeout(Phase::Connect)),
    }
}

/// The one wording of an io failure on a probe's connection, for every kind: what the
/// server (or the network) did, in a few words.
pub fn io_words(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::HostUnreachable => "host unreachable".to_string(),
        io::ErrorKind::NetworkUnreachable => "network unreachable".to_string(),
        io::ErrorKind::AddrNotAvailable => "address not available".to_string(),
        io::ErrorKind::ConnectionReset => "connection reset by the server".to_string(),
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::WriteZero => CLOSED.to_string(),
        _ => e.to_string(),
    }
}

const CLOSED: &str = "connection closed by the server";

/// An io failure during `phase` of a conversation: a timeout, or the connection broken.
pub fn io_failure(e: &io::Error, phase: Phase) -> Error {
    match e.kind() {
        // A socket timeout is WouldBlock on Unix.
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Error::Timeout(phase),
        _ => Error::Connection {
            phase,
            reason: io_words(e),
        },
    }
}

/// The server closed the connection (a read of 0 bytes) during `phase`.
pub fn closed(phase: Phase) -> Error {
    Error::Connection {
        phase,
        reason: CLOSED.to_string(),
    }
}

/// The longest single socket wait. The kernel's timer wheel rounds a long socket timeout
/// up (a 3 s wait can end 256 ms late); a wait this short ends within a few ms of its time.
pub const WAIT_SLICE: Duration = Duration::from_millis(250);

/// A connection whose every read and write gives up at the deadline (with TimedOut),
/// waiting in slices of at most WAIT_SLICE so that it gives up on time.
#[derive(Debug)]
pub struct DeadlineStream {
    pub stream: TcpStream,
    pub deadline: Instant,
}

impl DeadlineStream {
    /// Runs `op` in slices until it does something other than time out, or the deadline passes.
    fn sliced<T>(
        &mut self,
        set_timeout: fn(&TcpStream, Option<Duration>) -> io::Result<()>,
        mut op: impl FnMut(&mut TcpStream) -> io::Result<T>,
    ) -> io::Result<T> {
        loop {
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            set_timeout(&self.stream, Some(remaining.min(WAIT_SLICE)))?;
            match op(&mut self.stream) {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                result => return result,
            }
        }
    }
}

impl Read for DeadlineStream {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        self.sliced(TcpStream::set_read_timeout, |stream| stream.read(buffer))
    }
}

impl Write for DeadlineStream {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.sliced(TcpStream::set_write_timeout, |stream| stream.write(bytes))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}
