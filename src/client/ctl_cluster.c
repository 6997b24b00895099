/* raftcronctl cluster status|digest: what the leader (or, with --stale, any node) knows. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api.pb-c.h"
#include "ctl.h"
#include "print.h"
#include "raftcron/client.h"

static void usage(FILE *f)
{
    fprintf(
        f, "Usage: raftcronctl cluster status [--stale]\n"
           "       raftcronctl cluster digest [--stale]\n"
           "\n"
           "status: the leader (id, address), term, commit and applied index, and every\n"
           "member with its role (voter, standby, spare), addresses and whether the\n"
           "answering node reaches it.\n"
           "digest: a 64-bit digest of the replicated state, its applied index, the node\n"
           "that computed it and its job count; equal applied indexes give equal digests.\n"
           "\n"
           "Options:\n"
           "  --stale    ask any node, without a leader barrier (reads may lag)\n"
           "  -o json    (global) status: {\"node\", \"leader\", \"term\", \"commit_index\",\n"
           "             \"applied_index\", \"members\"}; digest: {\"digest\", \"applied_index\",\n"
           "             \"node_id\", \"jobs\"}\n");
}

/* Parse [--stale] after the command. Returns 0, CTL_USAGE, or -1 after printing help. */
static int parseStale(int argc, char **argv, int *stale)
{
    static const struct option opts[] = {
        {"stale", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            *stale = 1;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            return ctlUsageError("cluster %s: unknown or incomplete option \"%s\"", argv[0],
                                 argv[optind - 1]);
        }
    }
    if (optind != argc) {
        return ctlUsageError("cluster %s: unexpected argument \"%s\"", argv[0], argv[optind]);
    }
    return 0;
}

static const char *yesNo(bool b)
{
    return b ? "yes" : "no";
}

static void membersTable(const Raftcron__ClusterStatus *st)
{
    struct print_table t;
    printTableInit(&t, 7);
    printTableRow(&t, "ID", "ROLE", "LEADER", "RAFT_ADDR", "RPC_ADDR", "REACHABLE", "MATCH_INDEX");
    for (size_t i = 0; i < st->n_members; i++) {
        const Raftcron__MemberStatus *m = st->members[i];
        char id[24], match[24];
        snprintf(id, sizeof id, "%" PRIu64, m->id);
        snprintf(match, sizeof match, "%" PRIu64, m->match_index);
        printTableRow(&t, id, m->role, yesNo(m->id == st->leader_id), m->raft_addr, m->rpc_addr,
                      yesNo(m->reachable), match);
    }
    printTableFlush(&t, stdout);
}

static void membersJson(struct print_json *j, const Raftcron__ClusterStatus *st)
{
    printJsonOpen(j, "members", '[');
    for (size_t i = 0; i < st->n_members; i++) {
        const Raftcron__MemberStatus *m = st->members[i];
        printJsonOpen(j, NULL, '{');
        printJsonUint(j, "id", m->id);
        printJsonStr(j, "role", m->role);
        printJsonStr(j, "raft_addr", m->raft_addr);
        printJsonStr(j, "rpc_addr", m->rpc_addr);
        printJsonBool(j, "reachable", m->reachable);
        printJsonUint(j, "match_index", m->match_index);
        printJsonClose(j);
    }
    printJsonClose(j);
}

void ctlClusterPrintMembers(const struct ctl_global *g, const Raftcron__ClusterStatus *st)
{
    if (g->output != CTL_OUTPUT_JSON) {
        membersTable(st);
        return;
    }
    struct print_json j;
    printJsonInit(&j, stdout);
    printJsonOpen(&j, NULL, '{');
    printJsonUint(&j, "leader_id", st->leader_id);
    membersJson(&j, st);
    printJsonClose(&j);
}

