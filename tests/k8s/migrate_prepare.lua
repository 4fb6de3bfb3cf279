--- The cluster preparation of a migration, object by object against datamodel.md A.12, and run a
--- second time to show it writes nothing more. Run on flannel-calico-installed-4node.yaml, in
--- process (--fake) or over HTTP (fake serve), by tests/cli/test_migrate.sh.
local config = require "cm.config"
local json = require "cm.json"
local k8s = require "cm.k8s"
local plan = require "cm.plan"
local prepare = require "cm.prepare"
local t = require "t"

local c = assert(k8s.client())
local G = "crd.projectcalico.org/v1"
local function get(kind, name, ns, api)
   return c:get { apiVersion = api or G, kind = kind, name = name, namespace = ns }
end

local function run_prepare()
   local cfg = assert(config.parse({ "--flannel-mtu", "1450" }, function() return nil end))
   local survey = assert(plan.survey(c, cfg))
   local steps = {}
   prepare.run { c = c, cfg = cfg, snap = survey.snap, step = function(s, node)
      steps[#steps + 1] = s .. (node and (" " .. node) or "")
   end }
   return steps
end

local steps = run_prepare()
t.eq(steps, { "save-config", "veth-mtu", "felix-vxlan", "ippool", "node-ipam control-plane-1", "node-ipam worker-1",
   "node-ipam worker-2", "node-ipam worker-3", "felix-vxlan-on", "flannel-selector" }, "the steps, in Calico's order")

local pool = assert(get("IPPool", "default-ipv4-ippool"))
t.eq(pool.spec, { allowedUses = { "Workload", "Tunnel" }, assignmentMode = "Automatic", blockSize = 26,
   cidr = "10.244.0.0/16", ipipMode = "Never", natOutgoing = true, nodeSelector = "all()", vxlanMode = "Always" },
   "IPPool spec (A.12 1)")
t.match(pool.metadata.annotations["projectcalico.org/metadata"], '^{"creationTimestamp":"%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ"}$')

local fc = assert(get("FelixConfiguration", "default"))
t.eq(fc.spec.vxlanVNI, 1); t.eq(fc.spec.vxlanPort, 8472); t.eq(fc.spec.vxlanMTU, 1450)
t.eq(fc.spec.vxlanEnabled, nil, "vxlanEnabled cleared after the IPAM pass")
t.eq(fc.spec.floatingIPs, "Disabled"); t.eq(fc.spec.bpfConnectTimeLoadBalancing, "TCP")
t.eq(fc.spec.bpfHostNetworkedNATWithoutCTLB, "Enabled")
t.eq(get("FelixConfiguration", "default-ipv4-ippool"), nil, "never the misnamed one (Calico's bug)")

local cc = assert(get("ConfigMap", "calico-config", "kube-system", "v1"))
t.eq(cc.data.veth_mtu, "1450")
local mc = assert(get("ConfigMap", "flannel-migration-config", "kube-system", "v1"))
t.eq(mc.data.flannel_subnet_env, "FLANNEL_NETWORK=10.244.0.0/16;FLANNEL_MTU=1450;FLANNEL_IPMASQ=true;")
t.eq(mc.data["cni-migrate.phase"], "prepare")
t.eq(json.decode(mc.data["cni-migrate.settings"]).FLANNEL_MTU, { value = 1450, source = "flag --flannel-mtu" })

-- worker-1: podCIDR 10.244.1.0/24, VtepMAC 9e:3a:7c:00:00:02, public IP 192.168.1.12
local hash = "CPU5J3TPSNHFA66J45DG4Z5C3PSJAZ36LD46JZLYEGZSTAWBUCUA"
for _, x in ipairs { "0", "64", "128", "192" } do
   local name = "worker-1-10-244-1-" .. x .. "-26"
   local a = assert(get("BlockAffinity", name), name)
   t.eq(a.spec, { cidr = "10.244.1." .. x .. "/26", deleted = "false", node = "worker-1", state = "confirmed",
      type = "host" }, name)
   local labels = { ["projectcalico.org/affinity-type"] = "host", ["projectcalico.org/hostname-hash"] = hash,
      ["projectcalico.org/ip-version"] = "4" }
   t.eq(a.metadata.labels, labels, name .. " labels (A.4.2)")
   t.eq(json.decode(a.metadata.annotations["projectcalico.org/metadata"]),
      { creationTimestamp = json.null, labels = labels }, name .. " metadata annotation")
   local b = assert(get("IPAMBlock", "10-244-1-" .. x .. "-26"))
   t.eq(b.spec.affinity, "host:worker-1"); t.eq(b.spec.cidr, "10.244.1." .. x .. "/26")
   t.match(b.spec.affinityClaimTime, "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$")
   t.eq(#b.spec.allocations, 64); t.eq(b.spec.deleted, false); t.eq(b.spec.strictAffinity, false)
   t.eq(b.metadata.annotations["projectcalico.org/metadata"], '{"creationTimestamp":null}')
   t.eq(math.type(b.spec.sequenceNumber), "integer")
   t.eq(b.spec.sequenceNumber > 1700000000000000000, true, "sequenceNumber is UnixNano (A.0.6)")
   if x == "0" then
      t.eq(b.spec.allocations[1], 0, "ordinal 0 (the VTEP) uses attributes[0]")
      t.eq(#b.spec.unallocated, 63); t.eq(b.spec.unallocated[1], 1)
      t.eq(b.spec.attributes, { { handle_id = "vxlan-tunnel-addr-worker-1",
         secondary = { node = "worker-1", type = "vxlanTunnelAddress" } } })
      t.eq(b.spec.sequenceNumberForAllocation["0"], b.spec.sequenceNumber - 1, "S, then S + 1")
   else
      t.eq(b.spec.allocations[1], json.null); t.eq(#b.spec.unallocated, 64); t.eq(#b.spec.attributes, 0)
   end
end
local h = assert(get("IPAMHandle", "vxlan-tunnel-addr-worker-1"))
t.eq(h.spec, { handleID = "vxlan-tunnel-addr-worker-1", block = { ["10.244.1.0/26"] = 1 }, deleted = false }, "handle")
local n = assert(get("Node", "worker-1", nil, "v1"))
local ann = n.metadata.annotations
t.eq(ann["projectcalico.org/IPv4Address"], "192.168.1.12/32")
t.eq(ann["projectcalico.org/IPv4VXLANTunnelAddr"], "10.244.1.0")
t.eq(ann["projectcalico.org/VXLANTunnelMACAddr"], "9e:3a:7c:00:00:02")
t.eq(ann["flannel.alpha.coreos.com/backend-type"], "vxlan", "flannel's annotations untouched")
t.eq(n.metadata.labels["projectcalico.org/node-network-during-migration"], "flannel")
local ds = assert(get("DaemonSet", "kube-flannel-ds", "kube-flannel", "apps/v1"))
t.eq(ds.spec.template.spec.nodeSelector, { ["projectcalico.org/node-network-during-migration"] = "flannel" })
t.eq(ds.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[1]
   .matchExpressions[1].key, "kubernetes.io/os", "flannel's own node affinity kept")

-- again: everything is there, nothing is written (Calico rewrote the node data every run)
t.eq(run_prepare(), {}, "a second preparation writes nothing")
t.done()
