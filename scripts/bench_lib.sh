# bench_lib.sh - how a benchmark picks its binary (sourced by scripts/bench-*.sh, from the source
# tree's root): CNI_MIGRATE when set (CNI_MIGRATE=build/cni-migrate measures that build), else an
# optimized build in build-bench/ (made here). $B is the binary's absolute path; build-bench/ also
# holds the fixtures the benchmarks generate.
if [ -z "${CNI_MIGRATE:-}" ]; then scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release; fi
B=$(realpath "${CNI_MIGRATE:-build-bench/cni-migrate}")
mkdir -p build-bench
