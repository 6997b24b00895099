/*
 * Mutual TLS between three raftcrond processes on 127.0.0.1 with certificates made by
 * scripts/gen-certs (docs/security.md): the cluster elects, replicates and fires a shell job
 * every second on its workers (the followers' workers reach the leader over TLS too); clients
 * need the CA (libraftcron and raftcronctl's --cacert/--cert/--key); a Raft peer with a
 * certificate of another CA is refused at the TLS handshake; a node of another CA cannot join;
 * SIGHUP puts a renewed certificate in force for new connections and keeps the old one when
 * the new files are broken.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "api.pb-c.h"
#include "harness.h"
#include "raftcron.pb-c.h"

#define SEC INT64_C(1000000)

enum { ST_SUCCEEDED = 4 };

static char certs[280], other[280];

static void makeCerts(void)
{
    const char *src = getenv("RC_SRC") != NULL ? getenv("RC_SRC") : ".";
    snprintf(certs, sizeof certs, "%s/certs", H.dir);
    snprintf(other, sizeof other, "%s/other", H.dir);
    char out[2048];
    if (harnessRun(out, sizeof out, "%s/scripts/gen-certs %s && %s/scripts/gen-certs %s", src,
                   certs, src, other) != 0) {
        fail_msg("gen-certs: %s", out);
    }
    snprintf(H.tls_ca, sizeof H.tls_ca, "%.270s/ca.pem", certs);
    snprintf(H.tls_cert, sizeof H.tls_cert, "%.270s/admin.pem", certs);
    snprintf(H.tls_key, sizeof H.tls_key, "%.270s/admin.key", certs);
}

/* Every node presents node1's certificate: gen-certs makes all three for 127.0.0.1. */
static char ca_arg[420], cert_arg[420], key_arg[420];

