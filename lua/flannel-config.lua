--- flannel-config: reads flannel's manifests and prints the network settings a migration to
--- Calico must keep (pod CIDR, VXLAN VNI and port, block size), with the warnings that apply.
--- usage: cni-migrate run flannel-config MANIFEST.yaml [--json]
local calico = require "cm.calico"
local flannel = require "cm.flannel"
local json = require "cm.json"
local log = require "cm.log"
local proc = require "cm.proc"
local time = require "cm.time"
local yaml = require "cm.yaml"

local path, flag = ...
if not path or (flag and flag ~= "--json") then
   proc.usage("usage: cni-migrate run flannel-config MANIFEST.yaml [--json]")
end

local started = time.now()
local f = proc.check_usage(io.open(path, "rb"))
local text = f:read("a")
f:close()

local docs = proc.check_usage(yaml.decode_all(text, path))
local objects = {}
for _, d in ipairs(docs) do
   if d.kind == "List" then
      for _, item in ipairs(d.items or {}) do objects[#objects + 1] = item end
   else
      objects[#objects + 1] = d
   end
end
log.info("read manifest", { file = path, objects = #objects, bytes = #text })

local found = flannel.find(objects)
if not found.configmap or not found.daemonset then
   proc.usage("%s: no flannel ConfigMap and DaemonSet (kube-flannel-cfg, kube-flannel-ds)", path)
end
local netconf_text = found.configmap.data and found.configmap.data["net-conf.json"]
local conf, cerr = flannel.parse_net_conf(netconf_text or "")
if not conf then proc.usage("%s: ConfigMap %s: %s", path, found.configmap.metadata.name, cerr) end

local keep, warnings = calico.from_flannel(conf)

local result = json.object {
   source = path,
   flavour = found.canal and "canal" or "flannel",
   namespace = found.daemonset.metadata.namespace,
   daemonset = found.daemonset.metadata.name,
   version = flannel.image_version(found.daemonset) or json.null,
   network = conf.network or json.null,
   ipv6_network = conf.ipv6_network or json.null,
   subnet_len = conf.subnet_len,
   backend = conf.backend_type,
   vni = conf.vni,
   port = conf.port,
   calico = {
      ippool_cidr = keep.ippool_cidr or json.null,
      ippool_block_size = keep.ippool_block_size,
      felix_vxlan_vni = keep.felix_vxlan_vni,
      felix_vxlan_port = keep.felix_vxlan_port,
   },
   warnings = json.array(warnings),
}

if flag == "--json" then
   print(json.encode(result, { indent = true }))
else
   print(("%s %s in %s/%s"):format(result.flavour, tostring(result.version), result.namespace,
      result.daemonset))
   print(("  pod network      %s (a /%d per node)"):format(tostring(result.network), result.subnet_len))
   print(("  backend          %s, VNI %d, UDP port %d"):format(result.backend, result.vni, result.port))
   print("Calico must keep:")
   print(("  IPPool           %s, blockSize %d"):format(tostring(result.calico.ippool_cidr),
      result.calico.ippool_block_size))
   print(("  Felix VXLAN      vni %d, port %d"):format(result.calico.felix_vxlan_vni,
      result.calico.felix_vxlan_port))
   for _, w in ipairs(warnings) do print("warning: " .. w) end
end
log.info("done", { elapsed_ms = math.floor((time.now() - started) * 1000) })
