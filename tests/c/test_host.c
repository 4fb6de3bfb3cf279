/* test_host.c - the simulated host follows the kernel's rules a migration can tell apart. */
#include "check.h"
#include "fake/host/host.h"
#include "json.h"

#include <errno.h>
#include <stdlib.h>

/* Parses a JSON literal for a test (exits on a typo in the test itself). */
static cJSON *J(const char *text)
{
    cm_json_error err;
    cJSON *v = cm_json_parse(text, strlen(text), &err);
    if (!v) {
        fprintf(stderr, "bad test JSON at %zu: %s\n", err.offset, text);
        exit(2);
    }
    return v;
}

static int add_link(cm_host *h, const char *json)
{
    cJSON *l = J(json);
    int rc = cm_host_link_add(h, l);
    cJSON_Delete(l);
    return rc;
}

static int add_route(cm_host *h, const char *json, int replace)
{
    cJSON *r = J(json);
    int rc = cm_host_route_add(h, r, replace);
    cJSON_Delete(r);
    return rc;
}

/* The compact JSON of a section of the host. */
static char *section(const cm_host *h, const char *name)
{
    return cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(cm_host_json(h), name));
}

#define CHECK_SECTION(h, name, expected) \
    do {                                 \
        char *s_ = section(h, name);     \
        CHECK_STR(s_, expected);         \
        free(s_);                        \
    } while (0)

/* Whether a section of the host's JSON contains needle. */
static int section_has(const cm_host *h, const char *name, const char *needle)
{
    char *s = section(h, name);
    int found = s && strstr(s, needle) != NULL;
    free(s);
    return found;
}

/* A node with eth0 up on 192.168.1.11/24 and a default route. */
static cm_host *node(void)
{
    cm_host *h = cm_host_new();
    CHECK_INT(add_link(h, "{\"name\":\"eth0\",\"kind\":\"device\",\"mtu\":1500,\"mac\":\"52:54:00:00:00:11\",\"up\":true}"), 0);
    CHECK_INT(cm_host_addr_add(h, "eth0", "192.168.1.11/24"), 0);
    CHECK_INT(add_route(h, "{\"dst\":\"default\",\"gateway\":\"192.168.1.1\",\"dev\":\"eth0\"}", 0), 0);
    return h;
}

static void test_links_and_addresses(void)
{
    cm_host *h = node();
    CHECK_SECTION(h, "routes", "[{\"dst\":\"192.168.1.0/24\",\"dev\":\"eth0\",\"scope\":\"link\",\"protocol\":\"kernel\","
                               "\"src\":\"192.168.1.11\"},{\"dst\":\"default\",\"gateway\":\"192.168.1.1\",\"dev\":\"eth0\"}]");
    CHECK_INT(add_link(h, "{\"name\":\"eth0\",\"kind\":\"device\"}"), -EEXIST);
    CHECK_INT(add_link(h, "{\"name\":\"a-name-longer-than-15\"}"), -ERANGE);
    CHECK_INT(cm_host_addr_add(h, "eth0", "192.168.1.11/24"), -EEXIST);
    CHECK_INT(cm_host_addr_add(h, "eth9", "10.0.0.1/24"), -ENODEV);
    CHECK_INT(cm_host_addr_add(h, "eth0", "10.0.0.1/33"), -EINVAL);
    CHECK_INT(cm_host_addr_del(h, "eth0", "10.9.9.9/24"), -EADDRNOTAVAIL);
    CHECK_STR(cm_host_sysctl_get(h, "net/ipv4/conf/eth0/rp_filter"), "0");
    CHECK_INT(cm_host_link_set_mtu(h, "eth0", 9001), 0);
    CHECK_INT(cm_host_link_set_mtu(h, "eth0", 20), -EINVAL);
    CHECK_INT(cm_host_link_set_mtu(h, "nope", 1500), -ENODEV);
    cm_host_free(h);
}

