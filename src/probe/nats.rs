//! nats://HOST[:4222]: a NATS server greets every client with `INFO {...}` (its JSON
//! description) before any login, so the greeting alone says it is up. Nothing is sent:
//! no CONNECT, so no credentials are needed. The line shows the server's name and version
//! when the greeting names them; `-ERR ...` instead (maximum connections exceeded) is
//! unhealthy and quoted.

use super::wire::{self, Connection, Wire, other_protocol, quote};
use super::{Answer, Budget, Kind, Report, Verdict};
use crate::config::HttpOptions;
use crate::error::{Error, Phase};
use crate::outcome::cap;
use crate::target::{Syntax, Target, Userinfo, no_path};

pub static KIND: Kind = Kind {
    syntax: Syntax {
        schemes: &["nats"],
        tls: None,
        default_port: Some(4222),
        userinfo: Userinfo::Refused,
        socket: false,
        path: |path| no_path(path, "nats"),
        check: None,
    },
    probe,
};

const AWAITING: Phase = Phase::Protocol("awaiting the server's INFO");

/// An INFO line is a few hundred bytes, a few KiB with a cluster's connect_urls: one
/// longer than this is not NATS.
const MAX_LINE: usize = 8192;
/// A name or version is shown up to this many bytes.
const MAX_FIELD: usize = 60;

fn probe(target: &Target, options: &HttpOptions, budget: &Budget, report: &mut Report) -> Answer {
    wire::probe(
        target,
        options,
        budget,
        report,
        "a NATS server",
        "nats://",
        converse,
    )
}

/// The conversation once connected; the fuzz targets (src/fuzz.rs) hold it over bytes.
pub(crate) fn converse<S: Connection>(
    mut wire: Wire<S>,
    _: &Target,
    _: &HttpOptions,
    budget: &Budget,
    report: &mut Report,
) -> Answer {
    let mut buffer = [0u8; MAX_LINE];
    let mut filled = 0;
    let end = loop {
        if let Some(at) = buffer[..filled].iter().position(|&b| b == b'\n') {
            break at;
        }
        if filled == MAX_LINE {
            return Err(Error::OtherProtocol(format!(
                "not a NATS server (a greeting line longer than {MAX_LINE} bytes)"
            )));
        }
        filled += wire.read_some(&mut buffer[filled..], AWAITING)?;
    };
    report.note(budget, "read the server's INFO");
    wire.close();
    let line = buffer[..end].strip_suffix(b"\r").unwrap_or(&buffer[..end]);
    let text = String::from_utf8_lossy(line);
    if let Some(json) = text
        .strip_prefix("INFO ")
        .filter(|json| json.starts_with('{'))
    {
        let said = match (field(json, "server_name"), field(json, "version")) {
            (Some(name), Some(version)) => format!("NATS {version}, server {name}"),
            (None, Some(version)) => format!("NATS {version}"),
            (Some(name), None) => format!("NATS server {name}"),
            (None, None) => "NATS server".to_string(),
        };
        return Ok(Verdict::healthy(said));
    }
    match text.strip_prefix("-ERR ") {
        Some(error) => Ok(Verdict::unhealthy(format!("refused: {}", quote(error)))),
        // All that came: a binary greeting's "line" can end at its first 0x0a byte.
        None => Err(other_protocol(
            "a NATS server",
            "nats://",
            &buffer[..filled],
        )),
    }
}

/// The string value of `"name":"..."` in the INFO JSON, found by a plain scan: the
/// fields the line shows are simple strings, and no JSON parser is worth its size here.
fn field(json: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\":");
    let rest = json[json.find(&key)? + key.len()..].trim_start();
    let value = rest.strip_prefix('"')?;
    let value = &value[..value.find('"')?];
    Some(cap(&quote(value), MAX_FIELD)).filter(|value| !value.is_empty())
}
