/* The fake executor: runs are arithmetic on a virtual clock. Nothing here reads a clock, spawns
 * or arms a timer, so a simulation stays deterministic and runs a day of schedule in
 * milliseconds (STYLE.md §11). The outcome of a run is decided by its script, its timeout and
 * the instant it was cancelled, and delivered when fakeAdvance passes its end. */
#include "exec.h"

#include <assert.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rule {
    struct rule *next;
    char *job; /* owned; NULL: any job */
    bool once;
    struct fake_script script; /* output owned */
};

struct frun {
    struct exec_handle h; /* first: the handle given to the caller is the run */
    struct frun *next;
    exec_done_cb done;
    struct fake_script script; /* output owned */
    int64_t started_us;
    int64_t timeout_at; /* INT64_MAX: none */
    int64_t cancel_at;  /* INT64_MAX: not cancelled */
    int64_t kill_grace_us;
    size_t tail_max;
};

struct fake {
    struct exec_backend *b; /* borrowed */
    int64_t now;
    bool closing;
    uint64_t started;
    size_t in_flight;
    struct frun *runs; /* in flight, in start order */
    struct rule *rules;
};

/* How a run ends, derived from its script and the instants that stop it. */
struct ending {
    int64_t at;
    bool natural;   /* the script's own end, not a kill */
    bool timed_out; /* the first thing that stopped it was the timeout */
};

