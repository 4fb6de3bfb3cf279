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
# an operator's cordon, which neither the migration nor the rollback may undo
cat >"$dir/cordon.lua" <<'EOF'
local c = require("cm.k8s").client()
assert(c:patch({ apiVersion = "v1", kind = "Node", name = "worker-3" }, { spec = { unschedulable = true } },
   { type = "strategic" }))
EOF

# check_back START HOSTS NS DS [clean] [canal]: the cluster $dir/back.yaml against the start
check_back() {
    start=$1; shift
    run "$B" --fake "$dir/back.yaml" --log-level warn run "$E" "$start" "$@"
    expect_rc 0
    expect_out '^ok: [0-9]+ checks$'
}

# stop_and_back START N HOSTS NS DS [canal]: migrate killed after write N, rolled back, checked
stop_and_back() {
    start=$1; n=$2; shift 2
    run "$B" --fake "$start" --fault "crash:afterWrites=$n" --fake-save "$dir/stop.yaml" migrate
    [ "$RC" -eq 137 ] || [ "$RC" -eq 0 ] || fail "migrate stopped at write $n: exit $RC"
    run "$B" --fake "$dir/stop.yaml" --fake-save "$dir/back.yaml" rollback
    expect_rc 0
    expect_out '^(Rolled back [0-9]+ node\(s\) to (flannel|Canal)|Nothing to roll back)'
    [ "$RC" -eq 0 ] || { echo "(rollback after migrate write $n)" >&2; return; }
    check_back "$start" "$@"
    [ "$RC" -eq 0 ] || echo "(rollback after migrate write $n)" >&2
}


# first REGEX: the number of the first write of the whole migration ($dir/w1.txt) that matches
first() { grep -E "$1" "$dir/w1.txt" | head -n1 | awk '{print $1}'; }

# start10: $S, the 10-node fixture with worker-3 cordoned by an operator (neither the migration nor
# the rollback may undo that), $dir/h10 its hosts; a whole migration of it ($dir/end10.yaml), its
# writes numbered in $dir/w1.txt ($total of them)
start10() {
    run "$B" --fake "$X/flannel-calico-installed-10node.yaml" --fake-save "$dir/start10.yaml" run "$dir/cordon.lua"
    expect_rc 0
    S="$dir/start10.yaml"
    hosts "$S" "$dir/h10"
    [ -s "$dir/h10/worker-3.json" ] || fail "no host for worker-3"
    run "$B" --fake "$S" --trace "$dir/t1.jsonl" --fake-save "$dir/end10.yaml" migrate
    expect_rc 0
    writes "$dir/t1.jsonl" >"$dir/w1.txt"
    total=$(wc -l <"$dir/w1.txt")
    [ "$total" -gt 250 ] || fail "the migration made $total writes"
}
