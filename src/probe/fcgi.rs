//! fcgi://HOST[:9000]/PATH like `cgi-fcgi -bind -connect` and a script: one FastCGI
//! request for PATH (php-fpm's ping.path or pm.status_path), straight to the FastCGI
//! server, no web server in front. The CGI `Status:` header (absent: 200) is judged by
//! the same rule as an HTTP status (--status, default 200-399), and --body-contains
//! looks into the body as for http://. REQUEST_METHOD is always GET; --method and
//! --header are not sent.

use super::http::BODY_LIMIT;
use super::wire::{self, Connection, Wire, other_protocol, quote, stranger};
use super::{Answer, Budget, Kind, Report, Verdict};
use crate::config::HttpOptions;
use crate::error::{Error, Phase};
use crate::target::{PathParts, Syntax, Target, Userinfo};

pub static KIND: Kind = Kind {
    syntax: Syntax {
        schemes: &["fcgi"],
        tls: None,
        // php-fpm's own default (listen = 127.0.0.1:9000 in the pool examples).
        default_port: Some(9000),
        userinfo: Userinfo::Refused,
        socket: false,
        path: script_path,
        check: None,
    },
    probe,
};

/// The path is the script (or ping path) asked for: without one there is no request.
fn script_path(path: &str) -> Result<PathParts, String> {
    match path.starts_with('/') && !path.starts_with("/?") {
        true => Ok(PathParts {
            path: path.to_string(),
            database: None,
        }),
        false => {
            Err("an fcgi:// target names the path to ask for, as in fcgi://HOST:9000/ping".into())
        }
    }
}

const SENDING: Phase = Phase::Protocol("sending the FastCGI request");
const AWAITING: Phase = Phase::Protocol("awaiting the FastCGI response");

const VERSION: u8 = 1;
const BEGIN_REQUEST: u8 = 1;
const END_REQUEST: u8 = 3;
const PARAMS: u8 = 4;
const STDIN: u8 = 5;
const STDOUT: u8 = 6;
const STDERR: u8 = 7;
const RESPONDER: u8 = 1;
const REQUEST_ID: u16 = 1;
const HEADER: usize = 8;
/// A record's content is at most 65535 bytes, its padding at most 255.
const MAX_RECORD: usize = HEADER + 0xffff + 0xff;
/// Of STDOUT (CGI headers and body) this much is kept; reading stops there.
const MAX_STDOUT: usize = 64 * 1024;
/// Of STDERR this much is kept, for the line.
const MAX_STDERR: usize = 512;
/// Everything read, all record types together: a server that never ends is cut off.
const MAX_READ: usize = 256 * 1024;

fn probe(target: &Target, options: &HttpOptions, budget: &Budget, report: &mut Report) -> Answer {
    wire::probe(
        target,
        options,
        budget,
        report,
        "a FastCGI server",
        "fcgi://",
        converse,
    )
}

/// The conversation once connected; the fuzz targets (src/fuzz.rs) hold it over bytes.
pub(crate) fn converse<S: Connection>(
    mut wire: Wire<S>,
    target: &Target,
    options: &HttpOptions,
    budget: &Budget,
    report: &mut Report,
) -> Answer {
    wire.send(&request(&target.path), SENDING)?;
    report.note(budget, "sent the request");
    let response = read_response(&mut wire)?;
    report.note(budget, "read the response");
    wire.close();
    judge(&response, options)
}

