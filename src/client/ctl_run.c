/*
 * raftcronctl run list|get and dlq list: the run history of the ledger (docs/ledger.md).
 * Both groups print runs the same way, so they share this file: a run is one JSON object (the
 * same keys in list and get) or one table row; run get's text form is key/value lines whose
 * values are escaped, because output tails and error texts come from user programs.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "core/runs.h"
#include "core/timefmt.h"
#include "ctl.h"
#include "print.h"
#include "raftcron/client.h"

#define PAGE_MAX  1000u       /* runs per Run.List page */
#define LIMIT_MAX 1000000000u /* --limit */

enum { OPT_JOB = 900, OPT_NAMESPACE, OPT_STATE, OPT_LIMIT, OPT_STALE, OPT_FORCE };

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: raftcronctl run list [--job NAME] [--namespace NS] [--state S] [--limit N]\n"
            "                            [--stale]\n"
            "       raftcronctl run get ID [--stale]\n"
            "       raftcronctl run cancel ID\n"
            "       raftcronctl run now NAME [--namespace NS] [--force]\n"
            "       raftcronctl dlq list [--namespace NS] [--limit N] [--stale]\n"
            "       raftcronctl dlq retry ID\n"
            "\n"
            "run list shows runs newest first: of one job (--job, NAME may be NS/NAME), or of\n"
            "every job of --namespace (default: every namespace). --state keeps one state:\n"
            "pending, assigned, running, succeeded, failed, timed_out, lost, retry_wait, dead\n"
            "or cancelled. --limit N (default 100; more than a page of 1000 is fetched page by\n"
            "page, each run once, newest first). run get shows one run with\n"
            "its output tail. run cancel stops a run (its worker kills it if it runs). run now\n"
            "starts a manual run of job NAME now (also 'job run-now'); the job's overlap\n"
            "policy applies unless --force. dlq list shows the dead letters: runs in state\n"
            "dead; dlq retry starts a new manual run for a dead run's scheduled instant.\n"
            "\n"
            "-o json (global): list prints {\"runs\": [...]}, get one run object, with keys id,\n"
            "job, scheduled_at, state, attempt, worker, fence, fired_at, start_at, started_at,\n"
            "finished_at, not_before, manual, backfill, exit_code, http_status, rows,\n"
            "command_status, sqlstate, already_done, http_timings_us (when set), error,\n"
            "output_tail, wait_reason, end_reason (instants RFC 3339 UTC, null when unset).\n"
            "In the table, REASON says manual or backfill for such a run with no other reason.\n");
}

/* ---- Output ---------------------------------------------------------------------------------- */

static void emitRunJson(struct print_json *j, const Raftcron__Run *r)
{
    const Raftcron__Outcome *o = r->outcome;
    printJsonOpen(j, NULL, '{');
    printJsonUint(j, "id", r->id);
    printJsonStr(j, "job", r->job);
    printJsonTime(j, "scheduled_at", r->scheduled_us);
    printJsonStr(j, "state", runsStateName(r->state));
    printJsonUint(j, "attempt", r->attempt);
    printJsonUint(j, "worker", r->worker_id);
    printJsonUint(j, "fence", r->fence);
    printJsonTime(j, "fired_at", r->fired_us);
    printJsonTime(j, "start_at", r->start_at_us);
    printJsonTime(j, "started_at", r->started_us);
    printJsonTime(j, "finished_at", r->finished_us);
    printJsonTime(j, "not_before", r->not_before_us);
    printJsonBool(j, "manual", r->manual);
    printJsonBool(j, "backfill", r->backfill);
    if (o != NULL) {
        printJsonInt(j, "exit_code", o->exit_code);
        printJsonUint(j, "http_status", o->http_status);
        printJsonInt(j, "rows", o->rows);
        printJsonStr(j, "command_status", o->command_status);
        printJsonStr(j, "sqlstate", o->sqlstate);
        printJsonBool(j, "already_done", o->already_done);
        if (o->http_timings != NULL) {
            const Raftcron__HttpTimings *t = o->http_timings;
            printJsonOpen(j, "http_timings_us", '{');
            printJsonInt(j, "dns", t->dns_us);
            printJsonInt(j, "connect", t->connect_us);
            printJsonInt(j, "tls", t->tls_us);
            printJsonInt(j, "first_byte", t->first_byte_us);
            printJsonInt(j, "total", t->total_us);
            printJsonClose(j);
        }
        printJsonStr(j, "error", o->error);
        printJsonBytes(j, "output_tail", o->output_tail.data, o->output_tail.len);
    } else {
        printJsonNull(j, "exit_code");
        printJsonNull(j, "http_status");
        printJsonNull(j, "rows");
        printJsonStr(j, "command_status", "");
        printJsonStr(j, "sqlstate", "");
        printJsonBool(j, "already_done", false);
        printJsonStr(j, "error", "");
        printJsonStr(j, "output_tail", "");
    }
    printJsonStr(j, "wait_reason", r->wait_reason);
    printJsonStr(j, "end_reason", r->end_reason);
    printJsonClose(j);
}

