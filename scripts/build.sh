#!/bin/sh
# Builds cni-migrate into a build directory: scripts/build.sh [DIR [CMAKE-ARGS...]]
# (default build/, warnings as errors).
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build}
[ $# -gt 0 ] && shift
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCM_WERROR=ON "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)" >/dev/null
