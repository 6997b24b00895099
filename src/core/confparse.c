#include "confparse.h"

#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cron.h"
#include "duration.h"
#include "err.h"
#include "execpolicy.h"

#define US_PER_MS  INT64_C(1000)
#define US_PER_S   INT64_C(1000000)
#define US_PER_DAY (INT64_C(86400) * US_PER_S)
#define QUOTE_MAX  64 /* bytes of a value echoed in a message */
#define QUOTE_SIZE (QUOTE_MAX * 6 + 8)
#define PLACE_SIZE (RC_CONF_PATH_MAX + 96)

enum kind {
    K_UINT,
    K_DURATION,
    K_ADDR,
    K_ADDRLIST,
    K_PATH,
    K_STRING,
    K_BOOL,
    K_LEVEL,
    K_FORMAT,
    K_TAGS
};

#define F_EMPTY_OK 1u /* "" is a valid value (it clears the setting) */
#define F_NO_YAML  2u /* no YAML key (--config) */
#define F_SECRET   4u /* never echoed in messages or --help */

/* One setting. The YAML key is the flag with '_' for '-'; the variable is RAFTCRON_ + the key
 * in upper case (tests/unit/test_config.c checks that every row follows the rule). */
struct option {
    const char *flag;
    const char *env;
    const char *yaml;
    enum kind kind;
    size_t offset;
    size_t size;
    int64_t min; /* K_UINT: minimum value; K_DURATION: microseconds */
    int64_t max;
    const char *def; /* default as the user would type it; NULL: unset */
    const char *metavar;
    const char *group;
    const char *help;
    unsigned flags;
};

#define FIELD(f)              offsetof(struct rc_config, f), sizeof(((struct rc_config *)0)->f)
#define NAMES(flag, key, env) flag, "RAFTCRON_" env, key

static const char G_CLUSTER[] = "Cluster membership";
static const char G_RAFT[] = "Raft";
static const char G_SCHED[] = "Scheduling and execution";
static const char G_HISTORY[] = "Run history";
static const char G_SECURITY[] = "Security (docs/security.md)";
static const char G_LOG[] = "Logging";
static const char G_HTTP[] = "REST API and authentication";

