#!/usr/bin/env bash
# Fails unless every size the README's table gives for a `scripts/build-static.sh ...` build
# is the size of that build now. Usage: scripts/check-readme-sizes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
rows=$(grep -E '^\| .*\(`scripts/build-static\.sh[^`]*`\) \| [0-9,]+ bytes' README.md) || {
    echo "check-readme-sizes: no size rows in README.md" >&2
    exit 1
}
while IFS= read -r row; do
    command=$(sed -E 's/.*\(`(scripts\/build-static\.sh[^`]*)`\).*/\1/' <<<"$row")
    stated=$(sed -E 's/.*\| ([0-9,]+) bytes.*/\1/' <<<"$row" | tr -d ,)
    # shellcheck disable=SC2086 # the command's words
    binary=$(bash $command)
    actual=$(stat -c %s "$binary")
    if [[ $actual != "$stated" ]]; then
        echo "check-readme-sizes: README says $stated bytes for \`$command\`, the build is $actual" >&2
        status=1
    else
        echo "check-readme-sizes: $command: $actual bytes, as the README says"
    fi
done <<<"$rows"
exit $status
