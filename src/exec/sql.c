/* The SQL executor: libpq in non-blocking mode on the node's libuv loop. The rules are in exec.h
 * and docs/executors.md ("SQL executor", "Effect-once mode"); this file says why the code is
 * shaped the way it is.
 *
 * Every libpq call made here returns without waiting: connections are opened with
 * PQconnectStartParams and advanced by PQconnectPoll when their socket is ready, statements are
 * sent with PQsendQuery(Params) and read with PQconsumeInput/PQgetResult when it is readable.
 * The only blocking call libpq has for us, PQcancel (it opens a connection of its own), runs on
 * the libuv thread pool. */
#include "exec.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libpq-fe.h>
#include <uv.h>

#include "core/timefmt.h"

/* Longest password file read, and most result rows rendered into the tail. */
#define PASSWORD_MAX 1024
#define TAIL_ROWS    1000

/* ---- State machines (STYLE.md §9) ------------------------------------------------------- */

enum runState {
    RUN_WAITING,    /* for a connection of its pool */
    RUN_CONNECTING, /* its connection is being opened */
    RUN_QUERYING,   /* statements of the run are being sent and read */
    RUN_ENDING,     /* result final, connection given back; done is queued */
    RUN_DONE,       /* done called */
    RUN__N
};
static const char *const runNames[RUN__N] = {"WAITING", "CONNECTING", "QUERYING", "ENDING", "DONE"};
static const bool runMoves[RUN__N][RUN__N] = {
    [RUN_WAITING] = {[RUN_CONNECTING] = true, [RUN_QUERYING] = true, [RUN_ENDING] = true},
    [RUN_CONNECTING] = {[RUN_QUERYING] = true, [RUN_ENDING] = true},
    /* QUERYING → CONNECTING: a pooled connection found dead before anything ran. */
    [RUN_QUERYING] = {[RUN_CONNECTING] = true, [RUN_ENDING] = true},
    [RUN_ENDING] = {[RUN_DONE] = true},
};

/* The statements of a run, in order; effect-once adds ENSURE (once per connection), BEGIN,
 * CLAIM and COMMIT around QUERY, and ROLLBACK when the claim finds the run already done. */
enum step {
    STEP_SETUP,
    STEP_ENSURE,
    STEP_BEGIN,
    STEP_CLAIM,
    STEP_QUERY,
    STEP_COMMIT,
    STEP_ROLLBACK
};
static const char *const stepNames[] = {"SETUP", "ENSURE", "BEGIN",   "CLAIM",
                                        "QUERY", "COMMIT", "ROLLBACK"};

/* Created on demand by the first effect-once run on a connection (docs/executors.md). */
static const char ensureSql[] =
    "CREATE TABLE IF NOT EXISTS raftcron_effects ("
    "run_id bigint PRIMARY KEY, job text NOT NULL, scheduled_at timestamptz NOT NULL, "
    "attempt integer NOT NULL, fence bigint NOT NULL, done_at timestamptz NOT NULL DEFAULT now())";
static const char claimSql[] =
    "INSERT INTO raftcron_effects (run_id, job, scheduled_at, attempt, fence) "
    "VALUES ($1::bigint, $2, $3::timestamptz, $4::integer, $5::bigint) "
    "ON CONFLICT (run_id) DO NOTHING";

struct sql;
struct pool;
struct run;

/* One connection of a pool: idle, or lent to one run. */
struct pconn {
    struct pool *pool;  /* borrowed */
    PGconn *pg;         /* owned */
    uv_poll_t *poll;    /* owned until its close callback; NULL when not watched */
    int fd;             /* the socket poll watches */
    bool ready;         /* connected */
    bool effects_ready; /* raftcron_effects known to exist */
    struct run *run;    /* the run it is lent to (or connecting for); NULL when idle */
    struct pconn *next; /* in the pool's idle list */
};

/* The connections to one database: a named connection or a dsn. */
struct pool {
    struct sql *sq; /* borrowed */
    struct pool *next;
    char *key;           /* owned: "conn NAME" or "dsn DSN" */
    char *conninfo;      /* owned */
    char *password_file; /* owned, may be NULL */
    struct pconn *idle;
    unsigned open; /* connections open or opening */
    struct run *waiting;
    struct run **waiting_tail;
};

struct sql {
    struct exec_backend *b; /* borrowed: the interface we implement */
    uv_loop_t *loop;        /* borrowed */
    bool trace;
    bool closing;
    exec_close_cb close_cb;
    struct sql_conn_def *defs; /* owned copies (strings owned) */
    size_t n_defs;
    unsigned pool_size;
    char *app_name; /* owned */
    struct pool *pools;
    struct run *runs; /* done not yet called */
    size_t in_flight;
    size_t conns;   /* connections open or opening */
    uv_idle_t turn; /* runs queued done callbacks */
    struct run *ending;
    struct run **ending_tail;
    unsigned live; /* handles, runs and cancel requests not yet released */
};

