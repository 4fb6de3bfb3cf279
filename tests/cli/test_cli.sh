#!/bin/sh
# The command line: usage errors, exit codes, messages, deadlines, signals, bundled Lua.
. "$(dirname "$0")/lib.sh"
B=${CNI_MIGRATE:?}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# usage errors: exit 2, one line naming what is wrong
run "$B"
expect_rc 2
expect_out '^usage: cni-migrate'
run "$B" frobnicate
expect_rc 2
expect_out "^cni-migrate: unknown command 'frobnicate' \(see 'cni-migrate help'\)$"
expect_lines 1
run "$B" --frob run x.lua
expect_rc 2
expect_out "^cni-migrate: unknown flag '--frob' \(see 'cni-migrate help'\)$"
expect_lines 1
run "$B" run
expect_rc 2
expect_out "^cni-migrate: run: missing SCRIPT"
run "$B" run --timeout
expect_rc 2
expect_out "^cni-migrate: flag --timeout needs a value$"
run "$B" --timeout=soon run x.lua
expect_rc 2
expect_out "^cni-migrate: --timeout: 'soon' is not a duration"
run "$B" --log-format=xml run x.lua
expect_rc 2
expect_out "^cni-migrate: --log-format: expected text or json, got 'xml'$"
run "$B" --lua-dir "$dir/nope" run x.lua
expect_rc 2
expect_out "^cni-migrate: --lua-dir: .*/nope: No such file or directory$"
run env CNI_MIGRATE_LUA_DIR="$dir/nope" "$B" version
expect_rc 2
expect_out "^cni-migrate: CNI_MIGRATE_LUA_DIR: lua-dir: .*/nope: No such file or directory$"
run "$B" run "$dir/missing.lua"
expect_rc 2
expect_out "^cni-migrate: cannot open .*/missing\.lua: No such file or directory$"
expect_lines 1
run "$B" run no-such-procedure
expect_rc 2
expect_out "^cni-migrate: no bundled procedure 'no-such-procedure'$"

# a syntax error is bad input: exit 2, file and line
printf 'local x = 1\nlocal y = = 2\n' >"$dir/syntax.lua"
run "$B" run "$dir/syntax.lua"
expect_rc 2
expect_out "^cni-migrate: [^:]*/syntax\.lua:2: unexpected symbol near '='$"
expect_lines 1

# a script that raises: exit 1, lua-style file:line: message, then a traceback
printf 'local function inner()\n  error("boom")\nend\ninner()\n' >"$dir/raise.lua"
run "$B" run "$dir/raise.lua"
expect_rc 1
expect_out "^cni-migrate: [^:]*/raise\.lua:2: boom$"
expect_out "^stack traceback:$"
expect_out "raise\.lua:2: in (local|upvalue|function) '?inner'?"
expect_out "raise\.lua:4: in main chunk"

# a non-string error object
printf 'error({code = 7})\n' >"$dir/table.lua"
run "$B" run "$dir/table.lua"
expect_rc 1
expect_out "^cni-migrate: \(error object is a table value\)$"

# strict globals
printf 'x = 1\n' >"$dir/assign.lua"
run "$B" run "$dir/assign.lua"
expect_rc 1
expect_out "assign\.lua:1: assignment to undeclared global 'x'$"
printf 'print(y)\n' >"$dir/read.lua"
run "$B" run "$dir/read.lua"
expect_rc 1
expect_out "read\.lua:1: undefined global 'y'$"

# arguments as the lua interpreter gives them
printf 'local a, b = ...\nprint(arg[0], arg[1], arg[2], a, b, #arg)\n' >"$dir/args.lua"
run "$B" run "$dir/args.lua" one --two
expect_rc 0
expect_out "^.*/args\.lua	one	--two	one	--two	2$"

# a deadline: a busy loop, even one that swallows errors with pcall, is stopped
printf 'while true do pcall(function() while true do end end) end\n' >"$dir/spin.lua"
run "$B" --timeout 300ms run "$dir/spin.lua"
expect_rc 1
expect_out "^cni-migrate: [^:]*/spin\.lua:1: run exceeded its deadline of 300ms$"
expect_lines 1
printf 'require("cm.time").sleep(60)\n' >"$dir/sleep.lua"
run "$B" --timeout 0.2 run "$dir/sleep.lua"
expect_rc 1
expect_out "^cni-migrate: [^:]*/sleep\.lua:1: run exceeded its deadline of 0\.2s$"

