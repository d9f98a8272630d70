//! https:// in the TLS build (`cargo test --features tls`): the real binary against rustls
//! servers on loopback, with a CA and certificates that each test makes for itself.

use std::time::Duration;

use crate::common::tls::{Pki, TlsServer};
use crate::common::*;
use rcgen::{KeyPair, date_time_ymd};

const LOCAL_NAMES: &[&str] = &["localhost", "127.0.0.1", "::1"];
const NOT_VERIFIED: &str = "certificate not verified (--insecure)";

/// A server with a certificate from `pki`'s CA for localhost, answering 200 "ok".
fn trusted_server(pki: &Pki) -> TlsServer {
    let config = pki.server("server", LOCAL_NAMES).server_config();
    TlsServer::start("127.0.0.1:0", config, |_| http("200 OK", &[], "ok"))
}

#[test]
fn a_certificate_from_the_cacert_ca_is_healthy() {
    let pki = Pki::new();
    let server = trusted_server(&pki);
    let run = probe(&["--cacert", &pki.ca(), &server.url("/health")]);
    assert_eq!(run.code, 0, "{run:?}");
    let expected = format!(
        "healthy: {}: 200 OK from 127.0.0.1:{} in ",
        server.url("/health"),
        server.port()
    );
    assert!(run.stdout.starts_with(&expected), "{run:?}");
    assert!(!run.stdout.contains("not verified"), "{run:?}");
    let requests = server.requests();
    assert!(
        requests[0].starts_with("GET /health HTTP/1.1\r\n"),
        "{requests:?}"
    );
}

