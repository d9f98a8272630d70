//! Target::parse and redact with the real table: each kind's syntax, as its file wrote it.

use super::KINDS;
use crate::target::{Secret, Target, Userinfo, redact};

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
    assert_eq!(target.text, "postgres://app:***@db/orders?sslmode=disable");
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
    assert_eq!(target.text, "redis://:***@localhost:6380");
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
    assert_eq!(postgres.text, "postgres://app@localhost");
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
fn redact_masks_passwords_in_anything_target_shaped() {
    assert_eq!(
        redact(
            "redis://:pw@a  http://u:pw@b/x@y rediss://pw@c mysql://u@d",
            KINDS
        ),
        "redis://:***@a  http://u:***@b/x@y rediss://***@c mysql://u@d"
    );
    assert_eq!(redact("http://host/a@b:c", KINDS), "http://host/a@b:c");
    assert_eq!(
        redact("redis://:pass word@a mysql://u:p@b", KINDS),
        "redis://:***@a mysql://u:***@b"
    );
}

#[test]
fn a_grpc_token_in_the_url_is_masked_as_a_password() {
    assert_eq!(
        redact("grpc://token@host:50051", KINDS),
        "grpc://***@host:50051"
    );
    assert_eq!(
        redact("grpcs://token@host:443", KINDS),
        "grpcs://***@host:443"
    );
    assert_eq!(
        redact("grpc://u:pw@host:50051", KINDS),
        "grpc://u:***@host:50051"
    );
    // Still refused, and the error shows it masked.
    let error = Target::parse("grpc://token@host:50051", KINDS)
        .unwrap_err()
        .to_string();
    assert!(error.contains("credentials"), "{error}");
    assert!(!error.contains("token"), "{error}");
}

#[test]
fn every_kind_masks_a_userinfo_at_least_as_its_parse_reads_it() {
    // A kind that takes credentials must mask them as it reads them; unknown schemes
    // are masked the strictest way.
    for kind in KINDS {
        let syntax = &kind.syntax;
        if syntax.userinfo == Userinfo::PasswordAlone {
            assert_eq!(syntax.mask, Userinfo::PasswordAlone, "{kind:?}");
        }
        if syntax.userinfo == Userinfo::UserPassword {
            assert_ne!(syntax.mask, Userinfo::Refused, "{kind:?}");
        }
    }
    assert_eq!(redact("memcached://pw@host", KINDS), "memcached://***@host");
}
