#!/bin/sh
# The seed's procedure verbatim, with kubectl, against fake serve --authorize --run-image: the Job's pod
# is this binary run as a process, as a kubelet would (runtime/fake/sim/podproc.h). Apply Calico's
# flannel-migration manifest, apply examples/deploy/migration-job.yaml, `kubectl get jobs` reaches 1/1
# with the API server's columns, `kubectl logs -l` (and -f) shows our log, every node ends on Calico,
# `kubectl delete -f` the Job. A blocker (no Calico manifest) fails the Job at once through its
# podFailurePolicy: one pod, the reason in its log and in the Job's condition. What the kubelet gives
# the process (serviceaccount files at the standard path, downward API, ConfigMap and Secret variables,
# envFrom, $(VAR) expansion, service host and port) is checked by a pod that runs a script; a pod
# under restartPolicy OnFailure runs a new process after its failure; what a container writes at its
# terminationMessagePath is its termination message. No process outlives the server.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
B=${CNI_MIGRATE:?}
SRC=${CM_SOURCE_DIR:?}
command -v kubectl >/dev/null 2>&1 || { echo "SKIP: kubectl is not installed"; exit 77; }
CALICO="$SRC/../shared/reference/calico/flannel-migration/calico.yaml"
[ -f "$CALICO" ] || CALICO=/work/shared/reference/calico/flannel-migration/calico.yaml
[ -f "$CALICO" ] || { echo "SKIP: Calico's flannel-migration manifest is not here"; exit 77; }
JOB="$SRC/examples/deploy/migration-job.yaml"
F="$SRC/examples/clusters/flannel-3node.yaml"
IMAGE=ghcr.io/cni-migrate/cni-migrate
NS="-n kube-system"
SEL="-l k8s-app=flannel-migration-controller"

# children PID: the processes whose parent is PID
children() { ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' '; }

# wait_job COLUMN-REGEX: polls `kubectl get jobs` (0.5 s) until its line matches, at most 180 s
wait_job() {
    i=0
    while [ $i -lt 360 ]; do
        run kubectl get jobs $NS flannel-migration
        printf '%s\n' "$OUT" | grep -Eq -- "$1" && return 0
        sleep 0.5
        i=$((i + 1))
    done
    fail "the Job never matched: $1"
}

# 1. The seed's procedure.
fake_start "$F" --authorize --run-image "$IMAGE" --speed 20
run kubectl apply -f "$CALICO"
expect_rc 0
run kubectl apply -f "$JOB"
expect_rc 0
expect_out '^job.batch/flannel-migration created$'
# a follower from the start: it ends when the container does
run kubectl wait $NS --for=jsonpath='{.status.active}'=1 job/flannel-migration --timeout=60s
expect_rc 0
run kubectl wait $NS $SEL --for=jsonpath='{.status.phase}'=Running pod --timeout=60s
expect_rc 0
timeout 120 kubectl logs -f $NS $SEL >"$FAKE_DIR/follow" 2>&1 &
FOLLOW=$!
wait_job '^flannel-migration +Complete +1/1 +[0-9ms]+ +[0-9ms]+$'
expect_out '^NAME +STATUS +COMPLETIONS +DURATION +AGE$'
echo "$OUT"
wait "$FOLLOW"
[ $? -eq 0 ] || fail "kubectl logs -f did not end with the container"
grep -q "saved in ConfigMap kube-system/cni-migrate-flannel-backup" "$FAKE_DIR/follow" ||
    { OUT=$(cat "$FAKE_DIR/follow"); fail "kubectl logs -f did not show the run to its end"; }
