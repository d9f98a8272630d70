//! The aarch64 musl binary (scripts/build-static.sh --target aarch64-unknown-linux-musl) keeps
//! the core promises, run by qemu-aarch64-static in an empty root that holds nothing but the
//! probe and the emulator: healthy and unhealthy HTTP against a loopback server, TCP, and
//! `localhost` resolved without /etc, on IPv4 and on IPv6. Skipped with a
//! notice without qemu-aarch64-static or root; under CI=true it fails instead.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;
use std::{fs, thread};

use crate::common::require;
use crate::common::system::is_root;

const QEMU: &str = "/usr/bin/qemu-aarch64-static";

/// Whether the machine can run these tests: the one skip rule (a notice, or under CI a
/// failure).
fn can_run(test: &str) -> bool {
    require(
        Path::new(QEMU).is_file(),
        test,
        "qemu-aarch64-static (Debian package qemu-user-static)",
    ) && require(is_root(), test, "root (for chroot)")
}

/// An empty root with /healthprobe (the aarch64 build) and /qemu, made once per process.
fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let crate_root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let output = Command::new("bash")
            .arg(crate_root.join("scripts/build-static.sh"))
            .args(["--target", "aarch64-unknown-linux-musl"])
            .current_dir(crate_root)
            .output()
            .expect("run scripts/build-static.sh");
        assert!(
            output.status.success(),
            "scripts/build-static.sh --target aarch64-unknown-linux-musl failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let binary = crate_root.join(String::from_utf8_lossy(&output.stdout).trim());
        let root = std::env::temp_dir().join(format!("healthprobe-aarch64-{}", std::process::id()));
        fs::create_dir_all(&root).expect("make the root");
        fs::copy(&binary, root.join("healthprobe")).expect("copy the probe");
        fs::copy(QEMU, root.join("qemu")).expect("copy the emulator");
        let entries = fs::read_dir(&root).expect("list the root").count();
        assert_eq!(entries, 2, "the root holds only the probe and the emulator");
        root
    })
}

/// `chroot ROOT /qemu /healthprobe ARGS...` with an empty environment.
fn probe(args: &[&str]) -> (i32, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new("/usr/sbin/chroot")
        .arg(root())
        .args(["/qemu", "/healthprobe", "--timeout", "5s"])
        .args(args)
        .env_clear()
        .output()
        .expect("run chroot");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
    (status.code().unwrap_or(-1), said)
}

/// A loopback HTTP server answering every request with `status`, on `bind`.
fn serve(bind: &str, status: &'static str) -> u16 {
    let listener = TcpListener::bind(bind).expect("bind a loopback port");
    let port = listener.local_addr().expect("local address").port();
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            thread::spawn(move || answer(&mut stream, status));
        }
    });
    port
}

fn answer(stream: &mut TcpStream, status: &str) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    let _ = stream.write_all(reply.as_bytes());
}

#[test]
fn healthy_and_unhealthy_http() {
    if !can_run("healthy_and_unhealthy_http") {
        return;
    }
    let healthy = serve("127.0.0.1:0", "200 OK");
    let target = format!("http://127.0.0.1:{healthy}/health");
    let (code, said) = probe(&[&target]);
    assert_eq!(code, 0, "{said}");
    assert!(said.starts_with(&format!("healthy: {target}: ")), "{said}");

    let failing = serve("127.0.0.1:0", "500 Internal Server Error");
    let target = format!("http://127.0.0.1:{failing}/health");
    let (code, said) = probe(&[&target]);
    assert_eq!(code, 1, "{said}");
    assert!(
        said.starts_with(&format!("unhealthy: {target}: ")),
        "{said}"
    );
    assert!(said.contains("500"), "{said}");
}

#[test]
fn tcp_open_and_closed() {
    if !can_run("tcp_open_and_closed") {
        return;
    }
    let open = serve("127.0.0.1:0", "200 OK");
    let (code, said) = probe(&[&format!("tcp://127.0.0.1:{open}")]);
    assert_eq!(code, 0, "{said}");
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a port to close")
        .port();
    let (code, said) = probe(&[&format!("tcp://127.0.0.1:{closed}")]);
    assert_eq!(code, 1, "{said}");
    assert!(said.starts_with("unhealthy: "), "{said}");
}

/// No /etc/hosts in the root: the probe itself knows `localhost` is 127.0.0.1 and ::1.
#[test]
fn localhost_on_ipv4_and_ipv6() {
    if !can_run("localhost_on_ipv4_and_ipv6") {
        return;
    }
    for bind in ["127.0.0.1:0", "[::1]:0"] {
        let port = serve(bind, "200 OK");
        let target = format!("http://localhost:{port}/health");
        let (code, said) = probe(&[&target]);
        assert_eq!(code, 0, "server on {bind}: {said}");
        assert!(said.starts_with(&format!("healthy: {target}: ")), "{said}");
    }
}
