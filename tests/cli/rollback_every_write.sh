#!/bin/sh
# Rollback from every point of a migration: the migration of FIXTURE killed right after each of its
# API writes in turn (--fault crash:afterWrites=N, as kill -9 would, the cluster kept with
# --fake-save), and once let run to its completion, then rolled back, every other time with
# --remove-calico-state: the cluster ends as it started (tests/k8s/rollback_end.lua: the same
# DaemonSets with the same pod templates, nodeSelector and affinity included; no migration labels;
# the same cordons; no calico-node pod; flannel's pod Ready on every node; every node's host as
# flannel made it there, against `fake host` of the start; with --remove-calico-state, Calico's
# objects as at the start too, Canal's pool included).
#   rollback_every_write.sh FIXTURE K N [NODE]: the writes K, K+N, K+2N, ... (and, when K is 1, the
#   completion), NODE cordoned by an operator at the start; so that tests/CMakeLists.txt runs one
#   fixture as N tests, each within ctest's per-test time. The migration runs with --no-invariants
#   (resume_every_write.sh checks its own), the rollback with them (a rehearsal that breaks one
#   exits 1).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
. "$(dirname "$0")/rollback_lib.sh"

fx=${1:?usage: rollback_every_write.sh FIXTURE K N [NODE]}
k=${2:-1}
step=${3:-1}
start_fixture "$fx" "${4:-}"
[ "$total" -ge 20 ] || fail "$fx: the migration made only $total writes"
[ "$FNS" != none ] || fail "$fx: no flannel DaemonSet found"
n=$k
tried=0
while [ "$n" -le "$total" ]; do
    clean=""
    [ $((tried % 2)) -eq 1 ] && clean=clean
    stop_and_back "$S" "$n" "$H" "$FNS" "$FDS" $clean
    [ "$failures" -gt 5 ] && break
    tried=$((tried + 1))
    n=$((n + step))
done
[ "$tried" -eq $(((total - k) / step + 1)) ] || fail "$fx: rolled back after $tried stopping point(s) only"
also=""
if [ "$k" -eq 1 ]; then # the completion: one write more than the migration makes, so it is not killed
    stop_and_back "$S" $((total + 1)) "$H" "$FNS" "$FDS"
    stop_and_back "$S" $((total + 1)) "$H" "$FNS" "$FDS" clean
    also=" and after its completion"
fi
echo "$fx: migration stopped after each of writes $k, $((k + step)), ... of $total ($tried runs)$also, rolled back (every other time with --remove-calico-state): each back to the start"
done_ok
