//! Proven where it runs: the real `docker` CLI against the engine on this machine, with
//! FROM scratch images that hold only our static binary and Debian's static busybox (the
//! service under test: `busybox httpd` for HTTP, `busybox nc` for TCP), run as a non-root
//! user. Nothing is pulled. Without an engine a plain `cargo test` skips these with a
//! notice; under CI they fail. Every container, image, volume and network a test creates
//! is named hp-docker-* and removed by a guard when the test ends, pass or fail.

use crate::common::docker::{Sandbox, docker, docker_ok, exec, inspect, last_check, wait_for};
use crate::common::system::root;
use crate::common::{PROXY_VARIABLES, notice};

use std::fs;
use std::process::{Command, Stdio};

/// The HEALTHCHECK timing the cases use: checks every second, unhealthy after two misses.
const BRISK: &str = "--interval=1s --timeout=5s --start-period=20s --start-interval=1s --retries=2";

/// The service image: busybox httpd serving /www on 8080 as uid 65534. /www belongs to
/// that user so `docker exec` can remove and restore the health file; /shared is a mount
/// point whose ownership a fresh named volume takes on.
fn dockerfile(with_probe: bool, with_shell: bool, healthcheck: Option<&str>) -> String {
    let mut text = String::from("FROM scratch\nCOPY busybox /bin/busybox\n");
    if with_probe {
        text += "COPY healthprobe /healthprobe\n";
    }
    if with_shell {
        // Only for `docker run --health-cmd`, which always runs `/bin/sh -c`.
        text += "RUN [\"/bin/busybox\", \"ln\", \"-s\", \"busybox\", \"/bin/sh\"]\n";
    }
    text += "COPY --chown=65534:65534 www /www\n\
             COPY --chown=65534:65534 shared /shared\n\
             USER 65534:65534\n\
             ENTRYPOINT [\"/bin/busybox\"]\n\
             CMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n";
    if let Some(line) = healthcheck {
        text += line;
        text += "\n";
    }
    text
}

/// The service's files in the sandbox's build context: www/health, and an empty shared/.
fn with_service_files(sandbox: Sandbox) -> Sandbox {
    let dir = sandbox.context();
    fs::create_dir(dir.join("www")).expect("create www");
    fs::write(dir.join("www/health"), "ok\n").expect("write www/health");
    fs::create_dir(dir.join("shared")).expect("create shared");
    sandbox
}

/// Waits until the container is healthy and its newest check printed a line that starts
/// with `line`; returns that check's output.
fn healthy_with(container: &str, line: &str) -> String {
    let health = wait_for(container, "healthy");
    let (code, output) = last_check(&health);
    assert_eq!(code, 0, "{health}");
    assert!(output.starts_with(line), "expected '{line}...': {health}");
    output
}

/// A HEALTHCHECK line with the brisk timings and this exec-form command.
fn brisk_healthcheck(command: &[&str]) -> String {
    let command = serde_json::to_string(command).expect("a JSON array");
    format!("HEALTHCHECK {BRISK} CMD {command}")
}

/// A Dockerfile duration (`30s`, `500ms`, `1m`) in nanoseconds, as `docker inspect` gives it.
fn nanos(text: &str) -> u64 {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let number: u64 = number.parse().unwrap_or_else(|_| panic!("duration {text}"));
    number
        * match unit {
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            _ => panic!("duration {text}"),
        }
}

#[test]
fn dockerfile_example_healthcheck_goes_healthy() {
    let Some(mut sandbox) = Sandbox::new("example").map(with_service_files) else {
        return;
    };
    let example = fs::read_to_string(root().join("Dockerfile.example")).unwrap();
    let lines: Vec<&str> = example
        .lines()
        .filter(|line| line.starts_with("HEALTHCHECK "))
        .collect();
    let [line] = lines[..] else {
        panic!("Dockerfile.example needs exactly one HEALTHCHECK line: {lines:?}");
    };
    let built = sandbox.build("image", &dockerfile(true, false, Some(line)));

    // The engine read the line as written: the exec-form array and every timing.
    let (flags, command) = line.split_once(" CMD ").expect("exec form");
    let mut test = vec!["CMD".to_string()];
    test.extend(serde_json::from_str::<Vec<String>>(command).expect("CMD is a JSON array"));
    let config = inspect(&built.tag, ".Config.Healthcheck");
    assert_eq!(config["Test"], serde_json::json!(test), "{config}");
    for flag in flags.split_whitespace().skip(1) {
        let (name, value) = flag.split_once('=').expect("--flag=value");
        let (field, expected) = match name {
            "--interval" => ("Interval", nanos(value)),
            "--timeout" => ("Timeout", nanos(value)),
            "--start-period" => ("StartPeriod", nanos(value)),
            "--start-interval" if built.dropped_start_interval.is_some() => continue,
            "--start-interval" => ("StartInterval", nanos(value)),
            "--retries" => ("Retries", value.parse().unwrap()),
            _ => panic!("unexpected HEALTHCHECK flag {flag}"),
        };
        assert_eq!(config[field], expected, "{flag}: {config}");
    }

    // Where --start-interval had to go, --health-interval takes its value, so the start
    // period is probed as often as a current engine would probe it.
    let mut args = Vec::new();
    if let Some(value) = &built.dropped_start_interval {
        notice(&format!(
            "NOTICE example: running with --health-interval={value} in place of --start-interval={value}"
        ));
        args.push(format!("--health-interval={value}"));
    }
    args.push(built.tag.clone());
    let container = sandbox.run("app", &args);
    healthy_with(
        &container,
        "healthy: http://localhost:8080/health: 200 OK from 127.0.0.1:8080 in ",
    );
}

