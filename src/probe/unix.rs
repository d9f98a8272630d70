//! unix:///run/app.sock and unix://@name (the abstract namespace) are healthy iff the
//! socket accepts a connection within the deadline: tcp:// for services on a unix socket.

use std::net::Shutdown;

use super::{Answer, Budget, Kind, Report, Verdict, open_via};
use crate::config::{HttpOptions, UnixSocket};
use crate::target::{PathParts, Syntax, Target, Userinfo};

pub static KIND: Kind = Kind {
    syntax: Syntax {
        schemes: &["unix"],
        tls: None,
        default_port: None,
        userinfo: Userinfo::Refused,
        socket: true,
        path: socket_path,
        check: None,
    },
    probe,
};

/// Everything after `unix://`: an absolute path, or `@name`.
fn socket_path(text: &str) -> Result<PathParts, String> {
    if !text.starts_with(['/', '@']) {
        return Err(
            "write unix:///PATH (three slashes: the path is absolute) or unix://@NAME".to_string(),
        );
    }
    let socket = UnixSocket::parse(text)?;
    Ok(PathParts {
        path: socket.name,
        database: None,
    })
}

fn probe(target: &Target, _: &HttpOptions, budget: &Budget, report: &mut Report) -> Answer {
    let socket = UnixSocket {
        name: target.path.clone(),
    };
    let stream = open_via(target, Some(&socket), budget, report)?;
    // Close with a FIN, as tcp:// does, so the service logs no aborted connection.
    stream.shutdown(Shutdown::Write).ok();
    Ok(Verdict::healthy("connected"))
}
