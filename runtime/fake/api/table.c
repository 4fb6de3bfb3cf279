/* table.c - server-side printing for `kubectl get` (see table.h). */
#define _DEFAULT_SOURCE /* timegm */
#include "table.h"

#include "json.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void (*cell_fn)(const cJSON *obj, int64_t now, char *buf, size_t size);

struct column {
    const char *name, *type, *format, *description;
    int priority;
    cell_fn cell;
};

static const char NAME_DESC[] =
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
static const char AGE_DESC[] =
    "CreationTimestamp is a timestamp representing the server time when this object was created. "
    "It is not guaranteed to be set in happens-before order across separate operations. Clients "
    "may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the "
    "system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

static const cJSON *at(const cJSON *obj, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = obj;
    for (char *save = NULL, *seg = strtok_r(buf, ".", &save); seg && cur;
         seg = strtok_r(NULL, ".", &save))
        cur = cJSON_GetObjectItemCaseSensitive(cur, seg);
    return cur;
}

static const char *str_at(const cJSON *obj, const char *path, const char *dflt)
{
    const cJSON *v = at(obj, path);
    return cJSON_IsString(v) ? v->valuestring : dflt;
}

static int64_t int_at(const cJSON *obj, const char *path)
{
    int64_t v = 0;
    return cm_json_int64(at(obj, path), &v) ? v : 0;
}

int64_t cm_parse_time(const char *s)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, sec;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    return (int64_t)timegm(&tm);
}

