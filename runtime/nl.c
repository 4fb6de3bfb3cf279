/* nl.c - rtnetlink on libmnl for the real host (see nl.h). */
#define _GNU_SOURCE /* setns */
#include "nl.h"
#include "nl_parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUFSZ 65536
#define MSGSZ 8192 /* one request */

/* ---- the socket ---- */

struct nl {
    struct mnl_socket *sk;
    unsigned portid, seq;
};

struct opener {
    const char *netns;
    struct mnl_socket *sk;
    int err;
};

/* Opens and binds a NETLINK_ROUTE socket with extended acks, in the calling thread's netns. */
static struct mnl_socket *open_here(int *err)
{
    struct mnl_socket *sk = mnl_socket_open(NETLINK_ROUTE);
    if (!sk) {
        *err = errno;
        return NULL;
    }
    int one = 1;
    mnl_socket_setsockopt(sk, NETLINK_EXT_ACK, &one, sizeof one);
    mnl_socket_setsockopt(sk, NETLINK_CAP_ACK, &one, sizeof one);
    if (mnl_socket_bind(sk, 0, MNL_SOCKET_AUTOPID) < 0) {
        *err = errno;
        mnl_socket_close(sk);
        return NULL;
    }
    return sk;
}

/* A thread that joins the namespace, opens the socket there and ends: the socket stays in it. */
static void *open_in_netns(void *arg)
{
    struct opener *o = arg;
    int fd = open(o->netns, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        o->err = errno;
        return NULL;
    }
    if (setns(fd, CLONE_NEWNET) != 0) {
        o->err = errno;
        close(fd);
        return NULL;
    }
    close(fd);
    o->sk = open_here(&o->err);
    return NULL;
}

static int nl_open(cm_hostcall *c, struct nl *nl, const char *what)
{
    int err = 0;
    if (c->netns) {
        struct opener o = {c->netns, NULL, 0};
        pthread_t t;
        if ((err = pthread_create(&t, NULL, open_in_netns, &o)) == 0) {
            pthread_join(t, NULL);
            err = o.err;
            nl->sk = o.sk;
        }
        if (!nl->sk)
            return cm_hostcall_fail(c, err ? err : EIO, "%s: netns %s: %s", what, c->netns,
                                    strerror(err ? err : EIO));
    } else if (!(nl->sk = open_here(&err))) {
        return cm_hostcall_fail(c, err, "%s: netlink socket: %s", what, strerror(err));
    }
    nl->portid = mnl_socket_get_portid(nl->sk);
    nl->seq = (unsigned)time(NULL);
    return 0;
}

static void nl_close(struct nl *nl)
{
    if (nl->sk)
        mnl_socket_close(nl->sk);
    nl->sk = NULL;
}

/* ---- one request and its answers ---- */

typedef int (*msg_fn)(const struct nlmsghdr *nlh, void *ud);

struct answer {
    msg_fn fn;
    void *ud;
    int err;           /* the kernel's errno, 0 for an ACK */
    char extack[256];  /* the kernel's extended-ack message */
};

/* The extended-ack message of an NLMSG_ERROR, when the kernel sent one. */
static void read_extack(const struct nlmsghdr *nlh, struct answer *a)
{
    const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
    if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS) || mnl_nlmsg_get_payload_len(nlh) < sizeof *e ||
        e->msg.nlmsg_len < sizeof e->msg)
        return;
    size_t off = sizeof *e; /* then the request's payload unless capped, then the TLVs, aligned */
    if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
        off = MNL_ALIGN(off + e->msg.nlmsg_len - sizeof e->msg);
    if (mnl_nlmsg_get_payload_len(nlh) < off)
        return;
    const char *payload = (const char *)e + off;
    int left = (int)(mnl_nlmsg_get_payload_len(nlh) - off);
    for (const struct nlattr *attr = (const struct nlattr *)payload; mnl_attr_ok(attr, left);
         left -= (int)MNL_ALIGN(attr->nla_len), attr = mnl_attr_next(attr))
    {
        if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
            snprintf(a->extack, sizeof a->extack, "%s", mnl_attr_get_str(attr));
    }
}

/* The errno of a kernel's negative error code (-errno); EBADMSG for a value no errno gives. */
static int kernel_errno(int code)
{
    return code < 0 && code > -4096 ? -code : EBADMSG;
}

/* Control messages: an error or ACK ends the request, as does the end of a dump. */
static int ctl_cb(const struct nlmsghdr *nlh, void *data)
{
    struct answer *a = data;
    if (nlh->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
        if (mnl_nlmsg_get_payload_len(nlh) < sizeof e->error) {
            a->err = EBADMSG;
            return MNL_CB_ERROR;
        }
        a->err = e->error ? kernel_errno(e->error) : 0;
        read_extack(nlh, a);
        return a->err ? MNL_CB_ERROR : MNL_CB_STOP;
    }
    if (nlh->nlmsg_type == NLMSG_DONE) {
        int rc = mnl_nlmsg_get_payload_len(nlh) >= sizeof(int) ? *(const int *)mnl_nlmsg_get_payload(nlh) : 0;
        if (rc < 0) {
            a->err = kernel_errno(rc);
            return MNL_CB_ERROR;
        }
        return MNL_CB_STOP;
    }
    return MNL_CB_OK;
}

static int data_cb(const struct nlmsghdr *nlh, void *data)
{
    struct answer *a = data;
    return a->fn ? a->fn(nlh, a->ud) : MNL_CB_OK;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Whether each message of a datagram lies within it (a partial header at the end aside). libmnl
 * checks the same, but as an int: a message length over INT_MAX passes and its walk leaves the buffer.
 */
static int framed(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len >= sizeof(struct nlmsghdr)) {
        const struct nlmsghdr *nlh = (const void *)p;
        if (nlh->nlmsg_len < sizeof *nlh || nlh->nlmsg_len > len)
            return 0;
        size_t step = MNL_ALIGN(nlh->nlmsg_len);
        if (step >= len)
            return 1;
        p += step;
        len -= step;
    }
    return 1;
}

/*
 * One datagram of answers (len bytes) through a: 1 at the end of the answer (ACK, dump end), 0 when
 * more is to come, -1 with c filled. Nothing is dropped silently: a message cut short is EBADMSG;
 * in mnl_cb_run2 a wrong seq or port id (0: not checked) is ESRCH/EPROTO, an interrupted dump EINTR.
 */
