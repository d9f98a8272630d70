#!/usr/bin/env bash
# Fails unless each BINARY is static: no NEEDED library, no INTERP (loader), and it loads.
# Usage: scripts/check-static.sh BINARY...
set -euo pipefail
for binary in "$@"; do
    if readelf -dW "$binary" | grep -q '(NEEDED)' || readelf -lW "$binary" | grep -q INTERP; then
        echo "check-static: $binary is not static:" >&2
        readelf -dlW "$binary" >&2
        exit 1
    fi
    readelf -lW "$binary" | grep -q LOAD || { echo "check-static: $binary: no segments" >&2; exit 1; }
    echo "check-static: $binary: static ($(readelf -hW "$binary" | sed -n 's/ *Machine: *//p'))"
done
