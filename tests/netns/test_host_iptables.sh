#!/bin/sh
# The simulated host's iptables (runtime/fake/host/host.c) against the kernel's: the same
# iptables-restore --noflush steps, through iptables-legacy-restore in a throwaway network
# namespace and on a simulated host, must succeed or fail alike and leave the same rules
# (tests/netns/lua/iptables_steps.lua).
. "$(dirname "$0")/../cli/lib.sh"
for tool in unshare iptables-legacy-restore iptables-legacy-save; do
    command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool is not installed"; exit 77; }
done
if ! unshare -n iptables-legacy -t nat -N T 2>/dev/null; then
    echo "SKIP: cannot create a network namespace with iptables (legacy) here (needs root)"
    exit 77
fi
run unshare -n "$CNI_MIGRATE" run "$(dirname "$0")/lua/iptables_steps.lua"
expect_rc 0
expect_out '^iptables steps agree$'
done_ok
