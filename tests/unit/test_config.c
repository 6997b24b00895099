/* raftcrond's configuration (src/core/confparse.c) and log line formatting (src/core/logfmt.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/confparse.h"
#include "core/err.h"
#include "core/logfmt.h"

#define MS  INT64_C(1000)
#define SEC INT64_C(1000000)

/* ---- helpers --------------------------------------------------------------------------------- */

/* The one file the fake reader knows: "config.yaml" with this text. */
static const char *file_text;
static size_t file_len; /* 0: strlen(file_text) */
static int reads;
static char err[1024];
static struct rc_config cfg;

static int fakeRead(void *data, const char *path, char **text, size_t *len, char *e, size_t elen)
{
    (void)data;
    reads++;
    if (file_text == NULL || strcmp(path, "config.yaml") != 0) {
        return errSet(e, elen, RC_EIO, "%s: No such file or directory", path);
    }
    size_t n = file_len != 0 ? file_len : strlen(file_text);
    *text = malloc(n + 1);
    assert_non_null(*text);
    memcpy(*text, file_text, n < strlen(file_text) ? n : strlen(file_text) + 1);
    (*text)[n < strlen(file_text) ? n : strlen(file_text)] = '\0';
    *len = n;
    return 0;
}

static const struct confparse_reader reader = {NULL, fakeRead};

/* confparseArgs on ("raftcrond", args…), env (NULL-terminated, may be NULL) and file text. */
static int load(const char *yaml, char **env, char **args)
{
    char *argv[64] = {"raftcrond"};
    int argc = 1;
    for (; args != NULL && args[argc - 1] != NULL; argc++) {
        argv[argc] = args[argc - 1];
    }
    argv[argc] = NULL;
    file_text = yaml;
    file_len = 0;
    err[0] = '\0';
    return confparseArgs(&cfg, argc, argv, env, &reader, err, sizeof err);
}

#define ARGS(...) ((char *[]){__VA_ARGS__, NULL})
#define ENV(...)  ((char *[]){__VA_ARGS__, NULL})
#define MEMBER                                                                                     \
    "--id", "1", "--raft-addr", "127.0.0.1:7201", "--rpc-addr", "127.0.0.1:7101", "--data",        \
        "/var/lib/raftcron"
#define MEMBER_YAML "id: 1\nraft_addr: 127.0.0.1:7201\nrpc_addr: 127.0.0.1:7101\ndata: /d\n"

static void expectOk(int rv)
{
    if (rv != 0) {
        fail_msg("expected success, got %s: %s", rc_errname(rv), err);
    }
}

static void expectErr(int rv, int code, const char *msg)
{
    if (rv != code || strcmp(err, msg) != 0) {
        fail_msg("expected %s \"%s\"\n     got %s \"%s\"", rc_errname(code), msg, rc_errname(rv),
                 err);
    }
}

/* Apply one YAML document over the defaults. */
static int yaml(const char *text)
{
    confparseDefaults(&cfg);
    err[0] = '\0';
    return confparseYaml(&cfg, "config.yaml", text, strlen(text), err, sizeof err);
}

/* ---- the option table ------------------------------------------------------------------------ */

static void test_names_follow_the_rule(void **state)
{
    (void)state;
    for (int k = 0; k < CONF_N_KEYS; k++) {
        const char *flag = confparseFlagName(k);
        const char *env = confparseEnvName(k);
        const char *key = confparseYamlKey(k);
        assert_non_null(flag);
        assert_non_null(env);
        char want_key[64], want_env[80];
        size_t i = 0;
        for (; flag[i] != '\0'; i++) {
            want_key[i] = flag[i] == '-' ? '_' : flag[i];
        }
        want_key[i] = '\0';
        snprintf(want_env, sizeof want_env, "RAFTCRON_");
        for (i = 0; want_key[i] != '\0'; i++) {
            want_env[9 + i] =
                (char)(want_key[i] >= 'a' && want_key[i] <= 'z' ? want_key[i] - 32 : want_key[i]);
        }
        want_env[9 + i] = '\0';
        assert_string_equal(env, want_env);
        if (k == CONF_CONFIG || k == CONF_RECOVER || k == CONF_RESTORE) {
            assert_null(key); /* a file that names itself, or a one-time act, is no setting */
        } else {
            assert_non_null(key);
            assert_string_equal(key, want_key);
        }
    }
    assert_null(confparseFlagName(CONF_N_KEYS));
}

static void test_defaults(void **state)
{
    (void)state;
    memset(&cfg, 0xA5, sizeof cfg);
    confparseDefaults(&cfg);
    assert_int_equal(cfg.id, 0);
    assert_string_equal(cfg.raft_addr, "");
    assert_string_equal(cfg.http_addr, "");
    assert_string_equal(cfg.join, "");
    assert_false(cfg.bootstrap || cfg.standby || cfg.worker || cfg.dev || cfg.no_execute);
    assert_int_equal(cfg.election_timeout_us, 1 * SEC);
    assert_int_equal(cfg.heartbeat_timeout_us, 20 * MS);
    assert_int_equal(cfg.snapshot_threshold, 8192);
    assert_int_equal(cfg.snapshot_trailing, 2048);
    assert_int_equal(cfg.lookahead_us, 100 * MS);
    assert_int_equal(cfg.max_parallel, 3);
    assert_int_equal(cfg.n_tags, 0);
    assert_int_equal(cfg.worker_timeout_us, 10 * SEC);
    assert_int_equal(cfg.history_runs, 100);
    assert_int_equal(cfg.history_age_us, 7 * 86400 * SEC);
    assert_int_equal(cfg.log_level, RC_LOG_INFO);
    assert_int_equal(cfg.log_format, RC_LOG_LOGFMT);
    assert_string_equal(cfg.auth_token, "");
    for (int k = 0; k < CONF_N_KEYS; k++) {
        assert_int_equal(cfg.origin[k].source, CONF_SOURCE_DEFAULT);
    }
}

/* ---- precedence ------------------------------------------------------------------------------ */

static void test_precedence(void **state)
{
    (void)state;
    const char *file = MEMBER_YAML "election_timeout: 2s\nmax_parallel: 5\nlog_level: debug\n";
    /* default only */
    expectOk(load(NULL, NULL, ARGS(MEMBER)));
    assert_int_equal(cfg.election_timeout_us, 1 * SEC);
    assert_int_equal(cfg.origin[CONF_ELECTION_TIMEOUT].source, CONF_SOURCE_DEFAULT);
    assert_int_equal(reads, 0);
    /* file over default */
    expectOk(load(file, NULL, ARGS("--config", "config.yaml")));
    assert_int_equal(cfg.election_timeout_us, 2 * SEC);
    assert_int_equal(cfg.max_parallel, 5);
    assert_int_equal(cfg.origin[CONF_ELECTION_TIMEOUT].source, CONF_SOURCE_FILE);
    assert_int_equal(cfg.origin[CONF_ELECTION_TIMEOUT].line, 5);
    assert_string_equal(cfg.config_file, "config.yaml");
    /* env over file */
    expectOk(load(file, ENV("RAFTCRON_ELECTION_TIMEOUT=3s", "RAFTCRON_LOG_LEVEL=warn"),
                  ARGS("--config", "config.yaml")));
    assert_int_equal(cfg.election_timeout_us, 3 * SEC);
    assert_int_equal(cfg.log_level, RC_LOG_WARN);
    assert_int_equal(cfg.max_parallel, 5);
    assert_int_equal(cfg.origin[CONF_ELECTION_TIMEOUT].source, CONF_SOURCE_ENV);
    /* flag over env */
    expectOk(
        load(file, ENV("RAFTCRON_ELECTION_TIMEOUT=3s"),
             ARGS("--config", "config.yaml", "--election-timeout", "4s", "--log-level=error")));
    assert_int_equal(cfg.election_timeout_us, 4 * SEC);
    assert_int_equal(cfg.log_level, RC_LOG_ERROR);
    assert_int_equal(cfg.origin[CONF_ELECTION_TIMEOUT].source, CONF_SOURCE_FLAG);
    /* a later flag wins over an earlier one */
    expectOk(load(NULL, NULL, ARGS(MEMBER, "--max-parallel", "7", "--max-parallel=8")));
    assert_int_equal(cfg.max_parallel, 8);
}

