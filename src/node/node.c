#include "node.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.pb-c.h"
#include "core/command.h"
#include "core/err.h"
#include "core/fsm.h"
#include "core/runs.h"
#include "log.h"
#include "raftcron/client.h"
#include "rpc.h"

#define NODE_ID_FILE           "raftcron-node"
#define NODE_JOIN_RETRY_MS     1000
#define NODE_TRANSFER_GRACE_MS 3000
#define NODE_TRANSFER_TRIES    2
#define NODE_DRAIN_MS          1500
#define NODE_DRAIN_POLL_MS     10

static void setState(struct node *n, enum node_state to)
{
    /* STARTING→RUNNING→STOPPING→STOPPED, or STARTING→STOPPING when start fails. */
    assert((n->state == NODE_STARTING && (to == NODE_RUNNING || to == NODE_STOPPING)) ||
           (n->state == NODE_RUNNING && to == NODE_STOPPING) ||
           (n->state == NODE_STOPPING && to == NODE_STOPPED));
    n->state = to;
}

const char *nodeLeaderRpcAddr(struct node *n)
{
    uint64_t leader = clusterLeader(&n->cluster, NULL);
    if (leader == 0) {
        return NULL;
    }
    if (leader == n->opts.id) {
        return n->opts.rpc_addr;
    }
    return fsmMemberRpcAddr(n->cluster.core, leader);
}

/*
 * The data dir remembers which node it belongs to: starting node 2 on node 1's directory
 * would otherwise impersonate node 1 in the Raft configuration.
 */
static int checkDataDir(const struct node_options *o, char *err, size_t errlen)
{
    if (mkdir(o->data_dir, 0700) != 0 && errno != EEXIST) {
        return errSet(err, errlen, RC_EIO, "data dir %s: %s", o->data_dir, strerror(errno));
    }
    /* The log and snapshots hold every job's definition and run history: owner only
     * (DESIGN.md §9). A directory of ours that others may read is tightened, with a warning;
     * one of another user is refused. */
    struct stat st;
    if (stat(o->data_dir, &st) != 0) {
        return errSet(err, errlen, RC_EIO, "data dir %s: %s", o->data_dir, strerror(errno));
    }
    if (st.st_uid != geteuid()) {
        return errSet(err, errlen, RC_EINVAL, "data dir %s belongs to uid %u, not to this user",
                      o->data_dir, (unsigned)st.st_uid);
    }
    if ((st.st_mode & 077) != 0) {
        if (chmod(o->data_dir, 0700) != 0) {
            return errSet(err, errlen, RC_EIO, "data dir %s: mode %03o, and chmod 700: %s",
                          o->data_dir, (unsigned)(st.st_mode & 0777), strerror(errno));
        }
        logWarn("data dir was readable by others: made it 0700", "data", "%s", o->data_dir,
                "mode_was", "%03o", (unsigned)(st.st_mode & 0777));
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", o->data_dir, NODE_ID_FILE);
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        unsigned long long id = 0;
        int ok = fscanf(f, "id=%llu", &id);
        fclose(f);
        if (ok != 1) {
            return errSet(err, errlen, RC_ECORRUPT, "data dir %s: %s is unreadable", o->data_dir,
                          NODE_ID_FILE);
        }
        if (id != o->id) {
            return errSet(err, errlen, RC_EINVAL, "data dir %s belongs to node %llu, not node %llu",
                          o->data_dir, id, (unsigned long long)o->id);
        }
        return 0;
    }
    f = fopen(path, "w");
    if (f == NULL || fprintf(f, "id=%llu\n", (unsigned long long)o->id) < 0 || fflush(f) != 0 ||
        fsync(fileno(f)) != 0) {
        if (f != NULL) {
            fclose(f);
        }
        return errSet(err, errlen, RC_EIO, "data dir %s: cannot write %s", o->data_dir,
                      NODE_ID_FILE);
    }
    fclose(f);
    return 0;
}

