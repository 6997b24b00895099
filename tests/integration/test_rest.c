/*
 * The REST API (docs/rest.md) against real nodes on 127.0.0.1, with real HTTP requests:
 *   - jobs: create on a follower (forwarded to the leader), read, replace and patch with
 *     If-Match (412 on a stale version), pause, resume, run now, delete; refusals of malformed
 *     JSON, unknown keys, oversized bodies and query parameters that name what is wrong and
 *     commit nothing; /health, /ready, the OpenAPI document; /metrics accepted by promtool on
 *     the leader and a follower;
 *   - pages: more than 5,000 runs listed page by page, each exactly once, newest first, and the
 *     statistics equal to what the ledger holds; raftcronctl run list past 1,000;
 *   - auth: bearer JWTs (HS256 from a key file, ES256 from a PEM, RS256 from a JWKS) and the
 *     shared secret; missing, expired, not-yet-valid, wrong-issuer, wrong-audience, forged,
 *     unsigned and algorithm-confused tokens refused (401); roles per namespace (reader,
 *     operator, editor, admin) enforced alike on REST and RPC; another tenant's objects answered
 *     404 with the words of a missing one; lists and event streams showing only the caller's;
 *   - events: a server-sent event stream resumed with Last-Event-ID on another node without gap
 *     or repeat, the RPC watch (raftcronctl events) carrying the same events, and the gap a
 *     resume too far back is told.
 */
#include <jansson.h>
#include <jwt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "api.pb-c.h"
#include "core/runs.h"
#include "harness.h"
#include "raftcron/client.h"
#include "rest_client.h"

#define TIMEOUT_US (10 * INT64_C(1000000))

static void addr(int id, char *buf)
{
    harnessHttpAddr(&H, id, buf, 64);
}

static void expectStatus(struct rest_reply *r, long want, const char *what)
{
    if (r->status != want) {
        fail_msg("%s: status %ld, want %ld: %s", what, r->status, want, r->body);
    }
}

