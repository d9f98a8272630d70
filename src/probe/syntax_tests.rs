//! Target::parse and redact with the real table: each kind's syntax, as its file wrote it.

use super::KINDS;
use crate::target::{Secret, Target, redact};

fn parse(text: &str) -> Target {
    Target::parse(text, KINDS).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn database_schemes_take_credentials_and_default_ports() {
    let target = parse("postgres://app:pa%3Ass@db/orders?sslmode=disable");
    assert_eq!(target.scheme, "postgres");
    assert_eq!((target.host.as_str(), target.port), ("db", 5432));
    assert_eq!(target.user.as_deref(), Some("app"));
    assert_eq!(target.password.as_ref().map(Secret::expose), Some("pa:ss"));
    assert_eq!(target.database.as_deref(), Some("orders"));
    assert_eq!(target.text, "postgres://***@db/orders?sslmode=disable");
    assert_eq!(parse("postgresql://[::1]").port, 5432);
    assert_eq!(parse("mysql://db").port, 3306);
    assert_eq!(parse("redis://cache/0").port, 6379);
}

#[test]
fn a_password_may_hold_what_base64_does_unencoded() {
    let target = parse("redis://:a/b+c=@d#e@localhost:6380");
    assert_eq!(
        target.password.as_ref().map(Secret::expose),
        Some("a/b+c=@d#e")
    );
    assert_eq!((target.host.as_str(), target.port), ("localhost", 6380));
    assert_eq!(target.text, "redis://***@localhost:6380");
    // A '%' that does not start an escape is kept.
    let target = parse("redis://:100%@localhost");
    assert_eq!(target.password.as_ref().map(Secret::expose), Some("100%"));
}

#[test]
fn redis_reads_a_lone_word_as_the_password_and_others_as_the_user() {
    let redis = parse("redis://s3cret@localhost");
    assert_eq!(redis.user, None);
    assert_eq!(redis.password.as_ref().map(Secret::expose), Some("s3cret"));
    assert_eq!(redis.text, "redis://***@localhost");
    let postgres = parse("postgres://app@localhost");
    assert_eq!(postgres.user.as_deref(), Some("app"));
    assert_eq!(postgres.password, None);
    assert_eq!(postgres.text, "postgres://***@localhost");
    // An empty password is none: ${REDIS_PASSWORD:-} may well be empty.
    assert_eq!(parse("redis://:@localhost").password, None);
}

#[test]
fn passwords_never_show_in_debug_output() {
    let target = parse("redis://user:hunter2@localhost");
    assert!(!format!("{target:?}").contains("hunter2"));
}

#[test]
fn http_and_tcp_still_refuse_credentials() {
    for text in [
        "http://user:hunter2@localhost/",
        "tcp://user:hunter2@localhost:1",
    ] {
        let error = Target::parse(text, KINDS).unwrap_err().to_string();
        assert!(error.contains("credentials"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }
}

#[test]
fn bad_database_urls_are_refused() {
    for text in [
        "redis://localhost/zero",
        "postgres://a%00b@localhost",
        "postgres://localhost/%FF",
        "mysql://:pw@",
    ] {
        assert!(Target::parse(text, KINDS).is_err(), "{text}");
    }
}

#[test]
fn redact_masks_all_userinfo_in_anything_target_shaped() {
    for (text, shown) in [
        ("redis://:pw@a", "redis://***@a"),
        ("redis://user@a", "redis://***@a"),
        ("http://ghp_token@host/", "http://***@host/"),
        ("http://u:p/w?x#y@host/", "http://***@host/"),
        ("tcp://u:p#w@host:1", "tcp://***@host:1"),
        ("redis:/:pw@host", "redis:/***@host"),
        ("redis//:pw@host", "redis//***@host"),
        ("redis::pw@host", "redis:***@host"),
        ("u:pw@host", "***@host"),
        ("redis://:pass word@a", "redis://***@a"),
        // Too much rather than too little: an '@' in a path hides it.
        ("http://host/a@b:c", "http://***@b:c"),
        ("http://host/a", "http://host/a"),
    ] {
        assert_eq!(redact(text, KINDS), shown, "{text}");
    }
}

#[test]
fn a_grpc_token_in_the_url_is_masked() {
    assert_eq!(
        redact("grpc://token@host:50051", KINDS),
        "grpc://***@host:50051"
    );
    assert_eq!(
        redact("grpcs://u:pw@host:443", KINDS),
        "grpcs://***@host:443"
    );
    // Still refused, and the error shows it masked.
    let error = Target::parse("grpc://token@host:50051", KINDS)
        .unwrap_err()
        .to_string();
    assert!(error.contains("credentials"), "{error}");
    assert!(!error.contains("token"), "{error}");
}

#[test]
fn a_query_from_a_variable_shows_as_dots() {
    let shown = |text, written| {
        Target::parse_written(text, written, KINDS)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .text
    };
    assert_eq!(
        shown("http://h:81/p?key=s3cret", "http://h:${PORT}/p?key=${KEY}"),
        "http://h:81/p?..."
    );
    assert_eq!(
        shown("http://h:81/p?a=1#f", "http://h:${PORT}/p?a=1#f"),
        "http://h:81/p?a=1#f"
    );
    assert_eq!(shown("http://h/p?s3cret", "${URL}"), "http://h/p?...");
    assert_eq!(
        shown("http://h/p#s3cret", "http://h/p#${F}"),
        "http://h/p#..."
    );
    assert_eq!(
        shown(
            "postgres://u:pw@db/x?sslmode=disable",
            "postgres://u:${PW}@db/x?sslmode=disable"
        ),
        "postgres://***@db/x?sslmode=disable"
    );
}

#[test]
fn a_url_from_a_server_is_quoted_without_userinfo_query_or_fragment() {
    use crate::target::quote_url;
    for (location, quoted) in [
        (
            "https://u:pw@idp:8443/cb?code=s3cret&state=x#f",
            "https://***@idp:8443/cb?...",
        ),
        ("/login?access_token=s3cret", "/login?..."),
        ("http://other/p#frag", "http://other/p"),
        ("//u:p/w?@other/x", "//***@other/x"),
    ] {
        assert_eq!(quote_url(location, KINDS), quoted, "{location}");
    }
}
