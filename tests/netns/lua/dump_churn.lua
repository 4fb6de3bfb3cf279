-- Run by test_netlink_dump.sh while links come and go in this namespace: every list must
-- succeed (an interrupted dump is asked again) and be consistent (each link listed once).
local netlink = require "cm.netlink"
local n = tonumber((...)) or 200
local fails, codes = 0, {}
for _ = 1, n do
   for _, list in ipairs { netlink.links, netlink.routes, netlink.addrs } do
      local got, err, code = list()
      if not got then
         fails = fails + 1
         codes[#codes + 1] = tostring(code) .. ": " .. tostring(err)
      elseif list == netlink.links then
         local seen = {}
         for _, l in ipairs(got) do
            assert(not seen[l.name], "a link listed twice: " .. l.name)
            seen[l.name] = true
         end
      end
   end
end
print(("%d lists, %d failed%s"):format(3 * n, fails, fails > 0 and (": " .. codes[1]) or ""))
