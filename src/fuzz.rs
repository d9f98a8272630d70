//! The fuzz targets' bodies, one per parser of what a server sends or a user writes:
//! fuzz/fuzz_targets/NAME.rs (libFuzzer, nightly) calls `run(NAME, input)`, and
//! src/fuzz/tests.rs runs every body over fuzz/seeds/NAME and seeded random inputs
//! on stable. Compiled only for tests and `--cfg fuzzing`: the binary's API is unchanged.
//!
//! A body panics when its oracle fails: the line a user would see is longer than
//! MAX_LINE or holds a character that could forge or disguise a line, a password shows
//! in it, or a target taken as valid gives a request the HTTP client refuses.

mod scripted;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::cli::values::{expand, parse_duration, parse_header};
use crate::cli::{self, Command};
use crate::config::{Config, JsonCheck, StatusSet};
use crate::net::Peer;
use crate::outcome::{MAX_LINE, Outcome};
use crate::probe::grpc::hpack;
use crate::probe::http::json;
use crate::probe::wire::{Converse, Wire};
use crate::probe::{self, Answer, Budget, KINDS, Report};
use crate::target::{Target, redact};
use scripted::Scripted;

/// A target's body: panics when its oracle fails; returns the line a user would see, for
/// the targets that probe.
pub type Body = fn(&[u8]) -> Option<String>;

/// Every fuzz target, by the name of its file in fuzz/fuzz_targets/ and fuzz/seeds/.
pub const TARGETS: &[(&str, Body)] = &[
    ("hpack", hpack_blocks),
    ("grpc", grpc_reply),
    ("postgres", postgres_reply),
    ("redis", redis_reply),
    ("mysql", mysql_reply),
    ("memcached", memcached_reply),
    ("nats", nats_info),
    ("mqtt", mqtt_connack),
    ("fcgi", fcgi_records),
    ("amqp", amqp_frames),
    ("http", http_response),
    ("target", target_text),
    ("duration", duration_text),
    ("status", status_text),
    ("header", header_text),
    ("expand", expand_text),
    ("json", json_body),
];

/// Runs the body of target `name` over `input` (panics on an unknown name).
pub fn run(name: &str, input: &[u8]) -> Option<String> {
    match TARGETS.iter().find(|(known, _)| *known == name) {
        Some((_, body)) => body(input),
        None => panic!("no fuzz target {name}"),
    }
}

/// The line oracle, for every line a user sees. The outcome line holds it by
/// construction today (outcome::printable and the cap); lines of other kinds (usage
/// errors, --wait progress) can be held to it here as they get the same treatment.
pub fn check_line(line: &str) {
    assert!(
        line.len() <= MAX_LINE,
        "a line of {} bytes: {line:?}",
        line.len()
    );
    let bad = line.chars().find(|&c| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    });
    assert!(bad.is_none(), "{bad:?} in the line {line:?}");
}

/// The URL's password (s3cr3t-Pa55 in the URLs below that take one) never reaches a
/// line. Only the URL's: a server may say those letters itself when the URL has none
/// (the first crash the redis target found was this oracle's, not the probe's).
fn check_secret(line: &str, target: &Target) {
    if let Some(password) = &target.password {
        let password = password.expose();
        assert!(!line.contains(password), "the password in {line:?}");
    }
}

/// The Config of `healthprobe ARGS`, parsed as the binary parses it.
fn config(args: &[&str]) -> Config {
    let args = args.iter().map(OsString::from).collect();
    match cli::parse(args, &|_| None, &[], KINDS) {
        Ok(Command::Probe(config)) => *config,
        other => panic!("the fuzz targets' own arguments failed: {other:?}"),
    }
}

/// Judges `answer` as probe::run does and checks its line.
fn check_answer(
    answer: Answer,
    target: &Target,
    config: &Config,
    report: Report,
    start: Instant,
) -> String {
    let (healthy, summary) = match answer {
        Ok(verdict) => (verdict.healthy, verdict.summary),
        Err(error) => (false, probe::describe(&error)),
    };
    // The --verbose lines are printed too.
    for note in &report.trace {
        check_line(note);
    }
    let outcome = Outcome {
        target: target.text.clone(),
        healthy,
        summary,
        peer: Some(Peer::Tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, 1)))),
        via_proxy: false,
        elapsed: start.elapsed(),
        trace: report.trace,
        caveat: config.http.caveat(target),
    };
    let line = outcome.line();
    check_line(&line);
    check_secret(&line, target);
    line
}

/// A kind's conversation over the scripted server; the input's first byte picks one of
/// `args` (each a target and its options), the rest is the server's side.
/// `server` and `scheme` as the kind's probe() names them.
struct Kind {
    args: &'static [&'static [&'static str]],
    server: &'static str,
    scheme: &'static str,
}

fn wire_reply<'a>(input: &'a [u8], kind: Kind, converse: Converse<Scripted<'a>>) -> Option<String> {
    let (&pick, input) = input.split_first()?;
    let config = config(kind.args[usize::from(pick) % kind.args.len()]);
    let target = &config.targets[0];
    let start = Instant::now();
    let budget = budget(start);
    let mut report = Report {
        verbose: true,
        ..Report::default()
    };
    let wire = Wire::over(Scripted::new(input), kind.server, kind.scheme);
    let answer = converse(wire, target, &config.http, &budget, &mut report);
    Some(check_answer(answer, target, &config, report, start))
}