static void test_vxlan_rules(void)
{
    cm_host *h = node();
    const char *flannel = "{\"name\":\"flannel.1\",\"kind\":\"vxlan\",\"mtu\":1450,\"mac\":\"9e:3a:7c:00:00:01\",\"up\":true,"
                          "\"vxlan\":{\"id\":1,\"port\":8472,\"local\":\"192.168.1.11\",\"dev\":\"eth0\"}}";
    CHECK_INT(add_link(h, flannel), 0);
    /* Calico's VXLAN device with flannel's VNI and port cannot exist beside flannel.1 */
    const char *calico = "{\"name\":\"vxlan.calico\",\"kind\":\"vxlan\",\"up\":true,"
                         "\"vxlan\":{\"id\":1,\"port\":8472,\"dev\":\"eth0\"}}";
    CHECK_INT(add_link(h, calico), -EEXIST);
    CHECK_INT(add_link(h, "{\"name\":\"vx2\",\"kind\":\"vxlan\",\"vxlan\":{\"id\":1,\"port\":4789}}"), 0);
    CHECK_INT(add_link(h, "{\"name\":\"vx3\",\"kind\":\"vxlan\",\"vxlan\":{\"id\":16777216}}"), -EINVAL);
    CHECK_INT(add_link(h, "{\"name\":\"vx4\",\"kind\":\"vxlan\",\"vxlan\":{\"id\":7,\"dev\":\"eth7\"}}"), -ENODEV);
    CHECK_INT(cm_host_addr_add(h, "flannel.1", "10.244.1.0/32"), 0);
    /* a route to a peer's podCIDR via its VTEP address needs onlink: the gateway is on no connected network */
    const char *peer = "{\"dst\":\"10.244.2.0/24\",\"gateway\":\"10.244.2.0\",\"dev\":\"flannel.1\"}";
    CHECK_INT(add_route(h, peer, 0), -ENETUNREACH);
    const char *peer_onlink = "{\"dst\":\"10.244.2.0/24\",\"gateway\":\"10.244.2.0\",\"dev\":\"flannel.1\",\"onlink\":true}";
    CHECK_INT(add_route(h, peer_onlink, 0), 0);
    CHECK_INT(add_route(h, peer_onlink, 0), -EEXIST);
    CHECK_INT(add_route(h, peer_onlink, 1), 0);
    cJSON *n = J("{\"dst\":\"10.244.2.0\",\"lladdr\":\"9e:3a:7c:00:00:02\",\"dev\":\"flannel.1\",\"state\":\"permanent\"}");
    CHECK_INT(cm_host_neigh_add(h, n, 0), 0);
    CHECK_INT(cm_host_neigh_add(h, n, 0), -EEXIST);
    cJSON_Delete(n);
    cJSON *f = J("{\"lladdr\":\"9e:3a:7c:00:00:02\",\"dev\":\"flannel.1\",\"dst\":\"192.168.1.12\",\"self\":true}");
    CHECK_INT(cm_host_fdb_add(h, f, 0), 0);
    cJSON_Delete(f);
    /* deleting flannel.1 takes its address, routes, neighbours, FDB entries and sysctls */
    CHECK_INT(cm_host_link_del(h, "flannel.1"), 0);
    CHECK_INT(cm_host_link_del(h, "flannel.1"), -ENODEV);
    CHECK_SECTION(h, "neighbours", "[]");
    CHECK_SECTION(h, "fdb", "[]");
    CHECK(cm_host_sysctl_get(h, "net/ipv4/conf/flannel.1/rp_filter") == NULL);
    CHECK_INT(cm_host_route_del(h, NULL, "10.244.2.0/24", NULL), -ESRCH);
    CHECK_INT(add_link(h, calico), 0); /* VNI 1 on 8472 is free again (vx2 has it on 4789) */
    cm_host_free(h);
}

