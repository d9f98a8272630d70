//! Promise 7: tcp://HOST:PORT is healthy iff a connection is established within the
//! deadline; then it is closed cleanly (a FIN, not a reset, and not a byte sent).

use crate::common::*;

use std::io::Read;
use std::net::TcpListener;
use std::time::Duration;

#[test]
fn a_listening_port_is_healthy_and_closed_cleanly() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let run = probe(&[&format!("tcp://{addr}")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .starts_with(&format!("healthy: tcp://{addr}: connected from {addr} in ")),
        "{run:?}"
    );
    // The probe has exited; its connection waits in the backlog. It must read as an
    // orderly end of stream with nothing in it.
    let (mut stream, _) = listener.accept().expect("the probe's connection");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut received = Vec::new();
    let result = stream.read_to_end(&mut received);
    assert!(result.is_ok(), "not a clean close: {result:?}");
    assert!(received.is_empty(), "the probe sent {received:?}");
}

#[test]
fn a_service_that_hangs_up_at_once_still_accepted_the_connection() {
    check(vec![
        Case::new("closes at once", &["tcp://{addr}"])
            .server(Reply::Close)
            .healthy("connected"),
        Case::new("localhost", &["tcp://localhost:{port}"])
            .server(Reply::Silent)
            .healthy("healthy: tcp://localhost:{port}: connected from {addr}"),
    ]);
}

#[test]
fn http_options_do_not_change_a_tcp_probe() {
    let http_options = [
        "--status",
        "404",
        "--method",
        "POST",
        "-H",
        "X: y",
        "--body-contains",
        "z",
    ];
    let with = |targets: &[&'static str]| [&http_options[..], targets].concat();
    check(vec![
        // On the command line with only tcp:// targets they are a mistake, named.
        Case::new("flags, tcp:// alone", &with(&["tcp://{addr}"]))
            .server(Reply::Silent)
            .usage("--method applies only to http://, https:// targets, and none is given"),
        Case::new("-H, tcp:// alone", &["-H", "X: y", "tcp://{addr}"])
            .server(Reply::Silent)
            .usage("--header applies only to http://, https://, grpc://, grpcs:// targets"),
        // From the environment (maybe shared with http:// probes) they are not.
        Case::new("variables", &["tcp://{addr}"])
            .server(Reply::Silent)
            .env("HEALTHPROBE_STATUS", "404")
            .env("HEALTHPROBE_METHOD", "POST")
            .env("HEALTHPROBE_HEADER", "X: y")
            .env("HEALTHPROBE_BODY_CONTAINS", "z")
            .healthy("connected"),
        // Beside an http:// target they apply to it, and the tcp:// probe ignores them.
        Case::new(
            "flags, with an http:// target",
            &with(&["tcp://{addr}", "http://127.0.0.1:1/"]),
        )
        .server(Reply::Silent)
        .unhealthy("connection refused")
        .stdout("healthy: tcp://{addr}: connected"),
    ]);
}