struct run {
    struct exec_handle h; /* first: the handle given to the caller is the run */
    struct sql *sq;       /* borrowed */
    struct pool *pool;    /* borrowed; NULL when the connection name is unknown */
    struct pconn *conn;   /* lent by the pool while CONNECTING or QUERYING */
    struct run *prev, *next;
    struct run *queue_next; /* in the pool's waiting queue or the ending queue */
    enum runState state;
    enum step step;
    exec_done_cb done;
    char *query; /* owned */
    bool once;
    bool reused;   /* the connection came from the idle list */
    bool retried;  /* a dead pooled connection was replaced once already */
    bool stopping; /* a cancel or timeout is under way */
    bool flushing; /* PQflush has more to send */
    int64_t timeout_us;
    int64_t kill_grace_us;
    int64_t began_us; /* monotonic, at start() */
    uint64_t fence;
    uint32_t attempt;
    int64_t scheduled_us;
    char *job;        /* owned */
    uv_timer_t timer; /* the timeout, then the cancel's grace */
    bool step_failed;
    struct exec_tail tail;
    struct exec_result res;
};

static void trace(const struct sql *sq, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void trace(const struct sql *sq, const char *fmt, ...)
{
    if (!sq->trace) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "exec sql: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void runMove(struct run *r, enum runState to)
{
    if (!runMoves[r->state][to]) {
        fprintf(stderr, "exec sql: illegal run move %s -> %s\n", runNames[r->state], runNames[to]);
        abort();
    }
    trace(r->sq, "run %" PRIu64 ": %s -> %s", r->h.run_id, runNames[r->state], runNames[to]);
    r->state = to;
}

static int64_t wallNowUs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t monoNowUs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t toMs(int64_t us)
{
    return (uint64_t)(us + 999) / 1000;
}

/* Add to the run's error: "prefix msg", after what is there ("timed out after 300 ms: …"). libpq's
 * messages end in a newline and may span lines: the ledger gets one line. */
static void addError(struct run *r, const char *prefix, const char *msg)
{
    size_t len = strlen(r->res.error);
    int n = snprintf(r->res.error + len, sizeof r->res.error - len, "%s%s%s", len > 0 ? ": " : "",
                     prefix, msg != NULL ? msg : "");
    (void)n;
    for (char *p = r->res.error; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\t') {
            *p = ' ';
        }
    }
    len = strlen(r->res.error);
    while (len > 0 && r->res.error[len - 1] == ' ') {
        r->res.error[--len] = '\0';
    }
}

/* ---- Backend teardown ------------------------------------------------------------------- */

static void release(struct sql *sq)
{
    assert(sq->live > 0);
    sq->live--;
    if (!sq->closing || sq->live > 0) {
        return;
    }
    struct exec_backend *b = sq->b;
    exec_close_cb cb = sq->close_cb;
    for (size_t i = 0; i < sq->n_defs; i++) {
        free((char *)sq->defs[i].name);
        free((char *)sq->defs[i].conninfo);
        free((char *)sq->defs[i].password_file);
    }
    free(sq->defs);
    while (sq->pools != NULL) {
        struct pool *p = sq->pools;
        sq->pools = p->next;
        free(p->key);
        free(p->conninfo);
        free(p->password_file);
        free(p);
    }
    free(sq->app_name);
    free(sq);
    b->impl = NULL;
    if (cb != NULL) {
        cb(b);
    }
}

static void handleReleased(uv_handle_t *h)
{
    struct sql *sq = h->data;
    release(sq);
}

static void pollClosed(uv_handle_t *h)
{
    struct sql *sq = h->data;
    free(h);
    release(sq);
}

/* ---- Sockets ---------------------------------------------------------------------------- */

static void unwatch(struct pconn *c)
{
    if (c->poll == NULL) {
        return;
    }
    uv_poll_stop(c->poll);
    c->poll->data = c->pool->sq;
    uv_close((uv_handle_t *)c->poll, pollClosed);
    c->poll = NULL;
}

/* Watch the connection's socket for events. libpq may replace the socket while it connects
 * (another host, another address): a new socket gets a new poll handle, registered afresh. */
static int watch(struct pconn *c, int events, uv_poll_cb cb)
{
    struct sql *sq = c->pool->sq;
    int fd = PQsocket(c->pg);
    if (fd < 0) {
        return -1;
    }
    if (c->poll != NULL && c->fd != fd) {
        unwatch(c);
    }
    if (c->poll == NULL) {
        c->poll = malloc(sizeof *c->poll);
        if (c->poll == NULL || uv_poll_init_socket(sq->loop, c->poll, fd) != 0) {
            free(c->poll);
            c->poll = NULL;
            return -1;
        }
        sq->live++;
        c->fd = fd;
    }
    c->poll->data = c;
    return uv_poll_start(c->poll, events, cb);
}

/* ---- Connections ------------------------------------------------------------------------ */

static void connClose(struct pconn *c)
{
    struct pool *p = c->pool;
    unwatch(c);
    PQfinish(c->pg);
    assert(p->open > 0);
    p->open--;
    p->sq->conns--;
    free(c);
}

static void removeIdle(struct pconn *c)
{
    for (struct pconn **pp = &c->pool->idle; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            c->next = NULL;
            return;
        }
    }
}

/* An idle connection becomes readable when the server says something unasked: a shutdown
 * notice before it closes, or the close itself. Such a connection leaves the pool at once,
 * so that the next run does not find it dead. */
