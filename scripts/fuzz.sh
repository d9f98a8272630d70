#!/usr/bin/env bash
# scripts/fuzz.sh SECONDS [TARGET...]: runs each fuzz target of fuzz/ (every one by default)
# for SECONDS under libFuzzer (cargo-fuzz, nightly), starting from its committed seeds
# (fuzz/seeds/NAME, read only) and the corpus grown by earlier runs (fuzz/corpus/NAME,
# not committed). Fails on the first target that crashes, leaving the input in
# fuzz/artifacts/NAME/ (add it, minimised, to fuzz/seeds/NAME as crash-*). Prints one
# line per target from libFuzzer's final stats: executions, coverage, features, corpus.
# Builds in $CARGO_TARGET_DIR when set. Needs `cargo +nightly fuzz` (cargo-fuzz).
set -euo pipefail

seconds=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
cd "$(dirname "$0")/../fuzz"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "scripts/fuzz.sh: needs the nightly toolchain and cargo-fuzz" \
        "(cargo +nightly install cargo-fuzz --locked)" >&2
    exit 2
fi
targets=("$@")
if ((${#targets[@]} == 0)); then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

cargo +nightly fuzz build -O
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    log=$(mktemp)
    # -max_len: the largest seed is far smaller than a FastCGI or gRPC reply can be.
    # -timeout: an input that takes this long is a hang (the probes' deadline is 60 s
    # in memory, and the http target's 2 s on loopback). -rss_limit_mb: every probe reads
    # into buffers of at most a few hundred KiB, so growing past this is unbounded memory.
    if ! cargo +nightly fuzz run -O "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -max_len=8192 -timeout=20 -rss_limit_mb=512 -print_final_stats=1 \
        >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "scripts/fuzz.sh: $target failed; its input is in fuzz/artifacts/$target/" >&2
        rm -f "$log"
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$done_line")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$done_line")
    corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9a-zA-Z]+).*/\1/p' <<<"$done_line")
    echo "fuzz $target: ${seconds} s, ${runs:-?} executions, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}"
    rm -f "$log"
done
