--- cm.hooks: site hooks. A hook file (--hooks FILE, repeatable, or CNI_MIGRATE_HOOKS) is Lua that
--- returns a table of functions by hook name (M.NAMES). Files are loaded and checked before the
--- run reads or writes anything: a file that is missing, does not compile, raises, does not return
--- a table, or has an unknown name or a value that is not a function is a usage error naming it.
--- Hooks of the same name in several files all run, in the order the files were given.
---
--- Every hook runs protected. An error, or a return of `false, reason` (hold and order excepted:
--- their results are data), raises "hook NAME (FILE:LINE): message", which stops the run where it
--- is, at a resumable point: every step is idempotent, so running it again goes on from there.
local events = require "cm.events"
local json = require "cm.json"
local log = require "cm.log"
local nodestep = require "cm.nodestep"
local proc = require "cm.proc"

local M = {}

--- The hook names, in the order a run calls them.
M.NAMES = { "on_start", "order", "hold", "before_step", "after_step", "health", "on_finish", "on_failure" }
local KNOWN = {}
for _, name in ipairs(M.NAMES) do KNOWN[name] = true end

--- The node annotations (contracts13.md) are cm.nodestep's: ANN_HELD (the reason) and ANN_HELD_AT
--- on a held node; ANN_FAILED "health: message" on a node whose health hook failed after its
--- migration, so a rerun asks the health hooks about it again before it goes on.

local function fail(fmt, ...) error(fmt:format(...), 0) end