# as kubectl does with a selector, the last 10 lines; all of them with --tail=-1
run kubectl logs $NS $SEL
expect_rc 0
expect_lines 10
expect_out "^Flannel's DaemonSet is saved in ConfigMap kube-system/cni-migrate-flannel-backup for rollback\.$"
run kubectl logs $NS $SEL --tail=-1
expect_out 'control-plane-1 +uncordon +uncordoned'
run kubectl logs $NS $SEL --tail=1
expect_lines 1
expect_out "^Flannel's DaemonSet is saved"
run kubectl get job $NS flannel-migration -o jsonpath='{range .status.conditions[*]}{.type}={.status} {end}{.status.succeeded}'
expect_out '^SuccessCriteriaMet=True Complete=True 1$'
EVCOLS='-o custom-columns=TYPE:.type,REASON:.reason,SOURCE:.source.component,MESSAGE:.message'
run kubectl get events $NS --field-selector involvedObject.kind=Job,involvedObject.name=flannel-migration $EVCOLS
expect_out '^Normal +Completed +job-controller +Job completed$'
run kubectl get pods $NS $SEL -o jsonpath='{.items[*].status.containerStatuses[0].state.terminated.reason}'
expect_out '^Completed$'
# every node on Calico: marked migrated, calico-node ready on it, flannel gone, its host on vxlan.calico
run kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.annotations.cni-migrate\.dev/migrated}{"\n"}{end}'
[ "$(printf '%s\n' "$OUT" | grep -Ec '^[a-z0-9-]+ 20[0-9-]+T')" -eq 3 ] || fail "not every node is marked migrated"
run kubectl get ds -A
expect_out '^kube-system +calico-node +3 +3 +3 +3 +3 '
expect_no_out 'flannel'
for n in control-plane-1 worker-1 worker-2; do
    run kubectl get --raw "/cni-migrate/v1alpha1/hosts/$n"
    expect_out '"vxlan.calico"'
    expect_no_out '"flannel.1"'
done
run kubectl delete -f "$JOB"
expect_rc 0
expect_out '^job.batch "flannel-migration" deleted$'
run kubectl wait $NS $SEL --for=delete pod --timeout=60s
expect_rc 0
[ -z "$(children "$FAKE_PID")" ] || fail "fake serve still has children after the Job's pod went"

# 2. What the kubelet gives the process: a pod of the image running a script.
cat >"$FAKE_DIR/env.lua" <<'LUA'
local function file(p) local f = io.open(p); if not f then return "absent" end local s = f:read("a"); f:close(); return s end
local sa = os.getenv("CNI_MIGRATE_SERVICEACCOUNT_DIR") or "/var/run/secrets/kubernetes.io/serviceaccount"
print("sa-dir " .. sa)
print("namespace " .. file(sa .. "/namespace"))
print("token " .. (file(sa .. "/token"):match("^cm%-sa%.%x+$") and "issued" or "wrong"))
print("ca " .. (file(sa .. "/ca.crt"):match("BEGIN CERTIFICATE") and "pem" or "wrong"))
for _, k in ipairs { "POD_NAME", "POD_NAMESPACE", "POD_NODE_NAME", "POD_UID", "APP", "PLAIN", "HOSTNAME",
   "FROM_CM", "FROM_SECRET", "OPTIONAL", "CM_mode", "CM_PLAIN", "S_token", "EXPANDED" } do
   print(k .. " " .. tostring(os.getenv(k)))
end
print("args " .. table.concat({ ... }, "|"))
print("service " .. tostring(os.getenv("KUBERNETES_SERVICE_HOST")) .. ":" .. tostring(os.getenv("KUBERNETES_SERVICE_PORT")))
print("home " .. tostring(os.getenv("HOME")))
io.stderr:write("to stderr\n")
os.exit(3)
LUA
cat >"$FAKE_DIR/pod.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: env-check, namespace: kube-system, labels: {app: env}}
spec:
  serviceAccountName: cni-migrate
  restartPolicy: Never
  nodeName: worker-2
  containers:
    - name: c
      image: $IMAGE:0.1.0
      command: [/usr/bin/cni-migrate]
      args: [run, $FAKE_DIR/env.lua, "\$(POD_NAME)", "\$\$(POD_NAME)", "\$(UNDEFINED)", "a\$b"]
      terminationMessagePolicy: FallbackToLogsOnError
      envFrom:
        - configMapRef: {name: settings}
          prefix: CM_
        - secretRef: {name: creds}
          prefix: S_
      env:
        - {name: PLAIN, value: plain value}
        - {name: FROM_CM, valueFrom: {configMapKeyRef: {name: settings, key: mode}}}
        - {name: FROM_SECRET, valueFrom: {secretKeyRef: {name: creds, key: token}}}
        - {name: OPTIONAL, valueFrom: {configMapKeyRef: {name: settings, key: absent, optional: true}}}
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: POD_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
        - {name: POD_NODE_NAME, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
        - {name: POD_UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}
        - {name: APP, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}}
        - {name: EXPANDED, value: "\$(PLAIN) on \$(POD_NODE_NAME) \$(LATER)"}
        - {name: LATER, value: defined after EXPANDED}
