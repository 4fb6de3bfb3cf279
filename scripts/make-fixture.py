#!/usr/bin/python3
"""Writes examples/clusters/flannel-small.yaml: a small flannel cluster for `cni-migrate fake serve`.

Built from the upstream manifests (flannel's kube-flannel.yml, Calico's CRDs) plus what a running
cluster adds: nodes with flannel's annotations and podCIDRs, the flannel DaemonSet's pods, a
Deployment with its ReplicaSet and pods, a StatefulSet, PodDisruptionBudgets, as `kubectl get -A -o
yaml` would print them. Run from the repository root: scripts/make-fixture.py
(needs /usr/bin/python3 with python3-yaml, which python3-kubernetes brings).
"""
import glob
import os
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CALICO_CRDS = os.environ.get("CALICO_CRDS", os.path.join(ROOT, "..", "shared", "reference", "calico", "crd"))
T0 = "2026-11-01T08:00:00Z"
NODES = [("cp-1", "10.0.0.10", 0, True), ("worker-1", "10.0.0.11", 1, False),
         ("worker-2", "10.0.0.12", 2, False), ("worker-3", "10.0.0.13", 3, False)]


def uid(n):
    return "00000000-0000-4000-8000-%012d" % n


def node(name, ip, idx, cp):
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"}
    if cp:
        labels["node-role.kubernetes.io/control-plane"] = ""
    mac = "0a:58:0a:f4:%02x:01" % idx
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name, "uid": uid(100 + idx), "creationTimestamp": T0, "labels": labels,
            "annotations": {
                "flannel.alpha.coreos.com/backend-data": '{"VNI":1,"VtepMAC":"%s"}' % mac,
                "flannel.alpha.coreos.com/backend-type": "vxlan",
                "flannel.alpha.coreos.com/kube-subnet-manager": "true",
                "flannel.alpha.coreos.com/public-ip": ip,
                "node.alpha.kubernetes.io/ttl": "0",
            },
        },
        "spec": {"podCIDR": "10.244.%d.0/24" % idx, "podCIDRs": ["10.244.%d.0/24" % idx]}
        | ({"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]} if cp else {}),
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "conditions": [
                {"type": "NetworkUnavailable", "status": "False", "reason": "FlannelIsUp",
                 "message": "Flannel is running on this node", "lastHeartbeatTime": T0, "lastTransitionTime": T0},
                {"type": "Ready", "status": "True", "reason": "KubeletReady",
                 "message": "kubelet is posting ready status", "lastHeartbeatTime": T0, "lastTransitionTime": T0},
            ],
            "nodeInfo": {"architecture": "amd64", "bootID": uid(200 + idx), "machineID": "%032x" % (300 + idx),
                         "systemUUID": uid(400 + idx), "containerRuntimeVersion": "containerd://1.7.24",
                         "kernelVersion": "6.1.0-28-amd64", "kubeProxyVersion": "v1.32.0",
                         "kubeletVersion": "v1.32.0", "operatingSystem": "linux",
                         "osImage": "Debian GNU/Linux 12 (bookworm)"},
        },
    }


def pod(ns, name, node_name, idx, labels, owner, containers, ip, volumes=None, host_network=False, grace=30):
    spec = {"nodeName": node_name, "containers": containers, "restartPolicy": "Always",
            "schedulerName": "default-scheduler", "terminationGracePeriodSeconds": grace,
            "serviceAccountName": "default"}
    if volumes:
        spec["volumes"] = volumes
    if host_network:
        spec["hostNetwork"] = True
    statuses = [{"name": c["name"], "image": c["image"], "imageID": c["image"] + "@sha256:" + "%064x" % idx,
                 "containerID": "containerd://%064x" % (idx * 7919), "ready": True, "restartCount": 0,
                 "started": True, "state": {"running": {"startedAt": T0}}} for c in containers]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "uid": uid(1000 + idx), "creationTimestamp": T0,
                     "labels": labels, "ownerReferences": [owner]},
        "spec": spec,
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": ip if host_network else None,
                   "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": T0}],
                   "containerStatuses": statuses, "startTime": T0},
    }


def owner(kind, name, n):
    return {"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": uid(n), "controller": True,
            "blockOwnerDeletion": True}


