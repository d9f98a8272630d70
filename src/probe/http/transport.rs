//! The ureq boundary: everything that names `ureq::unversioned` (resolver, connectors,
//! transports; explicitly not semver-stable, hence the `~3.5` pin in Cargo.toml) and the
//! mapping of ureq's errors to ours. probe/http.rs keeps the kubelet's semantics.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use ureq::Agent;
use ureq::http;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
#[cfg(feature = "tls")]
use ureq::unversioned::transport::RustlsConnector;
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, NextTimeout, Transport,
};

use crate::config::UnixSocket;
use crate::error::{Error, Phase};
use crate::net::{self, DeadlineStream, Peer, Stream};
use crate::probe::wire::{other_protocol, recognise};
use crate::probe::{Budget, Report};

const HTTP: &str = "http://";

/// An agent for one request: `config` as http.rs set it, our resolver and connectors
/// (which report to `trace`), and ureq's CONNECT proxy and TLS in between.
pub fn agent(config: ureq::config::Config, trace: &Arc<Mutex<Trace>>) -> Agent {
    let connector =
        ().chain(ConnectProxyConnector::default())
            .chain(ProbeConnector {
                trace: trace.clone(),
            });
    #[cfg(feature = "tls")]
    let connector = connector.chain(TlsHandshake {
        rustls: RustlsConnector::default(),
        trace: trace.clone(),
    });
    Agent::with_parts(
        config,
        connector,
        ProbeResolver {
            trace: trace.clone(),
        },
    )
}

/// What the resolver and connector, called inside ureq, tell the probe.
pub struct Trace {
    pub report: Report,
    pub phase: Phase,
    /// Our own error from resolving or connecting, which says more than ureq's.
    pub failure: Option<Error>,
    pub budget: Budget,
    /// The first bytes the server sent, to name its protocol when it is not HTTP.
    pub first_bytes: Vec<u8>,
    /// Whether the server sent anything at all on the current connection.
    pub received: bool,
    /// The --proxy's `host:port`. With a proxy, every name resolved and every
    /// connection made is the proxy's (the proxy resolves the target).
    pub proxy: Option<String>,
    /// --unix-socket: every connection goes there, and no name is resolved.
    pub unix_socket: Option<UnixSocket>,
}

impl Trace {
    /// Puts the blame on the proxy when `error` happened on the way to it.
    fn blame(&self, error: Error) -> Error {
        match &self.proxy {
            Some(proxy) if self.phase <= Phase::Proxy => Error::Proxy {
                proxy: proxy.clone(),
                error: Box::new(error),
            },
            _ => error,
        }
    }
}

pub fn lock(trace: &Mutex<Trace>) -> std::sync::MutexGuard<'_, Trace> {
    trace.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Turns ureq's error into ours, naming the phase it happened in.
pub fn failure(error: ureq::Error, trace: &Mutex<Trace>) -> Error {
    let mut trace = lock(trace);
    if let Some(failure) = trace.failure.take() {
        return trace.blame(failure);
    }
    let phase = trace.phase;
    #[cfg(feature = "tls")]
    if let Some(why) = crate::tls::failure(&error) {
        return Error::Tls(why);
    }
    let error = match error {
        ureq::Error::Timeout(_) if !trace.received => Error::SentNothing(phase),
        ureq::Error::Timeout(_) => Error::Timeout(phase),
        ureq::Error::Io(e) if e.kind() == io::ErrorKind::TimedOut => Error::Timeout(phase),
        ureq::Error::Io(e) => net::io_failure(&e, phase),
        ureq::Error::LargeResponseHeader(_, limit) => Error::HeadersTooLarge(limit),
        // A server of another protocol is named (an HTTP/2 one: "try grpc://").
        ureq::Error::Protocol(e) => match recognise(&trace.first_bytes) {
            Some((_, scheme)) if scheme != Some(HTTP) => {
                other_protocol("an HTTP/1 server", HTTP, &trace.first_bytes)
            }
            _ => Error::OtherProtocol(format!("not a valid HTTP response: {e}")),
        },
        ureq::Error::ConnectProxyFailed(why) => proxy_refusal(&why),
        other => Error::Client {
            what: other.to_string(),
            phase: Some(phase),
        },
    };
    trace.blame(error)
}

/// ureq says "proxy server responded 403/403"; we say what that means.
fn proxy_refusal(why: &str) -> Error {
    match why.strip_prefix("proxy server responded ") {
        Some(answer) => {
            let status = answer.split('/').next().unwrap_or(answer);
            Error::ProxyRefused(status.to_string())
        }
        None => Error::Client {
            what: why.to_string(),
            phase: None,
        },
    }
}

