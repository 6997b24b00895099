#include "jobyaml.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "duration.h"
#include "err.h"
#include "fsm.h"
#include "jobs.h"
#include "policy.h"
#include "timefmt.h"
#include "trigger.h"

/* K_NONE is index 0 so that a zero "needs" means "needs nothing". */
enum key_id {
    K_NONE,
    K_NAME,
    K_NAMESPACE,
    K_DESCRIPTION,
    K_CRON,
    K_TZ,
    K_EVERY,
    K_AT,
    K_START,
    K_END,
    K_JITTER,
    K_DST_GAP,
    K_DST_REPEAT,
    K_ANCHOR,
    K_SHELL,
    K_WORKDIR,
    K_RLIMITS,
    K_NOOP,
    K_HTTP,
    K_METHOD,
    K_HEADER,
    K_BODY,
    K_EXPECT,
    K_FOLLOW_REDIRECTS,
    K_INSECURE,
    K_CA_FILE,
    K_SQL,
    K_DSN,
    K_CONN,
    K_ONCE,
    K_MISFIRE_GRACE,
    K_COALESCE,
    K_OVERLAP,
    K_MAX_INSTANCES,
    K_RETRIES,
    K_BACKOFF,
    K_RETRY_DELAY,
    K_RETRY_MULTIPLIER,
    K_RETRY_MAX_DELAY,
    K_RETRY_JITTER,
    K_TIMEOUT_RUN,
    K_TARGET,
    K_ENV,
    K_AT_MOST_ONCE,
    K_PAUSED,
    K_COUNT
};

enum kind {
    KIND_STR,
    KIND_DURATION,
    KIND_GRACE, /* a duration, or "none" for unlimited */
    KIND_TIME,
    KIND_UINT,
    KIND_BOOL,
    KIND_ENUM,
    KIND_REAL,
    KIND_PAIR, /* repeatable "key<sep>value" */
    KIND_CODE, /* repeatable HTTP status code */
};

enum group { GROUP_NONE, GROUP_TRIGGER, GROUP_EXECUTOR };

struct key_def {
    struct rc_jobkey pub;
    enum kind kind;
    enum group group;         /* the key picks the job's trigger or executor */
    enum key_id needs;        /* only valid together with this key */
    const char *const *names; /* KIND_ENUM: the accepted words, index = value; NULL-ended */
    uint32_t min, max;        /* KIND_UINT, KIND_CODE */
    char sep;                 /* KIND_PAIR */
};

static const char *const dst_gap_names[] = {"shift", "skip", NULL};
static const char *const dst_repeat_names[] = {"once", "both", NULL};
static const char *const backoff_names[] = {"fixed", "linear", "exponential", NULL};
#define OVERLAP_NAME(name, text) text,
static const char *const overlap_names[] = {RC_OVERLAP_MAP(OVERLAP_NAME) NULL};
#undef OVERLAP_NAME

#define POLICY_MAX_INSTANCES 1000
#define RETRIES_MAX          99

static const struct key_def keys[K_COUNT] = {
    [K_NAME] = {.pub = {"name", "NAME", "job name: 1-128 of [A-Za-z0-9._-]", false},
                .kind = KIND_STR},
    [K_NAMESPACE] = {.pub = {"namespace", "NS", "namespace (default \"default\")", false},
                     .kind = KIND_STR},
    [K_DESCRIPTION] = {.pub = {"description", "TEXT", "free text shown by job get", false},
                       .kind = KIND_STR},
    [K_CRON] = {.pub = {"cron", "EXPR", "cron expression (5 or 6 fields, @daily, @every D)", false},
                .kind = KIND_STR,
                .group = GROUP_TRIGGER},
    [K_TZ] = {.pub = {"tz", "ZONE", "IANA time zone of the cron expression (default UTC)", false},
              .kind = KIND_STR,
              .needs = K_CRON},
    [K_EVERY] = {.pub = {"every", "DURATION", "run every DURATION from the job's creation", false},
                 .kind = KIND_DURATION,
                 .group = GROUP_TRIGGER},
    [K_AT] = {.pub = {"at", "RFC3339", "run once at this instant", false},
              .kind = KIND_TIME,
              .group = GROUP_TRIGGER},
    [K_START] = {.pub = {"start", "RFC3339", "no run before this instant", false},
                 .kind = KIND_TIME},
    [K_END] = {.pub = {"end", "RFC3339", "no run after this instant", false}, .kind = KIND_TIME},
    [K_JITTER] = {.pub = {"jitter", "DURATION", "delay each run by up to DURATION", false},
                  .kind = KIND_DURATION},
    [K_DST_GAP] = {.pub = {"dst_gap", "shift|skip", "cron times in a spring-forward gap", false},
                   .kind = KIND_ENUM,
                   .needs = K_CRON,
                   .names = dst_gap_names},
    [K_DST_REPEAT] = {.pub = {"dst_repeat", "once|both", "cron times in a fall-back repeat", false},
                      .kind = KIND_ENUM,
                      .needs = K_CRON,
                      .names = dst_repeat_names},
    [K_ANCHOR] = {.pub = {"anchor", "RFC3339",
                          "instants of --every (or @every) are anchor + k * period "
                          "(default: the job's creation)",
                          false},
                  .kind = KIND_TIME},
    [K_SHELL] = {.pub = {"shell", "CMD", "run CMD with /bin/sh -c", false},
                 .kind = KIND_STR,
                 .group = GROUP_EXECUTOR},
    [K_WORKDIR] = {.pub = {"workdir", "DIR", "working directory of the shell command", false},
                   .kind = KIND_STR,
                   .needs = K_SHELL},
    [K_RLIMITS] = {.pub = {"rlimits", "NAME=VALUE,...",
                           "resource limits of the shell command: cpu, as, fsize, core, nofile, "
                           "nproc, stack (e.g. cpu=60s,as=1G)",
                           false},
                   .kind = KIND_STR,
                   .needs = K_SHELL},
    [K_NOOP] = {.pub = {"noop", NULL, "run nothing: record the start and succeed", false},
                .kind = KIND_BOOL,
                .group = GROUP_EXECUTOR},
    [K_HTTP] = {.pub = {"http", "URL", "send an HTTP request to URL", false},
                .kind = KIND_STR,
                .group = GROUP_EXECUTOR},
    [K_METHOD] = {.pub = {"method", "M", "HTTP method (default GET, or POST with a body)", false},
                  .kind = KIND_STR,
                  .needs = K_HTTP},
    [K_HEADER] = {.pub = {"header", "K:V", "HTTP request header (repeatable)", true},
                  .kind = KIND_PAIR,
                  .needs = K_HTTP,
                  .sep = ':'},
    [K_BODY] = {.pub = {"body", "B", "HTTP request body", false},
                .kind = KIND_STR,
                .needs = K_HTTP},
    [K_EXPECT] = {.pub = {"expect", "CODE", "HTTP status meaning success (repeatable; default 2xx)",
                          true},
                  .kind = KIND_CODE,
                  .needs = K_HTTP,
                  .min = 100,
                  .max = 599},
    [K_FOLLOW_REDIRECTS] = {.pub = {"follow_redirects", NULL, "follow 3xx answers (default off)",
                                    false},
                            .kind = KIND_BOOL,
                            .needs = K_HTTP},
    [K_INSECURE] = {.pub = {"insecure", NULL, "skip TLS certificate verification", false},
                    .kind = KIND_BOOL,
                    .needs = K_HTTP},
    [K_CA_FILE] = {.pub = {"ca_file", "FILE", "CA bundle on the worker for https", false},
                   .kind = KIND_STR,
                   .needs = K_HTTP},
    [K_SQL] = {.pub = {"sql", "STATEMENT", "run STATEMENT on PostgreSQL (with --dsn or --conn)",
                       false},
               .kind = KIND_STR,
               .group = GROUP_EXECUTOR},
    [K_DSN] = {.pub = {"dsn", "CONNINFO", "PostgreSQL connection string, without password", false},
               .kind = KIND_STR,
               .needs = K_SQL},
    [K_CONN] = {.pub = {"conn", "NAME", "a connection named in the workers' configuration", false},
                .kind = KIND_STR,
                .needs = K_SQL},
    [K_ONCE] = {.pub = {"once", NULL, "effect-once: record the run id in raftcron_effects", false},
                .kind = KIND_BOOL,
                .needs = K_SQL},
    [K_MISFIRE_GRACE] = {.pub = {"misfire_grace", "DURATION|none",
                                 "how late a run may still start (default 60s)", false},
                         .kind = KIND_GRACE},
    [K_COALESCE] = {.pub = {"coalesce", NULL, "run missed instants once (default on)", false},
                    .kind = KIND_BOOL},
    [K_OVERLAP] = {.pub = {"overlap", "allow|skip|replace|queue-one",
                           "when the previous run is still active (default allow)", false},
                   .kind = KIND_ENUM,
                   .names = overlap_names},
    [K_MAX_INSTANCES] = {.pub = {"max_instances", "N",
                                 "concurrent runs under overlap allow (default 1)", false},
                         .kind = KIND_UINT,
                         .min = 1,
                         .max = POLICY_MAX_INSTANCES},
    [K_RETRIES] = {.pub = {"retries", "N", "retries after a failed attempt (default 0)", false},
                   .kind = KIND_UINT,
                   .min = 0,
                   .max = RETRIES_MAX},
    [K_BACKOFF] = {.pub = {"backoff", "fixed|linear|exponential", "delay growth between retries",
                           false},
                   .kind = KIND_ENUM,
                   .names = backoff_names},
    [K_RETRY_DELAY] = {.pub = {"retry_delay", "DURATION", "delay before the first retry", false},
                       .kind = KIND_DURATION},
    [K_RETRY_MULTIPLIER] = {.pub = {"retry_multiplier", "X", "exponential backoff factor (>= 1)",
                                    false},
                            .kind = KIND_REAL},
    [K_RETRY_MAX_DELAY] = {.pub = {"retry_max_delay", "DURATION", "cap on the retry delay", false},
                           .kind = KIND_DURATION},
    [K_RETRY_JITTER] = {.pub = {"retry_jitter", "DURATION", "random extra retry delay, up to",
                                false},
                        .kind = KIND_DURATION},
    [K_TIMEOUT_RUN] = {.pub = {"timeout_run", "DURATION", "kill an attempt after DURATION", false},
                       .kind = KIND_DURATION},
    [K_TARGET] = {.pub = {"target", "k=v", "run only on workers with this tag (repeatable)", true},
                  .kind = KIND_PAIR,
                  .sep = '='},
    [K_ENV] = {.pub = {"env", "K=V", "environment variable of the run (repeatable)", true},
               .kind = KIND_PAIR,
               .sep = '='},
    [K_AT_MOST_ONCE] = {.pub = {"at_most_once", NULL, "never retry a lost attempt", false},
                        .kind = KIND_BOOL},
    [K_PAUSED] = {.pub = {"paused", NULL, "create the job paused", false}, .kind = KIND_BOOL},
};