static int64_t addSat(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int64_t naturalEnd(const struct frun *r)
{
    switch (r->script.outcome) {
    case FAKE_START_FAIL:
        return r->started_us;
    case FAKE_HANG:
        return INT64_MAX;
    default:
        return addSat(r->started_us, r->script.duration_us);
    }
}

/* A stop (timeout or cancel, whichever came first) is SIGTERM; a script with ignore_term lives
 * on through the grace and gets SIGKILL, unless it ends by itself first. */
static struct ending endingOf(const struct frun *r)
{
    int64_t natural = naturalEnd(r);
    int64_t stop = r->timeout_at < r->cancel_at ? r->timeout_at : r->cancel_at;
    struct ending e = {.at = natural, .natural = true, .timed_out = false};
    if (natural <= stop) {
        return e;
    }
    e.timed_out = r->timeout_at < r->cancel_at;
    int64_t kill_at = r->script.ignore_term ? addSat(stop, r->kill_grace_us) : stop;
    if (kill_at < natural) {
        e.at = kill_at;
        e.natural = false;
    }
    return e;
}

static struct rule *pickRule(struct fake *f, const char *job, struct rule ***link_out)
{
    for (struct rule **l = &f->rules; *l != NULL; l = &(*l)->next) {
        struct rule *r = *l;
        if (r->once && (r->job == NULL || strcmp(r->job, job) == 0)) {
            *link_out = l;
            return r;
        }
    }
    *link_out = NULL;
    struct rule *any = NULL;
    for (struct rule *r = f->rules; r != NULL; r = r->next) {
        if (r->once) {
            continue;
        }
        if (r->job != NULL && strcmp(r->job, job) == 0) {
            return r;
        }
        if (r->job == NULL) {
            any = r;
        }
    }
    return any;
}

static void ruleFree(struct rule *r)
{
    free(r->job);
    free((char *)r->script.output);
    free(r);
}

static void frunFree(struct frun *r)
{
    free((char *)r->script.output);
    free(r);
}

/* ---- Completing runs -------------------------------------------------------------------- */

static void fillResult(const struct frun *r, struct ending e, struct exec_result *res)
{
    res->exit_code = -1;
    res->cancelled = r->cancel_at != INT64_MAX;
    res->timed_out = e.timed_out;
    res->started_us = r->started_us;
    res->finished_us = e.at;
    if (!e.natural) {
        res->term_signal = r->script.ignore_term ? SIGKILL : SIGTERM;
        return;
    }
    switch (r->script.outcome) {
    case FAKE_START_FAIL:
        res->start_failed = true;
        res->started_us = 0;
        snprintf(res->error, sizeof res->error, "spawn %s: scripted start failure",
                 r->h.backend->name);
        break;
    case FAKE_SIGNAL:
        res->term_signal = r->script.signal;
        break;
    default:
        res->exit_code = r->script.exit_code;
        break;
    }
}

static void unlinkRun(struct fake *f, struct frun *r)
{
    for (struct frun **l = &f->runs; *l != NULL; l = &(*l)->next) {
        if (*l == r) {
            *l = r->next;
            f->in_flight--;
            return;
        }
    }
    assert(false);
}

/* Deliver the run's end; it is freed once done returns. */
static void complete(struct fake *f, struct frun *r, struct ending e)
{
    struct exec_result res = {0};
    struct exec_tail tail;
    unlinkRun(f, r);
    fillResult(r, e, &res);
    if (execTailInit(&tail, r->tail_max) == 0) {
        if (r->script.output != NULL && !res.start_failed) {
            execTailAppend(&tail, (const uint8_t *)r->script.output, strlen(r->script.output));
        }
        execResultFromTail(&res, &tail);
    }
    r->done(&r->h, &res, r->h.data);
    execTailClose(&tail);
    frunFree(r);
}

/* The in-flight run that ends first (then earliest started) at or before limit. */
static struct frun *firstDue(struct fake *f, int64_t limit, struct ending *out)
{
    struct frun *best = NULL;
    struct ending best_e = {0};
    for (struct frun *r = f->runs; r != NULL; r = r->next) {
        struct ending e = endingOf(r);
        if (e.at <= limit && (best == NULL || e.at < best_e.at)) {
            best = r;
            best_e = e;
        }
    }
    *out = best_e;
    return best;
}

void fakeAdvance(struct exec_backend *b, int64_t now_us)
{
    struct fake *f = b->impl;
    if (now_us < f->now) {
        now_us = f->now;
    }
    struct ending e;
    struct frun *r;
    while ((r = firstDue(f, now_us, &e)) != NULL) {
        /* During the callback the clock reads the run's end, so that what the callback starts
         * begins at the right virtual instant. */
        if (e.at > f->now) {
            f->now = e.at;
        }
        complete(f, r, e);
    }
    f->now = now_us;
}

int64_t fakeNextEvent(const struct exec_backend *b)
{
    const struct fake *f = b->impl;
    int64_t next = INT64_MAX;
    for (const struct frun *r = f->runs; r != NULL; r = r->next) {
        struct ending e = endingOf(r);
        if (e.at < next) {
            next = e.at;
        }
    }
    return next;
}

/* ---- start / cancel / close ------------------------------------------------------------- */

static int copyScript(struct fake_script *dst, const struct fake_script *src)
{
    *dst = *src;
    dst->output = NULL;
    if (src->output != NULL && (dst->output = strdup(src->output)) == NULL) {
        return RC_ENOMEM;
    }
    return 0;
}

static int fakeStart(struct exec_backend *b, const struct exec_request *in, exec_done_cb done,
                     void *data, struct exec_handle **out)
{
    struct fake *f = b->impl;
    struct exec_request req;
    int rv;
    if (f->closing) {
        return errSet(b->errmsg, sizeof b->errmsg, RC_ESHUTDOWN, "fake executor is closing");
    }
    if ((rv = execRequestNormalize(in, &req, b->errmsg, sizeof b->errmsg)) != 0) {
        return rv;
    }
    struct frun *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return errSet(b->errmsg, sizeof b->errmsg, RC_ENOMEM, "out of memory");
    }
    struct rule **once_link;
    struct rule *rule = pickRule(f, req.job, &once_link);
    struct fake_script dflt = {.outcome = FAKE_EXIT};
    if (copyScript(&r->script, rule != NULL ? &rule->script : &dflt) != 0) {
        free(r);
        return errSet(b->errmsg, sizeof b->errmsg, RC_ENOMEM, "out of memory");
    }
    if (once_link != NULL) {
        *once_link = rule->next;
        ruleFree(rule);
    }
    r->h.backend = b;
    r->h.run_id = req.run_id;
    r->h.data = data;
    r->done = done;
    f->started++;
    r->started_us = f->now;
    r->timeout_at = req.timeout_us > 0 ? addSat(f->now, req.timeout_us) : INT64_MAX;
    r->cancel_at = INT64_MAX;
    r->kill_grace_us = req.kill_grace_us;
    r->tail_max = req.tail_max;
    struct frun **l = &f->runs;
    while (*l != NULL) {
        l = &(*l)->next;
    }
    *l = r;
    f->in_flight++;
    *out = &r->h;
    return 0;
}

