/*
 * podproc.h - the simulated kubelet's container runtime for cni-migrate's own image
 * (`fake serve --run-image REF`): a pod whose first container's image is REF runs the real
 * binary as a child process, as a kubelet would run it.
 *
 * The process gets what a kubelet gives a container: its command and args (the image's
 * entrypoint is cni-migrate: no command, or a command naming cni-migrate, runs this binary), a
 * clean environment with PATH, HOSTNAME, KUBERNETES_SERVICE_HOST/PORT (the server's address),
 * envFrom's ConfigMaps and Secrets, the container's env values, its downward API fieldRefs
 * (metadata.name, .namespace, .uid, .labels['k'], .annotations['k'], spec.nodeName,
 * .serviceAccountName, status.hostIP, .podIP) and its configMapKeyRef and secretKeyRef values,
 * each value's $(VAR) expanded from those before it, and command and args from them all (a
 * missing ConfigMap, Secret or key that is not optional: the container ends at once with the
 * kubelet's message, where a kubelet waits in CreateContainerConfigError);
 * and the ServiceAccount's token (a TokenRequest under --authorize, else the server's token),
 * the server's CA and the namespace at /var/run/secrets/kubernetes.io/serviceaccount: in a
 * private mount namespace (a tmpfs on /run, as a container has its own, with the files
 * bind-mounted), or where that is not permitted (not root), in a private directory that
 * CNI_MIGRATE_SERVICEACCOUNT_DIR names (k8s_config.c reads it). Its stdout and stderr are
 * the pod's log (cm_fake_log_append: kubectl logs, -f); its exit ends the container
 * (cm_sim_pod_exit: exit code, reason Completed/Error, the last 4096 bytes of what it wrote at
 * its terminationMessagePath, and when that is empty, with FallbackToLogsOnError, the log's last
 * 80 lines, at most 2048 bytes, as the message of a failure; the file is given in the private
 * mount namespace only, at /dev/NAME in a /dev of the container's own or under /run). Deleting the pod sends
 * SIGTERM, and SIGKILL when the kubelet's grace ends. A container restarted under restartPolicy
 * OnFailure or Always (CM_SIM_POD_RESTARTED) runs a new process; its log starts anew (no
 * --previous). Not modelled: resourceFieldRef values (left out, with a line on stderr), volumes,
 * a terminationMessagePath elsewhere than /dev or /run.
 *
 * Every child is in its own process group with PR_SET_PDEATHSIG SIGKILL, and
 * cm_podproc_free() kills and reaps those left: none outlives fake serve, none is a zombie.
 */
#ifndef CM_FAKE_PODPROC_H
#define CM_FAKE_PODPROC_H

#include "fake.h"
#include "loop.h"
#include "sim.h"

#include <cJSON.h>

typedef struct cm_podproc cm_podproc;

struct cm_podproc_opts {
    const char *image;       /* the image that counts: REPO:TAG exactly, or REPO for any tag or digest */
    const char *server_host; /* what KUBERNETES_SERVICE_HOST/PORT say */
    int server_port;
    const char *ca_pem;      /* the server's CA (ca.crt), or NULL */
    const char *token;       /* the token without --authorize (the server's, or NULL: any) */
    int authorize;           /* the ServiceAccount's token from a TokenRequest */
};

/* NULL when out of memory or this binary's path cannot be read (err says why). */
cm_podproc *cm_podproc_new(cm_sim *sim, cm_fake *f, cm_loop *loop, const struct cm_podproc_opts *o,
                           char *err, size_t errsize);

/* Whether the pod is one of the image's (its first container's image). */
int cm_podproc_matches(const cm_podproc *pp, const cJSON *pod);

/* The kubelet started the pod's containers on node: runs its process. */
void cm_podproc_start(cm_podproc *pp, const char *node, const cJSON *pod);

/* The pod is being deleted (SIGTERM), or its grace is over (kill: SIGKILL; its log is forgotten). */
void cm_podproc_stop(cm_podproc *pp, const cJSON *pod, int kill);

/* How many processes run now. */
int cm_podproc_running(const cm_podproc *pp);

/* Kills (SIGKILL) and reaps every process left, and frees pp. */
void cm_podproc_free(cm_podproc *pp);

#endif
