//! http:// and https:// probes with the kubelet's httpGet semantics: healthy iff
//! 200 <= status < 400, same-origin redirects followed (10 at most), another host's
//! redirect not followed but healthy. ureq does the HTTP (and TLS, in the TLS build); we
//! decide what healthy means and own the sockets.

use std::borrow::Cow;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use ureq::Agent;
use ureq::http::{self, HeaderValue, Method, Request, Response, StatusCode};
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
#[cfg(feature = "tls")]
use ureq::unversioned::transport::RustlsConnector;
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, NextTimeout,
    TcpConnector, Transport,
};

use super::{Budget, Kind, Report, TlsScheme, Verdict};
use crate::config::HttpOptions;
use crate::error::{Error, Phase};
use crate::net;
use crate::target::{PathParts, Target, Userinfo};

pub static KIND: Kind = Kind {
    schemes: &["http"],
    tls: Some(TlsScheme {
        scheme: "https",
        default_port: Some(443),
        available: cfg!(feature = "tls"),
    }),
    default_port: Some(80),
    userinfo: Userinfo::Refused,
    path: |path| {
        Ok(PathParts {
            path: match path.starts_with('/') {
                true => path.to_string(),
                false => format!("/{path}"),
            },
            database: None,
        })
    },
    check: None,
    probe,
};

/// The kubelet's limit, and ureq's default.
const MAX_REDIRECTS: u32 = 10;
/// --body-contains looks only this far into the body.
pub const BODY_LIMIT: u64 = 10 * 1024;
/// Response headers may be this large: twice what nginx accepts from an upstream by
/// default (proxy_buffer_size, one 4 KiB page). ureq zeroes its buffers before use, which
/// costs an instruction a byte: its 128 KiB defaults were ~90% of a probe's instructions.
const INPUT_BUFFER: usize = 8 * 1024;
const MAX_HEADERS: usize = INPUT_BUFFER - 1;
/// The request line, Connection, Host's port and the header names and separators, on
/// top of the method, host, path, user agent and user headers counted one by one.
const REQUEST_OVERHEAD: usize = 256;
/// Said on every line of an https:// target probed with --insecure.
const UNVERIFIED: &str = "certificate not verified (--insecure)";

impl HttpOptions {
    fn accepts(&self, status: StatusCode) -> bool {
        match &self.status {
            Some(set) => set.accepts(status.as_u16()),
            None => (200..400).contains(&status.as_u16()),
        }
    }

    /// A redirect is followed unless --status names its code: then it is the answer.
    fn follows(&self, status: StatusCode) -> bool {
        status.is_redirection()
            && !self
                .status
                .as_ref()
                .is_some_and(|set| set.accepts(status.as_u16()))
    }

    fn expected(&self) -> &str {
        self.status.as_ref().map_or("200-399", |set| set.text())
    }

    /// What the line of `target` must say whatever the outcome: that nothing was verified.
    pub fn caveat(&self, target: &Target) -> Option<&'static str> {
        (self.insecure && target.tls).then_some(UNVERIFIED)
    }
}

fn probe(
    target: &Target,
    options: &HttpOptions,
    budget: &Budget,
    report: &mut Report,
) -> Result<Verdict, Error> {
    let proxy = options.proxy.as_ref().map(|proxy| {
        let port = proxy.port();
        match proxy.host() {
            host if host.contains(':') => format!("[{host}]:{port}"),
            host => format!("{host}:{port}"),
        }
    });
    report.via_proxy = proxy.is_some();
    let trace = Arc::new(Mutex::new(Trace {
        report: std::mem::take(report),
        phase: Phase::Resolve,
        failure: None,
        budget: *budget,
        proxy,
    }));
    let result = follow(target, options, budget, &trace);
    let mut trace = lock(&trace);
    *report = std::mem::take(&mut trace.report);
    result
}

