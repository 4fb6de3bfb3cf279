/* test_fields.c - fieldValidation: unknown and duplicate fields of built-in kinds (from the
 * protobuf table) and of custom kinds (from the CRD schema, x-kubernetes-preserve-unknown-fields,
 * additionalProperties, embedded resources), the Strict 400 and 422 bodies (golden), the Warn
 * warnings, Ignore, and what is stored (unknown fields dropped, the last duplicate kept). */
#include "check.h"
#include "fake.h"
#include "fields.h"
#include "json.h"

#include <stdlib.h>
#include <string.h>

static cm_loop *g_loop;

static const char FIXTURE[] =
    "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
    "metadata: {name: widgets.example.com}\n"
    "spec:\n  group: example.com\n  scope: Namespaced\n"
    "  names: {plural: widgets, singular: widget, kind: Widget}\n"
    "  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n"
    "        type: object\n        properties:\n"
    "          spec:\n            type: object\n            properties:\n"
    "              size: {type: integer}\n"
    "              free: {type: object, x-kubernetes-preserve-unknown-fields: true}\n"
    "              tags: {type: object, additionalProperties: {type: string}}\n"
    "              parts: {type: array, items: {type: object, properties: {name: {type: string}}}}\n"
    "              inner: {type: object, x-kubernetes-embedded-resource: true,\n"
    "                      properties: {data: {type: string}}}\n";

/* The response to one request; body and warnings owned by the caller (cm_fake_resp_clear). */
static cm_fake_resp call(cm_fake *f, const char *method, const char *path, const char *query,
                         const char *ctype, const char *body)
{
    cm_fake_req req = {.method = method, .path = path, .query = query, .content_type = ctype,
                       .body = body, .body_len = body ? strlen(body) : 0};
    cm_fake_resp resp;
    cm_fake_handle(f, &req, &resp);
    return resp;
}

static void expect(cm_fake *f, const char *method, const char *path, const char *query, const char *ctype,
                   const char *body, int status, const char *want_body, const char *want_warnings)
{
    cm_fake_resp r = call(f, method, path, query, ctype, body);
    CHECK_INT(r.status, status);
    if (want_body)
        CHECK_STR(r.body, want_body);
    if (want_warnings)
        CHECK_STR(r.warnings ? r.warnings : "", want_warnings);
    cm_fake_resp_clear(&r);
}

/* The stored object at path, printed. */
static char *stored(cm_fake *f, const char *path, const char *member)
{
    cm_fake_resp r = call(f, "GET", path, NULL, NULL, NULL);
    cm_json_error err;
    cJSON *o = cm_json_parse(r.body, r.body_len, &err);
    char *s = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(o, member));
    cJSON_Delete(o);
    cm_fake_resp_clear(&r);
    return s;
}

static cm_fake *new_fake(void)
{
    cm_fake *f = cm_fake_new(g_loop);
    char err[512];
    if (cm_fake_load(f, "fixture.yaml", FIXTURE, strlen(FIXTURE), err, sizeof err) != 0)
        fprintf(stderr, "fixture: %s\n", err);
    return f;
}

static const char CM_PATH[] = "/api/v1/namespaces/default/configmaps";
static const char DEP[] =
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\",\"labelz\":{}},"
    "\"spec\":{\"replicas\":1,\"replicas\":2,\"selector\":{\"matchLabels\":{\"a\":\"b\"}},\"template\":"
    "{\"metadata\":{\"labels\":{\"a\":\"b\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"},"
    "{\"name\":\"d\",\"image\":\"i\",\"imagePullPolicyy\":\"Always\",\"resources\":{\"limits\":{\"cpu\":\"1\","
    "\"cpu\":\"2\"}}}]}}}}";

