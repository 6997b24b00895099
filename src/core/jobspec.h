/*
 * A job's wire messages (proto/raftcron.proto: Job, JobSpec, Trigger, Policy, FireItem) read
 * as the core's scheduling types, and the core's decisions written back as FireBatch items.
 * The one place for these conversions: the scheduler (sched.c), backfills (backfill.c), the
 * Job.Next preview (runview.c) and manual runs (Job.RunNow, Dlq.Retry) all call it, so that
 * a field added to the spec is read the same way by each, and a backfill or a manual run
 * judges an instant exactly as the scheduler would have (DESIGN.md §4).
 *
 * The spec is assumed to have passed fsmValidateSpec; what it refuses (an unknown overlap,
 * an interval <= 0) is still reported here rather than trusted.
 */
#ifndef RC_CORE_JOBSPEC_H
#define RC_CORE_JOBSPEC_H

#include <stddef.h>

#include "jobs.h"
#include "policy.h"
#include "raftcron.pb-c.h"
#include "trigger.h"

/* Room for jobspecKey's "namespace/name", NUL included. */
#define RC_JOBSPEC_KEY_SIZE (RC_JOBS_NAMESPACE_MAX + RC_JOBS_NAME_MAX + 2)

/*
 * The job's policy. Rule (proto Policy): a spec without a policy gets policyDefaults; a policy
 * that is present is taken as written (misfire grace 0 is "no lateness"), except max_instances
 * 0, which means the default. The overlap is copied as is: policyOverlapValid tells whether a
 * hand-made spec carries an unknown one.
 */
void jobspecPolicy(const Raftcron__JobSpec *spec, struct rc_policy *p);

/*
 * The job's trigger: cron in the spec's zone with its DST policy (or "@every D"), an
 * interval, or a one-off at an instant; bounded by start/end (0: unbounded) with the spec's
 * jitter. Interval and @every instants are anchor + k * interval, anchored at the spec's anchor
 * or else at the job's creation, so every leader derives the same instants and editing a job
 * does not move them. Returns 0, or RC_EINVAL / RC_EPARSE / RC_ETZ with a message (no
 * trigger, an interval <= 0, a cron expression or zone that does not build on this node).
 */
int jobspecTrigger(const Raftcron__Job *job, struct rc_trigger *t, char *err, size_t errlen);

/* "namespace/name" (the default namespace for an empty one): the key of the job's jitter
 * (triggerJitter), so that every path computes the same start time. key holds
 * RC_JOBSPEC_KEY_SIZE bytes. */
void jobspecKey(const Raftcron__Job *job, char *key);

/*
 * A decision record of the job as a FireBatch item: the job's key and version, the instants
 * covered, the decision and its reason, and for FIRED the start and the overlap flags. The
 * item borrows the job's strings. Manual and backfill items are these with their own marks.
 */
void jobspecFireItem(const Raftcron__Job *job, const struct rc_decision_rec *r,
                     Raftcron__FireItem *it);

#endif /* RC_CORE_JOBSPEC_H */
