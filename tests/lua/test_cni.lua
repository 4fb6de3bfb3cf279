-- cm.cni on the real filesystem (a temporary directory): libcni's order and validation, the
-- active config, atomic writes at 0644, remove with backup and restore, and the files it must
-- refuse: symlinks out of the directory, huge files, malformed ones.
local cni = require "cm.cni"
local t = require "t"

local base = os.tmpname()
os.remove(base)
local dir, out = base .. "/net.d", base .. "/outside"
assert(os.execute(("mkdir -p %s %s"):format(dir, out)))
local function put(path, text)
   local f = assert(io.open(path, "w"))
   f:write(text)
   f:close()
end
local FLANNEL = '{"name":"cbr0","cniVersion":"0.3.1","plugins":[{"type":"flannel"},{"type":"portmap"}]}'
put(dir .. "/10-flannel.conflist", FLANNEL)
put(dir .. "/05-broken.conflist", '{"name": "x", "plugins": [}')
put(dir .. "/07-noplugins.conflist", '{"name": "x", "plugins": []}')
put(dir .. "/99-loopback.conf", '{"cniVersion":"0.3.1","name":"lo","type":"loopback"}')
put(dir .. "/README", "not a config")
put(out .. "/evil.conflist", FLANNEL)
assert(os.execute(("ln -s %s/evil.conflist %s/01-link-out.conflist"):format(out, dir)))
assert(os.execute(("ln -s 10-flannel.conflist %s/02-link-in.conflist"):format(dir)))
put(dir .. "/03-huge.json", '{"type":"x","pad":"' .. string.rep("a", cni.MAX_SIZE) .. '"}')

local names = {}
for _, e in ipairs(assert(cni.list(dir))) do names[#names + 1] = e.name end
t.eq(table.concat(names, " "), "01-link-out.conflist 02-link-in.conflist 03-huge.json 05-broken.conflist "
   .. "07-noplugins.conflist 10-flannel.conflist 99-loopback.conf", "libcni's order, configs only")

local _, err, code = cni.read(dir .. "/01-link-out.conflist")
t.eq(code, "ELOOP", "a symlink out of the directory is not followed")
t.eq(err:find("outside", 1, true) ~= nil, true, err)
t.eq(assert(cni.read(dir .. "/02-link-in.conflist")).name, "cbr0", "a symlink inside it is")
_, err, code = cni.read(dir .. "/03-huge.json")
t.eq(code, "EFBIG", "a huge file is refused")
_, err, code = cni.read(dir .. "/05-broken.conflist")
t.eq(code, "InvalidConfig")
t.eq(err:find("05-broken.conflist: offset", 1, true) ~= nil, true, err)
_, err = cni.read(dir .. "/07-noplugins.conflist")
t.eq(err:find("at least one plugin", 1, true) ~= nil, true, err)

local active = assert(cni.active(dir))
t.eq(active.path, dir .. "/02-link-in.conflist", "the first valid config is active")
t.eq(#active.skipped, 1, "the symlink out was skipped")

-- the placeholder goes first, atomically, at 0644, and refuses to replace a symlink
local ph = '{ "name": "dummy", "plugins": [{ "type": "flannel-migration-in-progress" }]}\n'
assert(cni.write(dir .. "/10-calico.conflist", ph))
local p = io.popen("stat -c %a " .. dir .. "/10-calico.conflist")
t.eq(p:read("l"), "644")
p:close()
_, _, code = cni.write(dir .. "/01-link-out.conflist", ph)
t.eq(code, "ELOOP", "a symlink is never overwritten")
local f = assert(io.open(out .. "/evil.conflist"))
t.eq(f:read("a"), FLANNEL, "its target is untouched")
f:close()
_, _, code = cni.write(dir .. "/11-bad.conflist", "{")
t.eq(code, "InvalidConfig", "an invalid config is not written")
t.eq(io.open(dir .. "/11-bad.conflist"), nil)

-- remove with backup, twice; restore
local backup = assert(cni.remove(dir .. "/10-flannel.conflist", base .. "/backup"))
t.eq(backup, base .. "/backup/10-flannel.conflist")
t.eq(io.open(dir .. "/10-flannel.conflist"), nil)
_, _, code = cni.remove(dir .. "/10-flannel.conflist", base .. "/backup")
t.eq(code, "ENOENT", "a second remove finds nothing")
_, _, code = cni.remove(dir .. "/01-link-out.conflist", base .. "/backup")
t.eq(code, "ELOOP", "a symlink is not removed")
assert(cni.restore(backup, dir .. "/10-flannel.conflist"))
f = assert(io.open(dir .. "/10-flannel.conflist"))
t.eq(f:read("a"), FLANNEL, "restored byte for byte")
f:close()
os.execute("rm -rf " .. base)
t.done()