static void test_config_file_from_env_and_flag(void **state)
{
    (void)state;
    expectOk(load(MEMBER_YAML, ENV("RAFTCRON_CONFIG=config.yaml"), NULL));
    assert_string_equal(cfg.data_dir, "/d");
    assert_string_equal(cfg.config_file, "config.yaml");
    /* the flag names another file: the env one is not read */
    expectErr(load(MEMBER_YAML, ENV("RAFTCRON_CONFIG=config.yaml"), ARGS("--config", "other.yaml")),
              RC_EIO, "other.yaml: No such file or directory");
    /* --config= turns the env file off */
    expectOk(load(MEMBER_YAML, ENV("RAFTCRON_CONFIG=config.yaml"), ARGS(MEMBER, "--config=")));
    assert_string_equal(cfg.config_file, "");
    assert_string_equal(cfg.data_dir, "/var/lib/raftcron");
}

static void test_lists_are_replaced_not_merged(void **state)
{
    (void)state;
    expectOk(load(MEMBER_YAML "tags: {zone: eu-1, disk: ssd}\n", ENV("RAFTCRON_TAGS=gpu=a100"),
                  ARGS("--config", "config.yaml")));
    assert_int_equal(cfg.n_tags, 1);
    assert_string_equal(cfg.tags[0].key, "gpu");
    assert_string_equal(cfg.tags[0].value, "a100");
    expectOk(load(NULL, ENV("RAFTCRON_JOIN=10.0.0.1:7101,10.0.0.2:7101"),
                  ARGS("--id", "2", "--raft-addr", "h:1", "--rpc-addr", "h:2", "--data", "d",
                       "--join", "10.0.0.3:7101", "--insecure")));
    assert_string_equal(cfg.join, "10.0.0.3:7101");
    assert_int_equal(cfg.n_join, 1);
}

static void test_env_ignores_unknown_and_empty(void **state)
{
    (void)state;
    expectOk(load(NULL,
                  ENV("RAFTCRON_ENDPOINTS=junk", "RAFTCRON_RUN_ID=9", "RAFTCRON_MAX_PARALLEL=",
                      "RAFTCRON_ID_EXTRA=x", "PATH=/bin", "RAFTCRON_MAX_PARALLEL_X=1"),
                  ARGS(MEMBER)));
    assert_int_equal(cfg.max_parallel, 3);
}

/* ---- values ---------------------------------------------------------------------------------- */

static void test_durations(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t us;
    } ok[] = {{"150ms", 150 * MS}, {"1m30s", 90 * SEC}, {"2h", 7200 * SEC}, {"1500us", 1500}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char flag[64];
        snprintf(flag, sizeof flag, "--election-timeout=%s", ok[i].text);
        if (ok[i].us > 3600 * SEC) {
            snprintf(flag, sizeof flag, "--history-age=%s", ok[i].text);
            expectOk(load(NULL, NULL, ARGS(MEMBER, flag)));
            assert_int_equal(cfg.history_age_us, ok[i].us);
            continue;
        }
        expectOk(
            load(NULL, NULL, ARGS(MEMBER, flag, "--heartbeat-timeout=1ms", "--worker-timeout=1h")));
        assert_int_equal(cfg.election_timeout_us, ok[i].us);
    }
    expectOk(load(NULL, NULL, ARGS(MEMBER, "--history-age", "30d", "--lookahead", "0s")));
    assert_int_equal(cfg.history_age_us, 30 * 86400 * SEC);
    assert_int_equal(cfg.lookahead_us, 0);

    expectErr(yaml("\n\n\n\n\n\nelection_timeout: \"fast\"\n"), RC_EPARSE,
              "config.yaml:7: election_timeout: \"fast\" is not a duration");
    expectErr(yaml("election_timeout: fast\n"), RC_EPARSE,
              "config.yaml:1: election_timeout: \"fast\" is not a duration");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--election-timeout", "5")), RC_EPARSE,
              "--election-timeout: \"5\" needs a unit (e.g. \"5s\" or \"5ms\")");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--election-timeout", "-1s")), RC_EPARSE,
              "--election-timeout: \"-1s\" is not a duration");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--heartbeat-timeout", "0ms")), RC_EPARSE,
              "--heartbeat-timeout: \"0ms\" is too short (at least 1ms)");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--election-timeout", "2h")), RC_EPARSE,
              "--election-timeout: \"2h\" is too long (at most 1h)");
    expectErr(load(NULL, ENV("RAFTCRON_WORKER_TIMEOUT=1x"), ARGS(MEMBER)), RC_EPARSE,
              "RAFTCRON_WORKER_TIMEOUT: \"1x\" is not a duration");
}

static void test_integers(void **state)
{
    (void)state;
    expectErr(load(NULL, ENV("RAFTCRON_ID=abc"), NULL), RC_EPARSE,
              "RAFTCRON_ID: \"abc\" is not a positive integer");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--id", "0")), RC_EPARSE,
              "--id: \"0\" is not a positive integer");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--id", "-3")), RC_EPARSE,
              "--id: \"-3\" is not a positive integer");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--id", "+3")), RC_EPARSE,
              "--id: \"+3\" is not a positive integer");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--id", "99999999999999999999")), RC_EPARSE,
              "--id: \"99999999999999999999\" is out of range 1-9223372036854775807");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--max-parallel", "1025")), RC_EPARSE,
              "--max-parallel: \"1025\" is out of range 1-1024");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--snapshot-trailing", "x")), RC_EPARSE,
              "--snapshot-trailing: \"x\" is not a non-negative integer");
    expectOk(load(NULL, NULL,
                  ARGS(MEMBER, "--snapshot-trailing", "0", "--snapshot-threshold", "4294967295",
                       "--history-runs", "1", "--id", "18446744073")));
    assert_int_equal(cfg.snapshot_trailing, 0);
    assert_int_equal(cfg.snapshot_threshold, UINT32_MAX);
    assert_int_equal(cfg.history_runs, 1);
    assert_int_equal(cfg.id, UINT64_C(18446744073));
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--snapshot-threshold", "4294967296")), RC_EPARSE,
              "--snapshot-threshold: \"4294967296\" is out of range 1-4294967295");
}

