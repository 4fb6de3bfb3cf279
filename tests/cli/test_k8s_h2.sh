#!/bin/sh
# cm.k8s over HTTP/2: against a TLS loopback server on Node.js's http2 module (tests/k8s/h2server.js)
# the client negotiates h2 by ALPN, keeps one connection and multiplexes the requests of several
# tasks on it; against an HTTPS server that speaks HTTP/1.1 only, the same script works over 1.1.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../k8s/env.sh"

NODE=$(command -v node || command -v nodejs || true)
if [ -z "$NODE" ]; then
    echo "SKIP: Node.js is missing (the HTTP/2 test server needs it; Debian package nodejs)"
    exit 77
fi
if ! "$NODE" -e 'require("http2")' 2>/dev/null; then
    echo "SKIP: $NODE has no http2 module"
    exit 77
fi
make_certs

# serve MODE: starts h2server.js in MODE under $TMP/MODE, with a kubeconfig; sets PORT.
serve() {
    mkdir -p "$TMP/$1"
    "$NODE" "$SRC/tests/k8s/h2server.js" "$TMP/$1" "$TMP/pki/server.crt" "$TMP/pki/server.key" "$1" \
        >"$TMP/$1/port" 2>"$TMP/$1/stderr" &
    PIDS="$PIDS $!"
    i=0
    while [ ! -s "$TMP/$1/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    PORT=$(cat "$TMP/$1/port")
    [ -n "$PORT" ] || { echo "FAIL: the Node.js test server did not start"; cat "$TMP/$1/stderr"; exit 1; }
    cat >"$TMP/$1/kubeconfig" <<YAML
apiVersion: v1
kind: Config
current-context: t
clusters: [{name: c, cluster: {server: "https://127.0.0.1:$PORT", certificate-authority: $TMP/pki/ca.crt}}]
users: [{name: u, user: {token: tok}}]
contexts: [{name: t, context: {cluster: c, user: u}}]
YAML
}

for mode in h2 h1; do
    serve $mode
    KUBECONFIG="$TMP/$mode/kubeconfig" run_lua $mode h2.lua $mode
done
done_ok
