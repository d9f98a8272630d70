//! grpc://HOST:PORT[/SERVICE]: one unary call of grpc.health.v1.Health/Check (the gRPC
//! health checking protocol) over plaintext HTTP/2 with prior knowledge, or (grpcs://,
//! the TLS build) over TLS with ALPN h2. Healthy iff the
//! answer is SERVING, as for grpc-health-probe: NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN and
//! any gRPC status but OK are unhealthy, each named in the line.

pub(crate) mod h2;
pub(crate) mod hpack;

use std::io::{Read, Write};
use std::time::Instant;

use super::{Answer, Budget, Kind, Report, Verdict, open_via};
use crate::config::HttpOptions;
use crate::error::Error;
use crate::net::{DeadlineStream, Duplex};
use crate::target::{
    PathParts, Syntax, Target, TlsScheme, Userinfo, percent_decode, require_graphic,
};

pub static KIND: Kind = Kind {
    syntax: Syntax {
        schemes: &["grpc"],
        // grpcs://: TLS with ALPN h2, in the TLS build (refused with the build hint else).
        tls: Some(TlsScheme {
            scheme: "grpcs",
            default_port: None,
            available: cfg!(feature = "tls"),
        }),
        default_port: None,
        userinfo: Userinfo::Refused,
        socket: false,
        path: service_path,
        check: Some(check_metadata),
    },
    probe,
};

/// `/SERVICE`, percent-encoded, or nothing (the server as a whole).
fn service_path(path: &str) -> Result<PathParts, String> {
    if path.contains('?') {
        return Err("a grpc:// target takes no query: write grpc://HOST:PORT/SERVICE".to_string());
    }
    let path = if path == "/" { "" } else { path };
    require_graphic(path)?;
    if String::from_utf8(percent_decode(path.as_bytes())).is_err() {
        return Err("the service name is not UTF-8 once percent-decoded".to_string());
    }
    Ok(PathParts {
        path: path.to_string(),
        database: None,
    })
}

const METHOD: &str = "/grpc.health.v1.Health/Check";
/// A HealthCheckResponse is a few bytes. The cap also keeps the reply within HTTP/2's
/// initial flow-control window (65,535 bytes), so we never send WINDOW_UPDATE.
const MAX_REPLY: usize = 16 * 1024;

fn probe(target: &Target, options: &HttpOptions, budget: &Budget, report: &mut Report) -> Answer {
    let stream = open_via(target, options.unix_socket.as_ref(), budget, report)?;
    let stream = DeadlineStream {
        stream,
        deadline: budget.deadline,
    };
    #[cfg(feature = "tls")]
    if target.tls {
        let mut stream = crate::tls::handshake(stream, &target.host, &options.tls)?;
        report.note(budget, "TLS handshake done");
        return converse(
            &mut stream as &mut dyn Duplex,
            target,
            options,
            budget,
            report,
        );
    }
    let mut stream = stream;
    converse(
        &mut stream as &mut dyn Duplex,
        target,
        options,
        budget,
        report,
    )
}

/// The health check call on a connection, and its verdict. Plain or TLS, the binary
/// calls it on a `&mut dyn Duplex`, so it is compiled once for both; the fuzz targets
/// (src/fuzz.rs) hold it over bytes in memory.
pub(crate) fn converse<S: Read + Write>(
    stream: S,
    target: &Target,
    options: &HttpOptions,
    budget: &Budget,
    report: &mut Report,
) -> Answer {
    let service = service(target);
    let headers = request_headers(target, options, budget.deadline);
    let reply = h2::exchange(
        stream,
        &headers,
        &request_message(&service),
        MAX_REPLY,
        budget,
        report,
    )?;
    judge(&reply, &service)
}

/// The service to ask about: the target's path without its '/', percent-decoded
/// (Target::parse checked that it is UTF-8); empty asks about the server as a whole.
fn service(target: &Target) -> String {
    let path = target.path.strip_prefix('/').unwrap_or_default();
    String::from_utf8_lossy(&percent_decode(path.as_bytes())).into_owned()
}