/// Sends the request, following same-origin redirects, and judges the final response.
fn follow(
    target: &Target,
    options: &HttpOptions,
    budget: &Budget,
    trace: &Arc<Mutex<Trace>>,
) -> Result<Verdict, Error> {
    // Borrowed until a redirect changes them: most probes make one request.
    let mut current = Cow::Borrowed(target);
    let mut method = options.method.as_str();
    let mut visited = vec![current.url()];
    let mut redirects = 0;
    loop {
        // The URL is the last one visited (formatting it again costs ~2,000 instructions).
        let url = visited.last().map_or("", String::as_str);
        let mut response = send(&current, url, method, options, budget, trace)?;
        let status = response.status();
        let location = response
            .headers()
            .get(http::header::LOCATION)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        // A redirect that is not followed is the answer, judged like any other; the
        // default range holds every 3xx, so it is healthy, as under the kubelet.
        let mut left = None;
        if let (true, Some(location)) = (options.follows(status), location) {
            match redirect_target(&current, &location)? {
                Redirect::Leave(elsewhere) => left = Some((location, elsewhere)),
                Redirect::Follow(next) => {
                    let url = next.url();
                    if visited.contains(&url) {
                        return Err(Error::RedirectLoop(url));
                    }
                    if redirects == MAX_REDIRECTS {
                        return Err(Error::TooManyRedirects(MAX_REDIRECTS));
                    }
                    redirects += 1;
                    visited.push(url);
                    if status == StatusCode::SEE_OTHER && method != "HEAD" {
                        method = "GET";
                    }
                    current = Cow::Owned(next);
                    continue;
                }
            }
        }

        let mut summary = status_text(status);
        if redirects > 0 {
            summary += &format!(
                " after {redirects} redirect{}",
                if redirects == 1 { "" } else { "s" }
            );
        }
        if let Some((location, elsewhere)) = left {
            summary += &format!(", redirect to {location} not followed ({elsewhere})");
        }
        if !options.accepts(status) {
            // Pieces, not format!: the unhealthy path should cost no more than the healthy.
            for piece in [" (expected ", options.expected(), ")"] {
                summary.push_str(piece);
            }
            return Ok(Verdict {
                healthy: false,
                summary,
            });
        }
        if let Some(needle) = &options.body_contains {
            let body = read_body(&mut response, trace)?;
            if !contains(&body, needle.as_bytes()) {
                summary += &format!(
                    ", but \"{needle}\" is not in the first {BODY_LIMIT} bytes of the body"
                );
                return Ok(Verdict {
                    healthy: false,
                    summary,
                });
            }
        }
        return Ok(Verdict {
            healthy: true,
            summary,
        });
    }
}