static void test_addresses(void **state)
{
    (void)state;
    static const char *const good[] = {"localhost:1", "[::1]:7100", "10.0.0.1:65535",
                                       "node-2.example.com:7101", "[fe80::1%eth0]:1"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char flag[300];
        snprintf(flag, sizeof flag, "--rpc-addr=%s", good[i]);
        int rv = load(NULL, NULL, ARGS(MEMBER, flag, "--insecure"));
        if (i == 4) {
            /* zone ids are not accepted: the bracketed part is hex, ':' and '.' only */
            expectErr(rv, RC_EPARSE,
                      "--rpc-addr: \"[fe80::1%eth0]:1\" has a bad IPv6 host (write [::1]:7100)");
            continue;
        }
        expectOk(rv);
        assert_string_equal(cfg.rpc_addr, good[i]);
    }
    static const struct {
        const char *addr;
        const char *msg;
    } bad[] = {
        {"127.0.0.1", "--raft-addr: \"127.0.0.1\" needs a port"},
        {"127.0.0.1:0", "--raft-addr: \"127.0.0.1:0\" has a bad port (expected 1-65535)"},
        {"h:65536", "--raft-addr: \"h:65536\" has a bad port (expected 1-65535)"},
        {"h:http", "--raft-addr: \"h:http\" has a bad port (expected 1-65535)"},
        {"h:", "--raft-addr: \"h:\" has a bad port (expected 1-65535)"},
        {":7100", "--raft-addr: \":7100\" needs a host (0.0.0.0 listens on every interface)"},
        {"::1:7100",
         "--raft-addr: \"::1:7100\" needs brackets around an IPv6 host (write [::1]:7100)"},
        {"[::1]", "--raft-addr: \"[::1]\" needs a port"},
        {"[]:1", "--raft-addr: \"[]:1\" has a bad IPv6 host (write [::1]:7100)"},
        {"a b:1", "--raft-addr: \"a b:1\" has a bad host name"},
        {"", "--raft-addr: needs a value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char flag[64];
        snprintf(flag, sizeof flag, "--raft-addr=%s", bad[i].addr);
        expectErr(load(NULL, NULL, ARGS(MEMBER, flag)), RC_EPARSE, bad[i].msg);
    }
    /* --http-addr may be cleared */
    expectOk(load(NULL, ENV("RAFTCRON_HTTP_ADDR=0.0.0.0:8080"), ARGS(MEMBER, "--http-addr=")));
    assert_string_equal(cfg.http_addr, "");
    expectOk(load(NULL, ENV("RAFTCRON_HTTP_ADDR=127.0.0.2:8080"), ARGS(MEMBER)));
    assert_string_equal(cfg.http_addr, "127.0.0.2:8080");
}

/* Secure by default: beyond loopback a member needs TLS, and for RPC and REST client
 * authentication too, unless --insecure; security settings come in consistent sets. */
static void test_secure_defaults(void **state)
{
    (void)state;
#define PUBLIC                                                                                     \
    "--id", "1", "--raft-addr", "10.0.0.1:7201", "--rpc-addr", "10.0.0.1:7101", "--data", "d"
#define TLS "--tls-ca", "ca.pem", "--tls-cert", "n.pem", "--tls-key", "n.key"
    expectErr(load(NULL, NULL, ARGS(PUBLIC)), RC_EINVAL,
              "--raft-addr: refusing to listen on 10.0.0.1:7201, beyond loopback, without TLS: "
              "set --tls-ca, --tls-cert and --tls-key (docs/security.md), or pass --insecure to "
              "accept the risk");
    expectErr(load(NULL, NULL, ARGS(PUBLIC, TLS)), RC_EINVAL,
              "--rpc-addr: refusing to listen on 10.0.0.1:7101, beyond loopback, without TLS "
              "and client authentication: set --tls-ca, --tls-cert and --tls-key and "
              "--auth-token-file or --rpc-client-auth require (docs/security.md), or pass "
              "--insecure to accept the risk");
    expectOk(load(NULL, NULL, ARGS(PUBLIC, TLS, "--auth-token-file", "/etc/raftcron/token")));
    expectOk(load(NULL, NULL, ARGS(PUBLIC, TLS, "--rpc-client-auth", "require")));
    expectOk(load(NULL, NULL, ARGS(PUBLIC, "--insecure")));
    assert_true(cfg.insecure);
    expectOk(load(NULL, NULL,
                  ARGS("--id", "1", "--raft-addr", "127.0.0.1:7201", "--rpc-addr", "0.0.0.0:7101",
                       "--data", "d", "--insecure")));
    expectErr(
        load(NULL, NULL,
             ARGS("--id", "1", "--raft-addr", "127.0.0.1:7201", "--rpc-addr", "0.0.0.0:7101",
                  "--data", "d")),
        RC_EINVAL,
        "--rpc-addr: refusing to listen on 0.0.0.0:7101, beyond loopback, without TLS and client "
        "authentication: set --tls-ca, --tls-cert and --tls-key and --auth-token-file or "
        "--rpc-client-auth require (docs/security.md), or pass --insecure to accept the "
        "risk");
    expectOk(load(NULL, NULL, ARGS(MEMBER))); /* loopback stays zero-config */
    /* The REST API: beyond loopback, HTTPS (the node's certificate) and bearer tokens. */
#define HTTP_REFUSED(addr)                                                                         \
    "--http-addr: refusing to listen on " addr ", beyond loopback, without TLS and client "        \
    "authentication: set --tls-ca, --tls-cert and --tls-key and --auth-token-file or an "          \
    "--auth-jwt-* key file (docs/security.md), or pass --insecure to accept the risk"
    expectOk(load(NULL, NULL, ARGS(MEMBER, "--http-addr", "127.0.0.1:7301")));
    expectOk(load(NULL, NULL, ARGS(MEMBER, "--http-addr", "localhost:7301")));
    expectOk(load(NULL, NULL, ARGS(MEMBER, "--http-addr", "[::1]:7301")));
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--http-addr", "0.0.0.0:7301")), RC_EINVAL,
              HTTP_REFUSED("0.0.0.0:7301"));
    expectErr(load(NULL, ENV("RAFTCRON_HTTP_ADDR=[::]:7301"), ARGS(MEMBER)), RC_EINVAL,
              "RAFTCRON_HTTP_ADDR: refusing to listen on [::]:7301, beyond loopback, without TLS "
              "and client authentication: set --tls-ca, --tls-cert and --tls-key and "
              "--auth-token-file or an --auth-jwt-* key file (docs/security.md), or pass "
              "--insecure to accept the risk");
    /* A token alone is not enough (it would cross the network in clear text)... */
    expectErr(
        load(NULL, NULL, ARGS(MEMBER, "--http-addr", "10.0.0.1:7301", "--auth-token-file", "t")),
        RC_EINVAL, HTTP_REFUSED("10.0.0.1:7301"));
    /* ...nor TLS alone (anyone could call the API: authentication is off)... */
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--http-addr", "10.0.0.1:7301", TLS)), RC_EINVAL,
              HTTP_REFUSED("10.0.0.1:7301"));
    /* ...and client certificates do not count: the HTTPS port asks for none. */
    expectErr(
        load(NULL, NULL,
             ARGS(MEMBER, "--http-addr", "10.0.0.1:7301", TLS, "--rpc-client-auth", "require")),
        RC_EINVAL, HTTP_REFUSED("10.0.0.1:7301"));
    expectOk(load(NULL, NULL,
                  ARGS(MEMBER, "--http-addr", "10.0.0.1:7301", TLS, "--auth-token-file", "t")));
    expectOk(load(
        NULL, NULL,
        ARGS(MEMBER, "--http-addr", "10.0.0.1:7301", TLS, "--auth-jwt-jwks-file", "jwks.json")));
    expectOk(load(
        NULL, NULL,
        ARGS(MEMBER, "--http-addr", "10.0.0.1:7301", TLS, "--auth-jwt-public-key-file", "k.pem")));
    expectOk(
        load(NULL, NULL,
             ARGS(MEMBER, "--http-addr", "10.0.0.1:7301", TLS, "--auth-jwt-hs256-key-file", "k")));
    expectOk(load(NULL, NULL, ARGS(MEMBER, "--http-addr", "0.0.0.0:7301", "--insecure")));
    /* The same from the YAML file, named by its line. */
    expectErr(load(MEMBER_YAML "http_addr: 0.0.0.0:7301\n", NULL, ARGS("--config", "config.yaml")),
              RC_EINVAL,
              "config.yaml:5: http_addr: refusing to listen on 0.0.0.0:7301, beyond loopback, "
              "without TLS and client authentication: set --tls-ca, --tls-cert and --tls-key and "
              "--auth-token-file or an --auth-jwt-* key file (docs/security.md), or pass "
              "--insecure to accept the risk");
    expectOk(load(MEMBER_YAML "http_addr: 0.0.0.0:7301\ninsecure: true\n", NULL,
                  ARGS("--config", "config.yaml")));
