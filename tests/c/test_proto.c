/* test_proto.c - Kubernetes protobuf request bodies, decoded (proto.c): bodies kubectl v1.32
 * sent for its typed generators, golden against the JSON the same command sends as JSON;
 * malformed bodies; the schema table itself. */
#include "check.h"
#include "proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Decodes a body given in hex; the JSON printed, or "ERR[415|400]: why" (caller frees). */
static char *decode_hex(const char *hex)
{
    size_t n = strlen(hex) / 2;
    uint8_t *body = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        body[i] = (uint8_t)v;
    }
    char err[300], *out;
    int unsupported = -1;
    cJSON *obj = cm_proto_decode(body, n, &unsupported, err, sizeof err);
    free(body);
    if (obj) {
        out = cJSON_PrintUnformatted(obj);
        cJSON_Delete(obj);
        return out;
    }
    out = malloc(strlen(err) + 16);
    sprintf(out, "ERR%d: %s", unsupported ? 415 : 400, err);
    return out;
}

#define CHECK_DECODES(hex, json)        \
    do {                                \
        char *s_ = decode_hex(hex);     \
        CHECK_STR(s_, json);            \
        free(s_);                       \
    } while (0)

static void test_generators(void)
{
    /* kubectl create namespace foo */
    CHECK_DECODES("6b3873000a0f0a02763112094e616d657370616365121b0a130a03666f6f12001a0022002a0032003800420012001a02"
                  "0a001a002200",
                  "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"foo\",\"creationTimestam"
                  "p\":null},\"spec\":{},\"status\":{}}");
    /* kubectl create configmap c --from-literal=a=b --from-literal=e= */
    CHECK_DECODES("6b3873000a0f0a0276311209436f6e6669674d617012220a110a016312001a0022002a0032003800420012060a016112"
                  "016212050a016512001a002200",
                  "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"creationTimestamp\""
                  ":null},\"data\":{\"a\":\"b\",\"e\":\"\"}}");
    /* kubectl create secret generic s --from-literal=k=v */
    CHECK_DECODES("6b3873000a0c0a0276311206536563726574121d0a110a017312001a0022002a0032003800420012060a016b1201761a"
                  "001a002200",
                  "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\",\"creationTimestamp\":nu"
                  "ll},\"data\":{\"k\":\"dg==\"}}");
    /* kubectl create pdb p --selector=app=x --min-available=50% */
    CHECK_DECODES("6b3873000a200a09706f6c6963792f76311213506f6444697372757074696f6e42756467657412380a110a017012001a"
                  "0022002a0032003800420012170a09080110001a03353025120a0a080a036170701201781a0a08001800200028003000"
                  "1a002200",
                  "{\"apiVersion\":\"policy/v1\",\"kind\":\"PodDisruptionBudget\",\"metadata\":{\"name\":\"p\",\"c"
                  "reationTimestamp\":null},\"spec\":{\"minAvailable\":\"50%\",\"selector\":{\"matchLabels\":{"
                  "\"app\":\"x\"}}},\"status\":{\"disruptionsAllowed\":0,\"currentHealthy\":0,\"desiredHealthy"
                  "\":0,\"expectedPods\":0}}");
    /* kubectl create service clusterip svc --tcp=80:8080 */
    CHECK_DECODES("6b3873000a0d0a02763112075365727669636512690a1f0a0373766312001a0022002a003200380042005a0a0a036170"
                  "70120373766312420a1b0a0738302d38303830120354435018502207080010903f1a002800120a0a0361707012037376"
                  "631a002209436c757374657249503a00420052005a00600068001a020a001a002200",
                  "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"svc\",\"creationTimestamp\""
                  ":null,\"labels\":{\"app\":\"svc\"}},\"spec\":{\"ports\":[{\"name\":\"80-8080\",\"protocol\":\"TCP"
                  "\",\"port\":80,\"targetPort\":8080}],\"selector\":{\"app\":\"svc\"},\"type\":\"ClusterIP\"},\"st"
                  "atus\":{\"loadBalancer\":{}}}");
    /* kubectl create deployment d --image=nginx --replicas=2 */
    CHECK_DECODES("6b3873000a150a07617070732f7631120a4465706c6f796d656e7412a3010a1b0a016412001a0022002a003200380042"
                  "005a080a0361707012016412760802120a0a080a036170701201641a5e0a1a0a0012001a0022002a003200380042005a"
                  "080a03617070120164124012220a056e67696e7812056e67696e782a0042006a007200800100880100900100a201001a"
                  "00320042004a0052005800600068008201008a01009a0100c2010022020a00280038001a0c0800100018002000280038"
                  "001a002200",
                  "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\",\"creationTime"
                  "stamp\":null,\"labels\":{\"app\":\"d\"}},\"spec\":{\"replicas\":2,\"selector\":{\"matchLabels\""
                  ":{\"app\":\"d\"}},\"template\":{\"metadata\":{\"creationTimestamp\":null,\"labels\":{\"app\":\""
                  "d\"}},\"spec\":{\"containers\":[{\"name\":\"nginx\",\"image\":\"nginx\",\"resources\":{}}]}},\"s"
                  "trategy\":{}},\"status\":{}}");
}

