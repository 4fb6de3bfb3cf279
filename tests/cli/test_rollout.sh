#!/bin/sh
# The main job: label-rollout on the simulated cluster with Calico installed. Every node moves from
# flannel to calico-node, the hosts show Calico's CNI config active, and the run is the same twice.
. "$(dirname "$0")/lib.sh"
B=${CNI_MIGRATE:?}
S=${CM_SOURCE_DIR:?}
F="$S/examples/clusters/flannel-calico-installed-4node.yaml"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
run "$B" --fake "$F" --trace "$dir/t1.jsonl" run label-rollout 2
expect_rc 0
expect_out "^\+ +[0-9.]+s worker-3 +calico-node ready after [0-9.]+s$"
expect_out "^4 node\(s\) moved to calico-node, 0 failed, in [0-9.]+ s of virtual time$"
expect_no_out "ERROR"
first="$OUT"
run "$B" --fake "$F" --trace "$dir/t2.jsonl" run label-rollout 2
[ "$OUT" = "$first" ] || fail "two runs with the same seed printed differently"
cmp -s "$dir/t1.jsonl" "$dir/t2.jsonl" || fail "two runs with the same seed traced differently"
grep -q '"actor":"cluster","event":"ADDED","kind":"Pod","namespace":"kube-system","name":"calico-node-' "$dir/t1.jsonl" ||
    fail "no calico-node pod in the trace"
# the hosts: flannel's config active before, Calico's after, pods get a network on every node
run env LUA_PATH_5_4="$S/tests/lua/?.lua" "$B" --fake "$F" run "$S/tests/k8s/rollout_hosts.lua" "$S/lua/label-rollout.lua"
expect_rc 0
expect_out "^ok: 16 checks$"
# a site's agents (--lua-dir) drive the simulated hosts; one that fails fails the run
mkdir -p "$dir/site/cm"
printf 'return { on_pod = function(node) if node == "worker-1" then error("agent broke") end end }\n' \
    >"$dir/site/cm/agents.lua"
run "$B" --lua-dir "$dir/site" --fake "$F" run label-rollout 2
expect_rc 1
expect_out "ERROR .*/site/cm/agents\.lua:1: agent broke$"
expect_out "^cni-migrate: the simulation's node agents failed [0-9]+ times \(logged above\)$"
run "$B" --fake "$F" run label-rollout many
expect_rc 2
expect_out "^cni-migrate: usage: cni-migrate run label-rollout \[CONCURRENCY\]$"
done_ok
