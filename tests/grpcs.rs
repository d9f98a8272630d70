//! grpcs:// in the TLS build: grpcio's health service over TLS (tests/grpc_server.py
//! --tls), with a CA, server and client certificates the test makes; verified by default,
//! --cacert, -k/--insecure and --cert/--key as for https://, TLS failures in its words.
use crate::common::python::Python;
use crate::common::tls::{Pki, TlsServer};
use crate::common::*;

use rcgen::KeyPair;

const LOCAL_NAMES: &[&str] = &["localhost", "127.0.0.1", "::1"];

/// grpc_server.py with its two TLS servers, killed by PID when dropped.
struct TlsHealth {
    _server: Python,
    /// TLS, no client certificate asked.
    tls: u16,
    /// TLS, a client certificate from the test's CA required.
    mutual: u16,
}

impl TlsHealth {
    fn start(pki: &Pki) -> Option<(TlsHealth, crate::common::tls::Identity)> {
        let identity = pki.server("grpc-server", LOCAL_NAMES);
        let (server, line) = Python::start(
            &[
                concat!(env!("CARGO_MANIFEST_DIR"), "/tests/grpc_server.py"),
                "--tls",
                &identity.cert,
                &identity.key,
                &pki.ca(),
            ],
            "import grpc, grpc_health",
            "grpcs",
            "python3 with grpcio and grpcio-health-checking",
        )?;
        let ports: Vec<u16> = line
            .strip_prefix("TLS ")
            .unwrap_or_else(|| panic!("not the TLS ports: {line:?}"))
            .split_whitespace()
            .map(|port| port.parse().expect("a port"))
            .collect();
        let health = TlsHealth {
            _server: server,
            tls: ports[0],
            mutual: ports[1],
        };
        Some((health, identity))
    }
}

#[test]
fn grpcs_is_verified_against_the_cacert() {
    let pki = Pki::new();
    let Some((servers, _)) = TlsHealth::start(&pki) else {
        return;
    };
    let target = format!("grpcs://localhost:{}", servers.tls);
    expect(
        &["--cacert", &pki.ca(), &target],
        0,
        &format!(
            "healthy: {target}: SERVING from 127.0.0.1:{} in ",
            servers.tls
        ),
    );
    expect(
        &["--cacert", &pki.ca(), &format!("{target}/svc.NotServing")],
        1,
        "NOT_SERVING (expected SERVING)",
    );
    // The bundled web PKI roots do not know the test's CA.
    expect(
        &[&target],
        1,
        &format!(
            "unhealthy: {target}: certificate not trusted: unknown issuer (for a private CA, give --cacert)"
        ),
    );
    // --insecure: healthy, and the line says what was not checked.
    expect(&["-k", &target], 0, "SERVING from 127.0.0.1:");
    let run = probe(&["-k", &target]);
    assert!(
        run.stdout
            .trim_end()
            .ends_with("certificate not verified (--insecure)"),
        "{run:?}"
    );
}

#[test]
fn grpcs_with_a_client_certificate() {
    let pki = Pki::new();
    let Some((servers, _)) = TlsHealth::start(&pki) else {
        return;
    };
    let target = format!("grpcs://localhost:{}", servers.mutual);
    // grpcio (BoringSSL) refuses a missing or unknown client certificate by closing the
    // connection, with no alert to name the cause (openssl s_client sees the same).
    const REFUSED: [&str; 2] = [
        "TLS refused by the server",
        "connection closed by the server",
    ];
    let run = probe(&["--cacert", &pki.ca(), &target]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        REFUSED.iter().any(|words| run.stderr.contains(words)),
        "{run:?}"
    );
    let client = pki.client("client", KeyPair::generate().expect("key"));
    expect(
        &[
            "--cacert",
            &pki.ca(),
            "--cert",
            &client.cert,
            "--key",
            &client.key,
            &target,
        ],
        0,
        "SERVING",
    );
    // From the environment, as for https://.
    let run = probe_env(
        &[&target],
        &[
            ("HEALTHPROBE_CACERT", &pki.ca()),
            ("HEALTHPROBE_CERT", &client.cert),
            ("HEALTHPROBE_KEY", &client.key),
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    // A client certificate from another CA.
    let other = Pki::new();
    let stranger = other.client("stranger", KeyPair::generate().expect("key"));
    let run = probe(&[
        "--cacert",
        &pki.ca(),
        "--cert",
        &stranger.cert,
        "--key",
        &stranger.key,
        &target,
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        REFUSED.iter().any(|words| run.stderr.contains(words)),
        "{run:?}"
    );
}

#[test]
fn grpcs_failures_in_the_words_of_https() {
    let pki = Pki::new();
    // A plaintext gRPC-less server where TLS is expected.
    let plain = Server::start(Reply::Answer(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()));
    expect(
        &[
            "--cacert",
            &pki.ca(),
            &format!("grpcs://127.0.0.1:{}", plain.port()),
        ],
        1,
        "the server does not speak TLS (plain HTTP on this port?)",
    );
    // A TLS server that never answers after the handshake: the deadline holds.
    let config = pki.server("server", LOCAL_NAMES).server_config();
    let silent = TlsServer::start("127.0.0.1:0", config, |_| Reply::Silent);
    let run = expect(
        &[
            "-t",
            "1s",
            "--cacert",
            &pki.ca(),
            &format!("grpcs://localhost:{}", silent.port()),
        ],
        1,
        "timed out",
    );
    assert!(
        run.elapsed < std::time::Duration::from_secs(1) + LATE,
        "{run:?}"
    );
    // A certificate for another name.
    let config = pki.server("elsewhere", &["elsewhere.test"]).server_config();
    let elsewhere = TlsServer::start("127.0.0.1:0", config, |_| Reply::Silent);
    expect(
        &[
            "--cacert",
            &pki.ca(),
            &format!("grpcs://localhost:{}", elsewhere.port()),
        ],
        1,
        "certificate name mismatch: it is for elsewhere.test, not localhost",
    );
    // A server that asks for a client certificate and says so with an alert (rustls).
    let config = pki.server("mutual", LOCAL_NAMES).mutual_server_config(&pki);
    let mutual = TlsServer::start("127.0.0.1:0", config, |_| Reply::Silent);
    expect(
        &[
            "--cacert",
            &pki.ca(),
            &format!("grpcs://localhost:{}", mutual.port()),
        ],
        1,
        "TLS refused by the server: it requires a client certificate (--cert and --key)",
    );
    // Closed port: the connect error, as for any target.
    expect(
        &[&format!("grpcs://127.0.0.1:{}", closed_port())],
        1,
        "connection refused",
    );
}
