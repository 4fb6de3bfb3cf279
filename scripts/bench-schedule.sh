#!/bin/sh
# The scheduler as a benchmark (figures, not a test): a generated cluster of N nodes (default 100:
# 3 control planes in 3 zones, PDBs, a StatefulSet), the same seed each time, rehearsed with
# `migrate --max-unavailable 1`, `--max-unavailable 10%`, and Calico's controller's schedule
# (tests/bench/calico_schedule.lua: sequential, its fixed 10 s sleep, 1 s polls, drain retries
# without delay); tests/bench/schedule_stats.lua prints the node phase of each, against the lower
# bound (the nodes' own times added up) and against each other.
#   scripts/bench-schedule.sh [NODES [SEED]]
set -eu
cd "$(dirname "$0")/.."
. scripts/bench_lib.sh # $B: the binary (CNI_MIGRATE, else build-bench/ in Release)
n=${1:-100}
seed=${2:-7}
fixture="build-bench/schedule-$n-nodes.yaml"
[ -s "$fixture" ] || $B run examples/clusters/generate.lua --nodes "$n" --control-planes 3 --zones 3 \
    --pods-per-node 2 --statefulset 3 --pdbs --calico-installed >"$fixture"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
t0=$(date +%s)
$B --fake "$fixture" --seed "$seed" --log-level warn migrate --max-unavailable 1 >"$tmp/one.txt" 2>&1 ||
    { echo "migrate --max-unavailable 1 failed:"; tail -20 "$tmp/one.txt"; exit 1; }
$B --fake "$fixture" --seed "$seed" --log-level warn migrate --max-unavailable 10% >"$tmp/ten.txt" 2>&1 ||
    { echo "migrate --max-unavailable 10% failed:"; tail -20 "$tmp/ten.txt"; exit 1; }
$B --fake "$fixture" --seed "$seed" --log-level warn run tests/bench/calico_schedule.lua >"$tmp/calico.txt" 2>&1 ||
    { echo "Calico's schedule failed:"; tail -20 "$tmp/calico.txt"; exit 1; }
echo "== $fixture, seed $seed ($(($(date +%s) - t0)) s wall for the three rehearsals)"
$B run tests/bench/schedule_stats.lua "$tmp/one.txt" "$tmp/ten.txt" "$tmp/calico.txt"
