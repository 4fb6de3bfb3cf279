/* test_misc.c - durations, log line formatting and redaction, the bundled Lua. */
#include "bundled.h"
#include "check.h"
#include "duration.h"
#include "log.h"

#include <lauxlib.h>
#include <stdlib.h>

static void test_durations(void)
{
    CHECK_INT(cm_parse_duration("90"), INT64_C(90000000000));
    CHECK_INT(cm_parse_duration("1.5"), INT64_C(1500000000));
    CHECK_INT(cm_parse_duration("90s"), INT64_C(90000000000));
    CHECK_INT(cm_parse_duration("1h30m"), INT64_C(5400000000000));
    CHECK_INT(cm_parse_duration("2m30s"), INT64_C(150000000000));
    CHECK_INT(cm_parse_duration("250ms"), INT64_C(250000000));
    CHECK_INT(cm_parse_duration("0"), 0);
    CHECK_INT(cm_parse_duration(""), -1);
    CHECK_INT(cm_parse_duration("-5s"), -1);
    CHECK_INT(cm_parse_duration("5x"), -1);
    CHECK_INT(cm_parse_duration("1h5"), -1);
    CHECK_INT(cm_parse_duration("inf"), -1);
    CHECK_INT(cm_parse_duration("nan"), -1);
    CHECK_INT(cm_parse_duration("99999999999h"), -1);
}

static char last_line[512];

static void sink(void *ud, int level, const char *line)
{
    (void)ud;
    (void)level;
    snprintf(last_line, sizeof last_line, "%s", line);
}

static void test_log_lines(void)
{
    cm_logger lg = {.level = CM_LOG_INFO, .sink = sink};
    int64_t t = INT64_C(1796448800123000000); /* 2026-12-05T05:33:20.123Z */
    cm_log_field f[] = {
        {.key = "node", .value = "worker-1"},
        {.key = "pods", .value = "12", .is_json = 1},
        {.key = "why", .value = "two words"},
        {.key = "token", .value = "abc"},
        {.key = "hidden", .value = "xyz", .secret = 1},
    };
    last_line[0] = '\0';
    CHECK_INT(cm_log_write(&lg, CM_LOG_DEBUG, t, "not shown", NULL, 0), 0);
    CHECK_STR(last_line, "");
    cm_log_write(&lg, CM_LOG_INFO, t, "draining node", f, 5);
    CHECK_STR(last_line, "2026-12-05T05:33:20.123Z INFO  draining node node=worker-1 pods=12 "
                         "why=\"two words\" token=[redacted] hidden=[redacted]");
    lg.json = 1;
    cm_log_write(&lg, CM_LOG_WARN, t, "say \"hi\"", f, 5);
    CHECK_STR(last_line, "{\"time\":\"2026-12-05T05:33:20.123Z\",\"level\":\"warn\",\"msg\":\"say \\\"hi\\\"\","
                         "\"node\":\"worker-1\",\"pods\":12,\"why\":\"two words\",\"token\":\"[redacted]\","
                         "\"hidden\":\"[redacted]\"}");
    CHECK(cm_log_key_is_secret("client-key-data"));
    CHECK(cm_log_key_is_secret("Authorization"));
    CHECK(!cm_log_key_is_secret("node"));
    CHECK_INT(cm_log_level_from_name("warn"), CM_LOG_WARN);
    CHECK_INT(cm_log_level_from_name("loud"), -1);
}

/* Every bundled file compiles: the build embeds source, so syntax is checked here. */
static void test_bundled_compile(void)
{
    lua_State *L = luaL_newstate();
    int n = 0;
    for (const struct cm_bundled *b = cm_bundled_lua; b->path; b++, n++) {
        int rc = luaL_loadbufferx(L, (const char *)b->data, b->len, b->path, "t");
        if (rc != LUA_OK)
            fprintf(stderr, "%s: %s\n", b->path, lua_tostring(L, -1));
        CHECK_INT(rc, LUA_OK);
        lua_settop(L, 0);
    }
    CHECK(n > 0);
    lua_close(L);
}

int main(void)
{
    RUN(test_durations);
    RUN(test_log_lines);
    RUN(test_bundled_compile);
    return CHECK_DONE();
}
