mod common;
use common::*;

#[test]
fn healthy_200() {
    let server = Server::start(http("200 OK", &[], "ok"));
    let run = probe(&[&server.url("/health")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("healthy: "), "{run:?}");
}

/// `--name=value` works like `--name value`, for every option that takes a value
/// (compose files and Kubernetes manifests often write the joined form).
#[test]
fn options_take_joined_values() {
    let server = Server::start(http("200 OK", &[], "ready"));
    let url = server.url("/health");
    let run = probe(&[
        "--timeout=2s",
        "--connect-timeout=1s",
        "--status=200",
        "--body-contains=ready",
        "--header=X-Probe: yes",
        "--user-agent=probe/1",
        "--method=GET",
        &url,
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let requests = server.requests();
    assert_eq!(header(&requests[0], "X-Probe"), ["yes"]);
    assert_eq!(header(&requests[0], "User-Agent"), ["probe/1"]);
}
