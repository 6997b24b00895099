/*
 * The HTTP executor (src/exec/http.c) on one libuv loop against a real HTTP server the test
 * starts (tests/integration/http_server.py, which records every request and can answer slowly,
 * with any status, or drop the connection): success with the idempotency headers, a body and
 * the method, an unexpected status failing an attempt and the retried attempt (same
 * Idempotency-Key) succeeding, expected codes, redirects off and on, a timeout, a refused
 * connection, a dropped one, a large body kept as a bounded tail, cancel, close with requests in
 * flight, requests refused at start, and 1,000 concurrent requests while a timer measures how
 * late the loop serves it (the firing precision of other jobs). Every test ends with
 * uv_loop_close() == 0 under ASan's leak checker.
 */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <uv.h>

#include "core/runs.h"
#include "exec/exec.h"

#define WAIT_MS 30000

/* ---- The HTTP server -------------------------------------------------------------------- */

static struct server {
    int port;
    pid_t pid;
    FILE *out;
    char log[64];
} srv;

static int serverStart(void **state)
{
    (void)state;
    const char *src = getenv("RC_SRC");
    char cmd[512];
    strcpy(srv.log, "/tmp/rc-http-log-XXXXXX");
    int fd = mkstemp(srv.log);
    assert_true(fd >= 0);
    close(fd);
    snprintf(cmd, sizeof cmd, "exec python3 '%s/tests/integration/http_server.py' '%s'",
             src != NULL ? src : ".", srv.log);
    srv.out = popen(cmd, "r");
    assert_non_null(srv.out);
    long pid = 0;
    if (fscanf(srv.out, "%d %ld", &srv.port, &pid) != 2) {
        fail_msg("http_server.py did not start");
    }
    srv.pid = (pid_t)pid;
    return 0;
}

static int serverStop(void **state)
{
    (void)state;
    kill(srv.pid, SIGTERM);
    pclose(srv.out);
    unlink(srv.log);
    return 0;
}

/* The recorded request lines containing marker, concatenated (owned by the caller). */
static char *requestsWith(const char *marker, int *count)
{
    FILE *f = fopen(srv.log, "r");
    assert_non_null(f);
    char *all = calloc(1, 1);
    size_t len = 0;
    char *line = NULL;
    size_t cap = 0;
    *count = 0;
    while (getline(&line, &cap, f) > 0) {
        if (strstr(line, marker) == NULL) {
            continue;
        }
        size_t n = strlen(line);
        all = realloc(all, len + n + 1);
        memcpy(all + len, line, n + 1);
        len += n;
        (*count)++;
    }
    free(line);
    fclose(f);
    return all;
}

/* ---- Loop and backend fixture ----------------------------------------------------------- */

struct fixture {
    uv_loop_t loop;
    uv_timer_t deadline;
    bool expired;
    struct exec_backend b;
    bool closed;
    unsigned delivered;
};

struct outcome {
    struct fixture *fx;
    unsigned calls;
    struct exec_result res;
    char *tail; /* owned copy, NUL-terminated */
};

static void deadlineFired(uv_timer_t *t)
{
    ((struct fixture *)t->data)->expired = true;
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    uv_timer_init(&fx->loop, &fx->deadline);
    fx->deadline.data = fx;
    assert_int_equal(httpInit(&fx->b, &fx->loop, NULL), 0);
    assert_string_equal(fx->b.name, "http");
    *state = fx;
    return 0;
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
    o->fx->delivered++;
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
    o->tail = NULL;
}

struct job {
    Raftcron__HttpExec http;
    Raftcron__Executor spec;
    struct exec_request req;
    char url[256];
    Raftcron__HttpExec__HeadersEntry hdr[4];
    Raftcron__HttpExec__HeadersEntry *hdrs[4];
};

