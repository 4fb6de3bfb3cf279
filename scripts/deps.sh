#!/bin/sh
# Installs the Debian packages cni-migrate needs to build and test.
# (nodejs, Debian 12's 18.x, serves the HTTP/2 test server of tests/cli/test_k8s_h2.sh; mmdebstrap and
# eatmydata build the image, scripts/image.sh; podman and skopeo run and read it, tests/image;
# time measures scripts/bench-controller.sh; chromium opens the rehearsal report headless,
# tests/cli/test_report.sh; iputils-ping pings across network namespaces, tests/netns/test_dataplane.sh.)
# As root: installs whatever is missing. Otherwise: prints the apt-get line and exits 2.
set -eu
PACKAGES="build-essential cmake pkg-config liblua5.4-dev lua5.4 libcurl4-openssl-dev
libcjson-dev libyaml-dev libmnl-dev libmicrohttpd-dev libgnutls28-dev lua-check python3-kubernetes
iproute2 iptables nftables openssl valgrind strace nodejs mmdebstrap eatmydata podman skopeo time
chromium iputils-ping"
missing=""
for p in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
        *" installed") ;;
        *) missing="$missing $p" ;;
    esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "cni-migrate: missing Debian packages; as root, run:" >&2
    echo "  apt-get install -y$missing" >&2
    exit 2
fi
echo "cni-migrate: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # word splitting is intended
apt-get install -y -qq --no-install-recommends $missing >/dev/null
