//! amqp://HOST[:5672] like `rabbitmq-diagnostics -q ping`, without an Erlang VM: sends the
//! AMQP 0-9-1 protocol header and reads the broker's Connection.Start, which it sends
//! before any login; healthy iff it comes. A broker that does not speak 0-9-1 answers
//! with the protocol header it does speak, which the line names (AMQP 1.0). The probe
//! then closes the TCP connection: a polite Connection.Close needs a login first.
//! User, password and vhost in the URL are accepted and ignored.

use super::wire::{self, Connection, Wire, other_protocol, quote};
use super::{Answer, Budget, Kind, Report, Verdict};
use crate::config::HttpOptions;
use crate::error::{Error, Phase};
use crate::target::{Syntax, Target, Userinfo, database_path};

pub static KIND: Kind = Kind {
    syntax: Syntax {
        schemes: &["amqp"],
        tls: None,
        default_port: Some(5672),
        userinfo: Userinfo::UserPassword,
        socket: false,
        path: database_path,
        check: None,
    },
    probe,
};

const SENDING: Phase = Phase::Protocol("sending the AMQP protocol header");
const AWAITING: Phase = Phase::Protocol("awaiting Connection.Start");

const PROTOCOL_HEADER: &[u8; 8] = b"AMQP\x00\x00\x09\x01";
/// Type (1), channel (2), payload size (4).
const FRAME_HEADER: usize = 7;
const METHOD_FRAME: u8 = 1;
const FRAME_END: u8 = 0xce;
/// RabbitMQ's Connection.Start is about 600 bytes (its server-properties and
/// mechanisms); one that says it is longer than this is not one.
const MAX_FRAME: usize = 8 * 1024;
/// Product and version are shown up to this many bytes each.
const MAX_PROPERTY: usize = 40;

fn probe(target: &Target, options: &HttpOptions, budget: &Budget, report: &mut Report) -> Answer {
    wire::probe(
        target,
        options,
        budget,
        report,
        "an AMQP server",
        "amqp://",
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
    wire.send(PROTOCOL_HEADER, SENDING)?;
    let mut frame = [0u8; FRAME_HEADER + MAX_FRAME + 1];
    // Eight bytes: a frame header and its first byte, or a whole protocol header.
    let filled = wire.fill(&mut frame, 0, PROTOCOL_HEADER.len(), AWAITING)?;
    if frame.starts_with(b"AMQP") {
        wire.close();
        return Err(other_version(&frame[4..8]));
    }
    let size = u32::from_be_bytes([frame[3], frame[4], frame[5], frame[6]]) as usize;
    if frame[0] != METHOD_FRAME || frame[1..3] != [0, 0] || size < 6 {
        return Err(not_amqp(&frame[..filled]));
    }
    if size > MAX_FRAME {
        return Err(Error::OtherProtocol(format!(
            "not an AMQP server (a frame of {size} bytes, more than the {MAX_FRAME} allowed)"
        )));
    }
    let end = FRAME_HEADER + size;
    wire.fill(&mut frame, filled, end + 1, AWAITING)?;
    report.note(budget, "read Connection.Start");
    wire.close();
    let payload = &frame[FRAME_HEADER..end];
    // Class 10 (connection), method 10 (start), then version-major and version-minor.
    if frame[end] != FRAME_END || payload[..4] != [0, 10, 0, 10] {
        return Err(not_amqp(&frame[..end + 1]));
    }
    let mut summary = format!("Connection.Start, AMQP {}-{}", payload[4], payload[5]);
    let properties = Properties::of(&payload[6..]);
    if let Some(product) = properties.product {
        summary += &format!(", {product}");
        if let Some(version) = properties.version {
            summary += &format!(" {version}");
        }
    }
    Ok(Verdict::healthy(summary))
}

/// A protocol header other than ours: protocol id, major, minor, revision.
fn other_version(version: &[u8]) -> Error {
    let name = match version {
        // 0: plain, 2: TLS, 3: SASL; all are AMQP 1.0.
        [0 | 2 | 3, 1, 0, 0] => "an AMQP 1.0 server".to_string(),
        [0, 0, 9, 1] => "an AMQP 0-9-1 server that refused the connection".to_string(),
        [id, major, minor, revision] => {
            format!("an AMQP server of protocol {id}-{major}-{minor}-{revision}")
        }
        _ => "an AMQP server".to_string(),
    };
    Error::OtherProtocol(format!("{name}, not 0-9-1"))
}

fn not_amqp(reply: &[u8]) -> Error {
    other_protocol("an AMQP server", "amqp://", reply)
}

/// The two server-properties worth a line: "product" and "version" (long strings).
#[derive(Default)]
struct Properties {
    product: Option<String>,
    version: Option<String>,
}

impl Properties {
    /// Reads the field table as far as it can; whatever it cannot read is left out.
    fn of(table: &[u8]) -> Properties {
        let mut found = Properties::default();
        let Some((length, rest)) = long(table) else {
            return found;
        };
        let mut fields = &rest[..length.min(rest.len())];
        while let Some((&name_length, rest)) = fields.split_first() {
            let name_length = usize::from(name_length);
            let Some((name, rest)) = rest.split_at_checked(name_length) else {
                break;
            };
            let Some((&kind, rest)) = rest.split_first() else {
                break;
            };
            let size = match kind {
                b't' | b'b' | b'B' => 1,
                b's' | b'u' => 2,
                b'I' | b'i' | b'f' => 4,
                b'l' | b'L' | b'd' | b'T' => 8,
                b'D' => 5,
                b'V' => 0,
                b'S' | b'F' | b'A' | b'x' => match long(rest) {
                    Some((length, _)) => 4 + length,
                    None => break,
                },
                _ => break,
            };
            let Some((value, rest)) = rest.split_at_checked(size) else {
                break;
            };
            if kind == b'S' {
                let text = String::from_utf8_lossy(&value[4..]);
                let text = Some(crate::outcome::cap(&quote(&text), MAX_PROPERTY));
                match name {
                    b"product" => found.product = text,
                    b"version" => found.version = text,
                    _ => {}
                }
            }
            fields = rest;
        }
        found
    }
}

/// A 32-bit big-endian length and what follows it.
fn long(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let (length, rest) = bytes.split_at_checked(4)?;
    let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]);
    Some((length as usize, rest))
}
