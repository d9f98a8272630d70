//! tcp://HOST:PORT is healthy iff a connection is established within the deadline.

use std::net::Shutdown;

use super::{Budget, Report, Verdict, open};
use crate::error::Error;
use crate::target::Target;

pub fn probe(target: &Target, budget: &Budget, report: &mut Report) -> Result<Verdict, Error> {
    let stream = open(target, budget, report)?;
    // Close with a FIN, not a reset, so the service logs no aborted connection.
    stream.shutdown(Shutdown::Write).ok();
    Ok(Verdict {
        healthy: true,
        summary: "connected".to_string(),
    })
}
