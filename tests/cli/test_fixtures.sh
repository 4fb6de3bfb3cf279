#!/bin/sh
# examples/clusters/: each fixture is what generate.lua prints today (so they cannot drift apart),
# and each is consistent (tests/lua/fixture_check.lua).
. "$(dirname "$0")/lib.sh"
B=${CNI_MIGRATE:?}
S=${CM_SOURCE_DIR:?}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
check() { # check FIXTURE GENERATE-ARGS...
    fixture=$1
    shift
    "$B" run "$S/examples/clusters/generate.lua" "$@" >"$dir/$fixture" 2>"$dir/err"
    RC=$?
    OUT=$(cat "$dir/err")
    expect_rc 0
    cmp -s "$dir/$fixture" "$S/examples/clusters/$fixture" || fail "$fixture differs from generate.lua $*"
    run "$B" run "$S/tests/lua/fixture_check.lua" "$S/examples/clusters/$fixture"
    expect_rc 0
    expect_out "^ok: "
}
check flannel-1node.yaml --nodes 1
check flannel-3node.yaml
check flannel-10node.yaml --nodes 10 --statefulset 3 --pdbs
check canal-3node.yaml --canal
check flannel-calico-installed-4node.yaml --calico-installed --nodes 4 --statefulset 2 --pdbs
check flannel-calico-installed-10node.yaml --calico-installed --nodes 10 --statefulset 3 --api 4 --pdbs
check flannel-old-calico-installed-3node.yaml --old-manifest --calico-installed --statefulset 1 --pdbs
check flannel-prefix-vni-calico-installed-3node.yaml --annotation-prefix flannel.example.com --vni 4096 --calico-installed
check canal-calico-installed-3node.yaml --canal --calico-installed
check flannel-calico-installed-1node.yaml --nodes 1 --calico-installed
check flannel-calico-installed-3cp-5node.yaml --nodes 5 --control-planes 3 --calico-installed --pdbs
# a cluster of control planes only: untainted, since its workloads run there (tainted, the pods a
# drain evicted had nowhere to go and a migration's drains waited on their PDB for ever)
"$B" run "$S/examples/clusters/generate.lua" --nodes 3 --control-planes 3 --statefulset 3 --pdbs >"$dir/cp3.yaml" ||
    fail "generate.lua --nodes 3 --control-planes 3 failed"
run "$B" run "$S/tests/lua/fixture_check.lua" "$dir/cp3.yaml"
expect_rc 0
expect_out "^ok: "
run "$B" run "$S/examples/clusters/generate.lua" --nodes many
expect_rc 2
expect_out '^generate\.lua: --nodes: expected an integer, got "many"$'
run "$B" run "$S/examples/clusters/generate.lua" --frob
expect_rc 2
expect_out '^generate\.lua: unknown or incomplete option "--frob"$'
run "$B" run "$S/examples/clusters/generate.lua" --vni 0
expect_rc 2
expect_out '^generate\.lua: --vni: expected 1 to 16777215$'
run "$B" run "$S/examples/clusters/generate.lua" --canal --old-manifest
expect_rc 2
expect_out '^generate\.lua: --old-manifest and --annotation-prefix are for flannel, not --canal$'
done_ok
