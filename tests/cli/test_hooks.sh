#!/bin/sh
# Site hooks (--hooks FILE, cm.hooks) in simulation: every hook point called in order with the right
# arguments (a trace written by tests/cli/hooks/trace.lua, compared with trace-*.txt), for migrate
# and rollback; bad hook files are exit 2 naming the file before anything is sent; a hook that fails
# stops the run resumably and the rerun goes on to the end; a hold keeps a node on flannel; the
# order hook's result is checked; and the examples in examples/hooks/, the webhook against a real
# local HTTP server.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
B=${CNI_MIGRATE:?}
X="${CM_SOURCE_DIR:?}/examples/clusters"
F="$X/flannel-calico-installed-4node.yaml"
H="$CM_SOURCE_DIR/tests/cli/hooks"
E="$CM_SOURCE_DIR/examples/hooks"
NODES="$CM_SOURCE_DIR/tests/k8s/hooks_nodes.lua"
PATCH="$CM_SOURCE_DIR/tests/k8s/hooks_patch.lua"
dir=$(mktemp -d)
srv=""
trap '[ -n "$srv" ] && kill "$srv" 2>/dev/null; fake_stop; rm -rf "$dir" "$FAKE_DIR"' EXIT
export HOOK_TRACE="$dir/trace.txt"

# nodes SAVED.yaml: the nodes' migration state, one line each (tests/k8s/hooks_nodes.lua)
nodes() {
    "$B" --fake "$1" --log-level warn run "$NODES" >"$dir/nodes.txt" 2>&1 || fail "reading the nodes of $1"
}
# patch IN.yaml OUT.yaml KIND NAMESPACE|- NAME JSON: a merge patch on the saved cluster (set-up)
patch() {
    in=$1 out=$2
    shift 2
    "$B" --fake "$in" --fake-save "$out" --log-level warn run "$PATCH" "$@" || fail "patching $*"
}
expect_node() {
    grep -Eq -- "$1" "$dir/nodes.txt" || { fail "no node line matches: $1"; cat "$dir/nodes.txt" >&2; }
}

# 1. every hook point, in order, with the Node as the API returns it and the ctx; two files' hooks
# of the same name both run, in the order given
rm -f "$HOOK_TRACE"
run "$B" --fake "$F" --fake-save "$dir/migrated.yaml" migrate --hooks "$H/trace.lua" --hooks "$H/second.lua"
expect_rc 0
diff "$H/trace-migrate.txt" "$HOOK_TRACE" >&2 || fail "migrate: the hooks' trace differs from trace-migrate.txt"
rm -f "$HOOK_TRACE"
run "$B" --fake "$dir/migrated.yaml" rollback --hooks "$H/trace.lua"
expect_rc 0
diff "$H/trace-rollback.txt" "$HOOK_TRACE" >&2 || fail "rollback: the hooks' trace differs from trace-rollback.txt"
# the Job's variable; the flag wins over it
rm -f "$HOOK_TRACE"
CNI_MIGRATE_HOOKS="$H/trace.lua" run "$B" --fake "$F" migrate
expect_rc 0
grep -q '^on_finish migrate nodes=worker-1,worker-2,worker-3,control-plane-1 skipped=0$' "$HOOK_TRACE" ||
    fail "CNI_MIGRATE_HOOKS: no on_finish in the trace"
CNI_MIGRATE_HOOKS="$dir/none.lua" run "$B" --fake "$F" preflight --hooks "$H/second.lua"
expect_rc 0
# a dry run checks the files and calls no hook
rm -f "$HOOK_TRACE"
run "$B" --fake "$F" migrate --dry-run=server --flannel-mtu 1450 --hooks "$H/trace.lua"
expect_rc 0
[ ! -e "$HOOK_TRACE" ] || fail "a dry run called hooks"

