/* The run-history export; the rules are in export.h and docs/ledger.md. */
#include "export.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libpq-fe.h>

#include "core/command.h"
#include "core/err.h"
#include "core/fsm.h"
#include "core/runs.h"
#include "core/timefmt.h"
#include "log.h"
#include "raft/cluster.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define GATHER_MS      100 /* let a batch fill before it is written */
#define PASSWORD_MAX   1024

/* ---- State machine (STYLE.md §9) -------------------------------------------------------- */

enum exportState {
    EX_OFF,
    EX_CONNECTING,
    EX_SETUP,
    EX_IDLE,
    EX_WRITING,
    EX_MARKING,
    EX_BACKOFF,
    EX_CLOSED,
    EX__N
};
static const char *const exNames[EX__N] = {"OFF",     "CONNECTING", "SETUP",   "IDLE",
                                           "WRITING", "MARKING",    "BACKOFF", "CLOSED"};
static const bool exMoves[EX__N][EX__N] = {
    [EX_OFF] = {[EX_CONNECTING] = true, [EX_CLOSED] = true},
    [EX_CONNECTING] = {[EX_SETUP] = true, [EX_BACKOFF] = true, [EX_OFF] = true, [EX_CLOSED] = true},
    [EX_SETUP] = {[EX_IDLE] = true, [EX_BACKOFF] = true, [EX_OFF] = true, [EX_CLOSED] = true},
    [EX_IDLE] = {[EX_WRITING] = true, [EX_BACKOFF] = true, [EX_OFF] = true, [EX_CLOSED] = true},
    [EX_WRITING] = {[EX_MARKING] = true,
                    [EX_IDLE] = true,
                    [EX_BACKOFF] = true,
                    [EX_OFF] = true,
                    [EX_CLOSED] = true},
    [EX_MARKING] = {[EX_IDLE] = true, [EX_BACKOFF] = true, [EX_OFF] = true, [EX_CLOSED] = true},
    [EX_BACKOFF] = {[EX_CONNECTING] = true, [EX_OFF] = true, [EX_CLOSED] = true},
};

static void move(struct exporter *e, enum exportState to)
{
    if (!exMoves[e->state][to]) {
        fprintf(stderr, "export: illegal move %s -> %s\n", exNames[e->state], exNames[to]);
        abort();
    }
    logDebug("history export", "from", "%s", exNames[e->state], "to", "%s", exNames[to]);
    e->state = to;
}

/* The connection and its socket's poll handle (freed in its close callback). */
struct pg_conn {
    PGconn *pg;
    uv_poll_t *poll;
    int fd;
    bool flushing;
};

static const char createSql[] =
    "CREATE TABLE IF NOT EXISTS raftcron_runs ("
    "run_id bigint PRIMARY KEY, job text NOT NULL, job_id bigint NOT NULL, "
    "scheduled_at timestamptz NOT NULL, attempt integer NOT NULL, state text NOT NULL, "
    "worker_id bigint NOT NULL, fence bigint NOT NULL, fired_at timestamptz, "
    "started_at timestamptz, finished_at timestamptz, manual boolean NOT NULL, "
    "backfill boolean NOT NULL, exit_code integer, http_status integer, rows bigint, "
    "command_status text, sqlstate text, error text, output_tail bytea, end_reason text, "
    "export_seq bigint NOT NULL, exported_at timestamptz NOT NULL DEFAULT now())";

static const char columns[] =
    "run_id, job, job_id, scheduled_at, attempt, state, worker_id, fence, fired_at, started_at, "
    "finished_at, manual, backfill, exit_code, http_status, rows, command_status, sqlstate, "
    "error, output_tail, end_reason, export_seq";

static int64_t wallNowUs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- Connection ------------------------------------------------------------------------- */

/* After exportClose: the timer closed, no poll handle closing, no mark awaiting its callback. */
static void maybeClosed(struct exporter *e)
{
    if (e->state == EX_CLOSED && e->timer_closed && e->polls_closing == 0 && !e->mark_in_flight &&
        e->close_cb != NULL) {
        export_close_cb cb = e->close_cb;
        e->close_cb = NULL;
        cb(e);
    }
}

static void pollClosed(uv_handle_t *h)
{
    struct exporter *e = h->data;
    free(h);
    e->polls_closing--;
    maybeClosed(e);
}