EOF
run kubectl create serviceaccount cni-migrate $NS
expect_rc 0
run kubectl create configmap settings $NS --from-literal=mode=fast --from-literal=PLAIN=from-configmap
expect_rc 0
run kubectl create secret generic creds $NS --from-literal=token=s3cret
expect_rc 0
run kubectl apply -f "$FAKE_DIR/pod.yaml"
expect_rc 0
run kubectl wait $NS --for=jsonpath='{.status.phase}'=Failed pod/env-check --timeout=60s
expect_rc 0
run kubectl logs $NS env-check
UID_=$(kubectl get pod $NS env-check -o jsonpath='{.metadata.uid}')
if [ "$(id -u)" -eq 0 ]; then
    expect_out '^sa-dir /var/run/secrets/kubernetes.io/serviceaccount$'
else
    expect_out '^sa-dir /tmp/cni-migrate-pod-'
fi
expect_out '^namespace kube-system$'
expect_out '^token issued$'
expect_out '^ca pem$'
expect_out '^POD_NAME env-check$'
expect_out '^POD_NAMESPACE kube-system$'
expect_out '^POD_NODE_NAME worker-2$'
expect_out "^POD_UID $UID_\$"
expect_out '^APP env$'
expect_out '^PLAIN plain value$'
expect_out '^HOSTNAME env-check$'
# configMapKeyRef, secretKeyRef (decoded), an optional key left out, envFrom with its prefixes; $(VAR)
# expanded from what came before in env and args, $$ an escape, an undefined $(VAR) kept
expect_out '^FROM_CM fast$'
expect_out '^FROM_SECRET s3cret$'
expect_out '^OPTIONAL nil$'
expect_out '^CM_mode fast$'
expect_out '^CM_PLAIN from-configmap$'
expect_out '^S_token s3cret$'
expect_out '^EXPANDED plain value on worker-2 \$\(LATER\)$'
expect_out '^args env-check\|\$\(POD_NAME\)\|\$\(UNDEFINED\)\|a\$b$'
expect_out "^service 127\.0\.0\.1:${URL##*:}\$"
expect_out '^home nil$'
expect_out '^to stderr$'
run kubectl get pod $NS env-check -o jsonpath='{.status.containerStatuses[0].state.terminated.exitCode} {.status.containerStatuses[0].state.terminated.reason}'
expect_out '^3 Error$'
run kubectl get pod $NS env-check -o jsonpath='{.status.containerStatuses[0].state.terminated.message}'
expect_out '^to stderr$'
# a ConfigMap the container needs that is not there: it cannot start (the kubelet's words)
sed -e 's/name: env-check/name: no-config/' -e 's/name: settings, key: mode/name: missing, key: mode/' \
    "$FAKE_DIR/pod.yaml" > "$FAKE_DIR/pod2.yaml"
run kubectl apply -f "$FAKE_DIR/pod2.yaml"
expect_rc 0
run kubectl wait $NS --for=jsonpath='{.status.phase}'=Failed pod/no-config --timeout=60s
expect_rc 0
run kubectl get pod $NS no-config -o jsonpath='{.status.containerStatuses[0].state.terminated.message}'
expect_out '^configmap "missing" not found$'
# restartPolicy OnFailure: the kubelet runs a new process after a failure (back-off), whose log is
# the pod's log from then on; it ends once a run succeeds
cat >"$FAKE_DIR/again.lua" <<'LUA'
local marker = ...
local f = io.open(marker)
if not f then
   io.open(marker, "w"):close()
   print("first run fails")
   os.exit(1)
end
f:close()
print("second run succeeds")
LUA
cat >"$FAKE_DIR/again.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: again, namespace: kube-system}
spec:
  serviceAccountName: cni-migrate
  restartPolicy: OnFailure
  nodeName: worker-1
  containers:
    - {name: c, image: "$IMAGE:0.1.0", args: [run, "$FAKE_DIR/again.lua", "$FAKE_DIR/again.marker"]}
