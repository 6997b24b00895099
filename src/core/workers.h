/*
 * The worker table of the FSM (DESIGN.md §3, §5): workers by id, alive or down as decided by
 * committed WorkerUp / WorkerDown entries (never by a local clock).
 *
 * Ownership: the table owns its workers (malloc'd Raftcron__Worker, freed with
 * raftcron__worker__free_unpacked(w, NULL)). Returned pointers are borrowed, valid until the
 * next change. Workers are kept sorted by id (a Snapshot's worker list as is).
 */
#ifndef RC_CORE_WORKERS_H
#define RC_CORE_WORKERS_H

#include <stddef.h>
#include <stdint.h>

#include "raftcron.pb-c.h"

#define RC_WORKER_ADDR_MAX 255

struct rc_workers;

/* Create an empty table. Returns 0 or RC_ENOMEM. */
int workersCreate(struct rc_workers **out);
/* Free the table and its workers. */
void workersDestroy(struct rc_workers *t);

/* The worker with that id, or NULL. */
Raftcron__Worker *workersFind(const struct rc_workers *t, uint64_t id);

/* Insert w (owned from now on), or replace and free the worker with its id. Returns 0 or
 * RC_ENOMEM (then w is still the caller's and the table unchanged). */
int workersPut(struct rc_workers *t, Raftcron__Worker *w);

/* All workers in id order (*n set to the count). */
Raftcron__Worker **workersAll(const struct rc_workers *t, size_t *n);

#endif /* RC_CORE_WORKERS_H */
