-- cm.k8s against the fake cluster: run twice by tests/cli/test_k8s_fake.sh, in process (--fake)
-- and over HTTPS (`fake serve --tls --token`, through the kubeconfig it writes). Same answers.
local json = require "cm.json"
local k8s = require "cm.k8s"
local t = require "t"
local task = require "cm.task"
local time = require "cm.time"

local c = assert(k8s.client())
local NODE = { apiVersion = "v1", kind = "Node" }
local function node(name) return { apiVersion = "v1", kind = "Node", name = name } end

io.stderr:write("step: lists\n")
-- list with selectors, and pages that never hold more than one page
local nodes = assert(c:list(NODE))
t.eq(#nodes.items, 10)
local workers = assert(c:list { apiVersion = "v1", kind = "Node", labelSelector = "!node-role.kubernetes.io/control-plane" })
t.eq(#workers.items, 9)
local on_w1 = assert(c:list { apiVersion = "v1", kind = "Pod", fieldSelector = "spec.nodeName=worker-1" })
t.eq(#on_w1.items > 0, true, "pods on worker-1")
local seen, pages = 0, 0
for page in c:pages { apiVersion = "v1", kind = "Pod", namespace = "apps", limit = 4 } do
   pages = pages + 1
   t.eq(#page.items <= 4, true, "a page holds at most the limit")
   seen = seen + #page.items
end
local all_apps = assert(c:list { apiVersion = "v1", kind = "Pod", namespace = "apps" })
t.eq(seen, #all_apps.items, "pages cover the list")
t.eq(pages >= 3, true, "several pages")

io.stderr:write("step: patches\n")
-- the three patch types, and errors as values
assert(c:patch(node("worker-1"), { metadata = { labels = { ["example.com/x"] = "y" } } }, { type = "merge" }))
assert(c:patch(node("worker-1"), { metadata = { labels = { ["example.com/z"] = "w" } } }, { type = "strategic" }))
assert(c:patch(node("worker-1"), { { op = "add", path = "/metadata/annotations/example.com~1a", value = "b" } },
   { type = "json" }))
local w1 = assert(c:get(node("worker-1")))
t.eq({ w1.metadata.labels["example.com/x"], w1.metadata.labels["example.com/z"], w1.metadata.annotations["example.com/a"] },
   { "y", "w", "b" })
local r, msg, reason = c:patch(node("worker-1"), { { op = "test", path = "/metadata/name", value = "other" } },
   { type = "json" })
t.eq({ r, reason }, { nil, "Invalid" })
-- as the API server answers a failed JSON patch (NewGenericServerResponse(422, ...)): a generic
-- message and no cause
t.eq(msg, "the server rejected our request due to an error in our request")
r, msg, reason = c:get(node("nope"))
t.eq({ r, msg, reason }, { nil, 'nodes "nope" not found', "NotFound" })

io.stderr:write("step: conflict\n")
-- optimistic concurrency: an update with a stale resourceVersion is a Conflict
local stale = assert(c:get(node("worker-2")))
assert(c:patch(node("worker-2"), { metadata = { labels = { bump = "1" } } }, { type = "merge" }))
stale.metadata.labels.bump = "2"
r, msg, reason = c:update(stale)
t.eq({ r, reason }, { nil, "Conflict" })
t.match(msg, "the object has been modified")

io.stderr:write("step: create\n")
-- create, AlreadyExists, delete with a uid precondition
local cm = { apiVersion = "v1", kind = "ConfigMap", metadata = { name = "probe", namespace = "default" },
   data = { a = "1" } }
local made = assert(c:create(cm))
r, msg, reason = c:create(cm)
t.eq({ r, reason }, { nil, "AlreadyExists" })
r, msg, reason = c:delete({ apiVersion = "v1", kind = "ConfigMap", namespace = "default", name = "probe" },
   { preconditions = { uid = "not-the-uid" } })
t.eq({ r, reason }, { nil, "Conflict" })
assert(c:delete({ apiVersion = "v1", kind = "ConfigMap", namespace = "default", name = "probe" },
   { preconditions = { uid = made.metadata.uid } }))

io.stderr:write("step: delete collection\n")
-- deletecollection: what the selectors match goes in one request, answered with its list; the rest stays
for i, l in ipairs { "x", "x", "y" } do
   assert(c:create { apiVersion = "v1", kind = "ConfigMap", metadata = { name = "dc-" .. i, namespace = "default",
      labels = { ["example.com/dc"] = l } } })
end
local gone = assert(c:delete_collection({ apiVersion = "v1", kind = "ConfigMap", namespace = "default",
   labelSelector = "example.com/dc=x" }, { gracePeriodSeconds = 0 }))
t.eq(gone.kind, "ConfigMapList")
local names = {}
for _, it in ipairs(gone.items) do names[#names + 1] = it.metadata.name end
table.sort(names)
t.eq(names, { "dc-1", "dc-2" }, "the deleted, as listed")
local left = assert(c:list { apiVersion = "v1", kind = "ConfigMap", namespace = "default", labelSelector = "example.com/dc" })
t.eq(#left.items, 1, "dc-3 stays")
t.eq(left.items[1].metadata.name, "dc-3")
gone = assert(c:delete_collection { apiVersion = "v1", kind = "Pod", namespace = "kube-system",
   labelSelector = "k8s-app=kube-dns", fieldSelector = "spec.nodeName=no-such-node" })
t.eq(#gone.items, 0, "both selectors apply")
t.raises("a labelSelector or a fieldSelector is needed", c.delete_collection, c,
   { apiVersion = "v1", kind = "ConfigMap", namespace = "default" })
t.raises("a collection's ref has no name", c.delete_collection, c,
   { apiVersion = "v1", kind = "ConfigMap", namespace = "default", name = "dc-3", labelSelector = "a=b" })
r, msg, reason = c:delete_collection { apiVersion = "v1", kind = "ConfigMap", labelSelector = "example.com/dc" }
t.eq({ r, reason }, { nil, "MethodNotAllowed" }, "no deletecollection across namespaces, as kube-apiserver")
assert(c:delete { apiVersion = "v1", kind = "ConfigMap", namespace = "default", name = "dc-3" })

io.stderr:write("step: evict\n")
-- eviction: a PDB that allows no disruption answers 429 with the DisruptionBudget cause
assert(c:patch({ apiVersion = "policy/v1", kind = "PodDisruptionBudget", namespace = "apps", name = "db" },
   { spec = { maxUnavailable = 0 } }, { type = "merge" }))
local db0 = { apiVersion = "v1", kind = "Pod", namespace = "apps", name = "db-0" }
local deadline = time.now() + 30
repeat -- the PDB's status follows its new spec once the disruption controller has seen it
   r, msg, reason = c:evict(db0)
   local budget = msg and msg:find("disruption budget", 1, true)
   if reason == "TooManyRequests" and not budget then time.sleep(1) end
until reason ~= "TooManyRequests" or budget or time.now() > deadline
t.eq({ r, reason }, { nil, "TooManyRequests" })
t.match(msg, "Cannot evict pod as it would violate the pod's disruption budget")

io.stderr:write("step: dry run\n")
-- dry run: the answer as if written, nothing stored
t.raises("unknown option 'dryRun'", k8s.client, { dryRun = true })
local dry = assert(k8s.client { dry_run = true })
assert(dry:patch(node("worker-3"), { metadata = { labels = { dry = "run" } } }, { type = "merge" }))
t.eq(assert(c:get(node("worker-3"))).metadata.labels.dry, nil, "dry run changed nothing")

io.stderr:write("step: watch\n")
-- watch: a task changes a node while the main thread watches
local rv = assert(c:get(node("worker-4"))).metadata.resourceVersion
local writer = task.spawn(function()
   time.sleep(0.2)
   return assert(c:patch(node("worker-4"), { metadata = { labels = { watched = "yes" } } }, { type = "merge" }))
end)
local got
t.raises("options are fields of the ref", c.watch, c, { apiVersion = "v1", kind = "Node" }, { timeout = 1 })
for ev in c:watch { apiVersion = "v1", kind = "Node", fieldSelector = "metadata.name=worker-4",
   resourceVersion = rv, timeout = 10 } do
   -- the change comes as MODIFIED, or inside a RELIST (the client's list after the server said
   -- the version had expired, as a real watch client must take it)
   local objects = ev.type == "RELIST" and ev.object.items or { ev.object }
   for _, o in ipairs(objects) do
      if o.metadata.name == "worker-4" and (o.metadata.labels or {}).watched == "yes" then got = o end
   end
   if got then break end
end
assert(writer:wait())
t.eq(got and got.metadata.name, "worker-4", "the watch saw the change")
t.eq(json.is_array(w1.status.conditions), true)
t.done()