static void timeCell(int64_t us, char *buf)
{
    if (us == 0) {
        strcpy(buf, "-");
    } else {
        timefmtFormat(us, 0, buf);
    }
}

/* EXIT: the exit code; the HTTP status for an HTTP run; for an SQL run the rows it affected or
 * returned ("rows:3", "rows:done" when effect-once found it done), or the SQLSTATE of its error
 * ("sql:42601"); "-" before an outcome. */
static void exitCell(const Raftcron__Outcome *o, char *buf, size_t len)
{
    if (o == NULL) {
        snprintf(buf, len, "-");
    } else if (o->http_status != 0) {
        snprintf(buf, len, "http:%u", o->http_status);
    } else if (o->sqlstate[0] != '\0') {
        snprintf(buf, len, "sql:%s", o->sqlstate);
    } else if (o->already_done) {
        snprintf(buf, len, "rows:done");
    } else if (o->command_status[0] != '\0' && o->rows >= 0) {
        snprintf(buf, len, "rows:%lld", (long long)o->rows);
    } else if (o->command_status[0] != '\0') {
        snprintf(buf, len, "rows:-");
    } else {
        snprintf(buf, len, "%d", o->exit_code);
    }
}

/* The table's last column: why the run waits, ended, or failed; else why it exists, when a
 * person asked for it (backfill, manual). */
static const char *reasonOf(const Raftcron__Run *r)
{
    if (r->end_reason[0] != '\0') {
        return r->end_reason;
    }
    if (r->outcome != NULL && r->outcome->error[0] != '\0') {
        return r->outcome->error;
    }
    if (r->wait_reason[0] == '\0' && r->manual) {
        return r->backfill ? "backfill" : "manual";
    }
    return r->wait_reason;
}

static void printRuns(const struct ctl_global *g, const Raftcron__RunListResponse *l)
{
    if (g->output == CTL_OUTPUT_JSON) {
        struct print_json j;
        printJsonInit(&j, stdout);
        printJsonOpen(&j, NULL, '{');
        printJsonOpen(&j, "runs", '[');
        for (size_t i = 0; i < l->n_runs; i++) {
            emitRunJson(&j, l->runs[i]);
        }
        printJsonClose(&j);
        printJsonClose(&j);
        return;
    }
    struct print_table t;
    printTableInit(&t, 11);
    printTableRow(&t, "ID", "JOB", "SCHEDULED", "STATE", "ATTEMPT", "WORKER", "FENCE", "STARTED",
                  "FINISHED", "EXIT", "REASON");
    for (size_t i = 0; i < l->n_runs; i++) {
        const Raftcron__Run *r = l->runs[i];
        char id[24], attempt[16], worker[24], fence[24], exit[32];
        char sched[RC_TIMEFMT_MAX], started[RC_TIMEFMT_MAX], finished[RC_TIMEFMT_MAX];
        snprintf(id, sizeof id, "%" PRIu64, r->id);
        snprintf(attempt, sizeof attempt, "%u", r->attempt);
        snprintf(worker, sizeof worker, "%" PRIu64, r->worker_id);
        snprintf(fence, sizeof fence, "%" PRIu64, r->fence);
        timeCell(r->scheduled_us, sched);
        timeCell(r->started_us, started);
        timeCell(r->finished_us, finished);
        exitCell(r->outcome, exit, sizeof exit);
        printTableRow(&t, id, r->job, sched, runsStateName(r->state), attempt,
                      r->worker_id != 0 ? worker : "-", r->fence != 0 ? fence : "-", started,
                      finished, exit, reasonOf(r));
    }
    printTableFlush(&t, stdout);
}

