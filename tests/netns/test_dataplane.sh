#!/bin/sh
# The dataplane model (lua/cm/dataplane.lua) against the real kernel: three nodes in network
# namespaces on one underlay (veth pairs to a bridge: no dummy driver here), two as flannel makes
# them (flannel.1, cni0, a pod behind a veth on the bridge) and one as Calico does (vxlan.calico with
# the same VNI, port and the node's VtepMAC, a pod behind a cali veth with a /32 route and proxy
# ARP), each with the others' routes, neighbour and FDB entries. For each pair of pods the model's
# verdict, read from the namespaces' state through cm.netlink, must be what ping finds: the
# flannel pair, the mixed pairs, then with an FDB entry removed, then with the Calico node's VTEP
# MAC changed (the frames sent to it are dropped). Then iptables (nf_tables) as the kernel applies
# them: flannel's FLANNEL-POSTRTG left on the Calico node (calico#12920) with a pod p4 there whose
# address comes from a Calico block outside the node's old flannel subnet: its packets to other
# nodes are masqueraded to the node's address, which a policy admitting p4 (a DROP in FORWARD on
# n1, first as Calico puts its chains) drops; then with the leftover chain flushed, p4 is admitted.
. "$(dirname "$0")/lib.sh"
need_tools ip bridge ping iptables iptables-save
need_netns "VXLAN devices" "ip link add v0 type vxlan id 1 dstport 8472 nolearning"
B=${CNI_MIGRATE:?}
S="$CM_SOURCE_DIR/tests/netns/lua/dataplane_verdicts.lua"
P=cmdp$$
NS="${P}ul ${P}n1 ${P}n2 ${P}n3 ${P}p1 ${P}p2 ${P}p3 ${P}p4"
cleanup() { for ns in $NS; do ip netns del "$ns" 2>/dev/null; done; }
trap cleanup EXIT
for ns in $NS; do ip netns add "$ns" && ip -n "$ns" link set lo up || { echo "SKIP: cannot add network namespaces"; exit 77; }; done
ip -n "${P}ul" link add br0 type bridge && ip -n "${P}ul" link set br0 up
mac() { echo "0e:00:00:00:00:0$1"; }
# calico_pod NODE_NS DEV POD_NS IP: a pod as Calico makes it, a veth DEV with a /32 route and proxy
# ARP on the node; the pod's gateway 169.254.1.1
calico_pod() {
    ip link add "$2" netns "$1" type veth peer name eth0 netns "$3"
    ip -n "$1" link set "$2" up
    ip netns exec "$1" sysctl -qw "net.ipv4.conf.$2.proxy_arp=1"
    ip -n "$1" route add "$4/32" dev "$2" scope link
    ip -n "$3" addr add "$4/32" dev eth0 && ip -n "$3" link set eth0 up
    ip -n "$3" route add 169.254.1.1 dev eth0 scope link && ip -n "$3" route add default via 169.254.1.1 dev eth0
}
dev_of() { [ "$1" = 3 ] && echo vxlan.calico || echo flannel.1; }
for i in 1 2 3; do
    n=${P}n$i
    ip link add eth0 netns "$n" type veth peer name u$i netns "${P}ul"
    ip -n "${P}ul" link set u$i master br0 up
    ip -n "$n" addr add 192.168.77.$i/24 dev eth0 && ip -n "$n" link set eth0 up
    ip -n "$n" route add default via 192.168.77.254 dev eth0 # (proxy ARP answers for what routes elsewhere)
    ip netns exec "$n" sysctl -qw net.ipv4.ip_forward=1
    d=$(dev_of $i)
    ip -n "$n" link add "$d" type vxlan id 1 dstport 8472 dev eth0 local 192.168.77.$i nolearning
    ip -n "$n" link set "$d" address "$(mac $i)" up
    ip -n "$n" addr add 10.244.$i.0/32 dev "$d"
    p=${P}p$i
    if [ $i = 3 ]; then
        calico_pod "$n" cali3 "$p" 10.244.3.10
    else # flannel: cni0 with the pod's veth
        ip -n "$n" link add cni0 type bridge && ip -n "$n" addr add 10.244.$i.1/24 dev cni0 && ip -n "$n" link set cni0 up
        ip link add veth$i netns "$n" type veth peer name eth0 netns "$p"
        ip -n "$n" link set veth$i master cni0 up
        ip -n "$p" addr add 10.244.$i.10/24 dev eth0 && ip -n "$p" link set eth0 up
        ip -n "$p" route add default via 10.244.$i.1
    fi
done
for i in 1 2 3; do
    for j in 1 2 3; do
        [ $i = $j ] && continue
        d=$(dev_of $i)
        ip -n "${P}n$i" route add 10.244.$j.0/24 via 10.244.$j.0 dev "$d" onlink
        ip -n "${P}n$i" neigh add 10.244.$j.0 lladdr "$(mac $j)" dev "$d" nud permanent
        bridge -n "${P}n$i" fdb append "$(mac $j)" dev "$d" dst 192.168.77.$j self permanent
    done