static void jobInit(struct job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void jobInit(struct job *j, const char *fmt, ...)
{
    memset(j, 0, sizeof *j);
    raftcron__http_exec__init(&j->http);
    raftcron__executor__init(&j->spec);
    int n = snprintf(j->url, sizeof j->url, "http://127.0.0.1:%d", srv.port);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->url + n, sizeof j->url - (size_t)n, fmt, ap);
    va_end(ap);
    j->http.url = j->url;
    j->http.method = "";
    j->spec.kind_case = RAFTCRON__EXECUTOR__KIND_HTTP;
    j->spec.http = &j->http;
    j->req.run_id = 7;
    j->req.fence = 11;
    j->req.attempt = 1;
    j->req.job = "default/web";
    j->req.scheduled_us = 1700000000000000;
    j->req.spec = &j->spec;
    j->req.timeout_us = 10000000;
}

static void addHeader(struct job *j, const char *k, const char *v)
{
    size_t i = j->http.n_headers;
    assert_true(i < 4);
    raftcron__http_exec__headers_entry__init(&j->hdr[i]);
    j->hdr[i].key = (char *)k;
    j->hdr[i].value = (char *)v;
    j->hdrs[i] = &j->hdr[i];
    j->http.headers = j->hdrs;
    j->http.n_headers = i + 1;
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

/* ---- Success and the idempotency headers ------------------------------------------------ */

static void getOk(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, "/ok?t=getOk");
    addHeader(&j, "X-Custom", "yes");
    addHeader(&j, "Idempotency-Key", "mine"); /* replaced by the executor's */
    runJob(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 0);
    assert_int_equal(o.res.http_status, 200);
    assert_string_equal(o.res.error, "");
    assert_string_equal(o.tail, "ok\n");
    assert_false(o.res.timed_out || o.res.cancelled || o.res.start_failed);
    assert_true(o.res.timings.total_us > 0);
    assert_true(o.res.timings.first_byte_us <= o.res.timings.total_us);
    assert_true(o.res.started_us > 0 && o.res.finished_us >= o.res.started_us);
    assert_int_equal(execResultState(&o.res), RC_RUN_SUCCEEDED);
    int n;
    char *seen = requestsWith("t=getOk", &n);
    assert_int_equal(n, 1);
    assert_non_null(strstr(seen, "\"method\": \"GET\""));
    assert_non_null(strstr(seen, "\"Idempotency-Key\": \"7\""));
    assert_null(strstr(seen, "mine"));
    assert_non_null(strstr(seen, "\"X-Raftcron-Attempt\": \"1\""));
    assert_non_null(strstr(seen, "\"X-Raftcron-Fence\": \"11\""));
    assert_non_null(strstr(seen, "\"X-Raftcron-Scheduled-At\": \"2023-11-14T22:13:20Z\""));
    assert_non_null(strstr(seen, "\"X-Raftcron-Job\": \"default/web\""));
    assert_non_null(strstr(seen, "\"X-Custom\": \"yes\""));
    assert_non_null(strstr(seen, "\"User-Agent\": \"raftcron/"));
    free(seen);
    outcomeFree(&o);
}

static void postBody(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, "/echo?t=postBody");
    const char *body = "{\"report\": \"nightly\"}";
    j.http.body.data = (uint8_t *)body;
    j.http.body.len = strlen(body);
    addHeader(&j, "Content-Type", "application/json");
    runJob(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 0);
    assert_string_equal(o.tail, body);
    int n;
    char *seen = requestsWith("t=postBody", &n);
    assert_int_equal(n, 1);
    assert_non_null(strstr(seen, "\"method\": \"POST\""));
    assert_non_null(strstr(seen, "\"Content-Type\": \"application/json\""));
    assert_null(strstr(seen, "100-continue"));
    free(seen);
    outcomeFree(&o);

    /* An explicit method with a body. */
    jobInit(&j, "/echo?t=putBody");
    j.http.method = "PUT";
    j.http.body.data = (uint8_t *)"x=1";
    j.http.body.len = 3;
    memset(&o, 0, sizeof o);
    runJob(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 0);
    assert_string_equal(o.tail, "x=1");
    seen = requestsWith("t=putBody", &n);
    assert_non_null(strstr(seen, "\"method\": \"PUT\""));
    free(seen);
    outcomeFree(&o);
}

