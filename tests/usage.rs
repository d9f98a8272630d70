//! Promises 1 and 11: every usage or configuration error exits 64 (never 2, never a panic)
//! with one line on stderr that names the culprit, and nothing is probed.

use crate::common::*;

#[test]
fn bad_arguments_exit_64_naming_the_culprit() {
    let url = "http://127.0.0.1:1/";
    let case = |name: &str, args: &[&str], culprit: &str| Case::new(name, args).usage(culprit);
    check(vec![
        case("no target", &[], "no target given"),
        case("unknown long flag", &["--nope", url], "'--nope'"),
        case("unknown short flag", &["-x", url], "'-x'"),
        case(
            "stray flag after targets",
            &[url, "--frobnicate"],
            "'--frobnicate'",
        ),
        case("flag-like target", &["-", url, "-q-"], "'-q-'"),
        case(
            "repeated option",
            &["--timeout", "1s", "--timeout", "2s", url],
            "--timeout",
        ),
        case(
            "missing value at the end",
            &[url, "--timeout"],
            "--timeout needs a value",
        ),
        case(
            "missing --status value",
            &[url, "--status"],
            "--status needs a value",
        ),
        case("missing -H value", &[url, "-H"], "--header needs a value"),
        // Durations: zero, negative, NaN, infinity, garbage, unknown unit, too long.
        case(
            "timeout 0",
            &["--timeout", "0", url],
            "--timeout: invalid value '0'",
        ),
        case(
            "timeout 0ms",
            &["--timeout", "0ms", url],
            "--timeout: invalid value '0ms'",
        ),
        case(
            "timeout -1",
            &["--timeout=-1", url],
            "--timeout: invalid value '-1'",
        ),
        case("timeout -1s", &["--timeout=-1s", url], "'-1s'"),
        case("timeout nan", &["--timeout", "nan", url], "'nan'"),
        case("timeout NaNs", &["--timeout", "NaNs", url], "'NaNs'"),
        case("timeout inf", &["--timeout", "inf", url], "'inf'"),
        case("timeout garbage", &["--timeout", "soon", url], "'soon'"),
        case("timeout 1e3", &["--timeout", "1e3", url], "'1e3'"),
        case("timeout days", &["--timeout", "3d", url], "'3d'"),
        case("timeout empty", &["--timeout=", url], "--timeout"),
        case(
            "timeout over a day",
            &["--timeout", "100000s", url],
            "'100000s'",
        ),
        case(
            "connect-timeout garbage",
            &["--connect-timeout", "x", url],
            "--connect-timeout: invalid value 'x'",
        ),
        case(
            "connect-timeout 0",
            &["--connect-timeout", "0s", url],
            "--connect-timeout",
        ),
        // Status lists.
        case(
            "status word",
            &["--status", "ok", url],
            "--status: invalid value 'ok'",
        ),
        case("status 99", &["--status", "99", url], "'99'"),
        case("status 600", &["--status", "600", url], "'600'"),
        case("status 6xx", &["--status", "6xx", url], "'6xx'"),
        case("status 0xx", &["--status", "0xx", url], "'0xx'"),
        case(
            "status reversed range",
            &["--status", "299-200", url],
            "'299-200'",
        ),
        case("status empty item", &["--status", "200,", url], "'200,'"),
        case("status 2000", &["--status", "2000", url], "'2000'"),
        case("status empty", &["--status=", url], "--status"),
        // Methods, headers, user agents.
        case(
            "method with a space",
            &["--method", "G ET", url],
            "--method: invalid value",
        ),
        case("method empty", &["--method=", url], "--method"),
        case(
            "header without colon",
            &["-H", "X-Foo", url],
            "--header: invalid value 'X-Foo'",
        ),
        case("header with empty name", &["-H", ": v", url], "--header"),
        case(
            "header name with space",
            &["-H", "X Foo: v", url],
            "'X Foo: ...'",
        ),
        case(
            "header value with LF",
            &["-H", "X-A: 1\nX-B: 2", url],
            "--header",
        ),
        case(
            "header value with CR",
            &["-H", "X-A: 1\rX-B: 2", url],
            "--header",
        ),
        case(
            "user agent with LF",
            &["--user-agent", "a\nb", url],
            "--user-agent",
        ),
        case(
            "body-contains empty",
            &["--body-contains=", url],
            "--body-contains",
        ),
        case(
            "body-contains with LF",
            &["--body-contains", "a\nb", url],
            "--body-contains",
        ),
        case(
            "body-contains with HEAD",
            &["--method", "HEAD", "--body-contains", "ok", url],
            "--body-contains needs a body",
        ),
        // Proxies.
        case(
            "proxy socks",
            &["--proxy", "socks5://127.0.0.1:1", url],
            "--proxy",
        ),
        case(
            "proxy garbage",
            &["--proxy", "::", url],
            "--proxy: invalid value '::'",
        ),
        case(
            "proxy password not shown",
            &["--proxy", "socks5://probe:s3cret@127.0.0.1:1080", url],
            "--proxy: invalid value 'socks5://***@127.0.0.1:1080'",
        ),
        // ${VAR} syntax (the values themselves are in tests/env.rs).
        case("unclosed ${", &["http://127.0.0.1:${PORT/"], "${NAME}"),
        case("bad variable name", &["http://127.0.0.1:${1X}/"], "${NAME}"),
    ]);
}