/// Resolves with our rules (localhost without a resolver) under the connect deadline.
#[derive(Debug)]
struct ProbeResolver {
    trace: Arc<Mutex<Trace>>,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Trace")
    }
}

impl Resolver for ProbeResolver {
    fn resolve(
        &self,
        uri: &http::Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(80);
        let deadline = {
            let mut trace = lock(&self.trace);
            if trace.unix_socket.is_some() {
                // Where to connect is the socket; ureq wants an address all the same.
                trace.phase = Phase::Connect;
                let mut resolved = self.empty();
                resolved.push(SocketAddr::from(([0, 0, 0, 0], port)));
                return Ok(resolved);
            }
            trace.phase = Phase::Resolve;
            trace.budget.connect_deadline
        };
        let result = net::resolve(host, port, deadline);
        let mut trace = lock(&self.trace);
        match result {
            Ok(addrs) => {
                let budget = trace.budget;
                trace.report.resolved(&budget, host, &addrs);
                trace.phase = Phase::Connect;
                let mut resolved = self.empty();
                // ureq holds 16 addresses at most.
                for addr in addrs.into_iter().take(16) {
                    resolved.push(addr);
                }
                Ok(resolved)
            }
            Err(e) => {
                trace.failure = Some(e);
                Err(ureq::Error::HostNotFound)
            }
        }
    }
}

/// Connects with net::connect (one address at a time under our deadline split, so that
/// we know which address answered) and hands ureq our Connection. A transport already
/// made (through a proxy) is passed on.
#[derive(Debug)]
struct ProbeConnector {
    trace: Arc<Mutex<Trace>>,
}

impl<In: Transport> Connector<In> for ProbeConnector {
    type Out = Either<In, Connection>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if let Some(transport) = chained {
            // A tunnel through the proxy: what follows is the target's.
            let mut trace = lock(&self.trace);
            let budget = trace.budget;
            trace.report.note(&budget, "tunnel open");
            trace.phase = Phase::Response;
            return Ok(Some(Either::A(transport)));
        }
        let addrs: Vec<SocketAddr> = details.addrs.iter().copied().collect();
        let (deadline, unix_socket) = {
            let trace = lock(&self.trace);
            (trace.budget.connect_deadline, trace.unix_socket.clone())
        };
        let result = match &unix_socket {
            Some(socket) => net::connect_unix(socket, deadline)
                .map(|stream| (Stream::Unix(stream), Peer::Unix(socket.name.clone()))),
            None => net::connect(&addrs, deadline)
                .map(|(stream, peer)| (Stream::Tcp(stream), Peer::Tcp(peer))),
        };
        let mut trace = lock(&self.trace);
        match result {
            Ok((stream, peer)) => {
                let budget = trace.budget;
                trace.report.connected(&budget, peer);
                trace.first_bytes.clear();
                trace.received = false;
                trace.phase = match trace.proxy {
                    Some(_) => Phase::Proxy,
                    None => Phase::Response,
                };
                Ok(Some(Either::B(Connection {
                    stream: DeadlineStream {
                        stream,
                        deadline: budget.deadline,
                    },
                    buffers: GrowingBuffers::new(details.config.output_buffer_size()),
                    received: 0,
                    trace: self.trace.clone(),
                })))
            }
            Err(e) => {
                trace.failure = Some(e);
                Err(ureq::Error::ConnectionFailed)
            }
        }
    }
}

/// The response head may be this large (cookies of 4 KB each, an SSO redirect's long
/// query): nginx's largest default buffers are 8 KiB, but some servers send more.
pub const HEADER_LIMIT: usize = 64 * 1024;
/// The input buffer's first size, enough for almost every response: it is zeroed when
/// allocated, an instruction a byte, so a larger one would cost every probe.
const INPUT_START: usize = 8 * 1024;
/// It doubles when a head fills it, up to this: room for HEADER_LIMIT and a little.
pub const INPUT_MAX: usize = HEADER_LIMIT + INPUT_START;
/// Of the first bytes a server sends, this many are kept to name its protocol.
const FIRST_BYTES: usize = 16;

/// A TCP or unix connection for ureq: reads and writes under the deadline, in slices of
/// net::WAIT_SLICE (ureq would give the socket all the time that is left, which the
/// kernel's timer wheel rounds up: a 3 s deadline fired 80 ms late), into buffers that
/// grow only for a large response head. It keeps the first bytes for the error line.
#[derive(Debug)]
pub struct Connection {
    stream: DeadlineStream<Stream>,
    buffers: GrowingBuffers,
    received: usize,
    trace: Arc<Mutex<Trace>>,
}

impl Connection {
    /// Until `timeout` (ureq's own), never past the probe's deadline.
    fn until(&mut self, timeout: NextTimeout) {
        let deadline = lock(&self.trace).budget.deadline;
        self.stream.deadline = match timeout.after.is_not_happening() {
            true => deadline,
            false => deadline.min(Instant::now() + *timeout.after),
        };
    }
}

