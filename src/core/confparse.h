/*
 * raftcrond's settings: defaults, the YAML file, RAFTCRON_* environment variables and flags,
 * merged with the precedence flag > env > file > default (docs/configuration.md).
 *
 * Every setting has the three spellings --flag-name, RAFTCRON_FLAG_NAME and flag_name (YAML);
 * --config / RAFTCRON_CONFIG has no YAML key, --help and --version are flags only. A later source
 * replaces a setting as a whole (a list such as --join or --tags is not merged across sources).
 *
 * Pure: the environment comes in as envp, the file through a reader callback (the node's
 * config.c reads from disk; tests pass strings). Error messages name the source and the place:
 *   config.yaml:7: election_timeout: "fast" is not a duration
 *   RAFTCRON_ID: "abc" is not a positive integer
 *   --raft-addr: "127.0.0.1" needs a port
 * Environment variables that are empty, or that start with RAFTCRON_ but name no setting, are
 * ignored (RAFTCRON_ENDPOINTS belongs to raftcronctl, and jobs see RAFTCRON_RUN_ID and friends).
 */
#ifndef RC_CORE_CONFPARSE_H
#define RC_CORE_CONFPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "logfmt.h"

/* Keep in step with project(VERSION) in CMakeLists.txt. */
#define RC_VERSION_STRING "0.1.0"

/* confparseArgs found --help or --version: print confparseHelp / confparseVersion, exit 0. */
#define CONFPARSE_HELP    1
#define CONFPARSE_VERSION 2

#define RC_CONF_ADDR_MAX      262 /* "[" host (253) "]:" port (5), NUL */
#define RC_CONF_JOIN_MAX      16  /* addresses in --join */
#define RC_CONF_JOIN_SIZE     (RC_CONF_JOIN_MAX * RC_CONF_ADDR_MAX)
#define RC_CONF_PATH_MAX      1024
#define RC_CONF_TOKEN_MAX     256
#define RC_CONF_TAGS_MAX      16
#define RC_CONF_TAG_KEY_MAX   64
#define RC_CONF_TAG_VALUE_MAX 128
#define RC_CONF_FILE_MAX      (1024 * 1024) /* bytes of YAML the reader may return */
#define RC_CONF_DSN_MAX       1024
#define RC_CONF_CONNS_MAX     16 /* named PostgreSQL connections */
#define RC_CONF_CONN_NAME_MAX 65
#define RC_CONF_NAME_MAX      256  /* a host name, a user name */
#define RC_CONF_SPEC_MAX      1024 /* --executors, --job-rlimits */
/* Defaults of the RPC server's limits. */
#define RC_CONF_RPC_MAX_FRAME_DEFAULT (4u << 20)
/* A worker starts runs only this long after a leader last answered it (node/worker.h, "Lease");
 * a member's worker timeout must exceed it plus an election timeout (confparseCheck). */
#define RC_WORKER_LEASE_US 1500000

/* Settings, in --help order. */
enum conf_key {
    CONF_ID = 0,
    CONF_RAFT_ADDR,
    CONF_RPC_ADDR,
    CONF_HTTP_ADDR,
    CONF_DATA,
    CONF_BOOTSTRAP,
    CONF_JOIN,
    CONF_STANDBY,
    CONF_RECOVER,
    CONF_RESTORE,
    CONF_WORKER,
    CONF_DEV,
    CONF_CONFIG,
    CONF_AUTH_TOKEN,
    CONF_ELECTION_TIMEOUT,
    CONF_HEARTBEAT_TIMEOUT,
    CONF_SNAPSHOT_THRESHOLD,
    CONF_SNAPSHOT_TRAILING,
    CONF_LOOKAHEAD,
    CONF_NO_EXECUTE,
    CONF_MAX_PARALLEL,
    CONF_TAGS,
    CONF_WORKER_TIMEOUT,
    CONF_HISTORY_RUNS,
    CONF_HISTORY_AGE,
    CONF_HISTORY_POSTGRES,
    CONF_SQL_POOL_SIZE,
    CONF_HTTP_CA_FILE,
    CONF_TLS_CA,
    CONF_TLS_CERT,
    CONF_TLS_KEY,
    CONF_PEER_TLS_NAME,
    CONF_RPC_CLIENT_AUTH,
    CONF_CLUSTER_SECRET_FILE,
    CONF_AUTH_TOKEN_FILE,
    CONF_INSECURE,
    CONF_RPC_MAX_CONNECTIONS,
    CONF_RPC_IDLE_TIMEOUT,
    CONF_RPC_MAX_FRAME,
    CONF_RUN_AS,
    CONF_ALLOW_ROOT_JOBS,
    CONF_EXECUTORS,
    CONF_JOB_RLIMITS,
    CONF_JOB_ENV_KEEP,
    CONF_LOG_LEVEL,
    CONF_LOG_FORMAT,
    CONF_AUTH_JWT_HS256_KEY_FILE,
    CONF_AUTH_JWT_PUBLIC_KEY_FILE,
    CONF_AUTH_JWT_JWKS_FILE,
    CONF_AUTH_JWT_ISSUER,
    CONF_AUTH_JWT_AUDIENCE,
    CONF_AUTH_JWT_LEEWAY,
    CONF_AUTH_JWT_CLAIM,
    CONF_METRICS_TOKEN,
    CONF_METRICS_NAMESPACES,
    CONF_HTTP_MAX_BODY,
    CONF_EVENTS_BUFFER,
    CONF_N_KEYS
};

