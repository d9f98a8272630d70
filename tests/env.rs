//! Promise 8: no shell needed. Every option also comes from HEALTHPROBE_<NAME>, targets
//! from HEALTHPROBE_TARGETS; the command line wins. `${VAR}`, `${VAR:-default}` and
//! `$$` are expanded in targets, header values and option values; an unset variable
//! without a default is a usage error that names it.

use crate::common::*;

fn ok() -> Reply {
    http("200 OK", &[], "ok")
}

#[test]
fn every_option_from_the_environment() {
    let case = |name: &str, value: &str| {
        Case::new(&format!("{name}={value}"), &["{url}/"])
            .server(ok())
            .env(name, value)
    };
    check(vec![
        case("HEALTHPROBE_TIMEOUT", "300ms")
            .server(Reply::Silent)
            .unhealthy("timed out awaiting the response"),
        case("HEALTHPROBE_CONNECT_TIMEOUT", "2s").healthy("200 OK"),
        case("HEALTHPROBE_METHOD", "HEAD")
            .healthy("200 OK")
            .seen(&["HEAD /"]),
        case("HEALTHPROBE_HEADER", "X-A: 1\nX-B: two words\n\n")
            .healthy("200 OK")
            .received("X-A", "1")
            .received("X-B", "two words"),
        case("HEALTHPROBE_HEADER", "Host: api.internal")
            .received("Host", "api.internal")
            .healthy("200 OK"),
        case("HEALTHPROBE_STATUS", "2xx")
            .server(http("302 Found", &[], ""))
            .unhealthy("302 Found (expected 2xx)"),
        case("HEALTHPROBE_STATUS", "404")
            .server(http("404 Not Found", &[], ""))
            .healthy("404 Not Found"),
        case("HEALTHPROBE_BODY_CONTAINS", "ok").healthy("200 OK"),
        case("HEALTHPROBE_BODY_CONTAINS", "up").unhealthy("\"up\" is not in the first"),
        case("HEALTHPROBE_USER_AGENT", "docker/1")
            .healthy("200 OK")
            .received("User-Agent", "docker/1"),
        case("HEALTHPROBE_VERBOSE", "1")
            .healthy("200 OK")
            .stderr("connected to {addr}"),
        case("HEALTHPROBE_VERBOSE", "0").healthy("200 OK"),
        case("HEALTHPROBE_QUIET", "0").healthy("healthy: {url}/"),
        case("HEALTHPROBE_QUIET", "").healthy("healthy: {url}/"),
        case("HEALTHPROBE_PROXY", "http://127.0.0.1:1")
            .unhealthy("proxy 127.0.0.1:1: connection refused"),
    ]);
}

#[test]
fn quiet_from_the_environment() {
    for value in ["1", "true", "yes", "on", "TRUE", " 1 "] {
        let server = Server::start(ok());
        let run = probe_env(&[&server.url("/")], &[("HEALTHPROBE_QUIET", value)]);
        assert_eq!(run.code, 0, "{value}: {run:?}");
        assert_eq!(run.output(), "", "{value}: {run:?}");
    }
}

