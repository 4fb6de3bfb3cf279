-- cm.metrics: the exposition text of counters, gauges and histograms, label escaping, misuse.
local metrics = require "cm.metrics"
local t = require "t"

metrics.counter("t_total", "A counter.")
metrics.gauge("t_nodes", "A gauge.")
metrics.histogram("t_seconds", "A histogram.", { 1, 0.5, 5 })
metrics.add("t_total", 2)
metrics.add("t_total", 1.5)
metrics.add("t_total", 1, { b = "2", a = 'say "hi"\\\n' })
metrics.set("t_nodes", 3, { state = "done" })
metrics.set("t_nodes", 1, { state = "done" })
for _, v in ipairs { 0.2, 0.5, 0.7, 3, 9 } do metrics.observe("t_seconds", v, { step = "drain" }) end
metrics.counter("t_total", "declared again: nothing happens")

local text = metrics.text()
local function has(line) t.match(text, "\n" .. line:gsub("[%%%[%]%(%)%.%+%-%*%?%^%$]", "%%%0") .. "\n", line) end
text = "\n" .. text
has("# HELP t_total A counter.")
has("# TYPE t_total counter")
has("t_total 3.5")
has('t_total{a="say \\"hi\\"\\\\\\n",b="2"} 1')
has("# TYPE t_nodes gauge")
has('t_nodes{state="done"} 1')
has("# TYPE t_seconds histogram")
has('t_seconds_bucket{step="drain",le="0.5"} 2')
has('t_seconds_bucket{step="drain",le="1"} 3')
has('t_seconds_bucket{step="drain",le="5"} 4')
has('t_seconds_bucket{step="drain",le="+Inf"} 5')
has('t_seconds_sum{step="drain"} 13.4')
has('t_seconds_count{step="drain"} 5')

t.raises("not declared", metrics.add, "t_nope", 1)
t.raises("not of a type", metrics.set, "t_total", 1)
t.raises("not of a type", metrics.observe, "t_nodes", 1)
t.raises("another type", metrics.gauge, "t_total", "x")
t.raises("port from 0 to 65535", metrics.serve, 70000)
t.done()
