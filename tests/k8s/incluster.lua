-- cm.k8s in a pod: KUBERNETES_SERVICE_HOST/PORT and the service-account directory
-- (arg[1]), its token replaced mid-run as the kubelet does.
local k8s = require "cm.k8s"
local kt = require "kt"
local t = require "t"

local sa = assert(arg[1], "usage: incluster.lua SA_DIR")
kt.control { tokens = { "sa-1" } }
local c = assert(k8s.client { serviceaccount_dir = sa })
local info = c:info()
t.eq(info.inCluster, true)
t.eq(info.namespace, "kube-system", "the namespace file")
t.eq(info.server, "https://127.0.0.1:" .. os.getenv("KUBERNETES_SERVICE_PORT"))
t.eq(info.source, "in-cluster")
local NODE = { apiVersion = "v1", kind = "Node", name = "absent" }
local _, _, reason = c:get(NODE)
t.eq(reason, "NotFound", "authenticated with the first token (CA from the directory)")

-- the kubelet writes a new token and swaps it in; the old one stops working
local f = assert(io.open(sa .. "/token.new", "w"))
f:write("sa-2\n")
f:close()
assert(os.rename(sa .. "/token.new", sa .. "/token"))
kt.control { tokens = { "sa-2" } }
kt.reset()
_, _, reason = c:get(NODE)
t.eq(reason, "NotFound", "the new token after a 401")
local reqs = kt.requests()
t.eq(reqs[#reqs].headers.authorization, { "Bearer sa-2" })
t.eq(k8s.client { serviceaccount_dir = sa, namespace = "ns9" }:info().namespace, "ns9", "--namespace wins")
t.done()
