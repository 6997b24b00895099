/*
 * The REST API over HTTPS (docs/security.md "The REST API"): three raftcrond processes with
 * mutual TLS (certificates from scripts/gen-certs), a token file and --http-addr serve the API
 * with the node's certificate. A client that trusts the test CA gets /health; plain http to
 * the port gets no answer; a client without the CA (the system's store) or with another CA
 * refuses the server; the token is still required; a write through a follower's REST is
 * forwarded to the leader over TLS and succeeds. SIGHUP says the HTTPS certificate needs a
 * restart. Beyond loopback without TLS the node refuses to start (unless --insecure).
 */
#include <curl/curl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "api.pb-c.h"
#include "harness.h"
#include "raftcron/client.h"
#include "rest_client.h"

#define SEC   INT64_C(1000000)
#define TOKEN "https-admin-token-of-this-test"

static char certs[280], other[280], token_file[300];

static void makeCerts(void)
{
    const char *src = getenv("RC_SRC") != NULL ? getenv("RC_SRC") : ".";
    snprintf(certs, sizeof certs, "%s/certs", H.dir);
    snprintf(other, sizeof other, "%s/other", H.dir);
    char out[2048];
    if (harnessRun(out, sizeof out, "%s/scripts/gen-certs %s && %s/scripts/gen-certs %s ca", src,
                   certs, src, other) != 0) {
        fail_msg("gen-certs: %s", out);
    }
    snprintf(H.tls_ca, sizeof H.tls_ca, "%.270s/ca.pem", certs);
    snprintf(H.tls_cert, sizeof H.tls_cert, "%.270s/admin.pem", certs);
    snprintf(H.tls_key, sizeof H.tls_key, "%.270s/admin.key", certs);
    snprintf(token_file, sizeof token_file, "%.270s/token", H.dir);
    FILE *f = fopen(token_file, "w");
    assert_non_null(f);
    fputs(TOKEN "\n", f);
    fclose(f);
    assert_int_equal(chmod(token_file, 0600), 0);
    H.token = TOKEN;
}

static char ca_arg[420], cert_arg[420], key_arg[420];

/* Every node presents node1's certificate: gen-certs makes all three for 127.0.0.1. */
static const char *const *secureFlags(void)
{
    snprintf(ca_arg, sizeof ca_arg, "%s/ca.pem", certs);
    snprintf(cert_arg, sizeof cert_arg, "%s/node1.pem", certs);
    snprintf(key_arg, sizeof key_arg, "%s/node1.key", certs);
    static const char *flags[10];
    flags[0] = "--tls-ca";
    flags[1] = ca_arg;
    flags[2] = "--tls-cert";
    flags[3] = cert_arg;
    flags[4] = "--tls-key";
    flags[5] = key_arg;
    flags[6] = "--auth-token-file";
    flags[7] = token_file;
    flags[8] = NULL;
    return flags;
}

static bool waitLog(int id, const char *text, int timeout_ms)
{
    char log[400];
    snprintf(log, sizeof log, "%s/node%d.log", H.dir, id);
    int64_t deadline = harnessNowMs() + timeout_ms;
    while (!harnessFileContains(log, text)) {
        if (harnessNowMs() >= deadline) {
            return false;
        }
        usleep(50000);
    }
    return true;
}

static void url(int id, const char *scheme, const char *path, char *out, size_t len)
{
    char a[64];
    harnessHttpAddr(&H, id, a, sizeof a);
    snprintf(out, len, "%s://%s%s", scheme, a, path);
}

/* GET https://node/path with the test CA until it answers 200 (a node still starting). */
static void waitHealthy(int id)
{
    char u[128], what[CURL_ERROR_SIZE + 64];
    url(id, "https", "/health", u, sizeof u);
    int64_t deadline = harnessNowMs() + 15000;
    long status = 0;
    int rc;
    while ((rc = restTry(u, H.tls_ca, &status, what, sizeof what)) != 0 || status != 200) {
        if (harnessNowMs() >= deadline) {
            fail_msg("%s: curl %d (%s), status %ld", u, rc, what, status);
        }
        usleep(50000);
    }
}