#undef HTTP_REFUSED
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--tls-cert", "n.pem")), RC_EINVAL,
              "--tls-cert needs --tls-key too");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--tls-cert", "n.pem", "--tls-key", "n.key")),
              RC_EINVAL, "--tls-cert needs --tls-ca (the CA peers are checked against)");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--auth-token", "x", "--auth-token-file", "f")),
              RC_EINVAL, "--auth-token: cannot be combined with --auth-token-file");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--rpc-client-auth", "require")), RC_EINVAL,
              "--rpc-client-auth: require needs TLS (--tls-cert)");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--rpc-client-auth", "maybe")), RC_EINVAL,
              "--rpc-client-auth: \"maybe\" is not one of none, optional, require");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--run-as", "a:b:c")), RC_EINVAL,
              "--run-as: \"a:b:c\" is not USER or USER:GROUP");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--executors", "ops=shell+ftp")), RC_EINVAL,
              "--executors: executors: ops: \"ftp\" is not an executor (shell, http, sql, noop)");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--job-rlimits", "cpu=fast")), RC_EINVAL,
              "--job-rlimits: rlimits: cpu: \"fast\" is not a number of seconds (30, 30s, 5m, "
              "2h)");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--job-env-keep", "HTTP_PROXY,RAFTCRON_AUTH_TOKEN")),
              RC_EINVAL,
              "--job-env-keep: RAFTCRON_AUTH_TOKEN: the daemon's own settings and secrets never "
              "reach runs");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--job-env-keep", "A,1B")), RC_EINVAL,
              "--job-env-keep: \"1B\" is not a variable name");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--job-env-keep", "A,")), RC_EINVAL,
              "--job-env-keep: a name is missing after the last comma");
    expectOk(load(NULL, NULL, ARGS(MEMBER, "--job-env-keep", "HTTP_PROXY,no_proxy")));
    assert_string_equal(cfg.job_env_keep, "HTTP_PROXY,no_proxy");
    expectOk(load(NULL, NULL,
                  ARGS(MEMBER, "--run-as", "nobody:nogroup", "--executors",
                       "ops=shell+http,*=http+sql+noop", "--job-rlimits", "cpu=60s,as=1G")));
    assert_string_equal(cfg.run_as, "nobody:nogroup");
#undef PUBLIC
#undef TLS
}

static void test_join_lists(void **state)
{
    (void)state;
    expectOk(load(NULL, NULL,
                  ARGS("--id", "2", "--raft-addr", "h:1", "--rpc-addr", "h:2", "--data", "d",
                       "--join", "a:1, b:2 ,[::1]:3", "--insecure")));
    assert_string_equal(cfg.join, "a:1,b:2,[::1]:3");
    assert_int_equal(cfg.n_join, 3);
    expectOk(yaml("join:\n  - a:1\n  - b:2\n"));
    assert_string_equal(cfg.join, "a:1,b:2");
    assert_int_equal(cfg.origin[CONF_JOIN].line, 1);
    expectOk(yaml("join: [a:1]\n"));
    assert_string_equal(cfg.join, "a:1");
    expectErr(yaml("join:\n  - a:1\n  - b\n"), RC_EPARSE,
              "config.yaml:3: join: \"b\" needs a port");
    expectErr(yaml("join:\n  - [a:1]\n"), RC_EPARSE,
              "config.yaml:2: join: expected HOST:PORT or a list of them, got a list");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--join", "a:1,,b:2")), RC_EPARSE,
              "--join: \"\" is an empty address");
    char many[400] = "";
    for (int i = 0; i < RC_CONF_JOIN_MAX + 1; i++) {
        snprintf(many + strlen(many), sizeof many - strlen(many), "%sh:%d", i ? "," : "", i + 1);
    }
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--join", many)), RC_EPARSE,
              "--join: \"h:17\" is one address too many (at most 16)");
}

static void test_tags(void **state)
{
    (void)state;
    expectOk(load(NULL, NULL, ARGS(MEMBER, "--tags", "zone=eu-1, gpu=a100,empty=")));
    assert_int_equal(cfg.n_tags, 3);
    assert_string_equal(cfg.tags[0].key, "zone");
    assert_string_equal(cfg.tags[0].value, "eu-1");
    assert_string_equal(cfg.tags[1].key, "gpu");
    assert_string_equal(cfg.tags[1].value, "a100");
    assert_string_equal(cfg.tags[2].key, "empty");
    assert_string_equal(cfg.tags[2].value, "");
    expectOk(yaml("tags:\n  zone: eu-1\n  gpu: \"yes\"\n"));
    assert_int_equal(cfg.n_tags, 2);
    assert_string_equal(cfg.tags[1].value, "yes");
    expectOk(yaml("tags: rack=r7\n"));
    assert_int_equal(cfg.n_tags, 1);
    assert_string_equal(cfg.tags[0].key, "rack");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--tags", "gpu")), RC_EPARSE,
              "--tags: \"gpu\" is not key=value (keys use letters, digits and _ . - /)");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--tags", "=x")), RC_EPARSE,
              "--tags: \"=x\" is not key=value (keys use letters, digits and _ . - /)");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--tags", "a b=1")), RC_EPARSE,
              "--tags: \"a b=1\" is not key=value (keys use letters, digits and _ . - /)");
    expectErr(load(NULL, ENV("RAFTCRON_TAGS=z=1,z=2"), ARGS(MEMBER)), RC_EPARSE,
              "RAFTCRON_TAGS: \"z=2\" repeats the tag z");
    expectErr(yaml("tags:\n  a: 1\n  b: [1]\n"), RC_EPARSE,
              "config.yaml:3: tags: expected a mapping of tags or K=V,..., got a list");
    expectErr(yaml("tags: [a=1]\n"), RC_EPARSE,
              "config.yaml:1: tags: expected a mapping of tags or K=V,..., got a list");
    char many[400] = "";
    for (int i = 0; i < RC_CONF_TAGS_MAX + 1; i++) {
        snprintf(many + strlen(many), sizeof many - strlen(many), "%sk%d=v", i ? "," : "", i);
    }
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--tags", many)), RC_EPARSE,
              "--tags: \"k16=v\" is one tag too many (at most 16)");
}

static void test_booleans_and_enums(void **state)
{
    (void)state;
    expectOk(load(NULL, ENV("RAFTCRON_NO_EXECUTE=yes", "RAFTCRON_STANDBY=on"),
                  ARGS(MEMBER, "--standby=false", "--log-format", "json")));
    assert_true(cfg.no_execute);
    assert_false(cfg.standby);
    assert_int_equal(cfg.log_format, RC_LOG_JSON);
    expectOk(yaml("no_execute: true\nstandby: off\n"));
    assert_true(cfg.no_execute);
    assert_false(cfg.standby);
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--bootstrap=maybe")), RC_EPARSE,
              "--bootstrap: \"maybe\" is not a boolean (use true or false)");
    expectErr(yaml("bootstrap: \"true\"\n"), RC_EPARSE,
              "config.yaml:1: bootstrap: expected true or false, got the string \"true\"");
    expectErr(yaml("id: '5'\n"), RC_EPARSE,
              "config.yaml:1: id: expected a positive integer, got the string \"5\"");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--log-level", "verbose")), RC_EPARSE,
              "--log-level: \"verbose\" is not one of debug, info, warn, error");
    expectErr(yaml("log_format: text\n"), RC_EPARSE,
              "config.yaml:1: log_format: \"text\" is not one of logfmt, json");
}

static void test_secret_is_never_echoed(void **state)
{
    (void)state;
    char flag[400] = "--auth-token=";
    memset(flag + strlen(flag), 'S', 300);
    flag[313] = '\0';
    expectErr(load(NULL, NULL, ARGS(MEMBER, flag)), RC_EPARSE,
              "--auth-token: is too long (at most 255 bytes)");
    expectOk(load(NULL, ENV("RAFTCRON_AUTH_TOKEN=s3cr=t v"), ARGS(MEMBER)));
    assert_string_equal(cfg.auth_token, "s3cr=t v");
    char env[400] = "RAFTCRON_AUTH_TOKEN=";
    memset(env + strlen(env), 'T', 256);
    expectErr(load(NULL, ENV(env), ARGS(MEMBER)), RC_EPARSE,
              "RAFTCRON_AUTH_TOKEN: is too long (at most 255 bytes)");
    /* 255 bytes is the limit itself */
    env[strlen(env) - 1] = '\0';
    expectOk(load(NULL, ENV(env), ARGS(MEMBER)));
    assert_int_equal(strlen(cfg.auth_token), 255);
}

