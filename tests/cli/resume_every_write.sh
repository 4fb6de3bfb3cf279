#!/bin/sh
# Resume: a whole migration killed right after each of its API writes in turn (--fault
# crash:afterWrites=N, as kill -9 would, the cluster saved at that moment by --fake-save), then run
# again on what it left, reaches the same end state as an uninterrupted run (tests/k8s/
# migrate_state.lua prints it, once the cluster has settled, with the fields that differ between
# any two runs blanked).
#   resume_every_write.sh FIXTURE [K N]: the writes K, K+N, K+2N, ... (default: every write), so
#   that tests/CMakeLists.txt runs one fixture as N tests, each within ctest's per-test time.
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

fx=${1:?usage: resume_every_write.sh FIXTURE [K N]}
k=${2:-1}
step=${3:-1}
run "$B" --fake "$X/$fx.yaml" --trace "$dir/t0.jsonl" --fake-save "$dir/end0.yaml" migrate
expect_rc 0
total=$(writes "$dir/t0.jsonl")
[ "$total" -ge 40 ] || fail "$fx: the uninterrupted migration made only $total writes"
"$B" --fake "$dir/end0.yaml" --log-level warn run "$S" >"$dir/state0.txt" 2>&1 || fail "$fx: state of the uninterrupted run"
grep -q '^Node .*"cni-migrate.dev/step":"done"' "$dir/state0.txt" || fail "$fx: the uninterrupted run did not finish the nodes"
# one write more than it makes: the run is not killed (the fault counts what the trace does)
run "$B" --fake "$X/$fx.yaml" --fault "crash:afterWrites=$((total + 1))" migrate
expect_rc 0
n=$k
tried=0
while [ "$n" -le "$total" ]; do
    run "$B" --fake "$X/$fx.yaml" --fault "crash:afterWrites=$n" --fake-save "$dir/k.yaml" migrate
    [ "$RC" -eq 137 ] || fail "$fx: killed after write $n: exit $RC, not 137"
    expect_out "^cni-migrate: killed by --fault crash:afterWrites=$n: the procedure died \(as kill -9\) right after its API write $n reached the cluster$"
    run "$B" --fake "$dir/k.yaml" --fake-save "$dir/end.yaml" migrate
    [ "$RC" -eq 0 ] || fail "$fx: resumed after write $n: exit $RC"
    "$B" --fake "$dir/end.yaml" --log-level warn run "$S" >"$dir/state.txt" 2>&1 || fail "$fx: state after write $n"
    if ! cmp -s "$dir/state.txt" "$dir/state0.txt"; then
        fail "$fx: resumed after write $n: another end state than the uninterrupted run's"
        diff "$dir/state0.txt" "$dir/state.txt" | cut -c1-300 | head -20 >&2
    fi
    [ "$failures" -gt 5 ] && break
    tried=$((tried + 1))
    n=$((n + step))
done
[ "$tried" -eq $(((total - k) / step + 1)) ] || fail "$fx: resumed after $tried write(s) only"
echo "$fx: killed after each of writes $k, $((k + step)), ... of $total ($tried runs) and resumed: the uninterrupted run's end state"
done_ok