--- One file's hooks: {name = {fn, file, line}} or nil and the message.
local function load_file(path, set)
   local f, oerr = io.open(path, "r")
   if not f then return nil, ("hooks file %s: %s"):format(path, (oerr:gsub("^.-: ", ""))) end
   f:close()
   local chunk, cerr = loadfile(path, "t")
   if not chunk then return nil, "hooks file " .. cerr end
   local ok, t = pcall(chunk)
   if not ok then return nil, ("hooks file %s: loading it raised: %s"):format(path, tostring(t)) end
   if type(t) ~= "table" then
      return nil, ("hooks file %s: returns %s, not a table of hooks by name"):format(path,
         t == nil and "nothing" or "a " .. type(t))
   end
   local names = {}
   for k in pairs(t) do names[#names + 1] = k end
   table.sort(names, function(a, b) return tostring(a) < tostring(b) end)
   for _, k in ipairs(names) do
      if not KNOWN[k] then
         return nil, ("hooks file %s: unknown hook %s (the names are %s)"):format(path,
            type(k) == "string" and k or ("[" .. tostring(k) .. "]"), table.concat(M.NAMES, ", "))
      end
      if type(t[k]) ~= "function" then
         return nil, ("hooks file %s: hook %s is a %s, not a function"):format(path, k, type(t[k]))
      end
   end
   for _, name in ipairs(M.NAMES) do
      local fn = t[name]
      if fn then
         local info = debug.getinfo(fn, "S")
         table.insert(set[name], { fn = fn, name = name, file = path, src = info.short_src, line = info.linedefined })
      end
   end
   return true
end

--- Loads hook files, in order.
---@param paths string[]
---@return table|nil set {NAME = {{fn, name, file, line}...}, files = the paths, ctx = the hooks' ctx
---   once M.bind has run}
---@return string|nil message names the file (and the hook)
function M.load(paths)
   local set = { files = {} }
   for _, name in ipairs(M.NAMES) do set[name] = {} end
   for _, path in ipairs(paths or {}) do
      local ok, err = load_file(path, set)
      if not ok then return nil, err end
      set.files[#set.files + 1] = path
   end
   return set
end

--- The hooks of a procedure's settings (cfg.opts.hooks), or a usage error (exit 2) naming the file.
---@param cfg table cm.config.parse's result
---@param command string the procedure, for the message
---@return table set
function M.start(cfg, command)
   local set, err = M.load(cfg.opts.hooks)
   if not set then proc.usage("%s: %s", command, err) end
   return set
end

--- The ctx every hook gets: the client (c), the settings (cfg), the plan ({command, nodes = names
--- in the order of the run, once known, rehearsal = whether the cluster is simulated (--fake)}) and
--- a logger (log, cm.log's functions). A hook may keep its own state in it under a name of its own.
---@param set table M.load's result
---@param c userdata the run's client
---@param cfg table the run's settings
---@param command string "migrate" | "rollback"
---@return table ctx
function M.bind(set, c, cfg, command)
   local rehearsal = (c:info().source or ""):match("^fake") ~= nil
   if #set.files > 0 then log.info("site hooks", { command = command, files = table.concat(set.files, ", ") }) end
   set.ctx = { c = c, cfg = cfg, plan = { command = command, nodes = {}, rehearsal = rehearsal }, log = log }
   return set.ctx
end

--- Where a hook's error comes from: the line in the hook's file (the error's own position when
--- it is there, else the deepest frame in that file, else the function's first line), and the
--- message without the position.
local function locate(h, err)
   if type(err) ~= "string" then return h.line, tostring(err) end
   local src, line, rest = err:match("^(.-):(%d+): (.*)$")
   if src == h.src then return tonumber(line), rest end
   for level = 2, 60 do
      local info = debug.getinfo(level, "Sl")
      if not info then break end
      if info.short_src == h.src and info.currentline > 0 then return info.currentline, err end
   end
   return h.line, err
end

--- Calls one hook protected: true and its results, or false and "hook NAME (FILE:LINE): message".
local function call(set, h, ...)
   local where
   local res = table.pack(xpcall(h.fn, function(err)
      local line, msg = locate(h, err)
      where = ("hook %s (%s:%d): %s"):format(h.name, h.file, line, msg)
      return where
   end, set.ctx, ...))
   if not res[1] then return false, where or tostring(res[2]) end
   return table.unpack(res, 1, res.n)
end

--- Runs every hook called name with (ctx, ...), in order. An error, or a return of false (with a
--- reason), raises "hook NAME (FILE:LINE): message" (error(..., 0)).
---@param set table|nil
---@param name string
function M.run(set, name, ...)
   if not set then return end
   for _, h in ipairs(set[name]) do
      local r = table.pack(call(set, h, ...))
      if not r[1] then error(r[2], 0) end
      if r.n >= 2 and r[2] == false then
         fail("hook %s (%s:%d) returned false: %s", name, h.file, h.line, tostring(r[3] or "no reason given"))
      end
   end
end

--- Runs fn() as a step between the before_step and after_step hooks; node is the Node (nil for a
--- cluster step), or a function that returns it as last read.
---@param ctx table the run's ctx (ctx.hooks: the set, or nil)
---@param node table|function|nil
---@param step string
---@param fn function
---@return any fn's result
function M.around(ctx, node, step, fn)
   local set = ctx.hooks
   if not set or (#set.before_step == 0 and #set.after_step == 0) then return fn() end
   local function current()
      if type(node) == "function" then return node() end
      return node
   end
   M.run(set, "before_step", current(), step)
   local r = fn()
   M.run(set, "after_step", current(), step)
   return r
end

--- Runs fn(ctx, ...) as a cluster step between the before_step and after_step hooks (node nil).
---@param ctx table the run's ctx
---@param step string the step's name
---@param fn function
---@return any fn's result
function M.step(ctx, step, fn, ...)
   local args = table.pack(...)
   return M.around(ctx, nil, step, function() return fn(ctx, table.unpack(args, 1, args.n)) end)
end

local function name_of(x)
   if type(x) == "string" then return x end
   if type(x) == "table" and type(x.metadata) == "table" then return x.metadata.name end
   return nil
end

--- The nodes in the order the order hooks give (each gets the previous one's list). What a hook
--- returns must be the same nodes (Node objects or names), each once; anything else raises.
---@param set table|nil
---@param nodes table[] Nodes, in the run's own order
---@return table[] nodes
function M.order(set, nodes)
   if not set then return nodes end
   for _, h in ipairs(set.order) do
      local given = {}
      for i, n in ipairs(nodes) do given[i] = n end
      local ok, res = call(set, h, given)
      if not ok then error(res, 0) end
      local bad = function(fmt, ...) fail("hook order (%s:%d) %s", h.file, h.line, fmt:format(...)) end
      if type(res) ~= "table" then
         bad("returned %s, not a list of nodes", res == nil and "nothing" or "a " .. type(res))
      end
      local by, seen, out = {}, {}, {}
      for _, n in ipairs(nodes) do by[n.metadata.name] = n end
      for i = 1, #res do
         local name = name_of(res[i])
         if not name then bad("returned a %s at [%d], not a Node or a node's name", type(res[i]), i) end
         if not by[name] then bad("returned node %s, which is not one of the nodes to migrate", name) end
         if seen[name] then bad("returned node %s twice", name) end
         seen[name] = true
         out[i] = by[name]
      end
      for _, n in ipairs(nodes) do
         if not seen[n.metadata.name] then bad("left out node %s (return every node it was given)", n.metadata.name) end
      end
      nodes = out
   end
   return nodes
end

--- Whether a hold hook keeps the node out of this run: the reason (the first hook that says so),
--- or nil.
---@param set table|nil
---@param node table the Node
---@return string|nil reason
function M.hold(set, node)
   if not set then return nil end
   for _, h in ipairs(set.hold) do
      local ok, held, reason = call(set, h, node)
      if not ok then error(held, 0) end
      if held then
         return ("%s (hook hold, %s:%d)"):format(type(reason) == "string" and reason ~= "" and reason or "held",
            h.file, h.line)
      end
   end
   return nil
end

--- Removes the held annotation (the node is no longer held): the Node as it is now.
local function unmark_held(ctx, n)
   local A = nodestep
   if (n.metadata.annotations or {})[A.ANN_HELD] == nil then return n end
   local got, msg, code = ctx.c:patch({ apiVersion = "v1", kind = "Node", name = n.metadata.name },
      { metadata = { annotations = { [A.ANN_HELD] = json.null, [A.ANN_HELD_AT] = json.null } } }, { type = "merge" })
   if not got then fail("node %s: remove the held annotation: %s (%s)", n.metadata.name, tostring(msg),
      tostring(code)) end
   return got
end

--- The nodes of a pass in the order to go through them: the order hooks applied to all but the
--- controller's own node, which stays last; their names are added to the hooks' ctx.plan.nodes.
---@param set table|nil
---@param nodes table[] Nodes in the run's own order (cm.plan.order)
---@param own string|nil the controller's node (POD_NODE_NAME)
---@return table[] nodes
function M.sequence(set, nodes, own)
   local rest, last = {}, nil
   for _, n in ipairs(nodes) do
      if n.metadata.name == own then last = n else rest[#rest + 1] = n end
   end
   if #rest > 0 then rest = M.order(set, rest) end
   rest[#rest + 1] = last
   if set and set.ctx then
      for _, n in ipairs(rest) do table.insert(set.ctx.plan.nodes, n.metadata.name) end
   end
   return rest
end

--- Whether the hold hooks keep a node out of this run. They are asked only about a node about to
--- start (startable: not in progress, not done); the node's held annotation is written, or removed
--- when it is no longer held.
---@param ctx table the run's ctx (ctx.hooks)
---@param n table the Node
---@param startable boolean
---@return table n the Node as it is now
---@return string|nil reason
function M.check_hold(ctx, n, startable)
   local reason = startable and M.hold(ctx.hooks, n) or nil
   if reason then return nodestep.hold(ctx, n, reason), reason end
   return unmark_held(ctx, n), nil
end

--- Whether a node's health hooks must run again: an earlier run's failed on it (ANN_FAILED).
local function health_pending(n)
   return ((n.metadata.annotations or {})[nodestep.ANN_FAILED] or ""):match("^health: ") ~= nil
end

--- The health gate after a node: every health hook, with the Node as it is now, when the node was
--- done in this run (done) or an earlier run's health hook failed on it. A failure marks the node
--- (ANN_FAILED "health: message", so a rerun asks again) and raises; a pass removes that mark.
---@param ctx table the run's ctx
---@param n table the Node as the run last read it
---@param done boolean the node was migrated (rolled back) in this run
function M.health(ctx, n, done)
   local set = ctx.hooks
   if not set or #set.health == 0 or not (done or health_pending(n)) then return end
   local name = n.metadata.name
   local ref = { apiVersion = "v1", kind = "Node", name = name }
   local cur, msg, code = ctx.c:get(ref)
   if not cur then fail("node %s: read for the health hooks: %s (%s)", name, tostring(msg), tostring(code)) end
   local ok, err = pcall(M.run, set, "health", cur)
   if not ok then -- best effort: the failure itself is what the run reports
      local mark = "health: " .. tostring(err):gsub("\n.*", "")
      ctx.c:patch(ref, { metadata = { annotations = { [nodestep.ANN_FAILED] = mark } } }, { type = "merge" })
      events.failed(ctx, name, "health", (tostring(err):gsub("\n.*", "")))
      error(err, 0)
   end
   if health_pending(cur) then
      local cleared, pmsg, pcode = ctx.c:patch(ref,
         { metadata = { annotations = { [nodestep.ANN_FAILED] = json.null } } }, { type = "merge" })
      if not cleared then
         fail("node %s: remove the failed annotation: %s (%s)", name, tostring(pmsg), tostring(pcode))
      end
   end
end

--- The end of a run that stops: every on_failure hook with the message; their own errors are
--- logged, never raised (they must not hide the failure they report).
---@param set table|nil
---@param message string
function M.failed(set, message)
   if not set then return end
   for _, h in ipairs(set.on_failure) do
      local ok, err = call(set, h, message)
      if not ok then log.warn("on_failure hook failed", { error = err }) end
   end
end

return M
