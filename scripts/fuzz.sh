#!/bin/sh
# Fuzzes the parsers with libFuzzer under ASan and UBSan (needs clang and libclang-rt-14-dev;
# not in CI): JSON, YAML, CNI configs, label and field selectors, merge and JSON patches,
# kubeconfigs, netlink answers (tests/fuzz/fuzz_*.c).
#   scripts/fuzz.sh [SECONDS-PER-TARGET [TARGET...]]   (default 600 s each, every target)
# New inputs that reach new code are kept in tests/fuzz/corpus/TARGET, which ctest replays. Prints
# each target's executions and time (libFuzzer's last "stat::" lines).
set -eu
cd "$(dirname "$0")/.."
secs=${1:-600}
[ $# -gt 0 ] && shift
targets=${*:-json yaml cni selector patch kubeconfig netlink}
command -v clang >/dev/null || { echo "fuzz.sh: needs clang (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
out=build-fuzz
CC=clang scripts/build.sh "$out" -DCM_SANITIZE=ON -DCM_FUZZ=ON -DCM_WERROR=OFF -DCMAKE_BUILD_TYPE=Debug
for target in $targets; do
    mkdir -p "$out/corpus-$target"
    ASAN_OPTIONS=detect_leaks=1 "$out/tests/fuzz_$target" -max_total_time="$secs" -max_len=8192 \
        -print_final_stats=1 "$out/corpus-$target" "tests/fuzz/corpus/$target" >"$out/fuzz-$target.log" 2>&1 ||
        { echo "fuzz.sh: $target found a crash (see $out/fuzz-$target.log)" >&2; tail -n 30 "$out/fuzz-$target.log" >&2; exit 1; }
    # keep what reached new code, minimised, beside the seeds
    "$out/tests/fuzz_$target" -merge=1 "tests/fuzz/corpus/$target" "$out/corpus-$target" >/dev/null 2>&1 || true
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz-$target.log")
    echo "fuzz $target: $runs executions in $secs s, corpus $(ls "tests/fuzz/corpus/$target" | wc -l) files"
done