/// Request metadata that HTTP/2 forbids (connection-specific headers) or that gRPC sets
/// itself is a usage error. Pseudo-headers (":path") never get here: `-H` takes tokens.
fn check_metadata(headers: &[(String, String)]) -> Result<(), Error> {
    for (name, _) in headers {
        let lower = name.to_ascii_lowercase();
        let reserved = matches!(
            lower.as_str(),
            "connection"
                | "keep-alive"
                | "proxy-connection"
                | "transfer-encoding"
                | "upgrade"
                | "te"
                | "content-type"
        ) || lower.starts_with("grpc-");
        if reserved {
            return Err(Error::InvalidValue {
                source: "--header".to_string(),
                // The name alone: an error never quotes a header's value.
                value: format!("{name} ..."),
                expected: "gRPC metadata, not a connection-specific header (Connection, TE, ...) \
                           nor one that gRPC sets itself (Content-Type, grpc-*)",
            });
        }
    }
    Ok(())
}

/// The pseudo-headers and gRPC's own headers, then the user's metadata (names in lower
/// case, as HTTP/2 requires). `-H Host:` sets :authority and `-H User-Agent:` replaces
/// ours, as they would over HTTP/1.1.
fn request_headers(
    target: &Target,
    options: &HttpOptions,
    deadline: Instant,
) -> Vec<(String, String)> {
    let metadata: Vec<(String, String)> = options
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
        .collect();
    let given = |wanted: &str| {
        metadata
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.clone())
    };
    // The server gives up when we do. gRPC allows at most 8 digits.
    let millis = deadline
        .saturating_duration_since(Instant::now())
        .as_millis()
        .clamp(1, 99_999_999);
    let mut headers: Vec<(String, String)> = [
        (":method", "POST".to_string()),
        (
            ":scheme",
            if target.tls { "https" } else { "http" }.to_string(),
        ),
        (":path", METHOD.to_string()),
        (
            ":authority",
            given("host").unwrap_or_else(|| target.authority()),
        ),
        ("te", "trailers".to_string()),
        ("content-type", "application/grpc".to_string()),
        (
            "user-agent",
            given("user-agent").unwrap_or_else(|| options.user_agent.clone()),
        ),
        ("grpc-timeout", format!("{millis}m")),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect();
    headers.extend(
        metadata
            .into_iter()
            .filter(|(name, _)| name != "host" && name != "user-agent"),
    );
    // An empty --user-agent (or -H 'User-Agent:') sends none, as over HTTP/1.1.
    headers.retain(|(name, value)| name != "user-agent" || !value.is_empty());
    headers
}

/// gRPC's length-prefixed message (uncompressed) holding
/// HealthCheckRequest { string service = 1; }.
fn request_message(service: &str) -> Vec<u8> {
    let mut proto = Vec::new();
    if !service.is_empty() {
        // Field 1, wire type 2 (length-delimited).
        proto.push(0x0a);
        push_varint(&mut proto, service.len() as u64);
        proto.extend_from_slice(service.as_bytes());
    }
    let mut message = vec![0];
    message.extend_from_slice(&(proto.len() as u32).to_be_bytes());
    message.extend_from_slice(&proto);
    message
}

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The gRPC status decides first; with OK, the serving status in the message does.
fn judge(reply: &h2::Response, service: &str) -> Result<Verdict, Error> {
    let trailers = if reply.trailers.is_empty() {
        &reply.headers
    } else {
        &reply.trailers
    };
    let Some(status) = field(trailers, "grpc-status") else {
        return Err(not_grpc(reply));
    };
    let code: u32 = status
        .parse()
        .map_err(|_| Error::InvalidReply(format!("invalid grpc-status '{status}'")))?;
    if code != 0 {
        let message = field(trailers, "grpc-message").unwrap_or_default();
        let message = String::from_utf8_lossy(&percent_decode(message.as_bytes())).into_owned();
        return Ok(Verdict {
            healthy: false,
            summary: status_summary(code, &message, service),
        });
    }
    let serving = serving_status(&reply.body)?;
    Ok(match serving {
        1 => Verdict {
            healthy: true,
            summary: "SERVING".to_string(),
        },
        other => Verdict {
            healthy: false,
            summary: format!("{} (expected SERVING)", serving_name(other)),
        },
    })
}

/// Why a reply without grpc-status is not a gRPC reply.
fn not_grpc(reply: &h2::Response) -> Error {
    let status = field(&reply.headers, ":status").unwrap_or_default();
    let content_type = field(&reply.headers, "content-type").unwrap_or_default();
    let why = if status != "200" {
        format!("HTTP/2 status {status} and no grpc-status: not a gRPC server?")
    } else if !content_type.starts_with("application/grpc") {
        format!("not a gRPC reply (content-type '{content_type}')")
    } else {
        return Error::InvalidReply("the reply ended without a grpc-status".to_string());
    };
    Error::OtherProtocol(why)
}

