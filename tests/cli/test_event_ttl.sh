#!/bin/sh
# Events expire as the API server's --event-ttl makes them (1h by default): a TTL after their last
# write they are deleted and their watchers see DELETED. On the virtual clock (run --fake), exactly:
# with FakeCluster spec.simulation.eventTTL 10m, an Event created at t=0 is listed at 9m59s and gone
# at 10m01s (a watch from its creation sees it DELETED), one written again at 5m lives until 15m,
# the fixture's own Events expire a TTL after their newest timestamp (one older than that is gone at
# the start), and the default is an hour. With
# kubectl against `fake serve --speed 20` (eventTTL 60s): `kubectl get events` shows a created Event,
# then no longer. A bad eventTTL is exit 2 naming the file, line and field.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
B=${CNI_MIGRATE:?}
X="${CM_SOURCE_DIR:?}/examples/clusters"
dir=$(mktemp -d)
trap 'fake_stop; rm -rf "$dir" "$FAKE_DIR"' EXIT

# the 1-node fixture, two Events of its own (30 and 120 minutes old at the start), and settings
fixture() { # TTL
    cat "$X/flannel-1node.yaml"
    cat << EOF
---
apiVersion: v1
kind: Event
metadata: {name: recent.1, namespace: default, creationTimestamp: "2026-11-01T08:00:00Z"}
involvedObject: {kind: Node, name: node-1}
reason: Recent
message: written 30 minutes before the start
type: Normal
lastTimestamp: "2026-11-01T08:55:00Z"
---
apiVersion: v1
kind: Event
metadata: {name: stale.1, namespace: default, creationTimestamp: "2026-11-01T07:00:00Z"}
involvedObject: {kind: Node, name: node-1}
reason: Stale
message: written 2 hours before the start
type: Normal
lastTimestamp: "2026-11-01T07:00:00Z"
---
apiVersion: cni-migrate.dev/v1alpha1
kind: FakeCluster
metadata: {name: ttl}
spec:
  startTime: "2026-11-01T09:25:00Z"
  simulation: {eventTTL: $1}
EOF
}
fixture 10m > "$dir/ttl10m.yaml"
fixture 1h > "$dir/ttl1h.yaml"

cat > "$dir/ttl.lua" << 'EOF'
local k8s = require "cm.k8s"
local time = require "cm.time"
local c = assert(k8s.client { qps = -1 })
local ttl = tonumber((...))
local function names()
   local out = {}
   for _, e in ipairs(assert(c:list { apiVersion = "v1", kind = "Event", namespace = "default" }).items) do
      if e.reason ~= "Scheduled" then out[#out + 1] = e.metadata.name end
   end
   table.sort(out)
   return table.concat(out, " ")
end
local function event(name)
   return { apiVersion = "v1", kind = "Event", metadata = { name = name, namespace = "default" },
      involvedObject = { kind = "Node", name = "node-1" }, reason = "Test", message = name, type = "Normal" }
end
local t0 = time.now()
local function at(s) time.sleep(s - (time.now() - t0)) end
print("start: " .. names())
local a = assert(c:create(event("a")))
assert(c:create(event("b")))
at(ttl / 2)
local b = assert(c:get { apiVersion = "v1", kind = "Event", namespace = "default", name = "b" })
b.count = 2
assert(c:update(b))
at(ttl - 1)
print("before: " .. names())
at(ttl + 1)
print("after: " .. names())
for ev in c:watch { apiVersion = "v1", kind = "Event", namespace = "default", fieldSelector = "metadata.name=a",
   resourceVersion = a.metadata.resourceVersion, timeout = 1 } do
   print("watch: a " .. ev.type)
end
at(ttl * 3 / 2 + 1)
print("later: " .. names())
EOF
run "$B" --fake "$dir/ttl10m.yaml" run "$dir/ttl.lua" 600
expect_rc 0
expect_out '^start: $'          # the fixture's: 30 and 120 minutes old, both past 10m
expect_out '^before: a b$'
expect_out '^after: b$'
expect_out '^watch: a DELETED$'
expect_no_out '^watch: a (ADDED|MODIFIED)'
expect_out '^later: $'
# with the default hour, the 30-minute-old one is there at the start (and the 2-hour-old one not)
run "$B" --fake "$dir/ttl1h.yaml" run "$dir/ttl.lua" 3600
expect_rc 0
expect_out '^start: recent.1$'
expect_out '^before: a b$'
expect_out '^after: b$'
expect_out '^later: $'

# kubectl against fake serve: a created Event is listed, then expires (eventTTL 60s at 20x: 3 s)
fixture 60s > "$dir/ttl60s.yaml"
fake_start "$dir/ttl60s.yaml" --speed 20
run kubectl get events -n default -o name
expect_no_out 'stale'
printf 'apiVersion: v1\nkind: Event\nmetadata: {name: fresh.1, namespace: default}\ninvolvedObject: {kind: Node, name: node-1}\nreason: Test\nmessage: fresh\ntype: Normal\n' |
    kubectl create -f - > /dev/null 2>&1 || fail "kubectl create event"
run kubectl get events -n default
expect_out 'Test +node/node-1 +fresh'
t0=$(date +%s%N)
i=0
while kubectl get events -n default -o name 2> /dev/null | grep -q fresh && [ $i -lt 300 ]; do
    sleep 0.1
    i=$((i + 1))
done
ms=$((($(date +%s%N) - t0) / 1000000))
run kubectl get events -n default -o name
expect_no_out 'fresh'
[ "$ms" -ge 1500 ] || fail "the Event went after $ms ms, well before its TTL (3 s at 20x)"
fake_stop

# a bad setting
fixture 0s > "$dir/bad.yaml"
run "$B" --fake "$dir/bad.yaml" run "$dir/ttl.lua" 1
expect_rc 2
expect_out "bad.yaml:[0-9]+: FakeCluster spec.simulation.eventTTL: not a duration above 0"
done_ok