static void onIdleEvent(uv_poll_t *poll, int status, int events)
{
    struct pconn *c = poll->data;
    (void)events;
    if (status == 0 && PQconsumeInput(c->pg) == 1 && PQstatus(c->pg) == CONNECTION_OK) {
        PGnotify *n;
        while ((n = PQnotifies(c->pg)) != NULL) {
            PQfreemem(n);
        }
        return;
    }
    trace(c->pool->sq, "idle connection of %s closed by the server", c->pool->key);
    removeIdle(c);
    connClose(c);
}

static int readPassword(const char *path, char *buf, size_t len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return errSet(err, errlen, RC_EIO, "password file %s: cannot open", path);
    }
    size_t n = fread(buf, 1, len - 1, f);
    bool more = n == len - 1 && fgetc(f) != EOF;
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (more && strchr(buf, '\n') == NULL && strlen(buf) == n) {
        return errSet(err, errlen, RC_ETOOBIG, "password file %s: longer than %d bytes", path,
                      PASSWORD_MAX - 1);
    }
    return 0;
}

static void runStep(struct run *r);
static void runFail(struct run *r, const char *prefix, const char *msg);
static void runEnd(struct run *r, bool reusable);

static void onConnectEvent(uv_poll_t *poll, int status, int events);

/* Advance the connection of r one PQconnectPoll step. */
static void connectAdvance(struct run *r)
{
    struct pconn *c = r->conn;
    PostgresPollingStatusType st = PQconnectPoll(c->pg);
    switch (st) {
    case PGRES_POLLING_READING:
    case PGRES_POLLING_WRITING:
        if (watch(c, st == PGRES_POLLING_READING ? UV_READABLE : UV_WRITABLE, onConnectEvent) !=
            0) {
            runFail(r, "connect: ", "cannot watch the connection's socket");
        }
        return;
    case PGRES_POLLING_OK:
        if (PQsetnonblocking(c->pg, 1) != 0) {
            runFail(r, "connect: ", PQerrorMessage(c->pg));
            return;
        }
        c->ready = true;
        trace(r->sq, "run %" PRIu64 ": connected to %s", r->h.run_id, c->pool->key);
        runMove(r, RUN_QUERYING);
        r->step = STEP_SETUP;
        runStep(r);
        return;
    default:
        runFail(r, "connect: ", PQerrorMessage(c->pg));
        return;
    }
}

static void onConnectEvent(uv_poll_t *poll, int status, int events)
{
    struct pconn *c = poll->data;
    (void)status;
    (void)events;
    connectAdvance(c->run);
}

/* Notices ("relation already exists, skipping") are not errors: the trace has them, stderr not. */
static void onNotice(void *arg, const char *message)
{
    trace(arg, "notice: %s", message);
}

/* Open a new connection of r's pool for r. */
static void connOpen(struct run *r)
{
    struct pool *p = r->pool;
    struct sql *sq = p->sq;
    struct pconn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        r->conn = NULL;
        runFail(r, "connect: ", "out of memory");
        return;
    }
    c->pool = p;
    c->run = r;
    p->open++;
    sq->conns++;
    r->conn = c;
    runMove(r, RUN_CONNECTING);
    char password[PASSWORD_MAX] = "";
    char err[RC_ERRMSG_SIZE];
    if (p->password_file != NULL &&
        readPassword(p->password_file, password, sizeof password, err, sizeof err) != 0) {
        runFail(r, "connect: ", err);
        return;
    }
    /* Later keywords win over what the expanded dbname (the conninfo) says: the password from
     * the file beats the conninfo's, the conninfo's application_name beats ours. */
    const char *keys[4] = {"application_name", "dbname", NULL, NULL};
    const char *vals[4] = {sq->app_name, p->conninfo, NULL, NULL};
    if (p->password_file != NULL) {
        keys[2] = "password";
        vals[2] = password;
    }
    c->pg = PQconnectStartParams(keys, vals, 1);
    explicit_bzero(password, sizeof password);
    if (c->pg != NULL) {
        PQsetNoticeProcessor(c->pg, onNotice, sq);
    }
    if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD) {
        runFail(r, "connect: ", c->pg != NULL ? PQerrorMessage(c->pg) : "out of memory");
        return;
    }
    if (watch(c, UV_WRITABLE, onConnectEvent) != 0) {
        runFail(r, "connect: ", "cannot watch the connection's socket");
    }
}

/* Give r a connection of its pool now, or queue it. */
static void acquire(struct run *r)
{
    struct pool *p = r->pool;
    if (p->idle != NULL) {
        struct pconn *c = p->idle;
        p->idle = c->next;
        c->next = NULL;
        c->run = r;
        r->conn = c;
        r->reused = true;
        unwatch(c);
        runMove(r, RUN_QUERYING);
        r->step = STEP_SETUP;
        runStep(r);
        return;
    }
    if (p->open < p->sq->pool_size) {
        connOpen(r);
        return;
    }
    r->queue_next = NULL;
    *p->waiting_tail = r;
    p->waiting_tail = &r->queue_next;
    trace(p->sq, "run %" PRIu64 ": waits for a connection of %s", r->h.run_id, p->key);
}

static struct run *popWaiting(struct pool *p)
{
    struct run *r = p->waiting;
    if (r != NULL) {
        p->waiting = r->queue_next;
        if (p->waiting == NULL) {
            p->waiting_tail = &p->waiting;
        }
        r->queue_next = NULL;
    }
    return r;
}