# run_signalled N CMD...: runs CMD in the background, waits for it to print "ready" (so its
# handlers are in place, however loaded the machine), sends it N SIGTERMs 0.3 s apart, then
# leaves its exit code in $RC and its output in $OUT.
run_signalled() {
    n=$1
    shift
    "$@" >"$dir/out" 2>&1 &
    pid=$!
    tries=0
    until grep -q '^ready$' "$dir/out" || [ "$tries" -ge 100 ]; do
        sleep 0.1
        tries=$((tries + 1))
    done
    while [ "$n" -gt 0 ]; do
        sleep 0.3
        kill -TERM "$pid"
        n=$((n - 1))
    done
    wait "$pid"
    RC=$?
    OUT=$(cat "$dir/out")
}

# SIGTERM interrupts a sleeping script, and a busy one
printf 'io.stderr:write("ready\\n") require("cm.time").sleep(60)\n' >"$dir/sigsleep.lua"
printf 'io.stderr:write("ready\\n") while true do pcall(function() while true do end end) end\n' >"$dir/sigspin.lua"
for script in sigsleep sigspin; do
    run_signalled 1 "$B" run "$dir/$script.lua"
    expect_rc 1
    expect_out "^cni-migrate: [^:]*/$script\.lua:1: run cancelled$"
done

# SIGTERM interrupts a blocking system call (the handler does not restart it)
mkfifo "$dir/fifo"
printf 'io.stderr:write("ready\\n")\nlocal f, err = io.open(arg[1])\nprint(f, err)\nrequire("cm.time").sleep(0)\n' >"$dir/block.lua"
run_signalled 1 "$B" run "$dir/block.lua" "$dir/fifo"
expect_rc 1
expect_out "Interrupted system call"
expect_out "^cni-migrate: [^:]*/block\.lua:4: run cancelled$"

# a second SIGTERM kills a script stuck in a long C call, where the first cannot reach
printf 'io.stderr:write("ready\\n") print(("a"):rep(200000):find(".-.-.-.-.-b"))\n' >"$dir/stuck.lua"
run_signalled 2 "$B" run "$dir/stuck.lua"
expect_rc 143

# tasks: the deadline stops them too; a script that ends with tasks running is warned about
printf 'local task = require "cm.task"\nlocal t = task.spawn(function() while true do end end)\nt:wait()\n' >"$dir/taskspin.lua"
run "$B" --timeout 0.3 run "$dir/taskspin.lua"
expect_rc 1
expect_out "^cni-migrate: [^:]*/taskspin\.lua:3: run exceeded its deadline of 0\.3s$"
printf 'local task = require "cm.task"\ntask.spawn(require("cm.time").sleep, 60)\nprint("bye")\n' >"$dir/orphan.lua"
run "$B" run "$dir/orphan.lua"
expect_rc 0
expect_out "^bye$"
expect_out "WARN  the script ended with tasks still running; they were stopped tasks=1$"

# bundled Lua is found from any directory; --lua-dir and CNI_MIGRATE_LUA_DIR take a site copy first
printf 'local f = require "cm.flannel"\nprint(type(f.parse_net_conf))\n' >"$dir/req.lua"
run sh -c "cd / && '$B' run '$dir/req.lua'"
expect_rc 0
expect_out "^function$"
mkdir -p "$dir/site/cm"
printf 'return { parse_net_conf = "site copy" }\n' >"$dir/site/cm/flannel.lua"
run "$B" --lua-dir "$dir/site" run "$dir/req.lua"
expect_rc 0
expect_out "^string$"
run env CNI_MIGRATE_LUA_DIR="$dir/site" "$B" run "$dir/req.lua"
expect_out "^string$"
printf 'error("site procedure")\n' >"$dir/site/flannel-config.lua"
run "$B" --lua-dir "$dir/site" run flannel-config
expect_rc 1
expect_out "^cni-migrate: [^:]*/site/flannel-config\.lua:1: site procedure$"

# version names the libraries
run "$B" version
expect_rc 0
expect_out "^cni-migrate [0-9]+\.[0-9]+\.[0-9]+$"
expect_out "^Lua 5\.4"
expect_out "^libcurl "
expect_out "^cJSON "
expect_out "^libyaml "
done_ok
