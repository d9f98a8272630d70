//! Promise 4, redirects: followed to the same host and port, 9 at most as the kubelet
//! (a loop or a 10th is unhealthy, "stopped after 10 redirects"); a redirect elsewhere is not followed and counts as healthy, with
//! a note in the line. With `--status` naming a 3xx, that 3xx is the answer.

use crate::common::*;

use std::net::TcpListener;

/// A site: `/ok` is 200, `/fail` is 500, `/to?LOCATION` redirects (302) to LOCATION
/// with `{port}` replaced by the server's port, `/hop/N` redirects to `/hop/N-1` and
/// `/hop/0` is 200, `/a` and `/b` redirect to each other.
fn site(port: u16, path: &str) -> Reply {
    if let Some(location) = path.strip_prefix("/to?") {
        return redirect("302 Found", &location.replace("{port}", &port.to_string()));
    }
    if let Some(n) = path.strip_prefix("/hop/") {
        return match n.parse::<u32>() {
            Ok(0) => http("200 OK", &[], "ok"),
            Ok(n) => redirect("301 Moved Permanently", &format!("/hop/{}", n - 1)),
            Err(_) => http("400 Bad Request", &[], ""),
        };
    }
    match path {
        "/ok" | "/dir/ok" | "/dir/page?x=1" => http("200 OK", &[], "ok"),
        "/fail" => http("500 Internal Server Error", &[], "down"),
        "/a" => redirect("302 Found", "/b"),
        "/b" => redirect("302 Found", "/a"),
        "/self" => redirect("307 Temporary Redirect", "/self"),
        "/dir/page" => redirect("302 Found", "page?x=1"),
        "/dir/start" => redirect("302 Found", "ok"),
        "/fragment" => redirect("302 Found", "/ok#top"),
        "/see-other" => redirect("303 See Other", "/ok"),
        "/temporary" => redirect("307 Temporary Redirect", "/ok"),
        _ => http("404 Not Found", &[], ""),
    }
}

fn case(name: &str, args: &[&str]) -> Case {
    Case::new(name, args).routes(site)
}

#[test]
fn same_host_redirects_are_followed() {
    check(vec![
        case("absolute path", &["{url}/to?/ok"])
            .healthy("healthy: {url}/to?/ok: 200 OK after 1 redirect from {addr} in ")
            .seen(&["GET /to?/ok", "GET /ok"]),
        case("absolute URL", &["{url}/to?http://127.0.0.1:{port}/ok"])
            .healthy("200 OK after 1 redirect")
            .seen(&["GET /to?http://127.0.0.1:{port}/ok", "GET /ok"]),
        case(
            "scheme and host in capitals",
            &["{url}/to?HTTP://127.0.0.1:{port}/ok"],
        )
        .healthy("200 OK after 1 redirect"),
        case("scheme-relative", &["{url}/to?//127.0.0.1:{port}/ok"])
            .healthy("200 OK after 1 redirect"),
        case("relative", &["{url}/dir/start"])
            .healthy("200 OK after 1 redirect")
            .seen(&["GET /dir/start", "GET /dir/ok"]),
        case("relative with a query", &["{url}/dir/page"])
            .healthy("200 OK after 1 redirect")
            .seen(&["GET /dir/page", "GET /dir/page?x=1"]),
        case("a fragment is not sent", &["{url}/fragment"])
            .healthy("200 OK after 1 redirect")
            .seen(&["GET /fragment", "GET /ok"]),
        case("301, 302, 303, 307, 308", &["{url}/hop/3"])
            .healthy("200 OK after 3 redirects")
            .seen(&["GET /hop/3", "GET /hop/2", "GET /hop/1", "GET /hop/0"]),
        case("exactly 9", &["{url}/hop/9"])
            .healthy("200 OK after 9 redirects")
            .seen(&[
                "GET /hop/9",
                "GET /hop/8",
                "GET /hop/7",
                "GET /hop/6",
                "GET /hop/5",
                "GET /hop/4",
                "GET /hop/3",
                "GET /hop/2",
                "GET /hop/1",
                "GET /hop/0",
            ]),
    ]);
}

#[test]
fn what_is_behind_the_redirect_decides() {
    check(vec![
        case("500 behind a redirect", &["{url}/to?/fail"])
            .unhealthy("500 Internal Server Error after 1 redirect (expected 200-399)")
            .seen(&["GET /to?/fail", "GET /fail"]),
        case("404 behind a redirect", &["{url}/to?/missing"])
            .unhealthy("404 Not Found after 1 redirect"),
        case(
            "body checked behind a redirect",
            &["--body-contains", "ok", "{url}/to?/ok"],
        )
        .healthy("200 OK after 1 redirect"),
        case(
            "body missing behind a redirect",
            &["--body-contains", "up", "{url}/to?/fail"],
        )
        .unhealthy("500 Internal Server Error after 1 redirect"),
    ]);
}