/* CONF_SOURCE_DEV: a default replaced by --dev's development profile. */
enum conf_source {
    CONF_SOURCE_DEFAULT = 0,
    CONF_SOURCE_DEV,
    CONF_SOURCE_FILE,
    CONF_SOURCE_ENV,
    CONF_SOURCE_FLAG
};

/* Where a setting's value came from; line is 1-based, for CONF_SOURCE_FILE only. */
struct conf_origin {
    enum conf_source source;
    unsigned line;
};

struct rc_conf_tag {
    char key[RC_CONF_TAG_KEY_MAX];
    char value[RC_CONF_TAG_VALUE_MAX];
};

/* A named PostgreSQL connection ("connections:" in the YAML file only): jobs name it with
 * --conn, the export names it in history.postgres. The password stays in password_file. */
struct rc_conf_conn {
    char name[RC_CONF_CONN_NAME_MAX];     /* [A-Za-z0-9._-], 1-64 */
    char dsn[RC_CONF_DSN_MAX];            /* libpq conninfo or URI */
    char password_file[RC_CONF_PATH_MAX]; /* "" = libpq's PGPASSFILE / ~/.pgpass */
    unsigned line;
};

/* All strings are NUL-terminated in place; "" means unset. Durations are microseconds. */
struct rc_config {
    uint64_t id;                      /* > 0 once checked */
    char raft_addr[RC_CONF_ADDR_MAX]; /* HOST:PORT, [IPv6]:PORT */
    char rpc_addr[RC_CONF_ADDR_MAX];
    char http_addr[RC_CONF_ADDR_MAX]; /* "" = no REST/metrics listener */
    char data_dir[RC_CONF_PATH_MAX];
    bool bootstrap;
    char join[RC_CONF_JOIN_SIZE]; /* "h:p,h:p" (validated, spaces removed) or "" */
    unsigned n_join;
    bool standby;
    bool recover;
    char restore_file[RC_CONF_PATH_MAX]; /* --restore FILE: seed a new cluster; "" = none */
    bool worker;
    bool dev;
    bool dev_data_dir;                  /* --dev without --data: node makes a temp dir */
    char config_file[RC_CONF_PATH_MAX]; /* the YAML file read, or "" */
    char auth_token[RC_CONF_TOKEN_MAX]; /* "" = no authentication */
    int64_t election_timeout_us;
    int64_t heartbeat_timeout_us;
    uint64_t snapshot_threshold;
    uint64_t snapshot_trailing;
    int64_t lookahead_us;
    bool no_execute;
    uint32_t max_parallel;
    struct rc_conf_tag tags[RC_CONF_TAGS_MAX];
    unsigned n_tags;
    int64_t worker_timeout_us;
    uint32_t history_runs;
    int64_t history_age_us;
    char history_postgres[RC_CONF_DSN_MAX]; /* "" = no export; a connection name or a DSN */
    uint32_t sql_pool_size;
    char http_ca_file[RC_CONF_PATH_MAX]; /* "" = libcurl's CA store */
    struct rc_conf_conn conns[RC_CONF_CONNS_MAX];
    unsigned n_conns;
    /* Security (docs/security.md). */
    char tls_ca[RC_CONF_PATH_MAX]; /* "" = no TLS */
    char tls_cert[RC_CONF_PATH_MAX];
    char tls_key[RC_CONF_PATH_MAX];
    char peer_tls_name[RC_CONF_NAME_MAX];       /* "" = peers' certs name their addresses */
    char rpc_client_auth[16];                   /* none | optional | require */
    char cluster_secret_file[RC_CONF_PATH_MAX]; /* "" = no HMAC handshake */
    char auth_token_file[RC_CONF_PATH_MAX];
    bool insecure;
    uint32_t rpc_max_connections;
    int64_t rpc_idle_timeout_us;
    uint32_t rpc_max_frame;
    char run_as[RC_CONF_NAME_MAX]; /* USER[:GROUP] for shell runs when root; "" = none */
    bool allow_root_jobs;
    char executors[RC_CONF_SPEC_MAX];    /* core/execpolicy.h */
    char job_rlimits[RC_CONF_SPEC_MAX];  /* core/execpolicy.h */
    char job_env_keep[RC_CONF_SPEC_MAX]; /* NAME[,NAME...]: more of our environment for runs */
    enum rc_log_level log_level;
    enum rc_log_format log_format;
    /* REST API and authentication (docs/rest.md) */
    char auth_jwt_hs256_key_file[RC_CONF_PATH_MAX];  /* "" = no HS256 tokens */
    char auth_jwt_public_key_file[RC_CONF_PATH_MAX]; /* PEM: RS256 or ES256 tokens */
    char auth_jwt_jwks_file[RC_CONF_PATH_MAX];       /* JWKS: RS256 or ES256 tokens by kid */
    char auth_jwt_issuer[RC_CONF_TOKEN_MAX];         /* "" = iss not checked */
    char auth_jwt_audience[RC_CONF_TOKEN_MAX];       /* "" = aud not checked */
    int64_t auth_jwt_leeway_us;
    char auth_jwt_claim[RC_CONF_TAG_KEY_MAX];
    bool metrics_token;      /* /metrics needs a valid credential */
    bool metrics_namespaces; /* runs by namespace at /metrics */
    uint32_t http_max_body;  /* bytes */
    uint32_t events_buffer;  /* events kept for resuming watches */
    struct conf_origin origin[CONF_N_KEYS];
};

