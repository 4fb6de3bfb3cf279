#!/bin/sh
# The node scripts through the real binary (cni-migrate node-run) on a flannel-shaped node built
# with iproute2 and iptables in a throwaway network namespace; the results are checked with
# ip -j, bridge -j and iptables-save, not with our code. Each script runs twice (idempotence).
. "$(dirname "$0")/lib.sh"
need_tools ip bridge unshare python3 iptables-legacy-restore iptables-legacy-save ip6tables-nft-restore ip6tables-nft-save \
    iptables-nft-restore iptables-nft-save ip6tables-legacy-restore ip6tables-legacy-save
need_netns 'veth, vxlan, bridge or iptables (legacy and nft)' 'ip link add t0 type veth peer name t1 && ip link add v0 type vxlan id 9 dstport 4789 && ip link add b0 type bridge && iptables-legacy -t nat -N T && ip6tables-nft -N T && iptables-nft -N T && ip6tables-legacy -N T'
dir=$(mktemp -d /tmp/host-nodescripts.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/inside.sh" <<'SH'
set -u
. "$LIB"
d=$DIR
nd=$d/net.d
mkdir -p "$nd"
# ---- a flannel-shaped node ----
ip link add eth0 type veth peer name eth0-peer
ip link set eth0 up; ip link set eth0-peer up
ip addr add 192.168.1.11/24 dev eth0
ip route add default via 192.168.1.1 dev eth0
ip link add flannel.1 type vxlan id 1 dstport 8472 local 192.168.1.11 dev eth0 nolearning
ip link set flannel.1 address 9e:3a:7c:00:00:01 mtu 1450 up
ip addr add 10.244.1.0/32 dev flannel.1
for n in 2 3; do
    ip neigh add 10.244.$n.0 lladdr 9e:3a:7c:00:00:0$n dev flannel.1 nud permanent
    bridge fdb add 9e:3a:7c:00:00:0$n dev flannel.1 dst 192.168.1.1$n self permanent
    ip route add 10.244.$n.0/24 via 10.244.$n.0 dev flannel.1 onlink
done
ip link add flannel-v6.1 type vxlan id 1 dstport 8472 local fd00::11 dev eth0 nolearning
ip link add cni0 type bridge
ip link set cni0 mtu 1450 up
ip addr add 10.244.1.1/24 dev cni0
for p in 1 2; do
    ip link add veth0000000$p type veth peer name pod$p
    ip link set veth0000000$p master cni0 up
done
cat >"$d/v4.rules" <<'R'
*nat
:FLANNEL-POSTRTG - [0:0]
-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
-A POSTROUTING -s 172.16.0.0/12 -j ACCEPT
-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
COMMIT
*filter
:FLANNEL-FWD - [0:0]
:SITE - [0:0]
-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
-A FORWARD -j SITE
-A FORWARD -s 10.99.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
-A SITE -s 192.0.2.0/24 -j DROP
COMMIT
R
iptables-legacy-restore --noflush <"$d/v4.rules"
cat >"$d/v6.rules" <<'R'
*nat
:FLANNEL-POSTRTG - [0:0]
-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
-A FLANNEL-POSTRTG -s fd00:10:244::/56 ! -d ff00::/8 -m comment --comment "flanneld masq" -j MASQUERADE
COMMIT
*filter
:FLANNEL-FWD - [0:0]
-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
-A FLANNEL-FWD -s fd00:10:244::/56 -m comment --comment "flanneld forward" -j ACCEPT
COMMIT
R
ip6tables-nft-restore --noflush <"$d/v6.rules"
# a node that moved between backends keeps rules in both: flannel's chains in the other two too
printf '*nat\n:FLANNEL-POSTRTG - [0:0]\n-A POSTROUTING -j FLANNEL-POSTRTG\n-A FLANNEL-POSTRTG -j RETURN\n-A POSTROUTING -s 172.17.0.0/16 -j MASQUERADE\nCOMMIT\n' | iptables-nft-restore --noflush
printf '*filter\n:FLANNEL-FWD - [0:0]\n-A FORWARD -j FLANNEL-FWD\n-A FLANNEL-FWD -j ACCEPT\nCOMMIT\n' | ip6tables-legacy-restore --noflush
if command -v nft >/dev/null 2>&1; then # flannel's nftables mode, beside a site's own table
    nft add table ip flannel-ipv4
    nft add chain ip flannel-ipv4 postrtg '{ type nat hook postrouting priority srcnat; }'
    nft add rule ip flannel-ipv4 postrtg ip saddr 10.244.0.0/16 ip daddr != 10.244.0.0/16 masquerade
    nft add table ip6 flannel-ipv6
    nft add table inet site
    nft add chain inet site fwd '{ type filter hook forward priority 0; }'
fi
cat >"$nd/10-flannel.conflist" <<'J'
{"name": "cbr0", "cniVersion": "0.3.1", "plugins": [{"type": "flannel", "delegate": {"hairpinMode": true, "isDefaultGateway": true}}, {"type": "portmap", "capabilities": {"portMappings": true}}]}
J
cp "$nd/10-flannel.conflist" "$d/flannel.orig"
printf 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n' >"$d/subnet.env"
args="{\"cni_dir\":\"$nd\",\"backup_dir\":\"$d/backup\",\"subnet_env\":\"$d/subnet.env\"}"

json() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); $1" "$OUT"; }
check() { # check PYTHON-EXPRESSION-ON-d WHAT
    json "sys.exit(0 if ($1) else 1)" || fail "$2"
}