fn transport_error(e: io::Error, timeout: NextTimeout) -> ureq::Error {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ureq::Error::Timeout(timeout.reason),
        _ => ureq::Error::Io(e),
    }
}

impl Transport for Connection {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.until(timeout);
        let output = &self.buffers.output[..amount];
        self.stream
            .write_all(output)
            .map_err(|e| transport_error(e, timeout))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.until(timeout);
        let input = self.buffers.input_append_buf();
        let read = loop {
            match self.stream.read(input) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => break result.map_err(|e| transport_error(e, timeout))?,
            }
        };
        if self.received < FIRST_BYTES && read > 0 {
            let first = &input[..read.min(FIRST_BYTES - self.received)];
            let mut trace = lock(&self.trace);
            trace.first_bytes.extend_from_slice(first);
            trace.received = true;
        }
        self.received += read;
        self.buffers.input_appended(read);
        Ok(read > 0)
    }

    fn is_open(&mut self) -> bool {
        // Never asked: connections are not kept for reuse (max_idle_connections(0)).
        true
    }
}

/// ureq's LazyBuffers, but with an input buffer that starts small and doubles (up to
/// INPUT_MAX) when a response head fills it, instead of one fixed size zeroed up front.
#[derive(Debug)]
struct GrowingBuffers {
    input: Vec<u8>,
    consumed: usize,
    filled: usize,
    output: Vec<u8>,
    output_size: usize,
    /// The last consume took something (ureq's rule for can_use_input).
    progress: bool,
}

impl GrowingBuffers {
    fn new(output_size: usize) -> GrowingBuffers {
        GrowingBuffers {
            input: Vec::new(),
            consumed: 0,
            filled: 0,
            output: Vec::new(),
            output_size,
            progress: false,
        }
    }

    /// Makes room for `wanted` more bytes: by starting over when everything was
    /// consumed, else by moving what is left to the front, else by growing the buffer.
    fn make_room(&mut self, wanted: usize) {
        if self.consumed == self.filled {
            (self.consumed, self.filled) = (0, 0);
        }
        if self.input.len() - self.filled >= wanted {
            return;
        }
        if self.consumed > 0 {
            self.input.copy_within(self.consumed..self.filled, 0);
            self.filled -= self.consumed;
            self.consumed = 0;
        }
        if self.input.len() - self.filled < wanted && self.input.len() < INPUT_MAX {
            let size = (self.input.len() * 2).clamp(INPUT_START, INPUT_MAX);
            self.input.resize(size, 0);
        }
    }
}

impl Buffers for GrowingBuffers {
    fn output(&mut self) -> &mut [u8] {
        if self.output.len() < self.output_size {
            self.output.resize(self.output_size, 0);
        }
        &mut self.output
    }

    fn input(&self) -> &[u8] {
        &self.input[self.consumed..self.filled]
    }

    fn input_append_buf(&mut self) -> &mut [u8] {
        self.make_room(1);
        &mut self.input[self.filled..]
    }

    fn input_appended(&mut self, amount: usize) {
        self.filled += amount;
    }

    fn input_consume(&mut self, amount: usize) {
        self.progress = amount > 0;
        self.consumed += amount;
    }

    fn tmp_and_output(&mut self) -> (&mut [u8], &mut [u8]) {
        // Scratch space for a request body, which a probe never has much of.
        const TMP: usize = 1024;
        self.make_room(TMP);
        if self.output.len() < self.output_size {
            self.output.resize(self.output_size, 0);
        }
        (&mut self.input[self.filled..], &mut self.output)
    }

    fn can_use_input(&self) -> bool {
        self.consumed < self.filled && self.progress
    }
}

/// ureq's RustlsConnector, marking the handshake as a phase of its own so that a stall
/// there says so, and noting when it is done for --verbose.
#[cfg(feature = "tls")]
#[derive(Debug)]
struct TlsHandshake {
    rustls: RustlsConnector,
    trace: Arc<Mutex<Trace>>,
}

#[cfg(feature = "tls")]
impl<In: Transport> Connector<In> for TlsHandshake {
    type Out = <RustlsConnector as Connector<In>>::Out;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if !details.needs_tls() {
            return self.rustls.connect(details, chained);
        }
        lock(&self.trace).phase = Phase::Handshake;
        let transport = self.rustls.connect(details, chained)?;
        let mut trace = lock(&self.trace);
        let budget = trace.budget;
        trace.report.note(&budget, "TLS handshake done");
        // What follows is HTTP inside TLS, named by its own first bytes.
        trace.first_bytes.clear();
        trace.phase = Phase::Response;
        Ok(transport)
    }
}