/* How confparseArgs obtains the YAML text of --config / RAFTCRON_CONFIG. */
struct confparse_reader {
    void *data;
    /* Set *text to a malloc'ed, NUL-terminated copy of the file (length *len, at most
     * RC_CONF_FILE_MAX); the caller frees it. Returns 0 or an RC_E* code with a message. */
    int (*read)(void *data, const char *path, char **text, size_t *len, char *err, size_t errlen);
};

/* Every setting to its default (origin CONF_SOURCE_DEFAULT). Cannot fail. */
void confparseDefaults(struct rc_config *cfg);

/*
 * Apply a YAML document (a mapping of setting keys) over cfg. Besides the settings, two
 * mappings are read: "connections:" (NAME: {dsn: CONNINFO, password_file: PATH}, YAML only)
 * and "history:" whose keys postgres, runs and age are history_postgres, history_runs and
 * history_age; name is the file name used in
 * messages and becomes cfg->config_file. Returns 0 or RC_EPARSE (syntax, unknown key, duplicate
 * key, wrong type, bad value) with "name:line: key: reason" in err. cfg may be partly updated
 * on error.
 */
int confparseYaml(struct rc_config *cfg, const char *name, const char *text, size_t len, char *err,
                  size_t errlen);

/* Apply every RAFTCRON_* variable of envp (NULL-terminated "NAME=value" strings) that names a
 * setting. Returns 0 or RC_EPARSE with "RAFTCRON_X: reason". */
int confparseEnv(struct rc_config *cfg, char **envp, char *err, size_t errlen);

/*
 * Checks that need every source merged: --dev fills unset addresses/id/bootstrap, required
 * settings, conflicting settings (bootstrap with join, worker with bootstrap/standby/dev,
 * standby with bootstrap), heartbeat shorter than election timeout, distinct addresses.
 * Returns 0 or RC_EINVAL with a message naming where the offending values came from.
 */
int confparseCheck(struct rc_config *cfg, char *err, size_t errlen);

/*
 * The whole pipeline for raftcrond's argv (argv[0] is the program name) and envp: defaults,
 * then the file named by --config or RAFTCRON_CONFIG (through reader; NULL reader makes a
 * config file an error), then the environment, then the flags, then confparseCheck.
 * Returns 0, CONFPARSE_HELP or CONFPARSE_VERSION (nothing else is parsed or checked), or an
 * RC_E* code with a message in err: RC_EPARSE for a malformed value or unknown flag,
 * RC_EINVAL from the checks (or for a file without a reader), RC_ETOOBIG for a file over
 * RC_CONF_FILE_MAX, or what the reader returned. cfg is meaningful only when 0 is returned.
 */
int confparseArgs(struct rc_config *cfg, int argc, char **argv, char **envp,
                  const struct confparse_reader *reader, char *err, size_t errlen);

/* The full --help text (every option, grouped, with its variable and default) into buf, which
 * is always NUL-terminated when len > 0. Returns the length it wanted, like snprintf. */
size_t confparseHelp(char *buf, size_t len);

/* "raftcrond <version>". Static storage. */
const char *confparseVersion(void);

/* The spellings of a setting: "raft-addr", "RAFTCRON_RAFT_ADDR", "raft_addr" (static storage;
 * yaml is NULL for settings that have no YAML key). NULL for key out of range. */
const char *confparseFlagName(enum conf_key key);
const char *confparseEnvName(enum conf_key key);
const char *confparseYamlKey(enum conf_key key);

#endif /* RC_CORE_CONFPARSE_H */
