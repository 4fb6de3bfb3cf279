#!/bin/sh
# flannel-cleanup on a simulated node and on the same node made real: worker-1 of
# examples/clusters/flannel-3node.yaml as the simulation programs it, copied into a throwaway
# network namespace; the script must report the same and leave the same links and routes on both
# (tests/netns/lua/cleanup_diff.lua).
. "$(dirname "$0")/lib.sh"
need_tools ip unshare iptables-nft-restore iptables-nft-save
need_netns 'vxlan or iptables (nft)' 'ip link add v0 type vxlan id 9 dstport 4789 && iptables-nft -t nat -N T'
src=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d /tmp/host-diff.XXXXXX)
trap 'rm -rf "$dir"' EXIT
run unshare -n "$CNI_MIGRATE" run --fake "$src/examples/clusters/flannel-3node.yaml" "$src/tests/netns/lua/cleanup_diff.lua" \
    "$CNI_MIGRATE" "$dir"
expect_rc 0
expect_out '^cleanup agrees$'
done_ok
