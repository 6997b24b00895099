/*
 * The executors a worker runs on (DESIGN.md §5, src/exec/exec.h): one backend of each kind —
 * shell, noop, http, sql — made from the node's or agent's settings, and closed together. Node
 * and agent share this, so that both run every kind the same way.
 */
#ifndef RC_NODE_EXECS_H
#define RC_NODE_EXECS_H

#include <stdbool.h>
#include <uv.h>

#include "core/confparse.h"
#include "exec/exec.h"
#include "worker.h"

struct execs_config {
    const struct rc_conf_conn *conns; /* named PostgreSQL connections (borrowed) */
    unsigned n_conns;
    unsigned sql_pool_size;               /* 0: EXEC_SQL_POOL_DEFAULT */
    const char *http_ca_file;             /* NULL: libcurl's CA store */
    const struct exec_security *security; /* borrowed, NULL: none (exec.h) */
};

struct execs {
    struct exec_backend shell;
    struct exec_backend noop;
    struct exec_backend http;
    struct exec_backend sql;
    unsigned open; /* read-only: backends open (closed ones release their handles on the loop) */
};

/* Make every backend on loop and fill *out for workerStart. Returns 0 or an RC_E* code (then
 * nothing is left open). */
int execsOpen(struct execs *e, uv_loop_t *loop, const struct execs_config *c,
              struct worker_execs *out);

/* Close every backend (after workerClose began: their cancels find the worker closing). */
void execsClose(struct execs *e);

#endif /* RC_NODE_EXECS_H */
