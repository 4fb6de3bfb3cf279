--- cm.flannel: what flannel (VXLAN) leaves in a cluster, read the way flanneld reads it.
--- Sources: flannel's net-conf.json and subnet.env formats, its manifest, and the defaults
--- Calico's migration controller assumes (../shared/reference/datamodel.md, section C).
local json = require "cm.json"

local M = {}

--- flanneld's default VXLAN settings: VNI 1, and port 0 meaning the kernel's 8472.
M.DEFAULT_VNI = 1
M.DEFAULT_PORT = 8472
M.DEFAULT_SUBNET_LEN = 24

---@param s string
---@return boolean
local function _is_cidr(s)
   if type(s) ~= "string" then return false end
   local a, b, c, d, len = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)/(%d+)$")
   if a then
      for _, o in ipairs { a, b, c, d } do
         if tonumber(o) > 255 then return false end
      end
      return tonumber(len) <= 32
   end
   local v6, len6 = s:match("^([%x:]+)/(%d+)$")
   return v6 ~= nil and v6:find(":") ~= nil and tonumber(len6) <= 128
end
M.is_cidr = _is_cidr

--- Parses flannel's net-conf.json and fills in flanneld's defaults.
---@param text string the net-conf.json text
---@return table|nil conf {network, ipv6_network, subnet_len, backend_type, vni, port, raw}
---@return string|nil message
---@return string|nil code "InvalidNetConf"
function M.parse_net_conf(text)
   local raw, err = json.decode(text)
   if not raw then
      return nil, "net-conf.json: " .. err, "InvalidNetConf"
   end
   if type(raw) ~= "table" or json.is_array(raw) then
      return nil, "net-conf.json: expected a JSON object", "InvalidNetConf"
   end
   local network = raw.Network
   if network ~= nil and not _is_cidr(network) then
      return nil, ("net-conf.json: Network: %q is not a CIDR"):format(tostring(network)), "InvalidNetConf"
   end
   local v6 = raw.IPv6Network
   if v6 ~= nil and v6 ~= "" and not _is_cidr(v6) then
      return nil, ("net-conf.json: IPv6Network: %q is not a CIDR"):format(tostring(v6)), "InvalidNetConf"
   end
   if network == nil and (v6 == nil or v6 == "") then
      return nil, "net-conf.json: Network: missing", "InvalidNetConf"
   end
   local backend = type(raw.Backend) == "table" and raw.Backend or {}
   local btype = backend.Type or "udp" -- flanneld's default backend when none is named
   local port = backend.Port
   if port == nil or port == 0 then port = M.DEFAULT_PORT end
   return {
      network = network,
      ipv6_network = v6 ~= "" and v6 or nil,
      subnet_len = raw.SubnetLen or M.DEFAULT_SUBNET_LEN,
      backend_type = btype,
      vni = backend.VNI or M.DEFAULT_VNI,
      port = port,
      raw = raw,
   }
end

--- Parses /run/flannel/subnet.env (or the ConfigMap copy, where ';' stands for a newline).
---@param text string
---@return table vars name -> value
function M.parse_subnet_env(text)
   local vars = {}
   for line in (text:gsub(";", "\n") .. "\n"):gmatch("([^\n]*)\n") do
      local k, v = line:match("^%s*([%w_]+)%s*=%s*(.-)%s*$")
      if k then vars[k] = v end
   end
   return vars
end

--- Finds flannel's ConfigMap and DaemonSet among objects (plain flannel or Canal).
---@param objects table[] Kubernetes objects
---@return table found {configmap, daemonset, canal}
function M.find(objects)
   local found = {}
   for _, o in ipairs(objects) do
      local name = o.metadata and o.metadata.name
      if o.kind == "ConfigMap" and (name == "kube-flannel-cfg" or name == "canal-config") then
         found.configmap = o
      elseif o.kind == "DaemonSet" and (name == "kube-flannel-ds" or name == "canal") then
         found.daemonset = o
         found.canal = name == "canal"
      end
   end
   return found
end

--- The flannel version a DaemonSet runs: the tag of its flannel container's image.
---@param ds table a DaemonSet
---@return string|nil tag such as "v0.28.9"
function M.image_version(ds)
   local spec = ds.spec and ds.spec.template and ds.spec.template.spec or {}
   for _, c in ipairs(spec.containers or {}) do
      local tag = c.image and c.image:match("/flannel:([^@]+)")
      if tag then return tag end
   end
   return nil
end

return M
