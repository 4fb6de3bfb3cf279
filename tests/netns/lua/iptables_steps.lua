-- Run in a throwaway network namespace by test_host_iptables.sh: the same iptables-restore
-- --noflush texts against the kernel (iptables-legacy-restore, through cm.iptables on the real
-- host) and against a simulated host (cm.fake); each must give the expected result on both, and
-- the rules left must be the same.
local fake = require "cm.fake"
local iptables = require "cm.iptables"

local STEPS = {
   { "*nat\n:FLANNEL-POSTRTG - [0:0]\n-A POSTROUTING -m comment --comment \"flanneld masq\" -j FLANNEL-POSTRTG\n"
      .. "-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment \"flanneld masq\" -j RETURN\n"
      .. "COMMIT\n", true },
   { "*filter\n:FLANNEL-FWD - [0:0]\n-A FORWARD -m comment --comment \"flanneld forward\" -j FLANNEL-FWD\n"
      .. "-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment \"flanneld forward\" -j ACCEPT\nCOMMIT\n", true },
   { "*filter\n-A NOPE -j ACCEPT\nCOMMIT\n", false },                       -- no such chain
   { "*nat\n-X FLANNEL-POSTRTG\nCOMMIT\n", false },                       -- still has rules
   { "*nat\n-F FLANNEL-POSTRTG\n-X FLANNEL-POSTRTG\nCOMMIT\n", false },   -- still jumped to
   { "*nat\n-D POSTROUTING -s 1.2.3.4/32 -j ACCEPT\nCOMMIT\n", false },     -- no such rule
   { "*nat\n-D POSTROUTING -m comment --comment \"flanneld masq\" -j FLANNEL-POSTRTG\n-F FLANNEL-POSTRTG\n"
      .. "-X FLANNEL-POSTRTG\nCOMMIT\n", true },
   { "*nat\n-X FLANNEL-POSTRTG\nCOMMIT\n", false },                       -- gone already
   { "*filter\n-N SITE\n-A SITE -s 192.0.2.0/24 -j DROP\n-I FORWARD -j SITE\nCOMMIT\n", true },
   { "*filter\n-N SITE\nCOMMIT\n", false },                                -- exists
}

local h = assert(fake.new_host { iptablesBackend = "legacy" })
local bad = 0
for i, s in ipairs(STEPS) do
   local text, want = s[1], s[2]
   local real, rerr = iptables.restore("ipv4", "legacy", text)
   local sim, serr = h:iptables_restore("ipv4", "legacy", text)
   if (real == true) ~= want or (sim == true) ~= want then
      print(("step %d: expected %s, kernel %s (%s), simulated %s (%s)"):format(i, tostring(want), tostring(real),
         tostring(rerr), tostring(sim), tostring(serr)))
      bad = bad + 1
   end
end
local function rules(text)
   local out = {}
   for line in text:gmatch("[^\n]+") do
      if line:match("^%-A ") or line:match("^:[%w-]+ %-") then out[#out + 1] = line:gsub(" %[%d+:%d+%]$", "") end
   end
   table.sort(out)
   return table.concat(out, "\n")
end
local real = rules(assert(iptables.save("ipv4", "legacy")))
local sim = rules(h:iptables_save("ipv4", "legacy"))
if real ~= sim then
   print("final rules differ\n--- kernel\n" .. real .. "\n--- simulated\n" .. sim)
   bad = bad + 1
end
print(bad == 0 and "iptables steps agree" or ("%d difference(s)"):format(bad))
