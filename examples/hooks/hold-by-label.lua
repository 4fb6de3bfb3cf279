--- Site hook: keep the nodes that carry a label out of the migration (and out of a rollback).
--- A held node stays where it is (on flannel), annotated cni-migrate.dev/held with the reason;
--- the run migrates the other nodes, then ends with exit 1 naming the held ones, since the
--- migration cannot complete while a node is still on flannel. Remove the label (kubectl label
--- node NODE cni-migrate.dev/hold-) and run again: it goes on from there.
---
---   kubectl label node db-1 cni-migrate.dev/hold="database maintenance until Friday"
---   cni-migrate migrate --hooks examples/hooks/hold-by-label.lua
---
--- HOLD_LABEL names another label; the label's value is the reason shown (status, the annotation).
local LABEL = os.getenv("HOLD_LABEL") or "cni-migrate.dev/hold"

return {
   hold = function(_, node)
      local value = (node.metadata.labels or {})[LABEL]
      if value == nil then return false end
      return true, ("label %s=%s"):format(LABEL, value)
   end,
}