# 2. bad hook files: one line naming the file (and the hook), exit 2, not one request sent
printf 'return {\n  before_step = function() end,\n  after_stpe = function() end,\n}\n' >"$dir/unknown.lua"
printf 'return { health = "yes" }\n' >"$dir/notfn.lua"
printf 'return 42\n' >"$dir/number.lua"
printf 'local x = \nreturn {}\n' >"$dir/syntax.lua"
printf 'error("no config here")\n' >"$dir/raises.lua"
printf 'return { [1] = function() end }\n' >"$dir/index.lua"
check_bad() { # FILE EXPECTED-MESSAGE-REGEX
    for cmd in migrate rollback preflight; do
        run "$B" --fake "$F" --log-level warn --trace "$dir/bad.jsonl" "$cmd" --hooks "$H/trace.lua" --hooks "$1"
        expect_rc 2
        expect_lines 1
        expect_out "^cni-migrate: $cmd: hooks file $2\$"
        n=$(grep -c '"actor":"script"' "$dir/bad.jsonl")
        [ "$n" -eq 0 ] || fail "$cmd with a bad hook file $1 sent $n request(s)"
    done
}
check_bad "$dir/unknown.lua" "$dir/unknown\.lua: unknown hook after_stpe \(the names are on_start, order, hold, before_step, after_step, health, on_finish, on_failure\)"
check_bad "$dir/notfn.lua" "$dir/notfn\.lua: hook health is a string, not a function"
check_bad "$dir/number.lua" "$dir/number\.lua: returns a number, not a table of hooks by name"
check_bad "$dir/syntax.lua" "$dir/syntax\.lua:2: unexpected symbol near 'return'"
check_bad "$dir/raises.lua" "$dir/raises\.lua: loading it raised: $dir/raises\.lua:1: no config here"
check_bad "$dir/index.lua" "$dir/index\.lua: unknown hook \[1\] .*"
check_bad "$dir/none.lua" "$dir/none\.lua: No such file or directory"
CNI_MIGRATE_HOOKS="$dir/none.lua" run "$B" --fake "$F" migrate
expect_rc 2
expect_out "^cni-migrate: migrate: hooks file $dir/none\.lua: No such file or directory$"
WEBHOOK_URL= run "$B" --fake "$F" migrate --hooks "$E/webhook.lua"
expect_rc 2
expect_out "^cni-migrate: migrate: hooks file .*/examples/hooks/webhook\.lua: loading it raised: .*webhook\.lua:[0-9]+: WEBHOOK_URL: expected an http\(s\) URL$"

# 3. a hook that raises stops the run where it is (exit 1, the hook's file:line, on_failure told);
# the node in flight keeps its state, and the rerun goes on from there to the end
cat >"$dir/fail.lua" <<'EOF'
return {
   after_step = function(_, node, step)
      if node and node.metadata.name == "worker-2" and step == "drain" then
         error("worker-2 is drained: stop here")
      end
   end,
}
EOF
rm -f "$HOOK_TRACE"
run "$B" --fake "$F" --fake-save "$dir/stopped.yaml" migrate --hooks "$H/trace.lua" --hooks "$dir/fail.lua"
expect_rc 1
expect_out "^cni-migrate: migrate: hook after_step \($dir/fail\.lua:4\): worker-2 is drained: stop here$"
expect_out '^\(the run can be resumed: run it again\)$'
grep -q "^on_failure migrate: hook after_step ($dir/fail\.lua:4): worker-2 is drained: stop here | (the run can be resumed: run it again)\$" "$HOOK_TRACE" ||
    fail "on_failure was not called with the message"
grep -q '^before_step worker-3' "$HOOK_TRACE" && fail "the run went on after the failing hook"
nodes "$dir/stopped.yaml"
expect_node '^worker-1 net=calico busy=- unsched=false step=done held=- failed=-$'
expect_node "^worker-2 net=flannel busy=true unsched=true step=drain held=- failed=drain: hook after_step \\($dir/fail\\.lua:4\\): worker-2 is drained: stop here\$"
expect_node '^worker-3 net=flannel busy=- unsched=false step=-'
expect_node '^flannel DaemonSet: there$'
rm -f "$HOOK_TRACE"
run "$B" --fake "$dir/stopped.yaml" --fake-save "$dir/resumed.yaml" migrate --hooks "$H/trace.lua"
expect_rc 0
expect_out '^Migrated 3 node\(s\) to Calico'
grep -q '^hold worker-1' "$HOOK_TRACE" && fail "the rerun asked hold about worker-1, migrated already"
grep -q '^before_step worker-2\[flannel,cordoned\] cordon$' "$HOOK_TRACE" || fail "the rerun did not resume worker-2"
nodes "$dir/resumed.yaml"
[ "$(grep -c 'net=- busy=- unsched=false step=done held=- failed=-$' "$dir/nodes.txt")" -eq 4 ] ||
    fail "the rerun did not migrate every node: $(cat "$dir/nodes.txt")"
expect_node '^flannel DaemonSet: gone$'