/* ---- YAML file errors ------------------------------------------------------------------------ */

static void test_yaml_errors(void **state)
{
    (void)state;
    expectErr(yaml("id: 1\nelecton_timeout: 1s\n"), RC_EPARSE,
              "config.yaml:2: electon_timeout: unknown setting (did you mean election_timeout?)");
    expectErr(yaml("raft-addr: h:1\n"), RC_EPARSE,
              "config.yaml:1: raft-addr: unknown setting (did you mean raft_addr?)");
    expectErr(yaml("colour: red\n"), RC_EPARSE, "config.yaml:1: colour: unknown setting");
    expectErr(yaml("\"a b\": 1\n"), RC_EPARSE, "config.yaml:1: \"a b\": unknown setting");
    expectErr(yaml("config: other.yaml\n"), RC_EPARSE,
              "config.yaml:1: config: cannot be set in a config file");
    expectErr(yaml("id: 1\nmax_parallel: 2\nid: 2\n"), RC_EPARSE,
              "config.yaml:3: id: given twice (first on line 1)");
    expectErr(yaml("id: [1, 2]\n"), RC_EPARSE,
              "config.yaml:1: id: expected a positive integer, got a list");
    expectErr(yaml("election_timeout:\n  seconds: 1\n"), RC_EPARSE,
              "config.yaml:2: election_timeout: expected a duration such as 1s or 150ms, got a "
              "mapping");
    expectErr(yaml("id: &x 1\nmax_parallel: *x\n"), RC_EPARSE,
              "config.yaml:2: max_parallel: expected a positive integer, got an alias (aliases "
              "are not supported)");
    expectErr(yaml("- id\n"), RC_EPARSE,
              "config.yaml:1: expected a mapping of settings, got a list");
    expectErr(yaml("just text\n"), RC_EPARSE,
              "config.yaml:1: expected a mapping of settings, got a scalar");
    expectErr(yaml("id: 1\n---\nid: 2\n"), RC_EPARSE,
              "config.yaml:2: only one YAML document is allowed");
    expectErr(yaml("[a]: 1\n"), RC_EPARSE,
              "config.yaml:1: setting names must be plain words, not a list");
    expectErr(yaml("data: \"a\\0b\"\n"), RC_EPARSE,
              "config.yaml:1: data: contains a NUL character");
    expectErr(yaml("id: 1\ndata: /x\nraft_addr: \"h:1\n"), RC_EPARSE,
              "config.yaml:4: YAML error: found unexpected end of stream (column 1, while "
              "scanning a quoted scalar)");
    expectErr(yaml("id: 1\nmax_parallel: 2: 3\n"), RC_EPARSE,
              "config.yaml:2: YAML error: mapping values are not allowed in this context (column "
              "16)");
    expectErr(yaml("id: 1\n- x\n"), RC_EPARSE,
              "config.yaml:2: YAML error: did not find expected key (column 1, while parsing a "
              "block mapping)");
    int rv = yaml("id: \xff\n");
    assert_int_equal(rv, RC_EPARSE);
    assert_non_null(strstr(err, "config.yaml: YAML error: invalid leading UTF-8 octet at byte 4"));
    expectErr(yaml("id:\n"), RC_EPARSE, "config.yaml:1: id: needs a value");
    /* empty documents and null values for optional settings are fine */
    expectOk(yaml(""));
    expectOk(yaml("# nothing\n"));
    expectOk(yaml("---\n"));
    expectOk(yaml("http_addr: ~\njoin: null\ntags:\nauth_token: ''\n"));
    assert_string_equal(cfg.http_addr, "");
}

/* connections: (YAML only) and history: (the history_* settings, nested). */
static void test_connections_and_history(void **state)
{
    (void)state;
    expectOk(yaml("connections:\n"
                  "  warehouse:\n"
                  "    dsn: host=db dbname=dw user=cron\n"
                  "    password_file: /etc/raftcron/warehouse.pass\n"
                  "  local: {dsn: \"postgresql:///app\"}\n"
                  "history:\n"
                  "  postgres: warehouse\n"
                  "  runs: 500\n"
                  "sql_pool_size: 8\n"
                  "http_ca_file: /etc/ssl/ca.pem\n"));
    assert_int_equal(cfg.n_conns, 2);
    assert_string_equal(cfg.conns[0].name, "warehouse");
    assert_string_equal(cfg.conns[0].dsn, "host=db dbname=dw user=cron");
    assert_string_equal(cfg.conns[0].password_file, "/etc/raftcron/warehouse.pass");
    assert_int_equal(cfg.conns[0].line, 2);
    assert_string_equal(cfg.conns[1].name, "local");
    assert_string_equal(cfg.conns[1].password_file, "");
    assert_string_equal(cfg.history_postgres, "warehouse");
    assert_int_equal(cfg.history_runs, 500);
    assert_int_equal(cfg.sql_pool_size, 8);
    assert_string_equal(cfg.http_ca_file, "/etc/ssl/ca.pem");
    assert_int_equal(cfg.origin[CONF_HISTORY_POSTGRES].line, 7);

    expectErr(yaml("connections:\n  a: {password_file: /x}\n"), RC_EPARSE,
              "config.yaml:2: connections: a: dsn is required");
    expectErr(yaml("connections:\n  a: {dsn: x=1, user: u}\n"), RC_EPARSE,
              "config.yaml:2: connections: a: unknown key user (expected dsn, password_file)");
    expectErr(yaml("connections:\n  \"a b\": {dsn: x=1}\n"), RC_EPARSE,
              "config.yaml:2: connections: \"a b\" is not 1-64 of [A-Za-z0-9._-]");
    expectErr(yaml("connections:\n  a: {dsn: x=1}\n  a: {dsn: y=1}\n"), RC_EPARSE,
              "config.yaml:3: connections: a: given twice (first on line 2)");
    expectErr(yaml("connections: [a]\n"), RC_EPARSE,
              "config.yaml:1: connections: expected a mapping of names, got a list");
    expectErr(yaml("history:\n  keep: 1\n"), RC_EPARSE,
              "config.yaml:2: history: unknown key keep (expected postgres, runs, age)");
    expectErr(yaml("history_runs: 5\nhistory:\n  runs: 6\n"), RC_EPARSE,
              "config.yaml:3: history.runs: given twice (first on line 1)");
    expectErr(yaml("history: {}\nhistory: {}\n"), RC_EPARSE,
              "config.yaml:2: history: given twice (first on line 1)");

    /* A history_postgres that is a name must be a connection; a DSN need not. */
    expectErr(load(MEMBER_YAML "history_postgres: nosuch\n", NULL, ARGS("--config", "config.yaml")),
              RC_EINVAL,
              "history_postgres: no connection named \"nosuch\" in connections: (or "
              "give a DSN)");
    expectOk(
        load(MEMBER_YAML "history_postgres: host=db\n", NULL, ARGS("--config", "config.yaml")));
    expectOk(load(MEMBER_YAML, ENV("RAFTCRON_HISTORY_POSTGRES=postgresql://db/x"),
                  ARGS("--config", "config.yaml")));
    assert_string_equal(cfg.history_postgres, "postgresql://db/x");
}