# ---- node-facts ----
run "$CNI_MIGRATE" node-run node-facts --args "$args"
expect_rc 0
check 'd["ok"] and d["flannel"]["mac"] == "9e:3a:7c:00:00:01" and d["flannel"]["vxlan"]["id"] == 1 and d["flannel"]["vxlan"]["port"] == 8472 and d["flannel"]["vxlan"]["dev"] == "eth0"' "node-facts: flannel.1's MAC and VXLAN attributes"
check 'd["subnet_env"]["FLANNEL_MTU"] == "1450" and d["cni"]["active"].endswith("/10-flannel.conflist") and d["cni"]["plugins"] == ["flannel", "portmap"]' "node-facts: subnet.env and the active CNI config"
check 'd["counts"]["veth"] == 2 and "net.ipv4.conf.all.rp_filter" in d["sysctls"] and "net.ipv4.conf.flannel/1.rp_filter" in d["sysctls"] and d["underlay"] == "eth0"' "node-facts: veths counted, rp_filter values"

# ---- flannel-cleanup, twice ----
run "$CNI_MIGRATE" node-run flannel-cleanup --args "$args"
expect_rc 0
check 'd["ok"] and d["changed"] and d["placeholder"]["written"] and sorted(d["links"]["removed"]) == ["cni0", "flannel-v6.1", "flannel.1"]' "flannel-cleanup: placeholder and links"
check 'd["links"]["took"]["flannel.1"] == {"addresses": 1, "routes": 2, "neighbours": 2, "fdb": 2} and d["links"]["took"]["cni0"]["addresses"] == 1' "flannel-cleanup: what went with flannel.1 and cni0, counted"
if command -v nft >/dev/null 2>&1; then
    check 'sorted(d["nftables"]["removed"]) == ["ip flannel-ipv4", "ip6 flannel-ipv6"]' "flannel-cleanup: flannel's nftables tables reported"
