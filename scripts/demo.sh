#!/bin/sh
# The main job: builds cni-migrate and rehearses, on a simulated 4-node flannel cluster with
# Calico's migration manifest installed, moving the nodes two at a time from flannel to
# calico-node by node label (the bundled label-rollout procedure), on a virtual clock.
# Installs missing Debian packages when run as root (scripts/deps.sh).
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build
exec build/cni-migrate --fake examples/clusters/flannel-calico-installed-4node.yaml run label-rollout 2