static void selfRecorded(void *data, int status, const struct rc_fsm_result *res)
{
    struct node *n = data;
    (void)res;
    if (status != 0) {
        logWarn("could not record this node's rpc address", "error", "%s", rc_strerror(status));
        return;
    }
    orphanRemember(&n->orphan);
}

/* Followers hint clients at the leader's RPC address, which must therefore be in the FSM. */
static void recordSelf(struct node *n)
{
    const char *have = fsmMemberRpcAddr(n->cluster.core, n->opts.id);
    if (have != NULL && strcmp(have, n->opts.rpc_addr) == 0) {
        return;
    }
    void *buf;
    size_t len;
    if (commandEncodeMemberSet(n->opts.id, n->opts.rpc_addr, false, &buf, &len) != 0) {
        return;
    }
    int rv = clusterPropose(&n->cluster, buf, len, selfRecorded, n);
    free(buf);
    if (rv != 0) {
        logWarn("could not propose this node's rpc address", "error", "%s", n->cluster.errmsg);
    }
}

static void onChange(struct cluster *c, void *data)
{
    struct node *n = data;
    logSetRaftState(clusterTerm(c), clusterStateName(c));
    const char *addr = NULL;
    uint64_t leader = clusterLeader(c, &addr);
    metricsLeader(&n->metrics, leader);
    logInfo("raft state changed", "leader", "%llu", (unsigned long long)leader);
    if (clusterIsLeader(c) && n->state == NODE_RUNNING) {
        recordSelf(n);
    }
    if (n->state == NODE_RUNNING) {
        leaderOnChange(&n->leader);
        if (n->worker_open) {
            linkPoke(&n->link);
        }
    }
    if (n->exporter_open) {
        exportOnLeader(&n->exporter, clusterIsLeader(c) && n->state == NODE_RUNNING);
    }
}

static void onApplied(struct cluster *c, void *data)
{
    struct node *n = data;
    (void)c;
    if (n->state == NODE_RUNNING) {
        leaderPoke(&n->leader);
    }
    if (n->exporter_open) {
        exportPoke(&n->exporter);
    }
}

/* A Raft connection refused before raft saw it (transport.h): logged, at most
 * REFUSED_BURST lines every REFUSED_WINDOW_MS, so that a flood of attempts cannot flood the
 * log; the next line says how many were left out. */
#define REFUSED_BURST     10
#define REFUSED_WINDOW_MS 10000

static void onPeerRefused(struct cluster *c, void *data, const char *peer, const char *why)
{
    struct node *n = data;
    (void)c;
    uint64_t now = uv_now(n->loop);
    if (n->refused_logged_ms == 0 || now - n->refused_logged_ms >= REFUSED_WINDOW_MS) {
        n->refused_logged_ms = now;
        n->refused_lines = 0;
    }
    if (n->refused_lines == REFUSED_BURST) {
        n->refused_quiet++;
        return;
    }
    n->refused_lines++;
    logWarn("raft: refused a peer connection", "peer", "%s", peer, "reason", "%s", why,
            "suppressed", "%u", n->refused_quiet);
    n->refused_quiet = 0;
}

static void onCommit(struct cluster *c, void *data, int64_t latency_us)
{
    struct node *n = data;
    (void)c;
    metricsAppend(&n->metrics, latency_us);
}

/* The FSM's changes go to the event stream and to the metrics (one slot, two listeners). */
static void hookJob(void *data, uint64_t index, const Raftcron__Job *job,
                    enum rc_fsm_job_change what)
{
    struct node *n = data;
    n->events.hooks.job_changed(&n->events, index, job, what);
}

static void hookRun(void *data, uint64_t index, const Raftcron__Run *run, uint32_t from,
                    bool dropped)
{
    struct node *n = data;
    n->events.hooks.run_changed(&n->events, index, run, from, dropped);
    n->metrics.hooks.run_changed(&n->metrics, index, run, from, dropped);
}

static void hookDecided(void *data, uint64_t index, const Raftcron__Decision *d)
{
    struct node *n = data;
    n->events.hooks.decided(&n->events, index, d);
    n->metrics.hooks.decided(&n->metrics, index, d);
}