static void kvLine(const char *key, const char *v, size_t len)
{
    printKeyLine(stdout, key, 14, v, len);
}

static void kvText(const char *key, const char *v)
{
    kvLine(key, v, strlen(v));
}

static void kvNum(const char *key, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    kvText(key, v != 0 ? buf : "-");
}

static void kvWhen(const char *key, int64_t us)
{
    char buf[RC_TIMEFMT_MAX];
    timeCell(us, buf);
    kvText(key, buf);
}

/* What an HTTP or SQL outcome adds to run get: status, timings, rows, command tag, SQLSTATE. */
static void printOutcomeDetail(const Raftcron__Outcome *o)
{
    char buf[160];
    if (o == NULL) {
        return;
    }
    if (o->http_status != 0 || o->http_timings != NULL) {
        snprintf(buf, sizeof buf, "%u", o->http_status);
        kvText("http_status", buf);
    }
    if (o->http_timings != NULL) {
        const Raftcron__HttpTimings *t = o->http_timings;
        snprintf(buf, sizeof buf,
                 "dns %.1f ms, connect %.1f ms, tls %.1f ms, first byte %.1f ms, "
                 "total %.1f ms",
                 (double)t->dns_us / 1e3, (double)t->connect_us / 1e3, (double)t->tls_us / 1e3,
                 (double)t->first_byte_us / 1e3, (double)t->total_us / 1e3);
        kvText("http_timings", buf);
    }
    if (o->command_status[0] != '\0' || o->sqlstate[0] != '\0' || o->already_done) {
        snprintf(buf, sizeof buf, "%lld", (long long)o->rows);
        kvText("rows", o->rows >= 0 ? buf : "-");
        kvText("command_status", o->command_status);
        kvText("sqlstate", o->sqlstate);
        kvText("already_done", o->already_done ? "true" : "false");
    }
}

static void printRun(const struct ctl_global *g, const Raftcron__Run *r)
{
    if (g->output == CTL_OUTPUT_JSON) {
        struct print_json j;
        printJsonInit(&j, stdout);
        emitRunJson(&j, r);
        return;
    }
    char exit[32];
    kvNum("id", r->id);
    kvText("job", r->job);
    kvWhen("scheduled_at", r->scheduled_us);
    kvText("state", runsStateName(r->state));
    kvNum("attempt", r->attempt);
    kvNum("worker", r->worker_id);
    kvNum("fence", r->fence);
    kvWhen("fired_at", r->fired_us);
    kvWhen("start_at", r->start_at_us);
    kvWhen("started_at", r->started_us);
    kvWhen("finished_at", r->finished_us);
    kvWhen("not_before", r->not_before_us);
    kvText("manual", r->manual ? "true" : "false");
    kvText("backfill", r->backfill ? "true" : "false");
    exitCell(r->outcome, exit, sizeof exit);
    kvText("exit", exit);
    printOutcomeDetail(r->outcome);
    kvText("error", r->outcome != NULL ? r->outcome->error : "");
    kvLine("output_tail", r->outcome != NULL ? (const char *)r->outcome->output_tail.data : "",
           r->outcome != NULL ? r->outcome->output_tail.len : 0);
    kvText("wait_reason", r->wait_reason);
    kvText("end_reason", r->end_reason);
}

/* ---- Arguments ------------------------------------------------------------------------------- */

struct run_args {
    const char *group; /* "run" or "dlq" */
    const char *cmd;
    const char *job;
    const char *ns;
    char ns_buf[80];
    const char *state;
    uint32_t limit;
    int stale;
    int force;   /* run now */
    uint64_t id; /* run get */
};

static int parseNumber(const char *what, const char *text, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || v == 0 || v > max) {
        return ctlUsageError("%s: \"%s\" is not a whole number in 1..%" PRIu64, what, text, max);
    }
    *out = v;
    return 0;
}

/* --job NS/NAME names the namespace too. */
static int setJob(struct run_args *a, const char *arg)
{
    const char *slash = strchr(arg, '/');
    a->job = slash != NULL ? slash + 1 : arg;
    if (slash == NULL) {
        return 0;
    }
    size_t len = (size_t)(slash - arg);
    if (len == 0 || len >= sizeof a->ns_buf) {
        return ctlUsageError("%s %s: --job \"%s\": bad namespace", a->group, a->cmd, arg);
    }
    memcpy(a->ns_buf, arg, len);
    a->ns_buf[len] = '\0';
    a->ns = a->ns_buf;
    return 0;
}