#[test]
fn targets_from_the_environment() {
    let a = Server::start(ok());
    let b = Server::start(http("503 Service Unavailable", &[], ""));
    let both = format!("{}\t {}\n", a.url("/a"), b.url("/b"));
    let run = probe_env(&[], &[("HEALTHPROBE_TARGETS", &both)]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .contains(&format!("healthy: {}: 200 OK", a.url("/a"))),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains(&format!("unhealthy: {}: 503", b.url("/b"))),
        "{run:?}"
    );
    assert_eq!(a.requests().len() + b.requests().len(), 2);

    // Targets on the command line win: the variable is not even looked at.
    let run = probe_env(&[&a.url("/")], &[("HEALTHPROBE_TARGETS", "ftp://nope")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout.lines().count(), 1, "{run:?}");
}

#[test]
fn the_command_line_wins() {
    check(vec![
        Case::new(
            "--status over HEALTHPROBE_STATUS",
            &["--status", "200", "{url}/"],
        )
        .server(ok())
        .env("HEALTHPROBE_STATUS", "404")
        .healthy("200 OK"),
        Case::new(
            "--timeout over a bad HEALTHPROBE_TIMEOUT",
            &["--timeout", "2s", "{url}/"],
        )
        .server(ok())
        .env("HEALTHPROBE_TIMEOUT", "garbage")
        .healthy("200 OK"),
        Case::new(
            "--method over HEALTHPROBE_METHOD",
            &["--method", "GET", "{url}/"],
        )
        .server(ok())
        .env("HEALTHPROBE_METHOD", "POST")
        .healthy("200 OK")
        .seen(&["GET /"]),
        Case::new("-H over HEALTHPROBE_HEADER", &["-H", "X-A: cli", "{url}/"])
            .server(ok())
            .env("HEALTHPROBE_HEADER", "X-A: env")
            .healthy("200 OK")
            .received("X-A", "cli"),
        Case::new(
            "--user-agent over the variable",
            &["--user-agent", "cli", "{url}/"],
        )
        .server(ok())
        .env("HEALTHPROBE_USER_AGENT", "env")
        .healthy("200 OK")
        .received("User-Agent", "cli"),
        Case::new("-q with HEALTHPROBE_QUIET=0", &["-q", "{url}/"])
            .server(ok())
            .env("HEALTHPROBE_QUIET", "0")
            .healthy(""),
    ]);
}

#[test]
fn bad_environment_values_are_usage_errors_naming_the_variable() {
    let case = |name: &str, value: &str| {
        Case::new(&format!("{name}={value}"), &["http://127.0.0.1:1/"])
            .env(name, value)
            .usage(&format!("{name}: invalid value"))
    };
    check(vec![
        case("HEALTHPROBE_TIMEOUT", "0"),
        case("HEALTHPROBE_TIMEOUT", "-1s"),
        case("HEALTHPROBE_TIMEOUT", "nan"),
        case("HEALTHPROBE_TIMEOUT", "three"),
        case("HEALTHPROBE_CONNECT_TIMEOUT", "0ms"),
        case("HEALTHPROBE_STATUS", "ok"),
        case("HEALTHPROBE_STATUS", "2xx,"),
        case("HEALTHPROBE_METHOD", "GET /"),
        case("HEALTHPROBE_HEADER", "no colon"),
        case("HEALTHPROBE_QUIET", "maybe"),
        case("HEALTHPROBE_VERBOSE", "2"),
        case("HEALTHPROBE_PROXY", "socks5://127.0.0.1:1"),
        case("HEALTHPROBE_USER_AGENT", "a\u{7}b"),
        Case::new("empty HEALTHPROBE_TARGETS", &[])
            .env("HEALTHPROBE_TARGETS", " ")
            .usage("no target given"),
        Case::new("bad HEALTHPROBE_TARGETS", &[])
            .env("HEALTHPROBE_TARGETS", "localhost:8080")
            .usage("target 'localhost:8080': missing scheme"),
    ]);
}

#[test]
fn non_utf8_environment_is_a_usage_error() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    for name in ["HEALTHPROBE_TIMEOUT", "HEALTHPROBE_TARGETS", "PORT"] {
        let mut command = std::process::Command::new(BIN);
        command
            .arg("http://127.0.0.1:${PORT:-1}/")
            .env_clear()
            .env(name, OsStr::from_bytes(b"\xff\xfe"));
        let run = run(command);
        if name == "HEALTHPROBE_TARGETS" {
            // Not read: a target is on the command line.
            assert_eq!(run.code, 1, "{run:?}");
            continue;
        }
        assert_eq!(run.code, 64, "{name}: {run:?}");
        assert!(run.stderr.contains(name), "{run:?}");
        assert!(run.stderr.contains("valid UTF-8"), "{run:?}");
    }
}

