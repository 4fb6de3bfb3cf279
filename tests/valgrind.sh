#!/bin/sh
# Runs the C unit tests and the Lua tests under valgrind (memcheck, leaks): any error fails.
# usage: valgrind.sh TESTS-BINARY-DIR
bindir=${1:?}
if ! command -v valgrind >/dev/null 2>&1; then
    echo "SKIP: valgrind is not installed (Debian package valgrind)"
    exit 77
fi
cd "${CM_SOURCE_DIR:?}" || exit 1
vg="valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99"
failed=0
for t in "$bindir"/test_*; do
    [ -x "$t" ] || continue
    if ! $vg "$t" >/dev/null; then echo "FAIL under valgrind: $t"; failed=1; fi
done
for t in tests/lua/test_*.lua; do
    if ! $vg "${CNI_MIGRATE:?}" run "$t" >/dev/null; then echo "FAIL under valgrind: $t"; failed=1; fi
done
[ "$failed" -eq 0 ] && echo "ok: valgrind clean"
exit "$failed"
