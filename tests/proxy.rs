//! Promise 5: HTTP_PROXY, HTTPS_PROXY and ALL_PROXY (either case) are ignored, since
//! Docker hands the app's environment to the probe; `--proxy URL` opts in, and then
//! the request goes through it (ureq tunnels plain HTTP with CONNECT too).

use crate::common::*;

#[test]
fn proxy_variables_pointing_at_a_dead_proxy_change_nothing() {
    let mut cases = Vec::new();
    for variable in PROXY_VARIABLES {
        for proxy in ["http://127.0.0.1:{dead}", "socks5://127.0.0.1:{dead}"] {
            for target in ["{url}/", "http://localhost:{port}/", "tcp://{addr}"] {
                let dead = closed_port().to_string();
                let proxy = proxy.replace("{dead}", &dead);
                let name = format!("{variable}={proxy} {target}");
                cases.push(
                    Case::new(&name, &[target])
                        .server(http("200 OK", &[], "ok"))
                        .env(variable, &proxy)
                        .env("NO_PROXY", "")
                        .healthy("healthy: ")
                        .stdout("from 127.0.0.1:{port} in "),
                );
            }
        }
    }
    check(cases);
}

#[test]
fn proxy_variables_pointing_at_a_live_proxy_are_not_used() {
    let proxy = ConnectProxy::start();
    let server = Server::start(http("200 OK", &[], "ok"));
    let env: Vec<(&str, String)> = PROXY_VARIABLES
        .iter()
        .map(|&variable| (variable, proxy.url()))
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = probe_env(&[&server.url("/")], &env);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains("proxy"), "{run:?}");
    assert!(
        proxy.heads().is_empty(),
        "the proxy was used: {:?}",
        proxy.heads()
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn proxy_option_sends_the_request_through_the_proxy() {
    let proxy = ConnectProxy::start();
    let server = Server::start(http("200 OK", &[], "ok"));
    let run = probe(&["--proxy", &proxy.url(), &server.url("/health")]);
    assert_eq!(run.code, 0, "{run:?}");
    // The address connected is the proxy's, and the line says so.
    assert!(
        run.stdout
            .contains(&format!("200 OK via proxy {} in ", proxy.addr)),
        "{run:?}"
    );
    let heads = proxy.heads();
    assert_eq!(heads.len(), 1, "{heads:?}");
    let connect = format!("CONNECT 127.0.0.1:{} HTTP/1.1\r\n", server.port());
    assert!(heads[0].starts_with(&connect), "{heads:?}");
    assert_eq!(
        header(&heads[0], "User-Agent"),
        [format!("healthprobe/{VERSION}")]
    );
    // Through the tunnel, the request itself.
    let head = server.request();
    assert!(head.starts_with("GET /health HTTP/1.1\r\n"), "{head:?}");
}

#[test]
fn healthprobe_proxy_and_credentials() {
    let proxy = ConnectProxy::start();
    let server = Server::start(http("200 OK", &[], "ok"));
    let with_credentials = format!("http://probe:s3cret@{}", proxy.addr);
    let run = probe_env(
        &[&format!("http://localhost:{}/", server.port())],
        &[("HEALTHPROBE_PROXY", &with_credentials)],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let heads = proxy.heads();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(
        heads[0].starts_with(&format!("CONNECT localhost:{} HTTP/1.1", server.port())),
        "{heads:?}"
    );
    assert_eq!(
        header(&heads[0], "Proxy-Authorization"),
        ["Basic cHJvYmU6czNjcmV0"]
    );
    // The password never reaches the output.
    assert!(!run.output().contains("s3cret"), "{run:?}");
}

#[test]
fn a_proxy_that_fails_is_named_as_the_culprit() {
    let dead = closed_port();
    let refusing = Server::start(http("403 Forbidden", &[], "no"));
    let silent = Server::start(Reply::Silent);
    let server = Server::start(http("200 OK", &[], "ok"));
    let target = server.url("/");
    for (proxy, expected) in [
        (
            format!("http://127.0.0.1:{dead}"),
            format!("proxy 127.0.0.1:{dead}: connection refused (tried 127.0.0.1:{dead})"),
        ),
        (
            format!("http://{}", refusing.addr),
            format!("proxy {}: it answered CONNECT with 403", refusing.addr),
        ),
        (
            format!("http://{}", silent.addr),
            format!(
                "proxy {}: timed out awaiting its answer to CONNECT",
                silent.addr
            ),
        ),
    ] {
        let run = probe(&["--timeout", "1s", "--proxy", &proxy, &target]);
        assert_eq!(run.code, 1, "{run:?}");
        assert!(
            run.stderr.contains(&expected),
            "expected {expected:?}: {run:?}"
        );
        assert_sane(&run);
    }
    assert!(server.requests().is_empty());
}

#[test]
fn the_proxy_option_does_not_apply_to_tcp() {
    // A tcp:// probe is a connection to the service itself: the flag with only tcp://
    // targets is a mistake, HEALTHPROBE_PROXY (maybe shared with http:// probes) is not.
    let server = Server::start(http("200 OK", &[], "ok"));
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let tcp = format!("tcp://{}", server.addr);
    let run = probe(&["--proxy", &dead, &tcp]);
    assert_eq!(run.code, 64, "{run:?}");
    assert!(
        run.stderr
            .contains("--proxy applies only to http://, https:// targets, and none is given"),
        "{run:?}"
    );
    let run = probe_env(&[&tcp], &[("HEALTHPROBE_PROXY", &dead)]);
    assert_eq!(run.code, 0, "{run:?}");
    let run = probe(&["--proxy", &dead, &tcp, &server.url("/")]);
    assert!(
        run.stdout.contains(&format!("healthy: {tcp}: connected")),
        "{run:?}"
    );
}
