#!/usr/bin/env bash
# Builds the static release binary and prints its path: the file users ship.
#
# Usage: scripts/build-static.sh [--target TRIPLE] [--small] [CARGO FEATURES]
#   TRIPLE  x86_64-unknown-linux-musl (default: what Dockerfile.example builds),
#           aarch64-unknown-linux-musl, or x86_64-unknown-linux-gnu (glibc, crt-static)
#   --small the opt-in smaller build: std built from source without its backtrace
#           feature (-Z build-std=std,panic_abort -Z build-std-features=), which drops
#           the panic-time symbolizer (gimli, addr2line, miniz: ~310 KB of the musl
#           binary). Needs RUSTC_BOOTSTRAP=1 on stable Rust (set here) and rustup's
#           rust-src (added when missing); built in its own directory (...-small).
#   e.g.    scripts/build-static.sh tls
#           scripts/build-static.sh --target aarch64-unknown-linux-musl
#           scripts/build-static.sh --small
#        scripts/build-static.sh --rustflags   prints the glibc build's flags
#                                               (CARGO_ENCODED_RUSTFLAGS form), for a
#                                               build to compare with (bench/run.sh)
# Environment:
#   CARGO_TARGET_DIR  where to build; default /var/cache/healthprobe/TRIPLE[-FEATURES]
#                     (outside the checkout, so that a fresh clone, as in CI, reuses the
#                     std built for musl) or target/static/... when that is not writable
#   KEEP_SYMBOLS=1    keep the symbol table (profiles, cargo-bloat): same code, other
#                     metadata hashes
#   BUILD_STD=1       build std from Debian's rust-web-src even where rustup has the target
#   AUDITABLE=0       build without `cargo auditable`. By default the musl builds embed
#                     the dependency list as vulnerability scanners read it (section
#                     .dep-v0, zlib-compressed JSON; +336 bytes); cargo-auditable is
#                     installed from crates.io when missing.
#
# The artifact's own flags (relocation-model=static, crt-static) are in .cargo/config.toml,
# so a plain `cargo build --release --target ...-musl` gets them too. This script adds
# only what depends on the machine: the remapped cargo home and build paths (the same
# bytes from any checkout and any CARGO_HOME) and, where rustup cannot install the musl
# target (no download here), Debian's Rust building std itself (build-std).
set -euo pipefail
checkout=$(cd "$(dirname "$0")/.." && pwd)
cd "$checkout"

static_flags=(-C target-feature=+crt-static -C relocation-model=static)
target=x86_64-unknown-linux-musl
features=
small=
while (($#)); do
    case $1 in
    --rustflags)
        (IFS=$'\x1f'; echo "${static_flags[*]}")
        exit 0
        ;;
    --target) target=${2:?--target needs a triple}; shift 2 ;;
    --target=*) target=${1#--target=}; shift ;;
    --small) small=1; shift ;;
    -*) echo "build-static: unknown option $1" >&2; exit 64 ;;
    *) features=$1; shift ;;
    esac
