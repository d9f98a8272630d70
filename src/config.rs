//! Plain data: what a run needs, as cli.rs builds it from the arguments and environment
//! and as probe/ and wait.rs read it. Nothing here parses arguments or probes.

use std::ffi::OsString;
use std::time::Duration;

use crate::target::Target;

/// The most targets one run takes: a bound on the threads, memory and lines a command
/// line can ask for (8 MB of RSS at most). More is a usage error.
pub const MAX_TARGETS: usize = 256;

/// Everything a run needs, validated.
#[derive(Debug)]
pub struct Config {
    pub targets: Vec<Target>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub http: HttpOptions,
    pub quiet: bool,
    pub verbose: bool,
    /// --wait: retry until healthy or this much time has passed since the start.
    pub wait: Option<Duration>,
    /// --interval: the pause between two attempts of --wait.
    pub interval: Duration,
    /// `-- CMD [ARGS...]`: what replaces this process once every target is healthy.
    pub exec: Option<Exec>,
}

#[derive(Debug)]
pub struct HttpOptions {
    pub method: String,
    pub headers: Vec<(String, String)>,
    /// Whether to send `Accept: */*` (ureq's default, and the kubelet's); an empty
    /// `-H 'Accept:'` removes it.
    pub accept: bool,
    /// None: the kubelet's 200-399, with redirects followed.
    pub status: Option<StatusSet>,
    pub body_contains: Option<String>,
    /// Empty: no User-Agent at all.
    pub user_agent: String,
    pub proxy: Option<ureq::Proxy>,
    /// --unix-socket: http:// and grpc:// requests go to this socket, not the URL's host.
    pub unix_socket: Option<UnixSocket>,
    /// --json: checks on the JSON body of an http:// answer, every one must hold.
    pub json: Vec<JsonCheck>,
    /// -k/--insecure: https:// without verifying the server's certificate.
    pub insecure: bool,
    /// Roots, client certificate and verification for https://, built from the options.
    #[cfg(feature = "tls")]
    pub tls: ureq::tls::TlsConfig,
}

/// The statuses --status accepts: `200`, `2xx`, `200-299`, or a comma list of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet {
    ranges: Vec<(u16, u16)>,
    text: String,
}

impl StatusSet {
    pub fn parse(text: &str) -> Option<StatusSet> {
        let code = |part: &str| {
            let code: u16 = part.parse().ok()?;
            (part.len() == 3 && (100..=599).contains(&code)).then_some(code)
        };
        let range = |part: &str| -> Option<(u16, u16)> {
            let part = part.trim();
            if let Some(class) = part.strip_suffix("xx").or_else(|| part.strip_suffix("XX")) {
                let class: u16 = class
                    .parse()
                    .ok()
                    .filter(|c| (1..=5).contains(c) && class.len() == 1)?;
                return Some((class * 100, class * 100 + 99));
            }
            let (low, high) = match part.split_once('-') {
                Some((low, high)) => (code(low.trim())?, code(high.trim())?),
                None => (code(part)?, code(part)?),
            };
            (low <= high).then_some((low, high))
        };
        let ranges = text.split(',').map(range).collect::<Option<Vec<_>>>()?;
        Some(StatusSet {
            ranges,
            text: text.split_whitespace().collect(),
        })
    }

    /// As the user wrote it, without spaces, for "(expected ...)".
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn accepts(&self, code: u16) -> bool {
        self.ranges
            .iter()
            .any(|&(low, high)| (low..=high).contains(&code))
    }
}

/// `-- CMD [ARGS...]`: run once every target is healthy.
#[derive(Debug)]
pub struct Exec {
    pub program: OsString,
    pub args: Vec<OsString>,
    /// PATH as this process has it, to find the program before anything is probed.
    pub search_path: Option<OsString>,
}

/// A unix socket: a path, or `@name` for one in the abstract namespace (Linux).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixSocket {
    /// As written: `/run/app.sock`, `relative.sock` or `@name`.
    pub name: String,
}

/// sun_path holds 108 bytes, with the terminating NUL of a path.
const SUN_PATH: usize = 108;

impl UnixSocket {
    pub fn parse(text: &str) -> Result<UnixSocket, &'static str> {
        if text.is_empty() || text == "@" {
            return Err("the socket's path is empty");
        }
        if text.contains('\0') {
            return Err("the socket's path holds a NUL byte");
        }
        let room = match text.starts_with('@') {
            true => SUN_PATH,
            false => SUN_PATH - 1,
        };
        if text.len() > room {
            return Err("the socket's path is longer than the 107 bytes a unix socket can have");
        }
        Ok(UnixSocket {
            name: text.to_string(),
        })
    }

    /// The name in the abstract namespace, without its `@`.
    pub fn abstract_name(&self) -> Option<&[u8]> {
        self.name.strip_prefix('@').map(str::as_bytes)
    }
}

impl std::fmt::Display for UnixSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// One --json check: `POINTER[=VALUE,VALUE...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonCheck {
    /// The pointer as written (`/checks/db/status`), for the line.
    pub pointer: String,
    /// Its reference tokens, `~1` and `~0` unescaped.
    pub tokens: Vec<String>,
    /// The values accepted, as written; None: present and not null or false.
    pub values: Option<Vec<String>>,
}

impl JsonCheck {
    pub fn parse(text: &str) -> Option<JsonCheck> {
        let (pointer, values) = match text.split_once('=') {
            Some((pointer, values)) => (pointer, Some(values)),
            None => (text, None),
        };
        let rest = pointer.strip_prefix('/')?;
        let mut tokens = Vec::new();
        for token in rest.split('/') {
            // RFC 6901: '~' only as ~0 or ~1; ~1 first would turn "~01" into "/".
            let mut unescaped = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                match c {
                    '~' => match chars.next() {
                        Some('0') => unescaped.push('~'),
                        Some('1') => unescaped.push('/'),
                        _ => return None,
                    },
                    c => unescaped.push(c),
                }
            }
            tokens.push(unescaped);
        }
        let values = match values {
            Some(values) => {
                let list: Vec<String> = values.split(',').map(str::to_string).collect();
                if list.iter().any(String::is_empty) {
                    return None;
                }
                Some(list)
            }
            None => None,
        };
        Some(JsonCheck {
            pointer: pointer.to_string(),
            tokens,
            values,
        })
    }
}
