/*
 * The SQL executor (src/exec/sql.c) on one libuv loop against a real PostgreSQL the test starts
 * (tests/integration/harness_pg.c): an insert with its row count and command tag, a select whose
 * rows become the tail, a syntax error with its SQLSTATE, a timeout that cancels the query on
 * the server, cancel, PostgreSQL restarted in the middle of a run and the retried attempt
 * succeeding, effect-once mode with a forced duplicate attempt (sequential and concurrent) and
 * with a failing statement or one that ends the transaction itself, a named connection with a
 * password file (right, wrong, missing), an unknown connection name, the pool's bound, close with
 * runs in flight, and requests refused at start. Every test ends with uv_loop_close() == 0 under
 * ASan's leak checker.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <uv.h>

#include "core/runs.h"
#include "exec/exec.h"
#include "harness_pg.h"

#define WAIT_MS 30000

static struct harness_pg pg;
static char goodPassword[64], badPassword[64];

static void writeFile(char *path, const char *text)
{
    strcpy(path, "/tmp/rc-pgpass-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static int groupSetup(void **state)
{
    (void)state;
    harnessPgStart(&pg);
    harnessPgExec(&pg, "CREATE TABLE items (x int)");
    harnessPgExec(&pg, "CREATE TABLE once_items (x int)");
    harnessPgExec(&pg, "CREATE TABLE restarted (x int)");
    writeFile(goodPassword, HARNESS_PG_APP_PASSWORD "\n");
    writeFile(badPassword, "not-the-password\n");
    return 0;
}

static int groupTeardown(void **state)
{
    (void)state;
    harnessPgClose(&pg);
    unlink(goodPassword);
    unlink(badPassword);
    return 0;
}

/* ---- Loop and backend fixture ----------------------------------------------------------- */

struct fixture {
    uv_loop_t loop;
    uv_timer_t deadline;
    bool expired;
    struct exec_backend b;
    bool closed;
};

struct outcome {
    struct fixture *fx;
    unsigned calls;
    struct exec_result res;
    char *tail;
};

static void deadlineFired(uv_timer_t *t)
{
    ((struct fixture *)t->data)->expired = true;
}

static int setupWith(void **state, unsigned pool_size)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    uv_timer_init(&fx->loop, &fx->deadline);
    fx->deadline.data = fx;
    struct sql_conn_def conns[] = {
        {.name = "app", .conninfo = pg.app_conninfo, .password_file = goodPassword},
        {.name = "wrong", .conninfo = pg.app_conninfo, .password_file = badPassword},
        {.name = "missing", .conninfo = pg.app_conninfo, .password_file = "/nonexistent/pw"},
        {.name = "main", .conninfo = pg.conninfo},
    };
    struct sql_options o = {.conns = conns, .n_conns = 4, .pool_size = pool_size};
    assert_int_equal(sqlInit(&fx->b, &fx->loop, &o), 0);
    assert_string_equal(fx->b.name, "sql");
    *state = fx;
    return 0;
}

static int setup(void **state)
{
    return setupWith(state, 0);
}

static int setupPool4(void **state)
{
    return setupWith(state, 4);
}

static void onClosed(struct exec_backend *b)
{
    struct fixture *fx = (struct fixture *)((char *)b - offsetof(struct fixture, b));
    fx->closed = true;
}

static bool isClosed(void *arg)
{
    return ((struct fixture *)arg)->closed;
}

