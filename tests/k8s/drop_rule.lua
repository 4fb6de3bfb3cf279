-- drop_rule.lua MANIFEST I OUT: writes MANIFEST without rule I of its ClusterRole to OUT and prints
-- that rule ("apiGroups resources verbs", each comma-separated, the core group as "core"); prints
-- nothing when the ClusterRole has fewer rules.
local yaml = require "cm.yaml"
local manifest, i, out = arg[1], tonumber(arg[2]), arg[3]
local f = assert(io.open(manifest))
local docs = assert(yaml.decode_all(f:read("a"), manifest))
f:close()
for _, d in ipairs(docs) do
   if d.kind == "ClusterRole" and d.rules[i] then
      local r = table.remove(d.rules, i)
      local o = assert(io.open(out, "w"))
      o:write(yaml.encode_all(docs))
      o:close()
      local groups = {}
      for j, g in ipairs(r.apiGroups) do groups[j] = g == "" and "core" or g end
      print(("%s %s %s"):format(table.concat(groups, ","), table.concat(r.resources, ","), table.concat(r.verbs, ",")))
   end
end
