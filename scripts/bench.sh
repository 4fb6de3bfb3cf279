#!/bin/sh
# Builds (optimized) and runs the benchmark programs: scripts/bench.sh [GETS [PODS]]
# The Kubernetes client benchmark runs over HTTPS with a certificate made here.
set -eu
cd "$(dirname "$0")/.."
scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$tmp/key.pem" \
    -out "$tmp/cert.pem" -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
build-bench/tests/k8s-bench "${1:-20000}" "${2:-150000}" "$tmp/cert.pem" "$tmp/key.pem"
# the same against the fake cluster's own HTTPS front, on a generated cluster of PODS pods
# (5,000 nodes for the default 150,000; generated once into build-bench/, then reused)
pods=${2:-150000}
nodes=$(( (pods + 29) / 30 ))
fixture="build-bench/bench-$nodes-nodes.yaml"
[ -s "$fixture" ] || build-bench/cni-migrate run examples/clusters/generate.lua --nodes "$nodes" \
    --pods-per-node 30 >"$fixture"
build-bench/cni-migrate fake serve "$fixture" --tls --no-sim \
    --kubeconfig-out "$tmp/kubeconfig" >"$tmp/url" 2>"$tmp/serve.err" &
serve=$!
trap 'kill "$serve" 2>/dev/null; rm -rf "$tmp"' EXIT
i=0
while [ ! -s "$tmp/url" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done # loading takes a while
BENCH_KUBECONFIG="$tmp/kubeconfig" build-bench/tests/k8s-bench "${1:-20000}"
# the same paging from Lua, through c:pages (tests/bench/k8s_pages.lua)
KUBECONFIG="$tmp/kubeconfig" build-bench/cni-migrate run tests/bench/k8s_pages.lua
