"""status_kubectl.py NODES.json EVENTS.json STATUS.json: `cni-migrate status --json` against what
kubectl reads of the same cluster over fake serve (`kubectl get nodes -o json`, `kubectl get events
-A --field-selector source=cni-migrate -o json`): each node's network is its label, its state follows
from its labels, and its step agrees with its latest migration Event (each step a node can be in
lies between two Events: drain after MigrationStarted (or before it is written), flannel-gone after
Drained or FlannelRemoved, calico-ready after FlannelRemoved or CalicoReady, done after CalicoReady or
MigrationCompleted). Prints "ok N nodes" or the differences, exit 1.
"""
import json
import sys

NET = "projectcalico.org/node-network-during-migration"
BUSY = "projectcalico.org/node-flannel-migration-in-progress"
AFTER = {"drain": {None, "MigrationStarted"}, "flannel-gone": {"Drained", "FlannelRemoved"},
         "calico-ready": {"FlannelRemoved", "CalicoReady"}, "done": {"CalicoReady", "MigrationCompleted"},
         None: {None}}


def main():
    nodes, events, status = (json.load(open(p)) for p in sys.argv[1:4])
    latest = {}
    for e in sorted(events["items"], key=lambda e: (e["firstTimestamp"], e["metadata"]["name"])):
        latest[e["involvedObject"]["name"]] = e["reason"]
    by = {n["name"]: n for n in status["nodes"]}
    errors = []
    for n in nodes["items"]:
        name, labels = n["metadata"]["name"], n["metadata"].get("labels") or {}
        s = by.get(name)
        if s is None:
            errors.append("%s: not in status" % name)
            continue
        if s["network"] != labels.get(NET):
            errors.append("%s: network %s, kubectl's label %s" % (name, s["network"], labels.get(NET)))
        busy = labels.get(BUSY) == "true" or labels.get(NET) == "none"
        if busy != (s["state"] == "in flight") and s["state"] != "failed":
            errors.append("%s: state %s, labels %s" % (name, s["state"], labels))
        if s["state"] in ("in flight", "done") and latest.get(name) not in AFTER.get(s["step"], ()):
            errors.append("%s: step %s after Event %s" % (name, s["step"], latest.get(name)))
    if errors:
        print("\n".join(errors))
        return 1
    print("ok %d nodes" % len(nodes["items"]))
    return 0


sys.exit(main())
