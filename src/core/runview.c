/*
 * Listings merge the per-job run lists (each already in id order) into one newest-first page
 * without allocating: a bounded insertion into out, and a job's scan stops as soon as its runs
 * are older than everything a full page holds. The RPC handler owns out, so a failed listing
 * can only be a refused argument, never an allocation failure.
 */
#include "runview.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "jobs.h"
#include "jobspec.h"
#include "runs.h"

int runviewStateMask(const char *name, uint32_t *mask, char *err, size_t errlen)
{
    if (name == NULL || name[0] == '\0') {
        *mask = RC_RUNVIEW_ALL_STATES;
        return 0;
    }
    for (uint32_t s = RC_RUN_PENDING; s < RC_RUN__COUNT; s++) {
        if (strcmp(name, runsStateName(s)) == 0) {
            *mask = 1u << s;
            return 0;
        }
    }
    return errSet(err, errlen, RC_EINVAL,
                  "state \"%.64s\" is not pending, assigned, running, succeeded, failed, "
                  "timed_out, lost, retry_wait, dead or cancelled",
                  name);
}

int runviewLimit(uint32_t limit, size_t def, size_t max, size_t *out, char *err, size_t errlen)
{
    if (limit > max) {
        return errSet(err, errlen, RC_EINVAL, "limit %u is above the maximum %zu", limit, max);
    }
    *out = limit == 0 ? def : limit;
    return 0;
}

/* Insert run into out[0..*n) kept in descending id order, dropping the oldest beyond limit. */
static void insertNewest(const Raftcron__Run **out, size_t *n, size_t limit,
                         const Raftcron__Run *run)
{
    size_t i = *n < limit ? (*n)++ : limit - 1;
    while (i > 0 && out[i - 1]->id < run->id) {
        out[i] = out[i - 1];
        i--;
    }
    out[i] = run;
}

/* The index of the first run of runs[0..count) whose id is >= before (count when none). */
static size_t firstAtOrAbove(Raftcron__Run *const *runs, size_t count, uint64_t before)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (runs[mid]->id < before) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static void addJobRuns(const struct rc_fsm *f, uint64_t job_id, uint32_t mask, uint64_t before,
                       const Raftcron__Run **out, size_t *n, size_t limit)
{
    size_t count;
    Raftcron__Run *const *runs = fsmJobRuns(f, job_id, &count);
    if (before != 0) {
        count = firstAtOrAbove(runs, count, before);
    }
    for (size_t i = count; i-- > 0;) {
        const Raftcron__Run *run = runs[i];
        if (*n == limit && run->id < out[limit - 1]->id) {
            return;
        }
        if ((mask & (1u << run->state)) != 0) {
            insertNewest(out, n, limit, run);
        }
    }
}

size_t runviewRunsPage(const struct rc_fsm *f, const Raftcron__Job *job, const char *ns,
                       uint32_t mask, const struct runview_page *page, const Raftcron__Run **out,
                       size_t limit)
{
    size_t n = 0;
    uint64_t before = page != NULL ? page->before_id : 0;
    if (limit == 0) {
        return 0;
    }
    if (job != NULL) {
        addJobRuns(f, job->id, mask, before, out, &n, limit);
        return n;
    }
    bool any_ns = ns == NULL || ns[0] == '\0';
    for (size_t i = 0; i < fsmJobCount(f); i++) {
        const Raftcron__Job *j = fsmJobAt(f, i);
        if (!any_ns && strcmp(j->spec->namespace_, ns) != 0) {
            continue;
        }
        if (page != NULL && page->visible != NULL &&
            !page->visible(page->visible_data, j->spec->namespace_)) {
            continue;
        }
        addJobRuns(f, j->id, mask, before, out, &n, limit);
    }
    return n;
}

size_t runviewRuns(const struct rc_fsm *f, const Raftcron__Job *job, const char *ns, uint32_t mask,
                   const Raftcron__Run **out, size_t limit)
{
    return runviewRunsPage(f, job, ns, mask, NULL, out, limit);
}

