#!/bin/sh
# migrate and preflight: the command line (flags before or after the command, settings from flags
# and the environment, malformed values), preflight's table, JSON and exit codes, and migrate
# refusing to start on a blocker with zero writes (the simulation's trace shows every request).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
B=${CNI_MIGRATE:?}
X="${CM_SOURCE_DIR:?}/examples/clusters"
F="$X/flannel-calico-installed-4node.yaml"
dir=$(mktemp -d)
trap 'fake_stop; rm -rf "$dir" "$FAKE_DIR"' EXIT
export LUA_PATH_5_4="$CM_SOURCE_DIR/tests/lua/?.lua"

# writes: the script's API writes in a trace, SelfSubjectAccessReviews (which store nothing) and
# node-facts' pods (created, then deleted) aside
writes() {
    grep '"actor":"script"' "$1" | grep -E '"verb":"(create|update|patch|delete)"' | grep -v selfsubjectaccessreviews |
        grep -Ev '"path":"/api/v1/namespaces/kube-system/pods(/cm-node-facts-[a-z0-9-]+)?"' | wc -l
}

run "$B" --fake "$F" preflight --flannel-mtu 1450
expect_rc 0
expect_out '^  FLANNEL_NETWORK +10\.244\.0\.0/16 +net-conf\.json \(ConfigMap kube-flannel/kube-flannel-cfg\)$'
expect_out '^  FLANNEL_MTU +1450 +flag --flannel-mtu$'
expect_out '^  FLANNEL_SUBNET_LEN +24 +nodes. spec\.podCIDR \(4\)$'
expect_out '^calico-manifest +ok +DaemonSet kube-system/calico-node'
expect_out '^rbac +ok +this account +35 permissions allowed$'
expect_out '^[0-9]+ ok, [0-9]+ warning\(s\), 0 blocker\(s\), 0 skipped$'

# flags before the command; the flag wins over the variable, the variable over the cluster (here
# contradicting what flannel runs with: a blocker, never a guess)
FLANNEL_MTU=1400 run "$B" --fake "$F" --flannel-mtu 1450 preflight
expect_rc 0
expect_out '^  FLANNEL_MTU +1450 +flag --flannel-mtu$'
FLANNEL_MTU=1400 run "$B" --fake "$F" preflight
expect_rc 1
expect_out '^  FLANNEL_MTU +1400 +env FLANNEL_MTU$'
expect_out '^settings +blocker +FLANNEL_MTU +env FLANNEL_MTU says 1400 but subnet\.env on node control-plane-1 says 1450$'

# preflight changes nothing (node-facts' pods come and go)
run "$B" --fake "$F" --trace "$dir/t1.jsonl" preflight
expect_rc 0
expect_out '^  FLANNEL_MTU +1450 +subnet\.env on node control-plane-1$'
expect_out '^vtep-mac +ok +4 node\(s\) +all$'
[ "$(writes "$dir/t1.jsonl")" -eq 0 ] || fail "preflight wrote to the cluster"
grep -q 'cm-node-facts-worker-1' "$dir/t1.jsonl" || fail "no node-facts pod ran"
# the 4 node-facts pods are followed to their ends by one list and one watch (cm.node.pods)
r=$(grep '"actor":"script"' "$dir/t1.jsonl" | grep -E '"verb":"(list|watch)"' | grep -c '"path":"/api/v1/namespaces/kube-system/pods"')
[ "$r" -eq 2 ] || fail "node-facts' pods were read $r times (expected a list and a watch for all 4)"

# a contradiction: the flag says VNI 4096, flannel runs VNI 1
run "$B" --fake "$F" preflight --flannel-vni 4096 --flannel-mtu 1450
expect_rc 1
expect_out '^settings +blocker +FLANNEL_VNI +flag --flannel-vni says 4096 but net-conf\.json .* says 1$'

# --skip turns a blocker into "skipped"
run "$B" --fake "$F" preflight --skip settings,vtep-mac --flannel-vni 4096
expect_rc 0
expect_out '^settings +skipped +FLANNEL_VNI'

# --json
run "$B" --fake "$F" --log-level warn preflight --json --flannel-mtu 1450
expect_rc 0
printf '%s\n' "$OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["ready"] is True, d; assert d["settings"]["FLANNEL_MTU"] == {"value": 1450, "source": "flag --flannel-mtu"}, d["settings"]; assert any(c["check"] == "ippool" for c in d["checks"])' || fail "preflight --json"