struct item {
    char *key; /* owned; NULL for KIND_CODE */
    char *val; /* owned; NULL for KIND_CODE */
    uint32_t code;
};

struct value {
    char *text;         /* KIND_STR (owned) */
    int64_t num;        /* KIND_DURATION, GRACE, TIME, UINT, BOOL, ENUM */
    double real;        /* KIND_REAL */
    struct item *items; /* KIND_PAIR, KIND_CODE: sorted by key / code */
    size_t n_items;
    int line;
};

struct rc_jobdraft {
    const char *file; /* borrowed; NULL for flags */
    int line;         /* where the job starts in the file */
    uint64_t seen;    /* bit id: keys[id] was set */
    struct value v[K_COUNT];
};

const struct rc_jobkey *jobyamlKey(size_t i)
{
    return i + 1 < K_COUNT ? &keys[i + 1].pub : NULL;
}

int jobyamlDraftCreate(const char *file, struct rc_jobdraft **out)
{
    struct rc_jobdraft *d = calloc(1, sizeof *d);
    if (d == NULL) {
        return RC_ENOMEM;
    }
    d->file = file;
    *out = d;
    return 0;
}

void jobyamlDraftDestroy(struct rc_jobdraft *d)
{
    if (d == NULL) {
        return;
    }
    for (int id = 0; id < K_COUNT; id++) {
        struct value *v = &d->v[id];
        free(v->text);
        for (size_t i = 0; i < v->n_items; i++) {
            free(v->items[i].key);
            free(v->items[i].val);
        }
        free(v->items);
    }
    free(d);
}

static bool isSet(const struct rc_jobdraft *d, enum key_id id)
{
    return (d->seen >> id) & 1;
}

static enum key_id findKey(const char *name)
{
    for (int id = 1; id < K_COUNT; id++) {
        if (strcmp(keys[id].pub.name, name) == 0) {
            return (enum key_id)id;
        }
    }
    return K_NONE;
}

const char *jobyamlEnumName(const char *key, unsigned value)
{
    enum key_id id = findKey(key);
    if (id == K_NONE || keys[id].kind != KIND_ENUM) {
        return NULL;
    }
    for (unsigned i = 0; keys[id].names[i] != NULL; i++) {
        if (i == value) {
            return keys[id].names[i];
        }
    }
    return NULL;
}

/* How a key is called where the user wrote it: "--misfire-grace" on the command line,
 * "misfire_grace" in a file. */
static const char *label(const struct rc_jobdraft *d, enum key_id id, char *buf, size_t len)
{
    const char *name = keys[id].pub.name;
    if (d->file != NULL) {
        return name;
    }
    if (id == K_NAME) {
        return "NAME";
    }
    snprintf(buf, len, "--%s", name);
    for (char *p = buf; *p != '\0'; p++) {
        if (*p == '_') {
            *p = '-';
        }
    }
    return buf;
}

/* Report an error with the place it comes from: "file:line: " in a file, then "key: " when
 * the error concerns one key (id != K_NONE). */
static int fail(const struct rc_jobdraft *d, enum key_id id, int line, char *err, size_t errlen,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int fail(const struct rc_jobdraft *d, enum key_id id, int line, char *err, size_t errlen,
                const char *fmt, ...)
{
    if (err == NULL || errlen == 0) {
        return RC_EINVAL;
    }
    size_t n = 0;
    if (d->file != NULL && d->file[0] != '\0') {
        n = (size_t)snprintf(err, errlen, "%s:%d: ", d->file, line);
    }
    if (id != K_NONE && n < errlen) {
        char buf[40];
        n += (size_t)snprintf(err + n, errlen - n, "%s: ", label(d, id, buf, sizeof buf));
    }
    if (n < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - n, fmt, ap);
        va_end(ap);
    }
    return RC_EINVAL;
}

