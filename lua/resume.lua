--- resume: nodes start again after `cni-migrate pause` (the key removed; a waiting run sees it
--- through its watch).
---
---   cni-migrate resume [--calico-daemonset-namespace NS]
local calico = require "cm.calico"
local config = require "cm.config"
local proc = require "cm.proc"
local schedule = require "cm.schedule"

local cfg, c = config.start("resume", { ... }, os.getenv)
if not cfg then return end
local ns = cfg.values.CALICO_DAEMONSET_NAMESPACE
local cm, msg, code, changed = schedule.set_pause(c, ns, nil)
if not cm then
   proc.fail("resume: ConfigMap %s/%s: %s (%s)", ns, calico.MIGRATION_CONFIGMAP, tostring(msg), tostring(code))
end
print(changed and "Resumed: nodes start again." or "Not paused: nothing to do.")
