#!/bin/sh
# Builds the OCI image of cni-migrate offline, from Debian's packages only (no registry):
#   scripts/image.sh [--binary FILE] [--name REF] [--cache DIR] [OUT.tar]
# OUT.tar (default build/cni-migrate-image.tar) is an OCI archive: `podman load -i`, `skopeo copy
# oci-archive:OUT.tar ...` and containerd's `ctr images import` take it. The root filesystem is
# Debian's essential set (mmdebstrap, from this machine's apt sources) with the libraries the binary
# links (found through ldd and dpkg), CA certificates and what node scripts run (iptables, nft);
# --binary (default build/cni-migrate) goes in as /usr/bin/cni-migrate, the entrypoint. The same
# inputs give the same bytes: every timestamp is SOURCE_DATE_EPOCH (default: the last commit's time).
# --cache DIR keeps the downloaded .debs there for the next build. Prints the manifest's digest.
set -eu
cd "$(dirname "$0")/.."
binary=build/cni-migrate
name=""
cache=""
out=build/cni-migrate-image.tar
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary=$2; shift 2 ;;
        --name) name=$2; shift 2 ;;
        --cache) cache=$2; shift 2 ;;
        -*) echo "image.sh: unknown flag $1" >&2; exit 2 ;;
        *) out=$1; shift ;;
    esac
done
[ -x "$binary" ] || { echo "image.sh: --binary $binary: not an executable (scripts/build.sh first)" >&2; exit 2; }
for tool in mmdebstrap eatmydata; do
    command -v $tool >/dev/null || { echo "image.sh: $tool is not installed (scripts/deps.sh)" >&2; exit 2; }
done
version=$("$binary" version | sed -n '1s/^cni-migrate //p')
[ -n "$name" ] || name="ghcr.io/cni-migrate/cni-migrate:$version"
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || true)}
[ -n "$epoch" ] || { echo "image.sh: not a git checkout: set SOURCE_DATE_EPOCH" >&2; exit 2; }
export SOURCE_DATE_EPOCH=$epoch
arch=$(dpkg --print-architecture)

# The Debian package that holds each library the binary loads (merged /usr: try both spellings).
owner() {
    for p in "$1" "$(readlink -f "$1")" "${1#/usr}" "/usr$1"; do
        dpkg -S "$p" 2>/dev/null | sed -n '1s/:.*//p' | grep . && return 0
    done
    echo "image.sh: no Debian package holds $1, which $binary loads" >&2
    return 1
}
libs=$(ldd "$binary" | awk '/=> \//{print $3} /^\t\//{print $1}')
pkgs="ca-certificates iptables nftables"
for l in $libs; do pkgs="$pkgs $(owner "$l")"; done
pkgs=$(echo "$pkgs" | tr ' ' '\n' | sort -u | tr '\n' ',' | sed 's/,$//')

work=$(mktemp -d "${TMPDIR:-/tmp}/cm-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/blobs/sha256"
cp "$binary" "$work/cni-migrate"
strip "$work/cni-migrate" 2>/dev/null || true
set -- --variant=essential --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr --include="$pkgs" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --hook-dir=/usr/share/mmdebstrap/hooks/eatmydata --skip=output/dev --customize-hook="copy-in $work/cni-migrate /usr/bin"
if [ -n "$cache" ]; then
    mkdir -p "$cache"
    set -- "$@" --skip=essential/unlink --setup-hook='mkdir -p "$1"/var/cache/apt/archives' \
        --setup-hook="sync-in $cache /var/cache/apt/archives" \
        --customize-hook="sync-out /var/cache/apt/archives $cache" \
        --customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb'
fi
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
sources=/etc/apt/sources.list
[ -s "$sources" ] || sources=$(ls /etc/apt/sources.list.d/*.sources | head -n 1)
mmdebstrap --quiet "$@" "$suite" "$work/layer.tar" "$sources" >"$work/mmdebstrap.log" 2>&1 ||
    { cat "$work/mmdebstrap.log" >&2; echo "image.sh: mmdebstrap failed" >&2; exit 1; }

# The OCI layout: one gzipped layer, its config, the manifest, the index naming it.
blob() { # FILE -> moves it to blobs/sha256/DIGEST, prints DIGEST SIZE
    d=$(sha256sum "$1" | cut -d' ' -f1)
    s=$(stat -c %s "$1")
    mv "$1" "$work/blobs/sha256/$d"
    echo "$d $s"
}
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
unpacked=$(stat -c %s "$work/layer.tar")
gzip -n -6 "$work/layer.tar"
set -- $(blob "$work/layer.tar.gz"); layer=$1 layer_size=$2
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
printf '{"architecture":"%s","os":"linux","created":"%s","config":{"Entrypoint":["/usr/bin/cni-migrate"],%s%s},%s}' \
    "$arch" "$created" '"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],' \
    "\"Labels\":{\"org.opencontainers.image.version\":\"$version\"}" \
    "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$diff_id\"]}" >"$work/config"
set -- $(blob "$work/config"); config=$1 config_size=$2
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}' \
    "{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$config\",\"size\":$config_size}" \
    "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$layer\",\"size\":$layer_size}" \
    >"$work/manifest"
set -- $(blob "$work/manifest"); manifest=$1 manifest_size=$2
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s","io.containerd.image.name":"%s"}}]}' \
    "$manifest" "$manifest_size" "$name" "$name" >"$work/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$work/oci-layout"
mkdir -p "$(dirname "$out")"
tar --sort=name --format=gnu --mtime="@$epoch" --owner=0 --group=0 --numeric-owner -C "$work" \
    -cf "$out.tmp" oci-layout index.json blobs
mv "$out.tmp" "$out"
echo "sha256:$manifest $name $out: $(stat -c %s "$out") bytes, $unpacked unpacked"