void cm_format_time(int64_t secs, char *buf, size_t size)
{
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void cm_human_duration(int64_t s, char *buf, size_t size)
{
    int64_t m = s / 60, h = s / 3600, d = h / 24;
    if (s < -1)
        snprintf(buf, size, "<invalid>");
    else if (s < 0)
        snprintf(buf, size, "0s");
    else if (s < 120)
        snprintf(buf, size, "%llds", (long long)s);
    else if (m < 10)
        snprintf(buf, size, s % 60 ? "%lldm%llds" : "%lldm", (long long)m, (long long)(s % 60));
    else if (m < 180)
        snprintf(buf, size, "%lldm", (long long)m);
    else if (h < 8)
        snprintf(buf, size, m % 60 ? "%lldh%lldm" : "%lldh", (long long)h, (long long)(m % 60));
    else if (h < 48)
        snprintf(buf, size, "%lldh", (long long)h);
    else if (h < 24 * 8)
        snprintf(buf, size, h % 24 ? "%lldd%lldh" : "%lldd", (long long)d, (long long)(h % 24));
    else if (h < 24 * 365 * 2)
        snprintf(buf, size, "%lldd", (long long)d);
    else if (h < 24 * 365 * 8)
        snprintf(buf, size, d % 365 ? "%lldy%lldd" : "%lldy", (long long)(d / 365),
                 (long long)(d % 365));
    else
        snprintf(buf, size, "%lldy", (long long)(d / 365));
}

static void c_name(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    snprintf(b, n, "%s", str_at(o, "metadata.name", ""));
}

static void c_age(const cJSON *o, int64_t now, char *b, size_t n)
{
    int64_t t = cm_parse_time(str_at(o, "metadata.creationTimestamp", NULL));
    if (t < 0)
        snprintf(b, n, "<unknown>");
    else
        cm_human_duration(now / 1000000000 - t, b, n);
}

static void c_created(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    snprintf(b, n, "%s", str_at(o, "metadata.creationTimestamp", ""));
}

/* ---- nodes ---- */

static void c_node_status(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    const char *ready = "Unknown";
    const cJSON *c;
    cJSON_ArrayForEach(c, at(o, "status.conditions"))
        if (strcmp(str_at(c, "type", ""), "Ready") == 0)
            ready = strcmp(str_at(c, "status", ""), "True") == 0 ? "Ready" : "NotReady";
    snprintf(b, n, "%s%s", ready, cJSON_IsTrue(at(o, "spec.unschedulable")) ? ",SchedulingDisabled" : "");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void c_node_roles(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    const char *roles[32];
    size_t nr = 0;
    const cJSON *l;
    cJSON_ArrayForEach(l, at(o, "metadata.labels")) {
        const char *p = "node-role.kubernetes.io/";
        if (strncmp(l->string, p, strlen(p)) == 0 && l->string[strlen(p)] && nr < 32)
            roles[nr++] = l->string + strlen(p);
        else if (strcmp(l->string, "kubernetes.io/role") == 0 && cJSON_IsString(l) && nr < 32)
            roles[nr++] = l->valuestring;
    }
    qsort(roles, nr, sizeof *roles, cmp_str);
    b[0] = '\0';
    for (size_t i = 0; i < nr; i++)
        snprintf(b + strlen(b), n - strlen(b), "%s%s", i ? "," : "", roles[i]);
    if (!nr)
        snprintf(b, n, "<none>");
}

static void node_address(const cJSON *o, const char *type, char *b, size_t n)
{
    const cJSON *a;
    cJSON_ArrayForEach(a, at(o, "status.addresses")) {
        if (strcmp(str_at(a, "type", ""), type) == 0) {
            snprintf(b, n, "%s", str_at(a, "address", ""));
            return;
        }
    }
    snprintf(b, n, "<none>");
}

static void c_node_iip(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    node_address(o, "InternalIP", b, n);
}

static void c_node_eip(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    node_address(o, "ExternalIP", b, n);
}

#define NODE_INFO(fn, field, dflt)                                          \
    static void fn(const cJSON *o, int64_t now, char *b, size_t n)          \
    {                                                                       \
        (void)now;                                                          \
        const char *v = str_at(o, "status.nodeInfo." field, "");            \
        snprintf(b, n, "%s", *v ? v : dflt);                                \
    }
NODE_INFO(c_node_version, "kubeletVersion", "")
NODE_INFO(c_node_os, "osImage", "<unknown>")
NODE_INFO(c_node_kernel, "kernelVersion", "<unknown>")
NODE_INFO(c_node_runtime, "containerRuntimeVersion", "<unknown>")

static const struct column NODE_COLS[] = {
    {"Name", "string", "name", NAME_DESC, 0, c_name},
    {"Status", "string", "", "The status of the node", 0, c_node_status},
    {"Roles", "string", "", "The roles of the node", 0, c_node_roles},
    {"Age", "string", "", AGE_DESC, 0, c_age},
    {"Version", "string", "", "Kubelet Version reported by the node.", 0, c_node_version},
    {"Internal-IP", "string", "", "List of addresses reachable to the node. Queried from cloud provider, if available.", 1, c_node_iip},
    {"External-IP", "string", "", "List of addresses reachable to the node. Queried from cloud provider, if available.", 1, c_node_eip},
    {"OS-Image", "string", "", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", 1, c_node_os},
    {"Kernel-Version", "string", "", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1, c_node_kernel},
    {"Container-Runtime", "string", "", "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).", 1, c_node_runtime},
    {NULL, NULL, NULL, NULL, 0, NULL}};

/* ---- pods ---- */

static void c_pod_ready(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    int ready = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, at(o, "status.containerStatuses"))
        ready += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "ready"));
    snprintf(b, n, "%d/%d", ready, cJSON_GetArraySize(at(o, "spec.containers")));
}

static void c_pod_status(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    const char *reason = str_at(o, "status.reason", str_at(o, "status.phase", "Unknown"));
    const cJSON *c;
    cJSON_ArrayForEach(c, at(o, "status.containerStatuses")) {
        const char *w = str_at(c, "state.waiting.reason", "");
        const char *t = str_at(c, "state.terminated.reason", "");
        if (*w)
            reason = w;
        else if (*t)
            reason = t;
    }
    if (at(o, "metadata.deletionTimestamp") && strcmp(reason, "NodeLost") != 0)
        reason = "Terminating";
    snprintf(b, n, "%s", reason);
}

static void c_pod_restarts(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    int64_t total = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, at(o, "status.containerStatuses"))
        total += int_at(c, "restartCount");
    snprintf(b, n, "%lld", (long long)total);
}

static void c_pod_ip(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    const char *v = str_at(o, "status.podIP", "");
    snprintf(b, n, "%s", *v ? v : "<none>");
}

static void c_pod_node(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    const char *v = str_at(o, "spec.nodeName", "");
    snprintf(b, n, "%s", *v ? v : "<none>");
}