static void hookRestored(void *data, uint64_t index)
{
    struct node *n = data;
    n->events.hooks.restored(&n->events, index);
}

static void onClusterId(struct cluster *c, void *data, uint64_t peer_id, uint64_t peer_cluster,
                        bool adopted)
{
    (void)data;
    if (adopted) {
        logInfo("cluster id learned", "cluster_id", "%016llx", (unsigned long long)peer_cluster,
                "from", "%llu", (unsigned long long)peer_id);
        return;
    }
    logWarn("refused a peer of another cluster", "peer", "%llu", (unsigned long long)peer_id,
            "peer_cluster_id", "%016llx", (unsigned long long)peer_cluster, "cluster_id", "%016llx",
            (unsigned long long)clusterId(c));
}

/* ---- joining: ask an existing member (over RPC, from the thread pool) to add us ---------- */

static void joinWork(uv_work_t *w)
{
    struct node *n = w->data;
    struct rc_client_options o = {.endpoints = n->opts.join,
                                  .timeout_us = 10 * 1000000,
                                  .auth_token = n->opts.auth_token,
                                  .ca_file = n->opts.tls_ca,
                                  .cert_file = n->opts.tls_cert,
                                  .key_file = n->opts.tls_key};
    struct rc_client *cl;
    n->join_status = rc_client_open(&o, &cl);
    if (n->join_status != 0) {
        snprintf(n->join_msg, sizeof n->join_msg, "bad --join list");
        return;
    }
    Raftcron__MemberRequest req = RAFTCRON__MEMBER_REQUEST__INIT;
    req.id = n->opts.id;
    req.raft_addr = (char *)n->opts.raft_addr;
    req.rpc_addr = (char *)n->opts.rpc_addr;
    req.standby = n->opts.standby;
    uint8_t buf[512];
    size_t len = raftcron__member_request__get_packed_size(&req);
    void *resp = NULL;
    size_t resp_len = 0;
    if (len > sizeof buf) {
        n->join_status = RC_EINVAL;
        snprintf(n->join_msg, sizeof n->join_msg, "addresses too long");
        rc_client_close(cl);
        return;
    }
    raftcron__member_request__pack(&req, buf);
    n->join_status = rc_client_call(cl, "Member.Join", buf, len, &resp, &resp_len, 1);
    free(resp);
    snprintf(n->join_msg, sizeof n->join_msg, "%s", rc_client_errmsg(cl));
    rc_client_close(cl);
}

static void joinTimer(uv_timer_t *t);

static void joinDone(uv_work_t *w, int status)
{
    struct node *n = w->data;
    n->join_pending = false;
    if (n->state != NODE_RUNNING) {
        return;
    }
    if (status == 0 && n->join_status == 0) {
        n->joined = true;
        logInfo("joined the cluster", "via", "%s", n->opts.join);
        return;
    }
    logWarn("join attempt failed; retrying", "error", "%s", n->join_msg);
    uv_timer_start(&n->join_timer, joinTimer, NODE_JOIN_RETRY_MS, 0);
}

static void joinTimer(uv_timer_t *t)
{
    struct node *n = t->data;
    if (n->state != NODE_RUNNING || n->join_pending) {
        return;
    }
    if (clusterRole(&n->cluster) == (int)(n->opts.standby ? CLUSTER_STANDBY : CLUSTER_VOTER)) {
        n->joined = true;
        return;
    }
    n->join_pending = true;
    n->join_work.data = n;
    uv_queue_work(n->loop, &n->join_work, joinWork, joinDone);
}

/* ---- shutdown ------------------------------------------------------------------------------ */

static void finishStop(struct node *n)
{
    if (--n->pending_close > 0) {
        return;
    }
    setState(n, NODE_STOPPED);
    authClose(&n->auth);
    logInfo("stopped");
}

static void handleClosed(uv_handle_t *h)
{
    finishStop(h->data);
}

static void clusterClosed(struct cluster *c)
{
    finishStop(c->change_data);
}

