/*
 * The executor interface (DESIGN.md §5): a worker runs an assigned run with one backend behind
 * one small table of function pointers (STYLE.md §3) — start, cancel, close. Backends, one file
 * each: shell.c (real processes on the libuv loop), http.c (libcurl's multi interface on the
 * loop), sql.c (libpq, non-blocking, on the loop), noop.c (records its start and succeeds) and
 * fake.c (scripted, driven by a virtual clock, for simulation tests). A worker holds one backend
 * of each kind and picks one per run by spec->kind_case (execKindName); the request is the same
 * for all of them.
 *
 * Calling rules, identical for every backend:
 * - start() either fails synchronously (returns RC_E*, b->errmsg says why, the callback never
 *   fires, *out is untouched) or returns 0 and later calls done exactly once. done is never
 *   called from inside start(). A run that starts but cannot proceed (a command that does not
 *   exist) is reported through done with start_failed, not by start().
 * - The handle is valid from start() until done returns; the backend frees it afterwards.
 *   cancel() on a handle whose done has not been called asks the run to stop (the shell: SIGTERM
 *   to the process group, SIGKILL after kill_grace_us); done then reports cancelled = true.
 *   Calling cancel twice, or from inside done, is harmless.
 * - close() cancels every run in flight, calls each done (cancelled = true), then calls
 *   close_cb once nothing of the backend is left (every libuv handle closed); after close_cb the
 *   struct exec_backend may be freed by its owner. start() after close() fails with
 *   RC_ESHUTDOWN.
 * - The exec_result passed to done, and the tail it points to, are borrowed for the duration of
 *   the callback: copy what you keep.
 *
 * Environment of a run (shell; DESIGN.md §1 promise 3, the idempotency key): only the names
 * of EXEC_ENV_ALLOW taken from the node's environment (never its tokens, cloud credentials or
 * RAFTCRON_* settings: measured, a job printed RAFTCRON_AUTH_TOKEN when it inherited everything),
 * the run-as user's HOME, USER and LOGNAME, then the job's env entries (replacing those), then
 * RAFTCRON_JOB, RAFTCRON_RUN_ID, RAFTCRON_FENCE, RAFTCRON_ATTEMPT and RAFTCRON_SCHEDULED_AT
 * (RFC 3339, UTC, "Z"), which nothing can override.
 *
 * Least privilege (DESIGN.md §5, docs/security.md; execSetSecurity): a backend refuses a run
 * whose namespace may not use its kind (core/execpolicy.h), through execStart. The shell
 * starts every run with no descriptor of the daemon but 0-2 (close_range), umask 022, the
 * resource limits of the job's rlimits within the worker's, and, when the daemon is root, as
 * the configured unprivileged user (setgroups, setgid, setuid after the clone, before execve);
 * without one it refuses to run shell jobs as root unless allowed.
 *
 * The idempotency data of a run reaches every backend from the request: run_id, fence, attempt
 * and scheduled_us become RAFTCRON_* variables (shell), the Idempotency-Key and X-Raftcron-*
 * headers (http), the dedupe key of raftcron_effects (sql --once). See docs/executors.md.
 *
 * Lifecycle of a shell run (STYLE.md §9, table in shell.c): SPAWNING → RUNNING → (TERMINATING →
 * KILLING) → REAPED → DONE; SPAWNING → DONE when the spawn fails. Set RAFTCRON_TRACE in the
 * environment for a trace line on stderr at every move.
 */
#ifndef RC_EXEC_EXEC_H
#define RC_EXEC_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "raftcron.pb-c.h"

/* Defaults applied when a request leaves the field 0. */
#define EXEC_KILL_GRACE_US_DEFAULT 5000000 /* SIGTERM → SIGKILL */
#define EXEC_TAIL_MAX_DEFAULT      16384   /* bytes of output kept */
/* Largest tail a request may ask for. */
#define EXEC_TAIL_MAX_LIMIT (64u * 1024 * 1024)

