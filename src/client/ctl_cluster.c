/* raftcronctl cluster status|digest: what the leader (or, with --stale, any node) knows;
 * cluster snapshot save FILE: a backup of the leader's state (core/backup.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.pb-c.h"
#include "core/backup.h"
#include "core/err.h"
#include "core/fsm.h"
#include "core/timefmt.h"
#include "ctl.h"
#include "print.h"
#include "progress.h"
#include "raftcron/client.h"

static void usage(FILE *f)
{
    fprintf(
        f, "Usage: raftcronctl cluster status [--stale]\n"
           "       raftcronctl cluster digest [--stale]\n"
           "       raftcronctl cluster snapshot save FILE\n"
           "\n"
           "status: the leader (id, address), term, commit and applied index, and every\n"
           "member with its role (voter, standby, spare), addresses and whether the\n"
           "answering node reaches it.\n"
           "digest: a 64-bit digest of the replicated state, its applied index, the node\n"
           "that computed it and its job count; equal applied indexes give equal digests.\n"
           "snapshot save: a backup of the whole replicated state (jobs, run history,\n"
           "workers), read by the leader after a barrier, so it holds every write\n"
           "acknowledged before the command started. The file is checked in full before it\n"
           "is renamed into place; 'raftcrond --restore FILE' starts a new cluster from it\n"
           "(docs/operations.md, \"Backup and restore\").\n"
           "\n"
           "Options:\n"
           "  --stale    ask any node, without a leader barrier (reads may lag)\n"
           "  -o json    (global) status: {\"node\", \"leader\", \"term\", \"commit_index\",\n"
           "             \"applied_index\", \"members\"}; digest: {\"digest\", \"applied_index\",\n"
           "             \"node_id\", \"jobs\"}; snapshot save: {\"file\", \"bytes\",\n"
           "             \"applied_index\", \"term\", \"cluster_id\", \"node_id\", \"taken\",\n"
           "             \"jobs\", \"runs\"}\n");
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

/* ---- snapshot save ------------------------------------------------------------------------------
 */

struct saving {
    struct rc_client *c;
    int fd;
    struct progress progress;
    Raftcron__ClusterSnapshotResponse *first; /* the first chunk's reply: the metadata */
    uint64_t id;
};

static int fetchChunk(struct saving *sv, uint64_t offset, Raftcron__ClusterSnapshotResponse **out)
{
    Raftcron__ClusterSnapshotRequest req = RAFTCRON__CLUSTER_SNAPSHOT_REQUEST__INIT;
    req.snapshot_id = sv->id;
    req.offset = offset;
    uint8_t buf[32];
    size_t len = raftcron__cluster_snapshot_request__pack(&req, buf);
    void *resp;
    size_t resp_len;
    int rv = rc_client_call(sv->c, "Cluster.Snapshot", buf, len, &resp, &resp_len, 1);
    if (rv != 0) {
        return rv;
    }
    *out = raftcron__cluster_snapshot_response__unpack(NULL, resp_len, resp);
    free(resp);
    if (*out == NULL) {
        return RC_EPARSE;
    }
    if ((*out)->offset != offset || (*out)->data.len == 0 ||
        (*out)->offset + (*out)->data.len > (*out)->total_len ||
        (sv->first != NULL && (*out)->snapshot_id != sv->first->snapshot_id)) {
        raftcron__cluster_snapshot_response__free_unpacked(*out, NULL);
        *out = NULL;
        return RC_EPARSE;
    }
    return 0;
}

static int writeAll(int fd, const void *buf, size_t len, off_t at)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, at);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return RC_EIO;
        }
        p += n;
        len -= (size_t)n;
        at += n;
    }
    return 0;
}

/* One attempt: every chunk of one snapshot into sv->fd after the header's room. */
static int fetchAll(struct saving *sv)
{
    Raftcron__ClusterSnapshotResponse *r;
    sv->id = 0;
    int rv = fetchChunk(sv, 0, &r);
    if (rv != 0) {
        return rv;
    }
    sv->first = r;
    sv->id = r->snapshot_id;
    progressStart(&sv->progress, "snapshot save", "bytes", r->total_len);
    uint64_t offset = 0;
    while (rv == 0) {
        rv = writeAll(sv->fd, r->data.data, r->data.len, (off_t)(RC_BACKUP_HEADER_LEN + offset));
        offset += r->data.len;
        progressUpdate(&sv->progress, offset);
        if (r != sv->first) {
            raftcron__cluster_snapshot_response__free_unpacked(r, NULL);
        }
        if (rv != 0 || offset == sv->first->total_len) {
            break;
        }
        rv = fetchChunk(sv, offset, &r);
    }
    progressEnd(&sv->progress);
    return rv;
}

/* Read the file back and restore it into a scratch FSM: a backup that cannot be restored is
 * refused here, not on the day it is needed. */
