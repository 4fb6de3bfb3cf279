#!/usr/bin/env python3
"""Writes the seeds of tests/fuzz/corpus/netlink: the real kernel's answers, one datagram per file
after a byte naming the dump (fuzz_netlink.c), for a network namespace holding what a flannel or
Calico node holds (veth, bridge, VXLAN, routes, neighbours, FDB), plus error answers with
extended acks. Run as root: unshare -n python3 tests/fuzz/netlink_seeds.py DIR"""
import os
import socket
import struct
import subprocess
import sys

LINKS, ADDRS, ROUTES, NEIGHS, FDB = range(5)
RTM_GETLINK, RTM_NEWLINK, RTM_GETADDR, RTM_GETROUTE, RTM_GETNEIGH = 18, 16, 22, 26, 30
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP, NLM_F_CREATE, NLM_F_EXCL = 1, 4, 0x300, 0x400, 0x200
NETLINK_EXT_ACK, NETLINK_CAP_ACK, SOL_NETLINK = 11, 10, 270
AF_BRIDGE = 7


def sh(*cmds):
    for c in cmds:
        subprocess.run(c, shell=True, check=True)


def datagrams(req, capped=True):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    s.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
    s.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1 if capped else 0)
    s.bind((0, 0))
    s.send(req)
    out = []
    while True:
        d = s.recv(65536)
        out.append(d)
        done = False
        off = 0
        while off + 16 <= len(d):
            ln, typ = struct.unpack_from("=IH", d, off)
            if typ in (2, 3) or ln < 16:  # NLMSG_ERROR, NLMSG_DONE
                done = True
            off += (ln + 3) & ~3
        if done:
            return out


def dump(typ, family, hdrlen):
    body = struct.pack("=B", family) + bytes(hdrlen - 1)
    return struct.pack("=IHHII", 16 + len(body), typ, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + body


def main():
    outdir = sys.argv[1]
    sh("ip link set lo up",
       "ip link add v0 type veth peer name v1",
       "ip link add cni0 type bridge",
       "ip link set v1 master cni0",
       "ip link set v0 up", "ip link set v1 up", "ip link set cni0 up",
       "ip addr add 10.0.0.1/24 dev v0", "ip addr add fd00::1/64 dev v0",
       "ip addr add 10.244.1.1/24 dev cni0",
       "ip link add flannel.1 type vxlan id 1 local 10.0.0.1 dev v0 dstport 8472 nolearning",
       "ip link set flannel.1 up", "ip addr add 10.244.1.0/32 dev flannel.1",
       "ip route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink",
       "ip route add blackhole 10.244.9.0/26 proto 80",
       "ip route add 192.168.5.0/24 via 10.0.0.254 metric 100 table 100",
       "ip route add default via 10.0.0.254",
       "ip neigh add 10.244.2.0 lladdr 66:77:88:99:aa:bb dev flannel.1 nud permanent",
       "ip neigh add fd00::2 lladdr 66:77:88:99:aa:bc dev v0 nud reachable",
       "bridge fdb add 66:77:88:99:aa:bb dev flannel.1 dst 10.0.0.2 self permanent")
    seeds = [
        (LINKS, dump(RTM_GETLINK, 0, 16)),
        (ADDRS, dump(RTM_GETADDR, 0, 8)),
        (ROUTES, dump(RTM_GETROUTE, socket.AF_INET, 12)),
        (ROUTES, dump(RTM_GETROUTE, socket.AF_INET6, 12)),
        (NEIGHS, dump(RTM_GETNEIGH, socket.AF_INET, 12)),
        (NEIGHS, dump(RTM_GETNEIGH, socket.AF_INET6, 12)),
        (FDB, dump(RTM_GETNEIGH, AF_BRIDGE, 12)),
    ]
    n = 0
    for what, req in seeds:
        for d in datagrams(req):
            n += 1
            with open(os.path.join(outdir, "kernel-%02d" % n), "wb") as f:
                f.write(bytes([what]) + d)
    # errors: a link of an unknown kind (extended ack), capped and not; an ACK
    kind = b"nosuchkind\0"
    info = struct.pack("=HH", 4 + len(kind), 1) + kind + b"\0" * (-len(kind) % 4)  # IFLA_INFO_KIND
    linkinfo = struct.pack("=HH", 4 + len(info), 18) + info  # IFLA_LINKINFO
    name = b"x0\0\0"
    ifname = struct.pack("=HH", 4 + 3, 3) + name  # IFLA_IFNAME
    body = bytes(16) + ifname + linkinfo
    req = struct.pack("=IHHII", 16 + len(body), RTM_NEWLINK,
                      NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, 1, 0) + body
    for capped in (True, False):
        for d in datagrams(req, capped):
            n += 1
            with open(os.path.join(outdir, "kernel-%02d" % n), "wb") as f:
                f.write(bytes([LINKS]) + d)
    print("%d seeds in %s" % (n, outdir))


main()
