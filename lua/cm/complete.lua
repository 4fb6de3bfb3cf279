--- cm.complete: the end of a migration (Calico's completeMigration, §2.4), with a backup first:
--- flannel's (or Canal's) DaemonSet and ConfigMap saved for rollback, the DaemonSet deleted in
--- the foreground and waited for (a watch), calico-node's migration nodeSelector removed (its
--- other selectors kept) and its rollout waited for, the network label removed from every node.
--- Each step reads what is there, so a completion cut short is finished by running it again.
local calico = require "cm.calico"
local json = require "cm.json"
local time = require "cm.time"

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

--- Whether a DaemonSet's rollout is done, as `kubectl rollout status` decides: the controller saw
--- the latest spec, and every node it schedules runs an updated pod that is available.
local function rolled_out(ds)
   local st = ds.status or {}
   local want = st.desiredNumberScheduled or 0
   return (st.observedGeneration or 0) >= (ds.metadata.generation or 1) and (st.updatedNumberScheduled or 0) >= want
      and (st.numberAvailable or 0) >= want
end

--- Waits (a watch) for calico-node's rollout without the migration's selector: changing the pod
--- template restarts calico-node on every node, one at a time, and the migration is done once
--- they all run again. Fails when no node's pod became available for --calico-ready-timeout.
function M.calico_rollout(ctx)
   local ds = ctx.snap.calico_ds
   if not ds or ctx.dry_run then return end
   local ref = { apiVersion = "apps/v1", kind = "DaemonSet", namespace = ds.metadata.namespace,
      name = ds.metadata.name }
   local cur = must("get DaemonSet " .. ds.metadata.name, ctx.c:get(ref))
   local t0, limit = time.now(), ctx.cfg.opts.calico_ready_timeout
   local function progress(d)
      local st = d.status or {}
      return st.numberAvailable or 0, st.updatedNumberScheduled or 0
   end
   local moved = t0 -- when the rollout last moved: one watch while it moves, a new one only at the limit
   while not rolled_out(cur) do
      local left = limit - (time.now() - moved)
      if left <= 0 then
         fail("DaemonSet %s/%s: rollout stuck at %d/%d updated, %d available for %ds", ref.namespace, ref.name,
            (cur.status or {}).updatedNumberScheduled or 0, (cur.status or {}).desiredNumberScheduled or 0,
            (cur.status or {}).numberAvailable or 0, limit)
      end
      for ev in ctx.c:watch { apiVersion = "apps/v1", kind = "DaemonSet", namespace = ref.namespace,
         fieldSelector = "metadata.name=" .. ref.name, resourceVersion = cur.metadata.resourceVersion,
         timeout = left } do
         if ev.type == "ERROR" then fail("DaemonSet %s/%s: watch: %s (%s)", ref.namespace, ref.name,
            tostring(ev.message), tostring(ev.code)) end
         local o = ev.type == "RELIST" and (ev.object.items or {})[1] or ev.object
         if ev.type == "DELETED" or not o then fail("DaemonSet %s/%s was deleted", ref.namespace, ref.name) end
         local a0, u0 = progress(cur)
         local a, u = progress(o)
         if a ~= a0 or u ~= u0 then moved = time.now() end
         cur = o
         if rolled_out(o) then break end
      end
   end
   local d = time.now() - t0
   ctx.step("calico-rollout", nil, ("DaemonSet %s/%s: %d node(s) run the updated calico-node%s"):format(ref.namespace,
      ref.name, (cur.status or {}).desiredNumberScheduled or 0, d >= 0.05 and (" (%.1fs)"):format(d) or ""))
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
