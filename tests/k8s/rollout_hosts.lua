-- After label-rollout in a --fake run: the simulated hosts show what calico-node left there.
-- Runs label-rollout itself (bundled), then looks at every node's host.
local fake = require "cm.fake"
local k8s = require "cm.k8s"
local t = require "t"
local c = assert(k8s.client())
t.eq(fake.host("no-such-node"), nil)
require("cm.time").sleep(1) -- the pods found running are started by the simulation's first turn
local before = assert(fake.host("worker-1"))
t.eq(before:cni_active(), "/etc/cni/net.d/10-flannel.conflist", "flannel's config is active before")
t.eq(before:link("flannel.1") ~= nil, true, "flanneld programmed flannel.1")
t.eq(before:sandbox("x"), true)
local chunk = assert(loadfile(arg[1]))
chunk("2")
for _, n in ipairs(assert(c:list { apiVersion = "v1", kind = "Node" }).items) do
   local h = assert(fake.host(n.metadata.name))
   t.eq(h:cni_active(), "/etc/cni/net.d/10-calico.conflist", "Calico's config is active on " .. n.metadata.name)
   t.eq(h:read("/var/lib/calico/nodename"), n.metadata.name)
   t.eq(h:sandbox("x"), true, "new pods get a network on " .. n.metadata.name)
end
t.done()
