//! redis://[[user]:password@]host[:6379] like `redis-cli ping`: AUTH first when the URL
//! has a password, then PING; healthy iff the answer is +PONG. A server still loading its
//! data (-LOADING), busy with a script (-BUSY) or a replica cut off from its master
//! (-MASTERDOWN) answers with an error instead, which the line quotes.

use super::wire::{Wire, other_protocol, quote};
use super::{Answer, Budget, Kind, Report, Verdict, open};
use crate::config::HttpOptions;
use crate::error::{Error, Phase};
use crate::target::{PathParts, Syntax, Target, Userinfo};

pub static KIND: Kind = Kind {
    syntax: Syntax {
        schemes: &["redis"],
        tls: None,
        default_port: Some(6379),
        userinfo: Userinfo::PasswordAlone,
        mask: Userinfo::PasswordAlone,
        socket: false,
        path: database_number,
        check: None,
    },
    probe,
};

/// redis://HOST/2 names a database; PING answers the same in each.
fn database_number(path: &str) -> Result<PathParts, String> {
    let number = path.split('?').next().unwrap_or_default();
    match number
        .trim_start_matches('/')
        .bytes()
        .all(|b| b.is_ascii_digit())
    {
        true => Ok(PathParts::default()),
        false => Err("a redis:// path is a database number, as in redis://HOST/0".to_string()),
    }
}

const SENDING: Phase = Phase::Protocol("sending PING");
const AWAITING_AUTH: Phase = Phase::Protocol("awaiting the reply to AUTH");
const AWAITING_PING: Phase = Phase::Protocol("awaiting the reply to PING");

/// A reply line (+PONG, -LOADING ...) is short: one longer than this is not Redis.
const MAX_LINE: usize = 1024;

fn probe(target: &Target, _: &HttpOptions, budget: &Budget, report: &mut Report) -> Answer {
    let mut wire = Wire::new(
        open(target, budget, report)?,
        budget,
        "a Redis server",
        "redis://",
    );
    let password = target.password.as_ref().map(|secret| secret.expose());
    // AUTH and PING go together: one round trip, and PING's answer is only read once
    // AUTH's said yes.
    let mut request = Vec::new();
    if let Some(password) = password {
        match &target.user {
            Some(user) => command(&mut request, &["AUTH", user, password]),
            None => command(&mut request, &["AUTH", password]),
        }
    }
    command(&mut request, &["PING"]);
    wire.send(&request, SENDING)?;

    let mut lines = Lines::default();
    if password.is_some() {
        let Some(reply) = lines.next(&mut wire, AWAITING_AUTH)? else {
            return Err(too_long());
        };
        report.note(budget, "read the reply to AUTH");
        let said = redacted(reply, password);
        match reply.first() {
            Some(b'+') => {}
            Some(b'-') => return Ok(Verdict::unhealthy(format!("AUTH failed: {said}"))),
            _ => return Err(not_redis(reply, password)),
        }
    }
    let Some(reply) = lines.next(&mut wire, AWAITING_PING)? else {
        return Err(too_long());
    };
    report.note(budget, "read the reply to PING");
    let said = redacted(reply, password);
    let verdict = match reply.first() {
        _ if reply == b"+PONG" => Verdict::healthy("PONG"),
        Some(b'-') if reply.starts_with(b"-NOAUTH") => Verdict::unhealthy(format!(
            "a password is required: give it as redis://:PASSWORD@HOST ({said})"
        )),
        Some(b'-') => Verdict::unhealthy(format!("PING failed: {said}")),
        Some(b'+') => Verdict::unhealthy(format!("PING answered '{said}', not PONG")),
        _ => {
            wire.close();
            return Err(not_redis(reply, password));
        }
    };
    wire.close();
    Ok(verdict)
}

/// A command as a RESP array of bulk strings: binary-safe, whatever the password holds.
fn command(request: &mut Vec<u8>, words: &[&str]) {
    request.extend_from_slice(format!("*{}\r\n", words.len()).as_bytes());
    for word in words {
        request.extend_from_slice(format!("${}\r\n", word.len()).as_bytes());
        request.extend_from_slice(word.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
}

/// Reply text for the line, with the password masked: a server that does not know AUTH
/// echoes its arguments ("unknown command 'AUTH', with args beginning with: ...").
fn redacted(reply: &[u8], password: Option<&str>) -> String {
    let text = String::from_utf8_lossy(reply.strip_prefix(b"-").unwrap_or(reply));
    match password {
        Some(password) => quote(&text.replace(password, "***")),
        None => quote(&text),
    }
}

fn not_redis(reply: &[u8], password: Option<&str>) -> Error {
    let said = match password {
        Some(password) => String::from_utf8_lossy(reply).replace(password, "***"),
        None => String::from_utf8_lossy(reply).into_owned(),
    };
    other_protocol("a Redis server", "redis://", said.as_bytes())
}

fn too_long() -> Error {
    Error::OtherProtocol(format!(
        "not a Redis server (a reply line longer than {MAX_LINE} bytes)"
    ))
}

/// Reads CRLF-terminated reply lines through one fixed buffer.
struct Lines {
    buffer: [u8; MAX_LINE],
    start: usize,
    end: usize,
}

impl Default for Lines {
    fn default() -> Lines {
        Lines {
            buffer: [0; MAX_LINE],
            start: 0,
            end: 0,
        }
    }
}

impl Lines {
    /// The next line, without its CRLF; None when it is longer than the buffer.
    fn next(&mut self, wire: &mut Wire, phase: Phase) -> Result<Option<&[u8]>, Error> {
        loop {
            let pending = &self.buffer[self.start..self.end];
            if let Some(at) = pending.windows(2).position(|pair| pair == b"\r\n") {
                let line = self.start..self.start + at;
                self.start += at + 2;
                return Ok(Some(&self.buffer[line]));
            }
            if self.end == MAX_LINE {
                if self.start == 0 {
                    return Ok(None);
                }
                self.buffer.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            self.end += wire.read_some(&mut self.buffer[self.end..], phase)?;
        }
    }
}