#[test]
fn cacert_comes_from_the_environment_with_variables_expanded() {
    let pki = Pki::new();
    let server = trusted_server(&pki);
    let dir = pki.dir.to_string_lossy().into_owned();
    let url = "https://localhost:${PORT}/";
    let port = server.port().to_string();
    let env = [
        ("HEALTHPROBE_CACERT", "${CERTS}/ca.pem"),
        ("CERTS", dir.as_str()),
        ("PORT", port.as_str()),
    ];
    let run = probe_env(&[url], &env);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn an_ipv6_literal_is_verified_against_the_ip_in_the_certificate() {
    let pki = Pki::new();
    let config = pki.server("server", &["::1"]).server_config();
    let server = TlsServer::start("[::1]:0", config, |_| http("200 OK", &[], "ok"));
    let url = format!("https://[::1]:{}/", server.port());
    let run = probe(&["--cacert", &pki.ca(), &url]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains(&format!("from [::1]:{}", server.port())),
        "{run:?}"
    );
}

#[test]
fn the_default_port_is_443() {
    // Nothing may listen on 443 here; what matters is where the probe went.
    let run = probe(&["-v", "--timeout", "1s", "https://127.0.0.1/"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("127.0.0.1:443"), "{run:?}");
}

#[test]
fn a_self_signed_certificate_without_cacert_is_an_unknown_issuer() {
    let pki = Pki::new();
    let config = pki.self_signed("self", LOCAL_NAMES).server_config();
    let server = TlsServer::start("127.0.0.1:0", config, |_| http("200 OK", &[], "ok"));
    let run = probe(&[&server.url("/")]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    assert!(run.stderr.starts_with("unhealthy: "), "{run:?}");
    assert!(run.stderr.contains("unknown issuer"), "{run:?}");
    assert!(
        server.requests().is_empty(),
        "no request may be sent: {run:?}"
    );

    // Given as --cacert, the self-signed certificate is trusted: pinned.
    let run = probe(&["--cacert", &pki.path("self.pem"), &server.url("/")]);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn a_ca_certificate_as_the_servers_own_is_refused_even_when_trusted() {
    // webpki (unlike OpenSSL) never accepts a CA certificate as a server's own: docs/https.md
    // says how to make one that works.
    let pki = Pki::new();
    let identity = pki.self_signed_ca("openssl-style", LOCAL_NAMES);
    let server = TlsServer::start("127.0.0.1:0", identity.server_config(), |_| {
        http("200 OK", &[], "ok")
    });
    let run = probe(&["--cacert", &identity.cert, &server.url("/")]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("presents a CA certificate"), "{run:?}");
}

#[test]
fn a_certificate_from_another_ca_is_an_unknown_issuer() {
    let (pki, other) = (Pki::new(), Pki::new());
    let server = trusted_server(&pki);
    let run = probe(&["--cacert", &other.ca(), &server.url("/")]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("unknown issuer"), "{run:?}");
}

#[test]
fn insecure_skips_verification_and_every_line_says_so() {
    let pki = Pki::new();
    let config = pki.self_signed("self", &["elsewhere.test"]).server_config();
    let server = TlsServer::start("127.0.0.1:0", config, |head| {
        if head.starts_with("GET /down ") {
            http("503 Service Unavailable", &[], "")
        } else {
            http("200 OK", &[], "ok")
        }
    });
    let plain = Server::start(http("200 OK", &[], "ok"));

    let run = probe(&["-k", &server.url("/")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.trim_end().ends_with(NOT_VERIFIED), "{run:?}");

    let run = probe_env(&[&server.url("/")], &[("HEALTHPROBE_INSECURE", "1")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.trim_end().ends_with(NOT_VERIFIED), "{run:?}");

    // Unhealthy lines say it too, and a plain http:// target in the same run does not.
    let run = probe(&["--insecure", &server.url("/down"), &plain.url("/")]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("503 Service Unavailable"), "{run:?}");
    assert!(run.stderr.trim_end().ends_with(NOT_VERIFIED), "{run:?}");
    assert!(run.stdout.starts_with("healthy: http://"), "{run:?}");
    assert!(!run.stdout.contains("not verified"), "{run:?}");
}

#[test]
fn the_caveat_survives_the_line_cap() {
    let pki = Pki::new();
    let config = pki.self_signed("self", LOCAL_NAMES).server_config();
    let server = TlsServer::start("127.0.0.1:0", config, |_| {
        http("503 Service Unavailable", &[], "")
    });
    let long_path = format!("/{}", "x".repeat(1000));
    let run = probe(&["-k", &server.url(&long_path)]);
    assert_eq!(run.code, 1, "{run:?}");
    let line = run.stderr.trim_end();
    assert!(line.len() <= 300, "{} bytes: {line}", line.len());
    assert!(line.ends_with(NOT_VERIFIED), "{line}");
}

#[test]
fn a_certificate_for_another_name_is_a_name_mismatch() {
    let pki = Pki::new();
    let config = pki
        .server("other", &["other.test", "127.0.0.9"])
        .server_config();
    let server = TlsServer::start("127.0.0.1:0", config, |_| http("200 OK", &[], "ok"));
    let run = probe(&["--cacert", &pki.ca(), &server.url("/")]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("name mismatch"), "{run:?}");
    assert!(
        run.stderr
            .contains("it is for other.test, 127.0.0.9, not localhost"),
        "{run:?}"
    );
}

#[test]
fn an_expired_certificate_is_unhealthy() {
    let pki = Pki::new();
    let identity = pki.server_with("expired", LOCAL_NAMES, |params| {
        params.not_before = date_time_ymd(2000, 1, 1);
        params.not_after = date_time_ymd(2001, 1, 1);
    });
    let server = TlsServer::start("127.0.0.1:0", identity.server_config(), |_| {
        http("200 OK", &[], "ok")
    });
    let run = probe(&["--cacert", &pki.ca(), &server.url("/")]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("certificate expired"), "{run:?}");
}

#[test]
fn a_server_that_requires_a_client_certificate() {
    let pki = Pki::new();
    let config = pki.server("server", LOCAL_NAMES).mutual_server_config(&pki);
    let server = TlsServer::start("127.0.0.1:0", config, |_| http("200 OK", &[], "ok"));
    let url = server.url("/");

    let run = probe(&["--cacert", &pki.ca(), &url]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("requires a client certificate"),
        "{run:?}"
    );

    // The key in each of the three PEM forms.
    let ec = pki.client("client-ec", KeyPair::generate().expect("EC key"));
    let sec1 = pki.traditional_key(&ec, "client-ec-sec1.key");
    let rsa = pki.client("client-rsa", pki.rsa_key("rsa-pkcs8.key"));
    let pkcs1 = pki.traditional_key(&rsa, "client-rsa-pkcs1.key");
    assert!(read(&sec1).contains("BEGIN EC PRIVATE KEY"));
    assert!(read(&pkcs1).contains("BEGIN RSA PRIVATE KEY"));
    for (cert, key) in [
        (&ec.cert, &ec.key),
        (&ec.cert, &sec1),
        (&rsa.cert, &rsa.key),
        (&rsa.cert, &pkcs1),
    ] {
        let run = probe(&["--cacert", &pki.ca(), "--cert", cert, "--key", key, &url]);
        assert_eq!(run.code, 0, "{key}: {run:?}");
    }

    // The same from the environment.
    let env = [
        ("HEALTHPROBE_CACERT", pki.ca()),
        ("HEALTHPROBE_CERT", ec.cert.clone()),
        ("HEALTHPROBE_KEY", ec.key.clone()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = probe_env(&[&url], &env);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn a_client_certificate_from_another_ca_is_refused() {
    let (pki, other) = (Pki::new(), Pki::new());
    let config = pki.server("server", LOCAL_NAMES).mutual_server_config(&pki);
    let server = TlsServer::start("127.0.0.1:0", config, |_| http("200 OK", &[], "ok"));
    let stranger = other.client("stranger", KeyPair::generate().expect("key"));
    let run = probe(&[
        "--cacert",
        &pki.ca(),
        "--cert",
        &stranger.cert,
        "--key",
        &stranger.key,
        &server.url("/"),
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("it rejects the client certificate (unknown ca)"),
        "{run:?}"
    );
}

#[test]
fn the_deadline_covers_a_response_that_never_comes_after_the_handshake() {
    let pki = Pki::new();
    let config = pki.server("server", LOCAL_NAMES).server_config();
    let server = TlsServer::start("127.0.0.1:0", config, |_| Reply::Silent);
    let run = probe(&["--timeout", "1s", "--cacert", &pki.ca(), &server.url("/")]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("timed out awaiting the response"),
        "{run:?}"
    );
    assert!(run.elapsed < Duration::from_millis(1900), "{run:?}");
}

#[test]
fn redirects_from_https_to_https_on_the_same_host_are_followed() {
    let pki = Pki::new();
    let config = pki.server("server", LOCAL_NAMES).server_config();
    let server = TlsServer::start("127.0.0.1:0", config, |head| {
        // localhost:PORT, as the probe sent it.
        let host = header(head, "Host").first().copied().unwrap_or_default();
        let absolute = format!("https://{host}/final");
        if head.starts_with("GET /start ") {
            http("302 Found", &[("Location", "/middle")], "")
        } else if head.starts_with("GET /middle ") {
            http("301 Moved Permanently", &[("Location", &absolute)], "")
        } else if head.starts_with("GET /final ") {
            http("500 Internal Server Error", &[], "")
        } else if head.starts_with("GET /to-http ") {
            let plain = format!("http://{host}/final");
            http("302 Found", &[("Location", &plain)], "")
        } else {
            http("404 Not Found", &[], "")
        }
    });

    // Both hops followed, and the answer behind them is what counts.
    let run = probe(&["--cacert", &pki.ca(), &server.url("/start")]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("500 Internal Server Error after 2 redirects"),
        "{run:?}"
    );
    let paths: Vec<String> = server
        .requests()
        .iter()
        .map(|head| head.split(' ').nth(1).unwrap_or_default().to_string())
        .collect();
    assert_eq!(paths, ["/start", "/middle", "/final"]);

    // https -> http leaves the origin: not followed, healthy with a note.
    let run = probe(&["--cacert", &pki.ca(), &server.url("/to-http")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("not followed"), "{run:?}");
}

/// Each bad TLS setting is a usage error (64) that names the culprit, and nothing is probed.
#[test]
fn bad_tls_settings_are_usage_errors() {
    let pki = Pki::new();
    let server = trusted_server(&pki);
    let url = server.url("/");
    let client = pki.client("client", KeyPair::generate().expect("key"));
    let other = pki.client("other", KeyPair::generate().expect("key"));
    let garbage = pki.path("garbage.pem");
    std::fs::write(&garbage, "this is not PEM\n").expect("write");
    let broken = pki.path("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let missing = pki.path("missing.pem");
    let dir = pki.dir.to_string_lossy().into_owned();
    let ca = pki.ca();
    let cases: Vec<Case> = vec![
        (
            vec!["--cacert", &missing],
            vec![],
            "missing.pem': cannot read it: no such file",
        ),
        (vec!["--cacert", &dir], vec![], "cannot read"),
        (vec!["--cacert", &garbage], vec![], "no certificate"),
        (
            vec!["--cacert", &broken],
            vec![],
            "broken.pem': not valid PEM: bad base64",
        ),
        (vec!["--cacert", &client.key], vec![], "no certificate"),
        (vec!["--cert", &client.cert], vec![], "--cert and --key"),
        (vec!["--key", &client.key], vec![], "--cert and --key"),
        (
            vec!["--cert", &client.cert, "--key", &other.key],
            vec![],
            "does not belong",
        ),
        (
            vec!["--cert", &client.cert, "--key", &client.cert],
            vec![],
            "no private key",
        ),
        (
            vec!["--cert", &garbage, "--key", &client.key],
            vec![],
            "no certificate",
        ),
        (vec!["-k", "--cacert", &ca], vec![], "--insecure"),
        (
            vec![],
            vec![("HEALTHPROBE_CACERT", &missing)],
            "HEALTHPROBE_CACERT",
        ),
        (
            vec![],
            vec![("HEALTHPROBE_INSECURE", "maybe")],
            "HEALTHPROBE_INSECURE",
        ),
        (vec![], vec![("HEALTHPROBE_KEY", "${NOPE}")], "NOPE"),
    ];
    for (args, env, expected) in cases {
        let mut all = args.clone();
        all.push(&url);
        let run = probe_env(&all, &env);
        assert_eq!(run.code, 64, "{args:?} {env:?}: {run:?}");
        assert!(run.stderr.contains(expected), "{args:?} {env:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{run:?}");
    }
    assert!(server.requests().is_empty(), "nothing may be probed");
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).expect("read")
}

/// A usage error: the arguments, the environment, and what stderr must say.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