/* Poll until GET path on node id answers want (e.g. a follower catching up). */
static struct rest_reply pollGet(int id, const char *path, const char *token, long want)
{
    char a[64];
    addr(id, a);
    int64_t deadline = harnessNowMs() + 15000;
    for (;;) {
        struct rest_reply r = restDo("GET", a, path, NULL, token, NULL);
        if (r.status == want || harnessNowMs() > deadline) {
            expectStatus(&r, want, path);
            return r;
        }
        restFree(&r);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static uint64_t startCluster(int n, const char *const *extra)
{
    H.http = true;
    uint64_t leader = harnessStartCluster(&H, n, extra);
    assert_true(leader != 0);
    for (int id = 1; id <= n; id++) {
        struct rest_reply r = pollGet(id, "/ready", NULL, 200);
        restFree(&r);
    }
    return leader;
}

static int follower(uint64_t leader, int n)
{
    for (int id = 1; id <= n; id++) {
        if ((uint64_t)id != leader) {
            return id;
        }
    }
    return 0;
}

/* ---- Jobs ------------------------------------------------------------------------------------ */

static void checkPromtool(int id)
{
    char a[64], path[400], out[4096];
    addr(id, a);
    struct rest_reply m = restDo("GET", a, "/metrics", NULL, NULL, NULL);
    expectStatus(&m, 200, "/metrics");
    assert_non_null(strstr(m.body, "# TYPE raftcron_raft_term gauge"));
    assert_non_null(strstr(m.body, "raftcron_rpc_requests_total{method=\"Job.Put\",code="));
    snprintf(path, sizeof path, "%s/metrics-%d.txt", H.dir, id);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fwrite(m.body, 1, m.len, f);
    fclose(f);
    restFree(&m);
    if (harnessRun(out, sizeof out, "command -v promtool") != 0) {
        fail_msg("promtool not found (scripts/install-deps installs prometheus)");
    }
    int rc = harnessRun(out, sizeof out, "promtool check metrics < %s", path);
    if (rc != 0) {
        fail_msg("promtool check metrics refused /metrics of node %d: %s", id, out);
    }
}

static void test_jobs(void **state)
{
    (void)state;
    const char *extra[] = {"--http-max-body", "4096", NULL};
    uint64_t leader = startCluster(3, extra);
    int fid = follower(leader, 3);
    char f[64], l[64];
    addr(fid, f);
    addr((int)leader, l);

    /* Create on a follower: forwarded to the leader. */
    struct rest_reply r =
        restDo("POST", f, "/v1/namespaces/ops/jobs",
               "{\"name\":\"backup\",\"cron\":\"0 3 * * *\",\"tz\":\"Europe/"
               "Berlin\",\"noop\":true,\"retries\":2,\"env\":{\"MODE\":\"full\"}}",
               NULL, NULL);
    expectStatus(&r, 201, "create on a follower");
    assert_string_equal(r.etag, "\"1\"");
    assert_string_equal(r.location, "/v1/namespaces/ops/jobs/backup");
    assert_string_equal(json_string_value(json_object_get(r.json, "tz")), "Europe/Berlin");
    assert_int_equal(json_integer_value(json_object_get(r.json, "retries")), 2);
    restFree(&r);
    r = restDo("POST", l, "/v1/namespaces/ops/jobs",
               "{\"name\":\"backup\",\"every\":\"1h\",\"noop\":true}", NULL, NULL);
    expectStatus(&r, 409, "create again");
    assert_string_equal(restErrCode(&r), "ALREADY_EXISTS");
    restFree(&r);

    /* Reads on every node: forwarded (linearizable), or stale from the node itself. */
    r = restDo("GET", f, "/v1/namespaces/ops/jobs/backup", NULL, NULL, NULL);
    expectStatus(&r, 200, "read on a follower");
    assert_string_equal(json_string_value(json_object_get(r.json, "cron")), "0 3 * * *");
    restFree(&r);
    r = pollGet(fid, "/v1/namespaces/ops/jobs/backup?stale=true", NULL, 200);
    restFree(&r);
    const char *inm[] = {"If-None-Match: \"1\"", NULL};
    r = restDo("GET", l, "/v1/namespaces/ops/jobs/backup", NULL, NULL, inm);
    expectStatus(&r, 304, "If-None-Match");
    restFree(&r);

    /* Replace with If-Match; a stale If-Match is 412 and changes nothing. */
    const char *m1[] = {"If-Match: \"1\"", NULL};
    r = restDo("PUT", f, "/v1/namespaces/ops/jobs/backup", "{\"cron\":\"0 4 * * *\",\"noop\":true}",
               NULL, m1);
    expectStatus(&r, 200, "PUT If-Match 1");
    assert_string_equal(r.etag, "\"2\"");
    restFree(&r);
    r = restDo("PUT", l, "/v1/namespaces/ops/jobs/backup", "{\"cron\":\"0 5 * * *\",\"noop\":true}",
               NULL, m1);
    expectStatus(&r, 412, "PUT with a stale If-Match");
    restFree(&r);
    r = restDo("PATCH", l, "/v1/namespaces/ops/jobs/backup", "{\"description\":\"nightly\"}", NULL,
               m1);
    expectStatus(&r, 412, "PATCH with a stale If-Match");
    restFree(&r);

    /* Patch (merge): the rest of the definition stays; paused in the body pauses. */
    const char *m2[] = {"If-Match: \"2\"", NULL};
    r = restDo("PATCH", f, "/v1/namespaces/ops/jobs/backup",
               "{\"description\":\"nightly\",\"paused\":true,\"env\":{\"MODE\":null,\"B\":\"2\"}}",
               NULL, m2);
    expectStatus(&r, 200, "PATCH");
    assert_string_equal(json_string_value(json_object_get(r.json, "cron")), "0 4 * * *");
    assert_string_equal(json_string_value(json_object_get(r.json, "description")), "nightly");
    assert_true(json_is_true(json_object_get(r.json, "paused")));
    json_t *env = json_object_get(r.json, "env");
    assert_null(json_object_get(env, "MODE"));
    assert_string_equal(json_string_value(json_object_get(env, "B")), "2");
    restFree(&r);
    r = restDo("POST", f, "/v1/namespaces/ops/jobs/backup:resume", NULL, NULL, NULL);
    expectStatus(&r, 200, ":resume");
    assert_true(json_is_false(json_object_get(r.json, "paused")));
    restFree(&r);

    /* Run now: a run that the noop executor finishes. */
    r = restDo("POST", f, "/v1/namespaces/ops/jobs/backup:run-now", "{\"force\":true}", NULL, NULL);
    expectStatus(&r, 202, ":run-now");
    json_int_t run = json_integer_value(json_object_get(r.json, "run_id"));
    assert_true(run > 0);
    char path[128];
    snprintf(path, sizeof path, "/v1/runs/%lld", (long long)run);
    assert_string_equal(r.location, path);
    restFree(&r);
    int64_t deadline = harnessNowMs() + 15000;
    for (;;) {
        r = restDo("GET", l, path, NULL, NULL, NULL);
        expectStatus(&r, 200, path);
        if (strcmp(json_string_value(json_object_get(r.json, "state")), "succeeded") == 0) {
            assert_true(json_is_true(json_object_get(r.json, "manual")));
            restFree(&r);
            break;
        }
        restFree(&r);
        assert_true(harnessNowMs() < deadline);
        usleep(20000);
    }
    r = restDo("POST", l, "/v1/namespaces/ops/jobs/backup:pause", NULL, NULL, NULL);
    expectStatus(&r, 200, ":pause");
    assert_true(json_is_true(json_object_get(r.json, "paused")));
    restFree(&r);
    r = restDo("GET", f, "/v1/namespaces/ops/jobs/backup/stats", NULL, NULL, NULL);
    expectStatus(&r, 200, "stats");
    assert_int_equal(json_integer_value(json_object_get(r.json, "runs_total")), 1);
    assert_int_equal(json_integer_value(json_object_get(r.json, "runs_manual")), 1);
    assert_int_equal(json_integer_value(json_object_get(r.json, "succeeded")), 1);
    restFree(&r);
    r = restDo("GET", l, "/v1/namespaces/ops/jobs/backup/next?n=3", NULL, NULL, NULL);
    expectStatus(&r, 200, "next");
    restFree(&r);

    /* Malformed requests: 4xx naming what is wrong, and nothing committed. */
    static const struct {
        const char *method, *path, *body;
        long status;
        const char *field, *needle;
    } bad[] = {
        {"POST", "/v1/namespaces/ops/jobs", "{\"name\":\"m1\",", 400, "body", "body:"},
        {"POST", "/v1/namespaces/ops/jobs",
         "{\"name\":\"m2\",\"every\":\"1s\",\"noop\":true,"
         "\"cronn\":\"x\"}",
         400, "cronn", "unknown key \"cronn\""},
        {"POST", "/v1/namespaces/ops/jobs",
         "{\"name\":\"m3\",\"cron\":\"* * 99 * *\","
         "\"noop\":true}",
         400, "cron", "cron: field 3"},
        {"POST", "/v1/namespaces/ops/jobs", "{\"name\":\"m4\",\"every\":\"1s\"}", 400, "body",
         "an executor is required"},
        {"PUT", "/v1/namespaces/ops/jobs/m5", "{\"name\":\"other\",\"every\":\"1s\",\"noop\":true}",
         400, "name", "does not match"},
        {"POST", "/v1/namespaces/b%20d/jobs", "{}", 400, "namespace", ""},
        {"GET", "/v1/namespaces/ops/jobs?colour=red", NULL, 400, "colour", "unknown query"},
        {"GET", "/v1/namespaces/ops/runs?limit=5000", NULL, 400, "limit", "limit:"},
        {"GET", "/v1/namespaces/ops/runs?page_token=zz", NULL, 400, "", "page_token"},
        {"POST", "/v1/namespaces/ops/jobs/backup:run-now", "{\"forse\":true}", 400, "forse",
         "unknown key"},
        {"POST", "/v1/namespaces/ops/jobs/backup:explode", NULL, 400, "", "not pause"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = restDo(bad[i].method, i % 2 ? f : l, bad[i].path, bad[i].body, NULL, NULL);
        expectStatus(&r, bad[i].status, bad[i].path);
        assert_string_equal(restErrCode(&r), "INVALID_ARGUMENT");
        if (strcmp(restErrField(&r), bad[i].field) != 0 ||
            strstr(restErrMessage(&r), bad[i].needle) == NULL) {
            fail_msg("%s %s: field \"%s\", message \"%s\"", bad[i].method, bad[i].path,
                     restErrField(&r), restErrMessage(&r));
        }
        restFree(&r);
    }
    char big[8192];
    snprintf(big, sizeof big, "{\"name\":\"m6\",\"every\":\"1s\",\"noop\":true,\"description\":\"");
    size_t n = strlen(big);
    memset(big + n, 'x', 5000);
    snprintf(big + n + 5000, sizeof big - n - 5000, "\"}");
    r = restDo("POST", l, "/v1/namespaces/ops/jobs", big, NULL, NULL);
    expectStatus(&r, 413, "oversized body");
    assert_string_equal(restErrField(&r), "body");
    restFree(&r);
    r = restDo("DELETE", l, "/v1/jobs", NULL, NULL, NULL);
    expectStatus(&r, 405, "DELETE /v1/jobs");
    restFree(&r);
    r = restDo("GET", l, "/v1/nothing", NULL, NULL, NULL);
    expectStatus(&r, 404, "/v1/nothing");
    restFree(&r);
    r = restDo("GET", l, "/v1/namespaces/ops/jobs", NULL, NULL, NULL);
    expectStatus(&r, 200, "list");
    assert_int_equal(json_array_size(json_object_get(r.json, "jobs")), 1); /* only backup */
    restFree(&r);

    /* Delete with If-Match. */
    r = restDo("DELETE", f, "/v1/namespaces/ops/jobs/backup", NULL, NULL, m1);
    expectStatus(&r, 412, "DELETE with a stale If-Match");
    restFree(&r);
    r = restDo("DELETE", f, "/v1/namespaces/ops/jobs/backup", NULL, NULL, NULL);
    expectStatus(&r, 204, "DELETE");
    restFree(&r);
    r = restDo("GET", l, "/v1/namespaces/ops/jobs/backup", NULL, NULL, NULL);
    expectStatus(&r, 404, "deleted");
    assert_string_equal(restErrMessage(&r), "job ops/backup not found");
    restFree(&r);

    /* The open pages. */
    r = restDo("GET", f, "/health", NULL, NULL, NULL);
    expectStatus(&r, 200, "/health");
    assert_string_equal(json_string_value(json_object_get(r.json, "role")), "follower");
    assert_int_equal(json_integer_value(json_object_get(r.json, "leader_id")), (json_int_t)leader);
    restFree(&r);
    r = restDo("GET", l, "/v1/openapi.json", NULL, NULL, NULL);
    expectStatus(&r, 200, "openapi");
    assert_non_null(
        json_object_get(json_object_get(r.json, "paths"), "/v1/namespaces/{ns}/jobs/{name}"));
    restFree(&r);
    r = restDo("GET", l, "/v1/cluster", NULL, NULL, NULL);
    expectStatus(&r, 200, "cluster");
    assert_int_equal(json_array_size(json_object_get(r.json, "members")), 3);
    restFree(&r);
    checkPromtool((int)leader);
    checkPromtool(fid);
}

/* ---- Pages and statistics -------------------------------------------------------------------- */

#define PAGE_JOBS 10
#define PAGE_RUNS 5200

static json_int_t statOf(const char *a, int j, const char *key)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/namespaces/p/jobs/j%d/stats", j);
    struct rest_reply r = restDo("GET", a, path, NULL, NULL, NULL);
    expectStatus(&r, 200, path);
    json_int_t v = json_integer_value(json_object_get(r.json, key));
    restFree(&r);
    return v;
}

static void test_pages(void **state)
{
    (void)state;
    const char *extra[] = {"--history-runs", "10000", "--max-parallel", "200", NULL};
    startCluster(1, extra);
    char a[64];
    addr(1, a);
    for (int j = 0; j < PAGE_JOBS; j++) {
        char body[160];
        snprintf(body, sizeof body, "{\"name\":\"j%d\",\"every\":\"10ms\",\"noop\":true}", j);
        struct rest_reply r = restDo("POST", a, "/v1/namespaces/p/jobs", body, NULL, NULL);
        expectStatus(&r, 201, "create");
        restFree(&r);
    }
    /* Until more than PAGE_RUNS runs exist, then stop every job and let their runs end. */
    int64_t deadline = harnessNowMs() + 240000;
    for (;;) {
        json_int_t total = 0;
        for (int j = 0; j < PAGE_JOBS; j++) {
            total += statOf(a, j, "runs_total");
        }
        if (total >= PAGE_RUNS) {
            break;
        }
        assert_true(harnessNowMs() < deadline);
        usleep(200 * 1000);
    }
    for (int j = 0; j < PAGE_JOBS; j++) {
        char path[128];
        snprintf(path, sizeof path, "/v1/namespaces/p/jobs/j%d:pause", j);
        struct rest_reply r = restDo("POST", a, path, NULL, NULL, NULL);
        expectStatus(&r, 200, path);
        restFree(&r);
    }
    for (int j = 0; j < PAGE_JOBS; j++) {
        while (statOf(a, j, "active") != 0) {
            assert_true(harnessNowMs() < deadline);
            usleep(50 * 1000);
        }
    }
    /* Every run once, newest first, across pages of 1000 (the last one short). */
    json_int_t max_id = 0, prev = INT64_MAX;
    size_t seen = 0, pages = 0;
    json_int_t per_job[PAGE_JOBS] = {0}, ok_job[PAGE_JOBS] = {0};
    char token[128] = "";
    do {
        char path[256];
        snprintf(path, sizeof path, "/v1/namespaces/p/runs?limit=1000%s%s",
                 token[0] != '\0' ? "&page_token=" : "", token);
        struct rest_reply r = restDo("GET", a, path, NULL, NULL, NULL);
        expectStatus(&r, 200, path);
        json_t *runs = json_object_get(r.json, "runs");
        size_t i;
        json_t *run;
        json_array_foreach(runs, i, run)
        {
            json_int_t id = json_integer_value(json_object_get(run, "id"));
            assert_true(id < prev); /* strictly newest first: no repeat */
            prev = id;
            max_id = id > max_id ? id : max_id;
            int j = atoi(json_string_value(json_object_get(run, "name")) + 1);
            per_job[j]++;
            ok_job[j] += strcmp(json_string_value(json_object_get(run, "state")), "succeeded") == 0;
            seen++;
        }
        const char *next = json_string_value(json_object_get(r.json, "next_page_token"));
        snprintf(token, sizeof token, "%s", next != NULL ? next : "");
        assert_true(next == NULL || json_array_size(runs) == 1000);
        restFree(&r);
        pages++;
    } while (token[0] != '\0');
    /* Ids are given from one counter and every run is held: 1..max, each exactly once. */
    assert_int_equal(prev, 1);
    assert_int_equal(seen, (size_t)max_id);
    assert_true(seen >= PAGE_RUNS);
    assert_int_equal(pages, (seen + 999) / 1000);
    /* The statistics agree with the ledger. */
    for (int j = 0; j < PAGE_JOBS; j++) {
        assert_int_equal(statOf(a, j, "runs_total"), per_job[j]);
        assert_int_equal(statOf(a, j, "succeeded"), ok_job[j]);
        assert_int_equal(statOf(a, j, "fired"), per_job[j]);
    }
    /* raftcronctl follows the RPC's pages past 1000 too. */
    char out[64];
    char cmd[1024], endpoints[128];
    harnessEndpoints(&H, 1, endpoints, sizeof endpoints);
    snprintf(cmd, sizeof cmd,
             "%s/raftcronctl --endpoints %s -o json run list --namespace p --limit 5100 | "
             "python3 -c 'import json,sys; r=json.load(sys.stdin)[\"runs\"]; "
             "i=[x[\"id\"] for x in r]; assert len(i)==len(set(i))==5100 and "
             "i==sorted(i,reverse=True), len(i); print(len(i))'",
             H.bin, endpoints);
    int rc = harnessRun(out, sizeof out, "%s", cmd);
    if (rc != 0) {
        fail_msg("run list --limit 5100: %s", out);
    }
    assert_int_equal(atoi(out), 5100);
}

/* ---- Auth ------------------------------------------------------------------------------------ */

static char keydir[300];

static void b64url(const unsigned char *in, size_t len, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[n++] = tab[(acc >> bits) & 63];
        }
    }
    if (bits > 0) {
        out[n++] = tab[(acc << (6 - bits)) & 63];
    }
    out[n] = '\0';
}

