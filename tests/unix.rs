//! unix:// targets and --unix-socket: services that listen on a unix socket, not a port.
//! Real servers on sockets in a temporary directory: Python's http.server on AF_UNIX,
//! grpcio on `unix:`, and std's own listeners for the connect check.
use crate::common::python::Python;
use crate::common::system::{TempDir, is_root};
use crate::common::*;

use std::os::unix::net::UnixListener;
use std::process::Command;
use std::time::Duration;

/// A Python http.server on a unix socket that answers with what it was sent, as JSON.
const ECHO_SERVER: &str = r#"
import http.server, json, socketserver, sys
class Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"host": self.headers["Host"], "path": self.path,
                           "status": "UP"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def address_string(self):
        return "unix"
    def log_message(self, *args):
        pass
server = socketserver.UnixStreamServer(sys.argv[1], Echo)
print("ready", flush=True)
server.serve_forever()
"#;

fn echo_server(socket: &str) -> Option<Python> {
    let (server, _ready) = Python::start(
        &["-c", ECHO_SERVER, socket],
        "import http.server",
        "unix",
        "python3",
    )?;
    Some(server)
}

#[test]
fn http_over_a_unix_socket_keeps_the_url_host() {
    let dir = TempDir::new("unix-http");
    let socket = dir.join("app.sock");
    let Some(_server) = echo_server(&socket) else {
        return;
    };
    expect(
        &[
            "--unix-socket",
            &socket,
            "--json",
            "/host=localhost:8080",
            "--json",
            "/path=/health?x=1",
            "http://localhost:8080/health?x=1",
        ],
        0,
        &format!(
            "healthy: http://localhost:8080/health?x=1: 200 OK, /host is \"localhost:8080\", \
             /path is \"/health?x=1\" from unix:{socket} in "
        ),
    );
    // From its variable, with ${VAR} in the path.
    let run = probe_env(
        &["http://api.internal/health"],
        &[
            ("HEALTHPROBE_UNIX_SOCKET", "${SOCKETS}/app.sock"),
            ("SOCKETS", &dir.join("")),
            ("HEALTHPROBE_JSON", "/host=api.internal"),
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("/host is \"api.internal\""), "{run:?}");
    // --verbose names the socket it connected to.
    let run = probe(&["-v", "--unix-socket", &socket, "http://localhost/"]);
    assert!(
        run.stderr.contains(&format!("connected to unix:{socket}")),
        "{run:?}"
    );
}

#[test]
fn grpc_over_a_unix_socket() {
    let dir = TempDir::new("unix-grpc");
    let socket = dir.join("grpc.sock");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/grpc_server.py");
    let what = "python3 with grpcio and grpcio-health-checking";
    let Some(_server) = Python::start(
        &[script, "--unix", &socket],
        "import grpc, grpc_health",
        "unix",
        what,
    ) else {
        return;
    };
    expect(
        &["--unix-socket", &socket, "grpc://localhost:50051"],
        0,
        &format!("healthy: grpc://localhost:50051: SERVING from unix:{socket} in "),
    );
    expect(
        &[
            "--unix-socket",
            &socket,
            "grpc://localhost:50051/svc.NotServing",
        ],
        1,
        "NOT_SERVING (expected SERVING)",
    );
}

#[test]
fn the_connect_check_and_each_failure_in_words() {
    let dir = TempDir::new("unix-connect");
    let listening = dir.join("up.sock");
    let _listener = UnixListener::bind(&listening).expect("bind a unix socket");
    // A socket file nobody listens on any more: its listener is gone.
    let stale = dir.join("stale.sock");
    drop(UnixListener::bind(&stale).expect("bind a unix socket"));
    let file = dir.write("file", "not a socket", 0o644);
    let up = format!("unix://{listening}");
    expect(
        &[&up],
        0,
        &format!("healthy: {up}: connected from unix:{listening} in "),
    );
    let cases = [
        (dir.join("missing.sock"), "no such socket"),
        (stale, "connection refused: nothing listens on the socket"),
        (file, "not a socket: it is a file"),
        (dir.join(""), "not a socket: it is a directory"),
    ];
    for (path, words) in cases {
        let path = path.trim_end_matches('/');
        let target = format!("unix://{path}");
        expect(
            &[&target],
            1,
            &format!("unhealthy: {target}: {words} (tried unix:{path}) in "),
        );
        // The same words when it stands in for an http:// target's host.
        expect(
            &["--unix-socket", path, "http://localhost/"],
            1,
            &format!("unhealthy: http://localhost/: {words} (tried unix:{path})"),
        );
    }
    // ${VAR} in a target's path.
    let run = probe_env(
        &["unix://${DIR}/up.sock"],
        &[("DIR", dir.path().to_str().expect("UTF-8"))],
    );
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn abstract_sockets() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("healthprobe-test-{}", std::process::id());
    let address = std::os::unix::net::SocketAddr::from_abstract_name(&name).expect("a name");
    let listener = UnixListener::bind_addr(&address).expect("bind an abstract socket");
    let target = format!("unix://@{name}");
    expect(
        &[&target],
        0,
        &format!("healthy: {target}: connected from unix:@{name} in "),
    );
    let missing = format!("unix://@{name}-missing");
    expect(
        &[&missing],
        1,
        "connection refused: nothing listens on the socket",
    );
    // An HTTP server of our own on it: one request, answered.
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        // The connect checks' connections, closed without a byte, come first.
        loop {
            let (mut stream, _) = listener.accept().expect("accept");
            let mut head = [0; 1024];
            let read = stream.read(&mut head).expect("read the request");
            if read == 0 {
                continue;
            }
            stream
                .write_all(&http_bytes("204 No Content", &[], ""))
                .expect("answer");
            return String::from_utf8_lossy(&head[..read]).into_owned();
        }
    });
    expect(
        &[
            "--unix-socket",
            &format!("@{name}"),
            "http://svc.local/ping",
        ],
        0,
        &format!("healthy: http://svc.local/ping: 204 No Content from unix:@{name} in "),
    );
    let request = server.join().expect("the server thread");
    assert!(request.starts_with("GET /ping HTTP/1.1\r\n"), "{request:?}");
    assert_eq!(header(&request, "host"), ["svc.local"], "{request:?}");
}

