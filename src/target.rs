//! What to probe, parsed and validated up front so that a typo is a usage error (exit 64)
//! and never an "unhealthy" that hides it.

use std::fmt;
use std::net::Ipv6Addr;

use crate::error::{Error, TLS_BUILD};

mod path;
pub use path::{database_path, decode, no_path, percent_decode, require_graphic};

/// Whether a kind's URL takes `userinfo@`, and what a lone word there is: a kind's
/// parse rule (errors mask any userinfo whole, whatever the kind: see `redact`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Userinfo {
    /// No credentials in the URL: the authority ends at the first '/', '?' or '#'.
    Refused,
    /// `user:password@` or `user@` (the database schemes).
    UserPassword,
    /// As UserPassword, but a lone word is the password, as redis-cli reads it.
    PasswordAlone,
}

impl Userinfo {
    fn takes_credentials(self) -> bool {
        self != Userinfo::Refused
    }
}

/// The text after a target's authority, as a kind reads it.
#[derive(Debug, Default)]
pub struct PathParts {
    /// What is sent (always starting with `/`), or empty.
    pub path: String,
    /// A database name, percent-decoded.
    pub database: Option<String>,
}

/// A kind's path rule: takes the path and query as written (no fragment), says what they
/// mean for this kind or why they are refused.
pub type PathRule = fn(&str) -> Result<PathParts, String>;

/// How a kind's URL is written, as far as parsing and masking it goes: the part of a
/// kind (the probe module's Kind) that is read before anything is probed. The table of kinds is
/// handed down to Target::parse and redact, so this module names no kind itself.
#[derive(Debug)]
pub struct Syntax {
    /// As written before `://`, lowercase; the first is the one error messages list.
    pub schemes: &'static [&'static str],
    /// The same kind over TLS (https:// for http://), if there is one.
    pub tls: Option<TlsScheme>,
    /// None: the URL must give the port.
    pub default_port: Option<u16>,
    /// Whether `user:password@` is taken.
    pub userinfo: Userinfo,
    /// Whatever follows `scheme://` is a unix socket (`/run/app.sock`, `@name`), handed
    /// whole to `path`: there is no host, port or userinfo.
    pub socket: bool,
    pub path: PathRule,
    /// Run once the options are parsed, for each target of this kind, on the request
    /// headers: a usage error here (exit 64) is one that no probe would get past.
    pub check: Option<Check>,
}

/// A kind's check of the request headers (name, value), at parse time.
pub type Check = fn(&[(String, String)]) -> Result<(), Error>;

#[derive(Debug, Clone, Copy)]
pub struct TlsScheme {
    pub scheme: &'static str,
    pub default_port: Option<u16>,
    /// Whether this build probes it; if not, it is refused as needing the TLS build.
    pub available: bool,
}

/// The kinds' supported schemes, for the "unsupported scheme" error.
fn supported(kinds: &[impl AsRef<Syntax>]) -> String {
    let mut names = Vec::new();
    for kind in kinds {
        let kind = kind.as_ref();
        names.push(kind.schemes[0]);
        if let Some(tls) = &kind.tls.filter(|tls| tls.available) {
            names.push(tls.scheme);
        }
    }
    names
        .iter()
        .map(|name| [name, "://"].concat())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The row of `kinds` that takes `scheme`: its index, its syntax, the scheme as the kind
/// lists it, and whether that is its TLS scheme.
fn find_kind<'k>(
    scheme: &str,
    kinds: &'k [impl AsRef<Syntax>],
) -> Option<(usize, &'k Syntax, &'static str, bool)> {
    kinds.iter().enumerate().find_map(|(index, kind)| {
        let kind = kind.as_ref();
        if let Some(name) = kind
            .schemes
            .iter()
            .find(|name| scheme.eq_ignore_ascii_case(name))
        {
            return Some((index, kind, *name, false));
        }
        let tls = kind
            .tls
            .filter(|tls| scheme.eq_ignore_ascii_case(tls.scheme))?;
        Some((index, kind, tls.scheme, true))
    })
}

const RANGE: &str = "port must be 1-65535";

/// Why a port is refused, with the likely cause when it is a variable no one expanded
/// (only for a port written out: one from a variable is not quoted).
fn port_problem(port: &str) -> String {
    if port.is_empty() {
        // Compose replaces ${PORT} itself (with nothing when it has no PORT).
        return format!(
            "{RANGE}, and it is empty: in compose, write $${{PORT}} to leave ${{PORT}} to healthprobe"
        );
    }
    match port.strip_prefix('$') {
        // No shell in an exec-form HEALTHCHECK expands $PORT; healthprobe expands ${PORT}.
        Some(name) if !name.starts_with('{') => {
            format!("{RANGE}: '{port}' is not expanded without a shell: write ${{{name}}}")
        }
        _ => RANGE.to_string(),
    }
}