static void removeWaiting(struct run *r)
{
    struct pool *p = r->pool;
    for (struct run **pp = &p->waiting; *pp != NULL; pp = &(*pp)->queue_next) {
        if (*pp == r) {
            *pp = r->queue_next;
            if (*pp == NULL) {
                p->waiting_tail = pp;
            }
            r->queue_next = NULL;
            return;
        }
    }
}

/* The run is done with its connection: back to the pool when it is healthy and outside any
 * transaction (a failed run may have left one open), else closed. The first waiting run, if
 * any, gets the connection or the free slot. */
static void connGiveBack(struct pool *p, struct pconn *c, bool reusable)
{
    struct sql *sq = p->sq;
    if (c != NULL) {
        c->run = NULL;
        bool healthy = reusable && c->ready && !sq->closing && PQstatus(c->pg) == CONNECTION_OK &&
                       PQtransactionStatus(c->pg) == PQTRANS_IDLE;
        if (healthy) {
            c->next = p->idle;
            p->idle = c;
            if (watch(c, UV_READABLE, onIdleEvent) != 0) {
                removeIdle(c);
                connClose(c);
            }
        } else {
            connClose(c);
        }
    }
    struct run *w = popWaiting(p);
    if (w != NULL) {
        acquire(w);
    }
}

/* ---- Statements ------------------------------------------------------------------------- */

static void onQueryEvent(uv_poll_t *poll, int status, int events);

static int sendStep(struct run *r)
{
    PGconn *pg = r->conn->pg;
    char sql[96];
    switch (r->step) {
    case STEP_SETUP: {
        /* The server stops the statement by itself when the run's time is up, even if the
         * cancel cannot reach it; the rest of the run's time, not the whole of it. */
        int64_t left = 0;
        if (r->timeout_us > 0) {
            left = r->timeout_us - (monoNowUs() - r->began_us);
            left = left < 1000 ? 1000 : left;
        }
        snprintf(sql, sizeof sql, "SET statement_timeout = %" PRIu64, toMs(left));
        return PQsendQuery(pg, sql);
    }
    case STEP_ENSURE:
        return PQsendQuery(pg, ensureSql);
    case STEP_BEGIN:
        return PQsendQuery(pg, "BEGIN");
    case STEP_CLAIM: {
        char id[24], attempt[16], fence[24], at[RC_TIMEFMT_MAX];
        snprintf(id, sizeof id, "%" PRIu64, r->h.run_id);
        snprintf(attempt, sizeof attempt, "%" PRIu32, r->attempt);
        snprintf(fence, sizeof fence, "%" PRIu64, r->fence);
        timefmtFormat(r->scheduled_us, 0, at);
        const char *vals[5] = {id, r->job, at, attempt, fence};
        return PQsendQueryParams(pg, claimSql, 5, NULL, vals, NULL, NULL, 0);
    }
    case STEP_QUERY:
        return PQsendQuery(pg, r->query);
    case STEP_COMMIT:
        return PQsendQuery(pg, "COMMIT");
    case STEP_ROLLBACK:
        return PQsendQuery(pg, "ROLLBACK");
    }
    return 0;
}

static void runStep(struct run *r)
{
    trace(r->sq, "run %" PRIu64 ": %s", r->h.run_id, stepNames[r->step]);
    r->step_failed = false;
    if (sendStep(r) != 1) {
        runFail(r, "", PQerrorMessage(r->conn->pg));
        return;
    }
    int f = PQflush(r->conn->pg);
    if (f < 0) {
        runFail(r, "", PQerrorMessage(r->conn->pg));
        return;
    }
    r->flushing = f == 1;
    if (watch(r->conn, UV_READABLE | (r->flushing ? UV_WRITABLE : 0), onQueryEvent) != 0) {
        runFail(r, "", "cannot watch the connection's socket");
    }
}

static void appendRows(struct run *r, const PGresult *res)
{
    int rows = PQntuples(res), cols = PQnfields(res);
    int from = rows > TAIL_ROWS ? rows - TAIL_ROWS : 0;
    for (int i = from; i < rows; i++) {
        for (int j = 0; j < cols; j++) {
            const char *v = PQgetisnull(res, i, j) ? "NULL" : PQgetvalue(res, i, j);
            if (j > 0) {
                execTailAppend(&r->tail, (const uint8_t *)"\t", 1);
            }
            execTailAppend(&r->tail, (const uint8_t *)v, strlen(v));
        }
        execTailAppend(&r->tail, (const uint8_t *)"\n", 1);
    }
}

/* What an error of each step is called in the run's error ("" for the job's own statement). */
static const char *const stepPrefix[] = {
    "setup: ", "creating raftcron_effects: ", "begin: ", "claim: ", "", "commit: ", "rollback: "};

