#!/bin/sh
# --fake-save FILE: the simulated cluster, hosts included, saved as a fixture when a run ends or
# stops (error, --timeout, SIGTERM, the crash fault), loadable by a later run, fake host, fake serve
# and kubectl; saved, loaded and saved again it is the same. --fault crash:afterWrites=N: the
# script dies right after its Nth API write reached the cluster, exit 137, the state at that moment.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
B=${CNI_MIGRATE:?}
S=${CM_SOURCE_DIR:?}
F="$S/examples/clusters/flannel-calico-installed-4node.yaml"
K=/usr/lib/google-cloud-sdk/bin/kubectl.1.33
d=$(mktemp -d)
trap 'fake_stop; rm -rf "$FAKE_DIR" "$d"' EXIT
cat >"$d/writes.lua" <<'LUA'
-- writes.lua K [then]: K ConfigMaps created one by one; then "error" raises, "spin" spins
local k8s = require "cm.k8s"
local c = assert(k8s.client())
for i = 1, tonumber(arg[1]) do
   assert(c:create { apiVersion = "v1", kind = "ConfigMap", metadata = { name = "w-" .. i, namespace = "default" },
      data = { i = tostring(i) } })
   print("answered " .. i)
end
io.stdout:flush()
if arg[2] == "error" then error("boom") end
if arg[2] == "spin" then while true do end end
if arg[2] == "sleep" then require("cm.time").sleep(3600) end
LUA
cat >"$d/act.lua" <<'LUA'
local k8s = require "cm.k8s"
local c = assert(k8s.client())
assert(c:patch({ apiVersion = "v1", kind = "Node", name = "worker-1" },
   { metadata = { labels = { ["projectcalico.org/node-network-during-migration"] = "calico" } } }))
require("cm.time").sleep(60)
LUA
echo 'local _ = 1' >"$d/noop.lua"
cms() { # the ConfigMaps w-* a saved fixture holds, in order
    grep -o 'name: w-[0-9]*' "$1" | tr '\n' ' '
}

# bad usage: exit 2, nothing written
run "$B" --fake-save "$d/x.yaml" run "$d/noop.lua"
expect_rc 2
expect_out '^cni-migrate: --fake-save needs --fake'
for bad in 'crash:afterWrites=0|afterWrites: expected a whole number >= 1' \
    'crash:afterWrites=two|afterWrites: expected a whole number >= 0' \
    "crash:after=3|'after=3' is not KEY=VALUE with a field of crash" 'crash:|'; do
    flag=${bad%%|*}
    run "$B" --fake "$F" --fake-save "$d/x.yaml" --fault "$flag" run "$d/noop.lua"
    expect_rc 2
    expect_out "^cni-migrate: --fault '$flag': ${bad#*|}"
done
run "$B" fake serve "$F" --fault crash:afterWrites=1
expect_rc 2
expect_out 'a crash is a script'
[ ! -e "$d/x.yaml" ] || fail "a refused run wrote its --fake-save file"

# round trip: a run's end state, loaded and saved with no time passing, is the same again
run "$B" --fake "$F" --fake-save "$d/a.yaml" run "$d/act.lua"
expect_rc 0
run "$B" --fake "$d/a.yaml" --fake-save "$d/b.yaml" run "$d/noop.lua"
expect_rc 0
run "$B" --fake "$d/b.yaml" --fake-save "$d/c.yaml" run "$d/noop.lua"
expect_rc 0
cmp -s "$d/b.yaml" "$d/c.yaml" || fail "save, load, save: not the same ($(diff "$d/b.yaml" "$d/c.yaml" | head -5))"
# the first load renumbers resourceVersions (the store hands out its own, in the saved order);
# nothing else moves
diff "$d/a.yaml" "$d/b.yaml" | grep '^[<>]' | grep -v 'resourceVersion: "[0-9]*"$' >"$d/ab" &&
    fail "loading a saved cluster changed more than resourceVersions: $(head -5 "$d/ab")"