/* Scalars a pointer keeps at zero, a negative int32, MicroTime, an unknown field skipped. */
static void test_lease(void)
{
    CHECK_DECODES("6b3873000a1f0a16636f6f7264696e6174696f6e2e6b38732e696f2f763112054c6561736512290a030a016c12220a"
                  "016810001a0b0880d0aac906108094ef3a28ffffffffffffffffff019806013a00",
                  "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":{\"name\":\"l\","
                  "\"creationTimestamp\":null},\"spec\":{\"holderIdentity\":\"h\",\"leaseDurationSeconds\":0,"
                  "\"acquireTime\":\"2025-11-29T08:00:00.123456Z\",\"leaseTransitions\":-1,\"preferredHolder\":\"\"}}");
}

static void test_malformed(void)
{
    CHECK_DECODES("7b7d",
                  "ERR400: provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]");
    /* a kind the table lacks, a compressed body: 415 */
    CHECK_DECODES("6b3873000a150a09706f6c6963792f763112084576696374696f6e1200",
                  "ERR415: the fake API server cannot decode Eviction from protobuf; send it as application/json");
    CHECK_DECODES("6b3873000a1f0a16636f6f7264696e6174696f6e2e6b38732e696f2f763112054c6561736512290a030a016c12220a"
                  "016810001a0b0880d0aac906108094ef3a28ffffffffffffffffff019806013a001a04677a6970",
                  "ERR415: the fake API server cannot decode Lease from protobuf; send it as application/json");
    /* raw cut short; metadata sent as a varint */
    CHECK_DECODES("6b3873000a1f0a16636f6f7264696e6174696f6e2e6b38732e696f2f763112054c65617365120a0a01",
                  "ERR400: proto: illegal wire type or truncated runtime.Unknown");
    CHECK_DECODES("6b3873000a1f0a16636f6f7264696e6174696f6e2e6b38732e696f2f763112054c6561736512020805",
                  "ERR400: proto: illegal wire type or truncated message");
    CHECK(cm_proto_media("application/vnd.kubernetes.protobuf"));
    CHECK(cm_proto_media("application/vnd.kubernetes.protobuf; charset=x"));
    CHECK(!cm_proto_media("application/json"));
}

static void test_table(void)
{
    char err[256] = "";
    CHECK_INT(cm_proto_check(err, sizeof err), 0);
    CHECK_STR(err, "");
}

int main(void)
{
    RUN(test_table);
    RUN(test_generators);
    RUN(test_lease);
    RUN(test_malformed);
    return CHECK_DONE();
}
