/*
 * cni.h - what a node's container runtime makes of its CNI configuration, on a
 * simulated host: which config is active, and whether a pod sandbox can get
 * its network now, with the message the kubelet would report when it cannot.
 *
 * The active config is the first file of the CNI directory, by name, with a
 * .conf, .conflist or .json extension that is a valid network config (a
 * conflist needs a name and a non-empty plugins list whose entries have a
 * type; a single config needs a type): the rule of libcni's ConfFiles as
 * CRI-O and the dockershim applied it, skipping invalid files. A sandbox gets
 * its network when every plugin of the active config has its binary in
 * /opt/cni/bin and each plugin's own precondition holds on the host:
 *   flannel   /run/flannel/subnet.env (written by flanneld)
 *   calico    /var/lib/calico/nodename (written by calico-node)
 */
#ifndef CM_FAKE_CNI_H
#define CM_FAKE_CNI_H

#include "host.h"

#include <stddef.h>

#define CM_CNI_DIR "/etc/cni/net.d"
#define CM_CNI_BIN "/opt/cni/bin"

/* Finds the active config in dir: returns 1 with its path in path, or 0 when there is none. */
int cm_cni_active(const cm_host *h, const char *dir, char *path, size_t size);

/*
 * Whether a sandbox (id: its 64-hex id, for the message) can be networked now.
 * Returns 1, or 0 with the kubelet's message in msg, e.g. "Failed to create pod
 * sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox
 * \"<id>\": plugin type=\"flannel\" failed (add): ...". *ready is set to 0 when
 * the node has no network config at all (the runtime's NetworkReady=false).
 */
int cm_cni_sandbox_ok(const cm_host *h, const char *id, int *ready, char *msg, size_t size);

#endif