# a hold hook that raises as the next node is picked (a slot freed; the other node of two in flight
# is mid-step): no node starts after it, the node in flight finishes, exit 1 with the hook's
# file:line; the rerun goes on to the end
cat >"$dir/hold-raises.lua" <<'EOF'
return {
   hold = function(_, node)
      if node.metadata.name == "worker-3" then error("the CMDB is down") end
   end,
}
EOF
run "$B" --fake "$F" --fake-save "$dir/hold-stopped.yaml" migrate --hooks "$dir/hold-raises.lua" --max-unavailable 2
expect_rc 1
expect_out "^cni-migrate: migrate: hook hold \($dir/hold-raises\.lua:3\): the CMDB is down$"
expect_out '^\(the run can be resumed: run it again\)$'
nodes "$dir/hold-stopped.yaml"
expect_node '^worker-1 net=calico busy=- unsched=false step=done held=- failed=-$'
expect_node '^worker-2 net=calico busy=- unsched=false step=done held=- failed=-$'
expect_node '^worker-3 net=flannel busy=- unsched=false step=- held=- failed=-$'
expect_node '^control-plane-1 net=flannel busy=- unsched=false step=- held=- failed=-$'
run "$B" --fake "$dir/hold-stopped.yaml" migrate
expect_rc 0
expect_out '^Migrated 2 node\(s\) to Calico'
# the same in a rollback
run "$B" --fake "$dir/migrated.yaml" --fake-save "$dir/rb-hold-stopped.yaml" rollback --hooks "$dir/hold-raises.lua" \
    --max-unavailable 2
expect_rc 1
expect_out "^cni-migrate: rollback: hook hold \($dir/hold-raises\.lua:3\): the CMDB is down$"
nodes "$dir/rb-hold-stopped.yaml"
[ "$(grep -c 'net=flannel busy=- unsched=false step=rolled-back held=- failed=-$' "$dir/nodes.txt")" -eq 2 ] ||
    fail "rollback, hold raising: the nodes in flight did not finish: $(cat "$dir/nodes.txt")"
run "$B" --fake "$dir/rb-hold-stopped.yaml" rollback
expect_rc 0
expect_out '^Rolled back 2 node\(s\) to flannel'

# an error without a position (error(msg, 0)) in a function the hook calls: the line it was raised at
cat >"$dir/nested.lua" <<'EOF'
local function check(n)
   error("no drain for " .. n.metadata.name, 0)
end
return {
   before_step = function(_, node, step)
      if step == "drain" then check(node) end
   end,
}
EOF
run "$B" --fake "$F" migrate --hooks "$dir/nested.lua"
expect_rc 1
expect_out "^cni-migrate: migrate: hook before_step \($dir/nested\.lua:2\): no drain for worker-1$"

# false, reason: the same stop, with the reason
cat >"$dir/false.lua" <<'EOF'
return {
   before_step = function(_, node, step)
      if node and node.metadata.name == "worker-3" and step == "label-calico" then return false, "not now" end
   end,
}
EOF
run "$B" --fake "$F" --fake-save "$dir/stopped.yaml" migrate --hooks "$dir/false.lua"
expect_rc 1
expect_out "^cni-migrate: migrate: hook before_step \($dir/false\.lua:2\) returned false: not now$"
run "$B" --fake "$dir/stopped.yaml" migrate
expect_rc 0
expect_out '^Migrated 2 node\(s\) to Calico'

# rollback stops the same way, and resumes
run "$B" --fake "$dir/migrated.yaml" --fake-save "$dir/rb-stopped.yaml" rollback --hooks "$dir/fail.lua"
expect_rc 1
expect_out "^cni-migrate: rollback: hook after_step \($dir/fail\.lua:4\): worker-2 is drained: stop here$"
run "$B" --fake "$dir/rb-stopped.yaml" rollback
expect_rc 0
expect_out '^Rolled back 3 node\(s\) to flannel'

