//! The command line and its environment fallbacks: arguments + environment -> Config.
//! This is the only module that sees argv or the environment.

use std::convert::Infallible;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use pico_args::Arguments;

use crate::config::{Config, Exec, HttpOptions, StatusSet};
use crate::error::Error;
use crate::sys;
use crate::target::{Target, redact};

pub const HELP: &str = "\
healthprobe: is this service healthy? Probes each TARGET under one hard deadline,
prints one line per target saying why, and exits 0 (healthy) or 1 (unhealthy).

Usage: healthprobe [OPTIONS] TARGET...
       healthprobe [OPTIONS] TARGET... -- CMD [ARGS...]

Targets (several: all must be healthy; they are probed at the same time):
  http://HOST[:PORT][/PATH][?QUERY]
      healthy iff the status is in --status; redirects to the same host and port are
      followed (10 at most), others are the answer (a 3xx: healthy by default)
  https://HOST[:PORT][/PATH][?QUERY]
      the same over TLS, port 443 by default, the certificate verified (TLS build only)
  tcp://HOST:PORT
      healthy iff a connection is established
  grpc://HOST:PORT[/SERVICE]
      healthy iff grpc.health.v1.Health/Check answers SERVING for SERVICE
      (default: the whole server)
  postgres://[USER@]HOST[:5432][/DB]   (also postgresql://)
      healthy iff the server accepts connections, as pg_isready says
  redis://[[USER]:PASSWORD@]HOST[:6379]
      healthy iff PING answers PONG (after AUTH when there is a password)
  mysql://HOST[:3306]
      healthy iff the server greets with a handshake, as mysqladmin ping says
  Passwords show as ***: pass them in a variable, redis://:${REDIS_PASSWORD}@HOST.
  HOST is a name, an IPv4 address or a bracketed IPv6 address ([::1]).
  localhost means 127.0.0.1 and ::1, without asking any resolver.

