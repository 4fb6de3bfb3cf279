"""status_check.py FIXTURE STATUS.json: `cni-migrate status --json` against the saved cluster.

Reads the fixture (what --fake-save wrote) on its own, with PyYAML, and checks each node's state and
the counts in the status model: in flight = in progress or labelled none, done = labelled calico and
not in progress (or, once the completion began, no label), failed/held from our annotations, left
the rest. Prints "ok PHASE done/in_flight/left" or the differences, exit 1.
"""
import json
import sys

import yaml

NET = "projectcalico.org/node-network-during-migration"
BUSY = "projectcalico.org/node-flannel-migration-in-progress"


def objects(path):
    for doc in yaml.safe_load_all(open(path)):
        if not doc:
            continue
        for o in doc.get("items", [doc]) if doc.get("kind", "").endswith("List") else [doc]:
            yield o


def main():
    fixture, status = sys.argv[1], json.load(open(sys.argv[2]))
    nodes, phase = {}, None
    for o in objects(fixture):
        if o.get("kind") == "Node":
            nodes[o["metadata"]["name"]] = o
        if o.get("kind") == "ConfigMap" and o["metadata"]["name"] == "flannel-migration-config":
            phase = (o.get("data") or {}).get("cni-migrate.phase")
    completed = phase in ("complete", "done")
    rollback = phase in ("rollback", "rolled-back")
    want = {}
    for name, n in nodes.items():
        labels = n["metadata"].get("labels") or {}
        ann = n["metadata"].get("annotations") or {}
        net, busy = labels.get(NET), labels.get(BUSY) == "true"
        if "cni-migrate.dev/failed" in ann:
            want[name] = "failed"
        elif busy or net == "none":
            want[name] = "in flight"
        elif "cni-migrate.dev/held" in ann:
            want[name] = "held"
        elif rollback:
            want[name] = "done" if net in (None, "flannel") else "left"
        elif net == "calico" or (net is None and (completed or "cni-migrate.dev/migrated" in ann)):
            want[name] = "done"
        else:
            want[name] = "left"
    errors = []
    got = {n["name"]: n["state"] for n in status["nodes"]}
    if got != want:
        errors.append("node states: status says %s, the fixture %s" % (got, want))
    for state in ("done", "in flight", "held", "failed", "left"):
        k = sum(1 for s in want.values() if s == state)
        if status["counts"][state.replace(" ", "_")] != k:
            errors.append("count %s: %s, expected %d" % (state, status["counts"][state.replace(" ", "_")], k))
    if status["counts"]["total"] != len(nodes):
        errors.append("total %s, expected %d" % (status["counts"]["total"], len(nodes)))
    expect_phase = {"done": "done", "complete": "complete", "rollback": "rolling back",
                    "rolled-back": "rolled back"}.get(phase)
    if expect_phase and status["phase"] != expect_phase:
        errors.append("phase %s, ConfigMap says %s" % (status["phase"], phase))
    if phase == "prepare" and status["phase"] not in ("preparing", "migrating"):
        errors.append("phase %s while the ConfigMap says prepare" % status["phase"])
    if status["schema"] != "cni-migrate.dev/status/v1":
        errors.append("schema %s" % status["schema"])
    if errors:
        print("\n".join(errors))
        return 1
    c = status["counts"]
    print("ok %s %d/%d/%d" % (status["phase"], c["done"], c["in_flight"], c["left"]))
    return 0


sys.exit(main())
