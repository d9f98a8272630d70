//! No secret in any line: a marker string stands for a password, a token or a signed
//! query, given every way a user or a server may give it, and must appear in no line of
//! stdout or stderr, `-v` included (docs/security.md says what is masked and how).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;

use crate::common::*;

/// The secret. Upper and lower case, so that a re-cased echo is told from it.
const SECRET: &str = "Tok3nMarkerXyZ";

/// Runs with `-v` added and fails unless the exit code is `code`, the output says
/// `says` and holds no piece of the secret (6 bytes or more, in any case).
fn never_shown(args: &[&str], env: &[(&str, &str)], code: i32, says: &str) -> Run {
    let mut all = vec!["-v"];
    all.extend_from_slice(args);
    let run = probe_env(&all, env);
    check_run(&run, &all, code, says);
    run
}

fn check_run(run: &Run, args: &[&str], code: i32, says: &str) {
    assert_eq!(run.code, code, "{args:?}: {run:?}");
    assert!(
        run.output().contains(says),
        "{args:?} should say {says:?}: {run:?}"
    );
    let output = run.output().to_ascii_lowercase();
    let secret = SECRET.to_ascii_lowercase();
    for piece in secret.as_bytes().windows(6) {
        let piece = std::str::from_utf8(piece).expect("ASCII");
        assert!(!output.contains(piece), "{args:?} shows {piece:?}: {run:?}");
    }
    assert_sane(run);
}

#[test]
fn usage_errors_quote_values_as_written_never_expanded() {
    let token = [("TOKEN", SECRET)];
    let url = "http://127.0.0.1:1/";
    for (args, says) in [
        (
            vec!["-H", "Authorization Bearer ${TOKEN}", url],
            "--header: invalid value 'Authorization ...'",
        ),
        (
            vec!["--timeout", "${TOKEN}", url],
            "--timeout: invalid value '${TOKEN}'",
        ),
        (
            vec!["--status", "${TOKEN}", url],
            "--status: invalid value '${TOKEN}'",
        ),
        (
            vec!["--method", "${TOKEN} x", url],
            "--method: invalid value '${TOKEN} x'",
        ),
        (
            vec!["--proxy", "socks5://u:${TOKEN}@127.0.0.1:1", url],
            "--proxy: invalid value 'socks5://***@127.0.0.1:1'",
        ),
        (
            vec!["http://127.0.0.1:${TOKEN}/"],
            "target 'http://127.0.0.1:${TOKEN}/': port must be 1-65535",
        ),
        (vec!["${TOKEN}"], "target '${TOKEN}': missing scheme"),
    ] {
        never_shown(&args, &token, 64, says);
    }
}

/// Arguments, environment, what the error says.
type HeaderCase<'a> = (Vec<String>, Vec<(&'a str, &'a str)>, &'a str);

#[test]
fn a_header_value_is_never_quoted() {
    let url = "http://127.0.0.1:1/";
    let with_control = format!("{SECRET}\u{1}");
    let cases: Vec<HeaderCase> = vec![
        // A token written in the header itself, with the colon missing.
        (
            vec![
                "-H".into(),
                format!("Authorization Bearer {SECRET}"),
                url.into(),
            ],
            vec![],
            "'Authorization ...'",
        ),
        // A token holding a control character.
        (
            vec![
                "-H".into(),
                "Authorization: Bearer ${TOKEN}".into(),
                url.into(),
            ],
            vec![("TOKEN", with_control.as_str())],
            "'Authorization: ...'",
        ),
        (
            vec![url.into()],
            vec![
                ("HEALTHPROBE_HEADER", "Authorization Bearer ${TOKEN}"),
                ("TOKEN", SECRET),
            ],
            "HEALTHPROBE_HEADER: invalid value 'Authorization ...'",
        ),
        // gRPC's reserved headers.
        (
            vec![
                "-H".into(),
                format!("grpc-timeout: {SECRET}"),
                "grpc://127.0.0.1:1".into(),
            ],
            vec![],
            "'grpc-timeout ...'",
        ),
        (
            vec![
                "-H".into(),
                "TE: ${TOKEN}".into(),
                "grpc://127.0.0.1:1".into(),
            ],
            vec![("TOKEN", SECRET)],
            "'TE ...'",
        ),
    ];
    for (args, env, says) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        never_shown(&args, &env, 64, says);
    }
}

