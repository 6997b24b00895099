#include "ledgerjson.h"

#include <stdbool.h>
#include <string.h>

#include "jobjson.h"
#include "policy.h"
#include "runs.h"
#include "timefmt.h"

/* An object under construction: the first failed set marks it, finish() then drops it. */
struct obj {
    json_t *o;
    bool failed;
};

static void set(struct obj *b, const char *key, json_t *v)
{
    if (b->o == NULL || v == NULL || json_object_set_new(b->o, key, v) != 0) {
        b->failed = true;
    }
}

static void setStr(struct obj *b, const char *key, const char *s)
{
    set(b, key, jobjsonString(s, strlen(s)));
}

static void setInt(struct obj *b, const char *key, int64_t v)
{
    set(b, key, json_integer((json_int_t)v));
}

static void setTime(struct obj *b, const char *key, int64_t us)
{
    if (us == 0) {
        set(b, key, json_null());
        return;
    }
    char buf[RC_TIMEFMT_MAX];
    timefmtFormat(us, 0, buf);
    set(b, key, json_string(buf));
}

static json_t *finish(struct obj *b)
{
    if (b->failed) {
        json_decref(b->o);
        return NULL;
    }
    return b->o;
}

static void setOutcome(struct obj *b, const Raftcron__Outcome *o)
{
    if (o == NULL) {
        set(b, "exit_code", json_null());
        set(b, "http_status", json_null());
        set(b, "rows", json_null());
        setStr(b, "error", "");
        setStr(b, "output_tail", "");
        return;
    }
    setInt(b, "exit_code", o->exit_code);
    setInt(b, "http_status", o->http_status);
    setInt(b, "rows", o->rows);
    setStr(b, "command_status", o->command_status);
    setStr(b, "sqlstate", o->sqlstate);
    set(b, "already_done", json_boolean(o->already_done));
    if (o->http_timings != NULL) {
        const Raftcron__HttpTimings *t = o->http_timings;
        struct obj ht = {.o = json_object()};
        setInt(&ht, "dns", t->dns_us);
        setInt(&ht, "connect", t->connect_us);
        setInt(&ht, "tls", t->tls_us);
        setInt(&ht, "first_byte", t->first_byte_us);
        setInt(&ht, "total", t->total_us);
        set(b, "http_timings_us", finish(&ht));
    }
    setStr(b, "error", o->error);
    set(b, "output_tail", jobjsonString(o->output_tail.data, o->output_tail.len));
}

/* "ns/name" → the two parts, for objects that carry the job's key. */
static void setJobKey(struct obj *b, const char *key)
{
    const char *slash = strchr(key, '/');
    setStr(b, "job", key);
    if (slash != NULL) {
        set(b, "namespace", json_stringn(key, (size_t)(slash - key)));
        setStr(b, "name", slash + 1);
    }
}

json_t *ledgerjsonRun(const Raftcron__Run *r)
{
    struct obj b = {.o = json_object()};
    setInt(&b, "id", (int64_t)r->id);
    setJobKey(&b, r->job);
    setTime(&b, "scheduled_at", r->scheduled_us);
    setStr(&b, "state", runsStateName(r->state));
    setInt(&b, "attempt", r->attempt);
    setInt(&b, "worker", (int64_t)r->worker_id);
    setInt(&b, "fence", (int64_t)r->fence);
    setTime(&b, "fired_at", r->fired_us);
    setTime(&b, "start_at", r->start_at_us);
    setTime(&b, "started_at", r->started_us);
    setTime(&b, "finished_at", r->finished_us);
    setTime(&b, "not_before", r->not_before_us);
    set(&b, "manual", json_boolean(r->manual));
    set(&b, "backfill", json_boolean(r->backfill));
    setOutcome(&b, r->outcome);
    setStr(&b, "wait_reason", r->wait_reason);
    setStr(&b, "end_reason", r->end_reason);
    return finish(&b);
}

json_t *ledgerjsonDecision(const Raftcron__Decision *d)
{
    struct obj b = {.o = json_object()};
    setInt(&b, "id", (int64_t)d->id);
    setJobKey(&b, d->job);
    setStr(&b, "decision", policyDecisionName((enum rc_decision)d->decision));
    setStr(&b, "reason", policyReasonText((enum rc_reason)d->reason));
    setTime(&b, "first", d->first_us);
    setTime(&b, "last", d->last_us);
    setInt(&b, "count", (int64_t)d->count);
    setInt(&b, "run_id", (int64_t)d->run_id);
    setTime(&b, "decided_at", d->decided_us);
    set(&b, "manual", json_boolean(d->manual));
    set(&b, "backfill", json_boolean(d->backfill));
    return finish(&b);
}

