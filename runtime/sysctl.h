/*
 * sysctl.h - sysctl names: sysctl(8)'s dotted form ("net.ipv4.conf.all.rp_filter"; a dot
 * inside a component, as in an interface name, is written '/': "net.ipv4.conf.flannel/1.rp_filter")
 * to the path below /proc/sys ("net/ipv4/conf/flannel.1/rp_filter"), validated: no empty,
 * "." or ".." component, only [A-Za-z0-9_.@:+-] in a component, at most 255 bytes.
 */
#ifndef CM_SYSCTL_H
#define CM_SYSCTL_H

#include <stddef.h>

/* Returns 0 with the path in buf, or -1 with why in err. */
int cm_sysctl_path(const char *name, char *buf, size_t size, char *err, size_t errsize);

#endif
