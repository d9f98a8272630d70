//! Hostile or broken replies: each ends in one clear line and exit 1 (or 0 where the
//! reply is a fine answer despite its size), within the deadline and with bounded
//! memory, whatever the server sends; nothing it sends reaches the output raw.

use crate::common::*;

use std::time::Duration;

/// Peak resident memory allowed to a probe, however hostile the server: generous, since
/// the point is "bounded", not "small" (the benchmark measures small).
const MAX_RSS_KIB: u64 = 20 * 1024;

struct Hostile {
    name: &'static str,
    reply: Reply,
    extra: &'static [&'static str],
    code: i32,
    /// Expected in the line (stdout when healthy, stderr otherwise).
    text: &'static str,
}

fn hostile(name: &'static str, reply: Reply, code: i32, text: &'static str) -> Hostile {
    Hostile {
        name,
        reply,
        extra: &[],
        code,
        text,
    }
}

fn bytes(text: &[u8]) -> Reply {
    Reply::Bytes(text.to_vec())
}

fn big_header() -> Reply {
    let mut head = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
    head.extend(vec![b'a'; 100 * 1024]);
    head.extend(b"\r\nContent-Length: 0\r\n\r\n");
    Reply::Bytes(head)
}

fn many_headers() -> Reply {
    let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
    for n in 0..500 {
        head.extend(format!("X-{n}: 1\r\n").bytes());
    }
    head.extend(b"Content-Length: 0\r\n\r\n");
    Reply::Bytes(head)
}

