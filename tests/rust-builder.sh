#!/usr/bin/env bash
# Makes a local stand-in for the official rust:1.xx-slim-bookworm image, for tests/dockerfile.rs:
# no image can be pulled here, so Dockerfile.example's builder is passed this one instead
# (--build-arg RUST_IMAGE=...). Prints the image's tag.
#
# What it holds, laid out as the official image lays it out: Debian bookworm (debootstrap
# minbase) with gcc, libc6-dev and ca-certificates; this machine's rustup and its stable
# toolchain with the two musl targets in /usr/local/rustup, cargo's home in /usr/local/cargo;
# and, unlike the official image, the registry cache of this machine's cargo home with
# CARGO_NET_OFFLINE=true, so that the build runs offline (the crates it needs are those of
# Cargo.lock and of `cargo install cargo-auditable`, all fetched here before).
#
# The tag is a hash of what the build takes from it (this script, the toolchain's version and
# targets, Cargo.lock), so a second run finds the image and returns at once; not of the whole
# registry cache, which every other cargo command on the machine may add to. A new tag
# replaces the older ones (1.4 GB each). debootstrap's downloads are kept in
# /var/cache/healthprobe/debootstrap.
set -euo pipefail

cargo_home="${CARGO_HOME:-$HOME/.cargo}"
rustup_home="${RUSTUP_HOME:-$HOME/.rustup}"
toolchain="$(rustup run stable rustc -vV | sed -n 's/^host: //p')"
toolchain="stable-$toolchain"
toolchain_dir="$rustup_home/toolchains/$toolchain"
targets=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl)

for target in "${targets[@]}"; do
    if [ ! -d "$toolchain_dir/lib/rustlib/$target" ]; then
        rustup target add --toolchain stable "$target" >&2
    fi
done

tag="healthprobe-rust-builder:$(
    {
        cat "${BASH_SOURCE[0]}"
        rustup run stable rustc -vV
        rustup run stable cargo -V
        cat "$toolchain_dir/lib/rustlib/components"
        cat "$(dirname "${BASH_SOURCE[0]}")/../Cargo.lock"
    } | sha256sum | cut -c1-16
)"
if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "$tag"
    exit 0
fi

work="$(mktemp -d /var/tmp/hp-rust-builder.XXXXXX)"
trap 'rm -rf "$work"' EXIT
root="$work/root"
debs=/var/cache/healthprobe/debootstrap
mkdir -p "$debs"

# The packages the official slim image installs besides rustup (its wget only fetched rustup).
echo "rust-builder.sh: debootstrap bookworm into $root" >&2
debootstrap --variant=minbase --cache-dir="$debs" --include=ca-certificates,gcc,libc6-dev \
    bookworm "$root" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

# The toolchain without its documentation (800 MB that no build reads).
mkdir -p "$root/usr/local/rustup/toolchains" "$root/usr/local/cargo/bin"
tar -C "$rustup_home/toolchains" --exclude="$toolchain/share/doc" -cf - "$toolchain" \
    | tar -C "$root/usr/local/rustup/toolchains" -xf -
printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "minimal"\n' "$toolchain" \
    >"$root/usr/local/rustup/settings.toml"
# rustup and its proxies, as rustup-init installs them.
cp "$(command -v rustup)" "$root/usr/local/cargo/bin/rustup"
for proxy in cargo rustc rustdoc cargo-clippy clippy-driver cargo-fmt rustfmt; do
    ln -s rustup "$root/usr/local/cargo/bin/$proxy"
done
# The registry's downloaded crates and index entries; cargo unpacks the sources itself.
mkdir -p "$root/usr/local/cargo/registry"
cp -a "$cargo_home/registry/cache" "$cargo_home/registry/index" "$root/usr/local/cargo/registry/"

echo "rust-builder.sh: docker import $tag" >&2
tar -C "$root" -cf - . | docker import \
    --change 'ENV RUSTUP_HOME=/usr/local/rustup' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV CARGO_NET_OFFLINE=true' \
    - "$tag" >/dev/null
docker image ls --format '{{.Repository}}:{{.Tag}}' healthprobe-rust-builder \
    | grep -vx "$tag" | xargs -r docker rmi >/dev/null 2>&1 || true
echo "$tag"
