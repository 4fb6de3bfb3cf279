-- k8s_pages.lua - figures for paging through cm.k8s from Lua (a program that prints, not a test):
-- every pod of the run's cluster at 500 a page with c:pages, one page held at a time, and the
-- peak RSS growth (the kernel's high-water mark, so moments inside a request count) against the
-- largest page as a Lua table. scripts/bench.sh runs it against fake serve:
--   KUBECONFIG=... cni-migrate run tests/bench/k8s_pages.lua
local k8s = require "cm.k8s"
local time = require "cm.time"

--- A field of /proc/self/status in KiB.
local function status(key)
   for line in io.lines("/proc/self/status") do
      local v = line:match("^" .. key .. ":%s*(%d+)")
      if v then return tonumber(v) end
   end
end

local c = assert(k8s.client { qps = -1, timeout = 600 })
assert(c:pages { apiVersion = "v1", kind = "Pod", limit = 1 }()) -- discovery, the connection
collectgarbage()
local f = io.open("/proc/self/clear_refs", "w")
local hwm = f and f:write("5") and f:close()
local before, base = status("VmRSS"), collectgarbage("count")
local t0 = time.now()
local pods, pages, largest = 0, 0, 0
for page in c:pages { apiVersion = "v1", kind = "Pod", limit = 500 } do
   pages = pages + 1
   pods = pods + #page.items
   collectgarbage()
   largest = math.max(largest, collectgarbage("count") - base)
end
local growth = (hwm and status("VmHWM") or status("VmRSS")) - before
print(("k8s-pages: %d pods in %d pages of 500 through c:pages in %.1f s; the largest page is %.0f KiB as a "
   .. "Lua table"):format(pods, pages, time.now() - t0, largest))
print(("k8s-pages: peak RSS growth %d KiB = %.2f pages (%s)"):format(growth, growth / largest,
   hwm and "the kernel's high-water mark" or "RSS at the end"))