static void noteError(struct run *r, const PGresult *res)
{
    if (r->step_failed) {
        return; /* the first error of the step is the one that counts */
    }
    r->step_failed = true;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
    snprintf(r->res.sqlstate, sizeof r->res.sqlstate, "%s", state != NULL ? state : "");
    if (primary == NULL) {
        addError(r, stepPrefix[r->step], PQresultErrorMessage(res));
        return;
    }
    char msg[RC_ERRMSG_SIZE];
    int n = snprintf(msg, sizeof msg, "%s%s%s%s%s%s", primary, pos != NULL ? " at character " : "",
                     pos != NULL ? pos : "", state != NULL ? " (SQLSTATE " : "",
                     state != NULL ? state : "", state != NULL ? ")" : "");
    (void)n;
    addError(r, stepPrefix[r->step], msg);
}

/* One result of the current step. */
static void takeResult(struct run *r, PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR || st == PGRES_BAD_RESPONSE) {
        if (st != PGRES_NONFATAL_ERROR) {
            noteError(r, res);
        }
        return;
    }
    if (r->step == STEP_CLAIM) {
        r->res.already_done = strcmp(PQcmdTuples(res), "0") == 0;
        return;
    }
    if (r->step == STEP_COMMIT && strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        r->step_failed = true;
        addError(r, "commit: the statement ended the transaction: ", PQcmdStatus(res));
        return;
    }
    if (r->step != STEP_QUERY || r->step_failed) {
        return;
    }
    snprintf(r->res.command_status, sizeof r->res.command_status, "%s", PQcmdStatus(res));
    if (st == PGRES_TUPLES_OK) {
        r->res.rows = PQntuples(res);
        appendRows(r, res);
    } else {
        const char *t = PQcmdTuples(res);
        r->res.rows = t[0] != '\0' ? strtoll(t, NULL, 10) : -1;
    }
}

static bool ensureRace(const struct run *r)
{
    /* Two sessions creating the table at once: one of them gets a unique violation on the
     * catalog, or "already exists"; the table is there either way. */
    return r->step == STEP_ENSURE &&
           (strcmp(r->res.sqlstate, "23505") == 0 || strcmp(r->res.sqlstate, "42P07") == 0);
}

/* The current step's last result arrived. */
static void stepDone(struct run *r)
{
    if (r->step_failed && ensureRace(r)) {
        r->step_failed = false;
        r->res.sqlstate[0] = r->res.error[0] = '\0';
    }
    if (r->step_failed) {
        if (r->step == STEP_SETUP && r->reused && !r->retried &&
            PQstatus(r->conn->pg) != CONNECTION_OK) {
            /* A pooled connection that died while idle, caught before anything ran: open a
             * fresh one, once. */
            struct pconn *c = r->conn;
            r->conn = NULL;
            r->retried = true;
            r->reused = false;
            r->res.sqlstate[0] = r->res.error[0] = '\0';
            connClose(c);
            connOpen(r);
            return;
        }
        r->res.exit_code = 1;
        if (strcmp(r->res.sqlstate, "57014") == 0 && r->timeout_us > 0 && !r->res.cancelled &&
            !r->res.timed_out) {
            /* The server's statement_timeout came first: the same timeout, told the same way. */
            char why[sizeof r->res.error];
            memcpy(why, r->res.error, sizeof why);
            int n = snprintf(r->res.error, sizeof r->res.error, "timed out after %lld ms: %.200s",
                             (long long)(r->timeout_us / 1000), why);
            (void)n;
            r->res.timed_out = true;
        }
        runEnd(r, true);
        return;
    }
    switch (r->step) {
    case STEP_SETUP:
        r->step = !r->once ? STEP_QUERY : r->conn->effects_ready ? STEP_BEGIN : STEP_ENSURE;
        break;
    case STEP_ENSURE:
        r->conn->effects_ready = true;
        r->step = STEP_BEGIN;
        break;
    case STEP_BEGIN:
        r->step = STEP_CLAIM;
        break;
    case STEP_CLAIM:
        r->step = r->res.already_done ? STEP_ROLLBACK : STEP_QUERY;
        break;
    case STEP_QUERY:
        if (r->once && PQtransactionStatus(r->conn->pg) != PQTRANS_INTRANS) {
            /* A COMMIT or ROLLBACK in the statement ended the transaction of the claim: the
             * effect went in or not with what came before it, what came after ran outside it,
             * and our COMMIT would only draw a warning. The attempt fails, as documented. */
            r->res.exit_code = 1;
            addError(r, "",
                     "the statement ended the transaction (COMMIT or ROLLBACK in it), which "
                     "effect-once mode keeps open");
            runEnd(r, true);
            return;
        }
        if (r->once) {
            r->step = STEP_COMMIT;
            break;
        }
        /* fall through */
    case STEP_COMMIT:
    case STEP_ROLLBACK:
        r->res.exit_code = 0;
        if (r->res.already_done) {
            snprintf(r->res.command_status, sizeof r->res.command_status, "ALREADY DONE");
        }
        runEnd(r, true);
        return;
    }
    runStep(r);
}

static void onQueryEvent(uv_poll_t *poll, int status, int events)
{
    struct pconn *c = poll->data;
    struct run *r = c->run;
    PGconn *pg = c->pg;
    if (status == 0 && (events & UV_WRITABLE) && r->flushing) {
        int f = PQflush(pg);
        if (f < 0) {
            runFail(r, "", PQerrorMessage(pg));
            return;
        }
        r->flushing = f == 1;
        if (!r->flushing && watch(c, UV_READABLE, onQueryEvent) != 0) {
            runFail(r, "", "cannot watch the connection's socket");
            return;
        }
    }
    if (PQconsumeInput(pg) != 1) {
        runFail(r, "", PQerrorMessage(pg));
        return;
    }
    while (!PQisBusy(pg)) {
        PGresult *res = PQgetResult(pg);
        if (res == NULL) {
            stepDone(r);
            return;
        }
        takeResult(r, res);
        PQclear(res);
    }
}

