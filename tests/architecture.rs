//! Promises of the binary's shape: it starts safely whatever descriptors it is given, and
//! it documents every kind of target it accepts.

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

use crate::common::server::closed_port;

use crate::common::run::BIN as BINARY;

/// Runs the binary with its stderr closed (not redirected: closed, as a careless
/// supervisor may start it), through sh, which std's Command cannot do by itself.
fn run_with_stderr_closed(args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(r#"exec 2>&-; exec "$0" "$@""#)
        .arg(BINARY)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run sh")
}

#[test]
fn a_closed_stderr_is_no_crash_and_stdout_still_carries_the_lines() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let open = format!("tcp://{}", listener.local_addr().expect("local address"));
    let closed = format!("tcp://127.0.0.1:{}", closed_port());
    let output = run_with_stderr_closed(&[&open, &closed]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stdout.contains(&format!("healthy: {open}: connected")),
        "{output:?}"
    );
    // The unhealthy line went to stderr, which is /dev/null now, never to stdout.
    assert!(!stdout.contains(&closed), "{output:?}");
}

#[test]
fn a_closed_stderr_with_a_failing_target_alone_is_exit_1() {
    let closed = format!("tcp://127.0.0.1:{}", closed_port());
    let output = run_with_stderr_closed(&["--wait", "300ms", "--interval", "100ms", &closed]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
}

#[test]
fn a_closed_stderr_is_reopened_on_dev_null() {
    let closed = format!("tcp://127.0.0.1:{}", closed_port());
    // sh execs the binary, so the child's PID is the probe's.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"exec 2>&-; exec "$0" "$@""#)
        .arg(BINARY)
        .args(["--wait", "3s", &closed])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("run sh");
    let fd = format!("/proc/{}/fd/2", child.id());
    let mut seen = None;
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let exe = std::fs::read_link(format!("/proc/{}/exe", child.id()));
        if exe.is_ok_and(|exe| exe.ends_with("healthprobe")) {
            // Exec'd; give its start-up time to run (the wait is 3 s).
            std::thread::sleep(std::time::Duration::from_millis(200));
            seen = Some(std::fs::read_link(&fd));
            break;
        }
    }
    child.kill().ok();
    child.wait().ok();
    let seen = seen.expect("the probe never started");
    assert_eq!(
        seen.ok().as_deref(),
        Some(std::path::Path::new("/dev/null")),
        "fd 2 of a probe started with stderr closed"
    );
}

#[test]
fn every_supported_scheme_is_in_the_help() {
    let refused = Command::new(BINARY)
        .arg("nosuchscheme://localhost")
        .output()
        .expect("run healthprobe");
    assert_eq!(refused.status.code(), Some(64), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    let list = stderr
        .split_once("(supported: ")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(list, _)| list)
        .unwrap_or_else(|| panic!("no list of supported schemes in {stderr:?}"));
    let schemes: Vec<&str> = list.split(", ").collect();
    assert!(schemes.len() >= 6, "{schemes:?}");
    let help = Command::new(BINARY)
        .arg("--help")
        .output()
        .expect("run healthprobe --help");
    let help = String::from_utf8_lossy(&help.stdout);
    for scheme in schemes {
        assert!(scheme.ends_with("://"), "{scheme:?} in {list:?}");
        assert!(
            help.lines()
                .any(|line| line.trim_start().starts_with(scheme)),
            "{scheme} is supported but --help has no line for it"
        );
    }
}
