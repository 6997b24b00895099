/*
 * HTTP and SQL jobs end to end (docs/executors.md): jobs put through the client library into a
 * 3-node cluster on 127.0.0.1, fired by their schedule or run now, executed by the nodes' (or a
 * worker agent's) executors against a real HTTP server in this process and a real PostgreSQL
 * the test starts, and read back from the replicated ledger with Run.Get.
 *
 * - HTTP: the request carries the job's method, body and headers and exactly one of each
 *   header raftcron promises (Idempotency-Key = run id, X-Raftcron-Attempt, -Fence,
 *   -Scheduled-At, -Job) with the values of the run in the ledger; the run records the status,
 *   the response body and timings that cover the server's own delay.
 * - HTTP failures: a 500 is retried per the job's retry policy with the same Idempotency-Key,
 *   attempts 1, 2, 3 and increasing fences, at least the retry delay apart, and ends DEAD with
 *   the reason; an unexpected status fails; a server that never answers makes the attempt
 *   TIMED_OUT after the job's timeout; a cancel aborts the request in flight. A job may not set
 *   raftcron's own headers.
 * - SQL: a named connection (password file) inserts rows and records the rows affected, a
 *   select its rows; an error records its SQLSTATE; an effect-once statement that ends the
 *   transaction itself fails; effect-once keeps one effect when the first attempt's node is
 *   SIGKILLed after it sent COMMIT and the server committed it: the retry finds the claim and
 *   succeeds as already done.
 * - A worker agent (raftcrond --worker) with a tag only it has runs the HTTP and SQL jobs
 *   targeted at that tag.
 *
 * The HTTP server is a thread of this process speaking HTTP/1.1 over TCP; it records each
 * request as received (request line, every header line, body, arrival time), so that the test
 * can count headers as well as read them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "api.pb-c.h"
#include "harness.h"
#include "harness_pg.h"
#include "raftcron.pb-c.h"

#define SEC INT64_C(1000000)
#define MS  INT64_C(1000)

enum {
    ST_RUNNING = 3,
    ST_SUCCEEDED = 4,
    ST_DEAD = 9,
    ST_CANCELLED = 10,
};

/* ---- A real HTTP server in this process --------------------------------------------------- */

#define SRV_REQS  128
#define SRV_CONNS 32
#define SRV_BUF   16384

/* One request as the server read it. */
struct srv_req {
    char method[16];
    char path[256];
    char head[4096]; /* the header lines as received, each ending in "\r\n" */
    char body[1024];
    size_t body_len;
    int64_t at_ms; /* monotonic, when it was read in full */
};

/* A connection: bytes read and not yet parsed; an answer due at due_ms (0: none), or held
 * without an answer (/hang) until the client closes it. */
struct srv_conn {
    int fd;
    char buf[SRV_BUF];
    size_t len;
    char answer[2048];
    size_t answer_len;
    int64_t due_ms;
    bool held;
    char held_path[256]; /* the request held */
};

static struct {
    int lfd;
    int wake[2];
    int port;
    pthread_t thread;
    pthread_mutex_t mu;
    struct srv_req reqs[SRV_REQS]; /* under mu */
    size_t n;                      /* under mu */
    size_t dropped;                /* under mu: requests beyond SRV_REQS or malformed */
    char closed[SRV_REQS][256];    /* under mu: paths of held requests whose client hung up */
    size_t n_closed;               /* under mu */
    struct srv_conn *conns[SRV_CONNS];
} srv;

static bool srvHeader(const struct srv_req *q, const char *name, char *val, size_t len);

static void srvRespond(struct srv_conn *k, int status, const char *body)
{
    const char *reason = status == 200 ? "OK" : status == 500 ? "Internal Server Error" : "Status";
    k->answer_len = (size_t)snprintf(k->answer, sizeof k->answer,
                                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
                                     "Content-Length: %zu\r\n\r\n%s",
                                     status, reason, strlen(body), body);
}

/* What to answer, by path: /ok/NAME 200 "done KEY" (KEY: the Idempotency-Key), /slow/MS/NAME
 * the same after MS milliseconds, /status/N/NAME status N, /fail/NAME 500 "boom", /hang/NAME
 * nothing. */
static void srvRoute(struct srv_conn *k, const struct srv_req *q)
{
    char key[64] = "", body[128];
    srvHeader(q, "Idempotency-Key", key, sizeof key);
    snprintf(body, sizeof body, "done %s", key);
    int delay = 0, status = 0;
    k->due_ms = harnessNowMs();
    if (strncmp(q->path, "/ok/", 4) == 0) {
        srvRespond(k, 200, body);
    } else if (sscanf(q->path, "/slow/%d/", &delay) == 1) {
        srvRespond(k, 200, body);
        k->due_ms += delay;
    } else if (sscanf(q->path, "/status/%d/", &status) == 1) {
        snprintf(body, sizeof body, "status %d", status);
        srvRespond(k, status, body);
    } else if (strncmp(q->path, "/fail/", 6) == 0) {
        srvRespond(k, 500, "boom");
    } else if (strncmp(q->path, "/hang/", 6) == 0) {
        k->held = true;
        k->due_ms = 0;
        snprintf(k->held_path, sizeof k->held_path, "%s", q->path);
    } else {
        srvRespond(k, 404, "no such path");
    }
}

