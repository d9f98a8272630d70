//! Every kind of probe against the four servers that are not the service it expects: a
//! closed port, a silent server (accepts, never answers), a server of another protocol,
//! and a flood (bytes without end). Each ends in one line that says what happened, with
//! the right exit code, within its deadline and in bounded memory.

use crate::common::*;

use std::time::Duration;

/// Peak resident memory allowed to a probe that is being flooded.
const MAX_RSS_KIB: u64 = 16 * 1024;

/// What stands behind the target's port.
enum Behind {
    Nothing,
    /// Server::start: reads what the client sends first, then replies.
    Replies(Reply),
    /// Server::greet: talks (or floods) without waiting for the client.
    Greets(Greeting),
}

struct Row {
    /// "kind: server", for the failure list.
    name: String,
    /// The target, with `{port}` for the server's port.
    target: &'static str,
    /// Options before the target.
    options: &'static [&'static str],
    behind: Behind,
    timeout: Duration,
    /// How long the run may take, at most: at once, or by its deadline.
    within: Duration,
    code: i32,
    /// In the line (stdout when healthy, stderr otherwise); `{target}` and `{port}` are
    /// filled in.
    says: String,
}

/// The probe kinds: a name, the target (`{port}` for the port), options for every run.
const KINDS: &[(&str, &str, &[&str])] = &[
    ("http", "http://127.0.0.1:{port}/health", &[]),
    ("tcp", "tcp://127.0.0.1:{port}", &[]),
    ("grpc", "grpc://127.0.0.1:{port}", &[]),
    ("postgres", "postgres://127.0.0.1:{port}", &[]),
    ("redis", "redis://127.0.0.1:{port}", &[]),
    ("mysql", "mysql://127.0.0.1:{port}", &[]),
    ("memcached", "memcached://127.0.0.1:{port}", &[]),
    ("nats", "nats://127.0.0.1:{port}", &[]),
    ("mqtt", "mqtt://127.0.0.1:{port}", &[]),
    ("fcgi", "fcgi://127.0.0.1:{port}/ping", &[]),
    ("amqp", "amqp://127.0.0.1:{port}", &[]),
    #[cfg(feature = "tls")]
    ("https", "https://127.0.0.1:{port}/health", &["--insecure"]),
];

const HTTP_400: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";

fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

