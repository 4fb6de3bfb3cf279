/* fuzz_cni.c - fuzz target: cm_cnifile_parse, a node's CNI config as containerd and CRI-O read it. */
#include "cnifile.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512] = "";
    cJSON *conf = cm_cnifile_parse("10-x.conflist", (const char *)data, size, err, sizeof err);
    if (!conf && !err[0])
        abort(); /* a refusal says why */
    cJSON_Delete(conf);
    return 0;
}
