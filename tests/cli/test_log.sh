#!/bin/sh
# cm.log through the CLI: text and JSON formats, levels, redaction, the run's clock.
. "$(dirname "$0")/lib.sh"
B=${CNI_MIGRATE:?}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/log.lua" <<'LUA'
local log = require "cm.log"
log.debug("debug line", { n = 1 })
log.info("draining node", { node = "worker-1", pods = 12, why = "two words", ok = true,
   token = "abc", key = log.secret("s3cr3t"), list = { 1, 2 } })
log.warn("plain")
LUA
ts='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'
run "$B" run "$dir/log.lua"
expect_rc 0
expect_out "^$ts INFO  draining node key=\[redacted\] list=\[1,2\] node=worker-1 ok=true pods=12 token=\[redacted\] why=\"two words\"$"
expect_out "^$ts WARN  plain$"
expect_no_out "debug line"
expect_no_out "s3cr3t|abc"
run "$B" -v --log-format json run "$dir/log.lua"
expect_rc 0
expect_out "^\{\"time\":\"$ts\",\"level\":\"debug\",\"msg\":\"debug line\",\"n\":1\}$"
expect_out "^\{\"time\":\"$ts\",\"level\":\"info\",\"msg\":\"draining node\",\"key\":\"\[redacted\]\",\"list\":\[1,2\],\"node\":\"worker-1\",\"ok\":true,\"pods\":12,\"token\":\"\[redacted\]\",\"why\":\"two words\"\}$"
run "$B" --log-level error run "$dir/log.lua"
expect_rc 0
expect_empty
done_ok
