#include "exec.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "core/execpolicy.h"
#include "core/runs.h"
#include "core/timefmt.h"

const char *const EXEC_ENV_ALLOW[] = {
    "PATH",        "LANG",       "LANGUAGE",    "LC_ALL",  "LC_CTYPE", "LC_COLLATE",
    "LC_MESSAGES", "LC_NUMERIC", "LC_MONETARY", "LC_TIME", "TZ",       "TMPDIR",
    "HOME",        "USER",       "LOGNAME",     "SHELL",   NULL,
};

const char *execKindName(int kind_case)
{
    switch (kind_case) {
    case RAFTCRON__EXECUTOR__KIND_SHELL:
        return "shell";
    case RAFTCRON__EXECUTOR__KIND_HTTP:
        return "http";
    case RAFTCRON__EXECUTOR__KIND_SQL:
        return "sql";
    default:
        return NULL;
    }
}

uint32_t execResultState(const struct exec_result *res)
{
    if (res->timed_out) {
        return RC_RUN_TIMED_OUT;
    }
    if (res->start_failed || res->exit_code != 0 || res->term_signal != 0) {
        return RC_RUN_FAILED;
    }
    return RC_RUN_SUCCEEDED;
}

void execResultOutcome(const struct exec_result *res, Raftcron__Outcome *o,
                       Raftcron__HttpTimings *timings)
{
    o->exit_code = res->exit_code;
    o->http_status = res->http_status;
    o->rows = res->rows;
    o->output_tail.data = (uint8_t *)res->tail;
    o->output_tail.len = res->tail_len;
    o->error = (char *)res->error;
    o->sqlstate = (char *)res->sqlstate;
    o->command_status = (char *)res->command_status;
    o->already_done = res->already_done;
    if (res->http_status != 0 || res->timings.total_us != 0) {
        raftcron__http_timings__init(timings);
        timings->dns_us = res->timings.dns_us;
        timings->connect_us = res->timings.connect_us;
        timings->tls_us = res->timings.tls_us;
        timings->first_byte_us = res->timings.first_byte_us;
        timings->total_us = res->timings.total_us;
        o->http_timings = timings;
    }
}

/* The namespace of "namespace/name". */
static void namespaceOf(const char *job, char *ns, size_t len)
{
    const char *slash = job != NULL ? strchr(job, '/') : NULL;
    size_t n = slash != NULL ? (size_t)(slash - job) : 0;
    snprintf(ns, len, "%.*s", (int)n, job != NULL ? job : "");
}

int execStart(struct exec_backend *b, const struct exec_request *req, exec_done_cb done, void *data,
              struct exec_handle **out)
{
    if (b->security != NULL && b->security->policy != NULL) {
        char ns[128];
        namespaceOf(req->job, ns, sizeof ns);
        if (!execpolicyAllows(b->security->policy, ns, b->name)) {
            return errSet(b->errmsg, sizeof b->errmsg, RC_EINVAL,
                          "job %s: namespace %s may not use the %s executor on this worker "
                          "(--executors)",
                          req->job, ns[0] != '\0' ? ns : "default", b->name);
        }
    }
    return b->start(b, req, done, data, out);
}

void execSetSecurity(struct exec_backend *b, const struct exec_security *s)
{
    b->security = s;
}

/* A name, or a number. */
static bool parseId(const char *s, unsigned *out)
{
    if (*s == '\0' || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9) {
        return false;
    }
    *out = (unsigned)strtoul(s, NULL, 10);
    return true;
}

int execResolveUser(const char *spec, struct exec_user *u, char *errmsg, size_t errlen)
{
    memset(u, 0, sizeof *u);
    char user[128], group[128] = "";
    const char *colon = strchr(spec, ':');
    size_t ul = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
    if (ul == 0 || ul >= sizeof user || (colon != NULL && strlen(colon + 1) >= sizeof group)) {
        return errSet(errmsg, errlen, RC_EINVAL, "run-as \"%s\": expected USER[:GROUP]", spec);
    }
    memcpy(user, spec, ul);
    user[ul] = '\0';
    if (colon != NULL) {
        snprintf(group, sizeof group, "%s", colon + 1);
    }
    unsigned id;
    struct passwd *pw = parseId(user, &id) ? getpwuid(id) : getpwnam(user);
    if (pw == NULL && !parseId(user, &id)) {
        return errSet(errmsg, errlen, RC_EINVAL, "run-as: no user %s", user);
    }
    u->uid = pw != NULL ? pw->pw_uid : id;
    u->gid = pw != NULL ? pw->pw_gid : id;
    snprintf(u->name, sizeof u->name, "%.63s", pw != NULL ? pw->pw_name : user);
    snprintf(u->home, sizeof u->home, "%.255s", pw != NULL ? pw->pw_dir : "/");
    if (group[0] != '\0') {
        struct group *gr = parseId(group, &id) ? getgrgid(id) : getgrnam(group);
        if (gr == NULL && !parseId(group, &id)) {
            return errSet(errmsg, errlen, RC_EINVAL, "run-as: no group %s", group);
        }
        u->gid = gr != NULL ? gr->gr_gid : id;
    }
    if (u->uid == 0 || u->gid == 0) {
        return errSet(errmsg, errlen, RC_EINVAL,
                      "run-as %s: is root; name an unprivileged user (or use --allow-root-jobs)",
                      spec);
    }
    /* The user's own supplementary groups, the chosen group first; never root's. */
    gid_t groups[64];
    int n = 64;
    u->groups[0] = u->gid;
    u->n_groups = 1;
    if (pw != NULL && getgrouplist(pw->pw_name, (gid_t)u->gid, groups, &n) >= 0) {
        for (int i = 0; i < n && u->n_groups < sizeof u->groups / sizeof u->groups[0]; i++) {
            if (groups[i] != 0 && groups[i] != (gid_t)u->gid) {
                u->groups[u->n_groups++] = groups[i];
            }
        }
    }
    u->set = true;
    return 0;
}

