//! nats:// against a real nats-server the test starts, and a scripted -ERR greeting.
use crate::common::*;

use std::io::Read;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A nats-server on 127.0.0.1, killed when dropped.
struct Nats {
    child: Child,
    port: u16,
}

impl Nats {
    fn start(extra: &[&str]) -> Option<Nats> {
        let installed = Command::new("nats-server")
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success());
        if !require(installed, "nats", "nats-server") {
            return None;
        }
        let port = free_port();
        let child = Command::new("nats-server")
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-n",
                "probe-test",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        let nats = Nats { child, port };
        assert!(
            wait_for_port(port, Duration::from_secs(10)),
            "nats-server did not listen on {port}"
        );
        Some(nats)
    }

    /// The server's own greeting, the reference for the version the line shows.
    fn greeting(&self) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let mut greeting = [0u8; 4096];
        let read = stream.read(&mut greeting).unwrap_or(0);
        String::from_utf8_lossy(&greeting[..read]).into_owned()
    }

    fn version(&self) -> String {
        let greeting = self.greeting();
        let after = greeting.split("\"version\":\"").nth(1).expect("a version");
        after.split('"').next().unwrap_or_default().to_string()
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

#[test]
fn a_running_nats_server_greets_with_its_name_and_version() {
    let Some(nats) = Nats::start(&[]) else { return };
    let version = nats.version();
    let run = probe(&[&format!("nats://localhost:{}", nats.port)]);
    assert_eq!(run.code, 0, "{run:?}");
    let expected = format!(
        "healthy: nats://localhost:{port}: NATS {version}, server probe-test from 127.0.0.1:{port}",
        port = nats.port
    );
    assert!(run.stdout.starts_with(&expected), "{run:?}");
}

/// The INFO greeting comes before any login: a server that requires one is still up.
#[test]
fn a_server_that_requires_a_login_is_healthy_without_one() {
    let Some(nats) = Nats::start(&["--user", "probe", "--pass", "s3cret"]) else {
        return;
    };
    assert!(nats.greeting().contains("\"auth_required\":true"));
    let run = probe(&[&format!("nats://127.0.0.1:{}", nats.port)]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains(": NATS "), "{run:?}");
}

#[test]
fn an_err_greeting_is_unhealthy_and_quoted() {
    let server = Server::greet(Greeting::Bytes(
        b"-ERR 'maximum connections exceeded'\r\n".to_vec(),
    ));
    let run = probe(&[&format!("nats://127.0.0.1:{}", server.port())]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("refused: 'maximum connections exceeded' from"),
        "{run:?}"
    );
}

/// No login is sent, so credentials are refused, and the usage error masks them.
#[test]
fn credentials_in_a_nats_url_are_refused_and_masked() {
    for target in ["nats://probe:s3cret@localhost", "nats://s3cret@localhost"] {
        let run = probe(&[target]);
        assert_eq!(run.code, 64, "{target}: {run:?}");
        assert!(run.stderr.contains("credentials"), "{target}: {run:?}");
        assert!(run.stderr.contains("***@localhost"), "{target}: {run:?}");
        assert!(!run.stderr.contains("s3cret"), "{target}: {run:?}");
    }
}
