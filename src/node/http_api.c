/*
 * The routes of the REST API (docs/rest.md): each turns a request into the RPC of the same
 * meaning (httpCall) and its answer into JSON, or serves a page of its own (/health, /ready,
 * /metrics, the OpenAPI document, the dashboard). The job object is core/jobjson.h, runs,
 * decisions, statistics and events core/ledgerjson.h: nothing here converts a field by hand.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "core/authz.h"
#include "core/backfill.h"
#include "core/err.h"
#include "core/jobjson.h"
#include "core/jobs.h"
#include "core/ledgerjson.h"
#include "core/policy.h"
#include "core/timefmt.h"
#include "http.h"
#include "http_assets.h"
#include "metrics.h"
#include "node.h"
#include "rpc.h"

#define MAX_SEGMENTS  8
#define READY_LAG     1000 /* entries the applied index may trail the commit index (ready) */
#define HEALTH_LAG_MS 1000

/* A route's state across its RPCs. */
struct ctx {
    char ns[RC_JOBS_NAMESPACE_MAX + 1];
    char name[RC_JOBS_NAME_MAX + 1];
    bool if_match;    /* the request named a version */
    uint64_t version; /* If-Match's */
    bool none_match;  /* If-None-Match: * (create only) */
    json_t *patch;    /* PATCH: the merge patch */
    bool paused_set;  /* the body says paused */
    bool paused;
    unsigned status; /* the status of the first step (201 when created) */
};

static void ctxFree(void *p)
{
    struct ctx *c = p;
    json_decref(c->patch);
    free(c);
}

static struct ctx *newCtx(struct http_req *r, const char *ns, const char *name)
{
    struct ctx *c = calloc(1, sizeof *c);
    if (c == NULL) {
        httpError(r, 503, "RESOURCE_EXHAUSTED", "out of memory", NULL);
        return NULL;
    }
    snprintf(c->ns, sizeof c->ns, "%s", ns != NULL ? ns : "");
    snprintf(c->name, sizeof c->name, "%s", name != NULL ? name : "");
    r->ctx = c;
    r->ctx_free = ctxFree;
    return c;
}

static void badRequest(struct http_req *r, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void badRequest(struct http_req *r, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    httpError(r, 400, "INVALID_ARGUMENT", msg,
              field != NULL ? json_pack("{s:s}", "field", field) : NULL);
}

/* ---- Arguments ------------------------------------------------------------------------------- */

static bool uintArg(struct http_req *r, const char *name, uint64_t min, uint64_t max, uint64_t *out)
{
    const char *v = httpQuery(r, name);
    if (v == NULL) {
        return true;
    }
    char *end;
    errno = 0;
    unsigned long long n = v[0] >= '0' && v[0] <= '9' ? strtoull(v, &end, 10) : 0;
    if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 || n < min || n > max) {
        badRequest(r, name, "%s: \"%.40s\" is not a whole number from %llu to %llu", name, v,
                   (unsigned long long)min, (unsigned long long)max);
        return false;
    }
    *out = n;
    return true;
}

static bool boolArg(struct http_req *r, const char *name, bool *out)
{
    const char *v = httpQuery(r, name);
    if (v == NULL) {
        return true;
    }
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || v[0] == '\0') {
        *out = true;
    } else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
        *out = false;
    } else {
        badRequest(r, name, "%s: \"%.40s\" is not true or false", name, v);
        return false;
    }
    return true;
}

static bool keyArg(struct http_req *r, const char *ns, const char *name)
{
    char why[RC_ERRMSG_SIZE];
    if (ns != NULL && jobsCheckKey(ns, "x", why, sizeof why) != 0) {
        badRequest(r, "namespace", "%s", why);
        return false;
    }
    if (name != NULL && jobsCheckKey("x", name, why, sizeof why) != 0) {
        badRequest(r, "name", "%s", why);
        return false;
    }
    return true;
}

/* If-Match: "N", W/"N", N or *. */
static bool ifMatch(struct http_req *r, struct ctx *c)
{
    const char *v = httpHeader(r, "If-Match");
    const char *none = httpHeader(r, "If-None-Match");
    c->none_match = none != NULL && strcmp(none, "*") == 0;
    if (v == NULL || strcmp(v, "*") == 0) {
        return true;
    }
    const char *p = v;
    if (strncmp(p, "W/", 2) == 0) {
        p += 2;
    }
    bool quoted = *p == '"';
    p += quoted;
    char *end;
    errno = 0;
    unsigned long long n = *p >= '1' && *p <= '9' ? strtoull(p, &end, 10) : 0;
    if (n == 0 || errno != 0 || (quoted ? strcmp(end, "\"") != 0 : *end != '\0')) {
        badRequest(r, "If-Match", "If-Match: \"%.40s\" is not a job version (an ETag)", v);
        return false;
    }
    c->if_match = true;
    c->version = n;
    return true;
}

/* ---- Answers of the RPCs --------------------------------------------------------------------- */

static bool failed(struct http_req *r, const Raftcron__Response *resp, bool if_match)
{
    if (resp->status != RC_STATUS_OK) {
        httpRpcError(r, resp, if_match);
        return true;
    }
    return false;
}

/* Unpack the answer's payload, or answer 500. */
static void *payload(struct http_req *r, const Raftcron__Response *resp,
                     const ProtobufCMessageDescriptor *desc)
{
    void *m = protobuf_c_message_unpack(desc, NULL, resp->payload.len, resp->payload.data);
    if (m == NULL) {
        httpError(r, 500, "INTERNAL", "malformed answer", NULL);
    }
    return m;
}

