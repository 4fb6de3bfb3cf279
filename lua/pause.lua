--- pause: no node starts until `cni-migrate resume`. A running migrate or rollback watches the key
--- (flannel-migration-config cni-migrate.paused), lets its nodes in flight finish and waits; a run
--- started while paused waits before its first node. `cni-migrate status` shows it.
---
---   cni-migrate pause [--reason TEXT] [--calico-daemonset-namespace NS]
local calico = require "cm.calico"
local config = require "cm.config"
local proc = require "cm.proc"
local schedule = require "cm.schedule"

local cfg, c = config.start("pause", { ... }, os.getenv)
if not cfg then return end
local ns = cfg.values.CALICO_DAEMONSET_NAMESPACE
local reason = cfg.opts.reason ~= "" and cfg.opts.reason or "paused with cni-migrate pause"
local cm, msg, code, changed = schedule.set_pause(c, ns, reason)
if not cm then
   proc.fail("pause: ConfigMap %s/%s: %s (%s)", ns, calico.MIGRATION_CONFIGMAP, tostring(msg), tostring(code))
end
print(changed and ("Paused: %s. Nodes in flight finish; no node starts until cni-migrate resume."):format(reason)
   or ("Already paused: %s."):format(reason))
