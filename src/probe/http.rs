//! http:// and https:// probes with the kubelet's httpGet semantics: healthy iff
//! 200 <= status < 400, same-origin redirects followed (9 at most), another host's
//! redirect not followed but healthy. ureq does the HTTP (and TLS, in the TLS build); we
//! decide what healthy means and own the sockets.

use std::borrow::Cow;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ureq::Agent;
use ureq::http::{self, HeaderValue, Method, Request, Response, StatusCode};

use super::{Answer, Budget, KINDS, Kind, Report, Verdict};
use crate::config::HttpOptions;
use crate::error::{Error, Phase};
use crate::target::{PathParts, Syntax, Target, TlsScheme, Userinfo, quote_url};
use transport::{Trace, failure, lock};

pub mod json;
mod transport;

pub static KIND: Kind = Kind {
    syntax: Syntax {
        schemes: &["http"],
        tls: Some(TlsScheme {
            scheme: "https",
            default_port: Some(443),
            available: cfg!(feature = "tls"),
        }),
        default_port: Some(80),
        userinfo: Userinfo::Refused,
        socket: false,
        path: request_path,
        check: None,
    },
    probe,
};

/// `/PATH[?QUERY]`, refused where the HTTP client would refuse it: printable ASCII
/// (Target::parse checks that) but for `<`, `>` and '`' in the path and `"`, `<`, `>` in
/// the query, which it wants percent-encoded. Found by the target fuzz target: they had
/// ended as "cannot build the request", exit 1, instead of a usage error.
fn request_path(path: &str) -> Result<PathParts, String> {
    // One pass over the bytes: this runs at every probe's start.
    let mut in_query = false;
    for byte in path.bytes() {
        match byte {
            b'?' => in_query = true,
            b'<' | b'>' => return Err(unencoded(byte)),
            b'`' if !in_query => return Err(unencoded(byte)),
            b'"' if in_query => return Err(unencoded(byte)),
            _ => {}
        }
    }
    Ok(PathParts {
        path: match path.starts_with('/') {
            true => path.to_string(),
            false => format!("/{path}"),
        },
        database: None,
    })
}

fn unencoded(byte: u8) -> String {
    let bad = char::from(byte);
    format!("{bad:?} is not allowed in a URL; percent-encode it")
}

/// The kubelet's limit: its redirect check refuses once this many requests were sent
/// (`len(via) >= 10`), so it follows 9 redirects and says "stopped after 10 redirects".
const MAX_REQUESTS: u32 = 10;
/// --body-contains looks only this far into the body.
pub const BODY_LIMIT: u64 = 10 * 1024;
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

fn probe(target: &Target, options: &HttpOptions, budget: &Budget, report: &mut Report) -> Answer {
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
        first_bytes: Vec::new(),
        received: false,
        budget: *budget,
        proxy,
        unix_socket: options.unix_socket.clone(),
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
                        return Err(Error::RedirectLoop(quote_url(&url, KINDS)));
                    }
                    if redirects + 1 == MAX_REQUESTS {
                        return Err(Error::TooManyRedirects(MAX_REQUESTS));
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
            let location = quote_url(&location, KINDS);
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
        if options.body_contains.is_none() && options.json.is_empty() {
            return Ok(Verdict::healthy(summary));
        }
        // One read for both: --json needs more of the body (and to know if there is more).
        let limit = match options.json.is_empty() {
            true => BODY_LIMIT,
            false => json::BODY_LIMIT as u64 + 1,
        };
        let body = read_body(&mut response, limit, trace)?;
        if let Some(needle) = &options.body_contains {
            let start = &body[..body.len().min(BODY_LIMIT as usize)];
            if !contains(start, needle.as_bytes()) {
                summary += &format!(
                    ", but \"{needle}\" is not in the first {BODY_LIMIT} bytes of the body"
                );
                return Ok(Verdict::unhealthy(summary));
            }
        }
        if !options.json.is_empty() {
            match json::judge(&body, &options.json) {
                Ok(seen) => summary += &seen,
                Err(why) => return Ok(Verdict::unhealthy(summary + &why)),
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
        // "" is no User-Agent at all in ureq, as an empty -H 'User-Agent:' asks.
        .user_agent(options.user_agent.as_str())
        .accept(if options.accept { "*/*" } else { "" })
        .allow_non_standard_methods(true)
        // Our Connection's input buffer grows as a large head needs (transport.rs); this
        // size is only the TLS layer's, zeroed up front, which the handshake dwarfs.
        .input_buffer_size(transport::INPUT_MAX)
        .max_response_header_size(transport::HEADER_LIMIT)
        .output_buffer_size(request_size(target, method, options))
        // One connection per probe: nothing to keep alive.
        .max_idle_connections(0)
        .max_idle_connections_per_host(0)
        .timeout_global(Some(remaining));
    #[cfg(feature = "tls")]
    let config = config.tls_config(options.tls.clone());
    let config = config.build();
    let agent = transport::agent(config, trace);

    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| Error::InvalidMethod(method.to_string()))?;
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
        .map_err(|e| Error::Request(e.to_string()))?;
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

/// Reads at most `limit` bytes of the body, however much the server announces.
fn read_body(
    response: &mut Response<ureq::Body>,
    limit: u64,
    trace: &Arc<Mutex<Trace>>,
) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    response
        .body_mut()
        .as_reader()
        .take(limit)
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
    let invalid = || Error::InvalidRedirect(quote_url(location, KINDS));
    // The origin decides first: a redirect elsewhere is left, however odd its path.
    let authority_start = scheme.len() + "://".len();
    let path_start = absolute[authority_start..]
        .find(['/', '?', '#'])
        .map_or(absolute.len(), |at| at + authority_start);
    let origin = Target::parse(&absolute[..path_start], KINDS).map_err(|_| invalid())?;
    if origin.host != current.host {
        return Ok(Redirect::Leave("another host"));
    }
    if origin.port != current.port {
        return Ok(Redirect::Leave("another port"));
    }
    let next = Target::parse(&absolute, KINDS).map_err(|_| invalid())?;
    Ok(Redirect::Follow(Target {
        text: current.text.clone(),
        ..next
    }))
}
