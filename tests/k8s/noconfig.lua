-- Without a kubeconfig and outside a cluster, k8s.client() says so.
local k8s = require "cm.k8s"
local t = require "t"
local c, msg, code = k8s.client()
t.eq(c, nil)
t.eq(code, "NoConfig")
t.match(msg, "KUBERNETES_SERVICE_HOST")
c, msg, code = k8s.client { kubeconfig = "/nonexistent/kubeconfig" }
t.eq({ c, code }, { nil, "ENOENT" }, "an explicit kubeconfig must exist")
t.match(msg, "/nonexistent/kubeconfig")
t.done()