/* ---- Parsing one value, by kind -------------------------------------------------------------- */

static int parseBool(const char *text, int64_t *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(text, yes[i]) == 0 || strcasecmp(text, no[i]) == 0) {
            *out = strcasecmp(text, yes[i]) == 0;
            return 0;
        }
    }
    return RC_EINVAL;
}

static int parseUint(const char *text, uint32_t min, uint32_t max, int64_t *out)
{
    if (!isdigit((unsigned char)text[0])) {
        return RC_EINVAL;
    }
    errno = 0;
    char *end;
    unsigned long long n = strtoull(text, &end, 10);
    if (*end != '\0' || errno != 0 || n < min || n > max) {
        return RC_EINVAL;
    }
    *out = (int64_t)n;
    return 0;
}

static int parseEnum(const char *const *names, const char *text, int64_t *out)
{
    for (int64_t i = 0; names[i] != NULL; i++) {
        if (strcmp(names[i], text) == 0) {
            *out = i;
            return 0;
        }
    }
    return RC_EINVAL;
}

/* "a, b or c" */
static void joinNames(const char *const *names, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; names[i] != NULL && n < len; i++) {
        const char *sep = i == 0 ? "" : (names[i + 1] == NULL ? " or " : ", ");
        n += (size_t)snprintf(buf + n, len - n, "%s%s", sep, names[i]);
    }
}

static int setScalar(struct rc_jobdraft *d, enum key_id id, const char *text, int line, char *err,
                     size_t errlen)
{
    const struct key_def *k = &keys[id];
    struct value *v = &d->v[id];
    char why[RC_ERRMSG_SIZE];
    switch (k->kind) {
    case KIND_STR:
        v->text = strdup(text);
        return v->text == NULL ? RC_ENOMEM : 0;
    case KIND_GRACE:
        if (strcmp(text, "none") == 0) {
            v->num = -1;
            return 0;
        }
        /* fall through */
    case KIND_DURATION:
        if (durationParse(text, &v->num, why, sizeof why) != 0) {
            return fail(d, id, line, err, errlen, "%s", why);
        }
        return 0;
    case KIND_TIME:
        if (timefmtParse(text, &v->num, why, sizeof why) != 0) {
            return fail(d, id, line, err, errlen, "%s", why);
        }
        return 0;
    case KIND_UINT:
        if (parseUint(text, k->min, k->max, &v->num) != 0) {
            return fail(d, id, line, err, errlen, "\"%s\" is not a whole number from %u to %u",
                        text, k->min, k->max);
        }
        return 0;
    case KIND_BOOL:
        if (parseBool(text, &v->num) != 0) {
            return fail(d, id, line, err, errlen, "\"%s\" is not true or false", text);
        }
        return 0;
    case KIND_ENUM:
        if (parseEnum(k->names, text, &v->num) != 0) {
            joinNames(k->names, why, sizeof why);
            return fail(d, id, line, err, errlen, "\"%s\" is not %s", text, why);
        }
        return 0;
    case KIND_REAL: {
        char *end;
        v->real = strtod(text, &end);
        if (*text == '\0' || *end != '\0' || !isfinite(v->real) || v->real < 1) {
            return fail(d, id, line, err, errlen, "\"%s\" is not a number >= 1", text);
        }
        return 0;
    }
    default:
        return RC_EINVAL; /* lists are set by setItem */
    }
}

/* Insert item at its sorted place (by key, or by code). */
static int insertItem(struct value *v, struct item it)
{
    struct item *items = realloc(v->items, (v->n_items + 1) * sizeof *items);
    if (items == NULL) {
        return RC_ENOMEM;
    }
    v->items = items;
    size_t at = 0;
    while (at < v->n_items &&
           (it.key != NULL ? strcmp(items[at].key, it.key) < 0 : items[at].code < it.code)) {
        at++;
    }
    memmove(items + at + 1, items + at, (v->n_items - at) * sizeof *items);
    items[at] = it;
    v->n_items++;
    return 0;
}

static int setCode(struct rc_jobdraft *d, enum key_id id, const char *text, int line, char *err,
                   size_t errlen)
{
    const struct key_def *k = &keys[id];
    struct value *v = &d->v[id];
    int64_t code;
    if (parseUint(text, k->min, k->max, &code) != 0) {
        return fail(d, id, line, err, errlen, "\"%s\" is not an HTTP status from %u to %u", text,
                    k->min, k->max);
    }
    for (size_t i = 0; i < v->n_items; i++) {
        if (v->items[i].code == (uint32_t)code) {
            return fail(d, id, line, err, errlen, "%s given twice", text);
        }
    }
    return insertItem(v, (struct item){.code = (uint32_t)code});
}

static bool validHeaderName(const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s <= ' ' || *s == ':' || *s == 0x7f) {
            return false;
        }
    }
    return true;
}

/* One map entry. HTTP header names compare without case (RFC 9110 §5.1). */
static int setPair(struct rc_jobdraft *d, enum key_id id, const char *key, const char *val,
                   int line, char *err, size_t errlen)
{
    struct value *v = &d->v[id];
    if (key[0] == '\0') {
        return fail(d, id, line, err, errlen, "empty key");
    }
    if (id == K_HEADER && !validHeaderName(key)) {
        return fail(d, id, line, err, errlen, "\"%s\" is not a header name", key);
    }
    for (size_t i = 0; i < v->n_items; i++) {
        bool same = id == K_HEADER ? strcasecmp(v->items[i].key, key) == 0
                                   : strcmp(v->items[i].key, key) == 0;
        if (same) {
            return fail(d, id, line, err, errlen, "\"%s\" given twice", key);
        }
    }
    struct item it = {.key = strdup(key), .val = strdup(val)};
    if (it.key == NULL || it.val == NULL || insertItem(v, it) != 0) {
        free(it.key);
        free(it.val);
        return RC_ENOMEM;
    }
    return 0;
}

/* "K:V" / "k=v" as typed on the command line; blanks around the separator are dropped. */
static int setPairText(struct rc_jobdraft *d, enum key_id id, const char *text, int line, char *err,
                       size_t errlen)
{
    char sep = keys[id].sep;
    const char *at = strchr(text, sep);
    if (at == NULL) {
        return fail(d, id, line, err, errlen, "\"%s\" is not %s", text, keys[id].pub.metavar);
    }
    size_t klen = (size_t)(at - text);
    while (klen > 0 && isspace((unsigned char)text[klen - 1])) {
        klen--;
    }
    char *key = strndup(text, klen);
    if (key == NULL) {
        return RC_ENOMEM;
    }
    const char *val = at + 1;
    while (isspace((unsigned char)*val)) {
        val++;
    }
    int rv = setPair(d, id, key, val, line, err, errlen);
    free(key);
    return rv;
}

static int setItem(struct rc_jobdraft *d, enum key_id id, const char *text, int line, char *err,
                   size_t errlen)
{
    if (keys[id].kind == KIND_CODE) {
        return setCode(d, id, text, line, err, errlen);
    }
    return setPairText(d, id, text, line, err, errlen);
}

static int checkNew(const struct rc_jobdraft *d, enum key_id id, int line, char *err, size_t errlen)
{
    if (isSet(d, id) && !keys[id].pub.repeatable) {
        return fail(d, id, line, err, errlen, "given twice");
    }
    return 0;
}

