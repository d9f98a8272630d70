//! The command line and its environment fallbacks: arguments + environment -> Config.
//! This is the only module that sees argv or the environment.

use std::ffi::{OsStr, OsString};
use std::time::Duration;

use pico_args::Arguments;

use crate::error::Error;
use crate::probe::http::{HttpOptions, StatusSet};
use crate::target::Target;

pub const HELP: &str = "\
healthprobe: is this service healthy? Probes each TARGET under one hard deadline,
prints one line per target saying why, and exits 0 (healthy) or 1 (unhealthy).

Usage: healthprobe [OPTIONS] TARGET...

Targets (several: all must be healthy; they are probed at the same time):
  http://HOST[:PORT][/PATH][?QUERY]  healthy iff the status is in --status; redirects
                                     to the same host and port are followed (10 at most)
  tcp://HOST:PORT                    healthy iff a connection is established
  HOST is a name, an IPv4 address or a bracketed IPv6 address ([::1]).
  localhost means 127.0.0.1 and ::1, without asking any resolver.

Options (each also read from the variable in brackets; the command line wins):
      --timeout DUR          deadline for everything [HEALTHPROBE_TIMEOUT, default 3s]
      --connect-timeout DUR  deadline for resolving and connecting
                             [HEALTHPROBE_CONNECT_TIMEOUT, default: the --timeout]
      --method M             HTTP method [HEALTHPROBE_METHOD, default GET]
  -H, --header 'NAME: VALUE' extra request header, repeatable; may replace Host
                             [HEALTHPROBE_HEADER, one header per line]
      --status LIST          healthy statuses, e.g. 200, 2xx, 200-299, 200-299,401
                             [HEALTHPROBE_STATUS, default 200-399]
      --body-contains TEXT   also require TEXT in the first 10 KiB of the body
                             [HEALTHPROBE_BODY_CONTAINS]
      --user-agent TEXT      [HEALTHPROBE_USER_AGENT, default healthprobe/VERSION]
      --proxy URL            send HTTP through this proxy; HTTP_PROXY, HTTPS_PROXY and
                             ALL_PROXY are ignored [HEALTHPROBE_PROXY]
  -q, --quiet                print nothing when healthy [HEALTHPROBE_QUIET=1]
  -v, --verbose              also print addresses and timings to stderr
                             [HEALTHPROBE_VERBOSE=1]
  -h, --help                 print this help
  -V, --version              print the version
  Targets also come from HEALTHPROBE_TARGETS (space-separated) when none are given.
  DUR is 250ms, 3s, 1.5s, 1m, or a number of seconds.
  ${VAR} and ${VAR:-default} are expanded in targets and values ($$ is a $), because
  exec-form HEALTHCHECKs have no shell to do it; an unset VAR without default is an error.

Exit codes: 0 every target healthy, 1 any target unhealthy, 64 usage error.
Healthy lines go to stdout, unhealthy lines and errors to stderr.

Examples:
  Dockerfile: HEALTHCHECK --interval=10s --timeout=5s CMD [\"/healthprobe\", \"http://localhost:8080/health\"]
  compose:    healthcheck: {test: [\"CMD\", \"/healthprobe\", \"tcp://localhost:5432\"], timeout: 5s}
  Kubernetes: livenessProbe: {exec: {command: [\"/healthprobe\", \"--timeout\", \"2s\",
              \"http://localhost:${PORT}/healthz\"]}, timeoutSeconds: 3}
";

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
const DURATION: &str = "a positive duration such as 250ms, 3s, 1.5s or 1m";

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Help,
    Version,
    Probe(Box<Config>),
}

/// Everything a run needs, validated.
#[derive(Debug)]
pub struct Config {
    pub targets: Vec<Target>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub http: HttpOptions,
    pub quiet: bool,
    pub verbose: bool,
}

/// Looks up an environment variable; injected so that tests need no process environment.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<OsString>;

pub fn parse(args: Vec<OsString>, env: Env) -> Result<Command, Error> {
    let mut args = Arguments::from_vec(args);
    if args.contains(["-h", "--help"]) {
        return Ok(Command::Help);
    }
    if args.contains(["-V", "--version"]) {
        return Ok(Command::Version);
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
        .map(|setting| setting.parse(parse_proxy, "an http://HOST:PORT proxy URL"))
        .transpose()?;
    let quiet = options.flag(["-q", "--quiet"], "HEALTHPROBE_QUIET")?;
    let verbose = options.flag(["-v", "--verbose"], "HEALTHPROBE_VERBOSE")?;
    let targets = options.targets()?;

    if body_contains.is_some() && method == "HEAD" {
        return Err(Error::Conflict(
            "--body-contains needs a body, and a HEAD response has none",
        ));
    }
    Ok(Command::Probe(Box::new(Config {
        targets,
        timeout,
        connect_timeout,
        http: HttpOptions {
            method,
            headers,
            status,
            body_contains,
            user_agent,
            proxy,
        },
        quiet,
        verbose,
    })))
}

/// A value and where it came from (a flag or a variable), so errors can name it.
struct Setting {
    source: String,
    text: String,
}

impl Setting {
    fn parse<T>(
        &self,
        parse: impl Fn(&str) -> Option<T>,
        expected: &'static str,
    ) -> Result<T, Error> {
        parse(&self.text).ok_or_else(|| Error::InvalidValue {
            source: self.source.clone(),
            value: self.text.clone(),
            expected,
        })
    }
}

struct Options<'a> {
    args: Arguments,
    env: Env<'a>,
}

impl Options<'_> {
    /// The option from the command line, else from the environment, `${VAR}`-expanded.
    fn value(&mut self, long: &'static str, var: &str) -> Result<Option<Setting>, Error> {
        let from_args = self
            .args
            .opt_value_from_os_str(long, |value| utf8(value).map(str::to_string))
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
            .map(|setting| {
                let text = expand(&setting.text, &setting.source, self.env)?;
                Ok(Setting { text, ..setting })
            })
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
            .values_from_os_str([short, long], |value| utf8(value).map(str::to_string))
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
            .map(|setting| {
                let text = expand(&setting.text, &setting.source, self.env)?;
                Ok(Setting { text, ..setting })
            })
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
            texts.push(expand(text, text, env)?);
        }
        if texts.is_empty() {
            let listed = env_var(env, VAR)?.unwrap_or_default();
            let listed = expand(&listed, VAR, env)?;
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

fn utf8(value: &OsStr) -> Result<&str, &'static str> {
    value.to_str().ok_or("not valid UTF-8")
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