static int read_answers(cm_hostcall *c, const void *buf, size_t len, unsigned seq, unsigned portid, struct answer *a,
                        const char *what)
{
    mnl_cb_t ctl[NLMSG_MIN_TYPE];
    for (int i = 0; i < NLMSG_MIN_TYPE; i++)
        ctl[i] = ctl_cb;
    if (!framed(buf, len))
        return cm_hostcall_fail(c, EBADMSG, "%s: a message longer than the kernel's answer (%zu bytes)", what, len);
    errno = 0;
    int rc = mnl_cb_run2(buf, len, seq, portid, data_cb, a, ctl, NLMSG_MIN_TYPE);
    if (rc == MNL_CB_STOP)
        return 1;
    if (rc != MNL_CB_ERROR && rc >= 0)
        return 0;
    int err = a->err ? a->err : errno ? errno : EBADMSG;
    if (a->extack[0])
        return cm_hostcall_fail(c, err, "%s: %s (kernel: %s)", what, strerror(err), a->extack);
    return cm_hostcall_fail(c, err, "%s: %s", what, strerror(err));
}

/* Sends nlh (its seq set here) and reads the answers until the ACK, error or dump end. */
static int transact(cm_hostcall *c, struct nl *nl, struct nlmsghdr *nlh, msg_fn fn, void *ud, const char *what)
{
    nlh->nlmsg_seq = ++nl->seq;
    if (mnl_socket_sendto(nl->sk, nlh, nlh->nlmsg_len) < 0)
        return cm_hostcall_fail(c, errno, "%s: netlink send: %s", what, strerror(errno));
    static char buf[BUFSZ] __attribute__((aligned(8)));
    struct answer a = {.fn = fn, .ud = ud};
    long long until = now_ms() + (c->timeout_ms > 0 ? c->timeout_ms : 10000);
    for (;;) {
        struct pollfd p = {.fd = mnl_socket_get_fd(nl->sk), .events = POLLIN};
        long long left = until - now_ms();
        int n = left > 0 ? poll(&p, 1, (int)left) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0) {
            c->code = "Timeout";
            return cm_hostcall_fail(c, ETIMEDOUT, "%s: no answer from the kernel within %d ms", what,
                                    c->timeout_ms > 0 ? c->timeout_ms : 10000);
        }
        ssize_t got = mnl_socket_recvfrom(nl->sk, buf, sizeof buf);
        if (got < 0)
            return cm_hostcall_fail(c, errno, "%s: netlink receive: %s", what, strerror(errno));
        int rc = read_answers(c, buf, (size_t)got, nl->seq, nl->portid, &a, what);
        if (rc != 0)
            return rc > 0 ? 0 : -1;
    }
}

/* A new request in buf: header, flags, and the family header of size extra. */
static struct nlmsghdr *request(char *buf, uint16_t type, uint16_t flags, void **hdr, size_t extra)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | flags;
    *hdr = mnl_nlmsg_put_extra_header(nlh, extra);
    return nlh;
}

/* ---- helpers ---- */

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static int jhas_num(const cJSON *o, const char *k, double *v)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(x))
        return 0;
    *v = x->valuedouble;
    return 1;
}

static void mac_text(const unsigned char *m, size_t n, char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t i = 0, off = 0; i < n && off + 3 < size; i++)
        off += (size_t)snprintf(buf + off, size - off, "%s%02x", i ? ":" : "", m[i]);
}

static int parse_mac(const char *s, unsigned char m[6])
{
    unsigned v[6];
    char tail;
    if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
        return 0;
    for (int i = 0; i < 6; i++)
        m[i] = (unsigned char)v[i];
    return 1;
}

/* Parses an address (v4 or v6) into buf; returns its family or 0. */
static int parse_addr(const char *s, unsigned char buf[16])
{
    if (!s)
        return 0;
    if (inet_pton(AF_INET, s, buf) == 1)
        return AF_INET;
    if (inet_pton(AF_INET6, s, buf) == 1)
        return AF_INET6;
    return 0;
}

/* Parses "addr/len" ("default" too, as family 0 with len 0). */
static int parse_cidr(const char *s, unsigned char buf[16], int *len)
{
    char tmp[64];
    if (!s || strlen(s) >= sizeof tmp)
        return 0;
    snprintf(tmp, sizeof tmp, "%s", s);
    char *slash = strchr(tmp, '/');
    if (slash)
        *slash = '\0';
    int fam = parse_addr(tmp, buf);
    if (!fam)
        return 0;
    int max = fam == AF_INET ? 32 : 128;
    char *end = NULL;
    long n = slash ? strtol(slash + 1, &end, 10) : max;
    if (slash && (end == slash + 1 || *end || n < 0 || n > max))
        return 0;
    *len = (int)n;
    return fam;
}

static const char *family_name(int f)
{
    return f == AF_INET ? "inet" : f == AF_INET6 ? "inet6" : f == AF_BRIDGE ? "bridge" : "unspec";
}

/* ---- links ---- */

struct attrs {
    const struct nlattr *tb[IFLA_MAX + 1 > RTA_MAX + 1 ? IFLA_MAX + 1 : RTA_MAX + 1];
    int max;
};

static int attr_cb(const struct nlattr *attr, void *data)
{
    struct attrs *a = data;
    int type = mnl_attr_get_type(attr);
    if (type <= a->max && mnl_attr_type_valid(attr, (uint16_t)a->max) > 0)
        a->tb[type] = attr;
    return MNL_CB_OK;
}

static void parse_attrs(const struct nlattr *nest, const struct nlmsghdr *nlh, size_t hdr, struct attrs *a, int max)
{
    memset(a, 0, sizeof *a);
    a->max = max;
    if (nest)
        mnl_attr_parse_nested(nest, attr_cb, a);
    else
        mnl_attr_parse(nlh, (unsigned)hdr, attr_cb, a);
}

/* An attribute's value when it has the size of its type (the kernel's, or a broken answer's). */
static const char *attr_str(const struct nlattr *a)
{
    return a && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0 ? mnl_attr_get_str(a) : NULL;
}

static int attr_u32(const struct nlattr *a, uint32_t *v)
{
    if (!a || mnl_attr_validate(a, MNL_TYPE_U32) != 0)
        return 0;
    *v = mnl_attr_get_u32(a);
    return 1;
}

