#!/bin/sh
# The host seam against the real kernel: tests/netns/lua/seam_ops.lua (links, addresses, routes,
# neighbours and FDB entries of both families, sysctls, CNI files, through cm.netlink, cm.sysctl
# and cm.cni) runs through `cni-migrate node-run` in a throwaway network namespace and through a
# simulated host's node_run; every step must end alike and the state left must be the same
# (tests/netns/lua/seam_diff.lua).
. "$(dirname "$0")/../cli/lib.sh"
for tool in ip unshare; do
    command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool is not installed"; exit 77; }
done
if ! unshare -n true 2>/dev/null; then
    echo "SKIP: cannot create a network namespace here (needs root or user namespaces)"
    exit 77
fi
if ! unshare -n sh -c 'ip link add t0 type veth peer name t1 && ip link add v0 type vxlan id 9 dstport 4789 && ip link add b0 type bridge' 2>/dev/null; then
    echo "SKIP: this kernel lacks veth, vxlan or bridge in a namespace"
    exit 77
fi
dir=$(mktemp -d /tmp/host-seam.XXXXXX)
trap 'rm -rf "$dir"' EXIT
run unshare -n "$CNI_MIGRATE" run "$(cd "$(dirname "$0")" && pwd)/lua/seam_diff.lua" "$CNI_MIGRATE" "$dir"
expect_rc 0
expect_out '^seam agrees$'
done_ok
