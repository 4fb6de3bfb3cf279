--- cm.report: a rehearsal's report as one self-contained HTML page (`migrate --fake FIXTURE --report
--- FILE.html`): the timeline as an SVG picture (a row per node, each step a coloured bar, the time a
--- PodDisruptionBudget held a drain marked with its name), the predicted duration and its spread
--- over seeds, blockers, warnings and holds, and the safety invariants' results. No script, no
--- remote asset: it opens the same from a file, a mail or an air-gapped laptop.

local M = {}

--- Step colours, in the steps' order (then in the order others first appear).
local CLUSTER = "#9aa5b8" -- the cluster-wide steps (named in their bars when they fit)
local PALETTE = { "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
   "#9c755f", "#bab0ac", "#86bcb6", "#d37295", "#8cd17d", "#499894", "#f1ce63", "#a0cbe8" }

--- Escapes text for HTML (element content and attribute values).
---@param s any
---@return string
function M.escape(s)
   return (tostring(s):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;",
      ["'"] = "&#39;" }))
end
local esc = M.escape

--- Mean, median, min, max and standard deviation of a list of numbers (nil when empty).
---@param xs number[]
---@return table|nil
function M.spread(xs)
   if #xs == 0 then return nil end
   local s = {}
   for i, x in ipairs(xs) do s[i] = x end
   table.sort(s)
   local sum = 0
   for _, x in ipairs(s) do sum = sum + x end
   local mean = sum / #s
   local var = 0
   for _, x in ipairs(s) do var = var + (x - mean) ^ 2 end
   local mid = #s // 2
   return { n = #s, mean = mean, min = s[1], max = s[#s], sd = math.sqrt(var / #s),
      median = #s % 2 == 1 and s[mid + 1] or (s[mid] + s[mid + 1]) / 2 }
end

--- A tick step giving at most about ten ticks over span seconds.
local function tick_step(span)
   for _, st in ipairs { 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800 } do
      if span / st <= 10 then return st end
   end
   return 86400
end

local function clock(t)
   if t >= 3600 then return ("%dh%02dm"):format(t // 3600, (t % 3600) // 60) end
   if t >= 60 then return ("%dm%02ds"):format(t // 60, t % 60) end
   return ("%ds"):format(t)
end

--- The rows of the picture: "cluster" (its steps run from the previous line of the timeline to
--- their own), then each node in the order it first appears.
local function rows_of(d)
   local rows, by = {}, {}
   local function row(name)
      if not by[name] then
         by[name] = { name = name, bars = {}, holds = {} }
         rows[#rows + 1] = by[name]
      end
      return by[name]
   end
   row("cluster")
   local prev = d.t0
   for _, e in ipairs(d.events or {}) do
      if not e.node then
         local r = row("cluster")
         r.bars[#r.bars + 1] = { step = e.step, t0 = prev, t1 = e.t, text = e.text }
      end
      prev = e.t
   end
   for _, b in ipairs(d.bars or {}) do
      local r = row(b.node)
      r.bars[#r.bars + 1] = b
   end
   for _, h in ipairs(d.holds or {}) do
      local r = row(h.node)
      r.holds[#r.holds + 1] = h
   end
   return rows
end

--- The SVG timeline.
---@param d table the report's data (see M.html)
---@return string
function M.svg(d)
   local rows = rows_of(d)
   -- a colour per node step that happened, in the steps' order; the cluster's steps are grey, named
   local seen, colour, legend = {}, {}, {}
   for _, b in ipairs(d.bars or {}) do seen[b.step] = true end
   local order = {}
   for _, st in ipairs(d.steps or {}) do order[#order + 1] = st end
   for _, b in ipairs(d.bars or {}) do order[#order + 1] = b.step end
   for _, st in ipairs(order) do
      if seen[st] and not colour[st] then
         legend[#legend + 1] = st
         colour[st] = PALETTE[(#legend - 1) % #PALETTE + 1]
      end
   end
   local function fill(step, row) return row == "cluster" and CLUSTER or colour[step] end
   local LEFT, W, ROW, TOP = 170, 960, 22, 30
   local span = math.max(d.t_end - d.t0, 1)
   local function x(t) return LEFT + (t - d.t0) / span * W end
   local height = TOP + #rows * ROW + 20
   local out = {}
   local function add(fmt, ...) out[#out + 1] = fmt:format(...) end
   -- the bars first, so the legend knows every step
   local body = {}
   for i, r in ipairs(rows) do
      local y = TOP + (i - 1) * ROW
      body[#body + 1] = ('<text class="row" x="%d" y="%.1f">%s</text>'):format(LEFT - 8, y + ROW * 0.68, esc(r.name))
      if i % 2 == 0 then
         table.insert(body, 1, ('<rect class="band" x="0" y="%d" width="%d" height="%d"/>'):format(y, LEFT + W + 180,
            ROW))
      end
      for _, b in ipairs(r.bars) do
         local x0, x1 = x(b.t0), x(b.t1)
         local tip = ("%s %s: +%.1fs to +%.1fs (%.1fs)%s"):format(r.name, b.step, b.t0 - d.t0, b.t1 - d.t0, b.t1 - b.t0,
            b.text and ("\n" .. tostring(b.text)) or "")
         body[#body + 1] = ('<rect class="bar%s" x="%.2f" y="%d" width="%.2f" height="%d" fill="%s" data-step="%s">'
            .. '<title>%s</title></rect>'):format(b.failed and " failed" or "", x0, y + 3, math.max(x1 - x0, 1.5),
            ROW - 6, fill(b.step, r.name), esc(b.step), esc(tip))
         if r.name == "cluster" and x1 - x0 > 8 * #b.step then
            body[#body + 1] = ('<text class="inbar" x="%.2f" y="%.1f">%s</text>'):format(x0 + 4, y + ROW * 0.68,
               esc(b.step))
         end
      end
      for _, h in ipairs(r.holds) do
         local x0, x1 = x(h.t0), x(h.t1 or h.t0)
         body[#body + 1] = ('<rect class="hold" x="%.2f" y="%d" width="%.2f" height="%d"><title>%s</title></rect>')
            :format(x0, y + 1, math.max(x1 - x0, 2), ROW - 2,
            esc(("PodDisruptionBudget %s held pod %s for %.1fs"):format(h.pdb, h.pod, (h.t1 or h.t0) - h.t0)))
         body[#body + 1] = ('<text class="pdb" x="%.2f" y="%.1f">PDB %s</text>'):format(math.max(x1, x0 + 2) + 4,
            y + ROW * 0.68, esc(h.pdb))
      end
   end
   add('<svg xmlns="http://www.w3.org/2000/svg" id="timeline" width="%d" height="%d" viewBox="0 0 %d %d" '
      .. 'role="img" aria-label="timeline">', LEFT + W + 180, height + 30 + 20 * math.ceil((#legend + 1) / 6),
      LEFT + W + 180, height + 30 + 20 * math.ceil((#legend + 1) / 6))
   local st = tick_step(span)
   for t = 0, span, st do
      add('<line class="tick" x1="%.2f" y1="%d" x2="%.2f" y2="%d"/><text class="tick" x="%.2f" y="%d">%s</text>',
         x(d.t0 + t), TOP - 4, x(d.t0 + t), TOP + #rows * ROW, x(d.t0 + t), TOP - 10, clock(t))
   end
   for _, line in ipairs(body) do out[#out + 1] = line end
   legend[#legend + 1] = "a cluster-wide step"
   colour[legend[#legend]] = CLUSTER
   for i, s in ipairs(legend) do
      local lx, ly = LEFT + ((i - 1) % 6) * 160, height + 10 + ((i - 1) // 6) * 20
      add('<rect x="%d" y="%d" width="14" height="12" fill="%s"/><text class="legend" x="%d" y="%d">%s</text>',
         lx, ly, colour[s], lx + 20, ly + 11, esc(s))
   end
   add("</svg>")
   return table.concat(out, "\n")
end

local CSS = [[
body { font: 14px/1.4 sans-serif; margin: 24px; color: #222; background: #fff; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
.ok { color: #2e7d32; } .bad { color: #c62828; font-weight: bold; } .warn { color: #b26a00; }
svg text { font: 11px sans-serif; fill: #333; } svg text.row { text-anchor: end; font-size: 12px; }
svg text.tick { text-anchor: middle; fill: #777; } svg line.tick { stroke: #e3e3e3; }
svg rect.band { fill: #f6f6f6; } svg rect.hold { fill: none; stroke: #c62828; stroke-width: 2; stroke-dasharray: 4 2; }
svg text.pdb { fill: #c62828; font-weight: bold; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
svg text.inbar { fill: #fff; } svg rect.failed { stroke: #000; stroke-width: 2; }
]]

--- One <table> of rows (each a list of cells, escaped here); head is the header row.
local function tbl(head, rows)
   local out = { "<table><tr>" }
   for _, h in ipairs(head) do out[#out + 1] = "<th>" .. esc(h) .. "</th>" end
   out[#out + 1] = "</tr>"
   for _, r in ipairs(rows) do
      out[#out + 1] = "<tr>"
      for _, c in ipairs(r) do
         if type(c) == "table" then
            out[#out + 1] = ('<td class="%s">%s</td>'):format(c.class, esc(c[1]))
         else
            out[#out + 1] = "<td>" .. esc(c) .. "</td>"
         end
      end
      out[#out + 1] = "</tr>"
   end
   out[#out + 1] = "</table>"
   return table.concat(out)
end

--- The whole page.
---@param d table {title, fixture, outcome, ok, t0, t_end, steps (names in order), events ({t, node, step,
---   text}), bars ({node, step, t0, t1, text, failed}), holds ({node, pdb, pod, t0, t1}), seeds
---   ({seed, duration, ok, note}), checks ({result, check, object, message}), blocked (strings), held
---   ({node, reason}), notes (strings), invariants (cm.invariants.results() or nil)}
---@return string
function M.html(d)
   local o = {}
   local function add(s) o[#o + 1] = s end
   add('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>' .. esc(d.title) .. "</title>")
   add("<style>" .. CSS .. "</style></head><body>")
   add("<h1>" .. esc(d.title) .. "</h1>")
   add(('<p class="%s" id="outcome">%s</p>'):format(d.ok and "ok" or "bad", esc(d.outcome)))
   -- the prediction
   local durations = {}
   for _, s in ipairs(d.seeds or {}) do if s.ok then durations[#durations + 1] = s.duration end end
   local sp = M.spread(durations)
   add("<h2>Predicted duration</h2>")
   if sp then
      add(('<p id="prediction">%.1f s (%s) of cluster time, median over %d seed(s); from %.1f s to %.1f s, '
         .. "mean %.1f s, standard deviation %.1f s.</p>"):format(sp.median, clock(math.floor(sp.median + 0.5)), sp.n,
         sp.min, sp.max, sp.mean, sp.sd))
   else
      add('<p id="prediction" class="bad">No rehearsal finished: no prediction.</p>')
   end
   local srows = {}
   for _, s in ipairs(d.seeds or {}) do
      srows[#srows + 1] = { tostring(s.seed), s.ok and ("%.1f s"):format(s.duration) or "-",
         s.ok and { "finished", class = "ok" } or { s.note or "failed", class = "bad" } }
   end
   add(tbl({ "seed", "duration", "outcome" }, srows))
   -- the picture
   add("<h2>Timeline</h2>")
   add("<p>A row per node (and the cluster-wide steps); each step a bar, its details on hover. A dashed red frame is "
      .. "the time a PodDisruptionBudget held the node's drain.</p>")
   add(M.svg(d))
   -- blockers, warnings, holds
   add("<h2>Blockers, warnings and holds</h2>")
   local crows = {}
   for _, r in ipairs(d.checks or {}) do
      if r.result ~= "ok" then
         crows[#crows + 1] = { { r.result, class = r.result == "blocker" and "bad" or "warn" }, r.check, r.object or "",
            r.message or "" }
      end
   end
   for _, h in ipairs(d.holds or {}) do
      crows[#crows + 1] = { { "PDB hold", class = "warn" }, "drain", h.node .. ": " .. h.pod,
         ("PodDisruptionBudget %s held it %.1f s"):format(h.pdb, (h.t1 or h.t0) - h.t0) }
   end
   for _, h in ipairs(d.held or {}) do
      crows[#crows + 1] = { { "held", class = "warn" }, "node", h.node, h.reason }
   end
   for _, b in ipairs(d.blocked or {}) do crows[#crows + 1] = { { "blocked", class = "warn" }, "drain", "", b } end
   for _, n in ipairs(d.notes or {}) do crows[#crows + 1] = { "note", "", "", n } end
   if #crows == 0 then add('<p class="ok">None: every check passed and nothing held a node.</p>')
   else add(tbl({ "what", "check", "object", "message" }, crows)) end
   -- invariants
   add("<h2>Safety invariants</h2>")
   local inv = d.invariants
   if not inv then
      add('<p class="warn">Not checked (--no-invariants).</p>')
   else
      add(("<p>Checked after each of %d change(s) of the simulated cluster.</p>"):format(inv.changes))
      local irows = {}
      for _, r in ipairs(inv.list) do
         local res = r.broken == 0 and { "held", class = "ok" }
            or { ("broken %d time(s)"):format(r.broken), class = "bad" }
         irows[#irows + 1] = { r.name, res, r.first and ("at +%.1fs: %s"):format(r.at, r.first) or "" }
      end
      add(tbl({ "invariant", "result", "first break" }, irows))
      add(("<p>reach: %d pair(s) of Running pods on different nodes sampled in %d check(s), each walked through "
         .. "the simulated hosts by the dataplane model.</p>"):format(inv.reach_pairs or 0, inv.reach_checks or 0))
   end
   add(("<p>Fixture %s. Generated by cni-migrate.</p>"):format(esc(d.fixture or "?")))
   add("</body></html>\n")
   return table.concat(o, "\n")
end

--- Quotes a word for sh.
local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- The same rehearsal on other seeds, each in a process of its own (a fresh cluster): {seed,
--- duration, ok, note} for seeds first+1 .. first+n-1. args are the procedure's arguments (its
--- --report and --seeds left out).
---@param command string "migrate"
---@param args string[]
---@param n integer
---@return table[]
function M.other_seeds(command, args, n)
   local fake = require "cm.fake"
   local r = fake.rehearsal()
   local out = {}
   local keep, skip = {}, false
   for _, a in ipairs(args) do
      if skip then skip = false
      elseif a == "--report" or a == "--seeds" then skip = true
      elseif not (a:match("^%-%-report=") or a:match("^%-%-seeds=")) then keep[#keep + 1] = shq(a) end
   end
   for k = 1, n - 1 do
      local seed = r.seed + k
      local cmd = { shq(r.exe), r.lua_dir and ("--lua-dir " .. shq(r.lua_dir)) or "", "--fake", shq(r.fixture),
         "--seed", tostring(seed), command, table.concat(keep, " "), "2>&1" }
      local p = io.popen(table.concat(cmd, " "))
      local text = p:read("a")
      local ok, _, code = p:close()
      local d = ("\n" .. text):match("\nMigrated %d+ node%(s%) to Calico in ([%d.]+) s")
      local last = text:match("([^\n]+)\n?$") or ""
      out[#out + 1] = { seed = seed, duration = tonumber(d), ok = ok and d ~= nil,
         note = not ok and ("exit %s: %s"):format(tostring(code), last) or nil }
   end
   return out
end

--- Everything the page shows, gathered at the end of a rehearsal.
---@param c userdata the run's client
---@param cfg table
---@param o table {ok, outcome, t0, events, ctx, checks, steps, command, args}
---@return table the data M.html takes
function M.data(c, cfg, o)
   local fake = require "cm.fake"
   local invariants = require "cm.invariants"
   local time = require "cm.time"
   local r = fake.rehearsal()
   local ctx = o.ctx or {}
   local t_end = time.now()
   local d = { title = ("Rehearsal of %s on %s"):format(o.command, r.fixture), fixture = r.fixture, ok = o.ok,
      outcome = o.outcome, t0 = o.t0, t_end = t_end, steps = o.steps, events = o.events, bars = ctx.bars,
      holds = ctx.holds, blocked = ctx.blocked, checks = o.checks, invariants = invariants.results(), held = {},
      seeds = { { seed = r.seed, duration = t_end - o.t0, ok = o.ok, note = not o.ok and o.outcome or nil } } }
   local nodes = c:list { apiVersion = "v1", kind = "Node" }
   for _, n in ipairs(nodes and nodes.items or {}) do
      local why = (n.metadata.annotations or {})[require("cm.nodestep").ANN_HELD]
      if why then d.held[#d.held + 1] = { node = n.metadata.name, reason = why } end
   end
   if cfg.opts.seeds > 1 then
      for _, s in ipairs(M.other_seeds(o.command, o.args, cfg.opts.seeds)) do d.seeds[#d.seeds + 1] = s end
   end
   return d
end

return M