/* ---- Statuses: expected codes, a retried attempt ---------------------------------------- */

static void unexpectedThenRetry(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, "/flaky/retry1/1");
    j.req.run_id = 4242;
    runJob(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 1);
    assert_int_equal(o.res.http_status, 500);
    assert_string_equal(o.res.error, "HTTP status 500, expected 2xx");
    assert_string_equal(o.tail, "flaky failure 1\n");
    assert_false(o.res.timed_out);
    assert_int_equal(execResultState(&o.res), RC_RUN_FAILED);
    outcomeFree(&o);

    /* The retry policy starts attempt 2 of the same run under a new fence. */
    j.req.attempt = 2;
    j.req.fence = 12;
    memset(&o, 0, sizeof o);
    runJob(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 0);
    assert_int_equal(o.res.http_status, 200);
    outcomeFree(&o);

    int n;
    char *seen = requestsWith("/flaky/retry1/", &n);
    assert_int_equal(n, 2);
    char *second = strchr(seen, '\n') + 1;
    assert_non_null(strstr(seen, "\"Idempotency-Key\": \"4242\""));
    assert_non_null(strstr(second, "\"Idempotency-Key\": \"4242\""));
    assert_non_null(strstr(seen, "\"X-Raftcron-Attempt\": \"1\""));
    assert_non_null(strstr(second, "\"X-Raftcron-Attempt\": \"2\""));
    assert_non_null(strstr(second, "\"X-Raftcron-Fence\": \"12\""));
    free(seen);
}

static void expectCodes(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    uint32_t want[] = {200, 202};
    jobInit(&j, "/status/204");
    j.http.expect_codes = want;
    j.http.n_expect_codes = 2;
    runJob(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 1);
    assert_int_equal(o.res.http_status, 204);
    assert_string_equal(o.res.error, "HTTP status 204, expected 200,202");
    outcomeFree(&o);

    uint32_t gone[] = {410};
    jobInit(&j, "/status/410");
    j.http.expect_codes = gone;
    j.http.n_expect_codes = 1;
    memset(&o, 0, sizeof o);
    runJob(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 0);
    assert_int_equal(o.res.http_status, 410);
    outcomeFree(&o);
}

static void redirects(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, "/redirect");
    runJob(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 1);
    assert_int_equal(o.res.http_status, 302);
    outcomeFree(&o);

    jobInit(&j, "/redirect");
    j.http.follow_redirects = true;
    memset(&o, 0, sizeof o);
    runJob(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 0);
    assert_int_equal(o.res.http_status, 200);
    assert_string_equal(o.tail, "ok\n");
    outcomeFree(&o);
}

/* ---- Failures: timeout, refused, dropped ------------------------------------------------ */

static void timeout(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, "/slow/5000?t=timeout");
    j.req.timeout_us = 300000;
    int64_t t0 = monoUs();
    runJob(fx, &j, &o);
    int64_t took = monoUs() - t0;
    assert_true(o.res.timed_out);
    assert_int_equal(o.res.exit_code, 1);
    assert_int_equal(o.res.http_status, 0);
    assert_non_null(strstr(o.res.error, "timed out"));
    assert_int_equal(execResultState(&o.res), RC_RUN_TIMED_OUT);
    assert_true(took >= 290000 && took < 2000000);
    outcomeFree(&o);
}

static int closedPort(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s); /* bound, never listened: nobody answers on it now */
    return ntohs(a.sin_port);
}

static void refused(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, "/ok");
    snprintf(j.url, sizeof j.url, "http://127.0.0.1:%d/ok", closedPort());
    runJob(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 1);
    assert_int_equal(o.res.http_status, 0);
    assert_false(o.res.timed_out);
    assert_non_null(strstr(o.res.error, "Failed to connect"));
    assert_non_null(strstr(o.res.error, "curl 7"));
    outcomeFree(&o);
}

