/*
 * The ledger's records as the REST API shows them (docs/rest.md): runs, decision records,
 * statistics and events as JSON objects, with the field names raftcronctl's -o json uses.
 * Instants are RFC 3339 strings in UTC (null for "never"), durations in microseconds.
 * Every function returns a new reference, or NULL when memory ran out. Pure.
 */
#ifndef RC_CORE_LEDGERJSON_H
#define RC_CORE_LEDGERJSON_H

#include <jansson.h>

#include "api.pb-c.h"
#include "raftcron.pb-c.h"

json_t *ledgerjsonRun(const Raftcron__Run *r);
json_t *ledgerjsonDecision(const Raftcron__Decision *d);
/* Job.Stats' reply. */
json_t *ledgerjsonStats(const Raftcron__JobStatsResponse *s);
/* One event (the "data" of a server-sent event). */
json_t *ledgerjsonEvent(const Raftcron__Event *e);

#endif /* RC_CORE_LEDGERJSON_H */
