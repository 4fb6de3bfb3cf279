# rbac_lib.sh - fake serve --authorize with a manifest's RBAC (sourced after lib.sh and fake_lib.sh).
B=${CNI_MIGRATE:?}
MANIFEST=${MANIFEST:-"$CM_SOURCE_DIR/examples/deploy/migration-job.yaml"}
SA_NAME=${SA_NAME:-cni-migrate} # the manifest's ServiceAccount in kube-system
SA="system:serviceaccount:kube-system:$SA_NAME"
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
    run kubectl create token "$SA_NAME" -n kube-system
    expect_rc 0
    expect_out '^cm-sa\.[0-9a-f]{32}$'
    as_sa "$OUT"
}

# expect_denied RULE: the output's first 403 names a verb and a resource of RULE ("groups resources
# verbs", each comma-separated, as tests/k8s/drop_rule.lua prints a rule)
expect_denied() {
    denied=$(printf '%s\n' "$OUT" | grep -Eo "is forbidden: User \"$SA\" cannot [a-z]+ resource \"[a-z/]+\" in API group \"[a-z0-9.-]*\"" |
        head -n 1 | awk -F'"' '{ split($3, w, " "); print ($6 == "" ? "core" : $6) " " $4 " " w[2] }')
    set -- $1
    set -- ${denied:-none none none} "$1" "$2" "$3"
    case ",$4, ,$5, ,$6," in
        *",$1,"*" "*",$2,"*" "*",$3,"*) echo "without ($4 $5 $6): 403 for $3 $1/$2" ;;
        *) fail "without ($4 $5 $6): no 403 naming one of its verbs and resources (got: ${denied:-none})" ;;
    esac
}
