//! --wait, --interval and `-- CMD`: the real binary against servers that become ready
//! later, never do, or hang; exec of real programs; SIGTERM and SIGINT during the wait.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::system::{TempDir, is_root};
use crate::common::*;

/// CPU is shared with other builds: how late "at once" and "at the deadline" may be.
const SLACK: Duration = Duration::from_millis(900);

/// A loopback port that refuses connections now and serves `reply` after `delay`.
fn serve_later(delay: Duration, reply: Reply) -> u16 {
    let port = free_port();
    thread::spawn(move || {
        thread::sleep(delay);
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the port again");
        Server::serve(listener, Arc::new(move |_| reply.clone()));
    });
    port
}

fn progress_lines(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|line| line.starts_with("healthprobe: "))
        .collect()
}

/// A file under the temp dir, named for this process and test, removed when dropped
/// (also when the test fails).
/// healthprobe running in the background, its stderr read line by line as it comes.
struct Running {
    child: Child,
    started: Instant,
    lines: mpsc::Receiver<String>,
    stderr: thread::JoinHandle<String>,
}

impl Running {
    fn start(command: Command) -> Running {
        let mut command = command;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start healthprobe");
        let stderr = child.stderr.take().expect("stderr pipe");
        let (sender, lines) = mpsc::channel();
        let stderr = thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                all += &line;
                all.push('\n');
                sender.send(line).ok();
            }
            all
        });
        Running {
            child,
            started: Instant::now(),
            lines,
            stderr,
        }
    }

    fn healthprobe(args: &[&str]) -> Running {
        let mut command = Command::new(BIN);
        command.args(args).env_clear();
        Running::start(command)
    }

    /// Blocks until stderr shows a line containing `text` (20 s at most).
    fn wait_for_line(&self, text: &str) -> String {
        let give_up = Instant::now() + Duration::from_secs(20);
        loop {
            let left = give_up.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(_) => panic!("no stderr line containing {text:?} within 20 s"),
            }
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    fn finish(mut self) -> Run {
        let mut stdout = String::new();
        if let Some(mut pipe) = self.child.stdout.take() {
            pipe.read_to_string(&mut stdout).ok();
        }
        let status = self.child.wait().expect("wait for healthprobe");
        Run {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr: self.stderr.join().expect("stderr reader"),
            elapsed: self.started.elapsed(),
        }
    }
}

#[test]
fn a_service_that_becomes_ready_before_the_deadline_is_healthy() {
    let port = serve_later(Duration::from_millis(1500), http("200 OK", &[], "ok"));
    let url = format!("http://127.0.0.1:{port}/health");
    let run = probe(&["--wait", "20s", "--interval", "100ms", &url]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.elapsed >= Duration::from_millis(1500), "{run:?}");
    assert!(
        run.stdout.starts_with(&format!("healthy: {url}: 200 OK")),
        "{run:?}"
    );
    // About 15 attempts were refused: one line for the failure, one for the recovery.
    let lines = progress_lines(&run);
    assert_eq!(lines.len(), 2, "{run:?}");
    assert!(
        lines[0].ends_with(&format!(
            "waiting for {url}: connection refused (tried 127.0.0.1:{port})"
        )),
        "{run:?}"
    );
    assert!(lines[1].ends_with(&format!("{url} is healthy")), "{run:?}");
}