# 4. the order hook: its order is the run's (the controller's own node still last); what it
# returns is checked
cat >"$dir/reverse.lua" <<'EOF'
return {
   order = function(_, nodes)
      local out = {}
      for i = #nodes, 1, -1 do out[#out + 1] = nodes[i].metadata.name end
      return out
   end,
}
EOF
run "$B" --fake "$F" migrate --hooks "$dir/reverse.lua"
expect_rc 0
order=$(printf '%s\n' "$OUT" | awk '$5 == "cordon" { printf "%s ", $4 }')
[ "$order" = "control-plane-1 worker-3 worker-2 worker-1 " ] || fail "reversed order: $order"
run "$B" --fake "$F" migrate --hooks "$dir/reverse.lua" --pod-node-name worker-3
expect_rc 0
order=$(printf '%s\n' "$OUT" | awk '$5 == "cordon" { printf "%s ", $4 }')
[ "$order" = "control-plane-1 worker-2 worker-1 worker-3 " ] || fail "reversed order, own node last: $order"
check_order() { # BODY EXPECTED-MESSAGE-REGEX
    printf 'return {\n   order = function(_, nodes)\n      %s\n   end,\n}\n' "$1" >"$dir/order.lua"
    run "$B" --fake "$F" --fake-save "$dir/order.yaml" migrate --hooks "$dir/order.lua"
    expect_rc 1
    expect_out "^cni-migrate: migrate: hook order \($dir/order\.lua:2\) $2\$"
    nodes "$dir/order.yaml"
    [ "$(grep -c 'net=flannel busy=- unsched=false step=-' "$dir/nodes.txt")" -eq 4 ] || fail "a node was touched"
}
check_order 'table.remove(nodes, 2) return nodes' 'left out node worker-2 \(return every node it was given\)'
check_order 'nodes[2] = "worker-9" return nodes' 'returned node worker-9, which is not one of the nodes to migrate'
check_order 'nodes[2] = nodes[1] return nodes' 'returned node worker-1 twice'
check_order 'return "worker-1"' 'returned a string, not a list of nodes'
check_order 'nodes[3] = 7 return nodes' 'returned a number at \[3\], not a Node or a node.s name'

# 5. hold (examples/hooks/hold-by-label.lua): the node stays on flannel, annotated; the others are
# migrated; the run cannot complete (exit 1 naming it); without the label, the rerun completes
patch "$F" "$dir/labelled.yaml" Node - worker-2 \
    '{"metadata":{"labels":{"cni-migrate.dev/hold":"db-maintenance"}}}'
run "$B" --fake "$dir/labelled.yaml" --fake-save "$dir/held.yaml" migrate --hooks "$E/hold-by-label.lua"
expect_rc 1
expect_out "^cni-migrate: migrate: 1 node\(s\) held, still on flannel: worker-2 \(label cni-migrate\.dev/hold=db-maintenance \(hook hold, .*examples/hooks/hold-by-label\.lua:14\)\)\. The migration cannot complete until they move: run it again once they are no longer held \(3 node\(s\) migrated in this run\)$"
expect_out ' worker-2 +held +label cni-migrate\.dev/hold=db-maintenance'
nodes "$dir/held.yaml"
expect_node '^worker-2 net=flannel busy=- unsched=false step=- held=label cni-migrate\.dev/hold=db-maintenance \(hook hold, .*hold-by-label\.lua:14\) failed=-$'
[ "$(grep -c 'net=calico busy=- unsched=false step=done held=- failed=-$' "$dir/nodes.txt")" -eq 3 ] || fail "held: the other nodes"
expect_node '^flannel DaemonSet: there$'
run "$B" --fake "$dir/held.yaml" --log-level warn status
expect_rc 0
expect_out '^Nodes: 3 done, 0 in flight, 1 held, 0 failed, 0 left \(of 4\)$'
expect_out '^worker-2 +held +- +[0-9TZ:-]+ \([0-9]+s ago\) +label cni-migrate\.dev/hold=db-maintenance \(hook hold, .*hold-by-label\.lua:14\)$'
patch "$dir/held.yaml" "$dir/unlabelled.yaml" Node - worker-2 \
    '{"metadata":{"labels":{"cni-migrate.dev/hold":null}}}'
run "$B" --fake "$dir/unlabelled.yaml" --fake-save "$dir/end.yaml" migrate --hooks "$E/hold-by-label.lua"
expect_rc 0
expect_out '^Migrated 1 node\(s\) to Calico'
nodes "$dir/end.yaml"
[ "$(grep -c 'net=- busy=- unsched=false step=done held=- failed=-$' "$dir/nodes.txt")" -eq 4 ] || fail "after the hold"

# and in a rollback: the held node stays on Calico, the others go back to flannel
patch "$dir/migrated.yaml" "$dir/rb-labelled.yaml" Node - worker-2 \
    '{"metadata":{"labels":{"cni-migrate.dev/hold":"db-maintenance"}}}'
