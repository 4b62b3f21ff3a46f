#!/bin/sh
# Validates every ```toml example of docs/*.md with the runbook binary: each block is a whole
# playbook, written to its own file in one scratch folder (so that nested examples find each
# other), then `runbook validate` checks the folder.
#
#   docs/check-examples.sh [path/to/runbook]     default: target/debug/runbook
set -eu
here=$(cd "$(dirname "$0")" && pwd)
runbook=${1:-"$here/../target/debug/runbook"}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for md in "$here"/*.md; do
    awk -v out="$scratch/$(basename "$md" .md)" '
        /^```toml$/ { n++; file = sprintf("%s-%02d.toml", out, n); inside = 1; next }
        /^```$/ && inside { inside = 0; close(file); next }
        inside { print > file }
    ' "$md"
done
count=$(find "$scratch" -name '*.toml' | wc -l)
echo "validating $count examples from $here/*.md"
"$runbook" validate "$scratch"
