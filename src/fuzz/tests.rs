//! The fuzz targets on stable: every body over its committed seeds (fuzz/seeds/NAME,
//! regression inputs included), then over seeded random inputs, half of them seeds with
//! a few bytes changed. The seed is fixed and printed, so a failure replays.

use std::fs;
use std::path::PathBuf;

use super::{TARGETS, run};

/// The random inputs' seed; FUZZ_SEED=N runs another set.
const SEED: u64 = 0x4845_414c_5448;
/// Random inputs per target (fewer for http, which goes over loopback).
const RANDOM_INPUTS: usize = 3000;
const RANDOM_HTTP: usize = 300;

fn seeds(name: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(name);
    let mut files: Vec<PathBuf> = match fs::read_dir(&dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => panic!(
            "no seeds for the fuzz target {name} in {}: {e}",
            dir.display()
        ),
    };
    files.sort();
    files
        .iter()
        .map(|path| fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

/// splitmix64: small, and the same everywhere.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn input(&mut self, seeds: &[Vec<u8>]) -> Vec<u8> {
        if self.next() % 2 == 0 || seeds.is_empty() {
            let length = self.below(600);
            return (0..length).map(|_| self.next() as u8).collect();
        }
        let mut input = seeds[self.below(seeds.len())].clone();
        for _ in 0..1 + self.below(4) {
            match self.below(3) {
                0 if !input.is_empty() => {
                    let at = self.below(input.len());
                    input[at] = self.next() as u8;
                }
                1 if !input.is_empty() => {
                    input.truncate(self.below(input.len()));
                }
                _ => {
                    let at = self.below(input.len() + 1);
                    input.insert(at, self.next() as u8);
                }
            }
        }
        input
    }
}

#[test]
fn every_target_has_seeds_and_a_fuzz_target_file() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (name, _) in TARGETS {
        assert!(!seeds(name).is_empty(), "fuzz/seeds/{name} is empty");
        let file = root.join("fuzz_targets").join(format!("{name}.rs"));
        assert!(file.exists(), "{} is missing", file.display());
    }
}

#[test]
fn every_target_takes_its_seeds() {
    for (name, body) in TARGETS {
        for (index, input) in seeds(name).iter().enumerate() {
            println!("{name}: seed {index}");
            body(input);
        }
    }
}

#[test]
fn every_target_takes_seeded_random_inputs() {
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(SEED);
    println!("random inputs from seed {seed} (FUZZ_SEED=N for another set)");
    for (name, _) in TARGETS {
        let seeds = seeds(name);
        let mut random = Random(seed);
        let count = if *name == "http" {
            RANDOM_HTTP
        } else {
            RANDOM_INPUTS
        };
        for index in 0..count {
            let input = random.input(&seeds);
            if let Err(panic) = std::panic::catch_unwind(|| run(name, &input)) {
                eprintln!("{name}: random input {index} (seed {seed}) failed: {input:?}");
                std::panic::resume_unwind(panic);
            }
        }
    }
}

/// The seeds stand for what they are named after: the replies of a healthy server (built
/// from the protocols' documents, or recorded) are judged healthy, so the fuzzer starts
/// from real conversations, not from the first error.
#[test]
fn the_seeds_of_healthy_servers_are_judged_healthy() {
    let healthy = [
        ("grpc", "serving-huffman-00"),
        ("grpc", "serving-literal-40"),
        ("grpc", "recorded-serving-fd"),
        ("postgres", "auth-ok-00"),
        ("postgres", "recorded-trust-40"),
        ("redis", "pong-fd"),
        ("redis", "recorded-pong-00"),
        ("mysql", "mysql-8-00"),
        ("mysql", "recorded-mariadb-40"),
        ("memcached", "recorded-version-00"),
        ("nats", "recorded-info-00"),
        ("mqtt", "recorded-connack-40"),
        ("fcgi", "ok-00"),
        ("fcgi", "recorded-ping-00"),
        ("amqp", "rabbitmq-00"),
        ("amqp", "recorded-rabbitmq-fd"),
        ("http", "200-0"),
        ("http", "chunked-1"),
    ];
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for (name, seed) in healthy {
        let path = dir.join(name).join(seed);
        let input = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let line = run(name, &input).unwrap_or_default();
        assert!(line.starts_with("healthy: "), "{name}/{seed}: {line}");
    }
}

/// RFC 7541 C.4.1-C.4.3 on one decoder: Huffman strings, then the dynamic table.
#[test]
fn the_hpack_seeds_decode_as_the_rfc_says() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/hpack");
    let mut decoder = crate::probe::grpc::hpack::Decoder::new(4096);
    let mut authorities = Vec::new();
    for seed in ["rfc7541-c4-1", "rfc7541-c4-2", "rfc7541-c4-3"] {
        let input = fs::read(dir.join(seed)).unwrap_or_default();
        let fields = decoder.decode(&input[1..], 16 * 1024);
        let fields = fields.unwrap_or_else(|e| panic!("{seed}: {e}"));
        for (name, value) in fields {
            if name == b":authority" {
                authorities.push(String::from_utf8_lossy(&value).into_owned());
            }
        }
    }
    assert_eq!(authorities, ["www.example.com"; 3]);
}

/// The redis target's first crash was its oracle's: a server that says "s3cr3t-Pa55"
/// to a URL without a password shows no secret. With the password in the URL it is one.
#[test]
fn the_secret_oracle_holds_the_urls_password_only() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds/redis/crash-server-says-the-password-unasked");
    let input = fs::read(&path).unwrap_or_default();
    let line = run("redis", &input).unwrap_or_default();
    assert!(line.contains("s3cr3t-Pa55"), "{line}");
    let with = crate::target::Target::parse("redis://:s3cr3t-Pa55@h", crate::probe::KINDS);
    let with = with.unwrap_or_else(|e| panic!("{e}"));
    let leak = std::panic::catch_unwind(|| super::check_secret("said s3cr3t-Pa55", &with));
    assert!(leak.is_err(), "a password in the line went unnoticed");
}
