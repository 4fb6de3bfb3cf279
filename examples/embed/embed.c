/*
 * embed.c - a C program embedding the cni-migrate runtime.
 *
 * usage: embed-example SCRIPT [ARGS...]
 *
 * Runs SCRIPT with the runtime, collecting its log lines through a sink of
 * its own (counted and printed with a prefix), then reports the result. The
 * library itself never prints or exits: everything below is this program's.
 */
#include <cnimigrate.h>

#include <stdio.h>

struct sink_state {
    int lines;
};

static void sink(void *ud, int level, const char *line)
{
    struct sink_state *st = ud;
    st->lines++;
    printf("[embed level=%d] %s\n", level, line);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s SCRIPT [ARGS...]\n", argv[0]);
        return 2;
    }
    cm_runtime *rt = cm_runtime_new();
    if (!rt)
        return 1;
    struct sink_state st = {0};
    cm_runtime_set_log_sink(rt, sink, &st);
    if (cm_runtime_set_option(rt, "log-format", "json") != CM_OK ||
        cm_runtime_set_option(rt, "timeout", "30s") != CM_OK) {
        fprintf(stderr, "option: %s\n", cm_runtime_last_error(rt));
        cm_runtime_free(rt);
        return 2;
    }
    int rc = cm_runtime_run_file(rt, argv[1], argc - 2, (const char *const *)argv + 2);
    printf("result=%d log_lines=%d version=%s\n", rc, st.lines, cm_runtime_version());
    if (rc != CM_OK)
        printf("error: %s\n", cm_runtime_last_error(rt));
    cm_runtime_free(rt);
    return rc;
}
