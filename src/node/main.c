/* raftcrond: the raftcron node daemon (docs/configuration.md, docs/architecture.md). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "agent.h"
#include "config.h"
#include "core/err.h"
#include "core/execpolicy.h"
#include "core/frame.h"
#include "credentials.h"
#include "log.h"
#include "node.h"
#include "rtimer.h"

extern char **environ;

static unsigned msOf(int64_t us)
{
    return (unsigned)(us / 1000);
}

/* What this node's executors may do (exec.h), from the settings; static: borrowed by the
 * backends for the process's life. */
static struct exec_user run_as;
static struct execpolicy policy;
static struct execpolicy_rlimits rlimits;
static struct exec_security exec_security;

static int loadExecSecurity(const struct rc_config *cfg, char *err, size_t errlen)
{
    int rv = execpolicyParse(cfg->executors, &policy, err, errlen);
    if (rv == 0) {
        rv = execpolicyRlimitsParse(cfg->job_rlimits, &rlimits, err, errlen);
    }
    if (rv == 0 && cfg->run_as[0] != '\0') {
        rv = execResolveUser(cfg->run_as, &run_as, err, errlen);
    }
    exec_security = (struct exec_security){.policy = &policy,
                                           .run_as = &run_as,
                                           .allow_root = cfg->allow_root_jobs,
                                           .rlimits = &rlimits,
                                           .env_keep = cfg->job_env_keep};
    return rv;
}

/* Say once, at start, what the settings leave open. */
static void warnings(const struct rc_config *cfg)
{
    if (cfg->auth_token[0] != '\0' && cfg->origin[CONF_AUTH_TOKEN].source != CONF_SOURCE_FILE) {
        logWarn("the auth token came from the command line or the environment, which other "
                "processes may read: prefer --auth-token-file (it was blanked in both)");
    }
    if (geteuid() == 0 && cfg->run_as[0] == '\0' && !cfg->allow_root_jobs && !cfg->no_execute) {
        logWarn("running as root without --run-as: shell jobs will be refused (set --run-as "
                "USER, or --allow-root-jobs)");
    }
}

static void toOptions(const struct rc_config *cfg, struct node_options *o)
{
    memset(o, 0, sizeof *o);
    o->id = cfg->id;
    o->raft_addr = cfg->raft_addr;
    o->rpc_addr = cfg->rpc_addr;
    o->data_dir = cfg->data_dir;
    o->bootstrap = cfg->bootstrap;
    o->join = cfg->join[0] != '\0' ? cfg->join : NULL;
    o->standby = cfg->standby;
    o->recover = cfg->recover;
    o->restore = cfg->restore_file[0] != '\0' ? cfg->restore_file : NULL;
    o->auth_token = NULL; /* main: from the credentials */
    o->election_timeout_ms = msOf(cfg->election_timeout_us);
    o->heartbeat_timeout_ms = msOf(cfg->heartbeat_timeout_us);
    o->snapshot_threshold = (unsigned)cfg->snapshot_threshold;
    o->snapshot_trailing = (unsigned)cfg->snapshot_trailing;
    o->max_frame = cfg->rpc_max_frame;
    o->rpc_max_connections = cfg->rpc_max_connections;
    o->rpc_idle_ms = (unsigned)(cfg->rpc_idle_timeout_us / 1000);
    o->insecure = cfg->insecure;
    o->peer_tls_name = cfg->peer_tls_name[0] != '\0' ? cfg->peer_tls_name : NULL;
    o->tls_ca = cfg->tls_ca[0] != '\0' ? cfg->tls_ca : NULL;
    o->tls_cert = cfg->tls_cert[0] != '\0' ? cfg->tls_cert : NULL;
    o->tls_key = cfg->tls_key[0] != '\0' ? cfg->tls_key : NULL;
    o->exec = &exec_security;
    o->lookahead_us = cfg->lookahead_us;
    o->worker_timeout_us = cfg->worker_timeout_us;
    o->no_execute = cfg->no_execute;
    o->max_parallel = cfg->max_parallel;
    o->history_runs = cfg->history_runs;
    o->history_age_us = cfg->history_age_us;
    o->tags = cfg->tags;
    o->n_tags = cfg->n_tags;
    o->conns = cfg->conns;
    o->n_conns = cfg->n_conns;
    o->sql_pool_size = cfg->sql_pool_size;
    o->http_ca_file = cfg->http_ca_file[0] != '\0' ? cfg->http_ca_file : NULL;
    o->http_addr = cfg->http_addr[0] != '\0' ? cfg->http_addr : NULL;
    o->http_max_body = cfg->http_max_body;
    o->events_buffer = cfg->events_buffer;
    o->metrics_token = cfg->metrics_token;
    o->metrics_namespaces = cfg->metrics_namespaces;
    o->auth = (struct auth_options){.secret = o->auth_token,
                                    .hs256_key_file = cfg->auth_jwt_hs256_key_file,
                                    .public_key_file = cfg->auth_jwt_public_key_file,
                                    .jwks_file = cfg->auth_jwt_jwks_file,
                                    .issuer = cfg->auth_jwt_issuer,
                                    .audience = cfg->auth_jwt_audience,
                                    .leeway_us = cfg->auth_jwt_leeway_us,
                                    .claim = cfg->auth_jwt_claim};
    /* history_postgres names a connection of connections:, or is a DSN itself. */
    if (cfg->history_postgres[0] != '\0') {
        o->history_conninfo = cfg->history_postgres;
        for (unsigned i = 0; i < cfg->n_conns; i++) {
            if (strcmp(cfg->conns[i].name, cfg->history_postgres) == 0) {
                o->history_conninfo = cfg->conns[i].dsn;
                o->history_password_file =
                    cfg->conns[i].password_file[0] != '\0' ? cfg->conns[i].password_file : NULL;
            }
        }
    }
}

