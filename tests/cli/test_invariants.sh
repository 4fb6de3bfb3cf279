#!/bin/sh
# The rehearsal's safety invariants (lua/cm/invariants.lua), checked after every change of the
# simulated cluster: each planted violation is caught with its virtual time, its objects and the
# right message, and the run exits 1 (tests/k8s/invariants.lua plants them from a script; two
# copies of the bundled Lua plant them inside migrate: a node left without affinities, and a
# delete-pods step that deletes pods on every node). What is allowed (a pod deleted on a node in
# progress, two nodes cordoned with --max-unavailable 2, a whole migration) breaks nothing.
. "$(dirname "$0")/lib.sh"
B=${CNI_MIGRATE:?}
F="${CM_SOURCE_DIR:?}/examples/clusters/flannel-calico-installed-4node.yaml"
S="$CM_SOURCE_DIR/tests/k8s/invariants.lua"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
AT='at 2026-11-01T09:00:3[01]\.00[0-9]Z \(\+3[01]\.0s\)'

# planted WHAT INVARIANT MESSAGE-REGEX: the run fails naming the invariant, its time and objects
planted() {
    run "$B" run --fake "$F" "$S" "$1"
    expect_rc 1
    expect_out "ERROR safety invariant broken: $2: $3"
    expect_out "^  $2 +BROKEN 1 time\(s\); first at \+3[01]\.0s: $3"
    expect_out "^cni-migrate: the rehearsal broke 1 safety invariant \(logged above\); the first $AT: $2: $3"
    [ "$(printf '%s\n' "$OUT" | grep -c BROKEN)" -eq 1 ] || fail "$1: another invariant broken too"
}
planted restart restart 'pod apps/db-1 was deleted \(evicted or terminating\) on node worker-2, which is not being migrated \(no projectcalico.org/node-flannel-migration-in-progress=true\); its IP was 10\.244\.2\.5'
planted affinity affinity 'node worker-1 switched to Calico \(projectcalico.org/node-network-during-migration=calico\) with podCIDR 10\.244\.1\.0/24 not covered by blocks affine to it \(confirmed BlockAffinities: none\)'
planted cordoned cordoned '2 nodes cordoned by the migration \(worker-1, worker-2\), at most 1 allowed \(--max-unavailable 1\)'
planted pod-ip pod-ip 'pod apps/db-1 on node worker-2 changed its IP from 10\.244\.2\.5 to 10\.244\.2\.99'
planted placeholder placeholder "pod apps/late became Running on node worker-3 while its active CNI config /etc/cni/net.d/05-calico.conflist is the migration's placeholder \(no network\)"

# reach: sampled pairs of pods on different nodes, per the dataplane model (cm.dataplane)
run "$B" run --fake "$F" "$S" reach
expect_rc 1
expect_out '^  reach +BROKEN [0-9]+ time\(s\); first at \+35\.0s: pod [a-z-]+/[a-z0-9-]+ \(10\.244\.[0-9]+\.[0-9]+ on [a-z0-9-]+\) cannot reach pod [a-z-]+/[a-z0-9-]+ \(10\.244\.[0-9.]+ on [a-z0-9-]+\) per the dataplane model: (reply: )?worker-1: no FDB entry for 9e:3a:7c:00:00:0[1-4] on flannel\.1$'
# reach, under its own address: a leftover FLANNEL-POSTRTG masquerading pods (calico#12920)
run "$B" run --fake "$F" "$S" masquerade
expect_rc 1
expect_out '^  reach +BROKEN [0-9]+ time\(s\); first at \+35\.0s: pod [a-z-]+/[a-z0-9-]+ \(10\.244\.[0-9.]+ on [a-z0-9-]+\) reaches pod [a-z-]+/[a-z0-9-]+ \(10\.244\.[0-9.]+ on [a-z0-9-]+\) under another source address, which a NetworkPolicy admitting it would drop \(calico#12920\), per the dataplane model: worker-1: source 10\.244\.[0-9.]+ rewritten to 10\.244\.1\.[01] by iptables nat -A FLANNEL-POSTRTG -s 10\.244\.0\.0/16 ! -d 224\.0\.0\.0/4 .*-j MASQUERADE --random-fully$'
expect_no_out 'cannot reach'
# fake host --reach: every Running pod of worker-1 to every other, both ways
run "$B" fake host "$F" worker-1 --reach --at 30s
expect_rc 0
[ "$(printf '%s\n' "$OUT" | grep -c ': ok$')" -ge 12 ] || fail "fake host --reach: fewer than 12 pairs ok"
expect_no_out 'unreachable'
expect_out '^apps/db-0 \(10\.244\.1\.6\) -> apps/db-1 \(10\.244\.2\.5 on worker-2\): ok$'

# what is allowed breaks nothing
for allowed in restart-ok "cordoned 2"; do
    # shellcheck disable=SC2086 # two words: the violation and --max-unavailable
    run "$B" run --fake "$F" "$S" $allowed
    expect_rc 0
    expect_no_out 'BROKEN|invariant broken'
    [ "$(printf '%s\n' "$OUT" | grep -c ' held')" -eq 6 ] || fail "$allowed: not 6 invariants held"
done

# every rehearsal of migrate checks them, unless --no-invariants
run "$B" migrate --fake "$F"
expect_rc 0
expect_out '^Safety invariants, checked after each of [0-9]{3,} change\(s\) of the simulated cluster:$'
for inv in restart pod-ip cordoned placeholder affinity; do expect_out "^  $inv +held$"; done
expect_out '^  reach +held \([0-9]{2,} pair\(s\) sampled in [0-9]+ check\(s\)\)$'
run "$B" migrate --fake "$F" --no-invariants
expect_rc 0
expect_no_out 'Safety invariants'

# planted inside migrate: worker-2's IPAM never prepared; delete-pods listing every node's pods
cp -r "$CM_SOURCE_DIR/lua" "$dir/noaff"
sed -i '/^function M.node_ipam(ctx, n)$/a\   if n.metadata.name == "worker-2" then return false end' "$dir/noaff/cm/prepare.lua"
run "$B" migrate --lua-dir "$dir/noaff" --fake "$F"
expect_rc 1
expect_out 'ERROR safety invariant broken: affinity: node worker-2 switched to Calico .* podCIDR 10\.244\.2\.0/24 not covered by blocks affine to it \(confirmed BlockAffinities: none\) at="at 2026-11-01T09:0[0-9]:[0-9.]+Z \(\+[0-9.]+s\)"'
cp -r "$CM_SOURCE_DIR/lua" "$dir/delall"
sed -i 's/items, msg, code = view:list()/items = ctx.c:list { apiVersion = "v1", kind = "Pod" }.items/' \
    "$dir/delall/cm/nodestep.lua"
grep -q 'items = ctx.c:list { apiVersion = "v1", kind = "Pod" }.items' "$dir/delall/cm/nodestep.lua" ||
    fail "the delete-pods plant did not apply"
run "$B" migrate --lua-dir "$dir/delall" --fake "$F"
expect_rc 1
expect_out 'ERROR safety invariant broken: restart: pod [a-z-]+/[a-z0-9-]+ was deleted .* on node [a-z0-9-]+, which is not being migrated'
expect_out '^cni-migrate: the rehearsal broke [0-9] safety invariants? \(logged above\); the first at .*: restart: '
done_ok
