-- The kubeconfig's oidc auth-provider against tests/k8s/apiserver.py and its issuer (/idp):
-- oidc.lua refresh|valid|norefresh NEW_TOKEN (see tests/cli/test_k8s_oidc.sh).
local k8s = require "cm.k8s"
local kt = require "kt"
local t = require "t"

local mode, new = arg[1], arg[2]
local NODES = { apiVersion = "v1", kind = "Node" }
kt.reset()
local c = assert(k8s.client())
local list, msg = c:list(NODES)
local reqs = kt.requests()
local function find(path)
   for _, r in ipairs(reqs) do if r.path == path then return r end end
end
if mode == "norefresh" then
   t.eq(list, nil, "no answer without a valid id-token")
   t.eq(msg, "No valid id-token, and cannot refresh without refresh-token")
   t.eq(#reqs, 0, "nothing sent")
   return t.done()
end
t.eq(msg, nil, "the list with the id-token")
t.eq(find("/api/v1/nodes").headers.authorization, { "Bearer " .. new }, "the id-token as the bearer token")
if mode == "valid" then
   t.eq(find("/idp/token"), nil, "a valid id-token is not refreshed")
   return t.done()
end
t.eq(find("/idp/.well-known/openid-configuration").method, "GET", "the token endpoint by discovery")
local grant = find("/idp/token")
t.eq(grant.method, "POST", "the refresh grant")
t.eq(grant.body, "grant_type=refresh_token&refresh_token=rt1")
t.eq(grant.headers["content-type"], { "application/x-www-form-urlencoded" })
-- client-id:client-secret ("cid" and "se/cret", form-escaped) in a Basic header
t.eq(grant.headers.authorization, { "Basic Y2lkOnNlJTJGY3JldA==" }, "the client's credentials")
-- a second client of the run uses the refreshed token without asking again
kt.reset()
assert(assert(k8s.client()):list(NODES))
reqs = kt.requests()
t.eq(find("/idp/token"), nil, "no second refresh")
t.done()