static void jobAnswer(struct http_req *r, unsigned status, const Raftcron__Job *job)
{
    char etag[32], location[320];
    snprintf(etag, sizeof etag, "\"%llu\"", (unsigned long long)job->version);
    snprintf(location, sizeof location, "/v1/namespaces/%s/jobs/%s", job->spec->namespace_,
             job->spec->name);
    const char *headers[4] = {"ETag", etag, "Location", location};
    httpJson(r, status, jobjsonEncodeJob(job), headers, status == 201 ? 2 : 1);
}

static void jobDone(struct http_req *r, const Raftcron__Response *resp)
{
    struct ctx *c = r->ctx;
    if (failed(r, resp, c != NULL && c->if_match)) {
        return;
    }
    Raftcron__JobResponse *m = payload(r, resp, &raftcron__job_response__descriptor);
    if (m == NULL) {
        return;
    }
    const char *inm = httpHeader(r, "If-None-Match");
    char etag[32];
    snprintf(etag, sizeof etag, "\"%llu\"", (unsigned long long)m->job->version);
    if (strcmp(r->method, "GET") == 0 && inm != NULL && strcmp(inm, etag) == 0) {
        const char *headers[2] = {"ETag", etag};
        httpBytes(r, 304, NULL, "", 0, headers, 1);
    } else {
        jobAnswer(r, c != NULL && c->status != 0 ? c->status : 200, m->job);
    }
    raftcron__job_response__free_unpacked(m, NULL);
}

/* After a put: settle the paused flag the body asked for (a put pauses only at creation). */
static void putDone(struct http_req *r, const Raftcron__Response *resp)
{
    struct ctx *c = r->ctx;
    if (failed(r, resp, c->if_match)) {
        return;
    }
    Raftcron__JobPutResponse *m = payload(r, resp, &raftcron__job_put_response__descriptor);
    if (m == NULL) {
        return;
    }
    c->status = m->created ? 201 : 200;
    if (c->paused_set && m->job->paused != c->paused) {
        Raftcron__JobRequest req = RAFTCRON__JOB_REQUEST__INIT;
        req.namespace_ = m->job->spec->namespace_;
        req.name = m->job->spec->name;
        c->if_match = false;
        httpCall(r, c->paused ? "Job.Pause" : "Job.Resume", &req.base, jobDone);
    } else {
        jobAnswer(r, c->status, m->job);
    }
    raftcron__job_put_response__free_unpacked(m, NULL);
}

static void putDef(struct http_req *r, struct ctx *c, struct rc_jobdef *def, bool create_only)
{
    Raftcron__JobPutRequest req = RAFTCRON__JOB_PUT_REQUEST__INIT;
    req.spec = def->spec;
    req.expected_version = c->if_match ? c->version : 0;
    req.create_only = create_only || c->none_match;
    req.paused = def->paused;
    c->paused_set = def->paused_set;
    c->paused = def->paused;
    httpCall(r, "Job.Put", &req.base, putDone);
    jobyamlDefClear(def);
}

static void decodeError(struct http_req *r, int rv, const char *err)
{
    if (rv == RC_ENOMEM) {
        httpError(r, 503, "RESOURCE_EXHAUSTED", "out of memory", NULL);
        return;
    }
    size_t n = strcspn(err, ": ");
    char field[65] = "body";
    if (n > 0 && n < sizeof field && err[n] == ':' && strncmp(err, "body", 4) != 0) {
        memcpy(field, err, n);
        field[n] = '\0';
    }
    if (strncmp(err, "unknown key \"", 13) == 0) {
        size_t k = strcspn(err + 13, "\"");
        if (k < sizeof field) {
            memcpy(field, err + 13, k);
            field[k] = '\0';
        }
    }
    badRequest(r, field, "%s", err);
}

/* ---- Jobs ------------------------------------------------------------------------------------ */

static void listDone(struct http_req *r, const Raftcron__Response *resp)
{
    if (failed(r, resp, false)) {
        return;
    }
    Raftcron__JobListResponse *m = payload(r, resp, &raftcron__job_list_response__descriptor);
    if (m == NULL) {
        return;
    }
    json_t *jobs = json_array();
    for (size_t i = 0; i < m->n_jobs; i++) {
        json_array_append_new(jobs, jobjsonEncodeJob(m->jobs[i]));
    }
    httpJson(r, 200,
             json_pack("{s:o, s:s?}", "jobs", jobs, "next_page_token",
                       m->next_page_token[0] != '\0' ? m->next_page_token : NULL),
             NULL, 0);
    raftcron__job_list_response__free_unpacked(m, NULL);
}

static void listJobs(struct http_req *r, const char *ns)
{
    static const char *const allowed[] = {"limit", "page_token", "stale", NULL};
    uint64_t limit = 0;
    bool stale = false;
    if (!httpQueryOnly(r, allowed) || !uintArg(r, "limit", 1, 1000, &limit) ||
        !boolArg(r, "stale", &stale)) {
        return;
    }
    Raftcron__JobListRequest req = RAFTCRON__JOB_LIST_REQUEST__INIT;
    req.namespace_ = (char *)(ns != NULL ? ns : "");
    req.limit = (uint32_t)limit;
    req.stale = stale;
    const char *token = httpQuery(r, "page_token");
    req.page_token = (char *)(token != NULL ? token : "");
    httpCall(r, "Job.List", &req.base, listDone);
}

