#!/bin/sh
# The fake serve and fake host commands' contract: exit codes and messages for bad input, loopback
# only unless --allow-remote, the kubeconfig it writes, --token (also for the hosts' path), --tls, a
# clean stop on SIGTERM (also while catching up with a big fixture); fake host's JSON (flannel.1 or vxlan.calico, routes, files) and --at.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
B=${CNI_MIGRATE:?}
FIXTURE="$CM_SOURCE_DIR/examples/clusters/flannel-3node.yaml"
if ! command -v curl >/dev/null 2>&1; then
    echo "SKIP: no curl on this machine"
    exit 77
fi

run "$B" fake
expect_rc 2
expect_out "^cni-migrate: fake: expected 'serve', 'host' or 'snapshot', got 'nothing'"
run "$B" fake frob
expect_rc 2
expect_out "^cni-migrate: fake: expected 'serve', 'host' or 'snapshot', got 'frob' "
run "$B" fake serve
expect_rc 2
expect_out '^cni-migrate: fake serve: missing FIXTURE'
run "$B" fake serve "$FIXTURE" --frob
expect_rc 2
expect_out "^cni-migrate: fake serve: unknown flag '--frob'"
run "$B" fake serve "$FAKE_DIR/none.yaml"
expect_rc 2
expect_out "^cni-migrate: .*/none\.yaml: No such file or directory$"
printf 'apiVersion: v1\nkind: Node\nmetadata:\n  name: a\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  namespace: x\n' > "$FAKE_DIR/bad.yaml"
run "$B" fake serve "$FAKE_DIR/bad.yaml"
expect_rc 2
expect_out "^cni-migrate: .*/bad\.yaml:6: Deployment has no metadata\.name$"
printf 'kind: Node\nmetadata: {name: a\n' > "$FAKE_DIR/broken.yaml"
run "$B" fake serve "$FAKE_DIR/broken.yaml"
expect_rc 2
expect_out "^cni-migrate: .*/broken\.yaml:3: "
run "$B" fake serve "$FIXTURE" --listen 0.0.0.0:0
expect_rc 2
expect_out '^cni-migrate: --listen: 0\.0\.0\.0 is not a loopback address; .* needs --allow-remote$'
run "$B" fake serve "$FIXTURE" --listen localhost
expect_rc 2
expect_out "^cni-migrate: --listen: 'localhost' is not HOST:PORT"
for bad in 0 -2 fast 1e9 ''; do
    run "$B" fake serve "$FIXTURE" --speed "$bad"
    expect_rc 2
    expect_lines 1
    expect_out "^cni-migrate: fake serve: --speed: expected a number from 0\.001 to 100000, got '$bad'"
done
run "$B" fake serve "$FIXTURE" --speed
expect_rc 2
expect_out '^cni-migrate: flag --speed needs a value$'
run "$B" fake serve "$FIXTURE" --seed x
expect_rc 2
expect_out "^cni-migrate: --seed: expected a non-negative integer, got 'x'$"
run "$B" fake serve "$FIXTURE" --trace "$FAKE_DIR/no/such/dir/t.jsonl"
expect_rc 2
expect_out '^cni-migrate: --trace .*/no/such/dir/t\.jsonl: No such file or directory$'

# --timeout ends serving after that much of the cluster's time (20 s at --speed 100: 0.2 s), exit 0
run "$B" fake serve "$FIXTURE" --timeout 20s --speed 100
expect_rc 0
expect_out '^http://127\.0\.0\.1:[0-9]+$'