/// BEGIN_REQUEST (responder, connection closed after), PARAMS, empty PARAMS, empty STDIN.
fn request(path: &str) -> Vec<u8> {
    let (script, query) = path.split_once('?').unwrap_or((path, ""));
    let mut params = Vec::new();
    for (name, value) in [
        ("SCRIPT_NAME", script),
        ("SCRIPT_FILENAME", script),
        ("DOCUMENT_URI", script),
        ("REQUEST_URI", path),
        ("QUERY_STRING", query),
        ("REQUEST_METHOD", "GET"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("GATEWAY_INTERFACE", "CGI/1.1"),
    ] {
        length(&mut params, name.len());
        length(&mut params, value.len());
        params.extend_from_slice(name.as_bytes());
        params.extend_from_slice(value.as_bytes());
    }
    let mut request = Vec::with_capacity(params.len() + 5 * HEADER + 8);
    record(
        &mut request,
        BEGIN_REQUEST,
        &[0, RESPONDER, 0, 0, 0, 0, 0, 0],
    );
    for chunk in params.chunks(0xffff) {
        record(&mut request, PARAMS, chunk);
    }
    record(&mut request, PARAMS, &[]);
    record(&mut request, STDIN, &[]);
    request
}

/// A name or value length: one byte below 128, else four with the top bit set.
fn length(params: &mut Vec<u8>, length: usize) {
    match u8::try_from(length) {
        Ok(short) if short < 0x80 => params.push(short),
        _ => params.extend_from_slice(&(length as u32 | 0x8000_0000).to_be_bytes()),
    }
}

fn record(request: &mut Vec<u8>, kind: u8, content: &[u8]) {
    let [high, low] = REQUEST_ID.to_be_bytes();
    let [length_high, length_low] = (content.len() as u16).to_be_bytes();
    request.extend_from_slice(&[VERSION, kind, high, low, length_high, length_low, 0, 0]);
    request.extend_from_slice(content);
}

#[derive(Default)]
struct Response {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// END_REQUEST's protocol status, when it came.
    ended: Option<u8>,
}

/// Reads records until END_REQUEST, or until MAX_STDOUT of output or MAX_READ in all.
fn read_response<S: Connection>(wire: &mut Wire<S>) -> Result<Response, Error> {
    let mut response = Response::default();
    let mut record = vec![0u8; MAX_RECORD];
    let mut read = 0;
    while read < MAX_READ && response.stdout.len() < MAX_STDOUT {
        wire.fill(&mut record[..HEADER], 0, HEADER, AWAITING)?;
        if record[0] != VERSION {
            return Err(not_fastcgi(&record[..HEADER]));
        }
        let length = usize::from(u16::from_be_bytes([record[4], record[5]]));
        let size = HEADER + length + usize::from(record[6]);
        wire.fill(&mut record[..size], HEADER, size, AWAITING)?;
        read += size;
        let content = &record[HEADER..HEADER + length];
        match record[1] {
            STDOUT => keep(&mut response.stdout, content, MAX_STDOUT),
            STDERR => keep(&mut response.stderr, content, MAX_STDERR),
            END_REQUEST if length >= 8 => {
                // appStatus (4 bytes), then protocolStatus.
                response.ended = Some(content[4]);
                break;
            }
            END_REQUEST => return Err(not_fastcgi(&record[..size])),
            // FCGI_UNKNOWN_TYPE and anything else: nothing the probe asked about.
            _ => {}
        }
    }
    Ok(response)
}

fn keep(kept: &mut Vec<u8>, content: &[u8], max: usize) {
    let room = max.saturating_sub(kept.len());
    kept.extend_from_slice(&content[..content.len().min(room)]);
}

fn judge(response: &Response, options: &HttpOptions) -> Answer {
    let said = match response.stderr.is_empty() {
        true => String::new(),
        false => format!(
            ", stderr: '{}'",
            quote(&String::from_utf8_lossy(&response.stderr))
        ),
    };
    match response.ended {
        Some(0) | None => {}
        Some(refused) => {
            let why = match refused {
                1 => "cannot multiplex connections",
                2 => "overloaded",
                3 => "unknown role",
                _ => "unknown protocol status",
            };
            return Ok(Verdict::unhealthy(format!(
                "the server refused the request: {why}{said}"
            )));
        }
    }
    let stdout = &response.stdout;
    let Some((head, body)) = split_head(stdout) else {
        return match stdout.is_empty() {
            true => Ok(Verdict::unhealthy(format!("no response{said}"))),
            false => Err(Error::OtherProtocol(format!(
                "not a CGI response: no end of its headers ({})",
                stranger(stdout)
            ))),
        };
    };
    let (code, mut summary) = status(head);
    let accepted = match &options.status {
        Some(set) => set.accepts(code),
        None => (200..400).contains(&code),
    };
    if !accepted {
        let expected = options.status.as_ref().map_or("200-399", |set| set.text());
        return Ok(Verdict::unhealthy(format!(
            "{summary} (expected {expected}){said}"
        )));
    }
    if let Some(needle) = &options.body_contains {
        let body = &body[..body.len().min(BODY_LIMIT as usize)];
        if !body
            .windows(needle.len())
            .any(|window| window == needle.as_bytes())
        {
            summary +=
                &format!(", but \"{needle}\" is not in the first {BODY_LIMIT} bytes of the body");
            return Ok(Verdict::unhealthy(summary));
        }
    }
    Ok(Verdict::healthy(summary))
}

/// The CGI headers and the body, split at the first empty line (CRLF or LF alone).
fn split_head(stdout: &[u8]) -> Option<(&[u8], &[u8])> {
    let crlf = stdout.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = stdout.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(at), Some(lf)) if lf < at => Some((&stdout[..lf], &stdout[lf + 2..])),
        (Some(at), _) => Some((&stdout[..at], &stdout[at + 4..])),
        (None, Some(lf)) => Some((&stdout[..lf], &stdout[lf + 2..])),
        (None, None) => None,
    }
}

/// `Status: 404 Not Found` as the code and "404 Not Found"; no Status header is 200 OK.
fn status(head: &[u8]) -> (u16, String) {
    let head = String::from_utf8_lossy(head);
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("status") {
            continue;
        }
        let value = value.trim();
        let code = value
            .get(..3)
            .and_then(|digits| digits.parse::<u16>().ok())
            .filter(|code| (100..600).contains(code));
        return match code {
            Some(code) => (code, quote(value)),
            None => (0, format!("an invalid Status header '{}'", quote(value))),
        };
    }
    (200, "200 OK".to_string())
}

fn not_fastcgi(reply: &[u8]) -> Error {
    other_protocol("a FastCGI server", "fcgi://", reply)
}
