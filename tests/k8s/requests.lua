-- cm.k8s requests against tests/k8s/apiserver.py over HTTP with token auth:
-- what the client sends, the error values, retries, paging, dry run, rate limit.
local k8s = require "cm.k8s"
local kt = require "kt"
local t = require "t"
local time = require "cm.time"

kt.control { tokens = { "tok" } }
local c = assert(k8s.client())
t.eq(c:info().namespace, "ns1", "namespace from the context")
t.eq(c:info().context, "t")
t.eq(c:info().inCluster, false)

local NODE = { apiVersion = "v1", kind = "Node" }
local function node(name) return { apiVersion = "v1", kind = "Node", name = name } end

-- create, get, the headers every request carries, one connection for all
kt.reset()
local n, msg, reason = c:create { apiVersion = "v1", kind = "Node", metadata = { name = "w1" } }
t.eq(msg, nil, "create")
t.eq(n.metadata.name, "w1")
local got = assert(c:get(node "w1"))
t.eq(got.metadata.uid, n.metadata.uid)
local reqs = kt.requests()
t.eq(#reqs, 3, "discovery, create, get")
t.eq(reqs[1].path, "/api/v1")
t.eq(reqs[2].path, "/api/v1/nodes")
t.eq(reqs[2].headers["content-type"], { "application/json" })
for _, r in ipairs(reqs) do
   t.eq(r.peer, reqs[1].peer, "one connection (keep-alive)")
   t.eq(r.headers.authorization, { "Bearer tok" })
   t.match(r.headers["user-agent"][1], "^cni%-migrate/%d+%.%d+%.%d+ %(linux/[%w_]+%)$")
   t.match(r.headers["accept-encoding"][1], "gzip")
end

-- errors: exactly nil, message, code (the Status reason)
t.eq(table.pack(c:get(node "nope")), { n = 3, nil, 'nodes "nope" not found', "NotFound" }, "three values, no more")
n, msg, reason = c:create { apiVersion = "v1", kind = "Node", metadata = { name = "w1" } }
t.eq({ n, msg, reason }, { nil, 'nodes "w1" already exists', "AlreadyExists" })
n, msg, reason = c:get { apiVersion = "v1", kind = "Gadget", name = "x" }
t.eq({ n, reason }, { nil, "NotFound" }, "a kind the server does not serve")
t.match(msg, "no kind Gadget in v1")
n, msg, reason = c:get { apiVersion = "example.com/v1", kind = "Gadget", name = "x" }
t.eq({ n, reason }, { nil, "NotFound" }, "a group the server does not serve")
t.raises("a ref needs apiVersion and kind", c.get, c, { name = "x" })
t.raises("a ref needs a name", c.get, c, NODE)
t.raises("unknown patch type 'yaml'", c.patch, c, node "w1", {}, { type = "yaml" })

-- update with resourceVersion: a stale one is a Conflict
local fresh = assert(c:get(node "w1"))
fresh.metadata.labels = { a = "1" }
local updated = assert(c:update(fresh))
t.eq(updated.metadata.labels.a, "1")
fresh.metadata.labels = { a = "2" } -- fresh still carries the old resourceVersion
n, msg, reason = c:update(fresh)
t.eq({ n, reason }, { nil, "Conflict" })

-- each patch type: exactly one Content-Type
kt.reset()
assert(c:patch(node "w1", { spec = { unschedulable = true } }, { type = "strategic" }))
assert(c:patch(node "w1", { metadata = { labels = { b = "2" } } }, { type = "merge" }))
assert(c:patch(node "w1", { { op = "replace", path = "/metadata/labels/b", value = "3" } }, { type = "json" }))
local applied = assert(c:patch(node "w1", { apiVersion = "v1", kind = "Node", metadata = { name = "w1",
   annotations = { x = "y" } } }, { type = "apply", force = true }))
assert(c:patch(node "w1", { metadata = { labels = { c = "4" } } })) -- merge by default
t.eq(applied.metadata.annotations.x, "y")
t.eq(applied.metadata.labels.b, "3")
t.eq(applied.spec.unschedulable, true)
reqs = kt.requests()
local types = {}
for i, r in ipairs(reqs) do
   t.eq(r.method, "PATCH")
   t.eq(#r.headers["content-type"], 1, "one Content-Type on patch " .. i)
   types[i] = r.headers["content-type"][1]
end
t.eq(types, { "application/strategic-merge-patch+json", "application/merge-patch+json",
   "application/json-patch+json", "application/apply-patch+yaml", "application/merge-patch+json" })
t.eq(kt.query(reqs[4], "fieldManager"), "cni-migrate")
t.eq(kt.query(reqs[4], "force"), "true")
t.eq(reqs[1].body, '{"spec":{"unschedulable":true}}', "the cordon patch, as kubectl sends it")

-- namespaced objects: the context's namespace by default, list across namespaces
for i = 1, 5 do
   assert(c:create { apiVersion = "v1", kind = "Pod", metadata = { name = "p" .. i, labels = { app = "x" } },
      spec = { nodeName = i <= 3 and "w1" or "w2" } })
end
assert(c:create { apiVersion = "v1", kind = "Pod", metadata = { name = "p1", namespace = "other",
   labels = { app = "x" } }, spec = { nodeName = "w1" } })
t.eq(c:get { apiVersion = "v1", kind = "Pod", name = "p1" }.metadata.namespace, "ns1")
kt.reset()
local pods = assert(c:list { apiVersion = "v1", kind = "Pod", fieldSelector = "spec.nodeName=w1" })
t.eq(#pods.items, 4, "pods on w1 in every namespace")
reqs = kt.requests()
t.eq(reqs[1].path, "/api/v1/pods")
t.eq(kt.query(reqs[1], "fieldSelector"), "spec.nodeName=w1")
t.eq(kt.query(reqs[1], "limit"), "500")
pods = assert(c:list { apiVersion = "v1", kind = "Pod", namespace = "ns1", labelSelector = "app=x", limit = 2 })
t.eq(#pods.items, 5, "three pages joined")
t.eq(pods.metadata.continue, nil)

-- pages: one page at a time
local sizes = {}
for page in c:pages { apiVersion = "v1", kind = "Pod", namespace = "ns1", limit = 2 } do
   sizes[#sizes + 1] = #page.items
end
t.eq(sizes, { 2, 2, 1 })

-- pages: a failure of the world is one false, message, code step, then the loop ends
local steps = {}
for page, msg2, code in c:pages { apiVersion = "v1", kind = "Gadget" } do
   steps[#steps + 1] = { page, msg2 and msg2:match("no kind Gadget") ~= nil, code }
end
t.eq(steps, { { false, true, "NotFound" } }, "a kind the server does not serve")
steps = {}
for page, _, code in c:pages { apiVersion = "v1", kind = "Pod", namespace = "ns1", limit = 2 } do
   steps[#steps + 1] = page and #page.items or code
   kt.control { tokens = { "someone-else" } } -- the next page is refused
end
kt.control { tokens = { "tok" } }
t.eq(steps, { 2, "Unauthorized" }, "a page refused in the middle: the pages before it, then the failure")

-- an expired continue token: list starts again; pages starts again and says so
kt.control { tokens = { "tok" }, expire_continue = true }
kt.reset()
pods = assert(c:list { apiVersion = "v1", kind = "Pod", namespace = "ns1", labelSelector = "app=x", limit = 2 })
t.eq(#pods.items, 5, "list after an expired continue token")
reqs = kt.requests()
t.eq(#reqs, 5, "page 1, page 2 (410), then pages 1-3 again")
t.eq(kt.query(reqs[3], "continue"), nil, "restarted from the beginning")
sizes = {}
local restarts = {}
for page, restarted in c:pages { apiVersion = "v1", kind = "Pod", namespace = "ns1", labelSelector = "app", limit = 4 } do
   sizes[#sizes + 1] = #page.items
   restarts[#restarts + 1] = restarted
end
t.eq(sizes, { 4, 4, 1 })
t.eq(restarts, { false, true, false })
kt.control { tokens = { "tok" } }

-- a connection reset in the middle of a list: the read is retried
for i = 1, 5 do
   assert(c:create { apiVersion = "v1", kind = "Pod", metadata = { name = "r" .. i, labels = { fault = "reset" } } })
end
kt.reset()
pods = assert(c:list { apiVersion = "v1", kind = "Pod", labelSelector = "fault=reset", limit = 2 })
t.eq(#pods.items, 5, "every pod despite the reset")
reqs = kt.requests()
t.eq(#reqs, 4, "page 2 asked twice")
t.eq(kt.query(reqs[2], "continue"), kt.query(reqs[3], "continue"))

-- 429 and 5xx: retried when the server says when, not otherwise
kt.reset()
local t0 = time.now()
t.eq(c:get(node "limited"), nil, "limited does not exist, but the 404 comes after the retry")
t.eq(time.now() - t0 >= 0.9, true, "waited for Retry-After")
n, msg, reason = c:get(node "limited-bare")
t.eq({ n, reason }, { nil, "TooManyRequests" })
n, msg, reason = c:get(node "flaky")
t.eq({ n, reason }, { nil, "NotFound" }, "500 with Retry-After, then the real answer")
n, msg, reason = c:get(node "broken")
t.eq({ n, msg, reason }, { nil, "always broken", "InternalError" })
reqs = kt.requests()
t.eq(#reqs, 6, "limited twice, limited-bare once, flaky twice, broken once")

-- a gzip-encoded answer is decoded
t.eq(assert(c:get(node "gzipped")).metadata.name, "gzipped")

-- Warning headers: logged once each (the log lines are checked by the shell test)
assert(c:get(node "warned"))
assert(c:get(node "warned"))

-- delete with preconditions and propagation policy
local p2 = assert(c:get { apiVersion = "v1", kind = "Pod", name = "p2" })
n, msg, reason = c:delete({ apiVersion = "v1", kind = "Pod", name = "p2" }, { preconditions = { uid = "wrong" } })
t.eq({ n, reason }, { nil, "Conflict" })
kt.reset()
assert(c:delete({ apiVersion = "v1", kind = "Pod", name = "p2" },
   { gracePeriodSeconds = 0, propagationPolicy = "Background", preconditions = { uid = p2.metadata.uid } }))
reqs = kt.requests()
t.eq(reqs[1].method, "DELETE")
t.eq(reqs[1].body, ('{"gracePeriodSeconds":0,"propagationPolicy":"Background","preconditions":{"uid":"%s"}}')
   :format(p2.metadata.uid))
t.eq(select(3, c:get { apiVersion = "v1", kind = "Pod", name = "p2" }), "NotFound")

-- eviction (policy/v1 from discovery) and logs
kt.reset()
local st = assert(c:evict({ name = "p3" }, { gracePeriodSeconds = 30 }))
t.eq(st.status, "Success")
reqs = kt.requests()
t.eq(reqs[1].path, "/api/v1/namespaces/ns1/pods/p3/eviction")
t.eq(reqs[1].body, '{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"p3","namespace":"ns1"},'
   .. '"deleteOptions":{"gracePeriodSeconds":30}}')
t.eq(select(3, c:evict { name = "p3" }), "NotFound")
t.eq(c:logs { name = "p4", container = "main", tailLines = 10 }, "line 1\nline 2\n")
t.eq(kt.query(kt.requests()[#kt.requests()], "tailLines"), "10")
assert(c:create { apiVersion = "v1", kind = "Pod", metadata = { name = "jsonlog" } })
t.eq(c:logs { name = "jsonlog" }, '{"looks": "like JSON"}\n', "a log line that is JSON stays text")
local STATUS = { apiVersion = "v1", kind = "Pod", name = "p4", subresource = "status" }
kt.reset()
local ps = assert(c:patch(STATUS, { status = { phase = "Running" } }))
t.eq(ps.status.phase, "Running")
ps.status.phase = "Succeeded"
ps = assert(c:update(ps, { subresource = "status" }))
t.eq(c:get(STATUS).status.phase, "Succeeded")
reqs = kt.requests()
t.eq({ reqs[1].method, reqs[1].path }, { "PATCH", "/api/v1/namespaces/ns1/pods/p4/status" })
t.eq({ reqs[2].method, reqs[2].path }, { "PUT", "/api/v1/namespaces/ns1/pods/p4/status" })

-- server dry run: dryRun=All on every write, nothing changes
local dry = assert(k8s.client { dry_run = true })
kt.reset()
assert(dry:create { apiVersion = "v1", kind = "Node", metadata = { name = "dry" } })
assert(dry:patch(node "w1", { metadata = { labels = { dry = "yes" } } }))
assert(dry:delete(node "w1"))
assert(dry:evict { name = "p4" })
assert(dry:get(node "w1"))
reqs = kt.requests()
t.eq(#reqs, 5, "no discovery: the run's clients share its cache")
for _, r in ipairs(reqs) do
   if r.method ~= "GET" then t.eq(kt.query(r, "dryRun"), "All", r.method .. " " .. r.path) end
   if r.method == "GET" then t.eq(kt.query(r, "dryRun"), nil, "reads stay plain") end
end
t.match(reqs[#reqs - 1].body, '"deleteOptions":{"dryRun":%["All"%]}')
t.eq(select(3, c:get(node "dry")), "NotFound", "dry run created nothing")
t.eq(c:get(node "w1").metadata.labels.dry, nil, "dry run patched nothing")
assert(c:get { apiVersion = "v1", kind = "Pod", name = "p4" }, "dry run evicted nothing")

-- client-side rate limit: burst 1 at 10/s makes 5 requests take >= 0.4 s
local slow = assert(k8s.client { qps = 10, burst = 1 })
t0 = time.now()
for _ = 1, 5 do assert(slow:get(node "w1")) end
t.eq(time.now() - t0 >= 0.35, true, "rate limited: " .. (time.now() - t0))
slow:close()
t.raises("closed Kubernetes client", slow.get, slow, node "w1")
slow:close() -- idempotent

-- a request past the client's timeout
local hurried = assert(k8s.client { timeout = 0.5 })
t0 = time.now()
n, msg, reason = hurried:get(node "slow") -- the server answers after 2 s
t.eq({ n, reason }, { nil, "Timeout" })
t.eq(time.now() - t0 < 1.5, true, "gave up at the timeout")
hurried:close()

-- ConnectFailed: nothing listens there
local dead = assert(k8s.client { kubeconfig = kt.write("dead.yaml", [[
apiVersion: v1
kind: Config
current-context: d
clusters: [{name: d, cluster: {server: "http://127.0.0.1:1"}}]
contexts: [{name: d, context: {cluster: d}}]
]]) })
n, msg, reason = dead:get(node "w1")
t.eq({ n, reason }, { nil, "ConnectFailed" })
t.match(msg, "127%.0%.0%.1:1")

-- proxy-url: the test server is the proxy too, for a server name that does not resolve
local port = c:info().server:match(":(%d+)$")
local proxied = assert(k8s.client { kubeconfig = kt.write("proxied.yaml", ([[
apiVersion: v1
kind: Config
current-context: p
clusters: [{name: p, cluster: {server: "http://kubernetes.invalid:6443", proxy-url: "http://127.0.0.1:%s"}}]
users: [{name: u, user: {token: tok}}]
contexts: [{name: p, context: {cluster: p, user: u}}]
]]):format(port)) })
kt.reset()
assert(proxied:get(node "w1"))
reqs = kt.requests()
t.eq(reqs[#reqs].proxied, true, "sent through the proxy")

-- impersonation: as, as-uid, as-groups, as-user-extra become Impersonate-* headers
local imp = assert(k8s.client { kubeconfig = kt.write("imp.yaml", ([[
current-context: i
clusters: [{name: c, cluster: {server: "%s"}}]
users:
- name: u
  user: {token: tok, as: jane, as-uid: "1234", as-groups: [ops, "system:masters"],
         as-user-extra: {"scopes.example.com/x": [a, b]}}
contexts: [{name: i, context: {cluster: c, user: u}}]
]]):format(c:info().server)) })
kt.reset()
assert(imp:get(node "w1"))
local h = kt.requests()[1].headers
t.eq(h["impersonate-user"], { "jane" })
t.eq(h["impersonate-uid"], { "1234" })
t.eq(h["impersonate-group"], { "ops", "system:masters" })
t.eq(h["impersonate-extra-scopes.example.com%2fx"], { "a", "b" })
t.eq(h.authorization, { "Bearer tok" })
t.done()
