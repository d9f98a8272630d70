//! postgres://[user@]host[:5432][/dbname] with pg_isready's meaning: a server that asks
//! for a password, or refuses this login for any other reason than not accepting
//! connections right now (SQLSTATE 57P03 and kin), is up. No password is ever sent, and
//! no TLS is negotiated: pg_isready's answer does not depend on either.

use super::wire::{self, Connection, Wire, other_protocol, quote};
use super::{Answer, Budget, Kind, Report, Verdict};
use crate::config::HttpOptions;
use crate::error::{Error, Phase};
use crate::target::{Syntax, Target, Userinfo, database_path};

pub static KIND: Kind = Kind {
    syntax: Syntax {
        schemes: &["postgres", "postgresql"],
        tls: None,
        default_port: Some(5432),
        userinfo: Userinfo::UserPassword,
        socket: false,
        path: database_path,
        check: None,
    },
    probe,
};

const SENDING: Phase = Phase::Protocol("sending the startup message");
const AWAITING: Phase = Phase::Protocol("awaiting the reply to the startup message");

/// Protocol 3.0, what every server since 7.4 speaks.
const PROTOCOL_3_0: u32 = 3 << 16;
/// A reply to the startup message is a few hundred bytes: more is not PostgreSQL.
const MAX_REPLY: usize = 4096;
const DEFAULT_USER: &str = "postgres";
/// The server cannot take connections now (starting up, shutting down, in recovery,
/// a standby without hot_standby), or is being shut down (57P01, 57P02) as we connect.
const NOT_ACCEPTING: [&str; 3] = ["57P03", "57P01", "57P02"];

fn probe(target: &Target, options: &HttpOptions, budget: &Budget, report: &mut Report) -> Answer {
    wire::probe(
        target,
        options,
        budget,
        report,
        "a PostgreSQL server",
        "postgres://",
        converse,
    )
}

/// The conversation once connected; the fuzz targets (src/fuzz.rs) hold it over bytes.
pub(crate) fn converse<S: Connection>(
    mut wire: Wire<S>,
    target: &Target,
    _: &HttpOptions,
    budget: &Budget,
    report: &mut Report,
) -> Answer {
    let user = target.user.as_deref().unwrap_or(DEFAULT_USER);
    let database = target.database.as_deref().unwrap_or(user);
    wire.send(&startup_message(user, database), SENDING)?;

    let mut reply = [0u8; MAX_REPLY];
    let filled = wire.fill(&mut reply, 0, 5, AWAITING)?;
    let kind = reply[0];
    let length = u32::from_be_bytes([reply[1], reply[2], reply[3], reply[4]]) as usize;
    if !matches!(kind, b'R' | b'E') || !(8..MAX_REPLY).contains(&length) {
        return Err(not_postgres(&reply[..filled]));
    }
    wire.fill(&mut reply, filled, 1 + length, AWAITING)?;
    report.note(budget, "read the reply to the startup message");
    let body = &reply[5..1 + length];
    let verdict = if kind == b'R' {
        let code = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        if code == 0 {
            // Logged in (trust): say goodbye properly, so the server logs nothing.
            wire.send(&[b'X', 0, 0, 0, 4], Phase::Protocol("sending Terminate"))
                .ok();
        }
        Verdict::healthy(auth_request(code))
    } else {
        refusal(&ErrorFields::parse(body))
    };
    wire.close();
    Ok(verdict)
}

/// StartupMessage: length, protocol, then name/value pairs, each NUL-terminated.
fn startup_message(user: &str, database: &str) -> Vec<u8> {
    let mut message = vec![0; 4];
    message.extend_from_slice(&PROTOCOL_3_0.to_be_bytes());
    for (name, value) in [
        ("user", user),
        ("database", database),
        ("application_name", "healthprobe"),
    ] {
        for text in [name, value] {
            message.extend_from_slice(text.as_bytes());
            message.push(0);
        }
    }
    message.push(0);
    let length = (message.len() as u32).to_be_bytes();
    message[..4].copy_from_slice(&length);
    message
}

fn auth_request(code: u32) -> String {
    let asks = match code {
        0 => return "accepting connections".to_string(),
        3 => "a password",
        5 => "an MD5 password",
        10 => "a SCRAM password",
        7 | 8 => "GSSAPI",
        9 => "SSPI",
        _ => "authentication",
    };
    format!("accepting connections (it asks for {asks})")
}

/// The fields of an ErrorResponse that the line needs.
#[derive(Default)]
struct ErrorFields {
    severity: String,
    sqlstate: String,
    message: String,
    detail: String,
}

impl ErrorFields {
    /// Fields are a type byte and a NUL-terminated text each, and a NUL ends the list.
    fn parse(mut body: &[u8]) -> ErrorFields {
        let mut fields = ErrorFields::default();
        while let [kind, rest @ ..] = body {
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            let text = String::from_utf8_lossy(&rest[..end]).into_owned();
            match kind {
                b'V' => fields.severity = text,
                b'S' if fields.severity.is_empty() => fields.severity = text,
                b'C' => fields.sqlstate = text,
                b'M' => fields.message = text,
                b'D' => fields.detail = text,
                0 => break,
                _ => {}
            }
            body = rest.get(end + 1..).unwrap_or_default();
        }
        fields
    }
}

fn refusal(error: &ErrorFields) -> Verdict {
    let said = quote(&format!(
        "{} {} {}",
        error.severity, error.sqlstate, error.message
    ));
    if error.sqlstate.len() != 5 {
        // Every modern server names a SQLSTATE; pg_isready calls this "no response".
        return Verdict::unhealthy(format!("an error without a SQLSTATE: '{said}'"));
    }
    if NOT_ACCEPTING.contains(&error.sqlstate.as_str()) {
        let detail = match error.detail.as_str() {
            "" => String::new(),
            detail => format!(" ({})", quote(detail)),
        };
        return Verdict::unhealthy(format!("not accepting connections: {said}{detail}"));
    }
    // It did not like the user, the database or the client: but it is up.
    Verdict::healthy(format!(
        "accepting connections (this login was refused: {said})"
    ))
}

fn not_postgres(reply: &[u8]) -> Error {
    other_protocol("a PostgreSQL server", "postgres://", reply)
}
