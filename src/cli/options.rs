//! Where each value comes from: the flag, else its HEALTHPROBE_* variable, `${VAR}`-expanded,
//! remembered with its source so that an error names the flag or the variable.

use std::convert::Infallible;
use std::time::Duration;

use pico_args::Arguments;

use super::Env;
use super::values::{
    Bare, DurationError, bare_too_large, env_var, expand, expand_target, header_name,
    parse_duration, without_credentials,
};
use crate::error::Error;
use crate::target::{Syntax, Target, redact};

/// One option: its flags, its variable, and the schemes of the targets it means something
/// to (empty: every kind). This table drives parsing, the environment fallback, the
/// nearest-name suggestions and the "applies to none of the targets" check.
#[derive(Debug)]
pub struct Spec {
    pub long: &'static str,
    pub short: Option<&'static str>,
    /// Empty for the options that have no variable (--install, --help, --version).
    pub var: &'static str,
    pub schemes: &'static [&'static str],
}

const fn spec(
    long: &'static str,
    short: Option<&'static str>,
    var: &'static str,
    schemes: &'static [&'static str],
) -> Spec {
    Spec {
        long,
        short,
        var,
        schemes,
    }
}

const EVERY: &[&str] = &[];
const HTTP: &[&str] = &["http", "https"];
const HTTP_FCGI: &[&str] = &["http", "https", "fcgi"];
const HTTP_GRPC: &[&str] = &["http", "https", "grpc", "grpcs"];
const TLS: &[&str] = &["https", "grpcs"];

// `-t`: the short form that microcheck and wait4x users type.
pub const TIMEOUT: Spec = spec("--timeout", Some("-t"), "HEALTHPROBE_TIMEOUT", EVERY);
pub const CONNECT_TIMEOUT: Spec = spec(
    "--connect-timeout",
    None,
    "HEALTHPROBE_CONNECT_TIMEOUT",
    EVERY,
);
pub const METHOD: Spec = spec("--method", None, "HEALTHPROBE_METHOD", HTTP);
pub const HEADER: Spec = spec("--header", Some("-H"), "HEALTHPROBE_HEADER", HTTP_GRPC);
pub const STATUS: Spec = spec("--status", None, "HEALTHPROBE_STATUS", HTTP_FCGI);
pub const BODY_CONTAINS: Spec = spec(
    "--body-contains",
    None,
    "HEALTHPROBE_BODY_CONTAINS",
    HTTP_FCGI,
);
pub const JSON: Spec = spec("--json", None, "HEALTHPROBE_JSON", HTTP);
pub const UNIX_SOCKET: Spec = spec("--unix-socket", None, "HEALTHPROBE_UNIX_SOCKET", HTTP_GRPC);
pub const USER_AGENT: Spec = spec("--user-agent", None, "HEALTHPROBE_USER_AGENT", HTTP_GRPC);
pub const PROXY: Spec = spec("--proxy", None, "HEALTHPROBE_PROXY", HTTP);
pub const CACERT: Spec = spec("--cacert", None, "HEALTHPROBE_CACERT", TLS);
pub const CERT: Spec = spec("--cert", None, "HEALTHPROBE_CERT", TLS);
pub const KEY: Spec = spec("--key", None, "HEALTHPROBE_KEY", TLS);
pub const INSECURE: Spec = spec("--insecure", Some("-k"), "HEALTHPROBE_INSECURE", TLS);
pub const WAIT: Spec = spec("--wait", None, "HEALTHPROBE_WAIT", EVERY);
pub const INTERVAL: Spec = spec("--interval", None, "HEALTHPROBE_INTERVAL", EVERY);
pub const QUIET: Spec = spec("--quiet", Some("-q"), "HEALTHPROBE_QUIET", EVERY);
pub const VERBOSE: Spec = spec("--verbose", Some("-v"), "HEALTHPROBE_VERBOSE", EVERY);
pub const TARGETS: Spec = spec("", None, "HEALTHPROBE_TARGETS", EVERY);
pub const INSTALL: Spec = spec("--install", None, "", EVERY);
pub const HELP: Spec = spec("--help", Some("-h"), "", EVERY);
pub const VERSION: Spec = spec("--version", Some("-V"), "", EVERY);

