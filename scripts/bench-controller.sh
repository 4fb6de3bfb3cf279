#!/bin/sh
# Benchmark (figures, not a test): the migration controller's memory and CPU while it migrates a
# generated cluster over HTTP, as the Job's pod does against a real API server. For each N, a
# cluster of N nodes (examples/clusters/generate.lua: 1 control plane, 1 web pod per worker,
# Calico's manifest applied) is served by `fake serve --speed 50` (BENCH_SPEED), and `cni-migrate migrate` runs
# as its own process under GNU time: peak RSS (target <= 32 MB), user and system CPU, wall time,
# and the nodes it migrated. fake serve's own CPU is shown apart (it is the cluster, not us).
#   scripts/bench-controller.sh [N...]      (default: 10 30 100)
# A run that does not finish within BENCH_LIMIT seconds (default 1800) is stopped, and what it
# reached is printed (nodes migrated, RSS so far, sampled from /proc). The controller is started once
# the server answers promptly (a big cluster's simulation first catches up with its fixture).
set -eu
cd "$(dirname "$0")/.."
. scripts/bench_lib.sh # $B: the binary (CNI_MIGRATE, else build-bench/ in Release)
[ -x /usr/bin/time ] || { echo "bench-controller: needs GNU time (Debian package time)" >&2; exit 2; }
LIMIT=${BENCH_LIMIT:-1800}
SPEED=${BENCH_SPEED:-50} # the cluster's clock against real time (the controller keeps real time)
tmp=$(mktemp -d)
srv=""
trap '[ -z "$srv" ] || kill "$srv" 2>/dev/null; rm -rf "$tmp"' EXIT
[ $# -gt 0 ] || set -- 10 30 100
printf '%7s %9s %8s %8s %9s %9s %10s %s\n' nodes migrated rss_MB user_s sys_s wall_s serve_cpu_s result
for n in "$@"; do
    fixture="build-bench/controller-$n-nodes.yaml"
    [ -s "$fixture" ] || "$B" run examples/clusters/generate.lua --nodes "$n" --control-planes 1 \
        --pods-per-node 1 --calico-installed >"$fixture"
    "$B" fake serve "$fixture" --speed "$SPEED" --token bench --listen 127.0.0.1:0 \
        --kubeconfig-out "$tmp/kc" >"$tmp/url" 2>"$tmp/serve.err" &
    srv=$!
    i=0
    while [ ! -s "$tmp/url" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
    [ -s "$tmp/url" ] || { echo "fake serve did not start:"; cat "$tmp/serve.err"; exit 1; }
    # a big cluster's controllers and kubelets first catch up with the fixture, and the server answers
    # slowly meanwhile: the controller starts once three requests in a row are answered within 1 s
    url=$(head -n1 "$tmp/url")
    quick=0
    i=0
    while [ $quick -lt 3 ] && [ $i -lt 600 ]; do
        if curl -sf -m 1 -H 'Authorization: Bearer bench' -o /dev/null "$url/api/v1/nodes?limit=1"; then
            quick=$((quick + 1))
        else
            quick=0
        fi
        sleep 1
        i=$((i + 1))
    done
    /usr/bin/time -f '%M %U %S %e' -o "$tmp/time" \
        timeout "$LIMIT" "$B" --kubeconfig "$tmp/kc" --log-level warn migrate >"$tmp/out" 2>&1 &
    tpid=$!
    peak=0 # sampled too, for a run the limit stops
    while kill -0 "$tpid" 2>/dev/null; do
        pid=$(pgrep -P "$(pgrep -P "$tpid" | head -n1)" 2>/dev/null | head -n1 || true) # time > timeout > us
        if [ -n "$pid" ]; then
            hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
            [ "${hwm:-0}" -gt "$peak" ] && peak=$hwm
        fi
        sleep 1
    done
    rc=0
    wait "$tpid" || rc=$?
    migrated=$(KUBECONFIG="$tmp/kc" "$B" run tests/bench/count_migrated.lua 2>/dev/null || echo "?")
    serve_cpu=$(awk '{ printf "%.1f", ($14 + $15) / 100 }' "/proc/$srv/stat")
    kill "$srv"
    wait "$srv" 2>/dev/null || true
    srv=""
    read -r rss user sys wall <"$tmp/time" || { rss=$peak; user=?; sys=?; wall=?; }
    case "$rss" in *[!0-9]*|'') rss=$peak ;; esac
    result=ok
    [ "$rc" -eq 0 ] || result="exit $rc$([ "$rc" -eq 124 ] && echo " (stopped at ${LIMIT}s)")"
    printf '%7s %9s %8.1f %8s %9s %9s %10s %s\n' "$n" "$migrated" "$(echo "$rss / 1024" | bc -l)" "$user" "$sys" \
        "$wall" "$serve_cpu" "$result"
    [ "$rc" -eq 0 ] || tail -n 5 "$tmp/out"
done