# malformed values: exit 2 naming the flag or the variable
run "$B" --fake "$F" preflight --flannel-vni x
expect_rc 2
expect_out '^cni-migrate: preflight: flag --flannel-vni "x": expected an integer$'
FLANNEL_PORT=99999 run "$B" --fake "$F" migrate
expect_rc 2
expect_out '^cni-migrate: migrate: environment variable FLANNEL_PORT="99999": expected a UDP port from 1 to 65535$'
FLANNEL_IP_MASQ=maybe run "$B" --fake "$F" migrate
expect_rc 2
expect_out 'FLANNEL_IP_MASQ="maybe": expected true or false$'
run "$B" --fake "$F" migrate --bogus
expect_rc 2
expect_out '^cni-migrate: migrate: unknown flag --bogus$'
run "$B" --bogus run x.lua
expect_rc 2
expect_out "^cni-migrate: unknown flag '--bogus'"
# no kubeconfig, or a malformed one: one line naming it (file:line:column), exit 2, nothing sent
printf 'clusters: [\n' > "$dir/bad-kubeconfig.yaml"
for cmd in migrate preflight rollback; do
    KUBECONFIG="$dir/none.yaml" HOME="$dir" run env -u KUBERNETES_SERVICE_HOST "$B" "$cmd"
    expect_rc 2
    expect_lines 1
    expect_out "^cni-migrate: $cmd: no Kubernetes configuration: no kubeconfig"
    KUBECONFIG="$dir/bad-kubeconfig.yaml" run "$B" "$cmd"
    expect_rc 2
    expect_lines 1
    expect_out "^cni-migrate: $cmd: kubeconfig $dir/bad-kubeconfig.yaml:2:1: "
done
run "$B" migrate --help
expect_rc 0
expect_out '^  --flannel-annotation-prefix +flanneld --kube-annotation-prefix'

# migrate refuses on a blocker: zero writes
run "$B" --fake "$F" --trace "$dir/t2.jsonl" migrate --flannel-vni 4096
expect_rc 1
expect_out '^cni-migrate: migrate: [0-9]+ blocker\(s\): nothing was changed'
[ "$(writes "$dir/t2.jsonl")" -eq 0 ] || fail "migrate wrote before refusing"
# no Calico installed: blockers, zero writes
run "$B" --fake "$X/flannel-3node.yaml" --trace "$dir/t3.jsonl" migrate --flannel-mtu 1450
expect_rc 1
expect_out '^calico-manifest +blocker +DaemonSet kube-system/calico-node +Calico.s DaemonSet is not installed$'
expect_out '^calico-crds +blocker'
[ "$(writes "$dir/t3.jsonl")" -eq 0 ] || fail "migrate wrote before refusing"
# neither flannel nor Calico: an error, never a silent success
run "$B" --fake "$X/flannel-3node.yaml" migrate --flannel-daemonset-name nothing-here
expect_rc 1
expect_out '^cni-migrate: migrate: neither flannel nor Calico here: .*looked for kube-flannel/nothing-here'

# --dry-run=server: every write with dryRun=All, no node step
run "$B" --fake "$F" --trace "$dir/t4.jsonl" migrate --flannel-mtu 1450 --dry-run=server
expect_rc 0
expect_out 'plan +would migrate'
expect_out '^Dry run: every write was sent with dryRun=All'
# the writes were sent, and the cluster saw none of them
[ "$(writes "$dir/t4.jsonl")" -gt 20 ] || fail "the dry run sent too few writes"
n=$(grep '"actor":"cluster"' "$dir/t4.jsonl" | grep -Ec '"kind":"(IPPool|FelixConfiguration|IPAMBlock|BlockAffinity|IPAMHandle|Node)"|flannel-migration-config')
[ "$n" -eq 0 ] || fail "the dry run changed $n object(s)"

# the cluster preparation, object by object (datamodel.md A.12), in process and over HTTP
run "$B" --fake "$F" run "$CM_SOURCE_DIR/tests/k8s/migrate_prepare.lua"
expect_rc 0
expect_out '^ok: [0-9]+ checks$'

# resume after every write of a whole migration: tests/cli/resume_every_write.sh

