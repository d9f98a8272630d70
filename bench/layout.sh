#!/usr/bin/env bash
# Regenerates scripts/hot-symbols.txt: the functions that the static build runs in the
# common probes (healthy first, then failures, redirects, several targets). scripts/build-static.sh hands the list to the linker, which lays those
# functions out together, so that a probe maps fewer pages of its binary (peak RSS).
# Run it after a change of Rust version, of dependencies, or of the probe's hot path;
# a stale list costs memory, never correctness.
# Usage: bench/layout.sh   (needs valgrind and nginx: bench/run.sh installs both)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

work=$(mktemp -d /tmp/hp-bench-layout.XXXXXX)
trap 'bench_stop_nginx; rm -rf "$work"' EXIT
port=$(bench_free_port)
closed=$(bench_free_port)
bench_start_nginx "$work/nginx" "$port"
binary=$(bench_build_symbols)

scenarios=(
    "http://127.0.0.1:$port/health"
    "tcp://127.0.0.1:$port"
    "http://127.0.0.1:$port/unhealthy"
    "http://127.0.0.1:$closed/health"
    "tcp://127.0.0.1:$closed"
    "http://127.0.0.1:$port/redirect"
    "http://localhost:$port/health tcp://localhost:$port"
)
index=0
for scenario in "${scenarios[@]}"; do
    index=$((index + 1))
    # shellcheck disable=SC2086 # a scenario may hold several targets
    "${BENCH_ENV[@]}" valgrind --tool=callgrind --demangle=no --dump-instr=no \
        --callgrind-out-file="$work/$index.out" "$binary" $scenario >/dev/null 2>&1 || true
done
# The memcpy/strlen variants that this CPU runs: valgrind's virtual CPU picks others.
# Read from a probe that waits on a server that never answers.
silent=$(bench_free_port)
python3 -c "import socket, time
s = socket.socket(); s.bind(('127.0.0.1', $silent)); s.listen(1); time.sleep(3)" &
listener=$!
sleep 0.5
"$binary" --timeout 2s "http://127.0.0.1:$silent/" >/dev/null 2>&1 &
waiting=$!
sleep 0.5
python3 bench/ifunc_targets.py "$waiting" "$binary" >"$work/ifunc.txt"
wait "$waiting" "$listener" || true

# Function names, each once, as the linker knows them: drop callgrind's "'2" recursion
# marks, addresses without a name and "(below main)".
{
    cat "$work/ifunc.txt"
    for index in $(seq "${#scenarios[@]}"); do
        sed -nE "s/^c?fn=\([0-9]+\) ([^ ]+)$/\1/p" "$work/$index.out"
    done
} | sed -E "s/'[0-9]+$//" | grep -E '^[A-Za-z_.$][A-Za-z0-9_.$]*$' |
    awk '!seen[$0]++' >scripts/hot-symbols.txt
echo "bench: $(wc -l <scripts/hot-symbols.txt) functions in scripts/hot-symbols.txt" >&2