static char *readAll(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 16);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    return buf;
}

/* The keys: an HS256 secret, an ES256 pair (PEM), an RSA pair published in a JWKS (kid k1),
 * and a second EC pair nobody trusts. */
static void makeKeys(void)
{
    char out[4096];
    snprintf(keydir, sizeof keydir, "%s/keys", H.dir);
    int rc =
        harnessRun(out, sizeof out,
                   "set -e; mkdir -p %s; cd %s; head -c 48 /dev/urandom | base64 > hs.key; "
                   "openssl ecparam -genkey -name prime256v1 -noout -out ec.pem 2>/dev/null; "
                   "openssl ec -in ec.pem -pubout -out ec.pub 2>/dev/null; "
                   "openssl ecparam -genkey -name prime256v1 -noout -out evil.pem 2>/dev/null; "
                   "openssl genrsa -out rsa.pem 2048 2>/dev/null; "
                   "openssl rsa -in rsa.pem -noout -modulus | cut -d= -f2 > rsa.mod",
                   keydir, keydir);
    if (rc != 0) {
        fail_msg("key generation: %s", out);
    }
    char path[400];
    size_t len;
    snprintf(path, sizeof path, "%s/rsa.mod", keydir);
    char *hex = readAll(path, &len);
    unsigned char mod[512];
    size_t m = 0;
    for (size_t i = 0; i + 1 < len && hex[i] != '\n'; i += 2) {
        unsigned v;
        sscanf(hex + i, "%2x", &v);
        mod[m++] = (unsigned char)v;
    }
    free(hex);
    char n[800];
    b64url(mod, m, n);
    snprintf(path, sizeof path, "%s/jwks.json", keydir);
    FILE *f = fopen(path, "w");
    fprintf(f,
            "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k1\",\"use\":\"sig\",\"alg\":\"RS256\","
            "\"n\":\"%s\",\"e\":\"AQAB\"}]}\n",
            n);
    fclose(f);
}