static void createJob(struct http_req *r, const char *ns)
{
    struct ctx *c = newCtx(r, ns, NULL);
    if (c == NULL || !ifMatch(r, c)) {
        return;
    }
    struct rc_jobdef def;
    char err[RC_ERRMSG_SIZE];
    int rv = jobjsonDecode(r->body != NULL ? r->body : "", r->len, ns, NULL, &def, err, sizeof err);
    if (rv != 0) {
        decodeError(r, rv, err);
        return;
    }
    putDef(r, c, &def, true);
}

static void replaceJob(struct http_req *r, const char *ns, const char *name)
{
    struct ctx *c = newCtx(r, ns, name);
    if (c == NULL || !ifMatch(r, c)) {
        return;
    }
    struct rc_jobdef def;
    char err[RC_ERRMSG_SIZE];
    int rv = jobjsonDecode(r->body != NULL ? r->body : "", r->len, ns, name, &def, err, sizeof err);
    if (rv != 0) {
        decodeError(r, rv, err);
        return;
    }
    putDef(r, c, &def, false);
}

/* PATCH (RFC 7386): the stored definition, the patch merged over it, put back under the
 * version read (or If-Match's), so that a concurrent change is a conflict, not lost. */
static void patchRead(struct http_req *r, const Raftcron__Response *resp)
{
    struct ctx *c = r->ctx;
    if (failed(r, resp, c->if_match)) {
        return;
    }
    Raftcron__JobResponse *m = payload(r, resp, &raftcron__job_response__descriptor);
    if (m == NULL) {
        return;
    }
    json_t *base = jobjsonEncodeSpec(m->job->spec);
    if (!c->if_match) {
        c->version = m->job->version;
    } else if (c->version != m->job->version) {
        char msg[320];
        snprintf(msg, sizeof msg, "job %s/%s is at version %llu, If-Match names %llu", c->ns,
                 c->name, (unsigned long long)m->job->version, (unsigned long long)c->version);
        httpError(r, 412, "FAILED_PRECONDITION", msg, NULL);
        json_decref(base);
        raftcron__job_response__free_unpacked(m, NULL);
        return;
    }
    raftcron__job_response__free_unpacked(m, NULL);
    struct rc_jobdef def;
    char err[RC_ERRMSG_SIZE];
    int rv = base == NULL || jobjsonMergePatch(base, c->patch) != 0
                 ? errSet(err, sizeof err, RC_ENOMEM, "out of memory")
                 : jobjsonDecodeObject(base, c->ns, c->name, &def, err, sizeof err);
    json_decref(base);
    if (rv != 0) {
        decodeError(r, rv, err);
        return;
    }
    bool named = c->if_match;
    c->if_match = true; /* the version read is the compare-and-set */
    putDef(r, c, &def, false);
    c->if_match = named || c->if_match;
}

static void patchJob(struct http_req *r, const char *ns, const char *name)
{
    struct ctx *c = newCtx(r, ns, name);
    if (c == NULL || !ifMatch(r, c)) {
        return;
    }
    json_error_t jerr;
    c->patch = json_loadb(r->body != NULL ? r->body : "", r->len, JSON_REJECT_DUPLICATES, &jerr);
    if (c->patch == NULL || !json_is_object(c->patch)) {
        badRequest(r, "body", "body: %s", c->patch == NULL ? jerr.text : "expected a JSON object");
        return;
    }
    Raftcron__JobRequest req = RAFTCRON__JOB_REQUEST__INIT;
    req.namespace_ = c->ns;
    req.name = c->name;
    httpCall(r, "Job.Get", &req.base, patchRead);
}

static void emptyDone(struct http_req *r, const Raftcron__Response *resp)
{
    struct ctx *c = r->ctx;
    if (!failed(r, resp, c != NULL && c->if_match)) {
        httpBytes(r, 204, NULL, "", 0, NULL, 0);
    }
}

static void jobRef(struct http_req *r, const char *method, const char *ns, const char *name,
                   http_cont_fn cont)
{
    struct ctx *c = newCtx(r, ns, name);
    bool stale = false;
    if (c == NULL || !ifMatch(r, c) || !boolArg(r, "stale", &stale)) {
        return;
    }
    static const char *const allowed[] = {"stale", NULL};
    if (!httpQueryOnly(r, allowed)) {
        return;
    }
    Raftcron__JobRequest req = RAFTCRON__JOB_REQUEST__INIT;
    req.namespace_ = c->ns;
    req.name = c->name;
    req.expected_version = c->if_match ? c->version : 0;
    req.stale = stale;
    httpCall(r, method, &req.base, cont);
}

static void runNowDone(struct http_req *r, const Raftcron__Response *resp)
{
    if (failed(r, resp, false)) {
        return;
    }
    Raftcron__RunNowResponse *m = payload(r, resp, &raftcron__run_now_response__descriptor);
    if (m != NULL) {
        char location[48];
        snprintf(location, sizeof location, "/v1/runs/%llu", (unsigned long long)m->run_id);
        const char *headers[2] = {"Location", location};
        httpJson(r, 202, json_pack("{s:I}", "run_id", (json_int_t)m->run_id), headers, 1);
        raftcron__run_now_response__free_unpacked(m, NULL);
    }
}

