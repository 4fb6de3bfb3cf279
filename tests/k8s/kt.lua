--- kt: helpers for the cm.k8s tests against tests/k8s/apiserver.py.
--- The server's directory comes from the environment (K8S_TEST_DIR), set by tests/cli/test_k8s.sh.
local json = require "cm.json"

local M = {}

M.dir = assert(os.getenv("K8S_TEST_DIR"), "K8S_TEST_DIR is not set")

--- Writes the server's control file (its behaviour for the next requests).
---@param t table
function M.control(t)
   local f = assert(io.open(M.dir .. "/control.json", "w"))
   f:write(json.encode(t))
   f:close()
end

--- Forgets the requests recorded so far.
function M.reset()
   local f = assert(io.open(M.dir .. "/requests.jsonl", "w"))
   f:close()
end

--- The requests recorded since the last reset, oldest first.
---@return table[]
function M.requests()
   local list = {}
   local f = io.open(M.dir .. "/requests.jsonl")
   if not f then return list end
   for line in f:lines() do list[#list + 1] = assert(json.decode(line)) end
   f:close()
   return list
end

--- The value of query parameter key of request r (nil when absent).
function M.query(r, key)
   return r.query[key] and r.query[key][1]
end

--- Writes text to a file of the test directory; returns its path.
function M.write(name, text)
   local path = M.dir .. "/" .. name
   local f = assert(io.open(path, "w"))
   f:write(text)
   f:close()
   return path
end

--- Reads a file of the test directory (nil when missing).
function M.read(name)
   local f = io.open(M.dir .. "/" .. name)
   if not f then return nil end
   local s = f:read("a")
   f:close()
   return s
end

return M