static void dropped(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, "/drop");
    runJob(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 1);
    assert_int_equal(o.res.http_status, 0);
    assert_non_null(strstr(o.res.error, "Empty reply"));
    outcomeFree(&o);
}

/* https to a server that speaks plain HTTP: the TLS handshake fails, and the attempt with it. */
static void tlsError(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, "/ok");
    snprintf(j.url, sizeof j.url, "https://127.0.0.1:%d/ok", srv.port);
    runJob(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 1);
    assert_int_equal(o.res.http_status, 0);
    assert_false(o.res.timed_out);
    assert_non_null(strstr(o.res.error, "curl 35")); /* CURLE_SSL_CONNECT_ERROR */
    print_message("TLS error: %s\n", o.res.error);
    outcomeFree(&o);
}

static void bigBodyTail(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, "/big/1000000");
    j.req.tail_max = 1024;
    runJob(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 0);
    assert_int_equal(o.res.tail_len, 1024);
    assert_true(o.res.tail_truncated);
    assert_int_equal(o.res.output_bytes, 1000000);
    assert_int_equal(o.res.tail_capacity, 1024);
    assert_string_equal(o.tail + 1021, "END");
    outcomeFree(&o);
}

/* ---- Refusals, cancel, close ------------------------------------------------------------ */

static void badRequests(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {.fx = fx};
    struct exec_handle *h = NULL;
    jobInit(&j, "/ok");
    j.spec.kind_case = RAFTCRON__EXECUTOR__KIND_SHELL;
    assert_int_equal(execStart(&fx->b, &j.req, onDone, &o, &h), RC_EINVAL);
    assert_non_null(strstr(fx->b.errmsg, "not an http executor"));
    jobInit(&j, "/ok");
    j.http.url = "ftp://127.0.0.1/file";
    assert_int_equal(execStart(&fx->b, &j.req, onDone, &o, &h), RC_EINVAL);
    assert_non_null(strstr(fx->b.errmsg, "http:// or https://"));
    jobInit(&j, "/ok");
    addHeader(&j, "X-Bad", "a\r\nInjected: 1");
    assert_int_equal(execStart(&fx->b, &j.req, onDone, &o, &h), RC_EINVAL);
    assert_non_null(strstr(fx->b.errmsg, "X-Bad"));
    jobInit(&j, "/ok");
    j.req.job = NULL;
    assert_int_equal(execStart(&fx->b, &j.req, onDone, &o, &h), RC_EINVAL);
    assert_null(h);
    assert_int_equal(o.calls, 0);
    assert_int_equal(httpInFlight(&fx->b), 0);
}

static void cancelInFlight(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    struct exec_handle *h;
    jobInit(&j, "/slow/5000?t=cancel");
    startOk(fx, &j, &o, &h);
    int64_t t0 = monoUs();
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    execCancel(h);
    execCancel(h);
    assert_int_equal(o.calls, 0); /* never from inside cancel() */
    assert_true(runUntil(fx, isDone, &o, WAIT_MS));
    assert_true(monoUs() - t0 < 1000000);
    assert_true(o.res.cancelled);
    assert_int_equal(o.res.exit_code, 1);
    assert_int_equal(execResultState(&o.res), RC_RUN_FAILED);
    outcomeFree(&o);
}

static void closeInFlight(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o[3] = {{0}};
    for (int i = 0; i < 3; i++) {
        jobInit(&j, "/slow/5000?t=close%d", i);
        startOk(fx, &j, &o[i], NULL);
    }
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    assert_int_equal(httpInFlight(&fx->b), 3);
    execClose(&fx->b, onClosed);
    struct outcome extra = {.fx = fx};
    struct exec_handle *h;
    jobInit(&j, "/ok");
    assert_int_equal(execStart(&fx->b, &j.req, onDone, &extra, &h), RC_ESHUTDOWN);
    assert_true(runUntil(fx, isClosed, fx, WAIT_MS));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(o[i].calls, 1);
        assert_true(o[i].res.cancelled);
        outcomeFree(&o[i]);
    }
}