/* An optional JSON object body of a few known keys: NULL (answered 400) when it is not. */
static json_t *smallBody(struct http_req *r, const char *const *keys)
{
    json_error_t jerr;
    json_t *b =
        r->len == 0 ? json_object() : json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &jerr);
    if (b == NULL || !json_is_object(b)) {
        badRequest(r, "body", "body: %s", b == NULL ? jerr.text : "expected a JSON object");
        json_decref(b);
        return NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(b, key, v)
    {
        bool known = false;
        for (size_t i = 0; keys[i] != NULL && !known; i++) {
            known = strcmp(keys[i], key) == 0;
        }
        if (!known) {
            badRequest(r, key, "unknown key \"%.64s\"", key);
            json_decref(b);
            return NULL;
        }
    }
    return b;
}

static void runNow(struct http_req *r, const char *ns, const char *name)
{
    static const char *const keys[] = {"force", NULL};
    json_t *b = smallBody(r, keys);
    if (b == NULL) {
        return;
    }
    json_t *force = json_object_get(b, "force");
    if (force != NULL && !json_is_boolean(force)) {
        badRequest(r, "force", "force: not true or false");
        json_decref(b);
        return;
    }
    Raftcron__RunNowRequest req = RAFTCRON__RUN_NOW_REQUEST__INIT;
    req.namespace_ = (char *)ns;
    req.name = (char *)name;
    req.force = json_is_true(force);
    json_decref(b);
    httpCall(r, "Job.RunNow", &req.base, runNowDone);
}

static json_t *instantJson(int64_t us, int offset_s)
{
    if (us == 0) {
        return json_null();
    }
    char buf[RC_TIMEFMT_MAX];
    timefmtFormat(us, offset_s, buf);
    return json_string(buf);
}

static void backfillDone(struct http_req *r, const Raftcron__Response *resp)
{
    if (failed(r, resp, false)) {
        return;
    }
    Raftcron__BackfillResponse *m = payload(r, resp, &raftcron__backfill_response__descriptor);
    if (m == NULL) {
        return;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < m->n_instants; i++) {
        const Raftcron__BackfillInstant *x = m->instants[i];
        json_t *o = json_pack("{s:o, s:s}", "at", instantJson(x->at_us, 0), "outcome",
                              backfillOutcomeName((enum rc_backfill_outcome)x->outcome));
        if (x->run_id != 0) {
            json_object_set_new(o, "run_id", json_integer((json_int_t)x->run_id));
        }
        if (x->outcome == RC_BACKFILL_SKIPPED) {
            json_object_set_new(o, "reason",
                                json_string(policyReasonText((enum rc_reason)x->reason)));
        }
        if (x->decision_id != 0) {
            json_object_set_new(o, "decision_id", json_integer((json_int_t)x->decision_id));
            json_object_set_new(o, "decision",
                                json_string(policyDecisionName((enum rc_decision)x->decision)));
        }
        json_array_append_new(list, o);
    }
    httpJson(r, m->dry_run ? 200 : 201,
             json_pack("{s:b, s:o, s:I, s:o, s:o}", "dry_run", m->dry_run, "now",
                       instantJson(m->now_us, 0), "runs_created", (json_int_t)m->runs_created,
                       "history_floor", instantJson(m->history_floor_us, 0), "instants", list),
             NULL, 0);
    raftcron__backfill_response__free_unpacked(m, NULL);
}

static bool instantKey(struct http_req *r, json_t *b, const char *key, int64_t *out)
{
    const char *v = json_string_value(json_object_get(b, key));
    char why[RC_ERRMSG_SIZE];
    if (v == NULL) {
        badRequest(r, key, "%s: required (an RFC 3339 instant)", key);
        return false;
    }
    if (timefmtParse(v, out, why, sizeof why) != 0) {
        badRequest(r, key, "%s: %s", key, why);
        return false;
    }
    return true;
}

static void backfill(struct http_req *r, const char *ns, const char *name)
{
    static const char *const keys[] = {"from", "to", "limit", "dry_run", NULL};
    json_t *b = smallBody(r, keys);
    if (b == NULL) {
        return;
    }
    Raftcron__BackfillRequest req = RAFTCRON__BACKFILL_REQUEST__INIT;
    req.namespace_ = (char *)ns;
    req.name = (char *)name;
    json_t *limit = json_object_get(b, "limit");
    json_t *dry = json_object_get(b, "dry_run");
    if (!instantKey(r, b, "from", &req.from_us) || !instantKey(r, b, "to", &req.to_us)) {
        json_decref(b);
        return;
    }
    if (limit != NULL && (!json_is_integer(limit) || json_integer_value(limit) < 1 ||
                          json_integer_value(limit) > 1000)) {
        badRequest(r, "limit", "limit: not a whole number from 1 to 1000");
    } else if (dry != NULL && !json_is_boolean(dry)) {
        badRequest(r, "dry_run", "dry_run: not true or false");
    } else {
        req.limit = limit != NULL ? (uint32_t)json_integer_value(limit) : 0;
        req.dry_run = json_is_true(dry);
        httpCall(r, "Job.Backfill", &req.base, backfillDone);
    }
    json_decref(b);
}

static void nextDone(struct http_req *r, const Raftcron__Response *resp)
{
    if (failed(r, resp, false)) {
        return;
    }
    Raftcron__JobNextResponse *m = payload(r, resp, &raftcron__job_next_response__descriptor);
    if (m == NULL) {
        return;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < m->n_instants_us; i++) {
        json_array_append_new(
            list, instantJson(m->instants_us[i], i < m->n_offsets_s ? m->offsets_s[i] : 0));
    }
    httpJson(r, 200,
             json_pack("{s:s, s:o, s:o}", "tz", m->tz, "after", instantJson(m->after_us, 0),
                       "instants", list),
             NULL, 0);
    raftcron__job_next_response__free_unpacked(m, NULL);
}