#[test]
fn permission_denied_in_words() {
    // Root reaches any socket: the probe runs as nobody, and the socket is root's alone.
    if !require(
        is_root(),
        "unix",
        "root (to run the probe as another user via setpriv)",
    ) {
        return;
    }
    let dir = TempDir::new("unix-permission");
    let socket = dir.join("private.sock");
    let _listener = UnixListener::bind(&socket).expect("bind a unix socket");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let target = format!("unix://{socket}");
    let mut command = Command::new("setpriv");
    command
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BIN,
            &target,
        ])
        .env_clear();
    let run = run(command);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "unhealthy: {target}: permission denied (tried unix:{socket})"
        )),
        "{run:?}"
    );
}

#[test]
fn the_deadline_covers_the_connect() {
    // A listener with a backlog of 0 that never accepts: once its queue is full, a
    // blocking connect waits, and only the deadline ends it.
    use socket2::{Domain, SockAddr, Socket, Type};
    let dir = TempDir::new("unix-backlog");
    let path = dir.join("full.sock");
    let listener = Socket::new(Domain::UNIX, Type::STREAM, None).expect("a unix socket");
    let address = SockAddr::unix(&path).expect("a socket address");
    listener.bind(&address).expect("bind");
    listener.listen(0).expect("listen");
    let mut queued = Vec::new();
    for _ in 0..16 {
        let client = Socket::new(Domain::UNIX, Type::STREAM, None).expect("a unix socket");
        client.set_nonblocking(true).expect("non-blocking");
        if client.connect(&address).is_err() {
            break;
        }
        queued.push(client);
    }
    let target = format!("unix://{path}");
    let run = expect(&["-t", "500ms", &target], 1, "timed out connecting");
    assert!(run.elapsed < Duration::from_millis(500) + LATE, "{run:?}");
    let run = expect(
        &["-t", "500ms", "--unix-socket", &path, "http://localhost/"],
        1,
        "timed out connecting",
    );
    assert!(run.elapsed < Duration::from_millis(500) + LATE, "{run:?}");
}

#[test]
fn unix_mistakes_are_usage_errors() {
    let long = format!("/tmp/{}", "s".repeat(110));
    check(vec![
        Case::new("two slashes", &["unix://run/app.sock"])
            .usage("write unix:///PATH (three slashes: the path is absolute) or unix://@NAME"),
        Case::new("an empty path", &["unix://"]).usage("target 'unix://'"),
        Case::new("too long", &[&format!("unix://{long}")])
            .usage("longer than the 107 bytes a unix socket can have"),
        Case::new(
            "--unix-socket too long",
            &["--unix-socket", &long, "http://localhost/"],
        )
        .usage("--unix-socket: invalid value"),
        Case::new(
            "--unix-socket with tcp://",
            &["--unix-socket", "/run/a.sock", "tcp://127.0.0.1:1"],
        )
        .usage("--unix-socket applies only to http://, https://, grpc://, grpcs:// targets"),
        Case::new(
            "--unix-socket and --proxy",
            &[
                "--unix-socket",
                "/run/a.sock",
                "--proxy",
                "http://127.0.0.1:1",
                "http://localhost/",
            ],
        )
        .usage("--unix-socket and --proxy both say where to connect"),
    ]);
}