struct exec_backend;
struct exec_handle;

/* What to run. Borrowed by start() for the duration of the call only. */
struct exec_request {
    uint64_t run_id;
    uint64_t fence;
    uint32_t attempt;
    const char *job;                /* "namespace/name", required */
    int64_t scheduled_us;           /* the scheduled instant, UTC */
    const Raftcron__Executor *spec; /* the job's executor; the shell needs spec->shell */
    const char *const *env;         /* extra "K=V" from the job, NULL-terminated, may be NULL */
    int64_t timeout_us;             /* 0 = none */
    int64_t kill_grace_us;          /* 0 = EXEC_KILL_GRACE_US_DEFAULT */
    size_t tail_max;                /* 0 = EXEC_TAIL_MAX_DEFAULT; ≤ EXEC_TAIL_MAX_LIMIT */
};

/* Phases of an HTTP attempt, microseconds from its start (0: the phase was not reached). */
struct exec_http_timings {
    int64_t dns_us;
    int64_t connect_us;
    int64_t tls_us;
    int64_t first_byte_us;
    int64_t total_us;
};

/* How a run ended. Borrowed by the done callback (tail included). Fields after finished_us are
 * set by the http and sql backends only (zero for shell). */
struct exec_result {
    int exit_code;              /* shell: exit status, -1 when killed by a signal or never
                                 * started; http and sql: 0 succeeded, 1 failed */
    int term_signal;            /* the signal that killed the process, 0 if none */
    bool timed_out;             /* the timeout expired and the run was killed for it */
    bool cancelled;             /* cancel() or close() asked the run to stop */
    bool start_failed;          /* the command could not be started; error says why */
    char error[RC_ERRMSG_SIZE]; /* "" or a message, e.g. "spawn /no/such: no such file or ..." */
    const uint8_t *tail; /* the last tail_len bytes of stdout and stderr, interleaved as read */
    size_t tail_len;
    bool tail_truncated;              /* output_bytes > tail_len: the head was dropped */
    uint64_t output_bytes;            /* everything the run wrote to stdout and stderr */
    size_t tail_capacity;             /* bytes the output buffer held allocated (≤ tail_max) */
    int64_t started_us;               /* when the process started (backend's clock), 0 if never */
    int64_t finished_us;              /* when the run was complete (exited, output drained) */
    unsigned http_status;             /* http: the final response's status, 0 if none arrived */
    struct exec_http_timings timings; /* http */
    int64_t rows;                     /* sql: rows affected or returned, -1 when none; else 0 */
    char sqlstate[6];                 /* sql: SQLSTATE of the error, "" if none */
    char command_status[64];          /* sql: the last command's tag, "INSERT 0 1" */
    bool already_done;                /* sql --once: an earlier attempt committed the effect */
};

/* The run is over. Called exactly once per successful start(), never from inside start(). */
typedef void (*exec_done_cb)(struct exec_handle *h, const struct exec_result *res, void *data);
/* The backend has released everything; its struct exec_backend may now be freed. */
typedef void (*exec_close_cb)(struct exec_backend *b);

/* A run in flight. Fields are read-only for callers. */
struct exec_handle {
    struct exec_backend *backend;
    uint64_t run_id;
    void *data; /* the caller's, as passed to start() */
};

struct execpolicy;
struct execpolicy_rlimits;

/* The user shell runs become when the daemon is root (execResolveUser). */
struct exec_user {
    bool set;
    unsigned uid;
    unsigned gid;
    unsigned groups[64]; /* supplementary groups (getgrouplist), gid first */
    size_t n_groups;
    char name[64];
    char home[256];
};