/// One request, one connection (Connection: close), under what is left of the deadline.
fn send(
    target: &Target,
    url: &str,
    method: &str,
    options: &HttpOptions,
    budget: &Budget,
    trace: &Arc<Mutex<Trace>>,
) -> Result<Response<ureq::Body>, Error> {
    let remaining = budget.deadline.saturating_duration_since(Instant::now());
    let config = Agent::config_builder()
        // A 4xx or 5xx is an answer to judge, not an error.
        .http_status_as_error(false)
        // We follow redirects ourselves: only to the same origin, like the kubelet.
        .max_redirects(0)
        // Never from HTTP(S)_PROXY/ALL_PROXY: Docker hands the app's environment to the
        // probe, and a loopback check must not go through the app's proxy.
        .proxy(options.proxy.clone())
        .user_agent(options.user_agent.as_str())
        .allow_non_standard_methods(true)
        .input_buffer_size(INPUT_BUFFER)
        .max_response_header_size(MAX_HEADERS)
        .output_buffer_size(request_size(target, method, options))
        // One connection per probe: nothing to keep alive.
        .max_idle_connections(0)
        .max_idle_connections_per_host(0)
        .timeout_global(Some(remaining));
    #[cfg(feature = "tls")]
    let config = config.tls_config(options.tls.clone());
    let config = config.build();
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
    let agent = Agent::with_parts(
        config,
        connector,
        ProbeResolver {
            trace: trace.clone(),
        },
    );

    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| Error::Http(format!("invalid method '{method}'")))?;
    let given = |name: &http::HeaderName| {
        options
            .headers
            .iter()
            .any(|(given, _)| given.eq_ignore_ascii_case(name.as_str()))
    };
    // ureq sends a POST, PUT or PATCH without a body as an empty chunked body;
    // Content-Length: 0 says "no body" plainly.
    let needs_length = [Method::POST, Method::PUT, Method::PATCH].contains(&method)
        && !given(&http::header::CONTENT_LENGTH)
        && !given(&http::header::TRANSFER_ENCODING);
    let mut request = Request::builder().method(method).uri(url);
    // Our defaults give way to the user's -H (Host and User-Agent do in ureq).
    if !given(&http::header::CONNECTION) {
        request = request.header(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    if needs_length {
        request = request.header(http::header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    }
    for (name, value) in &options.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let request = request
        .body(())
        .map_err(|e| Error::Http(format!("cannot build the request: {e}")))?;
    let response = agent.run(request).map_err(|e| failure(e, trace))?;
    let mut trace = lock(trace);
    let budget = trace.budget;
    // format_args!, not format!: the text is made only under --verbose.
    let status = response.status().as_u16();
    trace
        .report
        .note(&budget, format_args!("response {status}"));
    trace.phase = Phase::Body;
    Ok(response)
}

/// The output buffer's size: the whole request head, so that it goes out in one write.
/// (ureq needs room only for its longest line, and zeroes all of it before use.)
fn request_size(target: &Target, method: &str, options: &HttpOptions) -> usize {
    let headers: usize = options
        .headers
        .iter()
        .map(|(name, value)| name.len() + value.len() + 4)
        .sum();
    REQUEST_OVERHEAD
        + method.len()
        + target.host.len()
        + target.path.len()
        + options.user_agent.len()
        + headers
}

/// Reads at most BODY_LIMIT bytes of the body, however much the server announces.
fn read_body(
    response: &mut Response<ureq::Body>,
    trace: &Arc<Mutex<Trace>>,
) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    response
        .body_mut()
        .as_reader()
        .take(BODY_LIMIT)
        .read_to_end(&mut body)
        .map_err(|e| match e.downcast::<ureq::Error>() {
            Ok(e) => failure(e, trace),
            Err(e) => failure(ureq::Error::Io(e), trace),
        })?;
    Ok(body)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// "503 Service Unavailable", or just "599" for a code with no standard reason.
fn status_text(status: StatusCode) -> String {
    // StatusCode::as_str is the code's three digits, without format!'s machinery.
    match status.canonical_reason() {
        Some(reason) => [status.as_str(), " ", reason].concat(),
        None => status.as_str().to_string(),
    }
}

/// Where a redirect leads: followed only within the origin (scheme, host and port).
/// The kubelet compares the host name alone; another port is another service, so we
/// do not follow it either.
enum Redirect {
    Follow(Target),
    /// Not followed: "another host", "another port" or "another scheme".
    Leave(&'static str),
}

/// Resolves a Location header against `current`.
fn redirect_target(current: &Target, location: &str) -> Result<Redirect, Error> {
    let scheme = current.scheme;
    // A scheme is a letter, then letters, digits, '+', '-' or '.' (RFC 3986); a "://"
    // after anything else is part of a path or query.
    let absolute_scheme = location
        .split_once("://")
        .map(|(other, _)| other)
        .filter(|other| {
            other.starts_with(|c: char| c.is_ascii_alphabetic())
                && other
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        });
    let absolute = if let Some(other) = absolute_scheme {
        // http -> https, even on the same host, is not the connection the probe was
        // asked about.
        if !other.eq_ignore_ascii_case(scheme) {
            return Ok(Redirect::Leave("another scheme"));
        }
        location.to_string()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{}{location}", current.authority())
    } else {
        let path = current.path.split('?').next().unwrap_or_default();
        let base = if location.starts_with('?') {
            path
        } else {
            &path[..path.rfind('/').map_or(0, |slash| slash + 1)]
        };
        format!("{scheme}://{}{base}{location}", current.authority())
    };
    let invalid = || Error::Http(format!("invalid redirect to '{location}'"));
    // The origin decides first: a redirect elsewhere is left, however odd its path.
    let authority_start = scheme.len() + "://".len();
    let path_start = absolute[authority_start..]
        .find(['/', '?', '#'])
        .map_or(absolute.len(), |at| at + authority_start);
    let origin = Target::parse(&absolute[..path_start]).map_err(|_| invalid())?;
    if origin.host != current.host {
        return Ok(Redirect::Leave("another host"));
    }
    if origin.port != current.port {
        return Ok(Redirect::Leave("another port"));
    }
    let next = Target::parse(&absolute).map_err(|_| invalid())?;
    Ok(Redirect::Follow(Target {
        text: current.text.clone(),
        ..next
    }))
}

/// What the resolver and connector, called inside ureq, tell the probe.
struct Trace {
    report: Report,
    phase: Phase,
    /// Our own error from resolving or connecting, which says more than ureq's.
    failure: Option<Error>,
    budget: Budget,
    /// The --proxy's `host:port`. With a proxy, every name resolved and every
    /// connection made is the proxy's (the proxy resolves the target).
    proxy: Option<String>,
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

fn lock(trace: &Mutex<Trace>) -> std::sync::MutexGuard<'_, Trace> {
    trace.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Turns ureq's error into ours, naming the phase it happened in.
fn failure(error: ureq::Error, trace: &Mutex<Trace>) -> Error {
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
        ureq::Error::Io(e) => Error::Http(format!("{} {phase}", io_reason(&e))),
        ureq::Error::LargeResponseHeader(_, limit) => {
            Error::Http(format!("response headers larger than {limit} bytes"))
        }
        ureq::Error::Protocol(e) => Error::Http(format!("not a valid HTTP response: {e}")),
        ureq::Error::ConnectProxyFailed(why) => Error::Http(proxy_refusal(&why)),
        other => Error::Http(format!("{other} {phase}")),
    };
    trace.blame(error)
}

/// ureq says "proxy server responded 403/403"; we say what that means.
fn proxy_refusal(why: &str) -> String {
    match why.strip_prefix("proxy server responded ") {
        Some(answer) => {
            let status = answer.split('/').next().unwrap_or(answer);
            format!("it answered CONNECT with {status}")
        }
        None => why.to_string(),
    }
}

pub fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionReset => "connection reset by the server".to_string(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionAborted => {
            "connection closed by the server".to_string()
        }
        _ => e.to_string(),
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