/* Record a key once its value is stored (a key whose value was refused stays unset). */
static int markSet(struct rc_jobdraft *d, enum key_id id, int line, int rv)
{
    if (rv == 0 && !isSet(d, id)) {
        d->seen |= UINT64_C(1) << id;
        d->v[id].line = line;
    }
    return rv;
}

static int unknownKey(struct rc_jobdraft *d, const char *key, int line, char *err, size_t errlen)
{
    if (d->file != NULL) {
        return fail(d, K_NONE, line, err, errlen, "unknown key \"%s\"", key);
    }
    return fail(d, K_NONE, line, err, errlen, "unknown option \"%s\"", key);
}

int jobyamlSet(struct rc_jobdraft *d, const char *key, const char *value, int line, char *err,
               size_t errlen)
{
    enum key_id id = findKey(key);
    if (id == K_NONE) {
        return unknownKey(d, key, line, err, errlen);
    }
    if (value == NULL) {
        if (keys[id].kind != KIND_BOOL) {
            return fail(d, id, line, err, errlen, "a value is required");
        }
        value = "true";
    }
    int rv = checkNew(d, id, line, err, errlen);
    if (rv != 0) {
        return rv;
    }
    if (keys[id].pub.repeatable) {
        rv = setItem(d, id, value, line, err, errlen);
    } else {
        rv = setScalar(d, id, value, line, err, errlen);
    }
    return markSet(d, id, line, rv);
}

int jobyamlSetPair(struct rc_jobdraft *d, const char *key, const char *k, const char *v, int line,
                   char *err, size_t errlen)
{
    enum key_id id = findKey(key);
    if (id == K_NONE) {
        return unknownKey(d, key, line, err, errlen);
    }
    if (keys[id].kind != KIND_PAIR) {
        return fail(d, id, line, err, errlen, "expected a value or a list of values");
    }
    return markSet(d, id, line, setPair(d, id, k, v, line, err, errlen));
}

/* ---- Building the spec ----------------------------------------------------------------------- */

/* Exactly one key of the group. */
static int checkGroup(const struct rc_jobdraft *d, enum group g, char *err, size_t errlen)
{
    enum key_id first = K_NONE;
    char a[40], b[40];
    for (int id = 1; id < K_COUNT; id++) {
        if (keys[id].group != g || !isSet(d, (enum key_id)id)) {
            continue;
        }
        if (first != K_NONE) {
            return fail(d, K_NONE, d->v[id].line, err, errlen, "%s and %s exclude each other",
                        label(d, first, a, sizeof a), label(d, (enum key_id)id, b, sizeof b));
        }
        first = (enum key_id)id;
    }
    if (first != K_NONE) {
        return 0;
    }
    if (g == GROUP_TRIGGER) {
        return fail(d, K_NONE, d->line, err, errlen, "a trigger is required: %s",
                    d->file != NULL ? "cron, every or at" : "--cron, --every or --at");
    }
    return fail(d, K_NONE, d->line, err, errlen, "an executor is required: %s",
                d->file != NULL ? "shell, http, sql or noop" : "--shell, --http, --sql or --noop");
}

static int checkKeys(const struct rc_jobdraft *d, char *err, size_t errlen)
{
    if (!isSet(d, K_NAME)) {
        return fail(d, K_NAME, d->line, err, errlen, "required");
    }
    int rv = checkGroup(d, GROUP_TRIGGER, err, errlen);
    if (rv == 0) {
        rv = checkGroup(d, GROUP_EXECUTOR, err, errlen);
    }
    if (rv != 0) {
        return rv;
    }
    if (isSet(d, K_NOOP) && d->v[K_NOOP].num == 0) {
        return fail(d, K_NOOP, d->v[K_NOOP].line, err, errlen,
                    "false is no executor: leave it out and name another");
    }
    char buf[40], buf2[40];
    if (isSet(d, K_SQL) && isSet(d, K_DSN) == isSet(d, K_CONN)) {
        return fail(d, K_SQL, d->v[K_SQL].line, err, errlen,
                    isSet(d, K_DSN) ? "give %s or %s, not both" : "requires %s or %s",
                    label(d, K_DSN, buf, sizeof buf), label(d, K_CONN, buf2, sizeof buf2));
    }
    for (int id = 1; id < K_COUNT; id++) {
        enum key_id needs = keys[id].needs;
        if (isSet(d, (enum key_id)id) && needs != K_NONE && !isSet(d, needs)) {
            return fail(d, (enum key_id)id, d->v[id].line, err, errlen, "requires %s",
                        label(d, needs, buf, sizeof buf));
        }
    }
    return 0;
}

/* The message names the expression or the zone, whichever is wrong. */
static int checkCron(const struct rc_jobdraft *d, char *err, size_t errlen)
{
    if (!isSet(d, K_CRON)) {
        return 0;
    }
    const char *tz = isSet(d, K_TZ) ? d->v[K_TZ].text : "";
    struct rc_trigger t;
    char why[RC_ERRMSG_SIZE];
    int rv = triggerInitCron(&t, d->v[K_CRON].text, tz, 0, why, sizeof why);
    if (rv == 0) {
        return 0;
    }
    enum key_id id = rv == RC_ETZ && isSet(d, K_TZ) ? K_TZ : K_CRON;
    return fail(d, id, d->v[id].line, err, errlen, "%s", why);
}

/* The message tree of a spec, pointing into the draft; packed, then unpacked into an owned
 * copy, so that nothing here is freed field by field. */
struct tree {
    Raftcron__JobSpec spec;
    Raftcron__Trigger trigger;
    Raftcron__Policy policy;
    Raftcron__RetryPolicy retry;
    Raftcron__Executor executor;
    Raftcron__ShellExec shell;
    Raftcron__HttpExec http;
    Raftcron__SqlExec sql;
    Raftcron__NoopExec noop;
    uint32_t *codes;
    ProtobufCMessage **maps[3]; /* headers, target, env (entries allocated in one block) */
};

static const struct value *val(const struct rc_jobdraft *d, enum key_id id)
{
    return isSet(d, id) ? &d->v[id] : NULL;
}

static char *text(const struct rc_jobdraft *d, enum key_id id, const char *dflt)
{
    return (char *)(isSet(d, id) ? d->v[id].text : dflt);
}

static int64_t num(const struct rc_jobdraft *d, enum key_id id, int64_t dflt)
{
    return isSet(d, id) ? d->v[id].num : dflt;
}

/* Map entries of a map<string, string> field: every such entry message has the fields "key"
 * and "value"; they are filled through the descriptor. */
static ProtobufCMessage **buildEntries(const ProtobufCMessageDescriptor *desc,
                                       const struct value *v)
{
    if (v == NULL || v->n_items == 0) {
        return NULL;
    }
    ProtobufCMessage **ptrs = calloc(v->n_items, sizeof *ptrs);
    char *block = calloc(v->n_items, desc->sizeof_message);
    if (ptrs == NULL || block == NULL) {
        free(ptrs);
        free(block);
        return NULL;
    }
    size_t koff = protobuf_c_message_descriptor_get_field_by_name(desc, "key")->offset;
    size_t voff = protobuf_c_message_descriptor_get_field_by_name(desc, "value")->offset;
    for (size_t i = 0; i < v->n_items; i++) {
        char *m = block + i * desc->sizeof_message;
        protobuf_c_message_init(desc, m);
        memcpy(m + koff, &v->items[i].key, sizeof(char *));
        memcpy(m + voff, &v->items[i].val, sizeof(char *));
        ptrs[i] = (ProtobufCMessage *)m;
    }
    return ptrs;
}

