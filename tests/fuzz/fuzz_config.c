/*
 * libFuzzer target for raftcrond's config file parser (confparseYaml, then confparseCheck) and
 * for the log line formatter fed the same bytes. Arbitrary input must never crash or leak, and:
 *   - a refused file gives RC_EPARSE with a message that names the file;
 *   - an accepted file leaves every string terminated inside its buffer, every list within its
 *     bound, every number and duration within the range its option allows, every origin line
 *     inside the input; parsing is deterministic (two parses give identical structs);
 *   - confparseCheck returns 0 or RC_EINVAL with a message;
 *   - a log line, in both formats, is at most LOGFMT_LINE_MAX bytes of valid UTF-8 with no
 *     control character but its final newline; JSON lines are braced.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/confparse.h"
#include "core/err.h"
#include "core/logfmt.h"

#include "fuzz_check.h"

#define TERMINATED(field) CHECK(memchr((field), '\0', sizeof(field)) != NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned countLines(const uint8_t *data, size_t size)
{
    unsigned lines = 1; /* an upper bound: libyaml also breaks lines at NEL, LS and PS */
    for (size_t i = 0; i < size; i++) {
        lines += data[i] == '\n' || data[i] == '\r' || data[i] == 0x85 ||
                 (data[i] == 0xA8 || data[i] == 0xA9);
    }
    return lines;
}

static void checkAccepted(const struct rc_config *c, unsigned lines)
{
    TERMINATED(c->raft_addr);
    TERMINATED(c->rpc_addr);
    TERMINATED(c->http_addr);
    TERMINATED(c->data_dir);
    TERMINATED(c->join);
    TERMINATED(c->auth_token);
    CHECK(c->n_join <= RC_CONF_JOIN_MAX);
    CHECK(c->n_tags <= RC_CONF_TAGS_MAX);
    unsigned commas = 0;
    for (const char *p = c->join; *p != '\0'; p++) {
        commas += *p == ',';
    }
    CHECK(c->n_join == (c->join[0] == '\0' ? 0 : commas + 1));
    for (unsigned i = 0; i < c->n_tags; i++) {
        TERMINATED(c->tags[i].key);
        TERMINATED(c->tags[i].value);
        CHECK(c->tags[i].key[0] != '\0');
    }
    CHECK(c->origin[CONF_ID].source == CONF_SOURCE_DEFAULT || c->id >= 1);
    CHECK(c->election_timeout_us >= 1000 && c->election_timeout_us <= INT64_C(3600000000));
    CHECK(c->heartbeat_timeout_us >= 1000 && c->heartbeat_timeout_us <= INT64_C(3600000000));
    CHECK(c->lookahead_us >= 0 && c->lookahead_us <= INT64_C(60000000));
    CHECK(c->worker_timeout_us >= 100000);
    CHECK(c->history_age_us >= 1000000);
    CHECK(c->max_parallel >= 1 && c->max_parallel <= 1024);
    CHECK(c->history_runs >= 1 && c->history_runs <= 1000000);
    CHECK(c->snapshot_threshold >= 1 && c->snapshot_threshold <= UINT32_MAX);
    CHECK(c->log_level <= RC_LOG_ERROR && c->log_format <= RC_LOG_JSON);
    for (int k = 0; k < CONF_N_KEYS; k++) {
        const struct conf_origin *o = &c->origin[k];
        CHECK(o->source == CONF_SOURCE_DEFAULT || o->source == CONF_SOURCE_FILE);
        CHECK(o->source == CONF_SOURCE_DEFAULT || (o->line >= 1 && o->line <= lines));
    }
}

static void fuzzYaml(const uint8_t *data, size_t size)
{
    static struct rc_config a, b;
    char err[RC_ERRMSG_SIZE] = "";
    confparseDefaults(&a);
    int rv = confparseYaml(&a, "fuzz.yaml", (const char *)data, size, err, sizeof err);
    if (rv != 0) {
        CHECK(rv == RC_EPARSE);
        CHECK(strncmp(err, "fuzz.yaml", 9) == 0);
        return;
    }
    checkAccepted(&a, countLines(data, size));
    confparseDefaults(&b);
    CHECK(confparseYaml(&b, "fuzz.yaml", (const char *)data, size, err, sizeof err) == 0);
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    err[0] = '\0';
    rv = confparseCheck(&a, err, sizeof err);
    CHECK(rv == 0 || (rv == RC_EINVAL && err[0] != '\0'));
}

/* Whole-line UTF-8 validity (RFC 3629), control characters and framing. */
static void checkLine(const char *line, size_t n, enum rc_log_format f)
{
    const unsigned char *s = (const unsigned char *)line;
    CHECK(n >= 2 && n <= LOGFMT_LINE_MAX && strlen(line) == n && s[n - 1] == '\n');
    for (size_t i = 0; i < n - 1;) {
        unsigned char c = s[i];
        CHECK(c >= 0x20);
        size_t k = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        CHECK(c < 0x80 || (c >= 0xC2 && c <= 0xF4));
        CHECK(i + k <= n - 1);
        for (size_t j = 1; j < k; j++) {
            CHECK((s[i + j] & 0xC0) == 0x80);
        }
        i += k;
    }
    if (f == RC_LOG_JSON) {
        CHECK(s[0] == '{' && s[n - 2] == '}');
    }
}

static void fuzzLogLine(const uint8_t *data, size_t size)
{
    static char text[2 * LOGFMT_LINE_MAX];
    static char line[LOGFMT_LINE_MAX + 1];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, n);
    text[n] = '\0';
    for (int f = RC_LOG_LOGFMT; f <= RC_LOG_JSON; f++) {
        const struct logfmt_context ctx = {(enum rc_log_format)f, 1, 2, text};
        size_t len = logfmtLine(line, sizeof line, &ctx, (int64_t)size * 1000003, RC_LOG_INFO, text,
                                text, "%s", text, "n", "%zu", size, NULL);
        checkLine(line, len, ctx.format);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > RC_CONF_FILE_MAX) {
        return 0;
    }
    fuzzYaml(data, size);
    fuzzLogLine(data, size);
    return 0;
}