Options (each also read from the variable in brackets; the command line wins):
      --timeout DUR          deadline for everything [HEALTHPROBE_TIMEOUT, default 3s]
      --connect-timeout DUR  deadline for resolving and connecting
                             [HEALTHPROBE_CONNECT_TIMEOUT, default: the --timeout]
      --method M             HTTP method [HEALTHPROBE_METHOD, default GET]
  -H, --header 'NAME: VALUE' extra request header (gRPC metadata for grpc://),
                             repeatable; may replace Host
                             [HEALTHPROBE_HEADER, one header per line]
      --status LIST          healthy statuses, e.g. 200, 2xx, 200-299, 200-299,401
                             [HEALTHPROBE_STATUS, default 200-399]
      --body-contains TEXT   also require TEXT in the first 10 KiB of the body
                             [HEALTHPROBE_BODY_CONTAINS]
      --user-agent TEXT      the User-Agent header
                             [HEALTHPROBE_USER_AGENT, default healthprobe/VERSION]
      --proxy URL            send HTTP through this proxy, http://[USER:PASS@]HOST:PORT
                             [HEALTHPROBE_PROXY, default none: HTTP_PROXY, HTTPS_PROXY
                             and ALL_PROXY are ignored]
      --cacert FILE          trust the CA certificates in FILE (PEM) instead of the
                             bundled web PKI roots [HEALTHPROBE_CACERT]
  -k, --insecure             do not verify the server's certificate; every line of an
                             https:// target says so [HEALTHPROBE_INSECURE=1]
      --cert FILE            client certificate (PEM, chain allowed) for mutual TLS,
                             with --key [HEALTHPROBE_CERT]
      --key FILE             its private key (PEM: PKCS#8, PKCS#1 or SEC1)
                             [HEALTHPROBE_KEY]
                             (--cacert, -k, --cert, --key: only in the TLS build)
      --wait DUR             retry until every target is healthy at once, or exit 1
                             when DUR has passed; one progress line on stderr per
                             change [HEALTHPROBE_WAIT, default: a single attempt]
      --interval DUR         pause between attempts of --wait [HEALTHPROBE_INTERVAL,
                             default 1s]
  -q, --quiet                print nothing when healthy, and no progress lines
                             [HEALTHPROBE_QUIET=1]
  -v, --verbose              also print addresses and timings to stderr
                             [HEALTHPROBE_VERBOSE=1]
      --install DIR          copy this executable to DIR/healthprobe (mode 0755) and
                             exit, for images without cp (a Kubernetes init container)
  -h, --help                 print this help
  -V, --version              print the version
  -- CMD [ARGS...]           once healthy, replace this process with CMD (same PID,
                             same environment; ARGS are passed as they are); a CMD
                             that is not found or not executable exits 64
  Targets also come from HEALTHPROBE_TARGETS (space-separated) when none are given.
  DUR is 250ms, 3s, 1.5s, 1m, or a number of seconds.
  ${VAR} and ${VAR:-default} are expanded in targets and values ($$ is a $), because
  exec-form HEALTHCHECKs have no shell to do it; an unset VAR without a default is
  an error.

Output: one line per target (300 bytes at most), healthy lines on stdout,
unhealthy lines on stderr.

Exit codes:
  0   every target is healthy (--install: installed)
  1   a target is unhealthy (its line says why), the wait was stopped by SIGTERM or
      SIGINT, or --install failed
  64  usage or configuration error, a CMD that cannot run, or an --install DIR that
      is missing, not a directory or read-only: nothing was probed

Examples (exec form: no shell, so healthprobe expands ${VAR} itself):
  Dockerfile:
    HEALTHCHECK --interval=10s --timeout=5s \\
      CMD [\"/healthprobe\", \"http://localhost:8080/health\"]
  compose:
    healthcheck:
      test: [\"CMD\", \"/healthprobe\", \"--timeout\", \"2s\", \"tcp://localhost:5432\"]
      timeout: 5s
  Kubernetes exec probe:
    livenessProbe:
      exec:
        command: [\"/healthprobe\", \"http://localhost:${PORT:-8080}/healthz\"]
      timeoutSeconds: 5
  Entrypoint that waits for db (30 s at most), then runs /app in its place:
    [\"/healthprobe\", \"--wait\", \"30s\", \"tcp://db:5432\", \"--\", \"/app\"]
";

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
const DURATION: &str = "a positive duration such as 250ms, 3s, 1.5s or 1m";

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Help,
    Version,
    /// `--install DIR`: copy ourselves into DIR, probe nothing.
    Install(PathBuf),
    Probe(Box<Config>),
}

/// Looks up an environment variable; injected so that tests need no process environment.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// The prefix of every variable of ours.
const PREFIX: &str = "HEALTHPROBE_";

/// The process environment, as `parse` reads it. When no HEALTHPROBE_* variable is set
/// (the usual case), the ~17 lookups of one are answered without a getenv each: together
/// they cost 4% of a probe, more in a container with many variables.
pub fn process_env() -> impl Fn(&str) -> Option<OsString> {
    let configured = sys::environ_has_prefix(PREFIX.as_bytes());
    move |name: &str| {
        if !configured && name.starts_with(PREFIX) {
            return None;
        }
        std::env::var_os(name)
    }
}

pub fn parse(mut args: Vec<OsString>, env: Env) -> Result<Command, Error> {
    // First, so that `-- /app --help` asks /app for help, not us.
    let exec = split_command(&mut args, env)?;
    let mut args = Arguments::from_vec(args);
    if args.contains(["-h", "--help"]) {
        return Ok(Command::Help);
    }
    if args.contains(["-V", "--version"]) {
        return Ok(Command::Version);
    }
    // from_fn rather than from_os_str: only the former knows `--install=DIR`.
    let install = args
        .opt_value_from_fn("--install", |dir| Ok::<_, Infallible>(PathBuf::from(dir)))
        .map_err(|e| argument_error(e, "--install"))?;
    if let Some(dir) = install {
        return install_command(dir, args);
    }
    let mut options = Options { args, env };

    let timeout = options
        .value("--timeout", "HEALTHPROBE_TIMEOUT")?
        .map(|setting| setting.parse(parse_duration, DURATION))
        .transpose()?
        .unwrap_or(DEFAULT_TIMEOUT);
    let connect_timeout = options
        .value("--connect-timeout", "HEALTHPROBE_CONNECT_TIMEOUT")?
        .map(|setting| setting.parse(parse_duration, DURATION))
        .transpose()?
        .unwrap_or(timeout);
    let method = options
        .value("--method", "HEALTHPROBE_METHOD")?
        .map(|setting| setting.parse(parse_method, "an HTTP method such as GET or HEAD"))
        .transpose()?
        .unwrap_or_else(|| "GET".to_string());
    let headers = options
        .values("-H", "--header", "HEALTHPROBE_HEADER")?
        .iter()
        .map(|setting| setting.parse(parse_header, "'Name: value' on one line"))
        .collect::<Result<Vec<_>, _>>()?;
    let status = options
        .value("--status", "HEALTHPROBE_STATUS")?
        .map(|setting| {
            setting.parse(
                StatusSet::parse,
                "status codes 100-599 as 200, 2xx, 200-299 or a comma list of these",
            )
        })
        .transpose()?;
    let body_contains = options
        .value("--body-contains", "HEALTHPROBE_BODY_CONTAINS")?
        .map(|setting| setting.parse(non_empty_line, "some text on one line"))
        .transpose()?;
    let user_agent = options
        .value("--user-agent", "HEALTHPROBE_USER_AGENT")?
        .map(|setting| setting.parse(header_value, "text on one line"))
        .transpose()?
        .unwrap_or_else(|| concat!("healthprobe/", env!("CARGO_PKG_VERSION")).to_string());
    let proxy = options
        .value("--proxy", "HEALTHPROBE_PROXY")?
        .map(|setting| {
            // The error line goes to logs and `docker inspect`: never the password.
            let redacted = Setting {
                text: without_credentials(&setting.text),
                source: setting.source.clone(),
            };
            parse_proxy(&setting.text)
                .ok_or_else(|| redacted.invalid("an http://[USER:PASS@]HOST:PORT proxy URL"))
        })
        .transpose()?;
    let cacert = options.value("--cacert", "HEALTHPROBE_CACERT")?;
    let client_cert = options.value("--cert", "HEALTHPROBE_CERT")?;
    let client_key = options.value("--key", "HEALTHPROBE_KEY")?;
    let insecure = options.flag(["-k", "--insecure"], "HEALTHPROBE_INSECURE")?;
    let wait = options
        .value("--wait", "HEALTHPROBE_WAIT")?
        .map(|setting| setting.parse(parse_duration, DURATION))
        .transpose()?;
    let interval_setting = options.value("--interval", "HEALTHPROBE_INTERVAL")?;
    let interval = interval_setting
        .as_ref()
        .map(|setting| setting.parse(parse_duration, DURATION))
        .transpose()?
        .unwrap_or(DEFAULT_INTERVAL);
    let quiet = options.flag(["-q", "--quiet"], "HEALTHPROBE_QUIET")?;
    let verbose = options.flag(["-v", "--verbose"], "HEALTHPROBE_VERBOSE")?;
    let targets = options.targets()?;

    let hosts = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("host"));
    if hosts.count() > 1 {
        return Err(Error::Conflict(
            "--header gives Host more than once; a request has one Host",
        ));
    }
    if body_contains.is_some() && method == "HEAD" {
        return Err(Error::Conflict(
            "--body-contains needs a body, and a HEAD response has none",
        ));
    }
    #[cfg(feature = "tls")]
    let tls = tls_config(cacert, client_cert, client_key, insecure)?;
    #[cfg(not(feature = "tls"))]
    if let Some(setting) = [cacert, client_cert, client_key]
        .into_iter()
        .flatten()
        .next()
    {
        return Err(Error::NeedsTls(setting.source));
    } else if insecure {
        return Err(Error::NeedsTls("-k/--insecure".to_string()));
    }
    // Only the flag: HEALTHPROBE_INTERVAL may sit in an environment that an entrypoint
    // (with --wait) and a HEALTHCHECK (without) share, and must not break the latter.
    if wait.is_none() && interval_setting.is_some_and(|setting| setting.source == "--interval") {
        return Err(Error::Conflict(
            "--interval needs --wait (or HEALTHPROBE_WAIT): without it there is one attempt",
        ));
    }
    let http = HttpOptions {
        method,
        headers,
        status,
        body_contains,
        user_agent,
        proxy,
        insecure,
        #[cfg(feature = "tls")]
        tls,
    };
    // Each kind's own rule on the options (gRPC's on metadata), in the order of the
    // targets, as the one rule it replaced ran.
    for check in targets.iter().filter_map(|target| target.kind.check) {
        check(&http)?;
    }
    Ok(Command::Probe(Box::new(Config {
        targets,
        timeout,
        connect_timeout,
        http,
        quiet,
        verbose,
        wait,
        interval,
        exec,
    })))
}

/// --cacert, --cert, --key and --insecure, checked together, their files read now so
/// that a bad one is a usage error.
#[cfg(feature = "tls")]
fn tls_config(
    cacert: Option<Setting>,
    client_cert: Option<Setting>,
    client_key: Option<Setting>,
    insecure: bool,
) -> Result<ureq::tls::TlsConfig, Error> {
    use crate::tls::{self, PemFile};
    let file = |setting: Setting| PemFile {
        source: setting.source,
        path: setting.text,
    };
    let client = match (client_cert, client_key) {
        (Some(cert), Some(key)) => Some((file(cert), file(key))),
        (None, None) => None,
        _ => {
            return Err(Error::Conflict(
                "--cert and --key go together: give both or neither",
            ));
        }
    };
    if insecure && cacert.is_some() {
        return Err(Error::Conflict(
            "--insecure turns off the verification that --cacert sets up: give one or the other",
        ));
    }
    tls::config(cacert.map(file), client, insecure)
}

/// Takes `-- CMD [ARGS...]` off the end of the arguments. CMD and ARGS are kept exactly as
/// given (not `${VAR}`-expanded, not UTF-8-checked): they must run as if started directly.
fn split_command(args: &mut Vec<OsString>, env: Env) -> Result<Option<Exec>, Error> {
    let Some(separator) = args.iter().position(|arg| arg == "--") else {
        return Ok(None);
    };
    let mut command = args.split_off(separator).into_iter().skip(1);
    let program = command.next().ok_or(Error::MissingCommand)?;
    Ok(Some(Exec {
        program,
        args: command.collect(),
        search_path: env("PATH"),
    }))
}

/// `--install DIR` stands alone: probe options or targets beside it are a mistake.
fn install_command(dir: PathBuf, args: Arguments) -> Result<Command, Error> {
    if dir.as_os_str().is_empty() {
        return Err(Error::MissingValue("--install".to_string()));
    }
    match args.finish().first() {
        Some(other) => Err(Error::InstallWith(other.to_string_lossy().into_owned())),
        None => Ok(Command::Install(dir)),
    }
}

/// A value and where it came from (a flag or a variable), so errors can name it.
struct Setting {
    source: String,
    text: String,
}

impl Setting {
    /// The same setting with `${VAR}` expanded; errors name where it came from.
    fn expanded(self, env: Env) -> Result<Setting, Error> {
        let text = expand(&self.text, &self.source, env)?;
        Ok(Setting { text, ..self })
    }

    fn parse<T>(
        &self,
        parse: impl Fn(&str) -> Option<T>,
        expected: &'static str,
    ) -> Result<T, Error> {
        parse(&self.text).ok_or_else(|| self.invalid(expected))
    }

    fn invalid(&self, expected: &'static str) -> Error {
        Error::InvalidValue {
            source: self.source.clone(),
            value: self.text.clone(),
            expected,
        }
    }
}

struct Options<'a> {
    args: Arguments,
    env: Env<'a>,
}

impl Options<'_> {
    /// The option from the command line, else from the environment, `${VAR}`-expanded.
    fn value(&mut self, long: &'static str, var: &str) -> Result<Option<Setting>, Error> {
        // The `_fn` forms are the ones that also accept `--timeout=3s`.
        let from_args = self
            .args
            .opt_value_from_fn(long, verbatim)
            .map_err(|e| argument_error(e, long))?;
        let setting = match from_args {
            Some(text) => Some(Setting {
                source: long.to_string(),
                text,
            }),
            None => self.env_var(var)?.map(|text| Setting {
                source: var.to_string(),
                text,
            }),
        };
        setting
            .map(|setting| setting.expanded(self.env))
            .transpose()
    }

    /// A repeatable option; the variable holds one value per line.
    fn values(
        &mut self,
        short: &'static str,
        long: &'static str,
        var: &str,
    ) -> Result<Vec<Setting>, Error> {
        let from_args = self
            .args
            .values_from_fn([short, long], verbatim)
            .map_err(|e| argument_error(e, long))?;
        let settings: Vec<Setting> = if from_args.is_empty() {
            let text = self.env_var(var)?.unwrap_or_default();
            text.lines()
                .filter(|line| !line.trim().is_empty())
                .map(|line| Setting {
                    source: var.to_string(),
                    text: line.to_string(),
                })
                .collect()
        } else {
            from_args
                .into_iter()
                .map(|text| Setting {
                    source: long.to_string(),
                    text,
                })
                .collect()
        };
        settings
            .into_iter()
            .map(|setting| setting.expanded(self.env))
            .collect()
    }

    fn flag(&mut self, keys: [&'static str; 2], var: &str) -> Result<bool, Error> {
        if self.args.contains(keys) {
            return Ok(true);
        }
        let Some(text) = self.env_var(var)? else {
            return Ok(false);
        };
        match text.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "" | "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(Error::InvalidValue {
                source: var.to_string(),
                value: text,
                expected: "1, true, yes, on, or 0, false, no, off",
            }),
        }
    }

    /// Targets from the command line, else from HEALTHPROBE_TARGETS; anything left that
    /// looks like an option is an error rather than a target.
    fn targets(self) -> Result<Vec<Target>, Error> {
        const VAR: &str = "HEALTHPROBE_TARGETS";
        let env = self.env;
        let mut texts = Vec::new();
        for arg in self.args.finish() {
            let Some(text) = arg.to_str() else {
                return Err(Error::InvalidTarget {
                    target: arg.to_string_lossy().into_owned(),
                    reason: "not valid UTF-8".to_string(),
                });
            };
            if text.starts_with('-') && text.len() > 1 {
                return Err(Error::UnknownOption(text.to_string()));
            }
            // The error's wording (format!) only where there is something to expand.
            texts.push(match text.contains('$') {
                true => expand_target(text, &format!("target '{text}'"), env)?,
                false => text.to_string(),
            });
        }
        if texts.is_empty() {
            let listed = env_var(env, VAR)?.unwrap_or_default();
            let listed = expand_target(&listed, VAR, env)?;
            texts = listed.split_whitespace().map(str::to_string).collect();
        }
        if texts.is_empty() {
            return Err(Error::NoTargets);
        }
        texts.iter().map(|text| Target::parse(text)).collect()
    }

    fn env_var(&self, name: &str) -> Result<Option<String>, Error> {
        env_var(self.env, name)
    }
}

