#!/bin/sh
# The main job: builds cni-migrate and rehearses the whole migration of a simulated 10-node
# flannel cluster (Calico's migration manifest applied, PDBs, a StatefulSet) to Calico, on a
# virtual clock: preflight, the cluster's preparation, every node's steps, the completion, and a
# summary. Installs missing Debian packages when run as root (scripts/deps.sh).
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build
exec build/cni-migrate --fake examples/clusters/flannel-calico-installed-10node.yaml migrate