run "$B" --fake "$dir/rb-labelled.yaml" --fake-save "$dir/rb-held.yaml" rollback --hooks "$E/hold-by-label.lua"
expect_rc 1
expect_out "^cni-migrate: rollback: 1 node\(s\) held by the site's hooks, not rolled back: worker-2 \(label cni-migrate\.dev/hold=db-maintenance \(hook hold, .*hold-by-label\.lua:14\)\)\. The rollback cannot complete until they move: run it again once they are no longer held \(3 node\(s\) rolled back in this run\)$"
nodes "$dir/rb-held.yaml"
expect_node '^worker-2 net=calico busy=- unsched=false step=rollback-label-calico held=label cni-migrate\.dev/hold=db-maintenance'
[ "$(grep -c 'net=flannel busy=- unsched=false step=rolled-back held=- failed=-$' "$dir/nodes.txt")" -eq 3 ] ||
    fail "rollback held: the other nodes"

# 6. one zone at a time (examples/hooks/zone-order.lua)
cp "$F" "$dir/zones.yaml"
for nz in worker-1:b worker-2:b worker-3:a control-plane-1:a; do
    patch "$dir/zones.yaml" "$dir/zones.yaml" Node - "${nz%:*}" \
        "{\"metadata\":{\"labels\":{\"topology.kubernetes.io/zone\":\"${nz#*:}\"}}}"
done
run "$B" --fake "$dir/zones.yaml" migrate --hooks "$E/zone-order.lua"
expect_rc 0
order=$(printf '%s\n' "$OUT" | awk '$5 == "cordon" { printf "%s ", $4 }')
[ "$order" = "worker-3 control-plane-1 worker-1 worker-2 " ] || fail "zone order: $order"

# 7. the health gate (examples/hooks/deployment-health.lua): passes when apps/web has its replicas
# available; when it cannot be (no such Deployment), the run stops after the first node, marked
# failed, and the rerun asks again about that node before it goes on
HEALTH_DEPLOYMENT=apps/web run "$B" --fake "$F" migrate --hooks "$E/deployment-health.lua"
expect_rc 0
[ "$(printf '%s\n' "$OUT" | grep -c 'health: Deployment ready.*deployment=apps/web')" -eq 4 ] || fail "health: 4 passes"
HEALTH_DEPLOYMENT=apps/gone run "$B" --fake "$F" --fake-save "$dir/unhealthy.yaml" migrate --hooks "$E/deployment-health.lua"
expect_rc 1
expect_out '^cni-migrate: migrate: hook health \(.*examples/hooks/deployment-health\.lua:[0-9]+\) returned false: Deployment apps/gone: .*\(NotFound\)$'
nodes "$dir/unhealthy.yaml"
expect_node '^worker-1 net=calico busy=- unsched=false step=done held=- failed=health: hook health .*NotFound\)$'
expect_node '^worker-2 net=flannel busy=- unsched=false step=-'
run "$B" --fake "$dir/unhealthy.yaml" --log-level warn status
expect_out '^worker-1 +failed +health +.* health: hook health \(.*deployment-health\.lua:[0-9]+\) returned false: Deployment apps/gone: .*\(NotFound\)$'
HEALTH_DEPLOYMENT=apps/web run "$B" --fake "$dir/unhealthy.yaml" --fake-save "$dir/healthy.yaml" migrate \
    --hooks "$E/deployment-health.lua"
expect_rc 0
expect_out 'health: Deployment ready.*node=worker-1'
nodes "$dir/healthy.yaml"
[ "$(grep -c 'net=- busy=- unsched=false step=done held=- failed=-$' "$dir/nodes.txt")" -eq 4 ] || fail "after health"
# the gate waits: two more replicas asked for as worker-1 is done (a test hook), health waits for them
cat >"$dir/scale.lua" <<'EOF'
return {
   after_step = function(ctx, node, step)
      if node and node.metadata.name == "worker-1" and step == "uncordon" then
         assert(ctx.c:patch({ apiVersion = "apps/v1", kind = "Deployment", namespace = "apps", name = "web" },
            { spec = { replicas = 8 } }, { type = "merge" }))
      end
   end,
}
EOF
HEALTH_DEPLOYMENT=apps/web run "$B" --fake "$F" migrate --hooks "$dir/scale.lua" --hooks "$E/deployment-health.lua"
expect_rc 0
expect_out 'health: Deployment ready deployment=apps/web node=worker-1 replicas="8/8 available, 8 updated" waited=[1-9][0-9]*\.[0-9]s$'
# a Deployment that cannot come back: its pods need a node that no node is (a nodeSelector)
patch "$F" "$dir/stuck.yaml" Deployment apps web \
    '{"spec":{"template":{"spec":{"nodeSelector":{"no-such":"label"}}}}}'
