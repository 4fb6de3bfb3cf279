# lib.sh - helpers for shell-driven tests: run a command, then assert on its exit code and output.
set -u
failures=0
OUT=""
RC=0
CNI_MIGRATE=${CNI_MIGRATE:-cni-migrate}

# run CMD...: captures stdout+stderr in $OUT and the exit code in $RC. A command that hangs is
# stopped after CM_TEST_CMD_TIMEOUT seconds (default 120) with exit code 124, and what it printed
# so far is kept, so a hang fails with its output instead of stalling the suite.
run() {
    OUT=$(timeout --kill-after=5 "${CM_TEST_CMD_TIMEOUT:-120}" "$@" 2>&1)
    RC=$?
}

fail() {
    echo "FAIL: $*" >&2
    echo "--- command output:" >&2
    printf '%s\n' "$OUT" >&2
    failures=$((failures + 1))
}

expect_rc() {
    [ "$RC" -eq "$1" ] || fail "expected exit code $1, got $RC"
}

# expect_out REGEX: some line of the output matches the extended regex.
expect_out() {
    printf '%s\n' "$OUT" | grep -Eq -- "$1" || fail "no output line matches: $1"
}

# expect_no_out REGEX: no line matches.
expect_no_out() {
    if printf '%s\n' "$OUT" | grep -Eq -- "$1"; then fail "an output line matches: $1"; fi
}

# expect_lines N: the output has exactly N lines.
expect_lines() {
    n=$(printf '%s\n' "$OUT" | wc -l)
    [ "$n" -eq "$1" ] || fail "expected $1 output lines, got $n"
}

# expect_empty: the command printed nothing.
expect_empty() {
    [ -z "$OUT" ] || fail "expected no output"
}

# expect_usage_error FIXTURE TRACE REGEX [VAR=VALUE] ARGS...: `cni-migrate --fake FIXTURE ARGS` (with
# VAR=VALUE in its environment) exits 2 with one output line matching REGEX, and its trace file shows
# no request from the script: a bad value is refused before anything is sent.
expect_usage_error() {
    _fixture=$1 _trace=$2 _want=$3
    shift 3
    case "$1" in *=*) _env=$1; shift ;; *) _env=NOTHING=; esac
    run env "$_env" "$CNI_MIGRATE" --log-level warn --fake "$_fixture" --trace "$_trace" "$@"
    expect_rc 2
    expect_lines 1
    expect_out "$_want"
    [ "$(grep -c '"actor":"script"' "$_trace")" -eq 0 ] || fail "a bad value still sent requests"
}

done_ok() {
    if [ "$failures" -ne 0 ]; then
        echo "$failures check(s) failed" >&2
        exit 1
    fi
    echo "ok"
    exit 0
}

# twice TRACE...: what the runs of these simulation traces (in order, on one cluster) made twice:
# a helper pod (cm-SCRIPT-NODE) ADDED while one of its name was there, an IPAMBlock or a
# BlockAffinity ADDED twice; one "KIND NAME" line each
twice() {
    cat "$@" | grep '"actor":"cluster"' | grep -E '"kind":"(Pod|IPAMBlock|BlockAffinity)"' |
        sed -n 's/.*"event":"\([A-Z]*\)","kind":"\([A-Za-z]*\)","namespace":"[^"]*","name":"\([^"]*\)".*/\1 \2 \3/p' |
        awk '$2 == "Pod" && $3 !~ /^cm-/ { next }
             $1 == "ADDED" && ($2 != "Pod" ? made[$2 " " $3]++ : alive[$3]) { print $2, $3 }
             $2 == "Pod" { alive[$3] = ($1 != "DELETED") }'
}
