#include "agent.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "api.pb-c.h"
#include "log.h"
#include "raftcron/client.h"
#include "worker.h"

#define AGENT_WAIT_MS         1000 /* how long the leader may hold a watch */
#define AGENT_RETRY_MS        200  /* after a failed watch */
#define AGENT_UNREGISTERED_MS 50   /* waiting for the hello to be answered */
#define AGENT_CALL_SLACK_US   3000000

struct agent {
    const struct rc_config *cfg;
    uv_loop_t loop;
    char address[320];
    struct worker worker;
    Raftcron__WorkerAssignments *view; /* the leader's latest answer (owned) */
    uv_timer_t retry;
    uv_signal_t sigterm, sigint;
    bool stopping;
    /* The watch in the thread pool: filled on the loop, used by the thread, read back. */
    uv_work_t work;
    bool watching;
    struct rc_client *client; /* used by the watch thread only */
    uint8_t *req;
    size_t req_len;
    void *resp;
    size_t resp_len;
    int rc;
    int status;
    char msg[256];
};

/* ---- the source: the runs of the latest answer --------------------------------------------- */

static size_t viewAssigned(void *ctx, uint64_t worker_id, const Raftcron__Run **out, size_t max)
{
    struct agent *a = ctx;
    (void)worker_id;
    if (a->view == NULL) {
        return 0;
    }
    for (size_t i = 0; i < a->view->n_runs && i < max; i++) {
        out[i] = a->view->runs[i]->run;
    }
    return a->view->n_runs;
}

static const Raftcron__AssignedRun *viewFind(struct agent *a, uint64_t run_id)
{
    for (size_t i = 0; a->view != NULL && i < a->view->n_runs; i++) {
        if (a->view->runs[i]->run->id == run_id) {
            return a->view->runs[i];
        }
    }
    return NULL;
}

static const Raftcron__Run *viewRun(void *ctx, uint64_t run_id)
{
    const Raftcron__AssignedRun *r = viewFind(ctx, run_id);
    return r != NULL ? r->run : NULL;
}

static const Raftcron__JobSpec *viewSpec(void *ctx, const Raftcron__Run *run)
{
    const Raftcron__AssignedRun *r = viewFind(ctx, run->id);
    return r != NULL ? r->spec : NULL;
}

static bool joinEndpoints(void *ctx, char *buf, size_t len)
{
    struct agent *a = ctx;
    snprintf(buf, len, "%s", a->cfg->join);
    return true;
}

/* An answer is usable only if every run in it is whole. */
static bool viewValid(const Raftcron__WorkerAssignments *v)
{
    for (size_t i = 0; i < v->n_runs; i++) {
        const Raftcron__AssignedRun *r = v->runs[i];
        if (r->run == NULL || r->spec == NULL || r->spec->executor == NULL) {
            return false;
        }
    }
    return true;
}

/* ---- the watch ------------------------------------------------------------------------------ */

static void watchNext(struct agent *a);

static void retryTimer(uv_timer_t *t)
{
    watchNext(t->data);
}

static void watchLater(struct agent *a, uint64_t ms)
{
    if (!a->stopping) {
        uv_timer_start(&a->retry, retryTimer, ms, 0);
    }
}

static void watchWork(uv_work_t *w)
{
    struct agent *a = w->data;
    if (a->client == NULL) {
        struct rc_client_options o = {
            .endpoints = a->cfg->join,
            .timeout_us = (int64_t)AGENT_WAIT_MS * 1000 + AGENT_CALL_SLACK_US,
            .auth_token = a->cfg->auth_token[0] != '\0' ? a->cfg->auth_token : NULL,
        };
        a->rc = rc_client_open(&o, &a->client);
        if (a->rc != 0) {
            a->client = NULL;
            a->status = RC_STATUS_INVALID_ARGUMENT;
            snprintf(a->msg, sizeof a->msg, "bad --join endpoints");
            return;
        }
    }
    a->rc =
        rc_client_call(a->client, "Worker.Watch", a->req, a->req_len, &a->resp, &a->resp_len, 1);
    a->status = rc_client_status(a->client);
    snprintf(a->msg, sizeof a->msg, "%s", rc_client_errmsg(a->client));
}

static void watchDone(uv_work_t *w, int status)
{
    struct agent *a = w->data;
    (void)status;
    a->watching = false;
    free(a->req);
    a->req = NULL;
    Raftcron__WorkerAssignments *v = NULL;
    if (a->rc == 0) {
        v = raftcron__worker_assignments__unpack(NULL, a->resp_len, a->resp);
    }
    free(a->resp);
    a->resp = NULL;
    if (a->stopping) {
        raftcron__worker_assignments__free_unpacked(v, NULL);
        return;
    }
    if (a->rc != 0) {
        if (a->status == RC_STATUS_NOT_FOUND) {
            a->worker.hello_ok = false; /* marked down: the worker says hello again */
        } else {
            LOG_DEBUG("agent: watch failed", "error", "%s", a->msg);
        }
        watchLater(a, AGENT_RETRY_MS);
        return;
    }
    if (v == NULL || !viewValid(v)) {
        LOG_WARN("agent: malformed Worker.Watch answer");
        raftcron__worker_assignments__free_unpacked(v, NULL);
        watchLater(a, AGENT_RETRY_MS);
        return;
    }
    raftcron__worker_assignments__free_unpacked(a->view, NULL);
    a->view = v;
    workerScanNow(&a->worker);
    watchNext(a);
}