def main():
    docs = []
    for path in sorted(glob.glob(os.path.join(CALICO_CRDS, "*.yaml"))):
        docs += [d for d in yaml.safe_load_all(open(path)) if d]
    flannel = [d for d in yaml.safe_load_all(open(os.path.join(ROOT, "examples/manifests/kube-flannel.yml"))) if d]
    for d in flannel:
        d["metadata"].setdefault("creationTimestamp", T0)
    docs += flannel
    ds = next(d for d in flannel if d["kind"] == "DaemonSet")
    ds["metadata"]["uid"] = uid(1)
    ds["metadata"]["generation"] = 1
    ds["status"] = {"currentNumberScheduled": 4, "desiredNumberScheduled": 4, "numberAvailable": 4,
                    "numberMisscheduled": 0, "numberReady": 4, "observedGeneration": 1, "updatedNumberScheduled": 4}
    docs += [node(*n) for n in NODES]
    # flannel's pods: hostNetwork, one per node
    for name, ip, idx, cp in NODES:
        c = ds["spec"]["template"]["spec"]["containers"]
        docs.append(pod("kube-flannel", "kube-flannel-ds-%s" % "abcd"[idx], name, idx,
                        {"app": "flannel", "tier": "node", "pod-template-generation": "1",
                         "controller-revision-hash": "6c5b5b4c8"},
                        owner("DaemonSet", "kube-flannel-ds", 1), [{"name": c[0]["name"], "image": c[0]["image"]}],
                        ip, volumes=ds["spec"]["template"]["spec"]["volumes"], host_network=True))
    # a Deployment (3 replicas on the workers) guarded by a PDB that allows one disruption
    web_labels = {"app": "web", "pod-template-hash": "7d9f8b6c5"}
    docs.append({"apiVersion": "apps/v1", "kind": "Deployment",
                 "metadata": {"name": "web", "namespace": "default", "uid": uid(2), "generation": 1,
                              "creationTimestamp": T0, "labels": {"app": "web"}},
                 "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                          "template": {"metadata": {"labels": {"app": "web"}},
                                       "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}},
                 "status": {"replicas": 3, "readyReplicas": 3, "availableReplicas": 3, "updatedReplicas": 3,
                            "observedGeneration": 1}})
    docs.append({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                 "metadata": {"name": "web-7d9f8b6c5", "namespace": "default", "uid": uid(3), "generation": 1,
                              "creationTimestamp": T0, "labels": web_labels,
                              "ownerReferences": [owner("Deployment", "web", 2)]},
                 "spec": {"replicas": 3, "selector": {"matchLabels": web_labels},
                          "template": {"metadata": {"labels": web_labels},
                                       "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}},
                 "status": {"replicas": 3, "readyReplicas": 3, "availableReplicas": 3, "observedGeneration": 1}})
    for i, suffix in enumerate(["x2k4p", "b7m9q", "z5n8w"]):
        name, ip, idx, _ = NODES[1 + i]
        docs.append(pod("default", "web-7d9f8b6c5-" + suffix, name, 10 + i, web_labels,
                        owner("ReplicaSet", "web-7d9f8b6c5", 3), [{"name": "nginx", "image": "nginx:1.27"}],
                        "10.244.%d.%d" % (idx, 10 + i), volumes=[{"name": "cache", "emptyDir": {}}], grace=1))
    docs.append({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                 "metadata": {"name": "web", "namespace": "default", "uid": uid(4), "generation": 1,
                              "creationTimestamp": T0},
                 "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}},
                 "status": {"currentHealthy": 3, "desiredHealthy": 2, "disruptionsAllowed": 1, "expectedPods": 3,
                            "observedGeneration": 1}})
    # a StatefulSet whose PDB allows no disruption: a drain of its node blocks
    db_labels = {"app": "db", "controller-revision-hash": "db-5f7c9d8b4",
                 "apps.kubernetes.io/pod-index": "0", "statefulset.kubernetes.io/pod-name": "db-0"}
    docs.append({"apiVersion": "apps/v1", "kind": "StatefulSet",
                 "metadata": {"name": "db", "namespace": "default", "uid": uid(5), "generation": 1,
                              "creationTimestamp": T0},
                 "spec": {"replicas": 1, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                          "template": {"metadata": {"labels": {"app": "db"}},
                                       "spec": {"containers": [{"name": "postgres", "image": "postgres:17"}]}}},
                 "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "currentReplicas": 1,
                            "observedGeneration": 1}})
    docs.append(pod("default", "db-0", "worker-3", 20, db_labels,
                    {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": uid(5),
                     "controller": True, "blockOwnerDeletion": True},
                    [{"name": "postgres", "image": "postgres:17"}], "10.244.3.20", grace=1))
    docs.append({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                 "metadata": {"name": "db", "namespace": "default", "uid": uid(6), "generation": 1,
                              "creationTimestamp": T0},
                 "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}},
                 "status": {"currentHealthy": 1, "desiredHealthy": 1, "disruptionsAllowed": 0, "expectedPods": 1,
                            "observedGeneration": 1}})
    docs.append({"apiVersion": "v1", "kind": "Service",
                 "metadata": {"name": "web", "namespace": "default", "uid": uid(7), "creationTimestamp": T0},
                 "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
                          "clusterIP": "10.96.0.20", "type": "ClusterIP"}})
    for d in docs:
        strip_nulls(d)
    out = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": docs}
    header = ("# A small flannel (VXLAN) cluster: 4 nodes, flannel's DaemonSet and pods, a Deployment behind a\n"
              "# PDB that allows one disruption, a StatefulSet behind one that allows none, Calico's CRDs.\n"
              "# Generated by scripts/make-fixture.py from examples/manifests/kube-flannel.yml and Calico's CRDs.\n")
    path = os.path.join(ROOT, "examples/clusters/flannel-small.yaml")
    with open(path, "w") as f:
        f.write(header)
        yaml.safe_dump(out, f, sort_keys=False, width=120)
    print(path)


def strip_nulls(d):
    if isinstance(d, dict):
        for k in [k for k, v in d.items() if v is None]:
            del d[k]
        for v in d.values():
            strip_nulls(v)
    elif isinstance(d, list):
        for v in d:
            strip_nulls(v)


if __name__ == "__main__":
    sys.exit(main())
