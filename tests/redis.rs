//! redis:// against a real redis-server the test starts, and scripted replies for what a
//! real server will not do on demand (LOADING, BUSY, floods, other protocols).
use crate::common::system::TempDir;
use crate::common::*;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A redis-server on 127.0.0.1 with nothing persisted, killed when dropped.
struct Redis {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Redis {
    fn start() -> Option<Redis> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success());
        if !require(installed, "redis", "redis-server") {
            return None;
        }
        let dir = TempDir::new("redis");
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--dir", &dir.join("")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let redis = Redis {
            child,
            port,
            _dir: dir,
        };
        assert!(
            wait_for_port(port, Duration::from_secs(10)),
            "redis-server did not listen on {port}"
        );
        Some(redis)
    }

    fn url(&self, userinfo: &str) -> String {
        format!("redis://{userinfo}localhost:{}", self.port)
    }

    /// Sends one command as the administrator and returns the reply line.
    fn command(&self, words: &[&str]) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let mut request = format!("*{}\r\n", words.len());
        for word in words {
            request += &format!("${}\r\n{word}\r\n", word.len());
        }
        stream.write_all(request.as_bytes()).expect("send");
        let mut reply = [0u8; 512];
        let read = stream.read(&mut reply).unwrap_or(0);
        String::from_utf8_lossy(&reply[..read]).into_owned()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

#[test]
fn a_running_redis_answers_pong() {
    let Some(redis) = Redis::start() else { return };
    let run = probe(&[&redis.url("")]);
    assert_eq!(run.code, 0, "{run:?}");
    let expected = format!(
        "healthy: redis://localhost:{port}: PONG from 127.0.0.1:{port}",
        port = redis.port
    );
    assert!(run.stdout.starts_with(&expected), "{run:?}");
}

#[test]
fn requirepass_needs_the_password_and_the_line_never_shows_it() {
    let Some(redis) = Redis::start() else { return };
    // '/', '@' and '+' as in a base64 password, which people paste unencoded.
    let password = "s3cr/t+x@y";
    assert!(
        redis
            .command(&["CONFIG", "SET", "requirepass", password])
            .starts_with("+OK")
    );

    let without = probe(&[&redis.url("")]);
    assert_eq!(without.code, 1, "{without:?}");
    assert!(
        without.stderr.contains("a password is required"),
        "{without:?}"
    );

    let masked = format!("healthy: redis://***@localhost:{}: PONG", redis.port);
    for userinfo in [
        format!(":{password}@"),
        ":s3cr%2Ft%2Bx%40y@".to_string(),
        format!("default:{password}@"),
        // A lone word is the password, as redis-cli -u reads it.
        format!("{password}@"),
    ] {
        let run = probe(&["-v", &redis.url(&userinfo)]);
        assert_eq!(run.code, 0, "{userinfo}: {run:?}");
        assert!(!run.output().contains("s3cr"), "{run:?}");
        assert!(run.stdout.starts_with(&masked), "{run:?}");
    }

    // Exec-form HEALTHCHECKs have no shell: ${VAR} is expanded by the probe.
    let run = probe_env(
        &["redis://:${REDIS_PASSWORD}@localhost:${PORT}"],
        &[
            ("REDIS_PASSWORD", password),
            ("PORT", &redis.port.to_string()),
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with(&masked), "{run:?}");
    assert!(!run.output().contains("s3cr"), "{run:?}");

    let wrong = probe(&["-v", &redis.url(":hunter2@")]);
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(wrong.stderr.contains("AUTH failed: WRONGPASS"), "{wrong:?}");
    assert!(!wrong.output().contains("hunter2"), "{wrong:?}");
}

#[test]
fn acl_users_log_in_with_auth_user_password() {
    let Some(redis) = Redis::start() else { return };
    let added = redis.command(&["ACL", "SETUSER", "probe", "on", ">pr0be", "+ping"]);
    assert!(added.starts_with("+OK"), "{added}");
    let run = probe(&[&redis.url("probe:pr0be@")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("redis://***@localhost"), "{run:?}");
    let run = probe(&[&redis.url("probe:wrong@")]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("AUTH failed: WRONGPASS"), "{run:?}");
}

/// A server that is up but cannot serve yet answers PING with an error: each is quoted.
#[test]
fn loading_busy_and_masterdown_are_unhealthy_and_quoted() {
    for reply in [
        "-LOADING Redis is loading the dataset in memory",
        "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT.",
        "-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
    ] {
        let server = Server::start(Reply::Answer(format!("{reply}\r\n").into_bytes()));
        let run = probe(&[&format!("redis://127.0.0.1:{}", server.port())]);
        assert_eq!(run.code, 1, "{run:?}");
        let quoted = format!("PING failed: {}", &reply[1..30]);
        assert!(run.stderr.contains(&quoted), "{run:?}");
        assert_eq!(
            server.requests(),
            ["*1\r\n$4\r\nPING\r\n"],
            "no AUTH without a password"
        );
    }
}

#[test]
fn auth_and_ping_go_in_one_round_trip() {
    let server = Server::start(Reply::Answer(b"+OK\r\n+PONG\r\n".to_vec()));
    let run = probe(&[&format!("redis://:pw@127.0.0.1:{}", server.port())]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        server.requests(),
        ["*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*1\r\n$4\r\nPING\r\n"]
    );
}

/// A server that does not know AUTH echoes its arguments: the reply is cut where it does.
#[test]
fn a_password_echoed_by_the_server_is_masked() {
    let server = Server::start(Reply::Answer(
        b"-ERR unknown command 'AUTH', with args beginning with: 'hunter2' \r\n".to_vec(),
    ));
    let run = probe(&[&format!("redis://:hunter2@127.0.0.1:{}", server.port())]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("AUTH failed: ERR unknown command"),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("with args beginning with: '*** (the rest is not shown"),
        "{run:?}"
    );
    assert!(!run.stderr.contains("hunter2"), "{run:?}");
}

#[test]
fn bad_redis_urls_are_usage_errors_that_mask_the_password() {
    for (target, says) in [
        ("redis://:hunter2@localhost:0", "port must be 1-65535"),
        ("redis://:hunter2@localhost/db1", "database number"),
        ("rediss://:hunter2@localhost", "unsupported scheme 'rediss'"),
        ("http://user:hunter2@localhost/", "credentials in the URL"),
        ("redis://:hunter2@${NOPE}", "variable 'NOPE' is not set"),
    ] {
        let run = probe(&[target]);
        assert_eq!(run.code, 64, "{target}: {run:?}");
        assert!(run.stderr.contains(says), "{target}: {run:?}");
        assert!(run.stderr.contains("://***@"), "{target}: {run:?}");
        assert!(!run.stderr.contains("hunter2"), "{target}: {run:?}");
    }
}
