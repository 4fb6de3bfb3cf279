#!/bin/sh
# luacheck over lua/, examples/ and tests/ with the project's .luacheckrc.
cd "${CM_SOURCE_DIR:?}" || exit 1
if ! command -v luacheck >/dev/null 2>&1; then
    echo "SKIP: luacheck is not installed (Debian package lua-check)"
    exit 77
fi
exec luacheck --no-color --codes lua examples tests
