//! Scripted servers on loopback port 0 that each test starts for itself, so tests run in
//! parallel without colliding: HTTP-ish replies, greetings, a black hole, a CONNECT proxy.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

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
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
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

/// A loopback port with nothing listening on it, for the whole test process: the port
/// stays bound to a socket that never listens (connects to it are refused), so no
/// server another test starts meanwhile can take it, as one did in CI.
pub fn closed_port() -> u16 {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .expect("a TCP socket");
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    socket.bind(&any_port.into()).expect("bind a loopback port");
    let port = socket
        .local_addr()
        .expect("local address")
        .as_socket()
        .expect("an IP address")
        .port();
    // Held until the test process exits: dropping it would free the port again.
    std::mem::forget(socket);
    port
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