static void freeEntries(ProtobufCMessage **ptrs)
{
    if (ptrs != NULL) {
        free(ptrs[0]);
        free(ptrs);
    }
}

static int buildMaps(const struct rc_jobdraft *d, struct tree *t)
{
    const struct value *vs[3] = {val(d, K_HEADER), val(d, K_TARGET), val(d, K_ENV)};
    const ProtobufCMessageDescriptor *descs[3] = {
        &raftcron__http_exec__headers_entry__descriptor,
        &raftcron__job_spec__target_entry__descriptor,
        &raftcron__job_spec__env_entry__descriptor,
    };
    for (int i = 0; i < 3; i++) {
        t->maps[i] = buildEntries(descs[i], vs[i]);
        if (vs[i] != NULL && t->maps[i] == NULL) {
            return RC_ENOMEM;
        }
    }
    t->http.n_headers = vs[0] != NULL ? vs[0]->n_items : 0;
    t->http.headers = (Raftcron__HttpExec__HeadersEntry **)t->maps[0];
    t->spec.n_target = vs[1] != NULL ? vs[1]->n_items : 0;
    t->spec.target = (Raftcron__JobSpec__TargetEntry **)t->maps[1];
    t->spec.n_env = vs[2] != NULL ? vs[2]->n_items : 0;
    t->spec.env = (Raftcron__JobSpec__EnvEntry **)t->maps[2];
    return 0;
}

static void buildTrigger(const struct rc_jobdraft *d, Raftcron__Trigger *tr)
{
    raftcron__trigger__init(tr);
    if (isSet(d, K_CRON)) {
        tr->kind_case = RAFTCRON__TRIGGER__KIND_CRON;
        tr->cron = d->v[K_CRON].text;
        /* "UTC" is what an unset zone means and how job get shows it: stored as unset, so that
         * a definition read back from job get's output equals the stored one. */
        tr->tz = text(d, K_TZ, "");
        if (strcmp(tr->tz, "UTC") == 0) {
            tr->tz = (char *)"";
        }
    } else if (isSet(d, K_EVERY)) {
        tr->kind_case = RAFTCRON__TRIGGER__KIND_INTERVAL_US;
        tr->interval_us = d->v[K_EVERY].num;
    } else {
        tr->kind_case = RAFTCRON__TRIGGER__KIND_AT_US;
        tr->at_us = d->v[K_AT].num;
    }
    tr->anchor_us = num(d, K_ANCHOR, 0);
    tr->start_us = num(d, K_START, 0);
    tr->end_us = num(d, K_END, 0);
    tr->jitter_us = num(d, K_JITTER, 0);
    tr->dst_gap = (uint32_t)num(d, K_DST_GAP, 0);
    tr->dst_repeat = (uint32_t)num(d, K_DST_REPEAT, 0);
}

static void buildPolicy(const struct rc_jobdraft *d, Raftcron__Policy *p)
{
    struct rc_policy dflt;
    policyDefaults(&dflt);
    raftcron__policy__init(p);
    p->misfire_grace_us = num(d, K_MISFIRE_GRACE, dflt.misfire_grace_us);
    p->coalesce = num(d, K_COALESCE, dflt.coalesce) != 0;
    p->overlap = (uint32_t)num(d, K_OVERLAP, dflt.overlap);
    p->max_instances = (uint32_t)num(d, K_MAX_INSTANCES, dflt.max_instances);
}

static bool hasRetry(const struct rc_jobdraft *d)
{
    return isSet(d, K_RETRIES) || isSet(d, K_BACKOFF) || isSet(d, K_RETRY_DELAY) ||
           isSet(d, K_RETRY_MULTIPLIER) || isSet(d, K_RETRY_MAX_DELAY) || isSet(d, K_RETRY_JITTER);
}

static void buildRetry(const struct rc_jobdraft *d, Raftcron__RetryPolicy *r)
{
    raftcron__retry_policy__init(r);
    r->max_attempts = (uint32_t)num(d, K_RETRIES, 0) + 1;
    r->backoff = (uint32_t)num(d, K_BACKOFF, 0);
    r->delay_us = num(d, K_RETRY_DELAY, 0);
    r->multiplier = isSet(d, K_RETRY_MULTIPLIER) ? d->v[K_RETRY_MULTIPLIER].real : 0;
    r->max_delay_us = num(d, K_RETRY_MAX_DELAY, 0);
    r->jitter_us = num(d, K_RETRY_JITTER, 0);
}

static int buildHttp(const struct rc_jobdraft *d, struct tree *t)
{
    raftcron__http_exec__init(&t->http);
    t->http.url = d->v[K_HTTP].text;
    t->http.method = text(d, K_METHOD, isSet(d, K_BODY) ? "POST" : "GET");
    t->http.follow_redirects = num(d, K_FOLLOW_REDIRECTS, 0) != 0;
    t->http.tls_insecure = num(d, K_INSECURE, 0) != 0;
    t->http.ca_file = text(d, K_CA_FILE, "");
    if (isSet(d, K_BODY)) {
        t->http.body.data = (uint8_t *)d->v[K_BODY].text;
        t->http.body.len = strlen(d->v[K_BODY].text);
    }
    const struct value *codes = val(d, K_EXPECT);
    if (codes == NULL) {
        return 0;
    }
    t->codes = calloc(codes->n_items, sizeof *t->codes);
    if (t->codes == NULL) {
        return RC_ENOMEM;
    }
    for (size_t i = 0; i < codes->n_items; i++) {
        t->codes[i] = codes->items[i].code;
    }
    t->http.n_expect_codes = codes->n_items;
    t->http.expect_codes = t->codes;
    return 0;
}

static int buildExecutor(const struct rc_jobdraft *d, struct tree *t)
{
    Raftcron__Executor *e = &t->executor;
    raftcron__executor__init(e);
    if (isSet(d, K_SHELL)) {
        raftcron__shell_exec__init(&t->shell);
        t->shell.command = d->v[K_SHELL].text;
        t->shell.workdir = text(d, K_WORKDIR, "");
        t->shell.rlimits = text(d, K_RLIMITS, "");
        e->kind_case = RAFTCRON__EXECUTOR__KIND_SHELL;
        e->shell = &t->shell;
        return 0;
    }
    if (isSet(d, K_NOOP)) {
        raftcron__noop_exec__init(&t->noop);
        e->kind_case = RAFTCRON__EXECUTOR__KIND_NOOP;
        e->noop = &t->noop;
        return 0;
    }
    if (isSet(d, K_SQL)) {
        raftcron__sql_exec__init(&t->sql);
        t->sql.query = d->v[K_SQL].text;
        t->sql.dsn = text(d, K_DSN, "");
        t->sql.conn = text(d, K_CONN, "");
        t->sql.dedupe = num(d, K_ONCE, 0) != 0;
        e->kind_case = RAFTCRON__EXECUTOR__KIND_SQL;
        e->sql = &t->sql;
        return 0;
    }
    e->kind_case = RAFTCRON__EXECUTOR__KIND_HTTP;
    e->http = &t->http;
    return buildHttp(d, t);
}

