//! Name resolution and connecting under the deadline, shared by every kind of probe.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::config::UnixSocket;
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
    if deadline <= Instant::now() {
        return Err(Error::Timeout(Phase::Resolve));
    }
    let lookup = Lookup::find_or_start(host)?;
    let mut answer = lookup.answer.lock().unwrap_or_else(PoisonError::into_inner);
    let ips = loop {
        if let Some(result) = answer.as_ref() {
            break result.clone().map_err(|reason| Error::Resolve {
                host: host.to_string(),
                reason,
            })?;
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(Error::Timeout(Phase::Resolve));
        }
        answer = lookup
            .done
            .wait_timeout(answer, remaining)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    };
    if ips.is_empty() {
        return Err(Error::Resolve {
            host: host.to_string(),
            reason: "no addresses".to_string(),
        });
    }
    Ok(ips
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect())
}

/// A getaddrinfo call, shared by everyone who asks for its name while it runs.
struct Lookup {
    /// The addresses, or the resolver's reason for having none.
    answer: Mutex<Option<Result<Vec<IpAddr>, String>>>,
    done: Condvar,
}

/// The lookups still running, by name. getaddrinfo cannot be interrupted, so a lookup
/// that outlives its deadline is left to run; a later attempt of --wait joins it rather
/// than start another, so that a resolver that never answers costs one thread and one
/// socket per name, not one per attempt. Process-wide because the attempts are.
static RUNNING: Mutex<Vec<(String, Arc<Lookup>)>> = Mutex::new(Vec::new());

impl Lookup {
    /// The running lookup of `name`, or a new one on its own thread.
    fn find_or_start(name: &str) -> Result<Arc<Lookup>, Error> {
        let mut running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, lookup)) = running.iter().find(|(each, _)| each == name) {
            return Ok(Arc::clone(lookup));
        }
        let lookup = Arc::new(Lookup {
            answer: Mutex::new(None),
            done: Condvar::new(),
        });
        let shared = Arc::clone(&lookup);
        let query = name.to_string();
        // Refused at a pids limit: said in words, as a lookup here could outlast the deadline.
        thread::Builder::new()
            .spawn(move || shared.run(query))
            .map_err(|_| Error::Resolve {
                host: name.to_string(),
                reason: "no thread for the lookup (at the pids limit?)".to_string(),
            })?;
        running.push((name.to_string(), Arc::clone(&lookup)));
        Ok(lookup)
    }

    fn run(&self, name: String) {
        // The port is the caller's to add: one lookup serves every port of a name.
        let result = (name.as_str(), 0)
            .to_socket_addrs()
            .map(|addrs| addrs.map(|addr| addr.ip()).collect())
            .map_err(|e| resolve_reason(&e));
        // Done: the next attempt asks the resolver afresh.
        RUNNING
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(each, _)| *each != name);
        *self.answer.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
        self.done.notify_all();
    }
}

fn resolve_reason(e: &io::Error) -> String {
    let text = e.to_string();
    // std prefixes getaddrinfo's message with "failed to lookup address information: ".
    text.rsplit(": ").next().unwrap_or(&text).to_string()
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

/// A connected socket a probe converses on: what DeadlineStream needs of it, so that one
/// conversation runs over TCP and unix sockets alike (and over anything else that is
/// Read + Write and can time out its waits).
pub trait Socket: Read + Write {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl Socket for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }
}

impl Socket for UnixStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_read_timeout(self, timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_write_timeout(self, timeout)
    }
}

/// Any two-way byte stream, as a trait object: a conversation written once for
/// `&mut dyn Duplex` is compiled once, whether it runs in the clear or inside TLS.
pub trait Duplex: Read + Write {}

impl<T: Read + Write> Duplex for T {}

/// A connection to the target or to the --unix-socket that stands in for it.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Tcp(stream) => stream.shutdown(how),
            Stream::Unix(stream) => stream.shutdown(how),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.read(buffer),
            Stream::Unix(stream) => stream.read(buffer),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.write(bytes),
            Stream::Unix(stream) => stream.write(bytes),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Socket for Stream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(stream) => stream.set_read_timeout(timeout),
            Stream::Unix(stream) => stream.set_read_timeout(timeout),
        }
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(stream) => stream.set_write_timeout(timeout),
            Stream::Unix(stream) => stream.set_write_timeout(timeout),
        }
    }
}