static bool runUntil(struct fixture *fx, bool (*cond)(void *), void *arg, unsigned ms)
{
    fx->expired = false;
    uv_timer_start(&fx->deadline, deadlineFired, ms, 0);
    while (!cond(arg) && !fx->expired) {
        uv_run(&fx->loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&fx->deadline);
    return cond(arg);
}

static bool never(void *arg)
{
    (void)arg;
    return false;
}

/* Run the loop for ms, whatever happens. */
static void runFor(struct fixture *fx, unsigned ms)
{
    runUntil(fx, never, NULL, ms);
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    if (!fx->closed) {
        execClose(&fx->b, onClosed);
        assert_true(runUntil(fx, isClosed, fx, WAIT_MS));
    }
    uv_close((uv_handle_t *)&fx->deadline, NULL);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    free(fx);
    return 0;
}

static void onDone(struct exec_handle *h, const struct exec_result *res, void *data)
{
    struct outcome *o = data;
    assert_ptr_equal(h->data, data);
    o->calls++;
    o->res = *res;
    o->tail = malloc(res->tail_len + 1);
    assert_non_null(o->tail);
    memcpy(o->tail, res->tail, res->tail_len);
    o->tail[res->tail_len] = '\0';
    o->res.tail = NULL;
    execCancel(h); /* harmless from inside done */
}

static bool isDone(void *arg)
{
    return ((struct outcome *)arg)->calls > 0;
}

static void outcomeFree(struct outcome *o)
{
    free(o->tail);
    memset(o, 0, sizeof *o);
}

struct job {
    Raftcron__SqlExec sql;
    Raftcron__Executor spec;
    struct exec_request req;
};

/* A job on the superuser's dsn (conn NULL) or on a named connection. */
static void jobInit(struct job *j, const char *conn, const char *query)
{
    memset(j, 0, sizeof *j);
    raftcron__sql_exec__init(&j->sql);
    raftcron__executor__init(&j->spec);
    j->sql.query = (char *)query;
    j->sql.dsn = conn == NULL ? pg.conninfo : "";
    j->sql.conn = conn == NULL ? "" : (char *)conn;
    j->spec.kind_case = RAFTCRON__EXECUTOR__KIND_SQL;
    j->spec.sql = &j->sql;
    j->req.run_id = 7;
    j->req.fence = 11;
    j->req.attempt = 1;
    j->req.job = "default/db";
    j->req.scheduled_us = 1700000000000000;
    j->req.spec = &j->spec;
    j->req.timeout_us = 20000000;
}

static void startOk(struct fixture *fx, struct job *j, struct outcome *o, struct exec_handle **h)
{
    struct exec_handle *dummy;
    o->fx = fx;
    int rv = execStart(&fx->b, &j->req, onDone, o, h != NULL ? h : &dummy);
    if (rv != 0) {
        fail_msg("start: %s: %s", rc_errname(rv), fx->b.errmsg);
    }
    assert_int_equal(o->calls, 0);
}

static void runJob(struct fixture *fx, struct job *j, struct outcome *o)
{
    startOk(fx, j, o, NULL);
    assert_true(runUntil(fx, isDone, o, WAIT_MS));
    assert_int_equal(o->calls, 1);
}

static int64_t monoUs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- Statements and outcomes ------------------------------------------------------------ */

static void insertRows(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, NULL, "INSERT INTO items VALUES (1), (2), (3)");
    runJob(fx, &j, &o);
    assert_string_equal(o.res.error, "");
    assert_int_equal(o.res.exit_code, 0);
    assert_int_equal(o.res.rows, 3);
    assert_string_equal(o.res.command_status, "INSERT 0 3");
    assert_string_equal(o.res.sqlstate, "");
    assert_false(o.res.already_done || o.res.timed_out || o.res.cancelled);
    assert_int_equal(execResultState(&o.res), RC_RUN_SUCCEEDED);
    assert_int_equal(harnessPgScalar(&pg, "SELECT count(*) FROM items"), 3);
    outcomeFree(&o);
    /* The connection went back to the pool and serves the next run. */
    assert_int_equal(sqlConnections(&fx->b), 1);
    jobInit(&j, NULL, "UPDATE items SET x = x + 1 WHERE x > 1");
    runJob(fx, &j, &o);
    assert_int_equal(o.res.rows, 2);
    assert_string_equal(o.res.command_status, "UPDATE 2");
    assert_int_equal(sqlConnections(&fx->b), 1);
    outcomeFree(&o);
}

static void selectTail(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, NULL, "SELECT 1 AS a, 'x' AS b UNION ALL SELECT 2, NULL");
    runJob(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 0);
    assert_int_equal(o.res.rows, 2);
    assert_string_equal(o.res.command_status, "SELECT 2");
    assert_string_equal(o.tail, "1\tx\n2\tNULL\n");
    outcomeFree(&o);
}

static void syntaxError(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, NULL, "SELEC 1");
    runJob(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 1);
    assert_string_equal(o.res.sqlstate, "42601");
    assert_string_equal(o.res.error, "syntax error at or near \"SELEC\" at character 1 (SQLSTATE "
                                     "42601)");
    assert_false(o.res.timed_out || o.res.start_failed);
    assert_int_equal(execResultState(&o.res), RC_RUN_FAILED);
    outcomeFree(&o);
    /* A failed statement does not poison the pool. */
    jobInit(&j, NULL, "SELECT 1");
    runJob(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 0);
    outcomeFree(&o);
}