static void test_vxlan_after_flannel_is_gone(void)
{
    cm_host *h = node();
    CHECK_INT(add_link(h, "{\"name\":\"flannel.1\",\"kind\":\"vxlan\",\"up\":true,\"vxlan\":{\"id\":1,\"port\":8472,\"dev\":\"eth0\"}}"), 0);
    CHECK_INT(cm_host_link_del(h, "flannel.1"), 0);
    CHECK_INT(add_link(h, "{\"name\":\"vxlan.calico\",\"kind\":\"vxlan\",\"up\":true,\"vxlan\":{\"id\":1,\"port\":8472,\"dev\":\"eth0\"}}"), 0);
    /* deleting the lower device deletes the VXLAN device built on it */
    CHECK_INT(cm_host_link_del(h, "eth0"), 0);
    CHECK(cm_host_link(h, "vxlan.calico") == NULL);
    CHECK_SECTION(h, "routes", "[]");
    cm_host_free(h);
}

static void test_down_and_up(void)
{
    cm_host *h = node();
    CHECK_INT(add_link(h, "{\"name\":\"cni0\",\"kind\":\"bridge\",\"mtu\":1450}"), 0);
    CHECK_INT(cm_host_addr_add(h, "cni0", "10.244.1.1/24"), 0);
    CHECK_INT(add_route(h, "{\"dst\":\"10.244.9.0/24\",\"dev\":\"cni0\"}", 0), -ENETDOWN);
    CHECK_INT(cm_host_link_set_up(h, "cni0", 1), 0);
    CHECK_INT(add_route(h, "{\"dst\":\"10.244.9.0/24\",\"gateway\":\"10.244.1.7\",\"dev\":\"cni0\"}", 0), 0);
    CHECK_INT(add_route(h, "{\"dst\":\"10.244.9.5/16\",\"dev\":\"cni0\"}", 0), 0); /* stored as 10.244.0.0/16 */
    CHECK_INT(cm_host_route_del(h, NULL, "10.244.0.0/16", NULL), 0);
    /* through a device: only the route to dst through that one (ip route del DST dev DEV) */
    CHECK_INT(cm_host_route_del(h, NULL, "10.244.9.0/24", "eth0"), -ESRCH);
    CHECK_INT(add_route(h, "{\"dst\":\"10.244.8.0/24\",\"dev\":\"cni0\"}", 0), 0);
    CHECK_INT(cm_host_route_del(h, NULL, "10.244.8.0/24", "cni0"), 0);
    CHECK_INT(cm_host_link_set_up(h, "cni0", 0), 0);
    CHECK_SECTION(h, "routes", "[{\"dst\":\"192.168.1.0/24\",\"dev\":\"eth0\",\"scope\":\"link\",\"protocol\":\"kernel\","
                               "\"src\":\"192.168.1.11\"},{\"dst\":\"default\",\"gateway\":\"192.168.1.1\",\"dev\":\"eth0\"}]");
    CHECK_INT(cm_host_addr_del(h, "eth0", "192.168.1.11/24"), 0);
    CHECK_SECTION(h, "routes", "[{\"dst\":\"default\",\"gateway\":\"192.168.1.1\",\"dev\":\"eth0\"}]");
    cm_host_free(h);
}

static void test_sysctls_and_files(void)
{
    cm_host *h = cm_host_new();
    CHECK_INT(cm_host_sysctl_set(h, "net/ipv4/ip_forward", "1"), 0);
    CHECK_STR(cm_host_sysctl_get(h, "net/ipv4/ip_forward"), "1");
    CHECK_INT(cm_host_sysctl_set(h, "net/ipv4/no_such_knob", "1"), -ENOENT);
    CHECK_INT(cm_host_file_write(h, "/etc/cni/net.d/10-flannel.conflist", "{}"), 0);
    CHECK_INT(cm_host_file_write(h, "/etc/cni/net.d/calico-kubeconfig", "x"), 0);
    CHECK_INT(cm_host_file_write(h, "/etc/cni/net.d/sub/deeper", "y"), 0);
    CHECK_INT(cm_host_file_write(h, "relative", "z"), -EINVAL);
    cJSON *names = cm_host_file_list(h, "/etc/cni/net.d/");
    char *s = cJSON_PrintUnformatted(names);
    CHECK_STR(s, "[\"10-flannel.conflist\",\"calico-kubeconfig\"]");
    free(s);
    cJSON_Delete(names);
    CHECK_INT(cm_host_file_remove(h, "/etc/cni/net.d/10-flannel.conflist"), 0);
    CHECK_INT(cm_host_file_remove(h, "/etc/cni/net.d/10-flannel.conflist"), -ENOENT);
    CHECK(cm_host_file_read(h, "/etc/cni/net.d/10-flannel.conflist") == NULL);
    cm_host_free(h);
}

