-- cm.ip: addresses and CIDRs.
local ip = require "cm.ip"
local t = require "t"

for _, s in ipairs { "10.0.0.1", "0.0.0.0", "255.255.255.255" } do t.eq(ip.parse(s), 4, s) end
for _, s in ipairs { "::1", "fe80::", "fd00:10:244::", "1:2:3:4:5:6:7:8", "::ffff:10.0.0.1", "1:2:3:4:5:6:10.0.0.1" } do
   t.eq(ip.parse(s), 6, s)
end
for _, s in ipairs { "256.1.1.1", "010.0.0.1", "1.2.3", "1:2:3:4:5:6:7:8:9", "1::2::3", ":1", "1:", "12345::", "", "x" } do
   t.eq(ip.parse(s), nil, s)
end
t.eq(select(2, ip.parse("10.0.0.1")), 167772161)
local c = ip.cidr("10.244.1.7/24")
t.eq({ c.family, c.prefix, c.network }, { 4, 24, "10.244.1.0" })
t.eq(ip.host("10.244.1.0/24", 1), "10.244.1.1")
t.eq(ip.host("10.244.1.0/24", 0), "10.244.1.0")
t.eq(ip.contains("10.244.0.0/16", "10.244.3.0/24"), true)
t.eq(ip.contains("10.244.0.0/16", "10.245.0.0/24"), false)
t.eq(ip.contains("10.244.0.0/16", "10.244.9.9"), true)
t.eq(ip.contains("10.244.1.0/24", "10.244.0.0/16"), false, "a wider network is not inside")
t.eq(ip.cidr("0.0.0.0/0").network, "0.0.0.0")
t.eq(ip.is_cidr("fd00:10:244::/56"), true)
t.eq(ip.is_cidr("300.1.1.1/8"), false)
t.eq(ip.is_cidr("10.0.0.0/33"), false)
t.eq(ip.is_cidr("10.0.0.0/08"), false)
t.eq(ip.is_cidr("10.0.0.0"), false)
t.done()