static void listenerClosed(struct listener *l)
{
    finishStop(l->data);
}

static void exporterClosed(struct exporter *e)
{
    finishStop((struct node *)((char *)e - offsetof(struct node, exporter)));
}

static void orphanClosed(uv_handle_t *h)
{
    finishStop((struct node *)((char *)h->data - offsetof(struct node, orphan)));
}

static void dispatchClosed(struct dispatch *d)
{
    finishStop((struct node *)((char *)d - offsetof(struct node, dispatch)));
}

static void leaderClosed(struct leader *l)
{
    finishStop((struct node *)((char *)l - offsetof(struct node, leader)));
}

static void workerClosed(struct worker *w)
{
    finishStop((struct node *)((char *)w - offsetof(struct node, worker)));
}

static void linkClosed(struct link *l)
{
    struct node *n = (struct node *)((char *)l - offsetof(struct node, link));
    /* The worker after its link; its backends after it started closing, so that their
     * cancels find it closing (worker.h). */
    workerClose(&n->worker, workerClosed);
    execsClose(&n->execs);
}

static void closeCluster(struct node *n)
{
    if (n->cluster_open) {
        n->cluster_open = false;
        n->pending_close++;
        clusterClose(&n->cluster, clusterClosed);
    }
}

static void closeStopTimer(struct node *n)
{
    if (n->stop_timer_open) {
        n->stop_timer_open = false;
        n->pending_close++;
        uv_close((uv_handle_t *)&n->stop_timer, handleClosed);
    }
}

/* The last steps of a stop: client connections, Raft, and the signal handlers (kept until now
 * so that a second signal still means "exit at once"). */
static void httpClosed(struct http_server *s)
{
    finishStop(s->node);
}

static void closeRest(struct node *n)
{
    closeStopTimer(n);
    if (n->http_open) {
        n->http_open = false;
        n->pending_close++;
        httpClose(&n->http, httpClosed);
    }
    rpcEventsEnd(n);
    if (n->events_open) {
        n->events_open = false;
        n->pending_close++;
        if (n->cluster_open) {
            fsmSetEvents(n->cluster.core, NULL, NULL);
        }
        eventsClose(&n->events, handleClosed);
        n->events.flush.data = n;
    }
    if (n->rpc_open) {
        n->rpc_open = false;
        n->pending_close++;
        listenerClose(&n->rpc, listenerClosed);
    }
    closeCluster(n);
    if (n->signals_open) {
        n->signals_open = false;
        n->pending_close += 4;
        uv_close((uv_handle_t *)&n->sigterm, handleClosed);
        uv_close((uv_handle_t *)&n->sigint, handleClosed);
        uv_close((uv_handle_t *)&n->sighup, handleClosed);
        uv_close((uv_handle_t *)&n->insecure, handleClosed);
    }
}

/* The transfer ends in its callback or, when no voter can take over (the others are
 * stopping too), at the grace timer: whichever comes first closes the rest and releases the
 * hold taken when the drain started; the other finds nothing left to do. */
static void transferEnded(struct node *n, bool handed_over)
{
    if (!n->transfer_pending) {
        return;
    }
    n->transfer_pending = false;
    if (handed_over) {
        logInfo("leadership handed over", "leader", "%llu",
                (unsigned long long)clusterLeader(&n->cluster, NULL));
    } else {
        logWarn("leadership transfer did not finish in time; stopping anyway");
    }
    closeRest(n);
    finishStop(n);
}

static void transferred(void *data, int status, const char *msg)
{
    struct node *n = data;
    if (!n->transfer_pending) {
        return;
    }
    uint64_t leader = clusterLeader(&n->cluster, NULL);
    if (leader != 0 && leader != n->opts.id) {
        transferEnded(n, true);
        return;
    }
    /* libraft reports the end of a transfer, not its success: the target may have lost the
     * election it was asked to start. Try again (its choice of voter) within the grace. */
    if (n->transfer_tries < NODE_TRANSFER_TRIES && clusterIsLeader(&n->cluster) &&
        clusterTransfer(&n->cluster, 0, transferred, n) == 0) {
        n->transfer_tries++;
        logWarn("leadership transfer left this node leader; trying again", "status", "%d", status,
                "error", "%s", msg != NULL ? msg : "");
        return;
    }
    transferEnded(n, false);
}

