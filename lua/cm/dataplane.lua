--- cm.dataplane: can pod A on node X reach pod B on node Y, following what the kernel does with
--- the hosts' state (simulated hosts, as host:json() gives them): on X the longest-prefix route
--- to B; through a VXLAN device, the gateway's neighbour entry (its MAC), that MAC's FDB entry
--- (the remote node's IP), the node that has that IP on its underlay and a VXLAN device up there
--- with the same VNI and port whose MAC is the one the frame was sent to; then on Y the route to
--- B: a bridge or veth that is up (flannel's cni0, Calico's cali* with its /32), or, for a pod of
--- a node whose pods Calico networks, its workload interface (Calico's veth and /32 route, which
--- the simulation does not make). On each node the packet is forwarded by, the IPv4 iptables
--- rules as the kernel applies them to a ping: filter FORWARD (a DROP or REJECT stops it: a
--- NetworkPolicy as Calico enforces it, say) and, for the request, nat POSTROUTING (MASQUERADE or
--- SNAT rewrite its source: flannel's leftover FLANNEL-POSTRTG masquerades a pod whose address is
--- outside the node's old flannel subnet to the node's address, so B sees the node, not A, and a
--- policy that admits A drops it: calico#12920). The reply comes back the same way from B to A,
--- unrewritten (conntrack undoes the NAT; its route is the one to A): a ping needs both.
--- tests/netns/test_dataplane.sh holds the verdicts against real pings and iptables (nf_tables).
local ip = require "cm.ip"
local iptables_plan = require "cm.iptables_plan"
local json = require "cm.json"

local M = {}

local MAX_HOPS = 4

--- Route destinations parsed: dst -> {value, prefix, mask} of an IPv4 one, or false. Every host has
--- a route to every peer's subnet, so each dst is parsed once, not once per host and look.
local dsts = {}

local function parse_dst(dst)
   local d = dsts[dst]
   if d ~= nil then return d end
   local c = dst == "default" and { family = 4, value = 0, prefix = 0 }
      or ip.cidr(dst:find("/") and dst or dst .. "/32")
   d = c and c.family == 4 and { value = c.value, prefix = c.prefix,
      mask = c.prefix == 0 and 0 or (0xffffffff << (32 - c.prefix)) & 0xffffffff } or false
   dsts[dst] = d
   return d
end

--- A simulated host as the walks read it (a state): its small sections (links, addresses,
--- iptables) copied at their first use, its routes, neighbours and FDB entries (a route, a
--- neighbour and an FDB entry per peer) looked up in place by the host (host:route_to, neigh_to,
--- fdb_to: the same rules as M.route, neighbour and fdb below), so a walk over a 1,000-node
--- cluster's hosts copies no peer's entries.
---@param host userdata a cm.fake Host
---@return table state
function M.view(host)
   return setmetatable({ _host = host }, { __index = function(t, k)
      if k ~= "links" and k ~= "addresses" and k ~= "iptables" then return nil end
      local v = host:section(k) or false
      rawset(t, k, v)
      return v
   end })
end

--- A state's IPv4 routes parsed once: {value, mask, prefix, route}.
local function parsed_routes(state)
   if state._v4 then return state._v4 end
   local list = {}
   for _, r in ipairs(state.routes or {}) do
      local d = parse_dst(r.dst)
      if d then
         list[#list + 1] = { value = d.value, prefix = d.prefix, route = r, mask = d.mask }
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
   if state._host then return state._host:route_to(addr) end
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
   if state._host then return state._host:neigh_to(dev, dst) end
   for _, n in ipairs(state.neighbours or {}) do
      if n.dev == dev and n.dst == dst and n.lladdr then return n end
   end
   return nil
end

local function fdb(state, dev, mac)
   if state._host then return state._host:fdb_to(dev, mac) end
   for _, f in ipairs(state.fdb or {}) do
      if f.dev == dev and f.lladdr == mac and f.dst then return f end
   end
   return nil
end

-- ---- iptables (IPv4), as the kernel applies them to a ping's packets ----

--- A rule's words ("..." one word, without its quotes).
local function words(spec)
   local w, i = {}, 1
   while true do
      local s = spec:find("%S", i)
      if not s then return w end
      local e
      if spec:sub(s, s) == '"' then
         e = spec:find('"', s + 1, true) or #spec
         w[#w + 1] = spec:sub(s + 1, e - 1)
      else
         e = (spec:find("%s", s) or #spec + 1) - 1
         w[#w + 1] = spec:sub(s, e)
      end
      i = e + 1
   end
end

local NO_VALUE = { ["--random-fully"] = true, ["--random"] = true, ["--persistent"] = true }
local TEST = { ["-s"] = "src", ["--source"] = "src", ["-d"] = "dst", ["--destination"] = "dst",
   ["-i"] = "in", ["--in-interface"] = "in", ["-o"] = "out", ["--out-interface"] = "out", ["-p"] = "proto",
   ["--protocol"] = "proto", ["--mark"] = "mark", ["--ctstate"] = "state", ["--state"] = "state" }

--- A rule as the walk tests it: {line, tests = {{kind, value, neg}}, target, go, to}; or nil and
--- why the model cannot tell what it does.
local function compile(rule)
   local w, r, i, neg = words(rule.spec), { line = rule.line, tests = {} }, 1, false
   while i <= #w do
      local o, v = w[i], w[i + 1]
      if o == "!" then
         neg, i = true, i + 1
      elseif NO_VALUE[o] then
         i = i + 1
      else
         if TEST[o] then
            local t = { kind = TEST[o], value = v, neg = neg }
            if t.kind == "src" or t.kind == "dst" then
               t.cidr = ip.cidr(v and (v:find("/") and v or v .. "/32") or "")
               if not t.cidr or t.cidr.family ~= 4 then
                  return nil, "an address the model does not read: " .. rule.line
               end
            end
            r.tests[#r.tests + 1] = t
         elseif o == "-j" or o == "-g" then
            r.target, r.go = v, o == "-g"
         elseif o == "--to-source" then
            r.to = v and v:match("^[%d.]+")
         elseif o ~= "-m" and o ~= "--comment" and o ~= "--reject-with" then
            return nil, "an iptables option the model does not know (" .. o .. "): " .. rule.line
         end
         i, neg = i + 2, false
      end
   end
   return r
end

--- A state's iptables rules compiled once: {table = {chains = {name = {rules}}, policy}}; or nil
--- and why.
local function rules_of(state)
   if state._ipt ~= nil then return state._ipt, state._ipt_err end
   local text = {}
   for t, lines in pairs(state.iptables or {}) do
      text[#text + 1] = "*" .. t .. "\n" .. table.concat(lines, "\n") .. "\nCOMMIT\n"
   end
   local out = {}
   for t, parsed in pairs(iptables_plan.parse(table.concat(text))) do
      local chains = {}
      for name in pairs(parsed.chains) do chains[name] = {} end
      for _, pr in ipairs(parsed.rules) do
         local r, why = compile(pr)
         if not r then
            state._ipt, state._ipt_err = false, why
            return false, why
         end
         chains[pr.chain] = chains[pr.chain] or {}
         table.insert(chains[pr.chain], r)
      end
      out[t] = { chains = chains, policy = parsed.policy }
   end
   state._ipt = out
   return out
end

--- Whether one test holds for the packet {src, dst, in, out, state} (a ping: ICMP, no mark).
local function holds(t, p)
   local yes
   if t.kind == "src" or t.kind == "dst" then
      local _, v = ip.parse(p[t.kind])
      local mask = t.cidr.prefix == 0 and 0 or (0xffffffff << (32 - t.cidr.prefix)) & 0xffffffff
      yes = v ~= nil and (v & mask) == t.cidr.value
   elseif t.kind == "in" or t.kind == "out" then
      local dev, want = p[t.kind] or "", t.value or ""
      yes = want:sub(-1) == "+" and dev:sub(1, #want - 1) == want:sub(1, -2) or dev == want
   elseif t.kind == "proto" then
      yes = t.value == "icmp" or t.value == "all" or t.value == "1"
   elseif t.kind == "mark" then -- a ping carries no mark: VALUE/MASK matches when VALUE is 0
      yes = tonumber((t.value or ""):match("^[^/]+")) == 0
   else -- a connection state
      yes = ("," .. (t.value or "") .. ","):find("," .. p.state .. ",", 1, true) ~= nil
   end
   if t.neg then return not yes end
   return yes
end

local TERMINAL = { ACCEPT = true, DROP = true, REJECT = true, MASQUERADE = true, SNAT = true, RETURN = true }

--- Walks chain of a compiled table: the verdict ("ACCEPT", "DROP", "REJECT", "MASQUERADE",
--- "SNAT", "RETURN" or nil at the chain's end) and the rule that gave it; or false and why.
local function walk(tb, chain, p, depth)
   if depth > 16 then return false, "iptables chains nested too deep at " .. chain end
   for _, r in ipairs(tb.chains[chain] or {}) do
      local all = true
      for _, t in ipairs(r.tests) do
         if not holds(t, p) then all = false break end
      end
      if all and r.target then
         if TERMINAL[r.target] then return r.target, r end
         if tb.chains[r.target] then
            local v, rr = walk(tb, r.target, p, depth + 1)
            if v == false then return v, rr end
            if v and v ~= "RETURN" then return v, rr end
            if r.go then return "RETURN", r end
         elseif r.target ~= "LOG" then
            return false, "an iptables target the model does not know (" .. r.target .. "): " .. r.line
         end
      end
   end
   return nil
end

--- What a built-in chain of a table does with the packet: verdict and rule (nil: the policy); or
--- false and why.
function M.iptables_verdict(state, tname, chain, p)
   local rules, why = rules_of(state)
   if not rules then return false, why end
   local tb = rules[tname]
   if not tb then return "ACCEPT" end
   local v, r = walk(tb, chain, p, 0)
   if v == false then return false, r end
   if v == nil or v == "RETURN" then return tb.policy[chain] or "ACCEPT", nil end
   return v, r
end

--- The source a MASQUERADE gives a packet leaving by dev: dev's first IPv4 address, else the
--- host's first one that is not loopback (the kernel's inet_select_addr).
local function masq_address(state, dev)
   local first
   for _, a in ipairs(state.addresses or {}) do
      local addr = a.address:match("^([^/]+)")
      if ip.parse(addr) == 4 and a.dev ~= "lo" then
         if a.dev == dev then return addr end
         first = first or addr
      end
   end
   return first
end

--- The packet p {src, dst, in, out, state} forwarded by node x: filter FORWARD, then for a new
--- connection nat POSTROUTING (p.src rewritten, p.nat says by what). true, or false and why.
local function forward(st, x, p)
   local v, r = M.iptables_verdict(st, "filter", "FORWARD", p)
   if v == false then return false, ("%s: %s"):format(x, r) end
   if v ~= "ACCEPT" then
      return false, ("%s: %s by iptables filter FORWARD: %s"):format(x, v == "REJECT" and "rejected" or "dropped",
         r and r.line or "the chain's policy DROP")
   end
   if p.state ~= "NEW" then return true end
   v, r = M.iptables_verdict(st, "nat", "POSTROUTING", p)
   if v == false then return false, ("%s: %s"):format(x, r) end
   if v == "MASQUERADE" or v == "SNAT" then
      local to = v == "SNAT" and r.to or masq_address(st, p.out)
      if not to then return false, ("%s: %s finds no address: %s"):format(x, v, r.line) end
      p.nat = ("%s: source %s rewritten to %s by iptables nat %s"):format(x, p.src, to, r.line)
      p.src = to
   end
   return true
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

--- One direction: from node x (the packet p {src, in, state} already on x's host) to the pod
--- {ip, node, calico}. Returns true and the hops, or false and why (one line), and the hops.
local function deliver(net, x, dst, p)
   local states = net.states
   local hops = {}
   p.dst = dst.ip
   for _ = 1, MAX_HOPS do
      local st = states[x]
      if not st then return false, ("node %s has no host"):format(x), hops end
      local r = M.route(st, dst.ip)
      local l = r and link(st, r.dev)
      if x == dst.node and (not r or r.dst == "default" or not (l and l.kind == "vxlan")) then
         local ok, why
         if l and (l.kind == "bridge" or l.kind == "veth") and r.dst ~= "default" then
            if not l.up then return false, ("%s: %s is down"):format(x, l.name), hops end
            p.out = l.name
            ok, why = forward(st, x, p)
            if not ok then return false, why, hops end
            hops[#hops + 1] = ("%s: %s via %s"):format(x, dst.ip, l.name)
            return true, nil, hops
         end
         if dst.calico then
            p.out = r and r.dst ~= "default" and r.dev or "cali+" -- (its cali device)
            ok, why = forward(st, x, p)
            if not ok then return false, why, hops end
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
      p.out = l.name
      local ok, why = forward(st, x, p)
      if not ok then return false, why, hops end
      hops[#hops + 1] = ("%s: %s via %s to %s (%s, %s)"):format(x, dst.ip, l.name, y, f.dst, rx.name)
      p["in"] = rx.name
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
---@return string|nil seen the source address b sees when it is not a's, and what rewrote it
function M.reach(net, a, b)
   local function from(node, pod) -- the device a pod's packets enter its node's host by
      local r = net.states[node] and M.route(net.states[node], pod.ip)
      return r and r.dst ~= "default" and r.dev or "cali+"
   end
   local p = { src = a.ip, ["in"] = from(a.node, a), state = "NEW" }
   local ok, why, there = deliver(net, a.node, b, p)
   if not ok then return false, why, there end
   local seen = p.nat
   local back, why2, hops2 = deliver(net, b.node, a, { src = b.ip, ["in"] = from(b.node, b), state = "ESTABLISHED" })
   for _, h in ipairs(hops2) do there[#there + 1] = h end
   if not back then return false, "reply: " .. why2, there end
   return true, nil, there, seen
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
      states[n.metadata.name] = h and M.view(h) or false
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
         local ok, why, _, seen = M.reach(net, a, b)
         lines[#lines + 1] = ("%s (%s) -> %s (%s on %s): %s"):format(a.name, a.ip, b.name, b.ip, b.node,
            not ok and ("unreachable: " .. why) or seen and ("ok, but it sees another source (" .. seen .. ")") or "ok")
      end
   end
   table.sort(lines)
   return lines
end

return M
