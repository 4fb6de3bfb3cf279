#!/bin/sh
# cm.k8s against the fake cluster, in process (--fake) and over HTTPS (fake serve --tls --token):
# the same script, the same answers.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
B=${CNI_MIGRATE:?}
S=${CM_SOURCE_DIR:?}
F="$S/examples/clusters/flannel-10node.yaml"
run "$B" --fake "$F" run "$S/tests/k8s/against_fake.lua"
expect_rc 0
expect_out "^ok: [0-9]+ checks$"
fake_start "$F" --tls --token s3cret
run "$B" --kubeconfig "$KUBECONFIG" run "$S/tests/k8s/against_fake.lua"
expect_rc 0
expect_out "^ok: [0-9]+ checks$"
done_ok