static int attr_u16(const struct nlattr *a, uint16_t *v)
{
    if (!a || mnl_attr_validate(a, MNL_TYPE_U16) != 0)
        return 0;
    *v = mnl_attr_get_u16(a);
    return 1;
}

/* An address attribute as text: 4 bytes for inet, 16 for inet6; NULL otherwise. */
static const char *attr_ip(const struct nlattr *a, int family, char text[INET6_ADDRSTRLEN])
{
    size_t want = family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
    if (!a || !want || mnl_attr_get_payload_len(a) != want)
        return NULL;
    return inet_ntop(family, mnl_attr_get_payload(a), text, INET6_ADDRSTRLEN);
}

/* The family header of a message, or NULL (EBADMSG) when the message is shorter. */
static const void *family_header(const struct nlmsghdr *nlh, size_t size)
{
    if (mnl_nlmsg_get_payload_len(nlh) < size) {
        errno = EBADMSG;
        return NULL;
    }
    return mnl_nlmsg_get_payload(nlh);
}

static void add_vxlan(cJSON *link, const struct nlattr *data)
{
    struct attrs v;
    parse_attrs(data, NULL, 0, &v, IFLA_VXLAN_MAX);
    cJSON *vx = cJSON_AddObjectToObject(link, "vxlan");
    uint32_t u;
    uint16_t port;
    if (attr_u32(v.tb[IFLA_VXLAN_ID], &u))
        cJSON_AddNumberToObject(vx, "id", u);
    if (attr_u16(v.tb[IFLA_VXLAN_PORT], &port))
        cJSON_AddNumberToObject(vx, "port", ntohs(port));
    char text[INET6_ADDRSTRLEN];
    if (attr_ip(v.tb[IFLA_VXLAN_LOCAL], AF_INET, text) || attr_ip(v.tb[IFLA_VXLAN_LOCAL6], AF_INET6, text))
        cJSON_AddStringToObject(vx, "local", text);
    if (attr_u32(v.tb[IFLA_VXLAN_LINK], &u))
        cJSON_AddNumberToObject(vx, "dev_index", u);
    if (v.tb[IFLA_VXLAN_LEARNING] && mnl_attr_validate(v.tb[IFLA_VXLAN_LEARNING], MNL_TYPE_U8) == 0)
        cJSON_AddBoolToObject(vx, "learning", mnl_attr_get_u8(v.tb[IFLA_VXLAN_LEARNING]) != 0);
}

static int link_cb(const struct nlmsghdr *nlh, void *ud)
{
    cJSON *arr = ud;
    const struct ifinfomsg *ifi = family_header(nlh, sizeof *ifi);
    if (!ifi)
        return MNL_CB_ERROR;
    struct attrs a;
    parse_attrs(NULL, nlh, sizeof *ifi, &a, IFLA_MAX);
    const char *name = attr_str(a.tb[IFLA_IFNAME]);
    if (!name)
        return MNL_CB_OK;
    cJSON *l = cJSON_CreateObject();
    cJSON_AddStringToObject(l, "name", name);
    cJSON_AddNumberToObject(l, "index", ifi->ifi_index);
    const char *kind = ifi->ifi_type == ARPHRD_LOOPBACK ? "loopback" : "device";
    struct attrs info;
    memset(&info, 0, sizeof info);
    if (a.tb[IFLA_LINKINFO]) {
        parse_attrs(a.tb[IFLA_LINKINFO], NULL, 0, &info, IFLA_INFO_MAX);
        if (attr_str(info.tb[IFLA_INFO_KIND]))
            kind = attr_str(info.tb[IFLA_INFO_KIND]);
    }
    cJSON_AddStringToObject(l, "kind", kind);
    uint32_t u;
    if (attr_u32(a.tb[IFLA_MTU], &u))
        cJSON_AddNumberToObject(l, "mtu", u);
    if (a.tb[IFLA_ADDRESS]) {
        char mac[64];
        mac_text(mnl_attr_get_payload(a.tb[IFLA_ADDRESS]), mnl_attr_get_payload_len(a.tb[IFLA_ADDRESS]), mac,
                 sizeof mac);
        cJSON_AddStringToObject(l, "mac", mac);
    }
    cJSON_AddBoolToObject(l, "up", (ifi->ifi_flags & IFF_UP) != 0);
    if (attr_u32(a.tb[IFLA_MASTER], &u))
        cJSON_AddNumberToObject(l, "master_index", u);
    if (strcmp(kind, "veth") == 0 && attr_u32(a.tb[IFLA_LINK], &u))
        cJSON_AddNumberToObject(l, "peer_index", u);
    if (strcmp(kind, "vxlan") == 0 && info.tb[IFLA_INFO_DATA])
        add_vxlan(l, info.tb[IFLA_INFO_DATA]);
    cJSON_AddItemToArray(arr, l);
    return MNL_CB_OK;
}

static const char *name_of(const cJSON *links, double index)
{
    const cJSON *l;
    cJSON_ArrayForEach(l, links)
    {
        const cJSON *i = cJSON_GetObjectItemCaseSensitive(l, "index");
        if (cJSON_IsNumber(i) && i->valuedouble == index)
            return jstr(l, "name");
    }
    return NULL;
}

/* Turns the index members (master_index, vxlan.dev_index) into names. */
static void resolve_names(cJSON *links)
{
    cJSON *l;
    cJSON_ArrayForEach(l, links)
    {
        double i;
        if (jhas_num(l, "master_index", &i)) {
            const char *n = name_of(links, i);
            if (n)
                cJSON_AddStringToObject(l, "master", n);
            cJSON_DeleteItemFromObjectCaseSensitive(l, "master_index");
        }
        if (jhas_num(l, "peer_index", &i)) {
            const char *n = name_of(links, i);
            if (n)
                cJSON_AddStringToObject(l, "peer", n);
            cJSON_DeleteItemFromObjectCaseSensitive(l, "peer_index");
        }
        cJSON *vx = cJSON_GetObjectItemCaseSensitive(l, "vxlan");
        if (vx && jhas_num(vx, "dev_index", &i)) {
            const char *n = name_of(links, i);
            if (n)
                cJSON_AddStringToObject(vx, "dev", n);
            cJSON_DeleteItemFromObjectCaseSensitive(vx, "dev_index");
        }
    }
}