#[test]
fn variables_are_expanded() {
    let target = "http://127.0.0.1:${PORT}/";
    check(vec![
        Case::new("${PORT} in a target", &[target])
            .server(ok())
            .env("PORT", "{port}")
            // The line shows the target as expanded.
            .healthy("healthy: {url}/: 200 OK from {addr}"),
        Case::new(
            "${PORT:-default}, unset",
            &["http://127.0.0.1:${PORT:-{port}}/"],
        )
        .server(ok())
        .healthy("200 OK"),
        Case::new(
            "${PORT:-default}, empty",
            &["http://127.0.0.1:${PORT:-{port}}/"],
        )
        .server(ok())
        .env("PORT", "")
        .healthy("200 OK"),
        Case::new("${PORT:-default}, set", &["http://127.0.0.1:${PORT:-1}/"])
            .server(ok())
            .env("PORT", "{port}")
            .healthy("200 OK"),
        Case::new(
            "several in one",
            &["http://${HOST}:${PORT}${HEALTH_PATH:-/health}"],
        )
        .server(ok())
        .env("HOST", "127.0.0.1")
        .env("PORT", "{port}")
        .healthy("200 OK")
        .seen(&["GET /health"]),
        Case::new("$$ is a dollar", &["{url}/a$$b/$$${X:-c}"])
            .server(ok())
            .healthy("200 OK")
            .seen(&["GET /a$b/$c"]),
        Case::new("a lone $ stays", &["{url}/$x/$"])
            .server(ok())
            .healthy("200 OK")
            .seen(&["GET /$x/$"]),
        Case::new(
            "in a header value",
            &["-H", "Authorization: Bearer ${TOKEN}", "{url}/"],
        )
        .server(ok())
        .env("TOKEN", "abc.def")
        .healthy("200 OK")
        .received("Authorization", "Bearer abc.def"),
        Case::new(
            "in option values",
            &["--status", "${CODES:-2xx}", "--timeout", "${T}", "{url}/"],
        )
        .server(http("204 No Content", &[], ""))
        .env("T", "2s")
        .healthy("204 No Content"),
        Case::new(
            "in --body-contains",
            &["--body-contains", "${WANT}", "{url}/"],
        )
        .server(ok())
        .env("WANT", "ok")
        .healthy("200 OK"),
        Case::new("in HEALTHPROBE_TARGETS", &[])
            .server(ok())
            .env("HEALTHPROBE_TARGETS", "http://127.0.0.1:${PORT}/x")
            .env("PORT", "{port}")
            .healthy("healthy: {url}/x: 200 OK"),
        Case::new("in HEALTHPROBE_HEADER", &["{url}/"])
            .server(ok())
            .env("HEALTHPROBE_HEADER", "X-Token: ${TOKEN:-none}")
            .healthy("200 OK")
            .received("X-Token", "none"),
        Case::new("in HEALTHPROBE_TIMEOUT", &["{url}/"])
            .server(Reply::Silent)
            .env("HEALTHPROBE_TIMEOUT", "${T:-200ms}")
            .unhealthy("timed out"),
        Case::new("not twice", &["-H", "X-A: ${A}", "{url}/"])
            .server(ok())
            .env("A", "${B}")
            .env("B", "no")
            .healthy("200 OK")
            .received("X-A", "${B}"),
    ]);
}

#[test]
fn an_unset_variable_is_named() {
    check(vec![
        Case::new("in a target", &["http://127.0.0.1:${PORT}/"])
            .usage("target 'http://127.0.0.1:${PORT}/': variable 'PORT' is not set")
            .stderr("${PORT:-default}"),
        Case::new(
            "in a header",
            &["-H", "Authorization: Bearer ${TOKEN}", "{url}/"],
        )
        .server(ok())
        .usage("--header: variable 'TOKEN' is not set")
        .seen(&[]),
        Case::new("in an option", &["--timeout", "${TIMEOUT}", "{url}/"])
            .usage("--timeout: variable 'TIMEOUT' is not set"),
        Case::new("in a HEALTHPROBE_ variable", &["{url}/"])
            .env("HEALTHPROBE_STATUS", "${CODES}")
            .usage("HEALTHPROBE_STATUS: variable 'CODES' is not set"),
        Case::new("in HEALTHPROBE_TARGETS", &[])
            .env("HEALTHPROBE_TARGETS", "http://localhost:${APP_PORT}/")
            .usage("HEALTHPROBE_TARGETS: variable 'APP_PORT' is not set"),
    ]);
}

#[test]
fn a_newline_smuggled_in_through_a_variable_is_a_usage_error() {
    check(vec![
        Case::new("CRLF in a header", &["-H", "X-A: ${EVIL}", "{url}/"])
            .server(ok())
            .env("EVIL", "1\r\nX-Injected: 2")
            .usage("--header: invalid value 'X-A: ...'")
            .seen(&[]),
        Case::new("LF in a header", &["-H", "X-A: ${EVIL}", "{url}/"])
            .env("EVIL", "1\nX-Injected: 2")
            .usage("--header: invalid value"),
        Case::new(
            "LF in the user agent",
            &["--user-agent", "${EVIL}", "{url}/"],
        )
        .env("EVIL", "a\nb")
        .usage("--user-agent: invalid value"),
        Case::new("CR in HEALTHPROBE_HEADER", &["{url}/"])
            .env("HEALTHPROBE_HEADER", "X-A: 1\rX-B: 2")
            .usage("HEALTHPROBE_HEADER: invalid value"),
        Case::new("LF in a target", &["http://127.0.0.1:1/${EVIL}"])
            .env("EVIL", "a\nb")
            .usage("percent-encode"),
    ]);
}

