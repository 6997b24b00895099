/*
 * Why the wrapper is shaped as it is. libraft 0.22 is used through raft.h's functions only;
 * where it has no function for what we need, we keep the information ourselves (the change in
 * flight, the index a new leader must commit before its configuration is known committed) or
 * read the one documented field that has no accessor (struct raft's current configuration),
 * in one place (configurationOf).
 */
#include "cluster.h"

#include <errno.h>
#include <raft.h>
#include <raft/uv.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/err.h"
#include "datadir.h"
#include "fsm_bridge.h"
#include "transport.h"

/* libraft has no state-change callback; a short poll keeps role changes visible within
 * milliseconds without touching libraft's internals. */
#define CLUSTER_WATCH_MS 10

struct cluster_raft {
    struct cluster *c;
    struct raft raft;
    struct raft_io io;
    struct raft_uv_transport transport;
    struct raft_fsm fsm;
    /* raft_uv's load, called by the checking one installed in io */
    int (*uv_load)(struct raft_io *io, raft_term *term, raft_id *voted_for,
                   struct raft_snapshot **snapshot, raft_index *start_index,
                   struct raft_entry *entries[], size_t *n_entries);
    bool changing;       /* a configuration change of ours is in flight */
    uint64_t lead_term;  /* the term this node was last seen leading in */
    uint64_t lead_index; /* its last log index then: an earlier leader's change may be below */
};

struct proposal {
    struct raft_apply req;
    struct cluster *c;
    cluster_apply_cb cb;
    void *data;
    uint64_t proposed_ns; /* uv_hrtime at the proposal (commit_cb) */
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

/* Seen leading in term: every entry up to the last index now may be an earlier leader's,
 * including a configuration change, until it is committed (changeInProgress). */
static void noteLeading(struct cluster_raft *r, uint64_t term)
{
    r->lead_term = term;
    r->lead_index = raft_last_index(&r->raft);
}

static void watchTick(uv_timer_t *t)
{
    struct cluster *c = t->data;
    int state = (int)raft_state(&c->r->raft);
    raft_id leader;
    const char *addr;
    raft_leader(&c->r->raft, &leader, &addr);
    uint64_t term = raft_current_term(&c->r->raft);
    if (state == c->last_state && term == c->last_term && leader == c->last_leader) {
        return;
    }
    if (state == RAFT_LEADER && c->r->lead_term != term) {
        noteLeading(c->r, term);
    }
    c->last_state = state;
    c->last_term = term;
    c->last_leader = leader;
    if (c->change_cb != NULL) {
        c->change_cb(c, c->change_data);
    }
}

static void transportCluster(void *data, uint64_t peer_id, uint64_t peer_cluster, bool adopted)
{
    struct cluster *c = data;
    if (adopted) {
        (void)datadirWriteClusterId(c->data_dir,
                                    peer_cluster); /* kept in memory even if this fails */
    }
    if (c->cluster_cb != NULL) {
        c->cluster_cb(c, c->change_data, peer_id, peer_cluster, adopted);
    }
}

/* Membership as the transport checks it (transport.h): this node's latest configuration,
 * committed or not (libraft's r->configuration), so that a server being added is known to the
 * leader as soon as it catches it up. */
/* libraft 0.22 has no accessor for the current configuration; struct raft documents this field
 * as it (committed or not). The only read of it. */
static const struct raft_configuration *configurationOf(struct cluster *c)
{
    return &c->r->raft.configuration;
}

static enum cluster_role roleOf(int raft_role)
{
    switch (raft_role) {
    case RAFT_VOTER:
        return CLUSTER_VOTER;
    case RAFT_STANDBY:
        return CLUSTER_STANDBY;
    default:
        return CLUSTER_SPARE;
    }
}

static int raftRole(enum cluster_role role)
{
    switch (role) {
    case CLUSTER_VOTER:
        return RAFT_VOTER;
    case CLUSTER_STANDBY:
        return RAFT_STANDBY;
    default:
        return RAFT_SPARE;
    }
}

static enum transport_member transportMember(void *data, uint64_t id, const char *address)
{
    struct cluster *c = data;
    const struct raft_configuration *conf = configurationOf(c);
    if (conf->n == 0) {
        return TRANSPORT_NO_CONFIGURATION;
    }
    for (unsigned i = 0; i < conf->n; i++) {
        if (conf->servers[i].id == id) {
            return strcmp(conf->servers[i].address, address) == 0 ? TRANSPORT_MEMBER
                                                                  : TRANSPORT_WRONG_ADDRESS;
        }
    }
    return TRANSPORT_NOT_MEMBER;
}

static void transportRefused(void *data, const char *peer, const char *why)
{
    struct cluster *c = data;
    if (c->refused_cb != NULL) {
        c->refused_cb(c, c->change_data, peer, why);
    }
}

const char *clusterRoleName(enum cluster_role role)
{
    switch (role) {
    case CLUSTER_VOTER:
        return "voter";
    case CLUSTER_STANDBY:
        return "standby";
    default:
        return "spare";
    }
}

uint64_t clusterId(struct cluster *c)
{
    return c->r->transport.impl != NULL ? transportClusterId(&c->r->transport) : 0;
}

/* raft_bootstrap or raft_recover with a configuration of this node as the only voter. */
static int selfAsOnlyVoter(struct cluster *c, const struct cluster_options *opts,
                           int (*op)(struct raft *, const struct raft_configuration *))
{
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    int rv = raft_configuration_add(&conf, opts->id, opts->raft_addr, RAFT_VOTER);
    if (rv == 0) {
        rv = op(&c->r->raft, &conf);
    }
    raft_configuration_close(&conf);
    return rv;
}

/* A new cluster (bootstrap, restore): a new random id (time and randomness stay out of the FSM:
 * this is the transport's, never replicated). */
static int newClusterId(struct cluster *c, const struct cluster_options *opts, const char *what,
                        char *err, size_t errlen)
{
    uint64_t id = 0;
    while (id == 0) {
        if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id) {
            return errSet(err, errlen, RC_EIO, "%s: getrandom: %s", what, strerror(errno));
        }
    }
    if (datadirWriteClusterId(opts->data_dir, id) != 0) {
        return errSet(err, errlen, RC_EIO, "%s: cannot write %s/%s", what, opts->data_dir,
                      DATADIR_CLUSTER_ID);
    }
    transportSetCluster(&c->r->transport, id, transportCluster, c);
    return 0;
}

