//! mqtt://HOST[:1883]: an MQTT 3.1.1 CONNECT (clean session, client id
//! `healthprobe-PID`, no credentials), then DISCONNECT. Healthy iff the CONNACK's return
//! code is 0 (accepted); codes 1-5 are named, as the standard names them, and unhealthy.

use super::wire::{self, Connection, Wire, other_protocol};
use super::{Answer, Budget, Kind, Report, Verdict};
use crate::config::HttpOptions;
use crate::error::Phase;
use crate::target::{Syntax, Target, Userinfo, no_path};

pub static KIND: Kind = Kind {
    syntax: Syntax {
        schemes: &["mqtt"],
        tls: None,
        default_port: Some(1883),
        userinfo: Userinfo::Refused,
        socket: false,
        path: |path| no_path(path, "mqtt"),
        check: None,
    },
    probe,
};

const SENDING: Phase = Phase::Protocol("sending CONNECT");
const AWAITING: Phase = Phase::Protocol("awaiting the CONNACK");

const CONNACK: [u8; 2] = [0x20, 0x02];
const DISCONNECT: [u8; 2] = [0xe0, 0x00];
/// The CONNACK return codes of MQTT 3.1.1 (section 3.2.2.3) after 0, accepted.
const REFUSALS: [&str; 5] = [
    "unacceptable protocol version",
    "identifier rejected",
    "server unavailable",
    "bad user name or password",
    "not authorized",
];

fn probe(target: &Target, options: &HttpOptions, budget: &Budget, report: &mut Report) -> Answer {
    wire::probe(
        target,
        options,
        budget,
        report,
        "an MQTT server",
        "mqtt://",
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
    wire.send(
        &connect(&format!("healthprobe-{}", std::process::id())),
        SENDING,
    )?;
    // A 3.1.1 CONNACK is always 4 bytes: type, remaining length 2, flags, return code.
    // Whatever else has arrived with them is read too: it names a server of another
    // protocol better than 4 bytes do.
    let mut reply = [0u8; 16];
    let filled = wire.fill(&mut reply, 0, 4, AWAITING)?;
    let connack = &reply[..4];
    report.note(budget, "read the CONNACK");
    if connack[..2] != CONNACK {
        return Err(other_protocol(
            "an MQTT server",
            "mqtt://",
            &reply[..filled],
        ));
    }
    let verdict = match connack[3] {
        0 => {
            // The CONNACK has answered: a DISCONNECT that fails changes nothing.
            wire.send(&DISCONNECT, Phase::Protocol("sending DISCONNECT"))
                .ok();
            Verdict::healthy("connection accepted")
        }
        code => match REFUSALS.get(usize::from(code) - 1) {
            Some(name) => Verdict::unhealthy(format!("connection refused: {code} {name}")),
            None => Verdict::unhealthy(format!("connection refused: return code {code}")),
        },
    };
    wire.close();
    Ok(verdict)
}

/// CONNECT: protocol name "MQTT", level 4 (3.1.1), flags: clean session only, keep alive
/// 10 s (the probe leaves long before), then the client id. The id is under 128 bytes,
/// so the remaining length is one byte.
fn connect(client_id: &str) -> Vec<u8> {
    let id = client_id.as_bytes();
    let mut packet = vec![0x10, (12 + id.len()) as u8];
    packet.extend_from_slice(&[0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 10]);
    packet.extend_from_slice(&(id.len() as u16).to_be_bytes());
    packet.extend_from_slice(id);
    packet
}
