#!/bin/sh
# --metrics-port: a migration over HTTP (fake serve, 20 times real time, some GETs answered 429
# with Retry-After) serves Prometheus metrics while it runs; curl scrapes them every 0.3 s and the
# scrapes show nodes by state (one in flight mid-run, all done at the end), step durations,
# evictions, the API's requests, errors and retries. A watch's streams are counted with the
# requests (a script over fake serve refusing two of them). A run under the drain timeout's hold
# policy shows its held nodes. Off by default; a bad port is exit 2.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
B=${CNI_MIGRATE:?}
F="$CM_SOURCE_DIR/examples/clusters/flannel-calico-installed-4node.yaml"
dir=$(mktemp -d)
trap 'fake_stop; rm -rf "$dir" "$FAKE_DIR"' EXIT
command -v curl >/dev/null 2>&1 || { echo "SKIP: no curl"; exit 77; }

run "$B" --fake "$F" migrate --metrics-port 70000
expect_rc 2
expect_out '^cni-migrate: migrate: flag --metrics-port "70000": expected an integer from 0 to 65535$'
CNI_MIGRATE_METRICS_PORT=x run "$B" --fake "$F" migrate
expect_rc 2
expect_out 'CNI_MIGRATE_METRICS_PORT="x": expected an integer'
run "$B" --fake "$F" migrate
expect_rc 0
expect_no_out 'metrics'

# scrape_run PREFIX ARGS...: `cni-migrate ARGS --metrics-port 0` in the background, scraped with curl
# every 0.3 s while it runs into PREFIX0, PREFIX1, ... (headers PREFIX.h0); sets n, RC and OUT
scrape_run() {
    prefix=$1
    shift
    : > "$dir/out"
    "$B" "$@" --metrics-port 0 >> "$dir/out" 2>&1 &
    mpid=$!
    i=0
    while ! grep -q 'Prometheus metrics on' "$dir/out" && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
    port=$(grep -o 'Prometheus metrics on http://0\.0\.0\.0:[0-9]*/metrics' "$dir/out" | grep -o '[0-9]*/metrics' | cut -d/ -f1)
    [ -n "$port" ] || fail "no metrics URL: $(cat "$dir/out")"
    url="http://127.0.0.1:$port/metrics"
    n=0
    while kill -0 "$mpid" 2>/dev/null; do
        curl -s -D "$prefix.h$n" -o "$prefix$n" "$url" && n=$((n + 1))
        sleep 0.3
    done
    wait "$mpid"
    RC=$?
    OUT=$(cat "$dir/out")
    curl -s -o /dev/null -w '%{http_code}' "$url" >/dev/null 2>&1 && fail "the server outlived the run"
}

fake_start "$F" --speed 20 --fault requests:error=429,retryAfter=1,verbs=get,rate=0.05
scrape_run "$dir/m" migrate
expect_rc 0
expect_out '^Migrated 4 node\(s\) to Calico'
[ "$n" -ge 5 ] || fail "only $n scrapes during the run"
grep -qi '^Content-Type: text/plain; version=0\.0\.4; charset=utf-8' "$dir/m.h0" || fail "content type: $(cat "$dir/m.h0")"
python3 - "$dir" "$n" <<'EOF' || fail "the scrapes"
import re, sys
d, n = sys.argv[1], int(sys.argv[2])
def parse(path):
    m = {}
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        k, v = line.rsplit(" ", 1)
        m[k] = float(v)
    return m
scrapes = [parse("%s/m%d" % (d, i)) for i in range(n)]
states = ("done", "in_flight", "held", "failed", "left")
for s in scrapes:
    nodes = [s.get('cni_migrate_nodes{state="%s"}' % st, 0) for st in states]
    assert sum(nodes) == 4, nodes
    assert nodes[1] <= 1, "more than one node in flight"
assert any(s.get('cni_migrate_nodes{state="in_flight"}') == 1 for s in scrapes), "never a node in flight"
last = scrapes[-1]
assert last['cni_migrate_nodes{state="done"}'] == 4, last
reqs = [sum(v for k, v in s.items() if k.startswith("cni_migrate_api_requests_total{")) for s in scrapes]
assert all(a <= b for a, b in zip(reqs, reqs[1:])) and reqs[-1] > reqs[0] > 0, reqs
assert last.get('cni_migrate_api_requests_total{method="GET",code="429"}', 0) > 0, "no 429 counted"
assert last.get('cni_migrate_api_errors_total{method="GET",reason="TooManyRequests"}', 0) > 0, "no error counted"
assert last.get("cni_migrate_api_retries_total", 0) > 0, "no retry counted"
assert last.get("cni_migrate_evictions_total", 0) > 0, "no eviction counted"
assert last['cni_migrate_step_duration_seconds_count{procedure="migrate",step="drain"}'] == 4
assert last['cni_migrate_step_duration_seconds_bucket{procedure="migrate",step="drain",le="+Inf"}'] == 4
print("%d scrapes; at the end %d requests, %d retries, %d evictions" % (n, reqs[-1],
      last["cni_migrate_api_retries_total"], last["cni_migrate_evictions_total"]))
EOF
fake_stop

# a watch's streams are counted too (requests, errors, retries): tests/k8s/watch_metrics.lua, its
# first two streams refused (500, Retry-After 1); the last scrape, once it is done, has exactly
# discovery, the list, the stream it closed (200), the two refused (500, InternalError, retried)
fake_start "$F" --no-sim --fault requests:error=500,retryAfter=1,verbs=watch,times=2
scrape_run "$dir/w" run "$CM_SOURCE_DIR/tests/k8s/watch_metrics.lua"
expect_rc 0
expect_out '^watched$'
python3 - "$dir/w$((n - 1))" <<'EOF' || fail "the watch's streams in the metrics"
import sys
m = {}
for line in open(sys.argv[1]):
    if line.startswith("cni_migrate_api_"):
        k, v = line.rsplit(" ", 1)
        m[k] = float(v)
want = {'cni_migrate_api_requests_total{method="GET",code="200"}': 3,
        'cni_migrate_api_requests_total{method="GET",code="500"}': 2,
        'cni_migrate_api_errors_total{method="GET",reason="InternalError"}': 2,
        "cni_migrate_api_retries_total": 2}
assert m == want, m
print("watch streams counted:", m)
EOF
fake_stop

# the drain timeout's hold policy (db's PDB allows no disruption; worker-1 and worker-2 run db pods):
# both held in the nodes gauge from their hold to the end, while the others migrate
fake_start "$F" --speed 20 --fault pdbs:namespace=apps,name=db
scrape_run "$dir/h" migrate --skip pdb --drain-timeout 8s --drain-timeout-policy hold --max-unavailable 2
expect_rc 1
expect_out '^cni-migrate: migrate: 2 node\(s\) held, still on flannel: worker-1 \(drain timed out after 8s'
python3 - "$dir" "$n" <<'EOF' || fail "the scrapes of a run with holds"
import sys
d, n = sys.argv[1], int(sys.argv[2])
def state(path, s):
    for line in open(path):
        if line.startswith('cni_migrate_nodes{state="%s"} ' % s):
            return float(line.split()[1])
    raise AssertionError("no %s state in %s" % (s, path))
seq = [state("%s/h%d" % (d, i), "held") for i in range(n)]
assert seq[0] == 0 and seq[-1] == 2 and all(a <= b for a, b in zip(seq, seq[1:])), seq
assert max(state("%s/h%d" % (d, i), "done") for i in range(n)) >= 1, "no node done"
print("held, scrape by scrape:", seq)
EOF
fake_stop
done_ok
