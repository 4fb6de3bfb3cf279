-- cm.sysctl on the real host: dotted names to /proc/sys paths, validated; reads; errno names.
local sysctl = require "cm.sysctl"
local t = require "t"

t.eq(sysctl.name("net", "ipv4", "conf", "flannel.1", "rp_filter"), "net.ipv4.conf.flannel/1.rp_filter")
local v = assert(sysctl.get("net.ipv4.ip_forward"))
t.match(v, "^[01]$", "ip_forward without its newline")
local f = assert(io.open("/proc/sys/net/ipv4/ip_forward"))
t.eq(v, f:read("l"), "the same as /proc/sys says")
f:close()
local _, _, code = sysctl.get("net.ipv4.no_such_knob")
t.eq(code, "ENOENT")
t.raises("component", sysctl.get, "net..ipv4")
t.raises("component", sysctl.get, "net.ipv4.conf.../../etc")
t.raises("not allowed", sysctl.get, "net.ipv4 ip_forward")
t.raises("1 to 255", sysctl.get, "")
t.raises("component", sysctl.set, "net.ipv4.conf./.rp_filter", "1")
t.done()