size_t runviewDecisionsPage(const struct rc_fsm *f, uint64_t job_id, uint64_t before_id,
                            const Raftcron__Decision **out, size_t limit)
{
    size_t count;
    Raftcron__Decision *const *ds = fsmJobDecisions(f, job_id, &count);
    size_t n = 0;
    for (size_t i = count; i-- > 0 && n < limit;) {
        if (before_id == 0 || ds[i]->id < before_id) {
            out[n++] = ds[i];
        }
    }
    return n;
}

size_t runviewDecisions(const struct rc_fsm *f, uint64_t job_id, const Raftcron__Decision **out,
                        size_t limit)
{
    return runviewDecisionsPage(f, job_id, 0, out, limit);
}

void runviewTokenId(char kind, uint64_t id, char *buf)
{
    snprintf(buf, RC_RUNVIEW_TOKEN_MAX, "%c1:%llu", kind, (unsigned long long)id);
}

int runviewParseTokenId(char kind, const char *token, uint64_t *id, char *err, size_t errlen)
{
    *id = 0;
    if (token == NULL || token[0] == '\0') {
        return 0;
    }
    char *end;
    if (token[0] != kind || token[1] != '1' || token[2] != ':' || token[3] < '1' ||
        token[3] > '9') {
        goto bad;
    }
    errno = 0;
    unsigned long long v = strtoull(token + 3, &end, 10);
    if (*end != '\0' || errno != 0) {
        goto bad;
    }
    *id = v;
    return 0;
bad:
    return errSet(err, errlen, RC_EINVAL, "page_token: \"%.40s\" is not a token of this listing",
                  token);
}

void runviewTokenJob(const char *ns, const char *name, char *buf)
{
    snprintf(buf, RC_RUNVIEW_TOKEN_MAX, "j1:%s:%s", ns, name);
}

int runviewParseTokenJob(const char *token, char *ns, char *name, char *err, size_t errlen)
{
    ns[0] = '\0';
    name[0] = '\0';
    if (token == NULL || token[0] == '\0') {
        return 0;
    }
    const char *colon = strncmp(token, "j1:", 3) == 0 ? strchr(token + 3, ':') : NULL;
    size_t nslen = colon != NULL ? (size_t)(colon - token - 3) : 0;
    if (colon == NULL || nslen > RC_JOBS_NAMESPACE_MAX || strlen(colon + 1) > RC_JOBS_NAME_MAX) {
        return errSet(err, errlen, RC_EINVAL,
                      "page_token: \"%.40s\" is not a token of this listing", token);
    }
    memcpy(ns, token + 3, nslen);
    ns[nslen] = '\0';
    strcpy(name, colon + 1);
    char why[RC_ERRMSG_SIZE];
    if (jobsCheckKey(ns, name, why, sizeof why) != 0) {
        return errSet(err, errlen, RC_EINVAL, "page_token: %s", why);
    }
    return 0;
}

static int64_t floorSeconds(int64_t us)
{
    return us >= 0 ? us / 1000000 : -((-(us + 1)) / 1000000) - 1;
}

int runviewNext(const Raftcron__Job *job, int64_t now_us, size_t n, int64_t *instants,
                int32_t *offsets_s, size_t *count, const char **zone, char *err, size_t errlen)
{
    struct rc_trigger t;
    *count = 0;
    int rv = jobspecTrigger(job, &t, err, errlen);
    if (rv != 0) {
        return rv;
    }
    const struct rc_tz *tz = t.tz;
    if (t.kind != RC_TRIGGER_CRON && tzGet(job->spec->trigger->tz, &tz, err, errlen) != 0) {
        return RC_ETZ;
    }
    if (tz == NULL) {
        tzGet("", &tz, NULL, 0);
    }
    *zone = tzName(tz);
    int64_t at = job->cursor_us > now_us ? job->cursor_us : now_us;
    while (*count < n && triggerNext(&t, at, &at) == 0) {
        instants[*count] = at;
        offsets_s[*count] = tzOffsetAt(tz, floorSeconds(at));
        (*count)++;
    }
    return 0;
}
