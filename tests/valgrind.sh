#!/bin/sh
# Runs the C unit tests and the Lua tests under valgrind (memcheck, leaks): any error fails.
# The programs run side by side, one per core.
# usage: valgrind.sh TESTS-BINARY-DIR
bindir=${1:?}
if ! command -v valgrind >/dev/null 2>&1; then
    echo "SKIP: valgrind is not installed (Debian package valgrind)"
    exit 77
fi
cd "${CM_SOURCE_DIR:?}" || exit 1
: "${CNI_MIGRATE:?}"
{
    for t in "$bindir"/test_*; do [ -x "$t" ] && printf '%s\n' "$t"; done
    for t in tests/lua/test_*.lua; do printf '%s run %s\n' "$CNI_MIGRATE" "$t"; done
} | xargs -P "$(nproc)" -I{} sh -c 'valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --error-exitcode=99 {} >/dev/null || { echo "FAIL under valgrind: {}"; exit 1; }'
rc=$?
[ "$rc" -eq 0 ] && echo "ok: valgrind clean"
[ "$rc" -eq 0 ]
