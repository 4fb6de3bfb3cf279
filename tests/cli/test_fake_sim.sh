#!/bin/sh
# kubectl against `cni-migrate fake serve` running the simulation (controllers, scheduler, kubelets,
# node hosts and their agents) on real time sped up ten times, on the bundled Calico-migration fixture:
# relabelling a node moves it from flannel's DaemonSet to calico-node's (seen by `kubectl get pods -w`
# and `kubectl rollout status`), and its simulated host (GET /cni-migrate/v1alpha1/hosts/NODE) goes
# from flannel's CNI config to Calico's with vxlan.calico; `kubectl drain` evicts Deployment pods
# that the ReplicaSet re-creates on other nodes; the cluster's clock runs --speed times real time.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
F="$CM_SOURCE_DIR/examples/clusters/flannel-calico-installed-4node.yaml"
K=$(command -v kubectl) || { echo "SKIP: no kubectl on this machine"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "SKIP: no curl on this machine"; exit 77; }
[ -x /usr/bin/python3 ] || { echo "SKIP: no /usr/bin/python3 to read the hosts' JSON"; exit 77; }
SPEED=10
LABEL=projectcalico.org/node-network-during-migration

# host NODE PYTHON-ASSERTIONS: the node's simulated host, as the server has it now (h, links, files)
host() {
    curl -s "$URL/cni-migrate/v1alpha1/hosts/$1" > "$FAKE_DIR/host-$1.json"
    /usr/bin/python3 -c "import json, sys
h = json.load(open(sys.argv[1]))
links = {l['name']: l for l in h['links']}
files = h['files']
active = sorted(p for p in files if p.startswith('/etc/cni/net.d/') and p.endswith('.conflist'))
$2" "$FAKE_DIR/host-$1.json" || { OUT=$(cat "$FAKE_DIR/host-$1.json"); fail "host $1: $2"; }
}

# wait_for SECONDS CMD...: runs CMD every 0.2 s until it succeeds; fails the test after SECONDS
wait_for() {
    limit=$1
    shift
    i=0
    while ! "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt $((limit * 5)) ]; then
            OUT=$("$@" 2>&1)
            fail "still not true after ${limit}s: $*"
            return 1
        fi
        sleep 0.2
    done
}

ds_settled() { # ds_settled NS NAME N: N pods scheduled, updated and ready
    st='{.status.desiredNumberScheduled}/{.status.updatedNumberScheduled}/{.status.numberReady}'
    [ "$("$K" get ds -n "$1" "$2" -o "jsonpath=$st")" = "$3/$3/$3" ]
}

fake_start "$F" --speed $SPEED --seed 1 --trace "$FAKE_DIR/trace.jsonl"
"$K" get pods -A -w > "$FAKE_DIR/watch.out" 2>&1 &
WATCH=$!

# before: flannel runs everywhere, calico-node nowhere; worker-1's host is flannel's
run "$K" get ds -n kube-system calico-node -o 'jsonpath={.status.desiredNumberScheduled}'
expect_out '^0$'
wait_for 10 host worker-1 "assert 'flannel.1' in links" || true
host worker-1 "
assert links['flannel.1']['vxlan']['id'] == 1 and links['flannel.1']['vxlan']['port'] == 8472
assert 'vxlan.calico' not in links
assert active == ['/etc/cni/net.d/10-flannel.conflist'], active
assert 'FLANNEL_SUBNET=10.244.1.1/24' in files['/run/flannel/subnet.env']
"

# Calico's migration steps, by hand: flannel only on nodes labelled flannel, then worker-1 to calico
run "$K" label nodes --all "$LABEL=flannel"
expect_rc 0
run "$K" patch ds -n kube-flannel kube-flannel-ds --type=merge \
    -p "{\"spec\":{\"template\":{\"spec\":{\"nodeSelector\":{\"$LABEL\":\"flannel\"}}}}}"
expect_rc 0
# a rolling update of every flannel pod; flannel's manifest leaves updateStrategy out, so this
# also needs the server's default (RollingUpdate, maxUnavailable 1)
run "$K" rollout status daemonset/kube-flannel-ds -n kube-flannel --timeout=60s
expect_rc 0
expect_out 'daemon set "kube-flannel-ds" successfully rolled out'
run "$K" get ds -n kube-flannel kube-flannel-ds -o 'jsonpath={.spec.updateStrategy}'
expect_out '^\{"rollingUpdate":\{"maxSurge":0,"maxUnavailable":1\},"type":"RollingUpdate"\}$'
wait_for 60 ds_settled kube-flannel kube-flannel-ds 4
# a VXLAN pool (Felix runs VXLAN only when a pool, or FelixConfiguration, asks for it), and what
# calico-node's startup records on its Node (the simulation's calico-node does not allocate it)
printf '%s\n' 'apiVersion: crd.projectcalico.org/v1' 'kind: IPPool' 'metadata: {name: default-ipv4-ippool}' \
    'spec: {cidr: 10.244.0.0/16, blockSize: 26, vxlanMode: Always, ipipMode: Never, natOutgoing: true}' \
    > "$FAKE_DIR/pool.yaml"
