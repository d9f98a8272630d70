//! The opt-in small build (`scripts/build-static.sh --small`: std built without its
//! backtrace feature) is static, within issue 11's 650,000 bytes, and keeps the core
//! promises. Named so that `--skip static_binary` leaves it out with the other static
//! builds: building std takes minutes.

use crate::common::system::small_static_binary;
use crate::common::*;

use std::process::Command;

/// Issue 11's size target for the shipped binary, which the small build meets.
const SIZE_LIMIT: u64 = 650_000;

fn small(args: &[&str]) -> Run {
    let mut command = Command::new(small_static_binary());
    command.args(args).env_clear();
    run(command)
}

#[test]
fn is_static_and_small() {
    let binary = small_static_binary();
    let output = Command::new("readelf")
        .args(["-d", "-l", "-W"])
        .arg(binary)
        .output()
        .expect("readelf runs (Debian package binutils)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("LOAD"), "readelf listed no segments:\n{text}");
    assert!(!text.contains("(NEEDED)"), "needs libraries:\n{text}");
    assert!(!text.contains("INTERP"), "asks for a loader:\n{text}");
    let size = std::fs::metadata(binary).expect("the binary").len();
    assert!(size <= SIZE_LIMIT, "{} is {size} bytes", binary.display());
}

#[test]
fn answers_healthy_unhealthy_and_tcp() {
    let server = Server::start(http("200 OK", &[], "ok"));
    let run = small(&[&server.url("/health")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .starts_with(&format!("healthy: {}: 200 OK", server.url("/health"))),
        "{run:?}"
    );
    let failing = Server::start(http("503 Service Unavailable", &[], ""));
    let run = small(&[&failing.url("/")]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains(": 503"), "{run:?}");
    let run = small(&[&format!("tcp://127.0.0.1:{}", closed_port())]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("refused"), "{run:?}");
    let run = small(&["--timeout", "soon", &server.url("/")]);
    assert_eq!(run.code, 64, "{run:?}");
}
