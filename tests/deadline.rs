//! Promise 2: one total deadline (--timeout, default 3s) over resolving, connecting,
//! sending and receiving; --connect-timeout bounds resolving and connecting. When it
//! fires, the run exits 1 promptly and says which phase timed out.

use crate::common::system::is_root;
use crate::common::*;

use std::time::Duration;

/// Asserts an unhealthy run that ended by its deadline: not before, and promptly after
/// (the process's own count, and the wall clock with room for start-up).
fn assert_timed_out(run: &Run, deadline_ms: u64, phase: &str) {
    assert_eq!(run.code, 1, "{run:?}");
    assert_sane(run);
    assert!(
        run.stderr.contains(&format!("timed out {phase}")),
        "expected 'timed out {phase}': {run:?}"
    );
    let reported = run.reported_ms();
    let late = LATE_REPORTED.as_millis() as u64;
    assert!(
        reported >= deadline_ms.saturating_sub(5),
        "gave up before the deadline: {run:?}"
    );
    assert!(reported < deadline_ms + late, "late: {run:?}");
    assert!(
        run.elapsed < Duration::from_millis(deadline_ms) + LATE,
        "late: {run:?}"
    );
}

#[test]
fn a_server_that_never_answers() {
    let server = Server::start(Reply::Silent);
    let run = probe(&["--timeout", "1s", &server.url("/")]);
    assert_timed_out(&run, 1000, "awaiting the response");
    assert!(
        run.stderr.contains(&format!("from {}", server.addr)),
        "{run:?}"
    );
}

#[test]
fn the_default_deadline_is_3s() {
    let server = Server::start(Reply::Silent);
    let run = probe(&[&server.url("/")]);
    assert_timed_out(&run, 3000, "awaiting the response");
}

/// A long deadline fires on time too: a socket timeout of seconds is rounded up by the
/// kernel's timer wheel (5 s fired 170 ms late), so every wait is cut into short slices.
#[test]
fn a_long_deadline_fires_within_a_few_ms() {
    let server = Server::start(Reply::Silent);
    let run = probe(&["--timeout", "5s", &server.url("/")]);
    assert_eq!(run.code, 1, "{run:?}");
    let reported = run.reported_ms();
    assert!((5000..5060).contains(&reported), "{reported} ms: {run:?}");
}

#[test]
fn duration_forms() {
    let server = Server::start(Reply::Silent);
    for (timeout, ms) in [("250ms", 250), ("0.5s", 500), ("1", 1000), ("0.3", 300)] {
        let run = probe(&["--timeout", timeout, &server.url("/")]);
        assert_timed_out(&run, ms, "awaiting the response");
    }
}

#[test]
fn a_server_that_trickles_a_byte_a_second() {
    // Each byte comes well within any per-read timeout; only a total deadline stops it.
    let server = Server::start(Reply::Trickle(http_bytes("200 OK", &[], "ok")));
    let run = probe(&["--timeout", "1500ms", &server.url("/")]);
    assert_timed_out(&run, 1500, "awaiting the response");
}

#[test]
fn a_body_that_trickles() {
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec();
    let server = Server::start(Reply::TrickleAfter(head, vec![b'x'; 100]));
    let run = probe(&[
        "--timeout",
        "1500ms",
        "--body-contains",
        "ok",
        &server.url("/"),
    ]);
    assert_timed_out(&run, 1500, "reading the body");
}

#[test]
fn a_closed_port_fails_at_once_on_every_address() {
    // One address per kind: tests/matrix.rs. localhost: both of its addresses.
    let port = closed_port();
    let target = format!("http://localhost:{port}/");
    let run = probe(&["--timeout", "5s", &target]);
    assert_eq!(run.code, 1, "{run:?}");
    let says = format!("{target}: connection refused (tried 127.0.0.1:{port}, [::1]:{port}) in ");
    assert!(run.stderr.contains(&says), "{run:?}");
    assert!(run.elapsed < Duration::from_secs(2), "{run:?}");
}

#[test]
fn a_server_that_closes_at_once() {
    let server = Server::start(Reply::Close);
    let run = probe(&[&server.url("/")]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("connection closed by the server awaiting the response"),
        "{run:?}"
    );
}