#[test]
fn an_empty_variable_means_unset() {
    // One rule for every HEALTHPROBE_* variable, as ${VAR:-default} reads them and as
    // `ENV HEALTHPROBE_TIMEOUT=""` clears a base image's setting.
    let names = [
        "HEALTHPROBE_TIMEOUT",
        "HEALTHPROBE_CONNECT_TIMEOUT",
        "HEALTHPROBE_METHOD",
        "HEALTHPROBE_HEADER",
        "HEALTHPROBE_STATUS",
        "HEALTHPROBE_BODY_CONTAINS",
        "HEALTHPROBE_USER_AGENT",
        "HEALTHPROBE_PROXY",
        "HEALTHPROBE_CACERT",
        "HEALTHPROBE_CERT",
        "HEALTHPROBE_KEY",
        "HEALTHPROBE_INSECURE",
        "HEALTHPROBE_WAIT",
        "HEALTHPROBE_INTERVAL",
        "HEALTHPROBE_QUIET",
        "HEALTHPROBE_VERBOSE",
        "HEALTHPROBE_TARGETS",
    ];
    let mut cases: Vec<Case> = names
        .iter()
        .map(|name| {
            Case::new(&format!("{name}="), &["{url}/"])
                .server(ok())
                .env(name, "")
                .healthy("healthy: {url}/: 200 OK")
                .received("User-Agent", &format!("healthprobe/{VERSION}"))
                .seen(&["GET /"])
        })
        .collect();
    // All of them empty at once, and the targets from the command line.
    let mut all = Case::new("all empty", &["{url}/"])
        .server(ok())
        .healthy("200 OK");
    for name in names {
        all = all.env(name, "");
    }
    cases.push(all);
    cases.push(
        Case::new("HEALTHPROBE_TARGETS= and no target", &[])
            .env("HEALTHPROBE_TARGETS", "")
            .usage("no target given"),
    );
    check(cases);
}

/// A container's environment: Kubernetes adds seven variables for every service in the
/// namespace, so hundreds are common. `from` names them apart.
fn crowd(from: usize, count: usize) -> Vec<(String, String)> {
    (from..from + count)
        .map(|i| {
            let address = format!("10.96.{}.{}", i / 250, i % 250);
            (format!("SERVICE_{i}_PORT"), format!("tcp://{address}:8080"))
        })
        .collect()
}

fn as_pairs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[test]
fn ours_and_expanded_variables_are_found_among_hundreds() {
    let a = Server::start(ok());
    let b = Server::start(ok());
    let mut env = crowd(0, 250);
    env.push((
        "HEALTHPROBE_TARGETS".into(),
        format!("{} http://127.0.0.1:${{B_PORT}}/b", a.url("/a")),
    ));
    env.extend(crowd(250, 250));
    env.push(("B_PORT".into(), b.addr.port().to_string()));
    env.push(("HEALTHPROBE_STATUS".into(), "200".into()));
    let run = probe_env(&[], &as_pairs(&env));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains(&a.url("/a")), "{run:?}");
    assert!(run.stdout.contains(&b.url("/b")), "{run:?}");
    assert_eq!(a.requests().len() + b.requests().len(), 2);

    // A misspelt one among them is still named.
    env.push(("HEALTHPROBE_TIMEOUTT".into(), "2s".into()));
    let run = probe_env(&[], &as_pairs(&env));
    assert_eq!(run.code, 64, "{run:?}");
    assert!(run.stderr.contains("HEALTHPROBE_TIMEOUTT"), "{run:?}");
}

#[test]
fn cmd_gets_a_crowded_environment_exactly_and_its_proxies_go_unused() {
    // The environment is kept aside while the probes run (src/sys.rs) and handed back
    // for CMD: from the main thread, and after a --wait's attempt thread and the
    // threads of two targets.
    let proxy = ConnectProxy::start();
    let server = Server::start(ok());
    let mut env = crowd(0, 500);
    for variable in ["HTTP_PROXY", "http_proxy", "ALL_PROXY"] {
        env.push((variable.into(), proxy.url()));
    }
    env.push(("PATH".into(), "/usr/bin:/bin".into()));
    env.push(("HEALTHPROBE_TIMEOUT".into(), "2s".into()));
    let (one, two) = (server.url("/one"), server.url("/two"));
    let runs: [&[&str]; 2] = [
        &["-q", &one, "--", "env"],
        &["-q", "--wait", "10s", &one, &two, "--", "env"],
    ];
    for args in runs {
        let run = probe_env(args, &as_pairs(&env));
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        let mut printed: Vec<&str> = run.stdout.lines().collect();
        printed.sort_unstable();
        let mut expected: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        expected.sort_unstable();
        assert_eq!(printed, expected, "{args:?}");
    }
    assert!(proxy.heads().is_empty(), "{:?}", proxy.heads());
    assert_eq!(server.requests().len(), 3);
}