/* ---- Ending a run ----------------------------------------------------------------------- */

static void runTimerClosed(uv_handle_t *h)
{
    struct run *r = h->data;
    struct sql *sq = r->sq;
    execTailClose(&r->tail);
    free(r->query);
    free(r->job);
    free(r);
    release(sq);
}

static void unlinkRun(struct run *r)
{
    struct sql *sq = r->sq;
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        sq->runs = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    }
    sq->in_flight--;
}

static void closeIdle(struct sql *sq)
{
    for (struct pool *p = sq->pools; p != NULL; p = p->next) {
        while (p->idle != NULL) {
            struct pconn *c = p->idle;
            p->idle = c->next;
            connClose(c);
        }
    }
}

static void finish(struct run *r)
{
    struct sql *sq = r->sq;
    runMove(r, RUN_DONE);
    unlinkRun(r);
    r->res.finished_us = wallNowUs();
    execResultFromTail(&r->res, &r->tail);
    r->done(&r->h, &r->res, r->h.data);
    uv_close((uv_handle_t *)&r->timer, runTimerClosed);
    if (sq->closing && sq->runs == NULL) {
        closeIdle(sq);
        if (!uv_is_closing((uv_handle_t *)&sq->turn)) {
            uv_close((uv_handle_t *)&sq->turn, handleReleased);
        }
    }
}

static void onTurn(uv_idle_t *idle)
{
    struct sql *sq = idle->data;
    while (sq->ending != NULL) {
        struct run *r = sq->ending;
        sq->ending = r->queue_next;
        if (sq->ending == NULL) {
            sq->ending_tail = &sq->ending;
        }
        finish(r);
    }
    if (!uv_is_closing((uv_handle_t *)&sq->turn)) {
        uv_idle_stop(&sq->turn);
    }
}

/* The result is final: give the connection back, queue done for a later turn of the loop (never
 * inside start() or cancel()). */
static void runEnd(struct run *r, bool reusable)
{
    struct sql *sq = r->sq;
    uv_timer_stop(&r->timer);
    if (r->state == RUN_WAITING && r->pool != NULL) {
        removeWaiting(r);
    }
    if (r->state == RUN_CONNECTING || r->state == RUN_QUERYING) {
        struct pconn *c = r->conn;
        r->conn = NULL;
        connGiveBack(r->pool, c, reusable && !r->stopping);
    }
    runMove(r, RUN_ENDING);
    r->queue_next = NULL;
    *sq->ending_tail = r;
    sq->ending_tail = &r->queue_next;
    uv_idle_start(&sq->turn, onTurn);
}

/* The connection failed. When the server said why before it closed (57P01 on a shutdown), that
 * is the error; libpq's own account of the lost connection is not added to it. */
static void runFail(struct run *r, const char *prefix, const char *msg)
{
    r->res.exit_code = 1;
    if (!r->step_failed) {
        addError(r, prefix, msg);
    }
    runEnd(r, false);
}

/* ---- Timeout and cancel ----------------------------------------------------------------- */

struct cancel_work {
    uv_work_t req;
    struct sql *sq;   /* borrowed */
    PGcancel *cancel; /* owned */
    char err[256];
    int ok;
};

static void cancelWork(uv_work_t *w)
{
    struct cancel_work *cw = w->data;
    cw->ok = PQcancel(cw->cancel, cw->err, sizeof cw->err);
}

static void cancelDone(uv_work_t *w, int status)
{
    struct cancel_work *cw = w->data;
    struct sql *sq = cw->sq;
    (void)status;
    if (!cw->ok) {
        trace(sq, "PQcancel: %s", cw->err);
    }
    PQfreeCancel(cw->cancel);
    free(cw);
    release(sq);
}

/* Ask the server to cancel what the run's connection is doing. PQcancel opens a connection of
 * its own and waits for it: that is the thread pool's job, not the loop's. */
static void sendCancel(struct run *r)
{
    struct sql *sq = r->sq;
    struct cancel_work *cw = calloc(1, sizeof *cw);
    if (cw == NULL) {
        return;
    }
    cw->cancel = PQgetCancel(r->conn->pg);
    if (cw->cancel == NULL) {
        free(cw);
        return;
    }
    cw->sq = sq;
    cw->req.data = cw;
    if (uv_queue_work(sq->loop, &cw->req, cancelWork, cancelDone) != 0) {
        PQfreeCancel(cw->cancel);
        free(cw);
        return;
    }
    sq->live++;
}

static void onTimer(uv_timer_t *t);

/* Stop the run for a timeout or a cancel. Waiting or connecting runs end at once; a running
 * statement is cancelled on the server and the run ends when the server says so, or after the
 * kill grace with its connection dropped. */