static int buildTree(const struct rc_jobdraft *d, const char *ns_default, struct tree *t)
{
    Raftcron__JobSpec *s = &t->spec;
    raftcron__job_spec__init(s);
    raftcron__http_exec__init(&t->http);
    s->namespace_ =
        text(d, K_NAMESPACE, ns_default != NULL ? ns_default : RC_JOBS_DEFAULT_NAMESPACE);
    s->name = d->v[K_NAME].text;
    s->description = text(d, K_DESCRIPTION, "");
    buildTrigger(d, &t->trigger);
    s->trigger = &t->trigger;
    buildPolicy(d, &t->policy);
    s->policy = &t->policy;
    if (hasRetry(d)) {
        buildRetry(d, &t->retry);
        s->retry = &t->retry;
    }
    s->timeout_us = num(d, K_TIMEOUT_RUN, 0);
    s->at_most_once = num(d, K_AT_MOST_ONCE, 0) != 0;
    s->executor = &t->executor;
    int rv = buildExecutor(d, t);
    return rv != 0 ? rv : buildMaps(d, t);
}

static void freeTree(struct tree *t)
{
    free(t->codes);
    for (int i = 0; i < 3; i++) {
        freeEntries(t->maps[i]);
    }
}

/* An owned deep copy of a message tree, by packing and unpacking it. */
static int copySpec(const Raftcron__JobSpec *s, Raftcron__JobSpec **out)
{
    size_t len = raftcron__job_spec__get_packed_size(s);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL) {
        return RC_ENOMEM;
    }
    raftcron__job_spec__pack(s, buf);
    *out = raftcron__job_spec__unpack(NULL, len, buf);
    free(buf);
    return *out == NULL ? RC_ENOMEM : 0;
}

int jobyamlBuild(const struct rc_jobdraft *d, const char *ns_default, struct rc_jobdef *out,
                 char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int rv = checkKeys(d, err, errlen);
    if (rv == 0) {
        rv = checkCron(d, err, errlen);
    }
    if (rv != 0) {
        return rv;
    }
    struct tree t = {0};
    rv = buildTree(d, ns_default, &t);
    if (rv == 0) {
        rv = copySpec(&t.spec, &out->spec);
    }
    freeTree(&t);
    if (rv != 0) {
        return errSet(err, errlen, rv, "out of memory");
    }
    char why[RC_ERRMSG_SIZE];
    if (fsmValidateSpec(out->spec, why, sizeof why) != 0) {
        jobyamlDefClear(out);
        return fail(d, K_NONE, d->line, err, errlen, "%s", why);
    }
    out->paused = num(d, K_PAUSED, 0) != 0;
    out->paused_set = isSet(d, K_PAUSED);
    out->line = d->line;
    return 0;
}

void jobyamlDefClear(struct rc_jobdef *def)
{
    if (def->spec != NULL) {
        raftcron__job_spec__free_unpacked(def->spec, NULL);
    }
    memset(def, 0, sizeof *def);
}

/* ---- Comparing specs ------------------------------------------------------------------------- */

static int cmpEntry(const void *a, const void *b)
{
    /* Every map<string, string> entry is {base, key, value}. */
    const Raftcron__JobSpec__EnvEntry *x = *(Raftcron__JobSpec__EnvEntry *const *)a;
    const Raftcron__JobSpec__EnvEntry *y = *(Raftcron__JobSpec__EnvEntry *const *)b;
    return strcmp(x->key, y->key);
}

static int cmpCode(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void sortArray(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1) {
        qsort(base, n, size, cmp);
    }
}

static void sortSpec(Raftcron__JobSpec *s)
{
    sortArray(s->target, s->n_target, sizeof *s->target, cmpEntry);
    sortArray(s->env, s->n_env, sizeof *s->env, cmpEntry);
    if (s->executor != NULL && s->executor->kind_case == RAFTCRON__EXECUTOR__KIND_HTTP) {
        Raftcron__HttpExec *h = s->executor->http;
        sortArray(h->headers, h->n_headers, sizeof *h->headers, cmpEntry);
        sortArray(h->expect_codes, h->n_expect_codes, sizeof *h->expect_codes, cmpCode);
    }
}

bool jobyamlSpecEqual(Raftcron__JobSpec *a, Raftcron__JobSpec *b)
{
    sortSpec(a);
    sortSpec(b);
    size_t la = raftcron__job_spec__get_packed_size(a);
    size_t lb = raftcron__job_spec__get_packed_size(b);
    if (la != lb) {
        return false;
    }
    uint8_t *ba = malloc(la + 1), *bb = malloc(lb + 1);
    bool equal = false;
    if (ba != NULL && bb != NULL) {
        raftcron__job_spec__pack(a, ba);
        raftcron__job_spec__pack(b, bb);
        equal = memcmp(ba, bb, la) == 0;
    }
    free(ba);
    free(bb);
    return equal;
}

/* ---- YAML files ------------------------------------------------------------------------------ */

struct loader {
    const char *file;
    yaml_document_t doc;
    const char *ns_default; /* top-level "namespace" (borrowed from doc) */
    struct rc_jobfile *out;
    char *err;
    size_t errlen;
};

static int lineOf(const yaml_node_t *n)
{
    return (int)n->start_mark.line + 1;
}

