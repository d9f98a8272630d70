//! tcp://HOST:PORT is healthy iff a connection is established within the deadline.

use std::net::Shutdown;

use super::{Answer, Budget, Kind, Report, Verdict, open};
use crate::config::HttpOptions;
use crate::target::{Syntax, Target, Userinfo, no_path};

pub static KIND: Kind = Kind {
    syntax: Syntax {
        schemes: &["tcp"],
        tls: None,
        default_port: None,
        userinfo: Userinfo::Refused,
        socket: false,
        path: |path| no_path(path, "tcp"),
        check: None,
    },
    probe,
};

fn probe(target: &Target, _: &HttpOptions, budget: &Budget, report: &mut Report) -> Answer {
    let stream = open(target, budget, report)?;
    // Close with a FIN, not a reset, so the service logs no aborted connection.
    stream.shutdown(Shutdown::Write).ok();
    Ok(Verdict {
        healthy: true,
        summary: "connected".to_string(),
    })
}