static void stopRun(struct run *r)
{
    if (r->stopping) {
        return;
    }
    r->stopping = true;
    switch (r->state) {
    case RUN_WAITING:
    case RUN_CONNECTING:
        r->res.exit_code = 1;
        runEnd(r, false);
        break;
    case RUN_QUERYING:
        sendCancel(r);
        uv_update_time(r->sq->loop);
        uv_timer_start(&r->timer, onTimer, toMs(r->kill_grace_us), 0);
        break;
    default:
        break;
    }
}

static void onTimer(uv_timer_t *t)
{
    struct run *r = t->data;
    if (!r->stopping) {
        r->res.timed_out = true;
        /* The server's own statement_timeout may have fired a moment earlier: its error can be
         * noted already while its end of the query is still on the way. Keep it. */
        char why[sizeof r->res.error];
        memcpy(why, r->res.error, sizeof why);
        int n = snprintf(r->res.error, sizeof r->res.error, "timed out after %lld ms%s%.200s",
                         (long long)(r->timeout_us / 1000), why[0] != '\0' ? ": " : "", why);
        (void)n;
        stopRun(r);
        return;
    }
    /* The grace is over and the server has not answered the cancel. */
    r->res.exit_code = 1;
    runEnd(r, false);
}

/* ---- start / cancel / close ------------------------------------------------------------- */

static const struct sql_conn_def *findDef(const struct sql *sq, const char *name)
{
    for (size_t i = 0; i < sq->n_defs; i++) {
        if (strcmp(sq->defs[i].name, name) == 0) {
            return &sq->defs[i];
        }
    }
    return NULL;
}

/* The pool for a spec: by connection name, or by dsn. NULL with *unknown when the name is not
 * configured; NULL alone when memory ran out. */
static struct pool *findPool(struct sql *sq, const Raftcron__SqlExec *x, bool *unknown)
{
    const char *conn = x->conn != NULL ? x->conn : "";
    const struct sql_conn_def *def = NULL;
    if (conn[0] != '\0' && (def = findDef(sq, conn)) == NULL) {
        *unknown = true;
        return NULL;
    }
    char *key = NULL;
    if (asprintf(&key, "%s %s", def != NULL ? "conn" : "dsn", def != NULL ? conn : x->dsn) < 0) {
        return NULL;
    }
    for (struct pool *p = sq->pools; p != NULL; p = p->next) {
        if (strcmp(p->key, key) == 0) {
            free(key);
            return p;
        }
    }
    struct pool *p = calloc(1, sizeof *p);
    if (p == NULL) {
        free(key);
        return NULL;
    }
    p->sq = sq;
    p->key = key;
    p->conninfo = strdup(def != NULL ? def->conninfo : x->dsn);
    if (def != NULL && def->password_file != NULL) {
        p->password_file = strdup(def->password_file);
    }
    if (p->conninfo == NULL || (def != NULL && def->password_file != NULL && !p->password_file)) {
        free(p->conninfo);
        free(p->key);
        free(p);
        return NULL;
    }
    p->waiting_tail = &p->waiting;
    p->next = sq->pools;
    sq->pools = p;
    return p;
}

static int checkSpec(const struct exec_request *req, char *errmsg, size_t errlen)
{
    const Raftcron__Executor *spec = req->spec;
    if (spec == NULL || spec->kind_case != RAFTCRON__EXECUTOR__KIND_SQL || spec->sql == NULL) {
        return errSet(errmsg, errlen, RC_EINVAL, "job %s: not an sql executor", req->job);
    }
    const Raftcron__SqlExec *x = spec->sql;
    if (x->query == NULL || x->query[0] == '\0') {
        return errSet(errmsg, errlen, RC_EINVAL, "job %s: sql executor has no statement", req->job);
    }
    bool conn = x->conn != NULL && x->conn[0] != '\0';
    bool dsn = x->dsn != NULL && x->dsn[0] != '\0';
    if (conn == dsn) {
        return errSet(errmsg, errlen, RC_EINVAL, "job %s: sql executor needs a conn or a dsn",
                      req->job);
    }
    return 0;
}

static struct run *runNew(struct sql *sq, const struct exec_request *req, exec_done_cb done,
                          void *data)
{
    struct run *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return NULL;
    }
    if (execTailInit(&r->tail, req->tail_max) != 0) {
        goto err_after_alloc;
    }
    r->query = strdup(req->spec->sql->query);
    r->job = strdup(req->job);
    if (r->query == NULL || r->job == NULL) {
        goto err_after_tail;
    }
    r->sq = sq;
    r->h.backend = sq->b;
    r->h.run_id = req->run_id;
    r->h.data = data;
    r->done = done;
    r->once = req->spec->sql->dedupe;
    r->timeout_us = req->timeout_us;
    r->kill_grace_us = req->kill_grace_us;
    r->fence = req->fence;
    r->attempt = req->attempt;
    r->scheduled_us = req->scheduled_us;
    r->began_us = monoNowUs();
    r->res.exit_code = 1;
    r->res.rows = -1;
    r->state = RUN_WAITING;
    return r;

err_after_tail:
    free(r->query);
    free(r->job);
    execTailClose(&r->tail);
err_after_alloc:
    free(r);
    return NULL;
}

