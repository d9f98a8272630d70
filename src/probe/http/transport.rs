//! The ureq boundary: everything that names `ureq::unversioned` (resolver, connectors,
//! transports; explicitly not semver-stable, hence the `~3.5` pin in Cargo.toml) and the
//! mapping of ureq's errors to ours. probe/http.rs keeps the kubelet's semantics.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use ureq::Agent;
use ureq::http;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
#[cfg(feature = "tls")]
use ureq::unversioned::transport::RustlsConnector;
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, NextTimeout,
    TcpConnector, Transport,
};

use crate::error::{Error, Phase};
use crate::net;
use crate::probe::{Budget, Report};

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
    /// The --proxy's `host:port`. With a proxy, every name resolved and every
    /// connection made is the proxy's (the proxy resolves the target).
    pub proxy: Option<String>,
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
        ureq::Error::Timeout(_) => Error::Timeout(phase),
        ureq::Error::Io(e) if e.kind() == io::ErrorKind::TimedOut => Error::Timeout(phase),
        ureq::Error::Io(e) => net::io_failure(&e, phase),
        ureq::Error::LargeResponseHeader(_, limit) => Error::HeadersTooLarge(limit),
        ureq::Error::Protocol(e) => Error::OtherProtocol(format!("not a valid HTTP response: {e}")),
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

/// Connects through ureq's own TcpConnector, one address at a time under our
/// deadline split (net::connect_each), so that we know which address answered.
/// A transport already made (through a proxy) is passed on.
#[derive(Debug)]
struct ProbeConnector {
    trace: Arc<Mutex<Trace>>,
}

type TcpOut = <TcpConnector as Connector<()>>::Out;

impl<In: Transport> Connector<In> for ProbeConnector {
    type Out = Either<In, Sliced<TcpOut>>;

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
        let deadline = lock(&self.trace).budget.connect_deadline;
        let result = net::connect_each(&addrs, deadline, |addr, share| {
            let mut one = details.resolver.empty();
            one.push(addr);
            let single = ConnectionDetails {
                uri: details.uri,
                addrs: one,
                config: details.config,
                request_level: details.request_level,
                resolver: details.resolver,
                now: (details.current_time)(),
                timeout: NextTimeout {
                    after: share.into(),
                    reason: ureq::Timeout::Connect,
                    per_read: None,
                    per_write: None,
                },
                current_time: details.current_time.clone(),
                run_connector: details.run_connector.clone(),
                register_shutdown: details.register_shutdown.clone(),
            };
            match TcpConnector::default().connect(&single, None) {
                Ok(Some(transport)) => Ok(transport),
                Ok(None) => Err(io::Error::other("no connection was made")),
                Err(ureq::Error::Io(e)) => Err(e),
                Err(ureq::Error::Timeout(_)) => Err(io::ErrorKind::TimedOut.into()),
                Err(e) => Err(io::Error::other(e.to_string())),
            }
        });
        let mut trace = lock(&self.trace);
        match result {
            Ok((transport, peer)) => {
                let budget = trace.budget;
                trace.report.connected(&budget, peer);
                trace.phase = match trace.proxy {
                    Some(_) => Phase::Proxy,
                    None => Phase::Response,
                };
                Ok(Some(Either::B(Sliced(transport))))
            }
            Err(e) => {
                trace.failure = Some(e);
                Err(ureq::Error::ConnectionFailed)
            }
        }
    }
}

/// ureq's TCP transport with every wait for input cut into slices of net::WAIT_SLICE.
/// ureq gives the socket all the time that is left, which the kernel's timer wheel
/// rounds up: a 3 s deadline fired 80 ms late, a 5 s one 170 ms. In slices it is on time.
#[derive(Debug)]
struct Sliced<T>(T);

impl<T: Transport> Transport for Sliced<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.0.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.0.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let end = (!timeout.after.is_not_happening()).then(|| Instant::now() + *timeout.after);
        loop {
            let mut slice = timeout;
            if let Some(end) = end {
                let left = end.saturating_duration_since(Instant::now());
                slice.after = left.min(net::WAIT_SLICE).into();
            }
            match self.0.await_input(slice) {
                Err(ureq::Error::Timeout(_)) if end.is_some_and(|end| Instant::now() < end) => {}
                result => return result,
            }
        }
    }

    fn is_open(&mut self) -> bool {
        self.0.is_open()
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
        trace.phase = Phase::Response;
        Ok(transport)
    }
}