/// Every option, and HEALTHPROBE_TARGETS.
pub static OPTIONS: &[&Spec] = &[
    &TIMEOUT,
    &CONNECT_TIMEOUT,
    &METHOD,
    &HEADER,
    &STATUS,
    &BODY_CONTAINS,
    &JSON,
    &UNIX_SOCKET,
    &USER_AGENT,
    &PROXY,
    &CACERT,
    &CERT,
    &KEY,
    &INSECURE,
    &WAIT,
    &INTERVAL,
    &QUIET,
    &VERBOSE,
    &TARGETS,
    &INSTALL,
    &HELP,
    &VERSION,
];

impl Spec {
    pub fn keys(&self) -> pico_args::Keys {
        match self.short {
            Some(short) => [short, self.long].into(),
            None => self.long.into(),
        }
    }

    /// Whether a target of this scheme uses the option.
    pub fn applies_to(&self, scheme: &str) -> bool {
        self.schemes.is_empty() || self.schemes.contains(&scheme)
    }
}

/// The name among `names` nearest to `typed`: at most two edits away (a letter left out,
/// added, changed or two swapped), so that a stray word gets no far-fetched suggestion.
pub fn nearest<'a>(typed: &str, names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    names
        .filter(|name| !name.is_empty())
        .map(|name| (edits(typed, name), name))
        .filter(|&(distance, _)| distance <= 2)
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, name)| name)
}

