--- migrate_stats.lua TRACE OUTPUT: figures of one `migrate --fake` rehearsal, from its --trace
--- (every request the procedure sent) and its printed output (summary, per-step durations).
--- Prints the API requests per migrated node by verb (and the Events among them), the requests
--- that repeat one read of one path (polling would show there), the virtual duration, and the
--- per-node lower bound: drain + flannel's pod gone + calico-node Ready, the waits no procedure
--- can shorten.
local json = require "cm.json"

local trace_path, out_path, wall = ...
assert(trace_path and out_path, "usage: migrate_stats.lua TRACE OUTPUT [WALL_SECONDS]")
local verbs, total, reads, events = {}, 0, {}, 0
for line in io.lines(trace_path) do
   local ev = json.decode(line)
   if ev and ev.actor == "script" and ev.verb then
      total = total + 1
      if ev.verb == "create" and ev.path:match("/events$") then events = events + 1 end
      verbs[ev.verb] = (verbs[ev.verb] or 0) + 1
      if ev.verb == "get" or ev.verb == "list" then
         local key = ev.verb .. " " .. ev.path
         reads[key] = (reads[key] or 0) + 1
      end
   end
end
local text = assert(io.open(out_path)):read("a")
local migrated = tonumber(text:match("Migrated (%d+) node%(s%)")) or 0
local seconds = tonumber(text:match("in ([%d.]+) s of virtual"))
local step = {}
for name, mean, max in text:gmatch("\n  ([%w-]+) +([%d.]+) s +([%d.]+) s") do
   step[name] = { mean = tonumber(mean), max = tonumber(max) }
end
local per = migrated > 0 and total / migrated or 0
print(("migrated nodes          %d"):format(migrated))
print(("API requests            %d (%.1f per migrated node; target <= 25)"):format(total, per))
print(("  of which Events %d (%.1f per node); without them %.1f per node"):format(events,
   migrated > 0 and events / migrated or 0, migrated > 0 and (total - events) / migrated or 0))
local names = {}
for v in pairs(verbs) do names[#names + 1] = v end
table.sort(names)
for _, v in ipairs(names) do
   print(("  %-8s %6d  %5.1f per node"):format(v, verbs[v], migrated > 0 and verbs[v] / migrated or 0))
end
local repeated = {}
for k, n in pairs(reads) do if n > 3 then repeated[#repeated + 1] = ("%s x%d"):format(k, n) end end
table.sort(repeated)
print(("reads of one path > 3 times (polling shows here): %d"):format(#repeated))
for _, r in ipairs(repeated) do print("  " .. r) end
if seconds then
   print(("virtual duration        %.1f s (%.1f s per node)"):format(seconds, migrated > 0 and seconds / migrated or 0))
end
if wall then print(("wall time               %s s"):format(wall)) end
local bound = 0
for _, s in ipairs { "drain", "flannel-gone", "calico-ready" } do bound = bound + (step[s] and step[s].mean or 0) end
print(("per-node lower bound    %.1f s (drain %.1f + flannel-gone %.1f + calico-ready %.1f, means)"):format(bound,
   step.drain and step.drain.mean or 0, step["flannel-gone"] and step["flannel-gone"].mean or 0,
   step["calico-ready"] and step["calico-ready"].mean or 0))