static void unwatch(struct exporter *e)
{
    struct pg_conn *c = e->pg;
    if (c == NULL || c->poll == NULL) {
        return;
    }
    uv_poll_stop(c->poll);
    c->poll->data = e;
    e->polls_closing++;
    uv_close((uv_handle_t *)c->poll, pollClosed);
    c->poll = NULL;
}

static void dropConnection(struct exporter *e)
{
    if (e->pg == NULL) {
        return;
    }
    unwatch(e);
    PQfinish(e->pg->pg);
    free(e->pg);
    e->pg = NULL;
}

static int watch(struct exporter *e, int events, uv_poll_cb cb)
{
    struct pg_conn *c = e->pg;
    int fd = PQsocket(c->pg);
    if (fd < 0) {
        return -1;
    }
    if (c->poll != NULL && c->fd != fd) {
        unwatch(e);
    }
    if (c->poll == NULL) {
        c->poll = malloc(sizeof *c->poll);
        if (c->poll == NULL || uv_poll_init_socket(e->loop, c->poll, fd) != 0) {
            free(c->poll);
            c->poll = NULL;
            return -1;
        }
        c->fd = fd;
    }
    c->poll->data = e;
    return uv_poll_start(c->poll, events, cb);
}

static void connectNow(struct exporter *e);

static void onBackoff(uv_timer_t *t)
{
    struct exporter *e = t->data;
    if (e->state == EX_BACKOFF) {
        connectNow(e);
    }
}

/* PostgreSQL is unreachable or refused a statement: log once per failure, drop the connection
 * and try again later. The runs wait in the FSM (the gate holds them). */
static void fail(struct exporter *e, const char *what, const char *msg)
{
    char one[512];
    snprintf(one, sizeof one, "%s", msg != NULL ? msg : "");
    for (char *p = one; *p != '\0'; p++) {
        *p = *p == '\n' ? ' ' : *p;
    }
    logWarn("history export: PostgreSQL unavailable; runs are kept and exported later", "step",
            "%s", what, "error", "%s", one, "retry_ms", "%lld", (long long)e->backoff_ms);
    dropConnection(e);
    move(e, EX_BACKOFF);
    uv_timer_start(&e->timer, onBackoff, (uint64_t)e->backoff_ms, 0);
    e->backoff_ms = e->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : e->backoff_ms * 2;
}

static void sendStatement(struct exporter *e, const char *sql, uv_poll_cb cb);
static void onStatement(uv_poll_t *p, int status, int events);
static void onConnect(uv_poll_t *p, int status, int events);

static void connectAdvance(struct exporter *e)
{
    PostgresPollingStatusType st = PQconnectPoll(e->pg->pg);
    if (st == PGRES_POLLING_READING || st == PGRES_POLLING_WRITING) {
        if (watch(e, st == PGRES_POLLING_READING ? UV_READABLE : UV_WRITABLE, onConnect) != 0) {
            fail(e, "connect", "cannot watch the socket");
        }
        return;
    }
    if (st != PGRES_POLLING_OK || PQsetnonblocking(e->pg->pg, 1) != 0) {
        fail(e, "connect", PQerrorMessage(e->pg->pg));
        return;
    }
    move(e, EX_SETUP);
    sendStatement(e, createSql, onStatement);
}

static void onConnect(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    connectAdvance(p->data);
}

static void onNotice(void *arg, const char *message)
{
    (void)arg;
    logDebug("history export: notice", "message", "%s", message);
}

static void connectNow(struct exporter *e)
{
    char password[PASSWORD_MAX] = "";
    if (e->password_file != NULL) {
        FILE *f = fopen(e->password_file, "r");
        size_t n = f != NULL ? fread(password, 1, sizeof password - 1, f) : 0;
        if (f != NULL) {
            fclose(f);
        }
        password[n] = '\0';
        password[strcspn(password, "\r\n")] = '\0';
    }
    const char *keys[4] = {"application_name", "dbname", NULL, NULL};
    const char *vals[4] = {"raftcron-export", e->conninfo, NULL, NULL};
    if (e->password_file != NULL) {
        keys[2] = "password";
        vals[2] = password;
    }
    e->pg = calloc(1, sizeof *e->pg);
    move(e, EX_CONNECTING);
    if (e->pg == NULL) {
        fail(e, "connect", "out of memory");
        return;
    }
    e->pg->pg = PQconnectStartParams(keys, vals, 1);
    explicit_bzero(password, sizeof password);
    if (e->pg->pg == NULL || PQstatus(e->pg->pg) == CONNECTION_BAD) {
        fail(e, "connect", e->pg->pg != NULL ? PQerrorMessage(e->pg->pg) : "out of memory");
        return;
    }
    PQsetNoticeProcessor(e->pg->pg, onNotice, NULL);
    if (watch(e, UV_WRITABLE, onConnect) != 0) {
        fail(e, "connect", "cannot watch the socket");
    }
}

