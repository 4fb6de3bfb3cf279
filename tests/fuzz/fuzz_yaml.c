/* fuzz_yaml.c - fuzz target: cm_yaml_parse, and emitting back what it accepts. */
#include "yamldoc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Keeps the compact JSON of the one document read back. */
static int keep_doc(void *ud, cJSON *doc, int line)
{
    (void)line;
    char **slot = ud;
    if (*slot)
        abort(); /* one document emitted, one read back */
    *slot = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    return 0;
}

/* Whatever is read, emitted and read again is the same document. */
static int on_doc(void *ud, cJSON *doc, int line)
{
    (void)ud;
    if (line < 1)
        abort();
    size_t len;
    cm_yaml_error err;
    char *out = cm_yaml_emit((const cJSON *const *)&doc, 1, &len, &err);
    char *before = cJSON_PrintUnformatted(doc), *after = NULL;
    cm_yaml_opts again = {.document = keep_doc, .ud = &after};
    if (out && before && (cm_yaml_parse(out, len, &again, &err) != 0 || !after || strcmp(before, after) != 0))
        abort();
    free(before);
    free(after);
    free(out);
    cJSON_Delete(doc);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cm_yaml_opts opts = {.document = on_doc};
    cm_yaml_error err;
    if (cm_yaml_parse((const char *)data, size, &opts, &err) < 0 && err.message[0] == '\0')
        abort();
    return 0;
}