static const char *const *tlsFlags(void)
{
    snprintf(ca_arg, sizeof ca_arg, "%s/ca.pem", certs);
    snprintf(cert_arg, sizeof cert_arg, "%s/node1.pem", certs);
    snprintf(key_arg, sizeof key_arg, "%s/node1.key", certs);
    static const char *flags[8];
    flags[0] = "--tls-ca";
    flags[1] = ca_arg;
    flags[2] = "--tls-cert";
    flags[3] = cert_arg;
    flags[4] = "--tls-key";
    flags[5] = key_arg;
    flags[6] = NULL;
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

/* The serial of the certificate node id serves on its RPC port, as a client sees it. */
static void servedSerial(int id, char *out, size_t len)
{
    char rpc[64];
    harnessRpcAddr(&H, id, rpc, sizeof rpc);
    if (harnessRun(out, len,
                   "openssl s_client -connect %s -CAfile %s -cert %s -key %s </dev/null "
                   "2>/dev/null | openssl x509 -noout -serial",
                   rpc, H.tls_ca, H.tls_cert, H.tls_key) != 0 ||
        strncmp(out, "serial=", 7) != 0) {
        fail_msg("no certificate from %s: %s", rpc, out);
    }
}

static void test_tls_cluster(void **state)
{
    (void)state;
    makeCerts();
    uint64_t leader = harnessStartCluster(&H, 3, tlsFlags());
    assert_true(leader != 0);
    struct rc_client *c = harnessClient(&H, 3, 5 * SEC);
    assert_non_null(c);

    /* Fires every second, on more than one worker: the followers' links are TLS too. */
    struct harness_job j = {.name = "tick", .cron = "* * * * * *", .command = "echo tick"};
    harnessPutJob(c, &j);
    int64_t deadline = harnessNowMs() + 30000;
    size_t succeeded = 0;
    uint64_t workers[8] = {0};
    size_t n_workers = 0;
    while (harnessNowMs() < deadline && (succeeded < 4 || n_workers < 2)) {
        Raftcron__RunListResponse *list = NULL;
        if (rc_run_list(c, "default", "tick", "succeeded", 100, 0, &list) == 0) {
            succeeded = list->n_runs;
            for (size_t i = 0; i < list->n_runs; i++) {
                bool seen = false;
                for (size_t k = 0; k < n_workers; k++) {
                    seen = seen || workers[k] == list->runs[i]->worker_id;
                }
                if (!seen && n_workers < 8) {
                    workers[n_workers++] = list->runs[i]->worker_id;
                }
            }
            rc_message_free(list);
        }
        usleep(200000);
    }
    printf("%zu runs succeeded on %zu workers\n", succeeded, n_workers);
    assert_true(succeeded >= 4);
    assert_true(n_workers >= 2);

    /* raftcronctl: with the CA it works; without, the TLS port does not answer plain RPC. */
    char eps[256], out[4096];
    harnessEndpoints(&H, 3, eps, sizeof eps);
    const char *bin = H.bin;
    assert_int_equal(harnessRun(out, sizeof out,
                                "%s/raftcronctl --endpoints %s --timeout 5s --cacert %s --cert %s "
                                "--key %s cluster status",
                                bin, eps, H.tls_ca, H.tls_cert, H.tls_key),
                     0);
    assert_non_null(strstr(out, "leader"));
    /* The event watch over TLS, as a process's first call (it once opened a plain
     * connection because the TLS context was made by the first ordinary call). */
    assert_int_equal(harnessRun(out, sizeof out,
                                "%s/raftcronctl --endpoints %s --timeout 10s --cacert %s --cert %s "
                                "--key %s events --count 2",
                                bin, eps, H.tls_ca, H.tls_cert, H.tls_key),
                     0);
    assert_non_null(strstr(out, "default/tick"));
    assert_int_equal(harnessRun(out, sizeof out,
                                "RAFTCRON_CACERT=%s %s/raftcronctl --endpoints %s --timeout 5s "
                                "job list",
                                H.tls_ca, bin, eps),
                     0);
    assert_int_equal(harnessRun(out, sizeof out,
                                "%s/raftcronctl --endpoints %s --timeout 2s cluster status", bin,
                                eps),
                     1);
    /* A client that trusts another CA refuses the servers. */
    char other_ca[420];
    snprintf(other_ca, sizeof other_ca, "%s/ca.pem", other);
    assert_int_equal(harnessRun(out, sizeof out,
                                "%s/raftcronctl --endpoints %s --timeout 2s --cacert %s cluster "
                                "status",
                                bin, eps, other_ca),
                     1);
    assert_non_null(strstr(out, "certificate"));
    rc_client_close(c);
}

/* A Raft peer with a certificate of another CA: refused at the TLS handshake (the node says
 * so), and a node with such certificates cannot join. */
static void test_tls_foreign_ca(void **state)
{
    (void)state;
    makeCerts();
    uint64_t leader = harnessStartCluster(&H, 1, tlsFlags());
    assert_int_equal(leader, 1);
    char raft[64], out[4096];
    harnessRaftAddr(&H, 1, raft, sizeof raft);
    harnessRun(out, sizeof out,
               "timeout 10 openssl s_client -connect %s -cert %s/node1.pem -key %s/node1.key "
               "-CAfile %s/ca.pem </dev/null",
               raft, other, other, certs);
    assert_true(waitLog(1, "reason=\"TLS: ", 10000));
    /* Node 2 holds certificates of the other CA (its own CA file too). */
    char ca[420], cert[420], key[420], join[64];
    snprintf(ca, sizeof ca, "%s/ca.pem", other);
    snprintf(cert, sizeof cert, "%s/node2.pem", other);
    snprintf(key, sizeof key, "%s/node2.key", other);
    harnessRpcAddr(&H, 1, join, sizeof join);
    harnessStart(&H, 2,
                 (const char *const[]){"--join", join, "--tls-ca", ca, "--tls-cert", cert,
                                       "--tls-key", key, NULL});
    assert_true(waitLog(2, "join attempt failed", 15000));
    struct rc_client *c = harnessClientOf(&H, 1, 5 * SEC);
    Raftcron__ClusterStatus *st = NULL;
    assert_int_equal(rc_cluster_status(c, 0, &st), 0);
    assert_int_equal(st->n_members, 1);
    rc_message_free(st);
    rc_client_close(c);
}

/* SIGHUP: a renewed certificate serves new connections; a broken one is refused and the
 * previous one stays in force. */
static void test_tls_reload(void **state)
{
    (void)state;
    makeCerts();
    assert_int_equal(harnessStartCluster(&H, 1, tlsFlags()), 1);
    char before[256], after[256], out[2048];
    servedSerial(1, before, sizeof before);
    const char *src = getenv("RC_SRC") != NULL ? getenv("RC_SRC") : ".";
    assert_int_equal(harnessRun(out, sizeof out, "%s/scripts/gen-certs %s node node1", src, certs),
                     0);
    harnessSignal(&H, 1, SIGHUP);
    assert_true(waitLog(1, "credentials reloaded", 10000));
    servedSerial(1, after, sizeof after);
    assert_string_not_equal(before, after);
    /* Broken files: refused, the renewed certificate goes on serving. */
    assert_int_equal(harnessRun(out, sizeof out, "echo garbage > %s", cert_arg), 0);
    harnessSignal(&H, 1, SIGHUP);
    assert_true(waitLog(1, "reload failed", 10000));
    char still[256];
    servedSerial(1, still, sizeof still);
    assert_string_equal(after, still);
    struct rc_client *c = harnessClientOf(&H, 1, 5 * SEC);
    Raftcron__ClusterStatus *st = NULL;
    assert_int_equal(rc_cluster_status(c, 0, &st), 0);
    rc_message_free(st);
    rc_client_close(c);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, harnessSetup, harnessTeardown)
    const struct CMUnitTest tests[] = {
        T(test_tls_cluster),
        T(test_tls_foreign_ca),
        T(test_tls_reload),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
