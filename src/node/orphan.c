#include "orphan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "core/fsm.h"
#include "log.h"
#include "node.h"
#include "raftcron/client.h"

#define ORPHAN_PROBE_TIMEOUT_US (2 * 1000000)

static void probeWork(uv_work_t *w)
{
    struct orphan *o = w->data;
    o->removed = false;
    o->leader_id = 0;
    o->msg[0] = '\0';
    struct rc_client_options opts = {.endpoints = o->endpoints,
                                     .timeout_us = ORPHAN_PROBE_TIMEOUT_US,
                                     .auth_token = o->node->opts.auth_token};
    struct rc_client *c;
    if (rc_client_open(&opts, &c) != 0) {
        snprintf(o->msg, sizeof o->msg, "bad member addresses");
        return;
    }
    Raftcron__ClusterStatus *st = NULL;
    if (rc_cluster_status(c, 0, &st) != 0) {
        snprintf(o->msg, sizeof o->msg, "%s", rc_client_errmsg(c));
        rc_client_close(c);
        return;
    }
    o->leader_id = st->leader_id;
    bool member = false;
    for (size_t i = 0; i < st->n_members; i++) {
        member = member || st->members[i]->id == o->node->opts.id;
    }
    /* Only a leader's own answer counts, and only one that is not this node. */
    o->removed = !member && st->leader_id != 0 && st->leader_id != o->node->opts.id &&
                 st->node_id == st->leader_id;
    rc_message_free(st);
    rc_client_close(c);
}

static void probeDone(uv_work_t *w, int status)
{
    struct orphan *o = w->data;
    struct node *n = o->node;
    o->busy = false;
    if (status != 0 || n->state != NODE_RUNNING || !o->removed ||
        clusterLeader(&n->cluster, NULL) != 0) {
        return;
    }
    logError("removed from the cluster: leader's configuration does not include this node; "
             "stopping (wipe the data dir before adding the node again)",
             "leader", "%llu", (unsigned long long)o->leader_id);
    nodeStop(n);
}

/* Comma-separated RPC addresses of the other members of this node's configuration. */
static bool otherMembers(struct orphan *o)
{
    struct node *n = o->node;
    const struct raft_configuration *conf = clusterConfiguration(&n->cluster);
    size_t len = 0;
    o->endpoints[0] = '\0';
    for (unsigned i = 0; i < conf->n; i++) {
        const char *rpc = fsmMemberRpcAddr(n->cluster.core, conf->servers[i].id);
        if (conf->servers[i].id == n->opts.id || rpc == NULL || rpc[0] == '\0') {
            continue;
        }
        int k = snprintf(o->endpoints + len, sizeof o->endpoints - len, "%s%s", len > 0 ? "," : "",
                         rpc);
        if (k < 0 || (size_t)k >= sizeof o->endpoints - len) {
            break;
        }
        len += (size_t)k;
    }
    return len > 0;
}

static void poll(uv_timer_t *t)
{
    struct orphan *o = t->data;
    struct node *n = o->node;
    struct cluster *c = &n->cluster;
    bool member = clusterRole(c) >= 0;
    o->was_member = o->was_member || member;
    /* A leader that removed itself knows it is out (role -1); a removed follower does not.
     * Both go through the same question to the others; a joining node (never a member yet)
     * is left alone. */
    if (n->state != NODE_RUNNING || clusterLeader(c, NULL) != 0 || !o->was_member) {
        o->quiet_since = 0;
        return;
    }
    uint64_t now = uv_now(n->loop);
    if (o->quiet_since == 0) {
        o->quiet_since = now;
        return;
    }
    uint64_t quiet = 3 * (uint64_t)n->opts.election_timeout_ms;
    if (quiet < ORPHAN_QUIET_MIN_MS) {
        quiet = ORPHAN_QUIET_MIN_MS;
    }
    if (o->busy || now - o->quiet_since < quiet || !otherMembers(o)) {
        return;
    }
    o->busy = true;
    o->work.data = o;
    if (uv_queue_work(n->loop, &o->work, probeWork, probeDone) != 0) {
        o->busy = false;
    }
}

void orphanStart(struct orphan *o, struct node *n)
{
    memset(o, 0, sizeof *o);
    o->node = n;
    uv_timer_init(n->loop, &o->timer);
    o->timer.data = o;
    uv_timer_start(&o->timer, poll, ORPHAN_POLL_MS, ORPHAN_POLL_MS);
}

void orphanClose(struct orphan *o, uv_close_cb cb)
{
    uv_timer_stop(&o->timer);
    uv_close((uv_handle_t *)&o->timer, cb);
}
