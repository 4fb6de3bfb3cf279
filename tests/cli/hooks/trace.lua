--- A site hook file for tests/cli/test_hooks.sh: every hook point writes one line to $HOOK_TRACE
--- with what it was given (the node as the API returned it, the ctx), so the test compares the
--- calls and their order with tests/cli/hooks/trace-*.txt.
local path = assert(os.getenv("HOOK_TRACE"), "HOOK_TRACE is not set")

local function put(fmt, ...)
   local f = assert(io.open(path, "a"))
   f:write(fmt:format(...), "\n")
   f:close()
end

--- A node as the trace shows it: name, network label, cordoned.
local function node_text(n)
   if n == nil then return "cluster" end
   local l = n.metadata.labels or {}
   return ("%s[%s%s]"):format(n.metadata.name, l["projectcalico.org/node-network-during-migration"] or "-",
      n.spec.unschedulable and ",cordoned" or "")
end

local function names(nodes)
   local t = {}
   for _, n in ipairs(nodes) do t[#t + 1] = type(n) == "string" and n or n.metadata.name end
   return table.concat(t, ",")
end

return {
   on_start = function(ctx)
      put("on_start %s client=%s rehearsal=%s vni=%d log=%s", ctx.plan.command,
         ctx.c:info().source:match("^fake") and "fake" or "?", tostring(ctx.plan.rehearsal), ctx.cfg.values.FLANNEL_VNI,
         type(ctx.log.info))
   end,
   order = function(ctx, nodes)
      put("order %s (plan: %s)", names(nodes), names(ctx.plan.nodes))
      return nodes
   end,
   hold = function(ctx, node)
      put("hold %s (plan: %s)", node_text(node), names(ctx.plan.nodes))
      return false
   end,
   before_step = function(_, node, step) put("before_step %s %s", node_text(node), step) end,
   after_step = function(_, node, step) put("after_step %s %s", node_text(node), step) end,
   health = function(_, node) put("health %s", node_text(node)) end,
   on_finish = function(_, summary)
      put("on_finish %s nodes=%s skipped=%d", summary.command, names(summary.nodes), #summary.skipped)
   end,
   on_failure = function(_, message) put("on_failure %s", (message:gsub("\n", " | "))) end,
}
