--- cm.proc: how a procedure ends when it cannot do its job. Library code never calls os.exit
--- and never prints errors: it raises a usage or failure value, which the CLI turns into exit
--- code 2 or 1 (printing "cni-migrate: MESSAGE") and an embedder gets back from
--- cm_runtime_run_file() with the message in cm_runtime_last_error().
local M = {}

--- The metatable of the raised values; the runtime knows them by this __name.
local Failure = {
   __name = "cm.proc.Failure",
   __tostring = function(f) return f.message end,
}

local function message(fmt, ...)
   if select("#", ...) > 0 then return fmt:format(...) end
   return tostring(fmt)
end

local function raise(exit, what, ...)
   local f
   if type(what) == "table" then
      f = { exit = exit, message = tostring(what.message), code = what.code }
   else
      f = { exit = exit, message = message(what, ...) }
   end
   error(setmetatable(f, Failure), 0)
end

--- Raises a usage value (exit code 2): bad arguments or bad input, nothing was done.
---@param fmt string|table a message (string.format-style with the arguments after it), or {message=, code=}
function M.usage(fmt, ...) raise(2, fmt, ...) end

--- Raises a failure value (exit code 1): the procedure ran and did not succeed.
---@param fmt string|table a message (string.format-style with the arguments after it), or {message=, code=}
function M.fail(fmt, ...) raise(1, fmt, ...) end

--- v, or a failure with msg and code when v is nil or false: proc.check(c:get(ref)).
function M.check(v, msg, code, ...)
   if not v then raise(1, { message = msg or "failed", code = code }) end
   return v, msg, code, ...
end

--- v, or a usage value with msg when v is nil or false.
function M.check_usage(v, msg, code, ...)
   if not v then raise(2, { message = msg or "bad usage", code = code }) end
   return v, msg, code, ...
end

--- Whether e (an error value from pcall) is a usage or failure value of this module.
function M.is_failure(e)
   return getmetatable(e) == Failure
end

return M