run "$K" create -f "$FAKE_DIR/pool.yaml"
expect_rc 0
run "$K" annotate node worker-1 projectcalico.org/IPv4VXLANTunnelAddr=10.244.1.0 \
    projectcalico.org/VXLANTunnelMACAddr=66:aa:bb:cc:dd:01
expect_rc 0
run "$K" label node worker-1 "$LABEL=calico" --overwrite
expect_rc 0
run "$K" rollout status daemonset/calico-node -n kube-system --timeout=60s
expect_rc 0
expect_out 'daemon set "calico-node" successfully rolled out'
wait_for 30 ds_settled kube-flannel kube-flannel-ds 3
run "$K" get pods -n kube-system -l k8s-app=calico-node -o wide
expect_out '^calico-node-[a-z0-9]+ +1/1 +Running +0 .* worker-1 '
expect_lines 2
run "$K" get pods -n kube-flannel --field-selector spec.nodeName=worker-1 -o name
expect_empty
# the watch saw calico-node come up: created Pending, then Running and Ready
sleep 1
OUT=$(cat "$FAKE_DIR/watch.out")
expect_out '^kube-system +calico-node-[a-z0-9]+ +0/1 +Pending '
expect_out '^kube-system +calico-node-[a-z0-9]+ +1/1 +Running '
expect_out '^kube-flannel +kube-flannel-ds-[a-z0-9]+ +1/1 +Terminating '
# worker-1's host is now Calico's: its CNI config first, vxlan.calico as the Node records it;
# flanneld stopped, and what it made stays until a node script removes it
host worker-1 "
assert active == ['/etc/cni/net.d/10-calico.conflist', '/etc/cni/net.d/10-flannel.conflist'], active
assert '\"calico\"' in files['/etc/cni/net.d/10-calico.conflist']
v = links['vxlan.calico']
assert v['mac'] == '66:aa:bb:cc:dd:01' and v['vxlan']['id'] == 4096 and v['vxlan']['port'] == 4789, v
assert {'dev': 'vxlan.calico', 'address': '10.244.1.0/32'} in h['addresses']
assert 'flannel.1' in links
"
host worker-2 "
assert 'vxlan.calico' not in links and active == ['/etc/cni/net.d/10-flannel.conflist'], active
"

# drain: Deployment pods are evicted and the ReplicaSet puts them back on other nodes
OLD=$("$K" get pods -n apps -l app=web --field-selector spec.nodeName=worker-2 -o name | sort)
[ -n "$OLD" ] || fail "no web pod on worker-2 to evict"
run "$K" drain worker-2 --ignore-daemonsets --delete-emptydir-data --timeout=90s
expect_rc 0
expect_out '^node/worker-2 drained$'
for p in $OLD; do expect_out "^$p evicted$"; done
web_back() { # six web pods, all Running and Ready, none on worker-2
    "$K" get pods -n apps -l app=web -o wide --no-headers > "$FAKE_DIR/web"
    [ "$(grep -c ' 1/1 \+Running ' "$FAKE_DIR/web")" -eq 6 ] && ! grep -q ' worker-2 ' "$FAKE_DIR/web"
}
wait_for 60 web_back
run "$K" get pods -n apps -l app=web -o name
for p in $OLD; do expect_no_out "^$p$"; done
run "$K" get node worker-2
expect_out '^worker-2 +Ready,SchedulingDisabled '

# the cluster's clock runs SPEED times real time: two objects created some real seconds apart
created() { # created NAME: creates a ConfigMap and prints its creationTimestamp as Unix seconds
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\n' "$1" |
        "$K" create -f - -o 'jsonpath={.metadata.creationTimestamp}' | xargs -I{} date -d {} +%s
}
r0=$(date +%s.%N)
v0=$(created clock-a)
sleep 3
v1=$(created clock-b)
r1=$(date +%s.%N)
/usr/bin/python3 -c "import sys
v0, v1, r0, r1, n = map(float, sys.argv[1:])
real, virt = r1 - r0, v1 - v0
print('virtual %.0f s in %.2f s of real time: %.1fx (--speed %g)' % (virt, real, virt / real, n))
# timestamps have whole seconds; kubectl's own time is real time on both sides
assert 0.6 * n * (real - 1) <= virt <= n * real + 1, (virt, real)" "$v0" "$v1" "$r0" "$r1" $SPEED ||
    fail "the cluster's clock did not run $SPEED times real time"

kill "$WATCH" 2>/dev/null
wait "$WATCH" 2>/dev/null
fake_stop
[ "$FAKE_RC" -eq 0 ] || fail "fake serve exited $FAKE_RC after SIGTERM, not 0"
OUT=$(cat "$FAKE_DIR/stderr")
expect_no_out 'ERROR'
# the trace has the cluster's changes on its clock
OUT=$(cat "$FAKE_DIR/trace.jsonl")
expect_out '^\{"t":"2026-11-01T09:0[0-9]:[0-9.]+Z","actor":"cluster","event":"ADDED","kind":"Pod","namespace":"kube-system","name":"calico-node-'
done_ok
