//! memcached:// against a real memcached the test starts, and scripted replies for the
//! errors a real server will not give on demand.
use crate::common::*;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A memcached on 127.0.0.1, killed when dropped.
struct Memcached {
    child: Child,
    port: u16,
}

impl Memcached {
    fn start() -> Option<Memcached> {
        let installed = Command::new("memcached")
            .arg("-V")
            .output()
            .is_ok_and(|output| output.status.success());
        if !require(installed, "memcached", "memcached") {
            return None;
        }
        let port = free_port();
        let child = Command::new("memcached")
            .args(["-l", "127.0.0.1", "-p", &port.to_string(), "-U", "0"])
            // memcached refuses to run as root without a user to become.
            .args(["-u", "nobody", "-m", "8"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start memcached");
        let memcached = Memcached { child, port };
        assert!(
            wait_for_port(port, Duration::from_secs(10)),
            "memcached did not listen on {port}"
        );
        Some(memcached)
    }

    /// The server's own reply to `version`, the reference the probe's line must show.
    fn version_reply(&self) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
        stream.write_all(b"version\r\n").expect("send");
        let mut reply = [0u8; 256];
        let read = stream.read(&mut reply).unwrap_or(0);
        String::from_utf8_lossy(&reply[..read])
            .trim_end()
            .to_string()
    }
}

impl Drop for Memcached {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

#[test]
fn a_running_memcached_answers_its_version() {
    let Some(memcached) = Memcached::start() else {
        return;
    };
    let reference = memcached.version_reply();
    let version = reference.strip_prefix("VERSION ").expect("VERSION reply");
    let run = probe(&[&format!("memcached://localhost:{}", memcached.port)]);
    assert_eq!(run.code, 0, "{run:?}");
    let expected = format!(
        "healthy: memcached://localhost:{port}: version {version} from 127.0.0.1:{port}",
        port = memcached.port
    );
    assert!(run.stdout.starts_with(&expected), "{run:?}");
}

#[test]
fn error_replies_are_unhealthy_and_quoted() {
    for reply in [
        "ERROR",
        "SERVER_ERROR out of memory",
        "CLIENT_ERROR bad command",
    ] {
        let server = Server::start(Reply::Answer(format!("{reply}\r\n").into_bytes()));
        let run = probe(&[&format!("memcached://127.0.0.1:{}", server.port())]);
        assert_eq!(run.code, 1, "{run:?}");
        assert!(
            run.stderr
                .contains(&format!("version failed: {reply} from")),
            "{run:?}"
        );
        assert_eq!(server.requests(), ["version\r\n"]);
    }
}

#[test]
fn bad_memcached_urls_are_usage_errors() {
    for (target, says) in [
        (
            "memcached://localhost/x",
            "a memcached:// target takes no path",
        ),
        ("memcached://user@localhost", "credentials"),
    ] {
        let run = probe(&[target]);
        assert_eq!(run.code, 64, "{target}: {run:?}");
        assert!(run.stderr.contains(says), "{target}: {run:?}");
    }
}
