#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "fsm_bridge.h"
#include "transport.h"

/* libraft has no state-change callback; a short poll keeps role changes visible within
 * milliseconds without touching libraft's internals. */
#define CLUSTER_WATCH_MS 10

struct proposal {
    struct raft_apply req;
    struct cluster *c;
    cluster_apply_cb cb;
    void *data;
};

struct barrier {
    struct raft_barrier req;
    cluster_done_cb cb;
    void *data;
};

struct change {
    struct raft_change req;
    cluster_done_cb cb;
    void *data;
    struct cluster *c;
};

struct transfer {
    struct raft_transfer req;
    cluster_done_cb cb;
    void *data;
};

/* Map libraft's codes onto ours: the callers only need to know "not leader (outcome unknown)",
 * "no memory", "bad request" or "other". */
static int fromRaft(int rv)
{
    switch (rv) {
    case 0:
        return 0;
    case RAFT_NOTLEADER:
    case RAFT_LEADERSHIPLOST:
        return RC_ENOTLEADER;
    case RAFT_NOMEM:
        return RC_ENOMEM;
    case RAFT_SHUTDOWN:
    case RAFT_CANCELED:
        return RC_ESHUTDOWN;
    case RAFT_BADID:
    case RAFT_BADROLE:
    case RAFT_NOTFOUND:
        return RC_EINVAL;
    case RAFT_DUPLICATEID:
    case RAFT_DUPLICATEADDRESS:
        return RC_EEXISTS;
    case RAFT_CANTCHANGE:
        return RC_ESTALE;
    case RAFT_CORRUPT:
        return RC_ECORRUPT;
    default:
        return RC_EIO;
    }
}

static void watchTick(uv_timer_t *t)
{
    struct cluster *c = t->data;
    int state = (int)raft_state(&c->raft);
    raft_id leader;
    const char *addr;
    raft_leader(&c->raft, &leader, &addr);
    if (state == c->last_state && c->raft.current_term == c->last_term &&
        leader == c->last_leader) {
        return;
    }
    c->last_state = state;
    c->last_term = c->raft.current_term;
    c->last_leader = leader;
    if (c->change_cb != NULL) {
        c->change_cb(c, c->change_data);
    }
}

static int bootstrap(struct cluster *c, const struct cluster_options *opts, char *err,
                     size_t errlen)
{
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    int rv = raft_configuration_add(&conf, opts->id, opts->raft_addr, RAFT_VOTER);
    if (rv == 0) {
        rv = raft_bootstrap(&c->raft, &conf);
    }
    raft_configuration_close(&conf);
    if (rv == RAFT_CANTBOOTSTRAP) {
        return 0; /* already bootstrapped: --bootstrap on a restart is harmless */
    }
    if (rv != 0) {
        return errSet(err, errlen, fromRaft(rv), "bootstrap: %s", raft_strerror(rv));
    }
    return 0;
}

int clusterStart(struct cluster *c, uv_loop_t *loop, const struct cluster_options *opts,
                 cluster_change_cb change_cb, void *change_data, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->loop = loop;
    c->change_cb = change_cb;
    c->change_data = change_data;
    c->last_state = -1;
    int rv = fsmCreate(&c->core);
    if (rv != 0) {
        return errSet(err, errlen, rv, "fsm: out of memory");
    }
    rv = fsmBridgeInit(&c->fsm, c->core);
    if (rv != 0) {
        errSet(err, errlen, rv, "fsm bridge: %s", rc_strerror(rv));
        goto err_after_core;
    }
    rv = transportInit(&c->transport, loop);
    if (rv != 0) {
        errSet(err, errlen, rv, "transport: %s", rc_strerror(rv));
        goto err_after_bridge;
    }
    rv = raft_uv_init(&c->io, loop, opts->data_dir, &c->transport);
    if (rv != 0) {
        errSet(err, errlen, RC_EIO, "data dir %s: %s", opts->data_dir, c->io.errmsg);
        rv = RC_EIO;
        goto err_after_transport;
    }
    raft_uv_set_auto_recovery(&c->io, false);
    rv = raft_init(&c->raft, &c->io, &c->fsm, opts->id, opts->raft_addr);
    if (rv != 0) {
        errSet(err, errlen, fromRaft(rv), "raft: %s", raft_errmsg(&c->raft));
        rv = fromRaft(rv);
        goto err_after_io;
    }
    c->raft.data = c;
    c->raft_open = true;
    fsmBridgeAttach(&c->fsm, &c->raft);
    raft_set_pre_vote(&c->raft, true);
    raft_set_election_timeout(&c->raft, opts->election_timeout_ms);
    raft_set_heartbeat_timeout(&c->raft, opts->heartbeat_timeout_ms);
    raft_set_snapshot_threshold(&c->raft, opts->snapshot_threshold);
    raft_set_snapshot_trailing(&c->raft, opts->snapshot_trailing);
    if (opts->bootstrap) {
        rv = bootstrap(c, opts, err, errlen);
        if (rv != 0) {
            return rv; /* raft is open: the caller closes with clusterClose */
        }
    }
    rv = raft_start(&c->raft);
    if (rv != 0) {
        /* A damaged or truncated data dir ends up here: refuse to serve wrong state. */
        const char *why = raft_errmsg(&c->raft);
        if (why[0] == '\0') {
            why = c->io.errmsg;
        }
        if (why[0] == '\0') {
            why = c->transport.errmsg; /* e.g. it could not listen on the Raft address */
        }
        return errSet(err, errlen, fromRaft(rv), "cannot start from data dir %s: %s%s%s",
                      opts->data_dir, raft_strerror(rv), why[0] != '\0' ? ": " : "", why);
    }
    c->started = true;
    uv_timer_init(loop, &c->watch);
    c->watch.data = c;
    uv_timer_start(&c->watch, watchTick, CLUSTER_WATCH_MS, CLUSTER_WATCH_MS);
    return 0;

err_after_io:
    raft_uv_close(&c->io);
err_after_transport:
    transportClose(&c->transport);
err_after_bridge:
    fsmBridgeClose(&c->fsm);
err_after_core:
    fsmDestroy(c->core);
    c->core = NULL;
    return rv;
}

