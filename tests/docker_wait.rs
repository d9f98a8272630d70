//! Wait mode in Docker: the static binary as the entrypoint of a FROM scratch image,
//! waiting for a compose service and exec-ing the app as PID 1, and a `docker stop`
//! during the wait. Skips with a notice when Docker is missing, but fails under CI=true.
//! Everything it creates is removed by the sandbox's guard, pass or fail.

use crate::common::docker::{Sandbox, docker, text};
use crate::common::system::root;

use std::fs;
use std::process::Output;
use std::thread;
use std::time::{Duration, Instant};

/// Stands in for the application: says how it was started, then fetches db's page, which
/// works only if db was already up when the app started.
const APP: &str = r#"#!/bin/busybox sh
echo "app: pid $$, args: $*, GREETING=$GREETING"
exec /bin/busybox wget -q -O - http://db:5432/
"#;

const DOCKERFILE: &str = "FROM scratch
COPY healthprobe /healthprobe
COPY busybox /bin/busybox
COPY app /app
COPY index.html /www/index.html
";

/// Writes the wait image's files into the build context and builds it; its tag.
fn wait_image(sandbox: &mut Sandbox) -> String {
    let dir = sandbox.context();
    fs::write(dir.join("app"), APP).expect("write app");
    fs::write(dir.join("index.html"), "db is up\n").expect("write index.html");
    let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    fs::set_permissions(dir.join("app"), executable).expect("chmod app");
    sandbox.build("image", DOCKERFILE).tag
}

/// `docker run` of healthprobe as PID 1 with no network but loopback, where nothing
/// listens: it waits up to 120 s, then would exec `app`.
fn run_waiting(options: &[&str], image: &str, app: &str) -> Output {
    let mut args = vec!["run", "--network", "none", "--entrypoint", "/healthprobe"];
    args.extend(options);
    args.extend([image, "--wait", "120s", "tcp://127.0.0.1:5432", "--", app]);
    docker(&args)
}

#[test]
fn compose_service_starts_only_once_db_is_up() {
    let Some(mut sandbox) = Sandbox::with_compose("wait-compose") else {
        return;
    };
    let image = wait_image(&mut sandbox);
    let file = root().join("examples/compose-wait.yaml");
    let stack = sandbox.stack(file, &[("HP_WAIT_IMAGE", &image)]);
    let up = stack.compose(&["up", "--no-color", "--exit-code-from", "app", "-t", "1"]);
    let logs = text(&up);
    assert!(up.status.success(), "the app failed:\n{logs}");
    // db listens only 2 s after it starts: healthprobe saw it refuse, then accept.
    let waiting = logs
        .find("healthprobe: 0.0 s: waiting for tcp://db:5432:")
        .unwrap_or_else(|| panic!("no progress line:\n{logs}"));
    assert!(
        logs.contains("s: tcp://db:5432 is healthy"),
        "no healthy progress line:\n{logs}"
    );
    // The verdict is on stdout, as the app's line is: compose keeps the order within a
    // container's stream, not between its stdout and stderr.
    let healthy = logs
        .find("healthy: tcp://db:5432: connected from ")
        .unwrap_or_else(|| panic!("no healthy line:\n{logs}"));
    // Then /app replaced healthprobe: PID 1 still, its arguments and environment intact.
    let started = logs
        .find("app: pid 1, args: hello world, GREETING=from compose")
        .unwrap_or_else(|| panic!("the app did not start as PID 1:\n{logs}"));
    assert!(waiting < healthy && healthy < started, "{logs}");
    assert!(
        logs.contains("db is up"),
        "the app could not reach db:\n{logs}"
    );
}

#[test]
fn docker_stop_ends_the_wait_of_pid_1_at_once_with_exit_1() {
    let Some(mut sandbox) = Sandbox::new("wait-stop") else {
        return;
    };
    let image = wait_image(&mut sandbox);
    let container = sandbox.container("run");

    let started = run_waiting(&["-d", "--name", &container], &image, "/app");
    assert!(started.status.success(), "docker run: {}", text(&started));
    let give_up = Instant::now() + Duration::from_secs(30);
    while !text(&docker(&["logs", &container])).contains("waiting for tcp://127.0.0.1:5432") {
        assert!(
            Instant::now() < give_up,
            "healthprobe never started waiting"
        );
        thread::sleep(Duration::from_millis(100));
    }

    // PID 1 ignores a SIGTERM it has no handler for: docker stop would then take the
    // whole 30 s grace period and end with SIGKILL (exit 137).
    let sent = Instant::now();
    let stopped = docker(&["stop", "-t", "30", &container]);
    let took = sent.elapsed();
    assert!(stopped.status.success(), "docker stop: {}", text(&stopped));
    assert!(took < Duration::from_secs(10), "docker stop took {took:?}");
    let code = docker(&["inspect", "-f", "{{.State.ExitCode}}", &container]);
    assert_eq!(
        String::from_utf8_lossy(&code.stdout).trim(),
        "1",
        "{}",
        text(&code)
    );
    let logs = text(&docker(&["logs", &container]));
    assert!(
        logs.contains("healthprobe: stopped by SIGTERM while waiting"),
        "{logs}"
    );

    // A command that is not in the image: exit 64 at once, before any waiting.
    let missing = run_waiting(&["--rm"], &image, "/missing-app");
    assert_eq!(missing.status.code(), Some(64), "{}", text(&missing));
    assert!(
        text(&missing).contains("healthprobe: cannot run '/missing-app': not found"),
        "{}",
        text(&missing)
    );
}