static void jobNext(struct http_req *r, const char *ns, const char *name)
{
    static const char *const allowed[] = {"n", "stale", NULL};
    uint64_t n = 0;
    bool stale = false;
    if (!httpQueryOnly(r, allowed) || !uintArg(r, "n", 1, 1000, &n) ||
        !boolArg(r, "stale", &stale)) {
        return;
    }
    Raftcron__JobNextRequest req = RAFTCRON__JOB_NEXT_REQUEST__INIT;
    req.namespace_ = (char *)ns;
    req.name = (char *)name;
    req.n = (uint32_t)n;
    req.stale = stale;
    httpCall(r, "Job.Next", &req.base, nextDone);
}

static void decisionsDone(struct http_req *r, const Raftcron__Response *resp)
{
    if (failed(r, resp, false)) {
        return;
    }
    Raftcron__DecisionListResponse *m =
        payload(r, resp, &raftcron__decision_list_response__descriptor);
    if (m == NULL) {
        return;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < m->n_decisions; i++) {
        json_array_append_new(list, ledgerjsonDecision(m->decisions[i]));
    }
    httpJson(r, 200,
             json_pack("{s:o, s:s?}", "decisions", list, "next_page_token",
                       m->next_page_token[0] != '\0' ? m->next_page_token : NULL),
             NULL, 0);
    raftcron__decision_list_response__free_unpacked(m, NULL);
}

static void jobDecisions(struct http_req *r, const char *ns, const char *name)
{
    static const char *const allowed[] = {"limit", "page_token", "stale", NULL};
    uint64_t limit = 0;
    bool stale = false;
    if (!httpQueryOnly(r, allowed) || !uintArg(r, "limit", 1, 1000, &limit) ||
        !boolArg(r, "stale", &stale)) {
        return;
    }
    Raftcron__DecisionListRequest req = RAFTCRON__DECISION_LIST_REQUEST__INIT;
    req.namespace_ = (char *)ns;
    req.job = (char *)name;
    req.limit = (uint32_t)limit;
    req.stale = stale;
    const char *token = httpQuery(r, "page_token");
    req.page_token = (char *)(token != NULL ? token : "");
    httpCall(r, "Decision.List", &req.base, decisionsDone);
}

static void statsDone(struct http_req *r, const Raftcron__Response *resp)
{
    if (failed(r, resp, false)) {
        return;
    }
    Raftcron__JobStatsResponse *m = payload(r, resp, &raftcron__job_stats_response__descriptor);
    if (m != NULL) {
        httpJson(r, 200, ledgerjsonStats(m), NULL, 0);
        raftcron__job_stats_response__free_unpacked(m, NULL);
    }
}

/* ---- Runs ------------------------------------------------------------------------------------ */

static void runsDone(struct http_req *r, const Raftcron__Response *resp)
{
    if (failed(r, resp, false)) {
        return;
    }
    Raftcron__RunListResponse *m = payload(r, resp, &raftcron__run_list_response__descriptor);
    if (m == NULL) {
        return;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < m->n_runs; i++) {
        json_array_append_new(list, ledgerjsonRun(m->runs[i]));
    }
    httpJson(r, 200,
             json_pack("{s:o, s:s?}", "runs", list, "next_page_token",
                       m->next_page_token[0] != '\0' ? m->next_page_token : NULL),
             NULL, 0);
    raftcron__run_list_response__free_unpacked(m, NULL);
}

static void listRuns(struct http_req *r, const char *ns, const char *job)
{
    static const char *const allowed[] = {"job", "state", "limit", "page_token", "stale", NULL};
    uint64_t limit = 0;
    bool stale = false;
    if (!httpQueryOnly(r, allowed) || !uintArg(r, "limit", 1, 1000, &limit) ||
        !boolArg(r, "stale", &stale)) {
        return;
    }
    const char *qjob = httpQuery(r, "job");
    if (job == NULL && qjob != NULL) {
        if (ns == NULL) {
            badRequest(r, "job", "job: only within a namespace (/v1/namespaces/NS/runs?job=)");
            return;
        }
        if (!keyArg(r, NULL, qjob)) {
            return;
        }
        job = qjob;
    }
    const char *state = httpQuery(r, "state");
    const char *token = httpQuery(r, "page_token");
    Raftcron__RunListRequest req = RAFTCRON__RUN_LIST_REQUEST__INIT;
    req.namespace_ = (char *)(ns != NULL ? ns : "");
    req.job = (char *)(job != NULL ? job : "");
    req.state = (char *)(state != NULL ? state : "");
    req.limit = (uint32_t)limit;
    req.stale = stale;
    req.page_token = (char *)(token != NULL ? token : "");
    httpCall(r, "Run.List", &req.base, runsDone);
}

static void listDead(struct http_req *r, const char *ns)
{
    static const char *const allowed[] = {"limit", "page_token", "stale", NULL};
    uint64_t limit = 0;
    bool stale = false;
    if (!httpQueryOnly(r, allowed) || !uintArg(r, "limit", 1, 1000, &limit) ||
        !boolArg(r, "stale", &stale)) {
        return;
    }
    const char *token = httpQuery(r, "page_token");
    Raftcron__DlqListRequest req = RAFTCRON__DLQ_LIST_REQUEST__INIT;
    req.namespace_ = (char *)(ns != NULL ? ns : "");
    req.limit = (uint32_t)limit;
    req.stale = stale;
    req.page_token = (char *)(token != NULL ? token : "");
    httpCall(r, "Dlq.List", &req.base, runsDone);
}