static void releaseAll(struct cluster *c)
{
    raft_uv_close(&c->io);
    transportClose(&c->transport); /* raft_close ran the transport's close first */
    fsmBridgeClose(&c->fsm);
    fsmDestroy(c->core);
    c->core = NULL;
    if (c->close_cb != NULL) {
        c->close_cb(c);
    }
}

static void raftClosed(struct raft *r)
{
    releaseAll(r->data);
}

static void watchClosed(uv_handle_t *h)
{
    struct cluster *c = h->data;
    raft_close(&c->raft, raftClosed);
}

void clusterClose(struct cluster *c, cluster_close_cb cb)
{
    c->close_cb = cb;
    if (!c->raft_open) {
        /* clusterStart failed before raft_init: it released everything already. */
        if (cb != NULL) {
            cb(c);
        }
        return;
    }
    c->raft_open = false;
    if (c->started) {
        uv_timer_stop(&c->watch);
        uv_close((uv_handle_t *)&c->watch, watchClosed);
        return;
    }
    raft_close(&c->raft, raftClosed);
}

bool clusterIsLeader(struct cluster *c)
{
    return raft_state(&c->raft) == RAFT_LEADER;
}

uint64_t clusterLeader(struct cluster *c, const char **raft_addr)
{
    raft_id id;
    const char *addr;
    raft_leader(&c->raft, &id, &addr);
    if (raft_addr != NULL) {
        *raft_addr = addr;
    }
    return id;
}

const char *clusterStateName(struct cluster *c)
{
    switch (raft_state(&c->raft)) {
    case RAFT_LEADER:
        return "leader";
    case RAFT_FOLLOWER:
        return "follower";
    case RAFT_CANDIDATE:
        return "candidate";
    default:
        return "unavailable";
    }
}

uint64_t clusterTerm(struct cluster *c)
{
    return raft_current_term(&c->raft);
}

uint64_t clusterCommitIndex(struct cluster *c)
{
    return raft_commit_index(&c->raft);
}

uint64_t clusterAppliedIndex(struct cluster *c)
{
    return raft_last_applied(&c->raft);
}

int clusterRole(struct cluster *c)
{
    return raft_role(&c->raft);
}

bool clusterHasConfiguration(struct cluster *c)
{
    return c->raft.configuration.n > 0;
}

uint64_t clusterMatchIndex(struct cluster *c, uint64_t id)
{
    raft_index match = 0;
    if (raft_state(&c->raft) != RAFT_LEADER || raft_match_index(&c->raft, id, &match) != 0) {
        return 0;
    }
    return match;
}

uint64_t clusterLastIndex(struct cluster *c)
{
    return raft_last_index(&c->raft);
}

const struct raft_configuration *clusterConfiguration(struct cluster *c)
{
    return &c->raft.configuration;
}

static void applied(struct raft_apply *req, int status, void *result)
{
    struct proposal *p = req->data;
    struct cluster *c = p->c;
    (void)result; /* may point at a slot reused since: copy the result out by index instead */
    struct rc_fsm_result res;
    if (status == 0 && !fsmBridgeResult(&c->fsm, p->req.index, &res)) {
        memset(&res, 0, sizeof res);
        res.code = RC_EINTERNAL;
        snprintf(res.message, sizeof res.message,
                 "entry %llu was applied, but its result is no longer available",
                 (unsigned long long)p->req.index);
    }
    p->cb(p->data, fromRaft(status), status == 0 ? &res : NULL);
    free(p);
    if (status == 0 && c->applied_cb != NULL) {
        c->applied_cb(c, c->change_data);
    }
}

