//! The values of options and variables: ${VAR} expansion and each value's parser.

use std::time::Duration;

use super::Env;
use crate::error::Error;
use crate::target::{Syntax, redact};

/// A variable's value; one that is not UTF-8 is named in the error, never shown.
pub fn env_var(env: Env, name: &str) -> Result<Option<String>, Error> {
    match env(name) {
        None => Ok(None),
        Some(value) => match value.into_string() {
            Ok(text) => Ok(Some(text)),
            Err(_) => Err(Error::NotUtf8(name.to_string())),
        },
    }
}

/// Expands a target; an error quotes it as written, with its userinfo masked (`source`
/// is masked already).
pub fn expand_target(
    text: &str,
    source: &str,
    env: Env,
    kinds: &[impl AsRef<Syntax>],
) -> Result<String, Error> {
    expand(text, source, env).map_err(|error| match error {
        Error::InvalidValue {
            source,
            value,
            expected,
        } => Error::InvalidValue {
            source,
            value: redact(&value, kinds),
            expected,
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

/// The longest duration taken: a day.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// Why a duration is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum DurationError {
    Invalid,
    TooLong,
}

/// `250ms`, `3s`, `1.5s`, `1m30s`, `1h` (Go's and Docker's forms: a sequence of numbers,
/// each with a unit of ns, us, ms, s, m or h), or a bare number of seconds; positive and
/// at most a day. Integer arithmetic, to the nanosecond: parsing floats would add ~15 KB.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    let is_number = |b: u8| b.is_ascii_digit() || b == b'.';
    if !text.is_empty() && text.bytes().all(is_number) {
        return within_limits(nanos(text, NANOS_PER_SECOND)?);
    }
    let mut total: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let unit_start = rest.bytes().position(|b| !is_number(b)).unwrap_or(0);
        let unit_end = rest[unit_start..]
            .bytes()
            .position(is_number)
            .map_or(rest.len(), |at| unit_start + at);
        let nanos_per_unit: u128 = match &rest[unit_start..unit_end] {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SECOND,
            "m" => 60 * NANOS_PER_SECOND,
            "h" => 3600 * NANOS_PER_SECOND,
            _ => return Err(DurationError::Invalid),
        };
        let part = nanos(&rest[..unit_start], nanos_per_unit)?;
        total = total.checked_add(part).ok_or(DurationError::TooLong)?;
        rest = &rest[unit_end..];
    }
    within_limits(total)
}

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// `number` (digits with at most one dot) of a unit of `nanos_per_unit`, in nanoseconds.
fn nanos(number: &str, nanos_per_unit: u128) -> Result<u128, DurationError> {
    // Digits with at most one dot: this rules out "nan", "inf", "-1" and "1e3".
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + fraction.len() == 0 || !digits(whole) || !digits(fraction) {
        return Err(DurationError::Invalid);
    }
    // Beyond a nanosecond of an hour (13 places) a fraction changes nothing.
    let fraction = &fraction[..fraction.len().min(13)];
    // Only digits are left, so a number that does not parse is too long.
    let value = |part: &str| match part {
        "" => Ok(0),
        part => part.parse::<u128>().map_err(|_| DurationError::TooLong),
    };
    let scale = 10u128.pow(fraction.len() as u32);
    value(whole)?
        .checked_mul(nanos_per_unit)
        .and_then(|whole| whole.checked_add(value(fraction).ok()? * nanos_per_unit / scale))
        .ok_or(DurationError::TooLong)
}

fn within_limits(nanos: u128) -> Result<Duration, DurationError> {
    match u64::try_from(nanos).map(Duration::from_nanos) {
        Ok(duration) if duration.is_zero() => Err(DurationError::Invalid),
        Ok(duration) if duration <= MAX_DURATION => Ok(duration),
        _ => Err(DurationError::TooLong),
    }
}

/// How a bare number (seconds) is taken.
#[derive(Debug, Clone, Copy)]
pub enum Bare {
    Seconds,
    /// Seconds, but not more than BARE_MAX: `--timeout 5000` is meant as milliseconds far
    /// more often than as 83 minutes, which Docker's own timeout would cut short anyway.
    Checked,
}

/// The most seconds a bare number given to --timeout or --connect-timeout may mean.
pub const BARE_MAX: u64 = 600;

/// `text` is a number alone above BARE_MAX: as it would be written in milliseconds and
/// in seconds, for the error's suggestion ("5000ms", "5s").
pub fn bare_too_large(text: &str, bare: Bare) -> Option<(String, String)> {
    let text = text.trim();
    let seconds: u64 = text.parse().ok()?;
    if matches!(bare, Bare::Seconds) || seconds <= BARE_MAX {
        return None;
    }
    let whole = seconds / 1000;
    let fraction = format!("{:03}", seconds % 1000);
    let fraction = fraction.trim_end_matches('0');
    let in_seconds = match fraction {
        "" => format!("{whole}s"),
        fraction => format!("{whole}.{fraction}s"),
    };
    Some((format!("{seconds}ms"), in_seconds))
}

/// Any RFC 9110 token: methods are case-sensitive, so GET and get differ.
pub fn parse_method(text: &str) -> Option<String> {
    is_token(text).then(|| text.to_string())
}

pub fn parse_header(text: &str) -> Option<(String, String)> {
    let (name, value) = text.split_once(':')?;
    let value = header_value(value.trim())?;
    is_token(name).then(|| (name.to_string(), value))
}

/// A header value: no CR, LF or other control character that could split the request.
pub fn header_value(text: &str) -> Option<String> {
    (!text.chars().any(|c| c.is_control() && c != '\t')).then(|| text.to_string())
}

pub fn non_empty_line(text: &str) -> Option<String> {
    header_value(text).filter(|text| !text.is_empty())
}

fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `scheme://***@host:port` for `scheme://user:password@host:port`: all the userinfo,
/// to the last '@', whatever it holds ('/', '?', '#').
pub fn without_credentials(url: &str) -> String {
    let Some(at) = url.rfind('@') else {
        return url.to_string();
    };
    let start = url.find("://").map_or(0, |at| at + 3).min(at);
    [&url[..start], "***", &url[at..]].concat()
}

/// A header as an error may quote it: its name alone, never its value (a token).
pub fn header_name(text: &str) -> String {
    if let Some((name, _)) = text.split_once(':') {
        return [name, ": ..."].concat();
    }
    match text.split_once(char::is_whitespace) {
        Some((name, _)) => [name, " ..."].concat(),
        None => text.to_string(),
    }
}

/// Only plain HTTP proxies (tunnelled with CONNECT): SOCKS is not built in.
pub fn parse_proxy(text: &str) -> Option<ureq::Proxy> {
    // A '/', '?' or '#' before the last '@' would end the authority early, and the
    // password would be read as the host (and quoted in every error about it).
    let after_scheme = text.find("://").map_or(0, |at| at + 3);
    if let Some(at) = text.rfind('@') {
        if text[after_scheme.min(at)..at].contains(['/', '?', '#']) {
            return None;
        }
    }
    let proxy = ureq::Proxy::new(text).ok()?;
    (proxy.protocol() == ureq::ProxyProtocol::Http).then_some(proxy)
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

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
        assert_eq!(ms("250ms"), Ok(250));
        assert_eq!(ms("3s"), Ok(3000));
        assert_eq!(ms("1.5s"), Ok(1500));
        assert_eq!(ms("1m"), Ok(60_000));
        assert_eq!(ms("1m30s"), Ok(90_000));
        assert_eq!(ms("1h"), Ok(3_600_000));
        assert_eq!(ms("1h0m0.5s"), Ok(3_600_500));
        assert_eq!(ms("1500000us"), Ok(1500));
        assert_eq!(ms("2000000000ns"), Ok(2000));
        assert_eq!(ms("2"), Ok(2000));
        assert_eq!(ms(".5"), Ok(500));
        assert_eq!(ms("0.25m"), Ok(15_000));
        assert_eq!(ms("1.0005s"), Ok(1000));
        assert_eq!(ms("86400"), Ok(86_400_000));
        assert_eq!(ms("24h"), Ok(86_400_000));
        for too_long in [
            "99999999999999999999999999999999999999999",
            "1000000",
            "86401",
            "25h",
            "24h1s",
            "99999999999999999999999999999h",
        ] {
            assert_eq!(ms(too_long), Err(DurationError::TooLong), "{too_long}");
        }
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
            "3d",
            "1m30",
            "m30s",
            "0.0000000001s",
        ] {
            assert_eq!(ms(bad), Err(DurationError::Invalid), "{bad}");
        }
    }

    #[test]
    fn bare_numbers_above_600_suggest_milliseconds() {
        let bare = |text| bare_too_large(text, Bare::Checked);
        assert_eq!(bare("5000"), Some(("5000ms".into(), "5s".into())));
        assert_eq!(bare("1500"), Some(("1500ms".into(), "1.5s".into())));
        assert_eq!(bare("601"), Some(("601ms".into(), "0.601s".into())));
        assert_eq!(bare("600"), None);
        assert_eq!(bare("5000ms"), None);
        assert_eq!(bare_too_large("5000", Bare::Seconds), None);
    }
}
