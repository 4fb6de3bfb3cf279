# fake_lib.sh - start and stop `cni-migrate fake serve` for a test (sourced after lib.sh).
# fake_start FIXTURE [FLAGS...]: serves FIXTURE on 127.0.0.1:0, sets $URL and $KUBECONFIG.
FAKE_PID=""
FAKE_DIR=$(mktemp -d)
# kubectl caches discovery and OpenAPI in $HOME/.kube/cache/discovery/127.0.0.1_PORT. fake serve
# listens on an ephemeral port, so a port one test's server used comes back to another test's
# server with other kinds and schemas; each test keeps its own cache so none can read another's.
# (Not what made cli/test_fake_validation fail now and then: that was a 409, see that test.)
mkdir -p "$FAKE_DIR/home"
export HOME="$FAKE_DIR/home"
export KUBECACHEDIR="$FAKE_DIR/home/.kube/cache"
fake_stop() {
    if [ -n "$FAKE_PID" ]; then
        if ! kill -0 "$FAKE_PID" 2>/dev/null; then # it ended on its own: say how, once
            echo "FAIL: fake serve exited while the test ran; its stderr ends:" >&2
            tail -n 20 "$FAKE_DIR/stderr" >&2
        fi
        kill "$FAKE_PID" 2>/dev/null
        i=0 # a server that does not stop on SIGTERM within 10 s is killed, and the test says so
        while kill -0 "$FAKE_PID" 2>/dev/null && [ $i -lt 100 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        if kill -0 "$FAKE_PID" 2>/dev/null; then
            echo "FAIL: fake serve did not stop on SIGTERM within 10 s" >&2
            kill -KILL "$FAKE_PID" 2>/dev/null
        fi
        wait "$FAKE_PID" 2>/dev/null
        FAKE_RC=$?
    fi
    FAKE_PID=""
}
trap 'fake_stop; rm -rf "$FAKE_DIR"' EXIT
fake_start() {
    fake_stop
    : > "$FAKE_DIR/url"
    "$CNI_MIGRATE" fake serve "$@" --listen 127.0.0.1:0 --kubeconfig-out "$FAKE_DIR/kubeconfig" \
        > "$FAKE_DIR/url" 2> "$FAKE_DIR/stderr" &
    FAKE_PID=$!
    i=0
    while [ ! -s "$FAKE_DIR/url" ] && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    URL=$(head -n1 "$FAKE_DIR/url")
    if [ -z "$URL" ]; then
        echo "FAIL: fake serve did not start:" >&2
        cat "$FAKE_DIR/stderr" >&2
        exit 1
    fi
    export KUBECONFIG="$FAKE_DIR/kubeconfig"
}

# KUBECTLS: the kubectl versions on this machine: /usr/bin's, then the Cloud SDK's 1.27 and 1.33.
SDK=/usr/lib/google-cloud-sdk/bin
KUBECTLS=""
command -v kubectl >/dev/null 2>&1 && KUBECTLS="$(command -v kubectl)"
for v in 1.27 1.33; do [ -x "$SDK/kubectl.$v" ] && KUBECTLS="$KUBECTLS $SDK/kubectl.$v"; done