/// A deadline nothing in memory comes near: Scripted ends in a timeout by itself.
fn budget(start: Instant) -> Budget {
    Budget {
        start,
        deadline: start + Duration::from_secs(60),
        connect_deadline: start + Duration::from_secs(60),
    }
}

const POSTGRES: &[&[&str]] = &[
    &["postgres://app:s3cr3t-Pa55@127.0.0.1/appdb"],
    &["postgres://127.0.0.1:5432"],
];

fn postgres_reply(input: &[u8]) -> Option<String> {
    wire_reply(
        input,
        Kind {
            args: POSTGRES,
            server: "a PostgreSQL server",
            scheme: "postgres://",
        },
        probe::postgres::converse,
    )
}

const REDIS: &[&[&str]] = &[
    &["redis://:s3cr3t-Pa55@127.0.0.1"],
    &["redis://default:s3cr3t-Pa55@127.0.0.1:6379/0"],
    &["redis://127.0.0.1"],
];

fn redis_reply(input: &[u8]) -> Option<String> {
    wire_reply(
        input,
        Kind {
            args: REDIS,
            server: "a Redis server",
            scheme: "redis://",
        },
        probe::redis::converse,
    )
}

const MYSQL: &[&[&str]] = &[&["mysql://app:s3cr3t-Pa55@127.0.0.1/appdb"]];

fn mysql_reply(input: &[u8]) -> Option<String> {
    wire_reply(
        input,
        Kind {
            args: MYSQL,
            server: "a MySQL server",
            scheme: "mysql://",
        },
        probe::mysql::converse,
    )
}

fn memcached_reply(input: &[u8]) -> Option<String> {
    wire_reply(
        input,
        Kind {
            args: &[&["memcached://127.0.0.1"]],
            server: "a memcached server",
            scheme: "memcached://",
        },
        probe::memcached::converse,
    )
}

fn nats_info(input: &[u8]) -> Option<String> {
    wire_reply(
        input,
        Kind {
            args: &[&["nats://127.0.0.1"]],
            server: "a NATS server",
            scheme: "nats://",
        },
        probe::nats::converse,
    )
}

fn mqtt_connack(input: &[u8]) -> Option<String> {
    wire_reply(
        input,
        Kind {
            args: &[&["mqtt://127.0.0.1"]],
            server: "an MQTT server",
            scheme: "mqtt://",
        },
        probe::mqtt::converse,
    )
}

const FCGI: &[&[&str]] = &[
    &["fcgi://127.0.0.1:9000/ping"],
    &[
        "--status",
        "200,3xx",
        "--body-contains",
        "pong",
        "fcgi://127.0.0.1:9000/status?full",
    ],
];

fn fcgi_records(input: &[u8]) -> Option<String> {
    wire_reply(
        input,
        Kind {
            args: FCGI,
            server: "a FastCGI server",
            scheme: "fcgi://",
        },
        probe::fcgi::converse,
    )
}

fn amqp_frames(input: &[u8]) -> Option<String> {
    wire_reply(
        input,
        Kind {
            args: &[&["amqp://guest:s3cr3t-Pa55@127.0.0.1/vhost"]],
            server: "an AMQP server",
            scheme: "amqp://",
        },
        probe::amqp::converse,
    )
}

const GRPC: &[&[&str]] = &[
    &["grpc://127.0.0.1:50051"],
    &["grpc://127.0.0.1:50051/my.pkg.Service"],
    &["-H", "x-token: abc", "grpc://127.0.0.1:50051/a%20b"],
];

/// The HTTP/2 frame reader, HPACK and the gRPC judgement as one conversation.
fn grpc_reply(input: &[u8]) -> Option<String> {
    let (&pick, input) = input.split_first()?;
    let config = config(GRPC[usize::from(pick) % GRPC.len()]);
    let target = &config.targets[0];
    let start = Instant::now();
    let mut report = Report::default();
    let answer = probe::grpc::converse(
        Scripted::new(input),
        target,
        &config.http,
        &budget(start),
        &mut report,
    );
    Some(check_answer(answer, target, &config, report, start))
}

/// Header blocks for one decoder (its dynamic table carries over): the first byte says
/// where the first block ends.
fn hpack_blocks(input: &[u8]) -> Option<String> {
    let (&split, input) = input.split_first()?;
    let (first, second) = input.split_at(usize::from(split).min(input.len()));
    let mut decoder = hpack::Decoder::new(4096);
    let max_list = 16 * 1024;
    for block in [first, second] {
        if let Ok(fields) = decoder.decode(block, max_list) {
            let size: usize = fields.iter().map(|(n, v)| n.len() + v.len() + 32).sum();
            assert!(size <= max_list, "a header list of {size} bytes");
        }
    }
    None
}