/* What a worker's backends may do (borrowed by execSetSecurity; must outlive the backend). */
struct exec_security {
    const struct execpolicy *policy;          /* NULL: every kind for every namespace */
    const struct exec_user *run_as;           /* NULL or !set: the daemon's own user */
    bool allow_root;                          /* shell as root without run_as */
    const struct execpolicy_rlimits *rlimits; /* limits of every shell run; NULL: none */
    const char *env_keep; /* "NAME,NAME": more of the daemon's environment; NULL or "": none */
};

/* An executor backend: initialised by shellInit() or fakeInit(), used through the pointers. */
struct exec_backend {
    const char *name;                     /* read-only: "shell", "fake" */
    void *impl;                           /* private */
    const struct exec_security *security; /* borrowed, may be NULL: execSetSecurity */
    char errmsg[RC_ERRMSG_SIZE];          /* read-only: why the last start() failed */
    /* Start a run; *out (owned by the backend) receives the handle. */
    int (*start)(struct exec_backend *b, const struct exec_request *req, exec_done_cb done,
                 void *data, struct exec_handle **out);
    void (*cancel)(struct exec_handle *h);
    void (*close)(struct exec_backend *b, exec_close_cb close_cb);
};

/* ---- Shell backend (shell.c) ------------------------------------------------------------ */

struct uv_loop_s;

/* Runs spec->shell: "/bin/sh -c command", or argv directly when command is empty, in workdir
 * when set, stdin from /dev/null, stdout and stderr captured into one bounded tail, each run the
 * leader of its own process group. loop is borrowed and must outlive close_cb. Returns 0 or
 * RC_ENOMEM. */
int shellInit(struct exec_backend *b, struct uv_loop_s *loop);

/* Runs in flight (done not yet called). */
size_t shellInFlight(const struct exec_backend *b);

/* ---- Noop backend (noop.c) -------------------------------------------------------------- */

/* Runs that do nothing: each succeeds at once (done from the loop, never inside start) with
 * started_us = finished_us = the wall clock at start. Returns 0 or RC_ENOMEM. */
int noopInit(struct exec_backend *b, struct uv_loop_s *loop);

/* ---- HTTP backend (http.c) ------------------------------------------------------------- */

/* Defaults applied when a request leaves the field 0. */
#define EXEC_HTTP_TIMEOUT_DEFAULT_US 300000000 /* a job without a timeout: 5 minutes */
#define EXEC_HTTP_MAX_REDIRECTS      10

/* Worker-wide settings; borrowed by httpInit for the duration of the call (strings copied). */
struct http_options {
    const char *ca_file;        /* CA bundle for https when the job names none; NULL: libcurl's */
    const char *ca_path;        /* CA directory (c_rehash layout); NULL: libcurl's */
    const char *user_agent;     /* NULL: "raftcron/VERSION" */
    int64_t timeout_default_us; /* for jobs without a timeout; 0: EXEC_HTTP_TIMEOUT_DEFAULT_US */
    unsigned max_connections;   /* total open connections; 0: libcurl's default (unlimited) */
};

/* Sends spec->http with libcurl's multi interface driven by loop (socket events on uv_poll, the
 * multi timer on a uv_timer): no thread per request and no blocking call on the loop (name
 * resolution runs on libcurl's resolver threads). Every request carries Idempotency-Key: run_id,
 * X-Raftcron-Attempt, X-Raftcron-Scheduled-At (RFC 3339 UTC) and X-Raftcron-Fence; job headers
 * of these names are replaced. The attempt succeeds when the final status is in expect_codes
 * (any 2xx when empty); any other status, a DNS, connect or TLS error, or the timeout fails it
 * with libcurl's message. The response body's last tail_max bytes are the tail. o may be NULL.
 * loop is borrowed and must outlive close_cb. Returns 0, RC_ENOMEM or RC_EINTERNAL (libcurl could
 * not be initialised; errmsg says why). */
int httpInit(struct exec_backend *b, struct uv_loop_s *loop, const struct http_options *o);

/* Requests in flight (done not yet called). */
size_t httpInFlight(const struct exec_backend *b);

/* ---- SQL backend (sql.c) ---------------------------------------------------------------- */