/* ---- Statements ------------------------------------------------------------------------- */

static void sendStatement(struct exporter *e, const char *sql, uv_poll_cb cb)
{
    if (PQsendQuery(e->pg->pg, sql) != 1) {
        fail(e, exNames[e->state], PQerrorMessage(e->pg->pg));
        return;
    }
    int f = PQflush(e->pg->pg);
    e->pg->flushing = f == 1;
    if (f < 0 || watch(e, UV_READABLE | (f == 1 ? UV_WRITABLE : 0), cb) != 0) {
        fail(e, exNames[e->state], PQerrorMessage(e->pg->pg));
    }
}

static void gatherSoon(struct exporter *e, uint64_t ms);
static void proposeMark(struct exporter *e);

/* Between statements the socket is still watched: PostgreSQL closing the connection (a restart
 * sends 57P01, then EOF) is noticed at once, not at the next batch. */
static void onIdleEvent(uv_poll_t *p, int status, int events)
{
    struct exporter *e = p->data;
    PGconn *pg = e->pg->pg;
    (void)events;
    if (status == 0 && PQconsumeInput(pg) == 1 && PQstatus(pg) == CONNECTION_OK) {
        return;
    }
    fail(e, "idle", PQerrorMessage(pg));
}

/* The statement of the current state finished without error. */
static void statementDone(struct exporter *e)
{
    if (watch(e, UV_READABLE, onIdleEvent) != 0) {
        fail(e, exNames[e->state], "cannot watch the socket");
        return;
    }
    if (e->state == EX_SETUP) {
        move(e, EX_IDLE);
        e->backoff_ms = BACKOFF_MIN_MS;
        logInfo("history export: connected to PostgreSQL");
        gatherSoon(e, 0);
        return;
    }
    assert(e->state == EX_WRITING);
    e->exported += e->batch_n;
    move(e, EX_MARKING);
    proposeMark(e);
}

static void onStatement(uv_poll_t *p, int status, int events)
{
    struct exporter *e = p->data;
    PGconn *pg = e->pg->pg;
    if (status == 0 && (events & UV_WRITABLE) && e->pg->flushing) {
        int f = PQflush(pg);
        e->pg->flushing = f == 1;
        if (f < 0 || (f == 0 && watch(e, UV_READABLE, onStatement) != 0)) {
            fail(e, exNames[e->state], PQerrorMessage(pg));
            return;
        }
    }
    if (PQconsumeInput(pg) != 1) {
        fail(e, exNames[e->state], PQerrorMessage(pg));
        return;
    }
    char error[512] = "";
    while (!PQisBusy(pg)) {
        PGresult *r = PQgetResult(pg);
        if (r == NULL) {
            if (error[0] != '\0') {
                fail(e, exNames[e->state], error);
            } else {
                statementDone(e);
            }
            return;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && error[0] == '\0') {
            snprintf(error, sizeof error, "%s", PQresultErrorMessage(r));
        }
        PQclear(r);
    }
}

/* ---- Batches ---------------------------------------------------------------------------- */

struct sqlbuf {
    char *p; /* owned */
    size_t len, cap;
    bool failed;
};

