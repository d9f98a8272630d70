//! Promise 1: exit 0 when every target is healthy, 1 when any is unhealthy, 64 for a
//! usage or configuration error; never 2 (Docker reserves it) and never a panic's code.
//! Several targets are probed at the same time under the one deadline.

use crate::common::*;

use std::time::Duration;

fn ok() -> Reply {
    http("200 OK", &[], "ok")
}

#[test]
fn exit_codes() {
    check(vec![
        Case::new("healthy", &["{url}/"])
            .server(ok())
            .healthy("healthy: "),
        Case::new("unhealthy status", &["{url}/"])
            .server(http("500 Internal Server Error", &[], ""))
            .unhealthy("unhealthy: "),
        Case::new("unhealthy connection", &["{url}/"]).unhealthy("connection refused"),
        Case::new("usage", &["--nope", "{url}/"]).usage("'--nope'"),
        Case::new("healthy tcp", &["tcp://{addr}"])
            .server(ok())
            .healthy("connected"),
        Case::new(
            "all healthy",
            &["{url}/a", "tcp://{addr}", "http://localhost:{port}/b"],
        )
        .server(ok())
        .healthy("healthy: {url}/a: 200 OK")
        .stdout("healthy: tcp://{addr}: connected")
        .stdout("healthy: http://localhost:{port}/b: 200 OK"),
    ]);
}

#[test]
fn mixed_targets_exit_1_with_a_line_each() {
    let up = Server::start(ok());
    let down = Server::start(http("503 Service Unavailable", &[], ""));
    let dead = closed_port();
    let targets = [
        up.url("/"),
        down.url("/"),
        format!("tcp://127.0.0.1:{dead}"),
        format!("tcp://{}", up.addr),
    ];
    let args: Vec<&str> = targets.iter().map(String::as_str).collect();
    let run = probe(&args);
    assert_eq!(run.code, 1, "{run:?}");
    assert_sane(&run);
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>().len(),
        2,
        "the two healthy lines: {run:?}"
    );
    assert!(
        run.stdout
            .contains(&format!("healthy: {}: 200 OK", targets[0]))
    );
    assert!(
        run.stdout
            .contains(&format!("healthy: {}: connected", targets[3]))
    );
    assert_eq!(run.stderr.lines().count(), 2, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("unhealthy: {}: 503", targets[1]))
    );
    assert!(
        run.stderr
            .contains(&format!("unhealthy: {}: connection refused", targets[2]))
    );
}

#[test]
fn targets_are_probed_at_the_same_time() {
    // Two servers that never answer, a 1 s deadline: one second for both, not two.
    let silent = [Server::start(Reply::Silent), Server::start(Reply::Silent)];
    let run = probe(&["--timeout", "1s", &silent[0].url("/"), &silent[1].url("/")]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stderr.lines().count(), 2, "{run:?}");
    for server in &silent {
        assert!(
            run.stderr.contains(&format!(
                "{}: timed out awaiting the response (the server sent nothing) from {}",
                server.url("/"),
                server.addr
            )),
            "{run:?}"
        );
    }
    assert!(run.elapsed >= Duration::from_millis(990), "{run:?}");
    assert!(
        run.elapsed < Duration::from_millis(1900),
        "probed one after the other? {run:?}"
    );
}

#[test]
fn a_slow_target_does_not_hold_back_a_fast_ones_verdict() {
    let fast = Server::start(ok());
    let slow = Server::start(Reply::Silent);
    let run = probe(&["--timeout", "1s", &slow.url("/"), &fast.url("/")]);
    assert_eq!(run.code, 1, "{run:?}");
    let healthy = run.stdout.trim_end();
    assert!(
        healthy.starts_with(&format!("healthy: {}", fast.url("/"))),
        "{run:?}"
    );
    // Each line has its own time: the fast one's is well under the deadline.
    let ms: u64 = healthy
        .strip_suffix(" ms")
        .and_then(|rest| rest.rsplit(' ').next())
        .and_then(|ms| ms.parse().ok())
        .expect("N ms");
    assert!(ms < 900, "{run:?}");
}

#[test]
fn many_targets() {
    let server = Server::start(ok());
    let urls: Vec<String> = (0..30).map(|n| server.url(&format!("/{n}"))).collect();
    let args: Vec<&str> = urls.iter().map(String::as_str).collect();
    let run = probe(&args);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout.lines().count(), 30, "{run:?}");
    assert_eq!(server.requests().len(), 30);
}
