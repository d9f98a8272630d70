//! fcgi:// against a real php-fpm the test starts (its own pool on a free loopback port),
//! compared with cgi-fcgi (libfcgi-bin) on the same requests, and scripted replies for
//! what php-fpm will not do on demand.
use crate::common::system::TempDir;
use crate::common::*;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

const PHP_FPM: &str = "/usr/sbin/php-fpm8.2";

/// A php-fpm master with one static child, stopped by its PID when dropped.
struct PhpFpm {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl PhpFpm {
    /// `ping`: whether the pool sets ping.path (/ping) and pm.status_path (/status).
    fn start(ping: bool) -> Option<PhpFpm> {
        let installed = std::path::Path::new(PHP_FPM).exists();
        if !require(installed, "fcgi", "php-fpm8.2 (Debian php8.2-fpm)") {
            return None;
        }
        let dir = TempDir::new("php-fpm");
        let port = free_port();
        let paths = match ping {
            true => "ping.path = /ping\npm.status_path = /status\n",
            false => "",
        };
        let config = format!(
            "[global]\nerror_log = {log}\ndaemonize = no\npid = {pid}\n\
             [probe]\nlisten = 127.0.0.1:{port}\nuser = nobody\ngroup = nogroup\n\
             pm = static\npm.max_children = 1\n{paths}",
            log = dir.join("error.log"),
            pid = dir.join("php-fpm.pid"),
        );
        let config = dir.write("php-fpm.conf", &config, 0o644);
        let child = Command::new(PHP_FPM)
            .args(["-F", "-n", "-y", &config, "-R"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start php-fpm");
        let fpm = PhpFpm {
            child,
            port,
            _dir: dir,
        };
        assert!(
            wait_for_port(port, Duration::from_secs(10)),
            "php-fpm did not listen on {port}"
        );
        Some(fpm)
    }

    fn url(&self, path: &str) -> String {
        format!("fcgi://127.0.0.1:{}{path}", self.port)
    }

    /// What cgi-fcgi prints for the same request: the CGI headers and the body.
    fn cgi_fcgi(&self, path: &str) -> Option<String> {
        let installed = Command::new("cgi-fcgi").arg("-h").output().is_ok();
        if !require(installed, "fcgi", "cgi-fcgi (Debian libfcgi-bin)") {
            return None;
        }
        let output = Command::new("cgi-fcgi")
            .args(["-bind", "-connect", &format!("127.0.0.1:{}", self.port)])
            .env_clear()
            .env("SCRIPT_NAME", path)
            .env("SCRIPT_FILENAME", path)
            .env("REQUEST_METHOD", "GET")
            .env("QUERY_STRING", "")
            .stdin(Stdio::null())
            .output()
            .expect("run cgi-fcgi");
        Some(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

impl Drop for PhpFpm {
    fn drop(&mut self) {
        // SIGTERM first (its children go with it), SIGKILL if it lingers.
        Command::new("kill")
            .arg(self.child.id().to_string())
            .status()
            .ok();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// cgi-fcgi's status: its Status header's code, 200 without one.
fn reference_status(output: &str) -> u16 {
    output
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .find_map(|line| line.strip_prefix("Status: "))
        .and_then(|value| value.get(..3)?.parse().ok())
        .unwrap_or(200)
}

#[test]
fn ping_answers_pong_and_the_status_page_is_healthy_as_cgi_fcgi_says() {
    let Some(fpm) = PhpFpm::start(true) else {
        return;
    };
    let run = probe(&["--body-contains", "pong", &fpm.url("/ping")]);
    assert_eq!(run.code, 0, "{run:?}");
    let expected = format!(
        "healthy: fcgi://127.0.0.1:{port}/ping: 200 OK from 127.0.0.1:{port} in ",
        port = fpm.port
    );
    assert!(run.stdout.starts_with(&expected), "{run:?}");

    let run = probe(&["--body-contains", "accepted conn", &fpm.url("/status")]);
    assert_eq!(run.code, 0, "{run:?}");

    let run = probe(&["--body-contains", "no such text", &fpm.url("/ping")]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("\"no such text\" is not in"), "{run:?}");

    for path in ["/ping", "/status"] {
        let Some(reference) = fpm.cgi_fcgi(path) else {
            return;
        };
        assert_eq!(reference_status(&reference), 200, "{reference}");
        let word = if path == "/ping" {
            "pong"
        } else {
            "accepted conn"
        };
        assert!(reference.contains(word), "{reference}");
    }
}

#[test]
fn a_pool_without_ping_path_answers_404_as_cgi_fcgi_says() {
    let Some(fpm) = PhpFpm::start(false) else {
        return;
    };
    let run = probe(&[&fpm.url("/ping")]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("404 Not Found (expected 200-399), stderr: 'Primary script unknown'"),
        "{run:?}"
    );
    // --status makes the 404 the healthy answer, as for http://.
    let run = probe(&[
        "--status",
        "404",
        "--body-contains",
        "File not found",
        &fpm.url("/ping"),
    ]);
    assert_eq!(run.code, 0, "{run:?}");

    let Some(reference) = fpm.cgi_fcgi("/ping") else {
        return;
    };
    assert_eq!(reference_status(&reference), 404, "{reference}");
    assert!(reference.contains("File not found."), "{reference}");
}

/// A record header (version 1, request 1) and its content.
fn record(kind: u8, content: &[u8]) -> Vec<u8> {
    let length = (content.len() as u16).to_be_bytes();
    let mut bytes = vec![1, kind, 0, 1, length[0], length[1], 0, 0];
    bytes.extend_from_slice(content);
    bytes
}

#[test]
fn scripted_servers_overloaded_padded_and_no_status() {
    // No Status header is 200; padding is skipped; STDOUT in two records.
    let mut reply = vec![1, 6, 0, 1, 0, 14, 3, 0];
    reply.extend_from_slice(b"Content-Type: ");
    reply.extend_from_slice(&[0, 0, 0]);
    reply.extend(record(6, b"text/plain\r\n\r\nok"));
    reply.extend(record(3, &[0, 0, 0, 0, 0, 0, 0, 0]));
    let server = Server::start(Reply::Answer(reply));
    let target = format!("fcgi://127.0.0.1:{}/ping", server.port());
    let run = probe(&["--body-contains", "ok", &target]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains(": 200 OK from"), "{run:?}");

    let reply = record(3, &[0, 0, 0, 0, 2, 0, 0, 0]);
    let server = Server::start(Reply::Answer(reply));
    let target = format!("fcgi://127.0.0.1:{}/ping", server.port());
    expect(&[&target], 1, "the server refused the request: overloaded");

    let mut reply = record(6, b"Status: 503 Service Unavailable\r\n\r\n");
    reply.extend(record(3, &[0; 8]));
    let server = Server::start(Reply::Answer(reply));
    let target = format!("fcgi://127.0.0.1:{}/ping", server.port());
    expect(&[&target], 1, "503 Service Unavailable (expected 200-399)");
}

#[test]
fn a_target_without_a_path_is_a_usage_error() {
    expect(&["fcgi://127.0.0.1:9000"], 64, "names the path to ask for");
}
