--- cm.iptables_plan: reading iptables-save text and planning the removal of chains and rules,
--- for every family and backend of a host (cm.iptables runs the tools). What to remove is the
--- caller's: flannel's chains (cm.flannel), Calico's (cm.calico).
local iptables = require "cm.iptables"
local json = require "cm.json"

local M = {}

M.FAMILIES = { "ipv4", "ipv6" }
M.BACKENDS = { "legacy", "nft" }

--- Parses iptables-save text into {table = {chains = {name = true}, order = {name...},
--- policy = {name = "ACCEPT"|"DROP"} (built-in chains), rules = {{chain, spec, line}}}}.
---@param text string
---@return table
function M.parse(text)
   local tables, cur = {}, nil
   for line in text:gmatch("[^\n]+") do
      local t = line:match("^%*(%S+)")
      if t then
         cur = { chains = {}, order = {}, policy = {}, rules = {} }
         tables[t] = cur
      elseif cur and line:match("^:") then
         local chain, policy = line:match("^:(%S+)%s*(%S*)")
         cur.chains[chain] = true
         cur.order[#cur.order + 1] = chain
         if policy == "ACCEPT" or policy == "DROP" then cur.policy[chain] = policy end
      elseif cur and line:match("^%-A ") then
         local chain, spec = line:match("^%-A (%S+)(.*)$")
         cur.rules[#cur.rules + 1] = { chain = chain, spec = spec, line = line }
      end
   end
   return tables
end

--- The jump target of a rule's spec ("-j X" or "-g X"), or nil.
---@param spec string
---@return string|nil
function M.target(spec)
   return spec:match(" %-j (%S+)") or spec:match(" %-g (%S+)")
end
local target = M.target

--- Plans removing, in one save's tables, the chains `chain_pred(name)` selects (their rules,
--- the rules jumping to them, then the chains) and the single rules `rule_pred(rule)` selects.
---@param text string iptables-save output
---@param chain_pred fun(name: string): boolean
---@param rule_pred fun(rule: table): boolean|nil
---@return string restore text ("" when nothing is to be done)
---@return table found {{table, chain = name|nil, rules = n}}
function M.plan(text, chain_pred, rule_pred)
   local out, found = {}, {}
   local names = {}
   local parsed = M.parse(text)
   for t in pairs(parsed) do names[#names + 1] = t end
   table.sort(names)
   for _, t in ipairs(names) do
      local tb = parsed[t]
      local cmds, gone = {}, {}
      for _, c in ipairs(tb.order) do
         if chain_pred(c) then gone[c] = 0 end
      end
      for _, r in ipairs(tb.rules) do
         if gone[r.chain] then
            gone[r.chain] = gone[r.chain] + 1
         elseif (target(r.spec) and gone[target(r.spec)]) or (rule_pred and rule_pred(r)) then
            cmds[#cmds + 1] = "-D " .. r.chain .. r.spec
            found[#found + 1] = { table = t, rule = r.line, rules = 1 }
         end
      end
      for _, c in ipairs(tb.order) do
         if gone[c] then
            cmds[#cmds + 1] = "-F " .. c
            found[#found + 1] = { table = t, chain = c, rules = gone[c] }
         end
      end
      for _, c in ipairs(tb.order) do
         if gone[c] then cmds[#cmds + 1] = "-X " .. c end
      end
      if #cmds > 0 then
         out[#out + 1] = "*" .. t
         for _, c in ipairs(cmds) do out[#out + 1] = c end
         out[#out + 1] = "COMMIT"
      end
   end
   return #out > 0 and table.concat(out, "\n") .. "\n" or "", found
end

--- Removes what plan selects in every family and backend of the host. Missing tools are
--- skipped (reported in `skipped`). Idempotent: a second run finds nothing.
---@param chain_pred fun(name: string): boolean
---@param rule_pred fun(rule: table): boolean|nil
---@return table|nil removed {{family, backend, table, chain?, rule?, rules}}
---@return string|table message, or the skipped list on success
---@return string|nil code
function M.remove(chain_pred, rule_pred)
   local removed, skipped = setmetatable({}, json.array_mt), setmetatable({}, json.array_mt)
   for _, family in ipairs(M.FAMILIES) do
      for _, backend in ipairs(M.BACKENDS) do
         local text, err, code = iptables.save(family, backend)
         if not text and code == "ENOENT" then
            skipped[#skipped + 1] = { family = family, backend = backend, why = err }
         elseif not text then
            -- a backend the kernel does not offer (no nf_tables, no ip_tables) has nothing to remove
            skipped[#skipped + 1] = { family = family, backend = backend, why = err }
         else
            local plan, found = M.plan(text, chain_pred, rule_pred)
            if plan ~= "" then
               local ok, rerr, rcode = iptables.restore(family, backend, plan)
               if not ok then return nil, rerr, rcode end
               for _, f in ipairs(found) do
                  f.family, f.backend = family, backend
                  removed[#removed + 1] = f
               end
            end
         end
      end
   end
   return removed, skipped
end

--- Deletes the nftables tables of the host named in `wanted` ({{family, name}}), with all they
--- hold. Idempotent. Without nft there is no nftables mode to undo: nothing removed, the reason
--- given as `skipped`.
---@param wanted table
---@return table|nil removed {"family name", ...}
---@return string|nil skipped, or the message on failure
---@return string|nil code
function M.remove_nft_tables(wanted)
   local removed = setmetatable({}, json.array_mt)
   local tables, err, code = iptables.nft_tables()
   if not tables and code == "ENOENT" then return removed, err end
   if not tables then return nil, err, code end
   for _, t in ipairs(tables) do
      for _, w in ipairs(wanted) do
         if t.family == w.family and t.name == w.name then
            local ok, derr, dcode = iptables.nft_delete_table(t.family, t.name)
            if not ok then return nil, derr, dcode end
            removed[#removed + 1] = t.family .. " " .. t.name
         end
      end
   end
   return removed
end

return M
