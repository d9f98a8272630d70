#!/usr/bin/env bash
# Builds the static release binary and prints its path. Here that is glibc with crt-static
# (the musl target cannot be installed on this machine); users build musl in
# Dockerfile.example. Usage: scripts/build-static.sh [CARGO FEATURES]
# The default build lands at target/x86_64-unknown-linux-gnu/release/healthprobe; a build
# with features gets a target dir of its own (target/static-FEATURES/...), so that neither
# overwrites the other whatever order they are built in.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
target_dir=target
features=()
if [[ -n "${1:-}" ]]; then
    features=(--features "$1")
    target_dir="target/static-${1//[^a-zA-Z0-9_]/-}"
fi
# relocation-model=static: a non-PIE executable skips self-relocation at start-up.
RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" \
    cargo build --quiet --release --target "$target" --target-dir "$target_dir" "${features[@]}"
echo "$target_dir/$target/release/healthprobe"
