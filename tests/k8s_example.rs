//! examples/k8s.yaml read the way the kubelet reads its probes (Kubernetes cannot run here,
//! so the manifest was never applied to a cluster; this checks what can be checked from
//! the file):
//! - `exec.command` is run directly, with no shell: the first word must be the probe itself
//!   (an absolute path), and a `sh -c` would need a shell the image may not have.
//! - the kubelet expands `$(VAR)` in the command from the container's declared env, and
//!   nothing else: `${VAR}` reaches healthprobe untouched, which expands it itself.
//! - `timeoutSeconds` defaults to 1 and cuts the probe off with no reason recorded: it must
//!   be set, and above the probe's own `--timeout` (3s when not given).
//! - a liveness probe restarts the container: it probes only the container itself.

use std::path::Path;
use std::time::Duration;

/// One probe of the manifest, as the kubelet would take it.
#[derive(Debug, Default)]
struct Probe {
    name: String,
    handlers: Vec<String>,
    command: Vec<String>,
    timeout_seconds: Option<u64>,
    period_seconds: Option<u64>,
    failure_threshold: Option<u64>,
}

const HANDLERS: [&str; 4] = ["exec:", "httpGet:", "tcpSocket:", "grpc:"];
const SHELLS: [&str; 6] = ["sh", "bash", "ash", "dash", "busybox", "env"];

fn manifest() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/k8s.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The probes, in order: a line-based reading of the manifest's own layout (each probe a
/// `NAMEProbe:` key, its fields on the lines below, the command a one-line flow sequence).
fn probes(manifest: &str) -> Vec<Probe> {
    let mut probes: Vec<Probe> = Vec::new();
    let mut indent = 0;
    for line in manifest.lines() {
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let depth = line.len() - line.trim_start().len();
        if let Some(name) = text.strip_suffix("Probe:") {
            probes.push(Probe {
                name: name.to_string(),
                ..Probe::default()
            });
            indent = depth;
            continue;
        }
        let Some(probe) = probes.last_mut().filter(|_| depth > indent) else {
            // Back at the probe's own level or above: no longer inside it.
            indent = usize::MAX;
            continue;
        };
        let number = |value: &str| value.trim().parse::<u64>().ok();
        if HANDLERS.contains(&text) {
            probe.handlers.push(text.trim_end_matches(':').to_string());
        } else if let Some(command) = text.strip_prefix("command:") {
            // Every word is double-quoted, so the flow sequence is also JSON.
            probe.command = serde_json::from_str(command.trim())
                .unwrap_or_else(|e| panic!("{}: command {command}: {e}", probe.name));
        } else if let Some(value) = text.strip_prefix("timeoutSeconds:") {
            probe.timeout_seconds = number(value);
        } else if let Some(value) = text.strip_prefix("periodSeconds:") {
            probe.period_seconds = number(value);
        } else if let Some(value) = text.strip_prefix("failureThreshold:") {
            probe.failure_threshold = number(value);
        }
    }
    probes
}

/// The probe's own deadline: the value after --timeout, 3s without one.
fn probe_timeout(command: &[String]) -> Duration {
    let Some(at) = command.iter().position(|word| word == "--timeout") else {
        return Duration::from_secs(3);
    };
    let value = command.get(at + 1).expect("a value after --timeout");
    if let Some(ms) = value.strip_suffix("ms") {
        Duration::from_millis(ms.parse().expect("--timeout in ms"))
    } else {
        Duration::from_secs(value.trim_end_matches('s').parse().expect("--timeout in s"))
    }
}

/// The words of a probe command that are targets (a scheme, not an option or its value).
fn targets(command: &[String]) -> Vec<&str> {
    command
        .iter()
        .map(String::as_str)
        .filter(|word| word.contains("://"))
        .collect()
}

#[test]
fn every_probe_is_an_exec_of_the_probe_itself_without_a_shell() {
    let probes = probes(&manifest());
    let names: Vec<&str> = probes.iter().map(|probe| probe.name.as_str()).collect();
    assert_eq!(names, ["startup", "liveness", "readiness"]);
    for probe in &probes {
        let name = &probe.name;
        assert_eq!(probe.handlers, ["exec"], "{name}: one handler, exec");
        let program = probe
            .command
            .first()
            .unwrap_or_else(|| panic!("{name}: no command"));
        assert!(
            program.starts_with('/') && program.ends_with("/healthprobe"),
            "{name}: the kubelet runs the first word as the program: {program}"
        );
        for word in &probe.command {
            let base = word.rsplit('/').next().unwrap_or(word);
            assert!(
                !SHELLS.contains(&base) && word != "-c",
                "{name}: no shell in an exec probe: {:?}",
                probe.command
            );
            assert!(
                !word.contains("$("),
                "{name}: the kubelet would expand $(...) itself: {word}"
            );
        }
        assert!(!targets(&probe.command).is_empty(), "{name}: no target");
    }
}

#[test]
fn every_probe_timeout_sits_above_the_probes_own() {
    for probe in probes(&manifest()) {
        let name = &probe.name;
        // Unset, the kubelet's timeoutSeconds is 1: under the probe's default 3s.
        let timeout = probe
            .timeout_seconds
            .unwrap_or_else(|| panic!("{name}: timeoutSeconds unset (the kubelet's default is 1)"));
        let own = probe_timeout(&probe.command);
        assert!(
            Duration::from_secs(timeout) > own,
            "{name}: timeoutSeconds {timeout} is not above the probe's --timeout {own:?}"
        );
        assert!(
            probe.period_seconds.is_some_and(|s| s >= 1),
            "{name}: periodSeconds"
        );
        assert!(
            probe.failure_threshold.is_some_and(|n| n >= 1),
            "{name}: failureThreshold"
        );
    }
}

#[test]
fn liveness_probes_only_the_container_itself() {
    let probes = probes(&manifest());
    let liveness = probes
        .iter()
        .find(|probe| probe.name == "liveness")
        .expect("a liveness probe");
    for target in targets(&liveness.command) {
        let host = target
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split([':', '/']).next())
            .unwrap_or_default();
        assert_eq!(
            host, "localhost",
            "liveness restarts the container: {target} is not the container itself"
        );
    }
}
