/* raftcronctl member list|add|remove|promote|demote|transfer: Raft membership, on the leader. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "ctl.h"
#include "print.h"
#include "raftcron/client.h"

static void usage(FILE *f)
{
    fprintf(f, "Usage: raftcronctl member list [--stale]\n"
               "       raftcronctl member add ID RAFT_ADDR RPC_ADDR [--standby]\n"
               "       raftcronctl member remove ID [--force]\n"
               "       raftcronctl member promote ID\n"
               "       raftcronctl member demote ID [--force]\n"
               "       raftcronctl member transfer [ID]\n"
               "\n"
               "list      every member: id, role (voter, standby, spare), addresses, reachability\n"
               "add       add node ID as a voter (or a non-voting standby with --standby). The\n"
               "          node must be running: started with --join (which asks for this by\n"
               "          itself), or restarted from a data dir of this cluster. One that\n"
               "          cannot be caught up is left as a spare: start it, or remove it\n"
               "remove    remove node ID from the cluster\n"
               "promote   make standby ID a voter\n"
               "demote    make voter ID a standby\n"
               "transfer  hand leadership to voter ID (default: the most up-to-date voter)\n"
               "\n"
               "remove and demote refuse to take away the last voter, or a voter without which\n"
               "fewer than a majority of the remaining voters answer the leader (the cluster\n"
               "could not elect a leader afterwards); --force skips the second check.\n"
               "\n"
               "Membership changes are not retried after a lost connection: when the outcome is\n"
               "unknown the command says so; check with 'member list'.\n"
               "\n"
               "Options:\n"
               "  --standby  add as a non-voting standby\n"
               "  --force    remove, demote: even if the voters left answering are no majority\n"
               "  --stale    list: ask any node, without a leader barrier\n"
               "  -o json    (global) list: {\"leader_id\", \"members\": [{\"id\", \"role\",\n"
               "             \"raft_addr\", \"rpc_addr\", \"reachable\", \"match_index\"}]};\n"
               "             changes: {\"id\", \"result\"}\n");
}

struct member_args {
    const char *cmd;
    uint64_t id;
    const char *raft_addr;
    const char *rpc_addr;
    int standby;
    int stale;
    int force;
};

/* A member id: a whole number > 0. */
static int parseId(const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || v == 0) {
        return ctlUsageError("member: \"%s\" is not a member id (a whole number > 0)", text);
    }
    *out = v;
    return 0;
}

/* How many positional arguments each command takes: at least, at most. */
static int arity(const char *cmd, int *min, int *max)
{
    static const struct {
        const char *cmd;
        int min, max;
    } table[] = {{"list", 0, 0},    {"add", 3, 3},    {"remove", 1, 1},
                 {"promote", 1, 1}, {"demote", 1, 1}, {"transfer", 0, 1}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(table[i].cmd, cmd) == 0) {
            *min = table[i].min;
            *max = table[i].max;
            return 0;
        }
    }
    return ctlUsageError("member: unknown command \"%s\" (list, add, remove, promote, demote or "
                         "transfer)",
                         cmd);
}

static int parseFlags(int argc, char **argv, struct member_args *a)
{
    static const struct option opts[] = {
        {"standby", no_argument, NULL, 'S'},
        {"stale", no_argument, NULL, 's'},
        {"force", no_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return -1;
        }
        if ((c == 'S' && strcmp(a->cmd, "add") == 0) || (c == 's' && strcmp(a->cmd, "list") == 0)) {
            *(c == 'S' ? &a->standby : &a->stale) = 1;
            continue;
        }
        if (c == 'F' && (strcmp(a->cmd, "remove") == 0 || strcmp(a->cmd, "demote") == 0)) {
            a->force = 1;
            continue;
        }
        return ctlUsageError("member %s: unknown or incomplete option \"%s\"", a->cmd,
                             argv[optind - 1]);
    }
    return 0;
}

/* Returns 0, CTL_USAGE, or -1 after printing help. */
static int parseArgs(int argc, char **argv, struct member_args *a)
{
    int min = 0, max = 0;
    int rv = arity(a->cmd, &min, &max);
    if (rv == 0) {
        rv = parseFlags(argc, argv, a);
    }
    if (rv != 0) {
        return rv;
    }
    int n = argc - optind;
    char **pos = argv + optind;
    if (n < min || n > max) {
        return ctlUsageError("member %s: expected %s%d argument%s, got %d", a->cmd,
                             min == max ? "" : "at most ", max, max == 1 ? "" : "s", n);
    }
    if (n > 0 && parseId(pos[0], &a->id) != 0) {
        return CTL_USAGE;
    }
    if (n == 3) {
        a->raft_addr = pos[1];
        a->rpc_addr = pos[2];
    }
    return 0;
}

static int list(const struct ctl_global *g, struct rc_client *c, int stale)
{
    Raftcron__ClusterStatus *st;
    int rv = rc_cluster_status(c, stale, &st);
    if (rv != 0) {
        return ctlCallFailed(c, rv, "member list");
    }
    ctlClusterPrintMembers(g, st);
    rc_message_free(st);
    return CTL_OK;
}

static int change(const struct ctl_global *g, struct rc_client *c, const struct member_args *a)
{
    int rv;
    const char *done;
    if (strcmp(a->cmd, "add") == 0) {
        rv = rc_member_add(c, a->id, a->raft_addr, a->rpc_addr, a->standby);
        done = a->standby ? "added as standby" : "added as voter";
    } else if (strcmp(a->cmd, "remove") == 0) {
        rv = rc_member_remove(c, a->id, a->force);
        done = "removed";
    } else if (strcmp(a->cmd, "promote") == 0) {
        rv = rc_member_promote(c, a->id);
        done = "promoted to voter";
    } else if (strcmp(a->cmd, "demote") == 0) {
        rv = rc_member_demote(c, a->id, a->force);
        done = "demoted to standby";
    } else {
        rv = rc_member_transfer(c, a->id);
        done = "leadership transferred";
    }
    char what[64];
    snprintf(what, sizeof what, "member %s", a->cmd);
    if (rv != 0) {
        return ctlCallFailed(c, rv, what);
    }
    if (g->output == CTL_OUTPUT_JSON) {
        struct print_json j;
        printJsonInit(&j, stdout);
        printJsonOpen(&j, NULL, '{');
        printJsonUint(&j, "id", a->id);
        printJsonStr(&j, "result", done);
        printJsonClose(&j);
    } else if (a->id != 0) {
        printf("member %" PRIu64 ": %s\n", a->id, done);
    } else {
        printf("%s\n", done);
    }
    return CTL_OK;
}

int ctlMember(const struct ctl_global *g, int argc, char **argv)
{
    if (argc < 2 || ctlIsHelp(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CTL_USAGE : CTL_OK;
    }
    struct member_args a = {.cmd = argv[1]};
    int rv = parseArgs(argc - 1, argv + 1, &a);
    if (rv != 0) {
        return rv < 0 ? CTL_OK : rv;
    }
    struct rc_client *c;
    rv = ctlClientOpen(g, &c);
    if (rv != CTL_OK) {
        return rv;
    }
    rv = strcmp(a.cmd, "list") == 0 ? list(g, c, a.stale) : change(g, c, &a);
    rc_client_close(c);
    return rv;
}
