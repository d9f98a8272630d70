//! redis://[[user]:password@]host[:6379] like `redis-cli ping`: AUTH first when the URL
//! has a password, then PING; healthy iff the answer is +PONG. A server still loading its
//! data (-LOADING), busy with a script (-BUSY) or a replica cut off from its master
//! (-MASTERDOWN) answers with an error instead, which the line quotes.

use super::wire::{self, Connection, Wire, other_protocol, quote};
use super::{Answer, Budget, Kind, Report, Verdict};
use crate::config::HttpOptions;
use crate::error::{Error, Phase};
use crate::target::{PathParts, Syntax, Target, Userinfo};

pub static KIND: Kind = Kind {
    syntax: Syntax {
        schemes: &["redis"],
        tls: None,
        default_port: Some(6379),
        userinfo: Userinfo::PasswordAlone,
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

fn probe(target: &Target, options: &HttpOptions, budget: &Budget, report: &mut Report) -> Answer {
    wire::probe(
        target,
        options,
        budget,
        report,
        "a Redis server",
        "redis://",
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
    let password = target.password.as_ref().map(|secret| secret.expose());
    // What no quoted reply may hold: the password first, then the user name.
    let credentials: Vec<&str> = match password {
        Some(password) => [Some(password), target.user.as_deref()]
            .into_iter()
            .flatten()
            .collect(),
        None => Vec::new(),
    };
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
        let said = redacted(reply, &credentials);
        match reply.first() {
            Some(b'+') => {}
            Some(b'-') => return Ok(Verdict::unhealthy(format!("AUTH failed: {said}"))),
            _ => return Err(not_redis(reply, &credentials)),
        }
    }
    let Some(reply) = lines.next(&mut wire, AWAITING_PING)? else {
        return Err(too_long());
    };
    report.note(budget, "read the reply to PING");
    let said = redacted(reply, &credentials);
    let verdict = match reply.first() {
        _ if reply == b"+PONG" => Verdict::healthy("PONG"),
        Some(b'-') if reply.starts_with(b"-NOAUTH") => Verdict::unhealthy(format!(
            "a password is required: give it as redis://:PASSWORD@HOST ({said})"
        )),
        Some(b'-') => Verdict::unhealthy(format!("PING failed: {said}")),
        Some(b'+') => Verdict::unhealthy(format!("PING answered '{said}', not PONG")),
        _ => {
            wire.close();
            return Err(not_redis(reply, &credentials));
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

/// What replaces a reply's text from the first piece of a credential on.
const NOT_SHOWN: &str = "*** (the rest is not shown: it echoes the credentials)";

/// The shortest piece of a credential that a quoted reply may not hold.
const PIECE: usize = 6;

/// Reply text for the line, cut where it first holds part of the credentials: a server
/// that does not know AUTH echoes its arguments ("unknown command 'AUTH', with args
/// beginning with: ..."), maybe cut short or in another case.
fn redacted(reply: &[u8], credentials: &[&str]) -> String {
    let reply = reply.strip_prefix(b"-").unwrap_or(reply);
    match echo_at(reply, credentials) {
        Some(at) => quote(&String::from_utf8_lossy(&reply[..at])) + NOT_SHOWN,
        None => quote(&String::from_utf8_lossy(reply)),
    }
}

/// Where `reply` first holds a PIECE-byte piece of a credential, whatever the case. A
/// password shorter than that counts only whole and in its case ("wrong" is no echo in
/// "-WRONGPASS"); a user name that short not at all ("u" is in every reply).
fn echo_at(reply: &[u8], credentials: &[&str]) -> Option<usize> {
    let lowercase = reply.to_ascii_lowercase();
    let mut first: Option<usize> = None;
    let mut seen = |at: Option<usize>| {
        if let Some(at) = at {
            first = Some(first.map_or(at, |first| first.min(at)));
        }
    };
    for (index, credential) in credentials.iter().enumerate() {
        let credential = credential.as_bytes();
        if credential.len() < PIECE {
            if index == 0 && !credential.is_empty() {
                seen(find(reply, credential));
            }
            continue;
        }
        for piece in credential.to_ascii_lowercase().windows(PIECE) {
            seen(find(&lowercase, piece));
        }
    }
    first
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn not_redis(reply: &[u8], credentials: &[&str]) -> Error {
    match echo_at(reply, credentials) {
        Some(at) => Error::OtherProtocol(format!(
            "not a Redis server (it said '{}{NOT_SHOWN}')",
            quote(&String::from_utf8_lossy(&reply[..at]))
        )),
        None => other_protocol("a Redis server", "redis://", reply),
    }
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
    fn next<S: Connection>(
        &mut self,
        wire: &mut Wire<S>,
        phase: Phase,
    ) -> Result<Option<&[u8]>, Error> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_cut_where_it_echoes_a_piece_of_the_credentials() {
        let credentials = ["S3cretPassw0rd", "probeuser"];
        let cut = |reply: &str| echo_at(reply.as_bytes(), &credentials);
        assert_eq!(cut("ERR args: 's3cretpa'"), Some(11));
        assert_eq!(cut("ERR args: 'PASSW0RD'"), Some(11));
        assert_eq!(cut("ERR user PROBEUSER"), Some(9));
        assert_eq!(cut("ERR args: 's3cre'"), None);
        assert_eq!(cut("WRONGPASS invalid username-password pair"), None);
        // A short password counts whole and in its case; a short user name not at all.
        assert_eq!(echo_at(b"-WRONGPASS", &["wrong", "u"]), None);
        assert_eq!(echo_at(b"-ERR 'wrong'", &["wrong", "u"]), Some(6));
    }
}
