-- A node's simulated host held by a script while its Node is deleted (issue 9: the handle used
-- to point at the host the simulation freed). Run by tests/cli/test_fake_host_gone.sh with --fake.
local fake = require "cm.fake"
local k8s = require "cm.k8s"
local t = require "t"
local time = require "cm.time"
local c = assert(k8s.client())
local NODE = { apiVersion = "v1", kind = "Node", name = "worker-2" }

t.eq(table.pack(fake.host("no-such-node")), { n = 3, nil, "no simulated host for node 'no-such-node' (no such Node)",
   "NotFound" }, "absent: nil, message, code")
time.sleep(1) -- the simulation's first turn starts the pods found running (flanneld programs the host)
local h = assert(fake.host("worker-2"))
local node = assert(c:get(NODE))
t.eq(h:json() ~= nil, true, "the live host reads")
t.eq(table.pack(h:link("no-such-link")), { n = 3, nil, "link no-such-link: No such device", "ENODEV" })
t.eq(assert(h:write("/tmp/mark", "before")), true)

assert(c:delete(NODE))
time.sleep(5) -- the node controller lets the host go
t.eq(assert(c:get { apiVersion = "v1", kind = "Node", name = "worker-1" }).metadata.name, "worker-1")
t.eq(select(3, c:get(NODE)), "NotFound", "the Node is gone")
t.raises("the host of node 'worker%-2' is gone", h.json, h)
t.raises("the host of node 'worker%-2' is gone", h.read, h, "/tmp/mark")
t.raises("the host of node 'worker%-2' is gone", h.link_add, h, { name = "x", kind = "bridge" })
t.eq(select(3, fake.host("worker-2")), "NotFound", "no host for a deleted Node")

-- the Node comes back: the same handle finds the new node's host (a fresh one: no mark)
node.metadata.resourceVersion, node.metadata.uid, node.metadata.creationTimestamp = nil, nil, nil
assert(c:create(node))
time.sleep(5)
t.eq(select(3, h:read("/tmp/mark")), "ENOENT", "a new host, not the freed one")
h:close()
h:close() -- idempotent
t.raises("closed host", h.json, h)
t.done()
