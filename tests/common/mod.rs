//! Shared by the integration tests: the real binary, and scripted servers on loopback
//! port 0 that each test starts for itself, so tests run in parallel without colliding.
#![allow(dead_code)]

pub mod system;
#[cfg(feature = "tls")]
pub mod tls;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The proxy variables that an application's environment may hold, and that healthprobe
/// must ignore.
pub const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

pub const BIN: &str = env!("CARGO_BIN_EXE_healthprobe");
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// A line never exceeds this many bytes (src/outcome.rs).
pub const MAX_LINE: usize = 300;
/// How late a run may end past its deadline in these tests. The promise is "well under
/// 100 ms"; the margin is for process start-up on a CPU shared with other builds.
pub const LATE: Duration = Duration::from_millis(900);
/// How late the run's own count ("in N ms", which starts after process start-up) may be.
pub const LATE_REPORTED: Duration = Duration::from_millis(300);

/// One run of the real binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// stdout and stderr together, for assertions that do not care which.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// The milliseconds the run reported for itself at the end of its (only) line.
    pub fn reported_ms(&self) -> u64 {
        let line = self.output();
        let ms = line
            .trim_end()
            .strip_suffix(" ms")
            .and_then(|rest| rest.rsplit(' ').next())
            .and_then(|ms| ms.parse().ok());
        ms.unwrap_or_else(|| panic!("no 'in N ms' at the end of {line:?}"))
    }
}

/// Runs healthprobe with an empty environment (no proxies, no HEALTHPROBE_* leaking in).
pub fn probe(args: &[&str]) -> Run {
    probe_env(args, &[])
}

pub fn probe_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(BIN);
    command.args(args).env_clear().envs(env.iter().copied());
    run(command)
}

pub fn run(mut command: Command) -> Run {
    let start = Instant::now();
    let output = command
        .stdin(Stdio::null())
        .output()
        .expect("the healthprobe binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: start.elapsed(),
    }
}

/// GNU time, which reports a child's peak resident memory; the CI installs it.
pub const GNU_TIME: &str = "/usr/bin/time";

/// Runs healthprobe under GNU time: the run, and the child's peak RSS in KiB.
pub fn probe_measured(args: &[&str]) -> (Run, u64) {
    assert!(
        Path::new(GNU_TIME).exists(),
        "{GNU_TIME} is needed to measure memory: apt-get install time"
    );
    let report = std::env::temp_dir().join(format!(
        "healthprobe-rss-{}-{:?}",
        std::process::id(),
        thread::current().id()
    ));
    let mut command = Command::new(GNU_TIME);
    command
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(BIN)
        .args(args)
        .env_clear();
    let run = run(command);
    let text = std::fs::read_to_string(&report).expect("GNU time wrote its report");
    std::fs::remove_file(&report).ok();
    // A non-zero exit adds a "Command exited with non-zero status" line before it.
    let kib = text
        .lines()
        .last()
        .and_then(|line| line.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in {text:?}"));
    (run, kib)
}

/// What a scripted server does with one connection.
#[derive(Clone)]
pub enum Reply {
    /// Reads the request head, then writes these bytes and closes.
    Bytes(Vec<u8>),
    /// Reads the request head, then says nothing and holds the connection open.
    Silent,
    /// Reads the request head, then writes these bytes one a second.
    Trickle(Vec<u8>),
    /// Reads the request head, writes the first bytes at once, then the second one a
    /// second (a body that trickles).
    TrickleAfter(Vec<u8>, Vec<u8>),
    /// Writes these bytes without reading the request, then closes with the request
    /// unread, which makes the kernel send a reset.
    Reset(Vec<u8>),
    /// Accepts and closes at once.
    Close,
    /// Reads what the client sent first (one read, without looking for an HTTP head), then
    /// writes these bytes and closes: a server of another protocol, or a scripted reply
    /// to a database client.
    Answer(Vec<u8>),
    /// Reads the request head, writes these bytes, then holds the connection open.
    Stall(Vec<u8>),
    /// Reads the request head, waits, then writes these bytes and closes.
    Delayed(Duration, Vec<u8>),
    /// Reads the request head, writes `head`, then `repeat` over and over until the
    /// client goes away (or 256 MiB, or 20 s): an endless body or header section.
    Endless { head: Vec<u8>, repeat: Vec<u8> },
}

/// An HTTP response with Content-Length and Connection: close.
pub fn http(status: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    Reply::Bytes(http_bytes(status, headers, body))
}

pub fn http_bytes(status: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut text = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        text += &format!("{name}: {value}\r\n");
    }
    text += &format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    text.into_bytes()
}