static void closeIdle(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, "/ok?t=keepalive"); /* leaves a kept-alive connection in libcurl's cache */
    runJob(fx, &j, &o);
    outcomeFree(&o);
    execClose(&fx->b, onClosed);
    assert_false(fx->closed);
    assert_true(runUntil(fx, isClosed, fx, WAIT_MS));
}

/* ---- 1,000 concurrent requests and the loop's responsiveness ---------------------------- */

#define MANY      1000
#define TICK_MS   10
#define MAX_TICKS 4096

/* Two measures of the loop while requests are in flight: how late a 10 ms timer fires (what
 * other runs' firing sees; on a shared machine it includes time the process was not
 * scheduled), and the CPU time of each turn of the loop (prepare to prepare, on this thread's
 * CPU clock: the work done between two waits, which a blocking executor would inflate and
 * neighbours cannot). */
struct ticker {
    uv_timer_t t;
    uv_prepare_t turn;
    int64_t expect_us; /* when the next tick is due (monotonic) */
    int64_t late[MAX_TICKS];
    size_t n;
    int64_t turn_cpu_us; /* thread CPU time at the last prepare */
    int64_t turn_max_us; /* longest turn */
    uint64_t turns;
};

static int64_t cpuUs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void onTurn(uv_prepare_t *p)
{
    struct ticker *k = p->data;
    int64_t now = cpuUs();
    if (k->turn_cpu_us != 0 && now - k->turn_cpu_us > k->turn_max_us) {
        k->turn_max_us = now - k->turn_cpu_us;
    }
    k->turn_cpu_us = now;
    k->turns++;
}

static void onTick(uv_timer_t *t)
{
    struct ticker *k = t->data;
    int64_t now = monoUs();
    if (k->n < MAX_TICKS) {
        k->late[k->n++] = now - k->expect_us > 0 ? now - k->expect_us : 0;
    }
    k->expect_us = now + TICK_MS * 1000;
    uv_update_time(t->loop);
    uv_timer_start(t, onTick, TICK_MS, 0);
}

static int cmpI64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

struct stats {
    int64_t p50, p99, max;
};

static struct stats tickStats(struct ticker *k)
{
    qsort(k->late, k->n, sizeof k->late[0], cmpI64);
    struct stats s = {0};
    if (k->n > 0) {
        s.p50 = k->late[k->n / 2];
        s.p99 = k->late[(k->n * 99) / 100];
        s.max = k->late[k->n - 1];
    }
    return s;
}

static void tickerStart(struct fixture *fx, struct ticker *k)
{
    memset(k, 0, sizeof *k);
    uv_timer_init(&fx->loop, &k->t);
    k->t.data = k;
    uv_prepare_init(&fx->loop, &k->turn);
    k->turn.data = k;
    uv_prepare_start(&k->turn, onTurn);
    uv_update_time(&fx->loop);
    k->expect_us = monoUs() + TICK_MS * 1000;
    uv_timer_start(&k->t, onTick, TICK_MS, 0);
}

static void tickerStop(struct fixture *fx, struct ticker *k)
{
    uv_close((uv_handle_t *)&k->t, NULL);
    uv_close((uv_handle_t *)&k->turn, NULL);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
}

struct many {
    struct outcome o[MANY];
    unsigned done;
};

static bool allDone(void *arg)
{
    struct many *m = arg;
    m->done = 0;
    for (int i = 0; i < MANY; i++) {
        m->done += m->o[i].calls;
    }
    return m->done == MANY;
}

static void idle(uv_timer_t *t)
{
    (void)t;
}

