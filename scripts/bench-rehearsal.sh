#!/bin/sh
# Benchmark (figures, not a test): a rehearsal (`cni-migrate --fake FIXTURE migrate`) of a generated
# cluster of N nodes with 30 pods per worker (examples/clusters/generate.lua: 3 control planes, the
# "web" Deployment with its PDB, Calico's manifest applied), --max-unavailable 10%, with the safety
# invariants on and then off (--no-invariants), each under GNU time: wall time, user and system CPU,
# peak RSS, the virtual duration and the exit. Targets (issue 15): 1,000 nodes / 30,000 pods within
# 30 s and 1 GB with the invariants on; 5,000 nodes / 150,000 pods within 5 minutes.
#   scripts/bench-rehearsal.sh [N...]      (default: 1000 5000)
# A run that does not finish within BENCH_LIMIT seconds (default 1800) is stopped and shown as
# such; one that would take more than BENCH_MEM_MB of memory (default 4096: the machine is shared)
# fails for want of it and is shown with its exit. CNI_MIGRATE=build/cni-migrate measures that build instead of
# an optimized one (build-bench/). Fixtures are generated once into build-bench/.
set -eu
cd "$(dirname "$0")/.."
. scripts/bench_lib.sh # $B: the binary (CNI_MIGRATE, else build-bench/ in Release)
[ -x /usr/bin/time ] || { echo "bench-rehearsal: needs GNU time (Debian package time)" >&2; exit 2; }
LIMIT=${BENCH_LIMIT:-1800}
MEM_MB=${BENCH_MEM_MB:-4096}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[ $# -gt 0 ] || set -- 1000 5000
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPU(s)"
printf '%6s %7s %-10s %9s %9s %7s %8s %10s %s\n' nodes pods invariants wall_s user_s sys_s rss_MB virtual_s result
for n in "$@"; do
    fixture="build-bench/rehearsal-$n-nodes.yaml"
    [ -s "$fixture" ] || "$B" run examples/clusters/generate.lua --nodes "$n" --control-planes 3 \
        --pods-per-node 30 --pdbs --calico-installed >"$fixture"
    pods=$(grep -c '^  kind: Pod$' "$fixture" || true)
    for inv in on off; do
        flag=""
        [ "$inv" = on ] || flag=--no-invariants
        rc=0
        (ulimit -v $((MEM_MB * 1024)) && /usr/bin/time -f '%e %U %S %M' -o "$tmp/time" timeout "$LIMIT" "$B" \
            --fake "$fixture" --log-level warn migrate --max-unavailable 10% $flag) >"$tmp/out" 2>&1 || rc=$?
        read -r wall user sys rss <"$tmp/time" 2>/dev/null || { wall=?; user=?; sys=?; rss=0; }
        case "$rss" in *[!0-9]*|'') rss=0 ;; esac
        virtual=$(sed -n 's/.* in \([0-9.]*\) s of virtual .*/\1/p' "$tmp/out" | tail -n1)
        result=ok
        [ "$rc" -eq 0 ] || result="exit $rc$([ "$rc" -eq 124 ] && echo " (stopped at ${LIMIT}s)")"
        printf '%6s %7s %-10s %9s %9s %7s %8.1f %10s %s\n' "$n" "$pods" "$inv" "$wall" "$user" "$sys" \
            "$(echo "$rss / 1024" | bc -l)" "${virtual:--}" "$result"
        [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || tail -n 5 "$tmp/out"
    done
done
