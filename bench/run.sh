#!/usr/bin/env bash
# The cost of one health probe: healthprobe next to the tools it replaces (python3 urllib,
# node http.get, curl, GNU wget, static busybox wget, nc -z) and the floor (a minimal static
# C probe, bench/floor.c, and /bin/true), side by side in one run against nginx on
# loopback. Writes the tables to BENCHMARKS.md (the newest run first) and prints whether
# healthprobe meets its targets. Takes 5 to 10 minutes; not part of CI.
#
# Usage: bench/run.sh [--runs N] [--output FILE]
#   --runs N       wall-time runs per command (default 210, at least 100)
#   --output FILE  where the tables go (default BENCHMARKS.md)
# On a fresh Debian machine it installs what it needs with apt-get (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

command="bench/run.sh${*:+ $*}"
runs=210
output=BENCHMARKS.md
while (($#)); do
    case $1 in
    --runs) runs=$2; shift 2 ;;
    --output) output=$2; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "bench: unknown argument '$1' (see bench/run.sh --help)" >&2; exit 64 ;;
    esac
done
if ((runs < 100)); then
    echo "bench: --runs must be at least 100" >&2
    exit 64
fi

bench_install
work=$(mktemp -d /tmp/hp-bench.XXXXXX)
trap 'bench_stop_nginx; rm -rf "$work"' EXIT

echo "bench: building" >&2
healthprobe=$(scripts/build-static.sh)
symbols=$(bench_build_symbols)
if readelf -d "$healthprobe" | grep -qE 'NEEDED|INTERP' ||
    readelf -l "$healthprobe" | grep -q INTERP; then
    echo "bench: $healthprobe is not static" >&2
    exit 1
fi
gcc -static -O2 -o "$work/floor" bench/floor.c

# A "hello world" built with the same profile (copied from Cargo.toml) and the same flags.
mkdir -p "$work/hello/src"
{
    printf '[package]\nname = "hello"\nversion = "0.1.0"\nedition = "2024"\n\n'
    sed -n '/^\[profile\.release\]/,/^\[/{/^\[profile\.release\]/p;/^\[/!p}' Cargo.toml
} >"$work/hello/Cargo.toml"
echo 'fn main() { println!("hello world"); }' >"$work/hello/src/main.rs"
CARGO_ENCODED_RUSTFLAGS=$(scripts/build-static.sh --rustflags) CARGO_TARGET_DIR="$work/hello/target" \
    cargo build --quiet --release --target x86_64-unknown-linux-gnu \
    --manifest-path "$work/hello/Cargo.toml"
hello_symbols=$work/hello/target/x86_64-unknown-linux-gnu/release/hello
cp "$hello_symbols" "$work/hello-static"
strip "$work/hello-static"

# Measured from copies in the work folder, as a fresh image would hold them.
cp "$healthprobe" "$work/healthprobe"

port=$(bench_free_port)
closed=$(bench_free_port)
bench_start_nginx "$work/nginx" "$port"

"${BENCH_ENV[@]}" python3 bench/measure.py \
    --healthprobe "$work/healthprobe" --symbols "$symbols" --floor "$work/floor" \
    --hello "$work/hello-static" --hello-symbols "$hello_symbols" \
    --port "$port" --closed "$closed" --nginx-pid "$NGINX_PID" --runs "$runs" \
    --output "$output" --command "$command" --rustc "$(rustc -V)" \
    --server "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') (Debian nginx-light), one worker, no logging, /health answered from memory"
