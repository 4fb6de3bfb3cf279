--- cm.complete: the end of a migration (Calico's completeMigration, §2.4), with a backup first:
--- flannel's (or Canal's) DaemonSet and ConfigMap saved for rollback, the DaemonSet deleted in
--- the foreground and waited for (a watch), calico-node's migration nodeSelector removed (its
--- other selectors kept), the network label removed from every node. Each step reads what is
--- there, so a completion cut short is finished by running it again.
local calico = require "cm.calico"
local json = require "cm.json"

local M = {}

local function fail(fmt, ...) error(fmt:format(...), 0) end

local function must(what, obj, msg, code)
   if obj == nil then fail("%s: %s (%s)", what, tostring(msg), tostring(code)) end
   return obj
end

--- Saves the DaemonSet and ConfigMap in ConfigMap cni-migrate-flannel-backup, once.
function M.backup(ctx)
   local s = ctx.snap
   if s.backup or not s.flannel_ds then return end
   local cds = s.calico_ds
   local obj = { apiVersion = "v1", kind = "ConfigMap", metadata = { name = calico.BACKUP_CONFIGMAP,
      namespace = ctx.cfg.values.CALICO_DAEMONSET_NAMESPACE, labels = { ["app.kubernetes.io/name"] = "cni-migrate" } },
      data = { ["daemonset.json"] = json.encode(s.flannel_ds, { indent = true }),
         ["configmap.json"] = s.flannel_cm and json.encode(s.flannel_cm, { indent = true }) or "null",
         ["calico-node-selector.json"] = json.encode(cds and cds.spec.template.spec.nodeSelector or json.object {}),
         source = s.flannel_info.canal and "canal" or "flannel" } }
   s.backup = must("create ConfigMap " .. calico.BACKUP_CONFIGMAP, ctx.c:create(obj))
   ctx.step("backup", nil, ("DaemonSet %s/%s saved in ConfigMap %s/%s"):format(s.flannel_ds.metadata.namespace,
      s.flannel_ds.metadata.name, obj.metadata.namespace, obj.metadata.name))
end

--- Deletes the flannel DaemonSet with foreground propagation and watches until it is gone.
function M.delete_flannel(ctx)
   local ds = ctx.snap.flannel_ds
   if not ds then return end
   local ref = { apiVersion = "apps/v1", kind = "DaemonSet", namespace = ds.metadata.namespace,
      name = ds.metadata.name }
   local cur, msg, code = ctx.c:get(ref)
   if not cur and code == "NotFound" then return end
   must("get DaemonSet " .. ds.metadata.name, cur, msg, code)
   if not cur.metadata.deletionTimestamp then
      local ok, dmsg, dcode = ctx.c:delete(ref, { propagationPolicy = "Foreground" })
      if not ok and dcode ~= "NotFound" then must("delete DaemonSet " .. ds.metadata.name, nil, dmsg, dcode) end
   end
   if ctx.dry_run then return end
   local gone = false
   for ev in ctx.c:watch { apiVersion = "apps/v1", kind = "DaemonSet", namespace = ds.metadata.namespace,
      fieldSelector = "metadata.name=" .. ds.metadata.name, resourceVersion = cur.metadata.resourceVersion,
      timeout = ctx.cfg.opts.pod_gone_timeout } do
      if ev.type == "DELETED" then gone = true break end
      if ev.type == "RELIST" and #(ev.object.items or {}) == 0 then gone = true break end
   end
   if not gone then
      local again, _, c2 = ctx.c:get(ref)
      gone = not again and c2 == "NotFound"
   end
   if not gone then fail("DaemonSet %s/%s still there after %ds", ds.metadata.namespace, ds.metadata.name,
      ctx.cfg.opts.pod_gone_timeout) end
   ctx.step("delete-flannel", nil, ("DaemonSet %s/%s deleted (foreground) and gone"):format(ds.metadata.namespace,
      ds.metadata.name))
end

--- Removes calico-node's migration nodeSelector key, only while it says calico.
function M.calico_selector(ctx)
   local ds = ctx.snap.calico_ds
   if not ds then return end
   local sel = ds.spec.template.spec.nodeSelector or {}
   if sel[calico.LABEL_NETWORK] ~= "calico" then return end
   local path = "/spec/template/spec/nodeSelector/" .. calico.LABEL_NETWORK:gsub("~", "~0"):gsub("/", "~1")
   ctx.snap.calico_ds = must("patch DaemonSet " .. ds.metadata.name, ctx.c:patch({ apiVersion = "apps/v1",
      kind = "DaemonSet", namespace = ds.metadata.namespace, name = ds.metadata.name },
      { { op = "test", path = path, value = "calico" }, { op = "remove", path = path } }, { type = "json" }))
   ctx.step("calico-selector", nil, ("DaemonSet %s/%s: nodeSelector %s removed"):format(ds.metadata.namespace,
      ds.metadata.name, calico.LABEL_NETWORK))
end

--- Removes the network label from every node.
function M.labels(ctx, nodes)
   local n = 0
   for _, node in ipairs(nodes) do
      if (node.metadata.labels or {})[calico.LABEL_NETWORK] ~= nil then
         local ok, msg, code = ctx.c:patch({ apiVersion = "v1", kind = "Node", name = node.metadata.name },
            { metadata = { labels = { [calico.LABEL_NETWORK] = json.null } } }, { type = "merge" })
         if not ok and code ~= "NotFound" then must("label Node " .. node.metadata.name, nil, msg, code) end
         n = n + 1
      end
   end
   if n > 0 then ctx.step("labels", nil, ("%s removed from %d node(s)"):format(calico.LABEL_NETWORK, n)) end
end

return M