int clusterPropose(struct cluster *c, const void *buf, size_t len, cluster_apply_cb cb, void *data)
{
    /* A leader handing over leadership refuses raft_apply with RAFT_NOTLEADER before taking
     * the entry's buffer, which then nobody frees (found by the Jepsen soak: LeakSanitizer at
     * exit after membership transfers). Refuse here, before anything is allocated. */
    if (raft_state(&c->raft) != RAFT_LEADER || raft_transferee(&c->raft) != 0) {
        return RC_ENOTLEADER;
    }
    struct proposal *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return RC_ENOMEM;
    }
    struct raft_buffer b;
    int rv = fsmBridgeEncodeEntry(buf, len, &b);
    if (rv != 0) {
        free(p);
        return rv;
    }
    p->req.data = p;
    p->c = c;
    p->cb = cb;
    p->data = data;
    rv = raft_apply(&c->raft, &p->req, &b, 1, applied);
    if (rv != 0) {
        /* libraft 0.22's legacy raft_apply has already released the entry's buffer when it
         * fails inside the core (measured with ASan: freeing it here is a double free). */
        snprintf(c->errmsg, sizeof c->errmsg, "raft_apply: %s (%s)", raft_strerror(rv),
                 raft_errmsg(&c->raft));
        free(p);
        return fromRaft(rv);
    }
    return 0;
}

static void barrierDone(struct raft_barrier *req, int status)
{
    struct barrier *b = req->data;
    b->cb(b->data, fromRaft(status), status == 0 ? "" : raft_strerror(status));
    free(b);
}

int clusterBarrier(struct cluster *c, cluster_done_cb cb, void *data)
{
    if (raft_state(&c->raft) != RAFT_LEADER) {
        return RC_ENOTLEADER;
    }
    struct barrier *b = calloc(1, sizeof *b);
    if (b == NULL) {
        return RC_ENOMEM;
    }
    b->req.data = b;
    b->cb = cb;
    b->data = data;
    int rv = raft_barrier(&c->raft, &b->req, barrierDone);
    if (rv != 0) {
        free(b);
        return fromRaft(rv);
    }
    return 0;
}

static void changeDone(struct raft_change *req, int status)
{
    struct change *ch = req->data;
    ch->cb(ch->data, fromRaft(status), status == 0 ? "" : raft_strerror(status));
    free(ch);
}

static struct change *changeNew(struct cluster *c, cluster_done_cb cb, void *data)
{
    struct change *ch = calloc(1, sizeof *ch);
    if (ch != NULL) {
        ch->req.data = ch;
        ch->cb = cb;
        ch->data = data;
        ch->c = c;
    }
    return ch;
}

/* libraft allows one configuration change at a time, and its legacy layer leaks the encoded
 * configuration when a second one is refused (seen with LeakSanitizer): refuse it here. */
static bool changeInProgress(struct cluster *c)
{
    return c->raft.configuration_uncommitted_index != 0 || c->raft.legacy.change != NULL ||
           c->raft.leader_state.promotee_id != 0 || c->raft.leader_state.transferee != 0;
}

static int changeSubmitted(struct cluster *c, struct change *ch, int rv)
{
    if (rv != 0) {
        snprintf(c->errmsg, sizeof c->errmsg, "%s", raft_errmsg(&c->raft));
        free(ch);
        return fromRaft(rv);
    }
    return 0;
}

int clusterAdd(struct cluster *c, uint64_t id, const char *raft_addr, cluster_done_cb cb,
               void *data)
{
    if (changeInProgress(c)) {
        snprintf(c->errmsg, sizeof c->errmsg, "a configuration change is in progress");
        return RC_ESTALE;
    }
    struct change *ch = changeNew(c, cb, data);
    if (ch == NULL) {
        return RC_ENOMEM;
    }
    return changeSubmitted(c, ch, raft_add(&c->raft, &ch->req, id, raft_addr, changeDone));
}

int clusterAssign(struct cluster *c, uint64_t id, int role, cluster_done_cb cb, void *data)
{
    if (changeInProgress(c)) {
        snprintf(c->errmsg, sizeof c->errmsg, "a configuration change is in progress");
        return RC_ESTALE;
    }
    struct change *ch = changeNew(c, cb, data);
    if (ch == NULL) {
        return RC_ENOMEM;
    }
    return changeSubmitted(c, ch, raft_assign(&c->raft, &ch->req, id, role, changeDone));
}

int clusterRemove(struct cluster *c, uint64_t id, cluster_done_cb cb, void *data)
{
    if (changeInProgress(c)) {
        snprintf(c->errmsg, sizeof c->errmsg, "a configuration change is in progress");
        return RC_ESTALE;
    }
    struct change *ch = changeNew(c, cb, data);
    if (ch == NULL) {
        return RC_ENOMEM;
    }
    return changeSubmitted(c, ch, raft_remove(&c->raft, &ch->req, id, changeDone));
}

static void transferDone(struct raft_transfer *req)
{
    struct transfer *t = req->data;
    t->cb(t->data, 0, "");
    free(t);
}

int clusterTransfer(struct cluster *c, uint64_t id, cluster_done_cb cb, void *data)
{
    struct transfer *t = calloc(1, sizeof *t);
    if (t == NULL) {
        return RC_ENOMEM;
    }
    t->req.data = t;
    t->cb = cb;
    t->data = data;
    int rv = raft_transfer(&c->raft, &t->req, id, transferDone);
    if (rv != 0) {
        snprintf(c->errmsg, sizeof c->errmsg, "%s", raft_errmsg(&c->raft));
        free(t);
        return fromRaft(rv);
    }
    return 0;
}
