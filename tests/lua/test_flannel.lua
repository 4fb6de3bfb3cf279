-- cm.flannel: net-conf.json, subnet.env and the manifest, as flanneld reads them.
local flannel = require "cm.flannel"
local t = require "t"
local yaml = require "cm.yaml"

local conf = assert(flannel.parse_net_conf('{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}'))
t.eq({ conf.network, conf.backend_type, conf.vni, conf.port, conf.subnet_len },
   { "10.244.0.0/16", "vxlan", 1, 8472, 24 }, "defaults as flanneld fills them")
conf = assert(flannel.parse_net_conf('{"Network": "10.10.0.0/16", "SubnetLen": 25,'
   .. ' "Backend": {"Type": "vxlan", "VNI": 4096, "Port": 4789}}'))
t.eq({ conf.vni, conf.port, conf.subnet_len }, { 4096, 4789, 25 })
conf = assert(flannel.parse_net_conf('{"Network": "10.10.0.0/16", "Backend": {"Type": "vxlan", "Port": 0}}'))
t.eq(conf.port, 8472, "port 0 is the kernel default")
t.eq(assert(flannel.parse_net_conf('{"Network": "10.1.0.0/16"}')).backend_type, "udp")

local r, msg, code = flannel.parse_net_conf('{"Network": "10.244.0.0/33"}')
t.eq({ r, msg, code }, { nil, 'net-conf.json: Network: "10.244.0.0/33" is not a CIDR', "InvalidNetConf" })
r, msg = flannel.parse_net_conf("{}")
t.eq(msg, "net-conf.json: Network: missing")
r, msg = flannel.parse_net_conf("[1]")
t.eq(msg, "net-conf.json: expected a JSON object")
r, msg = flannel.parse_net_conf("{")
t.eq(msg, "net-conf.json: invalid JSON at byte offset 1: unexpected end of input")

local env = flannel.parse_subnet_env("FLANNEL_NETWORK=10.244.0.0/16;FLANNEL_SUBNET=10.244.1.1/24;"
   .. "FLANNEL_MTU=1450;FLANNEL_IPMASQ=true;")
t.eq(env, { FLANNEL_NETWORK = "10.244.0.0/16", FLANNEL_SUBNET = "10.244.1.1/24", FLANNEL_MTU = "1450",
   FLANNEL_IPMASQ = "true" })
t.eq(flannel.parse_subnet_env("FLANNEL_MTU = 1450\n# comment\n\nX=\n"), { FLANNEL_MTU = "1450", X = "" })

-- the upstream manifest bundled with the examples
local dir = os.getenv("CM_SOURCE_DIR") or "."
local f = assert(io.open(dir .. "/examples/manifests/kube-flannel.yml"))
local objects = assert(yaml.decode_all(f:read("a"), "kube-flannel.yml"))
f:close()
local found = flannel.find(objects)
t.eq(found.daemonset.metadata.name, "kube-flannel-ds")
t.eq(found.canal, false)
t.eq(flannel.image_version(found.daemonset), "v0.28.9")
conf = assert(flannel.parse_net_conf(found.configmap.data["net-conf.json"]))
t.eq(conf.network, "10.244.0.0/16")

-- what flanneld programs on a node (datamodel.md C.3-C.7)
local function node(name, cidr, mac, pub, extra)
   local ann = {
      ["flannel.alpha.coreos.com/backend-type"] = "vxlan",
      ["flannel.alpha.coreos.com/backend-data"] = ('{"VNI":1,"VtepMAC":"%s"}'):format(mac),
      ["flannel.alpha.coreos.com/public-ip"] = pub,
      ["flannel.alpha.coreos.com/kube-subnet-manager"] = "true",
   }
   for k, v in pairs(extra or {}) do ann[k] = v end
   return { metadata = { name = name, annotations = ann }, spec = { podCIDR = cidr } }
end
local nodes = {
   node("worker-1", "10.244.1.0/24", "9e:3a:7c:12:5d:01", "192.168.1.11"),
   node("worker-2", "10.244.2.0/24", "9E:3A:7C:12:5D:02", "192.168.1.12"),
   node("control", "10.244.0.0/24", "9e:3a:7c:12:5d:00", "192.168.1.10"),
   { metadata = { name = "bare" }, spec = { podCIDR = "10.244.9.0/24" } },
}
-- the fixture style of Calico's tests: VtepMac, matched case-insensitively as Go does
nodes[#nodes + 1] = node("old", "10.244.3.0/24", "x", "192.168.1.13",
   { ["flannel.alpha.coreos.com/backend-data"] = '{"VtepMac":"9e:3a:7c:12:5d:03"}' })
