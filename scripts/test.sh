#!/bin/sh
# Builds and runs every test: a normal build, then an ASan+UBSan build, each under ctest.
# Installs missing Debian packages when run as root (scripts/deps.sh).
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
for variant in build build-asan; do
    if [ "$variant" = build-asan ]; then
        echo "== sanitizer build (ASan+UBSan): $variant"
        scripts/build.sh "$variant" -DCM_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
    else
        echo "== build: $variant"
        scripts/build.sh "$variant"
    fi
    ctest --test-dir "$variant" --output-on-failure -j "$(nproc)"
done
echo "== all tests passed (build, build-asan)"
