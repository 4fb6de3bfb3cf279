#!/bin/sh
# Our drain beside the real kubectl drain, both against `fake serve` on the same fixture (a fresh
# server each, no simulation, so the pods stay as the fixture has them): for each set of options,
# over a node with a DaemonSet pod, a pod of a DaemonSet that is gone, a mirror pod, an emptyDir
# pod, a pod without a controller, a finished pod, a terminating pod, a pod behind a PDB allowing
# 0 disruptions, one behind a PDB allowing 1, one under two PDBs (500) and plain ReplicaSet pods,
# both evict, delete, refuse and fail the same pods with the same messages (the 500 of two PDBs
# included), are blocked by the same PDB, warn the same, and have the same pods pending when they
# fail or time out (6 s, real time). kubectl's output and our drain's result are brought to one form
# ("evicted POD", "refused POD: MESSAGE", ...) and compared; every "cannot delete ..." group that
# kubectl prints is in our Refused message word for word.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
B=${CNI_MIGRATE:?}
command -v kubectl >/dev/null || { echo "SKIP: kubectl is not installed"; exit 77; }
T=$FAKE_DIR/m
mkdir -p "$T"

fixture() {
TS=2026-11-01T08:00:00Z
uid() { printf '00000000-0000-4000-8000-%012d' "$(printf %s "$1" | cksum | cut -d' ' -f1)"; }
node() {
cat <<Y
- apiVersion: v1
  kind: Node
  metadata: {name: $1, uid: $(uid node-$1), creationTimestamp: '$TS', labels: {kubernetes.io/hostname: $1}}
  spec: {podCIDR: $2}
  status:
    conditions: [{type: Ready, status: 'True', reason: KubeletReady, lastHeartbeatTime: '$TS', lastTransitionTime: '$TS'}]
    addresses: [{type: InternalIP, address: $3}]
Y
}
    # pod NAME LABEL OWNERKIND OWNERNAME [EXTRA-META] [EXTRA-SPEC] [PHASE]
pod() {
    owner=""
    [ -n "${3:-}" ] && owner="ownerReferences: [{apiVersion: $( [ "$3" = DaemonSet ] || [ "$3" = ReplicaSet ] && echo apps/v1 || echo v1), kind: $3, name: $4, uid: $(uid owner-$4), controller: true}], "
cat <<Y
- apiVersion: v1
  kind: Pod
  metadata: {name: $1, namespace: default, uid: $(uid pod-$1), creationTimestamp: '$TS', labels: {app: $2}, $owner${5:-}}
  spec: {nodeName: ${NODE:-drain-me}, terminationGracePeriodSeconds: 1, containers: [{name: c, image: example.com/app:1}], ${6:-}}
  status: {phase: ${7:-Running}, conditions: [{type: Ready, status: '$( [ "${7:-Running}" = Running ] && echo True || echo False)'}]}
Y
}
pdb() {
cat <<Y
- apiVersion: policy/v1
  kind: PodDisruptionBudget
  metadata: {name: $1, namespace: default, uid: $(uid pdb-$1), generation: 1, creationTimestamp: '$TS'}
  spec: {minAvailable: 1, selector: {matchLabels: {app: $2}}}
  status: {currentHealthy: $3, desiredHealthy: 1, disruptionsAllowed: $(($3 - 1)), expectedPods: $3, observedGeneration: 1}
Y
}
echo "apiVersion: v1"
echo "kind: List"
echo "items:"
node drain-me 10.244.1.0/24 192.168.1.11
node other 10.244.2.0/24 192.168.1.12
cat <<Y
- apiVersion: apps/v1
  kind: DaemonSet
  metadata: {name: agent, namespace: default, uid: $(uid owner-agent), generation: 1, creationTimestamp: '$TS'}
  spec:
    selector: {matchLabels: {app: agent}}
    template:
      metadata: {labels: {app: agent}}
      spec: {containers: [{name: c, image: example.com/agent:1}]}
Y
pod agent-x agent DaemonSet agent
pod orphan-ds-x orphan DaemonSet gone
pod static-drain-me static Node drain-me "annotations: {kubernetes.io/config.mirror: abc}"
pod scratch scratch ReplicaSet scratch-rs "" "volumes: [{name: tmp, emptyDir: {}}]"
pod loner loner "" ""
pod done done "" "" "" "volumes: [{name: tmp, emptyDir: {}}]" Succeeded
pod leaving leaving ReplicaSet leaving-rs "deletionTimestamp: '2026-11-01T07:59:00Z', deletionGracePeriodSeconds: 30"
pod guarded guarded ReplicaSet guarded-rs
pod spare spare ReplicaSet spare-rs
pod doubled doubled ReplicaSet doubled-rs
pod plain plain ReplicaSet plain-rs
NODE=other pod elsewhere guarded ReplicaSet guarded-rs2
pdb guarded-pdb guarded 1
pdb spare-pdb spare 2
pdb doubled-a doubled 1
pdb doubled-b doubled 2
}
fixture >"$T/fixture.yaml"

