-- cm.calico: Felix's VXLAN settings, a node's VXLAN tunnel, the CNI config install-cni writes.
local calico = require "cm.calico"
local json = require "cm.json"
local t = require "t"

t.eq(calico.felix_vxlan(nil), { vni = 4096, port = 4789, mtu = 0 }, "Felix's defaults")
t.eq(calico.felix_vxlan { spec = { vxlanVNI = 1, vxlanPort = 8472, vxlanMTU = 1450 } }, { vni = 1, port = 8472, mtu = 1450 })

local node = { metadata = { name = "worker-1", annotations = {
   ["projectcalico.org/IPv4VXLANTunnelAddr"] = "10.244.1.0",
   ["projectcalico.org/VXLANTunnelMACAddr"] = "9E:3A:7C:12:5D:01",
   ["projectcalico.org/IPv4Address"] = "192.168.1.11/32" } },
   status = { addresses = { { type = "InternalIP", address = "192.168.1.99" } } } }
t.eq(calico.node_vxlan(node), { name = "worker-1", tunnel_addr = "10.244.1.0", mac = "9e:3a:7c:12:5d:01",
   ip = "192.168.1.11" }, "the IPv4Address annotation wins over the InternalIP")
node.metadata.annotations["projectcalico.org/IPv4Address"] = nil
t.eq(calico.node_vxlan(node).ip, "192.168.1.99")
local r, msg, code = calico.node_vxlan { metadata = { name = "bare", annotations = {} } }
t.eq({ r, msg, code }, { nil, "node bare: no projectcalico.org/IPv4VXLANTunnelAddr annotation", "NotCalicoNode" })

local cfg = { data = { veth_mtu = "0", cni_network_config =
   '{"name": "k8s-pod-network", "plugins": [{"type": "calico", "nodename": "__KUBERNETES_NODE_NAME__", '
   .. '"mtu": __CNI_MTU__, "kubernetes": {"kubeconfig": "__KUBECONFIG_FILEPATH__"}}]}' } }
local conf = json.decode(assert(calico.cni_conflist(cfg, "worker-1", 1450)))
t.eq(conf.plugins[1].nodename, "worker-1")
t.eq(conf.plugins[1].mtu, 1450, "veth_mtu 0: the detected MTU")
t.eq(conf.plugins[1].kubernetes.kubeconfig, "/etc/cni/net.d/calico-kubeconfig")
cfg.data.veth_mtu = "1400"
t.eq(json.decode(calico.cni_conflist(cfg, "w", 1450)).plugins[1].mtu, 1400, "veth_mtu set: it wins")
r, msg, code = calico.cni_conflist({ data = {} }, "w", 1450)
t.eq({ r, msg, code }, { nil, "ConfigMap calico-config: no cni_network_config", "InvalidConfig" })
cfg.data.cni_network_config = '{"mtu": __CNI_MTU__,}'
r, msg = calico.cni_conflist(cfg, "w", 1450)
t.eq(msg, "ConfigMap calico-config: cni_network_config: invalid JSON at byte offset 13: expected a string key")
-- what Calico keeps of flannel's network config, and the warnings (flannel-config prints them)
local keep, warns = calico.from_flannel { network = "10.244.0.0/16", subnet_len = 24, backend_type = "vxlan",
   vni = 1, port = 8472 }
t.eq(keep, { ippool_cidr = "10.244.0.0/16", ippool_block_size = 26, felix_vxlan_vni = 1, felix_vxlan_port = 8472 })
t.eq(warns, { "VXLAN port 8472 differs from Calico's default 4789: the migration sets FelixConfiguration vxlanPort to 8472" })
keep, warns = calico.from_flannel { network = "10.0.0.0/8", subnet_len = 28, backend_type = "host-gw", vni = 1,
   port = 4789 }
t.eq({ keep.ippool_block_size, warns }, { 28, { 'backend "host-gw": only vxlan can be migrated in place' } })
t.eq(calico.block_size(24, 27), 27)
t.done()
