--- preflight: checks that the cluster can be migrated from flannel (or Canal) to Calico, and
--- changes nothing. Prints the effective settings with where each came from, then one line per
--- check (ok / warning / blocker, the object, and the fix); --json for machines.
--- Exit 0: ready; 1: blockers found; 2: bad usage or a malformed setting.
---
---   cni-migrate preflight [--json] [--skip CHECK] [--flannel-vni N ...]
local config = require "cm.config"
local json = require "cm.json"
local k8s = require "cm.k8s"
local plan = require "cm.plan"
local checks = require "cm.checks"
local proc = require "cm.proc"

local cfg, err = config.parse({ ... }, os.getenv)
if not cfg then proc.usage("preflight: %s", err) end
if cfg.opts.help then
   io.write(config.usage("preflight"))
   return
end
local c, cerr = k8s.client { qps = 20, burst = 40 } -- as kube-controller-manager, not client-go's 5/10
if not c then proc.usage("preflight: %s", cerr) end -- no or a bad kubeconfig: nothing was sent
local survey = assert(plan.survey(c, cfg))
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
