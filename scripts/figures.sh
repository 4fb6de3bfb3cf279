#!/bin/sh
# Prints the figures of issue 17 that the README keeps (section "Proving it safe"): crash points
# tried and passed per fixture and procedure, fault runs and their outcomes, bad inputs tried, and
# (with a fuzzing time) fuzz executions. Runs the tests that measure them on a built tree:
#   scripts/figures.sh [BUILD-DIR [STEP [FUZZ-SECONDS]]]
# STEP: every STEP-th write of each crash matrix (default 1: every write; the 10-node fixture's
# some 360 writes take over an hour on a loaded 2-core machine); FUZZ-SECONDS: fuzz.sh's time per target
# (default 0: no fuzzing).
set -u
cd "$(dirname "$0")/.."
build=${1:-build}
step=${2:-1}
fuzz=${3:-0}
export CNI_MIGRATE="$PWD/$build/cni-migrate" CM_SOURCE_DIR="$PWD" CM_TEST_CMD_TIMEOUT=900
[ -x "$CNI_MIGRATE" ] || { echo "figures.sh: no $CNI_MIGRATE (scripts/build.sh $build)" >&2; exit 2; }
echo "== crash points (--fault crash:afterWrites=N, then a fresh run on the saved cluster; every ${step}th write)"
for fp in flannel-calico-installed-1node:migrate flannel-calico-installed-1node:rollback \
    canal-calico-installed-3node:migrate canal-calico-installed-3node:rollback \
    flannel-old-calico-installed-3node:migrate \
    flannel-calico-installed-10node:migrate flannel-calico-installed-10node:rollback; do
    fx=${fp%:*}
    proc=${fp#*:}
    out=$(sh tests/cli/resume_every_write.sh "$fx" 1 "$step" "$proc" 2>&1)
    tried=$(printf '%s\n' "$out" | sed -n 's/.*killed after each of writes .* of [0-9]* (\([0-9]*\) runs).*/\1/p' | tail -n1)
    total=$(printf '%s\n' "$out" | sed -n 's/.*killed after each of writes .* of \([0-9]*\) (.*/\1/p' | tail -n1)
    bad=$(printf '%s\n' "$out" | grep -c '^FAIL: .*after write')
    if printf '%s\n' "$out" | grep -q '^ok$'; then
        echo "$fx $proc: $tried crash point(s) of $total writes tried, $tried passed"
    else
        echo "$fx $proc: FAILED ($bad crash point(s) failed; the first 5 failures stop the run)"
        printf '%s\n' "$out" | grep '^FAIL' | head -n 5
    fi
done
echo "== API faults"
sh tests/cli/test_api_faults.sh 2>&1 | grep -E '^[a-z-]+ \([0-9]+ fault\(s\)\): |^fault runs: |^FAIL'
echo "== bad input"
sh tests/cli/test_bad_input.sh 2>&1 | grep -E '^bad input: |^FAIL'
echo "== kill -9 over HTTP"
sh tests/cli/test_kill_http.sh 2>&1 | grep -E '^run [0-9]+: |^killed |^FAIL'
if [ "$fuzz" -gt 0 ]; then
    echo "== fuzzing (libFuzzer, ASan+UBSan, $fuzz s per target)"
    sh scripts/fuzz.sh "$fuzz"
fi
