//! grpc:// against the reference implementation's health service (tests/grpc_server.py,
//! grpcio + grpcio-health-checking), and against scripted servers for what a real one
//! never sends: HTTP/1.1, TLS, silence, and hostile or unusual HTTP/2.
use crate::common::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Duration;

/// tests/grpc_server.py, killed by PID when dropped, however the test ends.
struct PythonServers {
    child: Child,
    /// grpc.health.v1.Health with the statuses of grpc_server.py's STATUSES.
    health: u16,
    /// No service at all.
    bare: u16,
    /// The health service, only for calls with `x-probe-token: secret`.
    token: u16,
    /// One JSON line per health check: the service, metadata and deadline it saw.
    calls: Receiver<String>,
}

impl Drop for PythonServers {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl PythonServers {
    /// None (with a notice) where grpcio is missing, except under CI, which must run these.
    fn start() -> Option<PythonServers> {
        let importable = Command::new("python3")
            .args(["-c", "import grpc, grpc_health"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        let what = "python3 with grpcio and grpcio-health-checking \
                    (pip install grpcio grpcio-health-checking)";
        if !require(importable, "grpc", what) {
            return None;
        }
        let mut child = Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/grpc_server.py"))
            // Its stdin closing (when this process dies) also stops it.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, calls) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut servers = PythonServers {
            child,
            health: 0,
            bare: 0,
            token: 0,
            calls,
        };
        let ports = servers
            .calls
            .recv_timeout(Duration::from_secs(60))
            .expect("grpc_server.py prints its ports");
        let ports: Vec<u16> = ports
            .strip_prefix("PORTS ")
            .expect("a PORTS line")
            .split(' ')
            .map(|port| port.parse().expect("a port"))
            .collect();
        let [health, bare, token] = ports[..] else {
            panic!("three ports: {ports:?}");
        };
        (servers.health, servers.bare, servers.token) = (health, bare, token);
        Some(servers)
    }

    /// The next health check the servers logged.
    fn next_call(&self) -> String {
        self.calls
            .recv_timeout(Duration::from_secs(10))
            .expect("the server logged the call")
    }
}

fn grpc(port: u16, service: &str) -> String {
    format!("grpc://127.0.0.1:{port}{service}")
}

/// A case: the probe's exit code and the text its line must hold.
fn expect(run: &Run, code: i32, text: &str) {
    assert_eq!(run.code, code, "{run:?}");
    let line = if code == 0 { &run.stdout } else { &run.stderr };
    assert!(line.contains(text), "expected {text:?} in {run:?}");
}

#[test]
fn health_statuses_mean_what_they_mean_to_grpc_health_probe() {
    let Some(servers) = PythonServers::start() else {
        return;
    };
    let cases = [
        ("", 0, "SERVING from 127.0.0.1:"),
        ("/", 0, "SERVING"),
        ("/svc.Serving", 0, "SERVING"),
        ("/svc.NotServing", 1, "NOT_SERVING (expected SERVING)"),
        ("/svc.Unknown", 1, "UNKNOWN (expected SERVING)"),
        (
            "/svc.ServiceUnknown",
            1,
            "SERVICE_UNKNOWN (expected SERVING)",
        ),
        (
            "/no.such.Service",
            1,
            "gRPC status 5 NOT_FOUND (the server does not know the service 'no.such.Service')",
        ),
        ("/svc.Space%20Name", 0, "SERVING"),
    ];
    for (service, code, text) in cases {
        let target = grpc(servers.health, service);
        let run = probe(&[&target]);
        expect(&run, code, &format!("{target}: {text}"));
        let call = servers.next_call();
        let sent = service.trim_start_matches('/').replace("%20", " ");
        assert!(call.contains(&format!("\"service\": \"{sent}\"")), "{call}");
    }

    let run = probe(&[&grpc(servers.bare, "")]);
    expect(
        &run,
        1,
        "gRPC status 12 UNIMPLEMENTED (the server has no grpc.health.v1.Health service): \
         Method not found!",
    );

    // Several targets at once, over one deadline: all must be healthy.
    let serving = grpc(servers.health, "/svc.Serving");
    let run = probe(&[&serving, &grpc(servers.health, "/svc.NotServing")]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains(&serving), "{run:?}");
}

#[test]
fn metadata_user_agent_and_deadline_reach_the_server() {
    let Some(servers) = PythonServers::start() else {
        return;
    };
    let token_target = grpc(servers.token, "");
    // The server's message comes percent-encoded; the line shows it decoded, one line.
    let run = probe(&[&token_target]);
    expect(
        &run,
        1,
        "gRPC status 16 UNAUTHENTICATED: missing x-probe-token: 100% refusé?second line",
    );
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    let run = probe(&["-H", "X-Probe-Token: secret", &token_target]);
    expect(&run, 0, "SERVING");
    servers.next_call();
    let run = probe_env(
        &[&token_target],
        &[
            ("HEALTHPROBE_HEADER", "x-probe-token: ${TOKEN}"),
            ("TOKEN", "secret"),
        ],
    );
    expect(&run, 0, "SERVING");
    servers.next_call();

    let target = grpc(servers.health, "");
    let run = probe(&["--timeout", "2s", "-H", "X-Trace: abc", &target]);
    expect(&run, 0, "SERVING");
    let call = servers.next_call();
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        call.contains(&format!("\"user-agent\": \"healthprobe/{version}\"")),
        "{call}"
    );
    assert!(call.contains("\"x-trace\": \"abc\""), "{call}");
    // grpc-timeout carries what is left of the 2 s deadline.
    let remaining: f64 = call
        .split("\"time_remaining\": ")
        .nth(1)
        .and_then(|rest| rest.trim_end_matches('}').parse().ok())
        .expect("time_remaining in the log");
    assert!(remaining > 0.5 && remaining <= 2.0, "{call}");