json_t *ledgerjsonStats(const Raftcron__JobStatsResponse *s)
{
    static const Raftcron__JobStats none = RAFTCRON__JOB_STATS__INIT;
    const Raftcron__JobStats *c = s->stats != NULL ? s->stats : &none;
    struct obj b = {.o = json_object()};
    setStr(&b, "namespace", s->namespace_);
    setStr(&b, "name", s->name);
    setInt(&b, "version", (int64_t)s->version);
    set(&b, "paused", json_boolean(s->paused));
    const struct {
        const char *key;
        uint64_t v;
    } counts[] = {
        {"runs_total", c->runs},     {"runs_manual", c->manual}, {"fired", c->fired},
        {"coalesced", c->coalesced}, {"missed", c->missed},      {"skipped", c->skipped},
        {"succeeded", c->succeeded}, {"failed", c->failed},      {"timed_out", c->timed_out},
        {"lost", c->lost},           {"retried", c->retried},    {"dead", c->dead},
        {"cancelled", c->cancelled},
    };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        setInt(&b, counts[i].key, (int64_t)counts[i].v);
    }
    setInt(&b, "active", s->active);
    struct obj last = {.o = json_object()};
    if (c->last_run_id != 0) {
        setInt(&last, "run_id", (int64_t)c->last_run_id);
        setStr(&last, "state", runsStateName(c->last_state));
        setTime(&last, "started_at", c->last_started_us);
        setTime(&last, "finished_at", c->last_finished_us);
        if (c->last_started_us != 0 && c->last_finished_us >= c->last_started_us) {
            setInt(&last, "duration_us", c->last_finished_us - c->last_started_us);
        } else {
            set(&last, "duration_us", json_null());
        }
        set(&b, "last_run", finish(&last));
    } else {
        json_decref(last.o);
        set(&b, "last_run", json_null());
    }
    setTime(&b, "last_success", c->last_success_us);
    setTime(&b, "last_failure", c->last_failure_us);
    struct obj d = {.o = json_object()};
    setInt(&d, "retained", s->retained);
    setInt(&d, "mean_us", s->mean_duration_us);
    setInt(&d, "p95_us", s->p95_duration_us);
    setInt(&d, "max_us", s->max_duration_us);
    setInt(&d, "all_time_count", (int64_t)c->duration_count);
    setInt(&d, "all_time_mean_us",
           c->duration_count > 0 ? (int64_t)(c->duration_sum_us / c->duration_count) : 0);
    set(&b, "durations", finish(&d));
    json_t *next = json_array();
    for (size_t i = 0; next != NULL && i < s->n_next_us; i++) {
        char buf[RC_TIMEFMT_MAX];
        timefmtFormat(s->next_us[i], 0, buf);
        if (json_array_append_new(next, json_string(buf)) != 0) {
            json_decref(next);
            next = NULL;
        }
    }
    set(&b, "next", next);
    return finish(&b);
}

json_t *ledgerjsonEvent(const Raftcron__Event *e)
{
    struct obj b = {.o = json_object()};
    setInt(&b, "index", (int64_t)e->index);
    setStr(&b, "type", e->type);
    setStr(&b, "namespace", e->namespace_);
    setStr(&b, "job", e->job);
    if (strncmp(e->type, "job.", 4) == 0) {
        setInt(&b, "version", (int64_t)e->job_version);
    } else {
        if (e->run_id != 0) {
            setInt(&b, "run_id", (int64_t)e->run_id);
            setInt(&b, "attempt", e->attempt);
            setInt(&b, "worker", (int64_t)e->worker_id);
        }
        setTime(&b, "scheduled_at", e->scheduled_us);
        if (e->count != 0) {
            setInt(&b, "count", (int64_t)e->count);
        }
    }
    if (strcmp(e->type, "run.succeeded") == 0 || strcmp(e->type, "run.failed") == 0 ||
        strcmp(e->type, "run.timed_out") == 0) {
        setInt(&b, "exit_code", e->exit_code);
        setInt(&b, "http_status", e->http_status);
    }
    if (e->reason[0] != '\0') {
        setStr(&b, "reason", e->reason);
    }
    setTime(&b, "at", e->at_us);
    return finish(&b);
}