static void c_pod_nominated(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    const char *v = str_at(o, "status.nominatedNodeName", "");
    snprintf(b, n, "%s", *v ? v : "<none>");
}

static void c_none(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)o;
    (void)now;
    snprintf(b, n, "<none>");
}

static const struct column POD_COLS[] = {
    {"Name", "string", "name", NAME_DESC, 0, c_name},
    {"Ready", "string", "", "The aggregate readiness state of this pod for accepting traffic.", 0, c_pod_ready},
    {"Status", "string", "", "The aggregate status of the containers in this pod.", 0, c_pod_status},
    {"Restarts", "string", "", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.", 0, c_pod_restarts},
    {"Age", "string", "", AGE_DESC, 0, c_age},
    {"IP", "string", "", "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.", 1, c_pod_ip},
    {"Node", "string", "", "NodeName is a request to schedule this pod onto a specific node. If it is non-empty, the scheduler simply schedules this pod onto that node, assuming that it fits resource requirements.", 1, c_pod_node},
    {"Nominated Node", "string", "", "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.", 1, c_pod_nominated},
    {"Readiness Gates", "string", "", "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates", 1, c_none},
    {NULL, NULL, NULL, NULL, 0, NULL}};

/* ---- namespaces, workloads, configmaps, PDBs ---- */

static void c_ns_status(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    snprintf(b, n, "%s", str_at(o, "status.phase", "Active"));
}

static const struct column NS_COLS[] = {
    {"Name", "string", "name", NAME_DESC, 0, c_name},
    {"Status", "string", "", "The status of the namespace", 0, c_ns_status},
    {"Age", "string", "", AGE_DESC, 0, c_age},
    {NULL, NULL, NULL, NULL, 0, NULL}};

#define INT_CELL(fn, path)                                          \
    static void fn(const cJSON *o, int64_t now, char *b, size_t n)  \
    {                                                               \
        (void)now;                                                  \
        snprintf(b, n, "%lld", (long long)int_at(o, path));         \
    }
INT_CELL(c_ds_desired, "status.desiredNumberScheduled")
INT_CELL(c_ds_current, "status.currentNumberScheduled")
INT_CELL(c_ds_ready, "status.numberReady")
INT_CELL(c_ds_updated, "status.updatedNumberScheduled")
INT_CELL(c_ds_available, "status.numberAvailable")
INT_CELL(c_deploy_updated, "status.updatedReplicas")
INT_CELL(c_deploy_available, "status.availableReplicas")
INT_CELL(c_pdb_allowed, "status.disruptionsAllowed")

static void c_ds_selector(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    b[0] = '\0';
    const cJSON *l;
    cJSON_ArrayForEach(l, at(o, "spec.template.spec.nodeSelector"))
        snprintf(b + strlen(b), n - strlen(b), "%s%s=%s", b[0] ? "," : "", l->string,
                 cJSON_IsString(l) ? l->valuestring : "");
    if (!b[0])
        snprintf(b, n, "<none>");
}

static void c_deploy_ready(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    const cJSON *r = at(o, "spec.replicas");
    snprintf(b, n, "%lld/%lld", (long long)int_at(o, "status.readyReplicas"),
             (long long)(r ? int_at(o, "spec.replicas") : 1));
}

static void c_cm_data(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    snprintf(b, n, "%d", cJSON_GetArraySize(at(o, "data")) + cJSON_GetArraySize(at(o, "binaryData")));
}

static void int_or_string(const cJSON *v, char *b, size_t n)
{
    if (cJSON_IsString(v))
        snprintf(b, n, "%s", v->valuestring);
    else if (cm_json_is_number(v))
        snprintf(b, n, "%d", v->valueint);
    else
        snprintf(b, n, "N/A");
}

static void c_pdb_min(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    int_or_string(at(o, "spec.minAvailable"), b, n);
}

static void c_pdb_max(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    int_or_string(at(o, "spec.maxUnavailable"), b, n);
}

static const struct column DS_COLS[] = {
    {"Name", "string", "name", NAME_DESC, 0, c_name},
    {"Desired", "integer", "", "The desired number of nodes that should be running the daemon pod.", 0, c_ds_desired},
    {"Current", "integer", "", "The number of nodes that are running at least 1 daemon pod.", 0, c_ds_current},
    {"Ready", "integer", "", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.", 0, c_ds_ready},
    {"Up-to-date", "integer", "", "The total number of nodes that are running updated daemon pod", 0, c_ds_updated},
    {"Available", "integer", "", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available.", 0, c_ds_available},
    {"Node Selector", "string", "", "NodeSelector is a selector which must be true for the pod to fit on a node.", 0, c_ds_selector},
    {"Age", "string", "", AGE_DESC, 0, c_age},
    {NULL, NULL, NULL, NULL, 0, NULL}};

static const struct column DEPLOY_COLS[] = {
    {"Name", "string", "name", NAME_DESC, 0, c_name},
    {"Ready", "string", "", "Number of the pod with ready state", 0, c_deploy_ready},
    {"Up-to-date", "string", "", "Total number of non-terminated pods targeted by this deployment that have the desired template spec.", 0, c_deploy_updated},
    {"Available", "string", "", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.", 0, c_deploy_available},
    {"Age", "string", "", AGE_DESC, 0, c_age},
    {NULL, NULL, NULL, NULL, 0, NULL}};

static const struct column CM_COLS[] = {
    {"Name", "string", "name", NAME_DESC, 0, c_name},
    {"Data", "string", "", "Data contains the configuration data.", 0, c_cm_data},
    {"Age", "string", "", AGE_DESC, 0, c_age},
    {NULL, NULL, NULL, NULL, 0, NULL}};

static const struct column PDB_COLS[] = {
    {"Name", "string", "name", NAME_DESC, 0, c_name},
    {"Min Available", "string", "", "The minimum number of pods that must be available", 0, c_pdb_min},
    {"Max Unavailable", "string", "", "The maximum number of pods that may be unavailable", 0, c_pdb_max},
    {"Allowed Disruptions", "integer", "", "Calculated number of pods that may be disrupted at this time", 0, c_pdb_allowed},
    {"Age", "string", "", AGE_DESC, 0, c_age},
    {NULL, NULL, NULL, NULL, 0, NULL}};

static void c_svc_type(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    snprintf(b, n, "%s", str_at(o, "spec.type", "ClusterIP"));
}

static void c_svc_cluster_ip(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    const char *v = str_at(o, "spec.clusterIP", "");
    snprintf(b, n, "%s", *v ? v : "<none>");
}

static void c_svc_external_ip(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    b[0] = '\0';
    const cJSON *ip;
    cJSON_ArrayForEach(ip, at(o, "spec.externalIPs"))
        if (cJSON_IsString(ip))
            snprintf(b + strlen(b), n - strlen(b), "%s%s", b[0] ? "," : "", ip->valuestring);
    cJSON_ArrayForEach(ip, at(o, "status.loadBalancer.ingress"))
        snprintf(b + strlen(b), n - strlen(b), "%s%s", b[0] ? "," : "", str_at(ip, "ip", str_at(ip, "hostname", "")));
    if (!b[0])
        snprintf(b, n, "%s", strcmp(str_at(o, "spec.type", ""), "LoadBalancer") == 0 ? "<pending>" : "<none>");
}

static void c_svc_ports(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    b[0] = '\0';
    const cJSON *p;
    cJSON_ArrayForEach(p, at(o, "spec.ports")) {
        int64_t node_port = int_at(p, "nodePort");
        snprintf(b + strlen(b), n - strlen(b), "%s%lld", b[0] ? "," : "", (long long)int_at(p, "port"));
        if (node_port)
            snprintf(b + strlen(b), n - strlen(b), ":%lld", (long long)node_port);
        snprintf(b + strlen(b), n - strlen(b), "/%s", str_at(p, "protocol", "TCP"));
    }
    if (!b[0])
        snprintf(b, n, "<none>");
}

static void c_svc_selector(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    b[0] = '\0';
    const cJSON *l;
    cJSON_ArrayForEach(l, at(o, "spec.selector"))
        snprintf(b + strlen(b), n - strlen(b), "%s%s=%s", b[0] ? "," : "", l->string,
                 cJSON_IsString(l) ? l->valuestring : "");
    if (!b[0])
        snprintf(b, n, "<none>");
}

static const struct column SVC_COLS[] = {
    {"Name", "string", "name", NAME_DESC, 0, c_name},
    {"Type", "string", "", "type determines how the Service is exposed.", 0, c_svc_type},
    {"Cluster-IP", "string", "", "clusterIP is the IP address of the service.", 0, c_svc_cluster_ip},
    {"External-IP", "string", "", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.", 0, c_svc_external_ip},
    {"Port(s)", "string", "", "The list of ports that are exposed by this service.", 0, c_svc_ports},
    {"Age", "string", "", AGE_DESC, 0, c_age},
    {"Selector", "string", "", "Route service traffic to pods with label keys and values matching this selector.", 1, c_svc_selector},
    {NULL, NULL, NULL, NULL, 0, NULL}};

/* ---- events (the API server's printEvent, wide: every cell) ---- */

/* HumanDuration since a time field, "<unknown>" when it is absent. */
static void since(const cJSON *o, const char *path, int64_t now, char *b, size_t n)
{
    int64_t t = cm_parse_time(str_at(o, path, NULL));
    if (t < 0)
        snprintf(b, n, "<unknown>");
    else
        cm_human_duration(now / 1000000000 - t, b, n);
}

static void c_ev_first(const cJSON *o, int64_t now, char *b, size_t n)
{
    since(o, at(o, "firstTimestamp") && !cJSON_IsNull(at(o, "firstTimestamp")) ? "firstTimestamp" : "eventTime",
          now, b, n);
}

static void c_ev_last(const cJSON *o, int64_t now, char *b, size_t n)
{
    if (at(o, "series.lastObservedTime"))
        since(o, "series.lastObservedTime", now, b, n);
    else if (cJSON_IsString(at(o, "lastTimestamp")))
        since(o, "lastTimestamp", now, b, n);
    else
        c_ev_first(o, now, b, n);
}

static void c_ev_type(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    snprintf(b, n, "%s", str_at(o, "type", ""));
}

static void c_ev_reason(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    snprintf(b, n, "%s", str_at(o, "reason", ""));
}

/* "node/worker-1": the kind in lower case, then the name when there is one. */
static void c_ev_object(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    const char *kind = str_at(o, "involvedObject.kind", ""), *name = str_at(o, "involvedObject.name", "");
    size_t i = 0;
    for (; kind[i] && i + 1 < n; i++)
        b[i] = (char)tolower((unsigned char)kind[i]);
    b[i] = '\0';
    if (*name)
        snprintf(b + i, n - i, "/%s", name);
}

static void c_ev_subobject(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    snprintf(b, n, "%s", str_at(o, "involvedObject.fieldPath", ""));
}

/* source.component (else reportingComponent), ", " and source.host (else reportingInstance) if any. */
static void c_ev_source(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    const char *c = str_at(o, "source.component", ""), *h = str_at(o, "source.host", "");
    if (!*c)
        c = str_at(o, "reportingComponent", "");
    if (!*h)
        h = str_at(o, "reportingInstance", "");
    snprintf(b, n, *h ? "%s, %s" : "%s", c, h);
}

/* The message without surrounding white space. */
static void c_ev_message(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    const char *m = str_at(o, "message", "");
    while (isspace((unsigned char)*m))
        m++;
    size_t len = strlen(m);
    while (len && isspace((unsigned char)m[len - 1]))
        len--;
    snprintf(b, n, "%.*s", (int)len, m);
}

static void c_ev_count(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    int64_t count = at(o, "series") ? int_at(o, "series.count") : int_at(o, "count");
    snprintf(b, n, "%lld", (long long)(count ? count : 1));
}

static const struct column EVENT_COLS[] = {
    {"Last Seen", "string", "", "The time at which the most recent occurrence of this event was recorded.", 0, c_ev_last},
    {"Type", "string", "", "Type of this event (Normal, Warning), new types could be added in the future", 0, c_ev_type},
    {"Reason", "string", "", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.", 0, c_ev_reason},
    {"Object", "string", "", "The object that this event is about.", 0, c_ev_object},
    {"Subobject", "string", "", "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.", 1, c_ev_subobject},
    {"Source", "string", "", "The component reporting this event. Should be a short machine understandable string.", 1, c_ev_source},
    {"Message", "string", "", "A human-readable description of the status of this operation.", 0, c_ev_message},
    {"First Seen", "string", "", "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)", 1, c_ev_first},
    {"Count", "string", "", "The number of times this event has occurred.", 1, c_ev_count},
    {"Name", "string", "name", NAME_DESC, 1, c_name},
    {NULL, NULL, NULL, NULL, 0, NULL}};

/* ---- jobs ---- */

static int has_cond(const cJSON *o, const char *type)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, at(o, "status.conditions"))
        if (strcmp(str_at(c, "type", ""), type) == 0 && strcmp(str_at(c, "status", ""), "True") == 0)
            return 1;
    return 0;
}

static void c_job_status(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    const char *st = has_cond(o, "Complete")                ? "Complete"
                     : has_cond(o, "Failed")                ? "Failed"
                     : at(o, "metadata.deletionTimestamp")  ? "Terminating"
                     : has_cond(o, "Suspended")             ? "Suspended"
                     : has_cond(o, "FailureTarget")         ? "FailureTarget"
                     : has_cond(o, "SuccessCriteriaMet")    ? "SuccessCriteriaMet"
                                                            : "Running";
    snprintf(b, n, "%s", st);
}

static void c_job_completions(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    long long done = (long long)int_at(o, "status.succeeded"), par = (long long)int_at(o, "spec.parallelism");
    if (at(o, "spec.completions"))
        snprintf(b, n, "%lld/%lld", done, (long long)int_at(o, "spec.completions"));
    else if (par > 1)
        snprintf(b, n, "%lld/1 of %lld", done, par);
    else
        snprintf(b, n, "%lld/1", done);
}

static void c_job_duration(const cJSON *o, int64_t now, char *b, size_t n)
{
    int64_t start = cm_parse_time(str_at(o, "status.startTime", NULL));
    int64_t end = cm_parse_time(str_at(o, "status.completionTime", NULL));
    b[0] = '\0';
    if (start >= 0)
        cm_human_duration((end >= 0 ? end : now / 1000000000) - start, b, n);
}

/* Each container of the pod template's name or image, joined by commas. */
static void template_containers(const cJSON *o, const char *field, char *b, size_t n)
{
    b[0] = '\0';
    const cJSON *c;
    cJSON_ArrayForEach(c, at(o, "spec.template.spec.containers"))
        snprintf(b + strlen(b), n - strlen(b), "%s%s", b[0] ? "," : "", str_at(c, field, ""));
}

static void c_job_containers(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    template_containers(o, "name", b, n);
}

static void c_job_images(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    template_containers(o, "image", b, n);
}

/* metav1.FormatLabelSelector: matchLabels as k=v, then the expressions; <none> without any. */
static void c_job_selector(const cJSON *o, int64_t now, char *b, size_t n)
{
    (void)now;
    b[0] = '\0';
    const cJSON *l;
    cJSON_ArrayForEach(l, at(o, "spec.selector.matchLabels"))
        snprintf(b + strlen(b), n - strlen(b), "%s%s=%s", b[0] ? "," : "", l->string,
                 cJSON_IsString(l) ? l->valuestring : "");
    cJSON_ArrayForEach(l, at(o, "spec.selector.matchExpressions")) {
        const char *op = str_at(l, "operator", ""), *key = str_at(l, "key", "");
        if (strcmp(op, "Exists") == 0 || strcmp(op, "DoesNotExist") == 0) {
            snprintf(b + strlen(b), n - strlen(b), "%s%s%s", b[0] ? "," : "", *op == 'D' ? "!" : "", key);
            continue;
        }
        snprintf(b + strlen(b), n - strlen(b), "%s%s %s (", b[0] ? "," : "", key, strcmp(op, "In") == 0 ? "in" : "notin");
        const cJSON *v;
        int first = 1;
        cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(l, "values")) {
            snprintf(b + strlen(b), n - strlen(b), "%s%s", first ? "" : ",", cJSON_IsString(v) ? v->valuestring : "");
            first = 0;
        }
        snprintf(b + strlen(b), n - strlen(b), ")");
    }
    if (!b[0])
        snprintf(b, n, "<none>");
}

static const struct column JOB_COLS[] = {
    {"Name", "string", "name", NAME_DESC, 0, c_name},
    {"Status", "string", "", "Status of the job.", 0, c_job_status},
    {"Completions", "string", "", "The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.", 0, c_job_completions},
    {"Duration", "string", "", "Time required to complete the job.", 0, c_job_duration},
    {"Age", "string", "", AGE_DESC, 0, c_age},
    {"Containers", "string", "", "Names of each container in the template.", 1, c_job_containers},
    {"Images", "string", "", "Images referenced by each container in the template.", 1, c_job_images},
    {"Selector", "string", "", "A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors", 1, c_job_selector},
    {NULL, NULL, NULL, NULL, 0, NULL}};

static const struct column DEFAULT_COLS[] = {
    {"Name", "string", "name", NAME_DESC, 0, c_name},
    {"Created At", "date", "", AGE_DESC, 0, c_created},
    {NULL, NULL, NULL, NULL, 0, NULL}};

static const struct column *columns_of(const cm_kind *k)
{
    static const struct { const char *group, *kind; const struct column *cols; } P[] = {
        {"", "Node", NODE_COLS}, {"", "Pod", POD_COLS}, {"", "Namespace", NS_COLS},
        {"", "ConfigMap", CM_COLS}, {"", "Service", SVC_COLS}, {"", "Event", EVENT_COLS}, {"apps", "DaemonSet", DS_COLS},
        {"apps", "Deployment", DEPLOY_COLS}, {"policy", "PodDisruptionBudget", PDB_COLS},
        {"batch", "Job", JOB_COLS}};
    for (size_t i = 0; i < sizeof P / sizeof P[0]; i++)
        if (strcmp(P[i].group, k->group) == 0 && strcmp(P[i].kind, k->kind) == 0)
            return P[i].cols;
    return DEFAULT_COLS;
}

cJSON *cm_table_new(const cm_kind *k)
{
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "kind", "Table");
    cJSON_AddStringToObject(t, "apiVersion", "meta.k8s.io/v1");
    cJSON_AddItemToObject(t, "metadata", cJSON_CreateObject());
    cJSON *defs = cJSON_AddArrayToObject(t, "columnDefinitions");
    for (const struct column *c = columns_of(k); c->name; c++) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "name", c->name);
        cJSON_AddStringToObject(d, "type", c->type);
        cJSON_AddStringToObject(d, "format", c->format);
        cJSON_AddStringToObject(d, "description", c->description);
        cJSON_AddNumberToObject(d, "priority", c->priority);
        cJSON_AddItemToArray(defs, d);
    }
    cJSON_AddArrayToObject(t, "rows");
    return t;
}