/* Parse one complete request at the start of k->buf; false when more bytes are needed. */
static bool srvParse(struct srv_conn *k)
{
    char *end = memmem(k->buf, k->len, "\r\n\r\n", 4);
    if (end == NULL) {
        return false;
    }
    size_t head_len = (size_t)(end - k->buf) + 4;
    struct srv_req q = {0};
    char *line_end = memmem(k->buf, head_len, "\r\n", 2);
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)(line_end - k->buf), k->buf);
    if (sscanf(line, "%15s %255s", q.method, q.path) != 2) {
        q.method[0] = '\0';
    }
    char *h = line_end + 2;
    snprintf(q.head, sizeof q.head, "%.*s", (int)(end + 2 - h), h);
    char cl[32] = "";
    size_t body_len = srvHeader(&q, "Content-Length", cl, sizeof cl) ? strtoul(cl, NULL, 10) : 0;
    if (k->len < head_len + body_len) {
        return false;
    }
    q.body_len = body_len < sizeof q.body - 1 ? body_len : sizeof q.body - 1;
    memcpy(q.body, k->buf + head_len, q.body_len);
    q.at_ms = harnessNowMs();
    memmove(k->buf, k->buf + head_len + body_len, k->len - head_len - body_len);
    k->len -= head_len + body_len;
    pthread_mutex_lock(&srv.mu);
    if (srv.n < SRV_REQS && q.method[0] != '\0') {
        srv.reqs[srv.n++] = q;
    } else {
        srv.dropped++;
    }
    pthread_mutex_unlock(&srv.mu);
    srvRoute(k, &q);
    return true;
}

static void srvDrop(int i)
{
    close(srv.conns[i]->fd);
    free(srv.conns[i]);
    srv.conns[i] = NULL;
}

static void srvRead(int i)
{
    struct srv_conn *k = srv.conns[i];
    ssize_t n = read(k->fd, k->buf + k->len, sizeof k->buf - k->len);
    if (n <= 0) {
        pthread_mutex_lock(&srv.mu);
        if (k->held && srv.n_closed < SRV_REQS) {
            memcpy(srv.closed[srv.n_closed++], k->held_path, sizeof srv.closed[0]);
        }
        pthread_mutex_unlock(&srv.mu);
        srvDrop(i);
        return;
    }
    k->len += (size_t)n;
    /* Requests are answered one at a time, in order (no pipelining from libcurl). */
    if (!k->held && k->due_ms == 0) {
        srvParse(k);
    }
}

static void srvAnswerDue(void)
{
    int64_t now = harnessNowMs();
    for (int i = 0; i < SRV_CONNS; i++) {
        struct srv_conn *k = srv.conns[i];
        if (k == NULL || k->due_ms == 0 || k->due_ms > now) {
            continue;
        }
        size_t off = 0;
        while (off < k->answer_len) {
            ssize_t w = write(k->fd, k->answer + off, k->answer_len - off);
            if (w <= 0) {
                break;
            }
            off += (size_t)w;
        }
        k->due_ms = 0;
        if (off < k->answer_len) {
            srvDrop(i);
        } else if (k->len > 0) {
            srvParse(k); /* the next request arrived while this one was delayed */
        }
    }
}

static void srvAccept(void)
{
    int fd = accept(srv.lfd, NULL, NULL);
    if (fd < 0) {
        return;
    }
    for (int i = 0; i < SRV_CONNS; i++) {
        if (srv.conns[i] == NULL) {
            srv.conns[i] = calloc(1, sizeof *srv.conns[i]);
            if (srv.conns[i] != NULL) {
                srv.conns[i]->fd = fd;
                return;
            }
            break;
        }
    }
    close(fd);
}

static void *srvMain(void *arg)
{
    (void)arg;
    for (;;) {
        struct pollfd p[SRV_CONNS + 2] = {{.fd = srv.wake[0], .events = POLLIN},
                                          {.fd = srv.lfd, .events = POLLIN}};
        int slot[SRV_CONNS];
        nfds_t n = 2;
        int64_t due = INT64_MAX;
        for (int i = 0; i < SRV_CONNS; i++) {
            if (srv.conns[i] != NULL) {
                p[n] = (struct pollfd){.fd = srv.conns[i]->fd, .events = POLLIN};
                slot[n - 2] = i;
                n++;
                if (srv.conns[i]->due_ms != 0 && srv.conns[i]->due_ms < due) {
                    due = srv.conns[i]->due_ms;
                }
            }
        }
        int64_t wait = due == INT64_MAX ? -1 : due - harnessNowMs();
        if (poll(p, n, wait < 0 && due != INT64_MAX ? 0 : (int)wait) < 0 && errno != EINTR) {
            break;
        }
        if (p[0].revents != 0) {
            break;
        }
        for (nfds_t j = 2; j < n; j++) {
            if (p[j].revents != 0) {
                srvRead(slot[j - 2]);
            }
        }
        srvAnswerDue();
        if (p[1].revents != 0) {
            srvAccept();
        }
    }
    for (int i = 0; i < SRV_CONNS; i++) {
        if (srv.conns[i] != NULL) {
            srvDrop(i);
        }
    }
    return NULL;
}

