--- preflight: checks that the cluster can be migrated from flannel (or Canal) to Calico, and
--- changes nothing. Prints the effective settings with where each came from, then one line per
--- check (ok / warning / blocker, the object, and the fix); --json for machines.
--- Exit 0: ready; 1: blockers found; 2: bad usage or a malformed setting.
---
---   cni-migrate preflight [--json] [--skip CHECK] [--flannel-vni N ...]
local config = require "cm.config"
local json = require "cm.json"
local plan = require "cm.plan"
local checks = require "cm.checks"
local proc = require "cm.proc"

local cfg, c = config.start("preflight", { ... }, os.getenv)
if not cfg then return end
require("cm.hooks").start(cfg, "preflight") -- the hook files a run would load: checked, not called
local survey, serr, scode = plan.survey(c, cfg)
if not survey then
   if scode == "BadInput" then proc.usage("preflight: %s", serr) end
   proc.fail("preflight: reading the cluster: %s", serr)
end
local counts = survey.results:counts()
if cfg.opts.json then
   local settings = {}
   for _, s in ipairs(config.SETTINGS) do
      settings[s.name] = { value = cfg.values[s.name], source = cfg.sources[s.name] }
   end
   for _, r in ipairs(survey.results.list) do r.fix = r.fix or json.null end
   print(json.encode({ ready = counts.blocker == 0, blockers = counts.blocker, warnings = counts.warning,
      checks = json.array(survey.results.list), settings = settings }, { indent = true }))
else
   print("Settings:")
   for _, line in ipairs(config.describe(cfg)) do print(line) end
   print("")
   print(checks.format(survey.results))
end
if counts.blocker > 0 then proc.fail("preflight: %d blocker(s)", counts.blocker) end
