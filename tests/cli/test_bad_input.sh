#!/bin/sh
# Bad input, table-driven: every case below is a flag, an environment value, a kubeconfig, a
# fixture, a hook file, a node's CNI file, or a flannel ConfigMap or annotation that is wrong.
# Each must end with exit 2 and ONE line of output naming the flag, file, line or field at fault, and write nothing to
# the cluster: a --fake run's --trace holds no write of the script's, and `fake serve` (the cluster
# of the kubeconfig cases) logs no write from any client.
#
# A case is one line: NAME | ENV | ARGS | REGEX
#   ENV    VAR=VALUE words put in the command's environment (- for none)
#   ARGS   the command's arguments after the binary, as the shell reads them ($F: a 1-node fixture,
#          $D: this test's directory with the files made below, $K: fake serve's good kubeconfig)
#   REGEX  what the one line says, after "cni-migrate: " (an extended regex, anchored at both ends)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
B=${CNI_MIGRATE:?}
X="${CM_SOURCE_DIR:?}/examples/clusters"
F="$X/flannel-calico-installed-1node.yaml"
D=$(mktemp -d)
trap 'fake_stop; rm -rf "$D" "$FAKE_DIR"' EXIT

# --- inputs ------------------------------------------------------------------------------------
fake_start "$F" --no-sim --trace "$D/serve.jsonl"
K=$KUBECONFIG
unset KUBECONFIG
server=$(sed -n 's/^ *server: *//p' "$K" | head -n1)
# kubeconfigs: each broken in one place
kc() { # kc NAME: writes $D/NAME.kubeconfig from stdin
    cat > "$D/$1.kubeconfig"
}
printf 'apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n\tserver: %s\n' "$server" | kc tab
printf 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n' | kc nocontext
sed 's/^current-context: .*/current-context: elsewhere/' "$K" | kc badcurrent
sed 's/^\( *cluster:\) [a-z].*/\1 nosuchcluster/' "$K" | kc badclusterref
sed '/^ *server:/d' "$K" | kc noserver
sed 's|^\( *server:\) .*|\1 "ht!tp://[::1"|' "$K" | kc badserver
sed 's|^\( *server:\) .*|&\n    certificate-authority-data: "%%%not-base64%%%"|' "$K" | kc badca
sed 's|^\( *user:\) *$|&|; /^ *token:/d; s|^\( *\)user: *{}|\1user: {client-certificate: /nonexistent/client.crt, client-key: /nonexistent/client.key}|' "$K" | kc nocert
sed "s|^\\( *\\)user: *{}|\\1user: {tokenFile: /nonexistent/token}|" "$K" | kc notokenfile
printf -- '- just\n- a list\n' | kc list
printf 'apiVersion: v1\nkind: Config\ncurrent-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: 42}\nusers:\n- name: u\n  user: {}\n' | kc servernum
mkdir "$D/kubedir"
# fixtures: $F changed in one place
fx() { # fx NAME SED-SCRIPT: writes $D/NAME.yaml
    sed "$2" "$F" > "$D/$1.yaml"
}
fx netconf_json 's/"Network": "10.244.0.0\/16",/"Network": "10.244.0.0\/16",,/'
fx netconf_cidr 's/"Network": "10.244.0.0\/16"/"Network": "10.244.0.0"/'
fx netconf_nonet 's/"Network": "10.244.0.0\/16",//'
fx netconf_vni 's/"Type": "vxlan"/"Type": "vxlan", "VNI": "one"/'
fx netconf_port 's/"Type": "vxlan"/"Type": "vxlan", "Port": 70000/'
fx netconf_sublen 's/"Network": "10.244.0.0\/16",/"Network": "10.244.0.0\/16", "SubnetLen": 40,/'
fx netconf_array 's/^\(    net-conf.json: |\)$/\1\n      []/; /^      {$/,/^      }$/d'
fx ann_json "s/backend-data: '{\"VNI\":1,\"VtepMAC\":\"9e:3a:7c:00:00:01\"}'/backend-data: '{\"VNI\":1,'/"
fx ann_mac "s/\"VtepMAC\":\"9e:3a:7c:00:00:01\"/\"VtepMAC\":\"9e:3a:7c:00:00\"/"
fx ann_ip 's/public-ip: 192.168.1.11/public-ip: 192.168.1.311/'
fx ann_vni "s/backend-data: '{\"VNI\":1,/backend-data: '{\"VNI\":\"x\",/"
fx yaml_syntax '20s/$/: : :/'
fx yaml_tab '20s/^ /\t/'
fx noname '0,/^    name: /{/^    name: /d}'
fx badann '0,/^    annotations:$/s/^    annotations:$/    annotations:\n      bad key!: x/'
printf 'apiVersion: cni-migrate.dev/v1alpha1\nkind: FakeCluster\nspec:\n  bogus: 1\n' > "$D/fc_field.yaml"
printf 'apiVersion: cni-migrate.dev/v1alpha1\nkind: FakeCluster\nspec:\n  faults:\n    requests:\n    - {error: 500, verbs: [lst]}\n' > "$D/fc_verb.yaml"
printf 'apiVersion: cni-migrate.dev/v1alpha1\nkind: FakeCluster\nspec:\n  faults:\n    requests:\n    - {error: 500, rate: 2}\n' > "$D/fc_rate.yaml"
printf 'apiVersion: cni-migrate.dev/v1alpha1\nkind: FakeCluster\nspec:\n  hosts:\n    nosuchnode: {links: []}\n' > "$D/fc_host.yaml"
printf 'apiVersion: v1\nmetadata: {name: x}\n' > "$D/nokind.yaml"
{ cat "$F"; printf -- '---\napiVersion: v1\nkind: Node\nmetadata: {name: %s}\n' "$(sed -n '/^  kind: Node$/,/name:/s/^    name: //p' "$F" | head -n1)"; } > "$D/dupnode.yaml"
{ cat "$F"; echo ---; cat "$D/fc_field.yaml"; } > "$D/fixture_fc_field.yaml"
printf 'some: [unclosed\n' > "$D/lua_bad.yaml"
# hook files: each wrong in one way
printf 'return { befor_step = function() end }\n' > "$D/hook_name.lua"
printf 'return {\n  on_start = function( end }\n' > "$D/hook_syntax.lua"
printf 'error("boom")\n' > "$D/hook_raises.lua"
printf 'return 42\n' > "$D/hook_number.lua"
printf 'return { health = "yes" }\n' > "$D/hook_string.lua"
printf 'x = 1\nreturn {}\n' > "$D/hook_global.lua"
# a node's CNI directory: one file broken in each
cnidir() { # cnidir NAME: a CNI directory $D/cni-NAME with flannel's config, changed by the caller
    mkdir -p "$D/cni-$1"
    printf '{"name":"cbr0","cniVersion":"0.3.1","plugins":[{"type":"flannel","delegate":{"hairpinMode":true,"isDefaultGateway":true}},{"type":"portmap","capabilities":{"portMappings":true}}]}\n' \
        > "$D/cni-$1/10-flannel.conflist"
}
cnidir json; printf '{"name":"cbr0","plugins":[' > "$D/cni-json/10-flannel.conflist"
cnidir huge; head -c 2000000 /dev/zero | tr '\0' ' ' >> "$D/cni-huge/10-flannel.conflist"
cnidir link; printf '{"name":"x","cniVersion":"0.3.1","plugins":[{"type":"bridge"}]}\n' > "$D/outside.conflist"
rm "$D/cni-link/10-flannel.conflist"; ln -s "$D/outside.conflist" "$D/cni-link/10-flannel.conflist"
cnidir notype; printf '{"name":"cbr0","cniVersion":"0.3.1","plugins":[{"delegate":{}}]}\n' > "$D/cni-notype/10-flannel.conflist"
cnidir second; printf '{"name":' > "$D/cni-second/99-broken.conf"
cnidir dangling; rm "$D/cni-dangling/10-flannel.conflist"; ln -s "$D/nowhere" "$D/cni-dangling/10-flannel.conflist"

