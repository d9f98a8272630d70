//! The values of options and variables: ${VAR} expansion and each value's parser.

use std::time::Duration;

use super::Env;
use crate::error::Error;
use crate::target::{Syntax, redact};

pub fn env_var(env: Env, name: &str) -> Result<Option<String>, Error> {
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

/// Expands targets; an error shows them with any password masked.
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
            source: redact(&source, kinds),
            value: redact(&value, kinds),
            expected,
        },
        Error::UnsetVariable { name, source } => Error::UnsetVariable {
            name,
            source: redact(&source, kinds),
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
pub fn parse_duration(text: &str) -> Option<Duration> {
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

/// `scheme://***@host:port` for `scheme://user:password@host:port`.
pub fn without_credentials(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{}", &rest[authority_end..]),
        None => url.to_string(),
    }
}

/// Only plain HTTP proxies (tunnelled with CONNECT): SOCKS is not built in.
pub fn parse_proxy(text: &str) -> Option<ureq::Proxy> {
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