static void test_builtin_strict(void)
{
    cm_fake *f = new_fake();
    expect(f, "POST", "/apis/apps/v1/namespaces/default/deployments", "fieldValidation=Strict",
           "application/json", DEP, 400,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":"
           "\"Deployment in version \\\"v1\\\" cannot be handled as a Deployment: strict decoding error: "
           "unknown field \\\"metadata.labelz\\\", duplicate field \\\"spec.replicas\\\", unknown field "
           "\\\"spec.template.spec.containers[1].imagePullPolicyy\\\", duplicate field "
           "\\\"spec.template.spec.containers[1].resources.limits.cpu\\\"\",\"reason\":\"BadRequest\",\"code\":400}",
           "");
    /* Warn (also the default): stored without the unknown fields, with the last duplicate */
    expect(f, "POST", "/apis/apps/v1/namespaces/default/deployments", "fieldValidation=Warn",
           "application/json", DEP, 201, NULL,
           "unknown field \"metadata.labelz\"\nduplicate field \"spec.replicas\"\n"
           "unknown field \"spec.template.spec.containers[1].imagePullPolicyy\"\n"
           "duplicate field \"spec.template.spec.containers[1].resources.limits.cpu\"");
    char *spec = stored(f, "/apis/apps/v1/namespaces/default/deployments/d", "spec");
    CHECK_STR(spec, "{\"replicas\":2,\"selector\":{\"matchLabels\":{\"a\":\"b\"}},\"template\":{\"metadata\":"
                    "{\"labels\":{\"a\":\"b\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"},"
                    "{\"name\":\"d\",\"image\":\"i\",\"resources\":{\"limits\":{\"cpu\":\"2\"}}}]}},"
                    "\"revisionHistoryLimit\":10,\"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":"
                    "{\"maxUnavailable\":\"25%\",\"maxSurge\":\"25%\"}},\"progressDeadlineSeconds\":600}");
    free(spec);
    /* Ignore: no warning, still dropped; a body without unknown fields: no warning either */
    expect(f, "POST", CM_PATH, "fieldValidation=Ignore", "application/json",
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"},\"x\":1}", 201, NULL, "");
    char *x = stored(f, "/api/v1/namespaces/default/configmaps/c", "x");
    CHECK(x == NULL);
    free(x);
    expect(f, "PUT", "/api/v1/namespaces/default/configmaps/c", NULL, "application/json",
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"},\"data\":{}}", 200, NULL, "");
    expect(f, "PUT", "/api/v1/namespaces/default/configmaps/c", "fieldValidation=Strict", "application/json",
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"ownerReferences\":"
           "[{\"kind\":\"X\",\"nme\":\"y\"}]}}", 400,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":"
           "\"ConfigMap in version \\\"v1\\\" cannot be handled as a ConfigMap: strict decoding error: "
           "unknown field \\\"metadata.ownerReferences[0].nme\\\"\",\"reason\":\"BadRequest\",\"code\":400}", NULL);
    cm_fake_free(f);
}

static void test_patch_strict(void)
{
    cm_fake *f = new_fake();
    expect(f, "POST", CM_PATH, NULL, "application/json",
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"uid\":\"u\"},"
           "\"data\":{\"b\":\"1\"}}", 201, NULL, "");
    /* merge: the patched object as the server encodes it (keys sorted, no managedFields) */
    cm_fake_resp r = call(f, "PATCH", "/api/v1/namespaces/default/configmaps/c", "fieldValidation=Strict",
                          "application/merge-patch+json", "{\"foo\":1}");
    CHECK_INT(r.status, 422);
    CHECK(r.body && strstr(r.body, "\"message\":\" \\\"\\\" is invalid: patch: Invalid value: \\\"{\\\\\\\"apiVersion"
                                   "\\\\\\\":\\\\\\\"v1\\\\\\\",\\\\\\\"data\\\\\\\":"
                                   "{\\\\\\\"b\\\\\\\":\\\\\\\"1\\\\\\\"},"
                                   "\\\\\\\"foo\\\\\\\":1,\\\\\\\"kind\\\\\\\""));
    CHECK(r.body && strstr(r.body, "}\\\": strict decoding error: unknown field \\\"foo\\\"\",\"reason\":\"Invalid\","
                                   "\"details\":{\"causes\":[{\"reason\":\"FieldValueInvalid\",\"message\":"
                                   "\"Invalid value: \\\"{"));
    CHECK(r.body && !strstr(r.body, "managedFields"));
    cm_fake_resp_clear(&r);
    /* strategic: the patch, as Go prints the map it decoded */
    expect(f, "PATCH", "/api/v1/namespaces/default/configmaps/c", "fieldValidation=Strict",
           "application/strategic-merge-patch+json",
           "{\"data\":{\"z\":\"3\"},\"foo\":{\"b\":1,\"a\":[1,\"x\",true,null]}}",
           422,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":"
           "\" \\\"\\\" is invalid: patch: Invalid value: \\\"map[data:map[z:3] foo:map[a:[1 x true <nil>] b:1]]\\\": "
           "strict decoding error: unknown field \\\"foo\\\"\",\"reason\":\"Invalid\",\"details\":{\"causes\":[{"
           "\"reason\":\"FieldValueInvalid\",\"message\":\"Invalid value: \\\"map[data:map[z:3] foo:map[a:[1 x true "
           "<nil>] b:1]]\\\": strict decoding error: unknown field \\\"foo\\\"\",\"field\":\"patch\"}]},\"code\":422}",
           NULL);
    /* the default, Warn: patched, warned, dropped */
    expect(f, "PATCH", "/api/v1/namespaces/default/configmaps/c", NULL, "application/merge-patch+json",
           "{\"foo\":1,\"data\":{\"c\":\"2\"}}", 200, NULL, "unknown field \"foo\"");
    char *data = stored(f, "/api/v1/namespaces/default/configmaps/c", "data");
    CHECK_STR(data, "{\"b\":\"1\",\"c\":\"2\"}");
    free(data);
    cm_fake_free(f);
}