conf = assert(flannel.parse_net_conf('{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}'))
local st = assert(flannel.node_state(nodes[1], nodes, conf, { iface = "ens3" }))
t.eq(st.links[1], { name = "flannel.1", kind = "vxlan", mtu = 1450, mac = "9e:3a:7c:12:5d:01", up = true,
   vxlan = { id = 1, port = 8472, ["local"] = "192.168.1.11", dev = "ens3", learning = false } })
t.eq(st.links[2], { name = "cni0", kind = "bridge", mtu = 1450, up = true })
t.eq(st.addresses, { { dev = "flannel.1", address = "10.244.1.0/32" }, { dev = "cni0", address = "10.244.1.1/24" } })
t.eq(st.routes, {
   { dst = "10.244.1.0/24", dev = "cni0", scope = "link", protocol = "kernel", src = "10.244.1.1" },
   { dst = "10.244.0.0/24", gateway = "10.244.0.0", dev = "flannel.1", onlink = true },
   { dst = "10.244.3.0/24", gateway = "10.244.3.0", dev = "flannel.1", onlink = true },
   { dst = "10.244.2.0/24", gateway = "10.244.2.0", dev = "flannel.1", onlink = true },
}, "a route per peer, none for itself or unannotated nodes")
t.eq(st.neighbours[3], { dst = "10.244.2.0", lladdr = "9e:3a:7c:12:5d:02", dev = "flannel.1", state = "permanent" })
t.eq(st.fdb[1], { lladdr = "9e:3a:7c:12:5d:00", dev = "flannel.1", dst = "192.168.1.10", self = true, permanent = true })
t.eq(st.files["/run/flannel/subnet.env"],
   "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n")
t.eq(st.sysctls["net/ipv6/conf/flannel.1/accept_ra"], "0")
t.eq(st.iptables.nat[7], '-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq"'
   .. " -j MASQUERADE --random-fully")
t.eq(#flannel.node_state(nodes[1], nodes, conf, { version = "v0.15.1" }).iptables.nat, 4, "before v0.20: no chains")
t.eq(#flannel.node_state(nodes[1], nodes, conf, { ipmasq = false }).iptables.nat, 0)
local canal = flannel.node_state(nodes[1], nodes, conf, { canal = true })
t.eq({ #canal.links, canal.files["/run/flannel/subnet.env"] }, { 1, nil }, "Canal: no cni0, no host subnet.env")
local jumbo = assert(flannel.parse_net_conf('{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan", "VNI": 4}}'))
st = flannel.node_state(nodes[1], nodes, jumbo, { mtu = 9001, has_pods = false })
t.eq({ st.links[1].name, st.links[1].mtu, #st.links }, { "flannel.4", 8951, 1 }, "MTU - 50, no cni0 without pods")
r, msg, code = flannel.node_state(nodes[4], nodes, conf)
t.eq({ r, msg, code }, { nil, "node bare: no valid flannel.alpha.coreos.com/backend-data annotation", "NotFlannelNode" })
t.eq(flannel.recreates_device("v0.27.4"), true)
t.eq(flannel.recreates_device("v0.26.7"), false)
t.eq(flannel.compare_versions("v0.10.0-amd64", "v0.9.1"), 1)
-- flanneld's flags and FLANNELD_ variables, as it reads them
local a = flannel.flanneld_args({ "/opt/bin/flanneld", "--ip-masq", "--kube-subnet-mgr",
   "--kube-annotation-prefix=example.com/fl", "--iface", "ens3", "--iface=10.0.0.5" }, { FLANNELD_IFACE = "eth9" })
t.eq({ a.prefix, a.iface, a.ipmasq }, { "example.com/fl", { "ens3", "10.0.0.5" }, true }, "flags win over the environment")
a = flannel.flanneld_args({ "/opt/bin/flanneld", "--kube-subnet-mgr" },
   { FLANNELD_IFACE = "eth1,eth2", FLANNELD_IP_MASQ = "true", FLANNELD_KUBE_ANNOTATION_PREFIX = "" })
t.eq({ a.prefix, a.iface, a.ipmasq }, { flannel.PREFIX, { "eth1", "eth2" }, true },
   "FLANNELD_ variables (Canal's), an empty one ignored")
a = flannel.flanneld_args({ "--ip-masq=false" }, { FLANNELD_IFACE = "" })
t.eq({ a.iface, a.ipmasq }, { nil, false }, "--ip-masq=false; no --iface: the default route's device")
t.done()
