#include "membership.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acks.h"
#include "core/command.h"
#include "core/err.h"

enum add_step { ADD_RECORD = 0, ADD_RAFT, ADD_ASSIGN, ADD_DONE };

struct membership_op {
    struct cluster *c;
    struct membership_request req;
    enum add_step step;
    enum cluster_role role; /* add / promote / demote: the role asked for */
    bool remove;            /* remove rather than demote (quorum check) */
    membership_done_cb cb;
    void *data;
    struct membership_result res;
    /* While the first call runs: where a synchronous outcome goes (then cb never fires). */
    struct membership_result *sync_res;
    bool *sync_done;
};

static void setf(struct membership_result *res, int rv, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void setf(struct membership_result *res, int rv, int status, const char *fmt, ...)
{
    res->rv = rv;
    res->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof res->message, fmt, ap);
    va_end(ap);
}

/* Starts every call: a clean result, and the refusal of a node that does not lead. */
static bool leading(struct cluster *c, struct membership_result *res)
{
    memset(res, 0, sizeof *res);
    if (!clusterIsLeader(c)) {
        res->rv = RC_ENOTLEADER;
        return false;
    }
    return true;
}

static struct membership_op *opNew(struct cluster *c, const struct membership_request *req,
                                   struct membership_result *res, membership_done_cb cb, void *data)
{
    struct membership_op *op = calloc(1, sizeof *op);
    if (op == NULL) {
        setf(res, RC_ENOMEM, RC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    op->c = c;
    op->req = *req;
    op->cb = cb;
    op->data = data;
    return op;
}

static void finish(struct membership_op *op)
{
    if (op->sync_done != NULL) {
        *op->sync_res = op->res;
        *op->sync_done = true;
    } else {
        op->cb(op->data, &op->res);
    }
    free(op);
}

/* Run start(op); true when op goes on (cb fires later), false when it finished inside. */
static bool launch(struct membership_op *op, void (*start)(struct membership_op *),
                   struct membership_result *res)
{
    bool done = false;
    op->sync_res = res;
    op->sync_done = &done;
    start(op);
    if (done) {
        return false;
    }
    op->sync_res = NULL;
    op->sync_done = NULL;
    return true;
}

static void opFail(struct membership_op *op, int rv, const char *what, const char *msg)
{
    if (rv == RC_ENOTLEADER) {
        op->res.rv = rv;
    } else if (rv == RC_ESTALE) {
        setf(&op->res, rv, RC_STATUS_FAILED_PRECONDITION,
             "%s: another configuration change is in progress; retry", what);
    } else {
        setf(&op->res, rv, 0, "%s: %s", what, msg != NULL ? msg : rc_strerror(rv));
    }
    finish(op);
}

/* ---- add / join ----------------------------------------------------------------------- */

static void addStep(struct membership_op *op);

static void addChanged(void *data, int status, const char *msg)
{
    struct membership_op *op = data;
    if (status != 0 && op->step == ADD_ASSIGN && status != RC_ENOTLEADER && status != RC_ESTALE) {
        /* Raft added the server as a spare but could not catch it up (not running, wrong
         * address): say what is left behind and how to finish or undo it. */
        unsigned long long id = (unsigned long long)op->req.id;
        op->res.event = MEMBERSHIP_STRANDED;
        snprintf(op->res.cause, sizeof op->res.cause, "%s",
                 msg != NULL ? msg : rc_strerror(status));
        setf(&op->res, status, RC_STATUS_UNAVAILABLE,
             "member %llu is in the configuration as a spare but could not be caught up "
             "(%s): start it with --join, or undo with 'member remove %llu'",
             id, msg != NULL && msg[0] != '\0' ? msg : rc_strerror(status), id);
        finish(op);
        return;
    }
    if (status != 0) {
        opFail(op, status, op->step == ADD_ASSIGN ? "raft assign" : "raft add", msg);
        return;
    }
    op->step++;
    addStep(op);
}

static void recordApplied(void *data, int status, const struct rc_fsm_result *res)
{
    struct membership_op *op = data;
    (void)res;
    if (status != 0) {
        opFail(op, status, "record member address", NULL);
        return;
    }
    op->step = ADD_RAFT;
    addStep(op);
}

static void addStep(struct membership_op *op)
{
    struct cluster *c = op->c;
    struct cluster_member s;
    bool known = clusterMemberGet(c, op->req.id, &s);
    int rv = 0;
    switch (op->step) {
    case ADD_RECORD: {
        void *buf;
        size_t len;
        rv = commandEncodeMemberSet(op->req.id, op->req.rpc_addr, false, &buf, &len);
        if (rv == 0) {
            rv = clusterPropose(c, buf, len, recordApplied, op);
            free(buf);
        }
        if (rv != 0) {
            opFail(op, rv, "record member address", NULL);
        }
        return;
    }
    case ADD_RAFT:
        if (known) {
            op->step = ADD_ASSIGN;
            addStep(op);
            return;
        }
        rv = clusterAdd(c, op->req.id, op->req.raft_addr, addChanged, op);
        break;
    case ADD_ASSIGN:
        if (known && s.role == op->role) {
            op->step = ADD_DONE;
            addStep(op);
            return;
        }
        rv = clusterAssign(c, op->req.id, op->role, addChanged, op);
        break;
    case ADD_DONE:
        op->res.event = MEMBERSHIP_ADDED;
        op->res.role = op->role;
        finish(op);
        return;
    }
    if (rv != 0) {
        opFail(op, rv, op->step == ADD_RAFT ? "raft add" : "raft assign", c->errmsg);
    }
}

bool membershipAdd(struct cluster *c, const struct membership_request *req, bool join,
                   struct membership_result *res, membership_done_cb cb, void *data)
{
    if (!leading(c, res)) {
        return false;
    }
    struct cluster_member s;
    bool known = clusterMemberGet(c, req->id, &s);
    if (known && strcmp(s.raft_addr, req->raft_addr) != 0) {
        setf(res, RC_EEXISTS, RC_STATUS_ALREADY_EXISTS,
             "member %llu already exists with address %s", (unsigned long long)req->id,
             s.raft_addr);
        return false;
    }
    unsigned n = clusterMemberCount(c);
    for (unsigned i = 0; i < n; i++) {
        struct cluster_member m = clusterMemberAt(c, i);
        if (m.id != req->id && strcmp(m.raft_addr, req->raft_addr) == 0) {
            setf(res, RC_EEXISTS, RC_STATUS_ALREADY_EXISTS, "raft address %s is member %llu's",
                 req->raft_addr, (unsigned long long)m.id);
            return false;
        }
    }
    enum cluster_role role = req->standby ? CLUSTER_STANDBY : CLUSTER_VOTER;
    if (known && !join && s.role == role) {
        setf(res, RC_EEXISTS, RC_STATUS_ALREADY_EXISTS, "member %llu already exists",
             (unsigned long long)req->id);
        return false;
    }
    if (known && !join && s.role != CLUSTER_SPARE) {
        setf(res, RC_EEXISTS, RC_STATUS_ALREADY_EXISTS,
             "member %llu already exists as a %s; use 'member %s %llu'",
             (unsigned long long)req->id, clusterRoleName(s.role),
             role == CLUSTER_VOTER ? "promote" : "demote", (unsigned long long)req->id);
        return false;
    }
    struct membership_op *op = opNew(c, req, res, cb, data);
    if (op == NULL) {
        return false;
    }
    op->role = role;
    op->step = ADD_RECORD;
    return launch(op, addStep, res);
}

/* ---- remove / promote / demote -------------------------------------------------------- */

static void changeDone(void *data, int status, const char *msg)
{
    struct membership_op *op = data;
    if (status != 0) {
        opFail(op, status, op->req.what, msg);
        return;
    }
    op->res.event = op->remove ? MEMBERSHIP_REMOVED : MEMBERSHIP_ROLE_CHANGED;
    op->res.role = op->role;
    finish(op);
}

static void forgetApplied(void *data, int status, const struct rc_fsm_result *res)
{
    (void)res;
    changeDone(data, status == RC_ENOTLEADER ? 0 : status, "");
}

static void removed(void *data, int status, const char *msg)
{
    struct membership_op *op = data;
    if (status != 0) {
        opFail(op, status, "Member.Remove", msg);
        return;
    }
    /* Forget the RPC address too; if this node just removed itself it is no longer leader,
     * and the address entry is harmless (it is only a hint). */
    void *buf;
    size_t len;
    if (commandEncodeMemberSet(op->req.id, NULL, true, &buf, &len) == 0) {
        int rv = clusterPropose(op->c, buf, len, forgetApplied, op);
        free(buf);
        if (rv == 0) {
            return;
        }
    }
    changeDone(op, 0, "");
}

/* The configuration change itself, once allowed. */
static void changeStart(struct membership_op *op)
{
    struct cluster *c = op->c;
    int rv = op->remove ? clusterRemove(c, op->req.id, removed, op)
                        : clusterAssign(c, op->req.id, op->role, changeDone, op);
    if (rv != 0) {
        opFail(op, rv, op->req.what, c->errmsg);
    }
}

/* Voters of the configuration without op's member, and how many of them have acknowledged
 * target (this node counts as acknowledging). */
static void votersLeft(const struct membership_op *op, uint64_t target, unsigned *voters,
                       unsigned *acked)
{
    struct cluster *c = op->c;
    unsigned n = clusterMemberCount(c);
    *voters = 0;
    *acked = 0;
    for (unsigned i = 0; i < n; i++) {
        struct cluster_member s = clusterMemberAt(c, i);
        if (s.role != CLUSTER_VOTER || s.id == op->req.id) {
            continue;
        }
        (*voters)++;
        if (s.id == c->id || (target > 0 && clusterMatchIndex(c, s.id) >= target)) {
            (*acked)++;
        }
    }
}

static bool majorityLeft(struct cluster *c, uint64_t target, void *data)
{
    (void)c;
    unsigned voters, acked;
    votersLeft(data, target, &voters, &acked);
    return acked * 2 > voters;
}

static void quorumAcked(struct cluster *c, uint64_t target, void *data)
{
    struct membership_op *op = data;
    if (!clusterIsLeader(c)) {
        op->res.rv = RC_ENOTLEADER;
        finish(op);
        return;
    }
    unsigned voters, acked;
    votersLeft(op, target, &voters, &acked);
    if (acked * 2 > voters) {
        changeStart(op);
        return;
    }
    setf(&op->res, RC_ESTALE, RC_STATUS_FAILED_PRECONDITION,
         "%s: without voter %llu only %u of the %u voters left answer, not a majority: the "
         "cluster could elect no leader. Bring members back first, or use --force",
         op->req.what, (unsigned long long)op->req.id, acked, voters);
    finish(op);
}

/* After a barrier: give the voters left ACKS_WAIT_MS to acknowledge it. */
static void quorumBarrier(void *data, int status, const char *msg)
{
    struct membership_op *op = data;
    if (status != 0) {
        opFail(op, status, "quorum check", msg);
        return;
    }
    int rv = acksAwait(op->c, majorityLeft, quorumAcked, op);
    if (rv != 0) {
        opFail(op, rv, "quorum check", NULL);
    }
}

/* Remove or demote a voter: refuse what leaves no voter; unless forced, check the quorum. */
static void removeVoter(struct membership_op *op)
{
    unsigned voters, acked;
    votersLeft(op, 0, &voters, &acked);
    if (voters == 0) {
        setf(&op->res, RC_ESTALE, RC_STATUS_FAILED_PRECONDITION,
             "%s: member %llu is the last voter: the cluster would have none left", op->req.what,
             (unsigned long long)op->req.id);
        finish(op);
        return;
    }
    if (op->req.force) {
        op->res.forced = true;
        changeStart(op);
        return;
    }
    int rv = clusterBarrier(op->c, quorumBarrier, op);
    if (rv != 0) {
        opFail(op, rv, "quorum check", op->c->errmsg);
    }
}

/* Shared by remove / promote / demote: the member as it is now, or false with the refusal. */
static bool changeBegin(struct cluster *c, const struct membership_request *req,
                        struct membership_result *res, struct cluster_member *s)
{
    if (!leading(c, res)) {
        return false;
    }
    if (!clusterMemberGet(c, req->id, s)) {
        setf(res, RC_ENOTFOUND, RC_STATUS_NOT_FOUND, "member %llu is not in the configuration",
             (unsigned long long)req->id);
        return false;
    }
    return true;
}

static bool removeOrDemote(struct cluster *c, const struct membership_request *req, bool remove,
                           struct membership_result *res, membership_done_cb cb, void *data)
{
    struct cluster_member s;
    if (!changeBegin(c, req, res, &s)) {
        return false;
    }
    if (!remove && s.role == CLUSTER_STANDBY) {
        return false; /* already so */
    }
    struct membership_op *op = opNew(c, req, res, cb, data);
    if (op == NULL) {
        return false;
    }
    op->remove = remove;
    op->role = CLUSTER_STANDBY;
    /* a standby or spare never counts towards a quorum */
    return launch(op, s.role != CLUSTER_VOTER ? changeStart : removeVoter, res);
}

bool membershipRemove(struct cluster *c, const struct membership_request *req,
                      struct membership_result *res, membership_done_cb cb, void *data)
{
    return removeOrDemote(c, req, true, res, cb, data);
}

bool membershipDemote(struct cluster *c, const struct membership_request *req,
                      struct membership_result *res, membership_done_cb cb, void *data)
{
    return removeOrDemote(c, req, false, res, cb, data);
}

bool membershipPromote(struct cluster *c, const struct membership_request *req,
                       struct membership_result *res, membership_done_cb cb, void *data)
{
    struct cluster_member s;
    if (!changeBegin(c, req, res, &s)) {
        return false;
    }
    if (s.role == CLUSTER_VOTER) {
        return false; /* already so */
    }
    struct membership_op *op = opNew(c, req, res, cb, data);
    if (op == NULL) {
        return false;
    }
    op->role = CLUSTER_VOTER;
    return launch(op, changeStart, res);
}

/* ---- transfer ------------------------------------------------------------------------- */

static void transferred(void *data, int status, const char *msg)
{
    struct membership_op *op = data;
    (void)status;
    (void)msg;
    uint64_t leader = clusterLeader(op->c, NULL);
    if (leader == op->c->id || leader == 0) {
        setf(&op->res, RC_ETIMEOUT, RC_STATUS_ABORTED,
             "leadership transfer did not complete within the election timeout");
    } else {
        op->res.event = MEMBERSHIP_TRANSFERRED;
        op->res.leader = leader;
    }
    finish(op);
}

static void transferStart(struct membership_op *op)
{
    int rv = clusterTransfer(op->c, op->req.id, transferred, op);
    if (rv != 0) {
        opFail(op, rv, "Member.Transfer", op->c->errmsg);
    }
}

bool membershipTransfer(struct cluster *c, const struct membership_request *req,
                        struct membership_result *res, membership_done_cb cb, void *data)
{
    struct cluster_member s;
    if (req->id == 0 ? !leading(c, res) : !changeBegin(c, req, res, &s)) {
        return false;
    }
    if (req->id != 0 && s.role != CLUSTER_VOTER) {
        setf(res, RC_ESTALE, RC_STATUS_FAILED_PRECONDITION,
             "member %llu is a %s: only a voter can lead ('member promote %llu' first)",
             (unsigned long long)req->id, clusterRoleName(s.role), (unsigned long long)req->id);
        return false;
    }
    struct membership_op *op = opNew(c, req, res, cb, data);
    if (op == NULL) {
        return false;
    }
    return launch(op, transferStart, res);
}
