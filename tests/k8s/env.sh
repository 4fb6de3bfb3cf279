# env.sh - shell helpers for the cm.k8s tests: a test directory, the loopback
# API server (tests/k8s/apiserver.py), test certificates and kubeconfigs.
# Sourced after tests/cli/lib.sh.
PY=/usr/bin/python3
if [ ! -x "$PY" ]; then echo "SKIP: $PY is missing (the test API server needs it)"; exit 77; fi
SRC=${CM_SOURCE_DIR:?}
TMP=$(mktemp -d)
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT
export LUA_PATH_5_4="$SRC/tests/k8s/?.lua;$SRC/tests/lua/?.lua"
unset KUBECONFIG KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT HTTPS_PROXY https_proxy HTTP_PROXY http_proxy
export HOME="$TMP/home"
mkdir -p "$HOME"

# start_server NAME [--tls CERT KEY [CLIENT_CA]]: serves $TMP/NAME; sets PORT.
start_server() {
    name=$1
    shift
    mkdir -p "$TMP/$name"
    echo '{}' >"$TMP/$name/control.json"
    "$PY" "$SRC/tests/k8s/apiserver.py" "$TMP/$name" "$@" >"$TMP/$name/port" 2>"$TMP/$name/stderr" &
    PIDS="$PIDS $!"
    i=0
    while [ ! -s "$TMP/$name/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    PORT=$(cat "$TMP/$name/port")
    [ -n "$PORT" ] || { echo "FAIL: the test API server did not start"; cat "$TMP/$name/stderr"; exit 1; }
}

# http_kubeconfig NAME: a kubeconfig for server NAME over plain HTTP (user token tok, namespace
# ns1), exported as KUBECONFIG.
http_kubeconfig() {
    cat >"$TMP/$1/kubeconfig" <<YAML
apiVersion: v1
kind: Config
current-context: t
clusters: [{name: c, cluster: {server: "http://127.0.0.1:$PORT"}}]
users: [{name: u, user: {token: tok}}]
contexts: [{name: t, context: {cluster: c, user: u, namespace: ns1}}]
YAML
    export KUBECONFIG="$TMP/$1/kubeconfig"
}

# make_certs: a test CA, a server certificate for 127.0.0.1, a client certificate
# (CN admin) and an unrelated CA, under $TMP/pki.
make_certs() {
    if ! command -v openssl >/dev/null 2>&1; then echo "SKIP: the openssl command is missing"; exit 77; fi
    d="$TMP/pki"
    mkdir -p "$d"
    ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    # shellcheck disable=SC2086
    {
        openssl req -x509 $ec -keyout "$d/ca.key" -out "$d/ca.crt" -days 2 -subj /CN=test-ca
        openssl req -x509 $ec -keyout "$d/other-ca.key" -out "$d/other-ca.crt" -days 2 -subj /CN=other-ca
        openssl req $ec -keyout "$d/server.key" -out "$d/server.csr" -subj /CN=localhost
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/san.ext"
        openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
            -out "$d/server.crt" -days 2 -extfile "$d/san.ext"
        openssl req $ec -keyout "$d/client.key" -out "$d/client.csr" -subj /CN=admin
        openssl x509 -req -in "$d/client.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
            -out "$d/client.crt" -days 2
    } >"$d/log" 2>&1 || { echo "FAIL: openssl"; cat "$d/log"; exit 1; }
}

# b64 FILE: the file in base64 on one line.
b64() {
    base64 -w0 "$1"
}

# run_lua NAME SCRIPT [ARGS...]: runs tests/k8s/SCRIPT against server NAME; asserts ok.
run_lua() {
    name=$1
    script=$2
    shift 2
    run env K8S_TEST_DIR="$TMP/$name" "$CNI_MIGRATE" run "$SRC/tests/k8s/$script" "$@"
    expect_rc 0
    expect_out '^ok: [0-9]+ checks$'
}
