# rollback_lib.sh - what tests/cli/test_rollback*.sh share (sourced after lib.sh and fake_lib.sh):
# the fixtures' start (the 10-node fixture with worker-3 cordoned by an operator, each node's host
# as flannel made it), a whole migration of it with its writes numbered, and the checks.
B=${CNI_MIGRATE:?}
X="${CM_SOURCE_DIR:?}/examples/clusters"
E="$CM_SOURCE_DIR/tests/k8s/rollback_end.lua"
M="$CM_SOURCE_DIR/tests/k8s/migrate_end.lua"
dir=$(mktemp -d)
trap 'fake_stop; rm -rf "$dir" "$FAKE_DIR"' EXIT
export LUA_PATH_5_4="$CM_SOURCE_DIR/tests/lua/?.lua"

# writes TRACE: the script's API writes in a trace, one per line, numbered as crash:afterWrites counts
writes() {
    grep '"actor":"script"' "$1" | grep -E '"verb":"(create|update|patch|delete)"' | cat -n
}

# hosts FIXTURE DIR: every node's simulated host at the start, as flanneld made it
hosts() {
    mkdir -p "$2"
    for n in $("$B" --fake "$1" --log-level warn run "$dir/nodes.lua"); do
        "$B" fake host "$1" "$n" >"$2/$n.json" 2>/dev/null || fail "fake host $1 $n"
    done
}
cat >"$dir/nodes.lua" <<'EOF'
local c = require("cm.k8s").client()
for _, n in ipairs(assert(c:list { apiVersion = "v1", kind = "Node" }).items) do print(n.metadata.name) end
EOF
# an operator's cordon on the node given as the argument, which neither the migration nor the
# rollback may undo
cat >"$dir/cordon.lua" <<'EOF'
local c = require("cm.k8s").client()
assert(c:patch({ apiVersion = "v1", kind = "Node", name = (...) }, { spec = { unschedulable = true } },
   { type = "strategic" }))
EOF
# flannel's (or Canal's) DaemonSet, as "NAMESPACE NAME": the one with a kube-flannel container
cat >"$dir/flannel-ds.lua" <<'EOF'
local c = require("cm.k8s").client()
for _, ds in ipairs(assert(c:list { apiVersion = "apps/v1", kind = "DaemonSet" }).items) do
   for _, ct in ipairs(ds.spec.template.spec.containers) do
      if ct.name == "kube-flannel" then print(ds.metadata.namespace .. " " .. ds.metadata.name) end
   end
end
EOF

# check_back START HOSTS NS DS [clean]: the cluster $dir/back.yaml against the start
check_back() {
    start=$1; shift
    run "$B" --fake "$dir/back.yaml" --log-level warn run "$E" "$start" "$@"
    expect_rc 0
    expect_out '^ok: [0-9]+ checks$'
}

# stop_and_back START N HOSTS NS DS [clean]: migrate killed after write N, rolled back (with
# --remove-calico-state when clean is given), checked
stop_and_back() {
    start=$1; n=$2; shift 2
    run "$B" --fake "$start" --no-invariants --fault "crash:afterWrites=$n" --fake-save "$dir/stop.yaml" migrate
    [ "$RC" -eq 137 ] || [ "$RC" -eq 0 ] || fail "migrate stopped at write $n: exit $RC"
    run "$B" --fake "$dir/stop.yaml" --fake-save "$dir/back.yaml" rollback ${4:+--remove-calico-state}
    expect_rc 0
    expect_out '^(Rolled back [0-9]+ node\(s\) to (flannel|Canal)|Nothing to roll back)'
    [ "$RC" -eq 0 ] || { echo "(rollback ${4:+--remove-calico-state }after migrate write $n)" >&2; return; }
    check_back "$start" "$@"
    [ "$RC" -eq 0 ] || echo "(rollback ${4:+--remove-calico-state }after migrate write $n)" >&2
}

# first REGEX: the number of the first write of the whole migration ($dir/w1.txt) that matches
first() { grep -E "$1" "$dir/w1.txt" | head -n1 | awk '{print $1}'; }

# start_fixture FIXTURE [NODE]: $S, the bundled FIXTURE (NODE cordoned by an operator), $H its
# hosts, $FNS and $FDS flannel's DaemonSet; a whole migration of it ($END), its writes numbered in
# $dir/w1.txt ($total of them)
start_fixture() {
    if [ -n "${2:-}" ]; then
        run "$B" --fake "$X/$1.yaml" --fake-save "$dir/start.yaml" run "$dir/cordon.lua" "$2"
        expect_rc 0
    else
        cp "$X/$1.yaml" "$dir/start.yaml"
    fi
    S="$dir/start.yaml" H="$dir/hosts" END="$dir/end.yaml"
    hosts "$S" "$H"
    set -- $("$B" --fake "$S" --log-level warn run "$dir/flannel-ds.lua")
    FNS=${1:-none} FDS=${2:-none}
    run "$B" --fake "$S" --trace "$dir/t1.jsonl" --fake-save "$END" migrate
    expect_rc 0
    writes "$dir/t1.jsonl" >"$dir/w1.txt"
    total=$(wc -l <"$dir/w1.txt")
}

# start10: start_fixture on the 10-node fixture with worker-3 cordoned by an operator
start10() {
    start_fixture flannel-calico-installed-10node worker-3
    [ -s "$H/worker-3.json" ] || fail "no host for worker-3"
    [ "$FNS/$FDS" = kube-flannel/kube-flannel-ds ] || fail "flannel's DaemonSet: $FNS/$FDS"
    [ "$total" -gt 250 ] || fail "the migration made $total writes"
}