static long long sleepers(void)
{
    return harnessPgScalar(&pg, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                                "'SELECT pg_sleep(3%' AND state = 'active'");
}

static void timeoutCancels(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    /* A pooled connection first, so that the timeout falls in the statement, not the connect. */
    jobInit(&j, NULL, "SELECT 1");
    runJob(fx, &j, &o);
    outcomeFree(&o);
    jobInit(&j, NULL, "SELECT pg_sleep(30)");
    j.req.timeout_us = 500000;
    int64_t t0 = monoUs();
    runJob(fx, &j, &o);
    int64_t took = monoUs() - t0;
    assert_true(o.res.timed_out);
    assert_int_equal(o.res.exit_code, 1);
    assert_string_equal(o.res.sqlstate, "57014");
    assert_non_null(strstr(o.res.error, "timed out after 500 ms"));
    assert_non_null(strstr(o.res.error, "canceling statement"));
    assert_int_equal(execResultState(&o.res), RC_RUN_TIMED_OUT);
    assert_true(took >= 450000 && took < 3000000);
    assert_int_equal(sleepers(), 0);
    outcomeFree(&o);
}

static void cancelRun(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    struct exec_handle *h;
    jobInit(&j, NULL, "SELECT pg_sleep(31)");
    startOk(fx, &j, &o, &h);
    runFor(fx, 300);
    int64_t t0 = monoUs();
    execCancel(h);
    execCancel(h);
    assert_int_equal(o.calls, 0);
    assert_true(runUntil(fx, isDone, &o, WAIT_MS));
    assert_true(monoUs() - t0 < 3000000);
    assert_true(o.res.cancelled);
    assert_false(o.res.timed_out);
    assert_string_equal(o.res.sqlstate, "57014");
    assert_int_equal(sleepers(), 0);
    outcomeFree(&o);
}

/* ---- PostgreSQL restarted mid-run ------------------------------------------------------- */

static void restartMidRun(void **state)
{
    struct fixture *fx = *state;
    struct job j, warm;
    struct outcome o = {0};
    /* A second pooled connection, idle across the restart. */
    jobInit(&warm, NULL, "SELECT 1");
    runJob(fx, &warm, &o);
    outcomeFree(&o);

    jobInit(&j, NULL, "INSERT INTO restarted SELECT 1 FROM pg_sleep(5)");
    j.req.run_id = 500;
    startOk(fx, &j, &o, NULL);
    runFor(fx, 300);
    harnessPgRestart(&pg);
    assert_true(runUntil(fx, isDone, &o, WAIT_MS));
    assert_int_equal(o.res.exit_code, 1);
    assert_int_equal(execResultState(&o.res), RC_RUN_FAILED);
    assert_true(o.res.error[0] != '\0');
    print_message("attempt 1 during the restart: %s\n", o.res.error);
    outcomeFree(&o);

    /* The retry policy runs attempt 2 of the same run: it succeeds on a fresh connection. */
    j.req.attempt = 2;
    j.req.fence = 12;
    jobInit(&warm, NULL, "INSERT INTO restarted VALUES (1)");
    warm.req.run_id = 500;
    warm.req.attempt = 2;
    runJob(fx, &warm, &o);
    assert_string_equal(o.res.error, "");
    assert_int_equal(o.res.exit_code, 0);
    assert_int_equal(o.res.rows, 1);
    outcomeFree(&o);
    assert_int_equal(harnessPgScalar(&pg, "SELECT count(*) FROM restarted"), 1);
}

/* ---- Effect-once mode ------------------------------------------------------------------- */

static long long effects(uint64_t run_id)
{
    char q[128];
    snprintf(q, sizeof q, "SELECT count(*) FROM raftcron_effects WHERE run_id = %llu",
             (unsigned long long)run_id);
    return harnessPgScalar(&pg, q);
}

