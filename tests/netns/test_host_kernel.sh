#!/bin/sh
# The simulated host against the real kernel: tests/netns/host_steps.txt is run with iproute2 in a
# throwaway network namespace (errno names read with strace) and by host_steps on the simulated
# host; every step must give its expected result on both, and the final routes, links and
# neighbours must agree.
. "$(dirname "$0")/lib.sh"
steps="$(dirname "$0")/host_steps.txt"
need_tools ip bridge strace unshare
need_netns 'veth or vxlan' 'ip link add t0 type veth peer name t0-peer && ip link add v0 type vxlan id 9 dstport 4789'
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# The kernel side, inside a new network namespace.
cat >"$dir/kernel.sh" <<'SH'
set -u
grep -v '^#' "$1" | grep '=>' | while IFS= read -r line; do
    cmd=${line%%=>*}
    case "$cmd" in # a veth needs its peer
        *"type veth"*) cmd="$cmd peer name $(echo "$cmd" | awk '{print $4}')-peer" ;;
    esac
    # shellcheck disable=SC2086 # the command's words
    if strace -f -e trace=recvmsg,ioctl -o "$2/trace" $cmd >/dev/null 2>&1; then
        echo "step OK"
    else
        echo "step $(grep -o 'error=-E[A-Z]*\|= -1 E[A-Z]*' "$2/trace" | tail -n 1 | grep -o 'E[A-Z]*$')"
    fi
done
ip -j route show | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    gw = " via " + r["gateway"] if "gateway" in r else ""
    onlink = " onlink" if "onlink" in r.get("flags", []) else ""
    print("route %s%s dev %s%s" % (r["dst"], gw, r["dev"], onlink))'
ip -j link show | python3 -c '
import json, sys
for l in json.load(sys.stdin):
    if not l["ifname"].endswith("-peer"):
        print("link " + l["ifname"])'
ip -j neigh show nud permanent | python3 -c '
import json, sys
for n in json.load(sys.stdin):
    print("neigh %s dev %s" % (n["dst"], n["dev"]))'
SH
unshare -n sh "$dir/kernel.sh" "$steps" "$dir" >"$dir/kernel.out" 2>"$dir/kernel.err"
"${HOST_STEPS:?}" "$steps" >"$dir/fake.out"

# each step as expected, on both sides
grep -v '^#' "$steps" | grep '=>' | sed 's/.*=> *//; s/ *$//; s/^/step /' >"$dir/expected"
for side in kernel fake; do
    grep '^step ' "$dir/$side.out" >"$dir/$side.steps"
    if ! diff "$dir/expected" "$dir/$side.steps" >"$dir/diff"; then
        OUT="$(cat "$dir/diff" "$dir/kernel.err")"
        fail "$side results differ from the expected ones (< expected, > $side)"
    fi
done
# the same final state
grep -v '^step ' "$dir/kernel.out" | sort >"$dir/kernel.state"
grep -v '^step ' "$dir/fake.out" | sort >"$dir/fake.state"
if ! diff "$dir/kernel.state" "$dir/fake.state" >"$dir/diff"; then
    OUT="$(cat "$dir/diff")"
    fail "final state differs (< kernel, > fake)"
fi
done_ok
