"""snapshot_hosts.py A.yaml B.yaml: compares the FakeCluster spec.hosts of two saved clusters
(--fake-save), each section's entries as a set (their order is the order they were made in, which
differs between a synthesized host and one read by node-facts). Prints each node and section that
differ; exits 1 when any does, 0 when every node's host is the same."""
import json
import sys

import yaml


def hosts(path):
    for doc in yaml.safe_load_all(open(path)):
        if doc and doc.get("kind") == "FakeCluster":
            return doc["spec"].get("hosts") or {}
    return {}


def norm(section):
    if isinstance(section, list):
        return sorted(json.dumps(x, sort_keys=True) for x in section)
    if isinstance(section, dict):
        return {k: sorted(v) if isinstance(v, list) else v for k, v in section.items()}
    return section


a, b = hosts(sys.argv[1]), hosts(sys.argv[2])
bad = 0
for node in sorted(set(a) | set(b)):
    x, y = a.get(node) or {}, b.get(node) or {}
    for key in sorted(set(x) | set(y)):
        if norm(x.get(key)) != norm(y.get(key)):
            bad += 1
            print(f"{node} {key}:\n  {json.dumps(x.get(key))[:400]}\n  {json.dumps(y.get(key))[:400]}")
if not a:
    print("no hosts in", sys.argv[1])
    bad += 1
sys.exit(1 if bad else 0)