static void runDone(struct http_req *r, const Raftcron__Response *resp)
{
    if (failed(r, resp, false)) {
        return;
    }
    Raftcron__RunResponse *m = payload(r, resp, &raftcron__run_response__descriptor);
    if (m != NULL) {
        httpJson(r, 200, ledgerjsonRun(m->run), NULL, 0);
        raftcron__run_response__free_unpacked(m, NULL);
    }
}

static bool runId(struct http_req *r, const char *text, uint64_t *id)
{
    char *end;
    errno = 0;
    unsigned long long v = text[0] >= '1' && text[0] <= '9' ? strtoull(text, &end, 10) : 0;
    if (v == 0 || errno != 0 || *end != '\0') {
        badRequest(r, "id", "run id \"%.40s\" is not a whole number above 0", text);
        return false;
    }
    *id = v;
    return true;
}

/* ---- Events ---------------------------------------------------------------------------------- */

static void events(struct http_req *r, const char *ns)
{
    static const char *const allowed[] = {"job", "since", NULL};
    uint64_t since = 0;
    if (!httpQueryOnly(r, allowed) || !uintArg(r, "since", 0, UINT64_MAX, &since)) {
        return;
    }
    const char *last = httpHeader(r, "Last-Event-ID");
    if (last != NULL && last[0] != '\0') {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(last, &end, 10);
        if (*end != '\0' || errno != 0 || last[0] < '0' || last[0] > '9') {
            badRequest(r, "Last-Event-ID", "Last-Event-ID: \"%.40s\" is not an event index", last);
            return;
        }
        since = v;
    }
    const char *job = httpQuery(r, "job");
    if (job != NULL && !keyArg(r, NULL, job)) {
        return;
    }
    struct events_filter f;
    memset(&f, 0, sizeof f);
    char why[RC_ERRMSG_SIZE];
    struct node *n = r->srv->node;
    if (authVerify(&n->auth, r->token, rpcNow(), &f.principal, why, sizeof why) != 0) {
        httpError(r, 401, "UNAUTHENTICATED", why, NULL);
        return;
    }
    if (ns != NULL && authzCheck(&f.principal, AUTHZ_READ, ns) != AUTHZ_ALLOW) {
        char msg[128];
        snprintf(msg, sizeof msg, "namespace %s not found", ns);
        httpError(r, 404, "NOT_FOUND", msg, NULL);
        return;
    }
    snprintf(f.ns, sizeof f.ns, "%s", ns != NULL ? ns : "");
    snprintf(f.job, sizeof f.job, "%s", job != NULL ? job : "");
    httpStream(r, &f, since);
}

/* ---- Cluster, health, readiness, metrics ----------------------------------------------------- */

static void clusterDone(struct http_req *r, const Raftcron__Response *resp)
{
    if (failed(r, resp, false)) {
        return;
    }
    Raftcron__ClusterStatus *m = payload(r, resp, &raftcron__cluster_status__descriptor);
    if (m == NULL) {
        return;
    }
    json_t *members = json_array();
    for (size_t i = 0; i < m->n_members; i++) {
        const Raftcron__MemberStatus *x = m->members[i];
        json_array_append_new(members,
                              json_pack("{s:I, s:s, s:s, s:s, s:b, s:I}", "id", (json_int_t)x->id,
                                        "raft_addr", x->raft_addr, "rpc_addr", x->rpc_addr, "role",
                                        x->role, "reachable", x->reachable, "match_index",
                                        (json_int_t)x->match_index));
    }
    httpJson(r, 200,
             json_pack("{s:I, s:s, s:I, s:s, s:I, s:I, s:I, s:s, s:o}", "node_id",
                       (json_int_t)m->node_id, "state", m->node_state, "leader_id",
                       (json_int_t)m->leader_id, "leader_rpc_addr", m->leader_rpc_addr, "term",
                       (json_int_t)m->term, "commit_index", (json_int_t)m->commit_index,
                       "applied_index", (json_int_t)m->applied_index, "cluster_id", m->cluster_id,
                       "members", members),
             NULL, 0);
    raftcron__cluster_status__free_unpacked(m, NULL);
}

static json_t *nodeState(struct node *n, int64_t *lag)
{
    struct cluster *c = &n->cluster;
    uint64_t commit = clusterCommitIndex(c), applied = clusterAppliedIndex(c);
    *lag = commit > applied ? (int64_t)(commit - applied) : 0;
    return json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "node_id", (json_int_t)n->opts.id,
                     "role", clusterStateName(c), "term", (json_int_t)clusterTerm(c), "leader_id",
                     (json_int_t)clusterLeader(c, NULL), "commit_index", (json_int_t)commit,
                     "applied_index", (json_int_t)applied, "lag", (json_int_t)*lag, "loop_lag_ms",
                     (json_int_t)n->http.loop_lag_ms);
}

static void health(struct http_req *r)
{
    struct node *n = r->srv->node;
    int64_t lag;
    json_t *doc = nodeState(n, &lag);
    bool ok = n->state == NODE_RUNNING && r->srv->loop_lag_ms < HEALTH_LAG_MS;
    json_object_set_new(doc, "status", json_string(ok ? "ok" : "unhealthy"));
    httpJson(r, ok ? 200 : 503, doc, NULL, 0);
}

