#!/bin/sh
# node.run_on in simulation: the pod it makes (pinned, hostNetwork, privileged, tolerating every
# taint, the CNI directory and the script's host paths mounted, `cni-migrate node-run SCRIPT --args
# JSON`, its image, a site script's text shipped in it), the script's result from the termination message
# (one over 4096 bytes from the pod's log), the pod deleted after; a
# failing script's reason, exit code, error and log; a timeout that deletes the pod; an earlier
# failed pod replaced, and one kept (opts.keep) that succeeded; a script given as a file named
# from its base name; and after a simulated restart (--fault crash:afterWrites=1 right after the
# pod's create, then a run on the cluster --fake-save kept) the pod still running is adopted, not
# created a second time.
. "$(dirname "$0")/lib.sh"
SRC=${CM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
F="$SRC/examples/clusters/flannel-3node.yaml"

cat >"$TMP/fail.lua" <<'LUA'
return { host_paths = { "/var/lib/site" }, main = function(args) return nil, "boom " .. args.n, "EBOOM" end }
LUA
cat >"$TMP/badpaths.lua" <<'LUA'
return { host_paths = { "relative/path" }, main = function() return { ok = true } end }
LUA
cat >"$TMP/Site_Check.2.lua" <<'LUA'
return { host_paths = {}, main = function() return { ok = true } end }
LUA
cat >"$TMP/run_on.lua" <<LUA
local FAIL, BADPATHS, SITE = "$TMP/fail.lua", "$TMP/badpaths.lua", "$TMP/Site_Check.2.lua"
LUA
cat >>"$TMP/run_on.lua" <<'LUA'
local k8s = require "cm.k8s"
local node = require "cm.node"
local task = require "cm.task"
local time = require "cm.time"
local c = assert(k8s.client { qps = -1 })
local seen = {}   -- pod name -> the pod as created
task.spawn(function()
   for ev in c:watch { apiVersion = "v1", kind = "Pod", namespace = "kube-system", timeout = 3600 } do
      if ev.type == "ADDED" and ev.object.metadata.name:match("^cm%-") then seen[ev.object.metadata.name] = ev.object end
   end
end)
time.sleep(1) -- the watch is open
local function gone(name)
   local p, _, code = c:get { apiVersion = "v1", kind = "Pod", namespace = "kube-system", name = name }
   return p == nil and code == "NotFound"
end

-- the result, and the pod it ran in
local r, msg, code = node.run_on(c, "worker-1", "node-facts", { vni = 1 }, { cni_dir = "/etc/cni/alt" })
assert(r, msg)
assert(r.ok and r.flannel.name == "flannel.1" and r.cni.active == "/etc/cni/net.d/10-flannel.conflist", msg)
local p = assert(seen["cm-node-facts-worker-1"], "no pod cm-node-facts-worker-1")
local s, ctr = p.spec, p.spec.containers[1]
assert(s.nodeName == "worker-1" and s.hostNetwork == true and s.restartPolicy == "Never")
assert(#s.tolerations == 1 and s.tolerations[1].operator == "Exists" and not s.tolerations[1].key)
assert(ctr.securityContext.privileged == true)
assert(table.concat(ctr.command, " ") ==
   'cni-migrate node-run node-facts --args {"vni":1} --result-file /dev/termination-log', table.concat(ctr.command, " "))
assert(ctr.image:match("^ghcr%.io/cni%-migrate/cni%-migrate:%d+%.%d+%.%d+$"), ctr.image)
local mounts = {}
for _, m in ipairs(ctr.volumeMounts) do mounts[#mounts + 1] = m.mountPath end
for _, v in ipairs(s.volumes) do assert(v.hostPath.type == "DirectoryOrCreate", v.name) end
assert(table.concat(mounts, " ") == "/etc/cni/alt /etc/cni/net.d /run/flannel /opt/cni/bin", table.concat(mounts, " "))
assert(p.metadata.labels["cni-migrate.dev/node-run"] == "node-facts")
assert(gone("cm-node-facts-worker-1"), "the pod was not deleted")
print("result ok")

-- the step names the pod; the image as configured
r, msg = node.run_on(c, "worker-2", "node-facts", {}, { step = "facts-again", image = "example.com/cm:1" })
assert(r and r.ok, msg)
assert(seen["cm-facts-again-worker-2"].spec.containers[1].image == "example.com/cm:1")
print("step and image ok")

-- a script that fails: reason, exit code, its error and code, the log; the pod deleted
r, msg, code = node.run_on(c, "worker-2", FAIL, { n = 7 }, { step = "site" })
assert(r == nil and code == "ScriptFailed", code)
assert(msg:find("node-run " .. FAIL .. " on worker-2: pod kube-system/cm-site-worker-2 Failed (Error, exit 1): "
   .. "boom 7 (EBOOM); ", 1, true), msg)
assert(msg:find("log", 1, true), msg)
local fm = {}
for _, m in ipairs(seen["cm-site-worker-2"].spec.containers[1].volumeMounts) do fm[#fm + 1] = m.mountPath end
assert(table.concat(fm, " ") == "/etc/cni/net.d /var/lib/site", table.concat(fm, " "))
-- a site script goes with the pod: the image has only the bundled ones
local sc = seen["cm-site-worker-2"].spec.containers[1]
local cmd = table.concat(sc.command, " ")
assert(cmd:sub(-#" --script-env CNI_MIGRATE_NODE_SCRIPT") == " --script-env CNI_MIGRATE_NODE_SCRIPT", cmd)
assert(sc.env[1].name == "CNI_MIGRATE_NODE_SCRIPT" and sc.env[1].value:find('"boom "', 1, true), sc.env[1].value)
assert(not p.spec.containers[1].env, "a bundled script was shipped")
assert(gone("cm-site-worker-2"), "the failed pod was not deleted")
print("failure ok")

-- misuse raises: an unknown script, host paths that are not absolute
local ok, err = pcall(node.run_on, c, "worker-1", "no-such-script", {})
assert(not ok and err:find("run_on: no node script 'no-such-script'", 1, true), err)
ok, err = pcall(node.run_on, c, "worker-1", BADPATHS, {})
assert(not ok and err:find("host_paths must be a list of absolute paths", 1, true), err)
print("misuse ok")

-- a pod that never ends (its node does not exist): Timeout at the timeout, the pod deleted
local t0 = time.now()
r, msg, code = node.run_on(c, "ghost", "node-facts", {}, { timeout = 20 })
assert(r == nil and code == "Timeout", code)
assert(time.now() - t0 >= 20 and time.now() - t0 < 20.1, time.now() - t0)
assert(msg == "node-run node-facts on ghost: pod kube-system/cm-node-facts-ghost not done by the deadline", msg)
assert(gone("cm-node-facts-ghost"), "the pod of a timed-out run was not deleted")
print("timeout ok")

-- an earlier run's pod that failed is replaced, not taken for this run's
assert(c:create { apiVersion = "v1", kind = "Pod", metadata = { name = "cm-node-facts-control-plane-1", namespace = "kube-system" },
   spec = { nodeName = "control-plane-1", hostNetwork = true, restartPolicy = "Never", containers = { { name = "node-run",
      image = "x", command = { "cni-migrate", "node-run", "no-such-script" } } } } })
local old
for _ = 1, 60 do
   local q = c:get { apiVersion = "v1", kind = "Pod", namespace = "kube-system", name = "cm-node-facts-control-plane-1" }
   if q.status.phase == "Failed" then old = q break end
   time.sleep(1)
end
assert(type(old) == "table" and old.status.phase == "Failed", "the earlier pod did not fail")
r, msg = node.run_on(c, "control-plane-1", "node-facts", {})
assert(r and r.ok, msg)
assert(seen["cm-node-facts-control-plane-1"].metadata.uid ~= old.metadata.uid)
print("replaced ok")

-- keep: a pod that succeeded stays; a later run finds it ended and runs anew (its result may be
-- stale), in a new pod it deletes
r, msg = node.run_on(c, "worker-1", "node-facts", {}, { keep = true })
assert(r and r.ok, msg)
local kept = assert(c:get { apiVersion = "v1", kind = "Pod", namespace = "kube-system", name = "cm-node-facts-worker-1" })
assert(kept.status.phase == "Succeeded", kept.status.phase)
r, msg = node.run_on(c, "worker-1", "node-facts", {})
assert(r and r.ok, msg)
assert(seen["cm-node-facts-worker-1"].metadata.uid ~= kept.metadata.uid, "the kept pod's result was taken")
assert(gone("cm-node-facts-worker-1"), "the new pod was not deleted")
print("kept ok")

-- a script given as a file and no step: the pod is named from its base name, as a pod's name can be
r, msg = node.run_on(c, "worker-2", SITE, {})
assert(r and r.ok, msg)
assert(seen["cm-site-check-2-worker-2"], "no pod cm-site-check-2-worker-2")
assert(seen["cm-site-check-2-worker-2"].metadata.labels["cni-migrate.dev/node-run"] == "site-check-2")
print("file name ok")

LUA
run "$CNI_MIGRATE" --fake "$F" run "$TMP/run_on.lua"
expect_rc 0
for what in result 'step and image' failure misuse timeout replaced kept 'file name'; do expect_out "^$what ok$"; done

# a bundled script overridden with --lua-dir is the site's: it goes with the pod and runs there
mkdir -p "$TMP/ld/node"
cat >"$TMP/ld/node/node-facts.lua" <<'LUA'
return { host_paths = {}, main = function(args) return { ok = true, mine = args.n } end }
LUA
cat >"$TMP/ld.lua" <<'LUA'
local c = assert(require("cm.k8s").client { qps = -1 })
local r, msg = require("cm.node").run_on(c, "worker-1", "node-facts", { n = 5 })
assert(r, msg)
print("lua-dir result " .. tostring(r.mine))
LUA
run "$CNI_MIGRATE" --fake "$F" --lua-dir "$TMP/ld" run "$TMP/ld.lua"
expect_rc 0
expect_out '^lua-dir result 5$'

# node-run takes the shipped text from the variable --script-env names (the path need not exist)
run env CNI_MIGRATE_NODE_SCRIPT="$(cat "$TMP/fail.lua")" "$CNI_MIGRATE" node-run /nowhere/fail.lua --args '{"n": 3}' \
    --script-env CNI_MIGRATE_NODE_SCRIPT
expect_rc 1
expect_out '^\{"error":"boom 3","code":"EBOOM"\}$'
run "$CNI_MIGRATE" node-run /nowhere/fail.lua --script-env CM_TEST_UNSET_VARIABLE
expect_rc 2
expect_out 'node-run: --script-env names a variable that is not set'

# the controller's own pod (POD_NAMESPACE/POD_NAME) gives the image
cat >"$TMP/own.lua" <<'LUA'
local node = require "cm.node"
local c = assert(require("cm.k8s").client { qps = -1 })
assert(c:create { apiVersion = "v1", kind = "Pod", metadata = { name = "cm-controller", namespace = "kube-system" },
   spec = { containers = { { name = "controller", image = "example.com/cni-migrate:own" },
      { name = "sidecar", image = "other" } } } })
local image
local w = require("cm.task").spawn(function()
   for ev in c:watch { apiVersion = "v1", kind = "Pod", namespace = "kube-system", timeout = 60,
                       fieldSelector = "metadata.name=cm-node-facts-worker-1" } do
      if ev.type == "ADDED" then image = ev.object.spec.containers[1].image return end
   end
end)
require("cm.time").sleep(1)
local r, msg = node.run_on(c, "worker-1", "node-facts", {})
assert(r and r.ok, msg)
w:wait()
print("own image " .. tostring(image))
LUA
run env POD_NAMESPACE=kube-system POD_NAME=cm-controller "$CNI_MIGRATE" --fake "$F" run "$TMP/own.lua"
expect_rc 0
expect_out '^own image example.com/cni-migrate:own$'

# a restart: killed right after the pod's create, then run again on the cluster it left
# a result over a kubelet's 4096-byte termination message: node-run writes where it is instead
# ({"resultInLog": N}) and prints it on its stdout (the pod's log); run_on takes it from the log
cat >"$TMP/big.lua" <<'LUA'
return { main = function(args) return { text = string.rep("x", args.n) } end }
LUA
cat >"$TMP/big_run.lua" <<LUA
local node = require "cm.node"
local c = assert(require("cm.k8s").client { qps = -1 })
for _, n in ipairs { 4000, 10000 } do
   local r, msg = node.run_on(c, "worker-1", "$TMP/big.lua", { n = n }, { step = "big" })
   assert(r and #r.text == n, msg or #r.text)
end
print("big result ok")
LUA
run "$CNI_MIGRATE" --fake "$F" --trace "$TMP/big.jsonl" run "$TMP/big_run.lua"
expect_rc 0
expect_out '^big result ok$'
logs=$(grep '"actor":"script"' "$TMP/big.jsonl" | grep -c '"path":"/api/v1/namespaces/kube-system/pods/cm-big-worker-1/log"')
[ "$logs" = 1 ] || fail "expected the log read once (for the long result), got $logs"
run env CNI_MIGRATE_NODE_SCRIPT="$(cat "$TMP/big.lua")" "$CNI_MIGRATE" node-run /nowhere/big.lua --args '{"n": 5000}' \
    --script-env CNI_MIGRATE_NODE_SCRIPT --result-file "$TMP/message"
expect_rc 0
[ "$(cat "$TMP/message")" = '{"resultInLog":5011}' ] || fail "termination message: $(head -c 100 "$TMP/message")"

cat >"$TMP/adopt.lua" <<'LUA'
local node = require "cm.node"
local c = assert(require("cm.k8s").client { qps = -1 })
local r, msg = node.run_on(c, "worker-1", "node-facts", { vni = 1 })
assert(r and r.ok, msg)
print("adopted result " .. r.flannel.name)
LUA
run "$CNI_MIGRATE" --fake "$F" --fake-save "$TMP/k.yaml" --fault crash:afterWrites=1 run "$TMP/adopt.lua"
expect_rc 137
expect_out 'killed by --fault crash:afterWrites=1'
grep -q 'name: cm-node-facts-worker-1' "$TMP/k.yaml" || fail "the killed run left no pod"
run "$CNI_MIGRATE" --fake "$TMP/k.yaml" --trace "$TMP/t.jsonl" run "$TMP/adopt.lua"
expect_rc 0
expect_out '^adopted result flannel.1$'
posts=$(grep '"actor":"script"' "$TMP/t.jsonl" | grep -c '"method":"POST","path":"/api/v1/namespaces/kube-system/pods"')
conflicts=$(grep '"actor":"script"' "$TMP/t.jsonl" | grep '"method":"POST","path":"/api/v1/namespaces/kube-system/pods"' | grep -c '"status":409')
[ "$posts" = 1 ] && [ "$conflicts" = 1 ] || fail "expected one create answered 409 (adopted), got $posts creates, $conflicts 409"
grep -q '"actor":"script".*"method":"DELETE","path":"/api/v1/namespaces/kube-system/pods/cm-node-facts-worker-1"' "$TMP/t.jsonl" ||
    fail "the adopted pod was not deleted"
done_ok