#define EXEC_SQL_POOL_DEFAULT 4 /* connections per database kept and used at once */

/* A named connection of the worker's configuration ("connections:" in its YAML). */
struct sql_conn_def {
    const char *name;          /* what jobs write as conn */
    const char *conninfo;      /* libpq conninfo or URI; may hold no password */
    const char *password_file; /* file whose first line is the password; NULL: libpq's own
                                * PGPASSFILE / ~/.pgpass lookup */
};

/* Worker-wide settings; borrowed by sqlInit for the duration of the call (everything copied). */
struct sql_options {
    const struct sql_conn_def *conns;
    size_t n_conns;
    unsigned pool_size;           /* per database; 0: EXEC_SQL_POOL_DEFAULT */
    const char *application_name; /* NULL: "raftcron" */
};

/* Runs spec->sql with libpq in non-blocking mode on loop: PQconnectStart/PQconnectPoll and
 * PQsendQuery/PQconsumeInput on uv_poll. Connections are pooled per database (a conn name or a
 * dsn): at most pool_size in use at once, later runs wait in order (the wait counts towards the
 * timeout). Each run first sets statement_timeout to the job's timeout; when the run's own timer
 * expires, the query is cancelled with PQcancel on the libuv thread pool, and the connection is
 * dropped kill_grace_us later if the server does not answer. With dedupe (--once) the statement
 * runs in one transaction that first inserts the run id into raftcron_effects (created on
 * demand); when the id is already there the run succeeds as already_done without running the
 * statement. The tail is the result's rows as tab-separated text. loop is borrowed and must
 * outlive close_cb. Returns 0 or RC_ENOMEM. */
int sqlInit(struct exec_backend *b, struct uv_loop_s *loop, const struct sql_options *o);

/* Runs in flight, and connections open (idle and in use). */
size_t sqlInFlight(const struct exec_backend *b);
size_t sqlConnections(const struct exec_backend *b);

/* ---- Fake backend (fake.c) -------------------------------------------------------------- */

enum fake_outcome {
    FAKE_EXIT,       /* exits with exit_code after duration_us */
    FAKE_SIGNAL,     /* dies of signal after duration_us (a crash: SIGSEGV, SIGABRT, …) */
    FAKE_HANG,       /* runs until cancelled or timed out */
    FAKE_START_FAIL, /* cannot start: start_failed, reported at the next fakeAdvance */
};

/* What one run does. output (copied) is what it "prints"; ignore_term makes a cancel or timeout
 * take kill_grace_us longer and end with SIGKILL instead of SIGTERM. */
struct fake_script {
    enum fake_outcome outcome;
    int exit_code;
    int signal;
    int64_t duration_us;
    const char *output;
    bool ignore_term;
};

/* A backend with no processes and no timers: virtual time is now_us until fakeAdvance moves it.
 * Unscripted runs exit 0 immediately (duration 0). Returns 0 or RC_ENOMEM. close() completes
 * every run and calls close_cb before it returns. */
int fakeInit(struct exec_backend *b, int64_t now_us);

/* Every later run of job (NULL: any job without its own script) does *s. Returns 0 or
 * RC_ENOMEM. */
int fakeScript(struct exec_backend *b, const char *job, const struct fake_script *s);

/* The next run of job (NULL: of any job) does *s, once; one-shot scripts are used in the order
 * given and before the standing ones. Returns 0 or RC_ENOMEM. */
int fakeScriptOnce(struct exec_backend *b, const char *job, const struct fake_script *s);

/* Move virtual time to now_us (never backwards) and complete, in order of their end instant
 * (then start order), every run that ends at or before it: exits, timeouts (SIGTERM at start +
 * timeout_us, or SIGKILL kill_grace_us later with ignore_term), cancels and start failures. The
 * callbacks may start and cancel runs; those are due in the same call when their time has
 * come. */