fi
check 'len([r for r in d["iptables"]["removed"] if r.get("chain")]) == 6 and len(d["cni"]["removed"]) == 1' "flannel-cleanup: 6 chains (in each family and backend) and the CNI file reported"
check 'sorted((r["family"], r["backend"], r["table"], r["chain"]) for r in d["iptables"]["removed"] if r.get("chain")) == [("ipv4", "legacy", "filter", "FLANNEL-FWD"), ("ipv4", "legacy", "nat", "FLANNEL-POSTRTG"), ("ipv4", "nft", "nat", "FLANNEL-POSTRTG"), ("ipv6", "legacy", "filter", "FLANNEL-FWD"), ("ipv6", "nft", "filter", "FLANNEL-FWD"), ("ipv6", "nft", "nat", "FLANNEL-POSTRTG")]' "flannel-cleanup: which chains, where"
OUT=$(ip -j link show); check 'not ({"cni0", "flannel.1", "flannel-v6.1"} & {l["ifname"] for l in d}) and {"eth0", "veth00000001", "veth00000002"} <= {l["ifname"] for l in d}' "ip link: flannel's devices gone, the rest kept"
OUT=$(ip -j route show); check 'not [r for r in d if r["dst"].startswith("10.244.")] and [r for r in d if r["dst"] == "default"]' "ip route: flannel's routes gone, the default kept"
OUT=$(bridge -j fdb show); check 'not [e for e in d if e.get("ifname") in ("flannel.1",)]' "bridge fdb: flannel.1's entries gone"
OUT=$(ip -j neigh show nud permanent); check 'not [n for n in d if n["dst"].startswith("10.244.")]' "ip neigh: flannel's neighbours gone"
OUT=$(iptables-legacy-save; ip6tables-nft-save; iptables-nft-save; ip6tables-legacy-save)
expect_no_out 'FLANNEL|flanneld'
expect_out '^-A POSTROUTING -s 172.17.0.0/16 -j MASQUERADE'
expect_out '^-A POSTROUTING -s 172.16.0.0/12 -j ACCEPT'
expect_out '^-A FORWARD -j SITE'
expect_out '^-A SITE -s 192.0.2.0/24 -j DROP'
if command -v nft >/dev/null 2>&1; then
    OUT=$(nft -j list tables)
    check 'not [t for t in d["nftables"] if "table" in t and t["table"]["name"].startswith("flannel-")] and [t for t in d["nftables"] if "table" in t and t["table"]["name"] == "site"]' "nft: flannel's tables gone, the site's kept"
fi
[ -f "$nd/10-flannel.conflist" ] && fail "10-flannel.conflist still there"
cmp -s "$d/backup/10-flannel.conflist" "$d/flannel.orig" || fail "the backup differs from flannel's config"
grep -q flannel-migration-in-progress "$nd/10-calico.conflist" || fail "no placeholder in 10-calico.conflist"
[ "$(stat -c %a "$nd/10-calico.conflist")" = 644 ] || fail "placeholder mode is not 0644"
run "$CNI_MIGRATE" node-run flannel-cleanup --args "$args"
expect_rc 0
check 'd["ok"] and not d["changed"] and not d["placeholder"]["written"] and not d["links"]["removed"] and not d["iptables"]["removed"] and not d["nftables"]["removed"] and not d["cni"]["removed"]' "flannel-cleanup twice: nothing left to do"
# flannel.1 already gone (unlike Calico's script, the placeholder is still written)
rm "$nd/10-calico.conflist"
run "$CNI_MIGRATE" node-run flannel-cleanup --args "$args"
expect_rc 0
check 'd["ok"] and d["changed"] and d["placeholder"]["written"] and sorted(d["links"]["absent"]) == ["cni0", "flannel-v6.1", "flannel.1"]' "flannel-cleanup without flannel.1: the placeholder written"
grep -q flannel-migration-in-progress "$nd/10-calico.conflist" || fail "no placeholder in 10-calico.conflist after the third run"

