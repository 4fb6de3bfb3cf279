/* fuzz_patch.c - fuzz target: JSON merge patch and JSON patch (RFC 7386, RFC 6902) as the fake
 * API server applies them: the input is two JSON texts, the target and the patch, split at the
 * first NUL byte. */
#include "json.h"
#include "patch.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *cut = memchr(data, '\0', size);
    if (!cut)
        return 0;
    cm_json_error jerr;
    cJSON *target = cm_json_parse((const char *)data, (size_t)(cut - data), &jerr);
    cJSON *patch = cm_json_parse((const char *)cut + 1, size - (size_t)(cut - data) - 1, &jerr);
    if (target && patch) {
        cJSON *merged = cm_merge_patch(target, patch);
        cJSON_Delete(merged);
        char err[512] = "";
        int bad = 0;
        cJSON *out = cm_json_patch(target, patch, err, sizeof err, &bad);
        cJSON_Delete(out);
    }
    cJSON_Delete(target);
    cJSON_Delete(patch);
    return 0;
}
