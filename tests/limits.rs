//! The container's limits and the command line's bounds: many targets in a bounded pool,
//! a pids limit that refuses threads, a resolver that never answers under --wait, closed
//! standard descriptors, file names too long to exist. Each ends in lines and exit 0, 1
//! or 64, never a crash, a hang or a pile of threads.

use crate::common::system::{TempDir, clean, is_root, mount_namespace, static_binary};
use crate::common::*;

use std::net::UdpSocket;
use std::process::Stdio;
use std::time::Duration;

/// config::MAX_TARGETS and probe::MAX_IN_FLIGHT, as HELP states them.
const MAX_TARGETS: usize = 256;
const MAX_IN_FLIGHT: usize = 32;

/// `count` targets on `server`, each with its own path so that each line is its own.
fn targets(server: &Server, count: usize) -> Vec<String> {
    (0..count).map(|n| server.url(&format!("/{n}"))).collect()
}

fn strs(texts: &[String]) -> Vec<&str> {
    texts.iter().map(String::as_str).collect()
}

#[test]
fn more_targets_than_the_cap_is_a_usage_error() {
    let server = Server::start(http("200 OK", &[], "ok"));
    let run = probe(&strs(&targets(&server, MAX_TARGETS + 1)));
    assert_eq!(run.code, 64, "{run:?}");
    assert!(
        run.stderr
            .contains("257 targets: 256 at most (run more than one healthprobe)"),
        "{run:?}"
    );
    assert!(server.requests().is_empty(), "nothing is probed");
    let help = probe(&["--help"]);
    assert!(
        help.stdout
            .contains("256 targets at most; 32 are probed at once")
    );
}

#[test]
fn targets_up_to_the_cap_stay_within_a_few_mib() {
    // Issue 16: one thread per target reached 12-17 MB for 500 targets. The pool keeps
    // the threads (and their buffers) to 32 whatever the count. Measured on the static
    // build users ship: the debug build's glibc gives each thread a malloc arena.
    let server = Server::start(http("200 OK", &[], "ok"));
    for (count, limit_kib) in [(100, 4 * 1024), (MAX_TARGETS, 8 * 1024)] {
        let (run, rss) = measured(static_binary(), &strs(&targets(&server, count)));
        assert_eq!(run.code, 0, "{count} targets: {run:?}");
        assert_eq!(run.stdout.lines().count(), count, "{run:?}");
        // The lines come in the order given, whoever probed them.
        for (n, line) in run.stdout.lines().enumerate() {
            assert!(line.contains(&format!("/{n}: 200 OK")), "{line}");
        }
        notice(&format!(
            "limits: {count} healthy targets, peak RSS {rss} KiB"
        ));
        assert!(rss < limit_kib, "{count} targets: {rss} KiB");
    }
}