#[test]
fn loops_and_a_10th_redirect_are_unhealthy() {
    check(vec![
        case("ping-pong", &["{url}/a"])
            .unhealthy("redirect loop back to http://127.0.0.1:{port}/a")
            .seen(&["GET /a", "GET /b"]),
        case("to itself", &["{url}/self"])
            .unhealthy("redirect loop back to http://127.0.0.1:{port}/self")
            .seen(&["GET /self"]),
        // The kubelet's check refuses the redirect once 10 requests were sent.
        case("10 redirects", &["{url}/hop/10"])
            .unhealthy("stopped after 10 redirects")
            .stderr("from {addr}")
            .seen(&[
                "GET /hop/10",
                "GET /hop/9",
                "GET /hop/8",
                "GET /hop/7",
                "GET /hop/6",
                "GET /hop/5",
                "GET /hop/4",
                "GET /hop/3",
                "GET /hop/2",
                "GET /hop/1",
            ]),
    ]);
}

#[test]
fn methods_across_redirects() {
    check(vec![
        case("HEAD stays HEAD", &["--method", "HEAD", "{url}/to?/ok"])
            .healthy("200 OK after 1 redirect")
            .seen(&["HEAD /to?/ok", "HEAD /ok"]),
        case(
            "303 turns POST into GET",
            &["--method", "POST", "{url}/see-other"],
        )
        .healthy("200 OK after 1 redirect")
        .seen(&["POST /see-other", "GET /ok"]),
        case("307 keeps POST", &["--method", "POST", "{url}/temporary"])
            .healthy("200 OK after 1 redirect")
            .seen(&["POST /temporary", "POST /ok"]),
    ]);
}

#[test]
fn a_listed_3xx_is_the_answer() {
    check(vec![
        case("--status 302", &["--status", "302", "{url}/to?/fail"])
            .healthy("302 Found from {addr}")
            .seen(&["GET /to?/fail"]),
        case("--status 3xx", &["--status", "3xx", "{url}/to?/fail"]).healthy("302 Found"),
        case("--status 2xx follows", &["--status", "2xx", "{url}/to?/ok"])
            .healthy("200 OK after 1 redirect"),
        case(
            "--status 2xx, then 500",
            &["--status", "2xx", "{url}/to?/fail"],
        )
        .unhealthy("500 Internal Server Error after 1 redirect (expected 2xx)"),
        // Not followed, a redirect is the answer: 302 is not 2xx.
        case(
            "--status 2xx, another host",
            &["--status", "2xx", "{url}/to?http://127.0.0.2/"],
        )
        .unhealthy(
            "302 Found, redirect to http://127.0.0.2/ not followed (another host) (expected 2xx)",
        ),
        case(
            "--status 302, another host",
            &["--status", "302", "{url}/to?http://127.0.0.2/"],
        )
        .healthy("302 Found from {addr}"),
        case(
            "after a redirect, another host",
            &["{url}/to?/to?http://127.0.0.2/"],
        )
        .healthy(
            "302 Found after 1 redirect, redirect to http://127.0.0.2/ not followed (another host)",
        ),
    ]);
}

#[test]
fn a_redirect_elsewhere_is_healthy_and_not_followed() {
    // Listeners where the redirects point, to prove that nothing goes there.
    let elsewhere = TcpListener::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    elsewhere.set_nonblocking(true).expect("non-blocking");
    let other = elsewhere.local_addr().expect("address").port();
    let other_port = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    other_port.set_nonblocking(true).expect("non-blocking");
    let third = other_port.local_addr().expect("address").port();

    let to_other_host = format!("http://127.0.0.2:{other}/health");
    let to_other_port = format!("http://127.0.0.1:{third}/health");
    let to_localhost = "http://localhost:{port}/ok".to_string();
    let to_https = "https://127.0.0.1:{port}/ok".to_string();
    let target = |location: &str| format!("{{url}}/to?{location}");
    let cases =
        vec![
        case("another host", &[&target(&to_other_host)])
            .healthy(&format!(
                "302 Found, redirect to {to_other_host} not followed (another host) from {{addr}}"
            ))
            .seen(&[&format!("GET /to?{to_other_host}")]),
        case("another port", &[&target(&to_other_port)])
            .healthy(&format!(
                "302 Found, redirect to {to_other_port} not followed (another port)"
            ))
            .seen(&[&format!("GET /to?{to_other_port}")]),
        case("the same address by another name", &[&target(&to_localhost)])
            .healthy("redirect to http://localhost:{port}/ok not followed (another host)")
            .seen(&["GET /to?http://localhost:{port}/ok"]),
        case("https on the same host", &[&target(&to_https)])
            .healthy("redirect to https://127.0.0.1:{port}/ok not followed (another scheme)")
            .seen(&["GET /to?https://127.0.0.1:{port}/ok"]),
    ];
    check(cases);
    for listener in [elsewhere, other_port] {
        assert!(
            listener.accept().is_err(),
            "a redirect elsewhere was followed"
        );
    }
}

#[test]
fn a_bad_location_is_unhealthy() {
    check(vec![
        case("unparsable", &["{url}/to?http://[nope/"])
            .unhealthy("invalid redirect to 'http://[nope/'"),
        case("ftp", &["{url}/to?ftp://127.0.0.1/"]).healthy("not followed (another scheme)"),
    ]);
}