void execCancel(struct exec_handle *h)
{
    h->backend->cancel(h);
}

void execClose(struct exec_backend *b, exec_close_cb close_cb)
{
    b->close(b, close_cb);
}

int execRequestNormalize(const struct exec_request *req, struct exec_request *out, char *errmsg,
                         size_t errlen)
{
    if (req->job == NULL || req->job[0] == '\0') {
        return errSet(errmsg, errlen, RC_EINVAL, "run %" PRIu64 ": no job name", req->run_id);
    }
    if (req->timeout_us < 0 || req->kill_grace_us < 0) {
        return errSet(errmsg, errlen, RC_EINVAL, "run %" PRIu64 ": negative timeout or grace",
                      req->run_id);
    }
    if (req->tail_max > EXEC_TAIL_MAX_LIMIT) {
        return errSet(errmsg, errlen, RC_EINVAL, "run %" PRIu64 ": tail_max %zu above %u",
                      req->run_id, req->tail_max, EXEC_TAIL_MAX_LIMIT);
    }
    *out = *req;
    if (out->kill_grace_us == 0) {
        out->kill_grace_us = EXEC_KILL_GRACE_US_DEFAULT;
    }
    if (out->tail_max == 0) {
        out->tail_max = EXEC_TAIL_MAX_DEFAULT;
    }
    return 0;
}

/* ---- Output tail ------------------------------------------------------------------------ */

/* A ring, not a growing buffer: a job printing gigabytes must cost cap bytes, and only its end
 * is worth keeping (that is where the error is). */
int execTailInit(struct exec_tail *t, size_t cap)
{
    memset(t, 0, sizeof *t);
    if (cap > 0) {
        t->buf = malloc(cap);
        if (t->buf == NULL) {
            return RC_ENOMEM;
        }
    }
    t->cap = cap;
    return 0;
}

void execTailAppend(struct exec_tail *t, const uint8_t *data, size_t n)
{
    t->total += n;
    if (t->cap == 0) {
        return;
    }
    if (n >= t->cap) {
        memcpy(t->buf, data + (n - t->cap), t->cap);
        t->start = 0;
        t->len = t->cap;
        return;
    }
    size_t end = (t->start + t->len) % t->cap;
    size_t first = t->cap - end < n ? t->cap - end : n;
    memcpy(t->buf + end, data, first);
    memcpy(t->buf, data + first, n - first);
    size_t overflow = t->len + n > t->cap ? t->len + n - t->cap : 0;
    t->len += n - overflow;
    t->start = (t->start + overflow) % t->cap;
}

static void reverse(uint8_t *p, size_t n)
{
    for (size_t i = 0, j = n; i + 1 < j; i++, j--) {
        uint8_t c = p[i];
        p[i] = p[j - 1];
        p[j - 1] = c;
    }
}

const uint8_t *execTailLinearize(struct exec_tail *t)
{
    if (t->start == 0) {
        return t->buf;
    }
    /* The ring is full whenever start != 0 (it only advances on overflow): rotating the whole
     * buffer left by start needs no scratch memory. */
    reverse(t->buf, t->start);
    reverse(t->buf + t->start, t->cap - t->start);
    reverse(t->buf, t->cap);
    t->start = 0;
    return t->buf;
}

void execTailClose(struct exec_tail *t)
{
    free(t->buf);
    memset(t, 0, sizeof *t);
}

void execResultFromTail(struct exec_result *res, struct exec_tail *t)
{
    res->tail = execTailLinearize(t);
    res->tail_len = t->len;
    res->output_bytes = t->total;
    res->tail_truncated = t->total > t->len;
    res->tail_capacity = t->cap;
}

/* ---- Environment ------------------------------------------------------------------------ */

struct env_builder {
    char **v; /* owned strings */
    size_t n;
    size_t cap;
};