# ---- calico-check: missing, then right, then a wrong VNI ----
cargs="{\"cni_dir\":\"$nd\",\"vni\":4096,\"port\":4789,\"mac\":\"66:aa:bb:cc:dd:01\",\"address\":\"10.244.1.192\"}"
run "$CNI_MIGRATE" node-run calico-check --args "$cargs"
expect_rc 0
check 'not d["ok"] and any("no such device" in p for p in d["problems"]) and any("placeholder" in p for p in d["problems"])' "calico-check: no vxlan.calico, placeholder active"
ip link add vxlan.calico type vxlan id 4096 dstport 4789 local 192.168.1.11 dev eth0 nolearning
ip link set vxlan.calico address 66:aa:bb:cc:dd:01 up
ip addr add 10.244.1.192/32 dev vxlan.calico
printf '{"name":"k8s-pod-network","cniVersion":"0.3.1","plugins":[{"type":"calico"},{"type":"portmap"}]}\n' >"$nd/10-calico.conflist"
run "$CNI_MIGRATE" node-run calico-check --args "$cargs"
expect_rc 0
check 'd["ok"] and d["problems"] == [] and d["link"]["vxlan"]["id"] == 4096' "calico-check: all in place"
echo '{"name": "x", "plugins": [' >"$nd/05-broken.conflist"
run "$CNI_MIGRATE" node-run calico-check --args "$cargs"
check 'not d["ok"] and len(d["problems"]) == 1 and "05-broken.conflist sorts before" in d["problems"][0] and "containerd" in d["problems"][0]' "calico-check: an invalid config before Calico's"
OUT=$("$CNI_MIGRATE" node-run node-facts --args "$args" 2>/dev/null) # the result line alone
RC=$?
[ "$RC" -eq 2 ] || fail "node-facts with an invalid config: exit $RC, not 2"
check '"/05-broken.conflist: " in d["error"] and d["code"] == "BadInput"' "node-facts: an invalid config is bad input, named"
rm "$nd/05-broken.conflist"
run "$CNI_MIGRATE" node-run calico-check --args "{\"cni_dir\":\"$nd\",\"vni\":1}"
check 'not d["ok"] and any("VNI 4096, expected 1" in p for p in d["problems"])' "calico-check: a wrong VNI is reported"

# ---- calico-cleanup (rollback), twice ----
ip link add cali0123456789a type veth peer name cpod1
ip link set cali0123456789a up
ip route add 10.244.1.195/32 dev cali0123456789a proto 80
ip route add blackhole 10.244.1.192/26 proto 80
printf '*filter\n:cali-FORWARD - [0:0]\n-A FORWARD -m comment --comment "cali:wUHhoiAYhphO9Mso" -j cali-FORWARD\n-A cali-FORWARD -j ACCEPT\nCOMMIT\n' | iptables-legacy-restore --noflush
if command -v nft >/dev/null 2>&1; then # Felix's nftables mode
    nft add table ip calico
    nft add chain ip calico filter-FORWARD '{ type filter hook forward priority 0; }'
    nft add table ip6 calico
fi
run "$CNI_MIGRATE" node-run calico-cleanup --args "{\"cni_dir\":\"$nd\",\"backup_dir\":\"$d/backup\"}"
expect_rc 0
check 'd["ok"] and d["changed"] and "vxlan.calico" in d["links"]["removed"] and "cali0123456789a" in d["links"]["removed"] and d["routes"]["removed"] >= 1 and len(d["cni"]["restored"]) == 1' "calico-cleanup: what it removed and restored"
if command -v nft >/dev/null 2>&1; then
    check 'sorted(d["nftables"]["removed"]) == ["ip calico", "ip6 calico"]' "calico-cleanup: Felix's nftables tables reported"