static const struct option options[CONF_N_KEYS] = {
    [CONF_ID] = {NAMES("id", "id", "ID"), K_UINT, FIELD(id), 1, INT64_MAX, NULL, "N", G_CLUSTER,
                 "This node's id: a positive integer, unique in the cluster (workers too).", 0},
    [CONF_RAFT_ADDR] = {NAMES("raft-addr", "raft_addr", "RAFT_ADDR"), K_ADDR, FIELD(raft_addr), 0,
                        0, NULL, "HOST:PORT", G_CLUSTER,
                        "Address for Raft traffic between nodes, as the peers reach it. Required "
                        "for a Raft member unless --dev.",
                        0},
    [CONF_RPC_ADDR] = {NAMES("rpc-addr", "rpc_addr", "RPC_ADDR"), K_ADDR, FIELD(rpc_addr), 0, 0,
                       NULL, "HOST:PORT", G_CLUSTER,
                       "Address for protobuf RPC from clients, raftcronctl and workers. Required "
                       "for a Raft member unless --dev.",
                       0},
    [CONF_HTTP_ADDR] = {NAMES("http-addr", "http_addr", "HTTP_ADDR"), K_ADDR, FIELD(http_addr), 0,
                        0, "", "HOST:PORT", G_HTTP,
                        "Address of the REST/JSON API, /health, /ready, /metrics and the "
                        "dashboard (/ui/); empty: none. HTTPS with --tls-cert/--tls-key when set.",
                        F_EMPTY_OK},
    [CONF_DATA] = {NAMES("data", "data", "DATA"), K_PATH, FIELD(data_dir), 0, 0, NULL, "DIR",
                   G_CLUSTER,
                   "Data directory (Raft log, snapshots); created if missing. Required for a "
                   "Raft member unless --dev.",
                   0},
    [CONF_BOOTSTRAP] = {NAMES("bootstrap", "bootstrap", "BOOTSTRAP"), K_BOOL, FIELD(bootstrap), 0,
                        0, "false", NULL, G_CLUSTER,
                        "Start a new cluster with this node as its only voter (first start only).",
                        0},
    [CONF_JOIN] = {NAMES("join", "join", "JOIN"), K_ADDRLIST, FIELD(join), 0, 0, "",
                   "HOST:PORT[,HOST:PORT...]", G_CLUSTER,
                   "RPC addresses of existing members to ask to add this node (first start).",
                   F_EMPTY_OK},
    [CONF_STANDBY] = {NAMES("standby", "standby", "STANDBY"), K_BOOL, FIELD(standby), 0, 0, "false",
                      NULL, G_CLUSTER,
                      "Join as a non-voting standby that replicates but does not vote.", 0},
    [CONF_RECOVER] = {"recover", "RAFTCRON_RECOVER", NULL, K_BOOL, FIELD(recover), 0, 0, "false",
                      NULL, G_CLUSTER,
                      "After losing a majority for good: make this node the only voter of its "
                      "log and serve (docs/operations.md). Once, on the survivor with the "
                      "longest log; never in a config file.",
                      0},
    [CONF_RESTORE] = {"restore", "RAFTCRON_RESTORE", NULL, K_PATH, FIELD(restore_file), 0, 0, "",
                      "FILE", G_CLUSTER,
                      "Start a new cluster (a new cluster id) from a backup that `raftcronctl "
                      "cluster snapshot save` wrote: into an empty --data dir, this node the "
                      "only voter; then --join the others. First start only; never in a config "
                      "file.",
                      F_EMPTY_OK | F_NO_YAML},
    [CONF_WORKER] = {NAMES("worker", "worker", "WORKER"), K_BOOL, FIELD(worker), 0, 0, "false",
                     NULL, G_CLUSTER,
                     "Run as a worker agent: executes runs, is not a Raft member (needs --join).",
                     0},
    [CONF_DEV] = {NAMES("dev", "dev", "DEV"), K_BOOL, FIELD(dev), 0, 0, "false", NULL, G_CLUSTER,
                  "Single-node cluster for development: unless given, id 1, RPC 127.0.0.1:7101, "
                  "Raft 127.0.0.1:7201, --bootstrap, --allow-root-jobs, and a temporary data "
                  "dir (removed at exit).",
                  0},
    [CONF_CONFIG] = {"config", "RAFTCRON_CONFIG", NULL, K_PATH, FIELD(config_file), 0, 0, "",
                     "FILE.yaml", G_CLUSTER,
                     "YAML file of settings (keys as in docs/configuration.md).",
                     F_EMPTY_OK | F_NO_YAML},
    [CONF_AUTH_TOKEN] = {NAMES("auth-token", "auth_token", "AUTH_TOKEN"), K_STRING,
                         FIELD(auth_token), 0, 0, "", "SECRET", G_CLUSTER,
                         "Shared secret every RPC must carry; empty: none. Visible in ps and "
                         "the environment: prefer --auth-token-file.",
                         F_EMPTY_OK | F_SECRET},
    [CONF_ELECTION_TIMEOUT] = {NAMES("election-timeout", "election_timeout", "ELECTION_TIMEOUT"),
                               K_DURATION, FIELD(election_timeout_us), US_PER_MS, 3600 * US_PER_S,
                               "1s", "DURATION", G_RAFT,
                               "Follower silence before it stands for election.", 0},
    [CONF_HEARTBEAT_TIMEOUT] = {NAMES("heartbeat-timeout", "heartbeat_timeout",
                                      "HEARTBEAT_TIMEOUT"),
                                K_DURATION, FIELD(heartbeat_timeout_us), US_PER_MS, 3600 * US_PER_S,
                                "20ms", "DURATION", G_RAFT,
                                "Leader heartbeat interval; shorter than the election timeout. "
                                "After a quiet spell the first write waits for the next "
                                "heartbeat (docs/performance.md), so keep it short.",
                                0},
    [CONF_SNAPSHOT_THRESHOLD] = {NAMES("snapshot-threshold", "snapshot_threshold",
                                       "SNAPSHOT_THRESHOLD"),
                                 K_UINT, FIELD(snapshot_threshold), 1, UINT32_MAX, "8192",
                                 "N", G_RAFT, "Log entries between snapshots.", 0},
    [CONF_SNAPSHOT_TRAILING] = {NAMES("snapshot-trailing", "snapshot_trailing",
                                      "SNAPSHOT_TRAILING"),
                                K_UINT, FIELD(snapshot_trailing), 0, UINT32_MAX, "2048", "N",
                                G_RAFT, "Log entries kept behind a snapshot for slow followers.",
                                0},
    [CONF_LOOKAHEAD] = {NAMES("lookahead", "lookahead", "LOOKAHEAD"), K_DURATION,
                        FIELD(lookahead_us), 0, 60 * US_PER_S, "100ms", "DURATION", G_SCHED,
                        "How far ahead the leader commits fire decisions (DESIGN.md 4.2).", 0},
    [CONF_NO_EXECUTE] = {NAMES("no-execute", "no_execute", "NO_EXECUTE"), K_BOOL, FIELD(no_execute),
                         0, 0, "false", NULL, G_SCHED,
                         "Take part in Raft but never execute runs on this node.", 0},
    [CONF_MAX_PARALLEL] = {NAMES("max-parallel", "max_parallel", "MAX_PARALLEL"), K_UINT,
                           FIELD(max_parallel), 1, 1024, "3", "N", G_SCHED,
                           "Runs this node executes at the same time.", 0},
    [CONF_TAGS] = {NAMES("tags", "tags", "TAGS"), K_TAGS, FIELD(tags), 0, 0, "", "K=V[,K=V...]",
                   G_SCHED, "Tags that jobs' target tags are matched against.", F_EMPTY_OK},
    [CONF_WORKER_TIMEOUT] = {NAMES("worker-timeout", "worker_timeout", "WORKER_TIMEOUT"),
                             K_DURATION, FIELD(worker_timeout_us), 100 * US_PER_MS, 3600 * US_PER_S,
                             "10s", "DURATION", G_SCHED,
                             "Silence after which a worker is marked down and its runs LOST.", 0},
    [CONF_HISTORY_RUNS] = {NAMES("history-runs", "history_runs", "HISTORY_RUNS"), K_UINT,
                           FIELD(history_runs), 1, 10000, "100", "N", G_HISTORY,
                           "Finished runs kept per job in the replicated ledger.", 0},
    [CONF_HISTORY_AGE] = {NAMES("history-age", "history_age", "HISTORY_AGE"), K_DURATION,
                          FIELD(history_age_us), US_PER_S, 3650 * US_PER_DAY, "7d", "DURATION",
                          G_HISTORY, "Finished runs older than this are dropped from the ledger.",
                          0},
    [CONF_HISTORY_POSTGRES] = {NAMES("history-postgres", "history_postgres", "HISTORY_POSTGRES"),
                               K_STRING, FIELD(history_postgres), 0, 0, "", "NAME|DSN", G_HISTORY,
                               "Export finished runs to PostgreSQL (table raftcron_runs): a "
                               "connection of connections: or a DSN; empty: no export.",
                               F_EMPTY_OK | F_SECRET},
    [CONF_SQL_POOL_SIZE] = {NAMES("sql-pool-size", "sql_pool_size", "SQL_POOL_SIZE"), K_UINT,
                            FIELD(sql_pool_size), 1, 64, "4", "N", G_SCHED,
                            "PostgreSQL connections per database used at once by SQL jobs.", 0},
    [CONF_HTTP_CA_FILE] = {NAMES("http-ca-file", "http_ca_file", "HTTP_CA_FILE"), K_PATH,
                           FIELD(http_ca_file), 0, 0, "", "FILE", G_SCHED,
                           "CA bundle for HTTP jobs' https (default: the system's).", F_EMPTY_OK},
    [CONF_TLS_CA] = {NAMES("tls-ca", "tls_ca", "TLS_CA"), K_PATH, FIELD(tls_ca), 0, 0, "", "FILE",
                     G_SECURITY,
                     "CA (PEM) that Raft peers' and RPC clients' certificates must chain to, and "
                     "that servers this node connects to (join, worker link) must present.",
                     F_EMPTY_OK},
    [CONF_TLS_CERT] = {NAMES("tls-cert", "tls_cert", "TLS_CERT"), K_PATH, FIELD(tls_cert), 0, 0, "",
                       "FILE", G_SECURITY,
                       "This node's certificate (PEM): turns on TLS for Raft (mutual), RPC and "
                       "HTTP (HTTPS). It must name the host of --raft-addr (or --peer-tls-name).",
                       F_EMPTY_OK},
    [CONF_TLS_KEY] = {NAMES("tls-key", "tls_key", "TLS_KEY"), K_PATH, FIELD(tls_key), 0, 0, "",
                      "FILE", G_SECURITY,
                      "The certificate's private key (PEM, mode 0600). Reloaded with the "
                      "certificate and CA on SIGHUP (HTTPS: at start only).",
                      F_EMPTY_OK},
    [CONF_PEER_TLS_NAME] = {NAMES("peer-tls-name", "peer_tls_name", "PEER_TLS_NAME"), K_STRING,
                            FIELD(peer_tls_name), 0, 0, "", "NAME", G_SECURITY,
                            "Raft peers' certificates must carry this DNS name instead of the "
                            "host of their address.",
                            F_EMPTY_OK},
    [CONF_RPC_CLIENT_AUTH] = {NAMES("rpc-client-auth", "rpc_client_auth", "RPC_CLIENT_AUTH"),
                              K_STRING, FIELD(rpc_client_auth), 0, 0, "optional",
                              "none|optional|require", G_SECURITY,
                              "RPC client certificates with TLS: verified when sent (optional) "
                              "or required.",
                              0},
    [CONF_CLUSTER_SECRET_FILE] = {NAMES("cluster-secret-file", "cluster_secret_file",
                                        "CLUSTER_SECRET_FILE"),
                                  K_PATH, FIELD(cluster_secret_file), 0, 0, "", "FILE", G_SECURITY,
                                  "File (mode 0600) of a secret all members share: Raft peers "
                                  "prove it to each other (HMAC over nonces) without TLS.",
                                  F_EMPTY_OK},
    [CONF_AUTH_TOKEN_FILE] = {NAMES("auth-token-file", "auth_token_file", "AUTH_TOKEN_FILE"),
                              K_PATH, FIELD(auth_token_file), 0, 0, "", "FILE", G_SECURITY,
                              "File (mode 0600) holding the token every RPC must carry (first "
                              "line).",
                              F_EMPTY_OK},
    [CONF_INSECURE] = {NAMES("insecure", "insecure", "INSECURE"), K_BOOL, FIELD(insecure), 0, 0,
                       "false", NULL, G_SECURITY,
                       "Listen on a non-loopback address (Raft, RPC, HTTP) without TLS and client "
                       "authentication (warned at start and every hour).",
                       0},
    [CONF_RPC_MAX_CONNECTIONS] = {NAMES("rpc-max-connections", "rpc_max_connections",
                                        "RPC_MAX_CONNECTIONS"),
                                  K_UINT, FIELD(rpc_max_connections), 1, 65536, "1024", "N",
                                  G_SECURITY, "RPC connections open at once; more are closed.", 0},
    [CONF_RPC_IDLE_TIMEOUT] = {NAMES("rpc-idle-timeout", "rpc_idle_timeout", "RPC_IDLE_TIMEOUT"),
                               K_DURATION, FIELD(rpc_idle_timeout_us), US_PER_S, 86400 * US_PER_S,
                               "5m", "DURATION", G_SECURITY,
                               "An RPC connection that sends nothing for this long is closed.", 0},
    [CONF_RPC_MAX_FRAME] = {NAMES("rpc-max-frame", "rpc_max_frame", "RPC_MAX_FRAME"), K_UINT,
                            FIELD(rpc_max_frame), 65536, 1u << 30, "4194304", "BYTES", G_SECURITY,
                            "Largest RPC request frame; before a connection authenticated: "
                            "64 KiB.",
                            0},
    [CONF_RUN_AS] = {NAMES("run-as", "run_as", "RUN_AS"), K_STRING, FIELD(run_as), 0, 0, "",
                     "USER[:GROUP]", G_SECURITY,
                     "When the daemon runs as root, shell jobs run as this user (and its group, "
                     "or GROUP).",
                     F_EMPTY_OK},
    [CONF_ALLOW_ROOT_JOBS] = {NAMES("allow-root-jobs", "allow_root_jobs", "ALLOW_ROOT_JOBS"),
                              K_BOOL, FIELD(allow_root_jobs), 0, 0, "false", NULL, G_SECURITY,
                              "Let shell jobs run as root when the daemon is root and --run-as "
                              "is not set (refused otherwise).",
                              0},
    [CONF_EXECUTORS] = {NAMES("executors", "executors", "EXECUTORS"), K_STRING, FIELD(executors), 0,
                        0, "", "NS=KIND[+KIND...][,...]", G_SECURITY,
                        "Executors each namespace may use (* for the rest), e.g. "
                        "ops=shell+http,*=http+sql+noop; empty: all.",
                        F_EMPTY_OK},
    [CONF_JOB_RLIMITS] = {NAMES("job-rlimits", "job_rlimits", "JOB_RLIMITS"), K_STRING,
                          FIELD(job_rlimits), 0, 0, "", "NAME=VALUE[,...]", G_SECURITY,
                          "Resource limits of shell runs whose job sets none, e.g. "
                          "cpu=60s,as=1G,nofile=256 (docs/security.md).",
                          F_EMPTY_OK},
    [CONF_JOB_ENV_KEEP] = {NAMES("job-env-keep", "job_env_keep", "JOB_ENV_KEEP"), K_STRING,
                           FIELD(job_env_keep), 0, 0, "", "NAME[,NAME...]", G_SECURITY,
                           "Variables of the daemon's environment that shell runs get besides "
                           "PATH, locale, TZ, TMPDIR, HOME, USER, LOGNAME and SHELL, e.g. "
                           "HTTP_PROXY,NO_PROXY; RAFTCRON_* names are refused.",
                           F_EMPTY_OK},
    [CONF_LOG_LEVEL] = {NAMES("log-level", "log_level", "LOG_LEVEL"), K_LEVEL, FIELD(log_level), 0,
                        0, "info", "debug|info|warn|error", G_LOG,
                        "Least severe level that is logged.", 0},
    [CONF_LOG_FORMAT] = {NAMES("log-format", "log_format", "LOG_FORMAT"), K_FORMAT,
                         FIELD(log_format), 0, 0, "logfmt", "logfmt|json", G_LOG,
                         "One logfmt line or one JSON object per event.", 0},
    [CONF_AUTH_JWT_HS256_KEY_FILE] = {NAMES("auth-jwt-hs256-key-file", "auth_jwt_hs256_key_file",
                                            "AUTH_JWT_HS256_KEY_FILE"),
                                      K_PATH, FIELD(auth_jwt_hs256_key_file), 0, 0, "", "FILE",
                                      G_HTTP, "Secret of HS256 bearer tokens (file, mode 0600).",
                                      F_EMPTY_OK},
    [CONF_AUTH_JWT_PUBLIC_KEY_FILE] = {NAMES("auth-jwt-public-key-file", "auth_jwt_public_key_file",
                                             "AUTH_JWT_PUBLIC_KEY_FILE"),
                                       K_PATH, FIELD(auth_jwt_public_key_file), 0, 0, "", "FILE",
                                       G_HTTP,
                                       "PEM public key of RS256 (RSA) or ES256 (P-256) bearer "
                                       "tokens.",
                                       F_EMPTY_OK},
    [CONF_AUTH_JWT_JWKS_FILE] = {NAMES("auth-jwt-jwks-file", "auth_jwt_jwks_file",
                                       "AUTH_JWT_JWKS_FILE"),
                                 K_PATH, FIELD(auth_jwt_jwks_file), 0, 0, "", "FILE", G_HTTP,
                                 "JWKS file of RS256/ES256 public keys, chosen by the token's "
                                 "kid.",
                                 F_EMPTY_OK},
    [CONF_AUTH_JWT_ISSUER] = {NAMES("auth-jwt-issuer", "auth_jwt_issuer", "AUTH_JWT_ISSUER"),
                              K_STRING, FIELD(auth_jwt_issuer), 0, 0, "", "ISS", G_HTTP,
                              "Tokens must carry this iss; empty: not checked.", F_EMPTY_OK},
    [CONF_AUTH_JWT_AUDIENCE] = {NAMES("auth-jwt-audience", "auth_jwt_audience",
                                      "AUTH_JWT_AUDIENCE"),
                                K_STRING, FIELD(auth_jwt_audience), 0, 0, "", "AUD", G_HTTP,
                                "Tokens' aud must hold this; empty: not checked.", F_EMPTY_OK},
    [CONF_AUTH_JWT_LEEWAY] = {NAMES("auth-jwt-leeway", "auth_jwt_leeway", "AUTH_JWT_LEEWAY"),
                              K_DURATION, FIELD(auth_jwt_leeway_us), 0, 3600 * US_PER_S, "60s",
                              "DURATION", G_HTTP, "Clock skew allowed when checking exp and nbf.",
                              0},
    [CONF_AUTH_JWT_CLAIM] = {NAMES("auth-jwt-claim", "auth_jwt_claim", "AUTH_JWT_CLAIM"), K_STRING,
                             FIELD(auth_jwt_claim), 0, 0, "raftcron", "NAME", G_HTTP,
                             "The claim that holds a token's namespaces and roles.", 0},
    [CONF_METRICS_TOKEN] = {NAMES("metrics-token", "metrics_token", "METRICS_TOKEN"), K_BOOL,
                            FIELD(metrics_token), 0, 0, "false", NULL, G_HTTP,
                            "/metrics needs a valid credential (when authentication is on).", 0},
    [CONF_METRICS_NAMESPACES] = {NAMES("metrics-namespaces", "metrics_namespaces",
                                       "METRICS_NAMESPACES"),
                                 K_BOOL, FIELD(metrics_namespaces), 0, 0, "false", NULL, G_HTTP,
                                 "Label runs at /metrics by namespace (one series per namespace).",
                                 0},
    [CONF_HTTP_MAX_BODY] = {NAMES("http-max-body", "http_max_body", "HTTP_MAX_BODY"), K_UINT,
                            FIELD(http_max_body), 1024, 64 << 20, "1048576", "BYTES", G_HTTP,
                            "Largest request body the REST API reads (larger: 413).", 0},
    [CONF_EVENTS_BUFFER] = {NAMES("events-buffer", "events_buffer", "EVENTS_BUFFER"), K_UINT,
                            FIELD(events_buffer), 0, 1000000, "16384", "N", G_HTTP,
                            "Events kept for watches that resume (Last-Event-ID).", 0},
};

