--- generate.lua: writes a fake-cluster fixture of a kubeadm-style cluster running flannel (or Canal),
--- as `kubectl get -A -o yaml` would print it, built from the upstream manifests.
---
--- usage: cni-migrate run examples/clusters/generate.lua [OPTIONS] > fixture.yaml
---   --nodes N             nodes in all, control planes included (default 3)
---   --control-planes K    of which control-plane nodes, labelled and tainted (default 1; not
---                         tainted when they are all the nodes: the workloads run there)
---   --pods-per-node M     replicas of the "web" Deployment per worker (default 2)
---   --statefulset N       replicas of the "db" StatefulSet (default 0)
---   --api N               replicas of a second Deployment, "api" (default 0)
---   --zones K             label the nodes topology.kubernetes.io/zone zone-a, zone-b, ... in turn
---                         (default 0: no zone label)
---   --pdbs                PodDisruptionBudgets for web (minAvailable 50%), api (maxUnavailable 1)
---                         and db (maxUnavailable 1)
---   --canal               Canal instead of flannel (examples/manifests/canal.yaml)
---   --calico-installed    also Calico's flannel-migration manifest, applied as its guide says before
---                         migrating (CRDs, RBAC, calico-node DaemonSet that no node selects yet)
---   --old-manifest        an old flannel install: kube-system, DaemonSet kube-flannel-ds-amd64, flannel
---                         v0.11.0 (no install-cni-plugin), control planes labelled and tainted
---                         node-role.kubernetes.io/master
---   --annotation-prefix P flanneld runs with --kube-annotation-prefix=P, the nodes' annotations under P
---   --vni N               the VXLAN VNI of net-conf.json and of the nodes' backend-data (default 1)
---   --manifests DIR       where the upstream manifests are (default: examples/manifests beside this file)
---
--- The output is deterministic: uids, MACs and names derive from the object's position.
local json = require "cm.json"
local yaml = require "cm.yaml"

local opts = { nodes = 3, ["control-planes"] = 1, ["pods-per-node"] = 2, statefulset = 0, api = 0, zones = 0 }
local flags = { pdbs = true, canal = true, ["calico-installed"] = true, ["old-manifest"] = true }
local strings = { manifests = true, ["annotation-prefix"] = true }
do
   local args, i = { ... }, 1
   while i <= #args do
      local name = args[i]:match("^%-%-(.+)$")
      if flags[name] then
         opts[name] = true
      elseif name and (opts[name] ~= nil or strings[name] or name == "vni") and args[i + 1] then
         opts[name] = strings[name] and args[i + 1] or math.tointeger(tonumber(args[i + 1]))
         if opts[name] == nil then
            io.stderr:write(("generate.lua: --%s: expected an integer, got %q\n"):format(name, args[i + 1]))
            os.exit(2)
         end
         i = i + 1
      else
         io.stderr:write(("generate.lua: unknown or incomplete option %q\n"):format(args[i]))
         os.exit(2)
      end
      i = i + 1
   end
end
if opts.zones < 0 or opts.zones > 26 then
   io.stderr:write("generate.lua: --zones: expected 0 to 26\n")
   os.exit(2)
end
if opts.nodes < 1 or opts.nodes > 65000 or opts["control-planes"] > opts.nodes then
   io.stderr:write("generate.lua: need 1 <= --control-planes <= --nodes <= 65000\n")
   os.exit(2)
end
if opts.vni and (opts.vni < 1 or opts.vni > 16777215) then
   io.stderr:write("generate.lua: --vni: expected 1 to 16777215\n")
   os.exit(2)
end
if opts.canal and (opts["old-manifest"] or opts["annotation-prefix"]) then
   io.stderr:write("generate.lua: --old-manifest and --annotation-prefix are for flannel, not --canal\n")
   os.exit(2)
end
local PREFIX = opts["annotation-prefix"] or "flannel.alpha.coreos.com"
local VNI = opts.vni or 1
local OLD = opts["old-manifest"]
local CP_ROLE = OLD and "node-role.kubernetes.io/master" or "node-role.kubernetes.io/control-plane"

