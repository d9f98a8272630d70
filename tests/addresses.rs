//! Promise 3: every resolved address is tried until one connects, and `localhost` means
//! 127.0.0.1 and ::1 without asking any resolver, so it works whether the service
//! listens on IPv4 only or IPv6 only. (The empty-chroot case, with no /etc/hosts at
//! all, needs the static binary: it is in the Docker tests.)

use crate::common::*;

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::time::Duration;

fn ok() -> Reply {
    http("200 OK", &[], "ok")
}

#[test]
fn localhost_finds_an_ipv4_only_service() {
    let (server, _no_v6) = Server::only_on_family("127.0.0.1", ok());
    let port = server.port();
    for target in [
        format!("http://localhost:{port}/"),
        format!("tcp://localhost:{port}"),
    ] {
        let run = probe(&[&target]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            run.stdout.contains(&format!("from 127.0.0.1:{port} in ")),
            "{run:?}"
        );
    }
}

#[test]
fn localhost_finds_an_ipv6_only_service() {
    let (server, _no_v4) = Server::only_on_family("::1", ok());
    let port = server.port();
    for target in [
        format!("http://localhost:{port}/health"),
        format!("tcp://localhost:{port}"),
    ] {
        let run = probe(&[&target]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            run.stdout.contains(&format!("from [::1]:{port} in ")),
            "{run:?}"
        );
    }
    // The Host header still names localhost.
    assert_eq!(
        header(&server.request(), "Host"),
        [format!("localhost:{port}")]
    );
}

#[test]
fn localhost_is_answered_without_a_resolver() {
    // No resolver knows these names (there is no such entry in /etc/hosts); RFC 6761
    // says every name under .localhost is loopback.
    let server = Server::start(ok());
    let port = server.port();
    for host in [
        "localhost",
        "LOCALHOST",
        "localhost.",
        "api.localhost",
        "a.b.localhost",
    ] {
        let run = probe(&[&format!("http://{host}:{port}/")]);
        assert_eq!(run.code, 0, "{host}: {run:?}");
        assert!(
            run.stdout.contains(&format!("from 127.0.0.1:{port}")),
            "{run:?}"
        );
    }
}

#[test]
fn ip_literals() {
    let v4 = Server::start(ok());
    let v6 = Server::start_on("[::1]:0", |_| ok());
    check(vec![
        Case::new("IPv4", &["{url}/"])
            .server(ok())
            .healthy("from {addr} in "),
        Case::new("tcp IPv4", &["tcp://{addr}"])
            .server(ok())
            .healthy("connected from {addr}"),
    ]);
    for (target, peer) in [
        (
            format!("http://[::1]:{}/", v6.port()),
            format!("[::1]:{}", v6.port()),
        ),
        (
            format!("tcp://[::1]:{}", v6.port()),
            format!("[::1]:{}", v6.port()),
        ),
        (
            format!("http://[0:0:0:0:0:0:0:1]:{}/", v6.port()),
            format!("[::1]:{}", v6.port()),
        ),
        (
            format!("http://127.0.0.1:{}", v4.port()),
            v4.addr.to_string(),
        ),
    ] {
        let run = probe(&[&target]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stdout.contains(&format!("from {peer} in ")), "{run:?}");
    }
}

#[test]
fn every_address_is_tried_until_one_connects() {
    // 127.0.0.1:PORT swallows connection attempts; [::1]:PORT answers. localhost tries
    // 127.0.0.1 first, gives it its share of the deadline, then connects to ::1.
    let hole = Blackhole::start();
    let port = hole.addr.port();
    let listener = TcpListener::bind(("::1", port)).expect("bind [::1] on the same port");
    let server = Server::serve(listener, std::sync::Arc::new(|_: &str| ok()));
    let run = probe(&["--timeout", "2s", &format!("http://localhost:{port}/")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains(&format!("from [::1]:{port} in ")),
        "{run:?}"
    );
    assert!(run.elapsed < Duration::from_secs(2) + LATE, "{run:?}");
    assert_eq!(server.requests().len(), 1);

    // When none connects in time, the phase is named.
    let run = probe(&["--timeout", "600ms", &format!("tcp://127.0.0.1:{port}")]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("timed out connecting"), "{run:?}");
}

#[test]
fn verbose_lists_the_resolved_addresses() {
    let server = Server::start(ok());
    let run = probe(&["-v", &format!("http://localhost:{}/", server.port())]);
    assert_eq!(run.code, 0, "{run:?}");
    let port = server.port();
    assert!(
        run.stderr.contains(&format!(
            "resolved localhost to 127.0.0.1:{port}, [::1]:{port}"
        )),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains(&format!("connected to 127.0.0.1:{port}")),
        "{run:?}"
    );
}

/// A name other than localhost that /etc/hosts maps to loopback only (so resolving it
/// asks no DNS server and connecting to it stays on this machine): the machine's own
/// name, or ip6-localhost. None on this machine: the test is skipped (or fails under CI).
fn a_loopback_name_from_etc_hosts() -> Option<(String, IpAddr)> {
    let hosts = std::fs::read_to_string("/etc/hosts").ok()?;
    let entries: Vec<(IpAddr, Vec<&str>)> = hosts
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let ip = words.next()?.parse().ok()?;
            Some((ip, words.collect()))
        })
        .collect();
    let own = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    [own.trim(), "ip6-localhost", "ip6-loopback"]
        .into_iter()
        .filter(|name| !name.is_empty() && *name != "localhost")
        .find_map(|name| {
            let ips: Vec<IpAddr> = entries
                .iter()
                .filter(|(_, names)| names.contains(&name))
                .map(|(ip, _)| *ip)
                .collect();
            let loopback_only = !ips.is_empty() && ips.iter().all(IpAddr::is_loopback);
            loopback_only.then(|| (name.to_string(), ips[0]))
        })
}

#[test]
fn a_name_from_etc_hosts() {
    let found = a_loopback_name_from_etc_hosts();
    let what = "a name other than localhost that /etc/hosts maps to loopback only";
    let Some((name, ip)) = found else {
        require(false, "a_name_from_etc_hosts", what);
        return;
    };
    let server = Server::start_on(&SocketAddr::new(ip, 0).to_string(), |_| ok());
    let port = server.port();
    let run = probe(&["-v", &format!("http://{name}:{port}/")]);
    assert_eq!(run.code, 0, "{name}: {run:?}");
    assert!(
        run.stdout.contains(&format!("from {} in ", server.addr)),
        "{run:?}"
    );
    assert!(
        run.stderr.contains(&format!("resolved {name} to ")),
        "{run:?}"
    );
}