#define DUMP_TRIES 20

/*
 * Dumps the objects of type and family through fn (ud: its argument), which appends them to
 * arr. A dump that raced with a change (the kernel flags it NLM_F_DUMP_INTR; libmnl says EINTR)
 * is inconsistent: what it gave is dropped and the dump asked again on a fresh socket (the old
 * one still holds the rest of the interrupted answer), up to DUMP_TRIES times.
 */
static int dump(cm_hostcall *c, struct nl *nl, uint16_t type, int family, msg_fn fn, void *ud, cJSON *arr,
                const char *what)
{
    static char buf[MSGSZ] __attribute__((aligned(8)));
    size_t size = type == RTM_GETLINK ? sizeof(struct ifinfomsg)
                  : type == RTM_GETADDR ? sizeof(struct ifaddrmsg)
                  : type == RTM_GETROUTE ? sizeof(struct rtmsg) : sizeof(struct ndmsg);
    for (int attempt = 1;; attempt++) {
        int had = cJSON_GetArraySize(arr);
        void *hdr;
        struct nlmsghdr *nlh = request(buf, type, NLM_F_DUMP, &hdr, size);
        *(unsigned char *)hdr = (unsigned char)family; /* every family header starts with it */
        int rc = transact(c, nl, nlh, fn, ud, what);
        if (rc == 0 || c->err != EINTR || c->code)
            return rc;
        if (attempt == DUMP_TRIES)
            return cm_hostcall_fail(c, EINTR, "%s: the kernel's answer changed under it %d times running", what,
                                    DUMP_TRIES);
        while (cJSON_GetArraySize(arr) > had)
            cJSON_DeleteItemFromArray(arr, had);
        nl_close(nl);
        if (nl_open(c, nl, what) != 0)
            return -1;
        c->err = 0;
        c->msg[0] = '\0';
    }
}

/* The links, in the shape of hostops.h, over an open socket. */
static int links_on(cm_hostcall *c, struct nl *nl, cJSON **out)
{
    cJSON *arr = cJSON_CreateArray();
    if (dump(c, nl, RTM_GETLINK, AF_UNSPEC, link_cb, arr, arr, "link list") != 0) {
        cJSON_Delete(arr);
        return -1;
    }
    resolve_names(arr);
    *out = arr;
    return 0;
}

int cm_nl_links(cm_hostcall *c, cJSON **out)
{
    struct nl nl = {0};
    if (nl_open(c, &nl, "link list") != 0)
        return -1;
    int rc = links_on(c, &nl, out);
    nl_close(&nl);
    return rc;
}

/* The index of the link called name (ENODEV when there is none). */
static int ifindex(cm_hostcall *c, struct nl *nl, const char *name, const char *what)
{
    cJSON *links;
    if (links_on(c, nl, &links) != 0)
        return -1;
    const cJSON *l;
    int index = 0;
    cJSON_ArrayForEach(l, links)
    {
        if (jstr(l, "name") && strcmp(jstr(l, "name"), name) == 0)
            index = cJSON_GetObjectItemCaseSensitive(l, "index")->valueint;
    }
    cJSON_Delete(links);
    if (!index)
        return cm_hostcall_fail(c, ENODEV, "%s: no link %s", what, name);
    return index;
}

/* The VXLAN attributes of a new link. */
static int put_vxlan(cm_hostcall *c, struct nl *nl, struct nlmsghdr *nlh, const cJSON *vx, const char *what)
{
    double v;
    if (!jhas_num(vx, "id", &v) || v < 0 || v > 16777215)
        return cm_hostcall_fail(c, EINVAL, "%s: vxlan.id: expected a VNI from 0 to 16777215", what);
    mnl_attr_put_u32(nlh, IFLA_VXLAN_ID, (uint32_t)v);
    if (jhas_num(vx, "port", &v))
        mnl_attr_put_u16(nlh, IFLA_VXLAN_PORT, htons((uint16_t)v));
    unsigned char a[16];
    const char *local = jstr(vx, "local");
    int fam = parse_addr(local, a);
    if (local && !fam)
        return cm_hostcall_fail(c, EINVAL, "%s: vxlan.local: not an address: %s", what, local);
    if (fam == AF_INET)
        mnl_attr_put(nlh, IFLA_VXLAN_LOCAL, 4, a);
    else if (fam == AF_INET6)
        mnl_attr_put(nlh, IFLA_VXLAN_LOCAL6, 16, a);
    if (jstr(vx, "dev")) {
        int idx = ifindex(c, nl, jstr(vx, "dev"), what);
        if (idx < 0)
            return -1;
        mnl_attr_put_u32(nlh, IFLA_VXLAN_LINK, (uint32_t)idx);
    }
    const cJSON *learning = cJSON_GetObjectItemCaseSensitive(vx, "learning");
    if (cJSON_IsBool(learning))
        mnl_attr_put_u8(nlh, IFLA_VXLAN_LEARNING, cJSON_IsTrue(learning));
    return 0;
}

int cm_nl_link_add(cm_hostcall *c, const cJSON *link)
{
    static char buf[MSGSZ] __attribute__((aligned(8)));
    const char *name = jstr(link, "name"), *kind = jstr(link, "kind");
    char what[96];
    snprintf(what, sizeof what, "link add %s", name ? name : "?");
    if (!name || !kind)
        return cm_hostcall_fail(c, EINVAL, "%s: a link needs a name and a kind", what);
    struct nl nl = {0};
    if (nl_open(c, &nl, what) != 0)
        return -1;
    struct ifinfomsg *ifi;
    struct nlmsghdr *nlh = request(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, (void **)&ifi, sizeof *ifi);
    ifi->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    double mtu;
    if (jhas_num(link, "mtu", &mtu))
        mnl_attr_put_u32(nlh, IFLA_MTU, (uint32_t)mtu);
    unsigned char mac[6];
    if (jstr(link, "mac") && !parse_mac(jstr(link, "mac"), mac)) {
        nl_close(&nl);
        return cm_hostcall_fail(c, EINVAL, "%s: mac: not a MAC address: %s", what, jstr(link, "mac"));
    }
    if (jstr(link, "mac"))
        mnl_attr_put(nlh, IFLA_ADDRESS, 6, mac);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(link, "up")))
        ifi->ifi_flags = ifi->ifi_change = IFF_UP;
    struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, kind);
    int rc = 0;
    if (strcmp(kind, "vxlan") == 0) {
        struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
        const cJSON *vx = cJSON_GetObjectItemCaseSensitive(link, "vxlan");
        rc = vx ? put_vxlan(c, &nl, nlh, vx, what) : cm_hostcall_fail(c, EINVAL, "%s: a vxlan link needs vxlan = {id = ...}", what);
        mnl_attr_nest_end(nlh, data);
    } else if (strcmp(kind, "veth") == 0) {
        const char *peer = jstr(link, "peer");
        struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
        struct nlattr *p = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
        struct ifinfomsg *pifi = mnl_nlmsg_put_extra_header(nlh, sizeof *pifi);
        memset(pifi, 0, sizeof *pifi);
        if (peer)
            mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
        mnl_attr_nest_end(nlh, p);
        mnl_attr_nest_end(nlh, data);
    }
    mnl_attr_nest_end(nlh, info);
    if (rc == 0)
        rc = transact(c, &nl, nlh, NULL, NULL, what);
    nl_close(&nl);
    return rc;
}

