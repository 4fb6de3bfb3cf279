/* test_yaml.c - YAML to cJSON as Kubernetes reads it, errors with positions, and back. */
#include "check.h"
#include "json.h"
#include "yamldoc.h"

#include <stdlib.h>

struct docs {
    char *json[8];
    int line[8];
    int n;
};

static int on_doc(void *ud, cJSON *doc, int line)
{
    struct docs *d = ud;
    if (d->n < 8) {
        d->json[d->n] = cJSON_PrintUnformatted(doc);
        d->line[d->n++] = line;
    }
    cJSON_Delete(doc);
    return 0;
}

static void free_docs(struct docs *d)
{
    for (int i = 0; i < d->n; i++)
        free(d->json[i]);
}

/* The single document of text as compact JSON, or the error as "L:C: msg". */
static char *one(const char *text, char *buf, size_t size)
{
    struct docs d = {0};
    cm_yaml_opts opts = {.document = on_doc, .ud = &d};
    cm_yaml_error err;
    if (cm_yaml_parse(text, strlen(text), &opts, &err) < 0)
        snprintf(buf, size, "%d:%d: %s", err.line, err.column, err.message);
    else
        snprintf(buf, size, "%s", d.n == 1 ? d.json[0] : "(not one document)");
    free_docs(&d);
    return buf;
}

#define CHECK_YAML(text, expected)          \
    do {                                    \
        char buf_[512];                     \
        CHECK_STR(one(text, buf_, sizeof buf_), expected); \
    } while (0)

static void test_scalar_typing(void)
{
    CHECK_YAML("a: true\nb: false\nc: null\nd: ~\ne:\nf: 42\ng: -7\nh: 1.5\ni: hello",
               "{\"a\":true,\"b\":false,\"c\":null,\"d\":null,\"e\":null,\"f\":42,\"g\":-7,\"h\":1.5,\"i\":\"hello\"}");
    CHECK_YAML("[yes, No, on, OFF, y, N, True, FALSE]", "[true,false,true,false,true,false,true,false]");
    CHECK_YAML("[0x1F, 0o17, 017, 0b101, 1_000, +5]", "[31,15,15,5,1000,5]");
    CHECK_YAML("[1.0, 1e3, .5, -2.5E-1]", "[1.0,1000.0,0.5,-0.25]");
    CHECK_YAML("['true', \"null\", '42', \"1.5\", '']", "[\"true\",\"null\",\"42\",\"1.5\",\"\"]");
    CHECK_YAML("[1.2.3, 0x, 12abc, 2024-01-01, 10.244.0.0/16]",
               "[\"1.2.3\",\"0x\",\"12abc\",\"2024-01-01\",\"10.244.0.0/16\"]");
    CHECK_YAML("n: 1764240000123456789", "{\"n\":1764240000123456789}");
    CHECK_YAML("[!!str 42, !!int \"7\", !!float 3, !!bool yes, !!null '']", "[\"42\",7,3.0,true,null]");
    CHECK_YAML("on: 1\n80: http", "{\"on\":1,\"80\":\"http\"}");
}

static void test_block_and_flow(void)
{
    CHECK_YAML("cfg: |\n  {\n    \"Network\": \"10.244.0.0/16\"\n  }\nfolded: >\n  a\n  b\n",
               "{\"cfg\":\"{\\n  \\\"Network\\\": \\\"10.244.0.0/16\\\"\\n}\\n\",\"folded\":\"a b\\n\"}");
    CHECK_YAML("{a: [1, {b: c}], d: []}", "{\"a\":[1,{\"b\":\"c\"}],\"d\":[]}");
    CHECK_YAML("a: {}\nb: []", "{\"a\":{},\"b\":[]}");
}

static void test_anchors_and_merge(void)
{
    CHECK_YAML("base: &b {x: 1, y: 2}\nuse: *b", "{\"base\":{\"x\":1,\"y\":2},\"use\":{\"x\":1,\"y\":2}}");
    CHECK_YAML("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3", "{\"base\":{\"x\":1,\"y\":2},\"m\":{\"y\":3,\"x\":1}}");
    CHECK_YAML("m:\n  <<: [{a: 1}, {a: 2, b: 2}]\n", "{\"m\":{\"a\":1,\"b\":2}}");
    CHECK_YAML("m:\n  <<: &in {a: 1}\nn: *in", "{\"m\":{\"a\":1},\"n\":{\"a\":1}}");
    CHECK_YAML("a: *nope", "1:4: unknown anchor 'nope' referenced");
}

static void test_errors(void)
{
    CHECK_YAML("a: 1\na: 2", "2:1: mapping key \"a\" already defined");
    CHECK_YAML("a: [1, 2\nb: 3", "2:2: did not find expected ',' or ']' while parsing a flow sequence");
    CHECK_YAML("a: b: c", "1:5: mapping values are not allowed in this context");
    CHECK_YAML("? [a]\n: 1", "1:3: mapping keys must be scalars");
    CHECK_YAML("m:\n  <<: 5", "2:3: map merge requires map or sequence of maps as the value");
    CHECK_YAML("a: !!int abc", "1:4: cannot read \"abc\" as the type its tag names");
}

static void test_multi_document(void)
{
    const char *text = "---\na: 1\n---\n---\n# only a comment\n---\nb: 2\n...\n";
    struct docs d = {0};
    cm_yaml_opts opts = {.document = on_doc, .ud = &d};
    cm_yaml_error err;
    CHECK_INT(cm_yaml_parse(text, strlen(text), &opts, &err), 0);
    CHECK_INT(d.n, 2);
    CHECK_STR(d.json[0], "{\"a\":1}");
    CHECK_STR(d.json[1], "{\"b\":2}");
    CHECK_INT(d.line[0], 2);
    CHECK_INT(d.line[1], 7);
    free_docs(&d);
}

/* Emits the JSON text as YAML and reads it back. */
static void check_emit(const char *json, const char *yaml)
{
    cm_json_error jerr;
    cJSON *doc = cm_json_parse(json, strlen(json), &jerr);
    size_t len;
    cm_yaml_error err;
    char *out = cm_yaml_emit((const cJSON *const *)&doc, 1, &len, &err);
    CHECK_STR(out, yaml);
    char buf[512];
    CHECK_STR(one(out ? out : "", buf, sizeof buf), json);
    free(out);
    cJSON_Delete(doc);
}

static void test_emit(void)
{
    check_emit("{\"a\":\"true\",\"b\":\"123\",\"c\":\"\",\"d\":\"plain text\",\"e\":[],\"f\":{}}",
               "a: \"true\"\nb: \"123\"\nc: \"\"\nd: plain text\ne: []\nf: {}\n");
    check_emit("{\"l\":[1,2.5,true,null],\"m\":\"line1\\nline2\\n\"}",
               "l:\n- 1\n- 2.5\n- true\n- null\nm: |\n  line1\n  line2\n");
    check_emit("{\"on\":\"off\",\"ip\":\"10.244.0.0/16\",\"sn\":1764240000123456789}",
               "\"on\": \"off\"\nip: 10.244.0.0/16\nsn: 1764240000123456789\n");
}

int main(void)
{
    RUN(test_scalar_typing);
    RUN(test_block_and_flow);
    RUN(test_anchors_and_merge);
    RUN(test_errors);
    RUN(test_multi_document);
    RUN(test_emit);
    return CHECK_DONE();
}
