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
