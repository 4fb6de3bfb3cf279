--- cm.dataplane: can pod A on node X reach pod B on node Y, following what the kernel does with
--- the hosts' state (simulated hosts, as host:json() gives them): on X the longest-prefix route
--- to B; through a VXLAN device, the gateway's neighbour entry (its MAC), that MAC's FDB entry
--- (the remote node's IP), the node that has that IP on its underlay and a VXLAN device up there
--- with the same VNI and port whose MAC is the one the frame was sent to; then on Y the route to
--- B: a bridge or veth that is up (flannel's cni0, Calico's cali* with its /32), or, for a pod of
--- a node whose pods Calico networks, its workload interface (Calico's veth and /32 route, which
--- the simulation does not make). The reply comes back the same way from B to A: a ping needs
--- both. tests/netns/test_dataplane.sh holds the verdicts against real pings.
local ip = require "cm.ip"
local json = require "cm.json"

local M = {}

local MAX_HOPS = 4

--- A state's IPv4 routes parsed once: {value, mask, prefix, route}.
local function parsed_routes(state)
   if state._v4 then return state._v4 end
   local list = {}
   for _, r in ipairs(state.routes or {}) do
      local c = r.dst == "default" and { family = 4, value = 0, prefix = 0 }
         or ip.cidr(r.dst:find("/") and r.dst or r.dst .. "/32")
      if c and c.family == 4 then
         list[#list + 1] = { value = c.value, prefix = c.prefix, route = r,
            mask = c.prefix == 0 and 0 or (0xffffffff << (32 - c.prefix)) & 0xffffffff }
      end
   end
   state._v4 = list
   return list
end

--- The longest-prefix IPv4 route to addr in a host state (default last), or nil.
---@param state table host:json()
---@param addr string
---@return table|nil route
function M.route(state, addr)
   local family, v = ip.parse(addr)
   if family ~= 4 then return nil end
   local best, len = nil, -1
   for _, p in ipairs(parsed_routes(state)) do
      if p.prefix > len and (v & p.mask) == p.value then best, len = p.route, p.prefix end
   end
   return best
end

local function link(state, name)
   for _, l in ipairs(state.links or {}) do
      if l.name == name then return l end
   end
   return nil
end

local function neighbour(state, dev, dst)
   for _, n in ipairs(state.neighbours or {}) do
      if n.dev == dev and n.dst == dst and n.lladdr then return n end
   end
   return nil
end

local function fdb(state, dev, mac)
   for _, f in ipairs(state.fdb or {}) do
      if f.dev == dev and f.lladdr == mac and f.dst then return f end
   end
   return nil
end

--- The hosts' states with the index the walk needs: which node has which underlay address.
---@param states table {node = host state (host:json()) or false}; it may load them as asked
---   (an __index that reads each node's host at its first use), since a walk reads few
---@param by_ip table|nil {address = node}; nil: from every state's addresses
---@return table net
function M.network(states, by_ip)
   if not by_ip then
      by_ip = {}
      for name, st in pairs(states) do
         for _, a in ipairs(st and st.addresses or {}) do
            local addr = a.address:match("^([^/]+)")
            if a.dev ~= "lo" and (not by_ip[addr] or name < by_ip[addr]) then by_ip[addr] = name end
         end
      end
   end
   return { states = states, by_ip = by_ip }
end

--- One direction: from node x (the packet already on x's host) to the pod {ip, node, calico}.
--- Returns true and the hops, or false and why (one line).
local function deliver(net, x, dst)
   local states = net.states
   local hops = {}
   for _ = 1, MAX_HOPS do
      local st = states[x]
      if not st then return false, ("node %s has no host"):format(x), hops end
      local r = M.route(st, dst.ip)
      local l = r and link(st, r.dev)
      if x == dst.node and (not r or r.dst == "default" or not (l and l.kind == "vxlan")) then
         if l and (l.kind == "bridge" or l.kind == "veth") and r.dst ~= "default" then
            if not l.up then return false, ("%s: %s is down"):format(x, l.name), hops end
            hops[#hops + 1] = ("%s: %s via %s"):format(x, dst.ip, l.name)
            return true, nil, hops
         end
         if dst.calico then
            hops[#hops + 1] = ("%s: %s via its Calico workload interface"):format(x, dst.ip)
            return true, nil, hops
         end
         return false, ("%s: no route to %s on a local device"):format(x, dst.ip), hops
      end
      if not r then return false, ("%s: no route to %s"):format(x, dst.ip), hops end
      if not l then return false, ("%s: route to %s via %s, which is not there"):format(x, dst.ip, r.dev), hops end
      if l.kind ~= "vxlan" then
         return false, ("%s: route to %s leaves by %s, not a VXLAN device"):format(x, dst.ip, l.name), hops
      end
      if not l.up then return false, ("%s: %s is down"):format(x, l.name), hops end
      local gw = r.gateway or dst.ip
      local n = neighbour(st, l.name, gw)
      if not n then return false, ("%s: no neighbour entry for %s on %s"):format(x, gw, l.name), hops end
      local f = fdb(st, l.name, n.lladdr)
      if not f then return false, ("%s: no FDB entry for %s on %s"):format(x, n.lladdr, l.name), hops end
      local y = net.by_ip[f.dst]
      if not y or not states[y] then
         return false, ("%s: FDB sends %s to %s, which no node has"):format(x, n.lladdr, f.dst), hops
      end
      local vx = l.vxlan or {}
      local rx
      for _, cand in ipairs(states[y].links or {}) do
         local cv = cand.vxlan or {}
         if cand.kind == "vxlan" and cv.id == vx.id and (cv.port or 8472) == (vx.port or 8472) then rx = cand end
      end
      if not rx then
         return false, ("%s: no VXLAN device with VNI %s port %s"):format(y, tostring(vx.id), tostring(vx.port)), hops
      end
      if not rx.up then return false, ("%s: %s is down"):format(y, rx.name), hops end
      if rx.mac ~= n.lladdr then
         return false, ("%s: %s has MAC %s, the frame was sent to %s"):format(y, rx.name, tostring(rx.mac), n.lladdr),
            hops
      end
      hops[#hops + 1] = ("%s: %s via %s to %s (%s, %s)"):format(x, dst.ip, l.name, y, f.dst, rx.name)
      x = y
   end
   return false, "too many hops", hops
end

--- Whether pod a reaches pod b and b answers (a ping), per the hosts' states.
---@param net table M.network(states)
---@param a table {ip = "10.244.1.5", node = "worker-1", calico = bool (its node's CNI is Calico)}
---@param b table the same
---@return boolean ok
---@return string|nil why the first thing that stops it (nil when ok)
---@return string[] hops the way there and back
function M.reach(net, a, b)
   local ok, why, there = deliver(net, a.node, b)
   if not ok then return false, why, there end
   local back, why2, hops2 = deliver(net, b.node, a)
   for _, h in ipairs(hops2) do there[#there + 1] = h end
   if not back then return false, "reply: " .. why2, there end
   return true, nil, there
end

--- Whether a host's pods are Calico's: its active CNI config has the calico plugin (not the
--- migration's placeholder, not flannel's).
---@param host userdata a cm.fake Host
---@return boolean
function M.calico_networked(host)
   local path = host:cni_active()
   local conf = path and json.decode(host:read(path) or "")
   for _, pl in ipairs(type(conf) == "table" and type(conf.plugins) == "table" and conf.plugins or {}) do
      if type(pl) == "table" and pl.type == "calico" then return true end
   end
   return false
end

--- In a --fake run: the verdicts from each Running pod on node to every Running pod on the
--- other nodes and back (hostNetwork pods aside), one line each, sorted (what `fake host FIXTURE
--- NODE --reach` prints).
---@param node string
---@return string[] lines
function M.report(node)
   local fake = require "cm.fake"
   local nodes = assert(fake.request("GET", "/api/v1/nodes")).items
   local states, cal = {}, {}
   for _, n in ipairs(nodes) do
      local h = fake.host(n.metadata.name)
      states[n.metadata.name] = h and h:json() or false
      cal[n.metadata.name] = h and M.calico_networked(h) or false
   end
   local net = M.network(states)
   local here, there = {}, {}
   for _, p in ipairs(assert(fake.request("GET", "/api/v1/pods")).items) do
      local st = p.status or {}
      if not p.spec.hostNetwork and st.phase == "Running" and st.podIP and not p.metadata.deletionTimestamp then
         local pod = { ip = st.podIP, node = p.spec.nodeName, calico = cal[p.spec.nodeName],
            name = p.metadata.namespace .. "/" .. p.metadata.name }
         if pod.node == node then here[#here + 1] = pod elseif pod.node then there[#there + 1] = pod end
      end
   end
   local lines = {}
   for _, a in ipairs(here) do
      for _, b in ipairs(there) do
         local ok, why = M.reach(net, a, b)
         lines[#lines + 1] = ("%s (%s) -> %s (%s on %s): %s"):format(a.name, a.ip, b.name, b.ip, b.node,
            ok and "ok" or ("unreachable: " .. why))
      end
   end
   table.sort(lines)
   return lines
end

return M
