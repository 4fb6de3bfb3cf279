/* test_cni.c - which CNI config a simulated node's runtime uses, and when a sandbox gets its network. */
#include "check.h"
#include "fake/host/cni.h"

#include <stdlib.h>

static const char FLANNEL[] = "{\"name\":\"cbr0\",\"cniVersion\":\"0.3.1\",\"plugins\":[{\"type\":\"flannel\","
                              "\"delegate\":{\"hairpinMode\":true,\"isDefaultGateway\":true}},"
                              "{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true}}]}";
/* what Calico's migration controller writes under Calico's file name to stop new sandboxes */
static const char DUMMY[] = "{ \"name\": \"dummy\", \"plugins\": [{ \"type\": \"flannel-migration-in-progress\" }]}";
static const char CALICO[] = "{\"name\":\"k8s-pod-network\",\"cniVersion\":\"0.3.1\",\"plugins\":[{\"type\":\"calico\","
                             "\"ipam\":{\"type\":\"calico-ipam\"}},{\"type\":\"bandwidth\"},{\"type\":\"portmap\"}]}";

static char msg[1024];
static int ready;

static int ok(const cm_host *h)
{
    msg[0] = '\0';
    return cm_cni_sandbox_ok(h, "abc123", &ready, msg, sizeof msg);
}

/* A node with the standard plugins kubeadm's kubernetes-cni package installs. */
static cm_host *node(void)
{
    cm_host *h = cm_host_new();
    for (const char *const *p = (const char *const[]){"bridge", "host-local", "loopback", "portmap", NULL}; *p; p++) {
        char path[64];
        snprintf(path, sizeof path, "/opt/cni/bin/%s", *p);
        cm_host_file_write(h, path, "");
    }
    return h;
}

static void test_no_config(void)
{
    cm_host *h = node();
    CHECK(!ok(h));
    CHECK_INT(ready, 0);
    CHECK_STR(msg, "network is not ready: container runtime network not ready: NetworkReady=false "
                   "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized");
    cm_host_file_write(h, "/etc/cni/net.d/README", "not a config");
    cm_host_file_write(h, "/etc/cni/net.d/05-broken.conflist", "{\"name\":\"x\",\"plugins\":[]}");
    cm_host_file_write(h, "/etc/cni/net.d/06-broken.conf", "{\"name\":\"x\"}");
    cm_host_file_write(h, "/etc/cni/net.d/07-broken.json", "{not json");
    char path[256];
    CHECK_INT(cm_cni_active(h, CM_CNI_DIR, path, sizeof path), 0);
    cm_host_free(h);
}

static void test_flannel(void)
{
    cm_host *h = node();
    cm_host_file_write(h, "/etc/cni/net.d/10-flannel.conflist", FLANNEL);
    CHECK(!ok(h));
    CHECK_INT(ready, 1);
    CHECK_STR(msg, "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for "
                   "sandbox \"abc123\": plugin type=\"flannel\" failed (add): failed to find plugin \"flannel\" in path "
                   "[/opt/cni/bin]");
    cm_host_file_write(h, "/opt/cni/bin/flannel", ""); /* install-cni-plugin ran */
    CHECK(!ok(h));
    CHECK_STR(msg, "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for "
                   "sandbox \"abc123\": plugin type=\"flannel\" failed (add): failed to load flannel 'subnet.env' file: "
                   "open /run/flannel/subnet.env: no such file or directory. Check the flannel pod log for this node.");
    cm_host_file_write(h, "/run/flannel/subnet.env", "FLANNEL_NETWORK=10.244.0.0/16\n"); /* flanneld runs */
    CHECK(ok(h));
    CHECK_STR(msg, "");
    cm_host_free(h);
}

static void test_migration_placeholder_then_calico(void)
{
    cm_host *h = node();
    cm_host_file_write(h, "/opt/cni/bin/flannel", "");
    cm_host_file_write(h, "/run/flannel/subnet.env", "x");
    cm_host_file_write(h, "/etc/cni/net.d/10-flannel.conflist", FLANNEL);
    cm_host_file_write(h, "/etc/cni/net.d/10-calico.conflist", DUMMY); /* sorts before 10-flannel */
    char path[256];
    CHECK_INT(cm_cni_active(h, CM_CNI_DIR, path, sizeof path), 1);
    CHECK_STR(path, "/etc/cni/net.d/10-calico.conflist");
    CHECK(!ok(h));
    CHECK_STR(msg, "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for "
                   "sandbox \"abc123\": plugin type=\"flannel-migration-in-progress\" failed (add): failed to find "
                   "plugin \"flannel-migration-in-progress\" in path [/opt/cni/bin]");
    /* calico-node's install-cni overwrites it and installs its binaries; the sandbox waits for calico-node */
    cm_host_file_write(h, "/etc/cni/net.d/10-calico.conflist", CALICO);
    cm_host_file_write(h, "/opt/cni/bin/calico", "");
    cm_host_file_write(h, "/opt/cni/bin/calico-ipam", "");
    cm_host_file_write(h, "/opt/cni/bin/bandwidth", "");
    CHECK(!ok(h));
    CHECK_STR(msg, "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for "
                   "sandbox \"abc123\": plugin type=\"calico\" failed (add): stat /var/lib/calico/nodename: no such "
                   "file or directory: check that the calico/node container is running and has mounted /var/lib/calico/");
    cm_host_file_write(h, "/var/lib/calico/nodename", "worker-1");
    CHECK(ok(h));
    cm_host_free(h);
}

static void test_single_conf_and_names(void)
{
    cm_host *h = node();
    cm_host_file_write(h, "/etc/cni/net.d/99-loop.conf", "{\"cniVersion\":\"0.3.1\",\"name\":\"lo\",\"type\":\"loopback\"}");
    cm_host_file_write(h, "/etc/cni/net.d/50-named.conflist",
                       "{\"name\":\"n\",\"plugins\":[{\"type\":\"cilium-cni\",\"name\":\"cilium\"}]}");
    CHECK(!ok(h));
    CHECK_STR(msg, "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for "
                   "sandbox \"abc123\": plugin type=\"cilium-cni\" name=\"cilium\" failed (add): failed to find plugin "
                   "\"cilium-cni\" in path [/opt/cni/bin]");
    cm_host_file_remove(h, "/etc/cni/net.d/50-named.conflist");
    CHECK(ok(h));
    cm_host_free(h);
}

int main(void)
{
    RUN(test_no_config);
    RUN(test_flannel);
    RUN(test_migration_placeholder_then_calico);
    RUN(test_single_conf_and_names);
    return CHECK_DONE();
}
