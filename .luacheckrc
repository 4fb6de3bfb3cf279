-- luacheck configuration: Lua 5.4, no globals beyond the standard ones and `arg`.
std = "lua54"
read_globals = { "arg" }
max_line_length = 120
-- tests read several results of one call into the same locals, then check some of them
files["tests/"] = { max_line_length = 130, ignore = { "311" } }
