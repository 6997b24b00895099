/* raftcrond: the raftcron node daemon (docs/configuration.md, docs/architecture.md). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "agent.h"
#include "config.h"
#include "core/err.h"
#include "core/frame.h"
#include "log.h"
#include "node.h"
#include "rtimer.h"

extern char **environ;

static unsigned msOf(int64_t us)
{
    return (unsigned)(us / 1000);
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
    o->auth_token = cfg->auth_token[0] != '\0' ? cfg->auth_token : NULL;
    o->election_timeout_ms = msOf(cfg->election_timeout_us);
    o->heartbeat_timeout_ms = msOf(cfg->heartbeat_timeout_us);
    o->snapshot_threshold = (unsigned)cfg->snapshot_threshold;
    o->snapshot_trailing = (unsigned)cfg->snapshot_trailing;
    o->max_frame = RC_FRAME_MAX_DEFAULT;
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
    if (cfg.http_addr[0] != '\0') {
        /* Accepting it and serving nothing would leave an operator's health checks and
         * scrapes failing for a reason no log names. */
        fprintf(stderr,
                "raftcrond: --http-addr (RAFTCRON_HTTP_ADDR, http_addr) is \"%s\", but this "
                "version serves no REST API, /metrics or /health yet; leave it empty\n",
                cfg.http_addr);
        return 2;
    }
    logInit(cfg.log_format, cfg.log_level, cfg.id, stderr);
    /* A peer closing first must be a write error on that socket, not the death of the node. */
    signal(SIGPIPE, SIG_IGN);
    /* Before any thread exists, so that all inherit it: runs start within microseconds. */
    rtimerLowSlack();
    if (cfg.worker) {
        return agentRun(&cfg);
    }
    struct node_options opts;
    toOptions(&cfg, &opts);
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
    if (cfg.dev_data_dir && configRemoveDevDir(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "raftcrond: %s\n", err);
    }
    return exit_code;
}