# --- the cases ----------------------------------------------------------------------------------
CASES=$(cat <<'TABLE'
cmd-unknown        | - | frobnicate | .*unknown command.*frobnicate.*
flag-unknown       | - | --bogus migrate | .*unknown (flag|option).*--bogus.*
flag-timeout       | - | --timeout 5q --fake @F migrate | .*--timeout.*5q.*
flag-timeout-neg   | - | --timeout -5 --fake @F migrate | .*--timeout.*-5.*
flag-seed          | - | --seed abc --fake @F migrate | .*--seed.*abc.*
flag-seed-big      | - | --seed 99999999999999999999999 --fake @F migrate | .*--seed.*
flag-log-level     | - | --log-level loud --fake @F migrate | .*--log-level.*loud.*
flag-log-format    | - | --log-format xml --fake @F migrate | .*--log-format.*xml.*
flag-dry-run       | - | --dry-run=client --fake @F migrate | .*--dry-run.*client.*
flag-fault-rate    | - | --fault requests:error=500,rate=2 --fake @F migrate | .*--fault.*rate.*
flag-fault-section | - | --fault nosuch:x=1 --fake @F migrate | .*--fault.*nosuch.*
flag-fault-error   | - | --fault requests:error=418 --fake @F migrate | .*--fault.*418.*
flag-fault-crash   | - | --fault crash:afterWrites=-1 --fake @F migrate | .*--fault.*afterWrites.*
flag-fake-missing  | - | --fake @D/nonexistent.yaml migrate | .*nonexistent\.yaml.*
flag-trace-dir     | - | --fake @F --trace @D/no/such/dir/t.jsonl migrate | .*no/such/dir/t\.jsonl.*
flag-save-nofake   | - | --kubeconfig @K --fake-save @D/out.yaml migrate | .*--fake-save.*--fake.*
flag-lua-dir       | - | --lua-dir @D/nonexistent --fake @F migrate | .*--lua-dir.*nonexistent.*
flag-kubeconfig-noval | - | migrate --kubeconfig | .*--kubeconfig.*
run-missing        | - | --fake @F run @D/nonexistent.lua | .*nonexistent\.lua.*
mig-vni-text       | - | --fake @F migrate --flannel-vni abc | migrate: flag --flannel-vni "abc": .*
mig-vni-big        | - | --fake @F migrate --flannel-vni 16777216 | migrate: flag --flannel-vni "16777216": .*
mig-port-zero      | - | --fake @F migrate --flannel-port 0 | migrate: flag --flannel-port "0": .*
mig-net-len        | - | --fake @F migrate --flannel-network 10.244.0.0/33 | migrate: flag --flannel-network "10.244.0.0/33": .*
mig-net-octet      | - | --fake @F migrate --flannel-network 300.1.1.0/16 | migrate: flag --flannel-network "300.1.1.0/16": .*
mig-net6-v4        | - | --fake @F migrate --flannel-ipv6-network 10.0.0.0/8 | migrate: flag --flannel-ipv6-network "10.0.0.0/8": .*
mig-ds-name        | - | --fake @F migrate --flannel-daemonset-name Kube_Flannel | migrate: flag --flannel-daemonset-name "Kube_Flannel": .*
mig-pool-size      | - | --fake @F migrate --default-ippool-size 19 | migrate: flag --default-ippool-size "19": .*
mig-pool-size6     | - | --fake @F migrate --default-ippool-size-v6 130 | migrate: flag --default-ippool-size-v6 "130": .*
mig-drain-timeout  | - | --fake @F migrate --drain-timeout 5x | migrate: flag --drain-timeout "5x": .*
mig-masq           | - | --fake @F migrate --flannel-ip-masq maybe | migrate: flag --flannel-ip-masq "maybe": .*
mig-flag-unknown   | - | --fake @F migrate --no-such-flag | migrate: unknown flag --no-such-flag
mig-stray          | - | --fake @F migrate stray | migrate: unexpected argument "stray"
mig-novalue        | - | --fake @F migrate --flannel-vni | migrate: flag --flannel-vni needs a value
mig-mtu            | - | --fake @F migrate --flannel-mtu 70000 | migrate: flag --flannel-mtu "70000": .*
mig-subnet-len     | - | --fake @F migrate --flannel-subnet-len 0 | migrate: flag --flannel-subnet-len "0": .*
mig-ready-timeout  | - | --fake @F migrate --calico-ready-timeout= | migrate: flag --calico-ready-timeout "": .*
mig-skip-unknown   | - | --fake @F migrate --skip no-such-check | migrate: flag --skip "no-such-check": .*
pre-json           | - | --fake @F preflight --json=perhaps | preflight: flag --json "perhaps": .*
pre-skip-unknown   | - | --fake @F preflight --skip ippool,nosuch | preflight: flag --skip "ippool,nosuch": .*
rb-timeout         | - | --fake @F rollback --flannel-ready-timeout soon | rollback: flag --flannel-ready-timeout "soon": .*
rb-flag-unknown    | - | --fake @F rollback --remove-calico | rollback: unknown flag --remove-calico
rb-window          | - | --fake @F rollback --window-start 22:00 --window-end 05:00 | rollback: flag --window-start: a rollback does not wait for a window or a deadline \(they pace migrate only\)
rb-window-days     | - | --fake @F rollback --window-days sat,sun | rollback: flag --window-days: a rollback does not wait .*
rb-time-zone       | - | --fake @F rollback --window-time-zone UTC | rollback: flag --window-time-zone: a rollback does not wait .*
rb-deadline        | - | --fake @F rollback --deadline=6h | rollback: flag --deadline: a rollback does not wait .*
env-rb-deadline    | CNI_MIGRATE_DEADLINE=6h | --fake @F rollback | rollback: environment variable CNI_MIGRATE_DEADLINE: a rollback does not wait .*
env-vni            | FLANNEL_VNI=abc | --fake @F migrate | migrate: environment variable FLANNEL_VNI="abc": .*
env-mtu            | FLANNEL_MTU=-1 | --fake @F migrate | migrate: environment variable FLANNEL_MTU="-1": .*
env-subnet-len     | FLANNEL_SUBNET_LEN=33 | --fake @F migrate | migrate: environment variable FLANNEL_SUBNET_LEN="33": .*
env-network        | FLANNEL_NETWORK=banana | --fake @F migrate | migrate: environment variable FLANNEL_NETWORK="banana": .*
env-masq           | FLANNEL_IP_MASQ=yes | --fake @F migrate | migrate: environment variable FLANNEL_IP_MASQ="yes": .*
env-namespace      | CALICO_DAEMONSET_NAMESPACE=Kube-System | --fake @F migrate | migrate: environment variable CALICO_DAEMONSET_NAMESPACE="Kube-System": .*
env-port           | FLANNEL_PORT=70000 | --fake @F migrate | migrate: environment variable FLANNEL_PORT="70000": .*
env-net6           | FLANNEL_IPV6_NETWORK=fe80::/200 | --fake @F migrate | migrate: environment variable FLANNEL_IPV6_NETWORK="fe80::/200": .*
env-pool-size      | DEFAULT_IPPOOL_SIZE=33 | --fake @F migrate | migrate: environment variable DEFAULT_IPPOOL_SIZE="33": .*
env-subnet-env     | FLANNEL_SUBNET_ENV=FLANNEL_NETWORK=banana | --fake @F migrate | migrate: environment variable FLANNEL_SUBNET_ENV.*FLANNEL_NETWORK.*banana.*
env-lua-dir        | CNI_MIGRATE_LUA_DIR=/nonexistent/lua | --fake @F migrate | .*CNI_MIGRATE_LUA_DIR.*nonexistent.*
env-rb-vni         | FLANNEL_VNI=0x10 | --fake @F rollback | rollback: environment variable FLANNEL_VNI="0x10": .*
kc-missing         | - | --kubeconfig @D/nonexistent.kubeconfig migrate | .*nonexistent\.kubeconfig.*
kc-env-missing     | KUBECONFIG=@D/nonexistent.kubeconfig | migrate | migrate: no Kubernetes configuration: no kubeconfig \(--kubeconfig, KUBECONFIG, .*
kc-dir             | KUBECONFIG=@D/kubedir | preflight | .*kubedir.*
kc-tab             | - | --kubeconfig @D/tab.kubeconfig migrate | .*tab\.kubeconfig:6.*
kc-list            | - | --kubeconfig @D/list.kubeconfig migrate | .*list\.kubeconfig.*
kc-nocontext       | - | --kubeconfig @D/nocontext.kubeconfig migrate | .*nocontext\.kubeconfig.*context.*
kc-badcurrent      | - | --kubeconfig @D/badcurrent.kubeconfig migrate | .*badcurrent\.kubeconfig.*elsewhere.*
kc-badclusterref   | - | --kubeconfig @D/badclusterref.kubeconfig migrate | .*badclusterref\.kubeconfig.*nosuchcluster.*
kc-noserver        | - | --kubeconfig @D/noserver.kubeconfig migrate | .*noserver\.kubeconfig.*server.*
kc-badserver       | - | --kubeconfig @D/badserver.kubeconfig migrate | .*badserver\.kubeconfig.*server.*
kc-servernum       | - | --kubeconfig @D/servernum.kubeconfig migrate | .*servernum\.kubeconfig.*server.*
kc-badca           | - | --kubeconfig @D/badca.kubeconfig migrate | .*badca\.kubeconfig.*certificate-authority-data.*
kc-nocert          | - | --kubeconfig @D/nocert.kubeconfig migrate | .*client\.(crt|key).*
kc-notokenfile     | - | --kubeconfig @D/notokenfile.kubeconfig migrate | .*nonexistent/token.*
kc-context         | - | --kubeconfig @K --context nosuch migrate | .*context.*nosuch.*
fx-yaml-syntax     | - | --fake @D/yaml_syntax.yaml migrate | .*yaml_syntax\.yaml:20.*
fx-yaml-tab        | - | --fake @D/yaml_tab.yaml migrate | .*yaml_tab\.yaml:20.*
fx-noname          | - | --fake @D/noname.yaml migrate | .*noname\.yaml:[0-9]+.*name.*
fx-badann          | - | --fake @D/badann.yaml migrate | .*badann\.yaml:[0-9]+: [A-Za-z]+ "[a-z0-9-]+" is invalid: metadata\.annotations: Invalid value: "bad key!": name part must consist of.*
fx-nokind          | - | --fake @D/nokind.yaml migrate | .*nokind\.yaml:1.*kind.*
fx-dupnode         | - | --fake @D/dupnode.yaml migrate | .*dupnode\.yaml:[0-9]+.*
fx-fc-field        | - | --fake @D/fixture_fc_field.yaml migrate | .*fixture_fc_field\.yaml:[0-9]+.*bogus.*
fx-fc-verb         | - | --fake @D/fc_verb.yaml migrate | .*fc_verb\.yaml:6.*verbs.*lst.*
fx-fc-rate         | - | --fake @D/fc_rate.yaml migrate | .*fc_rate\.yaml:6.*rate.*
fx-fc-host         | - | --fake @D/fc_host.yaml migrate | .*fc_host\.yaml: FakeCluster spec\.hosts\.nosuchnode: no such Node in the fixture
cm-netconf-json    | - | --fake @D/netconf_json.yaml migrate | migrate: ConfigMap kube-flannel/kube-flannel-cfg: net-conf.json.*
cm-netconf-cidr    | - | --fake @D/netconf_cidr.yaml migrate | migrate: ConfigMap kube-flannel/kube-flannel-cfg: net-conf.json: Network: "10.244.0.0" is not a CIDR
cm-netconf-nonet   | - | --fake @D/netconf_nonet.yaml migrate | migrate: ConfigMap kube-flannel/kube-flannel-cfg: net-conf.json: Network: missing
cm-netconf-array   | - | --fake @D/netconf_array.yaml migrate | migrate: ConfigMap kube-flannel/kube-flannel-cfg: net-conf.json: expected a JSON object
cm-netconf-vni     | - | --fake @D/netconf_vni.yaml migrate | migrate: ConfigMap kube-flannel/kube-flannel-cfg: net-conf.json: Backend.VNI.*
cm-netconf-port    | - | --fake @D/netconf_port.yaml migrate | migrate: ConfigMap kube-flannel/kube-flannel-cfg: net-conf.json: Backend.Port.*
cm-netconf-sublen  | - | --fake @D/netconf_sublen.yaml migrate | migrate: ConfigMap kube-flannel/kube-flannel-cfg: net-conf.json: SubnetLen.*
cm-netconf-preflight | - | --fake @D/netconf_json.yaml preflight | preflight: ConfigMap kube-flannel/kube-flannel-cfg: net-conf.json.*
cm-netconf-rollback | - | --fake @D/netconf_cidr.yaml rollback | rollback: ConfigMap kube-flannel/kube-flannel-cfg: net-conf.json.*
ann-json           | - | --fake @D/ann_json.yaml migrate | migrate: Node [a-z0-9-]+: annotation flannel\.alpha\.coreos\.com/backend-data.*
ann-mac            | - | --fake @D/ann_mac.yaml migrate | migrate: Node [a-z0-9-]+: annotation flannel\.alpha\.coreos\.com/backend-data.*VtepMAC.*
ann-vni            | - | --fake @D/ann_vni.yaml migrate | migrate: Node [a-z0-9-]+: annotation flannel\.alpha\.coreos\.com/backend-data.*VNI.*
ann-ip             | - | --fake @D/ann_ip.yaml migrate | migrate: Node [a-z0-9-]+: annotation flannel\.alpha\.coreos\.com/public-ip.*192\.168\.1\.311.*
hook-name          | - | --fake @F migrate --hooks @D/hook_name.lua | migrate: hooks file @D/hook_name\.lua: unknown hook befor_step \(the names are .*\)
hook-syntax        | - | --fake @F migrate --hooks @D/hook_syntax.lua | migrate: hooks file @D/hook_syntax\.lua:2: .*
hook-raises        | - | --fake @F migrate --hooks @D/hook_raises.lua | migrate: hooks file @D/hook_raises\.lua: loading it raised: @D/hook_raises\.lua:1: boom
hook-number        | - | --fake @F migrate --hooks @D/hook_number.lua | migrate: hooks file @D/hook_number\.lua: returns a number, not a table of hooks by name
hook-string        | - | --fake @F migrate --hooks @D/hook_string.lua | migrate: hooks file @D/hook_string\.lua: hook health is a string, not a function
hook-global        | - | --fake @F migrate --hooks @D/hook_global.lua | migrate: hooks file @D/hook_global\.lua: loading it raised: .*undeclared global 'x'
hook-missing       | - | --fake @F migrate --hooks @D/nonexistent.lua | migrate: hooks file @D/nonexistent\.lua: No such file or directory
hook-second        | - | --fake @F migrate --hooks @D/hook_global.lua,@D/hook_name.lua | migrate: hooks file @D/hook_global\.lua: .*
hook-env           | CNI_MIGRATE_HOOKS=@D/hook_string.lua | --fake @F migrate | migrate: hooks file @D/hook_string\.lua: hook health is a string, not a function
hook-preflight     | - | --fake @F preflight --hooks @D/hook_number.lua | preflight: hooks file @D/hook_number\.lua: .*
hook-rollback      | - | --fake @F rollback --hooks @D/hook_syntax.lua | rollback: hooks file @D/hook_syntax\.lua:2: .*
status-flag        | - | --fake @F status --bogus | status: unknown flag --bogus
cni-json           | - | node-run node-facts --args '{"cni_dir":"@D/cni-json"}' | node-run node-facts: .*"@D/cni-json/10-flannel\.conflist: offset [0-9]+: .*"BadInput".*
cni-huge           | - | node-run node-facts --args '{"cni_dir":"@D/cni-huge"}' | node-run node-facts: .*"@D/cni-huge/10-flannel\.conflist: 2[0-9]+ bytes, more than the [0-9]+ allowed".*
cni-link           | - | node-run node-facts --args '{"cni_dir":"@D/cni-link"}' | node-run node-facts: .*"@D/cni-link/10-flannel\.conflist: a symlink to @D/outside\.conflist, outside @D/cni-link \(not followed\)".*
cni-dangling       | - | node-run node-facts --args '{"cni_dir":"@D/cni-dangling"}' | node-run node-facts: .*"@D/cni-dangling/10-flannel\.conflist: a dangling symlink \(not followed\)".*
cni-notype         | - | node-run node-facts --args '{"cni_dir":"@D/cni-notype"}' | node-run node-facts: .*"@D/cni-notype/10-flannel\.conflist: plugins\[0\]\.type: .*
cni-second         | - | node-run node-facts --args '{"cni_dir":"@D/cni-second"}' | node-run node-facts: .*"@D/cni-second/99-broken\.conf: .*
cni-args           | - | node-run node-facts --args '[1]' | node-run node-facts: .*"--args: expected a JSON object".*
cni-script         | - | node-run no-such-script | node-run no-such-script: .*"no node script 'no-such-script'".*
TABLE
)

# --- run them -----------------------------------------------------------------------------------
# writes TRACE: the script's API writes in a --trace timeline
writes() {
    [ -f "$1" ] || { echo 0; return; }
    grep '"actor":"script"' "$1" | grep -Ec '"verb":"(create|update|patch|delete)"'
}
n=0
ok=0
old_ifs=$IFS
while IFS='|' read -r name envs args regex; do
    IFS=$old_ifs
    name=$(echo $name)
    [ -n "$name" ] || continue
    envs=$(echo $envs | sed "s|@D|$D|g")
    [ "$envs" = - ] && envs=
    args=$(printf '%s' "$args" | sed "s|@D|$D|g; s|@F|$F|g; s|@K|$K|g")
    regex=$(echo "$regex" | sed 's/^ *//; s/ *$//')
    trace=
    case " $args " in *" --fake "*) trace="--trace $D/trace.jsonl" ;; esac
    rm -f "$D/trace.jsonl"
    before=$failures
    eval "set -- $args" # the table's words, as the shell reads them (quotes kept)
    # shellcheck disable=SC2086 # the variables, one word each
    OUT=$(timeout --kill-after=5 120 env $envs "$B" $trace "$@" 2>&1 >"$D/stdout")
    RC=$?
    n=$((n + 1))
    [ "$RC" -eq 2 ] || fail "$name: exit $RC, not 2"
    lines=$(printf '%s\n' "$OUT" | wc -l)
    [ "$lines" -eq 1 ] || fail "$name: $lines lines on stderr, not one"
    case "$1" in # node-run's result line, for the controller that ran it in a pod: the same error
    node-run) [ "$(wc -l < "$D/stdout")" -eq 1 ] && grep -q '^{"error":' "$D/stdout" ||
                  fail "$name: stdout is not one {\"error\": ...} line: $(head -c 300 "$D/stdout")" ;;
    *) [ ! -s "$D/stdout" ] || fail "$name: printed on stdout: $(head -c 300 "$D/stdout")" ;;
    esac
    regex=$(printf '%s' "$regex" | sed "s|@D|$D|g")
    printf '%s\n' "$OUT" | head -n1 | grep -Eq -- "^cni-migrate: $regex\$" || fail "$name: the line is not ^cni-migrate: $regex\$"
    w=$(writes "$D/trace.jsonl")
    [ "$w" -eq 0 ] || fail "$name: $w write(s) in the trace"
    [ "$failures" -eq "$before" ] && ok=$((ok + 1))
    IFS='|'
done <<EOF2
$CASES
EOF2
IFS=$old_ifs
# the kubeconfig cases' cluster: no client wrote anything to it
fake_stop
sw=$(grep -Ec '"verb":"(create|update|patch|delete)"' "$D/serve.jsonl")
[ "$sw" -eq 0 ] || { OUT=$(grep -E '"verb":"(create|update|patch|delete)"' "$D/serve.jsonl" | head -n5); fail "fake serve got $sw write(s)"; }
[ "$n" -ge 50 ] || fail "only $n cases"
echo "bad input: $n case(s) tried, $ok passed (exit 2, one line naming the flag/file/field, no write)"
done_ok