local dir = opts.manifests or (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../manifests"
local CREATED = "2026-11-01T08:00:00Z"
local STARTED = "2026-11-01T08:05:00Z"

local counter = 0
--- A deterministic v4-shaped uid.
local function uid()
   counter = counter + 1
   return ("%08x-7a1e-4c0d-8e5f-%012x"):format(0x5eed0000 + counter // 0x1000000, counter)
end

--- A deterministic 5-character pod name suffix, like a DaemonSet's or ReplicaSet's.
local function suffix(s)
   local h = 5381
   for i = 1, #s do h = (h * 33 + s:byte(i)) & 0xffffffff end
   local alphabet, out = "bcdfghjklmnpqrstvwxz2456789", {}
   for _ = 1, 5 do
      out[#out + 1] = alphabet:sub(h % #alphabet + 1, h % #alphabet + 1)
      h = h // #alphabet
   end
   return table.concat(out)
end

local function meta(name, namespace, extra)
   local m = { name = name, namespace = namespace, uid = uid(), resourceVersion = tostring(1000 + counter),
      creationTimestamp = CREATED }
   for k, v in pairs(extra or {}) do m[k] = v end
   return m
end

local function owner(obj)
   return { { apiVersion = obj.apiVersion, kind = obj.kind, name = obj.metadata.name, uid = obj.metadata.uid,
      controller = true, blockOwnerDeletion = true } }
end

local function read_manifest(file)
   local f = assert(io.open(dir .. "/" .. file, "rb"))
   local docs = assert(yaml.decode_all(f:read("a"), file))
   f:close()
   return docs
end

local items = {}
local function add(obj) items[#items + 1] = obj return obj end

-- namespaces
local namespaces = { "default", "kube-system", "kube-public", "kube-node-lease", "apps" }
if not opts.canal and not OLD then table.insert(namespaces, "kube-flannel") end
for _, ns in ipairs(namespaces) do
   add { apiVersion = "v1", kind = "Namespace",
      metadata = meta(ns, nil, { labels = { ["kubernetes.io/metadata.name"] = ns } }),
      spec = { finalizers = { "kubernetes" } }, status = { phase = "Active" } }
end

-- nodes: a /24 podCIDR each, from the manifests' 10.244.0.0/16 (256 of them); a bigger cluster gets
-- 10.0.0.0/8 in net-conf.json (and Canal's pool), as its operator would have configured flannel
local NETWORK = opts.nodes > 256 and "10.0.0.0/8" or "10.244.0.0/16"
local nodes = {}
-- a cluster without workers runs its workloads on its control planes, which are therefore not
-- tainted (as kubeadm's guide has the operator remove the taint); else the scheduler would not
-- have put them there, nor put back those a drain evicts
local WORKERS = opts.nodes > opts["control-planes"]
for i = 1, opts.nodes do
   local cp = i <= opts["control-planes"]
   local name = cp and ("control-plane-%d"):format(i) or ("worker-%d"):format(i - opts["control-planes"])
   local ip = ("192.168.%d.%d"):format(1 + (i + 9) // 250, (i + 9) % 250 + 1)
   local cidr = opts.nodes > 256 and ("10.%d.%d.0/24"):format((i - 1) // 256, (i - 1) % 256)
      or ("10.244.%d.0/24"):format(i - 1)
   local mac = ("9e:3a:7c:%02x:%02x:%02x"):format(i >> 16 & 255, i >> 8 & 255, i & 255)
   local labels = { ["kubernetes.io/hostname"] = name, ["kubernetes.io/os"] = "linux",
      ["kubernetes.io/arch"] = "amd64", ["beta.kubernetes.io/os"] = "linux", ["beta.kubernetes.io/arch"] = "amd64" }
   if opts.zones > 0 then labels["topology.kubernetes.io/zone"] = "zone-" .. string.char(97 + (i - 1) % opts.zones) end
   if cp then
      labels[CP_ROLE] = ""
      labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
   end
   local node = add { apiVersion = "v1", kind = "Node",
      metadata = meta(name, nil, { labels = labels, annotations = {
         [PREFIX .. "/backend-data"] = ('{"VNI":%d,"VtepMAC":"%s"}'):format(VNI, mac),
         [PREFIX .. "/backend-type"] = "vxlan",
         [PREFIX .. "/kube-subnet-manager"] = "true",
         [PREFIX .. "/public-ip"] = ip,
         ["kubeadm.alpha.kubernetes.io/cri-socket"] = "unix:///var/run/containerd/containerd.sock",
         ["node.alpha.kubernetes.io/ttl"] = "0",
         ["volumes.kubernetes.io/controller-managed-attach-detach"] = "true",
      } }),
      spec = { podCIDR = cidr, podCIDRs = { cidr },
         taints = cp and WORKERS and { { key = CP_ROLE, effect = "NoSchedule" } } or nil },
      status = {
         addresses = { { type = "InternalIP", address = ip }, { type = "Hostname", address = name } },
         capacity = { cpu = "4", memory = "16373792Ki", pods = "110", ["ephemeral-storage"] = "101430960Ki" },
         allocatable = { cpu = "4", memory = "16271392Ki", pods = "110", ["ephemeral-storage"] = "93478772582" },
         conditions = {
            { type = "NetworkUnavailable", status = "False", reason = "FlannelIsUp",
               message = "Flannel is running on this node", lastHeartbeatTime = STARTED, lastTransitionTime = STARTED },
            { type = "MemoryPressure", status = "False", reason = "KubeletHasSufficientMemory",
               message = "kubelet has sufficient memory available", lastHeartbeatTime = STARTED,
               lastTransitionTime = CREATED },
            { type = "DiskPressure", status = "False", reason = "KubeletHasNoDiskPressure",
               message = "kubelet has no disk pressure", lastHeartbeatTime = STARTED, lastTransitionTime = CREATED },
            { type = "PIDPressure", status = "False", reason = "KubeletHasSufficientPID",
               message = "kubelet has sufficient PID available", lastHeartbeatTime = STARTED,
               lastTransitionTime = CREATED },
            { type = "Ready", status = "True", reason = "KubeletReady", message = "kubelet is posting ready status",
               lastHeartbeatTime = STARTED, lastTransitionTime = STARTED },
         },
         nodeInfo = { architecture = "amd64", operatingSystem = "linux", osImage = "Debian GNU/Linux 12 (bookworm)",
            kernelVersion = "6.1.0-27-amd64", kubeletVersion = "v1.31.4", kubeProxyVersion = "v1.31.4",
            containerRuntimeVersion = "containerd://1.7.24", machineID = ("%032x"):format(i),
            systemUUID = uid(), bootID = uid() },
      } }
   nodes[#nodes + 1] = { obj = node, name = name, ip = ip, cidr = cidr, cp = cp, next_ip = 2 }
end
local workers = {}
for _, n in ipairs(nodes) do if not n.cp then workers[#workers + 1] = n end end
if #workers == 0 then workers = nodes end -- a cluster without workers runs its workloads on the control planes

local function ready_status(n, pod_ip, containers)
   local statuses = {}
   for _, c in ipairs(containers) do
      statuses[#statuses + 1] = { name = c.name, image = c.image, imageID = "", ready = true, restartCount = 0,
         started = true, containerID = "containerd://" .. ("%064x"):format(counter),
         state = { running = { startedAt = STARTED } } }
   end
   return { phase = "Running", hostIP = n.ip, hostIPs = { { ip = n.ip } }, podIP = pod_ip, podIPs = { { ip = pod_ip } },
      startTime = STARTED, qosClass = "Burstable", containerStatuses = statuses,
      conditions = {
         { type = "PodReadyToStartContainers", status = "True", lastTransitionTime = STARTED },
         { type = "Initialized", status = "True", lastTransitionTime = STARTED },
         { type = "Ready", status = "True", lastTransitionTime = STARTED },
         { type = "ContainersReady", status = "True", lastTransitionTime = STARTED },
         { type = "PodScheduled", status = "True", lastTransitionTime = CREATED },
      } }
end

local function deep_copy(v)
   if type(v) ~= "table" then return v end
   local c = setmetatable({}, getmetatable(v))
   for k, x in pairs(v) do c[k] = deep_copy(x) end
   return c
end

--- A pod from a template, owned by owner_obj, on node n.
local function pod(name, ns, template, owner_obj, n, extra_labels)
   local spec = deep_copy(template.spec)
   spec.nodeName = n.name
   spec.schedulerName = spec.schedulerName or "default-scheduler"
   spec.restartPolicy = spec.restartPolicy or "Always"
   spec.terminationGracePeriodSeconds = spec.terminationGracePeriodSeconds or 30
   spec.dnsPolicy = spec.dnsPolicy or "ClusterFirst"
   local labels = deep_copy(template.metadata.labels or {})
   for k, v in pairs(extra_labels or {}) do labels[k] = v end
   local pod_ip = n.ip
   if not spec.hostNetwork then
      pod_ip = n.cidr:gsub("0/24$", tostring(n.next_ip))
      n.next_ip = n.next_ip + 1
   end
   return add { apiVersion = "v1", kind = "Pod",
      metadata = meta(name, ns, { labels = labels, ownerReferences = owner_obj and owner(owner_obj) or nil,
         generateName = owner_obj and (owner_obj.metadata.name .. "-") or nil }),
      spec = spec, status = ready_status(n, pod_ip, spec.containers) }
end

--- Status of a DaemonSet running one ready pod on each of count nodes.
local function ds_status(count)
   return { currentNumberScheduled = count, desiredNumberScheduled = count, numberAvailable = count,
      numberMisscheduled = 0, numberReady = count, observedGeneration = 1, updatedNumberScheduled = count }
end

--- Whether a node's labels match a pod template's nodeSelector.
local function selected(n, template)
   for k, v in pairs(template.spec.nodeSelector or {}) do
      if n.obj.metadata.labels[k] ~= v then return false end
   end
   return true
end

--- A DaemonSet's pods: one per node its nodeSelector selects, pinned as the DaemonSet controller pins them.
local function daemonset_pods(ds)
   local chosen = {}
   for _, n in ipairs(nodes) do
      if selected(n, ds.spec.template) then chosen[#chosen + 1] = n end
   end
   ds.metadata.generation = 1
   ds.status = ds_status(#chosen)
   for _, n in ipairs(chosen) do
      local p = pod(ds.metadata.name .. "-" .. suffix(ds.metadata.name .. n.name), ds.metadata.namespace,
         ds.spec.template, ds, n, { ["controller-revision-hash"] = "5c6d7f8b9d", ["pod-template-generation"] = "1" })
      p.spec.affinity = p.spec.affinity or {}
      p.spec.affinity.nodeAffinity = { requiredDuringSchedulingIgnoredDuringExecution = { nodeSelectorTerms = {
         { matchFields = { { key = "metadata.name", operator = "In", values = { n.name } } } } } } }
   end
end

-- the network add-on, from its upstream manifest (and Calico's, installed for the migration);
-- its Deployments get their ReplicaSet and pods below, with the others
local deployments = {}
local manifest = read_manifest(opts.canal and "canal.yaml" or "kube-flannel.yml")

--- The flannel manifest as an older release shipped it: kube-system, the per-architecture
--- DaemonSet name, flannel v0.11.0 (no install-cni-plugin init container, no health port), its
--- nodes chosen by the nodeSelector beta.kubernetes.io/arch=amd64 (v0.11.0 had no affinity).
local function old_manifest(obj)
   if obj.metadata.namespace == "kube-flannel" then obj.metadata.namespace = "kube-system" end
   for _, subject in ipairs(obj.subjects or {}) do
      if subject.namespace == "kube-flannel" then subject.namespace = "kube-system" end
   end
   if obj.kind ~= "DaemonSet" then return end
   obj.metadata.name = "kube-flannel-ds-amd64"
   local spec = obj.spec.template.spec
   spec.affinity, spec.nodeSelector = nil, { ["beta.kubernetes.io/arch"] = "amd64" }
   local init = {}
   for _, c in ipairs(spec.initContainers or {}) do
      if c.name ~= "install-cni-plugin" then
         c.image = "quay.io/coreos/flannel:v0.11.0-amd64"
         c.command = { "cp" }
         c.args = { "-f", "/etc/kube-flannel/cni-conf.json", "/etc/cni/net.d/10-flannel.conflist" }
         init[#init + 1] = c
      end
   end
   spec.initContainers = init
   for _, c in ipairs(spec.containers) do
      c.image = "quay.io/coreos/flannel:v0.11.0-amd64"
      c.args = { "--ip-masq", "--kube-subnet-mgr" }
      c.ports, c.livenessProbe, c.readinessProbe = nil, nil, nil
   end
   local volumes = {}
   for _, v in ipairs(spec.volumes or {}) do
      if v.name ~= "cni-plugin" then volumes[#volumes + 1] = v end
   end
   spec.volumes = volumes
end

for _, obj in ipairs(manifest) do
   if OLD then old_manifest(obj) end
   if obj.kind == "ConfigMap" and obj.data and obj.data["net-conf.json"] then
      obj.data["net-conf.json"] = obj.data["net-conf.json"]:gsub('"Network": "10%.244%.0%.0/16"',
         '"Network": "' .. NETWORK .. '"')
   end
   if obj.kind == "ConfigMap" and obj.data and obj.data["net-conf.json"] and VNI ~= 1 then
      obj.data["net-conf.json"] = obj.data["net-conf.json"]:gsub('(\n( *)"Type": "vxlan")', '%1,\n%2"VNI": ' .. VNI)
   end
   if obj.kind == "DaemonSet" and opts["annotation-prefix"] then
      for _, c in ipairs(obj.spec.template.spec.containers) do
         if c.name == "kube-flannel" then
            c.args[#c.args + 1] = "--kube-annotation-prefix=" .. PREFIX
         end
      end
   end
end
if opts["calico-installed"] then
   -- applied over what is there (Canal's manifest has the same CRDs, RBAC and kube-controllers):
   -- an object of both keeps its place and takes Calico's content, as kubectl apply leaves it
   local at = {}
   for i, obj in ipairs(manifest) do
      at[("%s/%s/%s"):format(obj.kind, obj.metadata.namespace or "", obj.metadata.name)] = i
   end
   for _, obj in ipairs(read_manifest("calico-flannel-migration.yaml")) do
      local i = at[("%s/%s/%s"):format(obj.kind, obj.metadata.namespace or "", obj.metadata.name)]
      if i then manifest[i] = obj else manifest[#manifest + 1] = obj end
   end
end
if opts.canal then
   -- what Canal's calico-node creates at its first start (datamodel.md D): ClusterInformation,
   -- FelixConfiguration default and the IPv4 pool, without VXLAN or IPIP; no IPAM blocks (host-local)
   local function calico_meta(name)
      return { name = name, annotations = {
         ["projectcalico.org/metadata"] = ('{"creationTimestamp":"%s"}'):format(STARTED) } }
   end
   manifest[#manifest + 1] = { apiVersion = "crd.projectcalico.org/v1", kind = "ClusterInformation",
      metadata = calico_meta("default"), spec = { clusterGUID = "5eed0c0ffee04c0d8e5f00000000ca1a",
         clusterType = "k8s,canal,kubeadm,kdd", calicoVersion = "v3.29.1", datastoreReady = true } }
   manifest[#manifest + 1] = { apiVersion = "crd.projectcalico.org/v1", kind = "FelixConfiguration",
      metadata = calico_meta("default"), spec = { bpfConnectTimeLoadBalancing = "TCP",
         bpfHostNetworkedNATWithoutCTLB = "Enabled", floatingIPs = "Disabled", logSeverityScreen = "Info",
         reportingInterval = "0s" } }
   manifest[#manifest + 1] = { apiVersion = "crd.projectcalico.org/v1", kind = "IPPool",
      metadata = calico_meta("default-ipv4-ippool"), spec = { allowedUses = { "Workload", "Tunnel" },
         assignmentMode = "Automatic", blockSize = 26, cidr = NETWORK, ipipMode = "Never",
         natOutgoing = true, nodeSelector = "all()", vxlanMode = "Never" } }
end
for _, obj in ipairs(manifest) do
   if obj.kind ~= "Namespace" then
      local ns = obj.metadata.namespace
      obj.metadata = meta(obj.metadata.name, ns, { labels = obj.metadata.labels,
         annotations = obj.metadata.annotations })
      add(obj)
      if obj.kind == "DaemonSet" then daemonset_pods(obj) end
      if obj.kind == "Deployment" then deployments[#deployments + 1] = obj end -- calico-kube-controllers
   end
end

-- kube-proxy on every node, as kubeadm installs it
local proxy_template = { metadata = { labels = { ["k8s-app"] = "kube-proxy" } }, spec = {
   hostNetwork = true, priorityClassName = "system-node-critical", serviceAccountName = "kube-proxy",
   tolerations = { { operator = "Exists" } }, nodeSelector = { ["kubernetes.io/os"] = "linux" },
   containers = { { name = "kube-proxy", image = "registry.k8s.io/kube-proxy:v1.31.4",
      command = { "/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf",
         "--hostname-override=$(NODE_NAME)" }, securityContext = { privileged = true } } } } }
daemonset_pods(add { apiVersion = "apps/v1", kind = "DaemonSet",
   metadata = meta("kube-proxy", "kube-system", { labels = { ["k8s-app"] = "kube-proxy" } }),
   spec = { selector = { matchLabels = { ["k8s-app"] = "kube-proxy" } }, template = proxy_template,
      updateStrategy = { type = "RollingUpdate", rollingUpdate = { maxUnavailable = 1 } } } })

-- control-plane static pods: mirror pods, owned by their Node
for _, n in ipairs(nodes) do
   if n.cp then
      for _, c in ipairs { "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler" } do
         local image = c == "etcd" and "registry.k8s.io/etcd:3.5.15-0" or ("registry.k8s.io/%s:v1.31.4"):format(c)
         local p = pod(c .. "-" .. n.name, "kube-system", { metadata = { labels = { component = c, tier =
            "control-plane" } }, spec = { hostNetwork = true, priorityClassName = "system-node-critical",
            containers = { { name = c, image = image } } } }, nil, n)
         p.metadata.annotations = { ["kubernetes.io/config.mirror"] = ("%032x"):format(counter),
            ["kubernetes.io/config.source"] = "file" }
         p.metadata.ownerReferences = { { apiVersion = "v1", kind = "Node", name = n.name,
            uid = n.obj.metadata.uid, controller = true } }
      end
   end
end

--- A Deployment's ReplicaSet and pods (spread round-robin over the workers from the first-th),
--- and the status a settled Deployment has.
local function rollout(d, first)
   local name, ns, replicas = d.metadata.name, d.metadata.namespace, d.spec.replicas or 1
   local template, labels = d.spec.template, d.spec.selector.matchLabels
   d.metadata.generation = 1
   d.metadata.annotations = d.metadata.annotations or {}
   d.metadata.annotations["deployment.kubernetes.io/revision"] = "1"
   local hash = suffix(name):sub(1, 4) .. "9c8f6"
   local function condition(type, reason, message)
      return { type = type, status = "True", reason = reason, message = message,
         lastTransitionTime = STARTED, lastUpdateTime = STARTED }
   end
   d.status = { replicas = replicas, readyReplicas = replicas, availableReplicas = replicas,
      updatedReplicas = replicas, observedGeneration = 1, conditions = {
         condition("Available", "MinimumReplicasAvailable", "Deployment has minimum availability."),
         condition("Progressing", "NewReplicaSetAvailable",
            ('ReplicaSet "%s-%s" has successfully progressed.'):format(name, hash)) } }
   -- as the Deployment controller makes it: the template as it is, plus pod-template-hash
   local rs_selector = deep_copy(labels)
   rs_selector["pod-template-hash"] = hash
   local rs_template = deep_copy(template)
   rs_template.metadata = rs_template.metadata or {}
   rs_template.metadata.labels = rs_template.metadata.labels or {}
   rs_template.metadata.labels["pod-template-hash"] = hash
   local rs = add { apiVersion = "apps/v1", kind = "ReplicaSet",
      metadata = meta(name .. "-" .. hash, ns, { labels = deep_copy(rs_template.metadata.labels),
         ownerReferences = owner(d), generation = 1,
         annotations = { ["deployment.kubernetes.io/desired-replicas"] = tostring(replicas),
            ["deployment.kubernetes.io/max-replicas"] = tostring(replicas + (replicas + 3) // 4),
            ["deployment.kubernetes.io/revision"] = "1" } }),
      spec = { replicas = replicas, selector = { matchLabels = rs_selector }, template = rs_template },
      status = { replicas = replicas, readyReplicas = replicas, availableReplicas = replicas,
         fullyLabeledReplicas = replicas, observedGeneration = 1 } }
   for r = 1, replicas do
      local n = workers[(first + r - 2) % #workers + 1]
      pod(rs.metadata.name .. "-" .. suffix(rs.metadata.name .. r), ns, rs.spec.template, rs, n)
   end
end

--- A Deployment of ours, with its ReplicaSet and pods.
local function deployment(name, ns, replicas, template, first)
   local labels = template.metadata.labels
   local d = add { apiVersion = "apps/v1", kind = "Deployment",
      metadata = meta(name, ns, { labels = labels }),
      spec = { replicas = replicas, selector = { matchLabels = labels }, template = template,
         strategy = { type = "RollingUpdate", rollingUpdate = { maxSurge = "25%", maxUnavailable = "25%" } } } }
   rollout(d, first)
   return d
end

for _, d in ipairs(deployments) do rollout(d, 1) end

deployment("coredns", "kube-system", math.min(2, #workers), { metadata = { labels = { ["k8s-app"] = "kube-dns" } },
   spec = { priorityClassName = "system-cluster-critical", serviceAccountName = "coredns",
      tolerations = { { key = "CriticalAddonsOnly", operator = "Exists" },
         { key = CP_ROLE, effect = "NoSchedule" } },
      containers = { { name = "coredns", image = "registry.k8s.io/coredns/coredns:v1.11.3",
         args = { "-conf", "/etc/coredns/Corefile" },
         ports = { { name = "dns", containerPort = 53, protocol = "UDP" } } } } } }, 1)

local web_replicas = opts["pods-per-node"] * #workers
if web_replicas > 0 then
   deployment("web", "apps", web_replicas, { metadata = { labels = { app = "web" } }, spec = {
      containers = { { name = "nginx", image = "nginx:1.27", ports = { { containerPort = 80, protocol = "TCP" } },
         resources = { requests = { cpu = "50m", memory = "64Mi" } },
         volumeMounts = { { name = "cache", mountPath = "/var/cache/nginx" } } } },
      volumes = { { name = "cache", emptyDir = json.object() } } } }, 1)
end

if opts.api > 0 then -- placed from the second worker on, so its pods and web's share nodes differently
   deployment("api", "apps", opts.api, { metadata = { labels = { app = "api" } }, spec = {
      containers = { { name = "api", image = "registry.example.com/shop/api:2.4.1",
         ports = { { containerPort = 8080, protocol = "TCP" } },
         resources = { requests = { cpu = "100m", memory = "128Mi" } } } } } }, 2)
end

if opts.statefulset > 0 then
   local labels = { app = "db" }
   local sts = add { apiVersion = "apps/v1", kind = "StatefulSet",
      metadata = meta("db", "apps", { labels = labels, generation = 1 }),
      spec = { replicas = opts.statefulset, serviceName = "db", selector = { matchLabels = labels },
         podManagementPolicy = "OrderedReady", updateStrategy = { type = "RollingUpdate" },
         template = { metadata = { labels = labels }, spec = {
            containers = { { name = "postgres", image = "postgres:16", ports = { { containerPort = 5432 } } } },
            terminationGracePeriodSeconds = 60 } } },
      status = { replicas = opts.statefulset, readyReplicas = opts.statefulset, currentReplicas = opts.statefulset,
         updatedReplicas = opts.statefulset, availableReplicas = opts.statefulset, observedGeneration = 1,
         currentRevision = "db-6b7d9c5f4", updateRevision = "db-6b7d9c5f4" } }
   for r = 0, opts.statefulset - 1 do
      pod("db-" .. r, "apps", sts.spec.template, sts, workers[r % #workers + 1],
         { ["controller-revision-hash"] = "db-6b7d9c5f4", ["statefulset.kubernetes.io/pod-name"] = "db-" .. r,
            ["apps.kubernetes.io/pod-index"] = tostring(r) })
   end
end

if opts.pdbs then
   local function pdb(name, spec, healthy, desired)
      add { apiVersion = "policy/v1", kind = "PodDisruptionBudget",
         metadata = meta(name, "apps", { generation = 1 }), spec = spec,
         status = { currentHealthy = healthy, desiredHealthy = desired, expectedPods = healthy,
            disruptionsAllowed = math.max(0, healthy - desired), observedGeneration = 1,
            conditions = { { type = "DisruptionAllowed", status = healthy > desired and "True" or "False",
               reason = healthy > desired and "SufficientPods" or "InsufficientPods", observedGeneration = 1,
               lastTransitionTime = STARTED, message = "" } } } }
   end
   if web_replicas > 0 then
      pdb("web", { minAvailable = "50%", selector = { matchLabels = { app = "web" } } }, web_replicas,
         (web_replicas + 1) // 2)
   end
   if opts.api > 0 then
      pdb("api", { maxUnavailable = 1, selector = { matchLabels = { app = "api" } } }, opts.api, opts.api - 1)
   end
   if opts.statefulset > 0 then
      pdb("db", { maxUnavailable = 1, selector = { matchLabels = { app = "db" } } }, opts.statefulset,
         opts.statefulset - 1)
   end
end

io.write(yaml.encode { apiVersion = "v1", kind = "List", metadata = { resourceVersion = "" }, items = items })
