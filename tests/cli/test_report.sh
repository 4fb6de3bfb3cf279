#!/bin/sh
# migrate --fake FIXTURE --report FILE.html --seeds N: one self-contained page (no script, no remote
# asset) with the SVG timeline (a bar per node step, the drains a PodDisruptionBudget held marked
# with its name: the 4-node fixture with its db pods slow to start holds worker-2's drain on PDB
# apps/db), the predicted duration over 3 seeds, the holds and the invariants' results. Then a real
# headless Chromium (Debian's) opens it: no console message (a planted page's console.error and
# script error show the check catches them; remote assets are refused by the page's own check), and its screenshot shows the chart (pixels of the
# drain bars' colour and of the PDB frame's red; none in the planted page's screenshot).
. "$(dirname "$0")/lib.sh"
B=${CNI_MIGRATE:?}
F="${CM_SOURCE_DIR:?}/examples/clusters/flannel-calico-installed-4node.yaml"
PNGC="$CM_SOURCE_DIR/tests/cli/png_colours.py"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
[ -x /usr/bin/python3 ] || { echo "SKIP: no /usr/bin/python3 to read the page"; exit 77; }

run "$B" migrate --fake "$F" --fault 'pods:selector=app=db,startDelay=60s' --report "$dir/r.html" --seeds 3
expect_rc 0
expect_out "^Report: $dir/r.html$"
cat > "$dir/page.py" <<'EOF'
import html.parser, re, sys
text = open(sys.argv[1]).read()
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.bars, self.stack = [], [], []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "rect" and "data-step" in a:
            self.bars.append(a["data-step"])
p = P()
p.feed(text)
remote = re.findall(r'(?:src|href)\s*=|url\(|@import|<script|<link', text, re.I)
print("remote", len(remote))
print("svg", p.tags.count("svg"))
print("drain bars", p.bars.count("drain"))
print("uncordon bars", p.bars.count("uncordon"))
for m in re.findall(r'class="pdb"[^>]*>([^<]*)<', text):
    print("label", m)
m = re.search(r'id="prediction">([^<]*)<', text)
print("prediction", m and m.group(1))
print("seeds", len(re.findall(r'<tr><td>[0-9]+</td><td>[0-9.]+ s</td><td class="ok">finished</td></tr>', text)))
print("held", len(re.findall(r'<td class="ok">held</td>', text)))
EOF
OUT=$(/usr/bin/python3 "$dir/page.py" "$dir/r.html" 2>&1)
expect_out '^remote 0$'
expect_out '^svg 1$'
expect_out '^drain bars 4$'
expect_out '^uncordon bars 4$'
expect_out '^label PDB apps/db$'
expect_out '^prediction [0-9.]+ s \([0-9m]+s\) of cluster time, median over 3 seed\(s\); from [0-9.]+ s to [0-9.]+ s, mean [0-9.]+ s, standard deviation [0-9.]+ s\.$'
expect_out '^seeds 3$'
expect_out '^held 6$'

# a failed rehearsal still writes its page, with why
run "$B" migrate --fake "$F" --flannel-vni 7 --report "$dir/bad.html"
expect_rc 1
grep -q 'class="bad" id="outcome">migrate: ' "$dir/bad.html" || fail "the failed rehearsal's page does not say it failed"

C=$(command -v chromium) || { echo "SKIP: no chromium (Debian's chromium package) to open the page"; exit 77; }
# shot PAGE PNG: opens the page headless, screenshot to PNG; OUT is what the browser logged to the console
shot() {
    timeout 120 "$C" --headless --no-sandbox --disable-gpu --hide-scrollbars --enable-logging=stderr --v=0 \
        --user-data-dir="$dir/profile" --window-size=1400,1000 --screenshot="$2" "file://$1" > "$dir/log" 2>&1
    [ -s "$2" ] || { OUT=$(cat "$dir/log"); fail "chromium wrote no screenshot of $1"; }
    OUT=$(grep ':CONSOLE' "$dir/log")
}
printf '<!DOCTYPE html><html><body><script>console.error("planted"); nosuch();</script></body></html>\n' > "$dir/planted.html"
shot "$dir/planted.html" "$dir/planted.png"
expect_out 'Uncaught ReferenceError: nosuch is not defined'
expect_out '"planted", source: file://'
shot "$dir/r.html" "$dir/r.png"
[ -z "$OUT" ] || fail "the report logged to the console"
# #f28e2b: the drain bars (the second step colour, cordon being first); #c62828: the PDB frame and label
OUT=$(/usr/bin/python3 "$PNGC" "$dir/r.png" '#f28e2b' '#c62828')
n=$(printf '%s\n' "$OUT" | awk '$1 == "#f28e2b" {print $2}')
r=$(printf '%s\n' "$OUT" | awk '$1 == "#c62828" {print $2}')
[ "${n:-0}" -ge 2000 ] || fail "the screenshot shows ${n:-no} pixels of the drain bars' colour"
[ "${r:-0}" -ge 300 ] || fail "the screenshot shows ${r:-no} pixels of the PDB hold's red"
OUT=$(/usr/bin/python3 "$PNGC" "$dir/planted.png" '#f28e2b' '#c62828')
expect_out '^#f28e2b 0$'
done_ok