/// The optimal string alignment distance (Levenshtein with adjacent swaps), on bytes.
fn edits(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut rows = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    rows[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

/// A leftover argument that looks like an option: one of ours given again, or a typo.
fn leftover_option(text: &str) -> Error {
    let name = text.split('=').next().unwrap_or(text);
    let known = OPTIONS
        .iter()
        .any(|spec| spec.long == name || spec.short == Some(name));
    if known {
        return Error::RepeatedOption(name.to_string());
    }
    Error::UnknownOption {
        option: text.to_string(),
        nearest: nearest(name, OPTIONS.iter().map(|spec| spec.long)),
    }
}

/// HEALTHPROBE_* is our prefix: a variable of it that we do not know is a typo, never to
/// be ignored. `present` are the names of those set, non-empty (empty means unset).
pub fn check_variables(present: &[String]) -> Result<(), Error> {
    let known = |name: &str| OPTIONS.iter().any(|spec| spec.var == name);
    match present.iter().find(|name| !known(name)) {
        Some(name) => Err(Error::UnknownVariable {
            name: name.clone(),
            nearest: nearest(name, OPTIONS.iter().map(|spec| spec.var)),
        }),
        None => Ok(()),
    }
}

const DURATION: &str = "a positive duration such as 250ms, 3s, 1.5s, 1m30s or 1h";

/// A value and where it came from (a flag or a variable), so errors can name it.
pub struct Setting {
    pub source: String,
    /// The value, `${VAR}`-expanded once `expanded` has run.
    pub text: String,
    /// The value as an error quotes it: as written (before expansion, never what a
    /// variable held), and for some options less (a header's name alone, a proxy's
    /// userinfo masked).
    pub quoted: String,
}

impl Setting {
    /// `text` as written for `spec`, from `source`.
    pub fn new(spec: &Spec, source: &str, text: String) -> Setting {
        let quoted = match spec.long {
            long if long == HEADER.long => header_name(&text),
            long if long == PROXY.long => without_credentials(&text),
            _ => text.clone(),
        };
        Setting {
            source: source.to_string(),
            text,
            quoted,
        }
    }

    /// The same setting with `${VAR}` expanded; errors name where it came from and
    /// quote it as `quoted`.
    pub fn expanded(self, env: Env) -> Result<Setting, Error> {
        let text = expand(&self.text, &self.source, env).map_err(|error| match error {
            Error::InvalidValue {
                source, expected, ..
            } => Error::InvalidValue {
                source,
                value: self.quoted.clone(),
                expected,
            },
            error => error,
        })?;
        Ok(Setting { text, ..self })
    }

    pub fn parse<T>(
        &self,
        parse: impl Fn(&str) -> Option<T>,
        expected: &'static str,
    ) -> Result<T, Error> {
        parse(&self.text).ok_or_else(|| self.invalid(expected))
    }

    /// A duration; `bare` says how a number alone is taken.
    pub fn duration(&self, bare: Bare) -> Result<Duration, Error> {
        if let Some((millis, seconds)) = bare_too_large(&self.text, bare) {
            return Err(Error::BareSeconds {
                source: self.source.clone(),
                value: self.text.trim().to_string(),
                millis,
                seconds,
            });
        }
        parse_duration(&self.text).map_err(|error| match error {
            DurationError::Invalid => self.invalid(DURATION),
            DurationError::TooLong => self.invalid("at most 24h (a day)"),
        })
    }

    pub fn invalid(&self, expected: &'static str) -> Error {
        Error::InvalidValue {
            source: self.source.clone(),
            value: self.quoted.clone(),
            expected,
        }
    }
}

pub struct Options<'a> {
    pub args: Arguments,
    pub env: Env<'a>,
    /// The options given on the command line (not from a variable), for the check that
    /// each applies to some target.
    pub given: Vec<&'static Spec>,
    /// What the arguments that start with '-' name (before any '='): an option none of
    /// them names is not looked up in the arguments, which costs ~150 instructions an
    /// option, for the ~20 options that a probe usually does not give.
    pub named: Vec<String>,
}

impl Options<'_> {
    /// Whether an argument may be `spec` (an argument that is a value starting with '-'
    /// only costs a lookup).
    fn named(&self, spec: &Spec) -> bool {
        self.named
            .iter()
            .any(|name| name == spec.long || spec.short == Some(name.as_str()))
    }

    /// The option from the command line, else from its variable, `${VAR}`-expanded.
    pub fn value(&mut self, spec: &'static Spec) -> Result<Option<Setting>, Error> {
        // The `_fn` forms are the ones that also accept `--timeout=3s`.
        let from_args = match self.named(spec) {
            true => self
                .args
                .opt_value_from_fn(spec.keys(), verbatim)
                .map_err(|e| argument_error(e, spec.long))?,
            false => None,
        };
        let setting = match from_args {
            Some(text) => {
                self.given.push(spec);
                Some(Setting::new(spec, spec.long, text))
            }
            None => self
                .env_var(spec.var)?
                .map(|text| Setting::new(spec, spec.var, text)),
        };
        setting
            .map(|setting| setting.expanded(self.env))
            .transpose()
    }

    /// A repeatable option; the variable holds one value per line.
    pub fn values(&mut self, spec: &'static Spec) -> Result<Vec<Setting>, Error> {
        let from_args = match self.named(spec) {
            true => self
                .args
                .values_from_fn(spec.keys(), verbatim)
                .map_err(|e| argument_error(e, spec.long))?,
            false => Vec::new(),
        };
        let settings: Vec<Setting> = if from_args.is_empty() {
            let text = self.env_var(spec.var)?.unwrap_or_default();
            text.lines()
                .filter(|line| !line.trim().is_empty())
                .map(|line| Setting::new(spec, spec.var, line.to_string()))
                .collect()
        } else {
            self.given.push(spec);
            from_args
                .into_iter()
                .map(|text| Setting::new(spec, spec.long, text))
                .collect()
        };
        settings
            .into_iter()
            .map(|setting| setting.expanded(self.env))
            .collect()
    }

    pub fn flag(&mut self, spec: &'static Spec) -> Result<bool, Error> {
        if self.named(spec) && self.args.contains(spec.keys()) {
            self.given.push(spec);
            return Ok(true);
        }
        let Some(text) = self.env_var(spec.var)? else {
            return Ok(false);
        };
        match text.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "" | "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(Error::InvalidValue {
                source: spec.var.to_string(),
                value: text,
                expected: "1, true, yes, on, or 0, false, no, off",
            }),
        }
    }

    /// Targets from the command line, else from HEALTHPROBE_TARGETS; anything left that
    /// looks like an option is an error rather than a target.
    pub fn targets(self, kinds: &[impl AsRef<Syntax>]) -> Result<Vec<Target>, Error> {
        let env = self.env;
        // Each target as written, then expanded: errors quote the former.
        let mut written = Vec::new();
        for arg in self.args.finish() {
            let Some(text) = arg.to_str() else {
                return Err(Error::InvalidTarget {
                    target: redact(&arg.to_string_lossy(), kinds),
                    reason: "not valid UTF-8".to_string(),
                });
            };
            if text.starts_with('-') && text.len() > 1 {
                return Err(leftover_option(text));
            }
            let source = format!("target '{}'", redact(text, kinds));
            written.push((text.to_string(), source));
        }
        if written.is_empty() {
            // Split before expansion: a value with a space (a password) stays one target.
            let listed = setting_var(env, TARGETS.var)?.unwrap_or_default();
            written = listed
                .split_whitespace()
                .map(|text| (text.to_string(), TARGETS.var.to_string()))
                .collect();
        }
        if written.is_empty() {
            return Err(Error::NoTargets);
        }
        written
            .iter()
            .map(|(written, source)| {
                // The error's wording only where there is something to expand.
                let text = match written.contains('$') {
                    true => expand_target(written, source, env, kinds)?,
                    false => written.clone(),
                };
                joined_targets(&text, written, kinds)?;
                Target::parse_written(&text, written, kinds)
            })
            .collect()
    }

    pub fn env_var(&self, name: &str) -> Result<Option<String>, Error> {
        setting_var(self.env, name)
    }
}

