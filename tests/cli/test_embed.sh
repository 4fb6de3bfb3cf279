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
# a bundled procedure's usage and failure come back to the embedder, which prints its result
S=${CM_SOURCE_DIR:?}
run "$EMBED_EXAMPLE" "$S/lua/flannel-config.lua"
expect_rc 2
expect_out '^result=2 log_lines=0 version='
expect_out '^error: usage: cni-migrate run flannel-config MANIFEST\.yaml \[--json\]$'
run "$EMBED_EXAMPLE" "$S/lua/flannel-config.lua" "$dir/missing.yaml"
expect_rc 2
expect_out '^result=2 '
expect_out '^error: .*missing\.yaml: No such file or directory$'
run "$EMBED_EXAMPLE" "$S/lua/flannel-config.lua" "$S/examples/manifests/kube-flannel.yml"
expect_rc 0
expect_out '^result=0 '
expect_out '^  backend          vxlan, VNI 1, UDP port 8472$'
# cm.proc: a failure is exit 1 with its message, no traceback; inside pcall it is a value
cat >"$dir/fail.lua" <<'LUA'
local proc = require "cm.proc"
local ok, e = pcall(proc.fail, { message = "inner", code = "X" })
assert(not ok and proc.is_failure(e) and e.exit == 1 and e.code == "X" and tostring(e) == "inner")
ok, e = pcall(proc.usage, "bad %s", "flag")
assert(not ok and e.exit == 2 and e.message == "bad flag")
assert(proc.check(1, "unused") == 1)
proc.check(nil, "3 node(s) failed", "Partial")
LUA
run "$EMBED_EXAMPLE" "$dir/fail.lua"
expect_rc 1
expect_out '^error: 3 node\(s\) failed$'
expect_no_out 'traceback'
run "${CNI_MIGRATE:?}" run "$dir/fail.lua"
expect_rc 1
expect_out '^cni-migrate: 3 node\(s\) failed$'
expect_lines 1
done_ok
