//! Promises 4 and 6, as the server sees them: GET by default (or --method), the path and
//! query as given, `User-Agent: healthprobe/<version>`, `Connection: close`, no body,
//! and -H headers (repeatable, one of them may replace Host).

use crate::common::*;

/// Probes a fresh 200 server with `args` (then its URL) and returns the request head
/// it received, asserting the probe was healthy.
fn request_for(args: &[&str], path: &str) -> String {
    let server = Server::start(http("200 OK", &[], "ok"));
    let url = server.url(path);
    let mut all = args.to_vec();
    all.push(&url);
    let run = probe(&all);
    assert_eq!(run.code, 0, "{run:?}");
    assert_sane(&run);
    server.request()
}

fn one<'a>(head: &'a str, name: &str) -> &'a str {
    let values = header(head, name);
    assert_eq!(values.len(), 1, "exactly one {name} header in {head:?}");
    values[0]
}

#[test]
fn a_plain_get_like_the_kubelet() {
    let server = Server::start(http("200 OK", &[], "ok"));
    let run = probe(&[&server.url("/health?verbose=1&x=%20y")]);
    assert_eq!(run.code, 0, "{run:?}");
    let head = server.request();
    assert!(
        head.starts_with("GET /health?verbose=1&x=%20y HTTP/1.1\r\n"),
        "{head:?}"
    );
    assert_eq!(one(&head, "Host"), format!("127.0.0.1:{}", server.port()));
    assert_eq!(one(&head, "User-Agent"), format!("healthprobe/{VERSION}"));
    assert_eq!(one(&head, "Connection"), "close");
    // No request body.
    assert!(header(&head, "Transfer-Encoding").is_empty(), "{head:?}");
    assert!(
        header(&head, "Content-Length").iter().all(|&n| n == "0"),
        "{head:?}"
    );
}

#[test]
fn the_path_defaults_to_slash() {
    let head = request_for(&[], "");
    assert!(head.starts_with("GET / HTTP/1.1\r\n"), "{head:?}");
    let head = request_for(&[], "?probe=1");
    assert!(head.starts_with("GET /?probe=1 HTTP/1.1\r\n"), "{head:?}");
}

#[test]
fn a_fragment_is_not_sent() {
    let head = request_for(&[], "/health#section");
    assert!(head.starts_with("GET /health HTTP/1.1\r\n"), "{head:?}");
}

#[test]
fn an_ipv6_target_sends_a_bracketed_host() {
    let server = Server::start_on("[::1]:0", |_| http("200 OK", &[], ""));
    let run = probe(&[&format!("http://[::1]:{}/", server.port())]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        one(&server.request(), "Host"),
        format!("[::1]:{}", server.port())
    );
}

#[test]
fn methods() {
    for method in ["HEAD", "POST", "OPTIONS", "PURGE", "get"] {
        let head = request_for(&["--method", method], "/");
        assert!(
            head.starts_with(&format!("{method} / HTTP/1.1\r\n")),
            "{head:?}"
        );
        assert!(header(&head, "Transfer-Encoding").is_empty(), "{head:?}");
        assert!(
            header(&head, "Content-Length").iter().all(|&n| n == "0"),
            "{method} sends no body: {head:?}"
        );
    }
}

#[test]
fn head_reads_no_body_even_when_one_is_announced() {
    // A correct HEAD reply announces a length and sends nothing; the probe must not wait.
    let server = Server::start(Reply::Stall(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n".to_vec(),
    ));
    let run = probe(&["--timeout", "2s", "--method", "HEAD", &server.url("/")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("200 OK"), "{run:?}");
    assert!(
        run.elapsed.as_millis() < 1500,
        "HEAD waited for a body: {run:?}"
    );
}

#[test]
fn extra_headers_are_sent_as_given() {
    let head = request_for(
        &[
            "-H",
            "X-Probe: one",
            "--header",
            "X-Probe: two",
            "-H",
            "Authorization:   Bearer abc  ",
            "--header=X-Eq: 1",
            "-H",
            "X-Empty:",
            "-H",
            "X-Utf8: grüß",
        ],
        "/",
    );
    assert_eq!(header(&head, "X-Probe"), ["one", "two"], "{head:?}");
    assert_eq!(one(&head, "Authorization"), "Bearer abc");
    assert_eq!(one(&head, "X-Eq"), "1");
    assert_eq!(one(&head, "X-Empty"), "");
    assert_eq!(one(&head, "X-Utf8"), "grüß");
}

#[test]
fn a_host_header_replaces_the_default_one() {
    for given in [
        "Host: api.internal",
        "host: api.internal",
        "HOST:api.internal",
    ] {
        let head = request_for(&["-H", given], "/");
        assert_eq!(one(&head, "Host"), "api.internal", "{given}: {head:?}");
    }
    let head = request_for(&["-H", "Host: api.internal:8443"], "/");
    assert_eq!(one(&head, "Host"), "api.internal:8443");
}

#[test]
fn two_host_headers_are_a_usage_error() {
    let run = probe(&["-H", "Host: a", "-H", "host: b", "http://127.0.0.1:1/"]);
    assert_eq!(run.code, 64, "{run:?}");
    assert!(run.stderr.contains("Host"), "{run:?}");
}

#[test]
fn user_agent_and_connection_can_be_replaced() {
    let head = request_for(&["--user-agent", "kube-probe/1.30"], "/");
    assert_eq!(one(&head, "User-Agent"), "kube-probe/1.30");
    let head = request_for(&["-H", "User-Agent: custom/1"], "/");
    assert_eq!(one(&head, "User-Agent"), "custom/1");
    let head = request_for(&["-H", "connection: keep-alive"], "/");
    assert_eq!(one(&head, "Connection"), "keep-alive");
}

#[test]
fn headers_go_with_every_same_host_redirect() {
    let server = Server::start_on("127.0.0.1:0", |head| match path(head) {
        "/old" => redirect("302 Found", "/new"),
        _ => http("200 OK", &[], ""),
    });
    let run = probe(&["-H", "X-Token: t", "-H", "Host: h", &server.url("/old")]);
    assert_eq!(run.code, 0, "{run:?}");
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    for head in &requests {
        assert_eq!(one(head, "X-Token"), "t");
        assert_eq!(one(head, "Host"), "h");
        assert_eq!(one(head, "Connection"), "close");
    }
}

#[test]
fn an_empty_accept_or_user_agent_removes_the_header() {
    // As the kubelet: it deletes an empty Accept (a strict server answers one with 406),
    // and Go writes no empty User-Agent. Other empty headers are sent empty (above).
    let head = request_for(&[], "/");
    assert_eq!(one(&head, "Accept"), "*/*");
    let head = request_for(&["-H", "Accept:"], "/");
    assert!(header(&head, "Accept").is_empty(), "{head:?}");
    let head = request_for(&["-H", "accept:  "], "/");
    assert!(header(&head, "Accept").is_empty(), "{head:?}");
    let head = request_for(&["-H", "Accept: application/json"], "/");
    assert_eq!(one(&head, "Accept"), "application/json");
    for args in [&["-H", "User-Agent:"][..], &["--user-agent", ""][..]] {
        let head = request_for(args, "/");
        assert!(header(&head, "User-Agent").is_empty(), "{args:?}: {head:?}");
        assert_eq!(one(&head, "Accept"), "*/*");
    }
}