int main(int argc, char **argv)
{
    static struct rc_config cfg;
    char err[1024];
    int rv = configLoad(&cfg, argc, argv, environ, stdout, err, sizeof err);
    if (rv == CONFPARSE_HELP || rv == CONFPARSE_VERSION) {
        return 0;
    }
    if (rv != 0) {
        fprintf(stderr, "raftcrond: %s\n", err);
        return 2;
    }
    /* The configuration holds its copies now: blank the secrets where ps and /proc show them. */
    credentialsScrub(argc, argv);
    /* Everything the daemon writes (Raft log, snapshots, the node and cluster id files) is the
     * owner's alone (DESIGN.md §9); runs get 022 back (exec.h). */
    umask(077);
    logInit(cfg.log_format, cfg.log_level, cfg.id, stderr);
    static struct credentials creds;
    if (credentialsLoad(&creds, &cfg, err, sizeof err) != 0 ||
        loadExecSecurity(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "raftcrond: %s\n", err);
        return 2;
    }
    warnings(&cfg);
    /* A peer closing first must be a write error on that socket, not the death of the node. */
    signal(SIGPIPE, SIG_IGN);
    /* Before any thread exists, so that all inherit it: runs start within microseconds. */
    rtimerLowSlack();
    if (cfg.worker) {
        int code = agentRun(&cfg, &creds, &exec_security);
        credentialsClose(&creds);
        return code;
    }
    struct node_options opts;
    toOptions(&cfg, &opts);
    opts.creds = &creds;
    opts.auth_token = creds.token[0] != '\0' ? creds.token : NULL;
    opts.auth.secret = opts.auth_token;
    uv_loop_t loop;
    uv_loop_init(&loop);
    static struct node node;
    int exit_code = 0;
    rv = nodeStart(&node, &loop, &opts, err, sizeof err);
    if (rv != 0) {
        LOG_ERROR("cannot start", "error", "%s", err);
        fprintf(stderr, "raftcrond: %s\n", err);
        exit_code = 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    credentialsClose(&creds);
    if (cfg.dev_data_dir && configRemoveDevDir(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "raftcrond: %s\n", err);
    }
    return exit_code;
}
