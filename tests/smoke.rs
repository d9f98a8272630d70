mod common;
use common::*;

#[test]
fn healthy_200() {
    let server = Server::start(http("200 OK", &[], "ok"));
    let run = probe(&[&server.url("/health")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("healthy: "), "{run:?}");
}
