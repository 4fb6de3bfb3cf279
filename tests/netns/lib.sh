# lib.sh - what the network-namespace tests share beside tests/cli/lib.sh: they print SKIP with
# the reason and exit 77 when a tool is missing or a namespace cannot be made here.
. "$(dirname "$0")/../cli/lib.sh"

# need_tools TOOL...: SKIP unless every tool is installed.
need_tools() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool is not installed"; exit 77; }
    done
}

# need_netns [WHAT SHELL-COMMAND]: SKIP unless a network namespace can be made here and, when
# given, the command (making what the test needs: WHAT names it) succeeds inside a new one.
need_netns() {
    if ! unshare -n true 2>/dev/null; then
        echo "SKIP: cannot create a network namespace here (needs root or user namespaces)"
        exit 77
    fi
    if [ $# -ge 2 ] && ! unshare -n sh -c "$2" >/dev/null 2>&1; then
        echo "SKIP: this kernel lacks $1 in a network namespace"
        exit 77
    fi
}
