#!/bin/sh
# The embedding example: runs a script through include/cnimigrate.h with its own log sink.
. "$(dirname "$0")/lib.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/ok.lua" <<'LUA'
local log = require "cm.log"
log.info("from the script", { n = 1 })
log.debug("not shown at info level")
LUA
cat >"$dir/bad.lua" <<'LUA'
error("it broke")
LUA
run "${EMBED_EXAMPLE:?}" "$dir/ok.lua" a b
expect_rc 0
expect_out '^\[embed level=1\] \{"time":"[0-9T:.-]+Z","level":"info","msg":"from the script","n":1\}$'
expect_out '^result=0 log_lines=1 version=[0-9]+\.[0-9]+\.[0-9]+$'
run "$EMBED_EXAMPLE" "$dir/bad.lua"
expect_rc 1
expect_out '^error: .*bad\.lua:1: it broke$'
run "$EMBED_EXAMPLE" "$dir/missing.lua"
expect_rc 2
expect_out '^error: cannot open .*missing\.lua'
done_ok