static void transferTimeout(uv_timer_t *t)
{
    transferEnded(t->data, false);
}

static void startTransfer(struct node *n)
{
    if (n->cluster_open && clusterIsLeader(&n->cluster) &&
        clusterTransfer(&n->cluster, 0, transferred, n) == 0) {
        n->transfer_pending = true;
        n->transfer_tries = 1;
        uv_timer_start(&n->stop_timer, transferTimeout, NODE_TRANSFER_GRACE_MS, 0);
        logInfo("handing over leadership");
        return;
    }
    closeRest(n);
    finishStop(n); /* the hold taken when the drain started */
}

/* A stopping leader lets the client writes it proposed commit before it hands over: a
 * transfer would fail them, and their clients could not tell whether they were applied. */
static void drainTick(uv_timer_t *t)
{
    struct node *n = t->data;
    n->drain_waited_ms += NODE_DRAIN_POLL_MS;
    if (n->writes_pending > 0 && n->drain_waited_ms < NODE_DRAIN_MS &&
        clusterIsLeader(&n->cluster)) {
        return;
    }
    uv_timer_stop(t);
    if (n->writes_pending > 0 && clusterIsLeader(&n->cluster)) {
        logWarn("writes still pending after the drain; handing over anyway", "writes", "%u",
                n->writes_pending);
    }
    startTransfer(n);
}

void nodeStop(struct node *n)
{
    if (n->state == NODE_STOPPING || n->state == NODE_STOPPED) {
        return;
    }
    setState(n, NODE_STOPPING);
    logInfo("stopping");
    free(n->held.buf);
    n->held.buf = NULL;
    n->pending_close = 1; /* released at the end of this function */
    if (n->worker_open) {
        n->worker_open = false;
        n->pending_close++; /* the worker's close, after its link's */
        linkClose(&n->link, linkClosed);
    }
    if (n->sched_open) {
        n->sched_open = false;
        n->pending_close += 2;
        leaderClose(&n->leader, leaderClosed);
        dispatchClose(&n->dispatch, dispatchClosed);
    }
    if (n->orphan_open) {
        n->orphan_open = false;
        n->pending_close++;
        orphanClose(&n->orphan, orphanClosed);
    }
    if (n->exporter_open) {
        n->exporter_open = false;
        n->pending_close++;
        exportClose(&n->exporter, exporterClosed);
    }
    uv_timer_stop(&n->join_timer);
    n->pending_close++;
    uv_close((uv_handle_t *)&n->join_timer, handleClosed);
    if (n->cluster_open && clusterIsLeader(&n->cluster)) {
        n->pending_close++; /* held until the transfer is over and the rest closing */
        n->drain_waited_ms = 0;
        uv_timer_start(&n->stop_timer, drainTick, 0, NODE_DRAIN_POLL_MS);
    } else {
        closeRest(n);
    }
    finishStop(n);
}

static void onSignal(uv_signal_t *s, int signum)
{
    struct node *n = s->data;
    if (n->state == NODE_STOPPING) {
        logWarn("second signal: exiting at once", "signal", "%d", signum);
        _exit(130);
    }
    logInfo("signal received: graceful stop", "signal", "%d", signum);
    nodeStop(n);
}

/* SIGHUP: new certificates (a renewal) and a new token take effect for connections made from
 * now on; open ones keep theirs. */
