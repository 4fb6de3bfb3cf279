--- calico-check: Calico's networking is in place on this node: vxlan.calico with the expected
--- VNI, port, MAC and address, up, and Calico's CNI config is the active one. ok = false with
--- the problems is a result, not a failure. Args and result: README.md, "Node scripts".
local calico = require "cm.calico"
local cni = require "cm.cni"
local json = require "cm.json"
local netlink = require "cm.netlink"

--- An empty list that stays a JSON array.
local function list() return setmetatable({}, json.array_mt) end

local function main(args)
   local vni = args.vni or calico.DEFAULT_VXLAN_VNI
   local port = args.port or calico.DEFAULT_VXLAN_PORT
   local dir = args.cni_dir or "/etc/cni/net.d"
   local problems = list()
   local res = { ok = true, problems = problems, addresses = list() }
   local link, err, code = netlink.link(calico.VXLAN_DEVICE)
   if not link and code ~= "ENODEV" then return nil, err, code end
   if not link then
      problems[#problems + 1] = calico.VXLAN_DEVICE .. ": no such device"
   else
      res.link = link
      local vx = link.vxlan or {}
      if vx.id ~= vni then
         problems[#problems + 1] = ("%s: VNI %s, expected %d"):format(link.name, tostring(vx.id), vni)
      end
      if vx.port ~= port then
         problems[#problems + 1] = ("%s: port %s, expected %d"):format(link.name, tostring(vx.port), port)
      end
      if args.mac and (link.mac or ""):lower() ~= args.mac:lower() then
         problems[#problems + 1] = ("%s: MAC %s, expected %s"):format(link.name, tostring(link.mac), args.mac)
      end
      if not link.up then problems[#problems + 1] = link.name .. ": down" end
      local addrs, aerr, acode = netlink.addrs { dev = link.name, family = "inet" }
      if not addrs then return nil, aerr, acode end
      local found = false
      for _, a in ipairs(addrs) do
         res.addresses[#res.addresses + 1] = a.address
         if args.address and a.address:match("^([^/]+)") == args.address then found = true end
      end
      if args.address and not found then
         problems[#problems + 1] = ("%s: no address %s"):format(link.name, args.address)
      end
   end
   local active, cerr, ccode = cni.active(dir)
   local want = dir .. "/" .. (args.cni_conf_name or calico.CNI_CONF_NAME)
   if not active and ccode ~= "NotFound" then return nil, cerr, ccode end
   res.active_cni = active and active.path or nil
   if not active then
      problems[#problems + 1] = "no active CNI config in " .. dir
   elseif active.path ~= want then
      problems[#problems + 1] = ("active CNI config is %s, expected %s"):format(active.path, want)
   elseif active.plugins[1].type == calico.PLACEHOLDER_PLUGIN then
      problems[#problems + 1] = want .. " is still the migration placeholder"
   end
   for _, s in ipairs(active and active.skipped or {}) do -- containerd stops at the first of them
      problems[#problems + 1] = ("invalid CNI config %s sorts before %s (containerd loads no network): %s")
         :format(s.path, active.path, s.error)
   end
   res.ok = #problems == 0
   return res
end

return { host_paths = { "/etc/cni/net.d" }, main = main }