fn env_var(env: Env, name: &str) -> Result<Option<String>, Error> {
    match env(name) {
        None => Ok(None),
        Some(value) => match value.into_string() {
            Ok(text) => Ok(Some(text)),
            Err(value) => Err(Error::InvalidValue {
                source: name.to_string(),
                value: value.to_string_lossy().into_owned(),
                expected: "valid UTF-8",
            }),
        },
    }
}

fn verbatim(value: &str) -> Result<String, Infallible> {
    Ok(value.to_string())
}

fn argument_error(e: pico_args::Error, option: &str) -> Error {
    match e {
        pico_args::Error::OptionWithoutAValue(_) => Error::MissingValue(option.to_string()),
        _ => Error::InvalidValue {
            source: option.to_string(),
            value: String::new(),
            expected: "valid UTF-8",
        },
    }
}

/// Expands targets; an error shows them with any password masked.
fn expand_target(text: &str, source: &str, env: Env) -> Result<String, Error> {
    expand(text, source, env).map_err(|error| match error {
        Error::InvalidValue {
            source,
            value,
            expected,
        } => Error::InvalidValue {
            source: redact(&source),
            value: redact(&value),
            expected,
        },
        Error::UnsetVariable { name, source } => Error::UnsetVariable {
            name,
            source: redact(&source),
        },
        error => error,
    })
}

