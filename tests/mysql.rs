//! mysql:// against a throwaway MariaDB the test starts (as the mysql user), and scripted
//! greetings: error packets, other protocols, silence and floods.
use crate::common::system::{TempDir, is_root};
use crate::common::*;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

const INSTALL_DB: &str = "/usr/bin/mariadb-install-db";
const MARIADBD: &str = "/usr/sbin/mariadbd";

/// A MariaDB in a temp dir on 127.0.0.1, killed when dropped.
struct MariaDb {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl MariaDb {
    fn start() -> Option<MariaDb> {
        let installed =
            std::path::Path::new(INSTALL_DB).exists() && std::path::Path::new(MARIADBD).exists();
        if !require(installed, "mysql", "MariaDB (mariadb-install-db, mariadbd)")
            || !require(is_root(), "mysql", "root, to run MariaDB as the mysql user")
        {
            return None;
        }
        let dir = TempDir::new("mariadb");
        dir.give_to("mysql");
        let datadir = format!("--datadir={}", dir.join("data"));
        run_ok(Command::new(INSTALL_DB).args([
            "--no-defaults",
            &datadir,
            "--user=mysql",
            "--skip-test-db",
            "--auth-root-authentication-method=socket",
        ]));
        let port = free_port();
        // Started as root with --user, mariadbd drops to mysql itself, so its PID is ours to kill.
        let child = Command::new(MARIADBD)
            .args(["--no-defaults", &datadir, "--user=mysql"])
            .args(["--bind-address=127.0.0.1", &format!("--port={port}")])
            .arg(format!("--socket={}", dir.join("mysqld.sock")))
            .arg(format!("--pid-file={}", dir.join("mysqld.pid")))
            .arg(format!("--log-error={}", dir.join("error.log")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        let server = MariaDb {
            child,
            port,
            _dir: dir,
        };
        assert!(
            wait_for_port(port, Duration::from_secs(60)),
            "mariadbd did not listen on {port}"
        );
        Some(server)
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

#[test]
fn a_running_mariadb_greets_and_is_alive() {
    let Some(server) = MariaDb::start() else {
        return;
    };
    let run = probe(&[&format!("mysql://localhost:{}", server.port)]);
    assert_eq!(run.code, 0, "{run:?}");
    let expected = format!(
        "healthy: mysql://localhost:{port}: alive: server 10.",
        port = server.port
    );
    assert!(run.stdout.starts_with(&expected), "{run:?}");
    // MariaDB's "5.5.5-" compatibility prefix is dropped.
    assert!(run.stdout.contains("-MariaDB"), "{run:?}");

    // An app's DATABASE_URL works as it is: nothing in it is sent, and the password is masked.
    let url = format!("mysql://app:s3cret@127.0.0.1:{}/appdb", server.port);
    let run = probe(&["-v", &url]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("mysql://***@127.0.0.1"), "{run:?}");
    assert!(!run.output().contains("s3cret"), "{run:?}");
}

/// A packet with sequence number 0.
fn packet(payload: &[u8]) -> Vec<u8> {
    let length = payload.len() as u32;
    let mut packet = length.to_le_bytes()[..3].to_vec();
    packet.push(0);
    packet.extend_from_slice(payload);
    packet
}

fn error_packet(code: u16, text: &str) -> Vec<u8> {
    let mut payload = vec![0xff];
    payload.extend_from_slice(&code.to_le_bytes());
    payload.extend_from_slice(text.as_bytes());
    packet(&payload)
}

#[test]
fn an_error_greeting_is_unhealthy_and_quoted() {
    for (greeting, says) in [
        (
            error_packet(1040, "Too many connections"),
            "refused the connection: 1040 Too many connections",
        ),
        (
            // With a SQLSTATE, as servers send once they know the client speaks 4.1.
            error_packet(
                1129,
                "#HY000Host '172.18.0.3' is blocked because of many connection errors",
            ),
            "refused the connection: 1129 Host '172.18.0.3' is blocked",
        ),
    ] {
        let server = Server::greet(Greeting::Bytes(greeting));
        expect(&[&url(&server)], 1, says);
    }
}

#[test]
fn a_scripted_handshake_is_healthy_and_names_the_version() {
    let mut payload = vec![0x0a];
    payload.extend_from_slice(b"8.0.36\0");
    payload.extend_from_slice(&[1, 0, 0, 0]);
    payload.extend_from_slice(b"abcdefgh\0");
    let server = Server::greet(Greeting::Bytes(packet(&payload)));
    expect(&[&url(&server)], 0, ": alive: server 8.0.36 from ");
}

#[test]
fn a_server_that_speaks_another_protocol_is_not_mysql() {
    for greeting in [
        &b"220 mail.example ESMTP Postfix\r\n"[..],
        // The right shape, the wrong protocol version.
        &packet(b"\x09old\0")[..],
    ] {
        let server = Server::greet(Greeting::Bytes(greeting.to_vec()));
        expect(&[&url(&server)], 1, "not a MySQL server (it said '");
    }
}

fn url(server: &Server) -> String {
    format!("mysql://127.0.0.1:{}", server.port())
}
