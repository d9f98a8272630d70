//! Shared by the integration tests: the real binary, and scripted servers on loopback
//! port 0 that each test starts for itself, so tests run in parallel without colliding.
#![allow(dead_code)]

pub mod system;
#[cfg(feature = "tls")]
pub mod tls;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_healthprobe");

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

/// What a scripted server does with one connection.
#[derive(Clone)]
pub enum Reply {
    /// Reads the request head, then writes these bytes and closes.
    Bytes(Vec<u8>),
    /// Reads the request head, then says nothing and holds the connection open.
    Silent,
    /// Reads the request head, then writes these bytes one a second.
    Trickle(Vec<u8>),
    /// Writes these bytes without reading the request, then closes with the request
    /// unread, which makes the kernel send a reset.
    Reset(Vec<u8>),
    /// Accepts and closes at once.
    Close,
    /// Reads what the client sent first (one read, without looking for an HTTP head), then
    /// writes these bytes and closes: a server of another protocol, or a scripted reply
    /// to a database client.
    Answer(Vec<u8>),
}

/// An HTTP response with Content-Length and Connection: close.
pub fn http(status: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut text = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        text += &format!("{name}: {value}\r\n");
    }
    text += &format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    Reply::Bytes(text.into_bytes())
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
        write_and_close(stream, bytes);
        return;
    }
    let head = read_head(&mut stream);
    seen.lock().expect("requests lock").push(head);
    match reply {
        Reply::Bytes(bytes) => write_and_close(stream, &bytes),
        Reply::Silent => thread::sleep(Duration::from_secs(30)),
        Reply::Trickle(bytes) => {
            for byte in bytes {
                if stream.write_all(&[byte]).is_err() {
                    return;
                }
                thread::sleep(Duration::from_secs(1));
            }
        }
        Reply::Reset(_) | Reply::Close | Reply::Answer(_) => {}
    }
}

fn write_and_close(mut stream: TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).ok();
    stream.shutdown(std::net::Shutdown::Write).ok();
    // Let the client read everything before the socket goes away.
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

/// Whether a test's prerequisite (a server binary, root) is there. Outside CI a missing
/// one skips the test with a notice; under CI=true, where .ci/run installs them, it fails.
pub fn available(what: &str, present: bool) -> bool {
    if present {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{what} is required under CI=true (.ci/run installs it)"
    );
    eprintln!("skipped: {what} is not available here");
    false
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
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

/// A fresh directory under the system's temp dir, removed when dropped.
pub struct TempDir {
    pub path: std::path::PathBuf,
}

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let count = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "healthprobe-test-{name}-{}-{count}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).expect("create a temp dir");
        TempDir { path }
    }

    /// Hands the directory to a server's user (postgres, mysql), who must write in it.
    pub fn give_to(&self, owner: &str) {
        run_ok(
            Command::new("chown")
                .arg(format!("{owner}:"))
                .arg(&self.path),
        );
    }

    pub fn join(&self, name: &str) -> String {
        self.path.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.path).ok();
    }
}

/// Runs the probe under /usr/bin/time and returns its peak memory (KiB) too, when that
/// tool is here.
pub fn probe_max_rss(args: &[&str]) -> (Run, Option<u64>) {
    let time = std::path::Path::new("/usr/bin/time");
    if !available("/usr/bin/time", time.exists()) {
        return (probe(args), None);
    }
    let report = TempDir::new("rss");
    let file = report.join("rss");
    let mut command = Command::new(time);
    command
        .args(["-f", "%M", "-o", &file, BIN])
        .args(args)
        .env_clear();
    let run = run(command);
    let rss = std::fs::read_to_string(&file)
        .ok()
        .and_then(|text| text.lines().last()?.trim().parse().ok());
    (run, rss)
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

/// A loopback port with nothing listening on it.
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

/// The value of a request header in a recorded request head (case-insensitive name).
pub fn header<'a>(head: &'a str, name: &str) -> Vec<&'a str> {
    head.lines()
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
    let (run, rss) = probe_max_rss(&["--timeout", "5s", target]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains(says), "should say {says:?}: {run:?}");
    assert!(rss.is_none_or(|kib| kib < 16 * 1024), "{rss:?} KiB");
}
