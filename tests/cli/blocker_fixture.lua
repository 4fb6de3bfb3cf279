--- blocker_fixture.lua FIXTURE VARIANT [HOST_JSON]: prints FIXTURE (a List, as kubectl get -A -o
--- yaml) changed so that one preflight check finds a blocker (tests/cli/test_preflight_blockers.sh).
--- VARIANT names the change; rp-filter, subnet-env and vtep-mac also need worker-1's host as `fake
--- host` prints it. Some add a FakeCluster document (a host, pod faults).
local json = require "cm.json"
local yaml = require "cm.yaml"

local path, variant, host_path = ...
local docs = assert(yaml.decode_all(assert(io.open(path)):read("a")))
local list = docs[1]

local function find(kind, name, ns)
   for i, o in ipairs(list.items) do
      if o.kind == kind and o.metadata.name == name and (ns == nil or o.metadata.namespace == ns) then return o, i end
   end
   error(("%s %s not in the fixture"):format(kind, name))
end

local function remove(kind, name, ns)
   local _, i = find(kind, name, ns)
   table.remove(list.items, i)
end

local function net_conf(edit)
   local cm = find("ConfigMap", "kube-flannel-cfg", "kube-flannel")
   local conf = json.decode(cm.data["net-conf.json"])
   edit(conf)
   cm.data["net-conf.json"] = json.encode(conf)
end

local function annotations(node) return find("Node", node).metadata.annotations end

local function pool(spec)
   list.items[#list.items + 1] = { apiVersion = "crd.projectcalico.org/v1", kind = "IPPool",
      metadata = { name = "site-pool" }, spec = spec }
end

--- worker-1's host as `fake host` printed it (HOST_JSON).
local function host()
   assert(host_path, variant .. " needs HOST_JSON")
   return json.decode(assert(io.open(host_path)):read("a"))
end

--- A FakeCluster document with spec (its hosts, its faults).
local function fake_cluster(spec)
   docs[#docs + 1] = { apiVersion = "cni-migrate.dev/v1alpha1", kind = "FakeCluster", metadata = { name = variant },
      spec = spec }
end

--- The pod fault that keeps worker-1's flanneld from starting again (its pod Pending, then
--- CrashLoopBackOff; found Running, its agent would program the host at once): the host stays as the
--- fixture gives it, as on a node whose flanneld broke after it last wrote subnet.env and its device.
local function flanneld_down()
   for _, o in ipairs(list.items) do
      if o.kind == "Pod" and (o.metadata.labels or {}).app == "flannel" and o.spec.nodeName == "worker-1" then
         o.status = { phase = "Pending" }
         return { namespace = o.metadata.namespace, name = o.metadata.name, fail = "CrashLoopBackOff" }
      end
   end
   error("no flannel pod on worker-1")
end

local VARIANTS = {
   ["addon-managed"] = function()
      find("DaemonSet", "kube-flannel-ds").metadata.labels["addonmanager.kubernetes.io/mode"] = "Reconcile"
   end,
   ["kube-subnet-mgr"] = function()
      local c = find("DaemonSet", "kube-flannel-ds").spec.template.spec.containers[1]
      for i, a in ipairs(c.args) do if a == "--kube-subnet-mgr" then table.remove(c.args, i) break end end
   end,
   ["net-conf"] = function() remove("ConfigMap", "kube-flannel-cfg", "kube-flannel") end,
   ["backend-vxlan"] = function() net_conf(function(c) c.Backend.Type = "host-gw" end) end,
   ["direct-routing"] = function() net_conf(function(c) c.Backend.DirectRouting = true end) end,
   ["ipv6"] = function() net_conf(function(c) c.EnableIPv6, c.IPv6Network = true, "fd00:10:244::/56" end) end,
   ["calico-selector"] = function()
      find("DaemonSet", "calico-node", "kube-system").spec.template.spec.nodeSelector = { ["kubernetes.io/os"] = "linux" }
   end,
   ["calico-config"] = function() remove("ConfigMap", "calico-config", "kube-system") end,
   ["ippool-incompatible"] = function()
      pool { cidr = "10.244.0.0/16", blockSize = 26, ipipMode = "Always", vxlanMode = "Never", natOutgoing = true }
   end,
   ["ippool-overlap"] = function() pool { cidr = "10.0.0.0/8", blockSize = 26, vxlanMode = "Always" } end,
   ["node-podcidr"] = function()
      local n = find("Node", "worker-3")
      n.spec.podCIDR, n.spec.podCIDRs = "10.244.3.0/27", { "10.244.3.0/27" }
   end,
   ["node-annotations"] = function() annotations("worker-3")["flannel.alpha.coreos.com/public-ip"] = nil end,
   ["node-vxlan"] = function() annotations("worker-3")["flannel.alpha.coreos.com/backend-type"] = "host-gw" end,
   ["node-ready"] = function()
      for _, c in ipairs(find("Node", "worker-3").status.conditions) do
         if c.type == "Ready" then c.status, c.reason = "False", "KubeletNotReady" end
      end
   end,
   ["block-affinity"] = function()
      list.items[#list.items + 1] = { apiVersion = "crd.projectcalico.org/v1", kind = "BlockAffinity",
         metadata = { name = "worker-2-10-244-1-0-26" },
         spec = { cidr = "10.244.1.0/26", node = "worker-2", state = "confirmed", deleted = "false" } }
   end,
   ["pdb"] = function() -- its status as the disruption controller leaves it
      local pdb = find("PodDisruptionBudget", "db", "apps")
      pdb.spec.maxUnavailable, pdb.status.disruptionsAllowed = 0, 0
   end,
   ["settings-disagree"] = function()
      local a = annotations("worker-3")
      a["flannel.alpha.coreos.com/backend-data"] = a["flannel.alpha.coreos.com/backend-data"]:gsub('"VNI":1', '"VNI":2')
   end,
   ["rp-filter"] = function()
      local h = host()
      h.sysctls["net/ipv4/conf/all/rp_filter"] = "2"
      fake_cluster { hosts = { ["worker-1"] = h } }
   end,
   -- worker-1's node-facts pod never starts (its image cannot be pulled): the step times out
   ["node-facts"] = function()
      fake_cluster { faults = { pods = { { namespace = "kube-system", name = "cm-node-facts-worker-1",
         fail = "ErrImagePull" } } } }
   end,
   -- no node-facts anywhere and no Backend.MTU in net-conf.json: flannel's MTU is not known
   ["mtu-unknown"] = function()
      fake_cluster { faults = { pods = { { namespace = "kube-system", selector = "cni-migrate.dev/node-run=node-facts",
         fail = "ErrImagePull" } } } }
   end,
   -- worker-1's subnet.env says another MTU, its flanneld down since it wrote it
   ["subnet-env"] = function()
      local h = host()
      local f = "/run/flannel/subnet.env"
      h.files[f] = (assert(h.files[f]):gsub("FLANNEL_MTU=%d+", "FLANNEL_MTU=1400"))
      fake_cluster { hosts = { ["worker-1"] = h }, faults = { pods = { flanneld_down() } } }
   end,
   -- worker-1's backend-data names another VtepMAC than flannel.1 has, its flanneld down since
   ["vtep-mac"] = function()
      local a = annotations("worker-1")
      local k = "flannel.alpha.coreos.com/backend-data"
      a[k] = a[k]:gsub('"VtepMAC":"[^"]*"', '"VtepMAC":"0a:58:0a:f4:01:99"')
      fake_cluster { hosts = { ["worker-1"] = host() }, faults = { pods = { flanneld_down() } } }
   end,
}

local change = VARIANTS[variant]
if not change then
   local names = {}
   for k in pairs(VARIANTS) do names[#names + 1] = k end
   table.sort(names)
   io.stderr:write(("blocker_fixture.lua: unknown variant %q (%s)\n"):format(tostring(variant), table.concat(names, ", ")))
   os.exit(2)
end
change()
io.write(yaml.encode_all(docs))
