#!/bin/sh
# --lua-dir: a site's modified copy of a bundled procedure or library runs instead of the bundled
# one (migrate.lua itself, and cm/nodestep.lua under it), and a site's simulated node agents
# (cm/agents.lua) drive the hosts, a failing one failing the run.
. "$(dirname "$0")/lib.sh"
B=${CNI_MIGRATE:?}
S=${CM_SOURCE_DIR:?}
F="$S/examples/clusters/flannel-calico-installed-4node.yaml"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# a site's migrate.lua: the bundled one with a line of its own at the start
mkdir -p "$dir/site/cm"
{ echo 'print("site copy of migrate.lua")'; cat "$S/lua/migrate.lua"; } >"$dir/site/migrate.lua"
# and a site's cm/nodestep.lua that says which node it starts
sed 's/^function M.migrate(ctx, n)$/&\n   print("site nodestep: " .. n.metadata.name)/' "$S/lua/cm/nodestep.lua" >"$dir/site/cm/nodestep.lua"
grep -q 'site nodestep' "$dir/site/cm/nodestep.lua" || fail "the site's nodestep.lua was not made"
run "$B" --lua-dir "$dir/site" --fake "$F" migrate
expect_rc 0
expect_out '^site copy of migrate\.lua$'
expect_out '^site nodestep: worker-1$'
expect_out '^site nodestep: control-plane-1$'
expect_out '^Migrated 4 node\(s\) to Calico'
# the variable does the same as the flag
CNI_MIGRATE_LUA_DIR="$dir/site" run "$B" --fake "$F" preflight
expect_no_out '^site copy'
CNI_MIGRATE_LUA_DIR="$dir/site" run "$B" --fake "$F" migrate
expect_rc 0
expect_out '^site copy of migrate\.lua$'
# without it, the bundled one
run "$B" --fake "$F" migrate
expect_rc 0
expect_no_out '^site '

# a site's agents (cm/agents.lua) drive the simulated hosts: these program nothing and fail on
# worker-1, so flanneld's files are missing everywhere and migrate refuses
mkdir -p "$dir/agents/cm"
printf 'return { on_pod = function(node) if node == "worker-1" then error("agent broke") end end }\n' \
    >"$dir/agents/cm/agents.lua"
run "$B" --lua-dir "$dir/agents" --fake "$F" migrate
expect_rc 1
expect_out "ERROR .*/agents/cm/agents\.lua:1: agent broke$"
expect_out '^subnet-env +blocker +4 node\(s\) +subnet\.env disagrees with the settings: control-plane-1 \(no subnet\.env\)'
expect_no_out '^Migrated'
done_ok
