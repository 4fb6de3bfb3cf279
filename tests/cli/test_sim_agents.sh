#!/bin/sh
# The simulated node agents: flanneld honours its DaemonSet's flags (--kube-annotation-prefix,
# --iface) and Canal's kube-flannel container; calico-node's Felix programs from Calico's objects;
# mixed operation is visible on the hosts, and peers follow nodes that join, change and go
# (tests/k8s/mixed.lua); Calico IPAM's objects from the simulated kubelet match cm.calico's
# (tests/k8s/ipam_shapes.lua).
. "$(dirname "$0")/lib.sh"
B=${CNI_MIGRATE:?}
S=${CM_SOURCE_DIR:?}
C="$S/examples/clusters"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
host() { # host FIXTURE NODE PYTHON-ASSERTS: fake host's JSON as h, links by name
    "$B" fake host "$1" "$2" >"$dir/h.json" 2>"$dir/err"
    RC=$?
    OUT=$(cat "$dir/err")
    expect_rc 0
    /usr/bin/python3 -c "import json, sys
h = json.load(open(sys.argv[1]))
links = {l['name']: l for l in h['links']}
$3" "$dir/h.json" || { OUT=$(cat "$dir/h.json"); fail "host $2 of $1: $3"; }
}

# --kube-annotation-prefix and VNI 4096: flanneld reads the nodes' annotations under the prefix
host "$C/flannel-prefix-vni-calico-installed-3node.yaml" worker-1 "
v = links['flannel.4096']
assert v['vxlan']['id'] == 4096 and v['mac'] == '9e:3a:7c:00:00:02', v
assert {'dev': 'flannel.4096', 'dst': '10.244.0.0/24', 'gateway': '10.244.0.0', 'onlink': True} in h['routes'], h['routes']
assert {'dev': 'flannel.4096', 'lladdr': '9e:3a:7c:00:00:03', 'dst': '192.168.1.13', 'self': True, 'permanent': True} in h['fdb'], h['fdb']
"
# the old manifest (v0.11.0 in kube-system): no FLANNEL-* chains is cm.flannel's; the host is programmed
host "$C/flannel-old-calico-installed-3node.yaml" worker-2 "
assert 'flannel.1' in links and 'cni0' in links
assert h['files']['/run/flannel/subnet.env'].startswith('FLANNEL_NETWORK=10.244.0.0/16'), h['files']
"
# Canal: no cni0, no host subnet.env, Calico's CNI with host-local IPAM under 10-canal.conflist
host "$C/canal-calico-installed-3node.yaml" worker-1 "
assert 'flannel.1' in links and 'cni0' not in links and 'vxlan.calico' not in links, list(links)
assert '/run/flannel/subnet.env' not in h['files']
conf = json.loads(h['files']['/etc/cni/net.d/10-canal.conflist'])
assert conf['name'] == 'k8s-pod-network' and conf['plugins'][0]['type'] == 'calico', conf
assert conf['plugins'][0]['ipam'] == {'type': 'host-local', 'subnet': 'usePodCidr'}, conf
assert '/etc/cni/net.d/10-flannel.conflist' not in h['files'] and '/etc/cni/net.d/10-calico.conflist' not in h['files']
"

# --iface: a device flanneld cannot find fails its agent; one that exists (by name or address) works
/usr/bin/python3 - "$C/flannel-3node.yaml" "$dir" <<'PY'
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
for o in d['items']:
    if o['kind'] in ('DaemonSet', 'Pod') and o['metadata']['name'].startswith('kube-flannel-ds'):
        spec = o['spec']['template']['spec'] if o['kind'] == 'DaemonSet' else o['spec']
        for c in spec['containers']:
            if c['name'] == 'kube-flannel':
                c['args'].append('--iface=ens9')
yaml.safe_dump(d, open(sys.argv[2] + '/iface-bad.yaml', 'w'))
for o in d['items']:
    if o['kind'] in ('DaemonSet', 'Pod') and o['metadata']['name'].startswith('kube-flannel-ds'):
        spec = o['spec']['template']['spec'] if o['kind'] == 'DaemonSet' else o['spec']
        for c in spec['containers']:
            if c['name'] == 'kube-flannel':
                c['args'][-1] = '--iface=ens9'
                c['args'] += ['--iface', 'eth0']
yaml.safe_dump(d, open(sys.argv[2] + '/iface-good.yaml', 'w'))
PY
[ -s "$dir/iface-bad.yaml" ] || { echo "SKIP: no PyYAML under /usr/bin/python3"; exit 77; }
run "$B" fake host "$dir/iface-bad.yaml" worker-1
expect_rc 1
expect_out 'ERROR failed to find interface to use that matches ens9'
host "$dir/iface-good.yaml" worker-1 "
assert links['flannel.1']['vxlan']['dev'] == 'eth0', links['flannel.1']
"
# the run detects --iface (both forms, in flanneld's order) and prints it with its source; a value
# given explicitly wins and is no contradiction (settings stays ok)
iface_line() { printf '%s\n' "$OUT" | grep '^  FLANNEL_IFACE ' | tr -s ' '; }
run "$B" --fake "$dir/iface-good.yaml" preflight
[ "$(iface_line)" = " FLANNEL_IFACE ens9,eth0 DaemonSet kube-flannel/kube-flannel-ds --iface" ] ||
    fail "detected --iface: $(iface_line)"
expect_out '^settings +ok +- +consistent$'
run "$B" --fake "$dir/iface-good.yaml" preflight --flannel-iface eth1
[ "$(iface_line)" = " FLANNEL_IFACE eth1 flag --flannel-iface" ] || fail "--flannel-iface: $(iface_line)"
expect_out '^settings +ok +- +consistent$'
run env FLANNEL_IFACE=ens4 "$B" --fake "$dir/iface-good.yaml" preflight
[ "$(iface_line)" = " FLANNEL_IFACE ens4 env FLANNEL_IFACE" ] || fail "FLANNEL_IFACE=ens4: $(iface_line)"
run "$B" --fake "$C/flannel-3node.yaml" preflight
[ "$(iface_line)" = " FLANNEL_IFACE - default" ] || fail "no --iface: $(iface_line)"

# mixed operation, on the 4-node fixture and on the demo's 10 nodes
for f in flannel-calico-installed-4node flannel-calico-installed-10node; do
    run env LUA_PATH_5_4="$S/tests/lua/?.lua" "$B" --fake "$C/$f.yaml" run "$S/tests/k8s/mixed.lua"
    expect_rc 0
    expect_out '^ok: '
    expect_no_out 'ERROR'
done
# the simulated calico-ipam claims a block and writes the objects cm.calico builds (tests/k8s/ipam_shapes.lua)
run env LUA_PATH_5_4="$S/tests/lua/?.lua" "$B" --fake "$C/flannel-calico-installed-4node.yaml" run "$S/tests/k8s/ipam_shapes.lua"
expect_rc 0
expect_out '^ok: 11 checks$'
done_ok