static void test_reader_failures(void **state)
{
    (void)state;
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--config", "missing.yaml")), RC_EIO,
              "missing.yaml: No such file or directory");
    file_text = "id: 1\n";
    char *argv[] = {"raftcrond", "--config", "config.yaml", NULL};
    expectErr(confparseArgs(&cfg, 3, argv, NULL, NULL, err, sizeof err), RC_EINVAL,
              "config.yaml: config files are not supported here");
    /* a reader that returns more than the limit */
    char *argv2[] = {"raftcrond", "--config", "config.yaml", NULL};
    file_len = RC_CONF_FILE_MAX + 1;
    expectErr(confparseArgs(&cfg, 3, argv2, NULL, &reader, err, sizeof err), RC_ETOOBIG,
              "config.yaml: larger than 1048576 bytes");
    /* errors in the file come before the env and the flags are looked at */
    expectErr(load("id: x\n", ENV("RAFTCRON_ID=y"), ARGS("--config", "config.yaml", "--id=z")),
              RC_EPARSE, "config.yaml:1: id: \"x\" is not a positive integer");
}

/* ---- flags ----------------------------------------------------------------------------------- */

static void test_flag_errors(void **state)
{
    (void)state;
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--raft-adr", "h:1")), RC_EPARSE,
              "--raft-adr: unknown option (did you mean --raft-addr?); see --help");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--frobnicate")), RC_EPARSE,
              "--frobnicate: unknown option; see --help");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--id")), RC_EPARSE, "--id: needs a value");
    expectErr(load(NULL, NULL, ARGS("--id", "--bootstrap", "--data", "d")), RC_EPARSE,
              "--id: needs a value");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "extra")), RC_EPARSE,
              "\"extra\": unexpected argument (see --help)");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "-x")), RC_EPARSE,
              "\"-x\": unexpected argument (see --help)");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--")), RC_EPARSE,
              "\"--\": unexpected argument (see --help)");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--data=")), RC_EPARSE, "--data: needs a value");
    /* flag syntax is checked before any file is read */
    reads = 0;
    expectErr(load(MEMBER_YAML, NULL, ARGS("--config", "config.yaml", "--nope")), RC_EPARSE,
              "--nope: unknown option; see --help");
    assert_int_equal(reads, 0);
}

static void test_help_and_version(void **state)
{
    (void)state;
    assert_int_equal(load(NULL, NULL, ARGS("--help")), CONFPARSE_HELP);
    assert_int_equal(load(NULL, NULL, ARGS("-h")), CONFPARSE_HELP);
    assert_int_equal(load(NULL, NULL, ARGS("--bogus", "--id=0", "--help")), CONFPARSE_HELP);
    assert_int_equal(load(NULL, NULL, ARGS("--version")), CONFPARSE_VERSION);
    assert_int_equal(load(NULL, NULL, ARGS("-V", "--help")), CONFPARSE_VERSION);
    assert_string_equal(confparseVersion(), "raftcrond " RC_VERSION_STRING);

    size_t n = confparseHelp(NULL, 0);
    assert_true(n > 2000);
    char *help = malloc(n + 1);
    assert_non_null(help);
    assert_int_equal(confparseHelp(help, n + 1), n);
    assert_int_equal(strlen(help), n);
    for (int k = 0; k < CONF_N_KEYS; k++) {
        char want[96];
        snprintf(want, sizeof want, "--%s", confparseFlagName(k));
        if (strstr(help, want) == NULL) {
            fail_msg("help lacks %s", want);
        }
        const char *key = confparseYamlKey(k);
        snprintf(want, sizeof want, "(%s%s%s; ", confparseEnvName(k), key ? ", " : "",
                 key ? key : "");
        if (strstr(help, want) == NULL) {
            fail_msg("help lacks %s", want);
        }
    }
    static const char *const want[] = {"RAFTCRON_ID, id; required)",
                                       "election_timeout; default 1s)",
                                       "heartbeat_timeout; default 20ms)",
                                       "snapshot_threshold; default 8192)",
                                       "snapshot_trailing; default 2048)",
                                       "log_level; default info)",
                                       "log_format; default logfmt)",
                                       "max_parallel; default 3)",
                                       "worker_timeout; default 10s)",
                                       "history_runs; default 100)",
                                       "history_age; default 7d)",
                                       "lookahead; default 100ms)",
                                       "http_addr; default none)",
                                       "(RAFTCRON_CONFIG; default none)",
                                       "Raft:\n",
                                       "Logging:\n",
                                       "Cluster membership:",
                                       "-h, --help",
                                       "-V, --version",
                                       "the flag wins over\nthe environment"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (strstr(help, want[i]) == NULL) {
            fail_msg("help lacks \"%s\"", want[i]);
        }
    }
    for (const char *l = help; *l != '\0';) {
        size_t len = strcspn(l, "\n");
        if (len > 79) {
            fail_msg("help line longer than 79 columns: %.*s", (int)len, l);
        }
        l += len + (l[len] == '\n');
    }
    /* a short buffer is filled and terminated */
    char small[32];
    assert_int_equal(confparseHelp(small, sizeof small), n);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, help, sizeof small - 1);
    free(help);
}

/* ---- checks across settings ------------------------------------------------------------------ */

static void test_required_settings(void **state)
{
    (void)state;
    expectErr(load(NULL, NULL, NULL), RC_EINVAL,
              "missing required setting --id (or RAFTCRON_ID, or id: in the config file)");
    expectErr(load(NULL, NULL, ARGS("--id", "1", "--raft-addr", "h:1", "--rpc-addr", "h:2")),
              RC_EINVAL,
              "missing required setting --data (or RAFTCRON_DATA, or data: in the config file)");
    expectErr(load(NULL, NULL, ARGS("--id", "1", "--rpc-addr", "h:2", "--data", "d")), RC_EINVAL,
              "missing required setting --raft-addr (or RAFTCRON_RAFT_ADDR, or raft_addr: in the "
              "config file)");
    /* a restart needs neither --bootstrap nor --join */
    expectOk(load(NULL, NULL, ARGS(MEMBER)));
    assert_false(cfg.bootstrap);
    assert_int_equal(cfg.n_join, 0);
}

static void test_conflicts(void **state)
{
    (void)state;
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--bootstrap", "--join", "h:7101")), RC_EINVAL,
              "--bootstrap: cannot be combined with --join");
    expectErr(load(MEMBER_YAML "join: h:7101\n", ENV("RAFTCRON_BOOTSTRAP=1"),
                   ARGS("--config", "config.yaml")),
              RC_EINVAL, "RAFTCRON_BOOTSTRAP: cannot be combined with join (config.yaml:5)");
    expectErr(load(MEMBER_YAML "bootstrap: true\n", ENV("RAFTCRON_JOIN=h:7101"),
                   ARGS("--config", "config.yaml")),
              RC_EINVAL, "config.yaml:5: bootstrap: cannot be combined with RAFTCRON_JOIN");
    /* a file's bootstrap is overridden by --bootstrap=false: no conflict */
    expectOk(load(MEMBER_YAML "bootstrap: true\n", NULL,
                  ARGS("--config", "config.yaml", "--bootstrap=false", "--join", "h:7101")));
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--bootstrap", "--standby")), RC_EINVAL,
              "--standby: cannot be combined with --bootstrap");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--heartbeat-timeout", "2s")), RC_EINVAL,
              "--heartbeat-timeout: 2s must be shorter than --election-timeout (default) (1s)");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--election-timeout", "20ms")), RC_EINVAL,
              "--heartbeat-timeout (default): 20ms must be shorter than --election-timeout "
              "(20ms)");
    /* the worker timeout must outlast a worker's lease plus an election */
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--worker-timeout", "2s")), RC_EINVAL,
              "--worker-timeout: 2s must be at least the worker lease (1500ms) plus "
              "--election-timeout (default) (1s)");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--worker-timeout", "3s", "--election-timeout", "2s")),
              RC_EINVAL,
              "--worker-timeout: 3s must be at least the worker lease (1500ms) plus "
              "--election-timeout (2s)");
    expectOk(load(NULL, NULL, ARGS(MEMBER, "--worker-timeout", "2500ms")));
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--rpc-addr", "127.0.0.1:7201")), RC_EINVAL,
              "--rpc-addr: \"127.0.0.1:7201\" is also the address of --raft-addr");
    expectErr(load(NULL, ENV("RAFTCRON_HTTP_ADDR=127.0.0.1:7101"), ARGS(MEMBER)), RC_EINVAL,
              "RAFTCRON_HTTP_ADDR: \"127.0.0.1:7101\" is also the address of --rpc-addr");
}

