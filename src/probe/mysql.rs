//! mysql://host[:3306] like `mysqladmin ping`: a MySQL or MariaDB server greets every
//! client first, so its greeting alone says whether it is up. A protocol-10 handshake is
//! healthy (even if a login would be refused); an error packet instead (1040 too many
//! connections, 1129 host blocked) is unhealthy and quoted. Nothing is sent, so no
//! credentials are needed: user, password and database in the URL are ignored.

use super::wire::{self, Connection, Wire, other_protocol, quote};
use super::{Answer, Budget, Kind, Report, Verdict};
use crate::config::HttpOptions;
use crate::error::{Error, Phase};
use crate::outcome::cap;
use crate::target::{Syntax, Target, Userinfo, database_path};

pub static KIND: Kind = Kind {
    syntax: Syntax {
        schemes: &["mysql"],
        tls: None,
        default_port: Some(3306),
        userinfo: Userinfo::UserPassword,
        socket: false,
        path: database_path,
        check: None,
    },
    probe,
};

const AWAITING: Phase = Phase::Protocol("awaiting the server's greeting");

/// A greeting is about a hundred bytes (version, salt, capabilities, plugin name);
/// a packet that says it is longer than this is not one.
const MAX_GREETING: usize = 1024;
/// The server version is shown up to this many bytes.
const MAX_VERSION: usize = 60;
const HANDSHAKE_V10: u8 = 0x0a;
const ERROR_PACKET: u8 = 0xff;

fn probe(target: &Target, options: &HttpOptions, budget: &Budget, report: &mut Report) -> Answer {
    wire::probe(
        target,
        options,
        budget,
        report,
        "a MySQL server",
        "mysql://",
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
    let mut packet = [0u8; MAX_GREETING];
    // A packet: 3-byte little-endian payload length, sequence number 0, then the payload.
    let filled = wire.fill(&mut packet, 0, 4, AWAITING)?;
    let length =
        usize::from(packet[0]) | usize::from(packet[1]) << 8 | usize::from(packet[2]) << 16;
    if packet[3] != 0 || length == 0 || 4 + length > MAX_GREETING {
        return Err(not_mysql(&packet[..filled]));
    }
    wire.fill(&mut packet, filled, 4 + length, AWAITING)?;
    report.note(budget, "read the greeting");
    wire.close();
    let payload = &packet[4..4 + length];
    match payload[0] {
        HANDSHAKE_V10 => match payload[1..].iter().position(|&b| b == 0) {
            Some(end) => Ok(Verdict::healthy(format!(
                "alive: server {}",
                version(&payload[1..1 + end])
            ))),
            None => Err(not_mysql(&packet[..4 + length])),
        },
        ERROR_PACKET if length >= 3 => Ok(refusal(&payload[1..])),
        _ => Err(not_mysql(&packet[..4 + length])),
    }
}

/// MariaDB prefixes its version with "5.5.5-" for the sake of old clients.
fn version(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let text = text.strip_prefix("5.5.5-").unwrap_or(&text);
    cap(&quote(text), MAX_VERSION)
}

/// An error packet: 2-byte little-endian code, an optional `#` and SQLSTATE, a message.
fn refusal(error: &[u8]) -> Verdict {
    let code = u16::from_le_bytes([error[0], error[1]]);
    let message = &error[2..];
    let message = match message.first() {
        Some(b'#') if message.len() >= 6 => &message[6..],
        _ => message,
    };
    let said = quote(&String::from_utf8_lossy(message));
    Verdict::unhealthy(format!("refused the connection: {code} {said}"))
}

fn not_mysql(reply: &[u8]) -> Error {
    other_protocol("a MySQL server", "mysql://", reply)
}