struct claims {
    jwt_alg_t alg;
    const char *keyfile; /* in keydir; NULL: the HS256 secret */
    const char *kid;
    const char *roles; /* the raftcron claim (JSON) */
    long exp_in;       /* seconds from now (negative: expired) */
    long nbf_in;       /* 0: none */
    const char *iss;
    const char *aud;
};

static char *mint(const struct claims *c)
{
    jwt_t *jwt;
    assert_int_equal(jwt_new(&jwt), 0);
    long now = (long)time(NULL);
    jwt_add_grant(jwt, "sub", "tester");
    jwt_add_grant(jwt, "iss", c->iss != NULL ? c->iss : "https://idp.test");
    jwt_add_grant(jwt, "aud", c->aud != NULL ? c->aud : "raftcron");
    jwt_add_grant_int(jwt, "exp", now + c->exp_in);
    if (c->nbf_in != 0) {
        jwt_add_grant_int(jwt, "nbf", now + c->nbf_in);
    }
    char roles[512];
    snprintf(roles, sizeof roles, "{\"raftcron\":%s}", c->roles);
    assert_int_equal(jwt_add_grants_json(jwt, roles), 0);
    if (c->kid != NULL) {
        jwt_add_header(jwt, "kid", c->kid);
    }
    char path[400];
    size_t len;
    snprintf(path, sizeof path, "%s/%s", keydir, c->keyfile != NULL ? c->keyfile : "hs.key");
    char *key = readAll(path, &len);
    if (c->keyfile == NULL && len > 0 && key[len - 1] == '\n') {
        len--; /* the node drops one trailing newline */
    }
    if (c->alg != JWT_ALG_NONE) {
        assert_int_equal(jwt_set_alg(jwt, c->alg, (unsigned char *)key, (int)len), 0);
    }
    char *token = jwt_encode_str(jwt);
    assert_non_null(token);
    free(key);
    jwt_free(jwt);
    return token;
}

