--- cm.noderun: a node script run on a node through a pod, as contracts.md specifies
--- node.run_on (owner: helper "node"). A stand-in used by the migration only while cm.node has no
--- run_on of its own: one privileged hostNetwork pod pinned to the node runs
--- `cni-migrate node-run SCRIPT --args JSON --result-file /dev/termination-log`; its result is the
--- JSON of its termination message. The pod is deleted at the end, also on failure.
local json = require "cm.json"

local M = {}

--- The pod's name: cm-<step>-<node>, cut to 63 characters with a hash when longer.
local function pod_name(step, node)
   local name = ("cm-%s-%s"):format(step, node)
   if #name <= 63 then return name end
   local h = 5381
   for i = 1, #name do h = (h * 33 + name:byte(i)) & 0xffffffff end
   return ("%s-%08x"):format(name:sub(1, 54), h)
end

--- Runs script on node_name; the script's result, or nil, msg, code ("ScriptFailed", "Timeout", cm.k8s's).
---@param c userdata cm.k8s client
---@param node_name string
---@param script string a bundled lua/node/ script name
---@param args table
---@param opts table|nil {namespace = "kube-system", timeout = 300, image, step}
---@return table|nil result
---@return string|nil message
---@return string|nil code
function M.run_on(c, node_name, script, args, opts)
   opts = opts or {}
   local ns = opts.namespace or "kube-system"
   local name = pod_name(opts.step or script, node_name)
   local image = opts.image or os.getenv("CNI_MIGRATE_IMAGE") or "ghcr.io/cni-migrate/cni-migrate:latest"
   local pod = { apiVersion = "v1", kind = "Pod", metadata = { name = name, namespace = ns, labels = {
      ["app.kubernetes.io/name"] = "cni-migrate", ["cni-migrate.dev/node-run"] = script } },
      spec = { nodeName = node_name, hostNetwork = true, hostPID = true, restartPolicy = "Never",
         tolerations = { { operator = "Exists" } },
         containers = { { name = "node-run", image = image, securityContext = { privileged = true },
            command = { "cni-migrate", "node-run", script, "--args", json.encode(json.object(args or {})),
               "--result-file", "/dev/termination-log" }, terminationMessagePolicy = "File",
            volumeMounts = { { name = "cni", mountPath = "/etc/cni/net.d" },
               { name = "bin", mountPath = "/opt/cni/bin" }, { name = "flannel", mountPath = "/run/flannel" },
               { name = "state", mountPath = "/var/lib/cni-migrate" } } } },
         volumes = { { name = "cni", hostPath = { path = "/etc/cni/net.d" } },
            { name = "bin", hostPath = { path = "/opt/cni/bin" } },
            { name = "flannel", hostPath = { path = "/run/flannel" } },
            { name = "state", hostPath = { path = "/var/lib/cni-migrate", type = "DirectoryOrCreate" } } } } }
   local ref = { apiVersion = "v1", kind = "Pod", namespace = ns, name = name }
   local cur, msg, code = c:create(pod)
   if not cur and code == "AlreadyExists" then cur, msg, code = c:get(ref) end -- adopted
   if not cur then return nil, msg, code end
   local function ended(p)
      local st = p.status or {}
      return st.phase == "Succeeded" or st.phase == "Failed"
   end
   local result, rmsg, rcode
   local function take(p)
      local cs = (p.status.containerStatuses or {})[1] or {}
      local t = cs.state and cs.state.terminated or {}
      local r = json.decode(t.message or "")
      if p.status.phase == "Succeeded" and type(r) == "table" then
         result = r
      else
         rmsg, rcode = ("node-run %s on %s: %s, exit %s: %s"):format(script, node_name, tostring(t.reason),
            tostring(t.exitCode), tostring(t.message)), "ScriptFailed"
      end
   end
   if ended(cur) then
      take(cur)
   else
      for ev in c:watch { apiVersion = "v1", kind = "Pod", namespace = ns, fieldSelector = "metadata.name=" .. name,
         resourceVersion = cur.metadata.resourceVersion, timeout = opts.timeout or 300 } do
         if ev.type == "ERROR" then rmsg, rcode = ev.message, ev.code break end
         if ev.type == "DELETED" then rmsg, rcode = "node-run pod " .. name .. " was deleted", "ScriptFailed" break end
         local p = ev.type == "RELIST" and (ev.object.items or {})[1] or ev.object
         if p and ended(p) then take(p) break end
      end
      if not result and not rmsg then
         rmsg, rcode = ("node-run %s on %s: not done after %ds"):format(script, node_name, opts.timeout or 300),
            "Timeout"
      end
   end
   c:delete(ref, { gracePeriodSeconds = 0 })
   if result then return result end
   return nil, rmsg, rcode
end

return M
