/*
 * The run-history export (docs/ledger.md "Export to PostgreSQL"): the leader streams finished
 * runs into the table raftcron_runs of a PostgreSQL database, in batches, with an upsert keyed
 * by run id, and commits how far it got (ExportMark) to the FSM, so that a new leader continues
 * where the old one stopped. The FSM's export gate makes retention keep every finished run not
 * yet exported while the sink is configured; this module proposes the gate from the node's
 * configuration when it becomes leader.
 *
 * Exactly once: a batch is upserted in one statement, then its position is proposed. A leader
 * that dies in between leaves the position behind; its successor upserts the same runs again,
 * which changes nothing (same run id, same row). A run is dropped from the FSM only after a
 * committed position covers it.
 *
 * Never blocks firing: libpq runs non-blocking on the loop (connect and query on uv_poll), and
 * a PostgreSQL outage only delays the export: the connection is retried with backoff (1 s
 * doubling to 30 s) and one log line per failure.
 *
 * Lifecycle (STYLE.md §9, table in export.c): OFF (follower, or no sink) → CONNECTING → SETUP
 * (create table) → IDLE ⇄ WRITING → MARKING → IDLE; any error → BACKOFF → CONNECTING; losing
 * leadership → OFF; exportClose → CLOSED.
 *
 * Wiring (node.c): exportInit after clusterStart; exportOnLeader(e, leader) from the cluster's
 * change callback (and once after start); exportPoke(e) from the applied callback; exportClose
 * with the node's other closes. All calls on the loop thread.
 */
#ifndef RC_NODE_EXPORT_H
#define RC_NODE_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct cluster;
struct exporter;
struct pg_conn;

#define EXPORT_BATCH_DEFAULT 500 /* runs per upsert */

/* Borrowed by exportInit for the call (strings copied). conninfo NULL or "": no sink. */
struct export_options {
    const char *conninfo;      /* libpq conninfo or URI */
    const char *password_file; /* NULL: libpq's PGPASSFILE / ~/.pgpass */
    size_t batch;              /* 0: EXPORT_BATCH_DEFAULT */
};

typedef void (*export_close_cb)(struct exporter *e);

struct exporter {
    uv_loop_t *loop;         /* borrowed */
    struct cluster *cluster; /* borrowed: reads its FSM, proposes ExportMark */
    int state;               /* private: enum in export.c */
    bool configured;         /* a sink is set */
    bool leader;
    bool poked;          /* runs finished since the last look */
    bool mark_in_flight; /* an ExportMark proposal awaits its callback */
    char *conninfo;      /* owned */
    char *password_file; /* owned, may be NULL */
    size_t batch;
    struct pg_conn *pg; /* owned: the connection, NULL when none */
    uv_timer_t timer;   /* backoff, and the short wait that lets a batch fill */
    int64_t backoff_ms;
    uint64_t batch_last; /* export_seq of the batch being written or marked */
    size_t batch_n;
    uint64_t exported; /* runs upserted by this node (statistics) */
    export_close_cb close_cb;
    unsigned polls_closing; /* poll handles whose close callback is to come */
    bool timer_closed;
};

/* Start idle. Returns 0 or RC_ENOMEM. */
int exportInit(struct exporter *e, uv_loop_t *loop, struct cluster *c,
               const struct export_options *o);

/* This node became leader (true) or stopped being leader (false). */
void exportOnLeader(struct exporter *e, bool leader);

/* Entries were applied: finished runs may be waiting for the export. Cheap; call freely. */
void exportPoke(struct exporter *e);

/* Stop, close the connection, then cb (the struct may be freed in it). */
void exportClose(struct exporter *e, export_close_cb cb);

#endif /* RC_NODE_EXPORT_H */
