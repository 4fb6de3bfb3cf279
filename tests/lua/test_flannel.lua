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
t.eq(flannel.is_cidr("fd00:10:244::/56"), true)
t.eq(flannel.is_cidr("300.1.1.1/8"), false)
t.done()
