//! Promises 4 and 6: healthy iff 200 <= status < 400 by default (the kubelet's httpGet
//! rule), and `--status` replaces that range with `200`, `2xx`, `200-299` or a comma
//! list of these.

use crate::common::*;

/// A reply with this status line and no Location, so a 3xx is an answer, not a redirect.
fn status(line: &str) -> Reply {
    http(line, &[], "")
}

#[test]
fn default_range_is_200_to_399() {
    let case = |line: &str| Case::new(line, &["{url}/health"]).server(status(line));
    check(vec![
        case("200 OK").healthy("healthy: {url}/health: 200 OK from {addr} in "),
        case("201 Created").healthy("201 Created"),
        case("204 No Content").healthy("204 No Content"),
        case("299 Whatever").healthy("299"),
        case("300 Multiple Choices").healthy("300 Multiple Choices"),
        case("304 Not Modified").healthy("304 Not Modified"),
        case("399 Whatever").healthy("399"),
        case("400 Bad Request").unhealthy("400 Bad Request (expected 200-399)"),
        case("401 Unauthorized").unhealthy("401 Unauthorized (expected 200-399)"),
        case("404 Not Found")
            .unhealthy("unhealthy: {url}/health: 404 Not Found (expected 200-399) from {addr} in "),
        case("429 Too Many Requests").unhealthy("429 Too Many Requests (expected 200-399)"),
        case("500 Internal Server Error").unhealthy("500 Internal Server Error (expected 200-399)"),
        case("503 Service Unavailable").unhealthy("503 Service Unavailable (expected 200-399)"),
        case("599 Custom").unhealthy("599 (expected 200-399)"),
    ]);
}

#[test]
fn status_forms_replace_the_default() {
    // (--status LIST, the server's status, healthy?)
    let table = [
        ("200", "200 OK", true),
        ("200", "204 No Content", false),
        ("200", "301 Moved Permanently", false),
        ("204", "204 No Content", true),
        ("2xx", "200 OK", true),
        ("2xx", "299 Whatever", true),
        ("2xx", "302 Found", false),
        ("2xx", "404 Not Found", false),
        ("2XX", "250 Whatever", true),
        ("3xx", "304 Not Modified", true),
        ("3xx", "200 OK", false),
        ("4xx", "404 Not Found", true),
        ("4xx", "500 Internal Server Error", false),
        ("5xx", "503 Service Unavailable", true),
        ("5xx", "200 OK", false),
        ("200-299", "200 OK", true),
        ("200-299", "299 Whatever", true),
        ("200-299", "300 Multiple Choices", false),
        ("200-299,401", "401 Unauthorized", true),
        ("200-299,401", "204 No Content", true),
        ("200-299,401", "403 Forbidden", false),
        ("200-299,401", "302 Found", false),
        ("200, 404", "404 Not Found", true),
        ("404", "404 Not Found", true),
        ("404", "200 OK", false),
        ("500-599", "503 Service Unavailable", true),
        ("1xx,5xx", "500 Internal Server Error", true),
        ("1xx,5xx", "200 OK", false),
        ("100-599", "404 Not Found", true),
    ];
    let cases = table
        .iter()
        .map(|&(list, line, healthy)| {
            let name = format!("--status {list} against {line}");
            let case = Case::new(&name, &["--status", list, "{url}/"]).server(status(line));
            let code = &line[..3];
            if healthy {
                case.healthy(&format!("healthy: {{url}}/: {code}"))
            } else {
                let expected = list.replace(' ', "");
                case.unhealthy(code)
                    .stderr(&format!("(expected {expected})"))
            }
        })
        .collect();
    check(cases);
}

#[test]
fn an_interim_1xx_is_not_the_answer() {
    // HTTP: a 1xx is followed by the real response; a server that stops after it has not
    // answered, whatever --status says.
    check(vec![
        Case::new("100 then close", &["{url}/"])
            .server(Reply::Bytes(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec()))
            .unhealthy("connection closed by the server awaiting the response"),
        Case::new("103 then 200", &["{url}/"])
            .server(Reply::Bytes(
                [
                    b"HTTP/1.1 103 Early Hints\r\n\r\n".as_slice(),
                    &http_bytes("200 OK", &[], ""),
                ]
                .concat(),
            ))
            .healthy("200 OK"),
        Case::new("1xx listed, 102 then close", &["--status", "1xx", "{url}/"])
            .server(Reply::Bytes(b"HTTP/1.1 102 Processing\r\n\r\n".to_vec()))
            .unhealthy("awaiting the response"),
    ]);
}

#[test]
fn status_also_comes_as_key_equals_value() {
    check(vec![
        Case::new("--status=404", &["--status=404", "{url}/"])
            .server(status("404 Not Found"))
            .healthy("404 Not Found"),
        Case::new("--status=2xx", &["--status=2xx", "{url}/"])
            .server(status("404 Not Found"))
            .unhealthy("(expected 2xx)"),
    ]);
}