/* IPv6 beside IPv4, as tests/netns/test_host_seam.sh sees the kernel do it. */
static void test_ipv6(void)
{
    cm_host *h = node();
    CHECK_INT(cm_host_addr_add(h, "eth0", "fd00:0::0011/64"), 0);
    CHECK_INT(cm_host_addr_add(h, "eth0", "fd00::11/64"), -EEXIST);
    CHECK_INT(cm_host_addr_add(h, "eth0", "fd00::11/129"), -EINVAL);
    CHECK_INT(add_route(h, "{\"dst\":\"fd00:99::/64\",\"gateway\":\"fd00:77::1\",\"dev\":\"eth0\"}", 0), -EHOSTUNREACH);
    CHECK_INT(add_route(h, "{\"family\":\"inet6\",\"dst\":\"default\",\"gateway\":\"fd00::1\",\"dev\":\"eth0\"}", 0), 0);
    CHECK_INT(cm_host_route_del(h, "inet6", "default", NULL), 0);
    CHECK_INT(cm_host_route_del(h, "inet6", "default", NULL), -ESRCH);
    CHECK_INT(cm_host_route_del(h, NULL, "default", NULL), 0); /* the IPv4 one was kept */
    CHECK_SECTION(h, "addresses", "[{\"dev\":\"lo\",\"address\":\"127.0.0.1/8\"},{\"dev\":\"eth0\",\"address\":\"192.168.1.11/24\"},"
                                  "{\"dev\":\"eth0\",\"address\":\"fd00::11/64\",\"family\":\"inet6\"}]");
    /* flannel-v6.1 shares flannel.1's VNI and port; a second IPv6 device may not */
    CHECK_INT(add_link(h, "{\"name\":\"flannel.1\",\"kind\":\"vxlan\",\"vxlan\":{\"id\":1,\"port\":8472,\"local\":\"192.168.1.11\",\"dev\":\"eth0\"}}"), 0);
    CHECK_INT(add_link(h, "{\"name\":\"flannel-v6.1\",\"kind\":\"vxlan\",\"vxlan\":{\"id\":1,\"port\":8472,\"local\":\"fd00::11\",\"dev\":\"eth0\"}}"), 0);
    CHECK_INT(add_link(h, "{\"name\":\"other-v6\",\"kind\":\"vxlan\",\"vxlan\":{\"id\":1,\"port\":8472,\"local\":\"fd00::11\"}}"), -EEXIST);
    const cJSON *v4 = cm_host_link(h, "flannel.1"), *v6 = cm_host_link(h, "flannel-v6.1");
    CHECK_INT(cJSON_GetObjectItemCaseSensitive(v4, "mtu")->valueint, 1450);
    CHECK_INT(cJSON_GetObjectItemCaseSensitive(v6, "mtu")->valueint, 1430);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(v6, "vxlan"), "learning")));
    CHECK_INT(cm_host_link_set_up(h, "flannel-v6.1", 1), 0);
    CHECK_INT(cm_host_addr_add(h, "flannel-v6.1", "fd00:10:244:1::/128"), 0);
    CHECK(section_has(h, "routes", "{\"family\":\"inet6\",\"dst\":\"fd00:10:244:1::/128\""));
    cJSON *n = J("{\"dst\":\"fd00:10:244:2:0::\",\"lladdr\":\"9e:3a:7c:00:00:02\",\"dev\":\"flannel-v6.1\"}");
    CHECK_INT(cm_host_neigh_add(h, n, 0), 0);
    cJSON_Delete(n);
    CHECK_INT(cm_host_neigh_del(h, "flannel-v6.1", "fd00:10:244:2::"), 0);
    /* down: its routes and IPv6 addresses go */
    CHECK_INT(cm_host_link_set_up(h, "flannel-v6.1", 0), 0);
    CHECK(!section_has(h, "addresses", "fd00:10:244:1::"));
    cm_host_free(h);
}

