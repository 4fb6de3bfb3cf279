-- Calico IPAM's objects as the simulated kubelet writes them (runtime/fake/sim/sim_ipam.c, the
-- calico CNI plugin's ADD) are the ones cm.calico builds for the migration (affinity, block,
-- hostname_hash): one fact in two homes, kept in step by this script. Run by
-- tests/cli/test_sim_agents.sh with --fake.
local calico = require "cm.calico"
local k8s = require "cm.k8s"
local t = require "t"
local time = require "cm.time"
local c = assert(k8s.client())
local NODE = "worker-1"

-- calico-node on worker-1 (its label, its tunnel annotations) and a VXLAN pool with no blocks yet
assert(c:patch({ apiVersion = "v1", kind = "Node", name = NODE }, { metadata = {
   labels = { [calico.LABEL_NETWORK] = "calico" },
   annotations = { ["projectcalico.org/IPv4VXLANTunnelAddr"] = "10.244.1.0",
      ["projectcalico.org/VXLANTunnelMACAddr"] = "66:aa:bb:cc:dd:01" } } }))
assert(c:create { apiVersion = calico.GROUP, kind = "IPPool", metadata = { name = "default-ipv4-ippool" },
   spec = { cidr = "10.244.0.0/16", blockSize = 26, vxlanMode = "Always", ipipMode = "Never" } })
t.eq(#assert(c:list { apiVersion = calico.GROUP, kind = "IPAMBlock" }).items, 0, "no block before")
time.sleep(60)

-- a new pod there takes its address from a block the node claims
assert(c:create { apiVersion = "v1", kind = "Pod", metadata = { name = "ipam-probe", namespace = "default" },
   spec = { nodeName = NODE, containers = { { name = "c", image = "registry.k8s.io/pause:3.9" } } } })
time.sleep(30)
local pod = assert(c:get { apiVersion = "v1", kind = "Pod", namespace = "default", name = "ipam-probe" })
t.eq(pod.status.podIP, "10.244.0.0", "the first ordinal of the first block")

local affs = assert(c:list { apiVersion = calico.GROUP, kind = "BlockAffinity" }).items
t.eq(#affs, 1, "one affinity claimed")
local aff, want = affs[1], assert(calico.affinity(NODE, "10.244.0.0/26", "confirmed"))
t.eq(aff.metadata.name, want.metadata.name)
t.eq(aff.metadata.labels, want.metadata.labels, "labels, hostname-hash included")
t.eq(aff.metadata.annotations, want.metadata.annotations)
t.eq(aff.spec, want.spec)

local blk = assert(c:get { apiVersion = calico.GROUP, kind = "IPAMBlock", name = calico.cidr_name("10.244.0.0/26") })
local wblk = calico.block(NODE, "10.244.0.0/26", blk.spec.affinityClaimTime, blk.spec.sequenceNumber - 1)
t.eq(blk.metadata.annotations, wblk.metadata.annotations)
local fields = {}
for k, v in pairs(blk.spec) do
   if type(v) ~= "table" and k ~= "sequenceNumber" then fields[k] = v end
end
t.eq(fields, { cidr = "10.244.0.0/26", affinity = "host:" .. NODE, affinityClaimTime = wblk.spec.affinityClaimTime,
   deleted = false, strictAffinity = false }, "the block's scalar fields")
t.eq(#blk.spec.allocations, #wblk.spec.allocations, "64 ordinals")
t.eq(#blk.spec.unallocated, #wblk.spec.unallocated - 1, "all free but the pod's")
t.done()
