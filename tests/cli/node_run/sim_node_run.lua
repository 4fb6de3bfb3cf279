-- The simulated kubelet runs node-run pods against the node's simulated host (run with --fake
-- examples/clusters/flannel-3node.yaml): node-facts, then flannel-cleanup twice, each through a
-- pod whose container is `cni-migrate node-run SCRIPT --args JSON`; the result comes back in the
-- container's termination message and the host is checked through cm.fake.
local fake = require "cm.fake"
local json = require "cm.json"
local k8s = require "cm.k8s"
local time = require "cm.time"

local c = k8s.client()
local node = "worker-1"
local n = 0

--- Runs script on node through a pod; returns exit code and decoded message.
local function run_pod(script, args)
   n = n + 1
   local name = ("node-run-%d"):format(n)
   assert(c:create({ apiVersion = "v1", kind = "Pod", metadata = { name = name, namespace = "kube-system" },
      spec = { nodeName = node, hostNetwork = true, restartPolicy = "Never",
         tolerations = { { operator = "Exists" } },
         containers = { { name = "run", image = "ghcr.io/cni-migrate/cni-migrate:0.1.0",
            command = { "cni-migrate", "node-run", script, "--args", json.encode(args) } } } } }))
   for _ = 1, 120 do
      local p = assert(c:get { apiVersion = "v1", kind = "Pod", namespace = "kube-system", name = name })
      local ph = p.status and p.status.phase
      if ph == "Succeeded" or ph == "Failed" then
         local t = p.status.containerStatuses[1].state.terminated
         return t.exitCode, assert(json.decode(t.message)), ph
      end
      time.sleep(1)
   end
   error("pod " .. name .. " did not end")
end

-- flannel runs on the node first
for _ = 1, 120 do
   local h = fake.host(node)
   if h and h:link("flannel.1") then break end
   time.sleep(1)
end
local host = assert(fake.host(node))
assert(host:link("flannel.1"), "flannel.1 on " .. node)
assert(host:iptables_save("ipv4", "nft"):find("-A POSTROUTING -m comment --comment \"flanneld masq\" -j FLANNEL-POSTRTG",
   1, true), "flanneld's rules on the simulated host")

local code, facts, phase = run_pod("node-facts", {})
assert(code == 0 and phase == "Succeeded", json.encode(facts))
assert(facts.ok and facts.flannel and facts.flannel.mac == "9e:3a:7c:00:00:02", json.encode(facts))
assert(facts.cni.active == "/etc/cni/net.d/10-flannel.conflist", json.encode(facts.cni))

local code2, res = run_pod("flannel-cleanup", { vni = 1 })
assert(code2 == 0 and res.ok and res.placeholder.written, json.encode(res))
local removed = {}
for _, l in ipairs(res.links.removed) do removed[l] = true end
assert(removed["flannel.1"], json.encode(res))
host = assert(fake.host(node))
assert(not host:link("flannel.1"), "flannel.1 gone from the simulated host")
assert(host:read("/etc/cni/net.d/10-calico.conflist"):find("flannel-migration-in-progress", 1, true))
assert(not host:read("/etc/cni/net.d/10-flannel.conflist"), "flannel's config removed")
assert(host:read("/var/lib/cni-migrate/backup/10-flannel.conflist"), "and backed up")
local chains = {}
for _, r in ipairs(res.iptables.removed) do if r.chain then chains[#chains + 1] = r.chain end end
table.sort(chains)
assert(table.concat(chains, " ") == "FLANNEL-FWD FLANNEL-POSTRTG", json.encode(res.iptables))
assert(not host:iptables_save("ipv4", "nft"):find("FLANNEL", 1, true), "flannel's chains gone")

local code3, again = run_pod("flannel-cleanup", { vni = 1 })
assert(code3 == 0 and again.ok and not again.changed, json.encode(again))

local code4, bad, phase4 = run_pod("no-such-script", {})
assert(code4 == 2 and bad.code == "Usage" and phase4 == "Failed", json.encode(bad))
print("sim node-run ok")
