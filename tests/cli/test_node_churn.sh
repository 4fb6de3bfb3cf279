#!/bin/sh
# Nodes that join and nodes deleted during a migration (the cluster changed under the run by the
# hooks of tests/cli/hooks/churn.lua): worker-4 joins after control-plane-1's drain and is
# prepared (labelled for flannel, its IPAM written) and migrated; worker-2 is deleted as its drain
# starts (the simulation's pod GC deletes its pods) and is skipped with a note. --no-invariants:
# the safety checks count the deleted node's cordon and its pods' deletion as the migration's.
# Then worker-4 joins as worker-1's drain starts (CHURN_JOIN_EARLY=1): the run labels it for flannel
# at once (cm.prepare.label_joined's watch), so the pods the drains evict there get a network and
# the PDB-bound drains end; before, they waited until the run's --timeout.
. "$(dirname "$0")/lib.sh"
B=${CNI_MIGRATE:?}
F="${CM_SOURCE_DIR:?}/examples/clusters/flannel-calico-installed-4node.yaml"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

run "$B" --fake "$F" --fake-save "$dir/end.yaml" migrate --no-invariants --hooks "$CM_SOURCE_DIR/tests/cli/hooks/churn.lua"
expect_rc 0
expect_out '^Migrated 4 node\(s\) to Calico in [0-9.]+ s of virtual .* time; 1 skipped; 4 node\(s\) in the cluster\.$'
expect_out '^note: node worker-2 was deleted during its migration: skipped$'
expect_out ' worker-2 +skipped +the node was deleted: skipped$'
expect_out ' worker-4 +joined +projectcalico\.org/node-network-during-migration=flannel: a node that joined gets flannel now'
expect_out ' worker-4 +node-ipam +4 block\(s\) of 10\.244\.9\.0/24, VTEP 10\.244\.9\.0 9e:3a:7c:00:00:09$'
expect_out ' worker-4 +calico-check +vxlan\.calico VNI 1 port 8472 MAC 9e:3a:7c:00:00:09'
expect_out ' worker-4 +uncordon +uncordoned; in-progress removed$'
# the joined node's host runs Calico's VXLAN device; the deleted node is gone
run "$B" fake host "$dir/end.yaml" worker-4
expect_rc 0
expect_out '"name": "vxlan\.calico"'
expect_no_out '"name": "flannel\.1"'
run "$B" fake host "$dir/end.yaml" worker-2
expect_rc 2
# a second run: nothing left to do
run "$B" --fake "$dir/end.yaml" migrate --no-invariants
expect_rc 0
expect_out '^The cluster is migrated already'

# worker-4 joins while the drains move pods: labelled for flannel before worker-1's drain ends, it
# gets evicted pods, and the run ends well within its --timeout
run env CHURN_JOIN_EARLY=1 "$B" --fake "$F" --timeout 1800 migrate --no-invariants --hooks "$CM_SOURCE_DIR/tests/cli/hooks/churn.lua"
expect_rc 0
expect_out '^Migrated 4 node\(s\) to Calico in [0-9.]+ s of virtual .* time; 1 skipped; 4 node\(s\) in the cluster\.$'
order=$(printf '%s\n' "$OUT" | awk '$5 == "joined" || ($4 == "worker-1" && $5 == "drain") { printf "%s:%s ", $4, $5 }')
[ "$order" = "worker-4:joined worker-1:drain " ] || fail "worker-4 labelled when it joined: $order"
expect_out ' worker-4 +drain +[1-9][0-9]* evicted'
expect_out ' worker-4 +uncordon +uncordoned; in-progress removed$'
done_ok