static void srvStart(void)
{
    memset(&srv, 0, sizeof srv);
    pthread_mutex_init(&srv.mu, NULL);
    srv.lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(srv.lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(srv.lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(srv.lfd, 64), 0);
    socklen_t alen = sizeof a;
    assert_int_equal(getsockname(srv.lfd, (struct sockaddr *)&a, &alen), 0);
    srv.port = ntohs(a.sin_port);
    assert_int_equal(pipe(srv.wake), 0);
    assert_int_equal(pthread_create(&srv.thread, NULL, srvMain, NULL), 0);
}

static void srvStop(void)
{
    assert_int_equal(write(srv.wake[1], "x", 1), 1);
    pthread_join(srv.thread, NULL);
    close(srv.wake[0]);
    close(srv.wake[1]);
    close(srv.lfd);
    pthread_mutex_destroy(&srv.mu);
    assert_int_equal(srv.dropped, 0);
}

/* The value of the first header line named name (case-insensitive), and whether there is one. */
static bool srvHeader(const struct srv_req *q, const char *name, char *val, size_t len)
{
    size_t nl = strlen(name);
    for (const char *l = q->head; *l != '\0';) {
        const char *e = strstr(l, "\r\n");
        if (e == NULL) {
            break;
        }
        if (strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
            const char *v = l + nl + 1;
            while (*v == ' ' || *v == '\t') {
                v++;
            }
            snprintf(val, len, "%.*s", (int)(e - v), v);
            return true;
        }
        l = e + 2;
    }
    return false;
}

/* How many header lines are named name. */
static int srvHeaderCount(const struct srv_req *q, const char *name)
{
    size_t nl = strlen(name);
    int n = 0;
    for (const char *l = q->head; *l != '\0';) {
        const char *e = strstr(l, "\r\n");
        if (e == NULL) {
            break;
        }
        n += strncasecmp(l, name, nl) == 0 && l[nl] == ':';
        l = e + 2;
    }
    return n;
}

/* Copies of the requests for path, in arrival order (at most max); returns how many there are. */
static size_t srvRequests(const char *path, struct srv_req *out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&srv.mu);
    for (size_t i = 0; i < srv.n; i++) {
        if (strcmp(srv.reqs[i].path, path) == 0) {
            if (n < max) {
                out[n] = srv.reqs[i];
            }
            n++;
        }
    }
    pthread_mutex_unlock(&srv.mu);
    return n;
}

/* How many held requests for path were given up by the client (it closed the connection). */
static size_t srvClosed(const char *path)
{
    size_t n = 0;
    pthread_mutex_lock(&srv.mu);
    for (size_t i = 0; i < srv.n_closed; i++) {
        n += strcmp(srv.closed[i], path) == 0;
    }
    pthread_mutex_unlock(&srv.mu);
    return n;
}

/* Poll until count(path) reaches n (or timeout_ms passed); returns the last count. */
static size_t waitCount(size_t (*count)(const char *), const char *path, size_t n, int timeout_ms)
{
    int64_t deadline = harnessNowMs() + timeout_ms;
    size_t got;
    while ((got = count(path)) < n && harnessNowMs() < deadline) {
        usleep(20000);
    }
    return got;
}

static size_t srvCount(const char *path)
{
    return srvRequests(path, NULL, 0);
}

static void srvUrl(char *buf, size_t len, const char *path)
{
    snprintf(buf, len, "http://127.0.0.1:%d%s", srv.port, path);
}

/* ---- Checks and jobs ------------------------------------------------------------------------- */

static struct harness_pg pg;

static int64_t wallNow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec / 1000;
}

/* RFC 3339 in UTC as docs/executors.md gives it: microseconds only when non-zero. */
static void rfc3339(int64_t us, char *buf, size_t len)
{
    time_t s = (time_t)(us / SEC);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    if (us % SEC != 0) {
        n += (size_t)snprintf(buf + n, len - n, ".%06lld", (long long)(us % SEC));
    }
    snprintf(buf + n, len - n, "Z");
}

static void assertHeader(const struct srv_req *q, const char *name, const char *want)
{
    char got[512];
    if (srvHeaderCount(q, name) != 1) {
        fail_msg("%s %s: %d \"%s\" headers, want one:\n%s", q->method, q->path,
                 srvHeaderCount(q, name), name, q->head);
    }
    srvHeader(q, name, got, sizeof got);
    if (strcmp(got, want) != 0) {
        fail_msg("%s %s: %s is \"%s\", want \"%s\"", q->method, q->path, name, got, want);
    }
}

/* The headers raftcron promises for attempt of run r (docs/executors.md, HTTP executor). */
static void assertIdentity(const struct srv_req *q, const Raftcron__Run *r, uint32_t attempt,
                           uint64_t fence)
{
    char want[64];
    snprintf(want, sizeof want, "%llu", (unsigned long long)r->id);
    assertHeader(q, "Idempotency-Key", want);
    snprintf(want, sizeof want, "%u", attempt);
    assertHeader(q, "X-Raftcron-Attempt", want);
    snprintf(want, sizeof want, "%llu", (unsigned long long)fence);
    assertHeader(q, "X-Raftcron-Fence", want);
    rfc3339(r->scheduled_us, want, sizeof want);
    assertHeader(q, "X-Raftcron-Scheduled-At", want);
    assertHeader(q, "X-Raftcron-Job", r->job);
    char ua[128] = "";
    assert_int_equal(srvHeaderCount(q, "User-Agent"), 1);
    srvHeader(q, "User-Agent", ua, sizeof ua);
    assert_int_equal(strncmp(ua, "raftcron/", 9), 0);
    /* No "Expect: 100-continue" round trip. */
    assert_int_equal(srvHeaderCount(q, "Expect"), 0);
}

/* The request of the webhook jobs: PUT with a JSON body and two headers of the job's own. */
#define HOOK_BODY "{\"report\": \"nightly\", \"rows\": 3}"

static void assertHookRequest(const struct srv_req *q, const Raftcron__Run *r)
{
    assert_string_equal(q->method, "PUT");
    assertHeader(q, "Content-Type", "application/json");
    assertHeader(q, "X-Team", "payments");
    char len[16];
    snprintf(len, sizeof len, "%zu", strlen(HOOK_BODY));
    assertHeader(q, "Content-Length", len);
    assert_int_equal(q->body_len, strlen(HOOK_BODY));
    assert_memory_equal(q->body, HOOK_BODY, q->body_len);
    assertIdentity(q, r, 1, r->fence);
}

/* A hook job: the executor and its parts live in *x (kept by the caller while it is used). */
struct hook {
    Raftcron__Executor ex;
    Raftcron__HttpExec http;
    Raftcron__HttpExec__HeadersEntry h[2];
    Raftcron__HttpExec__HeadersEntry *hp[2];
    uint32_t expect[1];
    char url[128];
};