/* The row's object: PartialObjectMetadata, the whole object, or nothing. */
static cJSON *row_object(const cJSON *obj, enum cm_include include)
{
    if (include == CM_INCLUDE_OBJECT)
        return cJSON_Duplicate(obj, 1);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "kind", "PartialObjectMetadata");
    cJSON_AddStringToObject(p, "apiVersion", "meta.k8s.io/v1");
    cJSON_AddItemToObject(p, "metadata",
                          cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), 1));
    return p;
}

void cm_table_add_row(cJSON *table, const cm_kind *k, const cJSON *obj, int64_t now_wall_ns,
                      enum cm_include include)
{
    cJSON *row = cJSON_CreateObject();
    cJSON *cells = cJSON_AddArrayToObject(row, "cells");
    char buf[1024];
    for (const struct column *c = columns_of(k); c->name; c++) {
        c->cell(obj, now_wall_ns, buf, sizeof buf);
        if (strcmp(c->type, "integer") == 0)
            cJSON_AddItemToArray(cells, cJSON_CreateNumber(strtod(buf, NULL)));
        else
            cJSON_AddItemToArray(cells, cJSON_CreateString(buf));
    }
    if (include != CM_INCLUDE_NONE)
        cJSON_AddItemToObject(row, "object", row_object(obj, include));
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(table, "rows"), row);
}
