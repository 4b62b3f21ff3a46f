#!/usr/bin/env bash
# Validation and planning of large playbooks that use the version-2 language: list vars,
# `for_each` (written out and over vars, with `max_parallel`), item-wise chains, `after`
# fallbacks, `always` cleanup, named `locks`, manual `inputs`. For each size it times
# `runbook validate` and `runbook plan --format json` (CPU time, the best of three), and
# prints the growth exponent of each from a log-log fit over the sizes, beside the same fit
# for a plain chain of the same size measured in the same run (the baseline).
#
#   bench/language.sh [SIZES...]      default: 1000 10000 100000 steps
#
# Needs the release binary (cargo build --release). Runs nothing but runbook itself.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${RUNBOOK_BIN:-target/release/runbook}
[ -x "$bin" ] || { echo "build it first: cargo build --release" >&2; exit 1; }
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 100000)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A plain chain of N `run` steps: the baseline.
plain() {
  local n=$1
  printf '[playbook]\nname = "plain"\nversion = "1.0.0"\n'
  for ((i = 0; i < n; i++)); do
    printf '[[steps]]\nid = "s%d"\nrun = "true"\nbudget = "1s"\n' "$i"
    [ "$i" -gt 0 ] && printf 'needs = ["s%d"]\n' "$((i - 1))"
  done
}

# N steps as written, in blocks of 5 (12 once expanded): a 3-item for_each over a var with
# max_parallel, its item-wise verify, a fallback `after` the verify, a manual step with an
# input, and an `always` cleanup over a written 1-item list; the blocks chained.
language() {
  local n=$1 blocks=$(($1 / 5))
  printf '[playbook]\nname = "language"\nversion = "1.0.0"\nlocks = ["db-{{vars.cluster}}"]\n'
  printf '[vars]\ncluster = "main"\ndatabases = ["a", "b", "c"]\n'
  for ((b = 0; b < blocks; b++)); do
    local prev=""
    [ "$b" -gt 0 ] && prev="needs = [\"cleanup$((b - 1))\"]"
    cat <<TOML
[[steps]]
id = "restore$b"
$prev
for_each = "{{vars.databases}}"
max_parallel = 2
run = "echo {{item}} {{item_index}}"
outputs = { file = "stdout" }
budget = "2s"
on_failure = "continue"
[[steps]]
id = "verify$b"
needs = ["restore$b"]
for_each = "{{vars.databases}}"
run = "echo {{steps.restore$b.outputs.file}}"
budget = "1s"
[[steps]]
id = "fallback$b"
after = ["verify$b"]
when = "{{eq steps.verify$b.status 'failed'}}"
run = "echo {{steps.restore$b.outputs.file}}"
[[steps]]
id = "note$b"
needs = ["fallback$b"]
manual = "Record what you saw"
inputs = { seen = "string" }
[[steps]]
id = "cleanup$b"
after = ["note$b"]
always = true
for_each = ["scratch"]
run = "echo drop {{item}} {{steps.note$b.outputs.seen}}"
TOML
  done
}

# CPU seconds (user + system), the best of three, of running "$@": on a shared machine the
# CPU a command uses is steadier than the wall time it takes.
best() {
  local best=""
  for _ in 1 2 3; do
    local t
    t=$( { TIMEFORMAT='%3U %3S'; time "$@" >/dev/null 2>&1; } 2>&1 | awk '{ printf "%.3f", $1 + $2 }')
    if [ -z "$best" ] || awk -v t="$t" -v b="$best" 'BEGIN { exit !(t < b) }'; then best=$t; fi
  done
  echo "$best"
}

# The slope of log(time) over log(size): the growth exponent.
exponent() {
  awk '{ x = log($1); y = log($2); n++; sx += x; sy += y; sxx += x * x; sxy += x * y }
       END { if (n < 2) { print "n/a" } else { printf "%.2f\n", (n * sxy - sx * sy) / (n * sxx - sx * sx) } }'
}

printf '%-8s %12s %12s %12s %12s %8s\n' steps "plain val s" "lang val s" "plain plan s" "lang plan s" "ratio"
: >"$work/pv"; : >"$work/lv"; : >"$work/pp"; : >"$work/lp"
for n in "${sizes[@]}"; do
  plain "$n" >"$work/plain-$n.toml"
  language "$n" >"$work/language-$n.toml"
  "$bin" validate "$work/language-$n.toml" >/dev/null || { echo "the generated playbook does not validate" >&2; exit 1; }
  pv=$(best "$bin" validate "$work/plain-$n.toml")
  lv=$(best "$bin" validate "$work/language-$n.toml")
  pp=$(best "$bin" plan "$work/plain-$n.toml" --format json)
  lp=$(best "$bin" plan "$work/language-$n.toml" --format json)
  echo "$n $pv" >>"$work/pv"; echo "$n $lv" >>"$work/lv"
  echo "$n $pp" >>"$work/pp"; echo "$n $lp" >>"$work/lp"
  ratio=$(awk -v l="$lp" -v p="$pp" 'BEGIN { printf "%.6f", l / p }')
  printf '%-8s %12.3f %12.3f %12.3f %12.3f %8.2f\n' "$n" "$pv" "$lv" "$pp" "$lp" "$ratio"
done
echo
echo "growth exponent (log-log fit over ${sizes[*]} steps):"
echo "  validate: plain $(exponent <"$work/pv"), language $(exponent <"$work/lv")"
echo "  plan:     plain $(exponent <"$work/pp"), language $(exponent <"$work/lp")"