# fake host: bad input is one line and exit 2, nothing printed on stdout
HF="$CM_SOURCE_DIR/examples/clusters/flannel-3node.yaml"
CF="$CM_SOURCE_DIR/examples/clusters/flannel-calico-installed-4node.yaml"
run "$B" fake host
expect_rc 2
expect_out '^cni-migrate: fake host: missing FIXTURE and NODE '
run "$B" fake host "$HF"
expect_rc 2
expect_out '^cni-migrate: fake host: missing NODE '
run "$B" fake host "$HF" worker-1 extra
expect_rc 2
expect_out "^cni-migrate: fake host: expected FIXTURE NODE, got another argument 'extra'"
run "$B" fake host "$HF" nope
expect_rc 2
expect_lines 1
expect_out "^cni-migrate: fake host: no node 'nope' in the fixture$"
run "$B" fake host "$HF" worker-1 --at 5x
expect_rc 2
expect_lines 1
expect_out "^cni-migrate: fake host: --at: expected a duration \(90s, 5m, 1h30m\), got '5x'"
run "$B" fake host "$HF" worker-1 --frob
expect_rc 2
expect_out "^cni-migrate: fake host: unknown flag '--frob'"
run "$B" fake host "$FAKE_DIR/none.yaml" worker-1
expect_rc 2
expect_out "^cni-migrate: .*/none\.yaml: No such file or directory$"
# a flannel node: flanneld's device, routes to the other nodes through it, its files
run "$B" fake host "$HF" worker-1 --seed 3
expect_rc 0
printf '%s\n' "$OUT" > "$FAKE_DIR/host.json"
check_host() { # check_host FILE PYTHON-ASSERTIONS (h is the host)
    /usr/bin/python3 -c "import json,sys
h = json.load(open(sys.argv[1]))
links = {l['name']: l for l in h['links']}
routes = {r['dst']: r for r in h['routes']}
$2" "$1" || fail "host $1: $2"
}
check_host "$FAKE_DIR/host.json" "
assert links['flannel.1']['kind'] == 'vxlan' and links['flannel.1']['vxlan']['id'] == 1, links
assert links['flannel.1']['vxlan']['port'] == 8472 and links['flannel.1']['mtu'] == 1450
assert 'vxlan.calico' not in links
assert routes['10.244.0.0/24']['dev'] == 'flannel.1' and routes['10.244.0.0/24']['gateway'] == '10.244.0.0'
assert routes['10.244.2.0/24']['dev'] == 'flannel.1'
assert 'FLANNEL_SUBNET=10.244.1.1/24' in h['files']['/run/flannel/subnet.env']
assert '"flannel"' in h['files']['/etc/cni/net.d/10-flannel.conflist']
assert not any('calico' in f for f in h['files'])
assert len(h['fdb']) == 2 and len(h['neighbours']) == 2
assert h['sysctls']['net/ipv4/ip_forward'] == '1'
"
# the same fixture and seed give the same host, byte for byte
run "$B" fake host "$HF" worker-1 --seed 3
printf '%s\n' "$OUT" > "$FAKE_DIR/host2.json"
cmp -s "$FAKE_DIR/host.json" "$FAKE_DIR/host2.json" || fail "fake host: the same fixture and seed gave another host"
# --at 0: the node as the fixture gives it, before flanneld's pod has programmed it (0.1 s in)
run "$B" fake host "$HF" worker-1 --at 0
expect_rc 0
expect_out '"name": "eth0"'
expect_no_out '"name": "flannel\.1"'
# a node that runs calico-node (labelled for it, with Calico's tunnel annotations, and a VXLAN pool)
# gets vxlan.calico
# and Calico's CNI config beside flannel's devices
if /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
    /usr/bin/python3 -c "import yaml, sys
d = yaml.safe_load(open(sys.argv[1]))
for o in d['items']:
    if o['kind'] == 'Node' and o['metadata']['name'] == 'worker-1':
        o['metadata']['labels']['projectcalico.org/node-network-during-migration'] = 'calico'
        o['metadata']['annotations']['projectcalico.org/IPv4VXLANTunnelAddr'] = '10.244.1.0'
        o['metadata']['annotations']['projectcalico.org/VXLANTunnelMACAddr'] = '66:aa:bb:cc:dd:01'
d['items'].append({'apiVersion': 'crd.projectcalico.org/v1', 'kind': 'IPPool',
                   'metadata': {'name': 'default-ipv4-ippool'},
                   'spec': {'cidr': '10.244.0.0/16', 'blockSize': 26, 'vxlanMode': 'Always', 'ipipMode': 'Never'}})
yaml.safe_dump(d, open(sys.argv[2], 'w'))" "$CF" "$FAKE_DIR/calico.yaml"
    run "$B" fake host "$FAKE_DIR/calico.yaml" worker-1 --at 1m
    expect_rc 0
    printf '%s\n' "$OUT" > "$FAKE_DIR/calico.json"
    check_host "$FAKE_DIR/calico.json" "
v = links['vxlan.calico']
assert v['kind'] == 'vxlan' and v['mac'] == '66:aa:bb:cc:dd:01', v
assert v['vxlan']['id'] == 4096 and v['vxlan']['port'] == 4789, v
assert {'dev': 'vxlan.calico', 'address': '10.244.1.0/32'} in h['addresses'], h['addresses']
assert 'flannel.1' in links
assert '\"calico\"' in h['files']['/etc/cni/net.d/10-calico.conflist']
assert '/opt/cni/bin/calico-ipam' in h['files']
"
    run "$B" fake host "$FAKE_DIR/calico.yaml" worker-2 --at 1m
    expect_rc 0
    expect_no_out 'vxlan\.calico|10-calico'
else
    echo "SKIP (part): no PyYAML under /usr/bin/python3 to write a Calico node's fixture"
fi

