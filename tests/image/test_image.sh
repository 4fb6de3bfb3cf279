#!/bin/sh
# scripts/image.sh builds the same OCI archive twice (same bytes, same manifest digest), skopeo
# reads it, podman loads it, and the image runs `cni-migrate version` and `node-run node-facts`
# with podman: node-facts in a throwaway network namespace with a flannel-shaped VXLAN device and
# a CNI directory mounted as a node-run pod mounts it. Podman runs as image.md describes for this
# kind of machine: private storage, the machine's hard ulimits, cgroupfs, and (where the hybrid
# cgroup2 mount would make crun refuse) in a private mount namespace without it.
# ctest label "image"; `ctest -LE image` leaves it out.
. "$(dirname "$0")/../cli/lib.sh"
for tool in mmdebstrap podman skopeo ip unshare; do
    command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool is not installed (scripts/deps.sh)"; exit 77; }
done
if ! unshare -m -n true 2>/dev/null; then
    echo "SKIP: cannot create mount and network namespaces here (needs root)"
    exit 77
fi
dir=$(mktemp -d /tmp/cm-image-test.XXXXXX)
ns=cmimg$$
trap 'ip netns del $ns 2>/dev/null; rm -rf "$dir"' EXIT
cache=${CM_IMAGE_CACHE:-$dir/cache} # the .debs of the first build serve the second
export CM_TEST_CMD_TIMEOUT=600

for n in 1 2; do
    run "$CM_SOURCE_DIR/scripts/image.sh" --binary "$CNI_MIGRATE" --cache "$cache" --name cni-migrate:test \
        "$dir/image$n.tar"
    if [ "$RC" -ne 0 ] && printf '%s\n' "$OUT" | grep -Eq 'Temporary failure|Could not resolve|Failed to fetch|Unable to connect'; then
        echo "SKIP: the Debian mirror of /etc/apt/sources* is not reachable: $(printf '%s\n' "$OUT" | grep -E 'Failed|resolve|connect' | head -n 1)"
        exit 77
    fi
    expect_rc 0
    expect_out '^sha256:[0-9a-f]{64} cni-migrate:test '
    eval "digest$n=\${OUT%% *}"
    echo "build $n: $OUT"
done
[ "$digest1" = "$digest2" ] || fail "two builds from the same inputs: $digest1, then $digest2"
cmp -s "$dir/image1.tar" "$dir/image2.tar" || fail "two builds from the same inputs differ in bytes"
run skopeo inspect --raw "oci-archive:$dir/image1.tar"
expect_rc 0
[ "sha256:$(printf '%s' "$OUT" | sha256sum | cut -d' ' -f1)" = "$digest1" ] ||
    fail "skopeo reads another manifest than image.sh's $digest1"

# hard LIMIT MAX: this process's hard limit (/proc/self/limits' name), at most MAX: podman asks for more
# than a container needs, and crun may only lower a limit
hard() { awk -v n="$1" -v m="$2" 'index($0, n) == 1 { v = $(NF - 1) } END { print (v == "unlimited" || v + 0 > m + 0) ? m : v }' /proc/self/limits; }
cat >"$dir/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$(hard "Max open files" 65536):$(hard "Max open files" 65536)", "nproc=$(hard "Max processes" 4096):$(hard "Max processes" 4096)"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "none"
EOF
export CONTAINERS_CONF="$dir/containers.conf"
podman="podman --root $dir/storage --runroot $dir/run --tmpdir $dir/tmp --storage-driver vfs"
# podman CMD... in a private mount namespace (crun refuses the hybrid cgroup layout's cgroup2 mount)
in_podman() {
    run unshare -m sh -c 'mountpoint -q /sys/fs/cgroup/unified && umount /sys/fs/cgroup/unified; exec "$@"' \
        sh $podman "$@"
}
in_podman load -i "$dir/image1.tar"
expect_rc 0
expect_out 'Loaded image.*cni-migrate:test'
in_podman run --rm --network=host cni-migrate:test version
expect_rc 0
expect_out '^cni-migrate [0-9]+\.[0-9]+\.[0-9]+$'
expect_out '^libcurl '

# node-facts on a flannel-shaped namespace, as a node-run pod runs it (privileged, the node's CNI dir)
ip netns add $ns
ip -n $ns link add eth0 type veth peer name eth0-peer
ip -n $ns link set eth0 up
ip -n $ns addr add 192.168.1.11/24 dev eth0
ip -n $ns route add default via 192.168.1.1 dev eth0
ip -n $ns link add flannel.1 type vxlan id 1 dstport 8472 local 192.168.1.11 dev eth0 nolearning
ip -n $ns link set flannel.1 address 9e:3a:7c:00:00:01 mtu 1450 up
mkdir -p "$dir/net.d"
printf '%s' '{"name":"cbr0","cniVersion":"0.3.1","plugins":[{"type":"flannel","delegate":{"hairpinMode":true,"isDefaultGateway":true}},{"type":"portmap","capabilities":{"portMappings":true}}]}' \
    >"$dir/net.d/10-flannel.conflist"
in_podman run --rm --privileged --network=ns:/run/netns/$ns -v "$dir/net.d:/etc/cni/net.d:ro" \
    cni-migrate:test node-run node-facts --args '{"vni":1}'
expect_rc 0
expect_out '"flannel":\{"mac":"9e:3a:7c:00:00:01","mtu":1450,"name":"flannel.1","vxlan":\{[^}]*"id":1'
expect_out '"active":"/etc/cni/net.d/10-flannel.conflist"'
expect_out '"underlay":"eth0"'
echo "node-facts in the image: $OUT"
done_ok
