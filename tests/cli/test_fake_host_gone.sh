#!/bin/sh
# A script holds a node's simulated host while the Node is deleted and made again
# (tests/k8s/host_gone.lua); under the ASan build this is the use-after-free's test.
. "$(dirname "$0")/lib.sh"
B=${CNI_MIGRATE:?}
S=${CM_SOURCE_DIR:?}
run env LUA_PATH_5_4="$S/tests/lua/?.lua" "$B" --fake "$S/examples/clusters/flannel-3node.yaml" run "$S/tests/k8s/host_gone.lua"
expect_rc 0
expect_out "^ok: [0-9]+ checks$"
expect_no_out "AddressSanitizer|runtime error"
done_ok