done
case $target in
x86_64-unknown-linux-musl) arch=x86_64 debarch=amd64 cc=gcc ;;
aarch64-unknown-linux-musl) arch=aarch64 debarch=arm64 cc=aarch64-linux-gnu-gcc ;;
x86_64-unknown-linux-gnu) arch=x86_64 debarch=amd64 cc=gcc ;;
*) echo "build-static: unsupported target $target" >&2; exit 64 ;;
esac
target_env=${target//-/_}
log() { echo "build-static: $*" >&2; }

# Installs the Debian packages that are missing (and the arm64 architecture if asked).
need_packages() {
    local missing=() package
    for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    ((${#missing[@]})) || return 0
    log "installing ${missing[*]}"
    if [[ $debarch == arm64 ]] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
        dpkg --add-architecture arm64
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=900 update -qq >&2
    apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >&2
}

suffix=${features:+-${features//[^a-zA-Z0-9_]/-}}${small:+-small}
if [[ -n ${CARGO_TARGET_DIR:-} ]]; then
    target_dir=$CARGO_TARGET_DIR
    [[ $target_dir == /* ]] || target_dir=$checkout/$target_dir
    target_dir=$target_dir/static/$target$suffix
elif mkdir -p /var/cache/healthprobe 2>/dev/null && [[ -w /var/cache/healthprobe ]]; then
    target_dir=/var/cache/healthprobe/$target$suffix
else
    target_dir=$checkout/target/static/$target$suffix
fi
mkdir -p "$target_dir"

cargo_home=${CARGO_HOME:-$HOME/.cargo}
# Paths that reach the binary (panic locations): the dependencies' sources under the
# cargo home, build-script output under the target dir (and std's own sources, below, once
# the toolchain is chosen). Named the same on every machine.
# rustc applies the last prefix that matches: the checkout first, as the others may be in it.
flags=("--remap-path-prefix=$checkout=/src" "--remap-path-prefix=$cargo_home=/cargo"
    "--remap-path-prefix=$target_dir=/target")
[[ $target == *-gnu ]] && flags+=("${static_flags[@]}")
cargo=(cargo)
build_args=(--release --locked --target "$target" --target-dir "$target_dir")
[[ -n $features ]] && build_args+=(--features "$features")
build_env=()
[[ ${KEEP_SYMBOLS:-} == 1 ]] && build_env+=(CARGO_PROFILE_RELEASE_STRIP=false)

if [[ $target == *-musl && ${BUILD_STD:-} != 1 ]] && command -v rustup >/dev/null &&
    { rustup target list --installed 2>/dev/null | grep -qx "$target" ||
        timeout 120 rustup target add "$target" >/dev/null 2>&1; }; then
    log "$target from rustup"
    if [[ $arch == aarch64 ]]; then
        need_packages gcc-aarch64-linux-gnu
        build_env+=("CARGO_TARGET_${target_env^^}_LINKER=$cc")
    fi
    # ring (tls) compiles C for the target: against musl's headers, as below.
    if [[ $features == *tls* ]]; then
        if [[ $arch == x86_64 ]]; then need_packages musl-tools; else need_packages "musl-dev:$debarch"; fi
        ring_cc=1
    fi
elif [[ $target == *-musl ]]; then
    # rustup has no musl std here: Debian's Rust builds it (RUSTC_BOOTSTRAP=1 for the
    # unstable -Z build-std), linked by gcc against Debian's musl in rustc's
    # "self-contained" mode, which finds its C start files and libunwind.a in
    # <sysroot>/lib/rustlib/TRIPLE/lib/self-contained (what rustup's rust-std would ship).
    packages=(rustc-web cargo-web rust-web-src gcc "musl-dev:$debarch")
    if [[ $arch == x86_64 ]]; then
        packages+=(musl-tools libunwind-22-dev)
    else
        packages+=(gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu)
    fi
    need_packages "${packages[@]}"
    debian_rustc=$(dpkg -L rustc-web | grep -m1 '/bin/rustc$')
    debian_cargo=$(dpkg -L cargo-web | grep -m1 '/bin/cargo$')

    sysroot=$target_dir/sysroot
    self_contained=$sysroot/lib/rustlib/$target/lib/self-contained
    mkdir -p "$self_contained"
    musl_lib=$(dirname "$(dpkg -L "musl-dev:$debarch" | grep -m1 '/rcrt1\.o$')")
    for object in crt1.o rcrt1.o Scrt1.o crti.o crtn.o libc.a; do
        ln -sfn "$musl_lib/$object" "$self_contained/$object"
    done
    for object in crtbegin.o crtbeginS.o crtend.o crtendS.o; do
        ln -sfn "$("$cc" -print-file-name="$object")" "$self_contained/$object"
    done
    if [[ ! -f $self_contained/libunwind.a ]]; then
        # std's unwind crate links -lunwind: LLVM's, as rustup ships (gcc's libgcc_eh
        # calls glibc's _dl_find_object). The arm64 package cannot be installed next to
        # the amd64 one (not Multi-Arch): its archive is unpacked here instead.
        if [[ $arch == x86_64 ]]; then
            unwind=$(dpkg -L libunwind-22-dev | grep -m1 '/libunwind\.a$')
        else
            (cd "$sysroot" && apt-get download -qq libunwind-22-dev:arm64 >&2)
            dpkg-deb -x "$sysroot"/libunwind-22-dev_*_arm64.deb "$sysroot/unwind"
            unwind=$(find "$sysroot/unwind" -name libunwind.a -type f | head -1)
        fi
        # Debian compiled it with _FORTIFY_SOURCE: its logging calls glibc's
        # __fprintf_chk, which musl lacks. One forwarder to vfprintf.
        printf '%s\n' 'typedef struct _IO_FILE FILE;' \
            'int vfprintf(FILE *, const char *, __builtin_va_list);' \
            'int __fprintf_chk(FILE *f, int flag, const char *format, ...) {' \
            '    (void)flag; __builtin_va_list args; __builtin_va_start(args, format);' \
            '    int n = vfprintf(f, format, args); __builtin_va_end(args); return n; }' \
            >"$sysroot/fprintf_chk.c"
        "$cc" -O2 -ffreestanding -c "$sysroot/fprintf_chk.c" -o "$sysroot/fprintf_chk.o"
        cp "$unwind" "$self_contained/libunwind.a.new"
        "${cc%gcc}ar" rs "$self_contained/libunwind.a.new" "$sysroot/fprintf_chk.o" 2>/dev/null
        mv "$self_contained/libunwind.a.new" "$self_contained/libunwind.a"
    fi
    flags+=(--sysroot "$sysroot")
    # Debian's cargo and rustc by path and first in PATH (rustup's proxies are earlier).
    bin=$target_dir/toolchain-bin
    mkdir -p "$bin"
    ln -sfn "$debian_cargo" "$bin/cargo"
    ln -sfn "$debian_rustc" "$bin/rustc"
    build_env+=(PATH="$bin:$PATH" RUSTC="$debian_rustc" RUSTC_BOOTSTRAP=1
        "CARGO_TARGET_${target_env^^}_LINKER=$cc")
    ring_cc=1
    cargo=("$debian_cargo")
    build_args+=(-Z build-std=std,panic_abort)
fi
if [[ -n $small ]]; then
    # std without its default "backtrace" feature: a panic (a bug: exit 134) still prints
    # its message, without a backtrace. (panic=immediate-abort would save 45 KB more,
    # but a panic would then say nothing at all and die of SIGILL.)
    if [[ ${build_args[*]} != *build-std* ]]; then
        rustup component list --installed 2>/dev/null | grep -q '^rust-src' ||
            timeout 300 rustup component add rust-src >&2
        build_env+=(RUSTC_BOOTSTRAP=1)
        build_args+=(-Z build-std=std,panic_abort)
    fi
    build_args+=(-Z build-std-features=)
fi
# ring (tls) compiles C for the target against musl's headers.
if [[ ${ring_cc:-} == 1 ]]; then
    if [[ $arch == x86_64 ]]; then
        build_env+=("CC_$target_env=musl-gcc")
    else
        include=$(dirname "$(dpkg -L musl-dev:arm64 | grep -m1 '/include/[^/]*/stdint\.h$')")
        build_env+=("CC_$target_env=$cc"
            "CFLAGS_$target_env=-nostdinc -isystem $include -isystem $("$cc" -print-file-name=include)")
    fi
fi

# std's own sources: the prebuilt std names them /rustc/COMMIT/..., but once rustup's
# rust-src is installed (--small adds it) rustc names std's code inlined into ours by
# its local path under the sysroot instead (1,920 bytes more in the glibc build, other
# bytes in the musl ones). Named /rustc/COMMIT either way.
build_rustc=${debian_rustc:-rustc}
rust_src=$("$build_rustc" --print sysroot)/lib/rustlib/src/rust
commit=$("$build_rustc" -vV | sed -n 's/^commit-hash: //p')
flags+=("--remap-path-prefix=$rust_src=/rustc/$commit")

# Appended to .cargo/config.toml's rustflags for this target (a RUSTFLAGS variable would
# replace them), as TOML strings.
toml=
for flag in "${flags[@]}"; do toml+="${toml:+, }\"${flag//\"/\\\"}\""; done
if [[ ${AUDITABLE:-$([[ $target == *-musl ]] && echo 1)} == 1 ]]; then
    command -v cargo-auditable >/dev/null || cargo install --locked --quiet cargo-auditable >&2
    # cargo-auditable finds the real cargo through $CARGO.
    build_env+=(CARGO="$(command -v "${cargo[0]}")")
    cargo=("$(command -v cargo-auditable)" auditable)
fi
env ${build_env[@]+"${build_env[@]}"} "${cargo[@]}" build --quiet "${build_args[@]}" \
    --config "target.$target.rustflags = [$toml]" >&2
echo "$target_dir/$target/release/healthprobe"
