/* test_validate.c - the metadata checks of every write, golden against the API server's 422s
 * (apimachinery's validation package, v1.32): names by kind, label keys and values, annotation
 * keys and their total size. */
#include "check.h"
#include "fake.h"

#include <stdlib.h>
#include <string.h>

static cm_loop *g_loop;

static void expect(cm_fake *f, const char *path, const char *body, const char *want)
{
    cm_fake_req req = {.method = "POST", .path = path, .content_type = "application/json", .body = body,
                       .body_len = strlen(body)};
    cm_fake_resp r;
    cm_fake_handle(f, &req, &r);
    CHECK_INT(r.status, strstr(want, "\"kind\":\"Status\"") ? 422 : 201);
    CHECK_STR(r.body, want);
    cm_fake_resp_clear(&r);
}

static void test_golden(void)
{
    cm_fake *f = cm_fake_new(g_loop);
    char err[256];
    CHECK_INT(cm_fake_load(f, "empty.yaml", "", 0, err, sizeof err), 0);
    /* label keys: no prefix, a bad prefix, two slashes, an empty prefix, an empty name */
    expect(f, "/api/v1/namespaces/default/configmaps",
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"labels\":{\"-ba"
           "d\":\"ok\",\"Bad_Prefix/x\":\"\",\"a/b/c\":\"v\",\"/x\":\"v\",\"example.com/\":\"v\"}}}",
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message"
           "\":\"ConfigMap \\\"c\\\" is invalid: [metadata.labels: Invalid value: \\\"-bad\\\": name par"
           "t must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an a"
           "lphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validatio"
           "n is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'), metadata.labels: Invalid value: \\\"Bad_Pr"
           "efix/x\\\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumer"
           "ic characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'exam"
           "ple.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9"
           "]*[a-z0-9])?)*'), metadata.labels: Invalid value: \\\"a/b/c\\\": a qualified name must consi"
           "st of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
           "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za"
           "-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'ex"
           "ample.com/MyName'), metadata.labels: Invalid value: \\\"/x\\\": prefix part must be non-empt"
           "y, metadata.labels: Invalid value: \\\"example.com/\\\": name part must be non-empty, metada"
           "ta.labels: Invalid value: \\\"example.com/\\\": name part must consist of alphanumeric chara"
           "cters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName'"
           ",  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?["
           "A-Za-z0-9]')]\",\"reason\":\"Invalid\",\"details\":{\"name\":\"c\",\"kind\":\"ConfigMap\",\""
           "causes\":[{\"reason\":\"FieldValueInvalid\",\"message\":\"Invalid value: \\\"-bad\\\": name "
           "part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with a"
           "n alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for valida"
           "tion is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')\",\"field\":\"metadata.labels\"},{\"reas"
           "on\":\"FieldValueInvalid\",\"message\":\"Invalid value: \\\"Bad_Prefix/x\\\": prefix part a "
           "lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.',"
           " and must start and end with an alphanumeric character (e.g. 'example.com', regex used for v"
           "alidation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')\",\"field"
           "\":\"metadata.labels\"},{\"reason\":\"FieldValueInvalid\",\"message\":\"Invalid value: \\\"a"
           "/b/c\\\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and mus"
           "t start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc',"
           " regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional D"
           "NS subdomain prefix and '/' (e.g. 'example.com/MyName')\",\"field\":\"metadata.labels\"},{\""
           "reason\":\"FieldValueInvalid\",\"message\":\"Invalid value: \\\"/x\\\": prefix part must be "
           "non-empty\",\"field\":\"metadata.labels\"},{\"reason\":\"FieldValueInvalid\",\"message\":\"I"
           "nvalid value: \\\"example.com/\\\": name part must be non-empty\",\"field\":\"metadata.label"
           "s\"},{\"reason\":\"FieldValueInvalid\",\"message\":\"Invalid value: \\\"example.com/\\\": na"
           "me part must consist of alphanumeric characters, '-', '_' or '.', and must start and end wit"
           "h an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for val"
           "idation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')\",\"field\":\"metadata.labels\"}]},\""
           "code\":422}");
    /* a key and a value too long, a value with a space */
    expect(f, "/api/v1/namespaces/default/configmaps",
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"labels\":{\"aaa"
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":\"aaaaaaaaaaaaaaaaaaaaaaaaaa"
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"k\":\"bad value\"}}}",
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message"
           "\":\"ConfigMap \\\"c\\\" is invalid: [metadata.labels: Invalid value: \\\"aaaaaaaaaaaaaaaaaa"
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\\\": name part must be no more than 63 charac"
           "ters, metadata.labels: Invalid value: \\\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
           "aaaaaaaaaaaaaa\\\": must be no more than 63 characters, metadata.labels: Invalid value: \\\""
           "bad value\\\": a valid label must be an empty string or consist of alphanumeric characters, "
           "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
           "'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z"
           "0-9])?')]\",\"reason\":\"Invalid\",\"details\":{\"name\":\"c\",\"kind\":\"ConfigMap\",\"caus"
           "es\":[{\"reason\":\"FieldValueInvalid\",\"message\":\"Invalid value: \\\"aaaaaaaaaaaaaaaaaaa"
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\\\": name part must be no more than 63 charact"
           "ers\",\"field\":\"metadata.labels\"},{\"reason\":\"FieldValueInvalid\",\"message\":\"Invalid"
           " value: \\\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\\\": must be no"
           " more than 63 characters\",\"field\":\"metadata.labels\"},{\"reason\":\"FieldValueInvalid\","
           "\"message\":\"Invalid value: \\\"bad value\\\": a valid label must be an empty string or con"
           "sist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeri"
           "c character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A"
           "-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')\",\"field\":\"metadata.labels\"}]},\"code\":422}");
    /* annotation keys: case does not matter, the key is shown as given */
    expect(f, "/api/v1/namespaces/default/configmaps",
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"annotations\":{"
           "\"Example.COM/Foo\":\"x\",\"bad key!\":\"y\"}}}",
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message"
           "\":\"ConfigMap \\\"c\\\" is invalid: metadata.annotations: Invalid value: \\\"bad key!\\\": "
           "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end w"
           "ith an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for v"
           "alidation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')\",\"reason\":\"Invalid\",\"details"
           "\":{\"name\":\"c\",\"kind\":\"ConfigMap\",\"causes\":[{\"reason\":\"FieldValueInvalid\",\"me"
           "ssage\":\"Invalid value: \\\"bad key!\\\": name part must consist of alphanumeric characters"
           ", '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or"
           " 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-"
           "z0-9]')\",\"field\":\"metadata.annotations\"}]},\"code\":422}");
    /* a namespace name is a DNS-1123 label */
    expect(f, "/api/v1/namespaces",
           "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"a.b\"}}",
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message"
           "\":\"Namespace \\\"a.b\\\" is invalid: metadata.name: Invalid value: \\\"a.b\\\": must not c"
           "ontain dots\",\"reason\":\"Invalid\",\"details\":{\"name\":\"a.b\",\"kind\":\"Namespace\",\""
           "causes\":[{\"reason\":\"FieldValueInvalid\",\"message\":\"Invalid value: \\\"a.b\\\": must n"
           "ot contain dots\",\"field\":\"metadata.name\"}]},\"code\":422}");
    /* a service name is a DNS-1035 label */
    expect(f, "/api/v1/namespaces/default/services",
           "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"1abc\"},\"spec\":{\"por"
           "ts\":[{\"port\":80}]}}",
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message"
           "\":\"Service \\\"1abc\\\" is invalid: metadata.name: Invalid value: \\\"1abc\\\": a DNS-1035"
           " label must consist of lower case alphanumeric characters or '-', start with an alphabetic c"
           "haracter, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used "
           "for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')\",\"reason\":\"Invalid\",\"details\":{\"name"
           "\":\"1abc\",\"kind\":\"Service\",\"causes\":[{\"reason\":\"FieldValueInvalid\",\"message\":"
           "\"Invalid value: \\\"1abc\\\": a DNS-1035 label must consist of lower case alphanumeric char"
           "acters or '-', start with an alphabetic character, and end with an alphanumeric character (e"
           ".g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')\","
           "\"field\":\"metadata.name\"}]},\"code\":422}");
    /* other names are DNS-1123 subdomains, of at most 253 characters */
    expect(f, "/api/v1/namespaces/default/configmaps",
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"aaaaaaaaaaaaaaaaaaaaa"
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}}",
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message"
           "\":\"ConfigMap \\\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\\"
           "\" is invalid: metadata.name: Invalid value: \\\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
           "aaaaaaaaaaaaaaaaaaaaaaaaaaa\\\": must be no more than 253 characters\",\"reason\":\"Invalid"
           "\",\"details\":{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
           "aaaaa\",\"kind\":\"ConfigMap\",\"causes\":[{\"reason\":\"FieldValueInvalid\",\"message\":\"I"
           "nvalid value: \\\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\\\""
           ": must be no more than 253 characters\",\"field\":\"metadata.name\"}]},\"code\":422}");
    cm_fake_free(f);
}