/* Bridges follow their ports' MTU unless set by hand; sysctls take integers. */
static void test_bridge_mtu_and_sysctl_values(void)
{
    cm_host *h = cm_host_new();
    CHECK_INT(add_link(h, "{\"name\":\"cni0\",\"kind\":\"bridge\",\"mtu\":1450}"), 0);
    CHECK_INT(add_link(h, "{\"name\":\"veth1\",\"kind\":\"veth\",\"mtu\":1400}"), 0);
    CHECK_INT(cm_host_link_set_master(h, "veth1", "cni0"), 0);
    CHECK_INT(cJSON_GetObjectItemCaseSensitive(cm_host_link(h, "cni0"), "mtu")->valueint, 1400);
    CHECK_INT(cm_host_link_set_master(h, "veth1", NULL), 0);
    CHECK_INT(cJSON_GetObjectItemCaseSensitive(cm_host_link(h, "cni0"), "mtu")->valueint, 1500);
    CHECK_INT(cm_host_link_set_mtu(h, "cni0", 1450), 0);
    CHECK_INT(cm_host_link_set_master(h, "veth1", "cni0"), 0);
    CHECK_INT(cJSON_GetObjectItemCaseSensitive(cm_host_link(h, "cni0"), "mtu")->valueint, 1450);
    CHECK_INT(cm_host_sysctl_set(h, "net/ipv4/conf/cni0/rp_filter", " 2\n"), 0);
    CHECK_STR(cm_host_sysctl_get(h, "net/ipv4/conf/cni0/rp_filter"), "2");
    CHECK_INT(cm_host_sysctl_set(h, "net/ipv4/conf/cni0/rp_filter", "loose"), -EINVAL);
    CHECK_INT(cm_host_sysctl_set(h, "net/ipv4/conf/cni0/rp_filter", ""), 0);
    CHECK_STR(cm_host_sysctl_get(h, "net/ipv4/conf/cni0/rp_filter"), "2");
    cm_host_free(h);
}

static void test_from_json(void)
{
    char err[200];
    cJSON *doc = J("{\"links\":[{\"name\":\"eth0\",\"up\":true},{\"name\":\"flannel.1\",\"vxlan\":{\"id\":1,\"dev\":\"eth1\"}}]}");
    CHECK(cm_host_from_json(doc, err, sizeof err) == NULL);
    CHECK_STR(err, "links[1]: vxlan.dev: no link eth1");
    cJSON_Delete(doc);
    doc = J("{\"links\":[{\"name\":\"eth0\"}],\"routes\":[{\"dst\":\"default\",\"dev\":\"eth2\"}]}");
    CHECK(cm_host_from_json(doc, err, sizeof err) == NULL);
    CHECK_STR(err, "routes[0]: dev: no link eth2");
    cJSON_Delete(doc);
    doc = J("{\"links\":[{\"name\":\"eth0\"}],\"files\":{\"/x\":1}}");
    CHECK(cm_host_from_json(doc, err, sizeof err) == NULL);
    CHECK_STR(err, "files: /x: expected a string");
    cJSON_Delete(doc);
    doc = J("{\"links\":[{\"name\":\"eth0\",\"up\":true,\"mtu\":1500}],\"addresses\":[{\"dev\":\"eth0\",\"address\":\"10.0.0.2/24\"}],"
            "\"sysctls\":{\"net/ipv4/ip_forward\":\"1\"}}");
    cm_host *h = cm_host_from_json(doc, err, sizeof err);
    CHECK(h != NULL);
    CHECK_STR(h ? cm_host_sysctl_get(h, "net/ipv4/ip_forward") : NULL, "1");
    CHECK_INT(h ? add_route(h, "{\"dst\":\"10.1.0.0/16\",\"gateway\":\"10.0.0.1\",\"dev\":\"eth0\"}", 0) : -1, 0);
    cm_host_free(h);
    cJSON_Delete(doc);
}