static void onceDuplicate(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, NULL, "INSERT INTO once_items VALUES (42)");
    j.sql.dedupe = true;
    j.req.run_id = 900;
    runJob(fx, &j, &o);
    assert_string_equal(o.res.error, "");
    assert_int_equal(o.res.exit_code, 0);
    assert_false(o.res.already_done);
    assert_int_equal(o.res.rows, 1);
    assert_string_equal(o.res.command_status, "INSERT 0 1");
    outcomeFree(&o);

    /* A duplicate attempt of the same run (its first attempt committed, but the report was
     * lost): recorded as already done, the statement does not run again. */
    j.req.attempt = 2;
    j.req.fence = 12;
    runJob(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 0);
    assert_true(o.res.already_done);
    assert_string_equal(o.res.command_status, "ALREADY DONE");
    assert_int_equal(execResultState(&o.res), RC_RUN_SUCCEEDED);
    outcomeFree(&o);
    assert_int_equal(harnessPgScalar(&pg, "SELECT count(*) FROM once_items WHERE x = 42"), 1);
    assert_int_equal(effects(900), 1);
    assert_int_equal(
        harnessPgScalar(&pg, "SELECT attempt FROM raftcron_effects WHERE run_id = 900"), 1);
}

static void onceConcurrent(void **state)
{
    struct fixture *fx = *state;
    struct job a, b;
    struct outcome oa = {0}, ob = {0};
    /* Two attempts of run 901 at once (an old attempt still running when a new one starts):
     * the second claim waits for the first transaction and then finds the key. */
    jobInit(&a, NULL, "INSERT INTO once_items SELECT 43 FROM pg_sleep(0.5)");
    a.sql.dedupe = true;
    a.req.run_id = 901;
    b = a;
    b.req.spec = &b.spec;
    b.spec.sql = &b.sql;
    b.req.attempt = 2;
    b.req.fence = 12;
    startOk(fx, &a, &oa, NULL);
    runFor(fx, 100);
    startOk(fx, &b, &ob, NULL);
    assert_true(runUntil(fx, isDone, &oa, WAIT_MS));
    assert_true(runUntil(fx, isDone, &ob, WAIT_MS));
    assert_int_equal(oa.res.exit_code, 0);
    assert_int_equal(ob.res.exit_code, 0);
    assert_false(oa.res.already_done);
    assert_true(ob.res.already_done);
    outcomeFree(&oa);
    outcomeFree(&ob);
    assert_int_equal(harnessPgScalar(&pg, "SELECT count(*) FROM once_items WHERE x = 43"), 1);
}

static void onceFailureLeavesNoClaim(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, NULL, "INSERT INTO no_such_table VALUES (1)");
    j.sql.dedupe = true;
    j.req.run_id = 902;
    runJob(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 1);
    assert_string_equal(o.res.sqlstate, "42P01");
    outcomeFree(&o);
    assert_int_equal(effects(902), 0); /* rolled back with the statement: a retry runs it */
}

/* A statement that ends the transaction itself fails the attempt (docs/executors.md,
 * "Effect-once mode"): with ROLLBACK nothing is left, claim included; with COMMIT what came
 * before it is in with the claim, so that the next attempt is already done. */
static void onceStatementEndsTransaction(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, NULL, "INSERT INTO once_items VALUES (44); ROLLBACK");
    j.sql.dedupe = true;
    j.req.run_id = 903;
    runJob(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 1);
    assert_non_null(strstr(o.res.error, "the statement ended the transaction"));
    assert_int_equal(execResultState(&o.res), RC_RUN_FAILED);
    outcomeFree(&o);
    assert_int_equal(effects(903), 0);
    assert_int_equal(harnessPgScalar(&pg, "SELECT count(*) FROM once_items WHERE x = 44"), 0);

    jobInit(&j, NULL, "INSERT INTO once_items VALUES (45); COMMIT; SELECT 1");
    j.sql.dedupe = true;
    j.req.run_id = 904;
    runJob(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 1);
    assert_non_null(strstr(o.res.error, "the statement ended the transaction"));
    outcomeFree(&o);
    assert_int_equal(effects(904), 1);
    j.req.attempt = 2;
    runJob(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 0);
    assert_true(o.res.already_done);
    outcomeFree(&o);
    assert_int_equal(harnessPgScalar(&pg, "SELECT count(*) FROM once_items WHERE x = 45"), 1);
}

/* ---- Named connections and password files ----------------------------------------------- */

