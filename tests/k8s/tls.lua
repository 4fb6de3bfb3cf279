-- cm.k8s over TLS and every kind of credential (see tests/cli/test_k8s_tls.sh for the kubeconfig).
local json = require "cm.json"
local k8s = require "cm.k8s"
local kt = require "kt"
local t = require "t"
local time = require "cm.time"

local conf = assert(arg[1], "usage: tls.lua CONF_DIR")
local NODE = { apiVersion = "v1", kind = "Node", name = "n1" }

--- A client for context ctx, and the answer to GET node n1 (created on first use).
local function try(ctx)
   local c = assert(k8s.client { context = ctx })
   local n, msg, reason = c:get(NODE)
   if reason == "NotFound" then
      n, msg, reason = c:create { apiVersion = "v1", kind = "Node", metadata = { name = "n1" } }
   end
   return c, n, msg, reason
end

local function file(name)
   local f = io.open(conf .. "/" .. name)
   if not f then return nil end
   local s = f:read("a")
   f:close()
   return s
end

local function put(name, text)
   local f = assert(io.open(conf .. "/" .. name, "w"))
   f:write(text)
   f:close()
end

-- the server's CA from a file (relative path) and from data; the wrong CA is refused
kt.control { tokens = { "tok" } }
local c, n, msg, reason = try("token")
t.eq({ msg, reason }, { nil, nil }, "CA from a relative path")
t.eq(n.metadata.name, "n1")
t.eq(c:info().context, "token")
c, n, msg, reason = try("data")
t.eq({ n and n.metadata.name, reason }, { "n1", nil }, "CA from data")
c, n, msg, reason = try("wrong-ca")
t.eq({ n, reason }, { nil, "TLS" }, "a server certificate from another CA")
t.match(msg, "certificate")
c, n, msg, reason = try("insecure")
t.eq({ n and n.metadata.name, reason }, { "n1", nil }, "insecure-skip-tls-verify")
c, n, msg, reason = try("sni")
t.eq({ n and n.metadata.name, reason }, { "n1", nil }, "tls-server-name the certificate names")
c, n, msg, reason = try("sni-wrong")
t.eq({ n, reason }, { nil, "TLS" }, "tls-server-name the certificate does not name")
t.match(msg, "wrong%.example")

-- client certificates (files and data) authenticate without a token
kt.control { tokens = { "nobody" } }
c, n, msg, reason = try("cert-files")
t.eq({ n and n.metadata.name, reason }, { "n1", nil }, "client certificate from files")
c, n, msg, reason = try("cert-data")
t.eq({ n and n.metadata.name, reason }, { "n1", nil }, "client certificate from data")
c, n, msg, reason = try("token")
t.eq({ n, reason }, { nil, "Unauthorized" }, "a token the server does not know")

-- basic auth and tokenFile (re-read on a 401)
kt.control { tokens = { "admin:secret" } }
c, n, msg, reason = try("basic")
t.eq({ n and n.metadata.name, reason }, { "n1", nil }, "basic auth")
kt.control { tokens = { "file-token" } }
c, n, msg, reason = try("token-file")
t.eq({ n and n.metadata.name, reason }, { "n1", nil }, "tokenFile")
put("token", "file-token-2\n")
kt.control { tokens = { "file-token-2" } }
n, msg, reason = c:get(NODE)
t.eq({ n and n.metadata.name, reason }, { "n1", nil }, "tokenFile re-read after a 401")

-- exec plugin: run once, cached, run again on a 401 and when the credential expires
os.remove(conf .. "/exec-count")
put("exec-expiry", "")
kt.control { tokens = { "exec-1" } }
c, n, msg, reason = try("exec")
t.eq({ n and n.metadata.name, reason }, { "n1", nil }, "exec credential")
assert(c:get(NODE))
t.eq(file("exec-count"), "1\n", "the credential is cached")
local info = json.decode(file("exec-info"))
t.eq(info.apiVersion, "client.authentication.k8s.io/v1")
t.eq(info.kind, "ExecCredential")
t.eq(info.spec.interactive, false)
t.eq(info.spec.cluster.server, c:info().server, "provideClusterInfo")
t.eq(type(info.spec.cluster["certificate-authority-data"]), "string")
t.eq(file("exec-env"), "hello", "the plugin's env")
kt.control { tokens = { "exec-2" } }
kt.reset()
assert(c:get(NODE))
t.eq(file("exec-count"), "2\n", "run again after a 401")
local reqs = kt.requests()
t.eq(#reqs, 2, "the 401, then the retry")
t.eq(reqs[1].headers.authorization, { "Bearer exec-1" })
t.eq(reqs[2].headers.authorization, { "Bearer exec-2" })
put("exec-expiry", time.rfc3339(time.wall() + 1.5))
kt.control { tokens = { "exec-3" } }
assert(c:get(NODE))
t.eq(file("exec-count"), "3\n")
kt.control { tokens = { "exec-3", "exec-4" } }
assert(c:get(NODE))
t.eq(file("exec-count"), "3\n", "valid until its expirationTimestamp")
time.sleep(1.6)
kt.reset()
assert(c:get(NODE))
t.eq(file("exec-count"), "4\n", "run again once expired")
t.eq(kt.requests()[1].headers.authorization, { "Bearer exec-4" }, "without a 401 first")

put("exec-expiry", "")
kt.control { tokens = { "exec-5" } }
c, n, msg, reason = try("exec-beta")

t.eq({ n and n.metadata.name, reason }, { "n1", nil }, "exec credential v1beta1")
t.eq(json.decode(file("exec-info")).apiVersion, "client.authentication.k8s.io/v1beta1")
c, n, msg, reason = try("exec-broken")
t.eq({ n, reason }, { nil, "AuthFailed" }, "a plugin that fails")
t.match(msg, "exec plugin false failed")
t.done()