static int onOption(struct run_args *a, int c, const char *arg)
{
    uint64_t v = 0;
    int rv;
    switch (c) {
    case OPT_JOB:
        return setJob(a, arg);
    case OPT_NAMESPACE:
        a->ns = arg;
        return 0;
    case OPT_STATE:
        a->state = arg;
        return 0;
    case OPT_LIMIT:
        rv = parseNumber("--limit", arg, LIMIT_MAX, &v);
        a->limit = (uint32_t)v;
        return rv;
    case OPT_FORCE:
        a->force = 1;
        return 0;
    default:
        a->stale = 1;
        return 0;
    }
}

static int parseArgs(int argc, char **argv, struct run_args *a)
{
    bool list = strcmp(a->cmd, "list") == 0;
    bool runs = strcmp(a->group, "run") == 0;
    struct option opts[8];
    size_t n = 0;
    if (list && runs) {
        opts[n++] = (struct option){"job", required_argument, NULL, OPT_JOB};
        opts[n++] = (struct option){"state", required_argument, NULL, OPT_STATE};
    }
    bool now = strcmp(a->cmd, "now") == 0;
    if (list) {
        opts[n++] = (struct option){"namespace", required_argument, NULL, OPT_NAMESPACE};
        opts[n++] = (struct option){"limit", required_argument, NULL, OPT_LIMIT};
    }
    if (now) {
        opts[n++] = (struct option){"namespace", required_argument, NULL, OPT_NAMESPACE};
        opts[n++] = (struct option){"force", no_argument, NULL, OPT_FORCE};
    }
    opts[n++] = (struct option){"stale", no_argument, NULL, OPT_STALE};
    opts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    opts[n] = (struct option){NULL, 0, NULL, 0};
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return -1;
        }
        int rv = c == '?' || c == ':' ? ctlUsageError("%s %s: unknown or incomplete option \"%s\"",
                                                      a->group, a->cmd, argv[optind - 1])
                                      : onOption(a, c, optarg);
        if (rv != 0) {
            return rv;
        }
    }
    if (argc - optind != (list ? 0 : 1)) {
        return ctlUsageError("%s %s: expected %s, got %d argument%s", a->group, a->cmd,
                             list  ? "no argument"
                             : now ? "one job NAME"
                                   : "one run ID",
                             argc - optind, argc - optind == 1 ? "" : "s");
    }
    if (now) {
        a->job = argv[optind];
        return 0;
    }
    return list ? 0 : parseNumber("run ID", argv[optind], UINT64_MAX, &a->id);
}

/* ---- Dispatch -------------------------------------------------------------------------------- */

static int startedRun(const struct ctl_global *g, uint64_t id)
{
    if (g->output == CTL_OUTPUT_JSON) {
        struct print_json j;
        printJsonInit(&j, stdout);
        printJsonOpen(&j, NULL, '{');
        printJsonUint(&j, "run_id", id);
        printJsonClose(&j);
    } else {
        printf("started run %llu\n", (unsigned long long)id);
    }
    return CTL_OK;
}

static int listRuns(const struct ctl_global *g, struct rc_client *c, const struct run_args *a,
                    const char *what);

static int call(const struct ctl_global *g, struct rc_client *c, const struct run_args *a)
{
    char what[64];
    snprintf(what, sizeof what, "%s %s", a->group, a->cmd);
    uint64_t id = 0;
    if (strcmp(a->cmd, "now") == 0) {
        int rv = rc_job_run_now(c, a->ns, a->job, a->force, &id);
        return rv != 0 ? ctlCallFailed(c, rv, what) : startedRun(g, id);
    }
    if (strcmp(a->cmd, "retry") == 0) {
        int rv = rc_dlq_retry(c, a->id, &id);
        return rv != 0 ? ctlCallFailed(c, rv, what) : startedRun(g, id);
    }
    if (strcmp(a->cmd, "cancel") == 0) {
        int rv = rc_run_cancel(c, a->id);
        if (rv != 0) {
            return ctlCallFailed(c, rv, what);
        }
        printf("cancelled run %llu\n", (unsigned long long)a->id);
        return CTL_OK;
    }
    if (strcmp(a->cmd, "get") == 0) {
        Raftcron__Run *r;
        int rv = rc_run_get(c, a->id, a->stale, &r);
        if (rv != 0) {
            return ctlCallFailed(c, rv, what);
        }
        printRun(g, r);
        rc_message_free(r);
        return CTL_OK;
    }
    return listRuns(g, c, a, what);
}

