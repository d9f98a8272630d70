//! The shipped examples keep the promises their comments make: every orchestrator timeout
//! sits above the probe's own --timeout (so the orchestrator records our line instead of
//! killing the probe), and Kubernetes runs the probe from where the init container put it.
//! (tests/docker.rs runs Dockerfile.example's HEALTHCHECK and examples/compose.yaml for real.)

use crate::common::system::root;

use std::fs;
use std::time::Duration;

fn read(path: &str) -> String {
    fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `2s`, `500ms`, `3` (seconds): the forms the examples use.
fn duration(text: &str) -> Duration {
    let text = text.trim().trim_matches('"');
    if let Some(ms) = text.strip_suffix("ms") {
        Duration::from_millis(ms.parse().unwrap())
    } else {
        Duration::from_secs(text.trim_end_matches('s').parse().unwrap())
    }
}

/// The value after `--timeout` in a probe command; the probe's default (3s) without one.
fn probe_timeout(command: &[String]) -> Duration {
    command
        .iter()
        .position(|arg| arg == "--timeout")
        .map(|i| duration(&command[i + 1]))
        .unwrap_or(Duration::from_secs(3))
}

/// A flow-style list (`["/healthprobe", "--timeout", "2s"]`) is also JSON.
fn list(text: &str) -> Vec<String> {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not a list: {text}: {e}"))
}

#[test]
fn dockerfile_example_gives_docker_a_longer_timeout_than_the_probe() {
    let example = read("Dockerfile.example");
    let healthchecks: Vec<&str> = example
        .lines()
        .map(|line| line.trim_start_matches("#").trim())
        .filter(|line| line.starts_with("HEALTHCHECK "))
        .collect();
    assert_eq!(
        healthchecks.len(),
        5,
        "the runtime and four commented variants"
    );
    for line in healthchecks {
        let (flags, command) = line.split_once(" CMD ").expect("exec form");
        let docker_timeout = flags
            .split_whitespace()
            .find_map(|flag| flag.strip_prefix("--timeout="))
            .map(duration)
            .expect("--timeout");
        assert!(
            docker_timeout > probe_timeout(&list(command)),
            "Docker's timeout must exceed the probe's: {line}"
        );
        for flag in [
            "--interval=",
            "--start-period=",
            "--start-interval=",
            "--retries=",
        ] {
            assert!(flags.contains(flag), "{flag} missing: {line}");
        }
    }
}

#[test]
fn compose_example_gives_compose_a_longer_timeout_than_the_probe() {
    let compose = read("examples/compose.yaml");
    let timeout = compose
        .lines()
        .find_map(|line| line.trim().strip_prefix("timeout:"))
        .map(duration)
        .expect("a healthcheck timeout");
    let tests: Vec<Vec<String>> = compose
        .lines()
        .filter_map(|line| line.trim().strip_prefix("test:"))
        .map(list)
        .collect();
    assert_eq!(tests.len(), 5, "{tests:?}");
    for test in tests {
        assert_eq!(
            test[..2],
            ["CMD", "/healthprobe"],
            "exec form, no shell: {test:?}"
        );
        assert!(timeout > probe_timeout(&test), "{test:?}");
    }
}

#[test]
fn k8s_probes_run_the_installed_copy_within_their_timeouts() {
    let manifest = read("examples/k8s.yaml");
    let mut probes: Vec<(String, Vec<String>, Option<Duration>)> = Vec::new();
    let mut install_dir = None;
    let mut mount_paths = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if let Some(name) = line.strip_suffix("Probe:") {
            probes.push((name.to_string(), Vec::new(), None));
        } else if let Some(command) = line.strip_prefix("command:") {
            let command = list(command);
            if command.iter().any(|arg| arg == "--install") {
                install_dir = command.last().cloned();
            } else if let Some(probe) = probes.last_mut() {
                probe.1 = command;
            }
        } else if let Some(seconds) = line.strip_prefix("timeoutSeconds:") {
            if let Some(probe) = probes.last_mut() {
                probe.2 = Some(duration(seconds));
            }
        } else if let Some(rest) = line.split_once("mountPath: ").map(|(_, rest)| rest) {
            mount_paths.push(rest.split([',', '}']).next().unwrap().trim().to_string());
        }
    }
    let names: Vec<&str> = probes.iter().map(|probe| probe.0.as_str()).collect();
    assert_eq!(names, ["startup", "liveness", "readiness"]);
    let install_dir = install_dir.expect("an init container running --install");
    assert!(
        mount_paths
            .iter()
            .filter(|path| **path == install_dir)
            .count()
            == 2,
        "the init container and the service both mount {install_dir}: {mount_paths:?}"
    );
    for (name, command, timeout) in &probes {
        assert_eq!(command[0], format!("{install_dir}/healthprobe"), "{name}");
        let timeout = timeout.unwrap_or_else(|| panic!("{name}: no timeoutSeconds"));
        assert!(timeout > probe_timeout(command), "{name}: {command:?}");
    }
}
