//! One module per kind of probe: Config + Target -> Outcome. Each kind describes itself
//! (a `Kind` in its own file); KINDS lists them. target.rs and cli.rs see only each
//! kind's `Syntax`, through the table main hands them.

pub mod amqp;
pub mod fcgi;
pub mod grpc;
pub mod http;
pub mod memcached;
pub mod mqtt;
pub mod mysql;
pub mod nats;
pub mod postgres;
pub mod redis;
pub mod tcp;
pub mod unix;
pub(crate) mod wire;

#[cfg(test)]
mod syntax_tests;

use std::fmt::Write;
use std::net::{SocketAddr, TcpStream};
use std::panic;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Instant;

use crate::config::UnixSocket;
use crate::config::{Config, HttpOptions};
use crate::error::Error;
use crate::net::{self, Peer, Stream};
use crate::outcome::{Outcome, millis};
use crate::target::{Syntax, Target};

/// A kind of probe: how its URL is written (read by target.rs and cli.rs through the
/// table, before anything is probed) and how it is probed.
pub struct Kind {
    pub syntax: Syntax,
    pub probe: Probe,
}

/// A kind's probe: connects, converses, judges. Options it does not use it ignores.
pub type Probe = fn(&Target, &HttpOptions, &Budget, &mut Report) -> Answer;
/// What a probe comes back with: the target's answer, or why there was none.
pub type Answer = Result<Verdict, Error>;

impl AsRef<Syntax> for Kind {
    fn as_ref(&self) -> &Syntax {
        &self.syntax
    }
}

impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.syntax.schemes[0])
    }
}

/// Every kind of probe, in the order the "supported schemes" error lists them: main
/// hands it to cli::parse, which hands it to Target::parse; a Target's `kind` is its row.
pub static KINDS: &[&Kind] = &[
    &http::KIND,
    &tcp::KIND,
    &unix::KIND,
    &grpc::KIND,
    &postgres::KIND,
    &redis::KIND,
    &mysql::KIND,
    &memcached::KIND,
    &nats::KIND,
    &mqtt::KIND,
    &fcgi::KIND,
    &amqp::KIND,
];

/// The one clock of a run: every phase of every probe measures against these.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub start: Instant,
    /// Everything must be done by then.
    pub deadline: Instant,
    /// Resolving and connecting must be done by then (never later than `deadline`).
    pub connect_deadline: Instant,
}

impl Budget {
    pub fn new(config: &Config, start: Instant) -> Budget {
        let deadline = start + config.timeout;
        Budget {
            start,
            deadline,
            connect_deadline: deadline.min(start + config.connect_timeout),
        }
    }
}

/// What a probe learnt on the way, reported whether it succeeds or fails.
#[derive(Debug, Default)]
pub struct Report {
    pub peer: Option<Peer>,
    /// The peer is the --proxy, not the target.
    pub via_proxy: bool,
    /// Whether to keep the trace: formatting it costs ~12,000 instructions, an eighth of a
    /// healthy probe, for lines that only --verbose prints.
    pub verbose: bool,
    /// --verbose lines: addresses and the moment each phase ended.
    pub trace: Vec<String>,
}

impl Report {
    pub fn note(&mut self, budget: &Budget, what: impl std::fmt::Display) {
        if !self.verbose {
            return;
        }
        let at = millis(budget.start.elapsed());
        self.trace.push(format!("{what} at {at}"));
    }

    pub fn resolved(&mut self, budget: &Budget, host: &str, addrs: &[SocketAddr]) {
        if !self.verbose {
            return;
        }
        let list: Vec<String> = addrs.iter().map(SocketAddr::to_string).collect();
        self.note(
            budget,
            format_args!("resolved {host} to {}", list.join(", ")),
        );
    }

    pub fn connected(&mut self, budget: &Budget, peer: Peer) {
        self.note(budget, format_args!("connected to {peer}"));
        self.peer = Some(peer);
    }
}

/// A probe's answer when the target did answer: healthy or not, and what it said.
pub struct Verdict {
    pub healthy: bool,
    pub summary: String,
}

impl Verdict {
    pub fn healthy(summary: impl Into<String>) -> Verdict {
        Verdict {
            healthy: true,
            summary: summary.into(),
        }
    }

    pub fn unhealthy(summary: impl Into<String>) -> Verdict {
        Verdict {
            healthy: false,
            summary: summary.into(),
        }
    }
}

/// Resolves and connects to the target under the connect deadline, noting both steps.
pub fn open(target: &Target, budget: &Budget, report: &mut Report) -> Result<TcpStream, Error> {
    let addrs = net::resolve(&target.host, target.port, budget.connect_deadline)?;
    report.resolved(budget, &target.host, &addrs);
    let (stream, peer) = net::connect(&addrs, budget.connect_deadline)?;
    report.connected(budget, Peer::Tcp(peer));
    Ok(stream)
}