static char *role(const char *roles)
{
    struct claims c = {.alg = JWT_ALG_HS256, .roles = roles, .exp_in = 600};
    return mint(&c);
}

static void expect401(const char *a, const char *token, const char *needle)
{
    struct rest_reply r = restDo("GET", a, "/v1/namespaces/a/jobs", NULL, token, NULL);
    expectStatus(&r, 401, needle);
    assert_string_equal(restErrCode(&r), "UNAUTHENTICATED");
    assert_non_null(strstr(r.www_auth, "Bearer"));
    if (strstr(restErrMessage(&r), needle) == NULL) {
        fail_msg("401 message \"%s\" lacks \"%s\"", restErrMessage(&r), needle);
    }
    restFree(&r);
}

static long call(const char *method, const char *a, const char *path, const char *body,
                 const char *token)
{
    struct rest_reply r = restDo(method, a, path, body, token, NULL);
    long s = r.status;
    restFree(&r);
    return s;
}

/* The same calls over the RPC with the same token: the same verdicts. */
static int rpcPut(const char *token, const char *ns, const char *name)
{
    char endpoints[128];
    harnessEndpoints(&H, 1, endpoints, sizeof endpoints);
    struct rc_client_options o = {
        .endpoints = endpoints, .timeout_us = TIMEOUT_US, .auth_token = token};
    struct rc_client *c;
    assert_int_equal(rc_client_open(&o, &c), 0);
    Raftcron__JobSpec spec = RAFTCRON__JOB_SPEC__INIT;
    Raftcron__Trigger tr = RAFTCRON__TRIGGER__INIT;
    Raftcron__Executor ex = RAFTCRON__EXECUTOR__INIT;
    Raftcron__NoopExec noop = RAFTCRON__NOOP_EXEC__INIT;
    spec.namespace_ = (char *)ns;
    spec.name = (char *)name;
    tr.kind_case = RAFTCRON__TRIGGER__KIND_CRON;
    tr.cron = "0 0 1 1 *";
    ex.kind_case = RAFTCRON__EXECUTOR__KIND_NOOP;
    ex.noop = &noop;
    spec.trigger = &tr;
    spec.executor = &ex;
    int rv = rc_job_put(c, &spec, 0, 0, NULL);
    rc_client_close(c);
    return rv;
}