static int fileError(const struct loader *l, const yaml_node_t *n, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fileError(const struct loader *l, const yaml_node_t *n, int code, const char *fmt, ...)
{
    if (l->err == NULL || l->errlen == 0) {
        return code;
    }
    int k = snprintf(l->err, l->errlen, "%s:%d: ", l->file, lineOf(n));
    if (k >= 0 && (size_t)k < l->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(l->err + k, l->errlen - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return code;
}

static const char *scalar(const yaml_node_t *n)
{
    return n != NULL && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *node(struct loader *l, int id)
{
    return yaml_document_get_node(&l->doc, id);
}

/* One value of a key: a scalar, a list of scalars (repeatable keys), or a mapping (map keys). */
static int loadValue(struct loader *l, struct rc_jobdraft *d, const char *key, yaml_node_t *v)
{
    int line = lineOf(v);
    if (v->type == YAML_SCALAR_NODE) {
        return jobyamlSet(d, key, scalar(v), line, l->err, l->errlen);
    }
    enum key_id id = findKey(key);
    if (id == K_NONE) {
        return unknownKey(d, key, line, l->err, l->errlen);
    }
    if (!keys[id].pub.repeatable) {
        return fileError(l, v, RC_EINVAL, "%s: expected a single value", key);
    }
    if (v->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
             it++) {
            yaml_node_t *item = node(l, *it);
            if (scalar(item) == NULL) {
                return fileError(l, item, RC_EINVAL, "%s: expected a list of values", key);
            }
            int rv = jobyamlSet(d, key, scalar(item), lineOf(item), l->err, l->errlen);
            if (rv != 0) {
                return rv;
            }
        }
        return 0;
    }
    if (keys[id].kind != KIND_PAIR) {
        return fileError(l, v, RC_EINVAL, "%s: expected a value or a list of values", key);
    }
    int rv = 0;
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start;
         rv == 0 && p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(l, p->key), *x = node(l, p->value);
        if (scalar(k) == NULL || scalar(x) == NULL) {
            return fileError(l, k, RC_EINVAL, "%s: expected key: value pairs", key);
        }
        rv = jobyamlSetPair(d, key, scalar(k), scalar(x), lineOf(k), l->err, l->errlen);
    }
    return rv;
}

static int findJob(const struct rc_jobfile *f, const Raftcron__JobSpec *s)
{
    for (size_t i = 0; i < f->n_jobs; i++) {
        const Raftcron__JobSpec *o = f->jobs[i].spec;
        if (strcmp(o->namespace_, s->namespace_) == 0 && strcmp(o->name, s->name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static int addJob(struct loader *l, struct rc_jobdef *def, yaml_node_t *at)
{
    struct rc_jobfile *f = l->out;
    int dup = findJob(f, def->spec);
    if (dup >= 0) {
        int rv = fileError(l, at, RC_EINVAL, "job %s/%s is already defined at line %d",
                           def->spec->namespace_, def->spec->name, f->jobs[dup].line);
        jobyamlDefClear(def);
        return rv;
    }
    struct rc_jobdef *jobs = realloc(f->jobs, (f->n_jobs + 1) * sizeof *jobs);
    if (jobs == NULL) {
        jobyamlDefClear(def);
        return RC_ENOMEM;
    }
    f->jobs = jobs;
    jobs[f->n_jobs++] = *def;
    return 0;
}

/* The state `job get` and `job list` print beside a definition (-o json, -o yaml): read-only,
 * kept by the cluster, so a file made from their output applies back unchanged. */
static bool stateKey(const char *key)
{
    static const char *const state[] = {
        "id",          "version",      "paused_at",     "created",
        "updated",     "cursor",       "history_floor", "runs_total",
        "runs_failed", "last_outcome", "last_finished", "next"};
    for (size_t i = 0; i < sizeof state / sizeof state[0]; i++) {
        if (strcmp(state[i], key) == 0) {
            return true;
        }
    }
    return false;
}

static int loadJob(struct loader *l, yaml_node_t *job)
{
    if (job->type != YAML_MAPPING_NODE) {
        return fileError(l, job, RC_EPARSE, "a job must be a mapping of key: value");
    }
    struct rc_jobdraft *d;
    if (jobyamlDraftCreate(l->file, &d) != 0) {
        return RC_ENOMEM;
    }
    d->line = lineOf(job);
    int rv = 0;
    for (yaml_node_pair_t *p = job->data.mapping.pairs.start;
         rv == 0 && p < job->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(l, p->key);
        if (scalar(k) == NULL) {
            rv = fileError(l, k, RC_EPARSE, "a key must be a plain word");
            break;
        }
        if (!stateKey(scalar(k))) {
            rv = loadValue(l, d, scalar(k), node(l, p->value));
        }
    }
    struct rc_jobdef def;
    if (rv == 0) {
        rv = jobyamlBuild(d, l->ns_default, &def, l->err, l->errlen);
    }
    jobyamlDraftDestroy(d);
    return rv != 0 ? rv : addJob(l, &def, job);
}

static int cmpStr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every namespace of the file: the top-level one and the jobs', sorted, unique. */
static int collectNamespaces(struct loader *l)
{
    struct rc_jobfile *f = l->out;
    f->namespaces = calloc(f->n_jobs + 1, sizeof *f->namespaces);
    if (f->namespaces == NULL) {
        return RC_ENOMEM;
    }
    for (size_t i = 0; i <= f->n_jobs; i++) {
        const char *ns = i < f->n_jobs ? f->jobs[i].spec->namespace_ : l->ns_default;
        if (ns == NULL) {
            continue;
        }
        bool known = false;
        for (size_t j = 0; j < f->n_namespaces && !known; j++) {
            known = strcmp(f->namespaces[j], ns) == 0;
        }
        if (known) {
            continue;
        }
        f->namespaces[f->n_namespaces] = strdup(ns);
        if (f->namespaces[f->n_namespaces] == NULL) {
            return RC_ENOMEM;
        }
        f->n_namespaces++;
    }
    sortArray(f->namespaces, f->n_namespaces, sizeof *f->namespaces, cmpStr);
    return 0;
}

static int loadJobs(struct loader *l, yaml_node_t *jobs)
{
    if (jobs == NULL || jobs->type != YAML_SEQUENCE_NODE) {
        return jobs == NULL ? errSet(l->err, l->errlen, RC_EPARSE, "%s: no \"jobs:\" list", l->file)
                            : fileError(l, jobs, RC_EPARSE, "jobs: expected a list of jobs");
    }
    for (yaml_node_item_t *it = jobs->data.sequence.items.start; it < jobs->data.sequence.items.top;
         it++) {
        int rv = loadJob(l, node(l, *it));
        if (rv != 0) {
            return rv;
        }
    }
    return collectNamespaces(l);
}

static int loadRoot(struct loader *l)
{
    yaml_node_t *root = yaml_document_get_root_node(&l->doc);
    if (root == NULL) {
        return errSet(l->err, l->errlen, RC_EPARSE, "%s: empty document (expected \"jobs:\")",
                      l->file);
    }
    if (root->type != YAML_MAPPING_NODE) {
        return fileError(l, root, RC_EPARSE, "expected a mapping with \"jobs:\"");
    }
    /* One job alone, as `job get -o yaml` prints it: a mapping with its name at the top. */
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        const char *name = scalar(node(l, p->key));
        if (name != NULL && strcmp(name, "name") == 0) {
            int rv = loadJob(l, root);
            return rv != 0 ? rv : collectNamespaces(l);
        }
    }
    yaml_node_t *jobs = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node(l, p->key), *v = node(l, p->value);
        const char *name = scalar(k) != NULL ? scalar(k) : "";
        if (strcmp(name, "jobs") == 0) {
            jobs = v;
        } else if (strcmp(name, "namespace") == 0) {
            if (scalar(v) == NULL) {
                return fileError(l, v, RC_EPARSE, "namespace: expected a single value");
            }
            l->ns_default = scalar(v);
        } else {
            return fileError(l, k, RC_EPARSE,
                             "unknown key \"%s\" (expected jobs, namespace; or one job with its "
                             "name)",
                             name);
        }
    }
    char why[RC_ERRMSG_SIZE];
    if (l->ns_default != NULL && jobsCheckKey(l->ns_default, "x", why, sizeof why) != 0) {
        return errSet(l->err, l->errlen, RC_EINVAL, "%s: namespace: %s", l->file, why);
    }
    return loadJobs(l, jobs);
}

static int parseError(const char *file, const yaml_parser_t *p, char *err, size_t errlen)
{
    if (p->error == YAML_MEMORY_ERROR) {
        return errSet(err, errlen, RC_ENOMEM, "%s: out of memory", file);
    }
    const char *problem = p->problem != NULL ? p->problem : "malformed YAML";
    if (p->context != NULL) {
        return errSet(err, errlen, RC_EPARSE, "%s:%zu: %s %s", file, p->problem_mark.line + 1,
                      problem, p->context);
    }
    return errSet(err, errlen, RC_EPARSE, "%s:%zu: %s", file, p->problem_mark.line + 1, problem);
}

int jobyamlLoad(const char *file, const char *text, size_t len, struct rc_jobfile *out, char *err,
                size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct loader l = {.file = file, .out = out, .err = err, .errlen = errlen};
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        return errSet(err, errlen, RC_ENOMEM, "%s: out of memory", file);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rv;
    if (!yaml_parser_load(&parser, &l.doc)) {
        rv = parseError(file, &parser, err, errlen);
        goto err_after_parser;
    }
    rv = loadRoot(&l);
    yaml_document_delete(&l.doc);
    if (rv != 0) {
        jobyamlFileClear(out);
    }
err_after_parser:
    yaml_parser_delete(&parser);
    return rv;
}

void jobyamlFileClear(struct rc_jobfile *f)
{
    for (size_t i = 0; i < f->n_jobs; i++) {
        jobyamlDefClear(&f->jobs[i]);
    }
    free(f->jobs);
    for (size_t i = 0; i < f->n_namespaces; i++) {
        free(f->namespaces[i]);
    }
    free(f->namespaces);
    memset(f, 0, sizeof *f);
}

/* ---- Showing a job --------------------------------------------------------------------------- */

static void emitEnum(const struct rc_jobemit *e, void *data, const char *key, unsigned value)
{
    const char *name = jobyamlEnumName(key, value);
    if (name != NULL) {
        e->str(data, key, name);
    } else {
        e->uint(data, key, value);
    }
}

static void emitMap(const struct rc_jobemit *e, void *data, const char *key, void *entries,
                    size_t n, char sep)
{
    if (n > 0) {
        e->map(data, key, (Raftcron__JobSpec__EnvEntry *const *)entries, n, sep);
    }
}

static void emitTrigger(const Raftcron__Trigger *t, const struct rc_jobemit *e, void *data)
{
    switch (t->kind_case) {
    case RAFTCRON__TRIGGER__KIND_CRON:
        e->str(data, "cron", t->cron);
        if (t->tz[0] != '\0') {
            e->str(data, "tz", t->tz);
        }
        emitEnum(e, data, "dst_gap", t->dst_gap);
        emitEnum(e, data, "dst_repeat", t->dst_repeat);
        break;
    case RAFTCRON__TRIGGER__KIND_INTERVAL_US:
        e->duration(data, "every", t->interval_us);
        break;
    case RAFTCRON__TRIGGER__KIND_AT_US:
        e->instant(data, "at", t->at_us);
        break;
    default:
        break;
    }
    const struct {
        const char *key;
        int64_t v;
    } times[] = {{"anchor", t->anchor_us}, {"start", t->start_us}, {"end", t->end_us}};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        if (times[i].v != 0) {
            e->instant(data, times[i].key, times[i].v);
        }
    }
    if (t->jitter_us != 0) {
        e->duration(data, "jitter", t->jitter_us);
    }
}

static void emitHttp(const Raftcron__HttpExec *h, const struct rc_jobemit *e, void *data)
{
    e->str(data, "http", h->url);
    e->str(data, "method", h->method);
    if (h->follow_redirects) {
        e->boolean(data, "follow_redirects", true);
    }
    if (h->tls_insecure) {
        e->boolean(data, "insecure", true);
    }
    if (h->ca_file[0] != '\0') {
        e->str(data, "ca_file", h->ca_file);
    }
    emitMap(e, data, "header", h->headers, h->n_headers, ':');
    if (h->body.len > 0) {
        e->bytes(data, "body", h->body.data, h->body.len);
    }
    if (h->n_expect_codes > 0) {
        e->codes(data, "expect", h->expect_codes, h->n_expect_codes);
    }
}

static void emitExecutor(const Raftcron__Executor *x, const struct rc_jobemit *e, void *data)
{
    switch (x->kind_case) {
    case RAFTCRON__EXECUTOR__KIND_SHELL:
        e->str(data, "shell", x->shell->command);
        if (x->shell->rlimits[0] != '\0') {
            e->str(data, "rlimits", x->shell->rlimits);
        }
        if (x->shell->workdir[0] != '\0') {
            e->str(data, "workdir", x->shell->workdir);
        }
        break;
    case RAFTCRON__EXECUTOR__KIND_HTTP:
        emitHttp(x->http, e, data);
        break;
    case RAFTCRON__EXECUTOR__KIND_SQL:
        e->str(data, "sql", x->sql->query);
        if (x->sql->conn[0] != '\0') {
            e->str(data, "conn", x->sql->conn);
        } else {
            e->str(data, "dsn", x->sql->dsn);
        }
        e->boolean(data, "once", x->sql->dedupe);
        break;
    case RAFTCRON__EXECUTOR__KIND_NOOP:
        e->boolean(data, "noop", true);
        break;
    default:
        break;
    }
}

static void emitPolicy(const Raftcron__Policy *p, const struct rc_jobemit *e, void *data)
{
    if (p->misfire_grace_us < 0) {
        e->str(data, "misfire_grace", "none");
    } else {
        e->duration(data, "misfire_grace", p->misfire_grace_us);
    }
    e->boolean(data, "coalesce", p->coalesce);
    emitEnum(e, data, "overlap", p->overlap);
    if (p->max_instances > 0) {
        e->uint(data, "max_instances", p->max_instances);
    }
}

static void emitRetry(const Raftcron__RetryPolicy *r, const struct rc_jobemit *e, void *data)
{
    e->uint(data, "retries", r->max_attempts > 0 ? r->max_attempts - 1 : 0);
    emitEnum(e, data, "backoff", r->backoff);
    if (r->delay_us != 0) {
        e->duration(data, "retry_delay", r->delay_us);
    }
    if (r->multiplier != 0) {
        e->real(data, "retry_multiplier", r->multiplier);
    }
    if (r->max_delay_us != 0) {
        e->duration(data, "retry_max_delay", r->max_delay_us);
    }
    if (r->jitter_us != 0) {
        e->duration(data, "retry_jitter", r->jitter_us);
    }
}

void jobyamlEmitSpec(const Raftcron__JobSpec *s, const struct rc_jobemit *e, void *data)
{
    if (s->description[0] != '\0') {
        e->str(data, "description", s->description);
    }
    if (s->trigger != NULL) {
        emitTrigger(s->trigger, e, data);
    }
    if (s->executor != NULL) {
        emitExecutor(s->executor, e, data);
    }
    if (s->policy != NULL) {
        emitPolicy(s->policy, e, data);
    }
    if (s->retry != NULL) {
        emitRetry(s->retry, e, data);
    }
    if (s->timeout_us != 0) {
        e->duration(data, "timeout_run", s->timeout_us);
    }
    emitMap(e, data, "target", s->target, s->n_target, '=');
    emitMap(e, data, "env", s->env, s->n_env, '=');
    e->boolean(data, "at_most_once", s->at_most_once);
}

void jobyamlEmitJob(const Raftcron__Job *job, const struct rc_jobemit *e, void *data)
{
    const Raftcron__JobSpec *s = job->spec;
    e->str(data, "name", s != NULL ? s->name : "");
    e->str(data, "namespace", s != NULL ? s->namespace_ : "");
    e->uint(data, "id", job->id);
    e->uint(data, "version", job->version);
    e->boolean(data, "paused", job->paused);
    if (job->paused) {
        e->instant(data, "paused_at", job->paused_us);
    }
    e->instant(data, "created", job->created_us);
    e->instant(data, "updated", job->updated_us);
    if (s != NULL) {
        jobyamlEmitSpec(s, e, data);
    }
    e->instant(data, "cursor", job->cursor_us);
    if (job->history_floor_us != 0) {
        e->instant(data, "history_floor", job->history_floor_us); /* backfills reach back here */
    }
    e->uint(data, "runs_total", job->runs_total);
    e->uint(data, "runs_failed", job->runs_failed);
    e->str(data, "last_outcome", job->last_outcome);
    e->instant(data, "last_finished", job->last_finished_us);
}

bool jobyamlStateKey(const char *key)
{
    static const char *const state[] = {
        "id",          "version",      "paused_at",     "created",
        "updated",     "cursor",       "history_floor", "runs_total",
        "runs_failed", "last_outcome", "last_finished"};
    for (size_t i = 0; i < sizeof state / sizeof state[0]; i++) {
        if (strcmp(key, state[i]) == 0) {
            return true;
        }
    }
    return false;
}