/// Every row: each kind against each of the four servers (some kinds meet two servers
/// of another protocol, or two floods).
fn rows() -> Vec<Row> {
    // Every deadline here passes with nothing from the server, and the line says so.
    let timed_out = |phase: &str| format!("timed out {phase} (the server sent nothing)");
    let mut rows = Vec::new();
    for &(kind, target, options) in KINDS {
        let mut add = |server: &str, behind: Behind, timeout: u64, code: i32, says: String| {
            let timeout = secs(timeout);
            // A deadline that fires is met promptly; anything else ends long before it.
            let within = if says.starts_with("timed out") {
                timeout + Duration::from_millis(900)
            } else if matches!(behind, Behind::Nothing) {
                secs(2)
            } else {
                secs(3)
            };
            rows.push(Row {
                name: format!("{kind}: {server}"),
                target,
                options,
                behind,
                timeout,
                within,
                code,
                says,
            });
        };
        let silent = || Behind::Greets(Greeting::Bytes(Vec::new()));
        let refused = "{target}: connection refused (tried 127.0.0.1:{port}) in ".to_string();
        add("closed port", Behind::Nothing, 5, 1, refused);
        match kind {
            "http" => {
                add("silent", silent(), 1, 1, timed_out("awaiting the response"));
                let ssh = Reply::Answer(b"SSH-2.0-OpenSSH_9.6\r\n".to_vec());
                let says = "this is an SSH server, not an HTTP/1 server";
                add("SSH", Behind::Replies(ssh), 5, 1, says.into());
                let endless_headers = Reply::Endless {
                    head: b"HTTP/1.1 200 OK\r\n".to_vec(),
                    repeat: b"X-Again: and again\r\n".to_vec(),
                };
                let flood = Behind::Replies(endless_headers);
                add("endless headers", flood, 5, 1, "too many headers".into());
            }
            "tcp" => {
                // A connection established is all a TCP probe asks: none of these matter.
                let connected = || "healthy: tcp://127.0.0.1:{port}: connected".to_string();
                add("silent", silent(), 1, 0, connected());
                let http = Behind::Replies(Reply::Answer(HTTP_400.to_vec()));
                add("HTTP/1.1", http, 5, 0, connected());
                let flood = Behind::Greets(Greeting::Flood(Vec::new()));
                add("flood", flood, 5, 0, connected());
            }
            "grpc" => {
                add("silent", silent(), 1, 1, timed_out("awaiting the response"));
                let http = Behind::Replies(Reply::Answer(HTTP_400.to_vec()));
                let says = "this is an HTTP/1.1 server, not a gRPC server: try http://";
                add("HTTP/1.1", http, 5, 1, says.into());
                let flood = Behind::Greets(Greeting::Flood(Vec::new()));
                let says = "the server sent a frame of 7895160 bytes, more than the 16384 allowed";
                add("flood", flood, 5, 1, says.into());
            }
            "postgres" => {
                let phase = "awaiting the reply to the startup message";
                add("silent", silent(), 1, 1, timed_out(phase));
                let http = Behind::Replies(Reply::Answer(HTTP_400.to_vec()));
                let says = "this is an HTTP/1.1 server, not a PostgreSQL server: try http://";
                add("HTTP/1.1", http, 5, 1, says.into());
                // 'E' then a length of "xxxx": 2 GB, which no error reply is.
                let flood = Behind::Greets(Greeting::Flood(b"E".to_vec()));
                let says = "not a PostgreSQL server (it said 'Exxxx";
                add("flood", flood, 5, 1, says.into());
            }
            "redis" => {
                add(
                    "silent",
                    silent(),
                    1,
                    1,
                    timed_out("awaiting the reply to PING"),
                );
                let http = Behind::Replies(Reply::Answer(HTTP_400.to_vec()));
                let says = "this is an HTTP/1.1 server, not a Redis server: try http://";
                add("HTTP/1.1", http, 5, 1, says.into());
                let flood = Behind::Greets(Greeting::Flood(b"+".to_vec()));
                let says = "not a Redis server (a reply line longer than 1024 bytes)";
                add("flood", flood, 5, 1, says.into());
            }
            "mysql" => {
                let greeting = timed_out("awaiting the server's greeting");
                add("silent", silent(), 1, 1, greeting.clone());
                // An HTTP server waits for a request that a MySQL client never sends.
                let http = Behind::Replies(http("200 OK", &[], "ok"));
                add("HTTP server", http, 1, 1, greeting);
                let ssh = Greeting::Bytes(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n".to_vec());
                let says = "this is an SSH server, not a MySQL server";
                add("SSH", Behind::Greets(ssh), 5, 1, says.into());
                // A plausible header (1000 bytes of payload), then a version string that
                // never ends.
                let flood = Greeting::Flood(vec![0xe8, 0x03, 0, 0, 0x0a]);
                let says = "not a MySQL server";
                add("endless version", Behind::Greets(flood), 5, 1, says.into());
                // A header that claims 16 MB is refused before reading it.
                let flood = Greeting::Flood(vec![0xff, 0xff, 0xff, 0]);
                add("16 MB packet", Behind::Greets(flood), 5, 1, says.into());
            }
            "memcached" => {
                let phase = "awaiting the reply to version";
                add("silent", silent(), 1, 1, timed_out(phase));
                let http = Behind::Replies(Reply::Answer(HTTP_400.to_vec()));
                let says = "this is an HTTP/1.1 server, not a memcached server: try http://";
                add("HTTP/1.1", http, 5, 1, says.into());
                let flood = Behind::Greets(Greeting::Flood(b"VERSION ".to_vec()));
                let says = "not a memcached server (a reply line longer than 512 bytes)";
                add("flood", flood, 5, 1, says.into());
            }
            "nats" => {
                let greeting = timed_out("awaiting the server's INFO");
                add("silent", silent(), 1, 1, greeting.clone());
                // An HTTP server waits for a request that a NATS client never sends.
                let http = Behind::Replies(http("200 OK", &[], "ok"));
                add("HTTP server", http, 1, 1, greeting);
                let ssh = Greeting::Bytes(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n".to_vec());
                let says = "this is an SSH server, not a NATS server";
                add("SSH", Behind::Greets(ssh), 5, 1, says.into());
                let flood = Behind::Greets(Greeting::Flood(b"INFO {".to_vec()));
                let says = "not a NATS server (a greeting line longer than 8192 bytes)";
                add("flood", flood, 5, 1, says.into());
            }
            "mqtt" => {
                add("silent", silent(), 1, 1, timed_out("awaiting the CONNACK"));
                let http = Behind::Replies(Reply::Answer(HTTP_400.to_vec()));
                let says = "this is an HTTP/1.1 server, not an MQTT server: try http://";
                add("HTTP/1.1", http, 5, 1, says.into());
                // A CONNACK is 4 bytes; no more than 16 are read, whatever follows.
                let flood = Behind::Greets(Greeting::Flood(Vec::new()));
                let says = "not an MQTT server (it said 'xxxxxxxxxxxxxxxx')";
                add("flood", flood, 5, 1, says.into());
            }
            "fcgi" => {
                let phase = "awaiting the FastCGI response";
                add("silent", silent(), 1, 1, timed_out(phase));
                let http = Behind::Replies(Reply::Answer(HTTP_400.to_vec()));
                let says = "this is an HTTP/1.1 server, not a FastCGI server: try http://";
                add("HTTP/1.1", http, 5, 1, says.into());
                let flood = Behind::Greets(Greeting::Flood(Vec::new()));
                let says = "not a FastCGI server (it said 'xxxxxxxx')";
                add("flood", flood, 5, 1, says.into());
                // A STDOUT record of 30840 bytes, then headers of 'x' again.
                let stdout = Greeting::Flood(vec![1, 6, 0, 1]);
                add("endless STDOUT", Behind::Greets(stdout), 5, 1, says.into());
            }
            "amqp" => {
                add(
                    "silent",
                    silent(),
                    1,
                    1,
                    timed_out("awaiting Connection.Start"),
                );
                let http = Behind::Replies(Reply::Answer(HTTP_400.to_vec()));
                let says = "this is an HTTP/1.1 server, not an AMQP server: try http://";
                add("HTTP/1.1", http, 5, 1, says.into());
                let flood = Behind::Greets(Greeting::Flood(Vec::new()));
                let says = "not an AMQP server (it said 'xxxxxxxx";
                add("flood", flood, 5, 1, says.into());
                // A method frame on channel 0 that says it is 2 GB long.
                let frame = Behind::Greets(Greeting::Flood(vec![1, 0, 0]));
                let says =
                    "not an AMQP server (a frame of 2021161080 bytes, more than the 8192 allowed)";
                add("2 GB frame", frame, 5, 1, says.into());
            }
            "https" => {
                // Accepts and reads the ClientHello, then never answers it.
                let phase = timed_out("during the TLS handshake");
                add("silent", silent(), 1, 1, phase);
                let http = Behind::Replies(Reply::Answer(HTTP_400.to_vec()));
                add("HTTP/1.1", http, 5, 1, "does not speak TLS".into());
                let flood = Behind::Greets(Greeting::Flood(Vec::new()));
                add("flood", flood, 5, 1, "does not speak TLS".into());
            }
            _ => panic!("no rows for the kind {kind}"),
        }
    }
    rows
}

fn check_row(row: &Row) -> Result<(), String> {
    let server = match &row.behind {
        Behind::Nothing => None,
        Behind::Replies(reply) => Some(Server::start(reply.clone())),
        Behind::Greets(greeting) => Some(Server::greet(greeting.clone())),
    };
    let port = server.as_ref().map_or_else(closed_port, Server::port);
    let target = row.target.replace("{port}", &port.to_string());
    let says = row
        .says
        .replace("{target}", &target)
        .replace("{port}", &port.to_string());
    let timeout = format!("{}ms", row.timeout.as_millis());
    let mut args = vec!["--timeout", &timeout];
    args.extend(row.options);
    args.push(&target);
    let verdict = Verdict {
        code: row.code,
        says: &says,
        within: row.within,
        max_rss_kib: MAX_RSS_KIB,
    };
    verdict.check(&row.name, &args)
}

#[test]
fn every_kind_against_closed_silent_other_and_flooding_servers() {
    check_each(&rows(), check_row);
}