#[test]
fn turns_unhealthy_with_our_line_in_the_log_and_recovers() {
    let Some(mut sandbox) = Sandbox::new("flip").map(with_service_files) else {
        return;
    };
    let healthcheck = brisk_healthcheck(&[
        "/healthprobe",
        "--timeout",
        "2s",
        "http://localhost:8080/health",
    ]);
    let image = sandbox.build("image", &dockerfile(true, false, Some(&healthcheck)));
    let container = sandbox.run("app", &[&image.tag]);
    healthy_with(&container, "healthy: http://localhost:8080/health: 200 OK");

    exec(&container, &["/bin/busybox", "rm", "/www/health"]);
    let health = wait_for(&container, "unhealthy");
    let (code, output) = last_check(&health);
    assert_eq!(code, 1, "{health}");
    assert!(
        output.starts_with(
            "unhealthy: http://localhost:8080/health: 404 Not Found (expected 200-399) from 127.0.0.1:8080 in "
        ) && output.lines().count() == 1,
        "{health}"
    );

    exec(&container, &["/bin/busybox", "touch", "/www/health"]);
    healthy_with(&container, "healthy: http://localhost:8080/health: 200 OK");
}

#[test]
fn expands_port_from_the_container_environment() {
    let Some(mut sandbox) = Sandbox::new("port").map(with_service_files) else {
        return;
    };
    // Exec form: no shell expands ${PORT}; healthprobe does, from the container's env.
    let healthcheck = brisk_healthcheck(&["/healthprobe", "http://localhost:${PORT}/health"]);
    let image = sandbox.build("image", &dockerfile(true, false, Some(&healthcheck)));
    let serve_8081 = ["httpd", "-f", "-p", "8081", "-h", "/www"];
    let good = sandbox.run(
        "good",
        &[&["--env", "PORT=8081", &image.tag][..], &serve_8081].concat(),
    );
    // The app's environment has a typo: PROT for PORT. It never turns healthy, so its
    // start period would pass before a miss counted: 1 ms instead of the image's 20 s.
    let typo = sandbox.run(
        "typo",
        &[
            &[
                "--env",
                "PROT=8081",
                "--health-start-period=1ms",
                &image.tag,
            ][..],
            &serve_8081,
        ]
        .concat(),
    );

    healthy_with(
        &good,
        "healthy: http://localhost:8081/health: 200 OK from 127.0.0.1:8081",
    );
    let health = wait_for(&typo, "unhealthy");
    let (code, output) = last_check(&health);
    assert_eq!(code, 64, "a usage error, not a verdict: {health}");
    assert_eq!(
        output,
        "healthprobe: target 'http://localhost:${PORT}/health': variable 'PORT' is not set \
         (write ${PORT:-default} to give a default) (see healthprobe --help)\n",
        "{health}"
    );
}

#[test]
fn health_cmd_probes_tcp() {
    let Some(mut sandbox) = Sandbox::new("tcp").map(with_service_files) else {
        return;
    };
    // `docker run --health-cmd` is always `/bin/sh -c CMD`, so this image has a shell.
    let image = sandbox.build("image", &dockerfile(true, true, None));
    let container = sandbox.run(
        "db",
        &[
            "--health-cmd=/healthprobe tcp://localhost:5432",
            "--health-interval=1s",
            "--health-retries=2",
            "--health-timeout=5s",
            &image.tag,
            // A stand-in database: accepts every connection on 5432.
            "nc",
            "-ll",
            "-p",
            "5432",
            "-e",
            "/bin/busybox",
            "true",
        ],
    );
    healthy_with(&container, "healthy: tcp://localhost:5432: connected from ");
}