/// As `open`, or to `socket` instead when one is given (--unix-socket): the target's
/// host and port then name the service only in what is sent, not where it goes.
pub fn open_via(
    target: &Target,
    socket: Option<&UnixSocket>,
    budget: &Budget,
    report: &mut Report,
) -> Result<Stream, Error> {
    match socket {
        Some(socket) => {
            let stream = net::connect_unix(socket, budget.connect_deadline)?;
            report.connected(budget, Peer::Unix(socket.name.clone()));
            Ok(Stream::Unix(stream))
        }
        None => open(target, budget, report).map(Stream::Tcp),
    }
}

/// The most probes in flight at once: each is a thread with its own buffers, and a
/// container's pids limit counts threads. 32 keep 100 targets under 4 MB of RSS.
pub const MAX_IN_FLIGHT: usize = 32;

/// Probes every target, up to MAX_IN_FLIGHT at once, under the one deadline, and returns
/// the outcomes in the order given. The current thread probes too, so a refused spawn (a
/// pids limit, RLIMIT_NPROC) only means fewer workers: with none, it probes them all in turn.
pub fn run_all(config: &Config, budget: Budget) -> Vec<Outcome> {
    let targets = config.targets.as_slice();
    if let [target] = targets {
        // The common case needs no thread.
        return vec![run(target, config, budget)];
    }
    let next = AtomicUsize::new(0);
    let work = || take_turns(targets, &next, config, budget);
    let outcomes: Vec<(usize, Outcome)> = thread::scope(|scope| {
        let workers: Vec<_> = (1..targets.len().min(MAX_IN_FLIGHT))
            .map_while(|_| thread::Builder::new().spawn_scoped(scope, work).ok())
            .collect();
        let mut outcomes = work();
        for worker in workers {
            // A panic is a bug: it goes on up as it would in the release build (which
            // aborts), never into an "unhealthy" line that a test would take for an answer.
            outcomes.extend(
                worker
                    .join()
                    .unwrap_or_else(|panic| panic::resume_unwind(panic)),
            );
        }
        outcomes
    });
    // Back in the order given: each into its slot (a sort would cost 2 KB of binary).
    let mut ordered: Vec<Option<Outcome>> = targets.iter().map(|_| None).collect();
    for (index, outcome) in outcomes {
        ordered[index] = Some(outcome);
    }
    ordered.into_iter().flatten().collect()
}

/// One worker: takes the next target in line until none is left. A target whose turn
/// comes after the (connect) deadline is not probed, and its line says so.
fn take_turns(
    targets: &[Target],
    next: &AtomicUsize,
    config: &Config,
    budget: Budget,
) -> Vec<(usize, Outcome)> {
    let mut outcomes = Vec::new();
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some(target) = targets.get(index) else {
            return outcomes;
        };
        // Past the connect deadline a probe could only time out connecting: say why.
        let outcome = if Instant::now() < budget.connect_deadline {
            run(target, config, budget)
        } else {
            not_probed(target, config, budget)
        };
        outcomes.push((index, outcome));
    }
}

fn not_probed(target: &Target, config: &Config, budget: Budget) -> Outcome {
    Outcome {
        target: target.text.clone(),
        healthy: false,
        summary: describe(&Error::NotProbed(MAX_IN_FLIGHT)),
        peer: None,
        via_proxy: false,
        elapsed: budget.start.elapsed(),
        trace: Vec::new(),
        caveat: config.http.caveat(target),
    }
}

pub fn run(target: &Target, config: &Config, budget: Budget) -> Outcome {
    let mut report = Report {
        verbose: config.verbose,
        ..Report::default()
    };
    let result = (KINDS[target.kind].probe)(target, &config.http, &budget, &mut report);
    let (healthy, summary) = match result {
        Ok(verdict) => (verdict.healthy, verdict.summary),
        Err(error) => (false, describe(&error)),
    };
    Outcome {
        target: target.text.clone(),
        healthy,
        summary,
        peer: report.peer,
        via_proxy: report.via_proxy,
        elapsed: budget.start.elapsed(),
        trace: report.trace,
        caveat: config.http.caveat(target),
    }
}

/// The error's text, grown once: to_string() starts empty and reallocates as the text
/// grows, which made a refused connection cost more than a healthy probe.
pub(crate) fn describe(error: &Error) -> String {
    let mut text = String::with_capacity(128);
    let _ = write!(text, "{error}");
    text
}
