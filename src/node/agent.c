/*
 * A worker agent (raftcrond --worker): a worker (worker.c) and its link (link.c) on a loop of
 * its own, with no Raft. It finds the leader through the --join endpoints (following leader
 * hints) and holds one session with it.
 */
#include "agent.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "exec/exec.h"
#include "execs.h"
#include "io_uv.h"
#include "link.h"
#include "log.h"
#include "worker.h"

struct agent {
    const struct rc_config *cfg;
    uv_loop_t loop;
    char address[320];
    struct io_uv io;
    struct execs execs;
    struct worker worker;
    struct link link;
    uv_signal_t sigterm, sigint, sighup;
    struct credentials *creds;
    bool stopping;
};

static bool joinTarget(void *ctx, bool *self, char *buf, size_t len)
{
    struct agent *a = ctx;
    *self = false;
    snprintf(buf, len, "%s", a->cfg->join);
    return true;
}

static void workerClosed(struct worker *w)
{
    (void)w;
}

static void linkClosed(struct link *l)
{
    struct agent *a = (struct agent *)((char *)l - offsetof(struct agent, link));
    workerClose(&a->worker, workerClosed);
    execsClose(&a->execs);
}

static void onSignal(uv_signal_t *s, int signum)
{
    struct agent *a = s->data;
    if (a->stopping) {
        logWarn("second signal: exiting at once", "signal", "%d", signum);
        _exit(130);
    }
    logInfo("signal received: graceful stop", "signal", "%d", signum);
    a->stopping = true;
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->sighup, NULL);
    linkClose(&a->link, linkClosed);
}

static void onReload(uv_signal_t *s, int signum)
{
    struct agent *a = s->data;
    char err[RC_ERRMSG_SIZE];
    (void)signum;
    if (credentialsReload(a->creds, err, sizeof err) != 0) {
        logWarn("reload failed; the previous credentials stay in force", "error", "%s", err);
    } else {
        logInfo("credentials reloaded (SIGHUP)");
    }
}

int agentRun(const struct rc_config *cfg, struct credentials *creds,
             const struct exec_security *exec)
{
    static struct agent a;
    memset(&a, 0, sizeof a);
    a.cfg = cfg;
    a.creds = creds;
    if (cfg->rpc_addr[0] != '\0') {
        snprintf(a.address, sizeof a.address, "%s", cfg->rpc_addr);
    } else {
        char host[64] = "localhost";
        gethostname(host, sizeof host - 1);
        snprintf(a.address, sizeof a.address, "agent@%s", host);
    }
    uv_loop_init(&a.loop);
    ioUvInit(&a.io, &a.loop, NULL);
    uv_signal_init(&a.loop, &a.sigterm);
    uv_signal_init(&a.loop, &a.sigint);
    uv_signal_init(&a.loop, &a.sighup);
    a.sigterm.data = a.sigint.data = a.sighup.data = &a;
    uv_signal_start(&a.sigterm, onSignal, SIGTERM);
    uv_signal_start(&a.sigint, onSignal, SIGINT);
    uv_signal_start(&a.sighup, onReload, SIGHUP);
    logSetRaftState(0, "agent");
    struct worker_identity me = {.id = cfg->id,
                                 .address = a.address,
                                 .tags = cfg->tags,
                                 .n_tags = cfg->n_tags,
                                 .capacity = cfg->max_parallel,
                                 .incarnation = workerIncarnation()};
    int exit_code = 0;
    struct execs_config ec = {
        .conns = cfg->conns,
        .n_conns = cfg->n_conns,
        .sql_pool_size = cfg->sql_pool_size,
        .http_ca_file = cfg->http_ca_file[0] != '\0' ? cfg->http_ca_file : NULL,
        .security = exec,
    };
    struct worker_execs execs;
    int rv = execsOpen(&a.execs, &a.loop, &ec, &execs);
    if (rv == 0) {
        rv = workerStart(&a.worker, &a.io.io, &me, &execs, true);
        if (rv != 0) {
            execsClose(&a.execs);
        }
    }
    if (rv != 0) {
        LOG_ERROR("cannot start the worker", "error", "%s", rc_strerror(rv));
        exit_code = 1;
        a.stopping = true;
        uv_close((uv_handle_t *)&a.sigterm, NULL);
        uv_close((uv_handle_t *)&a.sigint, NULL);
        uv_close((uv_handle_t *)&a.sighup, NULL);
    } else {
        struct link_options lo = {.loop = &a.loop,
                                  .worker = &a.worker,
                                  .dispatch = NULL,
                                  .target = joinTarget,
                                  .target_ctx = &a,
                                  .auth_token = creds->token[0] != '\0' ? creds->token : NULL,
                                  .max_frame = 0,
                                  .tls = creds->client};
        linkStart(&a.link, &lo);
        logInfo("worker agent started", "join", "%s", cfg->join, "capacity", "%u",
                cfg->max_parallel);
    }
    uv_run(&a.loop, UV_RUN_DEFAULT);
    uv_loop_close(&a.loop);
    if (exit_code == 0) {
        logInfo("stopped");
    }
    return exit_code;
}