/// A HEALTHPROBE_* variable; empty means unset, as `${VAR:-default}` reads it and as
/// `ENV HEALTHPROBE_TIMEOUT=""` clears a base image's setting.
fn setting_var(env: Env, name: &str) -> Result<Option<String>, Error> {
    Ok(env_var(env, name)?.filter(|text| !text.is_empty()))
}

/// `http://a/health,tcp://b:1` is two targets run together, not one URL with a comma:
/// never probe something other than what was meant.
fn joined_targets(text: &str, written: &str, kinds: &[impl AsRef<Syntax>]) -> Result<(), Error> {
    if !text.contains(',') {
        return Ok(());
    }
    let lowercase = text.to_ascii_lowercase();
    let schemes = kinds.iter().flat_map(|kind| {
        let syntax = kind.as_ref();
        let tls = syntax.tls.map(|tls| tls.scheme);
        syntax.schemes.iter().copied().chain(tls)
    });
    for scheme in schemes {
        let joint = [",", scheme, "://"].concat();
        if lowercase.contains(&joint) {
            return Err(Error::InvalidTarget {
                target: redact(written, kinds),
                reason: format!("holds '{joint}': separate targets with spaces, not commas"),
            });
        }
    }
    Ok(())
}

fn verbatim(value: &str) -> Result<String, Infallible> {
    Ok(value.to_string())
}

pub fn argument_error(e: pico_args::Error, option: &str) -> Error {
    match e {
        pico_args::Error::OptionWithoutAValue(_) => Error::MissingValue(option.to_string()),
        _ => Error::InvalidValue {
            source: option.to_string(),
            value: String::new(),
            expected: "valid UTF-8",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_and_variable_is_in_the_help() {
        for spec in OPTIONS {
            for name in [spec.long, spec.var].into_iter().chain(spec.short) {
                assert!(
                    name.is_empty() || super::super::HELP.contains(name),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn typos_get_the_nearest_name_and_strays_none() {
        let longs = || OPTIONS.iter().map(|spec| spec.long);
        assert_eq!(nearest("--timout", longs()), Some("--timeout"));
        assert_eq!(nearest("--tiemout", longs()), Some("--timeout"));
        assert_eq!(nearest("--body-contain", longs()), Some("--body-contains"));
        assert_eq!(nearest("--headers", longs()), Some("--header"));
        assert_eq!(nearest("--frobnicate", longs()), None);
        let vars = || OPTIONS.iter().map(|spec| spec.var);
        assert_eq!(
            nearest("HEALTHPROBE_TIMOUT", vars()),
            Some("HEALTHPROBE_TIMEOUT")
        );
        assert_eq!(
            nearest("HEALTHPROBE_TARGET", vars()),
            Some("HEALTHPROBE_TARGETS")
        );
        assert_eq!(nearest("HEALTHPROBE_IMAGE", vars()), None);
    }
}
