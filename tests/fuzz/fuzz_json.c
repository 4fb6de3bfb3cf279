/* fuzz_json.c - fuzz target: cm_json_parse, and printing back what it accepts. */
#include "json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cm_json_error err;
    cJSON *t = cm_json_parse((const char *)data, size, &err);
    if (!t) {
        if (err.offset > size || !err.reason)
            abort();
        return 0;
    }
    char *s = cJSON_PrintUnformatted(t);
    char *p = cm_json_print_pretty(t);
    if (s) { /* what we print must parse again to the same text */
        cJSON *again = cm_json_parse(s, strlen(s), &err);
        char *s2 = again ? cJSON_PrintUnformatted(again) : NULL;
        if (!s2 || strcmp(s, s2) != 0)
            abort();
        free(s2);
        cJSON_Delete(again);
    }
    free(s);
    free(p);
    cJSON_Delete(t);
    return 0;
}