#[test]
fn a_variable_that_is_not_utf8_is_named_not_printed() {
    let mut value = SECRET.as_bytes().to_vec();
    value.push(0xff);
    for target in ["redis://:${PW}@127.0.0.1:1", "http://127.0.0.1:1/?k=${PW}"] {
        let mut command = Command::new(BIN);
        command
            .args(["-v", target])
            .env_clear()
            .env("PW", OsStr::from_bytes(&value));
        let run = run(command);
        check_run(
            &run,
            &[target],
            64,
            "PW: not valid UTF-8 (its value is not shown)",
        );
    }
}

#[test]
fn healthprobe_targets_is_split_before_expansion() {
    let port = closed_port();
    // A password with a space stays one target, masked whole.
    let password = format!("correct {SECRET}");
    let run = never_shown(
        &[],
        &[
            (
                "HEALTHPROBE_TARGETS",
                &format!("redis://:${{PW}}@127.0.0.1:{port}"),
            ),
            ("PW", &password),
        ],
        1,
        &format!("unhealthy: redis://***@127.0.0.1:{port}: "),
    );
    assert!(!run.output().contains("correct"), "{run:?}");
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| l.starts_with("unhealthy"))
            .count(),
        1
    );
}

#[test]
fn all_userinfo_is_masked_whatever_it_holds() {
    let port = closed_port();
    let s = SECRET;
    for (target, says) in [
        (
            format!("http://ghp_{s}@127.0.0.1:{port}/"),
            "'http://***@127.0.0.1:",
        ),
        (
            format!("http://user:{s}/x@127.0.0.1:{port}/"),
            "'http://***@127.0.0.1:",
        ),
        (
            format!("http://user:{s}?x@127.0.0.1:{port}/"),
            "'http://***@127.0.0.1:",
        ),
        (
            format!("http://user:{s}#x@127.0.0.1:{port}/"),
            "'http://***@127.0.0.1:",
        ),
        (
            format!("https://user:{s}/x@127.0.0.1:{port}/"),
            "'https://***@127.0.0.1:",
        ),
        (
            format!("tcp://user:{s}?x@127.0.0.1:{port}"),
            "'tcp://***@127.0.0.1:",
        ),
        (
            format!("tcp://{s}#x@127.0.0.1:{port}"),
            "'tcp://***@127.0.0.1:",
        ),
        (
            format!("postgres://{s}:pw@127.0.0.1:0"),
            "'postgres://***@127.0.0.1:0'",
        ),
        (format!("redis:/:{s}@127.0.0.1"), "'redis:/***@127.0.0.1'"),
        (format!("redis//:{s}@127.0.0.1"), "'redis//***@127.0.0.1'"),
        (format!("redis::{s}@127.0.0.1"), "'redis:***@127.0.0.1'"),
        (format!("redis:{s}@127.0.0.1"), "'redis:***@127.0.0.1'"),
        (
            format!("bogus://u:{s}@127.0.0.1"),
            "'bogus://***@127.0.0.1'",
        ),
        (
            format!("redis://:{s} x@local host"),
            "'redis://***@local host'",
        ),
        (format!("http://a/,redis://:{s}@b"), "'http://***@b'"),
    ] {
        never_shown(&[&target], &[], 64, says);
    }
}

#[test]
fn a_proxy_shows_no_userinfo() {
    let port = closed_port();
    let target = format!("http://127.0.0.1:{port}/");
    let proxy = format!("http://user:{SECRET}@127.0.0.1:{port}");
    let says = format!("proxy 127.0.0.1:{port}: ");
    never_shown(&["--proxy", &proxy, &target], &[], 1, &says);
    never_shown(&[&target], &[("HEALTHPROBE_PROXY", &proxy)], 1, &says);
    // A password with '/', '?' or '#' would end the authority early: refused, masked.
    for proxy in [
        format!("http://user:{SECRET}/x@127.0.0.1:{port}"),
        format!("http://{SECRET}?x@127.0.0.1:{port}"),
        format!("http://u:{SECRET}#x@127.0.0.1:{port}"),
    ] {
        let says = format!("invalid value 'http://***@127.0.0.1:{port}'");
        never_shown(&["--proxy", &proxy, &target], &[], 64, &says);
        never_shown(&[&target], &[("HEALTHPROBE_PROXY", &proxy)], 64, &says);
    }
    never_shown(
        &["--proxy", &format!("socks5://u:{SECRET}/x@h:1"), &target],
        &[],
        64,
        "--proxy: invalid value 'socks5://***@h:1'",
    );
}

