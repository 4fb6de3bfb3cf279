-- A watch's streams in the API metrics (cm.metrics, counted by the C client), over `fake serve`
-- answering the first two watch requests 500 with Retry-After 1: serves the metrics (the line
-- "Prometheus metrics on http://0.0.0.0:PORT/metrics", as a run prints it), watches the ConfigMaps
-- of kube-system for 5 s (discovery, the list that gives "now", two streams refused and retried,
-- one stream the watch closes at its deadline), then stays 2 s for the last scrapes.
--   cni-migrate run watch_metrics.lua   (KUBECONFIG: fake serve's)
local k8s = require "cm.k8s"
local metrics = require "cm.metrics"
local time = require "cm.time"

local c = assert(k8s.client())
print(("Prometheus metrics on http://0.0.0.0:%d/metrics"):format(assert(metrics.serve(0))))
io.stdout:flush()
local w = c:watch { apiVersion = "v1", kind = "ConfigMap", namespace = "kube-system", timeout = 5 }
for _ in w do end
w:close()
print("watched")
io.stdout:flush()
time.sleep(2)
