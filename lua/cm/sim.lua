--- cm.sim: programming an add-on's state on a simulated node host (apply, prune). What each
--- add-on programs comes from its own library (cm.flannel.node_state, cm.calico.node_state); how a
--- node's host looks before any add-on is the simulation's, in C (runtime/fake/host/base.c), and
--- reaches Lua as cm.fake.node_host(node).

local M = {}

--- The keys of t in order, so a host is programmed the same way on every run (pairs' order
--- changes from one Lua state to the next).
---@param t table
---@return string[]
local function sorted_keys(t)
   local keys = {}
   for k in pairs(t) do keys[#keys + 1] = k end
   table.sort(keys)
   return keys
end

--- Adds iptables rules (iptables-save lines by table, as cm.flannel.iptables_rules gives them)
--- that the host does not have yet, in its backend: what an agent keeping them in sync does.
---@param host userdata a cm.fake Host
---@param family string "ipv4" or "ipv6"
---@param tables table|nil {nat = {"-A ...", ...}, filter = {...}}
---@return boolean|nil ok
---@return string|nil message
---@return string|nil code
function M.apply_iptables(host, family, tables)
   if not tables then return true end
   local backend = host:section("iptablesBackend") or "nft"
   local have = {}
   for line in host:iptables_save(family, backend):gmatch("[^\n]+") do have[line] = true end
   local out = {}
   for _, t in ipairs(sorted_keys(tables)) do
      local lines = {}
      for _, l in ipairs(tables[t]) do
         local chain = l:match("^%-A (%S+)")
         if chain and not have[l] then
            lines[#lines + 1] = l
            if not chain:match("^[A-Z]+ROUTING$") and chain ~= "INPUT" and chain ~= "OUTPUT" and chain ~= "FORWARD" then
               table.insert(lines, 1, ":" .. chain .. " - [0:0]")
            end
         end
      end
      if #lines > 0 then
         out[#out + 1] = "*" .. t .. "\n" .. table.concat(lines, "\n") .. "\nCOMMIT\n"
      end
   end
   if #out == 0 then return true end
   return host:iptables_restore(family, backend, table.concat(out))
end

--- Programs a host state (the shape cm.flannel.node_state() and cm.calico.node_state() return)
--- on a host, as the add-on's agents would: devices, addresses, routes, neighbours, FDB entries,
--- sysctls and files. Idempotent: what is already there is kept or replaced.
---@param host userdata a cm.fake Host with the state's underlay device
---@param state table
---@return boolean|nil ok
---@return string|nil message
---@return string|nil code the errno name of the first step that failed
function M.apply(host, state)
   local function step(ok, err, code)
      if not ok and code ~= "EEXIST" then error({ err, code }, 0) end
   end
   local ok, failure = pcall(function()
      for _, l in ipairs(state.links) do
         if not host:link(l.name) then step(host:link_add(l)) end
         step(host:link_set(l.name, { mtu = l.mtu, up = l.up }))
      end
      for _, a in ipairs(state.addresses) do step(host:addr_add(a.dev, a.address)) end
      for _, r in ipairs(state.routes) do
         if r.protocol ~= "kernel" then step(host:route_replace(r)) end -- kernel routes come with addresses
      end
      for _, n in ipairs(state.neighbours) do step(host:neigh_replace(n)) end
      for _, f in ipairs(state.fdb) do step(host:fdb_replace(f)) end
      for _, k in ipairs(sorted_keys(state.sysctls)) do step(host:sysctl_set(k, state.sysctls[k])) end
      for _, path in ipairs(sorted_keys(state.files)) do step(host:write(path, state.files[path])) end
      for family, section in pairs { ipv4 = state.iptables, ipv6 = state.ip6tables } do
         step(M.apply_iptables(host, family, section))
      end
   end)
   if ok then return true end
   if type(failure) ~= "table" then error(failure, 0) end
   return nil, failure[1], failure[2]
end

--- Removes from a host what an agent programmed on device dev and no longer wants: the routes,
--- neighbours and FDB entries on dev that state (the agent's whole wish for dev) lacks, as
--- flanneld does on a lease's removal and Felix on a resync.
---@param host userdata a cm.fake Host
---@param state table the agent's state (cm.sim host shape)
---@param dev string
---@return boolean|nil ok
---@return string|nil message
---@return string|nil code
function M.prune(host, state, dev)
   local want_r, want_n, want_f = {}, {}, {}
   for _, r in ipairs(state.routes) do if r.dev == dev then want_r[r.dst] = true end end
   for _, n in ipairs(state.neighbours) do if n.dev == dev then want_n[n.dst] = true end end
   for _, f in ipairs(state.fdb) do if f.dev == dev then want_f[f.lladdr .. " " .. f.dst] = true end end
   return host:prune(dev, { routes = want_r, neighbours = want_n, fdb = want_f }) -- in place: a host has
   -- every peer's entries
end

return M