#[test]
fn localhost_reaches_ipv4_only_and_ipv6_only_services() {
    let Some(mut sandbox) = Sandbox::new("families").map(with_service_files) else {
        return;
    };
    let healthcheck = brisk_healthcheck(&["/healthprobe", "http://localhost:8080/health"]);
    let image = sandbox.build("image", &dockerfile(true, false, Some(&healthcheck)));
    // Docker 20.10 turns IPv6 off inside a container on a network without IPv6, even on
    // lo (net.ipv6.conf.all.disable_ipv6=1); the sysctl gives lo its ::1 back.
    let ipv6 = sandbox.run(
        "ipv6",
        &[
            "--sysctl",
            "net.ipv6.conf.lo.disable_ipv6=0",
            &image.tag,
            "httpd",
            "-f",
            "-p",
            "[::1]:8080",
            "-h",
            "/www",
        ],
    );
    let ipv4 = sandbox.run(
        "ipv4",
        &[
            &image.tag,
            "httpd",
            "-f",
            "-p",
            "127.0.0.1:8080",
            "-h",
            "/www",
        ],
    );

    // lo's ::1 is 00000000000000000000000000000001 in /proc/net/if_inet6.
    let addresses = exec(&ipv6, &["/bin/busybox", "cat", "/proc/net/if_inet6"]);
    assert!(
        addresses.lines().any(|line| {
            line.starts_with("00000000000000000000000000000001 ") && line.ends_with(" lo")
        }),
        "no ::1 on lo: {addresses}"
    );

    for (container, peer) in [(&ipv6, "[::1]:8080"), (&ipv4, "127.0.0.1:8080")] {
        healthy_with(
            container,
            &format!("healthy: http://localhost:8080/health: 200 OK from {peer} in "),
        );
    }
}

#[test]
fn a_dead_proxy_in_the_app_environment_is_ignored() {
    let Some(mut sandbox) = Sandbox::new("proxy").map(with_service_files) else {
        return;
    };
    let healthcheck = brisk_healthcheck(&["/healthprobe", "http://localhost:8080/health"]);
    let image = sandbox.build("image", &dockerfile(true, false, Some(&healthcheck)));
    // Port 9 in the container: nothing listens, so a probe that asked it would fail.
    let mut args = Vec::new();
    for name in PROXY_VARIABLES {
        args.push("--env".to_string());
        args.push(format!("{name}=http://127.0.0.1:9"));
    }
    args.push(image.tag.clone());
    let container = sandbox.run("app", &args);
    healthy_with(
        &container,
        "healthy: http://localhost:8080/health: 200 OK from 127.0.0.1:8080 in ",
    );
}

#[test]
fn runs_as_any_uid_on_a_read_only_root_and_writes_nothing() {
    let Some(mut sandbox) = Sandbox::new("readonly").map(with_service_files) else {
        return;
    };
    let healthcheck = brisk_healthcheck(&["/healthprobe", "http://localhost:8080/health"]);
    let image = sandbox.build("image", &dockerfile(true, false, Some(&healthcheck)));
    let read_only = sandbox.run("ro", &["--read-only", "--user", "65534:65534", &image.tag]);
    // A uid that exists nowhere, on a root it could not write anyway.
    let stranger = sandbox.run("uid", &["--user", "4242:4242", &image.tag]);
    for container in [&read_only, &stranger] {
        healthy_with(container, "healthy: http://localhost:8080/health: 200 OK");
        // Every change to the container's filesystem since it started: none.
        assert_eq!(
            docker_ok(&["diff", container]),
            "",
            "{container} wrote files"
        );
    }
}