static int sqlStart(struct exec_backend *b, const struct exec_request *in, exec_done_cb done,
                    void *data, struct exec_handle **out)
{
    struct sql *sq = b->impl;
    struct exec_request req;
    int rv;
    if (sq == NULL || sq->closing) {
        return errSet(b->errmsg, sizeof b->errmsg, RC_ESHUTDOWN, "sql executor is closing");
    }
    if ((rv = execRequestNormalize(in, &req, b->errmsg, sizeof b->errmsg)) != 0 ||
        (rv = checkSpec(&req, b->errmsg, sizeof b->errmsg)) != 0) {
        return rv;
    }
    bool unknown = false;
    struct pool *p = findPool(sq, req.spec->sql, &unknown);
    if (p == NULL && !unknown) {
        return errSet(b->errmsg, sizeof b->errmsg, RC_ENOMEM, "job %s: out of memory", req.job);
    }
    struct run *r = runNew(sq, &req, done, data);
    if (r == NULL) {
        return errSet(b->errmsg, sizeof b->errmsg, RC_ENOMEM, "job %s: out of memory", req.job);
    }
    r->pool = p;
    uv_timer_init(sq->loop, &r->timer);
    r->timer.data = r;
    sq->live++;
    r->next = sq->runs;
    if (sq->runs != NULL) {
        sq->runs->prev = r;
    }
    sq->runs = r;
    sq->in_flight++;
    r->res.started_us = wallNowUs();
    *out = &r->h;
    if (p == NULL) {
        /* The worker's configuration names no such connection: the run cannot start here. */
        r->res.start_failed = true;
        snprintf(r->res.error, sizeof r->res.error,
                 "connection \"%s\" is not in this worker's connections", req.spec->sql->conn);
        runEnd(r, false);
        return 0;
    }
    if (r->timeout_us > 0) {
        uv_update_time(sq->loop);
        uv_timer_start(&r->timer, onTimer, toMs(r->timeout_us), 0);
    }
    acquire(r);
    return 0;
}

static void sqlCancel(struct exec_handle *h)
{
    struct run *r = (struct run *)h;
    if (r->state == RUN_ENDING || r->state == RUN_DONE) {
        return;
    }
    r->res.cancelled = true;
    if (r->res.error[0] == '\0') {
        snprintf(r->res.error, sizeof r->res.error, "cancelled");
    }
    stopRun(r);
}

static void sqlClose(struct exec_backend *b, exec_close_cb close_cb)
{
    struct sql *sq = b->impl;
    assert(sq != NULL && !sq->closing);
    sq->closing = true;
    sq->close_cb = close_cb;
    trace(sq, "closing with %zu runs in flight", sq->in_flight);
    for (struct run *r = sq->runs; r != NULL; r = r->next) {
        sqlCancel(&r->h);
    }
    if (sq->runs == NULL) {
        closeIdle(sq);
        uv_close((uv_handle_t *)&sq->turn, handleReleased);
    }
}

static int copyDefs(struct sql *sq, const struct sql_options *o)
{
    if (o->n_conns == 0) {
        return 0;
    }
    sq->defs = calloc(o->n_conns, sizeof *sq->defs);
    if (sq->defs == NULL) {
        return RC_ENOMEM;
    }
    sq->n_defs = o->n_conns;
    for (size_t i = 0; i < o->n_conns; i++) {
        const struct sql_conn_def *d = &o->conns[i];
        sq->defs[i].name = strdup(d->name);
        sq->defs[i].conninfo = strdup(d->conninfo);
        sq->defs[i].password_file = d->password_file != NULL ? strdup(d->password_file) : NULL;
        if (sq->defs[i].name == NULL || sq->defs[i].conninfo == NULL ||
            (d->password_file != NULL && sq->defs[i].password_file == NULL)) {
            return RC_ENOMEM;
        }
    }
    return 0;
}

int sqlInit(struct exec_backend *b, uv_loop_t *loop, const struct sql_options *o)
{
    const struct sql_options none = {0};
    o = o != NULL ? o : &none;
    memset(b, 0, sizeof *b);
    struct sql *sq = calloc(1, sizeof *sq);
    if (sq == NULL) {
        return RC_ENOMEM;
    }
    sq->b = b;
    sq->loop = loop;
    sq->trace = getenv("RAFTCRON_TRACE") != NULL;
    sq->pool_size = o->pool_size > 0 ? o->pool_size : EXEC_SQL_POOL_DEFAULT;
    sq->app_name = strdup(o->application_name != NULL ? o->application_name : "raftcron");
    sq->ending_tail = &sq->ending;
    if (sq->app_name == NULL || copyDefs(sq, o) != 0) {
        sq->closing = true;
        sq->live = 1;
        release(sq); /* frees what was copied */
        memset(b, 0, sizeof *b);
        return RC_ENOMEM;
    }
    uv_idle_init(loop, &sq->turn);
    sq->turn.data = sq;
    sq->live = 1; /* the idle handle */
    b->name = "sql";
    b->impl = sq;
    b->start = sqlStart;
    b->cancel = sqlCancel;
    b->close = sqlClose;
    return 0;
}

size_t sqlInFlight(const struct exec_backend *b)
{
    const struct sql *sq = b->impl;
    return sq == NULL ? 0 : sq->in_flight;
}

size_t sqlConnections(const struct exec_backend *b)
{
    const struct sql *sq = b->impl;
    return sq == NULL ? 0 : sq->conns;
}