static int bootstrap(struct cluster *c, const struct cluster_options *opts, char *err,
                     size_t errlen)
{
    int rv = selfAsOnlyVoter(c, opts, raft_bootstrap);
    if (rv == RAFT_CANTBOOTSTRAP) {
        return 0; /* already bootstrapped: --bootstrap on a restart is harmless */
    }
    if (rv != 0) {
        return errSet(err, errlen, fromRaft(rv), "bootstrap: %s", raft_strerror(rv));
    }
    return newClusterId(c, opts, "bootstrap", err, errlen);
}

/* Quorum loss for good (a majority of voters gone): append a configuration with this node as
 * the only voter to the log on disk, as raft_recover documents; the node then elects itself
 * and serves everything it had. Only for a data dir that holds a log. */
static int recover(struct cluster *c, const struct cluster_options *opts, char *err, size_t errlen)
{
    char entry[256];
    if (!datadirFindLog(opts->data_dir, entry, sizeof entry)) {
        return errSet(err, errlen, RC_EINVAL, "--recover: data dir %s holds no log to recover",
                      opts->data_dir);
    }
    int rv = selfAsOnlyVoter(c, opts, raft_recover);
    if (rv != 0) {
        return errSet(err, errlen, fromRaft(rv), "--recover: %s%s%s", raft_strerror(rv),
                      raft_errmsg(&c->r->raft)[0] != '\0' ? ": " : "", raft_errmsg(&c->r->raft));
    }
    return 0;
}