static void onReload(uv_signal_t *s, int signum)
{
    struct node *n = s->data;
    (void)signum;
    if (n->opts.creds == NULL) {
        return;
    }
    char err[RC_ERRMSG_SIZE];
    if (credentialsReload(n->opts.creds, err, sizeof err) != 0) {
        logWarn("reload failed; the previous credentials stay in force", "error", "%s", err);
        return;
    }
    if (authSetSecret(&n->auth, n->opts.creds->token) != 0) {
        logWarn("reload: out of memory; the previous token stays in force");
    }
    logInfo("credentials reloaded (SIGHUP)", "tls", "%s",
            n->opts.creds->rpc_server != NULL ? "on" : "off", "token_file", "%s",
            n->opts.creds->token_file[0] != '\0' ? n->opts.creds->token_file : "none");
    if (n->http_open && n->http.https) {
        /* libmicrohttpd takes its certificate once, at start (http.h). */
        logInfo("the HTTPS certificate of --http-addr is read at start: restart the node to "
                "serve a renewed one",
                "http_addr", "%s", n->opts.http_addr);
    }
}

static void insecureWarning(uv_timer_t *t)
{
    (void)t;
    logWarn("--insecure: Raft, RPC and HTTP may listen beyond loopback without TLS or client "
            "authentication; anyone who reaches the ports can run commands on every worker, "
            "and bearer tokens cross the network in clear text (docs/security.md)");
}

/* ---- the node's own worker finds the leader through this node ---------------------------- */

/* Where this node's worker reaches the leader: itself when it is the active leader, else the
 * known leader's RPC address (from the member table). */
static bool memberTarget(void *ctx, bool *self, char *buf, size_t len)
{
    struct node *n = ctx;
    *self = n->leader.state == LEADER_ACTIVE;
    if (*self) {
        return true;
    }
    if (clusterLeader(&n->cluster, NULL) == 0 || clusterIsLeader(&n->cluster)) {
        return false;
    }
    const char *leader = nodeLeaderRpcAddr(n);
    if (leader == NULL) {
        return false;
    }
    snprintf(buf, len, "%s", leader);
    return true;
}

static void leaderActivated(void *data)
{
    struct node *n = data;
    if (n->worker_open) {
        linkPoke(&n->link);
    }
}

static void dispatchPoke(void *data)
{
    struct node *n = data;
    leaderPokeNow(&n->leader);
}

/* The removed-member check's view of the node (orphan.h). */
static bool isRunning(void *data)
{
    return ((struct node *)data)->state == NODE_RUNNING;
}

static void stopRemoved(void *data)
{
    nodeStop(data);
}

static int startWorker(struct node *n, uv_loop_t *loop, const struct node_options *opts)
{
    struct execs_config ec = {.conns = opts->conns,
                              .n_conns = opts->n_conns,
                              .sql_pool_size = opts->sql_pool_size,
                              .http_ca_file = opts->http_ca_file,
                              .security = opts->exec};
    struct worker_execs execs;
    int rv = execsOpen(&n->execs, loop, &ec, &execs);
    if (rv != 0) {
        return rv;
    }
    struct worker_identity me = {.id = opts->id,
                                 .address = opts->rpc_addr,
                                 .tags = opts->tags,
                                 .n_tags = opts->n_tags,
                                 .capacity = opts->max_parallel,
                                 .incarnation = workerIncarnation()};
    rv = workerStart(&n->worker, &n->io.io, &me, &execs, true);
    if (rv != 0) {
        execsClose(&n->execs);
        return rv;
    }
    struct link_options lo = {.loop = loop,
                              .worker = &n->worker,
                              .dispatch = &n->dispatch,
                              .target = memberTarget,
                              .target_ctx = n,
                              .auth_token = opts->auth_token,
                              .max_frame = 0, /* what the leader sends: the client's limit */
                              .tls = opts->creds != NULL ? opts->creds->client : NULL};
    linkStart(&n->link, &lo);
    n->worker_open = true;
    return 0;
}

