#!/bin/sh
# tests/lua/t.lua itself: a failed check raises at once (a test that forgets t.done() still
# fails), and t.done() fails a test that made no check.
. "$(dirname "$0")/lib.sh"
B=${CNI_MIGRATE:?}
S=${CM_SOURCE_DIR:?}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf 'local t = require "t"\nt.eq(1, 2, "one is two")\nprint("not reached")\n' >"$dir/fails.lua"
printf 'local t = require "t"\nt.done()\n' >"$dir/empty.lua"
printf 'local t = require "t"\nt.eq({ a = 1 }, { a = 1 })\nt.match("abc", "^a")\nt.raises("x", error, "x")\nt.done()\n' >"$dir/ok.lua"
run env LUA_PATH_5_4="$S/tests/lua/?.lua" "$B" run "$dir/fails.lua"
expect_rc 1
expect_out "fails\.lua:2: one is two: $"
expect_no_out "not reached"
run env LUA_PATH_5_4="$S/tests/lua/?.lua" "$B" run "$dir/empty.lua"
expect_rc 1
expect_out "t\.done\(\): no check was made"
run env LUA_PATH_5_4="$S/tests/lua/?.lua" "$B" run "$dir/ok.lua"
expect_rc 0
expect_out "^ok: 3 checks$"
done_ok