int cm_nl_link_del(cm_hostcall *c, const char *name)
{
    static char buf[MSGSZ] __attribute__((aligned(8)));
    char what[96];
    snprintf(what, sizeof what, "link del %s", name);
    struct nl nl = {0};
    if (nl_open(c, &nl, what) != 0)
        return -1;
    struct ifinfomsg *ifi;
    struct nlmsghdr *nlh = request(buf, RTM_DELLINK, NLM_F_ACK, (void **)&ifi, sizeof *ifi);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    int rc = transact(c, &nl, nlh, NULL, NULL, what);
    nl_close(&nl);
    return rc;
}

int cm_nl_link_set(cm_hostcall *c, const char *name, const cJSON *set)
{
    static char buf[MSGSZ] __attribute__((aligned(8)));
    char what[96];
    snprintf(what, sizeof what, "link set %s", name);
    struct nl nl = {0};
    if (nl_open(c, &nl, what) != 0)
        return -1;
    int index = ifindex(c, &nl, name, what);
    int master = 0;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(set, "master");
    if (index > 0 && cJSON_IsString(m) && m->valuestring[0])
        master = ifindex(c, &nl, m->valuestring, what);
    if (index < 0 || master < 0) {
        nl_close(&nl);
        return -1;
    }
    struct ifinfomsg *ifi;
    struct nlmsghdr *nlh = request(buf, RTM_NEWLINK, NLM_F_ACK, (void **)&ifi, sizeof *ifi);
    ifi->ifi_index = index;
    const cJSON *up = cJSON_GetObjectItemCaseSensitive(set, "up");
    if (cJSON_IsBool(up)) {
        ifi->ifi_change = IFF_UP;
        ifi->ifi_flags = cJSON_IsTrue(up) ? IFF_UP : 0;
    }
    double mtu;
    if (jhas_num(set, "mtu", &mtu))
        mnl_attr_put_u32(nlh, IFLA_MTU, (uint32_t)mtu);
    if (m)
        mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master); /* "" or false: no master */
    int rc = transact(c, &nl, nlh, NULL, NULL, what);
    nl_close(&nl);
    return rc;
}

/* ---- addresses ---- */

struct addr_ud {
    cJSON *arr, *links;
};

static int addr_cb(const struct nlmsghdr *nlh, void *ud)
{
    struct addr_ud *u = ud;
    const struct ifaddrmsg *ifa = family_header(nlh, sizeof *ifa);
    if (!ifa)
        return MNL_CB_ERROR;
    struct attrs a;
    parse_attrs(NULL, nlh, sizeof *ifa, &a, IFA_MAX);
    const struct nlattr *at = a.tb[IFA_LOCAL] ? a.tb[IFA_LOCAL] : a.tb[IFA_ADDRESS];
    char text[INET6_ADDRSTRLEN], cidr[64];
    if (!attr_ip(at, ifa->ifa_family, text))
        return MNL_CB_OK;
    snprintf(cidr, sizeof cidr, "%s/%u", text, ifa->ifa_prefixlen);
    cJSON *e = cJSON_CreateObject();
    const char *dev = name_of(u->links, ifa->ifa_index);
    cJSON_AddStringToObject(e, "dev", dev ? dev : "?");
    cJSON_AddStringToObject(e, "address", cidr);
    cJSON_AddStringToObject(e, "family", family_name(ifa->ifa_family));
    cJSON_AddItemToArray(u->arr, e);
    return MNL_CB_OK;
}

int cm_nl_addrs(cm_hostcall *c, cJSON **out)
{
    struct nl nl = {0};
    if (nl_open(c, &nl, "addr list") != 0)
        return -1;
    struct addr_ud u = {cJSON_CreateArray(), NULL};
    int rc = links_on(c, &nl, &u.links);
    if (rc == 0)
        rc = dump(c, &nl, RTM_GETADDR, AF_UNSPEC, addr_cb, &u, u.arr, "addr list");
    nl_close(&nl);
    cJSON_Delete(u.links);
    if (rc != 0) {
        cJSON_Delete(u.arr);
        return -1;
    }
    *out = u.arr;
    return 0;
}

static int addr_change(cm_hostcall *c, const char *dev, const char *cidr, int add)
{
    static char buf[MSGSZ] __attribute__((aligned(8)));
    char what[128];
    snprintf(what, sizeof what, "addr %s %s dev %s", add ? "add" : "del", cidr, dev);
    unsigned char a[16];
    int len, fam = parse_cidr(cidr, a, &len);
    if (!fam)
        return cm_hostcall_fail(c, EINVAL, "%s: not an address with a prefix length", what);
    struct nl nl = {0};
    if (nl_open(c, &nl, what) != 0)
        return -1;
    int index = ifindex(c, &nl, dev, what);
    if (index < 0) {
        nl_close(&nl);
        return -1;
    }
    struct ifaddrmsg *ifa;
    struct nlmsghdr *nlh = request(buf, add ? RTM_NEWADDR : RTM_DELADDR,
                                   NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0), (void **)&ifa, sizeof *ifa);
    ifa->ifa_family = (unsigned char)fam;
    ifa->ifa_prefixlen = (unsigned char)len;
    ifa->ifa_index = (unsigned)index;
    size_t n = fam == AF_INET ? 4 : 16;
    mnl_attr_put(nlh, IFA_LOCAL, n, a);
    mnl_attr_put(nlh, IFA_ADDRESS, n, a);
    int rc = transact(c, &nl, nlh, NULL, NULL, what);
    nl_close(&nl);
    return rc;
}