fn cases() -> Vec<Hostile> {
    vec![
        hostile("not HTTP: binary", Reply::Bytes((0..=255).collect()), 1, "not a valid HTTP response"),
        hostile("not HTTP: a blank line", bytes(b"\r\n\r\n"), 1, "connection closed by the server"),
        hostile("not HTTP: SMTP banner", bytes(b"220 mail ESMTP\r\n"), 1, "not a valid HTTP response"),
        hostile("bad status: word", bytes(b"HTTP/1.1 abc OK\r\n\r\n"), 1, "not a valid HTTP response"),
        hostile("bad status: 2000", bytes(b"HTTP/1.1 2000 OK\r\n\r\n"), 1, "not a valid HTTP response"),
        hostile("bad status: 99", bytes(b"HTTP/1.1 99 Low\r\n\r\n"), 1, "not a valid HTTP response"),
        hostile("status 600", bytes(b"HTTP/1.1 600 High\r\n\r\n"), 1, "600 (expected 200-399)"),
        hostile("bad status: no space", bytes(b"HTTP/1.1200 OK\r\n\r\n"), 1, "not a valid HTTP response"),
        hostile("bad version", bytes(b"HTTP/9.9 200 OK\r\n\r\n"), 1, "not a valid HTTP response"),
        hostile("ICY", bytes(b"ICY 200 OK\r\n\r\n"), 1, "not a valid HTTP response"),
        hostile("header without a colon", bytes(b"HTTP/1.1 200 OK\r\nnonsense\r\n\r\n"), 1, "not a valid HTTP response"),
        hostile("a 100 KiB header line", big_header(), 1, "response headers larger than"),
        hostile("500 headers", many_headers(), 1, "not a valid HTTP response"),
        hostile(
            "reset in the middle of the headers",
            Reply::Reset(b"HTTP/1.1 200 OK\r\nContent-Ty".to_vec()),
            1,
            "by the server awaiting the response",
        ),
        hostile(
            "closed in the middle of the status line",
            bytes(b"HTTP/1.1 20"),
            1,
            "connection closed by the server awaiting the response",
        ),
        hostile(
            "a huge advertised body, not asked for",
            Reply::Stall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\nxx".to_vec()),
            0,
            "200 OK",
        ),
        Hostile {
            extra: &["--body-contains", "ready"],
            ..hostile(
                "a huge advertised body, streamed",
                Reply::Endless {
                    head: b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n".to_vec(),
                    repeat: vec![b'x'; 64 * 1024],
                },
                1,
                "\"ready\" is not in the first 10240 bytes",
            )
        },
        Hostile {
            extra: &["--body-contains", "ready"],
            ..hostile(
                "an endless chunked body",
                Reply::Endless {
                    head: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
                    repeat: [b"4000\r\n".as_slice(), &[b'x'; 0x4000], b"\r\n"].concat(),
                },
                1,
                "\"ready\" is not in the first 10240 bytes",
            )
        },
        Hostile {
            extra: &["--body-contains", "ready"],
            ..hostile(
                "a bad chunk size",
                bytes(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzzz\r\nready\r\n0\r\n\r\n"),
                1,
                "chunk length",
            )
        },
        hostile(
            "an absurd Content-Length",
            bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999999\r\n\r\n"),
            1,
            "not a valid HTTP response",
        ),
        hostile(
            "two different Content-Lengths",
            bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok"),
            1,
            "not a valid HTTP response",
        ),
        hostile(
            "a very long reason phrase",
            Reply::Bytes(
                [
                    b"HTTP/1.1 503 ".as_slice(),
                    &b"Everything is fine, really. ".repeat(100),
                    b"\r\nContent-Length: 0\r\n\r\n",
                ]
                .concat(),
            ),
            1,
            "503 Service Unavailable (expected 200-399)",
        ),
        hostile(
            "escapes in the reason phrase",
            Reply::Bytes(
                [
                    b"HTTP/1.1 503 \x1b[2J\x1b[31mALL GOOD\x07".as_slice(),
                    &[b'!'; 2000],
                    b"\r\nContent-Length: 0\r\n\r\n",
                ]
                .concat(),
            ),
            1,
            "not a valid HTTP response",
        ),
        hostile(
            "a hostile redirect elsewhere",
            Reply::Bytes(
                [
                    b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.2/\xc2\x9b31m\xe2\x80\xae".as_slice(),
                    &[b'/'; 3000],
                    b"\r\nContent-Length: 0\r\n\r\n",
                ]
                .concat(),
            ),
            0,
            "302 Found, redirect to http://127.0.0.2/?31m?//////",
        ),
    ]
}

#[test]
fn hostile_replies_end_in_one_clear_line_with_bounded_memory() {
    check_each(&cases(), |case| {
        let server = Server::start(case.reply.clone());
        let url = server.url("/health");
        let mut args = vec!["--timeout", "2s"];
        args.extend(case.extra);
        args.push(&url);
        let verdict = Verdict {
            code: case.code,
            says: case.text,
            within: Duration::from_secs(2) + LATE,
            max_rss_kib: MAX_RSS_KIB,
        };
        verdict.check(case.name, &args)
    });
}

#[test]
fn the_measurement_can_see_memory() {
    // A check that the bound above means something: GNU time reports the probe's own
    // resident memory, a few MiB, neither zero nor the test's.
    let server = Server::start(http("200 OK", &[], "ok"));
    let (run, rss) = probe_measured(&[&server.url("/")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!((500..MAX_RSS_KIB).contains(&rss), "{rss} KiB");
}

/// A response whose head holds `cookies` Set-Cookie headers of 4 KB each.
fn cookies(status: &str, cookies: usize) -> Reply {
    let mut head = format!("HTTP/1.1 {status}\r\n").into_bytes();
    for n in 0..cookies {
        head.extend(format!("Set-Cookie: s{n}={}\r\n", "c".repeat(4000)).bytes());
    }
    head.extend(b"Content-Length: 2\r\nConnection: close\r\n\r\nok");
    Reply::Bytes(head)
}

#[test]
fn heads_up_to_64_kib_are_judged_by_their_status() {
    // Three 4 KB session cookies are real; so is a 302 to an SSO login with a long query.
    let sso = format!("/login?return={}", "r".repeat(60_000));
    let verdict = |code, says| Verdict {
        code,
        says,
        within: Duration::from_secs(3),
        max_rss_kib: 16 * 1024,
    };
    let cases = [
        (
            "three 4 KB cookies",
            cookies("200 OK", 3),
            verdict(0, "200 OK"),
        ),
        (
            "63 KB of cookies",
            cookies("200 OK", 16),
            verdict(0, "200 OK"),
        ),
        (
            "63 KB of cookies on a 503",
            cookies("503 Service Unavailable", 16),
            verdict(1, "503 Service Unavailable (expected 200-399)"),
        ),
        (
            "a 60 KB redirect elsewhere",
            redirect("302 Found", &format!("http://sso.example{sso}")),
            verdict(
                0,
                "302 Found, redirect to http://sso.example/login?... not followed (another host)",
            ),
        ),
        (
            "over 64 KiB",
            cookies("200 OK", 17),
            verdict(1, "response headers larger than 65536 bytes"),
        ),
    ];
    check_each(&cases, |(name, reply, verdict)| {
        let server = Server::start(reply.clone());
        verdict.check(name, &["--timeout", "2s", &server.url("/")])
    });
}