/* The pages of a listing, kept until printed (the table aligns its columns over every row). */
struct pages {
    Raftcron__RunListResponse **page;
    size_t n;
    Raftcron__Run **runs; /* borrowed from the pages */
    size_t n_runs;
};

static void freePages(struct pages *p)
{
    for (size_t i = 0; i < p->n; i++) {
        rc_message_free(p->page[i]);
    }
    free(p->page);
    free(p->runs);
}

static int addPage(struct pages *p, Raftcron__RunListResponse *l)
{
    Raftcron__RunListResponse **page = realloc(p->page, (p->n + 1) * sizeof *page);
    Raftcron__Run **runs =
        page != NULL ? realloc(p->runs, (p->n_runs + l->n_runs + 1) * sizeof *runs) : NULL;
    if (page != NULL) {
        p->page = page;
    }
    if (runs == NULL) {
        rc_message_free(l);
        return -1;
    }
    p->runs = runs;
    p->page[p->n++] = l;
    if (l->n_runs > 0) {
        memcpy(p->runs + p->n_runs, l->runs, l->n_runs * sizeof *runs);
    }
    p->n_runs += l->n_runs;
    return 0;
}

/* Page after page until --limit runs or the end: each run once, newest first. */
static int listRuns(const struct ctl_global *g, struct rc_client *c, const struct run_args *a,
                    const char *what)
{
    struct pages p = {0};
    uint32_t want = a->limit > 0 ? a->limit : 100;
    char token[256] = "";
    int rv = 0;
    while (p.n_runs < want) {
        uint32_t n = want - (uint32_t)p.n_runs < PAGE_MAX ? want - (uint32_t)p.n_runs : PAGE_MAX;
        Raftcron__RunListResponse *l;
        rv = strcmp(a->group, "dlq") == 0
                 ? rc_dlq_list_page(c, a->ns, n, token, a->stale, &l)
                 : rc_run_list_page(c, a->ns, a->job, a->state, n, token, a->stale, &l);
        if (rv != 0) {
            freePages(&p);
            return ctlCallFailed(c, rv, what);
        }
        bool more = l->next_page_token[0] != '\0' && l->n_runs > 0;
        snprintf(token, sizeof token, "%s", l->next_page_token);
        if (addPage(&p, l) != 0) {
            freePages(&p);
            return ctlFail("%s: out of memory", what);
        }
        if (!more) {
            break;
        }
    }
    Raftcron__RunListResponse all = RAFTCRON__RUN_LIST_RESPONSE__INIT;
    all.runs = p.runs;
    all.n_runs = p.n_runs;
    printRuns(g, &all);
    freePages(&p);
    return CTL_OK;
}

static int runGroup(const struct ctl_global *g, int argc, char **argv, const char *cmds)
{
    if (argc < 2 || ctlIsHelp(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CTL_USAGE : CTL_OK;
    }
    struct run_args a = {.group = argv[0], .cmd = argv[1]};
    char key[32];
    snprintf(key, sizeof key, ",%.24s,", a.cmd);
    if (strstr(cmds, key) == NULL) {
        return ctlUsageError("%s: unknown command \"%s\" (%s)", a.group, a.cmd,
                             strcmp(a.group, "dlq") == 0 ? "list or retry"
                                                         : "list, get, cancel or now");
    }
    int rv = parseArgs(argc - 1, argv + 1, &a);
    if (rv != 0) {
        return rv < 0 ? CTL_OK : rv;
    }
    struct rc_client *c = NULL;
    rv = ctlClientOpen(g, &c);
    if (rv == 0) {
        rv = call(g, c, &a);
    }
    rc_client_close(c);
    return rv;
}

int ctlRun(const struct ctl_global *g, int argc, char **argv)
{
    return runGroup(g, argc, argv, ",list,get,cancel,now,");
}

int ctlDlq(const struct ctl_global *g, int argc, char **argv)
{
    return runGroup(g, argc, argv, ",list,retry,");
}