#[test]
fn a_target_whose_turn_never_comes_says_so() {
    // 32 silent servers hold every probe in flight until the deadline: the two targets
    // in line behind them are not probed, and their lines say why, on time.
    let silent = Server::start(Reply::Silent);
    let healthy = Server::start(http("200 OK", &[], "ok"));
    let mut all = targets(&silent, MAX_IN_FLIGHT);
    all.extend(targets(&healthy, 2));
    let mut args = vec!["--timeout", "1s"];
    args.extend(strs(&all));
    let run = probe(&args);
    assert_eq!(run.code, 1, "{run:?}");
    assert_sane(&run);
    assert!(run.elapsed < Duration::from_secs(1) + LATE, "{run:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), MAX_IN_FLIGHT + 2, "{run:?}");
    for line in &lines[..MAX_IN_FLIGHT] {
        assert!(line.contains("timed out awaiting the response"), "{line}");
    }
    for line in &lines[MAX_IN_FLIGHT..] {
        assert!(
            line.contains(
                "not probed: the deadline came while it waited its turn (32 probes run at once)"
            ),
            "{line}"
        );
    }
    assert!(healthy.requests().is_empty());
}

/// healthprobe as a uid of its own that may have only `processes` threads in all:
/// RLIMIT_NPROC counts a user's threads, and root ignores it.
fn with_thread_limit(processes: u32, args: &[&str]) -> Run {
    // A uid no other test or service runs as, so the count is this process alone.
    let uid = "47311";
    let mut command = clean("prlimit");
    command
        .arg(format!("--nproc={processes}"))
        .args(["setpriv", "--reuid", uid, "--regid", uid, "--clear-groups"])
        .arg(BIN)
        .args(args);
    run(command)
}

#[test]
fn a_pids_limit_that_refuses_threads_still_gives_every_line() {
    // Issue 13 item 9: a refused spawn aborted with 134. Now the probing thread works
    // through the targets itself (and with a few threads, the few share them).
    let test = "a_pids_limit_that_refuses_threads_still_gives_every_line";
    if !require(is_root(), test, "root (setpriv to another uid)") {
        return;
    }
    let server = Server::start(http("200 OK", &[], "ok"));
    let closed = format!("http://127.0.0.1:{}/", closed_port());
    let healthy = targets(&server, 5);
    let mut unhealthy = healthy.clone();
    unhealthy.push(closed.clone());
    for processes in [1, 2, 3] {
        let run = with_thread_limit(processes, &strs(&healthy));
        assert_eq!(run.code, 0, "nproc {processes}: {run:?}");
        assert_eq!(run.stdout.lines().count(), 5, "nproc {processes}: {run:?}");

        let run = with_thread_limit(processes, &strs(&unhealthy));
        assert_eq!(run.code, 1, "nproc {processes}: {run:?}");
        assert_sane(&run);
        assert_eq!(run.stdout.lines().count(), 5, "nproc {processes}: {run:?}");
        assert!(
            run.stderr.contains(&format!("{closed}: ")) && run.stderr.contains("refused"),
            "nproc {processes}: {run:?}"
        );

        // A name needs a thread for its lookup (getaddrinfo cannot be given a deadline):
        // refused, the line says so. Named in a hosts file only this run sees.
        if processes == 1 {
            let dir = TempDir::new("limits-hosts");
            let hosts = dir.write("hosts", "127.0.0.1 healthprobe-limits-host\n", 0o644);
            let named = format!("http://healthprobe-limits-host:{}/", server.port());
            let uid = "47311";
            let mut command = mount_namespace(
                r#"mount --bind "$1" /etc/hosts && shift && exec prlimit --nproc=1 setpriv --reuid "$1" --regid "$1" --clear-groups "$2" "$3" "$4""#,
            );
            command.args([hosts.as_str(), uid, BIN, &named, &healthy[0]]);
            let named = crate::common::run(command);
            assert_eq!(named.code, 1, "{named:?}");
            assert!(
                named.stderr.contains(
                    "cannot resolve 'healthprobe-limits-host': no thread for the lookup (at the pids limit?)"
                ),
                "{named:?}"
            );
            assert!(named.stdout.contains(&healthy[0]), "{named:?}");
        }

        // --wait probes each attempt on a thread of its own, when it can have one.
        let mut args = vec!["--wait", "2s", "--interval", "100ms"];
        args.extend(strs(&healthy));
        let run = with_thread_limit(processes, &args);
        assert_eq!(run.code, 0, "nproc {processes}: {run:?}");
    }
}

#[test]
fn a_hanging_resolver_costs_one_lookup_per_name_however_long_the_wait() {
    // Issue 13 item 10: each attempt left one lookup thread and its socket behind, per
    // target. Now an attempt joins the lookup still running for its name.
    let test = "a_hanging_resolver_costs_one_lookup_per_name_however_long_the_wait";
    if !require(is_root(), test, "root (port 53, a private mount namespace)") {
        return;
    }
    // A resolver that never answers, as in deadline.rs, on a loopback address of its own.
    let unique = std::process::id();
    let ip = format!("127.78.{}.{}", (unique >> 8) % 250 + 1, unique % 250 + 1);
    let dns =
        UdpSocket::bind((ip.as_str(), 53)).unwrap_or_else(|e| panic!("root binds {ip}:53: {e}"));
    let dir = TempDir::new("limits-resolver");
    let resolv = dir.write(
        "resolv.conf",
        &format!("nameserver {ip}\noptions timeout:30 attempts:1\n"),
        0o644,
    );
    let name = "healthprobe-limits.invalid";
    let mut probe = mount_namespace(r#"mount --bind "$1" /etc/resolv.conf && shift && exec "$@""#);
    probe
        .arg(&resolv)
        .arg(BIN)
        .args(["--wait", "4s", "--interval", "50ms", "--timeout", "100ms"])
        .arg(format!("http://{name}:8080/"))
        .arg(format!("tcp://{name}:5432"))
        .arg(format!("http://{name}:8081/other"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = probe.spawn().expect("start the probe");
    // Some 20 attempts of 3 targets in 3 s: 60 lookups before the fix.
    std::thread::sleep(Duration::from_secs(3));
    let count = |what: &str| {
        std::fs::read_dir(format!("/proc/{}/{what}", child.id()))
            .map(|entries| entries.count())
            .unwrap_or(0)
    };
    let (threads, fds) = (count("task"), count("fd"));
    let output = child.wait_with_output().expect("the probe ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !require(
        !stderr.contains("unshare:") && !stderr.contains("mount:"),
        test,
        &format!("a private mount namespace ({})", stderr.trim()),
    ) {
        return;
    }
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("timed out resolving the host"), "{stderr}");
    assert!(stderr.contains("gave up waiting (--wait)"), "{stderr}");
    notice(&format!(
        "limits: hanging resolver after 3 s: {threads} threads, {fds} fds"
    ));
    // The main thread, an attempt's thread and its two pool workers, one lookup (and
    // one spare, for an attempt's thread caught exiting); before the fix, 64.
    assert!((2..=6).contains(&threads), "{threads} threads");
    // 0-2, the lookup's socket(s), and spares; before the fix, 65.
    assert!(fds <= 8, "{fds} fds");
    // And the resolver heard one question (A and AAAA at most) for the name.
    dns.set_nonblocking(true).expect("non-blocking");
    let mut queries = 0;
    let mut packet = [0u8; 512];
    while let Ok((size, _)) = dns.recv_from(&mut packet) {
        let label = b"\x12healthprobe-limits";
        queries += usize::from(packet[..size].windows(label.len()).any(|w| w == label));
    }
    assert!((1..=2).contains(&queries), "{queries} queries");
}

#[test]
fn closed_standard_descriptors_are_reopened_on_dev_null() {
    // Issue 13 item 12: with fd 2 closed, lines went to whatever took fd 2 (a socket).
    // The command that `--` execs inherits fds 0-2: it sees where they point.
    let server = Server::start(http("200 OK", &[], "ok"));
    let dir = TempDir::new("limits-fds");
    let report = dir.join("fds");
    // $$: the shell that healthprobe became, not readlink with its own redirection.
    let script = format!(
        r#"fds=$(readlink /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2); echo "$fds" > {report}"#
    );
    let mut command = clean("sh");
    command
        .args(["-c", r#"exec "$@" <&- >&- 2>&-"#, "sh", BIN])
        .arg(server.url("/"))
        .args(["--", "sh", "-c", &script]);
    let healthy = run(command);
    assert_eq!(healthy.code, 0, "{healthy:?}");
    let fds = std::fs::read_to_string(&report).expect("the command ran");
    assert_eq!(fds, "/dev/null\n/dev/null\n/dev/null\n");
    assert_eq!(server.requests().len(), 1);

    // An unhealthy run with nowhere to print still exits 1, and its line reaches no socket.
    let silent = Server::start(Reply::Silent);
    let mut command = clean("sh");
    command
        .args(["-c", r#"exec "$@" >&- 2>&-"#, "sh", BIN])
        .args(["--timeout", "300ms", "--wait", "1s", "--interval", "100ms"])
        .arg(silent.url("/"));
    let run = run(command);
    assert_eq!(run.code, 1, "{run:?}");
    for request in silent.requests() {
        assert!(!request.contains("healthprobe:"), "{request:?}");
    }
}

#[test]
fn an_install_directory_name_too_long_to_exist_is_a_usage_error() {
    // ENAMETOOLONG: no such directory can exist, like a missing one (64, not 1).
    let dir = TempDir::new("limits-install");
    for long in [
        format!("{}/{}", dir.join(""), "d".repeat(300)),
        format!("/{}", "d/".repeat(3000)),
    ] {
        let run = probe(&["--install", &long]);
        assert_eq!(run.code, 64, "{run:?}");
        assert!(run.stderr.contains("file name too long"), "{run:?}");
    }
}

#[cfg(feature = "tls")]
#[test]
fn a_fifo_or_device_as_a_pem_file_is_a_usage_error_at_once() {
    // Issue 13 item 11: a FIFO blocked forever, past --timeout. Only regular files are
    // read, and at most 1 MiB of them.
    let dir = TempDir::new("limits-fifo");
    let fifo = dir.join("ca.pem");
    run_ok(std::process::Command::new("mkfifo").arg(&fifo));
    for option in ["--cacert", "--cert"] {
        for file in [fifo.as_str(), "/dev/zero", "/dev/stdin"] {
            let mut args = vec!["--timeout", "1s", option, file];
            if option == "--cert" {
                args.extend(["--key", file]);
            }
            args.push("https://localhost:1/");
            let run = probe(&args);
            assert_eq!(run.code, 64, "{option} {file}: {run:?}");
            assert!(run.stderr.contains("not a regular file"), "{run:?}");
            assert!(run.elapsed < LATE, "{option} {file}: {run:?}");
        }
    }
}
