-- Plants one violation of the rehearsal's safety invariants (cm.invariants) on the 4-node fixture,
-- 30 s into the run: run --fake FIXTURE invariants.lua WHAT [MAX_UNAVAILABLE]
--   restart      deletes a Running pod on worker-2, which is not being migrated
--   restart-ok   the same on worker-2 labelled in progress first (allowed: nothing broken)
--   affinity     labels worker-1 network=calico before any BlockAffinity exists
--   cordoned     cordons worker-1 and worker-2 as the migration does (allowed with MAX 2)
--   pod-ip       changes a pod's status.podIP
--   placeholder  makes the placeholder worker-3's active CNI config, then a pod there Running
--   reach        removes worker-1's FDB entries (its pods reach no other node's; found by the
--                summary's check, 5 s later)
--   masquerade   keeps worker-1's FLANNEL-POSTRTG for a subnet its pods are not in (10.244.99.0/24), as
--                a leftover chain does for Calico's addresses (calico#12920): its pods' packets to
--                other nodes leave masqueraded to flannel.1's address (the summary's check too)
local calico = require "cm.calico"
local fake = require "cm.fake"
local inv = require "cm.invariants"
local k8s = require "cm.k8s"
local time = require "cm.time"

local what, max = ...
assert(inv.watch { max_unavailable = max }, "not a rehearsal")
local c = k8s.client()
time.sleep(30)

local function node_patch(name, p)
   assert(c:patch({ apiVersion = "v1", kind = "Node", name = name }, p, { type = "merge" }))
end
local function status_patch(ns, name, status)
   assert(c:patch({ apiVersion = "v1", kind = "Pod", namespace = ns, name = name, subresource = "status" },
      { status = status }, { type = "merge" }))
end
local pod = { apiVersion = "v1", kind = "Pod", namespace = "apps", name = "db-1" } -- on worker-2

if what == "restart" then
   assert(c:delete(pod))
elseif what == "restart-ok" then
   node_patch("worker-2", { metadata = { labels = { [calico.LABEL_IN_PROGRESS] = "true" } } })
   assert(c:delete(pod))
elseif what == "affinity" then
   node_patch("worker-1", { metadata = { labels = { [calico.LABEL_NETWORK] = "calico" } } })
elseif what == "cordoned" then
   for _, n in ipairs { "worker-1", "worker-2" } do
      node_patch(n, { spec = { unschedulable = true }, metadata = { annotations = { [inv.ANN_CORDONED] = time.rfc3339() } } })
   end
elseif what == "pod-ip" then
   status_patch("apps", "db-1", { podIP = "10.244.2.99", podIPs = { { ip = "10.244.2.99" } } })
elseif what == "placeholder" then
   assert(fake.host("worker-3"):write("/etc/cni/net.d/05-calico.conflist", calico.PLACEHOLDER_CNI_CONF))
   assert(c:create { apiVersion = "v1", kind = "Pod", metadata = { namespace = "apps", name = "late" },
      spec = { nodeName = "worker-3", containers = { { name = "c", image = "busybox" } } } })
   time.sleep(1)
   status_patch("apps", "late", { phase = "Running", podIP = "10.244.3.50" })
elseif what == "reach" then
   local h = fake.host("worker-1")
   for _, f in ipairs(h:json().fdb) do assert(h:fdb_del(f.dev, f.lladdr, f.dst)) end
elseif what == "masquerade" then
   local text = { "*nat", "-F FLANNEL-POSTRTG" }
   for _, l in ipairs(require("cm.flannel").iptables_rules("10.244.0.0/16", "10.244.99.0/24", "v0.28.9").nat) do
      if l:match("^%-A FLANNEL%-POSTRTG ") then text[#text + 1] = l end
   end
   text[#text + 1] = "COMMIT\n"
   assert(fake.host("worker-1"):iptables_restore("ipv4", "nft", table.concat(text, "\n")))
else
   error("unknown violation " .. tostring(what))
end
time.sleep(5)
for _, line in ipairs(inv.summary()) do print(line) end
