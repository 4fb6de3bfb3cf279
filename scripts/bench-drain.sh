#!/bin/sh
# The drain benchmark (figures, not a test): a node with 110 pods (the kubelet's default maximum:
# 107 replicas of a Deployment, coredns and two DaemonSet pods), no PodDisruptionBudget, drained by
# cm.node in simulation (tests/bench/drain_bench.lua) at kubectl's client rate (5 requests/s, burst
# 10), at the migration's (20/40) and unlimited: virtual time against its target (the longest
# termination grace period + 2 s) and API requests per evicted pod against its target (3; watched,
# never polled), then kubectl drain of the same node of the same fixture over `fake serve` (real
# time), its requests counted from its -v=6 log, discovery included and apart.
#   scripts/bench-drain.sh            CNI_MIGRATE=build/cni-migrate: measure that build
set -eu
cd "$(dirname "$0")/.."
. scripts/bench_lib.sh # $B: the binary (CNI_MIGRATE, else build-bench/ in Release)
fixture=build-bench/drain-110-pods.yaml
[ -s "$fixture" ] || $B run examples/clusters/generate.lua --nodes 2 --pods-per-node 107 >"$fixture"
tmp=$(mktemp -d)
serve=""
trap '[ -z "$serve" ] || kill "$serve" 2>/dev/null; rm -rf "$tmp"' EXIT
echo "== cm.node drain of worker-1, in simulation ($fixture)"
for rate in "5 10" "20 40" "0 0"; do
    set -- $rate
    $B --fake "$fixture" --trace "$tmp/t.jsonl" --log-level warn run tests/bench/drain_bench.lua worker-1 "$1" "$2" \
        >"$tmp/out" 2>&1 || { cat "$tmp/out"; exit 1; }
    read -r _ start _ pods _ evicted _ virtual _ grace <"$tmp/out"
    # the script's requests from the drain's start on (the trace's times are the same virtual wall clock)
    reqs=$(grep '"actor":"script"' "$tmp/t.jsonl" | sed 's/^{"t":"\([^"]*\)".*/\1/' | awk -v s="$start" '$0 > s' | wc -l)
    polls=$(grep '"actor":"script"' "$tmp/t.jsonl" | grep -c '"verb":"get","method":"GET","path":"/api/v1/namespaces/[^"]*/pods/' || true)
    label="$1 req/s, burst $2"
    [ "$1" = 0 ] && label="no client limit"
    printf '%-22s %d pods, %d evicted: %.3f s virtual (target <= %d s), %d requests = %.2f per evicted pod (target <= 3), %d pod GETs\n' \
        "$label" "$pods" "$evicted" "$virtual" "$((grace + 2))" "$reqs" "$(echo "$reqs / $evicted" | bc -l)" "$polls"
done
echo "== kubectl drain of worker-1 over fake serve (real time, kubectl $(kubectl version --client -o json 2>/dev/null | sed -n 's/.*"gitVersion": "\([^"]*\)".*/\1/p' | head -1))"
command -v kubectl >/dev/null || { echo "kubectl not installed: skipped"; exit 0; }
export HOME="$tmp" KUBECONFIG="$tmp/kubeconfig"
$B fake serve "$fixture" --listen 127.0.0.1:0 --kubeconfig-out "$KUBECONFIG" >"$tmp/url" 2>"$tmp/serve.err" &
serve=$!
i=0
while [ ! -s "$tmp/url" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
sleep 5 # every pod Running
t0=$(date +%s.%N)
kubectl drain worker-1 --ignore-daemonsets --delete-emptydir-data --timeout=600s -v=6 >"$tmp/kubectl.log" 2>&1 ||
    { tail -5 "$tmp/kubectl.log"; exit 1; }
t1=$(date +%s.%N)
evicted=$(grep -c '^pod/.* evicted$' "$tmp/kubectl.log")
all=$(grep -cE ' (GET|POST|PATCH|PUT|DELETE) http' "$tmp/kubectl.log")
disc=$(grep -E ' GET http' "$tmp/kubectl.log" | grep -cE 'GET http[^ ]*/(api|apis)(/[^/?]+(/v[^/?]+)?)?(\?| )|/openapi/' || true)
gets=$(grep -E ' GET http' "$tmp/kubectl.log" | grep -cE '/namespaces/[^/]+/pods/[^/? ]+(\?| )' || true)
printf '%d evicted in %.1f s: %d requests = %.2f per evicted pod (%d without discovery = %.2f), %d pod GETs (its 1 s poll)\n' \
    "$evicted" "$(echo "$t1 - $t0" | bc)" "$all" "$(echo "$all / $evicted" | bc -l)" "$((all - disc))" \
    "$(echo "($all - $disc) / $evicted" | bc -l)" "$gets"