/* Hosts with the same peers' entries keep each entry once (host.c's pool): a host's entry is
 * the same storage as another's, and removing, replacing or freeing it on one host leaves the
 * others' as they were. */
static void test_entries_stored_once(void)
{
    cm_host *a = node(), *b = node();
    const char *vx = "{\"name\":\"flannel.1\",\"kind\":\"vxlan\",\"mtu\":1450,\"up\":true,\"vxlan\":{\"id\":1,\"port\":8472}}";
    const char *peer = "{\"dst\":\"10.244.2.0/24\",\"gateway\":\"10.244.2.0\",\"dev\":\"flannel.1\",\"onlink\":true}";
    cJSON *n = J("{\"dst\":\"10.244.2.0\",\"lladdr\":\"9e:3a:7c:00:00:02\",\"dev\":\"flannel.1\",\"state\":\"permanent\"}");
    cm_host *hosts[] = {a, b};
    for (int i = 0; i < 2; i++) {
        CHECK_INT(add_link(hosts[i], vx), 0);
        CHECK_INT(add_route(hosts[i], peer, 0), 0);
        CHECK_INT(cm_host_neigh_add(hosts[i], n, 0), 0);
    }
    cJSON_Delete(n);
    const cJSON *ra = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cm_host_json(a), "routes"), 2);
    const cJSON *rb = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cm_host_json(b), "routes"), 2);
    CHECK(ra && rb && ra != rb && ra->child == rb->child); /* two references, one entry */
    char *ja = section(a, "routes"), *jb = section(b, "routes");
    CHECK_STR(ja, jb);
    free(ja);
    free(jb);
    CHECK_INT(cm_host_route_del(a, NULL, "10.244.2.0/24", NULL), 0);
    CHECK(section_has(b, "routes", peer));
    CHECK_INT(add_route(b, "{\"dst\":\"10.244.2.0/24\",\"gateway\":\"10.244.2.0\",\"dev\":\"flannel.1\",\"onlink\":true,\"protocol\":\"static\"}", 1), 0);
    CHECK(section_has(b, "routes", "\"onlink\":true,\"protocol\":\"static\"}"));
    cm_host *c = cm_host_from_json(cm_host_json(b), (char[64]){0}, 64); /* a copy of a host is a host of its own */
    CHECK(c != NULL);
    cm_host_free(b);
    CHECK(section_has(c, "neighbours", "9e:3a:7c:00:00:02"));
    CHECK(section_has(a, "neighbours", "9e:3a:7c:00:00:02"));
    CHECK_INT(cm_host_link_del(a, "flannel.1"), 0);
    CHECK_SECTION(a, "neighbours", "[]");
    CHECK(section_has(c, "routes", "\"protocol\":\"static\"}"));
    cm_host_free(a);
    cm_host_free(c);
}

int main(void)
{
    RUN(test_links_and_addresses);
    RUN(test_vxlan_rules);
    RUN(test_vxlan_after_flannel_is_gone);
    RUN(test_down_and_up);
    RUN(test_sysctls_and_files);
    RUN(test_ipv6);
    RUN(test_bridge_mtu_and_sysctl_values);
    RUN(test_from_json);
    RUN(test_entries_stored_once);
    return CHECK_DONE();
}
