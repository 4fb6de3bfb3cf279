-- The runtime's modules from a script: every bundled module loads, cm.time, cm.log.
local json = require "cm.json"
local log = require "cm.log"
local t = require "t"
local time = require "cm.time"

-- every module in package.preload (C modules and bundled lua/cm/*.lua) loads
local names = {}
for name in pairs(package.preload) do names[#names + 1] = name end
table.sort(names)
for _, name in ipairs(names) do
   local ok, mod = pcall(require, name)
   t.eq(ok, true, "require " .. name)
   t.eq(type(mod), "table", "module " .. name)
end
for _, want in ipairs { "cm.json", "cm.yaml", "cm.log", "cm.time", "cm.flannel" } do
   t.eq(package.preload[want] ~= nil, true, want .. " is preloaded")
end

-- tracebacks of bundled modules point at lua/...
local flannel = require "cm.flannel"
t.match(debug.getinfo(flannel.parse_net_conf, "S").source, "^@lua/cm/flannel%.lua$")

-- cm.time: the run's monotonic clock, sleeping through the loop
local t0 = time.now()
time.sleep(0.05)
local slept = time.now() - t0
t.eq(slept >= 0.05, true, "slept at least what was asked: " .. slept)
t.eq(math.abs(time.wall() - os.time()) < 5, true, "wall clock")
t.match(time.rfc3339(), "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$")
t.eq(time.rfc3339(1796448800.5), "2026-12-05T05:33:20.500Z")
t.raises("bad argument #1 to '[%w.]*sleep'", time.sleep, -1)
t.raises("number expected", time.sleep, "soon")

-- cm.log: secrets and levels (line formats are asserted by tests/cli/test_log.sh)
local s = log.secret("hunter2")
t.eq(tostring(s), "[redacted]")
t.eq(s:reveal(), "hunter2")
t.eq(log.enabled("info"), true)
t.eq(log.enabled("debug"), false)
t.raises("expected debug, info, warn or error", log.enabled, "loud")
t.raises("field names must be strings", log.info, "x", { "positional" })

-- strict globals in scripts
t.raises("undefined global 'nope'", function() return _ENV.nope end)
t.raises("assignment to undeclared global 'nope'", function() _ENV.nope = 1 end)
t.eq(json.null ~= nil, true)
t.done()
