//! memcached://HOST[:11211]: sends `version`, the one command every memcached answers
//! without a login (text protocol); healthy iff the reply is `VERSION x.y.z`. An
//! `ERROR`, `SERVER_ERROR ...` or `CLIENT_ERROR ...` reply is unhealthy and quoted.

use super::wire::{self, Connection, Wire, other_protocol, quote};
use super::{Answer, Budget, Kind, Report, Verdict};
use crate::config::HttpOptions;
use crate::error::{Error, Phase};
use crate::outcome::cap;
use crate::target::{Syntax, Target, Userinfo, no_path};

pub static KIND: Kind = Kind {
    syntax: Syntax {
        schemes: &["memcached"],
        tls: None,
        default_port: Some(11211),
        userinfo: Userinfo::Refused,
        socket: false,
        path: |path| no_path(path, "memcached"),
        check: None,
    },
    probe,
};

const SENDING: Phase = Phase::Protocol("sending version");
const AWAITING: Phase = Phase::Protocol("awaiting the reply to version");

/// `VERSION 1.6.18` or an error line is short: one longer than this is not memcached.
const MAX_LINE: usize = 512;
/// The version is shown up to this many bytes.
const MAX_VERSION: usize = 60;

fn probe(target: &Target, options: &HttpOptions, budget: &Budget, report: &mut Report) -> Answer {
    wire::probe(
        target,
        options,
        budget,
        report,
        "a memcached server",
        "memcached://",
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
    wire.send(b"version\r\n", SENDING)?;
    let mut buffer = [0u8; MAX_LINE];
    let mut filled = 0;
    // The reply is one CRLF-terminated line, read into the one buffer.
    let end = loop {
        if let Some(at) = buffer[..filled].windows(2).position(|pair| pair == b"\r\n") {
            break at;
        }
        if filled == MAX_LINE {
            return Err(Error::OtherProtocol(format!(
                "not a memcached server (a reply line longer than {MAX_LINE} bytes)"
            )));
        }
        filled += wire.read_some(&mut buffer[filled..], AWAITING)?;
    };
    report.note(budget, "read the reply to version");
    wire.close();
    let line = &buffer[..end];
    let text = String::from_utf8_lossy(line);
    if let Some(version) = text.strip_prefix("VERSION ") {
        return Ok(Verdict::healthy(format!(
            "version {}",
            cap(&quote(version), MAX_VERSION)
        )));
    }
    match text.split(' ').next() {
        Some("ERROR" | "SERVER_ERROR" | "CLIENT_ERROR") => Ok(Verdict::unhealthy(format!(
            "version failed: {}",
            quote(&text)
        ))),
        _ => Err(other_protocol("a memcached server", "memcached://", line)),
    }
}