static int rpcGet(const char *token, const char *ns, const char *name, char *msg, size_t len)
{
    char endpoints[128];
    harnessEndpoints(&H, 1, endpoints, sizeof endpoints);
    struct rc_client_options o = {
        .endpoints = endpoints, .timeout_us = TIMEOUT_US, .auth_token = token};
    struct rc_client *c;
    assert_int_equal(rc_client_open(&o, &c), 0);
    Raftcron__Job *job = NULL;
    int rv = rc_job_get(c, ns, name, 0, &job);
    snprintf(msg, len, "%s", rc_client_errmsg(c));
    rc_message_free(job);
    rc_client_close(c);
    return rv;
}

static void test_auth(void **state)
{
    (void)state;
    makeKeys();
    char hs[400], ec[400], jwks[400];
    snprintf(hs, sizeof hs, "%s/hs.key", keydir);
    snprintf(ec, sizeof ec, "%s/ec.pub", keydir);
    snprintf(jwks, sizeof jwks, "%s/jwks.json", keydir);
    const char *extra[] = {"--auth-token",
                           "s3cret-admin-token",
                           "--auth-jwt-hs256-key-file",
                           hs,
                           "--auth-jwt-public-key-file",
                           ec,
                           "--auth-jwt-jwks-file",
                           jwks,
                           "--auth-jwt-issuer",
                           "https://idp.test",
                           "--auth-jwt-audience",
                           "raftcron",
                           "--auth-jwt-leeway",
                           "5s",
                           NULL};
    H.token = "s3cret-admin-token";
    startCluster(1, extra);
    char a[64];
    addr(1, a);
    const char *admin = H.token;

    /* Refused credentials: 401 on REST (with the reason), UNAUTHENTICATED on RPC. */
    expect401(a, NULL, "no credential");
    expect401(a, "s3cret-admin-tokeN", "not the shared secret and not a JWT");
    struct claims c = {.alg = JWT_ALG_HS256, .roles = "{\"admin\":true}", .exp_in = -60};
    char *t = mint(&c);
    expect401(a, t, "exp: expired");
    free(t);
    c = (struct claims){
        .alg = JWT_ALG_HS256, .roles = "{\"admin\":true}", .exp_in = 600, .nbf_in = 300};
    t = mint(&c);
    expect401(a, t, "nbf: not valid before");
    free(t);
    c = (struct claims){
        .alg = JWT_ALG_HS256, .roles = "{\"admin\":true}", .exp_in = 600, .aud = "someone-else"};
    t = mint(&c);
    expect401(a, t, "aud:");
    free(t);
    c = (struct claims){.alg = JWT_ALG_HS256,
                        .roles = "{\"admin\":true}",
                        .exp_in = 600,
                        .iss = "https://evil.test"};
    t = mint(&c);
    expect401(a, t, "iss:");
    free(t);
    c = (struct claims){
        .alg = JWT_ALG_ES256, .keyfile = "evil.pem", .roles = "{\"admin\":true}", .exp_in = 600};
    t = mint(&c);
    expect401(a, t, "signature does not verify");
    free(t);
    /* alg confusion: HS256 keyed with the node's public EC key. */
    c = (struct claims){
        .alg = JWT_ALG_HS256, .keyfile = "ec.pub", .roles = "{\"admin\":true}", .exp_in = 600};
    t = mint(&c);
    expect401(a, t, "signature does not verify");
    free(t);
    c = (struct claims){.alg = JWT_ALG_NONE, .roles = "{\"admin\":true}", .exp_in = 600};
    t = mint(&c);
    expect401(a, t, "alg \"none\" is not accepted");
    free(t);
    assert_int_equal(rpcPut(NULL, "a", "x"), RC_EDENIED);

    /* Accepted: the shared secret, HS256, ES256 (PEM) and RS256 (JWKS, by kid). */
    assert_int_equal(call("POST", a, "/v1/namespaces/a/jobs",
                          "{\"name\":\"ja\",\"cron\":\"0 0 1 1 *\",\"noop\":true}", admin),
                     201);
    assert_int_equal(call("POST", a, "/v1/namespaces/b/jobs",
                          "{\"name\":\"jb\",\"cron\":\"0 0 1 1 *\",\"noop\":true}", admin),
                     201);
    c = (struct claims){.alg = JWT_ALG_ES256,
                        .keyfile = "ec.pem",
                        .roles = "{\"namespaces\":{\"a\":\"reader\"}}",
                        .exp_in = 600};
    char *es_reader = mint(&c);
    c = (struct claims){.alg = JWT_ALG_RS256,
                        .keyfile = "rsa.pem",
                        .kid = "k1",
                        .roles = "{\"namespaces\":{\"a\":\"editor\"}}",
                        .exp_in = 600};
    char *rs_editor = mint(&c);
    c.kid = "k2";
    char *rs_unknown = mint(&c);
    expect401(a, rs_unknown, "no RS256 key with kid \"k2\"");
    free(rs_unknown);
    char *reader = role("{\"namespaces\":{\"a\":\"reader\"}}");
    char *operator= role("{\"namespaces\":{\"a\":\"operator\"}}");
    char *jwt_admin = role("{\"admin\":true}");

    /* reader of a: reads a, writes nothing, sees nothing of b */
    assert_int_equal(call("GET", a, "/v1/namespaces/a/jobs/ja", NULL, es_reader), 200);
    assert_int_equal(call("GET", a, "/v1/namespaces/a/jobs/ja", NULL, reader), 200);
    assert_int_equal(call("POST", a, "/v1/namespaces/a/jobs/ja:pause", NULL, reader), 403);
    assert_int_equal(call("POST", a, "/v1/namespaces/a/jobs",
                          "{\"name\":\"r1\",\"every\":\"1h\",\"noop\":true}", reader),
                     403);
    struct rest_reply hidden = restDo("GET", a, "/v1/namespaces/b/jobs/jb", NULL, reader, NULL);
    struct rest_reply missing = restDo("GET", a, "/v1/namespaces/b/jobs/nope", NULL, admin, NULL);
    expectStatus(&hidden, 404, "another tenant's job");
    expectStatus(&missing, 404, "a missing job");
    assert_string_equal(restErrMessage(&hidden), "job b/jb not found");
    assert_string_equal(restErrCode(&hidden), restErrCode(&missing));
    restFree(&hidden);
    restFree(&missing);
    assert_int_equal(call("DELETE", a, "/v1/namespaces/b/jobs/jb", NULL, reader), 404);
    assert_int_equal(call("GET", a, "/v1/namespaces/b/jobs/jb/stats", NULL, reader), 404);
    struct rest_reply list = restDo("GET", a, "/v1/jobs", NULL, reader, NULL);
    expectStatus(&list, 200, "list of every namespace");
    assert_int_equal(json_array_size(json_object_get(list.json, "jobs")), 1);
    restFree(&list);
    list = restDo("GET", a, "/v1/namespaces/b/jobs", NULL, reader, NULL);
    assert_int_equal(json_array_size(json_object_get(list.json, "jobs")), 0);
    restFree(&list);
    assert_int_equal(call("GET", a, "/v1/namespaces/b/events", NULL, reader), 404);
    assert_int_equal(call("GET", a, "/v1/cluster", NULL, reader), 200);

    /* operator: pause, resume, run now; no edit */
    assert_int_equal(call("POST", a, "/v1/namespaces/a/jobs/ja:pause", NULL, operator), 200);
    assert_int_equal(call("POST", a, "/v1/namespaces/a/jobs/ja:resume", NULL, operator), 200);
    assert_int_equal(call("POST", a, "/v1/namespaces/a/jobs/ja:run-now", NULL, operator), 202);
    assert_int_equal(call("DELETE", a, "/v1/namespaces/a/jobs/ja", NULL, operator), 403);
    assert_int_equal(call("POST", a, "/v1/namespaces/b/jobs/jb:pause", NULL, operator), 404);

    /* editor: job CRUD in a only */
    assert_int_equal(call("POST", a, "/v1/namespaces/a/jobs",
                          "{\"name\":\"e1\",\"every\":\"1h\",\"noop\":true}", rs_editor),
                     201);
    assert_int_equal(call("DELETE", a, "/v1/namespaces/a/jobs/e1", NULL, rs_editor), 204);
    assert_int_equal(call("POST", a, "/v1/namespaces/b/jobs",
                          "{\"name\":\"e2\",\"every\":\"1h\",\"noop\":true}", rs_editor),
                     404);

    /* RPC: the same verdicts for the same tokens. */
    char msg[512];
    assert_int_equal(rpcPut(reader, "a", "r2"), RC_EDENIED);
    assert_int_equal(rpcPut(rs_editor, "a", "r3"), 0);
    assert_int_equal(rpcPut(rs_editor, "b", "r4"), RC_ENOTFOUND);
    assert_int_equal(rpcGet(reader, "a", "ja", msg, sizeof msg), 0);
    assert_int_equal(rpcGet(reader, "b", "jb", msg, sizeof msg), RC_ENOTFOUND);
    assert_string_equal(msg, "job b/jb not found");
    assert_int_equal(rpcGet(jwt_admin, "b", "jb", msg, sizeof msg), 0);
    char out[2048];
    char endpoints[128];
    harnessEndpoints(&H, 1, endpoints, sizeof endpoints);
    assert_int_equal(harnessRun(out, sizeof out,
                                "%s/raftcronctl --endpoints %s --timeout 3s member remove 9", H.bin,
                                endpoints),
                     1);
    assert_non_null(strstr(out, "UNAUTHENTICATED"));
    char tokfile[400];
    snprintf(tokfile, sizeof tokfile, "%s/reader.token", keydir);
    FILE *tf = fopen(tokfile, "w");
    fprintf(tf, "%s\n", reader);
    fclose(tf);
    assert_int_equal(chmod(tokfile, 0600), 0); /* raftcronctl refuses a token others can read */
    assert_int_equal(harnessRun(out, sizeof out,
                                "%s/raftcronctl --endpoints %s --token-file %s job list", H.bin,
                                endpoints, tokfile),
                     0);
    assert_non_null(strstr(out, "ja"));
    assert_null(strstr(out, "jb"));
    assert_int_equal(harnessRun(out, sizeof out,
                                "RAFTCRON_TOKEN=%s %s/raftcronctl --endpoints %s member add 9 "
                                "127.0.0.1:1 127.0.0.1:2",
                                reader, H.bin, endpoints),
                     1);
    assert_non_null(strstr(out, "PERMISSION_DENIED"));

    /* The event stream shows only what the token may read. */
    json_t *ev = restEvents(a, "/v1/events?since=1", reader, NULL, 1000, 1500);
    size_t i;
    json_t *e;
    size_t of_a = 0;
    json_array_foreach(ev, i, e)
    {
        const char *ns =
            json_string_value(json_object_get(json_object_get(e, "data"), "namespace"));
        assert_string_equal(ns, "a");
        of_a++;
    }
    assert_true(of_a >= 3); /* ja created, paused, resumed, ... */
    json_decref(ev);

    /* Open pages stay open. */
    assert_int_equal(call("GET", a, "/health", NULL, NULL), 200);
    assert_int_equal(call("GET", a, "/ready", NULL, NULL), 200);
    assert_int_equal(call("GET", a, "/metrics", NULL, NULL), 200);
    free(es_reader);
    free(rs_editor);
    free(reader);
    free(operator);
    free(jwt_admin);
}