static void hookInit(struct hook *x, const char *path, const char *method, const char *body)
{
    memset(x, 0, sizeof *x);
    raftcron__executor__init(&x->ex);
    raftcron__http_exec__init(&x->http);
    srvUrl(x->url, sizeof x->url, path);
    x->http.url = x->url;
    x->http.method = (char *)method;
    if (body != NULL) {
        x->http.body.data = (uint8_t *)body;
        x->http.body.len = strlen(body);
    }
    x->ex.kind_case = RAFTCRON__EXECUTOR__KIND_HTTP;
    x->ex.http = &x->http;
}

static void hookHeaders(struct hook *x)
{
    const char *kv[2][2] = {{"Content-Type", "application/json"}, {"X-Team", "payments"}};
    for (int i = 0; i < 2; i++) {
        raftcron__http_exec__headers_entry__init(&x->h[i]);
        x->h[i].key = (char *)kv[i][0];
        x->h[i].value = (char *)kv[i][1];
        x->hp[i] = &x->h[i];
    }
    x->http.n_headers = 2;
    x->http.headers = x->hp;
}

/* The run of job that the schedule fired (not a manual one), once it is in state want. */
static Raftcron__Run *waitScheduledRun(struct rc_client *c, const char *job, uint32_t want,
                                       int timeout_ms)
{
    int64_t deadline = harnessNowMs() + timeout_ms;
    while (harnessNowMs() < deadline) {
        Raftcron__RunListResponse *list = NULL;
        if (rc_run_list(c, "", job, "", 100, 0, &list) == 0) {
            for (size_t i = 0; i < list->n_runs; i++) {
                if (!list->runs[i]->manual && list->runs[i]->state == want) {
                    Raftcron__Run *r = NULL;
                    uint64_t id = list->runs[i]->id;
                    rc_message_free(list);
                    assert_int_equal(rc_run_get(c, id, 0, &r), 0);
                    return r;
                }
            }
            rc_message_free(list);
        }
        usleep(50000);
    }
    fail_msg("no scheduled run of %s reached state %u within %d ms", job, want, timeout_ms);
    return NULL;
}

static uint64_t runNow(struct rc_client *c, const char *job)
{
    uint64_t id = 0;
    if (rc_job_run_now(c, "", job, 0, &id) != 0) {
        fail_msg("run now %s: %s", job, rc_client_errmsg(c));
    }
    return id;
}

static const char *outputOf(const Raftcron__Run *r, char *buf, size_t len)
{
    const ProtobufCBinaryData *t = &r->outcome->output_tail;
    snprintf(buf, len, "%.*s", (int)t->len, (const char *)t->data);
    return buf;
}

/* Nodes carry the named connection "app" (the PostgreSQL role with a password, read from a
 * password file) in their YAML, and a worker timeout short enough for a killed worker's run
 * to be retried within the test. */
static const char *configFile(void)
{
    static char cfg[400];
    char pass[400];
    snprintf(pass, sizeof pass, "%s/app.pass", H.dir);
    FILE *f = fopen(pass, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", HARNESS_PG_APP_PASSWORD);
    fclose(f);
    snprintf(cfg, sizeof cfg, "%s/node.yaml", H.dir);
    f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "connections:\n  app:\n    dsn: %s\n    password_file: %s\n", pg.app_conninfo, pass);
    fclose(f);
    return cfg;
}

static struct rc_client *startCluster(void)
{
    const char *const extra[] = {"--config", configFile(), "--worker-timeout", "3s", NULL};
    assert_int_not_equal(harnessStartCluster(&H, 3, extra), 0);
    struct rc_client *c = harnessClient(&H, 3, 10 * SEC);
    assert_non_null(c);
    return c;
}

/* ---- HTTP --------------------------------------------------------------------------------- */

/* A PUT webhook fired once by its schedule (a one-off instant a few seconds ahead) and once by
 * run-now: both requests carry the job's method, body and headers and the identity of their
 * own run; both runs end SUCCEEDED with the status, the body and timings in their outcome. */