static void namedConnection(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, "app", "SELECT current_user");
    runJob(fx, &j, &o);
    assert_string_equal(o.res.error, "");
    assert_string_equal(o.tail, "app\n");
    outcomeFree(&o);

    jobInit(&j, "wrong", "SELECT 1");
    runJob(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 1);
    assert_non_null(strstr(o.res.error, "password authentication failed"));
    assert_null(strstr(o.res.error, "not-the-password"));
    outcomeFree(&o);

    jobInit(&j, "missing", "SELECT 1");
    runJob(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 1);
    assert_string_equal(o.res.error, "connect: password file /nonexistent/pw: cannot open");
    outcomeFree(&o);

    jobInit(&j, "nosuch", "SELECT 1");
    runJob(fx, &j, &o);
    assert_true(o.res.start_failed);
    assert_string_equal(o.res.error, "connection \"nosuch\" is not in this worker's connections");
    assert_int_equal(execResultState(&o.res), RC_RUN_FAILED);
    outcomeFree(&o);
}

/* ---- The pool, close, refusals ---------------------------------------------------------- */

#define POOLED 20

static void poolBound(void **state)
{
    struct fixture *fx = *state;
    struct job *j = calloc(POOLED, sizeof *j);
    struct outcome *o = calloc(POOLED, sizeof *o);
    assert_true(j != NULL && o != NULL);
    int64_t t0 = monoUs();
    for (int i = 0; i < POOLED; i++) {
        jobInit(&j[i], "main", "SELECT pg_sleep(0.2)");
        j[i].req.run_id = 1000 + (uint64_t)i;
        startOk(fx, &j[i], &o[i], NULL);
    }
    size_t peak = 0;
    for (int i = 0; i < POOLED; i++) {
        while (o[i].calls == 0) {
            uv_run(&fx->loop, UV_RUN_ONCE);
            size_t n = sqlConnections(&fx->b);
            peak = n > peak ? n : peak;
        }
    }
    int64_t took = monoUs() - t0;
    for (int i = 0; i < POOLED; i++) {
        assert_int_equal(o[i].res.exit_code, 0);
        outcomeFree(&o[i]);
    }
    print_message("%d runs on a pool of 4: %.2f s, at most %zu connections\n", POOLED,
                  (double)took / 1e6, peak);
    assert_int_equal(peak, 4);
    assert_true(took >= 1000000); /* five waves of 0.2 s */
    assert_int_equal(sqlInFlight(&fx->b), 0);
    free(j);
    free(o);
}

static void closeInFlight(void **state)
{
    struct fixture *fx = *state;
    struct job j[3];
    struct outcome o[3] = {{0}};
    for (int i = 0; i < 3; i++) {
        jobInit(&j[i], NULL, "SELECT pg_sleep(32)");
        startOk(fx, &j[i], &o[i], NULL);
    }
    runFor(fx, 300);
    execClose(&fx->b, onClosed);
    struct outcome extra = {.fx = fx};
    struct exec_handle *h;
    assert_int_equal(execStart(&fx->b, &j[0].req, onDone, &extra, &h), RC_ESHUTDOWN);
    assert_true(runUntil(fx, isClosed, fx, WAIT_MS));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(o[i].calls, 1);
        assert_true(o[i].res.cancelled);
        outcomeFree(&o[i]);
    }
    assert_int_equal(sleepers(), 0);
}

static void badRequests(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {.fx = fx};
    struct exec_handle *h = NULL;
    jobInit(&j, NULL, "SELECT 1");
    j.spec.kind_case = RAFTCRON__EXECUTOR__KIND_HTTP;
    assert_int_equal(execStart(&fx->b, &j.req, onDone, &o, &h), RC_EINVAL);
    assert_non_null(strstr(fx->b.errmsg, "not an sql executor"));
    jobInit(&j, NULL, "");
    assert_int_equal(execStart(&fx->b, &j.req, onDone, &o, &h), RC_EINVAL);
    assert_non_null(strstr(fx->b.errmsg, "no statement"));
    jobInit(&j, "app", "SELECT 1");
    j.sql.dsn = pg.conninfo;
    assert_int_equal(execStart(&fx->b, &j.req, onDone, &o, &h), RC_EINVAL);
    assert_non_null(strstr(fx->b.errmsg, "a conn or a dsn"));
    assert_null(h);
    assert_int_equal(o.calls, 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(insertRows),
        T(selectTail),
        T(syntaxError),
        T(timeoutCancels),
        T(cancelRun),
        T(restartMidRun),
        T(onceDuplicate),
        T(onceConcurrent),
        T(onceFailureLeavesNoClaim),
        T(onceStatementEndsTransaction),
        T(namedConnection),
        cmocka_unit_test_setup_teardown(poolBound, setupPool4, teardown),
        T(closeInFlight),
        T(badRequests),
    };
    return cmocka_run_group_tests(tests, groupSetup, groupTeardown);
}
