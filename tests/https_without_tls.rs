//! The default build has no TLS: https:// and the TLS options are usage errors that say
//! how to get the TLS build, never a silent plain-HTTP probe.

use crate::common::*;

const HINT: &str = "the TLS build of healthprobe (cargo build --release --features tls)";

#[test]
fn https_and_the_tls_options_need_the_tls_build() {
    let server = Server::start(http("200 OK", &[], "ok"));
    let plain = server.url("/");
    let cases: Vec<Case> = vec![
        (vec!["https://localhost/"], vec![], "https:// needs"),
        (vec!["HTTPS://localhost/"], vec![], "https:// needs"),
        (vec!["grpcs://127.0.0.1:50051"], vec![], "grpcs:// needs"),
        (vec!["--cacert", "ca.pem", &plain], vec![], "--cacert needs"),
        (
            vec!["--cert", "c.pem", "--key", "k.pem", &plain],
            vec![],
            "--cert needs",
        ),
        (vec!["-k", &plain], vec![], "-k/--insecure needs"),
        (
            vec![&plain],
            vec![("HEALTHPROBE_CACERT", "ca.pem")],
            "HEALTHPROBE_CACERT needs",
        ),
        (
            vec![&plain],
            vec![("HEALTHPROBE_INSECURE", "1")],
            "-k/--insecure needs",
        ),
        (
            vec![],
            vec![("HEALTHPROBE_TARGETS", "https://localhost/")],
            "https:// needs",
        ),
    ];
    for (args, env, expected) in cases {
        let run = probe_env(&args, &env);
        assert_eq!(run.code, 64, "{args:?} {env:?}: {run:?}");
        assert!(run.stderr.contains(expected), "{args:?}: {run:?}");
        assert!(run.stderr.contains(HINT), "{args:?}: {run:?}");
    }
    assert!(server.requests().is_empty(), "nothing may be probed");
}

#[test]
fn a_redirect_to_https_is_not_followed_but_healthy() {
    let server = Server::start(http(
        "301 Moved Permanently",
        &[("Location", "https://localhost/")],
        "",
    ));
    let run = probe(&[&server.url("/")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("not followed"), "{run:?}");
}

/// A usage error: the arguments, the environment, and what stderr must say.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