int cm_nl_addr_add(cm_hostcall *c, const char *dev, const char *cidr)
{
    return addr_change(c, dev, cidr, 1);
}

int cm_nl_addr_del(cm_hostcall *c, const char *dev, const char *cidr)
{
    return addr_change(c, dev, cidr, 0);
}

/* ---- routes ---- */

static const struct { int n; const char *name; } PROTOS[] = {
    {RTPROT_UNSPEC, "unspec"}, {RTPROT_REDIRECT, "redirect"}, {RTPROT_KERNEL, "kernel"},
    {RTPROT_BOOT, "boot"}, {RTPROT_STATIC, "static"}, {RTPROT_RA, "ra"}, {RTPROT_DHCP, "dhcp"},
    {RTPROT_BIRD, "bird"},
};
static const struct { int n; const char *name; } SCOPES[] = {
    {RT_SCOPE_UNIVERSE, "universe"}, {RT_SCOPE_SITE, "site"}, {RT_SCOPE_LINK, "link"},
    {RT_SCOPE_HOST, "host"}, {RT_SCOPE_NOWHERE, "nowhere"},
};
static const struct { int n; const char *name; } TYPES[] = {
    {RTN_UNICAST, "unicast"}, {RTN_LOCAL, "local"}, {RTN_BROADCAST, "broadcast"},
    {RTN_ANYCAST, "anycast"}, {RTN_MULTICAST, "multicast"}, {RTN_BLACKHOLE, "blackhole"},
    {RTN_UNREACHABLE, "unreachable"}, {RTN_PROHIBIT, "prohibit"}, {RTN_THROW, "throw"},
};
struct named {
    int n;
    const char *name;
};

/* The name of v in tab (n entries), or its number. */
static void name_in(const struct named *tab, size_t n, int v, char *buf, size_t size)
{
    for (size_t i = 0; i < n; i++)
        if (tab[i].n == v) {
            snprintf(buf, size, "%s", tab[i].name);
            return;
        }
    snprintf(buf, size, "%d", v);
}
#define FIND_NAME(tab, v, buf) name_in((const struct named *)(const void *)tab, sizeof tab / sizeof tab[0], (v), buf, sizeof buf)

/* A name or number of one of the tables above; -1 when it is neither. */
static int lookup(const char *s, int which)
{
    if (!s)
        return -1;
    char *end;
    long n = strtol(s, &end, 10);
    if (*s && !*end && n >= 0 && n <= 255)
        return (int)n;
#define LOOK(tab)                                                                                  \
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)                                        \
        if (strcmp(tab[i].name, s) == 0)                                                           \
            return tab[i].n;
    if (which == 0) {
        LOOK(PROTOS)
    } else if (which == 1) {
        LOOK(SCOPES)
    } else {
        LOOK(TYPES)
    }
#undef LOOK
    return -1;
}

static int table_number(const char *s)
{
    if (!s || strcmp(s, "main") == 0)
        return RT_TABLE_MAIN;
    if (strcmp(s, "local") == 0)
        return RT_TABLE_LOCAL;
    if (strcmp(s, "default") == 0)
        return RT_TABLE_DEFAULT;
    char *end;
    long n = strtol(s, &end, 10);
    return *s && !*end && n > 0 && n < 0x7fffffff ? (int)n : -1;
}

static int route_cb(const struct nlmsghdr *nlh, void *ud)
{
    struct addr_ud *u = ud;
    const struct rtmsg *rt = family_header(nlh, sizeof *rt);
    if (!rt)
        return MNL_CB_ERROR;
    if (rt->rtm_family != AF_INET && rt->rtm_family != AF_INET6)
        return MNL_CB_OK;
    struct attrs a;
    parse_attrs(NULL, nlh, sizeof *rt, &a, RTA_MAX);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "family", family_name(rt->rtm_family));
    char text[INET6_ADDRSTRLEN], buf[80];
    if (rt->rtm_dst_len == 0 || !a.tb[RTA_DST]) {
        cJSON_AddStringToObject(r, "dst", "default");
    } else if (attr_ip(a.tb[RTA_DST], rt->rtm_family, text)) {
        snprintf(buf, sizeof buf, "%s/%u", text, rt->rtm_dst_len);
        cJSON_AddStringToObject(r, "dst", buf);
    }
    if (attr_ip(a.tb[RTA_GATEWAY], rt->rtm_family, text))
        cJSON_AddStringToObject(r, "gateway", text);
    uint32_t v;
    if (attr_u32(a.tb[RTA_OIF], &v)) {
        const char *dev = name_of(u->links, v);
        if (dev)
            cJSON_AddStringToObject(r, "dev", dev);
    }
    if (rt->rtm_flags & RTNH_F_ONLINK)
        cJSON_AddTrueToObject(r, "onlink");
    FIND_NAME(SCOPES, rt->rtm_scope, buf);
    cJSON_AddStringToObject(r, "scope", buf);
    FIND_NAME(PROTOS, rt->rtm_protocol, buf);
    cJSON_AddStringToObject(r, "protocol", buf);
    if (attr_ip(a.tb[RTA_PREFSRC], rt->rtm_family, text))
        cJSON_AddStringToObject(r, "src", text);
    uint32_t table = rt->rtm_table;
    attr_u32(a.tb[RTA_TABLE], &table);
    if (table == RT_TABLE_MAIN)
        snprintf(buf, sizeof buf, "main");
    else if (table == RT_TABLE_LOCAL)
        snprintf(buf, sizeof buf, "local");
    else
        snprintf(buf, sizeof buf, "%u", table);
    cJSON_AddStringToObject(r, "table", buf);
    FIND_NAME(TYPES, rt->rtm_type, buf);
    cJSON_AddStringToObject(r, "type", buf);
    if (attr_u32(a.tb[RTA_PRIORITY], &v))
        cJSON_AddNumberToObject(r, "metric", v);
    cJSON_AddItemToArray(u->arr, r);
    return MNL_CB_OK;
}

