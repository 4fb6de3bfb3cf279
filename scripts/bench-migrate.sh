#!/bin/sh
# Rehearses migrations as a benchmark (figures, not a test): the bundled 10-node demo fixture and
# a generated cluster of N nodes (default 100), each through `cni-migrate migrate --fake`, then
# tests/bench/migrate_stats.lua: API requests per migrated node (target <= 25) by verb, repeated
# reads (polling), virtual duration, wall time, and the per-node lower bound.
#   scripts/bench-migrate.sh [NODES]
set -eu
cd "$(dirname "$0")/.."
. scripts/bench_lib.sh # $B: the binary (CNI_MIGRATE, else build-bench/ in Release)
n=${1:-100}
fixture="build-bench/migrate-$n-nodes.yaml"
[ -s "$fixture" ] || $B run examples/clusters/generate.lua --nodes "$n" --control-planes 3 --pods-per-node 2 \
    --statefulset 3 --pdbs --calico-installed >"$fixture"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in examples/clusters/flannel-calico-installed-10node.yaml "$fixture"; do
    echo "== $f"
    t0=$(date +%s.%N)
    $B --fake "$f" --trace "$tmp/trace.jsonl" --log-level warn migrate >"$tmp/out.txt" 2>&1 || {
        echo "migrate failed:"; tail -20 "$tmp/out.txt"; exit 1; }
    t1=$(date +%s.%N)
    $B run tests/bench/migrate_stats.lua "$tmp/trace.jsonl" "$tmp/out.txt" "$(echo "$t1 - $t0" | bc)"
done
