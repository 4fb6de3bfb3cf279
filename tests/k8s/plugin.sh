#!/bin/sh
# A client.authentication.k8s.io exec credential plugin for the cm.k8s tests:
# counts its runs, records what it was given, and prints token exec-<run>
# (with the expiry in exec-expiry, when that file is not empty).
# Usage: plugin.sh DIR [API_VERSION]
d=$1
v=${2:-client.authentication.k8s.io/v1}
n=$(($(cat "$d/exec-count" 2>/dev/null || echo 0) + 1))
echo "$n" >"$d/exec-count"
printf '%s' "$KUBERNETES_EXEC_INFO" >"$d/exec-info"
printf '%s' "$EXEC_GREETING" >"$d/exec-env"
exp=$(cat "$d/exec-expiry" 2>/dev/null)
if [ -n "$exp" ]; then exp=",\"expirationTimestamp\":\"$exp\""; fi
printf '{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"exec-%s"%s}}\n' "$v" "$n" "$exp"
