//! The pieces of a kind's path rule: percent-decoding, and the rules that kinds share.

use super::PathParts;

/// Decodes %XX escapes (URLs, and gRPC's grpc-message); a '%' not followed by two hex
/// digits stays as it is, so that an unencoded password from `${VAR}` still works.
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

/// The path rule of a kind that sends nothing of its path.
pub fn no_path(path: &str, kind: &str) -> Result<PathParts, String> {
    match path {
        "" | "/" => Ok(PathParts::default()),
        _ => Err(format!("a {kind}:// target takes no path")),
    }
}

/// The path rule of postgres:// and mysql://: `/DBNAME`, percent-decoded. The query
/// (sslmode=...) is accepted and ignored: no probe logs in.
pub fn database_path(path: &str) -> Result<PathParts, String> {
    let name = path.split('?').next().unwrap_or_default();
    let database = match name.trim_start_matches('/') {
        "" => None,
        name => Some(decode(name, "database name")?),
    };
    Ok(PathParts {
        path: String::new(),
        database,
    })
}

/// What goes on the wire as a path must be printable ASCII.
pub fn require_graphic(path: &str) -> Result<(), String> {
    match path.chars().find(|c| !c.is_ascii_graphic()) {
        Some(bad) => Err(format!(
            "{bad:?} is not allowed in a path; percent-encode it"
        )),
        None => Ok(()),
    }
}

/// Percent-decodes `text` (see percent_decode). Control characters are refused:
/// PostgreSQL's startup message cannot carry a NUL.
pub fn decode(text: &str, what: &str) -> Result<String, String> {
    match String::from_utf8(percent_decode(text.as_bytes())) {
        Ok(text) if !text.chars().any(char::is_control) => Ok(text),
        _ => Err(format!(
            "the {what} must be UTF-8 text without control characters once percent-decoded"
        )),
    }
}
