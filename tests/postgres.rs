//! postgres:// against a throwaway PostgreSQL cluster the test creates (run as the postgres
//! user), and scripted replies for other protocols, silence and floods.
use crate::common::system::{TempDir, is_root};
use crate::common::*;

use std::path::PathBuf;
use std::process::Command;

/// A cluster in a temp dir, listening on 127.0.0.1 only; stopped when dropped.
struct Postgres {
    bin: PathBuf,
    dir: TempDir,
    port: u16,
}

impl Postgres {
    /// initdb, with pg_hba.conf letting `postgres` in without a password and asking
    /// everyone else for a SCRAM password.
    fn init() -> Option<Postgres> {
        let bin = postgres_bin();
        if !require(
            bin.is_some(),
            "postgres",
            "PostgreSQL (/usr/lib/postgresql/*/bin)",
        ) || !require(
            is_root(),
            "postgres",
            "root, to run PostgreSQL as the postgres user",
        ) {
            return None;
        }
        let dir = TempDir::new("postgres");
        dir.give_to("postgres");
        let cluster = Postgres {
            bin: bin?,
            dir,
            port: free_port(),
        };
        run_ok(cluster.as_postgres("initdb").args([
            "-D",
            &cluster.dir.join("data"),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "--no-instructions",
            "--encoding=UTF8",
            "--locale=C",
        ]));
        let hba = "local all all trust\n\
                   host all postgres 127.0.0.1/32 trust\n\
                   host all all 127.0.0.1/32 scram-sha-256\n";
        std::fs::write(cluster.dir.join("data/pg_hba.conf"), hba).expect("write pg_hba.conf");
        Some(cluster)
    }

    fn as_postgres(&self, program: &str) -> Command {
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(program))
            // The checkout may be where postgres cannot go (under /root, say).
            .current_dir(self.dir.path());
        command
    }

    fn pg_ctl(&self, args: &[&str]) -> Command {
        let mut command = self.as_postgres("pg_ctl");
        command
            .args(["-D", &self.dir.join("data"), "-t", "60"])
            .args(args);
        command
    }

    /// Starts the server with extra `-c name=value` settings, and waits until it is up.
    fn start(&self, settings: &[&str]) {
        let mut options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={}",
            self.port,
            self.dir.join("")
        );
        for setting in settings {
            options += &format!(" -c {setting}");
        }
        let log = self.dir.join("log");
        run_ok(&mut self.pg_ctl(&["-l", &log, "-w", "-o", &options, "start"]));
    }

    fn stop(&self) {
        run_ok(&mut self.pg_ctl(&["-m", "fast", "-w", "stop"]));
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    fn url(&self, userinfo: &str, path: &str) -> String {
        format!("postgres://{userinfo}localhost:{}{path}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Whatever state a failed test left it in.
        self.pg_ctl(&["-m", "immediate", "-w", "stop"])
            .output()
            .ok();
    }
}

/// The newest /usr/lib/postgresql/VERSION/bin that holds initdb.
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

#[test]
fn a_real_server_up_refusing_logins_stopped_and_standby() {
    let Some(cluster) = Postgres::init() else {
        return;
    };
    cluster.start(&[]);

    // Trust: the server logs us in, and we say goodbye properly.
    let run = probe(&[&cluster.url("", "")]);
    assert_eq!(run.code, 0, "{run:?}");
    let expected = format!(
        "healthy: postgres://localhost:{port}: accepting connections from 127.0.0.1:{port}",
        port = cluster.port
    );
    assert!(run.stdout.starts_with(&expected), "{run:?}");
    let log = cluster.log();
    for noise in ["FATAL", "could not", "unexpected EOF", "incomplete startup"] {
        assert!(
            !log.contains(noise),
            "the probe left '{noise}' in the log:\n{log}"
        );
    }

    // A wrong user, a wrong database, a password it never sends: the server is up.
    for (target, says) in [
        (cluster.url("nobody@", ""), "it asks for a SCRAM password"),
        (
            cluster.url("app:s3cret@", "/app"),
            "it asks for a SCRAM password",
        ),
        (cluster.url("", "/nosuchdb"), "accepting connections"),
        (
            format!("postgresql://localhost:{}/postgres", cluster.port),
            "accepting connections",
        ),
    ] {
        let run = probe(&["-v", &target]);
        assert_eq!(run.code, 0, "{target}: {run:?}");
        assert!(run.stdout.contains(says), "{target}: {run:?}");
        assert!(!run.output().contains("s3cret"), "{run:?}");
    }

    cluster.stop();
    let run = probe(&[&cluster.url("", "")]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("connection refused"), "{run:?}");

    // A standby without hot_standby is up but refuses every connection with 57P03.
    std::fs::write(cluster.dir.join("data/standby.signal"), "").expect("standby.signal");
    cluster.start(&["hot_standby=off"]);
    let run = probe(&[&cluster.url("", "")]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(
            "not accepting connections: FATAL 57P03 the database system is not accepting connections (Hot standby mode is disabled.)"
        ),
        "{run:?}"
    );
}

/// An ErrorResponse with these (type, text) fields.
fn error_response(fields: &[(u8, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (kind, text) in fields {
        body.push(*kind);
        body.extend_from_slice(text.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut message = vec![b'E'];
    message.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    message.extend_from_slice(&body);
    message
}

#[test]
fn starting_up_is_unhealthy_and_the_startup_message_carries_no_password() {
    let starting = error_response(&[
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', "57P03"),
        (b'M', "the database system is starting up"),
    ]);
    let server = Server::start(Reply::Answer(starting));
    let run = probe(&[&format!(
        "postgres://app:s3cret@127.0.0.1:{}/appdb",
        server.port()
    )]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("not accepting connections: FATAL 57P03 the database system is starting up"),
        "{run:?}"
    );
    let request = &server.requests()[0];
    assert!(
        request.contains("user\0app\0database\0appdb\0"),
        "{request:?}"
    );
    assert!(!request.contains("s3cret"), "{request:?}");
}

#[test]
fn the_user_defaults_to_postgres_and_the_database_to_the_user() {
    let too_many = error_response(&[
        (b'S', "FATAL"),
        (b'C', "53300"),
        (b'M', "sorry, too many clients already"),
    ]);
    let server = Server::start(Reply::Answer(too_many));
    let run = probe(&[&format!("postgres://127.0.0.1:{}", server.port())]);
    // pg_isready too: a server refusing this login is still accepting connections.
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("this login was refused: FATAL 53300 sorry, too many clients already"),
        "{run:?}"
    );
    let request = &server.requests()[0];
    assert!(
        request.contains("user\0postgres\0database\0postgres\0"),
        "{request:?}"
    );
}

#[test]
fn closing_without_an_answer_is_unhealthy() {
    let server = Server::start(Reply::Answer(Vec::new()));
    let says = "connection closed by the server awaiting the reply to the startup message";
    expect(&[&url(&server)], 1, says);
}

fn url(server: &Server) -> String {
    format!("postgres://127.0.0.1:{}", server.port())
}