/* 256 KiB of annotation keys and values in all is allowed; one byte more is not. */
static void test_annotation_size(void)
{
    cm_fake *f = cm_fake_new(g_loop);
    char err[256];
    CHECK_INT(cm_fake_load(f, "empty.yaml", "", 0, err, sizeof err), 0);
    size_t n = 256 * 1024 - 1;
    char *body = malloc(n + 200);
    int k = sprintf(body, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\","
                          "\"annotations\":{\"a\":\"");
    memset(body + k, 'x', n);
    strcpy(body + k + n, "\",\"b\":\"\"}}}");
    cm_fake_req req = {.method = "POST", .path = "/api/v1/namespaces/default/configmaps",
                       .content_type = "application/json", .body = body, .body_len = strlen(body)};
    cm_fake_resp r;
    cm_fake_handle(f, &req, &r);
    CHECK_INT(r.status, 422);
    CHECK_STR(r.body, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
                      "\"message\":\"ConfigMap \\\"c\\\" is invalid: metadata.annotations: Too long: may not be more "
                      "than 262144 bytes\",\"reason\":\"Invalid\",\"details\":{\"name\":\"c\",\"kind\":\"ConfigMap\","
                      "\"causes\":[{\"reason\":\"FieldValueTooLong\",\"message\":\"Too long: may not be more than "
                      "262144 bytes\",\"field\":\"metadata.annotations\"}]},\"code\":422}");
    cm_fake_resp_clear(&r);
    strcpy(body + k + n, "\"}}}"); /* without "b": exactly the limit */
    req.body_len = strlen(body);
    cm_fake_handle(f, &req, &r);
    CHECK_INT(r.status, 201);
    cm_fake_resp_clear(&r);
    free(body);
    cm_fake_free(f);
}

int main(void)
{
    g_loop = cm_loop_new(CM_CLOCK_VIRTUAL, INT64_C(1764403200) * CM_NS_PER_S);
    RUN(test_golden);
    RUN(test_annotation_size);
    cm_loop_free(g_loop);
    return CHECK_DONE();
}
