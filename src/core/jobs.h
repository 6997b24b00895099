/*
 * The job table of the FSM (DESIGN.md §3): jobs keyed by (namespace, name), in a hash map for
 * lookups and a sorted index, rebuilt lazily, for ordered iteration and deterministic
 * snapshots. Key order is (namespace, name), each compared bytewise.
 *
 * Ownership: the table owns its jobs (Raftcron__Job allocated with malloc, freed with
 * raftcron__job__free_unpacked(job, NULL)). Pointers it returns are borrowed and valid until
 * the job is deleted or the table destroyed.
 *
 * Key rules: a namespace is 1-64 and a name 1-128 characters of [A-Za-z0-9._-]; the namespace
 * "" stands for "default" (jobsNamespace).
 */
#ifndef RC_CORE_JOBS_H
#define RC_CORE_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raftcron.pb-c.h"

#define RC_JOBS_NAMESPACE_MAX     64
#define RC_JOBS_NAME_MAX          128
#define RC_JOBS_DEFAULT_NAMESPACE "default"

struct rc_jobs;

/* Create an empty table. Returns 0 or RC_ENOMEM. */
int jobsCreate(struct rc_jobs **out);
/* Free the table and every job in it. */
void jobsDestroy(struct rc_jobs *t);
/* Empty the table without freeing the jobs (their owner is someone else again). */
void jobsDetachAll(struct rc_jobs *t);

size_t jobsCount(const struct rc_jobs *t);

/* ns as stored: "default" for NULL or "". */
const char *jobsNamespace(const char *ns);

/* Check a key. Returns 0 or RC_EINVAL with a message naming the part and the rule. */
int jobsCheckKey(const char *ns, const char *name, char *err, size_t errlen);

/* The job with that key (ns already normalized by jobsNamespace), or NULL. */
Raftcron__Job *jobsFind(const struct rc_jobs *t, const char *ns, const char *name);

/* Make room so that the next n - jobsCount(t) inserts cannot fail. Returns 0 or RC_ENOMEM. */
int jobsReserve(struct rc_jobs *t, size_t n);

/* Insert job (owned by the table from now on). Its key (job->spec) must be valid and absent,
 * and room must have been reserved. */
void jobsInsert(struct rc_jobs *t, Raftcron__Job *job);

/* Remove job from the table and free it. */
void jobsDelete(struct rc_jobs *t, Raftcron__Job *job);

/* All jobs in key order (*n set to the count). Never fails: the index lives in reserved room.
 * Valid until the next insert or delete. */
Raftcron__Job **jobsSorted(struct rc_jobs *t, size_t *n);
/* The index in jobsSorted of the first job whose key comes after (ns, name). */
size_t jobsSortedAfter(struct rc_jobs *t, const char *ns, const char *name);

#endif /* RC_CORE_JOBS_H */
