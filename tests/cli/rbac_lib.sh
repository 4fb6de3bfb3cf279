# rbac_lib.sh - fake serve --authorize with a manifest's RBAC (sourced after lib.sh and fake_lib.sh).
B=${CNI_MIGRATE:?}
MANIFEST="$CM_SOURCE_DIR/examples/deploy/migration-job.yaml"
SA='system:serviceaccount:kube-system:cni-migrate'
command -v kubectl >/dev/null 2>&1 || { echo "SKIP: kubectl is not installed"; exit 77; }

# rbac_only MANIFEST: its documents but the Job (the RBAC objects), on stdout
rbac_only() {
    awk 'function flush() { if (doc != "" && doc !~ /\nkind: Job\n/) printf "---\n%s", doc; doc = "" }
         /^---$/ { flush(); next } { doc = doc $0 "\n" } END { flush() }' "$1"
}
# as_sa TOKEN: the admin's kubeconfig with TOKEN instead, at $SAK
as_sa() {
    SAK="$FAKE_DIR/sa.kubeconfig"
    sed "s/^    token: .*/    token: $1/" "$KUBECONFIG" >"$SAK"
}
# start_rbac MANIFEST [FLAGS...]: a server with MANIFEST's RBAC applied by the admin, and $SAK
start_rbac() {
    m=$1
    shift
    fake_start "$F" --authorize "$@"
    rbac_only "$m" >"$FAKE_DIR/rbac.yaml"
    run kubectl apply -f "$FAKE_DIR/rbac.yaml"
    expect_rc 0
    run kubectl create token cni-migrate -n kube-system
    expect_rc 0
    expect_out '^cm-sa\.[0-9a-f]{32}$'
    as_sa "$OUT"
}

