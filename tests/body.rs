//! Promise 6, --body-contains: the text must be in the first 10 KiB of the body (no more
//! is read), and the body is not read at all when nothing asks for it.

use crate::common::*;

const LIMIT: usize = 10 * 1024;

fn chunked(parts: &[&str]) -> Reply {
    let mut text =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_string();
    for part in parts {
        text += &format!("{:x}\r\n{part}\r\n", part.len());
    }
    text += "0\r\n\r\n";
    Reply::Bytes(text.into_bytes())
}

#[test]
fn body_contains_hit_and_miss() {
    let padding = "x".repeat(LIMIT - 2);
    let beyond = "x".repeat(LIMIT);
    let straddling = "x".repeat(LIMIT - 1);
    let case = |name: &str, needle: &str, reply: Reply| {
        Case::new(name, &["--body-contains", needle, "{url}/"]).server(reply)
    };
    check(vec![
        case("hit", "\"status\":\"up\"", http("200 OK", &[], "{\"status\":\"up\"}"))
            .healthy("healthy: {url}/: 200 OK from {addr} in "),
        case("miss", "up", http("200 OK", &[], "{\"status\":\"down\"}")).unhealthy(
            "unhealthy: {url}/: 200 OK, but \"up\" is not in the first 10240 bytes of the body from {addr} in ",
        ),
        case("empty body", "up", http("200 OK", &[], "")).unhealthy("is not in the first"),
        case("case matters", "UP", http("200 OK", &[], "up")).unhealthy("\"UP\" is not"),
        case("utf-8 text", "grüß", http("200 OK", &[], "<p>grüß</p>")).healthy("200 OK"),
        case("last bytes within 10 KiB", "ok", http("200 OK", &[], &format!("{padding}ok")))
            .healthy("200 OK"),
        case("straddling the limit", "ok", http("200 OK", &[], &format!("{straddling}ok")))
            .unhealthy("\"ok\" is not in the first 10240 bytes"),
        case("beyond 10 KiB", "ok", http("200 OK", &[], &format!("{beyond}ok")))
            .unhealthy("\"ok\" is not in the first 10240 bytes"),
        case("chunked hit", "ready", chunked(&["sta", "tus: rea", "dy"])).healthy("200 OK"),
        case("chunked miss", "ready", chunked(&["status: ", "starting"]))
            .unhealthy("\"ready\" is not in"),
        case("no length, closed", "ok", Reply::Bytes(b"HTTP/1.1 200 OK\r\n\r\nall ok".to_vec()))
            .healthy("200 OK"),
        // The status decides first: a 503 with the text is still unhealthy.
        case("status first", "ok", http("503 Service Unavailable", &[], "ok"))
            .unhealthy("503 Service Unavailable (expected 200-399)"),
        case("with --status", "down", http("503 Service Unavailable", &[], "down"))
            .healthy("503 Service Unavailable")
            .env("HEALTHPROBE_STATUS", "503"),
    ]);
}

#[test]
fn the_body_is_not_read_when_nothing_asks_for_it() {
    // Headers, then a body that never comes: without --body-contains the answer is in.
    let server = Server::start(Reply::Stall(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\npartial".to_vec(),
    ));
    let run = probe(&["--timeout", "2s", &server.url("/")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.elapsed.as_millis() < 1500,
        "it waited for the body: {run:?}"
    );

    // With --body-contains it is read, and the deadline says so.
    let run = probe(&["--timeout", "1s", "--body-contains", "ok", &server.url("/")]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("timed out reading the body"), "{run:?}");
}

#[test]
fn a_body_that_ends_early_is_unhealthy() {
    let server = Server::start(Reply::Bytes(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort".to_vec(),
    ));
    let run = probe(&["--body-contains", "short", &server.url("/")]);
    // The text is there, but the body is cut: the server is not well.
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("reading the body"), "{run:?}");
}

#[test]
fn an_endless_body_is_read_no_further_than_10_kib() {
    let server = Server::start(Reply::Endless {
        head: b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n".to_vec(),
        repeat: vec![b'x'; 4096],
    });
    let run = probe(&["--timeout", "2s", "--body-contains", "ok", &server.url("/")]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("\"ok\" is not in the first 10240 bytes"),
        "{run:?}"
    );
    assert!(run.elapsed.as_millis() < 1500, "{run:?}");
}
