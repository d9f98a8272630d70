//! The mistakes users make, each answered with its fix (docs/mistakes.md): every `$`
//! line of that page is run here and must print exactly what the page shows, and a
//! server of another protocol is named by every kind of probe.

use crate::common::*;

const PAGE: &str = include_str!("../docs/mistakes.md");

/// Splits a command line of the page: words separated by spaces, '...' quoted.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '\'' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// The page's examples: (command line, what it prints), from its console blocks.
fn examples() -> Vec<(String, String)> {
    let mut examples: Vec<(String, String)> = Vec::new();
    let mut in_console = false;
    for line in PAGE.lines() {
        match line {
            "```console" => in_console = true,
            "```" => in_console = false,
            _ if !in_console => {}
            _ => match line.strip_prefix("$ ") {
                Some(command) => examples.push((command.to_string(), String::new())),
                None => {
                    let (_, printed) = examples.last_mut().expect("a $ line first");
                    printed.push_str(line);
                    printed.push('\n');
                }
            },
        }
    }
    examples
}

#[test]
fn the_pages_examples_print_what_it_shows() {
    let examples = examples();
    assert!(examples.len() >= 10, "{examples:?}");
    check_each(&examples, |(command, printed)| {
        let words = words(command);
        let program = words
            .iter()
            .position(|word| word == "healthprobe")
            .ok_or_else(|| format!("{command}: no healthprobe"))?;
        let env: Vec<(&str, &str)> = words[..program]
            .iter()
            .filter_map(|word| word.split_once('='))
            .collect();
        let args: Vec<&str> = words[program + 1..].iter().map(String::as_str).collect();
        let run = probe_env(&args, &env);
        let mut problems = sane(&run);
        if run.code != 64 {
            problems.push(format!("exit {}", run.code));
        }
        if &run.output() != printed {
            problems.push(format!("printed {:?}, not {printed:?}", run.output()));
        }
        match problems.is_empty() {
            true => Ok(()),
            false => Err(format!("{command}: {}", problems.join("; "))),
        }
    });
}

/// What servers of other protocols send first (unasked, or to anything sent).
const HTTP_1: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
/// An HTTP/2 server's preface: an empty SETTINGS frame.
const HTTP_2: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];
/// A TLS alert record (protocol version), as some TLS servers answer plain text.
const TLS: &[u8] = &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46];
const SSH: &[u8] = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
/// A MySQL 8 greeting's first bytes: length 74, sequence 0, protocol 10, version.
const MYSQL: &[u8] = b"\x4a\x00\x00\x00\x0a8.0.36\x00\x08\x00\x00\x00";
/// PostgreSQL's answer to bytes that are not a startup message.
const POSTGRES: &[u8] =
    b"E\x00\x00\x00\x50SFATAL\x00VFATAL\x00C08P01\x00Minvalid length of startup packet\x00\x00";
const REDIS: &[u8] = b"-ERR unknown command 'PRI'\r\n";

