#!/bin/sh
# fake serve --authorize with kubectl and cni-migrate: the kubeconfig it writes is a cluster admin's
# (a random token); `kubectl create token` gets a ServiceAccount's token (a TokenRequest); that
# account may do what its ClusterRoleBindings and RoleBindings grant and gets the API server's 403
# otherwise (cluster scope and namespace, named and not, subresources); SelfSubjectAccessReviews
# (kubectl auth can-i, preflight's RBAC check) answer by the same rules; a token the server did not
# issue is a 401; cni-migrate's preflight and a whole migration as the ServiceAccount of
# examples/deploy/migration-job.yaml (test_least_privilege.sh removes its rules one by one).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
. "$(dirname "$0")/rbac_lib.sh"
F="$CM_SOURCE_DIR/examples/clusters/flannel-calico-installed-4node.yaml"

start_rbac "$MANIFEST" --speed 100
# the admin: everything, and a random token in the kubeconfig
grep -q 'token: cm-admin\.[0-9a-f]\{32\}' "$KUBECONFIG" || fail "no admin token in the kubeconfig"
run kubectl auth can-i '*' '*' --all-namespaces
expect_rc 0
expect_out '^yes$'
run kubectl get secrets -A
expect_rc 0
# the ServiceAccount: what its ClusterRole grants, and the API server's 403 for the rest
run kubectl --kubeconfig "$SAK" get nodes
expect_rc 0
expect_out '^worker-1 +Ready'
run kubectl --kubeconfig "$SAK" get secrets -A
expect_rc 1
expect_out "^Error from server \(Forbidden\): secrets is forbidden: User \"$SA\" cannot list resource \"secrets\" in API group \"\" at the cluster scope$"
run kubectl --kubeconfig "$SAK" get secrets -n kube-flannel
expect_rc 1
expect_out "^Error from server \(Forbidden\): secrets is forbidden: User \"$SA\" cannot list resource \"secrets\" in API group \"\" in the namespace \"kube-flannel\"$"
run kubectl --kubeconfig "$SAK" delete node worker-1
expect_rc 1
expect_out "^Error from server \(Forbidden\): nodes \"worker-1\" is forbidden: User \"$SA\" cannot delete resource \"nodes\" in API group \"\" at the cluster scope$"
run kubectl --kubeconfig "$SAK" get ippools.crd.projectcalico.org default-ipv4-ippool
expect_rc 1
expect_out "^Error from server \(Forbidden\): ippools\.crd\.projectcalico\.org \"default-ipv4-ippool\" is forbidden: User \"$SA\" cannot get resource \"ippools\" in API group \"crd\.projectcalico\.org\" at the cluster scope$"
run kubectl --kubeconfig "$SAK" get cm -n kube-system calico-config
expect_rc 0
run kubectl --kubeconfig "$SAK" auth can-i create pods/eviction -n default
expect_out '^yes$'
run kubectl --kubeconfig "$SAK" auth can-i update nodes/status
expect_out '^no$'
run kubectl --kubeconfig "$SAK" auth can-i create serviceaccounts/token -n kube-system
expect_out '^no$'
run curl -sk -X POST -H "Authorization: Bearer $(awk '/token: cm-sa/ {print $2}' "$SAK")" \
    -H 'Content-Type: application/json' -d '{}' "$URL/api/v1/namespaces/kube-system/serviceaccounts/cni-migrate/token"
expect_out "\"message\":\"serviceaccounts \\\\\"cni-migrate\\\\\" is forbidden: User \\\\\"$SA\\\\\" cannot create resource \\\\\"serviceaccounts/token\\\\\" in API group \\\\\"\\\\\" in the namespace \\\\\"kube-system\\\\\"\""
expect_out '"reason":"Forbidden","details":\{"name":"cni-migrate","kind":"serviceaccounts"\},"code":403'
# a RoleBinding grants in its namespace only
run kubectl create role secrets-reader -n kube-flannel --verb=list --resource=secrets
expect_rc 0
run kubectl create rolebinding cm-secrets -n kube-flannel --role=secrets-reader --serviceaccount=kube-system:cni-migrate
expect_rc 0
run kubectl --kubeconfig "$SAK" get secrets -n kube-flannel
expect_rc 0
run kubectl --kubeconfig "$SAK" get secrets -n default
expect_rc 1
expect_out 'cannot list resource "secrets" in API group "" in the namespace "default"$'
# tokens: an unknown one is a 401; a token for an account that does not exist is a 404
as_sa cm-sa.00000000000000000000000000000000
run kubectl --kubeconfig "$SAK" get nodes
expect_rc 1
expect_out '^error: You must be logged in to the server \(Unauthorized\)$'
run kubectl create token nobody -n kube-system
expect_rc 1
expect_out '^error: failed to create token: serviceaccounts "nobody" not found$'

# cni-migrate as the ServiceAccount: preflight's RBAC check by SelfSubjectAccessReview, then the
# whole migration over HTTP
run kubectl create token cni-migrate -n kube-system
as_sa "$OUT"
run "$B" --kubeconfig "$SAK" preflight
expect_rc 0
expect_out '^rbac +ok +this account +[0-9]+ permissions allowed$'
run "$B" --kubeconfig "$SAK" migrate
expect_rc 0
expect_out '^Migrated 4 node\(s\) to Calico in '
fake_stop

done_ok
