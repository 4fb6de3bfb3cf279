-- cm.dataplane's iptables walk (the verdicts against the kernel are tests/netns/test_dataplane.sh's):
-- chain policies, user chains and RETURN, goto, negation, interface wildcards, connection states,
-- marks, the first rule that decides, and a rule the model does not know.
local dp = require "cm.dataplane"
local t = require "t"

local st = { iptables = {
   filter = { ":FORWARD DROP", ":X", ":G", "-A FORWARD -i cali+ -j X", "-A FORWARD -i cni0 -g G",
      "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "-A X -s 10.0.0.0/8 -j RETURN",
      "-A X -p tcp -j ACCEPT", "-A X ! -d 10.9.0.0/16 -m conntrack --ctstate NEW -j REJECT --reject-with icmp-port-unreachable",
      "-A G -s 10.0.0.0/8 -j RETURN" },
   nat = { "-A POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE",
      "-A POSTROUTING -s 10.1.0.0/16 -o eth0 -j SNAT --to-source 192.0.2.1:1024-2000" } } }
local function verdict(tname, chain, p)
   local v, r = dp.iptables_verdict(st, tname, chain, p)
   return v, type(r) == "table" and r.line or r
end
local function pkt(src, dst, i, o, state) return { src = src, dst = dst, ["in"] = i, out = o, state = state or "NEW" } end

t.eq({ verdict("filter", "FORWARD", pkt("10.1.1.1", "10.2.2.2", "cali1")) }, { "DROP" },
   "RETURN from X, nothing else matches: the policy")
t.eq({ verdict("filter", "FORWARD", pkt("192.168.1.1", "10.2.2.2", "cali1")) },
   { "REJECT", "-A X ! -d 10.9.0.0/16 -m conntrack --ctstate NEW -j REJECT --reject-with icmp-port-unreachable" },
   "a ping is not tcp; REJECT with its option")
t.eq({ verdict("filter", "FORWARD", pkt("192.168.1.1", "10.9.2.2", "cali1")) }, { "DROP" }, "negated destination")
t.eq({ verdict("filter", "FORWARD", pkt("192.168.1.1", "10.2.2.2", "cali1", nil, "ESTABLISHED")) },
   { "ACCEPT", "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT" }, "a reply")
t.eq({ verdict("filter", "FORWARD", pkt("10.1.1.1", "10.2.2.2", "cni0", nil, "ESTABLISHED")) }, { "DROP" },
   "a goto's RETURN ends the calling chain too")
t.eq({ verdict("filter", "FORWARD", pkt("10.1.1.1", "10.2.2.2", "eth0", nil, "ESTABLISHED")) },
   { "ACCEPT", "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT" }, "cali+ is a prefix")
t.eq({ verdict("nat", "POSTROUTING", pkt("10.1.1.1", "10.2.2.2", nil, "eth0")) },
   { "SNAT", "-A POSTROUTING -s 10.1.0.0/16 -o eth0 -j SNAT --to-source 192.0.2.1:1024-2000" }, "no mark on a ping")
t.eq(select(2, dp.iptables_verdict(st, "nat", "POSTROUTING", pkt("10.1.1.1", "10.2.2.2", nil, "eth0"))).to,
   "192.0.2.1", "SNAT's address")
t.eq({ verdict("nat", "POSTROUTING", pkt("10.1.1.1", "10.2.2.2", nil, "eth1")) }, { "ACCEPT" }, "no rule: accepted")
t.eq({ verdict("mangle", "FORWARD", pkt("10.1.1.1", "10.2.2.2")) }, { "ACCEPT" }, "no such table")
local odd = { iptables = { filter = { "-A FORWARD -m addrtype --src-type LOCAL -j DROP" } } }
t.eq({ dp.iptables_verdict(odd, "filter", "FORWARD", pkt("1.1.1.1", "2.2.2.2")) },
   { false, "an iptables option the model does not know (--src-type): -A FORWARD -m addrtype --src-type LOCAL -j DROP" })
t.done()