done
PAIRS="p1:p2,p2:p1,p1:p3,p3:p1,p2:p3,p3:p2"

# compare WHAT EXPECT-REGEX...: the model's verdicts, then ping's, pair by pair
compare() {
    what=$1
    run "$B" run "$S" "n1=${P}n1,n2=${P}n2,n3=${P}n3" \
        "p1=10.244.1.10@n1,p2=10.244.2.10@n2,p3=10.244.3.10@n3,p4=10.244.9.10@n3" "$PAIRS"
    [ "$RC" -eq 0 ] || fail "$what: the model's script failed"
    model=$OUT
    for pair in $(echo "$PAIRS" | tr , ' '); do
        a=${pair%%:*} b=${pair##*:}
        addr=10.244.${b#p}.10
        [ "$b" = p4 ] && addr=10.244.9.10
        if ip netns exec "${P}$a" ping -c1 -W1 "$addr" > /dev/null 2>&1; then real=ok; else real=fail; fi
        verdict=$(printf '%s\n' "$model" | awk -v a="$a" -v b="$b" '$1 == a && $2 == b {print $3}')
        echo "$what: $a -> $b: ping $real, model $(printf '%s\n' "$model" | awk -v a="$a" -v b="$b" '$1 == a && $2 == b' | cut -d' ' -f3-)"
        [ "${verdict%:}" = "$real" ] || { OUT=$model; fail "$what: $a -> $b: ping says $real, the model ${verdict:-nothing}"; }
    done
}
compare "all up"
expect_out '^p1 p3 ok$'
bridge -n "${P}n1" fdb del "$(mac 2)" dev flannel.1 dst 192.168.77.2 self
compare "n1 without n2's FDB entry"
expect_out '^p1 p2 fail: n1: no FDB entry for 0e:00:00:00:00:02 on flannel.1$'
expect_out '^p2 p1 fail: reply: n1: no FDB entry for 0e:00:00:00:00:02 on flannel.1$'
ip -n "${P}n3" link set vxlan.calico address 0e:00:00:00:00:09
compare "n3's VTEP MAC changed"
expect_out '^p1 p3 fail: n3: vxlan.calico has MAC 0e:00:00:00:00:09, the frame was sent to 0e:00:00:00:00:03$'

ip -n "${P}n3" link set vxlan.calico address "$(mac 3)" # (which flushed n3's neighbours there)
bridge -n "${P}n1" fdb append "$(mac 2)" dev flannel.1 dst 192.168.77.2 self permanent
for j in 1 2; do
    ip -n "${P}n3" neigh replace 10.244.$j.0 lladdr "$(mac $j)" dev vxlan.calico nud permanent
    bridge -n "${P}n3" fdb replace "$(mac $j)" dev vxlan.calico dst 192.168.77.$j self permanent
done
# p4 on n3, 10.244.9.10 from a Calico block (10.244.9.0/26, routed to n3 by the others)
calico_pod "${P}n3" cali4 "${P}p4" 10.244.9.10
for i in 1 2; do ip -n "${P}n$i" route add 10.244.9.0/26 via 10.244.3.0 dev flannel.1 onlink; done
# what flanneld v0.28 left in n3's nat table for its subnet 10.244.3.0/24 (lua/cm/flannel.lua's rules)
lf=$(mktemp --suffix=.lua)
cat >"$lf" <<'LUA'
print(table.concat(require("cm.flannel").iptables_rules("10.244.0.0/16", "10.244.3.0/24", "v0.28.9").nat, "\n"))
LUA
rules=$("$B" run "$lf") || fail "flannel's rules"
rm -f "$lf"
printf '*nat\n:FLANNEL-POSTRTG - [0:0]\n%s\nCOMMIT\n' "$rules" | ip netns exec "${P}n3" iptables-restore --noflush ||
    fail "iptables-restore of flannel's rules on n3"
PAIRS="p4:p1,p1:p4,p4:p2,p2:p4,p3:p1"
compare "flannel's FLANNEL-POSTRTG left on n3"
expect_out '^p4 p1 ok \(n3: source 10\.244\.9\.10 rewritten to 10\.244\.3\.0 by iptables nat -A FLANNEL-POSTRTG -s 10\.244\.0\.0/16 ! -d 224\.0\.0\.0/4 .*-j MASQUERADE'
expect_out '^p3 p1 ok$'
ip netns exec "${P}n1" iptables -I FORWARD 1 -d 10.244.1.10/32 ! -s 10.244.9.10/32 -j DROP
compare "and a policy on n1 admitting only p4 to p1"
expect_out '^p4 p1 fail: n1: dropped by iptables filter FORWARD: -A FORWARD ! -s 10\.244\.9\.10/32 -d 10\.244\.1\.10/32 -j DROP$'
expect_out '^p3 p1 fail: n1: dropped by iptables filter FORWARD: '
ip netns exec "${P}n3" iptables -t nat -F FLANNEL-POSTRTG
compare "the leftover chain flushed"
expect_out '^p4 p1 ok$'
expect_out '^p3 p1 fail: n1: dropped by iptables filter FORWARD: '
done_ok
