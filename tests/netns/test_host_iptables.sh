#!/bin/sh
# The simulated host's iptables (runtime/fake/host/host.c) against the kernel's: the same
# iptables-restore --noflush steps, through iptables-legacy-restore in a throwaway network
# namespace and on a simulated host, must succeed or fail alike and leave the same rules
# (tests/netns/lua/iptables_steps.lua).
. "$(dirname "$0")/lib.sh"
need_tools unshare iptables-legacy-restore iptables-legacy-save
need_netns 'iptables (legacy)' 'iptables-legacy -t nat -N T'
run unshare -n "$CNI_MIGRATE" run "$(dirname "$0")/lua/iptables_steps.lua"
expect_rc 0
expect_out '^iptables steps agree$'
done_ok
