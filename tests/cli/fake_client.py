"""Python's kubernetes client against `cni-migrate fake serve`: list with selectors, watch,
patch, evict. Usage: /usr/bin/python3 fake_client.py KUBECONFIG. Prints 'ok' or raises."""
import sys

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

config.load_kube_config(config_file=sys.argv[1])
v1 = client.CoreV1Api()
policy = client.PolicyV1Api()

nodes = v1.list_node(label_selector="node-role.kubernetes.io/control-plane")
assert [n.metadata.name for n in nodes.items] == ["cp-1"], nodes.items
nodes = v1.list_node(label_selector="!node-role.kubernetes.io/control-plane")
assert len(nodes.items) == 3
pods = v1.list_pod_for_all_namespaces(field_selector="spec.nodeName=worker-3")
assert sorted(p.metadata.name for p in pods.items) == ["db-0", "kube-flannel-ds-d", "web-7d9f8b6c5-z5n8w"]
pods = v1.list_namespaced_pod("default", label_selector="app=web", limit=2)
# with a selector the count of what remains is unknown and left out, as the API server does
assert len(pods.items) == 2 and pods.metadata._continue and pods.metadata.remaining_item_count is None
rest = v1.list_namespaced_pod("default", label_selector="app=web", limit=2, _continue=pods.metadata._continue)
assert len(rest.items) == 1 and not rest.metadata._continue
pods = v1.list_namespaced_pod("default", limit=3)
assert len(pods.items) == 3 and pods.metadata.remaining_item_count == 1, pods.metadata
rest = v1.list_namespaced_pod("default", limit=3, _continue=pods.metadata._continue)
assert len(rest.items) == 1 and not rest.metadata._continue and rest.metadata.remaining_item_count is None
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

# eviction: allowed by the web PDB once, then refused with 429
body = client.V1Eviction(metadata=client.V1ObjectMeta(name="web-7d9f8b6c5-x2k4p", namespace="default"))
v1.create_namespaced_pod_eviction("web-7d9f8b6c5-x2k4p", "default", body)
pdb = policy.read_namespaced_pod_disruption_budget("web", "default")
assert pdb.status.disruptions_allowed == 0 and "web-7d9f8b6c5-x2k4p" in pdb.status.disrupted_pods
body = client.V1Eviction(metadata=client.V1ObjectMeta(name="web-7d9f8b6c5-b7m9q", namespace="default"))
try:
    v1.create_namespaced_pod_eviction("web-7d9f8b6c5-b7m9q", "default", body)
    raise AssertionError("an eviction past the budget was accepted")
except ApiException as e:
    assert e.status == 429 and "needs 2 healthy pods and has 3 currently" in e.body, e.body
print("ok")