static void put(struct sqlbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct sqlbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = b->failed ? 0 : vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (b->failed || n < 0) {
            b->failed = true;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

static void putText(struct sqlbuf *b, PGconn *pg, const char *s, size_t len)
{
    char *lit = PQescapeLiteral(pg, s, len);
    if (lit == NULL) {
        b->failed = true;
        return;
    }
    put(b, "%s", lit);
    PQfreemem(lit);
}

static void putTime(struct sqlbuf *b, int64_t us)
{
    char t[RC_TIMEFMT_MAX];
    if (us == 0) {
        put(b, "NULL");
        return;
    }
    timefmtFormat(us, 0, t);
    put(b, "'%s'", t);
}

static void putBytes(struct sqlbuf *b, const uint8_t *data, size_t len)
{
    put(b, "'\\x");
    for (size_t i = 0; i < len && !b->failed; i++) {
        put(b, "%02x", data[i]);
    }
    put(b, "'::bytea");
}

static void putRun(struct sqlbuf *b, PGconn *pg, const Raftcron__Run *r)
{
    const Raftcron__Outcome *o = r->outcome;
    const char *none = "";
    put(b, "(%" PRIu64 ", ", r->id);
    putText(b, pg, r->job, strlen(r->job));
    put(b, ", %" PRIu64 ", ", r->job_id);
    putTime(b, r->scheduled_us);
    put(b, ", %" PRIu32 ", '%s', %" PRIu64 ", %" PRIu64 ", ", r->attempt, runsStateName(r->state),
        r->worker_id, r->fence);
    putTime(b, r->fired_us);
    put(b, ", ");
    putTime(b, r->started_us);
    put(b, ", ");
    putTime(b, r->finished_us);
    put(b, ", %s, %s, ", r->manual ? "true" : "false", r->backfill ? "true" : "false");
    if (o == NULL) {
        put(b, "NULL, NULL, NULL, NULL, NULL, NULL, NULL, ");
    } else {
        put(b, "%" PRId32 ", ", o->exit_code);
        if (o->http_status != 0) {
            put(b, "%" PRIu32 ", ", o->http_status);
        } else {
            put(b, "NULL, ");
        }
        put(b, "%" PRId64 ", ", o->rows);
        putText(b, pg, o->command_status != NULL ? o->command_status : none,
                o->command_status != NULL ? strlen(o->command_status) : 0);
        put(b, ", ");
        putText(b, pg, o->sqlstate != NULL ? o->sqlstate : none,
                o->sqlstate != NULL ? strlen(o->sqlstate) : 0);
        put(b, ", ");
        putText(b, pg, o->error, strlen(o->error));
        put(b, ", ");
        putBytes(b, o->output_tail.data, o->output_tail.len);
        put(b, ", ");
    }
    putText(b, pg, r->end_reason, strlen(r->end_reason));
    put(b, ", %" PRIu64 ")", r->export_seq);
}

/* One upsert of the next batch: every column replaced on conflict, so that writing a batch
 * twice (a leader change between the upsert and its mark) leaves the same rows. */
static char *buildBatch(struct exporter *e, const Raftcron__Run **runs, size_t n)
{
    struct sqlbuf b = {0};
    put(&b, "INSERT INTO raftcron_runs (%s) VALUES ", columns);
    for (size_t i = 0; i < n; i++) {
        put(&b, "%s", i == 0 ? "" : ", ");
        putRun(&b, e->pg->pg, runs[i]);
    }
    put(&b, " ON CONFLICT (run_id) DO UPDATE SET (%s) = (", columns);
    const char *c = columns;
    for (bool first = true; *c != '\0'; first = false) {
        size_t len = strcspn(c, ",");
        put(&b, "%sEXCLUDED.%.*s", first ? "" : ", ", (int)len, c);
        c += len;
        c += strspn(c, ", ");
    }
    put(&b, ")");
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static void writeBatch(struct exporter *e)
{
    uint64_t position, last;
    bool gate;
    fsmExportState(e->cluster->core, &position, &last, &gate);
    if (last <= position) {
        return; /* nothing finished since: the next poke looks again */
    }
    const Raftcron__Run **runs = calloc(e->batch, sizeof *runs);
    if (runs == NULL) {
        return;
    }
    size_t n = fsmExportPending(e->cluster->core, position, runs, e->batch);
    if (n == 0) {
        free(runs);
        return;
    }
    char *sql = buildBatch(e, runs, n);
    e->batch_last = runs[n - 1]->export_seq;
    e->batch_n = n;
    free(runs);
    if (sql == NULL) {
        logWarn("history export: out of memory building a batch");
        gatherSoon(e, BACKOFF_MIN_MS);
        return;
    }
    move(e, EX_WRITING);
    sendStatement(e, sql, onStatement);
    free(sql);
}

static void onGather(uv_timer_t *t)
{
    struct exporter *e = t->data;
    if (e->state == EX_IDLE) {
        e->poked = false;
        writeBatch(e);
    }
}

static void gatherSoon(struct exporter *e, uint64_t ms)
{
    if (e->state == EX_IDLE && !uv_is_active((uv_handle_t *)&e->timer)) {
        uv_timer_start(&e->timer, onGather, ms, 0);
    }
}

/* ---- Marks and the gate ----------------------------------------------------------------- */

static void marked(void *data, int status, const struct rc_fsm_result *res)
{
    struct exporter *e = data;
    e->mark_in_flight = false;
    if (e->state == EX_CLOSED) {
        maybeClosed(e);
        return;
    }
    if (e->state != EX_MARKING) {
        return; /* a gate-only mark, or leadership moved on meanwhile */
    }
    if (status != 0) {
        /* Outcome unknown (DESIGN.md §4.4): write the batch again; the upsert is idempotent. */
        move(e, EX_IDLE);
        gatherSoon(e, BACKOFF_MIN_MS);
        return;
    }
    (void)res;
    move(e, EX_IDLE);
    gatherSoon(e, 0);
}

static void propose(struct exporter *e, uint64_t position, bool gate)
{
    void *buf;
    size_t len;
    if (commandEncodeExportMark(position, gate, wallNowUs(), &buf, &len) != 0) {
        return;
    }
    int rv = clusterPropose(e->cluster, buf, len, marked, e);
    free(buf);
    if (rv == 0) {
        e->mark_in_flight = true;
    } else if (e->state == EX_MARKING) {
        move(e, EX_IDLE);
        gatherSoon(e, BACKOFF_MIN_MS);
    }
}

static void proposeMark(struct exporter *e)
{
    propose(e, e->batch_last, true);
}

/* The gate follows this leader's configuration: on with a sink, off without one. */
static void ensureGate(struct exporter *e)
{
    uint64_t position, last;
    bool gate;
    fsmExportState(e->cluster->core, &position, &last, &gate);
    if (!e->leader || e->mark_in_flight || gate == e->configured) {
        return;
    }
    if (!e->configured) {
        logWarn("history export: this leader has no history_postgres; retention no longer waits "
                "for the export",
                "unexported", "%llu", (unsigned long long)(last - position));
    }
    propose(e, position, e->configured);
}

/* ---- Interface -------------------------------------------------------------------------- */

int exportInit(struct exporter *e, uv_loop_t *loop, struct cluster *c,
               const struct export_options *o)
{
    memset(e, 0, sizeof *e);
    e->loop = loop;
    e->cluster = c;
    e->state = EX_OFF;
    e->backoff_ms = BACKOFF_MIN_MS;
    e->batch = o != NULL && o->batch > 0 ? o->batch : EXPORT_BATCH_DEFAULT;
    if (o != NULL && o->conninfo != NULL && o->conninfo[0] != '\0') {
        e->configured = true;
        e->conninfo = strdup(o->conninfo);
        e->password_file = o->password_file != NULL ? strdup(o->password_file) : NULL;
        if (e->conninfo == NULL || (o->password_file != NULL && e->password_file == NULL)) {
            free(e->conninfo);
            free(e->password_file);
            return RC_ENOMEM;
        }
    }
    uv_timer_init(loop, &e->timer);
    e->timer.data = e;
    return 0;
}

void exportOnLeader(struct exporter *e, bool leader)
{
    if (e->state == EX_CLOSED || leader == e->leader) {
        return;
    }
    e->leader = leader;
    if (!leader) {
        uv_timer_stop(&e->timer);
        dropConnection(e);
        if (e->state != EX_OFF) {
            move(e, EX_OFF);
        }
        return;
    }
    ensureGate(e);
    if (e->configured && e->state == EX_OFF) {
        e->backoff_ms = BACKOFF_MIN_MS;
        connectNow(e);
    }
}

void exportPoke(struct exporter *e)
{
    if (e->state == EX_CLOSED || !e->leader) {
        return;
    }
    e->poked = true;
    ensureGate(e);
    gatherSoon(e, GATHER_MS);
}

static void timerClosed(uv_handle_t *h)
{
    struct exporter *e = h->data;
    e->timer_closed = true;
    maybeClosed(e);
}

void exportClose(struct exporter *e, export_close_cb cb)
{
    assert(e->state != EX_CLOSED);
    e->close_cb = cb;
    move(e, EX_CLOSED);
    uv_timer_stop(&e->timer);
    dropConnection(e);
    free(e->conninfo);
    free(e->password_file);
    e->conninfo = e->password_file = NULL;
    uv_close((uv_handle_t *)&e->timer, timerClosed);
}