static void freeLoaded(struct raft_snapshot *snapshot, struct raft_entry *entries, size_t n)
{
    if (snapshot != NULL) {
        raft_configuration_close(&snapshot->configuration);
        for (unsigned i = 0; i < snapshot->n_bufs; i++) {
            raft_free(snapshot->bufs[i].base);
        }
        raft_free(snapshot->bufs);
        raft_free(snapshot);
    }
    void *batch = NULL;
    for (size_t i = 0; i < n; i++) {
        if (entries[i].batch == NULL) {
            raft_free(entries[i].buf.base);
        } else if (entries[i].batch != batch) {
            batch = entries[i].batch;
            raft_free(batch);
        }
    }
    raft_free(entries);
}

/* raft_io->load in front of raft_uv's: Raft persists a term before it stores entries of that
 * term, so a current term below the last entry's term means stale or damaged metadata (one
 * datadirCheckMetadata cannot see, e.g. a term field rewritten to a smaller non-zero value). */
static int loadChecked(struct raft_io *io, raft_term *term, raft_id *voted_for,
                       struct raft_snapshot **snapshot, raft_index *start_index,
                       struct raft_entry *entries[], size_t *n_entries)
{
    struct cluster_raft *r =
        (struct cluster_raft *)(void *)((char *)io - offsetof(struct cluster_raft, io));
    int rv = r->uv_load(io, term, voted_for, snapshot, start_index, entries, n_entries);
    if (rv != 0) {
        return rv;
    }
    raft_term last_term = 0;
    raft_index last_index = 0;
    if (*snapshot != NULL) {
        last_term = (*snapshot)->term;
        last_index = (*snapshot)->index;
    }
    if (*n_entries > 0 && (*entries)[*n_entries - 1].term >= last_term) {
        last_term = (*entries)[*n_entries - 1].term;
        last_index = *start_index + *n_entries - 1;
    }
    if (*term >= last_term) {
        return 0;
    }
    snprintf(io->errmsg, sizeof io->errmsg,
             "the metadata records term %llu but the last log entry (index %llu) is from term "
             "%llu; " DATADIR_REMEDY,
             (unsigned long long)*term, (unsigned long long)last_index,
             (unsigned long long)last_term);
    freeLoaded(*snapshot, *entries, *n_entries);
    *snapshot = NULL;
    *entries = NULL;
    *n_entries = 0;
    return RAFT_CORRUPT;
}