static void test_http_job_by_schedule_and_run_now(void **state)
{
    (void)state;
    struct rc_client *c = startCluster();
    struct hook x;
    hookInit(&x, "/slow/200/hook", "PUT", HOOK_BODY);
    hookHeaders(&x);
    int64_t at = (wallNow() / SEC + 4) * SEC;
    struct harness_job j = {.name = "hook",
                            .executor = &x.ex,
                            .at_us = at,
                            .misfire_grace_us = 60 * SEC,
                            .max_instances = 5,
                            .timeout_us = 10 * SEC};
    harnessPutJob(c, &j);

    /* raftcron's own headers cannot be set by a job, in any case. */
    struct hook bad;
    hookInit(&bad, "/ok/bad", NULL, NULL);
    Raftcron__HttpExec__HeadersEntry fence = RAFTCRON__HTTP_EXEC__HEADERS_ENTRY__INIT;
    Raftcron__HttpExec__HeadersEntry *fencep = &fence;
    fence.key = "x-raftcron-fence";
    fence.value = "999999";
    bad.http.n_headers = 1;
    bad.http.headers = &fencep;
    struct harness_job jb = {.name = "bad", .executor = &bad.ex};
    assert_int_equal(harnessTryPutJob(c, &jb), RC_EINVAL);
    assert_int_equal(rc_client_status(c), RC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(rc_client_errmsg(c), "x-raftcron-fence is set by raftcron"));

    uint64_t id = runNow(c, "hook");
    Raftcron__Run *manual = harnessWaitRun(c, id, ST_SUCCEEDED, 20000);
    Raftcron__Run *sched = waitScheduledRun(c, "hook", ST_SUCCEEDED, 30000);
    assert_true(manual->manual);
    assert_int_equal(sched->scheduled_us, at);
    assert_true(sched->started_us >= at);
    assert_int_not_equal(sched->id, manual->id);

    /* Exactly two requests, one per run, each with its own run's identity. */
    struct srv_req q[4];
    assert_int_equal(srvRequests("/slow/200/hook", q, 4), 2);
    for (int i = 0; i < 2; i++) {
        char key[32];
        srvHeader(&q[i], "Idempotency-Key", key, sizeof key);
        const Raftcron__Run *r = strtoull(key, NULL, 10) == manual->id ? manual : sched;
        assertHookRequest(&q[i], r);
    }
    char k0[32], k1[32];
    srvHeader(&q[0], "Idempotency-Key", k0, sizeof k0);
    srvHeader(&q[1], "Idempotency-Key", k1, sizeof k1);
    assert_string_not_equal(k0, k1);
    char at_text[64];
    rfc3339(at, at_text, sizeof at_text);
    assert_true(strchr(at_text, '.') == NULL); /* a whole second, as scheduled */

    /* The outcome: status, the response body, and timings that include the server's 200 ms. */
    const Raftcron__Run *runs[2] = {manual, sched};
    for (int i = 0; i < 2; i++) {
        const Raftcron__Run *r = runs[i];
        char want[64], out[128];
        assert_non_null(r->outcome);
        assert_int_equal(r->outcome->exit_code, 0);
        assert_int_equal(r->outcome->http_status, 200);
        assert_string_equal(r->outcome->error, "");
        snprintf(want, sizeof want, "done %llu", (unsigned long long)r->id);
        assert_string_equal(outputOf(r, out, sizeof out), want);
        const Raftcron__HttpTimings *t = r->outcome->http_timings;
        assert_non_null(t);
        assert_true(t->first_byte_us >= 200 * MS);
        assert_true(t->total_us >= t->first_byte_us);
        assert_true(t->connect_us <= t->first_byte_us);
        assert_true(t->total_us < 10 * SEC);
        assert_true(r->finished_us - r->started_us >= t->total_us - 5 * MS);
        assert_true(r->worker_id >= 1 && r->worker_id <= 3);
    }
    rc_message_free(manual);
    rc_message_free(sched);
    rc_client_close(c);
}

/* A 500 fails each attempt: retried per the policy (3 attempts, 300 ms apart), same
 * Idempotency-Key, attempts 1, 2, 3, fences increasing, then DEAD with the reason. A status
 * outside the job's expect list fails; a server that never answers times the attempt out, and
 * a cancel aborts a request in flight: in both cases the worker closes the connection. */
static void test_http_failures_retries_and_timeout(void **state)
{
    (void)state;
    struct rc_client *c = startCluster();
    struct hook fail, want204, hang;
    hookInit(&fail, "/fail/fails", "POST", "x=1");
    hookInit(&want204, "/ok/want204", NULL, NULL);
    want204.expect[0] = 204;
    want204.http.n_expect_codes = 1;
    want204.http.expect_codes = want204.expect;
    hookInit(&hang, "/hang/hang", NULL, NULL);
    struct hook held;
    hookInit(&held, "/hang/cancel", NULL, NULL);
    const int64_t delay = 300 * MS;
    struct harness_job jf = {.name = "fails",
                             .executor = &fail.ex,
                             .misfire_grace_us = 60 * SEC,
                             .max_instances = 5,
                             .attempts = 3,
                             .backoff = 0,
                             .delay_us = delay,
                             .timeout_us = 10 * SEC};
    struct harness_job je = {
        .name = "want204", .executor = &want204.ex, .attempts = 1, .timeout_us = 10 * SEC};
    struct harness_job jh = {
        .name = "hang", .executor = &hang.ex, .attempts = 1, .timeout_us = 800 * MS};
    harnessPutJob(c, &jf);
    harnessPutJob(c, &je);
    struct harness_job jc = {
        .name = "cancel", .executor = &held.ex, .attempts = 3, .timeout_us = 60 * SEC};
    harnessPutJob(c, &jh);
    harnessPutJob(c, &jc);
    uint64_t idf = runNow(c, "fails");
    uint64_t ide = runNow(c, "want204");
    uint64_t idh = runNow(c, "hang");
    uint64_t idc = runNow(c, "cancel");

    /* 500, retried: three attempts of one run, then dead. */
    Raftcron__Run *r = harnessWaitRun(c, idf, ST_DEAD, 30000);
    assert_int_equal(r->attempt, 3);
    assert_non_null(strstr(r->end_reason, "retries exhausted"));
    assert_int_equal(r->outcome->http_status, 500);
    assert_int_equal(r->outcome->exit_code, 1);
    assert_string_equal(r->outcome->error, "HTTP status 500, expected 2xx");
    char out[128];
    assert_string_equal(outputOf(r, out, sizeof out), "boom");
    struct srv_req q[8];
    assert_int_equal(srvRequests("/fail/fails", q, 8), 3);
    uint64_t prev_fence = 0;
    for (uint32_t i = 0; i < 3; i++) {
        char fence[32];
        assert_true(srvHeader(&q[i], "X-Raftcron-Fence", fence, sizeof fence));
        uint64_t f = strtoull(fence, NULL, 10);
        assert_true(f > prev_fence);
        assertIdentity(&q[i], r, i + 1, f); /* same key and scheduled instant every time */
        assert_string_equal(q[i].method, "POST");
        assert_int_equal(q[i].body_len, 3);
        assert_memory_equal(q[i].body, "x=1", 3);
        if (i > 0) {
            /* Not before the retry delay after the failed attempt (the server's own clock;
             * 10 ms for the clocks' granularity). */
            assert_true(q[i].at_ms - q[i - 1].at_ms >= delay / MS - 10);
        }
        prev_fence = f;
    }
    assert_int_equal(prev_fence, r->fence);
    rc_message_free(r);

    /* 200 where 204 is expected: failed, no retry. */
    r = harnessWaitRun(c, ide, ST_DEAD, 20000);
    assert_int_equal(r->attempt, 1);
    assert_int_equal(r->outcome->http_status, 200);
    assert_string_equal(r->outcome->error, "HTTP status 200, expected 204");
    assert_int_equal(srvRequests("/ok/want204", q, 8), 1);
    assertIdentity(&q[0], r, 1, r->fence);
    assert_string_equal(q[0].method, "GET");
    rc_message_free(r);

    /* No answer: timed out after the job's 800 ms, with libcurl's timeout error. */
    r = harnessWaitRun(c, idh, ST_DEAD, 20000);
    assert_int_equal(r->attempt, 1);
    assert_int_equal(r->outcome->http_status, 0);
    assert_non_null(strstr(r->outcome->error, "(curl 28:"));
    assert_true(r->finished_us - r->started_us >= 800 * MS - 5 * MS);
    assert_true(r->finished_us - r->started_us < 5 * SEC);
    assert_int_equal(srvRequests("/hang/hang", q, 8), 1);
    assertIdentity(&q[0], r, 1, r->fence);
    assert_int_equal(waitCount(srvClosed, "/hang/hang", 1, 5000), 1); /* gave up the request */
    rc_message_free(r);

    /* A cancel reaches the worker and aborts the transfer at once; a cancelled run is not
     * retried. */
    assert_int_equal(waitCount(srvCount, "/hang/cancel", 1, 20000), 1);
    assert_int_equal(srvClosed("/hang/cancel"), 0);
    assert_int_equal(rc_run_cancel(c, idc), 0);
    r = harnessWaitRun(c, idc, ST_CANCELLED, 10000);
    assert_int_equal(r->attempt, 1);
    rc_message_free(r);
    assert_int_equal(waitCount(srvClosed, "/hang/cancel", 1, 5000), 1);
    assert_int_equal(srvCount("/hang/cancel"), 1);
    Raftcron__Job *job = NULL;
    assert_int_equal(rc_job_get(c, "", "hang", 0, &job), 0);
    assert_string_equal(job->last_outcome, "timed_out");
    assert_int_equal(job->runs_total, 1);
    assert_int_equal(job->runs_failed, 1);
    rc_message_free(job);
    assert_int_equal(rc_job_get(c, "", "fails", 0, &job), 0);
    assert_string_equal(job->last_outcome, "failed");
    assert_int_equal(job->runs_total, 3);
    assert_int_equal(job->runs_failed, 3);
    rc_message_free(job);
    rc_client_close(c);
}