# the hosts: worker-1 runs calico-node in the saved state, and a later fake host starts from it
/usr/bin/python3 - "$d/a.yaml" <<'PY' || fail "saved hosts"
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
fc = docs[1]
assert fc['kind'] == 'FakeCluster' and str(fc['spec']['startTime']).startswith('2026-11-01 09:01:00.002'), fc['spec']
assert fc['spec']['randomState'], fc['spec']
hosts = fc['spec']['hosts']
assert sorted(hosts) == ['control-plane-1', 'worker-1', 'worker-2', 'worker-3'], sorted(hosts)
assert '/etc/cni/net.d/10-calico.conflist' in hosts['worker-1']['files']
assert '/etc/cni/net.d/10-calico.conflist' not in hosts['worker-2']['files']
assert any(l['name'] == 'flannel.1' for l in hosts['worker-2']['links'])
PY
run "$B" fake host "$d/a.yaml" worker-1 --at 0
expect_rc 0
printf '%s\n' "$OUT" >"$d/h.json"
/usr/bin/python3 - "$d/a.yaml" "$d/h.json" <<'PY' || fail "fake host --at 0 of a saved cluster is not its saved host"
import json, sys, yaml
saved = list(yaml.safe_load_all(open(sys.argv[1])))[1]['spec']['hosts']['worker-1']
assert json.load(open(sys.argv[2])) == saved
PY
# a later run goes on from the saved moment, with uids the saved cluster does not have
run "$B" --fake "$d/a.yaml" --fake-save "$d/a2.yaml" run "$d/writes.lua" 2
expect_rc 0
[ "$(cms "$d/a2.yaml")" = "name: w-1 name: w-2 " ] || fail "later run: $(cms "$d/a2.yaml")"
dups=$(/usr/bin/python3 - "$d/a2.yaml" <<'PY'
import collections, sys, yaml
items = [i for o in yaml.safe_load_all(open(sys.argv[1])) if o for i in (o.get('items') or [o])]
uids = collections.Counter(i['metadata']['uid'] for i in items if 'uid' in i.get('metadata', {}))
assert len(uids) > 50, len(uids)  # the objects' own uids (an Event's involvedObject repeats its object's)
print(' '.join(u for u, n in uids.items() if n > 1))
PY
) || fail "the uids of the saved cluster could not be read"
[ -z "$dups" ] || fail "a uid handed out twice after loading a saved cluster: $dups"
grep -q 'creationTimestamp: "*2026-11-01T09:01:00Z' "$d/a2.yaml" || fail "the later run's clock did not start at the saved time"

# saved when the run stops: an error (exit 1), --timeout (exit 1), SIGTERM (exit 1)
run "$B" --fake "$F" --fake-save "$d/e.yaml" run "$d/writes.lua" 2 error
expect_rc 1
expect_out 'boom'
[ "$(cms "$d/e.yaml")" = "name: w-1 name: w-2 " ] || fail "error: $(cms "$d/e.yaml")"
run "$B" --fake "$F" --fake-save "$d/t.yaml" --timeout 10m run "$d/writes.lua" 1 sleep
expect_rc 1
[ "$(cms "$d/t.yaml")" = "name: w-1 " ] || fail "timeout: $(cms "$d/t.yaml")"
grep -q 'startTime: "*2026-11-01T09:10:00' "$d/t.yaml" || fail "timeout: saved at $(grep '  startTime' "$d/t.yaml")"
"$B" --fake "$F" --fake-save "$d/s.yaml" run "$d/writes.lua" 3 spin >"$d/out" 2>&1 &
pid=$!
i=0
while ! grep -q 'answered 3' "$d/out" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
kill -TERM $pid
wait $pid
RC=$?
OUT=$(cat "$d/out")
expect_rc 1
[ "$(cms "$d/s.yaml")" = "name: w-1 name: w-2 name: w-3 " ] || fail "SIGTERM: $(cms "$d/s.yaml")"

# the crash fault: a script of 4 writes, killed after each N in turn: exactly N writes applied
for n in 1 2 3 4; do
    run "$B" --fake "$F" --fake-save "$d/k$n.yaml" --fault "crash:afterWrites=$n" run "$d/writes.lua" 4
    expect_rc 137
    expect_out "^cni-migrate: killed by --fault crash:afterWrites=$n: the procedure died \(as kill -9\) right after its API write $n reached the cluster$"
    want=$(seq 1 "$n" | sed 's/^/name: w-/' | tr '\n' ' ')
    [ "$(cms "$d/k$n.yaml")" = "$want" ] || fail "crash after $n: $(cms "$d/k$n.yaml")"
    # the Nth write's answer never reached the script
    expect_no_out "^answered $n$"
    [ "$n" -eq 1 ] || expect_out "^answered $((n - 1))$"
done
run "$B" --fake "$F" --fault crash:afterWrites=5 run "$d/writes.lua" 4
expect_rc 0
# the same from the FakeCluster document, checked like the other faults
printf '%s\n' '---' 'apiVersion: cni-migrate.dev/v1alpha1' 'kind: FakeCluster' 'metadata: {name: x}' \
    'spec: {faults: {crash: [{afterWrites: -1}]}}' | cat "$S/examples/clusters/flannel-1node.yaml" - >"$d/fx.yaml"
run "$B" --fake "$d/fx.yaml" run "$d/noop.lua"
expect_rc 2
expect_out 'spec\.faults\.crash\[0\]\.afterWrites: expected a whole number >= 0'
sed 's/afterWrites: -1/afterWrites: 2/' "$d/fx.yaml" >"$d/fx2.yaml"
run "$B" --fake "$d/fx2.yaml" --fake-save "$d/k.yaml" run "$d/writes.lua" 3
expect_rc 137
[ "$(cms "$d/k.yaml")" = "name: w-1 name: w-2 " ] || fail "crash from spec.faults: $(cms "$d/k.yaml")"

# kubectl against fake serve of a saved cluster: the objects as saved
if [ -x "$K" ]; then
    fake_start "$d/k3.yaml" --no-sim
    run "$K" get configmaps -n default -o name
    expect_rc 0
    expect_out '^configmap/w-3$'
    expect_no_out 'w-4'
    run "$K" get node worker-1 -o 'jsonpath={.metadata.name}'
    expect_out '^worker-1$'
    fake_stop
else
    echo "SKIP (part): no $K"
fi
done_ok