EOF
run kubectl apply -f "$FAKE_DIR/again.yaml"
expect_rc 0
run kubectl wait $NS --for=jsonpath='{.status.phase}'=Succeeded pod/again --timeout=60s
expect_rc 0
run kubectl get pod $NS again -o jsonpath='{.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].lastState.terminated.exitCode} {.status.containerStatuses[0].state.terminated.reason}'
expect_out '^1 1 Completed$'
run kubectl logs $NS again
expect_out '^second run succeeds$'
expect_no_out 'first run'
# terminationMessagePath: what the container writes there is its termination message (as root, in
# its private mount namespace: its own /dev, with the host's devices; the host's /dev untouched)
cat >"$FAKE_DIR/message.lua" <<'LUA'
local path = ...
local f = assert(io.open(path, "w"))
f:write(string.rep("x", 5000) .. "; the end of the message")
f:close()
assert(io.open("/dev/null", "w")):write("still a device\n")
print("wrote " .. path)
LUA
for path in /dev/termination-log /run/msg/out; do
    name=message-$(printf '%s' "$path" | tr -c 'a-z\n' '-' | sed 's/^-*//;s/-*$//')
    cat >"$FAKE_DIR/$name.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $name, namespace: kube-system}
spec:
  serviceAccountName: cni-migrate
  restartPolicy: Never
  nodeName: worker-1
  containers:
    - {name: c, image: "$IMAGE:0.1.0", args: [run, "$FAKE_DIR/message.lua", "$path"], terminationMessagePath: "$path"}
EOF
    run kubectl apply -f "$FAKE_DIR/$name.yaml"
    expect_rc 0
    run kubectl wait $NS --for=jsonpath='{.status.phase}'=Succeeded pod/$name --timeout=60s
    expect_rc 0
    run kubectl get pod $NS $name -o jsonpath='{.status.containerStatuses[0].state.terminated.message}'
    if [ "$(id -u)" -eq 0 ]; then
        expect_out '^x+; the end of the message$'
        [ "${#OUT}" -eq 4096 ] || fail "$path: a termination message of ${#OUT} bytes, not the file's last 4096"
    else
        expect_no_out 'the end of the message' # no private mount namespace: no such file for the container
    fi
done
[ ! -e /dev/termination-log ] || fail "the host has a /dev/termination-log"
# the host's /var/run is untouched by the pod's private mount
! grep -qs '^cm-sa\.' /var/run/secrets/kubernetes.io/serviceaccount/token || fail "the pod's token is on the host"

# 3. A blocker: no Calico manifest. The Job fails at once (podFailurePolicy), one pod, its reason logged.
fake_start "$F" --authorize --run-image "$IMAGE" --speed 20
run kubectl apply -f "$JOB"
expect_rc 0
wait_job '^flannel-migration +Failed +0/1 '
run kubectl get job $NS flannel-migration -o jsonpath='{.status.conditions[-1].type} {.status.conditions[-1].reason}: {.status.conditions[-1].message}'
expect_out '^Failed PodFailurePolicy: Container cni-migrate for pod kube-system/flannel-migration-[a-z0-9]{5} failed with exit code 1 matching FailJob rule at index 0$'
run kubectl get pods $NS $SEL -o name
expect_lines 1
run kubectl get events $NS --field-selector involvedObject.kind=Job,involvedObject.name=flannel-migration $EVCOLS
expect_out '^Warning +PodFailurePolicy +job-controller +Container cni-migrate for pod kube-system/flannel-migration-[a-z0-9]{5} failed with exit code 1 matching FailJob rule at index 0$'
run kubectl logs $NS $SEL --tail=-1
expect_out '^calico-manifest +blocker '
expect_out '^cni-migrate: migrate: 3 blocker\(s\): nothing was changed'

# 4. A run in flight when the server stops: its process is killed and reaped with it.
fake_start "$F" --authorize --run-image "$IMAGE" --speed 1
run kubectl apply -f "$CALICO"
run kubectl apply -f "$JOB"
# (kubectl wait -l fails at once while nothing matches: first the Job's pod exists, then it runs)
run kubectl wait $NS --for=jsonpath='{.status.active}'=1 job/flannel-migration --timeout=60s
expect_rc 0
run kubectl wait $NS $SEL --for=jsonpath='{.status.phase}'=Running pod --timeout=60s
expect_rc 0
kids=$(children "$FAKE_PID")
[ -n "$kids" ] || fail "no process runs the Job's pod"
fake_stop
[ "$FAKE_RC" -eq 0 ] || { OUT=$(tail -n 40 "$FAKE_DIR/stderr"); fail "fake serve exited $FAKE_RC on SIGTERM"; }
for k in $kids; do
    ! kill -0 "$k" 2>/dev/null || fail "process $k of the Job's pod outlived fake serve"
done
done_ok