static size_t nameLen(const char *kv)
{
    const char *eq = strchr(kv, '=');
    return eq == NULL ? 0 : (size_t)(eq - kv);
}

/* Later writers win: replace the entry with the same name, or append. kv is owned on success. */
static int envPut(struct env_builder *e, char *kv)
{
    size_t len = nameLen(kv);
    for (size_t i = 0; i < e->n; i++) {
        if (nameLen(e->v[i]) == len && strncmp(e->v[i], kv, len) == 0) {
            free(e->v[i]);
            e->v[i] = kv;
            return 0;
        }
    }
    if (e->n + 1 >= e->cap) {
        size_t cap = e->cap == 0 ? 64 : e->cap * 2;
        char **v = realloc(e->v, cap * sizeof *v);
        if (v == NULL) {
            return RC_ENOMEM;
        }
        e->v = v;
        e->cap = cap;
    }
    e->v[e->n++] = kv;
    e->v[e->n] = NULL;
    return 0;
}

static int envPutCopy(struct env_builder *e, const char *kv)
{
    char *copy = strdup(kv);
    if (copy == NULL || envPut(e, copy) != 0) {
        free(copy);
        return RC_ENOMEM;
    }
    return 0;
}

static int envPutf(struct env_builder *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int envPutf(struct env_builder *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *kv = NULL;
    int n = vasprintf(&kv, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return RC_ENOMEM;
    }
    if (envPut(e, kv) != 0) {
        free(kv);
        return RC_ENOMEM;
    }
    return 0;
}

static int putRunVars(struct env_builder *e, const struct exec_request *req)
{
    char at[RC_TIMEFMT_MAX];
    timefmtFormat(req->scheduled_us, 0, at);
    if (envPutf(e, "RAFTCRON_JOB=%s", req->job) != 0 ||
        envPutf(e, "RAFTCRON_RUN_ID=%" PRIu64, req->run_id) != 0 ||
        envPutf(e, "RAFTCRON_FENCE=%" PRIu64, req->fence) != 0 ||
        envPutf(e, "RAFTCRON_ATTEMPT=%" PRIu32, req->attempt) != 0 ||
        envPutf(e, "RAFTCRON_SCHEDULED_AT=%s", at) != 0) {
        return RC_ENOMEM;
    }
    return 0;
}

static bool allowed(const char *kv, const char *keep)
{
    size_t len = nameLen(kv);
    if (len >= 9 && strncmp(kv, "RAFTCRON_", 9) == 0) {
        return false;
    }
    for (const char *p = keep; p != NULL && *p != '\0';) {
        size_t n = strcspn(p, ",");
        if (n == len && strncmp(p, kv, len) == 0) {
            return true;
        }
        p += n + (p[n] == ',');
    }
    for (size_t i = 0; EXEC_ENV_ALLOW[i] != NULL; i++) {
        if (strlen(EXEC_ENV_ALLOW[i]) == len && strncmp(EXEC_ENV_ALLOW[i], kv, len) == 0) {
            return true;
        }
    }
    return false;
}

int execEnvBuild(const char *const *base, const char *keep, const char *const *identity,
                 const struct exec_request *req, char ***out, char *errmsg, size_t errlen)
{
    struct env_builder e = {0};
    int rv = 0;
    for (size_t i = 0; req->env != NULL && req->env[i] != NULL; i++) {
        if (nameLen(req->env[i]) == 0) {
            rv = errSet(errmsg, errlen, RC_EINVAL, "job %s: env entry \"%s\" is not NAME=VALUE",
                        req->job, req->env[i]);
            goto err;
        }
    }
    if ((rv = envPutCopy(&e, "PATH=/usr/local/bin:/usr/bin:/bin")) != 0) {
        goto err_nomem;
    }
    for (size_t i = 0; base != NULL && base[i] != NULL; i++) {
        if (nameLen(base[i]) > 0 && allowed(base[i], keep) && (rv = envPutCopy(&e, base[i])) != 0) {
            goto err_nomem;
        }
    }
    for (size_t i = 0; identity != NULL && identity[i] != NULL; i++) {
        if ((rv = envPutCopy(&e, identity[i])) != 0) {
            goto err_nomem;
        }
    }
    for (size_t i = 0; req->env != NULL && req->env[i] != NULL; i++) {
        if ((rv = envPutCopy(&e, req->env[i])) != 0) {
            goto err_nomem;
        }
    }
    if ((rv = putRunVars(&e, req)) != 0) {
        goto err_nomem;
    }
    *out = e.v;
    return 0;

err_nomem:
    errSet(errmsg, errlen, rv, "job %s: out of memory building the environment", req->job);
err:
    assert(rv != 0);
    execEnvFree(e.v);
    return rv;
}

void execEnvFree(char **env)
{
    for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
        free(env[i]);
    }
    free(env);
}