static void fakeCancel(struct exec_handle *h)
{
    struct frun *r = (struct frun *)h;
    struct fake *f = h->backend->impl;
    if (r->cancel_at == INT64_MAX) {
        r->cancel_at = f->now;
    }
}

static void fakeClose(struct exec_backend *b, exec_close_cb close_cb)
{
    struct fake *f = b->impl;
    assert(!f->closing);
    f->closing = true;
    while (f->runs != NULL) {
        struct frun *r = f->runs;
        struct ending e = endingOf(r);
        if (e.at > f->now) {
            /* Close is abrupt: whatever has not ended by now is killed now, with SIGKILL. */
            r->script.ignore_term = true;
            e = (struct ending){.at = f->now, .natural = false, .timed_out = false};
        }
        if (r->cancel_at == INT64_MAX) {
            r->cancel_at = f->now;
        }
        complete(f, r, e);
    }
    while (f->rules != NULL) {
        struct rule *r = f->rules;
        f->rules = r->next;
        ruleFree(r);
    }
    free(f);
    b->impl = NULL;
    if (close_cb != NULL) {
        close_cb(b);
    }
}

int fakeInit(struct exec_backend *b, int64_t now_us)
{
    struct fake *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return RC_ENOMEM;
    }
    f->b = b;
    f->now = now_us;
    memset(b, 0, sizeof *b);
    b->name = "fake";
    b->impl = f;
    b->start = fakeStart;
    b->cancel = fakeCancel;
    b->close = fakeClose;
    return 0;
}

/* ---- Scripting -------------------------------------------------------------------------- */

static int addRule(struct fake *f, const char *job, const struct fake_script *s, bool once)
{
    struct rule *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return RC_ENOMEM;
    }
    r->once = once;
    if ((job != NULL && (r->job = strdup(job)) == NULL) || copyScript(&r->script, s) != 0) {
        ruleFree(r);
        return RC_ENOMEM;
    }
    struct rule **l = &f->rules;
    while (*l != NULL) {
        l = &(*l)->next;
    }
    *l = r;
    return 0;
}

/* A standing script replaces the one before it for the same job. */
static void dropStanding(struct fake *f, const char *job)
{
    struct rule **l = &f->rules;
    while (*l != NULL) {
        struct rule *r = *l;
        bool same = (job == NULL && r->job == NULL) ||
                    (job != NULL && r->job != NULL && strcmp(job, r->job) == 0);
        if (!r->once && same) {
            *l = r->next;
            ruleFree(r);
        } else {
            l = &r->next;
        }
    }
}

int fakeScript(struct exec_backend *b, const char *job, const struct fake_script *s)
{
    struct fake *f = b->impl;
    dropStanding(f, job);
    return addRule(f, job, s, false);
}

int fakeScriptOnce(struct exec_backend *b, const char *job, const struct fake_script *s)
{
    return addRule(b->impl, job, s, true);
}

size_t fakeInFlight(const struct exec_backend *b)
{
    const struct fake *f = b->impl;
    return f->in_flight;
}

uint64_t fakeStarted(const struct exec_backend *b)
{
    const struct fake *f = b->impl;
    return f->started;
}