#[test]
fn one_progress_line_per_change_of_reason_with_elapsed_time() {
    let born = Instant::now();
    let server = Server::start_on("127.0.0.1:0", move |_| match born.elapsed().as_millis() {
        0..1000 => http("503 Service Unavailable", &[], ""),
        1000..2000 => http("500 Internal Server Error", &[], ""),
        _ => http("200 OK", &[], ""),
    });
    let url = server.url("/");
    let run = probe(&["--wait", "20s", "--interval", "100ms", &url]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines = progress_lines(&run);
    assert_eq!(lines.len(), 3, "{run:?}");
    assert!(lines[0].starts_with("healthprobe: 0."), "{run:?}");
    assert!(
        lines[0].ends_with(&format!(
            " s: waiting for {url}: 503 Service Unavailable (expected 200-399)"
        )),
        "{run:?}"
    );
    assert!(
        lines[1].ends_with(&format!(
            " s: waiting for {url}: 500 Internal Server Error (expected 200-399)"
        )),
        "{run:?}"
    );
    assert!(
        lines[2].ends_with(&format!(" s: {url} is healthy")),
        "{run:?}"
    );
    assert!(
        server.requests().len() >= 10,
        "{} attempts",
        server.requests().len()
    );
}

#[test]
fn a_service_that_never_gets_ready_fails_at_the_deadline_not_later() {
    let port = closed_port();
    let target = format!("tcp://127.0.0.1:{port}");
    let run = probe(&["--wait", "1s", "--interval", "200ms", &target]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.elapsed >= Duration::from_secs(1), "{run:?}");
    assert!(run.elapsed < Duration::from_secs(1) + SLACK, "{run:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{run:?}");
    assert!(
        lines[0].contains(&format!("waiting for {target}: connection refused")),
        "{run:?}"
    );
    assert!(
        lines[1].starts_with("healthprobe: 1.") && lines[1].ends_with("gave up waiting (--wait)"),
        "{run:?}"
    );
    assert!(
        lines[2].starts_with(&format!("unhealthy: {target}: connection refused")),
        "{run:?}"
    );
    assert_eq!(run.stdout, "");
}

#[test]
fn an_attempt_is_cut_short_at_the_deadline_of_the_wait() {
    // Each attempt may take --timeout 10s, but the wait ends after 1 s all the same.
    let server = Server::start(Reply::Silent);
    let run = probe(&["--wait", "1s", "--timeout", "10s", &server.url("/")]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.elapsed >= Duration::from_secs(1), "{run:?}");
    assert!(run.elapsed < Duration::from_secs(1) + SLACK, "{run:?}");
    assert!(
        run.stderr.contains("timed out awaiting the response"),
        "{run:?}"
    );
    assert_eq!(server.requests().len(), 1, "{run:?}");
}

#[test]
fn quiet_keeps_only_the_final_verdict() {
    let port = closed_port();
    let target = format!("tcp://127.0.0.1:{port}");
    let run = probe(&["-q", "--wait", "500ms", "--interval", "100ms", &target]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(
        run.stderr
            .starts_with(&format!("unhealthy: {target}: connection refused")),
        "{run:?}"
    );

    let port = serve_later(Duration::from_millis(500), http("200 OK", &[], ""));
    let url = format!("http://127.0.0.1:{port}/");
    let run = probe(&["-q", "--wait", "20s", "--interval", "100ms", &url]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.output(), "", "{run:?}");
}

#[test]
fn all_targets_must_be_healthy_in_the_same_attempt_whatever_their_type() {
    let tcp = Server::start(Reply::Close);
    let born = Instant::now();
    let http_server = Server::start_on("[::1]:0", move |_| {
        if born.elapsed() < Duration::from_secs(1) {
            http("503 Service Unavailable", &[], "")
        } else {
            http("200 OK", &[], "")
        }
    });
    let tcp_target = format!("tcp://{}", tcp.addr);
    let http_target = http_server.url("/ready");
    let run = probe(&[
        "--wait",
        "20s",
        "--interval",
        "100ms",
        &tcp_target,
        &http_target,
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    // The tcp target was healthy from the start: only the http one had news.
    let lines = progress_lines(&run);
    assert_eq!(lines.len(), 2, "{run:?}");
    assert!(
        lines.iter().all(|line| line.contains(&http_target)),
        "{run:?}"
    );
    assert_eq!(run.stdout.lines().count(), 2, "{run:?}");
    assert!(
        run.stdout
            .contains(&format!("healthy: {tcp_target}: connected")),
        "{run:?}"
    );
}

#[test]
fn wait_and_interval_come_from_the_environment_with_expansion() {
    let port = closed_port();
    let target = format!("tcp://127.0.0.1:{port}");
    let env = [
        ("HEALTHPROBE_WAIT", "${WAIT_FOR:-5s}"),
        ("WAIT_FOR", "1s"),
        ("HEALTHPROBE_INTERVAL", "250ms"),
    ];
    let run = probe_env(&[&target], &env);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.elapsed >= Duration::from_secs(1), "{run:?}");
    assert!(run.elapsed < Duration::from_secs(1) + SLACK, "{run:?}");
    assert!(run.stderr.contains("gave up waiting"), "{run:?}");

    // HEALTHPROBE_INTERVAL alone (an environment the HEALTHCHECK shares with a waiting
    // entrypoint) leaves a single attempt alone.
    let server = Server::start(http("200 OK", &[], ""));
    let run = probe_env(&[&server.url("/")], &[("HEALTHPROBE_INTERVAL", "5s")]);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn bad_wait_settings_are_usage_errors_that_name_the_culprit() {
    let target = "tcp://127.0.0.1:1";
    // Arguments, environment, and what the one error line must say.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (&["--wait", "0", target], &[], "--wait: invalid value '0'"),
        (
            &["--wait", "soon", target],
            &[],
            "--wait: invalid value 'soon'",
        ),
        (
            &["--wait", "1s", "--interval", "-1", target],
            &[],
            "--interval: invalid value '-1'",
        ),
        (
            &["--interval", "1s", target],
            &[],
            "--interval needs --wait",
        ),
        (&[target, "--"], &[], "'--' must be followed by the command"),
        (
            &[target],
            &[("HEALTHPROBE_WAIT", "forever")],
            "HEALTHPROBE_WAIT: invalid value",
        ),
        (
            &[target],
            &[("HEALTHPROBE_WAIT", "1s"), ("HEALTHPROBE_INTERVAL", "0")],
            "HEALTHPROBE_INTERVAL: invalid value '0'",
        ),
        (
            &["--wait", "${NOPE}", target],
            &[],
            "variable 'NOPE' is not set",
        ),
    ];
    for (args, env, message) in cases {
        let run = probe_env(args, env);
        assert_eq!(run.code, 64, "{args:?} {env:?}: {run:?}");
        assert!(run.stderr.contains(message), "{args:?} {env:?}: {run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {run:?}");
    }
}

#[test]
fn exec_replaces_the_process_with_its_arguments_as_given() {
    let server = Server::start(http("200 OK", &[], ""));
    let url = server.url("/");
    let script = r#"echo "pid=$$"; for arg in "$0" "$@"; do echo "arg=$arg"; done"#;
    let mut command = Command::new(BIN);
    command
        .args([
            &url, "--", "/bin/sh", "-c", script, "zero", "a b", "${HOME}", "--help",
        ])
        .env_clear();
    let running = Running::start(command);
    let pid = running.child.id();
    let run = running.finish();
    assert_eq!(run.code, 0, "{run:?}");
    let expected = format!("healthy: {url}: 200 OK from {} in", server.addr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with(&expected), "{run:?}");
    // Same PID: CMD is this process, not a child of it.
    assert_eq!(
        lines[1..],
        [
            format!("pid={pid}").as_str(),
            "arg=zero",
            "arg=a b",
            "arg=${HOME}",
            "arg=--help"
        ],
        "{run:?}"
    );
}

#[test]
fn exec_keeps_the_environment_exactly() {
    let server = Server::start(Reply::Close);
    let target = format!("tcp://{}", server.addr);
    let env = [
        ("HP_WAIT_MARK", "kept as it is"),
        ("PATH", "/usr/bin:/bin"),
        ("HEALTHPROBE_TIMEOUT", "2s"),
    ];
    let run = probe_env(&["-q", &target, "--", "env"], &env);
    assert_eq!(run.code, 0, "{run:?}");
    let mut printed: Vec<&str> = run.stdout.lines().collect();
    printed.sort_unstable();
    let mut expected: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    expected.sort_unstable();
    assert_eq!(printed, expected, "{run:?}");
}

#[test]
fn exec_after_waiting_for_a_late_service() {
    let port = serve_later(Duration::from_millis(700), Reply::Close);
    let target = format!("tcp://127.0.0.1:{port}");
    let run = probe(&[
        "--wait",
        "20s",
        "--interval",
        "100ms",
        &target,
        "--",
        "/bin/echo",
        "started",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{run:?}");
    assert!(
        lines[0].starts_with(&format!("healthy: {target}")),
        "{run:?}"
    );
    assert_eq!(lines[1], "started", "{run:?}");
    assert_eq!(progress_lines(&run).len(), 2, "{run:?}");
}

#[test]
fn an_unhealthy_target_never_runs_the_command() {
    let target = format!("tcp://127.0.0.1:{}", closed_port());
    let run = probe(&[&target, "--", "/bin/echo", "must not run"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(!run.stdout.contains("must not run"), "{run:?}");
    assert!(
        run.stderr.starts_with(&format!("unhealthy: {target}")),
        "{run:?}"
    );
}

#[test]
fn a_command_that_cannot_run_is_a_usage_error_before_anything_is_probed() {
    let dir = TempDir::new("wait-exec");
    let not_executable = dir.write("not-executable", "#!/bin/sh\necho hi\n", 0o644);
    let folder = std::env::temp_dir();
    let folder = folder.to_str().expect("a UTF-8 temp dir");
    let cases = [
        (
            "/nonexistent/hp-wait-app",
            "cannot run '/nonexistent/hp-wait-app': not found",
        ),
        (
            "hp-wait-no-such-program",
            "cannot run 'hp-wait-no-such-program': not found in PATH",
        ),
        (not_executable.as_str(), "not executable (no x permission)"),
        (folder, "is a directory"),
        ("", "the command is empty"),
    ];
    let server = Server::start(http("200 OK", &[], ""));
    for (program, message) in cases {
        let run = probe_env(
            &["--wait", "30s", &server.url("/"), "--", program, "arg"],
            &[("PATH", "/usr/bin:/bin")],
        );
        assert_eq!(run.code, 64, "{program}: {run:?}");
        assert!(
            run.stderr.starts_with("healthprobe: cannot run '"),
            "{program}: {run:?}"
        );
        assert!(
            run.stderr.ends_with(&format!("{message}\n")),
            "{program}: {run:?}"
        );
        assert_eq!(run.stderr.lines().count(), 1, "{program}: {run:?}");
        assert!(run.elapsed < Duration::from_secs(2), "{program}: {run:?}");
    }
    assert!(server.requests().is_empty(), "the probe ran");
}

#[test]
fn an_exec_that_fails_after_a_healthy_probe_exits_64_with_a_clear_line() {
    // Passes the early check (an executable file), but the kernel cannot start it.
    let dir = TempDir::new("wait-exec-fails");
    let script = dir.write(
        "no-interpreter",
        "#!/nonexistent/hp-wait-interpreter\n",
        0o755,
    );
    let script = script.as_str();
    let server = Server::start(http("200 OK", &[], ""));
    let run = probe(&[&server.url("/"), "--", script]);
    assert_eq!(run.code, 64, "{run:?}");
    assert!(run.stdout.starts_with("healthy: "), "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "healthprobe: cannot run '{script}': not found: its interpreter (the #! line) or dynamic loader is missing\n"
        ),
        "{run:?}"
    );
}

#[test]
fn sigterm_during_the_pause_stops_the_wait_at_once_with_exit_1() {
    let target = format!("tcp://127.0.0.1:{}", closed_port());
    for signal in ["TERM", "INT"] {
        let running = Running::healthprobe(&[
            "--wait",
            "60s",
            "--interval",
            "10s",
            &target,
            "--",
            "/bin/true",
        ]);
        running.wait_for_line("waiting for");
        let sent = Instant::now();
        running.signal(signal);
        let run = running.finish();
        assert_eq!(run.code, 1, "SIG{signal}: {run:?}");
        assert!(sent.elapsed() < SLACK, "SIG{signal}: {run:?}");
        assert!(
            run.stderr.ends_with(&format!(
                "healthprobe: stopped by SIG{signal} while waiting\n"
            )),
            "SIG{signal}: {run:?}"
        );
    }
}

#[test]
fn sigint_during_a_hanging_attempt_stops_at_once_with_exit_1() {
    let server = Server::start(Reply::Silent);
    let running = Running::healthprobe(&["--wait", "60s", "--timeout", "30s", &server.url("/")]);
    let give_up = Instant::now() + Duration::from_secs(20);
    while server.requests().is_empty() {
        assert!(Instant::now() < give_up, "the probe never sent its request");
        thread::sleep(Duration::from_millis(20));
    }
    let sent = Instant::now();
    running.signal("INT");
    let run = running.finish();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(sent.elapsed() < SLACK, "{run:?}");
    assert_eq!(
        run.stderr, "healthprobe: stopped by SIGINT while waiting\n",
        "{run:?}"
    );
}

#[test]
fn a_name_that_resolves_only_later_is_retried() {
    let test = "a_name_that_resolves_only_later_is_retried";
    if !require(is_root(), test, "root, for a private mount namespace") {
        return;
    }
    // In a private mount namespace (unshare -m), /etc/hosts is a file this test rewrites
    // in place mid-wait, and name lookups read files only (with a loopback nameserver
    // in case files are not all): nothing outside this test sees the change, and no
    // query leaves the machine.
    let server = Server::start(http("200 OK", &[], ""));
    let dir = TempDir::new("wait-resolve");
    let hosts = dir.write("hosts", "127.0.0.1 localhost\n", 0o644);
    let nsswitch = dir.write("nsswitch.conf", "hosts: files\n", 0o644);
    let resolv = dir.write("resolv.conf", "nameserver 127.0.0.1\n", 0o644);
    let setup = r#"mount --bind "$1" /etc/hosts &&
        for file in nsswitch.conf resolv.conf; do
            if [ -e "/etc/$file" ]; then mount --bind "$2" "/etc/$file" || exit; fi; shift
        done && shift && exec "$@""#;
    let url = format!("http://late.hp-wait.test:{}/", server.port());
    let mut command = crate::common::system::mount_namespace(setup);
    command
        .args([&hosts, &nsswitch, &resolv])
        .args([BIN, "--wait", "20s", "--interval", "100ms", &url])
        .env_clear();
    let running = Running::start(command);
    let first = running.wait_for_line("waiting for");
    fs::write(&hosts, "127.0.0.1 localhost\n127.0.0.1 late.hp-wait.test\n").expect("add the name");
    let run = running.finish();
    assert!(
        first.contains("cannot resolve 'late.hp-wait.test'"),
        "{first}: {run:?}"
    );
    assert_eq!(run.code, 0, "{first}\n{run:?}");
    assert!(
        run.stdout
            .starts_with(&format!("healthy: {url}: 200 OK from 127.0.0.1:")),
        "{run:?}"
    );
    assert!(run.stderr.contains(&format!("{url} is healthy")), "{run:?}");
    assert_eq!(server.requests().len(), 1);
}
