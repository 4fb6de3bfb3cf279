--- A second hook file for tests/cli/test_hooks.sh: hooks of the same name in several files all run,
--- in the order the files were given.
local path = assert(os.getenv("HOOK_TRACE"), "HOOK_TRACE is not set")

return {
   before_step = function(_, node, step)
      local f = assert(io.open(path, "a"))
      f:write(("  second before_step %s %s\n"):format(node and node.metadata.name or "cluster", step))
      f:close()
   end,
}
