#!/usr/bin/env bash
# Builds the static release binary and prints its path. Here that is glibc with crt-static
# (the musl target cannot be installed on this machine); users build musl in
# Dockerfile.example. Usage: scripts/build-static.sh [CARGO FEATURES]
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
features=()
if [[ -n "${1:-}" ]]; then features=(--features "$1"); fi
# relocation-model=static: a non-PIE executable skips self-relocation at start-up.
RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" \
    cargo build --quiet --release --target "$target" "${features[@]}"
echo "target/$target/release/healthprobe"
