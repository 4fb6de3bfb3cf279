#!/bin/sh
# The main job: builds cni-migrate and runs the bundled flannel-config procedure on the
# upstream flannel manifest (until the dry-run migration of a bundled fake cluster replaces it).
# Installs missing Debian packages when run as root (scripts/deps.sh).
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build
exec build/cni-migrate run flannel-config examples/manifests/kube-flannel.yml
