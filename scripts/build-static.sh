#!/usr/bin/env bash
# Builds the static release binary and prints its path. Here that is glibc with crt-static
# (the musl target cannot be installed on this machine); users build musl in
# Dockerfile.example. Honours CARGO_TARGET_DIR; KEEP_SYMBOLS=1 skips the final strip
# (for profiles: the code and layout are the same).
# Usage: scripts/build-static.sh [CARGO FEATURES]
#        scripts/build-static.sh --rustflags   prints the flags (CARGO_ENCODED_RUSTFLAGS
#                                               form), for a build to compare with
# The default build lands at target/x86_64-unknown-linux-gnu/release/healthprobe; a build
# with features gets a target dir of its own (target/static-FEATURES/...), so that neither
# overwrites the other whatever order they are built in.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
target_dir=${CARGO_TARGET_DIR:-target}
[[ $target_dir == /* ]] || target_dir=$PWD/$target_dir

flags=(
    # One file, no loader, no shared library: it runs in an empty image.
    -C target-feature=+crt-static
    # A non-PIE executable skips static-pie self-relocation at start-up (~32k instructions).
    -C relocation-model=static
)
# The functions a probe runs, laid out together (made by bench/layout.sh), so that a probe
# maps fewer pages of the binary: the kernel maps file pages 64 KiB around each fault.
# Names that no longer exist after a code change are skipped: regenerate, nothing breaks.
# lld only (rustc's default linker here since 1.90); other linkers build without it.
rustc_minor=$(rustc -V | sed -E 's/^rustc 1\.([0-9]+).*/\1/')
if [[ -f scripts/hot-symbols.txt && $rustc_minor -ge 90 ]]; then
    # A copy named by its hash: a new list is a new flag, so cargo relinks.
    hash=$(sha256sum scripts/hot-symbols.txt | cut -c1-16)
    layout=$target_dir/hot-symbols-$hash.txt
    mkdir -p "$target_dir"
    [[ -f $layout ]] || cp scripts/hot-symbols.txt "$layout"
    # The linker places only the functions whose symbols it keeps, and LTO leaves nearly
    # all Rust functions local: the symbols go after the link (strip below), not during.
    flags+=(-C "link-arg=-Wl,--symbol-ordering-file=$layout"
        -C link-arg=-Wl,--no-warn-symbol-ordering -C strip=none)
fi
encoded=$(IFS=$'\x1f'; echo "${flags[*]}")

if [[ ${1:-} == --rustflags ]]; then
    echo "$encoded"
    exit 0
fi
features=()
if [[ -n "${1:-}" ]]; then
    features=(--features "$1")
    target_dir="$target_dir/static-${1//[^a-zA-Z0-9_]/-}"
fi
CARGO_ENCODED_RUSTFLAGS="$encoded" \
    cargo build --quiet --release --target "$target" --target-dir "$target_dir" "${features[@]}"
binary=$target_dir/$target/release/healthprobe
if [[ ${KEEP_SYMBOLS:-} != 1 ]]; then
    # Into a copy, then renamed: a test running the binary meanwhile never sees half a file.
    strip -o "$binary.stripping.$$" "$binary"
    mv -f "$binary.stripping.$$" "$binary"
fi
echo "$binary"