static void test_https_cluster(void **state)
{
    (void)state;
    makeCerts();
    H.http = true;
    uint64_t leader = harnessStartCluster(&H, 3, secureFlags());
    assert_true(leader != 0);
    for (int id = 1; id <= 3; id++) {
        waitHealthy(id);
    }
    assert_true(waitLog(1, "http=https", 1000));

    /* Plain http to the HTTPS port: no HTTP answer at all. */
    char u[128], what[CURL_ERROR_SIZE + 64];
    long status;
    url(1, "http", "/health", u, sizeof u);
    int rc = restTry(u, NULL, &status, what, sizeof what);
    printf("plain http: curl %d (%s), status %ld\n", rc, what, status);
    assert_int_not_equal(rc, CURLE_OK);
    assert_int_equal(status, 0);
    /* A client without the test CA (the system's store), or with another CA: refused. */
    url(1, "https", "/health", u, sizeof u);
    rc = restTry(u, NULL, &status, what, sizeof what);
    printf("no CA: curl %d (%s)\n", rc, what);
    assert_int_equal(rc, CURLE_PEER_FAILED_VERIFICATION);
    char other_ca[420];
    snprintf(other_ca, sizeof other_ca, "%s/ca.pem", other);
    rc = restTry(u, other_ca, &status, what, sizeof what);
    assert_int_equal(rc, CURLE_PEER_FAILED_VERIFICATION);
    /* Over HTTPS the token is still required. */
    restUseCa(H.tls_ca);
    char f[64], l[64];
    int fid = leader == 1 ? 2 : 1;
    harnessHttpAddr(&H, fid, f, sizeof f);
    harnessHttpAddr(&H, (int)leader, l, sizeof l);
    struct rest_reply r = restDo("GET", f, "/v1/namespaces/ops/jobs", NULL, NULL, NULL);
    assert_int_equal(r.status, 401);
    restFree(&r);
    /* A write through a follower: forwarded to the leader's RPC port over TLS. */
    r = restDo("POST", f, "/v1/namespaces/ops/jobs",
               "{\"name\":\"nightly\",\"cron\":\"0 3 * * *\",\"noop\":true}", TOKEN, NULL);
    if (r.status != 201) {
        fail_msg("create on follower %d: status %ld: %s", fid, r.status, r.body);
    }
    restFree(&r);
    r = restDo("GET", l, "/v1/namespaces/ops/jobs/nightly", NULL, TOKEN, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "cron")), "0 3 * * *");
    restFree(&r);
    /* The RPC sees the same job (libraftcron over mutual TLS). */
    struct rc_client *c = harnessClient(&H, 3, 5 * SEC);
    assert_non_null(c);
    Raftcron__Job *job = NULL;
    assert_int_equal(rc_job_get(c, "ops", "nightly", 0, &job), 0);
    rc_message_free(job);
    rc_client_close(c);

    /* SIGHUP renews the Raft/RPC certificates; the HTTPS one is read at start, and it says so. */
    harnessSignal(&H, fid, SIGHUP);
    assert_true(waitLog(fid, "credentials reloaded", 10000));
    assert_true(waitLog(fid, "the HTTPS certificate of --http-addr is read at start", 10000));
    waitHealthy(fid);
    restUseCa(NULL);
}

/* Beyond loopback without TLS: refused at start, naming the option; --insecure serves plain
 * HTTP there (and warns). */
static void test_https_required_beyond_loopback(void **state)
{
    (void)state;
    char http[64];
    harnessHttpAddr(&H, 1, http, sizeof http);
    char open_addr[64];
    snprintf(open_addr, sizeof open_addr, "0.0.0.0:%s", strrchr(http, ':') + 1);
    harnessStart(&H, 1, (const char *const[]){"--bootstrap", "--http-addr", open_addr, NULL});
    assert_int_equal(harnessWait(&H, 1, 20000), 2);
    assert_true(waitLog(1, "--http-addr: refusing to listen on 0.0.0.0:", 1000));
    harnessStart(
        &H, 1, (const char *const[]){"--bootstrap", "--http-addr", open_addr, "--insecure", NULL});
    assert_int_equal(harnessWaitLeader(&H, 1, 1, 20000), 1);
    assert_true(waitLog(1, "http=http ", 5000));
    assert_true(waitLog(1, "--insecure: Raft, RPC and HTTP may listen beyond loopback", 5000));
    char u[128], what[CURL_ERROR_SIZE + 64];
    long status = 0;
    url(1, "http", "/health", u, sizeof u);
    int64_t deadline = harnessNowMs() + 15000;
    while (restTry(u, NULL, &status, what, sizeof what) != 0 || status != 200) {
        assert_true(harnessNowMs() < deadline);
        usleep(50000);
    }
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, harnessSetup, harnessTeardown)
    const struct CMUnitTest tests[] = {
        T(test_https_cluster),
        T(test_https_required_beyond_loopback),
    };
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