/* "leader" is left out while no leader is known, so that its presence means there is one. */
static void statusJson(const Raftcron__ClusterStatus *st)
{
    struct print_json j;
    printJsonInit(&j, stdout);
    printJsonOpen(&j, NULL, '{');
    printJsonOpen(&j, "node", '{');
    printJsonUint(&j, "id", st->node_id);
    printJsonStr(&j, "state", st->node_state);
    printJsonClose(&j);
    if (st->leader_id != 0) {
        printJsonOpen(&j, "leader", '{');
        printJsonUint(&j, "id", st->leader_id);
        printJsonStr(&j, "raft_addr", st->leader_raft_addr);
        printJsonStr(&j, "rpc_addr", st->leader_rpc_addr);
        printJsonClose(&j);
    }
    printJsonUint(&j, "term", st->term);
    printJsonUint(&j, "commit_index", st->commit_index);
    printJsonUint(&j, "applied_index", st->applied_index);
    printJsonStr(&j, "cluster_id", st->cluster_id);
    membersJson(&j, st);
    printJsonClose(&j);
}

static void statusTable(const Raftcron__ClusterStatus *st)
{
    if (st->leader_id != 0) {
        printf("leader         %" PRIu64 " %s\n", st->leader_id,
               st->leader_rpc_addr[0] != '\0' ? st->leader_rpc_addr : st->leader_raft_addr);
    } else {
        printf("leader         none\n");
    }
    printf("node           %" PRIu64 " %s\n", st->node_id, st->node_state);
    printf("term           %" PRIu64 "\n", st->term);
    printf("commit_index   %" PRIu64 "\n", st->commit_index);
    printf("applied_index  %" PRIu64 "\n", st->applied_index);
    printf("cluster_id     %s\n\n", st->cluster_id[0] != '\0' ? st->cluster_id : "unknown");
    membersTable(st);
}

static int status(const struct ctl_global *g, struct rc_client *c, int stale)
{
    Raftcron__ClusterStatus *st;
    int rv = rc_cluster_status(c, stale, &st);
    if (rv != 0) {
        return ctlCallFailed(c, rv, "cluster status");
    }
    if (g->output == CTL_OUTPUT_JSON) {
        statusJson(st);
    } else {
        statusTable(st);
    }
    rc_message_free(st);
    return CTL_OK;
}

/* The digest is printed in hex: a JSON number would lose bits in most JSON readers. */
static int digest(const struct ctl_global *g, struct rc_client *c, int stale)
{
    Raftcron__DigestResponse *d;
    int rv = rc_cluster_digest(c, stale, &d);
    if (rv != 0) {
        return ctlCallFailed(c, rv, "cluster digest");
    }
    char hex[20];
    snprintf(hex, sizeof hex, "%016" PRIx64, d->digest);
    if (g->output == CTL_OUTPUT_JSON) {
        struct print_json j;
        printJsonInit(&j, stdout);
        printJsonOpen(&j, NULL, '{');
        printJsonStr(&j, "digest", hex);
        printJsonUint(&j, "applied_index", d->applied_index);
        printJsonUint(&j, "node_id", d->node_id);
        printJsonUint(&j, "jobs", d->jobs);
        printJsonClose(&j);
    } else {
        printf("digest         %s\napplied_index  %" PRIu64 "\nnode_id        %" PRIu64
               "\njobs           %" PRIu64 "\n",
               hex, d->applied_index, d->node_id, d->jobs);
    }
    rc_message_free(d);
    return CTL_OK;
}

int ctlCluster(const struct ctl_global *g, int argc, char **argv)
{
    if (argc < 2 || ctlIsHelp(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CTL_USAGE : CTL_OK;
    }
    const char *cmd = argv[1];
    bool is_status = strcmp(cmd, "status") == 0;
    if (!is_status && strcmp(cmd, "digest") != 0) {
        return ctlUsageError("cluster: unknown command \"%s\" (status or digest)", cmd);
    }
    int stale = 0;
    int rv = parseStale(argc - 1, argv + 1, &stale);
    if (rv != 0) {
        return rv < 0 ? CTL_OK : rv;
    }
    struct rc_client *c;
    rv = ctlClientOpen(g, &c);
    if (rv != CTL_OK) {
        return rv;
    }
    rv = is_status ? status(g, c, stale) : digest(g, c, stale);
    rc_client_close(c);
    return rv;
}
