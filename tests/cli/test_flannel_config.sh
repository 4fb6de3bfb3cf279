#!/bin/sh
# The bundled flannel-config procedure on the upstream flannel manifest (the main job until migrate was).
. "$(dirname "$0")/lib.sh"
B=${CNI_MIGRATE:?}
M="${CM_SOURCE_DIR:?}/examples/manifests/kube-flannel.yml"
run "$B" run flannel-config "$M"
expect_rc 0
expect_out "^flannel v0\.28\.9 in kube-flannel/kube-flannel-ds$"
expect_out "^  pod network      10\.244\.0\.0/16 \(a /24 per node\)$"
expect_out "^  backend          vxlan, VNI 1, UDP port 8472$"
expect_out "^  IPPool           10\.244\.0\.0/16, blockSize 26$"
expect_out "INFO  read manifest bytes=[0-9]+ file=.*kube-flannel\.yml objects=6$"
run "$B" --log-level warn run flannel-config "$M" --json
expect_rc 0
expect_out '^    "felix_vxlan_port": 8472,$'
run "$B" run flannel-config
expect_rc 2
expect_out "^cni-migrate: usage: cni-migrate run flannel-config MANIFEST\.yaml \[--json\]$"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf 'kind: ConfigMap\nmetadata: {name: x\n' >"$dir/bad.yaml"
run "$B" run flannel-config "$dir/bad.yaml"
expect_rc 2
expect_out "^cni-migrate: .*/bad\.yaml:3:1: did not find expected ',' or '}' while parsing a flow mapping$"
expect_lines 1
sed 's#"Network": "10.244.0.0/16"#"Network": "10.244.0.0"#' "$M" >"$dir/badnet.yaml"
run "$B" run flannel-config "$dir/badnet.yaml"
expect_rc 2
expect_out "^cni-migrate: .*/badnet\.yaml: ConfigMap kube-flannel-cfg: net-conf\.json: Network: \"10\.244\.0\.0\" is not a CIDR$"
done_ok