#[test]
fn installs_into_a_volume_that_a_scratch_service_runs_it_from() {
    let Some(mut sandbox) = Sandbox::new("install").map(with_service_files) else {
        return;
    };
    let with_probe = sandbox.build("init", &dockerfile(true, false, None));
    let service = sandbox.build("service", &dockerfile(false, false, None));
    let volume = sandbox.volume("probe");
    let install = |mount: &str| {
        docker(&[
            "run",
            "--rm",
            "--volume",
            mount,
            "--entrypoint",
            "/healthprobe",
            &with_probe.tag,
            "--install",
            "/shared",
        ])
    };

    // The init container: a scratch image whose only tool is healthprobe itself.
    let init = install(&format!("{volume}:/shared"));
    let stdout = String::from_utf8_lossy(&init.stdout);
    assert!(init.status.success(), "{init:?}");
    assert!(
        stdout.starts_with("installed /shared/healthprobe (") && stdout.ends_with(" bytes)\n"),
        "{stdout}"
    );

    // The service image has no probe of its own; it runs the one in the volume, read-only,
    // as the kubelet runs an exec probe: inside the service's container.
    let app = sandbox.run(
        "app",
        &["--volume", &format!("{volume}:/probe:ro"), &service.tag],
    );
    let mode = exec(
        &app,
        &["/bin/busybox", "stat", "-c", "%a", "/probe/healthprobe"],
    );
    assert_eq!(mode, "755");
    let probe = exec(
        &app,
        &["/probe/healthprobe", "http://localhost:8080/health"],
    );
    assert!(
        probe.starts_with("healthy: http://localhost:8080/health: 200 OK"),
        "{probe}"
    );

    // A read-only volume is a configuration error that names the directory.
    let read_only = install(&format!("{volume}:/shared:ro"));
    assert_eq!(read_only.status.code(), Some(64), "{read_only:?}");
    assert_eq!(
        String::from_utf8_lossy(&read_only.stderr),
        "healthprobe: cannot install into '/shared': read-only file system\n"
    );
}

#[test]
fn compose_stack_starts_in_dependency_order() {
    let Some(mut sandbox) = Sandbox::with_compose("compose").map(with_service_files) else {
        return;
    };
    let image = sandbox.build("image", &dockerfile(true, false, None));
    let file = root().join("examples/compose.yaml");
    let stack = sandbox.stack(file, &[("HEALTHPROBE_STACK_IMAGE", &image.tag)]);
    // The engine's own record of the order, streamed live from before `up`: the engine
    // keeps only its last 256 events for `--since`, and the stack's health checks (and
    // any other test's containers) push the early ones out of that buffer.
    let mut events = Command::new("docker")
        .args([
            "events",
            "--filter",
            &format!("label=com.docker.compose.project={}", stack.project),
            "--filter",
            "type=container",
            "--format",
            "{{index .Actor.Attributes \"com.docker.compose.service\"}} {{.Action}}",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run docker events");
    // `docker events` subscribes before it prints anything: give it a moment to.
    std::thread::sleep(std::time::Duration::from_secs(1));

    // `up` itself waits for each service_healthy condition before starting the dependant.
    let up = stack.compose(&["up", "--detach"]);
    assert!(
        up.status.success(),
        "compose up: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let services = ["db", "cache", "sessions", "api", "web"];
    for service in services {
        let id = stack.compose(&["ps", "--quiet", service]);
        let id = String::from_utf8_lossy(&id.stdout).trim().to_string();
        assert!(!id.is_empty(), "no container for {service}");
        // web's check also reaches the api by name, through Docker's DNS, from scratch.
        // db, cache and sessions are scripted stand-ins, probed with their kinds' probes.
        let line = match service {
            "web" => "healthy: http://localhost:8081/health: 200 OK",
            "db" => "healthy: postgres://localhost:5432: accepting connections",
            "cache" => "healthy: redis://***@localhost:6379: PONG",
            "sessions" => "healthy: memcached://localhost:11211: version 1.6.18",
            _ => "healthy: ",
        };
        let output = healthy_with(&id, line);
        if service == "web" {
            assert!(
                output.contains("\nhealthy: http://api:8080/health: 200 OK from "),
                "{output}"
            );
        }
    }

    // Each dependency healthy before its dependant started.
    events.kill().expect("stop docker events");
    let events = events.wait_with_output().expect("docker events");
    let events = String::from_utf8_lossy(&events.stdout).into_owned();
    let events: Vec<&str> = events.lines().collect();
    let first = |event: &str| {
        events
            .iter()
            .position(|line| *line == event)
            .unwrap_or_else(|| panic!("no '{event}' in {events:#?}"))
    };
    for (dependency, dependant) in [
        ("db", "api"),
        ("cache", "api"),
        ("sessions", "api"),
        ("api", "web"),
    ] {
        assert!(
            first(&format!("{dependency} health_status: healthy"))
                < first(&format!("{dependant} start")),
            "{dependant} started before {dependency} was healthy: {events:#?}"
        );
    }

    let down = stack.compose(&["down", "--volumes", "--timeout", "1"]);
    assert!(
        down.status.success(),
        "compose down: {}",
        String::from_utf8_lossy(&down.stderr)
    );
    let left = docker_ok(&[
        "ps",
        "--all",
        "--quiet",
        "--filter",
        &format!("label=com.docker.compose.project={}", stack.project),
    ]);
    assert_eq!(left, "", "compose down left containers");
}