/// The whole http:// probe (ureq's head parser, our judgement, redirects) against a
/// loopback server that sends the input: ureq's transport owns its connection, and the
/// real socket keeps this target on the binary's own path.
fn http_response(input: &[u8]) -> Option<String> {
    scripted::http_exchange(input, |port, hint| {
        let url = format!("http://127.0.0.1:{port}/health");
        let mut args = vec!["--timeout", "2s"];
        match hint % 4 {
            0 => {}
            1 => args.extend(["--status", "2xx,404", "--body-contains", "ok"]),
            2 => args.extend(["--method", "HEAD", "-H", "Host: example.test", "-v"]),
            _ => args.extend(["--json", "/status=UP,ok", "--json", "/checks/0/healthy"]),
        }
        args.push(&url);
        let config = config(&args);
        let start = Instant::now();
        let outcome = probe::run(&config.targets[0], &config, Budget::new(&config, start));
        for note in &outcome.trace {
            check_line(note);
        }
        let line = outcome.line();
        check_line(&line);
        line
    })
}

fn text(input: &[u8]) -> Option<&str> {
    std::str::from_utf8(input).ok()
}

/// A target as the user writes it. One taken as valid must give the HTTP client a URI
/// it accepts, else the probe would end as "cannot build the request".
fn target_text(input: &[u8]) -> Option<String> {
    let text = text(input)?;
    redact(text, KINDS);
    let target = Target::parse(text, KINDS).ok()?;
    if target.scheme == "http" || target.scheme == "https" {
        let url = target.url();
        if let Err(e) = ureq::http::Uri::try_from(url.as_str()) {
            panic!("{text:?} was taken, but its URL {url:?} is not a URI: {e}");
        }
    }
    None
}

/// --timeout and friends: a duration taken is positive and at most a day.
fn duration_text(input: &[u8]) -> Option<String> {
    let text = text(input)?;
    if let Ok(duration) = parse_duration(text) {
        assert!(!duration.is_zero() && duration <= cli::values::MAX_DURATION);
    }
    None
}

fn status_text(input: &[u8]) -> Option<String> {
    let text = text(input)?;
    if let Some(set) = StatusSet::parse(text) {
        assert!(!set.text().contains(char::is_whitespace));
        let accepted = (0..1000).filter(|&code| set.accepts(code));
        assert!(accepted.clone().all(|code| (100..600).contains(&code)));
    }
    None
}

/// -H: a header taken must be one the HTTP client can send.
fn header_text(input: &[u8]) -> Option<String> {
    let text = text(input)?;
    if let Some((name, value)) = parse_header(text) {
        assert!(
            ureq::http::HeaderName::from_bytes(name.as_bytes()).is_ok(),
            "{name:?}"
        );
        assert!(
            ureq::http::HeaderValue::from_str(&value).is_ok(),
            "{value:?}"
        );
    }
    None
}

/// ${VAR} expansion: bounded by what it was given, and never a panic.
fn expand_text(input: &[u8]) -> Option<String> {
    let text = text(input)?;
    let env = |name: &str| match name {
        "PORT" => Some(OsString::from("8080")),
        "EMPTY" => Some(OsString::new()),
        "LONG" => Some(OsString::from("x".repeat(100))),
        _ => None,
    };
    if let Ok(out) = expand(text, "TARGET", &env) {
        assert!(
            out.len() <= text.len() * 100,
            "{} bytes from {}",
            out.len(),
            text.len()
        );
    }
    None
}

/// A --json body: json::parse never panics and points inside the input when it refuses;
/// a document it takes reads back the same from inside an object (so no byte of it was
/// misread); and the checks' words, in a line, are printable and within MAX_LINE.
fn json_body(input: &[u8]) -> Option<String> {
    let parsed = json::parse(input);
    match &parsed {
        Err(invalid) => assert!(invalid.at <= input.len(), "{invalid:?}"),
        Ok(value) if !input.starts_with("\u{feff}".as_bytes()) => {
            let wrapped = [b"{\"k\":".as_slice(), input, b"}"].concat();
            match json::parse(&wrapped) {
                Ok(outer) => assert_eq!(outer.pointer(&["k".to_string()]), Some(value)),
                Err(e) => assert_eq!(e.why, "nested deeper than 64 levels", "{e:?}"),
            }
        }
        Ok(_) => {}
    }
    let checks = ["/status=UP,ok", "/checks/0/healthy", "/a~1b/~0c=1.0,null"]
        .map(|text| JsonCheck::parse(text).expect("a valid check"));
    let (healthy, seen) = match json::judge(input, &checks) {
        Ok(seen) => (true, seen),
        Err(why) => (false, why),
    };
    assert!(
        parsed.is_ok() || !healthy,
        "not JSON, but judged healthy: {seen:?}"
    );
    let outcome = Outcome {
        target: "http://127.0.0.1:8080/health".to_string(),
        healthy,
        summary: ["200 OK", &seen].concat(),
        peer: Some(Peer::Tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, 1)))),
        via_proxy: false,
        elapsed: Duration::from_millis(3),
        trace: Vec::new(),
        caveat: None,
    };
    let line = outcome.line();
    check_line(&line);
    Some(line)
}
