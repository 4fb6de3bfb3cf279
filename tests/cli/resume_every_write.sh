#!/bin/sh
# Resume: a whole migration (or rollback) killed right after each of its API writes in turn
# (--fault crash:afterWrites=N, as kill -9 would, the cluster saved at that moment by --fake-save),
# then run again on what it left, reaches the same end state as an uninterrupted run (tests/k8s/
# migrate_state.lua prints it, once the cluster has settled, with the fields that differ between
# any two runs blanked: the nodes' labels, annotations and cordons, Calico's objects, the pods, and
# every node's host with its CNI files), and does nothing twice where it matters: no helper pod
# made while one of its name is there, no IPAM block or block affinity made twice, no more
# Events than twice an uninterrupted run's.
#   resume_every_write.sh FIXTURE [K N [PROCEDURE]]: the writes K, K+N, K+2N, ... (default: every
#   write) of PROCEDURE (migrate, the default, from FIXTURE; or rollback, from the end of an
#   uninterrupted migration of FIXTURE), so that tests/CMakeLists.txt runs one fixture as N tests,
#   each within ctest's per-test time.
. "$(dirname "$0")/lib.sh"
B=${CNI_MIGRATE:?}
X="${CM_SOURCE_DIR:?}/examples/clusters"
S="$CM_SOURCE_DIR/tests/k8s/migrate_state.lua"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# writes TRACE: the script's API writes in a --trace timeline, as the crash fault counts them
writes() {
    grep '"actor":"script"' "$1" | grep -Ec '"verb":"(create|update|patch|delete)"'
}
# twice TRACE...: what the runs of these traces (in order, one cluster) made twice: a helper pod
# (cm-SCRIPT-NODE) ADDED while one of its name was there, an IPAMBlock or BlockAffinity ADDED twice
twice() {
    cat "$@" | grep '"actor":"cluster"' | grep -E '"kind":"(Pod|IPAMBlock|BlockAffinity)"' |
        sed -n 's/.*"event":"\([A-Z]*\)","kind":"\([A-Za-z]*\)","namespace":"[^"]*","name":"\([^"]*\)".*/\1 \2 \3/p' |
        awk '$2 == "Pod" && $3 !~ /^cm-/ { next }
             $1 == "ADDED" && ($2 != "Pod" ? made[$2 " " $3]++ : alive[$3]) { print $2, $3 }
             $2 == "Pod" { alive[$3] = ($1 != "DELETED") }'
}
# events TRACE...: the Events ADDED in these traces
events() {
    cat "$@" | grep '"actor":"cluster"' | grep -c '"event":"ADDED","kind":"Event"'
}

fx=${1:?usage: resume_every_write.sh FIXTURE [K N [migrate|rollback]]}
k=${2:-1}
step=${3:-1}
proc=${4:-migrate}
start="$X/$fx.yaml"
if [ "$proc" = rollback ]; then
    run "$B" --fake "$start" --fake-save "$dir/migrated.yaml" migrate
    expect_rc 0
    start="$dir/migrated.yaml"
fi
run "$B" --fake "$start" --trace "$dir/t0.jsonl" --fake-save "$dir/end0.yaml" "$proc"
expect_rc 0
total=$(writes "$dir/t0.jsonl")
[ "$total" -ge 20 ] || fail "$fx $proc: the uninterrupted run made only $total writes"
events0=$(events "$dir/t0.jsonl")
"$B" --fake "$dir/end0.yaml" --log-level warn run "$S" >"$dir/state0.txt" 2>&1 || fail "$fx: state of the uninterrupted run"
if [ "$proc" = migrate ]; then
    grep -q '^Node .*"cni-migrate.dev/step":"done"' "$dir/state0.txt" || fail "$fx: the uninterrupted run did not finish the nodes"
else
    ! grep -Eq '^Node .*("cni-migrate.dev/step"|"projectcalico.org/node-network-during-migration")' "$dir/state0.txt" ||
        fail "$fx: the uninterrupted rollback left the migration's marks on a node"
fi
[ -z "$(twice "$dir/t0.jsonl")" ] || fail "$fx $proc: the uninterrupted run made something twice: $(twice "$dir/t0.jsonl" | head -n3)"
# one write more than it makes: the run is not killed (the fault counts what the trace does)
run "$B" --fake "$start" --fault "crash:afterWrites=$((total + 1))" "$proc"
expect_rc 0
n=$k
tried=0
while [ "$n" -le "$total" ]; do
    run "$B" --fake "$start" --fault "crash:afterWrites=$n" --trace "$dir/tk.jsonl" --fake-save "$dir/k.yaml" "$proc"
    [ "$RC" -eq 137 ] || fail "$fx $proc: killed after write $n: exit $RC, not 137"
    expect_out "^cni-migrate: killed by --fault crash:afterWrites=$n: the procedure died \(as kill -9\) right after its API write $n reached the cluster$"
    run "$B" --fake "$dir/k.yaml" --trace "$dir/tr.jsonl" --fake-save "$dir/end.yaml" "$proc"
    [ "$RC" -eq 0 ] || fail "$fx $proc: resumed after write $n: exit $RC"
    "$B" --fake "$dir/end.yaml" --log-level warn run "$S" >"$dir/state.txt" 2>&1 || fail "$fx: state after write $n"
    if ! cmp -s "$dir/state.txt" "$dir/state0.txt"; then
        fail "$fx $proc: resumed after write $n: another end state than the uninterrupted run's"
        diff "$dir/state0.txt" "$dir/state.txt" | cut -c1-300 | head -20 >&2
    fi
    again=$(twice "$dir/tk.jsonl" "$dir/tr.jsonl")
    [ -z "$again" ] || fail "$fx $proc: killed after write $n and resumed: made twice: $(echo "$again" | head -n3 | tr '\n' ' ')"
    ev=$(events "$dir/tk.jsonl" "$dir/tr.jsonl")
    [ "$ev" -le $((2 * events0)) ] || fail "$fx $proc: killed after write $n and resumed: $ev Events, the uninterrupted run $events0"
    [ "$failures" -gt 5 ] && break
    tried=$((tried + 1))
    n=$((n + step))
done
[ "$tried" -eq $(((total - k) / step + 1)) ] || fail "$fx $proc: resumed after $tried write(s) only"
echo "$fx $proc: killed after each of writes $k, $((k + step)), ... of $total ($tried runs) and resumed: the uninterrupted run's end state, nothing made twice"
done_ok