HEALTH_DEPLOYMENT=apps/web HEALTH_TIMEOUT=60 run "$B" --fake "$dir/stuck.yaml" migrate --hooks "$E/deployment-health.lua"
expect_rc 1
expect_out '^cni-migrate: migrate: hook health \(.*deployment-health\.lua:[0-9]+\) returned false: Deployment apps/web: [0-9]+/6 available, [0-9]+ updated after 60s \(node worker-1\)$'

# 8. the webhook (examples/hooks/webhook.lua) against a real HTTP server on this host
cat >"$dir/server.py" <<'EOF'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(sys.argv[1], "ab") as f:
            f.write(self.headers["Content-Type"].encode() + b" " + body + b"\n")
        self.send_response(500 if self.path == "/fail" else 204)
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_port, flush=True)
s.serve_forever()
EOF
python3 "$dir/server.py" "$dir/posts.txt" >"$dir/port" &
srv=$!
i=0
while [ ! -s "$dir/port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
url="http://127.0.0.1:$(cat "$dir/port")/hook"
WEBHOOK_URL=$url run "$B" --fake "$F" migrate --hooks "$E/webhook.lua"
expect_rc 0
cat >"$dir/posts-want.txt" <<'EOF'
application/json {"command":"migrate","event":"start","rehearsal":true,"text":"(rehearsal) cni-migrate migrate started"}
application/json {"command":"migrate","event":"node","node":"worker-1","rehearsal":true,"text":"(rehearsal) cni-migrate migrate: node worker-1 done"}
application/json {"command":"migrate","event":"node","node":"worker-2","rehearsal":true,"text":"(rehearsal) cni-migrate migrate: node worker-2 done"}
application/json {"command":"migrate","event":"node","node":"worker-3","rehearsal":true,"text":"(rehearsal) cni-migrate migrate: node worker-3 done"}
application/json {"command":"migrate","event":"node","node":"control-plane-1","rehearsal":true,"text":"(rehearsal) cni-migrate migrate: node control-plane-1 done"}
EOF
sed 's/,"text":"(rehearsal) cni-migrate migrate finished: 4 node(s) in [0-9]* s"}$/,"text":"FINISHED"}/' "$dir/posts.txt" >"$dir/posts-got.txt"
printf '%s\n' 'application/json {"command":"migrate","event":"finish","rehearsal":true,"text":"FINISHED"}' >>"$dir/posts-want.txt"
diff "$dir/posts-want.txt" "$dir/posts-got.txt" >&2 || fail "webhook: the posts differ"
: >"$dir/posts.txt"
WEBHOOK_URL=$url run "$B" --fake "$F" migrate --hooks "$E/webhook.lua" --hooks "$dir/fail.lua"
expect_rc 1
grep -q '"event":"failure","rehearsal":true,"text":"(rehearsal) cni-migrate migrate stopped: migrate: hook after_step' "$dir/posts.txt" ||
    fail "webhook: no failure post"
# an HTTP error: logged, and the run goes on
WEBHOOK_URL="${url%/hook}/fail" run "$B" --fake "$F" migrate --hooks "$E/webhook.lua"
expect_rc 0
[ "$(printf '%s\n' "$OUT" | grep -c 'WARN  webhook: the post failed error="HTTP 500"')" -eq 6 ] || fail "webhook: HTTP 500 not logged"
kill "$srv"
wait "$srv" 2>/dev/null
srv=""
# the webhook down: logged, and the run goes on
WEBHOOK_URL=$url run "$B" --fake "$F" migrate --hooks "$E/webhook.lua"
expect_rc 0
expect_out 'WARN +webhook: the post failed.*ConnectFailed|WARN +webhook: the post failed.*Failed to connect'

# 9. over HTTP (fake serve, kubectl's kind of client): the same calls with the same Nodes; the
# hooks' requests go through the run's client like the run's own
fake_start "$F" --speed 100
rm -f "$HOOK_TRACE"
run "$B" migrate --hooks "$H/trace.lua" --hooks "$H/second.lua"
expect_rc 0
expect_out '^Migrated 4 node\(s\) to Calico in [0-9.]+ s of real time'
sed '1s/^on_start migrate client=fake rehearsal=true /on_start migrate client=? rehearsal=false /' "$H/trace-migrate.txt" \
    >"$dir/trace-http.txt"
diff "$dir/trace-http.txt" "$HOOK_TRACE" >&2 || fail "over HTTP: the hooks' trace differs from trace-migrate.txt"
fake_stop
done_ok
