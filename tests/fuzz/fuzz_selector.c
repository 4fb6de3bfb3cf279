/* fuzz_selector.c - fuzz target: label and field selectors as the fake API server parses them
 * (the first line is the selector, for Pods' fields too; the rest a JSON object matched against). */
#include "json.h"
#include "kinds.h"
#include "select.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size);
    size_t n = nl ? (size_t)(nl - (const char *)data) : size;
    char *text = malloc(n + 1);
    memcpy(text, data, n);
    text[n] = '\0';
    cm_json_error jerr;
    cJSON *obj = nl ? cm_json_parse(nl + 1, size - n - 1, &jerr) : NULL;
    char err[512] = "";
    cm_selector *s = cm_label_selector_parse(text, err, sizeof err);
    if (!s && !err[0])
        abort();
    if (s && obj)
        cm_selector_match_labels(s, obj);
    cm_selector_free(s);
    static cm_kinds *kinds;
    if (!kinds)
        kinds = cm_kinds_new(); /* kept for the process: the built-in kinds */
    err[0] = '\0';
    s = cm_field_selector_parse(text, cm_kinds_by_kind(kinds, "v1", "Pod"), err, sizeof err);
    if (!s && !err[0])
        abort();
    if (s && obj)
        cm_selector_match_fields(s, obj);
    cm_selector_free(s);
    cJSON_Delete(obj);
    free(text);
    return 0;
}