/// One thing to probe. `host` is bare (no brackets around IPv6 literals).
#[derive(Debug, Clone)]
pub struct Target {
    /// What probes it: its row in the table of kinds it was parsed with (the probe module's KINDS).
    pub kind: usize,
    /// The scheme, lowercase, as listed by the kind ("postgresql" for postgresql://).
    pub scheme: &'static str,
    /// Over TLS (https://).
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, always starting with `/`; empty for tcp. For grpc, `/SERVICE`
    /// (percent-encoded), or empty.
    pub path: String,
    /// The target as the user wrote it (after `${VAR}` expansion), for the output line,
    /// with its userinfo masked and a query from a variable as `?...` (see `shown`).
    pub text: String,
    /// The user of `user:password@` (database schemes only), percent-decoded.
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// The database of postgres://HOST/DBNAME, percent-decoded.
    pub database: Option<String>,
}

/// A password: shown nowhere, not even in Debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Target {
    /// Parses `text` as one of `kinds` (the probe module's KINDS) would have it written.
    pub fn parse(text: &str, kinds: &[impl AsRef<Syntax>]) -> Result<Target, Error> {
        Target::parse_written(text, text, kinds)
    }

    /// Parses `text`, which is `written` with its `${VAR}`s expanded. Errors quote
    /// `written` (never what a variable held), with its userinfo masked.
    pub fn parse_written(
        text: &str,
        written: &str,
        kinds: &[impl AsRef<Syntax>],
    ) -> Result<Target, Error> {
        let quoted = redact(written, kinds);
        let invalid = |reason: &str| Error::InvalidTarget {
            target: quoted.clone(),
            reason: reason.to_string(),
        };
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(invalid(
                "missing scheme: write http://HOST[:PORT][/PATH] or tcp://HOST:PORT",
            ));
        };
        let Some((index, kind, scheme, tls)) = find_kind(scheme, kinds) else {
            return Err(Error::UnsupportedScheme {
                // The scheme alone only when it is written as it is, not from a variable.
                scheme: match written.contains(scheme) {
                    true => redact(scheme, kinds),
                    false => String::new(),
                },
                target: quoted,
                supported: supported(kinds),
            });
        };
        let default_port = match kind.tls {
            Some(over_tls) if tls && !over_tls.available => {
                return Err(invalid(&format!("{scheme}:// needs {TLS_BUILD}")));
            }
            Some(over_tls) if tls => over_tls.default_port,
            _ => kind.default_port,
        };
        if kind.socket {
            let PathParts { path, .. } = (kind.path)(rest).map_err(|e| invalid(&e))?;
            return Ok(Target {
                kind: index,
                scheme,
                tls,
                host: String::new(),
                port: 0,
                path,
                text: shown(text, None, written),
                user: None,
                password: None,
                database: None,
            });
        }
        let (userinfo, rest) = split_userinfo(kind.userinfo, rest);
        // The fragment is never sent to a server.
        let rest = rest.split('#').next().unwrap_or_default();
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        if userinfo.is_some() && !kind.userinfo.takes_credentials() {
            return Err(invalid(
                "credentials in the URL are not supported; send them with -H 'Authorization: ...'",
            ));
        }
        let (user, password) =
            split_credentials(kind.userinfo, userinfo).map_err(|e| invalid(&e))?;
        let (host, port) = split_host_port(authority).map_err(&invalid)?;
        let port = match (port, default_port) {
            (Some(port), _) => parse_port(port).ok_or_else(|| match text == written {
                true => invalid(&port_problem(port)),
                false => invalid(RANGE),
            })?,
            (None, Some(port)) => port,
            (None, None) => {
                return Err(invalid(&format!(
                    "a port is required, as in {scheme}://HOST:PORT"
                )));
            }
        };
        let PathParts { path, database } = (kind.path)(path).map_err(|e| invalid(&e))?;
        require_graphic(&path).map_err(|e| invalid(&e))?;
        Ok(Target {
            kind: index,
            scheme,
            tls,
            host: host.to_ascii_lowercase(),
            port,
            path,
            text: shown(text, userinfo, written),
            user,
            password,
            database,
        })
    }

    /// `host:port`, with brackets around an IPv6 literal, as it goes into a URL.
    pub fn authority(&self) -> String {
        let port = self.port.to_string();
        // Pieces, not format!: this is on every probe's path, and format! costs ~1,000
        // instructions more.
        if self.host.contains(':') {
            ["[", &self.host, "]:", &port].concat()
        } else {
            [&self.host, ":", &port].concat()
        }
    }

    /// The URL handed to the HTTP client: normalized, with the port spelled out.
    pub fn url(&self) -> String {
        [self.scheme, "://", &self.authority(), &self.path].concat()
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Splits `userinfo@` off what follows `scheme://`. A database URL's userinfo runs to the
/// last '@', so that a password may hold '/', '?', '#' or '@' unencoded (as base64 does);
/// elsewhere the authority ends at the first '/', '?' or '#', as RFC 3986 says.
fn split_userinfo(rule: Userinfo, rest: &str) -> (Option<&str>, &str) {
    let end = match rule.takes_credentials() {
        true => rest.len(),
        false => rest.find(['/', '?', '#']).unwrap_or(rest.len()),
    };
    match rest[..end].rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    }
}

