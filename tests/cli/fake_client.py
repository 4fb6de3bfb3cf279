"""Python's kubernetes client against `cni-migrate fake serve`: list with selectors, watch,
patch, evict. Usage: /usr/bin/python3 fake_client.py KUBECONFIG. Prints 'ok' or raises."""
import sys

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

config.load_kube_config(config_file=sys.argv[1])
v1 = client.CoreV1Api()
policy = client.PolicyV1Api()

nodes = v1.list_node(label_selector="node-role.kubernetes.io/control-plane")
assert [n.metadata.name for n in nodes.items] == ["control-plane-1"], nodes.items
nodes = v1.list_node(label_selector="!node-role.kubernetes.io/control-plane")
assert len(nodes.items) == 9
pods = v1.list_pod_for_all_namespaces(field_selector="spec.nodeName=worker-3")
assert sorted(p.metadata.name for p in pods.items) == [
    "db-2", "kube-flannel-ds-vpvrd", "kube-proxy-jrp6j", "web-25lf9c8f6-47zrh", "web-25lf9c8f6-bll82"]
pods = v1.list_namespaced_pod("apps", label_selector="app=web", limit=10)
assert len(pods.items) == 10 and pods.metadata._continue and pods.metadata.remaining_item_count == 8
rest = v1.list_namespaced_pod("apps", label_selector="app=web", limit=10, _continue=pods.metadata._continue)
assert len(rest.items) == 8 and not rest.metadata._continue
try:
    v1.list_namespaced_pod("default", field_selector="spec.bogus=1")
    raise AssertionError("an unknown field selector was accepted")
except ApiException as e:
    assert e.status == 400 and "field label not supported: spec.bogus" in e.body, e.body

# patch (the client sends strategic merge for a dict body), then see it in a watch from the list's version
rv = v1.list_node().metadata.resource_version
v1.patch_node("worker-2", {"metadata": {"labels": {"py": "yes"}}})
events = list(watch.Watch().stream(v1.list_node, resource_version=rv, timeout_seconds=1))
assert [(e["type"], e["object"].metadata.name) for e in events] == [("MODIFIED", "worker-2")], events
assert events[0]["object"].metadata.labels["py"] == "yes"

# optimistic concurrency
node = v1.read_node("worker-2")
node.metadata.resource_version = "1"
try:
    v1.replace_node("worker-2", node)
    raise AssertionError("a stale resourceVersion was accepted")
except ApiException as e:
    assert e.status == 409 and '"reason":"Conflict"' in e.body.replace(" ", ""), e.body

# eviction: allowed by the db PDB (maxUnavailable 1 of 3) once, then refused with 429
body = client.V1Eviction(metadata=client.V1ObjectMeta(name="db-0", namespace="apps"))
v1.create_namespaced_pod_eviction("db-0", "apps", body)
pdb = policy.read_namespaced_pod_disruption_budget("db", "apps")
assert pdb.status.disruptions_allowed == 0 and "db-0" in pdb.status.disrupted_pods, pdb.status
body = client.V1Eviction(metadata=client.V1ObjectMeta(name="db-1", namespace="apps"))
try:
    v1.create_namespaced_pod_eviction("db-1", "apps", body)
    raise AssertionError("an eviction past the budget was accepted")
except ApiException as e:
    assert e.status == 429 and "needs 2 healthy pods and has 3 currently" in e.body, e.body
print("ok")
