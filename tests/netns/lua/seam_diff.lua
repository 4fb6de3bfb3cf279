-- Run by test_host_seam.sh as `unshare -n cni-migrate run THIS BIN DIR`: seam_ops.lua through
-- `cni-migrate node-run` on the real kernel (this namespace) and through a simulated host's
-- node_run; each step must end alike (OK or the same code) and the state left must be the same.
local fake = require "cm.fake"
local json = require "cm.json"

local bin, dir = ...
local script = debug.getinfo(1, "S").source:match("^@(.*/)") .. "seam_ops.lua"
local function args(side)
   os.execute(("mkdir -p %s/%s/net.d"):format(dir, side))
   return { cni_dir = dir .. "/" .. side .. "/net.d", backup_dir = dir .. "/" .. side .. "/backup" }
end

local p = assert(io.popen(("%s node-run %s --args '%s'"):format(bin, script, json.encode(args("real")))))
local line = p:read("a")
p:close()
local real = assert(json.decode(line), line)
assert(real.ok, line)

local h = fake.new_host()
local code
code, line = h:node_run(script, args("sim"))
assert(code == 0, line)
local sim = assert(json.decode(line))

local same = true
for i = 1, math.max(#real.steps, #sim.steps) do
   local a, b = real.steps[i], sim.steps[i]
   if a ~= b then
      same = false
      print(("step %d: real      %s\n         simulated %s"):format(i, a, b))
   end
end
-- the paths name each side's directory
local function strip(lines)
   local out = {}
   for _, s in ipairs(lines) do out[#out + 1] = s:gsub("/(%a+)/net%.d", "/SIDE/net.d") end
   return out
end
local rs, ss = strip(real.state), strip(sim.state)
local seen = {}
for _, s in ipairs(rs) do seen[s] = (seen[s] or 0) + 1 end
for _, s in ipairs(ss) do seen[s] = (seen[s] or 0) - 1 end
local keys = {}
for s, n in pairs(seen) do if n ~= 0 then keys[#keys + 1] = s end end
table.sort(keys)
for _, s in ipairs(keys) do
   same = false
   print((seen[s] > 0 and "only real:      " or "only simulated: ") .. s)
end
print(("%d steps, %d state lines"):format(#real.steps, #rs))
print(same and "seam agrees" or "seam differs")
