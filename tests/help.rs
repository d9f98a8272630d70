//! Promise 10: -h/--help (usage, every option with its environment name and default,
//! exit codes, and an example for a Dockerfile, compose and a Kubernetes exec probe)
//! and -V/--version, both on stdout with exit 0, before anything else can fail.

use crate::common::*;

/// Every option, with the variable it also comes from.
const OPTIONS: [(&str, &str); 14] = [
    ("-t, --timeout DUR", "HEALTHPROBE_TIMEOUT"),
    ("--connect-timeout DUR", "HEALTHPROBE_CONNECT_TIMEOUT"),
    ("--method M", "HEALTHPROBE_METHOD"),
    ("-H, --header 'NAME: VALUE'", "HEALTHPROBE_HEADER"),
    ("--status LIST", "HEALTHPROBE_STATUS"),
    ("--body-contains TEXT", "HEALTHPROBE_BODY_CONTAINS"),
    ("--json POINTER[=VALUES]", "HEALTHPROBE_JSON"),
    ("--unix-socket PATH", "HEALTHPROBE_UNIX_SOCKET"),
    ("--user-agent TEXT", "HEALTHPROBE_USER_AGENT"),
    ("--proxy URL", "HEALTHPROBE_PROXY"),
    ("-q, --quiet", "HEALTHPROBE_QUIET"),
    ("-v, --verbose", "HEALTHPROBE_VERBOSE"),
    ("-h, --help", ""),
    ("-V, --version", ""),
];

fn help() -> String {
    let run = probe(&["--help"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "", "{run:?}");
    run.stdout
}

#[test]
fn help_names_every_option_with_its_variable() {
    let help = help();
    for (option, variable) in OPTIONS {
        let Some(at) = help.find(&format!("  {option}")) else {
            panic!("--help lacks {option}:\n{help}");
        };
        // The variable is named in the option's own entry (its line or the next two).
        let entry: String = help[at..].lines().take(3).collect();
        assert!(
            entry.contains(variable),
            "{option} lacks {variable}: {entry}"
        );
    }
    assert!(help.contains("HEALTHPROBE_TARGETS"), "{help}");
}

#[test]
fn help_gives_the_defaults_and_forms() {
    let help = help();
    for text in [
        "Usage: healthprobe [OPTIONS] TARGET...",
        "http://HOST[:PORT][/PATH][?QUERY]",
        "tcp://HOST:PORT",
        "[::1]",
        "default 3s",
        "default: the --timeout",
        "default GET",
        "default 200-399",
        "default healthprobe/VERSION",
        "HTTP_PROXY, HTTPS_PROXY",
        "ALL_PROXY are ignored",
        "250ms, 3s, 1.5s, 1m30s, 1h",
        "-t, --timeout DUR",
        "200, 2xx, 200-299, 200-299,401",
        "10 KiB",
        "${VAR} and ${VAR:-default}",
        "$$ is a $",
        "localhost means 127.0.0.1 and ::1",
    ] {
        assert!(help.contains(text), "--help lacks {text:?}:\n{help}");
    }
}

#[test]
fn help_gives_exit_codes_and_examples() {
    let help = help();
    for text in [
        "Exit codes:",
        "  0   every target is healthy",
        "  1   a target is unhealthy",
        "  64  usage or configuration error",
        "HEALTHCHECK",
        "CMD [\"/healthprobe\", \"http://localhost:8080/health\"]",
        "healthcheck:",
        "test: [\"CMD\", \"/healthprobe\"",
        "livenessProbe:",
        "exec:",
        "command: [\"/healthprobe\"",
    ] {
        assert!(help.contains(text), "--help lacks {text:?}:\n{help}");
    }
    // Readable in a terminal.
    for line in help.lines() {
        assert!(line.len() <= 88, "a long help line: {line:?}");
    }
}

#[test]
fn help_comes_first_whatever_else_is_wrong() {
    let expected = help();
    for args in [
        vec!["-h"],
        vec!["http://127.0.0.1:1/", "--help"],
        vec!["--timeout", "nan", "-h", "ftp://nope"],
        vec!["--nope", "--help"],
    ] {
        let run = probe_env(&args, &[("HEALTHPROBE_TIMEOUT", "garbage")]);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        assert_eq!(run.stdout, expected, "{args:?}");
        assert_eq!(run.stderr, "", "{args:?}");
    }
}

#[test]
fn version() {
    for flag in ["-V", "--version"] {
        let run = probe_env(&[flag, "ftp://nope"], &[("HEALTHPROBE_STATUS", "bad")]);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(run.stdout, format!("healthprobe {VERSION}\n"));
        assert_eq!(run.stderr, "");
    }
}
