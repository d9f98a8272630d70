#!/usr/bin/env bash
# Builds the x86_64 musl binary a second time, from a copy of the checkout in another
# directory, with another cargo home and another target dir, and fails unless both files
# are byte for byte the same (the paths that reach the binary are remapped by
# scripts/build-static.sh). Usage: scripts/check-reproducible.sh [FEATURES]
set -euo pipefail
checkout=$(cd "$(dirname "$0")/.." && pwd)
features=${1:-}
first=$("$checkout/scripts/build-static.sh" $features)

work=$(mktemp -d /tmp/healthprobe-repro.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/elsewhere/checkout" "$work/cargo-home"
# The checkout as it is (tracked files, with their edits), in another directory.
git -C "$checkout" ls-files -z | tar -C "$checkout" --null -T - -c | tar -C "$work/elsewhere/checkout" -x
# Another cargo home, holding the same downloaded sources (under another path).
cargo_home=${CARGO_HOME:-$HOME/.cargo}
[[ -d $cargo_home/registry ]] && ln -s "$cargo_home/registry" "$work/cargo-home/registry"
second=$(CARGO_HOME=$work/cargo-home CARGO_TARGET_DIR=$work/target \
    "$work/elsewhere/checkout/scripts/build-static.sh" $features)
if ! cmp "$first" "$second"; then
    echo "check-reproducible: $first and $second differ" >&2
    exit 1
fi
echo "check-reproducible: the same $(stat -c %s "$first") bytes from $checkout and from $work/elsewhere/checkout (sha256 $(sha256sum <"$first" | cut -c1-16))"