/* ---- SQL ---------------------------------------------------------------------------------- */

struct query {
    Raftcron__Executor ex;
    Raftcron__SqlExec sql;
};

static void queryInit(struct query *x, const char *conn, const char *dsn, const char *sql,
                      bool once)
{
    raftcron__executor__init(&x->ex);
    raftcron__sql_exec__init(&x->sql);
    x->sql.conn = (char *)(conn != NULL ? conn : "");
    x->sql.dsn = (char *)(dsn != NULL ? dsn : "");
    x->sql.query = (char *)sql;
    x->sql.dedupe = once;
    x->ex.kind_case = RAFTCRON__EXECUTOR__KIND_SQL;
    x->ex.sql = &x->sql;
}

static long long scalarf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static long long scalarf(const char *fmt, ...)
{
    char sql[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return harnessPgScalar(&pg, sql);
}

/* Poll a count query until it returns want (or timeout_ms passed); returns the last value. */
static long long waitScalar(const char *sql, long long want, int timeout_ms)
{
    int64_t deadline = harnessNowMs() + timeout_ms;
    long long v;
    while ((v = harnessPgScalar(&pg, sql)) != want && harnessNowMs() < deadline) {
        usleep(50000);
    }
    return v;
}

/* Through the named connection (role "app", password from its file) an INSERT of three rows
 * succeeds with the rows affected; a statement on a missing table fails with its SQLSTATE. */
static void test_sql_insert_and_error(void **state)
{
    (void)state;
    harnessPgExec(&pg, "CREATE TABLE items (id serial PRIMARY KEY, note text NOT NULL);"
                       "GRANT ALL ON items, items_id_seq TO app");
    struct rc_client *c = startCluster();
    struct query ins, bad, sel;
    queryInit(&ins, "app", NULL,
              "INSERT INTO items (note) SELECT 'n' || g FROM generate_series(1, 3) g", false);
    queryInit(&bad, NULL, pg.conninfo, "INSERT INTO no_such_table VALUES (1)", false);
    queryInit(&sel, NULL, pg.conninfo, "SELECT 7 AS a, NULL AS b UNION ALL SELECT 8, 'x'", false);
    struct harness_job ji = {.name = "insert", .executor = &ins.ex, .attempts = 1};
    struct harness_job jb = {.name = "bad", .executor = &bad.ex, .attempts = 1};
    struct harness_job js = {.name = "select", .executor = &sel.ex, .attempts = 1};
    harnessPutJob(c, &ji);
    harnessPutJob(c, &jb);
    harnessPutJob(c, &js);
    uint64_t idi = runNow(c, "insert");
    uint64_t idb = runNow(c, "bad");
    uint64_t ids = runNow(c, "select");

    Raftcron__Run *r = harnessWaitRun(c, idi, ST_SUCCEEDED, 20000);
    assert_int_equal(r->outcome->exit_code, 0);
    assert_int_equal(r->outcome->rows, 3);
    assert_string_equal(r->outcome->command_status, "INSERT 0 3");
    assert_string_equal(r->outcome->sqlstate, "");
    assert_string_equal(r->outcome->error, "");
    assert_false(r->outcome->already_done);
    rc_message_free(r);
    assert_int_equal(harnessPgScalar(&pg, "SELECT count(*) FROM items"), 3);
    /* The statement ran as the role of the named connection. */
    assert_int_equal(harnessPgScalar(&pg, "SELECT count(*) FROM pg_stat_activity WHERE "
                                          "usename = 'app' AND application_name = 'raftcron'"),
                     1);

    r = harnessWaitRun(c, idb, ST_DEAD, 20000);
    assert_int_equal(r->outcome->exit_code, 1);
    assert_string_equal(r->outcome->sqlstate, "42P01");
    assert_non_null(strstr(r->outcome->error, "relation \"no_such_table\" does not exist"));
    assert_non_null(strstr(r->outcome->error, "(SQLSTATE 42P01)"));
    assert_non_null(strstr(r->end_reason, "retries exhausted"));
    rc_message_free(r);

    r = harnessWaitRun(c, ids, ST_SUCCEEDED, 20000);
    char out[128];
    assert_int_equal(r->outcome->rows, 2);
    assert_string_equal(r->outcome->command_status, "SELECT 2");
    assert_string_equal(outputOf(r, out, sizeof out), "7\tNULL\n8\tx\n");
    rc_message_free(r);
    assert_int_equal(harnessPgScalar(&pg, "SELECT count(*) FROM items"), 3);

    /* Effect-once with a statement that ends the transaction itself fails the attempt
     * (docs/executors.md, "Effect-once mode"): with ROLLBACK nothing happened, claim included,
     * and with COMMIT the effect and the claim are in, but what follows ran outside it. */
    struct query rb, cm;
    queryInit(&rb, "app", NULL, "INSERT INTO items (note) VALUES ('rb'); ROLLBACK", true);
    queryInit(&cm, "app", NULL, "INSERT INTO items (note) VALUES ('cm'); COMMIT", true);
    struct harness_job jr = {.name = "ends-rollback", .executor = &rb.ex, .attempts = 1};
    struct harness_job jc = {.name = "ends-commit", .executor = &cm.ex, .attempts = 1};
    harnessPutJob(c, &jr);
    harnessPutJob(c, &jc);
    uint64_t idr = runNow(c, "ends-rollback");
    uint64_t idc = runNow(c, "ends-commit");
    r = harnessWaitRun(c, idr, ST_DEAD, 20000);
    assert_int_equal(r->outcome->exit_code, 1);
    assert_non_null(strstr(r->outcome->error, "ended the transaction"));
    rc_message_free(r);
    r = harnessWaitRun(c, idc, ST_DEAD, 20000);
    assert_int_equal(r->outcome->exit_code, 1);
    if (strstr(r->outcome->error, "ended the transaction") == NULL) {
        fail_msg("ends-commit: error \"%s\"", r->outcome->error);
    }
    rc_message_free(r);
    assert_int_equal(harnessPgScalar(&pg, "SELECT count(*) FROM items WHERE note = 'rb'"), 0);
    assert_int_equal(scalarf("SELECT count(*) FROM raftcron_effects WHERE run_id = %llu",
                             (unsigned long long)idr),
                     0);
    rc_client_close(c);
}

/* Effect-once across a lost attempt. The insert's table has a deferred trigger that waits for
 * an advisory lock the test holds, so the first attempt's COMMIT stops inside the server. The
 * test sees the backend waiting in COMMIT, SIGKILLs the node that sent it and lets the lock go:
 * the server commits the claim and the row although the worker is gone and never reported.
 * The worker timeout makes the attempt LOST; attempt 2 on another node finds the claim and
 * succeeds as already done. One row, one claim (of attempt 1, with its fence). */
static void test_sql_once_survives_a_killed_worker(void **state)
{
    (void)state;
    harnessPgExec(&pg, "CREATE TABLE once_items (id serial PRIMARY KEY, note text NOT NULL);"
                       "GRANT ALL ON once_items, once_items_id_seq TO app;"
                       "CREATE FUNCTION gate() RETURNS trigger LANGUAGE plpgsql AS "
                       "$$ BEGIN PERFORM pg_advisory_xact_lock_shared(4242); RETURN NULL; END $$;"
                       "CREATE CONSTRAINT TRIGGER gate AFTER INSERT ON once_items "
                       "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION gate()");
    PGconn *gate = harnessPgConnect(&pg);
    PGresult *res = PQexec(gate, "SELECT pg_advisory_lock(4242)");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);

    struct rc_client *c = startCluster();
    struct query once;
    queryInit(&once, "app", NULL, "INSERT INTO once_items (note) VALUES ('effect')", true);
    struct harness_job j = {.name = "once",
                            .executor = &once.ex,
                            .attempts = 3,
                            .delay_us = 100 * MS,
                            .misfire_grace_us = 60 * SEC,
                            .max_instances = 5};
    harnessPutJob(c, &j);
    uint64_t id = runNow(c, "once");
    Raftcron__Run *r = harnessWaitRun(c, id, ST_RUNNING, 20000);
    uint64_t first_worker = r->worker_id;
    uint64_t first_fence = r->fence;
    int64_t scheduled = r->scheduled_us;
    assert_true(first_worker >= 1 && first_worker <= 3);
    rc_message_free(r);

    /* The first attempt has sent COMMIT and waits for it in the server. */
    assert_int_equal(waitScalar("SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' "
                                "AND wait_event = 'advisory' AND query = 'COMMIT'",
                                1, 20000),
                     1);
    harnessSignal(&H, (int)first_worker, SIGKILL);
    res = PQexec(gate, "SELECT pg_advisory_unlock(4242)");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
    PQfinish(gate);
    /* Committed by the server for the dead worker. */
    assert_int_equal(waitScalar("SELECT count(*) FROM once_items", 1, 20000), 1);

    r = harnessWaitRun(c, id, ST_SUCCEEDED, 40000);
    assert_int_equal(r->attempt, 2);
    assert_int_not_equal(r->worker_id, first_worker);
    assert_true(r->fence > first_fence);
    assert_true(r->outcome->already_done);
    assert_string_equal(r->outcome->command_status, "ALREADY DONE");
    assert_int_equal(r->outcome->exit_code, 0);
    rc_message_free(r);
    assert_int_equal(harnessPgScalar(&pg, "SELECT count(*) FROM once_items"), 1);
    assert_int_equal(
        harnessPgScalar(&pg, "SELECT count(*) FROM raftcron_effects WHERE job = 'default/once'"),
        1);
    assert_int_equal(
        scalarf("SELECT attempt FROM raftcron_effects WHERE run_id = %llu", (unsigned long long)id),
        1);
    assert_int_equal(
        scalarf("SELECT fence FROM raftcron_effects WHERE run_id = %llu", (unsigned long long)id),
        (long long)first_fence);
    assert_int_equal(scalarf("SELECT count(*) FROM raftcron_effects WHERE run_id = %llu AND "
                             "job = 'default/once' AND "
                             "scheduled_at = to_timestamp(0) + %lld * interval '1 microsecond'",
                             (unsigned long long)id, (long long)scheduled),
                     1);
    rc_client_close(c);
}