#[test]
fn every_kind_names_a_server_of_another_protocol() {
    // (kind's target, what its line calls it, the other server's first bytes, its words)
    let expected = |kind: &str| match kind {
        "http" => "an HTTP/1 server",
        "grpc" => "a gRPC server",
        "postgres" => "a PostgreSQL server",
        "redis" => "a Redis server",
        "mysql" => "a MySQL server",
        "memcached" => "a memcached server",
        "nats" => "a NATS server",
        "mqtt" => "an MQTT server",
        "fcgi" => "a FastCGI server",
        "amqp" => "an AMQP server",
        _ => panic!("no name for {kind}"),
    };
    let kinds = [
        ("http", "http://127.0.0.1:{port}/"),
        ("grpc", "grpc://127.0.0.1:{port}"),
        ("postgres", "postgres://127.0.0.1:{port}"),
        ("redis", "redis://127.0.0.1:{port}"),
        ("mysql", "mysql://127.0.0.1:{port}"),
        ("memcached", "memcached://127.0.0.1:{port}"),
        ("nats", "nats://127.0.0.1:{port}"),
        ("mqtt", "mqtt://127.0.0.1:{port}"),
        ("fcgi", "fcgi://127.0.0.1:{port}/ping"),
        ("amqp", "amqp://127.0.0.1:{port}"),
    ];
    let others: [(&str, &[u8], &str, Option<&str>); 7] = [
        ("http", HTTP_1, "an HTTP/1.1 server", Some("http://")),
        ("grpc", HTTP_2, "an HTTP/2 server (gRPC?)", Some("grpc://")),
        ("https", TLS, "a TLS server", Some("https://")),
        ("ssh", SSH, "an SSH server", None),
        ("mysql", MYSQL, "a MySQL server", Some("mysql://")),
        (
            "postgres",
            POSTGRES,
            "a PostgreSQL server",
            Some("postgres://"),
        ),
        ("redis", REDIS, "a Redis server", Some("redis://")),
    ];
    let mut rows = Vec::new();
    for (kind, target) in kinds {
        for (other, bytes, name, scheme) in others {
            // Not the same protocol; and '-ERR ...' is NATS's own refusal too (the nats
            // tests quote it as one).
            if other == kind || (kind, other) == ("nats", "redis") {
                continue;
            }
            // The TLS flavour of gRPC is grpcs://.
            let scheme = match (kind, other) {
                ("grpc", "https") => Some("grpcs://"),
                _ => scheme,
            };
            let says = match scheme {
                Some(scheme) => format!("this is {name}, not {}: try {scheme}", expected(kind)),
                None => format!("this is {name}, not {}", expected(kind)),
            };
            rows.push((format!("{kind} against {other}"), target, bytes, says));
        }
    }
    check_each(&rows, |(name, target, bytes, says)| {
        let server = Server::greet(Greeting::Bytes(bytes.to_vec()));
        let target = target.replace("{port}", &server.port().to_string());
        let verdict = Verdict {
            code: 1,
            says,
            within: std::time::Duration::from_secs(3),
            max_rss_kib: 16 * 1024,
        };
        verdict.check(name, &["--timeout", "2s", &target])
    });
}

#[test]
fn the_pages_protocol_lines_are_the_binarys() {
    // The lines quoted in the page's last section, each as a probe prints it.
    let cases: [(&str, &[u8], &str); 5] = [
        (
            "grpc://127.0.0.1:{port}",
            HTTP_1,
            "this is an HTTP/1.1 server, not a gRPC server: try http://",
        ),
        (
            "http://127.0.0.1:{port}/",
            HTTP_2,
            "this is an HTTP/2 server (gRPC?), not an HTTP/1 server: try grpc://",
        ),
        (
            "postgres://127.0.0.1:{port}",
            HTTP_1,
            "this is an HTTP/1.1 server, not a PostgreSQL server: try http://",
        ),
        (
            "redis://127.0.0.1:{port}",
            MYSQL,
            "this is a MySQL server, not a Redis server: try mysql://",
        ),
        (
            "mysql://127.0.0.1:{port}",
            SSH,
            "this is an SSH server, not a MySQL server",
        ),
    ];
    for (target, bytes, says) in cases {
        assert!(
            PAGE.contains(&format!("`{says}`")),
            "docs/mistakes.md lacks {says:?}"
        );
        let server = Server::greet(Greeting::Bytes(bytes.to_vec()));
        let target = target.replace("{port}", &server.port().to_string());
        let run = probe(&["--timeout", "2s", &target]);
        assert_eq!(run.code, 1, "{run:?}");
        assert!(run.stderr.contains(says), "{says:?}: {run:?}");
    }
    // A TLS server that closes on a first record that is not TLS.
    let says = "the server closed the connection without an HTTP/2 answer (TLS? try grpcs://)";
    assert!(PAGE.contains(says), "docs/mistakes.md lacks {says:?}");
    let server = Server::start(Reply::Close);
    let run = probe(&[&format!("grpc://127.0.0.1:{}", server.port())]);
    assert!(run.stderr.contains(says), "{run:?}");
    // A server that says nothing to a PostgreSQL client.
    let says = "timed out awaiting the reply to the startup message (the server sent nothing)";
    assert!(PAGE.contains(says), "docs/mistakes.md lacks {says:?}");
    let server = Server::greet(Greeting::Bytes(Vec::new()));
    let run = probe(&[
        "--timeout",
        "500ms",
        &format!("postgres://127.0.0.1:{}", server.port()),
    ]);
    assert!(run.stderr.contains(says), "{run:?}");
}