/* Ready: a member of a cluster that has a leader, this node applied close to what is committed,
 * and it is not stopping. */
static void ready(struct http_req *r)
{
    struct node *n = r->srv->node;
    struct cluster *c = &n->cluster;
    int64_t lag;
    json_t *doc = nodeState(n, &lag);
    const char *why = NULL;
    if (n->state != NODE_RUNNING) {
        why = "the node is not running";
    } else if (!clusterHasConfiguration(c) || clusterRole(c) < 0) {
        why = "not a member of a cluster";
    } else if (clusterLeader(c, NULL) == 0) {
        why = "no leader known";
    } else if (lag > READY_LAG) {
        why = "applying: too far behind the commit index";
    }
    json_object_set_new(doc, "status", json_string(why == NULL ? "ready" : "not ready"));
    if (why != NULL) {
        json_object_set_new(doc, "reason", json_string(why));
    }
    httpJson(r, why == NULL ? 200 : 503, doc, NULL, 0);
}

static void metrics(struct http_req *r)
{
    struct node *n = r->srv->node;
    if (n->opts.metrics_token && n->auth.enabled) {
        struct rc_principal p;
        char why[RC_ERRMSG_SIZE];
        if (authVerify(&n->auth, r->token, rpcNow(), &p, why, sizeof why) != 0) {
            httpError(r, 401, "UNAUTHENTICATED", why, NULL);
            return;
        }
    }
    struct metrics_text t;
    metricsTextInit(&t);
    metricsRender(n, &t);
    if (t.failed) {
        httpError(r, 503, "RESOURCE_EXHAUSTED", "out of memory", NULL);
    } else {
        httpBytes(r, 200, "text/plain; version=0.0.4; charset=utf-8", t.data, t.len, NULL, 0);
    }
    metricsTextFree(&t);
}

static void asset(struct http_req *r, const char *path)
{
    const struct http_asset *a = httpAsset(path);
    if (a == NULL) {
        char msg[300];
        snprintf(msg, sizeof msg, "no such resource: %.256s", r->path);
        httpError(r, 404, "NOT_FOUND", msg, NULL);
        return;
    }
    httpBytes(r, 200, a->type, a->data, a->len, NULL, 0);
}

/* ---- Routing --------------------------------------------------------------------------------- */

static void notAllowed(struct http_req *r, const char *allow)
{
    char msg[128];
    snprintf(msg, sizeof msg, "%s is not allowed here (allowed: %s)", r->method, allow);
    const char *headers[2] = {"Allow", allow};
    json_t *err = json_pack("{s:{s:s, s:s, s:{}}}", "error", "code", "INVALID_ARGUMENT", "message",
                            msg, "details");
    httpJson(r, 405, err, headers, 1);
}

static bool is(struct http_req *r, const char *m)
{
    return strcmp(r->method, m) == 0;
}

/* "NAME:verb" → NAME and verb (NULL when there is none). */
static const char *splitVerb(char *seg)
{
    char *colon = strchr(seg, ':');
    if (colon == NULL) {
        return NULL;
    }
    *colon = '\0';
    return colon + 1;
}

static void jobVerb(struct http_req *r, const char *ns, const char *name, const char *verb)
{
    if (!is(r, "POST")) {
        notAllowed(r, "POST");
    } else if (strcmp(verb, "pause") == 0) {
        jobRef(r, "Job.Pause", ns, name, jobDone);
    } else if (strcmp(verb, "resume") == 0) {
        jobRef(r, "Job.Resume", ns, name, jobDone);
    } else if (strcmp(verb, "run-now") == 0) {
        runNow(r, ns, name);
    } else if (strcmp(verb, "backfill") == 0) {
        backfill(r, ns, name);
    } else {
        badRequest(r, NULL, "\"%.40s\" is not pause, resume, run-now or backfill", verb);
    }
}

static void jobRoute(struct http_req *r, const char *ns, char *name, const char *sub)
{
    const char *verb = splitVerb(name);
    if (!keyArg(r, ns, name)) {
        return;
    }
    if (verb != NULL && sub == NULL) {
        jobVerb(r, ns, name, verb);
    } else if (verb != NULL) {
        asset(r, "");
    } else if (sub == NULL) {
        if (is(r, "GET")) {
            jobRef(r, "Job.Get", ns, name, jobDone);
        } else if (is(r, "PUT")) {
            replaceJob(r, ns, name);
        } else if (is(r, "PATCH")) {
            patchJob(r, ns, name);
        } else if (is(r, "DELETE")) {
            jobRef(r, "Job.Delete", ns, name, emptyDone);
        } else {
            notAllowed(r, "GET, PUT, PATCH, DELETE");
        }
    } else if (!is(r, "GET")) {
        notAllowed(r, "GET");
    } else if (strcmp(sub, "next") == 0) {
        jobNext(r, ns, name);
    } else if (strcmp(sub, "decisions") == 0) {
        jobDecisions(r, ns, name);
    } else if (strcmp(sub, "stats") == 0) {
        jobRef(r, "Job.Stats", ns, name, statsDone);
    } else if (strcmp(sub, "runs") == 0) {
        listRuns(r, ns, name);
    } else {
        asset(r, "");
    }
}

