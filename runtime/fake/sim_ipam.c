/* sim_ipam.c - pod addresses from Calico IPAM blocks (see simint.h). */
#include "simint.h"

#include <stdlib.h>

struct sim_ipam {
    int unused;
};

struct sim_ipam *sim_ipam_new(void)
{
    return calloc(1, sizeof(struct sim_ipam));
}

void sim_ipam_free(struct sim_ipam *p)
{
    free(p);
}

void sim_ipam_on_change(cm_sim *s, const cm_event *ev)
{
    (void)s, (void)ev;
}

void sim_ipam_reconcile(cm_sim *s, const char *key)
{
    (void)s, (void)key;
}

int sim_ipam_assign(cm_sim *s, const cm_obj *pod, const cJSON *node, const cm_host *host,
                    const char *sandbox, char *ip, size_t ipsize, char *msg, size_t msgsize)
{
    (void)s, (void)pod, (void)node, (void)host, (void)sandbox, (void)ip, (void)ipsize, (void)msg, (void)msgsize;
    return -1;
}