    let run = probe(&["--user-agent", "probe/1", &target]);
    expect(&run, 0, "SERVING");
    assert!(servers.next_call().contains("\"user-agent\": \"probe/1\""));
}

#[test]
fn a_server_that_closes_at_once_is_not_http2() {
    // As OpenSSL and Go's TLS servers do with a first record that is not TLS.
    let server = Server::start(Reply::Close);
    let run = probe(&[&grpc(server.port(), "")]);
    expect(&run, 1, "without an HTTP/2 answer (TLS? try grpcs://)");
}

#[test]
fn a_tls_server_is_named() {
    // A TLS alert record, as a TLS server answers bytes that are not a ClientHello.
    let server = Server::start(Reply::Bytes(vec![0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32]));
    let run = probe(&[&grpc(server.port(), "")]);
    expect(
        &run,
        1,
        "this is a TLS server, not a gRPC server: try grpcs://",
    );
}

#[test]
fn headers_then_silence_times_out_reading_the_body() {
    // The response headers come, then nothing more: the deadline names the later phase.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("local address").port();
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("a connection");
        let mut reply = settings();
        reply.extend(frame(HEADERS, END_HEADERS, 1, &response_headers()));
        stream.write_all(&reply).expect("write the headers");
        thread::sleep(Duration::from_secs(10));
    });
    let run = probe(&["--timeout", "1s", &grpc(port, "")]);
    expect(&run, 1, "timed out reading the body");
    assert!(run.elapsed < Duration::from_millis(1900), "{run:?}");
}

// Scripted HTTP/2: frame types and flags of RFC 9113.
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const WINDOW_UPDATE: u8 = 8;
const CONTINUATION: u8 = 9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    out.extend([kind, flags]);
    out.extend(stream.to_be_bytes());
    out.extend(payload);
    out
}

/// The server's preface: an empty SETTINGS frame.
fn settings() -> Vec<u8> {
    frame(SETTINGS, 0, 0, &[])
}

/// HPACK literals without indexing or Huffman (short strings only).
fn block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.push(0);
        for text in [name, value] {
            out.push(text.len() as u8);
            out.extend(text.as_bytes());
        }
    }
    out
}

fn response_headers() -> Vec<u8> {
    block(&[(":status", "200"), ("content-type", "application/grpc")])
}

/// A whole successful call: headers, the message, trailers with grpc-status 0.
fn reply_with(message: &[u8]) -> Vec<u8> {
    let mut out = settings();
    out.extend(frame(HEADERS, END_HEADERS, 1, &response_headers()));
    let mut data = vec![0, 0, 0, 0, message.len() as u8];
    data.extend(message);
    out.extend(frame(DATA, 0, 1, &data));
    out.extend(frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        1,
        &block(&[("grpc-status", "0")]),
    ));
    out
}

/// The bytes of the request the probe sends with `args`, up to the moment it waits.
fn request_bytes(args: &[&str]) -> (u16, Vec<u8>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("local address").port();
    let capture = thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("a connection");
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .expect("a read timeout");
        let mut request = Vec::new();
        let mut buffer = [0; 4096];
        while let Ok(read @ 1..) = stream.read(&mut buffer) {
            request.extend_from_slice(&buffer[..read]);
        }
        request
    });
    let target = grpc(port, "/a.B");
    let run = probe(&[args, &["--timeout", "5s", &target]].concat());
    assert_eq!(run.code, 1, "{run:?}");
    (port, capture.join().expect("the capture thread"))
}

fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[test]
fn the_request_is_grpc_over_http2() {
    let (port, request) = request_bytes(&["-H", "X-Upper: v"]);
    assert!(request.starts_with(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
    for field in [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/grpc.health.v1.Health/Check"),
        (":authority", &format!("127.0.0.1:{port}")),
        ("te", "trailers"),
        ("content-type", "application/grpc"),
        (
            "user-agent",
            concat!("healthprobe/", env!("CARGO_PKG_VERSION")),
        ),
        ("x-upper", "v"),
    ] {
        assert!(holds(&request, &block(&[field])), "{field:?}");
    }
    // The message: not compressed, 5 bytes, HealthCheckRequest { service: "a.B" }.
    assert!(request.ends_with(&[0, 0, 0, 0, 5, 0x0a, 3, b'a', b'.', b'B']));

    // Host and User-Agent replace :authority and ours, as over HTTP/1.1.
    let (_, request) = request_bytes(&["-H", "Host: svc.test", "-H", "User-Agent: mine/1"]);
    assert!(holds(&request, &block(&[(":authority", "svc.test")])));
    assert!(holds(&request, &block(&[("user-agent", "mine/1")])));
    assert!(!holds(&request, b"healthprobe/"));
    assert!(!holds(&request, b"\x04host"));
}

#[test]
fn unusual_but_valid_http2_is_understood() {
    // PING, WINDOW_UPDATE, an unknown frame type, a graceful GOAWAY, padding, and the
    // headers split over CONTINUATION frames, all around a SERVING reply.
    let mut reply = settings();
    reply.extend(frame(PING, 0, 0, b"12345678"));
    reply.extend(frame(WINDOW_UPDATE, 0, 0, &[0, 0, 0x10, 0]));
    reply.extend(frame(0xfa, 0, 0, b"unknown"));
    reply.extend(frame(GOAWAY, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 0]));
    // A dynamic table size update where RFC 7541 4.2 allows it: first in the block.
    let headers = [vec![0x20], response_headers()].concat();
    let (first, rest) = headers.split_at(5);
    let mut padded = vec![3];
    padded.extend(first);
    padded.extend([0, 0, 0]);
    reply.extend(frame(HEADERS, PADDED, 1, &padded));
    reply.extend(frame(CONTINUATION, 0, 1, &rest[..4]));
    reply.extend(frame(CONTINUATION, END_HEADERS, 1, &rest[4..]));
    reply.extend(frame(DATA, 0, 1, &[0, 0, 0, 0, 2]));
    reply.extend(frame(DATA, 0, 1, &[0x08, 1]));
    reply.extend(frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        1,
        &block(&[("grpc-status", "0"), ("grpc-message", "")]),
    ));
    let server = Server::start(Reply::Bytes(reply));
    let run = probe(&[&grpc(server.port(), "")]);
    expect(&run, 0, "SERVING");

    // Trailers-Only: the status in the only header block, its message percent-encoded.
    let reply = [
        settings(),
        frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            1,
            &block(&[
                (":status", "200"),
                ("content-type", "application/grpc"),
                ("grpc-status", "14"),
                ("grpc-message", "draining %E2%9C%93 %zz"),
            ]),
        ),
    ]
    .concat();
    let server = Server::start(Reply::Bytes(reply));
    let run = probe(&[&grpc(server.port(), "")]);
    expect(&run, 1, "gRPC status 14 UNAVAILABLE: draining ✓ %zz");
}

