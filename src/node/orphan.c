#include "orphan.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "core/fsm.h"
#include "log.h"
#include "raft/cluster.h"
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
                                     .auth_token = o->env.auth_token};
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
        member = member || st->members[i]->id == o->env.id;
    }
    /* Only a leader's own answer counts, and only one that is not this node. */
    o->removed =
        !member && st->leader_id != 0 && st->leader_id != o->env.id && st->node_id == st->leader_id;
    rc_message_free(st);
    rc_client_close(c);
}

static void probeDone(uv_work_t *w, int status)
{
    struct orphan *o = w->data;
    o->busy = false;
    if (status != 0 || !o->env.running(o->env.data) || !o->removed ||
        clusterLeader(o->env.cluster, NULL) != 0) {
        return;
    }
    logError("removed from the cluster: leader's configuration does not include this node; "
             "stopping (wipe the data dir before adding the node again)",
             "leader", "%llu", (unsigned long long)o->leader_id);
    o->env.stop(o->env.data);
}

/* "ID RPC_ADDR" lines for the members of this node's configuration whose address the applied
 * member table knows; returns the length written. */
static size_t knownAddresses(struct orphan *o, char *buf, size_t size)
{
    struct cluster *c = o->env.cluster;
    unsigned members = clusterMemberCount(c);
    size_t len = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < members; i++) {
        uint64_t id = clusterMemberAt(c, i).id;
        const char *rpc = fsmMemberRpcAddr(c->core, id);
        if (rpc == NULL || rpc[0] == '\0') {
            continue;
        }
        int k = snprintf(buf + len, size - len, "%llu %s\n", (unsigned long long)id, rpc);
        if (k < 0 || (size_t)k >= size - len) {
            buf[len] = '\0';
            break;
        }
        len += (size_t)k;
    }
    return len;
}

void orphanRemember(struct orphan *o)
{
    char now[ORPHAN_ENDPOINTS];
    if (o->env.cluster == NULL || knownAddresses(o, now, sizeof now) == 0 ||
        strcmp(now, o->saved) == 0) {
        return;
    }
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", o->env.data_dir, ORPHAN_FILE);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        return; /* a hint only: the next change tries again */
    }
    bool ok = fputs(now, f) >= 0;
    ok = fclose(f) == 0 && ok;
    if (ok && rename(tmp, path) == 0) {
        snprintf(o->saved, sizeof o->saved, "%s", now);
    }
}

/* Comma-separated RPC addresses of the other members: from the applied member table, or, on a
 * node that has not applied its log yet, from ORPHAN_FILE. */
static bool otherMembers(struct orphan *o)
{
    char lines[ORPHAN_ENDPOINTS];
    if (knownAddresses(o, lines, sizeof lines) == 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", o->env.data_dir, ORPHAN_FILE);
        FILE *f = fopen(path, "r");
        size_t got = f != NULL ? fread(lines, 1, sizeof lines - 1, f) : 0;
        lines[got] = '\0';
        if (f != NULL) {
            fclose(f);
        }
    }
    size_t len = 0;
    o->endpoints[0] = '\0';
    for (char *save = NULL, *line = strtok_r(lines, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        unsigned long long id;
        char addr[256];
        if (sscanf(line, "%llu %255s", &id, addr) != 2 || id == o->env.id) {
            continue;
        }
        int k = snprintf(o->endpoints + len, sizeof o->endpoints - len, "%s%s", len > 0 ? "," : "",
                         addr);
        if (k < 0 || (size_t)k >= sizeof o->endpoints - len) {
            o->endpoints[len] = '\0';
            break;
        }
        len += (size_t)k;
    }
    return len > 0;
}

static void poll(uv_timer_t *t)
{
    struct orphan *o = t->data;
    struct cluster *c = o->env.cluster;
    bool running = o->env.running(o->env.data);
    if (running) {
        orphanRemember(o); /* followers learn of member changes only from their replica */
    }
    bool member = clusterRole(c) >= 0;
    o->was_member = o->was_member || member;
    /* A leader that removed itself knows it is out (role -1); a removed follower does not.
     * Both go through the same question to the others; a joining node (never a member yet)
     * is left alone. */
    if (!running || clusterLeader(c, NULL) != 0 || !o->was_member) {
        o->quiet_since = 0;
        return;
    }
    uint64_t now = uv_now(o->env.loop);
    if (o->quiet_since == 0) {
        o->quiet_since = now;
        return;
    }
    uint64_t quiet = 3 * (uint64_t)o->env.election_timeout_ms;
    if (quiet < ORPHAN_QUIET_MIN_MS) {
        quiet = ORPHAN_QUIET_MIN_MS;
    }
    if (o->busy || now - o->quiet_since < quiet || !otherMembers(o)) {
        return;
    }
    o->busy = true;
    o->work.data = o;
    if (uv_queue_work(o->env.loop, &o->work, probeWork, probeDone) != 0) {
        o->busy = false;
    }
}

void orphanStart(struct orphan *o, const struct orphan_env *env)
{
    memset(o, 0, sizeof *o);
    o->env = *env;
    uv_timer_init(env->loop, &o->timer);
    o->timer.data = o;
    uv_timer_start(&o->timer, poll, ORPHAN_POLL_MS, ORPHAN_POLL_MS);
}

void orphanClose(struct orphan *o, uv_close_cb cb)
{
    uv_timer_stop(&o->timer);
    uv_close((uv_handle_t *)&o->timer, cb);
}
