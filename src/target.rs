//! What to probe, parsed and validated up front so that a typo is a usage error (exit 64)
//! and never an "unhealthy" that hides it.

use std::fmt;
use std::net::Ipv6Addr;

use crate::error::{Error, TLS_BUILD};

const SUPPORTED: &str = if cfg!(feature = "tls") {
    "http://, https://, tcp://, grpc://"
} else {
    "http://, tcp://, grpc://"
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    /// HTTP over TLS: parsed in every build, accepted only in the TLS build.
    Https,
    Tcp,
    /// grpc://HOST:PORT[/SERVICE], plaintext HTTP/2.
    Grpc,
}

impl Scheme {
    /// As written before `://`.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Tcp => "tcp",
            Scheme::Grpc => "grpc",
        }
    }
}

/// One thing to probe. `host` is bare (no brackets around IPv6 literals).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    /// Path and query, always starting with `/`; empty for tcp. For grpc, `/SERVICE`
    /// (percent-encoded), or empty.
    pub path: String,
    /// The target as the user wrote it (after `${VAR}` expansion), for the output line.
    pub text: String,
}

impl Target {
    pub fn parse(text: &str) -> Result<Target, Error> {
        let invalid = |reason: &str| Error::InvalidTarget {
            target: text.to_string(),
            reason: reason.to_string(),
        };
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(invalid(
                "missing scheme: write http://HOST[:PORT][/PATH] or tcp://HOST:PORT",
            ));
        };
        let (scheme, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "http" => (Scheme::Http, Some(80)),
            "https" => (Scheme::Https, Some(443)),
            "tcp" => (Scheme::Tcp, None),
            "grpc" => (Scheme::Grpc, None),
            "grpcs" => return Err(invalid(&format!("grpcs:// needs {TLS_BUILD}"))),
            _ => {
                return Err(invalid(&format!(
                    "unsupported scheme '{scheme}' (supported: {SUPPORTED})"
                )));
            }
        };
        if scheme == Scheme::Https && !cfg!(feature = "tls") {
            return Err(invalid(&format!("https:// needs {TLS_BUILD}")));
        }
        // The fragment is never sent to a server.
        let rest = rest.split('#').next().unwrap_or_default();
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(invalid(
                "credentials in the URL are not supported; send them with -H 'Authorization: ...'",
            ));
        }
        let (host, port) = split_host_port(authority).map_err(&invalid)?;
        let port = match (port, default_port) {
            (Some(port), _) => parse_port(port).ok_or_else(|| invalid("port must be 1-65535"))?,
            (None, Some(port)) => port,
            (None, None) => {
                let scheme = text.split("://").next().unwrap_or_default();
                return Err(invalid(&format!(
                    "a port is required, as in {scheme}://HOST:PORT"
                )));
            }
        };
        let path = match scheme {
            Scheme::Tcp if !path.is_empty() && path != "/" => {
                return Err(invalid("a tcp:// target takes no path"));
            }
            Scheme::Tcp => String::new(),
            Scheme::Grpc if path.contains('?') => {
                return Err(invalid(
                    "a grpc:// target takes no query: write grpc://HOST:PORT/SERVICE",
                ));
            }
            Scheme::Grpc if path == "/" => String::new(),
            Scheme::Grpc => path.to_string(),
            Scheme::Http | Scheme::Https if path.starts_with('/') => path.to_string(),
            Scheme::Http | Scheme::Https => format!("/{path}"),
        };
        if let Some(bad) = path.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(invalid(&format!(
                "{bad:?} is not allowed in a path; percent-encode it"
            )));
        }
        if scheme == Scheme::Grpc && String::from_utf8(percent_decode(path.as_bytes())).is_err() {
            return Err(invalid(
                "the service name is not UTF-8 once percent-decoded",
            ));
        }
        Ok(Target {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
            path,
            text: text.to_string(),
        })
    }

    /// `host:port`, with brackets around an IPv6 literal, as it goes into a URL.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL handed to the HTTP client: normalized, with the port spelled out.
    pub fn url(&self) -> String {
        format!("{}://{}{}", self.scheme.name(), self.authority(), self.path)
    }

    /// Whether a redirect to `other` stays on the same scheme, host and port.
    pub fn same_origin(&self, other: &Target) -> bool {
        self.scheme == other.scheme && self.host == other.host && self.port == other.port
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Decodes %XX escapes (URLs, and gRPC's grpc-message); a '%' not followed by two hex
/// digits stays as it is.
pub fn percent_decode(text: &[u8]) -> Vec<u8> {
    let hex = |digit: u8| (digit as char).to_digit(16).map(|value| value as u8);
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some((&byte, tail)) = rest.split_first() {
        let escaped = match tail {
            [high, low, ..] if byte == b'%' => hex(*high).zip(hex(*low)),
            _ => None,
        };
        match escaped {
            Some((high, low)) => {
                out.push(high << 4 | low);
                rest = &tail[2..];
            }
            None => {
                out.push(byte);
                rest = tail;
            }
        }
    }
    out
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|&port| port != 0)
}

/// Splits `host[:port]` or `[v6]:port`, checking the host's shape.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), &'static str> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (literal, after) = bracketed
            .split_once(']')
            .ok_or("unclosed '[' in the host")?;
        if literal.parse::<Ipv6Addr>().is_err() {
            return Err("invalid IPv6 address in brackets");
        }
        return match after {
            "" => Ok((literal, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((literal, Some(port))),
                None => Err("unexpected text after ']'"),
            },
        };
    }
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if host.is_empty() {
        return Err("the host is empty");
    }
    if port.is_some_and(|port| port.contains(':')) {
        return Err("an IPv6 address must be in brackets, as in http://[::1]:8080/");
    }
    let valid = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_';
    if !host.bytes().all(valid) {
        return Err("the host may hold only letters, digits, '-', '_' and '.'");
    }
    Ok((host, port))
}
