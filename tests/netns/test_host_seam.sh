#!/bin/sh
# The host seam against the real kernel: tests/netns/lua/seam_ops.lua (links, addresses, routes,
# neighbours and FDB entries of both families, sysctls, CNI files, through cm.netlink, cm.sysctl
# and cm.cni) runs through `cni-migrate node-run` in a throwaway network namespace and through a
# simulated host's node_run; every step must end alike and the state left must be the same
# (tests/netns/lua/seam_diff.lua).
. "$(dirname "$0")/lib.sh"
need_tools ip unshare
need_netns 'veth, vxlan or bridge' 'ip link add t0 type veth peer name t1 && ip link add v0 type vxlan id 9 dstport 4789 && ip link add b0 type bridge'
dir=$(mktemp -d /tmp/host-seam.XXXXXX)
trap 'rm -rf "$dir"' EXIT
run unshare -n "$CNI_MIGRATE" run "$(cd "$(dirname "$0")" && pwd)/lua/seam_diff.lua" "$CNI_MIGRATE" "$dir"
expect_rc 0
expect_out '^seam agrees$'
done_ok