#[test]
fn bad_urls_exit_64_naming_the_target() {
    let case = |target: &str, reason: &str| {
        Case::new(target, &[target])
            .usage(&format!("target '{target}': "))
            .stderr(reason)
    };
    check(vec![
        case("localhost:8080", "missing scheme"),
        case("/health", "missing scheme"),
        case("ftp://localhost/", "unsupported scheme 'ftp'"),
        case("unix://run/app.sock", "write unix:///PATH (three slashes"),
        case("http://", "the host is empty"),
        case("http:///health", "the host is empty"),
        case("http://:8080/", "the host is empty"),
        case("http://localhost:0/", "port must be 1-65535"),
        case("http://localhost:65536/", "port must be 1-65535"),
        case("http://localhost:80x/", "port must be 1-65535"),
        case("http://localhost:/", "port must be 1-65535"),
        case("http://localhost:-1/", "port must be 1-65535"),
        case("http://::1:8080/", "brackets"),
        case("http://[::1/", "unclosed '['"),
        case("http://[nope]:80/", "invalid IPv6 address"),
        case("http://[::1]x/", "unexpected text after ']'"),
        // The password is masked even here: error lines end up in `docker inspect`.
        Case::new("credentials", &["http://user:pw@localhost/"])
            .usage("target 'http://***@localhost/': ")
            .stderr("credentials"),
        case("http://local host/", "the host may hold only"),
        case("http://localhost/a b", "percent-encode"),
        // The HTTP client refuses these unencoded: a usage error, not "cannot build the request".
        case(
            "http://localhost/<a>",
            "'<' is not allowed in a URL; percent-encode it",
        ),
        case("http://localhost/a>", "'>' is not allowed in a URL"),
        case("http://localhost/`id`", "'`' is not allowed in a URL"),
        case("http://localhost/?q=\"x\"", "'\"' is not allowed in a URL"),
        case("tcp://localhost", "a port is required"),
        case("tcp://localhost:5432/db", "takes no path"),
        case("tcp://:5432", "the host is empty"),
    ]);
}

#[test]
fn a_usage_error_probes_nothing() {
    // One good target and one bad: nothing is probed, whatever the order.
    let server = Server::start(http("200 OK", &[], "ok"));
    for args in [
        vec![server.url("/"), "ftp://x/".to_string()],
        vec!["ftp://x/".to_string(), server.url("/")],
        vec![server.url("/"), "--timeout".to_string(), "0".to_string()],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = probe(&args);
        assert_eq!(run.code, 64, "{run:?}");
        assert!(run.stdout.is_empty(), "{run:?}");
        assert!(run.stderr.contains("see healthprobe --help"), "{run:?}");
    }
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

#[test]
fn non_utf8_arguments_are_usage_errors() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let bad = OsStr::from_bytes(b"http://127.0.0.1:1/\xff");
    for args in [
        vec![bad],
        vec![OsStr::new("--timeout"), OsStr::from_bytes(b"1\xff")],
    ] {
        let mut command = std::process::Command::new(BIN);
        command.args(&args).env_clear();
        let run = run(command);
        assert_eq!(run.code, 64, "{run:?}");
        assert_sane(&run);
    }
}
