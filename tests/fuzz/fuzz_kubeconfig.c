/* fuzz_kubeconfig.c - fuzz target: a kubeconfig file as cm_k8s_config_load reads it (the input
 * is written to a file, as --kubeconfig names one). */
#include "k8s_config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/fuzz-kubeconfig-%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    cm_k8s_config_opts o = {.kubeconfig = path, .env_kubeconfig = ""};
    cm_k8s_error err = {0};
    cm_k8s_config *cfg = cm_k8s_config_load(&o, &err);
    if (!cfg && !err.message[0])
        abort(); /* a refusal says why */
    cm_k8s_config_free(cfg);
    return 0;
}