static void watchNext(struct agent *a)
{
    if (a->stopping || a->watching) {
        return;
    }
    if (!workerRegistered(&a->worker)) {
        watchLater(a, AGENT_UNREGISTERED_MS);
        return;
    }
    size_t n = a->view != NULL ? a->view->n_runs : 0;
    Raftcron__RunRef *refs = calloc(n + 1, sizeof *refs);
    Raftcron__RunRef **ptrs = calloc(n + 1, sizeof *ptrs);
    if (refs == NULL || ptrs == NULL) {
        free(refs);
        free(ptrs);
        watchLater(a, AGENT_RETRY_MS);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        raftcron__run_ref__init(&refs[i]);
        refs[i].run_id = a->view->runs[i]->run->id;
        refs[i].fence = a->view->runs[i]->run->fence;
        ptrs[i] = &refs[i];
    }
    Raftcron__WorkerWatch req = RAFTCRON__WORKER_WATCH__INIT;
    req.worker_id = a->cfg->id;
    req.n_held = n;
    req.held = ptrs;
    req.wait_ms = AGENT_WAIT_MS;
    a->req_len = raftcron__worker_watch__get_packed_size(&req);
    a->req = malloc(a->req_len > 0 ? a->req_len : 1);
    if (a->req != NULL) {
        raftcron__worker_watch__pack(&req, a->req);
    }
    free(refs);
    free(ptrs);
    if (a->req == NULL) {
        watchLater(a, AGENT_RETRY_MS);
        return;
    }
    a->watching = true;
    a->work.data = a;
    if (uv_queue_work(&a->loop, &a->work, watchWork, watchDone) != 0) {
        a->watching = false;
        free(a->req);
        a->req = NULL;
        watchLater(a, AGENT_RETRY_MS);
    }
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static void workerClosed(struct worker *w)
{
    (void)w;
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
    uv_timer_stop(&a->retry);
    uv_close((uv_handle_t *)&a->retry, NULL);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    workerClose(&a->worker, workerClosed);
}

int agentRun(const struct rc_config *cfg)
{
    static struct agent a;
    memset(&a, 0, sizeof a);
    a.cfg = cfg;
    if (cfg->rpc_addr[0] != '\0') {
        snprintf(a.address, sizeof a.address, "%s", cfg->rpc_addr);
    } else {
        char host[64] = "localhost";
        gethostname(host, sizeof host - 1);
        snprintf(a.address, sizeof a.address, "agent@%s", host);
    }
    uv_loop_init(&a.loop);
    uv_timer_init(&a.loop, &a.retry);
    uv_signal_init(&a.loop, &a.sigterm);
    uv_signal_init(&a.loop, &a.sigint);
    a.retry.data = a.sigterm.data = a.sigint.data = &a;
    uv_signal_start(&a.sigterm, onSignal, SIGTERM);
    uv_signal_start(&a.sigint, onSignal, SIGINT);
    logSetRaftState(0, "agent");
    struct worker_identity me = {.id = cfg->id,
                                 .address = a.address,
                                 .tags = cfg->tags,
                                 .n_tags = cfg->n_tags,
                                 .capacity = cfg->max_parallel,
                                 .auth_token = cfg->auth_token[0] != '\0' ? cfg->auth_token : NULL,
                                 .incarnation = workerIncarnation()};
    struct worker_source src = {.assigned = viewAssigned,
                                .run = viewRun,
                                .spec = viewSpec,
                                .registered = NULL,
                                .endpoints = joinEndpoints,
                                .ctx = &a};
    int exit_code = 0;
    int rv = workerStart(&a.worker, &a.loop, &me, &src, true);
    if (rv != 0) {
        LOG_ERROR("cannot start the worker", "error", "%d", rv);
        exit_code = 1;
        a.stopping = true;
        uv_close((uv_handle_t *)&a.retry, NULL);
        uv_close((uv_handle_t *)&a.sigterm, NULL);
        uv_close((uv_handle_t *)&a.sigint, NULL);
    } else {
        logInfo("worker agent started", "join", "%s", cfg->join, "capacity", "%u",
                cfg->max_parallel);
        watchNext(&a);
    }
    uv_run(&a.loop, UV_RUN_DEFAULT);
    rc_client_close(a.client);
    raftcron__worker_assignments__free_unpacked(a.view, NULL);
    uv_loop_close(&a.loop);
    if (exit_code == 0) {
        logInfo("stopped");
    }
    return exit_code;
}