static void thousandConcurrent(void **state)
{
    struct fixture *fx = *state;
    struct ticker *k = malloc(sizeof *k);
    struct many *m = calloc(1, sizeof *m);
    struct job *j = calloc(MANY, sizeof *j);
    assert_true(k != NULL && m != NULL && j != NULL);

    /* Baseline: the same timer with nothing else on the loop, for 1 s. */
    tickerStart(fx, k);
    uv_timer_t stop;
    uv_timer_init(&fx->loop, &stop);
    uv_timer_start(&stop, idle, 1000, 0);
    while (uv_is_active((uv_handle_t *)&stop)) {
        uv_run(&fx->loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&stop, NULL);
    tickerStop(fx, k);
    struct stats base = tickStats(k);
    int64_t base_turn = k->turn_max_us;

    /* 1,000 requests, each answered after 2 s, so that all are in flight together. The timer
     * starts once they are handed over: the 1,000 start() calls are the caller's own burst
     * (reported apart); from then on every connect, send, receive and done is the
     * executor's work on the loop. */
    int64_t t0 = monoUs();
    for (int i = 0; i < MANY; i++) {
        jobInit(&j[i], "/slow/2000?t=many%d", i);
        j[i].req.run_id = 100000 + (uint64_t)i;
        j[i].req.timeout_us = 60000000;
        startOk(fx, &j[i], &m->o[i], NULL);
    }
    int64_t started = monoUs() - t0;
    tickerStart(fx, k);
    size_t peak = 0;
    fx->expired = false;
    uv_timer_start(&fx->deadline, deadlineFired, 60000, 0);
    while (!allDone(m) && !fx->expired) {
        uv_run(&fx->loop, UV_RUN_ONCE);
        size_t in = httpInFlight(&fx->b);
        peak = in > peak ? in : peak;
    }
    uv_timer_stop(&fx->deadline);
    int64_t took = monoUs() - t0;
    tickerStop(fx, k);
    struct stats load = tickStats(k);

    unsigned ok = 0;
    for (int i = 0; i < MANY; i++) {
        ok += m->o[i].calls == 1 && m->o[i].res.exit_code == 0 && m->o[i].res.http_status == 200;
        if (m->o[i].calls == 1 && m->o[i].res.exit_code != 0) {
            print_message("request %d: %s\n", i, m->o[i].res.error);
        }
        outcomeFree(&m->o[i]);
    }
    print_message("1000 concurrent requests: %u succeeded in %.2f s (start() x1000 took %.1f ms, "
                  "peak in flight %zu)\n",
                  ok, (double)took / 1e6, (double)started / 1e3, peak);
    print_message("loop lateness of a %d ms timer: idle p50 %.2f p99 %.2f max %.2f ms; "
                  "under load (%zu ticks) p50 %.2f p99 %.2f max %.2f ms\n",
                  TICK_MS, (double)base.p50 / 1e3, (double)base.p99 / 1e3, (double)base.max / 1e3,
                  k->n, (double)load.p50 / 1e3, (double)load.p99 / 1e3, (double)load.max / 1e3);
    print_message("longest turn of the loop (CPU): idle %.2f ms, under load %.2f ms over %llu "
                  "turns\n",
                  (double)base_turn / 1e3, (double)k->turn_max_us / 1e3,
                  (unsigned long long)k->turns);
    assert_int_equal(ok, MANY);
    assert_int_equal(peak, MANY);
    /* Every request is answered after 2 s: all 1,000 ran together, not in batches. */
    assert_true(took < 10000000);
    /* The loop kept serving the timer while the requests were in flight: no turn of the loop
     * did more than 25 ms of work (measured 4-13 ms under ASan on a busy machine; a burst of
     * 1,000 connects in one turn took 90-240 ms), and the timer's p99 lateness stays within
     * 40 ms of what the same machine showed idle (wall time includes being descheduled by
     * other processes). */
    assert_true(k->n >= 150);
    assert_true(k->turn_max_us < 25000);
    assert_true(load.p99 < base.p99 + 40000);
    free(j);
    free(m);
    free(k);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(getOk),         T(postBody),    T(unexpectedThenRetry),
        T(expectCodes),   T(redirects),   T(timeout),
        T(refused),       T(tlsError),    T(dropped),
        T(bigBodyTail),   T(badRequests), T(cancelInFlight),
        T(closeInFlight), T(closeIdle),   T(thousandConcurrent),
    };
    return cmocka_run_group_tests(tests, serverStart, serverStop);
}