static void test_worker(void **state)
{
    (void)state;
    expectOk(
        load(NULL, NULL, ARGS("--worker", "--id", "9", "--join", "a:1,b:2", "--tags", "gpu=1")));
    assert_true(cfg.worker);
    assert_int_equal(cfg.n_join, 2);
    expectErr(load(NULL, NULL, ARGS("--worker", "--id", "9")), RC_EINVAL,
              "missing required setting --join (or RAFTCRON_JOIN, or join: in the config "
              "file): a worker needs the cluster's RPC addresses");
    expectErr(load(NULL, NULL, ARGS("--worker", "--join", "a:1")), RC_EINVAL,
              "missing required setting --id (or RAFTCRON_ID, or id: in the config file)");
    expectErr(load(NULL, NULL, ARGS("--worker", "--id", "9", "--join", "a:1", "--bootstrap")),
              RC_EINVAL, "--worker: cannot be combined with --bootstrap");
    expectErr(
        load(NULL, ENV("RAFTCRON_STANDBY=true"), ARGS("--worker", "--id", "9", "--join", "a:1")),
        RC_EINVAL, "--worker: cannot be combined with RAFTCRON_STANDBY");
    expectErr(load(NULL, NULL, ARGS("--worker", "--id", "9", "--join", "a:1", "--no-execute")),
              RC_EINVAL, "--worker: cannot be combined with --no-execute");
}

static void test_recover_flag(void **state)
{
    (void)state;
    expectOk(load(NULL, NULL, ARGS(MEMBER, "--recover")));
    assert_true(cfg.recover);
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--recover", "--bootstrap")), RC_EINVAL,
              "--recover: cannot be combined with --bootstrap");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--recover", "--join", "127.0.0.1:1")), RC_EINVAL,
              "--recover: cannot be combined with --join");
    /* Never from a file: left there, every restart would force the configuration again. */
    expectErr(load("recover: true\n", NULL, ARGS(MEMBER, "--config", "config.yaml")), RC_EPARSE,
              "config.yaml:1: recover: unknown setting");
}

static void test_restore_flag(void **state)
{
    (void)state;
    expectOk(load(NULL, NULL, ARGS(MEMBER, "--restore", "/backup/a.rcb")));
    assert_string_equal(cfg.restore_file, "/backup/a.rcb");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--restore", "a.rcb", "--bootstrap")), RC_EINVAL,
              "--restore: cannot be combined with --bootstrap");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--restore", "a.rcb", "--join", "127.0.0.1:1")),
              RC_EINVAL, "--restore: cannot be combined with --join");
    expectErr(load(NULL, NULL, ARGS(MEMBER, "--restore", "a.rcb", "--recover")), RC_EINVAL,
              "--restore: cannot be combined with --recover");
    expectErr(load(NULL, NULL, ARGS("--dev", "--restore", "a.rcb")), RC_EINVAL,
              "--dev: cannot be combined with --restore");
    /* Never from a file: a restart would try to seed its own data dir again. */
    expectErr(load("restore: a.rcb\n", NULL, ARGS(MEMBER, "--config", "config.yaml")), RC_EPARSE,
              "config.yaml:1: restore: unknown setting");
}

static void test_dev(void **state)
{
    (void)state;
    expectOk(load(NULL, NULL, ARGS("--dev")));
    assert_true(cfg.dev);
    assert_int_equal(cfg.id, 1);
    assert_string_equal(cfg.raft_addr, "127.0.0.1:7201");
    assert_string_equal(cfg.rpc_addr, "127.0.0.1:7101");
    assert_string_equal(cfg.http_addr, "");
    assert_true(cfg.bootstrap);
    assert_true(cfg.dev_data_dir);
    assert_string_equal(cfg.data_dir, "");
    assert_int_equal(cfg.origin[CONF_ID].source, CONF_SOURCE_DEV);
    /* anything given explicitly wins over the profile */
    expectOk(load(NULL, ENV("RAFTCRON_DEV=true", "RAFTCRON_RPC_ADDR=127.0.0.1:9000"),
                  ARGS("--id", "4", "--data", "/srv/dev", "--log-level", "debug")));
    assert_int_equal(cfg.id, 4);
    assert_string_equal(cfg.rpc_addr, "127.0.0.1:9000");
    assert_string_equal(cfg.raft_addr, "127.0.0.1:7201");
    assert_false(cfg.dev_data_dir);
    assert_string_equal(cfg.data_dir, "/srv/dev");
    assert_int_equal(cfg.log_level, RC_LOG_DEBUG);
    expectErr(load(NULL, NULL, ARGS("--dev", "--join", "a:1")), RC_EINVAL,
              "--dev: cannot be combined with --join");
    expectErr(load("dev: true\nworker: true\n", NULL, ARGS("--config", "config.yaml")), RC_EINVAL,
              "config.yaml:1: dev: cannot be combined with worker (config.yaml:2)");
    expectErr(load(NULL, NULL, ARGS("--dev", "--standby")), RC_EINVAL,
              "--standby: cannot be combined with --dev");
}

/* ---- log lines ------------------------------------------------------------------------------- */

/* 2026-11-23T12:00:00.123456Z */
#define TS (INT64_C(1795435200) * SEC + 123456)

static char line[LOGFMT_LINE_MAX + 1];

static const struct logfmt_context LOGFMT = {RC_LOG_LOGFMT, 1, 4, "leader"};
static const struct logfmt_context JSON = {RC_LOG_JSON, 1, 4, "leader"};

static void test_logfmt_line(void **state)
{
    (void)state;
    size_t n = logfmtLine(line, sizeof line, &LOGFMT, TS, RC_LOG_INFO, "became leader", "key", "%s",
                          "value", "n", "%d", -7, NULL);
    assert_string_equal(line, "ts=2026-11-23T12:00:00.123456Z level=info node=1 term=4 "
                              "role=leader msg=\"became leader\" key=value n=-7\n");
    assert_int_equal(n, strlen(line));
    logfmtLine(line, sizeof line, &LOGFMT, 0, RC_LOG_DEBUG, "x", NULL);
    assert_string_equal(
        line, "ts=1970-01-01T00:00:00.000000Z level=debug node=1 term=4 role=leader msg=x\n");
    logfmtLine(line, sizeof line, &LOGFMT, -1, RC_LOG_ERROR, "", NULL);
    assert_string_equal(
        line, "ts=1969-12-31T23:59:59.999999Z level=error node=1 term=4 role=leader msg=\"\"\n");
    const struct logfmt_context nobody = {RC_LOG_LOGFMT, 0, 0, NULL};
    logfmtLine(line, sizeof line, &nobody, 0, RC_LOG_WARN, "m", NULL);
    assert_string_equal(line, "ts=1970-01-01T00:00:00.000000Z level=warn node=0 term=0 role=none "
                              "msg=m\n");
}

static void test_logfmt_escaping(void **state)
{
    (void)state;
    logfmtLine(line, sizeof line, &LOGFMT, 0, RC_LOG_INFO, "m", "a", "%s", "x=y", "b", "%s",
               "say \"hi\"", "c", "%s", "back\\slash", "d", "%s", "two\nlines\ttab", "e", "%s", "",
               "f", "%s", "\x01\x7f", "g", "%s", "caf\xc3\xa9", "h", "%s", "bad\xff", "i", "%s",
               "plain\\", NULL);
    const char *want = " msg=m a=\"x=y\" b=\"say \\\"hi\\\"\" c=back\\slash "
                       "d=\"two\\nlines\\ttab\" e=\"\" f=\"\\u0001\\u007f\" g=caf\xc3\xa9 "
                       "h=\"bad\xef\xbf\xbd\" i=plain\\\n";
    assert_non_null(strstr(line, want));
    /* keys lose what would break the line */
    logfmtLine(line, sizeof line, &LOGFMT, 0, RC_LOG_INFO, "m", "a b=\"c", "%d", 1, "", "%d", 2,
               NULL);
    assert_non_null(strstr(line, " msg=m a_b__c=1 _=2\n"));
}

