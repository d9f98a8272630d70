//! Wait mode in Docker: the static binary as the entrypoint of a FROM scratch image,
//! waiting for a compose service and exec-ing the app as PID 1, and a `docker stop`
//! during the wait. Skips with a notice when Docker is missing, but fails under CI=true.
//! Everything it creates is named hp-wait-* and removed by a guard, pass or fail.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const COMPOSE_FILE: &str = "examples/compose-wait.yaml";

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

fn docker_available(test: &str) -> bool {
    let works = |program: &str, arg: &str| {
        Command::new(program)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if works("docker", "info") && works("docker-compose", "version") {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none_or(|ci| ci != "true"),
        "{test}: the Docker engine or docker-compose is missing, and CI=true needs them"
    );
    eprintln!("skipped {test}: no Docker engine or docker-compose here");
    false
}

fn run(command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn docker(args: &[&str]) -> Output {
    run(Command::new("docker").args(args))
}

/// Removes what a test created, whether it passed or not.
struct Cleanup {
    image: String,
    context: PathBuf,
    containers: Vec<String>,
    compose_project: Option<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(project) = &self.compose_project {
            run(Command::new("docker-compose")
                .current_dir(ROOT)
                .env("HP_WAIT_IMAGE", &self.image)
                .args(["-p", project, "-f", COMPOSE_FILE])
                .args(["down", "--volumes", "--remove-orphans", "-t", "1"]));
        }
        for container in &self.containers {
            docker(&["rm", "-f", container]);
        }
        docker(&["rmi", "-f", &self.image]);
        fs::remove_dir_all(&self.context).ok();
    }
}

/// Builds the static binary and a FROM scratch image around it, named hp-wait-NAME-PID.
fn build_image(name: &str) -> Cleanup {
    let binary = common::system::static_binary();

    let tag = format!("hp-wait-{name}-{}", std::process::id());
    let context = std::env::temp_dir().join(&tag);
    let cleanup = Cleanup {
        image: tag.clone(),
        context: context.clone(),
        containers: Vec::new(),
        compose_project: None,
    };
    fs::create_dir_all(&context).expect("create the build context");
    fs::copy(binary, context.join("healthprobe")).expect("copy the static binary");
    // Debian's busybox-static: a static stand-in for the app and for db.
    fs::copy("/bin/busybox", context.join("busybox")).expect("copy /bin/busybox");
    fs::write(context.join("app"), APP).expect("write app");
    fs::write(context.join("index.html"), "db is up\n").expect("write index.html");
    fs::write(context.join("Dockerfile"), DOCKERFILE).expect("write Dockerfile");
    let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    fs::set_permissions(context.join("app"), executable).expect("chmod app");

    // --no-cache: another test's cleanup may remove a layer this build would reuse.
    let built = docker(&[
        "build",
        "--no-cache",
        "-q",
        "-t",
        &tag,
        context.to_str().expect("utf-8 path"),
    ]);
    assert!(built.status.success(), "docker build: {}", text(&built));
    cleanup
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
    if !docker_available("compose_service_starts_only_once_db_is_up") {
        return;
    }
    let mut cleanup = build_image("compose");
    let project = format!("hp-wait-{}", std::process::id());
    cleanup.compose_project = Some(project.clone());

    let up = run(Command::new("docker-compose")
        .current_dir(ROOT)
        .env("HP_WAIT_IMAGE", &cleanup.image)
        .args(["-p", &project, "-f", COMPOSE_FILE])
        .args(["up", "--no-color", "--exit-code-from", "app", "-t", "1"]));
    let logs = text(&up);
    assert!(up.status.success(), "the app failed:\n{logs}");
    // db listens only 2 s after it starts: healthprobe saw it refuse, then accept.
    let waiting = logs
        .find("healthprobe: 0.0 s: waiting for tcp://db:5432:")
        .unwrap_or_else(|| panic!("no progress line:\n{logs}"));
    let healthy = logs
        .find("s: tcp://db:5432 is healthy")
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
    if !docker_available("docker_stop_ends_the_wait_of_pid_1_at_once_with_exit_1") {
        return;
    }
    let mut cleanup = build_image("stop");
    let container = format!("{}-run", cleanup.image);
    cleanup.containers.push(container.clone());

    let started = run_waiting(&["-d", "--name", &container], &cleanup.image, "/app");
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
    let missing = run_waiting(&["--rm"], &cleanup.image, "/missing-app");
    assert_eq!(missing.status.code(), Some(64), "{}", text(&missing));
    assert!(
        text(&missing).contains("healthprobe: cannot run '/missing-app': not found"),
        "{}",
        text(&missing)
    );
}