int clusterStart(struct cluster *c, uv_loop_t *loop, const struct cluster_options *opts,
                 cluster_change_cb change_cb, void *change_data, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->loop = loop;
    c->change_cb = change_cb;
    c->change_data = change_data;
    c->last_state = -1;
    char damage[512];
    if (opts->restore != NULL) {
        int rv = datadirRestore(opts->data_dir, opts->id, opts->raft_addr, opts->restore,
                                &c->backup, &c->seeded, &c->seeded_index, err, errlen);
        if (rv != 0) {
            return rv;
        }
        c->restored = true;
    }
    if (datadirCheckMetadata(opts->data_dir, damage, sizeof damage) != 0) {
        return errSet(err, errlen, RC_ECORRUPT,
                      "cannot start from data dir %s: %s; " DATADIR_REMEDY, opts->data_dir, damage);
    }
    c->id = opts->id;
    c->r = calloc(1, sizeof *c->r);
    if (c->r == NULL) {
        return errSet(err, errlen, RC_ENOMEM, "raft: out of memory");
    }
    c->r->c = c;
    int rv = fsmCreate(&c->core);
    if (rv != 0) {
        errSet(err, errlen, rv, "fsm: out of memory");
        goto err_after_alloc;
    }
    rv = fsmBridgeInit(&c->r->fsm, c->core);
    if (rv != 0) {
        errSet(err, errlen, rv, "fsm bridge: %s", rc_strerror(rv));
        goto err_after_core;
    }
    rv = transportInit(&c->r->transport, loop);
    if (rv != 0) {
        errSet(err, errlen, rv, "transport: %s", rc_strerror(rv));
        goto err_after_bridge;
    }
    snprintf(c->data_dir, sizeof c->data_dir, "%s", opts->data_dir);
    transportSetCluster(&c->r->transport, datadirReadClusterId(opts->data_dir), transportCluster,
                        c);
    struct transport_security sec = {.tls_server = opts->tls_server,
                                     .tls_client = opts->tls_client,
                                     .peer_name = opts->peer_tls_name,
                                     .secret = opts->secret,
                                     .secret_len = opts->secret_len,
                                     .member = transportMember,
                                     .member_data = c,
                                     .refused = transportRefused,
                                     .refused_data = c};
    rv = transportSetSecurity(&c->r->transport, &sec);
    if (rv != 0) {
        errSet(err, errlen, rv, "transport security: %s", rc_strerror(rv));
        goto err_after_transport;
    }
    if (c->restored) {
        rv = newClusterId(c, opts, "--restore", err, errlen);
        if (rv != 0) {
            goto err_after_transport;
        }
    }
    rv = raft_uv_init(&c->r->io, loop, opts->data_dir, &c->r->transport);
    if (rv != 0) {
        errSet(err, errlen, RC_EIO, "data dir %s: %s", opts->data_dir, c->r->io.errmsg);
        rv = RC_EIO;
        goto err_after_transport;
    }
    raft_uv_set_auto_recovery(&c->r->io, false);
    c->r->uv_load = c->r->io.load;
    c->r->io.load = loadChecked;
    rv = raft_init(&c->r->raft, &c->r->io, &c->r->fsm, opts->id, opts->raft_addr);
    if (rv != 0) {
        errSet(err, errlen, fromRaft(rv), "raft: %s", raft_errmsg(&c->r->raft));
        rv = fromRaft(rv);
        goto err_after_io;
    }
    c->r->raft.data = c;
    c->raft_open = true;
    fsmBridgeAttach(&c->r->fsm, &c->r->raft);
    raft_set_pre_vote(&c->r->raft, true);
    raft_set_election_timeout(&c->r->raft, opts->election_timeout_ms);
    raft_set_heartbeat_timeout(&c->r->raft, opts->heartbeat_timeout_ms);
    raft_set_snapshot_threshold(&c->r->raft, opts->snapshot_threshold);
    raft_set_snapshot_trailing(&c->r->raft, opts->snapshot_trailing);
    if (opts->recover) {
        rv = recover(c, opts, err, errlen);
        if (rv != 0) {
            return rv; /* raft is open: the caller closes with clusterClose */
        }
    }
    if (opts->bootstrap) {
        rv = bootstrap(c, opts, err, errlen);
        if (rv != 0) {
            return rv; /* raft is open: the caller closes with clusterClose */
        }
    }
    rv = raft_start(&c->r->raft);
    if (rv != 0) {
        /* A damaged or truncated data dir ends up here: refuse to serve wrong state. */
        const char *why = raft_errmsg(&c->r->raft);
        if (why[0] == '\0') {
            why = c->r->io.errmsg;
        }
        if (why[0] == '\0') {
            why = c->r->transport.errmsg; /* e.g. it could not listen on the Raft address */
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
    raft_uv_close(&c->r->io);
err_after_transport:
    transportClose(&c->r->transport);
err_after_bridge:
    fsmBridgeClose(&c->r->fsm);
err_after_core:
    fsmDestroy(c->core);
    c->core = NULL;
err_after_alloc:
    free(c->r);
    c->r = NULL;
    return rv;
}

static void releaseAll(struct cluster *c)
{
    raft_uv_close(&c->r->io);
    transportClose(&c->r->transport); /* raft_close ran the transport's close first */
    fsmBridgeClose(&c->r->fsm);
    fsmDestroy(c->core);
    c->core = NULL;
    free(c->r);
    c->r = NULL;
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
    raft_close(&c->r->raft, raftClosed);
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
    raft_close(&c->r->raft, raftClosed);
}

bool clusterIsLeader(struct cluster *c)
{
    return raft_state(&c->r->raft) == RAFT_LEADER;
}

uint64_t clusterLeader(struct cluster *c, const char **raft_addr)
{
    raft_id id;
    const char *addr;
    raft_leader(&c->r->raft, &id, &addr);
    if (raft_addr != NULL) {
        *raft_addr = addr;
    }
    return id;
}

const char *clusterStateName(struct cluster *c)
{
    switch (raft_state(&c->r->raft)) {
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
    return raft_current_term(&c->r->raft);
}

uint64_t clusterCommitIndex(struct cluster *c)
{
    return raft_commit_index(&c->r->raft);
}

uint64_t clusterAppliedIndex(struct cluster *c)
{
    return raft_last_applied(&c->r->raft);
}

int clusterRole(struct cluster *c)
{
    int role = raft_role(&c->r->raft);
    return role < 0 ? -1 : (int)roleOf(role);
}

bool clusterHasConfiguration(struct cluster *c)
{
    return configurationOf(c)->n > 0;
}

uint64_t clusterMatchIndex(struct cluster *c, uint64_t id)
{
    raft_index match = 0;
    if (raft_state(&c->r->raft) != RAFT_LEADER || raft_match_index(&c->r->raft, id, &match) != 0) {
        return 0;
    }
    return match;
}

uint64_t clusterLastIndex(struct cluster *c)
{
    return raft_last_index(&c->r->raft);
}

unsigned clusterMemberCount(struct cluster *c)
{
    return configurationOf(c)->n;
}

struct cluster_member clusterMemberAt(struct cluster *c, unsigned i)
{
    const struct raft_server *s = &configurationOf(c)->servers[i];
    return (struct cluster_member){.id = s->id, .raft_addr = s->address, .role = roleOf(s->role)};
}

bool clusterMemberGet(struct cluster *c, uint64_t id, struct cluster_member *m)
{
    unsigned n = clusterMemberCount(c);
    for (unsigned i = 0; i < n; i++) {
        if (configurationOf(c)->servers[i].id == id) {
            *m = clusterMemberAt(c, i);
            return true;
        }
    }
    return false;
}

static void applied(struct raft_apply *req, int status, void *result)
{
    struct proposal *p = req->data;
    struct cluster *c = p->c;
    (void)result; /* may point at a slot reused since: copy the result out by index instead */
    struct rc_fsm_result res;
    if (status == 0 && !fsmBridgeResult(&c->r->fsm, p->req.index, &res)) {
        memset(&res, 0, sizeof res);
        res.code = RC_EINTERNAL;
        snprintf(res.message, sizeof res.message,
                 "entry %llu was applied, but its result is no longer available",
                 (unsigned long long)p->req.index);
    }
    if (status == 0 && c->commit_cb != NULL) {
        c->commit_cb(c, c->change_data, (int64_t)((uv_hrtime() - p->proposed_ns) / 1000));
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
    if (raft_state(&c->r->raft) != RAFT_LEADER || raft_transferee(&c->r->raft) != 0) {
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
    p->proposed_ns = uv_hrtime();
    rv = raft_apply(&c->r->raft, &p->req, &b, 1, applied);
    if (rv != 0) {
        /* libraft 0.22's legacy raft_apply has already released the entry's buffer when it
         * fails inside the core (measured with ASan: freeing it here is a double free). */
        snprintf(c->errmsg, sizeof c->errmsg, "raft_apply: %s (%s)", raft_strerror(rv),
                 raft_errmsg(&c->r->raft));
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
    if (raft_state(&c->r->raft) != RAFT_LEADER) {
        return RC_ENOTLEADER;
    }
    struct barrier *b = calloc(1, sizeof *b);
    if (b == NULL) {
        return RC_ENOMEM;
    }
    b->req.data = b;
    b->cb = cb;
    b->data = data;
    int rv = raft_barrier(&c->r->raft, &b->req, barrierDone);
    if (rv != 0) {
        free(b);
        return fromRaft(rv);
    }
    return 0;
}

static void changeDone(struct raft_change *req, int status)
{
    struct change *ch = req->data;
    ch->c->r->changing = false;
    ch->cb(ch->data, fromRaft(status), status == 0 ? "" : raft_strerror(status));
    free(ch);
}

/* libraft allows one configuration change at a time, and when it refuses a second one its
 * legacy layer leaks the encoded configuration (seen with LeakSanitizer) or, for raft_assign,
 * keeps a pointer to the refused request: refuse it here, from what we know ourselves. A change
 * is in flight when we started one whose callback has not fired, when leadership is being
 * handed over (raft_transferee), or, on a leader that has not yet committed every entry it had
 * when first seen leading this term (the watch notes it within CLUSTER_WATCH_MS; the leader
 * loop's barrier commits them), when an earlier leader's change may be uncommitted. */
static bool changeInProgress(struct cluster *c)
{
    struct cluster_raft *r = c->r;
    if (r->changing || raft_transferee(&r->raft) != 0) {
        return true;
    }
    uint64_t term = raft_current_term(&r->raft);
    if (r->lead_term != term) {
        noteLeading(r, term); /* before the watch saw this leadership */
    }
    return raft_commit_index(&r->raft) < r->lead_index;
}

enum change_kind { CHANGE_ADD, CHANGE_ASSIGN, CHANGE_REMOVE };

static int changeSubmit(struct cluster *c, enum change_kind kind, uint64_t id,
                        const char *raft_addr, enum cluster_role role, cluster_done_cb cb,
                        void *data)
{
    if (raft_state(&c->r->raft) != RAFT_LEADER) {
        return RC_ENOTLEADER;
    }
    if (changeInProgress(c)) {
        snprintf(c->errmsg, sizeof c->errmsg, "a configuration change is in progress");
        return RC_ESTALE;
    }
    struct change *ch = calloc(1, sizeof *ch);
    if (ch == NULL) {
        return RC_ENOMEM;
    }
    ch->req.data = ch;
    ch->cb = cb;
    ch->data = data;
    ch->c = c;
    struct raft *r = &c->r->raft;
    int rv = kind == CHANGE_ADD      ? raft_add(r, &ch->req, id, raft_addr, changeDone)
             : kind == CHANGE_ASSIGN ? raft_assign(r, &ch->req, id, raftRole(role), changeDone)
                                     : raft_remove(r, &ch->req, id, changeDone);
    if (rv != 0) {
        snprintf(c->errmsg, sizeof c->errmsg, "%s", raft_errmsg(r));
        free(ch);
        return fromRaft(rv);
    }
    c->r->changing = true;
    return 0;
}

int clusterAdd(struct cluster *c, uint64_t id, const char *raft_addr, cluster_done_cb cb,
               void *data)
{
    return changeSubmit(c, CHANGE_ADD, id, raft_addr, CLUSTER_SPARE, cb, data);
}

int clusterAssign(struct cluster *c, uint64_t id, enum cluster_role role, cluster_done_cb cb,
                  void *data)
{
    return changeSubmit(c, CHANGE_ASSIGN, id, NULL, role, cb, data);
}

int clusterRemove(struct cluster *c, uint64_t id, cluster_done_cb cb, void *data)
{
    return changeSubmit(c, CHANGE_REMOVE, id, NULL, CLUSTER_SPARE, cb, data);
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
    int rv = raft_transfer(&c->r->raft, &t->req, id, transferDone);
    if (rv != 0) {
        snprintf(c->errmsg, sizeof c->errmsg, "%s", raft_errmsg(&c->r->raft));
        free(t);
        return fromRaft(rv);
    }
    return 0;
}
