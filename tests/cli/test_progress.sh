#!/bin/sh
# Progress on a terminal: a rehearsal run under script(1) (stdout and stderr a pty) draws a live
# line per node in flight (its step, since when) under the timeline; replayed through a small
# terminal model, the final screen has every timeline line of the same run without a terminal, in
# order, and no live line left. Without a terminal: no escape sequence at all. --log-format json:
# one JSON log line per timeline line, with its fields.
. "$(dirname "$0")/lib.sh"
B=${CNI_MIGRATE:?}
F="$CM_SOURCE_DIR/examples/clusters/flannel-calico-installed-4node.yaml"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
command -v script >/dev/null 2>&1 || { echo "SKIP: no script(1) for a pty"; exit 77; }

"$B" --fake "$F" migrate > "$dir/plain.out" 2> "$dir/plain.err"
[ $? -eq 0 ] || fail "the plain run failed: $(cat "$dir/plain.err")"
if grep -q "$(printf '\033')" "$dir/plain.out" "$dir/plain.err"; then fail "escape sequences without a terminal"; fi

script -qec "'$B' --fake '$F' migrate" /dev/null > "$dir/tty.raw" 2>&1
[ $? -eq 0 ] || fail "the run on a pty failed: $(tail -5 "$dir/tty.raw")"
python3 - "$dir/tty.raw" "$dir/plain.out" <<'EOF' || fail "the live lines"
import re, sys
raw = open(sys.argv[1], "rb").read().decode()
plain = [l for l in open(sys.argv[2]).read().splitlines() if re.match(r"^2026-\S+ \+ *[0-9.]+s  ", l)]
live = re.findall(r"\x1b\[2K  (\S+) +(\S+) +since (\S+) \(\+\d+s\)", raw)
assert live, "no live line drawn"
steps = {(n, s) for n, s, _ in live}
for node in ("worker-1", "worker-2", "worker-3", "control-plane-1"):
    assert (node, "drain") in steps, ("no live line for the drain of", node)
# a terminal: lines, a cursor row; ESC[1A up, ESC[2K clears the row, \r to column 0, \n down
screen, row = [""], 0
for tok in re.split(r"(\x1b\[1A|\x1b\[2K|\r|\n)", raw):
    if tok == "\x1b[1A":
        row = max(0, row - 1)
    elif tok == "\x1b[2K":
        screen[row] = ""
    elif tok == "\n":
        row += 1
        if row == len(screen):
            screen.append("")
    elif tok and tok != "\r":
        screen[row] += tok
shown = [l for l in screen if re.match(r"^2026-\S+ \+ *[0-9.]+s  ", l)]
assert shown == plain, "\n".join(["timeline on the terminal differs:"] + shown[:5] + ["---"] + plain[:5])
left = [l for l in screen if " since " in l]
assert not left, ("live lines left on the screen", left)
print("%d live lines drawn, %d timeline lines kept" % (len(live), len(shown)))
EOF

"$B" --fake "$F" --log-format json migrate > "$dir/json.out" 2> "$dir/json.err"
[ $? -eq 0 ] || fail "the JSON run failed"
python3 - "$dir/json.err" "$dir/plain.out" <<'EOF' || fail "--log-format json"
import json, re, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
timeline = [l for l in lines if "step" in l]
plain = [l for l in open(sys.argv[2]).read().splitlines() if re.match(r"^2026-\S+ \+ *[0-9.]+s  ", l)]
assert len(timeline) == len(plain), (len(timeline), len(plain))
for j, p in zip(timeline, plain):
    t, el, node, step, msg = re.match(r"^(\S+) \+ *([0-9.]+)s  (\S+) +(\S+) +(.*)$", p).groups()
    assert (j["time"], j["level"], j["node"], j["step"], j["msg"], j["elapsed"]) == (t, "info", node, step, msg, float(el)), (j, p)
print("%d JSON timeline lines" % len(timeline))
EOF
grep -q '^Migrated 4 node(s)' "$dir/json.out" || fail "the summary is not on stdout with --log-format json"
done_ok