void fakeAdvance(struct exec_backend *b, int64_t now_us);

/* The earliest instant at which a run in flight ends (INT64_MAX if none will by itself). */
int64_t fakeNextEvent(const struct exec_backend *b);

/* Runs in flight, and runs started since init. */
size_t fakeInFlight(const struct exec_backend *b);
uint64_t fakeStarted(const struct exec_backend *b);

/* ---- Shared helpers (exec.c) ------------------------------------------------------------ */

/* "shell", "http", "sql" for an executor kind; NULL for a kind no backend runs. */
const char *execKindName(int kind_case);

/* The ledger's view of a result: RC_RUN_SUCCEEDED, RC_RUN_FAILED or RC_RUN_TIMED_OUT. */
uint32_t execResultState(const struct exec_result *res);

/* Fill o (initialised by the caller) from res for RunFinished. o borrows res's tail, error,
 * sqlstate and command_status, and timings (stored in *timings, which must live as long as o). */
void execResultOutcome(const struct exec_result *res, Raftcron__Outcome *o,
                       Raftcron__HttpTimings *timings);

/* Start/cancel/close through the table. */
int execStart(struct exec_backend *b, const struct exec_request *req, exec_done_cb done, void *data,
              struct exec_handle **out);
void execCancel(struct exec_handle *h);
void execClose(struct exec_backend *b, exec_close_cb close_cb);

/* Give b its limits (after its init, before its first start). */
void execSetSecurity(struct exec_backend *b, const struct exec_security *s);

/* Resolve --run-as "USER[:GROUP]" (a name or a number each) into *u with the user's groups.
 * Returns 0 or RC_EINVAL with a message (unknown user or group, root). */
int execResolveUser(const char *spec, struct exec_user *u, char *errmsg, size_t errlen);

/* Fill defaults and check a request common to all backends (job set, limits). Returns 0 or
 * RC_EINVAL with a message in errmsg. */
int execRequestNormalize(const struct exec_request *req, struct exec_request *out, char *errmsg,
                         size_t errlen);

/* The output tail: a ring buffer of fixed capacity that keeps the last cap bytes written. */
struct exec_tail {
    uint8_t *buf; /* owned, cap bytes, allocated once */
    size_t cap;
    size_t start;   /* index of the oldest byte */
    size_t len;     /* bytes held, ≤ cap */
    uint64_t total; /* bytes ever appended */
};

/* Returns 0 or RC_ENOMEM. cap may be 0 (only counts). */
int execTailInit(struct exec_tail *t, size_t cap);
void execTailAppend(struct exec_tail *t, const uint8_t *data, size_t n);
/* Rotate in place so that the held bytes are buf[0..len) in order; returns buf. */
const uint8_t *execTailLinearize(struct exec_tail *t);
void execTailClose(struct exec_tail *t);

/* The names a run takes from the node's environment (a NULL-terminated list). */
extern const char *const EXEC_ENV_ALLOW[];

/* The environment for a run, as a NULL-terminated array of owned "K=V" strings: the entries of
 * base (e.g. environ) whose names are in EXEC_ENV_ALLOW (PATH defaults to
 * /usr/local/bin:/usr/bin:/bin), overridden by identity ("HOME=…", "USER=…": the run-as user;
 * may be NULL), by the job's env, by the RAFTCRON_* variables of req. Returns 0, RC_EINVAL (a job
 * env entry without '=' or with an empty name; one naming RAFTCRON_* is allowed but loses) with
 * errmsg, or RC_ENOMEM. Free with execEnvFree. */
int execEnvBuild(const char *const *base, const char *keep, const char *const *identity,
                 const struct exec_request *req, char ***out, char *errmsg, size_t errlen);
void execEnvFree(char **env);

/* Fill res for a run that ends; tail is linearized and borrowed from t. */
void execResultFromTail(struct exec_result *res, struct exec_tail *t);

#endif /* RC_EXEC_EXEC_H */