#[test]
fn connect_timeout_bounds_connecting() {
    let hole = Blackhole::start();
    for target in [
        format!("http://{}/", hole.addr),
        format!("tcp://{}", hole.addr),
    ] {
        let run = probe(&["--connect-timeout", "500ms", "--timeout", "5s", &target]);
        assert_timed_out(&run, 500, "connecting");
    }
}

#[test]
fn without_connect_timeout_the_total_bounds_connecting() {
    let hole = Blackhole::start();
    let run = probe(&["--timeout", "800ms", &format!("http://{}/", hole.addr)]);
    assert_timed_out(&run, 800, "connecting");
    // A connect timeout longer than the total changes nothing: the total wins.
    let run = probe(&[
        "--connect-timeout",
        "5s",
        "--timeout",
        "800ms",
        &format!("tcp://{}", hole.addr),
    ]);
    assert_timed_out(&run, 800, "connecting");
}

#[test]
fn connect_timeout_does_not_bound_the_response() {
    let server = Server::start(Reply::Delayed(
        Duration::from_millis(700),
        http_bytes("200 OK", &[], "ok"),
    ));
    let run = probe(&[
        "--connect-timeout",
        "200ms",
        "--timeout",
        "3s",
        &server.url("/"),
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.reported_ms() >= 690, "{run:?}");
}

#[test]
fn the_deadline_covers_every_redirect() {
    // Each hop is quick, the whole chain is not.
    let server = Server::start_on("127.0.0.1:0", |head| {
        let hop: u32 = path(head).trim_start_matches('/').parse().unwrap_or(0);
        let next = http_bytes("302 Found", &[("Location", &format!("/{}", hop + 1))], "");
        Reply::Delayed(Duration::from_millis(300), next)
    });
    let run = probe(&["--timeout", "1s", &server.url("/0")]);
    assert_timed_out(&run, 1000, "awaiting the response");
}

#[test]
fn verbose_names_the_phases_as_they_end() {
    let server = Server::start(Reply::Silent);
    let run = probe(&["-v", "--timeout", "300ms", &server.url("/")]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("connected to 127.0.0.1:"), "{run:?}");
    assert!(
        run.stderr.contains("timed out awaiting the response"),
        "{run:?}"
    );
}

#[test]
fn the_deadline_covers_name_resolution() {
    // A resolver that never answers: a UDP socket on a loopback address of its own,
    // named in a resolv.conf that only the probe sees (a private mount namespace).
    // Needs root and unshare(1): skipped without them, failed under CI.
    use std::net::UdpSocket;
    use std::process::Command;
    let test = "the_deadline_covers_name_resolution";
    if !require(is_root(), test, "root (port 53, a private mount namespace)") {
        return;
    }
    let unique = std::process::id();
    let ip = format!("127.77.{}.{}", (unique >> 8) % 250 + 1, unique % 250 + 1);
    let dns =
        UdpSocket::bind((ip.as_str(), 53)).unwrap_or_else(|e| panic!("root binds {ip}:53: {e}"));
    let resolv = std::env::temp_dir().join(format!("healthprobe-resolv-{unique}.conf"));
    std::fs::write(
        &resolv,
        format!("nameserver {ip}\noptions timeout:10 attempts:1\n"),
    )
    .expect("write resolv.conf");
    let mut command = Command::new("unshare");
    command
        .args(["-m", "sh", "-c"])
        .arg(r#"mount --bind "$1" /etc/resolv.conf && exec "$2" --timeout 1s "$3""#)
        .arg("sh")
        .arg(&resolv)
        .arg(BIN)
        .arg("http://healthprobe-test.invalid:8080/")
        .env_clear();
    let run = run(command);
    std::fs::remove_file(&resolv).ok();
    let namespace = !run.stderr.contains("unshare:") && !run.stderr.contains("mount:");
    if !require(
        namespace,
        test,
        &format!("a private mount namespace ({})", run.stderr.trim()),
    ) {
        return;
    }
    assert_timed_out(&run, 1000, "resolving the host");
    // The question did reach our silent resolver.
    dns.set_nonblocking(true).expect("non-blocking");
    let mut query = [0u8; 512];
    let (size, _) = dns.recv_from(&mut query).expect("a DNS query arrived");
    let name = b"\x10healthprobe-test\x07invalid";
    assert!(query[..size].windows(name.len()).any(|w| w == name));
}