# the kubeconfig, and the token it carries
fake_start "$FIXTURE" --token t0k3n
case "$URL" in http://127.0.0.1:[0-9]*) ;; *) fail "unexpected URL '$URL'" ;; esac
OUT=$(cat "$KUBECONFIG")
expect_out "^    server: $URL$"
expect_out '^    token: t0k3n$'
expect_out '^current-context: fake$'
run curl -s "$URL/api/v1/nodes"
expect_out '^\{"kind":"Status","apiVersion":"v1","metadata":\{\},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401\}$'
run curl -s -H 'Authorization: Bearer t0k3n' "$URL/api/v1/nodes/control-plane-1"
expect_out '"name":"control-plane-1"'
run curl -s -H 'Authorization: Bearer t0k3n' "$URL/version"
expect_out '"gitVersion":"v1\.32\.0-cni-migrate-fake"'
# a node's simulated host, at the fake's own path, behind the same token (flanneld's pod programs
# it on the simulation's first reaction, 0.1 s after the start)
run curl -s "$URL/cni-migrate/v1alpha1/hosts/worker-1"
expect_out '"code":401\}$'
sleep 0.5
run curl -s -H 'Authorization: Bearer t0k3n' "$URL/cni-migrate/v1alpha1/hosts/worker-1"
expect_out '"name":"flannel\.1","up":true'
expect_out '"/run/flannel/subnet\.env":"FLANNEL_NETWORK=10\.244\.0\.0/16'
run curl -s -H 'Authorization: Bearer t0k3n' "$URL/cni-migrate/v1alpha1/hosts/nope"
expect_out '^\{"kind":"Status",.*"message":"node \\"nope\\" has no simulated host \(no such node\)","reason":"NotFound","code":404\}$'
run curl -s -X DELETE -H 'Authorization: Bearer t0k3n' "$URL/cni-migrate/v1alpha1/hosts/worker-1"
expect_out '"code":405\}$'
# a watch whose client goes away is closed within a few seconds, not at its timeout
before=$(ls "/proc/$FAKE_PID/fd" | wc -l)
watchers=""
for i in 1 2 3; do
    curl -sN -H 'Authorization: Bearer t0k3n' "$URL/api/v1/pods?watch=1" > /dev/null &
    watchers="$watchers $!"
done
sleep 1
during=$(ls "/proc/$FAKE_PID/fd" | wc -l)
[ "$during" -eq $((before + 3)) ] || fail "expected 3 more descriptors with 3 watches open: $before, then $during"
kill $watchers
wait $watchers 2>/dev/null
sleep 3
after=$(ls "/proc/$FAKE_PID/fd" | wc -l)
[ "$after" -eq "$before" ] || fail "watches of gone clients still open: $before descriptors before, $after after"
fake_stop
[ "$FAKE_RC" -eq 0 ] || fail "fake serve exited $FAKE_RC after SIGTERM, not 0"

# TLS: the CA in the kubeconfig verifies the server's certificate; --no-sim has no hosts
fake_start "$FIXTURE" --tls --no-sim
case "$URL" in https://127.0.0.1:[0-9]*) ;; *) fail "unexpected URL '$URL'" ;; esac
sed -n 's/^    certificate-authority-data: //p' "$KUBECONFIG" | base64 -d > "$FAKE_DIR/ca.pem"
run curl -s --cacert "$FAKE_DIR/ca.pem" "$URL/api/v1/namespaces/kube-flannel/configmaps/kube-flannel-cfg"
expect_out '"net-conf.json"'
run curl -s "$URL/api"
[ "$RC" -ne 0 ] || fail "curl trusted the fake's certificate without its CA"
run curl -s --cacert "$FAKE_DIR/ca.pem" "$URL/cni-migrate/v1alpha1/hosts/worker-1"
expect_out '"message":"no simulated hosts: the simulation is off \(--no-sim\)","reason":"NotFound","code":404\}$'
fake_stop
[ "$FAKE_RC" -eq 0 ] || fail "fake serve --tls exited $FAKE_RC after SIGTERM, not 0"

# SIGTERM while the simulation catches up with a big fixture (300 nodes: its agents' first starts
# took over a minute in one go, and the server stopped only after them) stops it at once
"$B" run "$CM_SOURCE_DIR/examples/clusters/generate.lua" --nodes 300 --pods-per-node 1 > "$FAKE_DIR/big.yaml"
fake_start "$FAKE_DIR/big.yaml"
sleep 1
t0=$(date +%s)
fake_stop
[ "$FAKE_RC" -eq 0 ] || fail "fake serve of 300 nodes exited $FAKE_RC after SIGTERM, not 0"
[ $(($(date +%s) - t0)) -le 10 ] || fail "fake serve of 300 nodes took more than 10 s to stop on SIGTERM"
done_ok
