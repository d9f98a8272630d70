//! Shared by the integration tests: the real binary, and scripted servers on loopback
//! port 0 that each test starts for itself, so tests run in parallel without colliding.
#![allow(dead_code)]

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
    let head = read_head(&mut stream);
    seen.lock().expect("requests lock").push(head);
    match reply {
        Reply::Bytes(bytes) => {
            stream.write_all(&bytes).ok();
            stream.shutdown(std::net::Shutdown::Write).ok();
            // Let the client read everything before the socket goes away.
            let mut sink = [0u8; 1024];
            while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
        }
        Reply::Silent => thread::sleep(Duration::from_secs(30)),
        Reply::Trickle(bytes) => {
            for byte in bytes {
                if stream.write_all(&[byte]).is_err() {
                    return;
                }
                thread::sleep(Duration::from_secs(1));
            }
        }
        Reply::Reset(_) | Reply::Close => {}
    }
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
