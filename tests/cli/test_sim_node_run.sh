#!/bin/sh
# The simulated kubelet runs node-run pods in process against the node's simulated host, and the
# result comes back in the container's termination message (tests/cli/node_run/sim_node_run.lua).
. "$(dirname "$0")/lib.sh"
src=$(cd "$(dirname "$0")/../.." && pwd)
run "$CNI_MIGRATE" run --fake "$src/examples/clusters/flannel-3node.yaml" "$src/tests/cli/node_run/sim_node_run.lua"
expect_rc 0
expect_out '^sim node-run ok$'
done_ok