static void test_json_line(void **state)
{
    (void)state;
    logfmtLine(line, sizeof line, &JSON, TS, RC_LOG_WARN, "became \"leader\"", "n", "%d", 42, "big",
               "%llu", 18446744073709551615ULL, "f", "%.2f", 1.5, "s", "%s", "12", "pad", "%5d", 3,
               "hex", "%x", 255, "neg", "%ld", -3L, "mixed", "%d ms", 5, NULL);
    assert_string_equal(line, "{\"ts\":\"2026-11-23T12:00:00.123456Z\",\"level\":\"warn\","
                              "\"node\":1,\"term\":4,\"role\":\"leader\","
                              "\"msg\":\"became \\\"leader\\\"\",\"n\":42,"
                              "\"big\":18446744073709551615,\"f\":1.50,\"s\":\"12\","
                              "\"pad\":\"    3\",\"hex\":\"ff\",\"neg\":-3,\"mixed\":\"5 ms\"}\n");
    logfmtLine(line, sizeof line, &JSON, 0, RC_LOG_INFO, "m", "ctl", "%s", "\x01\b\f\n\r\t\x1f",
               "q", "%s", "a\"b\\c/d", "u", "%s", "\xe2\x82\xac\xed\xa0\x80", "inf", "%g",
               1.0 / 0.0, "k\"ey", "%d", 1, NULL);
    assert_non_null(strstr(line, ",\"msg\":\"m\",\"ctl\":\"\\u0001\\b\\f\\n\\r\\t\\u001f\","
                                 "\"q\":\"a\\\"b\\\\c/d\",\"u\":\"\xe2\x82\xac\xef\xbf\xbd\xef\xbf"
                                 "\xbd\xef\xbf\xbd\",\"inf\":\"inf\",\"k\\\"ey\":1}\n"));
}

static void test_value_formats(void **state)
{
    (void)state;
    logfmtLine(line, sizeof line, &LOGFMT, 0, RC_LOG_INFO, "m", "pct", "%d%%", 50, "star",
               "%*d|%-*.*s|", 4, 7, 5, 2, "abcdef", "z", "%zu", (size_t)12, "hh", "%hhu", 300,
               "null", "%s", (const char *)NULL, "c", "%c", 'Q', "lit", "no conversions", "e",
               "%.1e", 12345.0, NULL);
    assert_non_null(strstr(line, " msg=m pct=50% star=\"   7|ab   |\" z=12 hh=44 null=(null) c=Q "
                                 "lit=\"no conversions\" e=1.2e+04\n"));
    /* a conversion we cannot type stops the list */
    int x = 0;
    logfmtLine(line, sizeof line, &LOGFMT, 0, RC_LOG_INFO, "m", "a", "%d", 1, "b", "%n", &x, "c",
               "%d", 3, NULL);
    assert_non_null(strstr(line, " msg=m a=1 b=!BADFORMAT\n"));
    assert_int_equal(x, 0);
    logfmtLine(line, sizeof line, &LOGFMT, 0, RC_LOG_INFO, "m", "w", "%ls", L"x", NULL);
    assert_non_null(strstr(line, " w=!BADFORMAT\n"));
    logfmtLine(line, sizeof line, &LOGFMT, 0, RC_LOG_INFO, "m", "t", "100%", NULL);
    assert_non_null(strstr(line, " t=!BADFORMAT\n"));
    logfmtLine(line, sizeof line, &LOGFMT, 0, RC_LOG_INFO, "m", "nf", (const char *)NULL, NULL);
    assert_non_null(strstr(line, " nf=\"\"\n"));
}

static void test_truncation(void **state)
{
    (void)state;
    static char big[3 * LOGFMT_LINE_MAX];
    memset(big, 'x', 3 * LOGFMT_LINE_MAX - 1);
    big[3 * LOGFMT_LINE_MAX - 1] = '\0';
    size_t n = logfmtLine(line, sizeof line, &LOGFMT, 0, RC_LOG_INFO, "m", "big", "%s", big,
                          "after", "%d", 1, NULL);
    assert_true(n <= LOGFMT_LINE_MAX);
    assert_int_equal(strlen(line), n);
    assert_string_equal(line + n - 16, " truncated=true\n");
    assert_null(strstr(line, "after"));

    n = logfmtLine(line, sizeof line, &JSON, 0, RC_LOG_INFO, "m", "big", "%s", big, NULL);
    assert_true(n <= LOGFMT_LINE_MAX);
    assert_string_equal(line + n - 23, "xxx\",\"truncated\":true}\n");
    /* every byte escaped to six: the cut still closes the string */
    memset(big, '\x01', 3 * LOGFMT_LINE_MAX - 1);
    n = logfmtLine(line, sizeof line, &JSON, 0, RC_LOG_INFO, "m", "ctl", "%s", big, NULL);
    assert_true(n <= LOGFMT_LINE_MAX);
    assert_string_equal(line + n - 26, "\\u0001\",\"truncated\":true}\n");
    /* a small buffer: the header fits, pairs that do not are dropped whole */
    char small[256];
    n = logfmtLine(small, sizeof small, &JSON, 0, RC_LOG_INFO, "m",
                   "aaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                   "%d", 1, NULL);
    assert_true(n < sizeof small);
    assert_string_equal(small, "{\"ts\":\"1970-01-01T00:00:00.000000Z\",\"level\":\"info\","
                               "\"node\":1,\"term\":4,\"role\":\"leader\",\"msg\":\"m\","
                               "\"truncated\":true}\n");
}

static void test_level_and_format_names(void **state)
{
    (void)state;
    enum rc_log_level l;
    enum rc_log_format f;
    assert_int_equal(logfmtParseLevel("warn", &l), 0);
    assert_int_equal(l, RC_LOG_WARN);
    assert_int_equal(logfmtParseLevel("WARN", &l), RC_EINVAL);
    assert_int_equal(logfmtParseLevel("warning", &l), RC_EINVAL);
    assert_int_equal(logfmtParseFormat("json", &f), 0);
    assert_int_equal(f, RC_LOG_JSON);
    assert_int_equal(logfmtParseFormat("text", &f), RC_EINVAL);
    assert_string_equal(logfmtLevelName(RC_LOG_ERROR), "error");
    assert_string_equal(logfmtLevelName((enum rc_log_level)9), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_follow_the_rule),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_config_file_from_env_and_flag),
        cmocka_unit_test(test_lists_are_replaced_not_merged),
        cmocka_unit_test(test_env_ignores_unknown_and_empty),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_join_lists),
        cmocka_unit_test(test_secure_defaults),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_booleans_and_enums),
        cmocka_unit_test(test_secret_is_never_echoed),
        cmocka_unit_test(test_yaml_errors),
        cmocka_unit_test(test_reader_failures),
        cmocka_unit_test(test_flag_errors),
        cmocka_unit_test(test_help_and_version),
        cmocka_unit_test(test_required_settings),
        cmocka_unit_test(test_conflicts),
        cmocka_unit_test(test_worker),
        cmocka_unit_test(test_dev),
        cmocka_unit_test(test_connections_and_history),
        cmocka_unit_test(test_recover_flag),
        cmocka_unit_test(test_restore_flag),
        cmocka_unit_test(test_logfmt_line),
        cmocka_unit_test(test_logfmt_escaping),
        cmocka_unit_test(test_json_line),
        cmocka_unit_test(test_value_formats),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_level_and_format_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