# kubectl's output in one form, a line per fact, sorted
cat >"$T/norm.lua" <<'LUA'
local out = {}
local function add(s) out[#out + 1] = s end
for line in io.lines() do
   local name = line:match("^pod/(%S+) evicted$")
   if name then add("evicted " .. name) end
   name = line:match("^pod/(%S+) deleted$")
   if name then add("deleted " .. name) end
   local msg, pods = line:match("^cannot delete (.*): (default/.*)$")
   if msg then for p in pods:gmatch("default/([%w-]+)") do add(("refused %s: %s"):format(p, msg)) end end
   local w = line:match("^Warning: (.*)$")
   if w then for part in (w .. "; "):gmatch("(.-); ") do add("warning " .. part) end end
   local p, m = line:match('^error when evicting pods/"([%w-]+)" %-n "default" %(will retry after [^)]*%): (.*)$')
   if p then add(("blocked %s: %s"):format(p, m)) end
   p, m = line:match('^error when evicting pods/"([%w-]+)" %-n "default": (.*)$')
   if p and not m:match("^global timeout reached") then add(("failed %s: %s"):format(p, m)) end
   p = line:match("^pod/([%w-]+)$") -- the pods still there when the drain failed or ran out of time
   if p then add("pending " .. p) end
   p = line:match('^pod "([%w-]+)" has DeletionTimestamp older than %d+ seconds, skipping$')
   if p then add("skipped " .. p) end
end
table.sort(out)
local last
for _, s in ipairs(out) do if s ~= last then print(s) end last = s end
LUA

# our drain's result in the same form; arguments: the options as JSON
cat >"$T/ours.lua" <<'LUA'
local json = require "cm.json"
local node = require "cm.node"
local c = assert(require("cm.k8s").client())
local opts = json.decode((...))
local out = {}
local function add(s) out[#out + 1] = s end
local function pod(key) return (key:gsub("^default/", "")) end
opts.report = {}
opts.on_progress = function(ev)
   if ev.event == "blocked" then
      add(("blocked %s: %s"):format(pod(ev.pod), ev.message:match("%(will retry after [^)]*%): (.*)$")))
   elseif ev.event == "skipped" and ev.message:find("DeletionTimestamp", 1, true) then -- as kubectl says it
      assert(ev.message == ('pod "%s" has DeletionTimestamp older than %d seconds, skipping'):format(pod(ev.pod),
         opts.skip_wait_for_delete_timeout), ev.message)
      add("skipped " .. pod(ev.pod))
   end
end
local r, msg, code = node.drain(c, "drain-me", opts)
local rep = r or opts.report
for _, k in ipairs(rep.evicted) do add("evicted " .. pod(k)) end
for _, k in ipairs(rep.deleted) do add("deleted " .. pod(k)) end
for _, k in ipairs(rep.left) do add("pending " .. pod(k)) end
if code ~= "Refused" then -- kubectl prints its warnings only for a drain that goes ahead
   for _, w in ipairs(rep.warnings) do add("warning " .. w) end
end
for _, f in ipairs(rep.failed) do
   if f.reason == "Refused" then add(("refused %s: %s"):format(pod(f.pod), f.message))
   else add(("failed %s: %s"):format(pod(f.pod), f.message:match('^error when evicting pods/"[^"]+" %-n "[^"]+": (.*)$')))
      add("pending " .. pod(f.pod))
      io.stderr:write(("reason %s %s\n"):format(pod(f.pod), f.reason)) end
end
table.sort(out)
local last
for _, s in ipairs(out) do if s ~= last then print(s) end last = s end
io.stderr:write(("code %s\nmessage %s\n"):format(tostring(code), tostring(msg)))
LUA

# case NAME 'KUBECTL FLAGS' 'OPTIONS AS JSON'
case_() {
    name=$1
    fake_start "$T/fixture.yaml" --no-sim
    # shellcheck disable=SC2086
    kubectl drain drain-me $2 >"$T/$name.kubectl.out" 2>&1
    krc=$?
    "$B" run "$T/norm.lua" <"$T/$name.kubectl.out" >"$T/$name.kubectl"
    fake_start "$T/fixture.yaml" --no-sim
    "$B" --kubeconfig "$KUBECONFIG" run "$T/ours.lua" "$3" >"$T/$name.ours" 2>"$T/$name.ours.err"
    orc=$?
    OUT=$(cat "$T/$name.kubectl.out")
    if ! diff -u "$T/$name.kubectl" "$T/$name.ours" >"$T/$name.diff"; then
        fail "$name: our drain and kubectl drain differ (-kubectl +ours):
$(cat "$T/$name.diff")"
    fi
    [ -s "$T/$name.kubectl" ] || fail "$name: nothing read from kubectl's output"
    [ "$krc" -ne 0 ] || [ "$orc" -eq 0 ] || fail "$name: kubectl drained, our drain failed: $(cat "$T/$name.ours.err")"
    [ "$krc" -eq 0 ] || grep -q '^code [A-Z]' "$T/$name.ours.err" || fail "$name: kubectl failed, our drain did not"
    # each error group kubectl prints is in our message as it is
    grep '^cannot delete ' "$T/$name.kubectl.out" | sort -u | while IFS= read -r group; do
        grep -qF "$group" "$T/$name.ours.err" || echo "$group"
    done >"$T/$name.missing"
    [ ! -s "$T/$name.missing" ] || fail "$name: kubectl's groups not in our message: $(cat "$T/$name.missing")"
    [ -s "$T/$name.diff" ] || echo "$name: $(wc -l <"$T/$name.ours") facts agree"
}

case_ defaults '' '{}'
expect_refused() { grep -qxF "refused $2: $3" "$T/$1.ours" || fail "$1: $2 not refused with: $3"; }
expect_refused defaults agent-x 'DaemonSet-managed Pods (use --ignore-daemonsets to ignore)'
expect_refused defaults scratch 'Pods with local storage (use --delete-emptydir-data to override)'
expect_refused defaults loner 'cannot delete Pods that declare no controller (use --force to override)'
expect_refused defaults orphan-ds-x 'daemonsets.apps "gone" not found'
grep -q '^evicted' "$T/defaults.ours" && fail "defaults: a refused drain evicted pods"

case_ no-force '--ignore-daemonsets --delete-emptydir-data' \
    '{"ignore_daemonsets": true, "delete_emptydir_data": true}'
case_ force '--ignore-daemonsets --delete-emptydir-data --force --timeout=6s' \
    '{"ignore_daemonsets": true, "delete_emptydir_data": true, "force": true, "timeout": 6}'
for p in done loner orphan-ds-x scratch spare plain; do
    grep -q "^evicted $p\$" "$T/force.ours" || fail "force: $p not evicted"
done
grep -q '^blocked guarded: Cannot evict pod as it would violate the pod.s disruption budget\.$' "$T/force.ours" ||
    fail "force: guarded not blocked by its PDB"
grep -q '^failed doubled: This pod has more than one PodDisruptionBudget, which the eviction subresource does not support\.$' \
    "$T/force.ours" || fail "force: the pod under two PDBs did not fail"
grep -q '^reason doubled InternalError$' "$T/force.ours.err" || fail "force: two PDBs were not a 500 (InternalError)"
grep -q '^pending leaving$' "$T/force.ours" || fail "force: the terminating pod is not left"
grep -qE '^(evicted|deleted|refused|failed|pending) (agent-x|static-drain-me|elsewhere)' "$T/force.ours" &&
    fail "force: a DaemonSet pod, the mirror pod or another node's pod was touched"

case_ selector '--pod-selector=app=plain --timeout=6s' '{"pod_selector": "app=plain", "timeout": 6}'
case_ disable-eviction '--disable-eviction --ignore-daemonsets --delete-emptydir-data --force --timeout=6s' \
    '{"disable_eviction": true, "ignore_daemonsets": true, "delete_emptydir_data": true, "force": true, "timeout": 6}'
grep -q '^deleted guarded$' "$T/disable-eviction.ours" || fail "disable-eviction: the PDB-guarded pod not deleted"
case_ skip-wait '--ignore-daemonsets --delete-emptydir-data --force --skip-wait-for-delete-timeout=1 --pod-selector=app!=guarded,app!=doubled --timeout=6s' \
    '{"ignore_daemonsets": true, "delete_emptydir_data": true, "force": true, "skip_wait_for_delete_timeout": 1, "pod_selector": "app!=guarded,app!=doubled", "timeout": 6}'
grep -q 'leaving' "$T/skip-wait.ours" && fail "skip-wait: the pod terminating for long was not skipped"
fake_stop
done_ok