static int verifySaved(int fd, size_t len, struct rc_backup_info *info, size_t *jobs, size_t *runs,
                       char *err, size_t errlen)
{
    uint8_t *buf = malloc(len > 0 ? len : 1);
    size_t got = 0;
    while (buf != NULL && got < len) {
        ssize_t n = pread(fd, buf + got, len - got, (off_t)got);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    if (buf == NULL || got != len) {
        free(buf);
        return errSet(err, errlen, RC_EIO, "cannot read the file back");
    }
    const uint8_t *snap;
    struct rc_backup_summary sum;
    void *seed = NULL;
    size_t seed_len;
    uint64_t seed_index;
    int rv = backupDecode(buf, len, info, &snap, err, errlen);
    if (rv == 0) {
        rv = backupSeed(snap, info->snapshot_len, info->index, &seed, &seed_len, &seed_index, &sum,
                        err, errlen);
    }
    free(seed);
    free(buf);
    *jobs = sum.jobs;
    *runs = sum.runs;
    return rv;
}

static void printSaved(const struct ctl_global *g, const char *file,
                       const struct rc_backup_info *info, const char *cluster_id, size_t jobs,
                       size_t runs)
{
    char taken[RC_TIMEFMT_MAX];
    timefmtFormat(info->taken_us, 0, taken);
    uint64_t bytes = RC_BACKUP_HEADER_LEN + info->snapshot_len;
    if (g->output != CTL_OUTPUT_JSON) {
        printf("snapshot saved to %s: %" PRIu64 " bytes, applied index %" PRIu64 ", term %" PRIu64
               ", cluster %s, node %" PRIu64 ", taken %s, %zu jobs, %zu runs\n",
               file, bytes, info->index, info->term, cluster_id, info->node_id, taken, jobs, runs);
        return;
    }
    struct print_json j;
    printJsonInit(&j, stdout);
    printJsonOpen(&j, NULL, '{');
    printJsonStr(&j, "file", file);
    printJsonUint(&j, "bytes", bytes);
    printJsonUint(&j, "applied_index", info->index);
    printJsonUint(&j, "term", info->term);
    printJsonStr(&j, "cluster_id", cluster_id);
    printJsonUint(&j, "node_id", info->node_id);
    printJsonTime(&j, "taken", info->taken_us);
    printJsonUint(&j, "jobs", jobs);
    printJsonUint(&j, "runs", runs);
    printJsonClose(&j);
}

/* Fetch (starting over when the leader changed under a fetch), write the header, check the whole
 * file, then fsync and rename it into place: FILE is a complete, verified backup or absent. */
static int snapshotSave(const struct ctl_global *g, struct rc_client *c, const char *file)
{
    char part[4200], err[RC_ERRMSG_SIZE];
    snprintf(part, sizeof part, "%s.part", file);
    struct saving sv = {.c = c, .fd = open(part, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
    if (sv.fd < 0) {
        return ctlFail("cluster snapshot save: %s: %s", part, strerror(errno));
    }
    int rv = RC_ESTALE;
    for (int attempt = 0; attempt < 3 && rv == RC_ESTALE; attempt++) {
        if (sv.first != NULL) {
            raftcron__cluster_snapshot_response__free_unpacked(sv.first, NULL);
            sv.first = NULL;
        }
        rv = ftruncate(sv.fd, 0) == 0 ? fetchAll(&sv) : RC_EIO;
    }
    int out = CTL_OK;
    if (rv != 0) {
        out = rv == RC_EIO || rv == RC_EPARSE
                  ? ctlFail("cluster snapshot save: %s",
                            rv == RC_EIO ? strerror(errno) : "malformed reply")
                  : ctlCallFailed(c, rv, "cluster snapshot save");
        goto done;
    }
    struct rc_backup_info info = {.index = sv.first->applied_index,
                                  .term = sv.first->term,
                                  .cluster_id = strtoull(sv.first->cluster_id, NULL, 16),
                                  .node_id = sv.first->node_id,
                                  .taken_us = sv.first->taken_us,
                                  .snapshot_len = sv.first->total_len};
    uint8_t header[RC_BACKUP_HEADER_LEN];
    backupHeaderEncode(&info, header);
    size_t jobs = 0, runs = 0;
    if (writeAll(sv.fd, header, sizeof header, 0) != 0 || fsync(sv.fd) != 0) {
        out = ctlFail("cluster snapshot save: %s: %s", part, strerror(errno));
    } else if (verifySaved(sv.fd, RC_BACKUP_HEADER_LEN + info.snapshot_len, &info, &jobs, &runs,
                           err, sizeof err) != 0) {
        out = ctlFail("cluster snapshot save: the snapshot received does not restore: %s", err);
    } else if (rename(part, file) != 0) {
        out = ctlFail("cluster snapshot save: rename to %s: %s", file, strerror(errno));
    } else {
        printSaved(g, file, &info, sv.first->cluster_id, jobs, runs);
    }
done:
    if (sv.first != NULL) {
        raftcron__cluster_snapshot_response__free_unpacked(sv.first, NULL);
    }
    close(sv.fd);
    if (out != CTL_OK) {
        unlink(part);
    }
    return out;
}

static int snapshotCmd(const struct ctl_global *g, int argc, char **argv)
{
    if (argc >= 3 && ctlIsHelp(argv[2])) {
        usage(stdout);
        return CTL_OK;
    }
    if (argc < 3 || strcmp(argv[2], "save") != 0) {
        return ctlUsageError("cluster snapshot: expected \"save FILE\"");
    }
    if (argc != 4 || argv[3][0] == '\0' || (argv[3][0] == '-' && argv[3][1] != '\0')) {
        return ctlUsageError("cluster snapshot save: expected one FILE, got %d argument%s",
                             argc - 3, argc - 3 == 1 ? "" : "s");
    }
    struct rc_client *c;
    int rv = ctlClientOpen(g, &c);
    if (rv != CTL_OK) {
        return rv;
    }
    rv = snapshotSave(g, c, argv[3]);
    rc_client_close(c);
    return rv;
}

int ctlCluster(const struct ctl_global *g, int argc, char **argv)
{
    if (argc < 2 || ctlIsHelp(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CTL_USAGE : CTL_OK;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "snapshot") == 0) {
        return snapshotCmd(g, argc, argv);
    }
    bool is_status = strcmp(cmd, "status") == 0;
    if (!is_status && strcmp(cmd, "digest") != 0) {
        return ctlUsageError("cluster: unknown command \"%s\" (status, digest or snapshot)", cmd);
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
