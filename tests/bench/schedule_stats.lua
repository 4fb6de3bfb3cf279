--- schedule_stats.lua ONE TEN CALICO: the figures of scripts/bench-schedule.sh from the printed
--- output of three rehearsals of the same cluster and seed: `migrate --max-unavailable 1`,
--- `migrate --max-unavailable 10%`, and tests/bench/calico_schedule.lua (Calico's schedule).
--- The node phase runs from the first node's start (its cordon step began) to the last node's
--- end (its uncordon); a node's own time is its start to its end, the time no schedule can
--- shorten, so with one node at a time the sum of the nodes' own times is the lower bound.
local one, ten, cal = ...
assert(one and ten and cal, "usage: schedule_stats.lua ONE TEN CALICO")

--- {phase = seconds, own = sum of the nodes' own times, nodes = n} of a migrate output.
local function phase(path)
   local start, stop = {}, {}
   for line in io.lines(path) do
      local at, who, step, text = line:match("^%S+ %+%s*([%d.]+)s%s+(%S+)%s+(%S+)%s+(.*)$")
      if at and step == "cordon" then
         start[who] = tonumber(at) - (tonumber(text:match("%(([%d.]+)s%)$")) or 0)
      elseif at and step == "uncordon" then
         stop[who] = tonumber(at)
      end
   end
   local first, last, own, n = math.huge, 0, 0, 0
   for who, t0 in pairs(start) do
      assert(stop[who], path .. ": node " .. who .. " started and never ended")
      first, last, own, n = math.min(first, t0), math.max(last, stop[who]), own + stop[who] - t0, n + 1
   end
   assert(n > 0, path .. ": no node migrated")
   return { phase = last - first, own = own, nodes = n }
end

local a, b = phase(one), phase(ten)
local text = assert(io.open(cal)):read("a")
local c = tonumber(text:match("node phase ([%d.]+) s"))
assert(c, cal .. ": no node phase")
print(("nodes                          %d"):format(a.nodes))
print(("--max-unavailable 1            node phase %7.1f s; the nodes' own times add up to %.1f s: %.3fx the lower "
   .. "bound (target <= 1.02)"):format(a.phase, a.own, a.phase / a.own))
print(("--max-unavailable 10%%          node phase %7.1f s: %.3fx the phase at 1 (target <= 0.15)"):format(b.phase,
   b.phase / a.phase))
print(("Calico's schedule              node phase %7.1f s: ours at 1 is %.3fx of it, at 10%% %.3fx"):format(c,
   a.phase / c, b.phase / c))