static void test_custom(void)
{
    cm_fake *f = new_fake();
    const char *path = "/apis/example.com/v1/namespaces/default/widgets";
    static const char W[] =
        "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{\"name\":\"w\",\"labelz\":1},"
        "\"top\":1,\"spec\":{\"size\":1,\"colour\":\"red\",\"free\":{\"any\":{\"thing\":1}},"
        "\"tags\":{\"a\":\"b\",\"a\":\"c\"},\"parts\":[{\"name\":\"p\",\"weight\":2}],"
        "\"inner\":{\"apiVersion\":\"v1\",\"kind\":\"K\",\"metadata\":{},\"data\":\"d\",\"extra\":1}}}";
    expect(f, "POST", path, "fieldValidation=Strict", "application/json", W, 400,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":"
           "\"Widget in version \\\"v1\\\" cannot be handled as a Widget: strict decoding error: unknown field "
           "\\\"top\\\", unknown field \\\"spec.colour\\\", duplicate field \\\"spec.tags.a\\\", unknown field "
           "\\\"spec.parts[0].weight\\\", unknown field \\\"spec.inner.extra\\\", unknown field "
           "\\\"metadata.labelz\\\"\",\"reason\":\"BadRequest\",\"code\":400}",
           "");
    expect(f, "POST", path, "fieldValidation=Ignore", "application/json", W, 201, NULL, "");
    char *spec = stored(f, "/apis/example.com/v1/namespaces/default/widgets/w", "spec");
    CHECK_STR(spec, "{\"size\":1,\"free\":{\"any\":{\"thing\":1}},\"tags\":{\"a\":\"c\"},\"parts\":[{\"name\":\"p\"}],"
                    "\"inner\":{\"apiVersion\":\"v1\",\"kind\":\"K\",\"metadata\":{},\"data\":\"d\"}}");
    free(spec);
    cm_fake_free(f);
}

/* Protobuf bodies are not strictly decoded; kinds without a schema are not checked. */
static void test_unchecked(void)
{
    cm_fake *f = new_fake();
    expect(f, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", "fieldValidation=Strict",
           "application/json",
           "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
           "\"metadata\":{\"name\":\"gadgets.example.com\"},\"spec\":{\"group\":\"example.com\",\"scope\":"
           "\"Cluster\",\"names\":{\"plural\":\"gadgets\",\"kind\":\"Gadget\"},\"versions\":[{\"name\":\"v1\","
           "\"served\":true,\"storage\":true}]}}",
           201, NULL, "");
    expect(f, "POST", "/apis/example.com/v1/gadgets", "fieldValidation=Strict", "application/json",
           "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Gadget\",\"metadata\":{\"name\":\"g\"},\"any\":1}", 201,
           NULL, "");
    cm_fake_free(f);
}

int main(void)
{
    g_loop = cm_loop_new(CM_CLOCK_VIRTUAL, INT64_C(1764403200) * CM_NS_PER_S);
    RUN(test_builtin_strict);
    RUN(test_patch_strict);
    RUN(test_custom);
    RUN(test_unchecked);
    cm_loop_free(g_loop);
    return CHECK_DONE();
}