/// Who answered: an address, or a unix socket (`unix:/run/app.sock`, `unix:@name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    Tcp(SocketAddr),
    Unix(String),
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Straight to the address's own Display: a write! around it costs every line.
            Peer::Tcp(addr) => fmt::Display::fmt(addr, f),
            Peer::Unix(path) => {
                f.write_str("unix:")?;
                f.write_str(path)
            }
        }
    }
}

/// Connects to a unix socket under the deadline. connect(2) on a unix socket whose
/// backlog is full blocks, and std has no timeout for it, so it runs on a thread that we
/// stop waiting for at the deadline (as resolve does for getaddrinfo).
pub fn connect_unix(socket: &UnixSocket, deadline: Instant) -> Result<UnixStream, Error> {
    let failed = |reason: String| Error::UnixConnect {
        socket: socket.to_string(),
        reason,
    };
    if deadline.saturating_duration_since(Instant::now()).is_zero() {
        return Err(Error::Timeout(Phase::Connect));
    }
    let answer = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&answer);
    let waiter = thread::current();
    let address = socket.clone();
    thread::Builder::new()
        .spawn(move || {
            let result = unix_stream(&address);
            *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
            waiter.unpark();
        })
        .map_err(|e| failed(e.to_string()))?;
    loop {
        if let Some(result) = answer.lock().unwrap_or_else(PoisonError::into_inner).take() {
            return result.map_err(|e| failed(unix_words(socket, &e)));
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(Error::Timeout(Phase::Connect));
        }
        thread::park_timeout(remaining);
    }
}

/// What a failed connect to a unix socket means. Linux answers ECONNREFUSED both when
/// nothing listens on a socket and when the path is no socket at all: the file tells.
fn unix_words(socket: &UnixSocket, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such socket".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        io::ErrorKind::ConnectionRefused => match file_kind(socket) {
            Some(FileKind::Directory) => "not a socket: it is a directory".to_string(),
            Some(FileKind::Other) => "not a socket: it is a file".to_string(),
            _ => "connection refused: nothing listens on the socket".to_string(),
        },
        _ => io_words(e),
    }
}

fn unix_stream(socket: &UnixSocket) -> io::Result<UnixStream> {
    match socket.abstract_name() {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            UnixStream::connect_addr(&address)
        }
        None => UnixStream::connect(&socket.name),
    }
}

/// What is at a socket's path, for the error's words.
enum FileKind {
    Directory,
    Other,
}

fn file_kind(socket: &UnixSocket) -> Option<FileKind> {
    use std::os::unix::fs::FileTypeExt;
    if socket.abstract_name().is_some() {
        return None;
    }
    let kind = std::fs::metadata(&socket.name).ok()?.file_type();
    match () {
        _ if kind.is_socket() => None,
        _ if kind.is_dir() => Some(FileKind::Directory),
        _ => Some(FileKind::Other),
    }
}

/// A connection whose every read and write gives up at the deadline (with TimedOut),
/// waiting in slices of at most WAIT_SLICE so that it gives up on time.
#[derive(Debug)]
pub struct DeadlineStream<S = TcpStream> {
    pub stream: S,
    pub deadline: Instant,
}

impl<S: Socket> DeadlineStream<S> {
    /// Runs `op` in slices until it does something other than time out, or the deadline passes.
    fn sliced<T>(
        &mut self,
        set_timeout: fn(&S, Option<Duration>) -> io::Result<()>,
        mut op: impl FnMut(&mut S) -> io::Result<T>,
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

impl<S: Socket> Read for DeadlineStream<S> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        self.sliced(S::set_read_timeout, |stream| stream.read(buffer))
    }
}

impl<S: Socket> Write for DeadlineStream<S> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.sliced(S::set_write_timeout, |stream| stream.write(bytes))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}