/* Where a value is being read from, for messages. */
struct place {
    enum conf_source source;
    const char *file;
    unsigned line;
};

const char *confparseFlagName(enum conf_key key)
{
    return (unsigned)key < CONF_N_KEYS ? options[key].flag : NULL;
}

const char *confparseEnvName(enum conf_key key)
{
    return (unsigned)key < CONF_N_KEYS ? options[key].env : NULL;
}

const char *confparseYamlKey(enum conf_key key)
{
    return (unsigned)key < CONF_N_KEYS ? options[key].yaml : NULL;
}

const char *confparseVersion(void)
{
    return "raftcrond " RC_VERSION_STRING;
}

/* ---- messages -------------------------------------------------------------------------------- */

/* "value" with control characters escaped and long values cut, so a message stays one line. */
static const char *quote(char out[QUOTE_SIZE], const char *s)
{
    size_t o = 0;
    out[o++] = '"';
    size_t i = 0;
    for (; s[i] != '\0' && i < QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7F) {
            o += (size_t)snprintf(out + o, 7, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    if (s[i] != '\0') {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* The prefix of a message about option o read at pl: "--id", "RAFTCRON_ID", "f.yaml:3: id". */
static const char *placeText(char out[PLACE_SIZE], const struct option *o, const struct place *pl)
{
    switch (pl->source) {
    case CONF_SOURCE_FLAG:
        snprintf(out, PLACE_SIZE, "--%s", o->flag);
        break;
    case CONF_SOURCE_ENV:
        snprintf(out, PLACE_SIZE, "%s", o->env);
        break;
    case CONF_SOURCE_FILE:
        snprintf(out, PLACE_SIZE, "%s:%u: %s", pl->file, pl->line, o->yaml);
        break;
    case CONF_SOURCE_DEV:
        snprintf(out, PLACE_SIZE, "--dev (for %s)", o->flag);
        break;
    default:
        snprintf(out, PLACE_SIZE, "default %s", o->flag);
        break;
    }
    return out;
}

/* "<place>: "<value>" <reason>" (the value is left out for secrets). */
__attribute__((format(printf, 6, 7))) static int valueError(char *err, size_t errlen,
                                                            const struct option *o,
                                                            const struct place *pl,
                                                            const char *value, const char *fmt, ...)
{
    char where[PLACE_SIZE], q[QUOTE_SIZE], reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    if (o->flags & F_SECRET) {
        return errSet(err, errlen, RC_EPARSE, "%s: %s", placeText(where, o, pl), reason);
    }
    return errSet(err, errlen, RC_EPARSE, "%s: %s %s", placeText(where, o, pl), quote(q, value),
                  reason);
}

/* Levenshtein distance, for "did you mean"; strings longer than 40 bytes are "far". */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40) {
        return 99;
    }
    size_t row[41];
    for (size_t j = 0; j <= lb; j++) {
        row[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            best = up + 1 < best ? up + 1 : best;
            best = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* " (did you mean X?)" for the closest spelling within 2 edits, or "". */
static const char *suggest(char *out, size_t len, const char *name, bool yaml)
{
    const char *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < CONF_N_KEYS; i++) {
        const char *cand = yaml ? options[i].yaml : options[i].flag;
        size_t d = cand != NULL ? distance(name, cand) : 99;
        if (d < best_d) {
            best = cand;
            best_d = d;
        }
    }
    if (best == NULL) {
        return "";
    }
    snprintf(out, len, " (did you mean %s%s?)", yaml ? "" : "--", best);
    return out;
}

/* ---- values ---------------------------------------------------------------------------------- */

static void *fieldOf(struct rc_config *cfg, const struct option *o)
{
    return (char *)cfg + o->offset;
}

/* Decimal digits only; 0 ok, -1 not a number, -2 does not fit in 64 bits. */
static int parseUint(const char *s, uint64_t *out)
{
    if (*s == '\0' || strspn(s, "0123456789") != strlen(s)) {
        return -1;
    }
    uint64_t v = 0;
    for (; *s != '\0'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return -2;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int setUint(struct rc_config *cfg, const struct option *o, const char *text,
                   const struct place *pl, char *err, size_t errlen)
{
    uint64_t v = 0;
    int rv = parseUint(text, &v);
    const char *what = o->min >= 1 ? "is not a positive integer" : "is not a non-negative integer";
    if (rv == -1 || (rv == 0 && v == 0 && o->min >= 1)) {
        return valueError(err, errlen, o, pl, text, "%s", what);
    }
    if (rv == -2 || v < (uint64_t)o->min || v > (uint64_t)o->max) {
        return valueError(err, errlen, o, pl, text, "is out of range %lld-%llu", (long long)o->min,
                          (unsigned long long)o->max);
    }
    if (o->size == sizeof(uint64_t)) {
        *(uint64_t *)fieldOf(cfg, o) = v;
    } else {
        assert(o->size == sizeof(uint32_t));
        *(uint32_t *)fieldOf(cfg, o) = (uint32_t)v;
    }
    return 0;
}

/* The shortest exact spelling of a duration: "1ms", "1h", "3650d". */
static const char *durationText(char *out, size_t len, int64_t us)
{
    static const struct {
        const char *unit;
        int64_t us;
    } units[] = {{"d", US_PER_DAY}, {"h", 3600 * US_PER_S}, {"m", 60 * US_PER_S},
                 {"s", US_PER_S},   {"ms", US_PER_MS},      {"us", 1}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (us != 0 && us % units[i].us == 0) {
            snprintf(out, len, "%lld%s", (long long)(us / units[i].us), units[i].unit);
            return out;
        }
    }
    snprintf(out, len, "0s");
    return out;
}

/* "0", "0s", "00ms": zero, which durationParse refuses but --lookahead allows. */
static bool isZeroDuration(const char *s)
{
    static const char *const units[] = {"", "us", "ms", "s", "m", "h", "d"};
    size_t z = strspn(s, "0");
    for (size_t i = 0; z > 0 && i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(s + z, units[i]) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * A bare number is refused although durationParse reads it as seconds: "timeout: 500"
 * in a config file is as likely to mean milliseconds, and guessing wrong is silent.
 */
static int setDuration(struct rc_config *cfg, const struct option *o, const char *text,
                       const struct place *pl, char *err, size_t errlen)
{
    char sub[RC_ERRMSG_SIZE], lim[32];
    int64_t us = 0;
    bool zero = isZeroDuration(text);
    if (!zero && strspn(text, "0123456789") == strlen(text)) {
        return valueError(err, errlen, o, pl, text, "needs a unit (e.g. \"%.20ss\" or \"%.20sms\")",
                          text, text);
    }
    if (!zero && durationParse(text, &us, sub, sizeof sub) != 0) {
        return valueError(err, errlen, o, pl, text, "is not a duration");
    }
    if (us < o->min) {
        return valueError(err, errlen, o, pl, text, "is too short (at least %s)",
                          durationText(lim, sizeof lim, o->min));
    }
    if (us > o->max) {
        return valueError(err, errlen, o, pl, text, "is too long (at most %s)",
                          durationText(lim, sizeof lim, o->max));
    }
    *(int64_t *)fieldOf(cfg, o) = us;
    return 0;
}

static bool isHostChar(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

/* Why s is not HOST:PORT / [IPv6]:PORT, or NULL when it is. */
static const char *addrProblem(const char *s)
{
    const char *colon;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close == s + 1 ||
            strspn(s + 1, "0123456789abcdefABCDEF:.") != (size_t)(close - s - 1)) {
            return "has a bad IPv6 host (write [::1]:7100)";
        }
        if (close[1] != ':') {
            return "needs a port";
        }
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) {
            return "needs a port";
        }
        if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
            return "needs brackets around an IPv6 host (write [::1]:7100)";
        }
        if (colon == s) {
            return "needs a host (0.0.0.0 listens on every interface)";
        }
        for (const char *h = s; h < colon; h++) {
            if (!isHostChar(*h)) {
                return "has a bad host name";
            }
        }
        if (colon - s > 253) {
            return "has a host name longer than 253 bytes";
        }
    }
    uint64_t port = 0;
    if (parseUint(colon + 1, &port) != 0 || port == 0 || port > 65535) {
        return "has a bad port (expected 1-65535)";
    }
    return NULL;
}

static int setAddr(struct rc_config *cfg, const struct option *o, const char *text,
                   const struct place *pl, char *err, size_t errlen)
{
    const char *problem = *text != '\0' ? addrProblem(text) : NULL;
    if (problem != NULL) {
        return valueError(err, errlen, o, pl, text, "%s", problem);
    }
    if (strlen(text) >= o->size) {
        return valueError(err, errlen, o, pl, text, "is too long");
    }
    memcpy(fieldOf(cfg, o), text, strlen(text) + 1);
    return 0;
}

/* One address of --join, appended to cfg->join. */
static int addJoin(struct rc_config *cfg, const struct option *o, const char *item,
                   const struct place *pl, char *err, size_t errlen)
{
    const char *problem = *item == '\0' ? "is an empty address" : addrProblem(item);
    if (problem != NULL) {
        return valueError(err, errlen, o, pl, item, "%s", problem);
    }
    if (cfg->n_join == RC_CONF_JOIN_MAX) {
        return valueError(err, errlen, o, pl, item, "is one address too many (at most %d)",
                          RC_CONF_JOIN_MAX);
    }
    size_t have = strlen(cfg->join);
    size_t need = strlen(item) + (have > 0 ? 1 : 0);
    if (have + need >= sizeof cfg->join || strlen(item) >= RC_CONF_ADDR_MAX) {
        return valueError(err, errlen, o, pl, item, "is too long");
    }
    snprintf(cfg->join + have, sizeof cfg->join - have, "%s%s", have > 0 ? "," : "", item);
    cfg->n_join++;
    return 0;
}

/* One "key=value" or (key, value) tag, appended to cfg->tags. */
static int addTag(struct rc_config *cfg, const struct option *o, const char *key, const char *value,
                  const char *shown, const struct place *pl, char *err, size_t errlen)
{
    if (*key == '\0' || strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789_.-/") != strlen(key)) {
        return valueError(err, errlen, o, pl, shown,
                          "is not key=value (keys use letters, digits and _ . - /)");
    }
    if (strlen(key) >= RC_CONF_TAG_KEY_MAX || strlen(value) >= RC_CONF_TAG_VALUE_MAX) {
        return valueError(err, errlen, o, pl, shown, "is too long (keys %d, values %d bytes)",
                          RC_CONF_TAG_KEY_MAX - 1, RC_CONF_TAG_VALUE_MAX - 1);
    }
    for (unsigned i = 0; i < cfg->n_tags; i++) {
        if (strcmp(cfg->tags[i].key, key) == 0) {
            return valueError(err, errlen, o, pl, shown, "repeats the tag %s", key);
        }
    }
    if (cfg->n_tags == RC_CONF_TAGS_MAX) {
        return valueError(err, errlen, o, pl, shown, "is one tag too many (at most %d)",
                          RC_CONF_TAGS_MAX);
    }
    struct rc_conf_tag *t = &cfg->tags[cfg->n_tags++];
    memcpy(t->key, key, strlen(key) + 1);
    memcpy(t->value, value, strlen(value) + 1);
    return 0;
}

/* Copies the comma-separated item at *s (spaces around it dropped) into out; false if longer. */
static bool nextItem(const char **s, char *out, size_t len)
{
    const char *p = *s;
    const char *end = strchr(p, ',');
    end = end != NULL ? end : p + strlen(p);
    *s = *end == ',' ? end + 1 : end;
    while (p < end && *p == ' ') {
        p++;
    }
    while (end > p && end[-1] == ' ') {
        end--;
    }
    if ((size_t)(end - p) >= len) {
        return false;
    }
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
    return true;
}

static int setList(struct rc_config *cfg, const struct option *o, const char *text,
                   const struct place *pl, char *err, size_t errlen)
{
    char item[RC_CONF_ADDR_MAX + RC_CONF_TAG_VALUE_MAX];
    const char *p = text;
    if (o->kind == K_ADDRLIST) {
        cfg->join[0] = '\0';
        cfg->n_join = 0;
    } else {
        cfg->n_tags = 0;
    }
    if (*text == '\0') {
        return 0;
    }
    for (;;) {
        bool last = strchr(p, ',') == NULL;
        if (!nextItem(&p, item, sizeof item)) {
            return valueError(err, errlen, o, pl, text, "has an item that is too long");
        }
        int rv;
        if (o->kind == K_ADDRLIST) {
            rv = addJoin(cfg, o, item, pl, err, errlen);
        } else {
            char *eq = strchr(item, '=');
            char shown[sizeof item];
            memcpy(shown, item, sizeof item);
            if (eq != NULL) {
                *eq = '\0';
            }
            rv = addTag(cfg, o, eq != NULL ? item : "", eq != NULL ? eq + 1 : "", shown, pl, err,
                        errlen);
        }
        if (rv != 0 || last) {
            return rv;
        }
    }
}

static int setText(struct rc_config *cfg, const struct option *o, const char *text,
                   const struct place *pl, char *err, size_t errlen)
{
    if (strlen(text) >= o->size) {
        return valueError(err, errlen, o, pl, text, "is too long (at most %zu bytes)", o->size - 1);
    }
    memcpy(fieldOf(cfg, o), text, strlen(text) + 1);
    return 0;
}

/* Spellings of true and false accepted from flags and the environment (YAML 1.1 adds none). */
static int parseBool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
            *out = strcasecmp(s, yes[i]) == 0;
            return 0;
        }
    }
    return -1;
}

static int setEnum(struct rc_config *cfg, const struct option *o, const char *text,
                   const struct place *pl, char *err, size_t errlen)
{
    if (o->kind == K_BOOL) {
        if (parseBool(text, (bool *)fieldOf(cfg, o)) != 0) {
            return valueError(err, errlen, o, pl, text, "is not a boolean (use true or false)");
        }
        return 0;
    }
    if (o->kind == K_LEVEL) {
        if (logfmtParseLevel(text, (enum rc_log_level *)fieldOf(cfg, o)) != 0) {
            return valueError(err, errlen, o, pl, text, "is not one of debug, info, warn, error");
        }
        return 0;
    }
    if (logfmtParseFormat(text, (enum rc_log_format *)fieldOf(cfg, o)) != 0) {
        return valueError(err, errlen, o, pl, text, "is not one of logfmt, json");
    }
    return 0;
}

static void setOrigin(struct rc_config *cfg, const struct option *o, const struct place *pl)
{
    struct conf_origin * or = &cfg->origin[o - options];
    or->source = pl->source;
    or->line = pl->source == CONF_SOURCE_FILE ? pl->line : 0;
}

/* Parse text as the value of o and store it; the one entry point for every source. */
static int setOption(struct rc_config *cfg, const struct option *o, const char *text,
                     const struct place *pl, char *err, size_t errlen)
{
    char where[PLACE_SIZE];
    if (*text == '\0' && !(o->flags & F_EMPTY_OK)) {
        return errSet(err, errlen, RC_EPARSE, "%s: needs a value", placeText(where, o, pl));
    }
    int rv;
    switch (o->kind) {
    case K_UINT:
        rv = setUint(cfg, o, text, pl, err, errlen);
        break;
    case K_DURATION:
        rv = setDuration(cfg, o, text, pl, err, errlen);
        break;
    case K_ADDR:
        rv = setAddr(cfg, o, text, pl, err, errlen);
        break;
    case K_ADDRLIST:
    case K_TAGS:
        rv = setList(cfg, o, text, pl, err, errlen);
        break;
    case K_PATH:
    case K_STRING:
        rv = setText(cfg, o, text, pl, err, errlen);
        break;
    default:
        rv = setEnum(cfg, o, text, pl, err, errlen);
        break;
    }
    if (rv == 0) {
        setOrigin(cfg, o, pl);
    }
    return rv;
}

void confparseDefaults(struct rc_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    const struct place pl = {CONF_SOURCE_DEFAULT, NULL, 0};
    for (size_t i = 0; i < CONF_N_KEYS; i++) {
        if (options[i].def != NULL) {
            int rv = setOption(cfg, &options[i], options[i].def, &pl, NULL, 0);
            assert(rv == 0);
            (void)rv;
        }
    }
}

/* ---- YAML (libyaml's event API) -------------------------------------------------------------- */

struct yaml {
    yaml_parser_t parser;
    yaml_event_t event;
    bool have_event;
    struct rc_config *cfg;
    const char *name;
    unsigned seen[CONF_N_KEYS]; /* line of each key already given, 0 if none */
    unsigned seen_connections;  /* line of "connections:", 0 if none */
    unsigned seen_history;      /* line of "history:", 0 if none */
    char *err;
    size_t errlen;
};

static int yamlSyntaxError(struct yaml *y)
{
    yaml_parser_t *p = &y->parser;
    const char *problem = p->problem != NULL ? p->problem : "malformed YAML";
    if (p->error == YAML_READER_ERROR) {
        return errSet(y->err, y->errlen, RC_EPARSE, "%s: YAML error: %s at byte %zu", y->name,
                      problem, p->problem_offset);
    }
    return errSet(y->err, y->errlen, RC_EPARSE, "%s:%zu: YAML error: %s (column %zu%s%s)", y->name,
                  p->problem_mark.line + 1, problem, p->problem_mark.column + 1,
                  p->context != NULL ? ", " : "", p->context != NULL ? p->context : "");
}

/* Advance to the next event; the previous one is released. */
static int yamlNext(struct yaml *y)
{
    if (y->have_event) {
        yaml_event_delete(&y->event);
        y->have_event = false;
    }
    if (!yaml_parser_parse(&y->parser, &y->event)) {
        return yamlSyntaxError(y);
    }
    y->have_event = true;
    return 0;
}

static unsigned yamlLine(const struct yaml *y)
{
    return (unsigned)y->event.start_mark.line + 1;
}

static const char *nodeName(yaml_event_type_t t)
{
    switch (t) {
    case YAML_SEQUENCE_START_EVENT:
        return "a list";
    case YAML_MAPPING_START_EVENT:
        return "a mapping";
    case YAML_ALIAS_EVENT:
        return "an alias (aliases are not supported)";
    default:
        return "a scalar";
    }
}

static const char *kindNoun(const struct option *o)
{
    switch (o->kind) {
    case K_UINT:
        return o->min >= 1 ? "a positive integer" : "a non-negative integer";
    case K_DURATION:
        return "a duration such as 1s or 150ms";
    case K_ADDR:
        return "HOST:PORT";
    case K_ADDRLIST:
        return "HOST:PORT or a list of them";
    case K_PATH:
        return "a path";
    case K_STRING:
        return "a string";
    case K_BOOL:
        return "true or false";
    case K_LEVEL:
        return "one of debug, info, warn, error";
    case K_FORMAT:
        return "one of logfmt, json";
    default:
        return "a mapping of tags or K=V,...";
    }
}

static int typeError(struct yaml *y, const struct option *o, const char *got)
{
    char where[PLACE_SIZE];
    const struct place pl = {CONF_SOURCE_FILE, y->name, yamlLine(y)};
    return errSet(y->err, y->errlen, RC_EPARSE, "%s: expected %s, got %s", placeText(where, o, &pl),
                  kindNoun(o), got);
}

/*
 * The current scalar event as a C string: NULL for an embedded NUL (after reporting it),
 * "" for YAML null ("", ~, null in plain style).
 */
static const char *scalarText(struct yaml *y, const struct option *o)
{
    const char *s = (const char *)y->event.data.scalar.value;
    size_t n = y->event.data.scalar.length;
    if (strlen(s) != n) {
        char where[PLACE_SIZE];
        const struct place pl = {CONF_SOURCE_FILE, y->name, yamlLine(y)};
        errSet(y->err, y->errlen, RC_EPARSE, "%s: contains a NUL character",
               placeText(where, o, &pl));
        return NULL;
    }
    bool plain = y->event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (plain && (n == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
                  strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0)) {
        return "";
    }
    return s;
}

static int yamlScalar(struct yaml *y, const struct option *o)
{
    const char *text = scalarText(y, o);
    if (text == NULL) {
        return RC_EPARSE;
    }
    /* YAML types: a quoted "5" or "true" is a string, not a number or a boolean. */
    bool plain = y->event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (!plain && *text != '\0' && (o->kind == K_UINT || o->kind == K_BOOL)) {
        char got[QUOTE_SIZE + 16], q[QUOTE_SIZE];
        snprintf(got, sizeof got, "the string %s", quote(q, text));
        return typeError(y, o, got);
    }
    const struct place pl = {CONF_SOURCE_FILE, y->name, yamlLine(y)};
    return setOption(y->cfg, o, text, &pl, y->err, y->errlen);
}

/* join: [a:1, b:2] */
static int yamlJoinList(struct yaml *y, const struct option *o, const struct place *key_pl)
{
    y->cfg->join[0] = '\0';
    y->cfg->n_join = 0;
    for (;;) {
        int rv = yamlNext(y);
        if (rv != 0) {
            return rv;
        }
        if (y->event.type == YAML_SEQUENCE_END_EVENT) {
            setOrigin(y->cfg, o, key_pl);
            return 0;
        }
        if (y->event.type != YAML_SCALAR_EVENT) {
            return typeError(y, o, nodeName(y->event.type));
        }
        const char *text = scalarText(y, o);
        const struct place pl = {CONF_SOURCE_FILE, y->name, yamlLine(y)};
        if (text == NULL) {
            return RC_EPARSE;
        }
        rv = addJoin(y->cfg, o, text, &pl, y->err, y->errlen);
        if (rv != 0) {
            return rv;
        }
    }
}

/* tags: {zone: eu-1, gpu: "yes"} */
static int yamlTagMap(struct yaml *y, const struct option *o, const struct place *key_pl)
{
    char key[RC_CONF_TAG_KEY_MAX + 1];
    y->cfg->n_tags = 0;
    for (;;) {
        int rv = yamlNext(y);
        if (rv != 0) {
            return rv;
        }
        if (y->event.type == YAML_MAPPING_END_EVENT) {
            setOrigin(y->cfg, o, key_pl);
            return 0;
        }
        const char *text = y->event.type == YAML_SCALAR_EVENT ? scalarText(y, o) : "";
        if (y->event.type != YAML_SCALAR_EVENT) {
            return typeError(y, o, nodeName(y->event.type));
        }
        if (text == NULL) {
            return RC_EPARSE;
        }
        snprintf(key, sizeof key, "%s", text);
        rv = yamlNext(y);
        if (rv != 0) {
            return rv;
        }
        text = y->event.type == YAML_SCALAR_EVENT ? scalarText(y, o) : "";
        if (y->event.type != YAML_SCALAR_EVENT) {
            return typeError(y, o, nodeName(y->event.type));
        }
        if (text == NULL) {
            return RC_EPARSE;
        }
        char shown[sizeof key + RC_CONF_TAG_VALUE_MAX + 2];
        snprintf(shown, sizeof shown, "%s=%s", key, text);
        const struct place pl = {CONF_SOURCE_FILE, y->name, yamlLine(y)};
        rv = addTag(y->cfg, o, key, text, shown, &pl, y->err, y->errlen);
        if (rv != 0) {
            return rv;
        }
    }
}

static int yamlValue(struct yaml *y, const struct option *o, const struct place *key_pl)
{
    int rv = yamlNext(y);
    if (rv != 0) {
        return rv;
    }
    yaml_event_type_t t = y->event.type;
    if (t == YAML_SCALAR_EVENT) {
        return yamlScalar(y, o);
    }
    if (t == YAML_SEQUENCE_START_EVENT && o->kind == K_ADDRLIST) {
        return yamlJoinList(y, o, key_pl);
    }
    if (t == YAML_MAPPING_START_EVENT && o->kind == K_TAGS) {
        return yamlTagMap(y, o, key_pl);
    }
    return typeError(y, o, nodeName(t));
}

static const struct option *findYamlKey(const char *key)
{
    for (size_t i = 0; i < CONF_N_KEYS; i++) {
        if (options[i].yaml != NULL && strcmp(options[i].yaml, key) == 0) {
            return &options[i];
        }
    }
    return NULL;
}

/* The key event at hand: a known, first-time setting, or an error. */
static int yamlKey(struct yaml *y, const struct option **out)
{
    unsigned line = yamlLine(y);
    if (y->event.type != YAML_SCALAR_EVENT) {
        return errSet(y->err, y->errlen, RC_EPARSE,
                      "%s:%u: setting names must be plain words, "
                      "not %s",
                      y->name, line, nodeName(y->event.type));
    }
    const char *key = (const char *)y->event.data.scalar.value;
    char q[QUOTE_SIZE], hint[96];
    const struct option *o = findYamlKey(key);
    if (o == NULL && strcmp(key, "config") == 0) {
        return errSet(y->err, y->errlen, RC_EPARSE, "%s:%u: config: cannot be set in a config file",
                      y->name, line);
    }
    if (o == NULL || strlen(key) != y->event.data.scalar.length) {
        bool word = *key != '\0' && strlen(key) == y->event.data.scalar.length &&
                    strlen(key) <= QUOTE_MAX &&
                    strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_-") == strlen(key);
        return errSet(y->err, y->errlen, RC_EPARSE, "%s:%u: %s: unknown setting%s", y->name, line,
                      word ? key : quote(q, key), suggest(hint, sizeof hint, key, true));
    }
    size_t i = (size_t)(o - options);
    if (y->seen[i] != 0) {
        return errSet(y->err, y->errlen, RC_EPARSE, "%s:%u: %s: given twice (first on line %u)",
                      y->name, line, o->yaml, y->seen[i]);
    }
    y->seen[i] = line;
    *out = o;
    return 0;
}

/* The scalar at hand as a bounded string for a connection field; NULL after an error. */
static const char *connText(struct yaml *y, const char *what, size_t max)
{
    if (y->event.type != YAML_SCALAR_EVENT) {
        errSet(y->err, y->errlen, RC_EPARSE, "%s:%u: %s: expected a string, got %s", y->name,
               yamlLine(y), what, nodeName(y->event.type));
        return NULL;
    }
    const char *s = (const char *)y->event.data.scalar.value;
    if (strlen(s) != y->event.data.scalar.length || strlen(s) >= max) {
        errSet(y->err, y->errlen, RC_EPARSE, "%s:%u: %s: %s", y->name, yamlLine(y), what,
               strlen(s) >= max ? "too long" : "contains a NUL character");
        return NULL;
    }
    return s;
}

static bool connNameValid(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < RC_CONF_CONN_NAME_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* One connection: NAME: {dsn: CONNINFO, password_file: PATH}. */
static int yamlConnection(struct yaml *y, struct rc_conf_conn *c)
{
    char what[RC_CONF_CONN_NAME_MAX + 32];
    int rv = yamlNext(y);
    if (rv != 0) {
        return rv;
    }
    if (y->event.type != YAML_MAPPING_START_EVENT) {
        return errSet(y->err, y->errlen, RC_EPARSE,
                      "%s:%u: connections: %s: expected a mapping with dsn and password_file",
                      y->name, yamlLine(y), c->name);
    }
    for (;;) {
        if ((rv = yamlNext(y)) != 0) {
            return rv;
        }
        if (y->event.type == YAML_MAPPING_END_EVENT) {
            break;
        }
        snprintf(what, sizeof what, "connections: %s", c->name);
        const char *key = connText(y, what, 32);
        if (key == NULL) {
            return RC_EPARSE;
        }
        bool dsn = strcmp(key, "dsn") == 0;
        if (!dsn && strcmp(key, "password_file") != 0) {
            return errSet(y->err, y->errlen, RC_EPARSE,
                          "%s:%u: connections: %s: unknown key %.32s (expected dsn, "
                          "password_file)",
                          y->name, yamlLine(y), c->name, key);
        }
        snprintf(what, sizeof what, "connections: %s: %s", c->name, dsn ? "dsn" : "password_file");
        if ((rv = yamlNext(y)) != 0) {
            return rv;
        }
        const char *v = connText(y, what, dsn ? sizeof c->dsn : sizeof c->password_file);
        if (v == NULL) {
            return RC_EPARSE;
        }
        strcpy(dsn ? c->dsn : c->password_file, v);
    }
    if (c->dsn[0] == '\0') {
        return errSet(y->err, y->errlen, RC_EPARSE, "%s:%u: connections: %s: dsn is required",
                      y->name, c->line, c->name);
    }
    return 0;
}

/* connections: {NAME: {dsn: ..., password_file: ...}, ...} */
static int yamlConnections(struct yaml *y)
{
    int rv = yamlNext(y);
    if (rv != 0) {
        return rv;
    }
    if (y->event.type != YAML_MAPPING_START_EVENT) {
        return errSet(y->err, y->errlen, RC_EPARSE,
                      "%s:%u: connections: expected a mapping of names, got %s", y->name,
                      yamlLine(y), nodeName(y->event.type));
    }
    y->cfg->n_conns = 0;
    for (;;) {
        if ((rv = yamlNext(y)) != 0) {
            return rv;
        }
        if (y->event.type == YAML_MAPPING_END_EVENT) {
            return 0;
        }
        const char *name = connText(y, "connections", RC_CONF_CONN_NAME_MAX);
        if (name == NULL) {
            return RC_EPARSE;
        }
        if (!connNameValid(name)) {
            return errSet(y->err, y->errlen, RC_EPARSE,
                          "%s:%u: connections: \"%.64s\" is not 1-64 of [A-Za-z0-9._-]", y->name,
                          yamlLine(y), name);
        }
        for (unsigned i = 0; i < y->cfg->n_conns; i++) {
            if (strcmp(y->cfg->conns[i].name, name) == 0) {
                return errSet(y->err, y->errlen, RC_EPARSE,
                              "%s:%u: connections: %s: given twice (first on line %u)", y->name,
                              yamlLine(y), name, y->cfg->conns[i].line);
            }
        }
        if (y->cfg->n_conns == RC_CONF_CONNS_MAX) {
            return errSet(y->err, y->errlen, RC_EPARSE, "%s:%u: connections: more than %d", y->name,
                          yamlLine(y), RC_CONF_CONNS_MAX);
        }
        struct rc_conf_conn *c = &y->cfg->conns[y->cfg->n_conns++];
        memset(c, 0, sizeof *c);
        strcpy(c->name, name);
        c->line = yamlLine(y);
        if ((rv = yamlConnection(y, c)) != 0) {
            return rv;
        }
    }
}

/* history: {postgres: ..., runs: N, age: D}: the history_* settings, nested. */
static int yamlHistory(struct yaml *y)
{
    int rv = yamlNext(y);
    if (rv != 0) {
        return rv;
    }
    if (y->event.type != YAML_MAPPING_START_EVENT) {
        return errSet(y->err, y->errlen, RC_EPARSE,
                      "%s:%u: history: expected a mapping (postgres, runs, age), got %s", y->name,
                      yamlLine(y), nodeName(y->event.type));
    }
    for (;;) {
        if ((rv = yamlNext(y)) != 0) {
            return rv;
        }
        if (y->event.type == YAML_MAPPING_END_EVENT) {
            return 0;
        }
        const char *key = connText(y, "history", 32);
        if (key == NULL) {
            return RC_EPARSE;
        }
        char full[48];
        snprintf(full, sizeof full, "history_%s", key);
        const struct option *o = findYamlKey(full);
        if (o == NULL) {
            return errSet(y->err, y->errlen, RC_EPARSE,
                          "%s:%u: history: unknown key %.32s (expected postgres, runs, age)",
                          y->name, yamlLine(y), key);
        }
        size_t i = (size_t)(o - options);
        if (y->seen[i] != 0) {
            return errSet(y->err, y->errlen, RC_EPARSE,
                          "%s:%u: history.%s: given twice (first on line %u)", y->name, yamlLine(y),
                          key, y->seen[i]);
        }
        y->seen[i] = yamlLine(y);
        const struct place key_pl = {CONF_SOURCE_FILE, y->name, yamlLine(y)};
        if ((rv = yamlValue(y, o, &key_pl)) != 0) {
            return rv;
        }
    }
}

/* "connections:" and "history:" are mappings rather than settings; given once each. */
static int yamlSection(struct yaml *y, bool *handled)
{
    *handled = false;
    if (y->event.type != YAML_SCALAR_EVENT) {
        return 0;
    }
    const char *key = (const char *)y->event.data.scalar.value;
    bool conns = strcmp(key, "connections") == 0;
    if (!conns && strcmp(key, "history") != 0) {
        return 0;
    }
    *handled = true;
    unsigned *seen = conns ? &y->seen_connections : &y->seen_history;
    if (*seen != 0) {
        return errSet(y->err, y->errlen, RC_EPARSE, "%s:%u: %s: given twice (first on line %u)",
                      y->name, yamlLine(y), key, *seen);
    }
    *seen = yamlLine(y);
    return conns ? yamlConnections(y) : yamlHistory(y);
}

static int yamlMapping(struct yaml *y)
{
    for (;;) {
        int rv = yamlNext(y);
        if (rv != 0) {
            return rv;
        }
        if (y->event.type == YAML_MAPPING_END_EVENT) {
            return 0;
        }
        bool handled;
        if ((rv = yamlSection(y, &handled)) != 0) {
            return rv;
        }
        if (handled) {
            continue;
        }
        const struct option *o = NULL;
        rv = yamlKey(y, &o);
        if (rv != 0) {
            return rv;
        }
        const struct place key_pl = {CONF_SOURCE_FILE, y->name, yamlLine(y)};
        rv = yamlValue(y, o, &key_pl);
        if (rv != 0) {
            return rv;
        }
    }
}

/* The document's root: a mapping of settings, or nothing at all (an empty file). */
static int yamlDocument(struct yaml *y)
{
    int rv = yamlNext(y);
    if (rv != 0) {
        return rv;
    }
    yaml_event_t *e = &y->event;
    if (e->type == YAML_MAPPING_START_EVENT) {
        rv = yamlMapping(y);
    } else if (e->type == YAML_SCALAR_EVENT && e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
               e->data.scalar.length == 0) {
        rv = 0;
    } else {
        return errSet(y->err, y->errlen, RC_EPARSE, "%s:%u: expected a mapping of settings, got %s",
                      y->name, yamlLine(y), nodeName(e->type));
    }
    return rv != 0 ? rv : yamlNext(y); /* DOCUMENT_END */
}

static int yamlStream(struct yaml *y)
{
    int rv = yamlNext(y); /* STREAM_START */
    for (int docs = 0; rv == 0; docs++) {
        rv = yamlNext(y);
        if (rv != 0 || y->event.type == YAML_STREAM_END_EVENT) {
            break;
        }
        if (docs > 0) {
            return errSet(y->err, y->errlen, RC_EPARSE, "%s:%u: only one YAML document is allowed",
                          y->name, yamlLine(y));
        }
        rv = yamlDocument(y);
    }
    return rv;
}

int confparseYaml(struct rc_config *cfg, const char *name, const char *text, size_t len, char *err,
                  size_t errlen)
{
    struct yaml *y = calloc(1, sizeof *y);
    if (y == NULL) {
        return errSet(err, errlen, RC_ENOMEM, "%s: out of memory", name);
    }
    int rv;
    if (strlen(name) >= sizeof cfg->config_file) {
        rv = errSet(err, errlen, RC_EPARSE, "%.64s...: file name too long", name);
        goto err_after_alloc;
    }
    memcpy(cfg->config_file, name, strlen(name) + 1);
    if (!yaml_parser_initialize(&y->parser)) {
        rv = errSet(err, errlen, RC_ENOMEM, "%s: out of memory", name);
        goto err_after_alloc;
    }
    yaml_parser_set_input_string(&y->parser, (const unsigned char *)text, len);
    y->cfg = cfg;
    y->name = name;
    y->err = err;
    y->errlen = errlen;
    rv = yamlStream(y);
    if (y->have_event) {
        yaml_event_delete(&y->event);
    }
    yaml_parser_delete(&y->parser);
err_after_alloc:
    free(y);
    return rv;
}

/* ---- environment ----------------------------------------------------------------------------- */

static const char *envGet(char **envp, const char *name)
{
    size_t n = strlen(name);
    for (char **e = envp; e != NULL && *e != NULL; e++) {
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') {
            return *e + n + 1;
        }
    }
    return NULL;
}

int confparseEnv(struct rc_config *cfg, char **envp, char *err, size_t errlen)
{
    const struct place pl = {CONF_SOURCE_ENV, NULL, 0};
    for (size_t i = 0; i < CONF_N_KEYS; i++) {
        const char *v = envGet(envp, options[i].env);
        if (v == NULL || *v == '\0') {
            continue;
        }
        int rv = setOption(cfg, &options[i], v, &pl, err, errlen);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

/* ---- flags ----------------------------------------------------------------------------------- */

enum token { TOKEN_OPTION, TOKEN_HELP, TOKEN_VERSION };

static const struct option *findFlag(const char *name, size_t n)
{
    for (size_t i = 0; i < CONF_N_KEYS; i++) {
        if (strlen(options[i].flag) == n && strncmp(options[i].flag, name, n) == 0) {
            return &options[i];
        }
    }
    return NULL;
}

/*
 * Reads the flag at argv[*i] (and its value: "--x=v", "--x v", or nothing for a boolean) and
 * leaves *i on the last argument used. A separate value may not start with "--", so that a
 * forgotten value reads as a missing value rather than as the next flag.
 */
static int nextFlag(int argc, char **argv, int *i, enum token *tok, const struct option **o,
                    const char **value, char *err, size_t errlen)
{
    const char *arg = argv[*i];
    char q[QUOTE_SIZE], hint[96], name[64];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
        *tok = TOKEN_HELP;
        return 0;
    }
    if (strcmp(arg, "--version") == 0 || strcmp(arg, "-V") == 0) {
        *tok = TOKEN_VERSION;
        return 0;
    }
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
        return errSet(err, errlen, RC_EPARSE, "%s: unexpected argument (see --help)",
                      quote(q, arg));
    }
    const char *eq = strchr(arg + 2, '=');
    size_t n = eq != NULL ? (size_t)(eq - arg - 2) : strlen(arg + 2);
    *o = findFlag(arg + 2, n);
    if (*o == NULL) {
        snprintf(name, sizeof name, "%.*s", (int)n, arg + 2);
        return errSet(err, errlen, RC_EPARSE, "--%s: unknown option%s; see --help", name,
                      suggest(hint, sizeof hint, name, false));
    }
    *tok = TOKEN_OPTION;
    if (eq != NULL) {
        *value = eq + 1;
    } else if ((*o)->kind == K_BOOL) {
        *value = "true";
    } else if (*i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0) {
        *value = argv[++*i];
    } else {
        return errSet(err, errlen, RC_EPARSE, "--%s: needs a value", (*o)->flag);
    }
    return 0;
}

/*
 * First pass: syntax only. --help or --version anywhere wins over any error (a user asking for
 * help should get it), so scanning goes on after the first error, which is kept.
 */
static int scanFlags(int argc, char **argv, const char **config, char *err, size_t errlen)
{
    int first = 0;
    enum token found = TOKEN_OPTION;
    for (int i = 1; i < argc; i++) {
        enum token tok = TOKEN_OPTION;
        const struct option *o = NULL;
        const char *value = NULL;
        int rv = nextFlag(argc, argv, &i, &tok, &o, &value, first == 0 ? err : NULL,
                          first == 0 ? errlen : 0);
        if (rv != 0) {
            first = first != 0 ? first : rv;
        } else if (tok != TOKEN_OPTION) {
            found = found != TOKEN_OPTION ? found : tok;
        } else if (o == &options[CONF_CONFIG]) {
            *config = value;
        }
    }
    if (found != TOKEN_OPTION) {
        return found == TOKEN_HELP ? CONFPARSE_HELP : CONFPARSE_VERSION;
    }
    return first;
}

static int applyFlags(struct rc_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    const struct place pl = {CONF_SOURCE_FLAG, NULL, 0};
    for (int i = 1; i < argc; i++) {
        enum token tok;
        const struct option *o = NULL;
        const char *value = NULL;
        int rv = nextFlag(argc, argv, &i, &tok, &o, &value, err, errlen);
        if (rv == 0 && tok != TOKEN_OPTION) {
            rv = errSet(err, errlen, RC_EINTERNAL, "flags changed between passes");
        }
        if (rv == 0) {
            rv = setOption(cfg, o, value, &pl, err, errlen);
        }
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

/* ---- checks across settings ------------------------------------------------------------------ */

/* How a setting's origin reads at the start of a message: "--join", "RAFTCRON_JOIN",
 * "f.yaml:4: join", "--dev" for a value --dev filled in, "--x (default)" for a default. */
static const char *refHead(char out[PLACE_SIZE], const struct rc_config *cfg, enum conf_key k)
{
    const struct conf_origin * or = &cfg->origin[k];
    if (or->source == CONF_SOURCE_DEV) {
        snprintf(out, PLACE_SIZE, "--dev");
        return out;
    }
    if (or->source == CONF_SOURCE_DEFAULT) {
        snprintf(out, PLACE_SIZE, "--%s (default)", options[k].flag);
        return out;
    }
    const struct place pl = { or->source, cfg->config_file, or->line};
    return placeText(out, &options[k], &pl);
}

/* The same inside a sentence: "join (f.yaml:4)" for the file. */
static const char *refTail(char out[PLACE_SIZE], const struct rc_config *cfg, enum conf_key k)
{
    const struct conf_origin * or = &cfg->origin[k];
    if (or->source != CONF_SOURCE_FILE) {
        return refHead(out, cfg, k);
    }
    snprintf(out, PLACE_SIZE, "%s (%s:%u)", options[k].yaml, cfg->config_file, or->line);
    return out;
}

static int conflict(const struct rc_config *cfg, enum conf_key a, enum conf_key b, char *err,
                    size_t errlen)
{
    char ha[PLACE_SIZE], tb[PLACE_SIZE];
    return errSet(err, errlen, RC_EINVAL, "%s: cannot be combined with %s", refHead(ha, cfg, a),
                  refTail(tb, cfg, b));
}

static int missing(enum conf_key k, const char *why, char *err, size_t errlen)
{
    const struct option *o = &options[k];
    return errSet(err, errlen, RC_EINVAL,
                  "missing required setting --%s (or %s, or %s: in the config file)%s", o->flag,
                  o->env, o->yaml, why);
}

static void fillDefault(struct rc_config *cfg, enum conf_key k, const char *text)
{
    if (cfg->origin[k].source == CONF_SOURCE_DEFAULT) {
        const struct place pl = {CONF_SOURCE_DEV, NULL, 0};
        int rv = setOption(cfg, &options[k], text, &pl, NULL, 0);
        assert(rv == 0);
        (void)rv;
    }
}

/* --dev: whatever the user did not set comes from the single-node development profile. */
static int checkDev(struct rc_config *cfg, char *err, size_t errlen)
{
    if (cfg->worker) {
        return conflict(cfg, CONF_DEV, CONF_WORKER, err, errlen);
    }
    if (cfg->n_join > 0) {
        return conflict(cfg, CONF_DEV, CONF_JOIN, err, errlen);
    }
    if (cfg->recover) {
        return conflict(cfg, CONF_DEV, CONF_RECOVER, err, errlen);
    }
    if (cfg->restore_file[0] != '\0') {
        return conflict(cfg, CONF_DEV, CONF_RESTORE, err, errlen);
    }
    fillDefault(cfg, CONF_ID, "1");
    fillDefault(cfg, CONF_RAFT_ADDR, "127.0.0.1:7201");
    fillDefault(cfg, CONF_RPC_ADDR, "127.0.0.1:7101");
    fillDefault(cfg, CONF_BOOTSTRAP, "true");
    fillDefault(cfg, CONF_ALLOW_ROOT_JOBS, "true"); /* a developer's own machine */
    cfg->dev_data_dir = cfg->data_dir[0] == '\0';
    return 0;
}

static int checkWorker(struct rc_config *cfg, char *err, size_t errlen)
{
    if (cfg->recover) {
        return conflict(cfg, CONF_WORKER, CONF_RECOVER, err, errlen);
    }
    if (cfg->restore_file[0] != '\0') {
        return conflict(cfg, CONF_WORKER, CONF_RESTORE, err, errlen);
    }
    if (cfg->bootstrap) {
        return conflict(cfg, CONF_WORKER, CONF_BOOTSTRAP, err, errlen);
    }
    if (cfg->standby) {
        return conflict(cfg, CONF_WORKER, CONF_STANDBY, err, errlen);
    }
    if (cfg->no_execute) {
        return conflict(cfg, CONF_WORKER, CONF_NO_EXECUTE, err, errlen);
    }
    if (cfg->id == 0) {
        return missing(CONF_ID, "", err, errlen);
    }
    if (cfg->n_join == 0) {
        return missing(CONF_JOIN, ": a worker needs the cluster's RPC addresses", err, errlen);
    }
    return 0;
}

static int checkMember(struct rc_config *cfg, char *err, size_t errlen)
{
    if (cfg->id == 0) {
        return missing(CONF_ID, "", err, errlen);
    }
    if (cfg->raft_addr[0] == '\0') {
        return missing(CONF_RAFT_ADDR, "", err, errlen);
    }
    if (cfg->rpc_addr[0] == '\0') {
        return missing(CONF_RPC_ADDR, "", err, errlen);
    }
    if (cfg->data_dir[0] == '\0' && !cfg->dev_data_dir) {
        return missing(CONF_DATA, "", err, errlen);
    }
    if (cfg->bootstrap && cfg->n_join > 0) {
        return conflict(cfg, CONF_BOOTSTRAP, CONF_JOIN, err, errlen);
    }
    if (cfg->bootstrap && cfg->standby) {
        return conflict(cfg, CONF_STANDBY, CONF_BOOTSTRAP, err, errlen);
    }
    if (cfg->restore_file[0] != '\0' &&
        (cfg->bootstrap || cfg->n_join > 0 || cfg->standby || cfg->recover)) {
        return conflict(cfg, CONF_RESTORE,
                        cfg->bootstrap    ? CONF_BOOTSTRAP
                        : cfg->n_join > 0 ? CONF_JOIN
                        : cfg->standby    ? CONF_STANDBY
                                          : CONF_RECOVER,
                        err, errlen);
    }
    if (cfg->recover && (cfg->bootstrap || cfg->n_join > 0 || cfg->standby)) {
        return conflict(cfg, CONF_RECOVER,
                        cfg->bootstrap    ? CONF_BOOTSTRAP
                        : cfg->n_join > 0 ? CONF_JOIN
                                          : CONF_STANDBY,
                        err, errlen);
    }
    return 0;
}

static int checkAddresses(const struct rc_config *cfg, char *err, size_t errlen)
{
    static const enum conf_key pairs[][2] = {{CONF_RPC_ADDR, CONF_RAFT_ADDR},
                                             {CONF_HTTP_ADDR, CONF_RAFT_ADDR},
                                             {CONF_HTTP_ADDR, CONF_RPC_ADDR}};
    char ha[PLACE_SIZE], tb[PLACE_SIZE], q[QUOTE_SIZE];
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        const char *a = (const char *)cfg + options[pairs[i][0]].offset;
        const char *b = (const char *)cfg + options[pairs[i][1]].offset;
        if (*a != '\0' && strcmp(a, b) == 0) {
            return errSet(err, errlen, RC_EINVAL, "%s: %s is also the address of %s",
                          refHead(ha, cfg, pairs[i][0]), quote(q, a),
                          refTail(tb, cfg, pairs[i][1]));
        }
    }
    return 0;
}

/* Whether an address ("HOST:PORT", "[V6]:PORT") listens on loopback only. */
static bool loopback(const char *addr)
{
    const char *colon = strrchr(addr, ':');
    size_t n = colon != NULL ? (size_t)(colon - addr) : strlen(addr);
    char host[RC_CONF_ADDR_MAX];
    snprintf(host, sizeof host, "%.*s", (int)n, addr);
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "localhost") == 0 ||
           strcmp(host, "[::1]") == 0;
}

/* --job-env-keep: a comma-separated list of variable names, none of ours (RAFTCRON_*: they hold
 * the daemon's settings and secrets). */
static int checkEnvKeep(const char *list, char *err, size_t errlen)
{
    const char *p = list;
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        bool ok = n > 0 && !(p[0] >= '0' && p[0] <= '9');
        for (size_t i = 0; ok && i < n; i++) {
            char c = p[i];
            ok = c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                 (c >= '0' && c <= '9');
        }
        if (!ok) {
            return errSet(err, errlen, RC_EINVAL, "\"%.*s\" is not a variable name", (int)n, p);
        }
        if (n >= 9 && strncmp(p, "RAFTCRON_", 9) == 0) {
            return errSet(err, errlen, RC_EINVAL,
                          "%.*s: the daemon's own settings and secrets never reach runs", (int)n,
                          p);
        }
        p += n;
        if (*p == ',') {
            p++;
            if (*p == '\0') {
                return errSet(err, errlen, RC_EINVAL, "a name is missing after the last comma");
            }
        }
    }
    return 0;
}

/*
 * Secure by default (docs/security.md): files come in pairs, values parse, and a member that
 * listens beyond loopback has TLS (Raft: mutual; HTTP: HTTPS with the node's certificate) and
 * authenticates its RPC clients (a token or required client certificates) and its REST callers
 * (a token or JWTs) unless --insecure says otherwise.
 */
static int checkSecurity(const struct rc_config *cfg, char *err, size_t errlen)
{
    char ha[PLACE_SIZE];
    if ((cfg->tls_cert[0] == '\0') != (cfg->tls_key[0] == '\0')) {
        enum conf_key set = cfg->tls_cert[0] != '\0' ? CONF_TLS_CERT : CONF_TLS_KEY;
        enum conf_key unset = set == CONF_TLS_CERT ? CONF_TLS_KEY : CONF_TLS_CERT;
        return errSet(err, errlen, RC_EINVAL, "%s needs --%s too", refHead(ha, cfg, set),
                      options[unset].flag);
    }
    if (cfg->tls_cert[0] != '\0' && cfg->tls_ca[0] == '\0') {
        return errSet(err, errlen, RC_EINVAL,
                      "%s needs --tls-ca (the CA peers are checked against)",
                      refHead(ha, cfg, CONF_TLS_CERT));
    }
    if (cfg->auth_token[0] != '\0' && cfg->auth_token_file[0] != '\0') {
        return conflict((struct rc_config *)cfg, CONF_AUTH_TOKEN, CONF_AUTH_TOKEN_FILE, err,
                        errlen);
    }
    const char *ca = cfg->rpc_client_auth;
    if (strcmp(ca, "none") != 0 && strcmp(ca, "optional") != 0 && strcmp(ca, "require") != 0) {
        return errSet(err, errlen, RC_EINVAL, "%s: \"%.16s\" is not one of none, optional, require",
                      refHead(ha, cfg, CONF_RPC_CLIENT_AUTH), ca);
    }
    if (strcmp(ca, "require") == 0 && cfg->tls_cert[0] == '\0' && !cfg->worker) {
        return errSet(err, errlen, RC_EINVAL, "%s: require needs TLS (--tls-cert)",
                      refHead(ha, cfg, CONF_RPC_CLIENT_AUTH));
    }
    const char *ru = cfg->run_as;
    if (strspn(ru, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-:") !=
            strlen(ru) ||
        (ru[0] != '\0' && (ru[0] == ':' || strchr(ru, ':') != strrchr(ru, ':')))) {
        return errSet(err, errlen, RC_EINVAL, "%s: \"%.64s\" is not USER or USER:GROUP",
                      refHead(ha, cfg, CONF_RUN_AS), ru);
    }
    struct execpolicy pol;
    struct execpolicy_rlimits lim;
    char why[RC_ERRMSG_SIZE];
    if (execpolicyParse(cfg->executors, &pol, why, sizeof why) != 0) {
        return errSet(err, errlen, RC_EINVAL, "%s: %s", refHead(ha, cfg, CONF_EXECUTORS), why);
    }
    if (execpolicyRlimitsParse(cfg->job_rlimits, &lim, why, sizeof why) != 0) {
        return errSet(err, errlen, RC_EINVAL, "%s: %s", refHead(ha, cfg, CONF_JOB_RLIMITS), why);
    }
    if (checkEnvKeep(cfg->job_env_keep, why, sizeof why) != 0) {
        return errSet(err, errlen, RC_EINVAL, "%s: %s", refHead(ha, cfg, CONF_JOB_ENV_KEEP), why);
    }
    if (cfg->worker || cfg->insecure) {
        return 0;
    }
    bool tls = cfg->tls_cert[0] != '\0';
    bool token = cfg->auth_token[0] != '\0' || cfg->auth_token_file[0] != '\0';
    bool jwt = cfg->auth_jwt_hs256_key_file[0] != '\0' ||
               cfg->auth_jwt_public_key_file[0] != '\0' || cfg->auth_jwt_jwks_file[0] != '\0';
    /* RPC clients may prove themselves by certificate too; REST callers only by bearer token (the
     * HTTPS port asks for no client certificate). */
    bool rpc_clients = token || jwt || strcmp(ca, "require") == 0;
    bool http_clients = token || jwt;
    static const enum conf_key listens[] = {CONF_RAFT_ADDR, CONF_RPC_ADDR, CONF_HTTP_ADDR};
    for (size_t i = 0; i < sizeof listens / sizeof listens[0]; i++) {
        const char *addr = (const char *)cfg + options[listens[i]].offset;
        if (addr[0] == '\0' || loopback(addr)) {
            continue;
        }
        bool rpc = listens[i] == CONF_RPC_ADDR, http = listens[i] == CONF_HTTP_ADDR;
        bool auth = rpc || http;
        if (!tls || (rpc && !rpc_clients) || (http && !http_clients)) {
            return errSet(err, errlen, RC_EINVAL,
                          "%s: refusing to listen on %.*s, beyond loopback, without %s: set "
                          "--tls-ca, --tls-cert and --tls-key%s (docs/security.md), or pass "
                          "--insecure to accept the risk",
                          refHead(ha, cfg, listens[i]), RC_CONF_ADDR_MAX, addr,
                          auth ? "TLS and client authentication" : "TLS",
                          rpc    ? " and --auth-token-file or --rpc-client-auth require"
                          : http ? " and --auth-token-file or an --auth-jwt-* key file"
                                 : "");
        }
    }
    return 0;
}

/* history_postgres names a connection (no '=' and no "://"), which must exist. */
static int checkHistory(const struct rc_config *cfg, char *err, size_t errlen)
{
    const char *h = cfg->history_postgres;
    if (h[0] == '\0' || strchr(h, '=') != NULL || strstr(h, "://") != NULL) {
        return 0;
    }
    for (unsigned i = 0; i < cfg->n_conns; i++) {
        if (strcmp(cfg->conns[i].name, h) == 0) {
            return 0;
        }
    }
    return errSet(err, errlen, RC_EINVAL,
                  "history_postgres: no connection named \"%.64s\" in connections: (or give a "
                  "DSN)",
                  h);
}

int confparseCheck(struct rc_config *cfg, char *err, size_t errlen)
{
    int rv = cfg->dev ? checkDev(cfg, err, errlen) : 0;
    if (rv == 0) {
        rv = cfg->worker ? checkWorker(cfg, err, errlen) : checkMember(cfg, err, errlen);
    }
    if (rv != 0) {
        return rv;
    }
    if (cfg->heartbeat_timeout_us >= cfg->election_timeout_us) {
        char ha[PLACE_SIZE], tb[PLACE_SIZE], d1[32], d2[32];
        return errSet(err, errlen, RC_EINVAL, "%s: %s must be shorter than %s (%s)",
                      refHead(ha, cfg, CONF_HEARTBEAT_TIMEOUT),
                      durationText(d1, sizeof d1, cfg->heartbeat_timeout_us),
                      refTail(tb, cfg, CONF_ELECTION_TIMEOUT),
                      durationText(d2, sizeof d2, cfg->election_timeout_us));
    }
    if (!cfg->worker && cfg->worker_timeout_us < RC_WORKER_LEASE_US + cfg->election_timeout_us) {
        /* A worker cut off from the leader keeps starting runs for up to the lease after the
         * deposed leader last answered it; only then may the new leader give them away. */
        char ha[PLACE_SIZE], tb[PLACE_SIZE], d1[32], d2[32], d3[32];
        return errSet(err, errlen, RC_EINVAL,
                      "%s: %s must be at least the worker lease (%s) plus %s (%s)",
                      refHead(ha, cfg, CONF_WORKER_TIMEOUT),
                      durationText(d1, sizeof d1, cfg->worker_timeout_us),
                      durationText(d3, sizeof d3, RC_WORKER_LEASE_US),
                      refTail(tb, cfg, CONF_ELECTION_TIMEOUT),
                      durationText(d2, sizeof d2, cfg->election_timeout_us));
    }
    if ((rv = checkHistory(cfg, err, errlen)) != 0 || (rv = checkSecurity(cfg, err, errlen)) != 0) {
        return rv;
    }
    return cfg->worker ? 0 : checkAddresses(cfg, err, errlen);
}

/* ---- the pipeline ---------------------------------------------------------------------------- */

static int readConfig(struct rc_config *cfg, const char *path,
                      const struct confparse_reader *reader, char *err, size_t errlen)
{
    if (reader == NULL || reader->read == NULL) {
        return errSet(err, errlen, RC_EINVAL, "%s: config files are not supported here", path);
    }
    char *text = NULL;
    size_t len = 0;
    int rv = reader->read(reader->data, path, &text, &len, err, errlen);
    if (rv != 0) {
        return rv;
    }
    rv = len > RC_CONF_FILE_MAX
             ? errSet(err, errlen, RC_ETOOBIG, "%s: larger than %d bytes", path, RC_CONF_FILE_MAX)
             : confparseYaml(cfg, path, text, len, err, errlen);
    free(text);
    return rv;
}

int confparseArgs(struct rc_config *cfg, int argc, char **argv, char **envp,
                  const struct confparse_reader *reader, char *err, size_t errlen)
{
    const char *config = NULL;
    int rv = scanFlags(argc, argv, &config, err, errlen);
    if (rv != 0) {
        return rv;
    }
    confparseDefaults(cfg);
    if (config == NULL) {
        config = envGet(envp, options[CONF_CONFIG].env);
    }
    if (config != NULL && *config != '\0') {
        rv = readConfig(cfg, config, reader, err, errlen);
    }
    if (rv == 0) {
        rv = confparseEnv(cfg, envp, err, errlen);
    }
    if (rv == 0) {
        rv = applyFlags(cfg, argc, argv, err, errlen);
    }
    return rv != 0 ? rv : confparseCheck(cfg, err, errlen);
}

/* ---- --help ---------------------------------------------------------------------------------- */

struct text {
    char *buf;
    size_t len;
    size_t want;
};

__attribute__((format(printf, 2, 3))) static void say(struct text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = t->want < t->len ? t->len - t->want : 0;
    int n = vsnprintf(room > 0 ? t->buf + t->want : NULL, room, fmt, ap);
    va_end(ap);
    t->want += n > 0 ? (size_t)n : 0;
}

#define HELP_COL   8  /* where descriptions start */
#define HELP_WIDTH 79 /* longest help line */

/* s from column HELP_COL on, wrapped at spaces to HELP_WIDTH columns, then a newline. */
static void sayWrapped(struct text *t, const char *s)
{
    size_t col = HELP_COL;
    while (*s != '\0') {
        size_t word = strcspn(s, " ");
        if (col > HELP_COL && col + 1 + word > HELP_WIDTH) {
            say(t, "\n%*s", HELP_COL, "");
            col = HELP_COL;
        } else if (col > HELP_COL) {
            say(t, " ");
            col++;
        }
        say(t, "%.*s", (int)word, s);
        col += word;
        s += word;
        s += strspn(s, " ");
    }
    say(t, "\n");
}

static void helpOption(struct text *t, const struct option *o)
{
    char head[96], where[160];
    snprintf(head, sizeof head, "--%s%s%s", o->flag, o->metavar != NULL ? " " : "",
             o->metavar != NULL ? o->metavar : "");
    say(t, "  %s\n%*s", head, HELP_COL, "");
    sayWrapped(t, o->help);
    snprintf(where, sizeof where, "(%s%s%s; %s%s)", o->env, o->yaml != NULL ? ", " : "",
             o->yaml != NULL ? o->yaml : "", o->def == NULL ? "required" : "default ",
             o->def == NULL    ? ""
             : *o->def == '\0' ? "none"
                               : o->def);
    say(t, "%*s", HELP_COL, "");
    sayWrapped(t, where);
}

size_t confparseHelp(char *buf, size_t len)
{
    struct text t = {buf, len, 0};
    if (len > 0) {
        buf[0] = '\0';
    }
    say(&t, "Usage: raftcrond --id N --raft-addr HOST:PORT --rpc-addr HOST:PORT --data DIR\n"
            "                 (--bootstrap | --join HOST:PORT[,HOST:PORT...]) [OPTIONS]\n"
            "       raftcrond --id N --raft-addr HOST:PORT --rpc-addr HOST:PORT --data DIR\n"
            "                 (a restart: the data dir remembers the cluster)\n"
            "       raftcrond --worker --id N --join HOST:PORT[,HOST:PORT...] [OPTIONS]\n"
            "       raftcrond --dev [OPTIONS]\n"
            "\n"
            "The raftcron node daemon. Every option can also be given as an environment\n"
            "variable or as a key of the YAML file named by --config (in parentheses below,\n"
            "with the default). When a setting is given more than once, the flag wins over\n"
            "the environment, which wins over the file, which wins over the default.\n"
            "Durations need a unit: us, ms, s, m, h, d (\"150ms\", \"1m30s\", \"7d\").\n"
            "Booleans: a bare --flag is true; also --flag=true|false|yes|no|on|off|1|0.\n");
    const char *group = NULL;
    for (size_t i = 0; i < CONF_N_KEYS; i++) {
        if (options[i].group != group) {
            group = options[i].group;
            say(&t, "\n%s:\n", group);
        }
        helpOption(&t, &options[i]);
    }
    say(&t,
        "\nOther:\n"
        "  -h, --help\n%*sPrint this help and exit.\n"
        "  -V, --version\n%*sPrint the version and exit.\n",
        HELP_COL, "", HELP_COL, "");
    return t.want;
}