# whole migrations in simulation, the end state object by object and host by host on the
# cluster each left (--fake-save), for every kind of source cluster
E="$CM_SOURCE_DIR/tests/k8s/migrate_end.lua"
for spec in flannel-calico-installed-10node:kube-flannel:kube-flannel-ds:1 \
    flannel-old-calico-installed-3node:kube-system:kube-flannel-ds-amd64:1 \
    flannel-prefix-vni-calico-installed-3node:kube-flannel:kube-flannel-ds:4096 \
    canal-calico-installed-3node:kube-system:canal:1:canal \
    flannel-calico-installed-1node:kube-flannel:kube-flannel-ds:1 \
    flannel-calico-installed-3cp-5node:kube-flannel:kube-flannel-ds:1; do
    fx=${spec%%:*}; rest=${spec#*:}
    run "$B" --fake "$X/$fx.yaml" --fake-save "$dir/end.yaml" migrate
    expect_rc 0
    expect_out "^Migrated [0-9]+ node\(s\) to Calico in [0-9.]+ s of virtual"
    # shellcheck disable=SC2086
    run "$B" --fake "$dir/end.yaml" --log-level warn run "$E" $(echo "$rest" | tr ':' ' ')
    expect_rc 0
    expect_out '^ok: [0-9]+ checks$'
    # and again on the finished cluster: it says so, exit 0
    run "$B" --fake "$dir/end.yaml" migrate
    expect_rc 0
    expect_out '^The cluster is migrated already'
done
# order: workers by name, then control planes, the controller's node last
run "$B" --fake "$X/flannel-calico-installed-3cp-5node.yaml" migrate --pod-node-name control-plane-2
expect_rc 0
order=$(printf '%s\n' "$OUT" | awk '$5 == "cordon" { printf "%s ", $4 }')
[ "$order" = "worker-1 worker-2 control-plane-1 control-plane-3 control-plane-2 " ] || fail "order: $order"

fake_start "$F" --speed 100
run "$B" run "$CM_SOURCE_DIR/tests/k8s/migrate_prepare.lua"
expect_rc 0
expect_out '^ok: [0-9]+ checks$'
# whole migrations over HTTP (the client's watches hand their events on outside libcurl, so the
# drain's evictions and relists start from the loop), checked with kubectl and object by object
# (migrate_end.lua through the client, hosts included): the 4-node fixture and the demo's 10 nodes
# (PDBs, a StatefulSet)
over_http() { # FIXTURE NODES
    fake_start "$X/$1.yaml" --speed 100
    run "$B" migrate
    expect_rc 0
    expect_out "^Migrated $2 node\(s\) to Calico in [0-9.]+ s of real time; 0 skipped; $2 node\(s\) in the cluster\.$"
    for step in cordon drain label-none flannel-gone flannel-cleanup delete-pods label-calico calico-ready calico-check uncordon; do
        k=$(printf '%s\n' "$OUT" | awk -v s="$step" '$5 == s' | wc -l)
        [ "$k" -eq "$2" ] || fail "$1 over HTTP, step $step: $k node(s), expected $2"
    done
    run kubectl get ds -A -o 'jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.spec.template.spec.nodeSelector}{"\n"}{end}'
    expect_rc 0
    expect_no_out 'kube-flannel-ds'
    expect_out '^kube-system/calico-node \{"kubernetes.io/os":"linux"\}$'
    run kubectl get nodes -o 'jsonpath={range .items[*]}{.metadata.name} [{.metadata.labels.projectcalico\.org/node-network-during-migration}] [{.spec.unschedulable}] {.metadata.annotations.projectcalico\.org/IPv4VXLANTunnelAddr}{"\n"}{end}'
    expect_rc 0
    [ "$(printf '%s\n' "$OUT" | grep -Ec '^[a-z0-9-]+ \[\] \[\] 10\.244\.[0-9]+\.0$')" -eq "$2" ] || fail "$1: nodes after the migration over HTTP"
    run kubectl get pods -n kube-system -l k8s-app=calico-node -o 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}'
    [ "$(printf '%s\n' "$OUT" | grep -c '^True$')" -eq "$2" ] || fail "$1: calico-node Ready over HTTP: $OUT"
    run "$B" --log-level warn run "$E" kube-flannel kube-flannel-ds 1 - no-hosts
    expect_rc 0
    expect_out '^ok: [0-9]+ checks$'
    for n in $(kubectl get nodes -o name); do # the hosts, through fake serve's hosts path
        curl -s "$URL/cni-migrate/v1alpha1/hosts/${n#node/}" >"$dir/host.json"
        /usr/bin/python3 -c "import json, sys
h = json.load(open(sys.argv[1]))
links = {l['name']: l for l in h['links']}
assert links['vxlan.calico']['vxlan']['id'] == 1 and 'flannel.1' not in links and 'cni0' not in links, sorted(links)
assert sorted(p for p in h['files'] if p.startswith('/etc/cni/net.d/') and p.endswith('.conflist')) == \
    ['/etc/cni/net.d/10-calico.conflist'], sorted(h['files'])" "$dir/host.json" || fail "$1: host ${n#node/}"
    done
    run "$B" migrate
    expect_rc 0
    expect_out '^The cluster is migrated already'
}
over_http flannel-calico-installed-4node 4
over_http flannel-calico-installed-10node 10
fake_stop
done_ok