static int startScheduler(struct node *n, const struct node_options *opts)
{
    struct dispatch_options dopts = {
        .ack_timeout_us = opts->ack_timeout_us, .poke = dispatchPoke, .poke_data = n};
    int rv = dispatchInit(&n->dispatch, &n->io.io, &dopts);
    if (rv != 0) {
        return rv;
    }
    struct leader_options lopts = {.lookahead_us = opts->lookahead_us,
                                   .worker_timeout_us = opts->worker_timeout_us,
                                   .activated = leaderActivated,
                                   .activated_data = n};
    rv = leaderInit(&n->leader, &n->io.io, &n->dispatch, &lopts);
    if (rv != 0) {
        dispatchClose(&n->dispatch, NULL);
        return rv;
    }
    n->sched_open = true;
    return 0;
}

int nodeStart(struct node *n, uv_loop_t *loop, const struct node_options *opts, char *err,
              size_t errlen)
{
    memset(n, 0, sizeof *n);
    n->loop = loop;
    n->opts = *opts;
    uv_signal_init(loop, &n->sigterm);
    uv_signal_init(loop, &n->sigint);
    uv_signal_init(loop, &n->sighup);
    uv_timer_init(loop, &n->insecure);
    uv_timer_init(loop, &n->join_timer);
    uv_timer_init(loop, &n->stop_timer);
    n->stop_timer_open = true;
    n->sigterm.data = n->sigint.data = n->join_timer.data = n->stop_timer.data = n;
    n->sighup.data = n->insecure.data = n;
    uv_signal_start(&n->sigterm, onSignal, SIGTERM);
    uv_signal_start(&n->sigint, onSignal, SIGINT);
    uv_signal_start(&n->sighup, onReload, SIGHUP);
    n->signals_open = true;
    metricsInit(&n->metrics, rpcNow());
    int rv = authInit(&n->auth, &opts->auth, err, errlen);
    if (rv == 0) {
        rv = eventsInit(&n->events, loop, opts->events_buffer);
        n->events_open = rv == 0;
        if (rv != 0) {
            errSet(err, errlen, rv, "events: out of memory");
        }
    }
    if (rv == 0) {
        rv = checkDataDir(opts, err, errlen);
    }
    if (rv == 0 && opts->insecure) {
        insecureWarning(&n->insecure);
        uv_timer_start(&n->insecure, insecureWarning, 3600 * 1000, 3600 * 1000);
        uv_unref((uv_handle_t *)&n->insecure);
    }
    if (rv != 0) {
        goto err_stop;
    }
    struct cluster_options co = {
        .id = opts->id,
        .raft_addr = opts->raft_addr,
        .data_dir = opts->data_dir,
        .bootstrap = opts->bootstrap,
        .recover = opts->recover,
        .restore = opts->restore,
        .election_timeout_ms = opts->election_timeout_ms,
        .heartbeat_timeout_ms = opts->heartbeat_timeout_ms,
        .snapshot_threshold = opts->snapshot_threshold,
        .snapshot_trailing = opts->snapshot_trailing,
        .tls_server = opts->creds != NULL ? opts->creds->raft_server : NULL,
        .tls_client = opts->creds != NULL ? opts->creds->raft_client : NULL,
        .peer_tls_name = opts->peer_tls_name,
        .secret = opts->creds != NULL && opts->creds->secret_len > 0 ? opts->creds->secret : NULL,
        .secret_len = opts->creds != NULL ? opts->creds->secret_len : 0,
    };
    rv = clusterStart(&n->cluster, loop, &co, onChange, n, err, errlen);
    n->cluster_open = n->cluster.raft_open;
    if (rv != 0) {
        goto err_stop;
    }
    n->fsm_hooks = (struct rc_fsm_events){.job_changed = hookJob,
                                          .run_changed = hookRun,
                                          .decided = hookDecided,
                                          .restored = hookRestored};
    fsmSetEvents(n->cluster.core, &n->fsm_hooks, n);
    /* What a snapshot loaded at start covered was never told: resuming before it is a gap. */
    n->events.restored_index = fsmAppliedIndex(n->cluster.core);
    n->cluster.commit_cb = onCommit;
    if (!clusterHasConfiguration(&n->cluster) && opts->join == NULL) {
        rv = errSet(err, errlen, RC_EINVAL,
                    "data dir %s holds no cluster: start the first node with --bootstrap and "
                    "the others with --join",
                    opts->data_dir);
        goto err_stop;
    }
    if (n->cluster.restored) {
        const struct rc_backup_info *b = &n->cluster.backup;
        logWarn("restored from a backup: a new cluster with this node as its only voter; remove "
                "--restore, and add the other nodes with empty data dirs and --join",
                "file", "%s", opts->restore, "index", "%llu", (unsigned long long)b->index,
                "source_cluster_id", "%016llx", (unsigned long long)b->cluster_id, "jobs", "%zu",
                n->cluster.seeded.jobs, "runs", "%zu", n->cluster.seeded.runs);
    }
    if (opts->recover) {
        logWarn("recovered: this node is now the only voter of the cluster; remove --recover, "
                "and add the other nodes back with empty data dirs and --join");
    }
    struct listener_options lo = {
        .max_frame = opts->max_frame,
        .tls = opts->creds != NULL ? opts->creds->rpc_server : NULL,
        .open = !n->auth.enabled,
        .max_connections = opts->rpc_max_connections,
        .idle_ms = opts->rpc_idle_ms,
    };
    rv = listenerStart(&n->rpc, loop, opts->rpc_addr, &lo, rpcOnFrame, n, err, errlen);
    if (rv != 0) {
        goto err_stop;
    }
    n->rpc_open = true;
    if (opts->http_addr != NULL) {
        /* HTTPS with the node's certificate when it has one (docs/security.md). */
        struct http_server_options ho = {.addr = opts->http_addr,
                                         .max_body = opts->http_max_body,
                                         .tls_cert = opts->tls_cert,
                                         .tls_key = opts->tls_key};
        rv = httpStart(&n->http, n, &ho, err, errlen);
        if (rv != 0) {
            goto err_stop;
        }
        n->http_open = true;
    }
    n->cluster.applied_cb = onApplied;
    n->cluster.cluster_cb = onClusterId;
    n->cluster.refused_cb = onPeerRefused;
    ioUvInit(&n->io, loop, &n->cluster);
    rv = startScheduler(n, opts);
    if (rv == 0 && !opts->no_execute) {
        rv = startWorker(n, loop, opts);
    }
    if (rv != 0) {
        errSet(err, errlen, rv, "scheduler: %s", rc_strerror(rv));
        goto err_stop;
    }
    struct export_options eo = {.conninfo = opts->history_conninfo,
                                .password_file = opts->history_password_file};
    if (exportInit(&n->exporter, loop, &n->cluster, &eo) == 0) {
        n->exporter_open = true;
    } else {
        logWarn("history export: out of memory; runs are not exported");
    }
    setState(n, NODE_RUNNING);
    struct orphan_env oe = {.loop = loop,
                            .cluster = &n->cluster,
                            .id = n->opts.id,
                            .data_dir = n->opts.data_dir,
                            .auth_token = n->opts.auth_token,
                            .election_timeout_ms = n->opts.election_timeout_ms,
                            .running = isRunning,
                            .stop = stopRemoved,
                            .data = n};
    orphanStart(&n->orphan, &oe);
    n->orphan_open = true;
    logSetRaftState(clusterTerm(&n->cluster), clusterStateName(&n->cluster));
    logInfo("started", "raft_addr", "%s", opts->raft_addr, "rpc_addr", "%s", opts->rpc_addr,
            "http_addr", "%s", opts->http_addr != NULL ? opts->http_addr : "", "http", "%s",
            opts->http_addr == NULL ? "off"
            : n->http.https         ? "https"
                                    : "http",
            "data", "%s", opts->data_dir);
    leaderOnChange(&n->leader); /* a single-node cluster may already be leader */
    if (n->exporter_open) {
        exportOnLeader(&n->exporter, clusterIsLeader(&n->cluster));
    }
    if (opts->join != NULL) {
        uv_timer_start(&n->join_timer, joinTimer, 0, 0);
    }
    return 0;

err_stop:
    assert(rv != 0);
    nodeStop(n);
    return rv;
}