#[test]
fn each_mistake_is_told_apart_and_the_right_forms_work() {
    let ok = || http("200 OK", &[], "ok");
    check(vec![
        // Durations: Go's and Docker's forms, -t, and bare numbers.
        Case::new("1m30s", &["--timeout", "1m30s", "{url}/"])
            .server(ok())
            .healthy("200 OK"),
        Case::new("-t 1h", &["-t", "1h", "{url}/"])
            .server(ok())
            .healthy("200 OK"),
        Case::new("-t=500ms", &["-t=500ms", "{url}/"])
            .server(ok())
            .healthy("200 OK"),
        Case::new("a bare 600", &["--timeout", "600", "{url}/"])
            .server(ok())
            .healthy("200 OK"),
        Case::new("a bare 900 for --wait", &["--wait", "900", "{url}/"])
            .server(ok())
            .healthy("200 OK"),
        Case::new("--timeout=5000", &["--timeout=5000", "{url}/"])
            .usage("--timeout: '5000' would be 5000 seconds (a number alone is seconds): write 5000ms or 5s"),
        Case::new("--connect-timeout 1500", &["--connect-timeout", "1500", "{url}/"])
            .usage("--connect-timeout: '1500' would be 1500 seconds (a number alone is seconds): write 1500ms or 1.5s"),
        Case::new("HEALTHPROBE_TIMEOUT=5000", &["{url}/"])
            .env("HEALTHPROBE_TIMEOUT", "5000")
            .usage("HEALTHPROBE_TIMEOUT: '5000' would be 5000 seconds"),
        Case::new("two days", &["--wait", "48h", "{url}/"])
            .usage("--wait: invalid value '48h': expected at most 24h (a day)"),
        // Unknown, repeated, misspelt.
        Case::new("repeated flag", &["-q", "--quiet", "{url}/"])
            .usage("option '--quiet' is given more than once"),
        Case::new("repeated =", &["--status=200", "--status=2xx", "{url}/"])
            .usage("option '--status' is given more than once"),
        Case::new("misspelt with =", &["--stauts=200", "{url}/"])
            .usage("unknown option '--stauts=200' (did you mean --status?)"),
        Case::new("far from any", &["--frobnicate", "{url}/"])
            .usage("unknown option '--frobnicate' (see healthprobe --help)"),
        Case::new("unknown variable, none near", &["{url}/"])
            .env("HEALTHPROBE_IMAGE", "app:1")
            .usage("unknown variable HEALTHPROBE_IMAGE (the HEALTHPROBE_ prefix is healthprobe's own)"),
        Case::new("unknown but empty variable", &["{url}/"])
            .server(ok())
            .env("HEALTHPROBE_TIMOUT", "")
            .healthy("200 OK"),
        // Commas, on the command line too; a comma elsewhere in a URL is fine.
        Case::new("comma on the command line", &["{url}/,redis://cache"])
            .usage("holds ',redis://': separate targets with spaces, not commas"),
        Case::new("comma in a query", &["{url}/health?checks=db,cache"])
            .server(ok())
            .healthy("200 OK")
            .seen(&["GET /health?checks=db,cache"]),
        // An option that applies to some of the targets is fine.
        Case::new("--status with http and tcp", &["--status", "2xx", "{url}/", "tcp://{addr}"])
            .server(ok())
            .healthy("healthy: tcp://{addr}: connected"),
        Case::new("--user-agent with redis only", &["--user-agent", "x", "redis://127.0.0.1:{port}"])
            .usage("--user-agent applies only to http://, https://, grpc://, grpcs:// targets, and none is given"),
    ]);
}