/// A redirect to `location`.
pub fn redirect(status: &str, location: &str) -> Reply {
    http(status, &[("Location", location)], "")
}

pub type Handler = dyn Fn(&str) -> Reply + Send + Sync;

/// A server on loopback port 0. `requests` holds each request head it received, in order.
pub struct Server {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// 127.0.0.1, answering every request the same way.
    pub fn start(reply: Reply) -> Server {
        Server::start_on("127.0.0.1:0", move |_| reply.clone())
    }

    /// `bind` is "127.0.0.1:0" or "[::1]:0"; `handler` gets the request head.
    pub fn start_on(bind: &str, handler: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind(bind).expect("bind a loopback port");
        Server::serve(listener, Arc::new(handler))
    }

    /// 127.0.0.1; `handler` gets the server's own port (for absolute redirects) and the
    /// request's path.
    pub fn routes(handler: impl Fn(u16, &str) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        Server::serve(
            listener,
            Arc::new(move |head: &str| handler(port, path(head))),
        )
    }

    pub fn serve(listener: TcpListener, handler: Arc<Handler>) -> Server {
        let addr = listener.local_addr().expect("local address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let handler = handler.clone();
                let seen = seen.clone();
                thread::spawn(move || serve_one(stream, &*handler, &seen));
            }
        });
        Server { addr, requests }
    }

    /// A server on `ip` (127.0.0.1 or ::1) alone: the same port on the other family is
    /// held by a socket that does not listen, so connecting there is refused. Ports are
    /// per family and other tests hold ports too, so one free in both is found by trying.
    /// Keep the socket for as long as the test needs the refusal.
    pub fn only_on_family(ip: &str, reply: Reply) -> (Server, socket2::Socket) {
        let ip: std::net::IpAddr = ip.parse().expect("an IP address");
        let other: std::net::IpAddr = match ip {
            std::net::IpAddr::V4(_) => "::1",
            std::net::IpAddr::V6(_) => "127.0.0.1",
        }
        .parse()
        .expect("an IP address");
        for _ in 0..50 {
            let refuse = socket2::Socket::new(
                socket2::Domain::for_address(SocketAddr::new(other, 0)),
                socket2::Type::STREAM,
                None,
            )
            .expect("socket");
            refuse
                .bind(&SocketAddr::new(other, 0).into())
                .expect("bind a loopback port");
            let port = refuse
                .local_addr()
                .expect("local address")
                .as_socket()
                .expect("an IP address")
                .port();
            if let Ok(listener) = TcpListener::bind((ip, port)) {
                let reply = reply.clone();
                return (
                    Server::serve(listener, Arc::new(move |_: &str| reply.clone())),
                    refuse,
                );
            }
        }
        panic!("no port free on both 127.0.0.1 and ::1");
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT/PATH` (or `[::1]`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("requests lock").clone()
    }

    /// The only request received, asserting there was exactly one.
    pub fn request(&self) -> String {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "expected one request: {requests:?}");
        requests[0].clone()
    }
}

fn serve_one(mut stream: TcpStream, handler: &Handler, seen: &Mutex<Vec<String>>) {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut peek = [0u8; 1];
    // Wait for the request before anything, so a Reset really has unread data to reset.
    if stream.peek(&mut peek).unwrap_or(0) == 0 {
        return;
    }
    // The reply is chosen from the request head; Reset must not read it, so it peeks.
    let mut head = vec![0u8; 64 * 1024];
    let peeked = stream.peek(&mut head).unwrap_or(0);
    let reply = handler(&String::from_utf8_lossy(&head[..peeked]));
    if let Reply::Reset(bytes) = &reply {
        stream.write_all(bytes).ok();
        return;
    }
    if let Reply::Answer(bytes) = &reply {
        let mut request = vec![0u8; 64 * 1024];
        let read = stream.read(&mut request).unwrap_or(0);
        let request = String::from_utf8_lossy(&request[..read]).into_owned();
        seen.lock().expect("requests lock").push(request);
        finish(stream, bytes);
        return;
    }
    let head = read_head(&mut stream);
    seen.lock().expect("requests lock").push(head);
    match reply {
        Reply::Bytes(bytes) => finish(stream, &bytes),
        Reply::Silent => thread::sleep(Duration::from_secs(30)),
        Reply::Trickle(bytes) => trickle(&mut stream, &bytes),
        Reply::TrickleAfter(head, bytes) => {
            if stream.write_all(&head).is_ok() {
                trickle(&mut stream, &bytes);
            }
        }
        Reply::Stall(bytes) => {
            stream.write_all(&bytes).ok();
            thread::sleep(Duration::from_secs(30));
        }
        Reply::Delayed(pause, bytes) => {
            thread::sleep(pause);
            finish(stream, &bytes);
        }
        Reply::Endless { head, repeat } => {
            let start = Instant::now();
            let mut sent = 0;
            if stream.write_all(&head).is_err() {
                return;
            }
            while sent < 256 << 20 && start.elapsed() < Duration::from_secs(20) {
                if stream.write_all(&repeat).is_err() {
                    return;
                }
                sent += repeat.len();
            }
        }
        Reply::Reset(_) | Reply::Close | Reply::Answer(_) => {}
    }
}

fn trickle(stream: &mut TcpStream, bytes: &[u8]) {
    for &byte in bytes {
        if stream.write_all(&[byte]).is_err() {
            return;
        }
        thread::sleep(Duration::from_secs(1));
    }
}

/// Writes the reply and closes, letting the client read everything first.
fn finish(mut stream: TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).ok();
    stream.shutdown(Shutdown::Write).ok();
    let mut sink = [0u8; 1024];
    while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
}

/// What a server that speaks first (as MySQL does) says as soon as a client connects.
#[derive(Clone)]
pub enum Greeting {
    /// These bytes (none: a silent server), then it waits for the client to go away.
    Bytes(Vec<u8>),
    /// These bytes, then 'x' without end, until the client goes away (or 1 GiB).
    Flood(Vec<u8>),
}

impl Server {
    /// A server on 127.0.0.1 that talks before the client says anything.
    pub fn greet(greeting: Greeting) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let greeting = greeting.clone();
                thread::spawn(move || match greeting {
                    Greeting::Bytes(bytes) => {
                        stream.write_all(&bytes).ok();
                        stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
                        let mut sink = [0u8; 1024];
                        while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
                    }
                    Greeting::Flood(prefix) => {
                        stream.write_all(&prefix).ok();
                        let chunk = [b'x'; 64 * 1024];
                        for _ in 0..16 * 1024 {
                            if stream.write_all(&chunk).is_err() {
                                break;
                            }
                        }
                    }
                });
            }
        });
        Server {
            addr,
            requests: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

/// A loopback port that was free a moment ago, for a real server the test starts.
pub fn free_port() -> u16 {
    closed_port()
}

/// Waits until something accepts connections on 127.0.0.1:`port`.
pub fn wait_for_port(port: u16, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Runs a helper command (initdb, pg_ctl ...), failing the test with its output if it fails.
pub fn run_ok(command: &mut Command) {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Reads up to the blank line that ends a request head (bounded).
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while head.len() < 64 * 1024 && !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// The request target of a request head: `/path?query` from `GET /path?query HTTP/1.1`.
pub fn path(head: &str) -> &str {
    head.split(' ').nth(1).unwrap_or_default()
}

/// The method of a request head.
pub fn method(head: &str) -> &str {
    head.split(' ').next().unwrap_or_default()
}

/// A loopback port with nothing listening on it.
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

/// The values of a request header in a recorded request head (case-insensitive name).
pub fn header<'a>(head: &'a str, name: &str) -> Vec<&'a str> {
    head.lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

/// Runs the probe and checks its exit code and that its output says `says`.
pub fn expect(args: &[&str], code: i32, says: &str) -> Run {
    let run = probe(args);
    assert_eq!(run.code, code, "{args:?}: {run:?}");
    assert!(
        run.output().contains(says),
        "{args:?} should say {says:?}: {run:?}"
    );
    run
}

/// A server that never answers: unhealthy by a 1 s deadline, naming the phase it was in.
pub fn expect_timeout(target: &str, phase: &str) {
    let run = expect(
        &["--timeout", "1s", target],
        1,
        &format!("timed out {phase}"),
    );
    assert!(run.elapsed < Duration::from_millis(1900), "{run:?}");
}

/// A server that floods: unhealthy with `says` long before the 5 s deadline (an unbounded
/// reader would still be reading then), in bounded memory.
pub fn expect_flood_refused(target: &str, says: &str) {
    let (run, rss) = probe_measured(&["--timeout", "5s", target]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains(says), "should say {says:?}: {run:?}");
    assert!(rss < 16 * 1024, "{rss} KiB");
}

/// A listener on 127.0.0.1 whose accept queue is full, so a new connection attempt
/// hangs (its SYN is dropped) until the client gives up: a connect that times out,
/// on loopback. Keep it alive for as long as the test needs the hang.
pub struct Blackhole {
    pub addr: SocketAddr,
    _listener: socket2::Socket,
    _queued: Vec<TcpStream>,
}

impl Blackhole {
    pub fn start() -> Blackhole {
        use socket2::{Domain, Socket, Type};
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        let any: SocketAddr = "127.0.0.1:0".parse().expect("address");
        listener.bind(&any.into()).expect("bind a loopback port");
        listener.listen(0).expect("listen");
        let addr = listener
            .local_addr()
            .expect("local address")
            .as_socket()
            .expect("an IP address");
        // Fill the accept queue (never accepted) until a connection attempt hangs.
        let mut queued = Vec::new();
        loop {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(stream) => queued.push(stream),
                Err(_) => break,
            }
            assert!(queued.len() < 64, "the accept queue never filled");
        }
        Blackhole {
            addr,
            _listener: listener,
            _queued: queued,
        }
    }
}

/// A CONNECT proxy on 127.0.0.1: records each request head it gets, answers CONNECT
/// with 200 and tunnels bytes both ways.
pub struct ConnectProxy {
    pub addr: SocketAddr,
    pub heads: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    pub fn start() -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let seen = seen.clone();
                thread::spawn(move || tunnel(stream, &seen));
            }
        });
        ConnectProxy { addr, heads }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().expect("heads lock").clone()
    }
}

fn tunnel(mut client: TcpStream, seen: &Mutex<Vec<String>>) {
    client.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let head = read_head(&mut client);
    seen.lock().expect("heads lock").push(head.clone());
    let upstream = match head.strip_prefix("CONNECT ") {
        // Only loopback: this proxy must never reach anything else.
        Some(rest) => rest
            .split(' ')
            .next()
            .filter(|to| to.starts_with("127.0.0.1:") || to.starts_with("localhost:"))
            .and_then(|to| TcpStream::connect(to).ok()),
        None => None,
    };
    let Some(upstream) = upstream else {
        finish(
            client,
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n",
        );
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .is_err()
    {
        return;
    }
    let (mut client_in, mut upstream_out) = match (client.try_clone(), upstream.try_clone()) {
        (Ok(a), Ok(b)) => (a, b),
        _ => return,
    };
    let forward = thread::spawn(move || {
        std::io::copy(&mut client_in, &mut upstream_out).ok();
        upstream_out.shutdown(Shutdown::Write).ok();
    });
    let (mut upstream_in, mut client_out) = (upstream, client);
    std::io::copy(&mut upstream_in, &mut client_out).ok();
    client_out.shutdown(Shutdown::Write).ok();
    forward.join().ok();
}

/// One row of a table of runs: arguments and environment, the server behind `{url}`,
/// and what the run must do. In args, env values and expected texts, `{url}` is
/// `http://127.0.0.1:PORT`, `{addr}` is `127.0.0.1:PORT` and `{port}` is PORT of the
/// case's server (or of a closed port when the case has no server).
pub type Routes = Arc<dyn Fn(u16, &str) -> Reply + Send + Sync>;

#[derive(Clone)]
pub struct Case {
    pub name: String,
    /// The server's answer to each request path, given the server's port.
    pub server: Option<Routes>,
    /// The requests the server must have seen, as "METHOD /path".
    pub seen: Option<Vec<String>>,
    /// Headers every request must have carried, each exactly once: (name, value).
    pub received: Vec<(String, String)>,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub code: i32,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

impl Case {
    pub fn new(name: &str, args: &[&str]) -> Case {
        Case {
            name: name.to_string(),
            server: None,
            seen: None,
            received: Vec::new(),
            args: args.iter().map(|arg| arg.to_string()).collect(),
            env: Vec::new(),
            code: -1,
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }

    /// Every request gets this reply.
    pub fn server(self, reply: Reply) -> Case {
        self.routes(move |_, _| reply.clone())
    }

    /// Each request gets the reply for its path; `port` is the server's, for
    /// absolute redirects.
    pub fn routes(mut self, routes: impl Fn(u16, &str) -> Reply + Send + Sync + 'static) -> Case {
        self.server = Some(Arc::new(routes));
        self
    }

    /// The server must have seen exactly these requests ("METHOD /path"), in order.
    pub fn seen(mut self, requests: &[&str]) -> Case {
        self.seen = Some(requests.iter().map(|r| r.to_string()).collect());
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Case {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// Every request must have carried this header, once, with this value.
    pub fn received(mut self, name: &str, value: &str) -> Case {
        self.received.push((name.to_string(), value.to_string()));
        self
    }

    /// Exit 0 with `text` on stdout.
    pub fn healthy(mut self, text: &str) -> Case {
        self.code = 0;
        self.stdout.push(text.to_string());
        self
    }

    /// Exit 1 with `text` on stderr.
    pub fn unhealthy(mut self, text: &str) -> Case {
        self.code = 1;
        self.stderr.push(text.to_string());
        self
    }

    /// Exit 64 with `text` in the one error line on stderr.
    pub fn usage(mut self, text: &str) -> Case {
        self.code = 64;
        self.stderr.push(text.to_string());
        self
    }

    /// Also expect `text` on stderr.
    pub fn stderr(mut self, text: &str) -> Case {
        self.stderr.push(text.to_string());
        self
    }

    /// Also expect `text` on stdout.
    pub fn stdout(mut self, text: &str) -> Case {
        self.stdout.push(text.to_string());
        self
    }

    /// Runs the case (starting its server) and returns what went wrong, if anything.
    fn check(&self) -> Result<(), String> {
        let server = self
            .server
            .clone()
            .map(|routes| Server::routes(move |port, path| routes(port, path)));
        let port = server.as_ref().map_or_else(closed_port, Server::port);
        let fill = |text: &str| {
            text.replace("{url}", &format!("http://127.0.0.1:{port}"))
                .replace("{addr}", &format!("127.0.0.1:{port}"))
                .replace("{port}", &port.to_string())
        };
        let args: Vec<String> = self.args.iter().map(|arg| fill(arg)).collect();
        let env: Vec<(String, String)> = self
            .env
            .iter()
            .map(|(name, value)| (name.clone(), fill(value)))
            .collect();
        let mut command = Command::new(BIN);
        command.args(&args).env_clear().envs(env.iter().cloned());
        let run = run(command);
        let mut problems = sane(&run);
        if run.code != self.code {
            problems.push(format!("exit code {} instead of {}", run.code, self.code));
        }
        for (stream, text, wanted) in [
            ("stdout", &run.stdout, &self.stdout),
            ("stderr", &run.stderr, &self.stderr),
        ] {
            for want in wanted {
                if !text.contains(&fill(want)) {
                    problems.push(format!("{stream} lacks {:?}", fill(want)));
                }
            }
        }
        if let (Some(seen), Some(server)) = (&self.seen, &server) {
            let requests: Vec<String> = server
                .requests()
                .iter()
                .map(|head| format!("{} {}", method(head), path(head)))
                .collect();
            let seen: Vec<String> = seen.iter().map(|request| fill(request)).collect();
            if requests != seen {
                problems.push(format!("the server saw {requests:?}, not {seen:?}"));
            }
        }
        if let Some(server) = &server {
            let requests = server.requests();
            if requests.is_empty() && !self.received.is_empty() {
                problems.push("the server saw no request".to_string());
            }
            for head in &requests {
                for (name, value) in &self.received {
                    if header(head, name) != [fill(value).as_str()] {
                        problems.push(format!("not one '{name}: {value}' in {head:?}"));
                    }
                }
            }
        }
        let verbose = args.iter().any(|arg| arg == "-v" || arg == "--verbose")
            || env
                .iter()
                .any(|(name, value)| name == "HEALTHPROBE_VERBOSE" && value == "1");
        match self.code {
            0 if !verbose && !run.stderr.is_empty() => {
                problems.push("a healthy run wrote to stderr".to_string())
            }
            64 if !run.stdout.is_empty() || run.stderr.lines().count() != 1 => {
                problems.push("a usage error is one line on stderr and nothing else".to_string())
            }
            _ => {}
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{}: {}\n    args {args:?} env {env:?}\n    exit {} in {:?}\n    stdout {:?}\n    stderr {:?}",
                self.name,
                problems.join("; "),
                run.code,
                run.elapsed,
                run.stdout,
                run.stderr
            ))
        }
    }
}

/// What every run must do, whatever it was asked: exit 0, 1 or 64 (never Docker's 2,
/// never a panic) and print only short, printable lines.
pub fn sane(run: &Run) -> Vec<String> {
    let mut problems = Vec::new();
    if ![0, 1, 64].contains(&run.code) {
        problems.push(format!("exit code {} is not 0, 1 or 64", run.code));
    }
    for line in run.stdout.lines().chain(run.stderr.lines()) {
        if line.len() > MAX_LINE {
            problems.push(format!("a line of {} bytes: {line:?}", line.len()));
        }
        let deceptive = |c: char| {
            (c.is_control() && c != '\t')
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        };
        if line.chars().any(deceptive) {
            problems.push(format!("a control character in {line:?}"));
        }
    }
    problems
}

/// Asserts what every run must do (see `sane`).
pub fn assert_sane(run: &Run) {
    let problems = sane(run);
    assert!(problems.is_empty(), "{problems:?} in {run:?}");
}

/// Runs every case at once and fails with the list of all that went wrong.
pub fn check(cases: Vec<Case>) {
    check_each(&cases, Case::check);
}

/// Runs `check` on every item at once (each starts its own server and process) and
/// fails with the list of every problem found, not just the first.
pub fn check_each<T: Sync>(items: &[T], check: impl Fn(&T) -> Result<(), String> + Sync) {
    let check = &check;
    let failures: Vec<String> = thread::scope(|scope| {
        let handles: Vec<_> = items
            .iter()
            .map(|item| scope.spawn(move || check(item)))
            .collect();
        handles
            .into_iter()
            .filter_map(|handle| handle.join().expect("a case ran").err())
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        items.len(),
        failures.join("\n")
    );
}
