#!/bin/sh
# Fuzzes the JSON and YAML parsers with libFuzzer (needs clang and libclang-rt-14-dev):
#   scripts/fuzz.sh [SECONDS-PER-TARGET]   (default 60)
# New inputs that reach new code are added to tests/fuzz/corpus/, which ctest replays.
set -eu
cd "$(dirname "$0")/.."
secs=${1:-60}
command -v clang >/dev/null || { echo "fuzz.sh: needs clang (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
out=build-fuzz
mkdir -p "$out"
flags="-g -O1 -fsanitize=fuzzer,address,undefined -Iruntime -I/usr/include/cjson"
for target in json yaml; do
    src="runtime/json.c"
    [ "$target" = yaml ] && src="runtime/json.c runtime/yamldoc.c"
    # shellcheck disable=SC2086 # flags are words
    clang $flags -o "$out/fuzz_$target" "tests/fuzz/fuzz_$target.c" $src -lcjson -lyaml -lm
    mkdir -p "$out/corpus-$target"
    "$out/fuzz_$target" -max_total_time="$secs" -max_len=4096 "$out/corpus-$target" "tests/fuzz/corpus/$target"
done
