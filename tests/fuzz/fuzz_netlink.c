/* fuzz_netlink.c - fuzz target: cm_nl_read_dump, the kernel's answers to the dumps of nl.c (links,
 * addresses, routes, neighbours, the bridge FDB) and its errors with extended acks. The first byte
 * picks the dump; the rest is one datagram, read first as a link dump (whose names the others use)
 * and then as the dump picked. */
#include "nl_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum cm_nl_dump what = (enum cm_nl_dump)(data[0] % (CM_NL_FDB + 1));
    size_t len = size - 1;
    void *buf = malloc(len ? len : 1); /* aligned as recvfrom's buffer, exactly the datagram's size */
    memcpy(buf, data + 1, len);
    cm_hostcall c = {0};
    cJSON *links = cJSON_CreateArray(), *out = cJSON_CreateArray();
    int rc = cm_nl_read_dump(&c, CM_NL_LINKS, buf, len, NULL, links);
    if (rc < 0 && (!c.err || !c.msg[0]))
        abort(); /* a failure says why */
    memset(&c, 0, sizeof c);
    rc = cm_nl_read_dump(&c, what, buf, len, links, out);
    if (rc < 0 && (!c.err || !c.msg[0]))
        abort();
    char *text = cJSON_PrintUnformatted(out); /* every object prints */
    free(text);
    cJSON_Delete(links);
    cJSON_Delete(out);
    free(buf);
    return 0;
}