/// `user:password`, `:password` or `user`, percent-decoded. On redis:// a lone word is
/// the password, as redis-cli reads it. An empty password means none.
fn split_credentials(
    rule: Userinfo,
    userinfo: Option<&str>,
) -> Result<(Option<String>, Option<Secret>), String> {
    let Some(userinfo) = userinfo else {
        return Ok((None, None));
    };
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (user, password),
        None if rule == Userinfo::PasswordAlone => ("", userinfo),
        None => (userinfo, ""),
    };
    let user = match user {
        "" => None,
        user => Some(decode(user, "user name")?),
    };
    let password = match password {
        "" => None,
        password => Some(Secret(decode(password, "password")?)),
    };
    Ok((user, password))
}

/// The target text with all its userinfo (user and password) replaced by `***`, for
/// every error that quotes a target: works on what does not parse (an unknown scheme, a
/// typo such as `redis:/`, `redis//` or `redis:`, a bad port). The userinfo runs to the
/// last '@', whatever it holds ('/', '?', '#', spaces): masking too much is the safe side.
pub fn redact(text: &str, kinds: &[impl AsRef<Syntax>]) -> String {
    let Some(at) = text.rfind('@') else {
        return text.to_string();
    };
    let start = userinfo_start(text, kinds);
    if start > at {
        return text.to_string();
    }
    [&text[..start], "***", &text[at..]].concat()
}

/// A URL from a server (a Location) as lines quote it: scheme, host, port and path, its
/// userinfo as `***@` (see `redact`), its query as `?...` (OAuth codes, signatures,
/// tokens) and no fragment.
pub fn quote_url(text: &str, kinds: &[impl AsRef<Syntax>]) -> String {
    let mut quoted = redact(text, kinds);
    let after_userinfo = quoted.find("***@").map_or(0, |at| at + 4);
    if let Some(at) = quoted[after_userinfo..].find(['?', '#']) {
        let at = after_userinfo + at;
        let query = quoted[at..].starts_with('?');
        quoted.truncate(at);
        if query {
            quoted.push_str("?...");
        }
    }
    quoted
}

/// Where the userinfo would start: after `scheme://`, or after a scheme typed wrong
/// (`scheme:/`, `scheme//`, `scheme:` of a known scheme); else at the start.
fn userinfo_start(text: &str, kinds: &[impl AsRef<Syntax>]) -> usize {
    let scheme_end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .unwrap_or(text.len());
    let after = &text[scheme_end..];
    let known = find_kind(&text[..scheme_end], kinds).is_some();
    let separator = ["://", ":/", "//"]
        .into_iter()
        .find(|separator| after.starts_with(separator))
        .map(str::len);
    match separator {
        Some(length) if scheme_end == 0 && length == 2 && after.starts_with("//") => 2,
        _ if scheme_end == 0 => 0,
        Some(length) => scheme_end + length,
        None if known && after.starts_with(':') => scheme_end + 1,
        None => 0,
    }
}

/// The target as lines show it: its userinfo as `***@`, and its query as `?...` (and its
/// fragment as `#...`) when any of it came from a `${VAR}`, that is when `written` (the
/// text before expansion) does not hold it as it is.
fn shown(text: &str, userinfo: Option<&str>, written: &str) -> String {
    let mut shown = match userinfo {
        Some(userinfo) => {
            let (scheme, rest) = text.split_once("://").unwrap_or_default();
            let after = &rest[userinfo.len() + 1..];
            [scheme, "://***@", after].concat()
        }
        None => text.to_string(),
    };
    if shown == written {
        return shown;
    }
    let authority_end = shown
        .find("://")
        .map(|at| at + 3)
        .and_then(|start| shown[start..].find(['/', '?', '#']).map(|end| start + end))
        .unwrap_or(shown.len());
    let tail = &shown[authority_end..];
    let fragment_at = tail.find('#').map(|at| authority_end + at);
    if let Some(at) = fragment_at.filter(|&at| !written.contains(&shown[at..])) {
        shown.replace_range(at.., "#...");
    }
    let end = shown[authority_end..]
        .find('#')
        .map_or(shown.len(), |at| authority_end + at);
    if let Some(at) = shown[authority_end..end]
        .find('?')
        .map(|at| authority_end + at)
    {
        if !written.contains(&shown[at..end]) {
            shown.replace_range(at..end, "?...");
        }
    }
    shown
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