#[test]
fn a_redirect_not_followed_shows_no_userinfo_query_or_fragment() {
    let location = format!("http://elsewhere.example:8443/callback?code={SECRET}&state=x#{SECRET}");
    let server = Server::start(redirect("302 Found", &location));
    never_shown(
        &[&server.url("/login")],
        &[],
        0,
        "302 Found, redirect to http://elsewhere.example:8443/callback?... not followed (another host)",
    );
    let location = format!("https://user:{SECRET}@elsewhere.example/cb?code={SECRET}");
    let server = Server::start(redirect("302 Found", &location));
    never_shown(
        &[&server.url("/login")],
        &[],
        0,
        "redirect to https://***@elsewhere.example/cb?... not followed (another scheme)",
    );
    // Userinfo in a Location of the same scheme is refused, and quoted masked.
    let location = format!("http://user:{SECRET}@elsewhere.example/cb?code={SECRET}");
    let server = Server::start(redirect("302 Found", &location));
    never_shown(
        &[&server.url("/login")],
        &[],
        1,
        "invalid redirect to 'http://***@elsewhere.example/cb?...'",
    );
    // A Location that does not parse is quoted the same way.
    let invalid = format!("http://[zz]/cb?access_token={SECRET}");
    let server = Server::start(redirect("302 Found", &invalid));
    never_shown(
        &[&server.url("/")],
        &[],
        1,
        "invalid redirect to 'http://[zz]/cb?...'",
    );
    // A loop names the URL without its query.
    let server = Server::start(redirect("302 Found", &format!("/a?sig={SECRET}")));
    never_shown(
        &[&server.url("/a")],
        &[],
        1,
        "redirect loop back to http://127.0.0.1:",
    );
}

#[test]
fn a_query_from_a_variable_shows_as_dots_on_every_line() {
    let server = Server::start(http("200 OK", &[], "ok"));
    let target = format!("{}?api_key=${{API_KEY}}", server.url("/health"));
    let env = [("API_KEY", SECRET)];
    let healthy = format!("healthy: {}?...: 200 OK", server.url("/health"));
    never_shown(&[&target], &env, 0, &healthy);
    // The --wait progress lines too.
    let port = closed_port();
    let target = format!("http://127.0.0.1:{port}/health?api_key=${{API_KEY}}");
    let run = never_shown(
        &["--wait", "1s", "--interval", "300ms", &target],
        &env,
        1,
        &format!("waiting for http://127.0.0.1:{port}/health?...: "),
    );
    assert!(run.stderr.contains("gave up waiting"), "{run:?}");
    // A query written out is the user's to see.
    let written = format!("{}?verbose=1", server.url("/health"));
    never_shown(&[&written], &env, 0, &format!("healthy: {written}: 200 OK"));
}

#[test]
fn redis_never_quotes_a_truncated_or_recased_echo_of_the_password() {
    let truncated = &SECRET[..10];
    let recased = SECRET.to_ascii_uppercase();
    for reply in [
        format!("-ERR unknown command 'AUTH', with args beginning with: '{truncated}' \r\n"),
        format!("-ERR unknown command 'AUTH', with args beginning with: '{recased}' \r\n"),
        format!("+OK\r\n-ERR invalid password {recased}\r\n"),
        format!("?{recased}\r\n"),
    ] {
        let server = Server::start(Reply::Answer(reply.into_bytes()));
        let target = format!("redis://:{SECRET}@127.0.0.1:{}", server.port());
        never_shown(
            &[&target],
            &[],
            1,
            "the rest is not shown: it echoes the credentials",
        );
    }
}