fi
OUT=$(ip -j link show); check 'not ({"vxlan.calico", "cali0123456789a"} & {l["ifname"] for l in d})' "ip link: Calico's devices gone"
OUT=$(ip -j route show table all); check 'not [r for r in d if r.get("protocol") in ("80", 80)]' "ip route: Felix's routes gone"
OUT=$(iptables-legacy-save); expect_no_out 'cali'
expect_out '^-A FORWARD -j SITE'
if command -v nft >/dev/null 2>&1; then
    OUT=$(nft -j list tables)
    check 'not [t for t in d["nftables"] if "table" in t and t["table"]["name"] == "calico"] and [t for t in d["nftables"] if "table" in t and t["table"]["name"] == "site"]' "nft: Felix's tables gone, the site's kept"
fi
cmp -s "$nd/10-flannel.conflist" "$d/flannel.orig" || fail "10-flannel.conflist not restored as it was"
[ -f "$nd/10-calico.conflist" ] && fail "10-calico.conflist still there"
run "$CNI_MIGRATE" node-run calico-cleanup --args "{\"cni_dir\":\"$nd\",\"backup_dir\":\"$d/backup\"}"
expect_rc 0
check 'd["ok"] and not d["changed"]' "calico-cleanup twice: nothing left to do"

# ---- calico-cleanup without a backup: flannel's config written from the text given, and
# flannel.1 made again with the node's VtepMAC (rollback's args) before flanneld comes ----
rm -f "$nd/10-flannel.conflist" "$d/backup/10-flannel.conflist"*
ip link add vxlan.calico type vxlan id 1 dstport 8472 local 192.168.1.11 dev eth0 nolearning
vargs="{\"cni_dir\":\"$nd\",\"backup_dir\":\"$d/backup\",\"fallback\":{\"10-flannel.conflist\":\"{\\\"name\\\":\\\"cbr0\\\",\\\"cniVersion\\\":\\\"0.3.1\\\",\\\"plugins\\\":[{\\\"type\\\":\\\"flannel\\\"}]}\"},\"vtep\":{\"name\":\"flannel.1\",\"mac\":\"9e:3a:7c:00:00:01\",\"vni\":1,\"port\":8472,\"local\":\"192.168.1.11\",\"mtu\":1450}}"
run "$CNI_MIGRATE" node-run calico-cleanup --args "$vargs"
expect_rc 0
check 'd["ok"] and d["vtep"]["created"] and "vxlan.calico" in d["links"]["removed"] and d["cni"]["restored"][0].get("written")' "calico-cleanup: flannel.1 made, the config written"
OUT=$(ip -j -d link show flannel.1)
check 'd[0]["address"] == "9e:3a:7c:00:00:01" and d[0]["mtu"] == 1450 and d[0]["linkinfo"]["info_data"]["id"] == 1 and d[0]["linkinfo"]["info_data"]["port"] == 8472 and d[0]["linkinfo"]["info_data"]["local"] == "192.168.1.11" and d[0]["linkinfo"]["info_data"]["link"] == "eth0" and not d[0]["linkinfo"]["info_data"]["learning"]' "flannel.1 with the VtepMAC, VNI, port, local address, underlay"
grep -q '"cbr0"' "$nd/10-flannel.conflist" || fail "10-flannel.conflist not written from the text given"
run "$CNI_MIGRATE" node-run calico-cleanup --args "$vargs"
check 'd["ok"] and not d["changed"] and not d["vtep"]["created"]' "calico-cleanup twice: flannel.1 kept"

# ---- bad usage ----
run "$CNI_MIGRATE" node-run no-such-script --args '{}'
expect_rc 2
run "$CNI_MIGRATE" node-run node-facts --args '[1]'
expect_rc 2
expect_out '"code":"Usage"'
[ "$failures" -eq 0 ] && echo INSIDE-OK
SH
OUT=$(DIR="$dir" LIB="$(cd "$(dirname "$0")/../cli" && pwd)/lib.sh" CNI_MIGRATE="$CNI_MIGRATE" unshare -n sh "$dir/inside.sh" 2>&1)
printf '%s\n' "$OUT" | grep -q '^INSIDE-OK$' || fail "the node scripts on a flannel-shaped node"
done_ok
