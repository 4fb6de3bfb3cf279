-- Run by test_cleanup_diff.sh as `unshare -n cni-migrate run --fake flannel-3node.yaml THIS BIN DIR`:
-- worker-1's simulated host (what flanneld programs there) is copied onto the real network
-- namespace with cm.netlink and cm.iptables (the run's own host is the real one), then
-- flannel-cleanup runs on both: in the simulation through a node-run pod, for real through
-- `cni-migrate node-run`. Both must find and remove the same things.
local fake = require "cm.fake"
local iptables = require "cm.iptables"
local json = require "cm.json"
local k8s = require "cm.k8s"
local netlink = require "cm.netlink"
local time = require "cm.time"

local bin, dir = ...
local node = "worker-1"
local host
for _ = 1, 120 do
   host = fake.host(node)
   if host and host:link("flannel.1") then break end
   time.sleep(1)
end
local st = host:json()

local function must(ok, err, code)
   if not ok then error(("%s (%s)"):format(err, code), 0) end
   return ok
end
-- the simulated host onto the real namespace
for _, l in ipairs(st.links) do
   if l.kind == "device" then
      must(netlink.link_add { name = l.name, kind = "veth", peer = l.name .. "-p", mtu = l.mtu, mac = l.mac })
   elseif l.kind ~= "loopback" then
      must(netlink.link_add { name = l.name, kind = l.kind, mtu = l.mtu, mac = l.mac, vxlan = l.vxlan })
   end
   if l.kind ~= "loopback" and l.up then must(netlink.link_set(l.name, { up = true })) end
end
for _, a in ipairs(st.addresses) do
   if a.dev ~= "lo" then must(netlink.addr_add(a.dev, a.address)) end
end
for _, r in ipairs(st.routes) do
   if r.protocol ~= "kernel" then must(netlink.route_replace(r)) end
end
for _, n in ipairs(st.neighbours) do must(netlink.neigh_replace(n)) end
for _, f in ipairs(st.fdb) do must(netlink.fdb_replace(f)) end
must(iptables.restore("ipv4", "nft", host:iptables_save("ipv4", "nft")))
local cni_dir = dir .. "/net.d"
os.execute("mkdir -p " .. cni_dir)
for path, text in pairs(st.files) do
   if path:match("^/etc/cni/net%.d/") then
      local f = assert(io.open(cni_dir .. "/" .. path:match("[^/]+$"), "w"))
      f:write(text)
      f:close()
   end
end

-- flannel-cleanup, for real
local p = assert(io.popen(("%s node-run flannel-cleanup --args '%s'"):format(bin,
   json.encode { cni_dir = cni_dir, backup_dir = dir .. "/backup" })))
local real = assert(json.decode(p:read("a")))
p:close()

-- and in the simulation
local c = k8s.client()
assert(c:create({ apiVersion = "v1", kind = "Pod", metadata = { name = "cleanup", namespace = "kube-system" },
   spec = { nodeName = node, hostNetwork = true, restartPolicy = "Never",
      containers = { { name = "run", image = "cni-migrate", command = { "cni-migrate", "node-run", "flannel-cleanup" } } } } }))
local sim
for _ = 1, 120 do
   local pod = assert(c:get { apiVersion = "v1", kind = "Pod", namespace = "kube-system", name = "cleanup" })
   local t = pod.status and pod.status.containerStatuses and pod.status.containerStatuses[1].state.terminated
   if t then sim = assert(json.decode(t.message)) break end
   time.sleep(1)
end
assert(sim, "the simulated pod did not end")

local function summary(r)
   local chains = {}
   for _, x in ipairs(r.iptables.removed) do chains[#chains + 1] = (x.chain or x.rule) .. "@" .. x.table end
   table.sort(chains)
   local cni = {}
   for _, x in ipairs(r.cni.removed) do cni[#cni + 1] = x.path:match("[^/]+$") end
   return ("ok=%s placeholder=%s links=%s absent=%s iptables=%s cni=%s"):format(tostring(r.ok),
      tostring(r.placeholder.written), table.concat(r.links.removed, ","), table.concat(r.links.absent, ","),
      table.concat(chains, ","), table.concat(cni, ","))
end
local function state(links, routes)
   local l, r = {}, {}
   for _, x in ipairs(links) do if not x.name:match("%-p$") then l[#l + 1] = x.name end end
   for _, x in ipairs(routes) do
      if (x.family or "inet") == "inet" and (x.table or "main") == "main" then r[#r + 1] = x.dst .. " " .. (x.dev or "") end
   end
   table.sort(l)
   table.sort(r)
   return "links " .. table.concat(l, ",") .. " routes " .. table.concat(r, ",")
end
local after = fake.host(node):json()
print("real after      " .. state(assert(netlink.links()), assert(netlink.routes())))
print("simulated after " .. state(after.links, after.routes))
assert(state(assert(netlink.links()), assert(netlink.routes())) == state(after.links, after.routes), "hosts differ after")
local a, b = summary(real), summary(sim)
print("real      " .. a)
print("simulated " .. b)
print(a == b and "cleanup agrees" or "cleanup differs")