int cm_nl_routes(cm_hostcall *c, cJSON **out)
{
    struct nl nl = {0};
    if (nl_open(c, &nl, "route list") != 0)
        return -1;
    struct addr_ud u = {cJSON_CreateArray(), NULL};
    int rc = links_on(c, &nl, &u.links);
    if (rc == 0)
        rc = dump(c, &nl, RTM_GETROUTE, AF_INET, route_cb, &u, u.arr, "route list");
    if (rc == 0)
        rc = dump(c, &nl, RTM_GETROUTE, AF_INET6, route_cb, &u, u.arr, "route list");
    nl_close(&nl);
    cJSON_Delete(u.links);
    if (rc != 0) {
        cJSON_Delete(u.arr);
        return -1;
    }
    *out = u.arr;
    return 0;
}

/* Builds an RTM_NEWROUTE/RTM_DELROUTE for route into buf. */
static int route_msg(cm_hostcall *c, struct nl *nl, char *buf, const cJSON *route, uint16_t type, uint16_t flags,
                     const char *what, struct nlmsghdr **out)
{
    const char *dst = jstr(route, "dst"), *gw = jstr(route, "gateway"), *dev = jstr(route, "dev");
    unsigned char d[16] = {0}, g[16];
    int len = 0, fam = 0;
    const char *family = jstr(route, "family");
    if (dst && strcmp(dst, "default") == 0)
        fam = family && strcmp(family, "inet6") == 0 ? AF_INET6 : AF_INET;
    else if (!(fam = parse_cidr(dst, d, &len)))
        return cm_hostcall_fail(c, EINVAL, "%s: dst: expected default or a CIDR", what);
    int gfam = gw ? parse_addr(gw, g) : fam;
    if (gfam != fam)
        return cm_hostcall_fail(c, EINVAL, "%s: gateway: not an address of the dst's family", what);
    int table = table_number(jstr(route, "table"));
    int proto = jstr(route, "protocol") ? lookup(jstr(route, "protocol"), 0) : (type == RTM_NEWROUTE ? RTPROT_BOOT : 0);
    int rtype = jstr(route, "type") ? lookup(jstr(route, "type"), 2) : RTN_UNICAST;
    int scope = jstr(route, "scope") ? lookup(jstr(route, "scope"), 1)
                : type == RTM_DELROUTE ? RT_SCOPE_NOWHERE
                : (gw || rtype != RTN_UNICAST) ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
    if (table < 0 || proto < 0 || rtype < 0 || scope < 0)
        return cm_hostcall_fail(c, EINVAL, "%s: bad table, protocol, type or scope", what);
    int oif = 0;
    if (dev && (oif = ifindex(c, nl, dev, what)) < 0)
        return -1;
    struct rtmsg *rt;
    struct nlmsghdr *nlh = request(buf, type, NLM_F_ACK | flags, (void **)&rt, sizeof *rt);
    rt->rtm_family = (unsigned char)fam;
    rt->rtm_dst_len = (unsigned char)len;
    rt->rtm_table = table < 256 ? (unsigned char)table : RT_TABLE_UNSPEC;
    rt->rtm_protocol = (unsigned char)proto;
    rt->rtm_scope = (unsigned char)scope;
    rt->rtm_type = (unsigned char)rtype;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(route, "onlink")))
        rt->rtm_flags |= RTNH_F_ONLINK;
    if (table >= 256)
        mnl_attr_put_u32(nlh, RTA_TABLE, (uint32_t)table);
    if (len)
        mnl_attr_put(nlh, RTA_DST, fam == AF_INET ? 4 : 16, d);
    if (gw)
        mnl_attr_put(nlh, RTA_GATEWAY, fam == AF_INET ? 4 : 16, g);
    if (oif)
        mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)oif);
    double metric;
    if (jhas_num(route, "metric", &metric))
        mnl_attr_put_u32(nlh, RTA_PRIORITY, (uint32_t)metric);
    unsigned char src[16];
    if (jstr(route, "src") && parse_addr(jstr(route, "src"), src) == fam && type == RTM_NEWROUTE)
        mnl_attr_put(nlh, RTA_PREFSRC, fam == AF_INET ? 4 : 16, src);
    *out = nlh;
    return 0;
}

static int route_change(cm_hostcall *c, const cJSON *route, uint16_t type, uint16_t flags, const char *verb)
{
    static char buf[MSGSZ] __attribute__((aligned(8)));
    char what[128];
    snprintf(what, sizeof what, "route %s %s", verb, jstr(route, "dst") ? jstr(route, "dst") : "?");
    struct nl nl = {0};
    if (nl_open(c, &nl, what) != 0)
        return -1;
    struct nlmsghdr *nlh = NULL;
    int rc = route_msg(c, &nl, buf, route, type, flags, what, &nlh);
    if (rc == 0)
        rc = transact(c, &nl, nlh, NULL, NULL, what);
    nl_close(&nl);
    return rc;
}

int cm_nl_route_add(cm_hostcall *c, const cJSON *route, int replace)
{
    return route_change(c, route, RTM_NEWROUTE, NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL),
                        replace ? "replace" : "add");
}

int cm_nl_route_del(cm_hostcall *c, const cJSON *route)
{
    return route_change(c, route, RTM_DELROUTE, 0, "del");
}

/* ---- neighbours and the bridge FDB ---- */

static const struct { int n; const char *name; } STATES[] = {
    {NUD_INCOMPLETE, "incomplete"}, {NUD_REACHABLE, "reachable"}, {NUD_STALE, "stale"},
    {NUD_DELAY, "delay"}, {NUD_PROBE, "probe"}, {NUD_FAILED, "failed"}, {NUD_NOARP, "noarp"},
    {NUD_PERMANENT, "permanent"}, {NUD_NONE, "none"},
};

struct neigh_ud {
    cJSON *arr, *links;
    int fdb;
};

