/*
 * base.c - the host a simulated Node starts with (see host.h cm_host_new_node).
 *
 * The one home of this fact: the simulation gives every Node without an explicit host
 * (FakeCluster spec.hosts) this host, and Lua reaches it only through cm.fake.node_host(). It is
 * kubeadm's and the machine's, not an add-on's: what flannel and Calico program on top comes
 * from cm.flannel and cm.calico.
 */
#include "cni.h"
#include "host.h"
#include "ip4.h"

#include <stdio.h>
#include <string.h>

/* The CNI plugins the kubernetes-cni package installs in /opt/cni/bin (kubeadm's nodes). */
static const char *const STANDARD_PLUGINS[] = {
    "bandwidth", "bridge", "dhcp", "firewall", "host-device", "host-local", "ipvlan", "loopback",
    "macvlan", "portmap", "ptp", "sbr", "static", "tuning", "vlan", "vrf"};

static const char *str(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

const char *cm_host_node_ip(const cJSON *node)
{
    const cJSON *a;
    uint32_t ip;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(node, "status"),
                                                           "addresses"))
    {
        const char *type = str(a, "type"), *addr = str(a, "address");
        if (type && strcmp(type, "InternalIP") == 0 && addr && strchr(addr, '.') && cm_ip4_parse(addr, 0, &ip))
            return addr;
    }
    return NULL;
}

/* eth0, up, its MAC made from the address (52:54:a:b:c:d), with addr/24 and a default route via .1 */
static void underlay(cm_host *h, uint32_t ip)
{
    char mac[32], cidr[40], gw[20];
    snprintf(mac, sizeof mac, "52:54:%02x:%02x:%02x:%02x", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
    cm_ip4_format(ip, cidr, sizeof cidr);
    strcat(cidr, "/24");
    cm_ip4_format((ip & 0xffffff00u) + 1, gw, sizeof gw);
    cJSON *link = cJSON_CreateObject();
    cJSON_AddStringToObject(link, "name", "eth0");
    cJSON_AddStringToObject(link, "kind", "device");
    cJSON_AddNumberToObject(link, "mtu", 1500);
    cJSON_AddStringToObject(link, "mac", mac);
    cJSON_AddTrueToObject(link, "up");
    cm_host_link_add(h, link);
    cJSON_Delete(link);
    cm_host_addr_add(h, "eth0", cidr);
    cJSON *route = cJSON_CreateObject();
    cJSON_AddStringToObject(route, "dst", "default");
    cJSON_AddStringToObject(route, "gateway", gw);
    cJSON_AddStringToObject(route, "dev", "eth0");
    cm_host_route_add(h, route, 0);
    cJSON_Delete(route);
}

cm_host *cm_host_new_node(const cJSON *node)
{
    cm_host *h = cm_host_new();
    uint32_t ip;
    if (!h || !cm_ip4_parse(cm_host_node_ip(node), 0, &ip))
        return h;
    underlay(h, ip);
    cm_host_sysctl_set(h, "net/ipv4/ip_forward", "1");
    cm_host_sysctl_set(h, "net/bridge/bridge-nf-call-iptables", "1");
    char path[128];
    for (size_t i = 0; i < sizeof STANDARD_PLUGINS / sizeof *STANDARD_PLUGINS; i++) {
        snprintf(path, sizeof path, "%s/%s", CM_CNI_BIN, STANDARD_PLUGINS[i]);
        cm_host_file_write(h, path, "");
    }
    return h;
}
