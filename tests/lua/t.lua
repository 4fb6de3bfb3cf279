--- t: a small assertion helper for Lua tests run by the real binary.
--- local t = require "t"; t.eq(actual, expected, "what"); ...; t.done()
--- A failed check raises at once (the script stops there, the run exits 1), so a test that forgets
--- t.done() still fails; t.done() fails a test that checked nothing.
local json = require "cm.json"

local M = { failures = 0, checks = 0 }

--- A readable form of any value: tables as JSON with sorted keys.
---@param v any
---@return string
local function show(v)
   if type(v) == "string" then return ("%q"):format(v) end
   if type(v) == "table" then
      local ok, s = pcall(json.encode, v)
      return ok and s or tostring(v)
   end
   if math.type(v) == "float" then return ("%.17g (float)"):format(v) end
   return tostring(v)
end
M.show = show

local function deep_eq(a, b)
   if a == b then return true end
   if type(a) ~= "table" or type(b) ~= "table" then return false end
   for k, v in pairs(a) do
      if not deep_eq(v, b[k]) then return false end
   end
   for k in pairs(b) do
      if a[k] == nil then return false end
   end
   return true
end

local function fail(what, msg)
   M.failures = M.failures + 1
   local info = debug.getinfo(3, "Sl")
   error(("%s:%d: %s: %s"):format(info.short_src, info.currentline, what or "check", msg), 0)
end

--- Checks actual == expected (tables compared deeply; integer vs float matters).
function M.eq(actual, expected, what)
   M.checks = M.checks + 1
   local same = deep_eq(actual, expected)
   if same and type(actual) == "number" and math.type(actual) ~= math.type(expected) then same = false end
   if not same then
      fail(what, ("\n  expected %s\n  actual   %s"):format(show(expected), show(actual)))
   end
end

--- Checks that s (a string) matches the Lua pattern.
function M.match(s, pattern, what)
   M.checks = M.checks + 1
   if type(s) ~= "string" or not s:find(pattern) then
      fail(what, ("\n  expected a match for %s\n  actual   %s"):format(show(pattern), show(s)))
   end
end

--- Checks that fn(...) raises an error matching pattern.
function M.raises(pattern, fn, ...)
   M.checks = M.checks + 1
   local ok, err = pcall(fn, ...)
   if ok then
      fail("raises", "expected an error matching " .. show(pattern) .. ", got none")
   elseif not tostring(err):find(pattern) then
      fail("raises", ("\n  expected an error matching %s\n  actual   %s"):format(show(pattern), show(err)))
   end
end

--- Ends the test: prints a summary, exits 1 if any check failed.
function M.done()
   if M.checks == 0 then error("t.done(): no check was made", 2) end
   if M.failures > 0 then error(("%d of %d checks failed"):format(M.failures, M.checks), 2) end
   print(("ok: %d checks"):format(M.checks))
end

return M
