#!/bin/sh
# The real host's side of the seam, seen from outside: a CNI config write is atomic as
# hostops.h says (strace: a temporary file in the same directory created exclusively at 0644,
# written, fsync'd, renamed over the name, then the directory fsync'd), whatever the umask; and
# a tool the host runs (iptables-save here, a stand-in that hangs) is stopped when the run's
# --timeout is spent, with code Timeout; one that exits before reading its input fails with its
# message, and the process's own SIGPIPE disposition is left as it was.
. "$(dirname "$0")/lib.sh"
dir=$(mktemp -d /tmp/host-real.XXXXXX)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/net.d" "$dir/bin"

# ---- atomic write ----
if command -v strace >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1 && strace -o /dev/null true 2>/dev/null; then
    cat >"$dir/write.lua" <<'LUA'
local cni = require "cm.cni"
local d = ...
assert(cni.write(d .. "/10-calico.conflist", '{"name":"k8s-pod-network","plugins":[{"type":"calico"}]}'))
LUA
    echo '{"name":"old","plugins":[{"type":"flannel"}]}' >"$dir/net.d/10-calico.conflist"
    # LeakSanitizer (the ASan build) cannot run under ptrace: leaks are checked by the other tests
    run env ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" sh -c "umask 077; strace -f -e trace=openat,write,fsync,fchmod,rename,renameat,renameat2,close -o '$dir/trace' '$CNI_MIGRATE' run '$dir/write.lua' '$dir/net.d'"
    expect_rc 0
    OUT=$(python3 - "$dir/trace" "$dir/net.d" <<'PY'
import re, sys
trace, d = sys.argv[1], sys.argv[2]
calls = [re.sub(r"^\d+\s+", "", l.rstrip("\n")) for l in open(trace)]
steps, fd, tmp, dfd = [], None, None, None
for c in calls:
    m = re.match(r'openat\(AT_FDCWD, "(%s/\.10-calico\.conflist\.[^"]+)", ([A-Z_|]+), 0644\)\s+= (\d+)' % re.escape(d), c)
    if m and "O_CREAT" in m.group(2) and "O_EXCL" in m.group(2) and "O_NOFOLLOW" in m.group(2):
        tmp, fd = m.group(1), m.group(3); steps.append("create tmp 0644"); continue
    if fd and re.match(r"fchmod\(%s, 0644\)\s+= 0" % fd, c): steps.append("fchmod 0644")
    elif fd and re.match(r"write\(%s, .*\)\s+= \d+" % fd, c) and steps[-1:] != ["write"]: steps.append("write")
    elif fd and re.match(r"fsync\(%s\)\s+= 0" % fd, c) and "rename" not in steps: steps.append("fsync file")
    elif fd and re.match(r"close\(%s\)\s+= 0" % fd, c) and "rename" not in steps: steps.append("close")
    elif tmp and re.match(r'rename(at2?)?\(.*"%s".*"%s/10-calico\.conflist".*\) = 0' % (re.escape(tmp), re.escape(d)), c):
        steps.append("rename")
    elif "rename" in steps:
        m = re.match(r'openat\(AT_FDCWD, "%s", O_RDONLY\|O_CLOEXEC\|O_DIRECTORY\)\s+= (\d+)' % re.escape(d), c)
        if m: dfd = m.group(1); steps.append("open dir")
        elif dfd and re.match(r"fsync\(%s\)\s+= 0" % dfd, c): steps.append("fsync dir")
print(" > ".join(steps))
PY
)
    expect_out '^create tmp 0644 > fchmod 0644 > write > fsync file > close > rename > open dir > fsync dir$'
    [ "$(stat -c %a "$dir/net.d/10-calico.conflist")" = 644 ] || fail "mode is not 0644 under umask 077"
    grep -q k8s-pod-network "$dir/net.d/10-calico.conflist" || fail "the new content is not there"
    [ "$(ls -A "$dir/net.d" | wc -l)" = 1 ] || fail "a temporary file was left: $(ls -A "$dir/net.d")"
else
    echo "SKIP (part): strace cannot trace here; the atomic write is not checked"
fi

# ---- a hanging tool and the run's deadline ----
printf '#!/bin/sh\nexec sleep 30\n' >"$dir/bin/iptables-legacy-save"
chmod +x "$dir/bin/iptables-legacy-save"
cat >"$dir/tool.lua" <<'LUA'
local iptables = require "cm.iptables"
local ok, err, code = iptables.save("ipv4", "legacy")
print(tostring(ok), code, err)
LUA
start=$(date +%s)
PATH="$dir/bin:$PATH" run "$CNI_MIGRATE" --timeout 2s run "$dir/tool.lua"
took=$(( $(date +%s) - start ))
expect_out '^nil	Timeout	.*iptables-legacy-save: no end within the time allowed'
[ "$took" -le 10 ] || fail "the tool ran ${took}s past a 2s --timeout"

# ---- a tool that exits before reading its input: no SIGPIPE death, the process's SIGPIPE untouched ----
printf '#!/bin/sh
echo "iptables-restore: line 1 failed" >&2
exit 1
' >"$dir/bin/iptables-legacy-restore"
chmod +x "$dir/bin/iptables-legacy-restore"
cat >"$dir/pipe.lua" <<'LUA'
local iptables = require "cm.iptables"
local ok, err, code = iptables.restore("ipv4", "legacy", ("-A FORWARD -j ACCEPT\n"):rep(20000))
print(tostring(ok), code, err)
local f = assert(io.open("/proc/self/status"))
local ign = f:read("a"):match("SigIgn:%s*(%x+)")
f:close()
print("SIGPIPE ignored: " .. tostring((tonumber(ign, 16) >> 12) & 1 == 1))
LUA
PATH="$dir/bin:$PATH" run "$CNI_MIGRATE" run "$dir/pipe.lua"
expect_rc 0
expect_out '^nil	ToolFailed	.*iptables-legacy-restore: failed: iptables-restore: line 1 failed$'
expect_out '^SIGPIPE ignored: false$'
done_ok
