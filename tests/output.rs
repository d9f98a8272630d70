//! Promise 9: exactly one line per target, built for `docker inspect`: healthy lines on
//! stdout (-q silences them), unhealthy lines on stderr; a line names the target, the
//! address connected, the status or error, what was expected and the milliseconds;
//! server text is stripped of control characters and a line never exceeds 300 bytes.
//! -v adds resolved addresses and per-phase timings on stderr.

use crate::common::*;

/// Checks `line` is `{head} in N ms`, N a number, and returns N.
fn ends_in_ms(line: &str, head: &str) -> u64 {
    let rest = line
        .strip_prefix(head)
        .unwrap_or_else(|| panic!("{line:?} does not start with {head:?}"));
    let ms = rest
        .strip_prefix(" in ")
        .and_then(|rest| rest.strip_suffix(" ms\n"))
        .unwrap_or_else(|| panic!("{line:?} does not end with ' in N ms'"));
    ms.parse()
        .unwrap_or_else(|_| panic!("{ms:?} in {line:?} is not a number"))
}

#[test]
fn a_healthy_line_on_stdout() {
    let server = Server::start(http("200 OK", &[], "ok"));
    let run = probe(&[&server.url("/health")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "");
    let head = format!(
        "healthy: {}: 200 OK from {}",
        server.url("/health"),
        server.addr
    );
    let ms = ends_in_ms(&run.stdout, &head);
    assert!(ms < run.elapsed.as_millis() as u64 + 1, "{run:?}");
}

#[test]
fn an_unhealthy_line_on_stderr_as_in_the_issue() {
    let server = Server::start(http("503 Service Unavailable", &[], "down"));
    let target = format!("http://localhost:{}/health", server.port());
    let run = probe(&[&target]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "");
    ends_in_ms(
        &run.stderr,
        &format!(
            "unhealthy: {target}: 503 Service Unavailable (expected 200-399) from 127.0.0.1:{}",
            server.port()
        ),
    );
}

#[test]
fn an_error_line_has_no_address_when_none_connected() {
    let port = closed_port();
    let target = format!("http://127.0.0.1:{port}/");
    let run = probe(&[&target]);
    assert_eq!(run.code, 1, "{run:?}");
    ends_in_ms(
        &run.stderr,
        &format!("unhealthy: {target}: connection refused (tried 127.0.0.1:{port})"),
    );
}

#[test]
fn a_tcp_line() {
    let server = Server::start(Reply::Silent);
    let run = probe(&[&format!("tcp://{}", server.addr)]);
    assert_eq!(run.code, 0, "{run:?}");
    ends_in_ms(
        &run.stdout,
        &format!(
            "healthy: tcp://{}: connected from {}",
            server.addr, server.addr
        ),
    );
}

#[test]
fn quiet_silences_healthy_lines_only() {
    let up = Server::start(http("200 OK", &[], ""));
    let down = Server::start(http("500 Internal Server Error", &[], ""));
    for flag in ["-q", "--quiet"] {
        let run = probe(&[flag, &up.url("/")]);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(run.output(), "", "{run:?}");

        let run = probe(&[&up.url("/"), flag, &down.url("/")]);
        assert_eq!(run.code, 1, "{run:?}");
        assert_eq!(run.stdout, "", "{run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
        assert!(
            run.stderr
                .starts_with(&format!("unhealthy: {}", down.url("/")))
        );
    }
}

#[test]
fn verbose_adds_addresses_and_timings_on_stderr() {
    let server = Server::start(http("200 OK", &[], "ok"));
    let target = format!("http://localhost:{}/", server.port());
    for flag in ["-v", "--verbose"] {
        let run = probe(&[flag, &target]);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(run.stdout.lines().count(), 1, "{run:?}");
        let trace: Vec<&str> = run.stderr.lines().collect();
        let port = server.port();
        let expected = [
            format!("resolved localhost to 127.0.0.1:{port}, [::1]:{port} at "),
            format!("connected to 127.0.0.1:{port} at "),
            "response 200 at ".to_string(),
        ];
        assert_eq!(trace.len(), expected.len(), "{run:?}");
        for (line, expected) in trace.iter().zip(&expected) {
            let line = line
                .strip_prefix(&format!("  {target}: "))
                .unwrap_or_else(|| panic!("{line:?} does not name the target"));
            let at = line
                .strip_prefix(expected.as_str())
                .unwrap_or_else(|| panic!("{line:?} is not {expected:?}"));
            let ms: f64 = at
                .strip_suffix(" ms")
                .and_then(|ms| ms.parse().ok())
                .unwrap_or_else(|| panic!("{at:?} is not 'N.N ms'"));
            assert!(ms >= 0.0);
        }
    }
}

#[test]
fn a_very_long_url_is_shortened_to_300_bytes_keeping_the_reason() {
    let server = Server::start(http("503 Service Unavailable", &[], ""));
    let path = format!("/{}", "very-long-segment/".repeat(60));
    let run = probe(&[&server.url(&path)]);
    assert_eq!(run.code, 1, "{run:?}");
    let line = run.stderr.trim_end();
    assert!(line.len() <= MAX_LINE, "{} bytes: {line}", line.len());
    assert!(line.len() > MAX_LINE - 10, "cut too short: {line}");
    assert!(line.starts_with("unhealthy: http://127.0.0.1:"), "{line}");
    // The target is shortened, so that the status, what was expected, where and how
    // long all survive.
    let reason = format!(
        "...: 503 Service Unavailable (expected 200-399) from {} in ",
        server.addr
    );
    assert!(line.contains(&reason), "{line}");
    assert!(line.ends_with(" ms"), "{line}");
}

#[test]
fn server_text_is_cleaned_and_cut() {
    // A redirect elsewhere puts the server's Location in the line: make it hostile,
    // with C1 controls, a bidirectional override, a line separator and multi-byte
    // characters across the cut.
    let location = format!(
        "http://127.0.0.2/\u{9b}2J\u{202e}gnp.exe\u{2028}forged line/{}",
        "ü".repeat(400)
    );
    let server = Server::start(http("302 Found", &[("Location", &location)], ""));
    let run = probe(&[&server.url("/")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_sane(&run);
    let line = run.stdout.trim_end();
    assert_eq!(run.stdout.lines().count(), 1, "{run:?}");
    assert!(line.len() <= MAX_LINE, "{} bytes", line.len());
    assert!(
        line.contains("redirect to http://127.0.0.2/?2J?gnp.exe?forged line/üü"),
        "{line}"
    );
    assert!(line.ends_with(" ms"), "{line}");
}

/// A line separator or a bidirectional override alone (no C0 or C1 control beside it to
/// give the text away) is replaced all the same.
#[test]
fn deceptive_unicode_alone_is_replaced() {
    for (location, cleaned) in [
        ("http://127.0.0.2/a\u{2028}b", "http://127.0.0.2/a?b"),
        (
            "http://127.0.0.2/\u{202e}exe.txt",
            "http://127.0.0.2/?exe.txt",
        ),
        ("http://127.0.0.2/\u{2066}x\u{2069}", "http://127.0.0.2/?x?"),
    ] {
        let server = Server::start(http("302 Found", &[("Location", location)], ""));
        let run = probe(&[&server.url("/")]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            run.stdout
                .contains(&format!("redirect to {cleaned} not followed")),
            "{location:?}: {run:?}"
        );
    }
}

#[test]
fn one_line_per_target_in_the_order_given() {
    let servers: Vec<Server> = (0..6)
        .map(|n| {
            let status = if n % 2 == 0 {
                "200 OK"
            } else {
                "500 Internal Server Error"
            };
            Server::start(http(status, &[], ""))
        })
        .collect();
    let urls: Vec<String> = servers.iter().map(|server| server.url("/")).collect();
    let args: Vec<&str> = urls.iter().map(String::as_str).collect();
    let run = probe(&args);
    assert_eq!(run.code, 1, "{run:?}");
    let healthy: Vec<&str> = run.stdout.lines().collect();
    let unhealthy: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(healthy.len(), 3, "{run:?}");
    assert_eq!(unhealthy.len(), 3, "{run:?}");
    for (n, url) in urls.iter().enumerate() {
        let lines = if n % 2 == 0 { &healthy } else { &unhealthy };
        let prefix = if n % 2 == 0 { "healthy" } else { "unhealthy" };
        assert!(
            lines[n / 2].starts_with(&format!("{prefix}: {url}: ")),
            "{run:?}"
        );
    }
}

/// Hostile text: escapes, a bidi override, U+061C, a zero-width space, U+FEFF, a tag
/// character, a line separator, and more than a line's worth of it.
fn hostile() -> String {
    [
        "\x1b[2J\r\n\u{202e}\u{61c}\u{200b}\u{feff}\u{e0041}\u{2028}",
        &"x".repeat(400),
    ]
    .concat()
}

/// Every line holds at most 300 bytes, prefix included, and nothing deceptive (`sane`),
/// and says `says`.
fn bounded(args: &[&str], code: i32, says: &str) -> Run {
    let run = probe(args);
    assert_eq!(run.code, code, "{args:?}: {run:?}");
    assert_sane(&run);
    assert!(
        run.output().contains(says),
        "{args:?} should say {says:?}: {run:?}"
    );
    run
}

#[test]
fn every_kind_of_line_is_printable_and_at_most_300_bytes() {
    let evil = hostile();
    let server = Server::start(http("200 OK", &[], "ok"));
    // -v traces name the target, whose fragment nothing else checks.
    let target = format!("{}#{evil}", server.url("/health"));
    let run = bounded(&["-v", &target], 0, "...: 200 OK from ");
    assert!(run.stderr.lines().count() >= 3, "{run:?}");
    let missing = format!("/nonexistent/{evil}");
    let url = server.url("/");
    bounded(
        &["--install", &missing],
        64,
        "healthprobe: cannot install into '/nonexistent/",
    );
    bounded(
        &[&url, "--", &missing],
        64,
        "healthprobe: cannot run '/nonexistent/",
    );
    bounded(
        &[&format!("--timout{evil}"), &url],
        64,
        "unknown option '--timout",
    );
    bounded(
        &["--install", "/tmp", &evil],
        64,
        "--install DIR takes no other argument",
    );
    // A long ${NAME} used to be printed whole, twice.
    let long_name = format!("http://localhost/${{{}}}", "A".repeat(5000));
    bounded(&[&long_name], 64, "(see healthprobe --help)");
    bounded(
        &["-H", &format!("X-A{evil}: 1"), &url],
        64,
        "(see healthprobe --help)",
    );
}

#[test]
fn a_wait_progress_line_is_at_most_300_bytes_with_its_prefix_and_keeps_the_reason() {
    let port = closed_port();
    let target = format!("http://127.0.0.1:{port}/{}", "p".repeat(400));
    let run = bounded(
        &["--wait", "500ms", "--interval", "200ms", &target],
        1,
        "...: connection refused",
    );
    assert!(run.stderr.contains("healthprobe: "), "{run:?}");
}

#[test]
fn format_characters_from_a_server_are_replaced() {
    let reply = "-ERR a\u{61c}b\u{200b}c\u{feff}d\u{e0041}e\u{2066}f\u{ad}g\r\n";
    let server = Server::start(Reply::Answer(reply.as_bytes().to_vec()));
    let target = format!("redis://127.0.0.1:{}", server.port());
    bounded(&[&target], 1, "PING failed: ERR a?b?c?d?e?f?g");
}

#[cfg(feature = "tls")]
#[test]
fn tls_file_errors_are_printable_and_bounded() {
    let missing = format!("/nonexistent/{}", hostile());
    for option in ["--cacert", "--cert", "--key"] {
        let mut args = vec![option, &missing];
        if option != "--cacert" {
            args.extend([
                if option == "--cert" {
                    "--key"
                } else {
                    "--cert"
                },
                "/nonexistent",
            ]);
        }
        args.push("https://127.0.0.1:1/");
        bounded(&args, 64, "no such file");
    }
}