static void namespaceRoute(struct http_req *r, char **seg, size_t n)
{
    const char *ns = seg[2];
    if (!keyArg(r, ns, NULL)) {
        return;
    }
    const char *what = n > 3 ? seg[3] : "";
    if (strcmp(what, "jobs") == 0 && n == 4) {
        if (is(r, "GET")) {
            listJobs(r, ns);
        } else if (is(r, "POST")) {
            createJob(r, ns);
        } else {
            notAllowed(r, "GET, POST");
        }
    } else if (strcmp(what, "jobs") == 0 && (n == 5 || n == 6)) {
        jobRoute(r, ns, seg[4], n == 6 ? seg[5] : NULL);
    } else if (n == 4 && !is(r, "GET")) {
        notAllowed(r, "GET");
    } else if (n == 4 && strcmp(what, "runs") == 0) {
        listRuns(r, ns, NULL);
    } else if (n == 4 && strcmp(what, "dead-letters") == 0) {
        listDead(r, ns);
    } else if (n == 4 && strcmp(what, "events") == 0) {
        events(r, ns);
    } else {
        asset(r, "");
    }
}

static void runRoute(struct http_req *r, char *idseg)
{
    const char *verb = splitVerb(idseg);
    uint64_t id;
    if (!runId(r, idseg, &id)) {
        return;
    }
    Raftcron__RunIdRequest ref = RAFTCRON__RUN_ID_REQUEST__INIT;
    ref.id = id;
    if (verb == NULL) {
        bool stale = false;
        static const char *const allowed[] = {"stale", NULL};
        if (!is(r, "GET")) {
            notAllowed(r, "GET");
        } else if (httpQueryOnly(r, allowed) && boolArg(r, "stale", &stale)) {
            Raftcron__RunGetRequest req = RAFTCRON__RUN_GET_REQUEST__INIT;
            req.id = id;
            req.stale = stale;
            httpCall(r, "Run.Get", &req.base, runDone);
        }
    } else if (!is(r, "POST")) {
        notAllowed(r, "POST");
    } else if (strcmp(verb, "cancel") == 0) {
        httpCall(r, "Run.Cancel", &ref.base, emptyDone);
    } else if (strcmp(verb, "retry") == 0) {
        httpCall(r, "Dlq.Retry", &ref.base, runNowDone);
    } else {
        badRequest(r, NULL, "\"%.40s\" is not cancel or retry", verb);
    }
}

static void v1Route(struct http_req *r, char **seg, size_t n)
{
    const char *top = n > 1 ? seg[1] : "";
    if (strcmp(top, "namespaces") == 0 && n >= 3) {
        namespaceRoute(r, seg, n);
    } else if (n == 3 && strcmp(top, "runs") == 0) {
        runRoute(r, seg[2]);
    } else if (n != 2) {
        asset(r, "");
    } else if (!is(r, "GET")) {
        notAllowed(r, "GET");
    } else if (strcmp(top, "jobs") == 0) {
        listJobs(r, NULL);
    } else if (strcmp(top, "runs") == 0) {
        listRuns(r, NULL, NULL);
    } else if (strcmp(top, "dead-letters") == 0) {
        listDead(r, NULL);
    } else if (strcmp(top, "events") == 0) {
        events(r, NULL);
    } else if (strcmp(top, "openapi.json") == 0) {
        asset(r, "/v1/openapi.json");
    } else if (strcmp(top, "cluster") == 0) {
        Raftcron__ClusterStatusRequest req = RAFTCRON__CLUSTER_STATUS_REQUEST__INIT;
        httpCall(r, "Cluster.Status", &req.base, clusterDone);
    } else {
        asset(r, "");
    }
}

void httpRoute(struct http_req *r)
{
    const char *p = r->path;
    if (strcmp(p, "/health") == 0 || strcmp(p, "/ready") == 0 || strcmp(p, "/metrics") == 0) {
        if (!is(r, "GET") && !is(r, "HEAD")) {
            notAllowed(r, "GET");
        } else if (p[1] == 'h') {
            health(r);
        } else if (p[1] == 'r') {
            ready(r);
        } else {
            metrics(r);
        }
        return;
    }
    if (strcmp(p, "/") == 0 || strcmp(p, "/ui") == 0 || strncmp(p, "/ui/", 4) == 0) {
        if (!is(r, "GET")) {
            notAllowed(r, "GET");
        } else if (strcmp(p, "/ui/") == 0) {
            asset(r, "/ui/index.html");
        } else if (strncmp(p, "/ui/", 4) == 0) {
            asset(r, p);
        } else {
            const char *headers[2] = {"Location", "/ui/"};
            httpBytes(r, 302, "text/plain", "/ui/\n", 5, headers, 1);
        }
        return;
    }
    /* /v1/...: segments between slashes, a trailing slash ignored. */
    char path[1024];
    if (strncmp(p, "/v1/", 4) != 0 || strlen(p) >= sizeof path) {
        asset(r, "");
        return;
    }
    snprintf(path, sizeof path, "%s", p + 1);
    size_t len = strlen(path);
    if (len > 0 && path[len - 1] == '/') {
        path[len - 1] = '\0';
    }
    char *seg[MAX_SEGMENTS];
    size_t n = 0;
    for (char *save = NULL, *s = strtok_r(path, "/", &save); s != NULL;
         s = strtok_r(NULL, "/", &save)) {
        if (n == MAX_SEGMENTS) {
            asset(r, "");
            return;
        }
        seg[n++] = s;
    }
    v1Route(r, seg, n);
}