fn field(fields: &[hpack::Field], name: &str) -> Option<String> {
    fields
        .iter()
        .find(|(found, _)| found == name.as_bytes())
        .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
}

/// "gRPC status 12 UNIMPLEMENTED (...): message", with a hint for the two statuses that
/// the health checking protocol gives a meaning.
fn status_summary(code: u32, message: &str, service: &str) -> String {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    let name = NAMES.get(code as usize).unwrap_or(&"(unknown code)");
    let mut summary = format!("gRPC status {code} {name}");
    match code {
        5 if service.is_empty() => summary += " (no health status for the server as a whole)",
        5 => summary += &format!(" (the server does not know the service '{service}')"),
        12 => summary += " (the server has no grpc.health.v1.Health service)",
        _ => {}
    }
    if !message.is_empty() {
        summary += ": ";
        summary += message;
    }
    summary
}

fn serving_name(status: u64) -> String {
    match status {
        0 => "UNKNOWN".to_string(),
        1 => "SERVING".to_string(),
        2 => "NOT_SERVING".to_string(),
        3 => "SERVICE_UNKNOWN".to_string(),
        other => format!("unknown serving status {other}"),
    }
}

/// HealthCheckResponse { ServingStatus status = 1; } from the one length-prefixed
/// message of the reply. Unknown fields are skipped, as protobuf requires; a missing
/// status is proto3's default, UNKNOWN.
fn serving_status(body: &[u8]) -> Result<u64, Error> {
    let invalid = |why: &str| Error::InvalidReply(format!("invalid HealthCheckResponse: {why}"));
    let [compressed, a, b, c, d, proto @ ..] = body else {
        return Err(invalid("no message in the reply"));
    };
    if *compressed != 0 {
        return Err(invalid("compressed, which we did not ask for"));
    }
    if u32::from_be_bytes([*a, *b, *c, *d]) as usize != proto.len() {
        return Err(invalid("its length prefix does not match"));
    }
    let mut input = proto;
    let mut status = 0;
    while !input.is_empty() {
        let key = varint(&mut input).ok_or_else(|| invalid("truncated"))?;
        let skip = match key & 7 {
            0 => {
                let value = varint(&mut input).ok_or_else(|| invalid("truncated"))?;
                if key >> 3 == 1 {
                    status = value;
                }
                0
            }
            1 => 8,
            2 => varint(&mut input).ok_or_else(|| invalid("truncated"))? as usize,
            5 => 4,
            _ => return Err(invalid("unknown wire type")),
        };
        input = input.get(skip..).ok_or_else(|| invalid("truncated"))?;
    }
    Ok(status)
}

fn varint(input: &mut &[u8]) -> Option<u64> {
    let mut value = 0;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = input.split_first()?;
        *input = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_request_message() {
        assert_eq!(request_message(""), [0, 0, 0, 0, 0]);
        assert_eq!(
            request_message("a.B"),
            [0, 0, 0, 0, 5, 0x0a, 3, b'a', b'.', b'B']
        );
        let long = request_message(&"x".repeat(200));
        assert_eq!(&long[..8], [0, 0, 0, 0, 203, 0x0a, 0xc8, 0x01]);
    }

    #[test]
    fn reads_the_serving_status() {
        assert_eq!(serving_status(&[0, 0, 0, 0, 2, 0x08, 1]).ok(), Some(1));
        // proto3 leaves out a default: an empty message is UNKNOWN.
        assert_eq!(serving_status(&[0, 0, 0, 0, 0]).ok(), Some(0));
        // Unknown fields of every wire type are skipped, before and after.
        let message = [
            0x10, 0x96, 0x01, 0x19, 1, 2, 3, 4, 5, 6, 7, 8, 0x22, 2, b'h', b'i', 0x2d, 1, 2, 3, 4,
            0x08, 2,
        ];
        let mut body = vec![0, 0, 0, 0, message.len() as u8];
        body.extend_from_slice(&message);
        assert_eq!(serving_status(&body).ok(), Some(2));
        for bad in [
            &[][..],
            &[0, 0, 0],
            &[1, 0, 0, 0, 2, 0x08, 1],
            &[0, 0, 0, 0, 3, 0x08, 1],
            &[0, 0, 0, 0, 2, 0x08, 0x80],
            &[0, 0, 0, 0, 2, 0x22, 5],
            &[0, 0, 0, 0, 1, 0x0b],
        ] {
            assert!(serving_status(bad).is_err(), "{bad:?}");
        }
    }
}