/* ---- Events ---------------------------------------------------------------------------------- */

/* "index type run" of each event, one line each. */
static void describe(json_t *events, char *out, size_t len)
{
    size_t n = 0, i;
    json_t *e;
    out[0] = '\0';
    json_array_foreach(events, i, e)
    {
        json_t *d = json_object_get(e, "data");
        n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%lld %s %lld\n",
                              (long long)json_integer_value(json_object_get(d, "index")),
                              json_string_value(json_object_get(d, "type")),
                              (long long)json_integer_value(json_object_get(d, "run_id")));
    }
}

static void test_events(void **state)
{
    (void)state;
    const char *extra[] = {"--events-buffer", "400", NULL};
    uint64_t leader = startCluster(3, extra);
    int f1 = follower(leader, 3);
    int f2 = 0;
    for (int id = 1; id <= 3; id++) {
        if (id != (int)leader && id != f1) {
            f2 = id;
        }
    }
    char l[64], a1[64], a2[64];
    addr((int)leader, l);
    addr(f1, a1);
    addr(f2, a2);
    struct rest_reply r =
        restDo("POST", l, "/v1/namespaces/ev/jobs",
               "{\"name\":\"tick\",\"every\":\"50ms\",\"noop\":true}", NULL, NULL);
    expectStatus(&r, 201, "create");
    restFree(&r);
    /* Part one from the start, on the leader; part two resumed after the last id it saw, on a
     * follower; and the whole, in one stream, on the other follower. */
    json_t *one = restEvents(l, "/v1/namespaces/ev/events?since=1", NULL, NULL, 25, 20000);
    assert_int_equal(json_array_size(one), 25);
    const char *last = NULL;
    size_t cut = 0;
    for (size_t i = json_array_size(one); i-- > 0;) {
        const char *id = json_string_value(json_object_get(json_array_get(one, i), "id"));
        if (id != NULL) {
            last = id;
            cut = i + 1;
            break;
        }
    }
    assert_non_null(last);
    /* Events after the last id are of an entry seen in part: a resume sends them again. */
    while (json_array_size(one) > cut) {
        json_array_remove(one, json_array_size(one) - 1);
    }
    json_t *two = restEvents(a1, "/v1/namespaces/ev/events", NULL, last, 30, 20000);
    assert_int_equal(json_array_size(two), 30);
    json_array_extend(one, two);
    json_decref(two);
    json_t *whole =
        restEvents(a2, "/v1/namespaces/ev/events?since=1", NULL, NULL, json_array_size(one), 20000);
    static char want[65536], got[65536];
    describe(whole, want, sizeof want);
    describe(one, got, sizeof got);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "resumed stream:\n%s\nwhole stream:\n%s", got, want);
        fail_msg("the resumed stream differs from the whole");
    }
    assert_non_null(strstr(want, " job.created "));
    assert_non_null(strstr(want, " run.fired "));
    assert_non_null(strstr(want, " run.started "));
    assert_non_null(strstr(want, " run.succeeded "));

    /* The RPC watch (raftcronctl events) carries the same events. */
    char out[65536], endpoints[200];
    harnessEndpoints(&H, 3, endpoints, sizeof endpoints);
    int rc = harnessRun(out, sizeof out,
                        "timeout 30 %s/raftcronctl --endpoints %s events --namespace ev --since 1 "
                        "--count %zu | awk '{print $1, $2, ($4 == \"-\" ? 0 : $4)}'",
                        H.bin, endpoints, json_array_size(whole));
    if (rc != 0) {
        fail_msg("raftcronctl events: %s", out);
    }
    assert_string_equal(out, want);
    json_decref(one);
    json_decref(whole);

    /* Far behind the buffer of 400 events: the stream says so before going on. */
    int64_t deadline = harnessNowMs() + 60000;
    for (;;) {
        assert_true(harnessNowMs() < deadline);
        json_t *probe = restEvents(l, "/v1/namespaces/ev/events?since=1", NULL, NULL, 1, 5000);
        const char *type = json_string_value(json_object_get(json_array_get(probe, 0), "event"));
        bool gap = type != NULL && strcmp(type, "gap") == 0;
        json_decref(probe);
        if (gap) {
            break;
        }
        usleep(200 * 1000); /* the 50 ms job fills the buffer within seconds */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_jobs, harnessSetup, harnessTeardown),
        cmocka_unit_test_setup_teardown(test_pages, harnessSetup, harnessTeardown),
        cmocka_unit_test_setup_teardown(test_auth, harnessSetup, harnessTeardown),
        cmocka_unit_test_setup_teardown(test_events, harnessSetup, harnessTeardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
