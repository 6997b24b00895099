#include "jobspec.h"

#include <stdio.h>

#include "err.h"

void jobspecPolicy(const Raftcron__JobSpec *spec, struct rc_policy *p)
{
    policyDefaults(p);
    const Raftcron__Policy *sp = spec->policy;
    if (sp == NULL) {
        return;
    }
    p->misfire_grace_us = sp->misfire_grace_us;
    p->coalesce = sp->coalesce;
    p->overlap = (enum rc_overlap)sp->overlap;
    if (sp->max_instances > 0) {
        p->max_instances = (int)sp->max_instances;
    }
}

static int initKind(const Raftcron__Job *job, struct rc_trigger *t, char *err, size_t errlen)
{
    const Raftcron__Trigger *tr = job->spec->trigger;
    int64_t anchor = tr->anchor_us != 0 ? tr->anchor_us : job->created_us;
    switch (tr->kind_case) {
    case RAFTCRON__TRIGGER__KIND_CRON:
        return triggerInitCron(t, tr->cron, tr->tz, anchor, err, errlen);
    case RAFTCRON__TRIGGER__KIND_INTERVAL_US:
        if (triggerInitInterval(t, tr->interval_us, anchor) != 0) {
            return errSet(err, errlen, RC_EINVAL, "trigger: interval %lld is not > 0",
                          (long long)tr->interval_us);
        }
        return 0;
    case RAFTCRON__TRIGGER__KIND_AT_US:
        triggerInitOnce(t, tr->at_us);
        return 0;
    default:
        return errSet(err, errlen, RC_EINVAL, "trigger: no cron, interval or at");
    }
}

int jobspecTrigger(const Raftcron__Job *job, struct rc_trigger *t, char *err, size_t errlen)
{
    if (job->spec == NULL || job->spec->trigger == NULL) {
        return errSet(err, errlen, RC_EINVAL, "job %llu has no trigger",
                      (unsigned long long)job->id);
    }
    int rv = initKind(job, t, err, errlen);
    if (rv != 0) {
        return rv;
    }
    const Raftcron__Trigger *tr = job->spec->trigger;
    t->dst_gap = tr->dst_gap == 1 ? RC_DST_GAP_SKIP : RC_DST_GAP_SHIFT;
    t->dst_repeat = tr->dst_repeat == 1 ? RC_DST_REPEAT_BOTH : RC_DST_REPEAT_ONCE;
    t->start_us = tr->start_us != 0 ? tr->start_us : RC_TIME_NONE_LO;
    t->end_us = tr->end_us != 0 ? tr->end_us : RC_TIME_NONE_HI;
    t->jitter_us = tr->jitter_us;
    return 0;
}

void jobspecKey(const Raftcron__Job *job, char *key)
{
    snprintf(key, RC_JOBSPEC_KEY_SIZE, "%s/%s", jobsNamespace(job->spec->namespace_),
             job->spec->name);
}

void jobspecFireItem(const Raftcron__Job *job, const struct rc_decision_rec *r,
                     Raftcron__FireItem *it)
{
    raftcron__fire_item__init(it);
    it->namespace_ = job->spec->namespace_;
    it->name = job->spec->name;
    it->job_version = job->version;
    it->first_us = r->first_us;
    it->last_us = r->last_us;
    it->count = r->count;
    it->decision = (uint32_t)r->decision;
    it->reason = (uint32_t)r->reason;
    it->start_at_us = r->decision == RC_DECISION_FIRED ? r->start_at_us : 0;
    it->cancel_active = r->cancel_active;
    it->queued = r->queued;
}