static int neigh_cb(const struct nlmsghdr *nlh, void *ud)
{
    struct neigh_ud *u = ud;
    const struct ndmsg *nd = family_header(nlh, sizeof *nd);
    if (!nd)
        return MNL_CB_ERROR;
    if ((nd->ndm_family == AF_BRIDGE) != u->fdb)
        return MNL_CB_OK;
    struct attrs a;
    parse_attrs(NULL, nlh, sizeof *nd, &a, NDA_MAX);
    cJSON *e = cJSON_CreateObject();
    char text[INET6_ADDRSTRLEN], buf[64];
    const char *dev = name_of(u->links, nd->ndm_ifindex);
    if (a.tb[NDA_LLADDR]) {
        mac_text(mnl_attr_get_payload(a.tb[NDA_LLADDR]), mnl_attr_get_payload_len(a.tb[NDA_LLADDR]), buf, sizeof buf);
        cJSON_AddStringToObject(e, "lladdr", buf);
    }
    cJSON_AddStringToObject(e, "dev", dev ? dev : "?");
    if (attr_ip(a.tb[NDA_DST], AF_INET, text) || attr_ip(a.tb[NDA_DST], AF_INET6, text))
        cJSON_AddStringToObject(e, "dst", text);
    if (u->fdb) {
        if (nd->ndm_flags & NTF_SELF)
            cJSON_AddTrueToObject(e, "self");
        if (nd->ndm_flags & NTF_MASTER)
            cJSON_AddTrueToObject(e, "master");
        if (nd->ndm_state & NUD_PERMANENT)
            cJSON_AddTrueToObject(e, "permanent");
        uint16_t vlan;
        if (attr_u16(a.tb[NDA_VLAN], &vlan))
            cJSON_AddNumberToObject(e, "vlan", vlan);
    } else {
        cJSON_AddStringToObject(e, "family", family_name(nd->ndm_family));
        FIND_NAME(STATES, nd->ndm_state, buf);
        cJSON_AddStringToObject(e, "state", buf);
    }
    cJSON_AddItemToArray(u->arr, e);
    return MNL_CB_OK;
}

int cm_nl_neighs(cm_hostcall *c, int fdb, cJSON **out)
{
    const char *what = fdb ? "fdb list" : "neigh list";
    struct nl nl = {0};
    if (nl_open(c, &nl, what) != 0)
        return -1;
    struct neigh_ud u = {cJSON_CreateArray(), NULL, fdb};
    int rc = links_on(c, &nl, &u.links);
    if (rc == 0 && fdb)
        rc = dump(c, &nl, RTM_GETNEIGH, AF_BRIDGE, neigh_cb, &u, u.arr, what);
    if (rc == 0 && !fdb)
        rc = dump(c, &nl, RTM_GETNEIGH, AF_INET, neigh_cb, &u, u.arr, what);
    if (rc == 0 && !fdb)
        rc = dump(c, &nl, RTM_GETNEIGH, AF_INET6, neigh_cb, &u, u.arr, what);
    nl_close(&nl);
    cJSON_Delete(u.links);
    if (rc != 0) {
        cJSON_Delete(u.arr);
        return -1;
    }
    *out = u.arr;
    return 0;
}

static int neigh_change(cm_hostcall *c, int fdb, const cJSON *e, uint16_t type, uint16_t flags, const char *verb)
{
    static char buf[MSGSZ] __attribute__((aligned(8)));
    const char *dev = jstr(e, "dev"), *dst = jstr(e, "dst"), *ll = jstr(e, "lladdr");
    char what[128];
    snprintf(what, sizeof what, "%s %s %s dev %s", fdb ? "fdb" : "neigh", verb, fdb ? (ll ? ll : "?") : (dst ? dst : "?"),
             dev ? dev : "?");
    unsigned char d[16], mac[6];
    int fam = dst ? parse_addr(dst, d) : 0;
    if (!dev || (dst && !fam) || (!fdb && !fam) || (ll && !parse_mac(ll, mac)) || (fdb && !ll))
        return cm_hostcall_fail(c, EINVAL, "%s: needs dev, %s", what, fdb ? "lladdr (and dst)" : "dst (and lladdr)");
    struct nl nl = {0};
    if (nl_open(c, &nl, what) != 0)
        return -1;
    int index = ifindex(c, &nl, dev, what);
    if (index < 0) {
        nl_close(&nl);
        return -1;
    }
    struct ndmsg *nd;
    struct nlmsghdr *nlh = request(buf, type, NLM_F_ACK | flags, (void **)&nd, sizeof *nd);
    nd->ndm_family = fdb ? AF_BRIDGE : (unsigned char)fam;
    nd->ndm_ifindex = index;
    if (fdb)
        nd->ndm_flags = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "master")) ? NTF_MASTER : NTF_SELF;
    const char *state = jstr(e, "state");
    nd->ndm_state = (uint16_t)(type == RTM_DELNEIGH ? 0
                    : (fdb ? (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(e, "permanent")) ? NUD_REACHABLE : NUD_PERMANENT)
                           : (!state || strcmp(state, "permanent") == 0 ? NUD_PERMANENT
                              : strcmp(state, "noarp") == 0 ? NUD_NOARP : NUD_REACHABLE)));
    if (dst)
        mnl_attr_put(nlh, NDA_DST, fam == AF_INET ? 4 : 16, d);
    if (ll)
        mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
    double vlan;
    if (fdb && jhas_num(e, "vlan", &vlan))
        mnl_attr_put_u16(nlh, NDA_VLAN, (uint16_t)vlan);
    int rc = transact(c, &nl, nlh, NULL, NULL, what);
    nl_close(&nl);
    return rc;
}

int cm_nl_neigh_add(cm_hostcall *c, int fdb, const cJSON *entry, int replace)
{
    return neigh_change(c, fdb, entry, RTM_NEWNEIGH, NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL),
                        replace ? "replace" : "add");
}

int cm_nl_neigh_del(cm_hostcall *c, int fdb, const cJSON *entry)
{
    return neigh_change(c, fdb, entry, RTM_DELNEIGH, 0, "del");
}

/* ---- reading answers without a socket (nl_parse.h) ---- */

int cm_nl_read_dump(cm_hostcall *c, enum cm_nl_dump what, const void *buf, size_t len, const cJSON *links,
                    cJSON *out)
{
    static const msg_fn FNS[] = {link_cb, addr_cb, route_cb, neigh_cb, neigh_cb};
    struct addr_ud au = {out, (cJSON *)links};
    struct neigh_ud nu = {out, (cJSON *)links, what == CM_NL_FDB};
    struct answer a = {.fn = FNS[what], .ud = what == CM_NL_LINKS ? (void *)out : what < CM_NL_NEIGHS ? (void *)&au : &nu};
    int rc = read_answers(c, buf, len, 0, 0, &a, "netlink answer");
    if (what == CM_NL_LINKS)
        resolve_names(out);
    return rc;
}
