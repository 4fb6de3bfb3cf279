#!/bin/sh
# cm.netlink's lists while links come and go: the kernel flags a dump that raced with a change
# (NLM_F_DUMP_INTR), and cm.netlink must ask again rather than fail (a busy node starts pods
# while a node script runs). 100 veths with addresses, a loop adding and deleting one more, and
# 600 lists (links, routes, addresses) through tests/netns/lua/dump_churn.lua: none may fail.
. "$(dirname "$0")/lib.sh"
need_tools ip unshare
need_netns 'veth' 'ip link add t0 type veth peer name t1'
dir=$(mktemp -d /tmp/host-dump.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/inside.sh" <<'SH'
i=1
while [ $i -le 100 ]; do
    ip link add d$i type veth peer name e$i && ip addr add 10.1.$i.1/24 dev d$i && ip link set d$i up
    i=$((i + 1))
done
( while :; do ip link add x0 type veth peer name x1; ip link set x0 up; ip link del x0; done ) >/dev/null 2>&1 &
churn=$!
"$CNI_MIGRATE" run "$LUA" 200
rc=$?
kill $churn
wait $churn 2>/dev/null
exit $rc
SH
run env CNI_MIGRATE="$CNI_MIGRATE" LUA="$(cd "$(dirname "$0")" && pwd)/lua/dump_churn.lua" unshare -n sh "$dir/inside.sh"
expect_rc 0
expect_out '^600 lists, 0 failed$'
done_ok
