#!/bin/sh
# Python's kubernetes client (Debian python3-kubernetes, /usr/bin/python3) against fake serve,
# over HTTP, then over HTTPS with a bearer token: selectors, paging, watch, patch, 409, eviction.
# The cluster is frozen (--no-sim): the PDB arithmetic it checks must not race the ReplicaSet.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
if ! /usr/bin/python3 -c 'import kubernetes' 2>/dev/null; then
    echo "SKIP: /usr/bin/python3 has no kubernetes module (Debian python3-kubernetes)"
    exit 77
fi
FIXTURE="$CM_SOURCE_DIR/examples/clusters/flannel-10node.yaml" # generate.lua --nodes 10 --statefulset 3 --pdbs
CLIENT="$(dirname "$0")/fake_client.py"
# --no-sim: the client's protocol is tested on a cluster that holds still (with the simulation, the
# evicted pod's replacement would change the budget's counts while the script reads them)

fake_start "$FIXTURE" --no-sim
run /usr/bin/python3 "$CLIENT" "$KUBECONFIG"
expect_rc 0
expect_out '^ok$'

fake_start "$FIXTURE" --no-sim --tls --token "py-t0ken"
case "$URL" in https://127.0.0.1:*) ;; *) fail "expected an https URL, got $URL" ;; esac
run /usr/bin/python3 "$CLIENT" "$KUBECONFIG"
expect_rc 0
expect_out '^ok$'
fake_stop
done_ok
