#!/bin/sh
# One fixture per preflight blocker: the 4-node fixture changed by tests/cli/blocker_fixture.lua so
# that one check finds it; migrate prints the blocker's line, exits 1 and writes nothing (the
# trace shows every request: SelfSubjectAccessReviews, which store nothing, and node-facts' pods,
# which come and go, aside). test_migrate.sh has the settings contradictions (flag and
# environment against the cluster) and a cluster without Calico; test_least_privilege.sh the RBAC.
. "$(dirname "$0")/lib.sh"
B=${CNI_MIGRATE:?}
F="${CM_SOURCE_DIR:?}/examples/clusters/flannel-calico-installed-4node.yaml"
G="$CM_SOURCE_DIR/tests/cli/blocker_fixture.lua"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

writes() {
    grep '"actor":"script"' "$1" | grep -E '"verb":"(create|update|patch|delete)"' | grep -v selfsubjectaccessreviews |
        grep -Ev '"path":"/api/v1/namespaces/kube-system/pods(/cm-node-facts-[a-z0-9-]+)?"' | wc -l
}

"$B" fake host "$F" worker-1 >"$dir/host.json" 2>"$dir/host.err" || { OUT=$(cat "$dir/host.err"); fail "fake host"; }

# variant|the blocker's line in migrate's table
tried=0
while IFS='|' read -r variant line; do
    [ -n "$variant" ] || continue
    run "$B" run "$G" "$F" "$variant" "$dir/host.json" </dev/null
    [ "$RC" -eq 0 ] || { fail "$variant: the fixture was not made"; continue; }
    printf '%s\n' "$OUT" >"$dir/$variant.yaml"
    run "$B" --fake "$dir/$variant.yaml" --trace "$dir/$variant.jsonl" migrate </dev/null
    [ "$RC" -eq 1 ] || fail "$variant: exit $RC, not 1"
    expect_out "^$line"
    expect_out '^cni-migrate: migrate: [0-9]+ blocker\(s\): nothing was changed'
    [ "$(writes "$dir/$variant.jsonl")" -eq 0 ] || fail "$variant: migrate wrote before refusing"
    grep -q '"actor":"script"' "$dir/$variant.jsonl" || fail "$variant: no trace"
    tried=$((tried + 1))
done <<'EOF'
addon-managed|addon-managed +blocker +DaemonSet kube-flannel/kube-flannel-ds +label addonmanager\.kubernetes\.io/mode=Reconcile: the addon manager would undo
kube-subnet-mgr|kube-subnet-mgr +blocker +DaemonSet kube-flannel/kube-flannel-ds +flanneld does not run with --kube-subnet-mgr
net-conf|net-conf +blocker +DaemonSet kube-flannel/kube-flannel-ds +flannel's ConfigMap is missing
backend-vxlan|backend-vxlan +blocker +ConfigMap kube-flannel/kube-flannel-cfg +backend host-gw: only VXLAN can be migrated in place
direct-routing|direct-routing +blocker +ConfigMap kube-flannel/kube-flannel-cfg +Backend\.DirectRouting is on
ipv6|settings +blocker +FLANNEL_IPV6_NETWORK +flannel runs IPv6 \(fd00:10:244::/56\): this version migrates IPv4 only
calico-selector|calico-manifest +blocker +DaemonSet kube-system/calico-node +no nodeSelector projectcalico\.org/node-network-during-migration=calico
calico-config|calico-config +blocker +ConfigMap kube-system/calico-config +missing
ippool-incompatible|ippool +blocker +IPPool site-pool +incompatible: vxlanMode is Never, the migration needs Always
ippool-overlap|ippool +blocker +IPPool site-pool +cidr 10\.0\.0\.0/8 overlaps flannel's network 10\.244\.0\.0/16
node-podcidr|node-podcidr +blocker +1 node\(s\) +podCIDR not usable: worker-3 \(10\.244\.3\.0/27 smaller than a /26 block\)
node-annotations|node-annotations +blocker +1 node\(s\) +no valid flannel\.alpha\.coreos\.com annotations: worker-3
node-vxlan|node-vxlan +blocker +1 node\(s\) +backend-type is not vxlan: worker-3 \(host-gw\)
node-ready|node-ready +blocker +1 node\(s\) +NotReady: worker-3
block-affinity|block-affinity +blocker +1 node\(s\) +blocks already affine to another node: block 10\.244\.1\.0/26 of worker-1 is affine to worker-2
pdb|pdb +blocker +1 PodDisruptionBudget\(s\) +would block drains now: apps/db \(disruptionsAllowed 0
settings-disagree|settings +blocker +FLANNEL_VNI +the cluster disagrees with itself: net-conf\.json
rp-filter|rp-filter +blocker +4 node\(s\) +net\.ipv4\.conf\.all\.rp_filter=2 \(loose\): Felix refuses to start: worker-1
node-facts|node-facts +blocker +4 node\(s\) +node-facts failed: worker-1 \(node-run node-facts on worker-1: pod kube-system/cm-node-facts-worker-1 not done by the deadline\)$
mtu-unknown|settings +blocker +FLANNEL_MTU +flannel's MTU is not known \(no subnet\.env, no Backend\.MTU\)$
subnet-env|subnet-env +blocker +4 node\(s\) +subnet\.env disagrees with the settings: worker-1 \(10\.244\.0\.0/16, MTU 1400\)$
vtep-mac|vtep-mac +blocker +4 node\(s\) +flannel's device MAC differs from its backend-data annotation: .*: worker-1 \(flannel\.1 9e:3a:7c:00:00:02, annotation 0a:58:0a:f4:01:99\)$
EOF
[ "$tried" -eq 22 ] || fail "$tried variant(s) run, not 22"
done_ok