#[test]
fn hostile_or_broken_http2_is_unhealthy_with_a_clear_line() {
    let headers_then = |frames: &[Vec<u8>]| {
        let mut reply = settings();
        reply.extend(frame(HEADERS, END_HEADERS, 1, &response_headers()));
        reply.extend(frames.concat());
        reply
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a frame beyond the size limit",
            [settings(), vec![0xff, 0xff, 0xff, DATA, 0, 0, 0, 0, 1]].concat(),
            "the server sent a frame of 16777215 bytes, more than the 16384 allowed",
        ),
        (
            "not SETTINGS first",
            frame(PING, 0, 0, b"12345678"),
            "not an HTTP/2 server: its first frame is not SETTINGS",
        ),
        (
            "GOAWAY with an error",
            [
                settings(),
                frame(GOAWAY, 0, 0, b"\0\0\0\0\0\0\0\x0bslow down"),
            ]
            .concat(),
            "the server closed the connection (GOAWAY ENHANCE_YOUR_CALM: slow down)",
        ),
        (
            "RST_STREAM",
            [settings(), frame(RST_STREAM, 0, 1, &[0, 0, 0, 7])].concat(),
            "the server reset the stream (REFUSED_STREAM)",
        ),
        (
            "a truncated HPACK block",
            [settings(), frame(HEADERS, END_HEADERS, 1, &[0x3f])].concat(),
            "bad header block from the server: truncated header block",
        ),
        (
            // RFC 9113 6.5: an ACK's payload must be empty (FRAME_SIZE_ERROR).
            "a SETTINGS ACK with a payload",
            [settings(), frame(SETTINGS, 1, 0, &[0, 3, 0, 0, 0, 100])].concat(),
            "SETTINGS ACK with a payload",
        ),
        (
            // RFC 7541 4.2: a size update only at the start of a block.
            "an HPACK table size update after a field",
            [
                settings(),
                frame(
                    HEADERS,
                    END_HEADERS,
                    1,
                    &[block(&[(":status", "200")]), vec![0x20]].concat(),
                ),
            ]
            .concat(),
            "bad header block from the server: table size update after a header field",
        ),
        (
            "an HPACK index out of range",
            [settings(), frame(HEADERS, END_HEADERS, 1, &[0xff, 0x40])].concat(),
            "bad header block from the server: index beyond the dynamic table",
        ),
        (
            "not gRPC: a 404",
            [
                settings(),
                frame(
                    HEADERS,
                    END_HEADERS | END_STREAM,
                    1,
                    &block(&[(":status", "404"), ("content-type", "text/plain")]),
                ),
            ]
            .concat(),
            "HTTP/2 status 404 and no grpc-status: not a gRPC server?",
        ),
        (
            "not gRPC: a web page",
            [
                settings(),
                frame(
                    HEADERS,
                    END_HEADERS,
                    1,
                    &block(&[(":status", "200"), ("content-type", "text/html")]),
                ),
                frame(DATA, END_STREAM, 1, b"<html>"),
            ]
            .concat(),
            "not a gRPC reply (content-type 'text/html')",
        ),
        (
            "no trailers",
            headers_then(&[frame(DATA, END_STREAM, 1, &[0, 0, 0, 0, 0])]),
            "the reply ended without a grpc-status",
        ),
        (
            "a reply beyond the size limit",
            headers_then(&[
                frame(DATA, 0, 1, &[0; 16_000]),
                frame(DATA, 0, 1, &[0; 16_000]),
            ]),
            "the reply is larger than 16384 bytes",
        ),
        (
            "a compressed message",
            {
                let mut reply = reply_with(&[0x08, 1]);
                // The compressed-flag byte of the message prefix.
                let flag = settings().len() + 9 + response_headers().len() + 9;
                reply[flag] = 1;
                reply
            },
            "invalid HealthCheckResponse: compressed, which we did not ask for",
        ),
        (
            "a malformed message",
            reply_with(&[0x08]),
            "invalid HealthCheckResponse: truncated",
        ),
        (
            "an unknown serving status",
            reply_with(&[0x08, 9]),
            "unknown serving status 9 (expected SERVING)",
        ),
        (
            "an invalid grpc-status",
            [
                settings(),
                frame(
                    HEADERS,
                    END_HEADERS | END_STREAM,
                    1,
                    &block(&[(":status", "200"), ("grpc-status", "OK")]),
                ),
            ]
            .concat(),
            "invalid grpc-status 'OK'",
        ),
        (
            "closed before the reply",
            settings(),
            "connection closed by the server awaiting the response",
        ),
        (
            "closed before the trailers",
            headers_then(&[]),
            "connection closed by the server reading the body",
        ),
    ];
    for (case, reply, text) in cases {
        let server = Server::start(Reply::Bytes(reply));
        let run = probe(&[&grpc(server.port(), "")]);
        assert_eq!(run.code, 1, "{case}: {run:?}");
        assert!(
            run.stderr.contains(text),
            "{case}: expected {text:?} in {run:?}"
        );
    }
}

#[test]
fn bad_grpc_targets_and_metadata_are_usage_errors() {
    // grpcs:// in the default build: tests/https_without_tls.rs.
    let cases: [(&[&str], &str); 9] = [
        (
            &["grpc://127.0.0.1"],
            "a port is required, as in grpc://HOST:PORT",
        ),
        (&["grpc://127.0.0.1:1/svc?x=1"], "takes no query"),
        (
            &["grpc://127.0.0.1:1/%FF"],
            "not UTF-8 once percent-decoded",
        ),
        (
            &["-H", "Connection: close", "grpc://127.0.0.1:1"],
            "--header",
        ),
        (&["-H", "TE: gzip", "grpc://127.0.0.1:1"], "--header"),
        (&["-H", "Upgrade: h2c", "grpc://127.0.0.1:1"], "--header"),
        (
            &["-H", "grpc-timeout: 1S", "grpc://127.0.0.1:1"],
            "--header",
        ),
        (
            &["-H", "Content-Type: text/plain", "grpc://127.0.0.1:1"],
            "--header",
        ),
        (&["-H", ":authority: x", "grpc://127.0.0.1:1"], "--header"),
    ];
    for (args, text) in cases {
        let run = probe(args);
        assert_eq!(run.code, 64, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains(text),
            "{args:?}: expected {text:?} in {run:?}"
        );
    }
}
