//! What to probe, parsed and validated up front so that a typo is a usage error (exit 64)
//! and never an "unhealthy" that hides it.

use std::fmt;
use std::net::Ipv6Addr;

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Tcp,
}

/// One thing to probe. `host` is bare (no brackets around IPv6 literals).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    /// Path and query, always starting with `/`; empty for tcp.
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
            "tcp" => (Scheme::Tcp, None),
            "https" => {
                return Err(invalid(
                    "https:// needs the TLS build of healthprobe (cargo build --release --features tls)",
                ));
            }
            _ => {
                return Err(invalid(&format!(
                    "unsupported scheme '{scheme}' (supported: http://, tcp://)"
                )));
            }
        };
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
            (None, None) => return Err(invalid("a port is required, as in tcp://HOST:PORT")),
        };
        let path = match scheme {
            Scheme::Tcp if !path.is_empty() && path != "/" => {
                return Err(invalid("a tcp:// target takes no path"));
            }
            Scheme::Tcp => String::new(),
            Scheme::Http if path.starts_with('/') => path.to_string(),
            Scheme::Http => format!("/{path}"),
        };
        if let Some(bad) = path.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(invalid(&format!(
                "{bad:?} is not allowed in a path; percent-encode it"
            )));
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
        format!("http://{}{}", self.authority(), self.path)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
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
    if port.is_some_and(|port| port.contains(':')) {
        return Err("an IPv6 address must be in brackets, as in http://[::1]:8080/");
    }
    if host.is_empty() {
        return Err("the host is empty");
    }
    let valid = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_';
    if !host.bytes().all(valid) {
        return Err("the host may hold only letters, digits, '-', '_' and '.'");
    }
    Ok((host, port))
}