/* ---- A worker agent ------------------------------------------------------------------------ */

/* The webhook and an insert through the agent's own named connection, targeted at a tag only
 * the agent (raftcrond --worker) has: they run there, with the same contract. */
static void test_agent_runs_http_and_sql_jobs(void **state)
{
    (void)state;
    harnessPgExec(&pg, "CREATE TABLE edge_items (id serial PRIMARY KEY, note text NOT NULL);"
                       "GRANT ALL ON edge_items, edge_items_id_seq TO app");
    struct rc_client *c = startCluster();
    const char *const agent[] = {"--tags", "zone=edge", "--config", configFile(), NULL};
    harnessStartAgent(&H, 5, 3, agent);
    struct hook x;
    hookInit(&x, "/ok/edge-hook", "PUT", HOOK_BODY);
    hookHeaders(&x);
    struct query ins;
    queryInit(&ins, "app", NULL, "INSERT INTO edge_items (note) VALUES ('a'), ('b')", false);
    struct harness_job jh = {.name = "edge-hook",
                             .executor = &x.ex,
                             .zone = "edge",
                             .misfire_grace_us = 60 * SEC,
                             .max_instances = 5,
                             .timeout_us = 10 * SEC};
    struct harness_job js = {.name = "edge-sql", .executor = &ins.ex, .zone = "edge"};
    harnessPutJob(c, &jh);
    harnessPutJob(c, &js);
    uint64_t ids[2] = {runNow(c, "edge-hook"), runNow(c, "edge-hook")};
    uint64_t idq = runNow(c, "edge-sql");

    struct srv_req q[4];
    for (int i = 0; i < 2; i++) {
        Raftcron__Run *r = harnessWaitRun(c, ids[i], ST_SUCCEEDED, 30000);
        assert_int_equal(r->worker_id, 5);
        assert_int_equal(r->outcome->http_status, 200);
        char want[64], out[128];
        snprintf(want, sizeof want, "done %llu", (unsigned long long)r->id);
        assert_string_equal(outputOf(r, out, sizeof out), want);
        size_t n = srvRequests("/ok/edge-hook", q, 4);
        assert_true(n >= (size_t)i + 1);
        bool found = false;
        for (size_t k = 0; k < n && k < 4; k++) {
            char key[32];
            srvHeader(&q[k], "Idempotency-Key", key, sizeof key);
            if (strtoull(key, NULL, 10) == r->id) {
                assert_false(found);
                found = true;
                assertHookRequest(&q[k], r);
            }
        }
        assert_true(found);
        rc_message_free(r);
    }
    assert_int_equal(srvRequests("/ok/edge-hook", q, 4), 2);

    Raftcron__Run *r = harnessWaitRun(c, idq, ST_SUCCEEDED, 30000);
    assert_int_equal(r->worker_id, 5);
    assert_int_equal(r->outcome->rows, 2);
    assert_string_equal(r->outcome->command_status, "INSERT 0 2");
    rc_message_free(r);
    assert_int_equal(harnessPgScalar(&pg, "SELECT count(*) FROM edge_items"), 2);
    rc_client_close(c);
}

/* ---- Fixtures ----------------------------------------------------------------------------- */

static int groupSetup(void **state)
{
    (void)state;
    harnessPgStart(&pg);
    return 0;
}

static int groupTeardown(void **state)
{
    (void)state;
    harnessPgClose(&pg);
    return 0;
}

static int setup(void **state)
{
    srvStart();
    return harnessSetup(state);
}

static int teardown(void **state)
{
    int rv = harnessTeardown(state);
    srvStop();
    return rv;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_http_job_by_schedule_and_run_now, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_failures_retries_and_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sql_insert_and_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sql_once_survives_a_killed_worker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_runs_http_and_sql_jobs, setup, teardown),
    };
    if (getenv("RC_TEST_FILTER") != NULL) {
        cmocka_set_test_filter(getenv("RC_TEST_FILTER")); /* e.g. "test_sql_*" */
    }
    return cmocka_run_group_tests(tests, groupSetup, groupTeardown);
}