/// Expands `${NAME}` and `${NAME:-default}` (the default also when NAME is empty, as in
/// a shell) and turns `$$` into `$`. Any other `$` stays as it is.
pub fn expand(text: &str, source: &str, env: Env) -> Result<String, Error> {
    let malformed = || Error::InvalidValue {
        source: source.to_string(),
        value: text.to_string(),
        expected: "${NAME} or ${NAME:-default}, NAME of letters, digits and '_'",
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(after) = after.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(inner) = after.strip_prefix('{') {
            let close = inner.find('}').ok_or_else(malformed)?;
            let (name, default) = match inner[..close].split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (&inner[..close], None),
            };
            let valid_name = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid_name {
                return Err(malformed());
            }
            match (env_var(env, name)?, default) {
                (Some(value), Some(default)) if value.is_empty() => out.push_str(default),
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => {
                    return Err(Error::UnsetVariable {
                        name: name.to_string(),
                        source: source.to_string(),
                    });
                }
            }
            rest = &inner[close + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// `250ms`, `3s`, `1.5s`, `1m`, or a bare number of seconds; positive and at most a day.
/// Integer arithmetic, to the nanosecond: parsing floats would add ~15 KB to the binary.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let unit_start = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(unit_start);
    let nanos_per_unit: u128 = match unit {
        "" | "s" => 1_000_000_000,
        "ms" => 1_000_000,
        "m" => 60_000_000_000,
        _ => return None,
    };
    // Digits with at most one dot: this rules out "nan", "inf", "-1" and "1e3".
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + fraction.len() == 0 || !digits(whole) || !digits(fraction) {
        return None;
    }
    // Beyond a nanosecond of a minute (11 places) a fraction changes nothing.
    let fraction = &fraction[..fraction.len().min(12)];
    let value = |part: &str| {
        if part.is_empty() {
            Some(0)
        } else {
            part.parse::<u128>().ok()
        }
    };
    let scale = 10u128.pow(fraction.len() as u32);
    let nanos = value(whole)?
        .checked_mul(nanos_per_unit)?
        .checked_add(value(fraction)? * nanos_per_unit / scale)?;
    let duration = Duration::from_nanos(u64::try_from(nanos).ok()?);
    (!duration.is_zero() && duration <= Duration::from_secs(24 * 60 * 60)).then_some(duration)
}

/// Any RFC 9110 token: methods are case-sensitive, so GET and get differ.
fn parse_method(text: &str) -> Option<String> {
    is_token(text).then(|| text.to_string())
}

fn parse_header(text: &str) -> Option<(String, String)> {
    let (name, value) = text.split_once(':')?;
    let value = header_value(value.trim())?;
    is_token(name).then(|| (name.to_string(), value))
}

/// A header value: no CR, LF or other control character that could split the request.
fn header_value(text: &str) -> Option<String> {
    (!text.chars().any(|c| c.is_control() && c != '\t')).then(|| text.to_string())
}

fn non_empty_line(text: &str) -> Option<String> {
    header_value(text).filter(|text| !text.is_empty())
}

fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `scheme://***@host:port` for `scheme://user:password@host:port`.
fn without_credentials(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{}", &rest[authority_end..]),
        None => url.to_string(),
    }
}

/// Only plain HTTP proxies (tunnelled with CONNECT): SOCKS is not built in.
fn parse_proxy(text: &str) -> Option<ureq::Proxy> {
    let proxy = ureq::Proxy::new(text).ok()?;
    (proxy.protocol() == ureq::ProxyProtocol::Http).then_some(proxy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<OsString> {
        match name {
            "PORT" => Some("8080".into()),
            "EMPTY" => Some("".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_variables_defaults_and_dollars() {
        let expanded = |text| expand(text, "test", &env);
        assert_eq!(expanded("a${PORT}b").unwrap(), "a8080b");
        assert_eq!(expanded("${NOPE:-9}").unwrap(), "9");
        assert_eq!(expanded("${EMPTY:-x}").unwrap(), "x");
        assert_eq!(expanded("${EMPTY}").unwrap(), "");
        assert_eq!(expanded("$$PORT and $5").unwrap(), "$PORT and $5");
        assert!(matches!(
            expanded("${NOPE}"),
            Err(Error::UnsetVariable { .. })
        ));
        assert!(matches!(
            expanded("${PORT"),
            Err(Error::InvalidValue { .. })
        ));
        assert!(matches!(expanded("${1X}"), Err(Error::InvalidValue { .. })));
    }

    #[test]
    fn parses_durations() {
        let ms = |text| parse_duration(text).map(|d| d.as_millis());
        assert_eq!(ms("250ms"), Some(250));
        assert_eq!(ms("3s"), Some(3000));
        assert_eq!(ms("1.5s"), Some(1500));
        assert_eq!(ms("1m"), Some(60_000));
        assert_eq!(ms("2"), Some(2000));
        assert_eq!(ms(".5"), Some(500));
        assert_eq!(ms("0.25m"), Some(15_000));
        assert_eq!(ms("1.0005s"), Some(1000));
        assert_eq!(ms("86400"), Some(86_400_000));
        assert_eq!(ms("99999999999999999999999999999999999999999"), None);
        for bad in [
            "0",
            "0s",
            "-1s",
            "nan",
            "inf",
            "1e3",
            "",
            "s",
            ".",
            "1.2.3s",
            "3h",
            "1000000",
            "86401",
            "0.0000000001s",
        ] {
            assert_eq!(ms(bad), None, "{bad}");
        }
    }
}
