/*
 * raftcronctl job add|update|get|list|delete|pause|resume|apply|next|decisions|backfill.
 *
 * add and update take one flag per key of src/core/jobyaml.h (the same keys job apply reads
 * from YAML), so the flag table, the YAML keys and the JSON that job get prints share one
 * vocabulary; a definition is checked locally (cron parses, zone exists, …) before anything is
 * sent, and a bad one is a usage error (exit 2) with the parser's message.
 *
 * Every write this file sends may be repeated safely after a lost connection: add is
 * create-only, update and apply's updates compare-and-set on the version they read, delete
 * and pause/resume converge, a backfill never fires an instant twice (client_api.c's
 * idempotency rules).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "core/backfill.h"
#include "core/duration.h"
#include "core/err.h"
#include "core/execspec.h"
#include "core/jobyaml.h"
#include "core/ledgerjson.h"
#include "core/runview.h"
#include "core/policy.h"
#include "core/timefmt.h"
#include "ctl.h"
#include "print.h"
#include "progress.h"
#include "raftcron/client.h"

#define MAX_FLAGS     48
#define FLAG_KEY_BASE 1000 /* getopt value of key i: FLAG_KEY_BASE + i */
#define FILE_MAX      (64u << 20)

enum {
    OPT_NO_COALESCE = 900,
    OPT_IF_VERSION,
    OPT_NAMESPACE,
    OPT_STALE,
    OPT_PRUNE,
    OPT_DRY_RUN,
    OPT_BODY_FILE,
    OPT_LIMIT,
    OPT_FROM,
    OPT_TO
};

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: raftcronctl job add NAME TRIGGER EXECUTOR [OPTIONS]\n"
            "       raftcronctl job update NAME TRIGGER EXECUTOR [OPTIONS] [--if-version N]\n"
            "       raftcronctl job get NAME [--namespace NS] [--stale]\n"
            "       raftcronctl job list [--namespace NS] [--limit N] [--stale]\n"
            "       raftcronctl job delete NAME [--namespace NS] [--if-version N]\n"
            "       raftcronctl job pause NAME [--namespace NS]\n"
            "       raftcronctl job resume NAME [--namespace NS]\n"
            "       raftcronctl job apply -f FILE.yaml [--prune] [--dry-run]\n"
            "       raftcronctl job next NAME [-n N] [--namespace NS] [--stale]\n"
            "       raftcronctl job stats NAME [--namespace NS] [--stale]\n"
            "       raftcronctl job decisions NAME [--limit N] [--namespace NS] [--stale]\n"
            "       raftcronctl job backfill NAME --from RFC3339 --to RFC3339 [--limit N]\n"
            "                                [--dry-run] [--namespace NS]\n"
            "\n"
            "next previews the next N (default 5, at most 1000) instants the scheduler will\n"
            "decide, after the job's cursor or now, in the job's zone. decisions lists the\n"
            "job's decision records newest first (fired, coalesced, missed, skipped; --limit\n"
            "default 100, at most 1000). get also shows the next instant. stats shows the\n"
            "job's counters (runs, fired, coalesced, missed, skipped, succeeded, failed,\n"
            "timed out, lost, retried, dead, cancelled), its last run, the mean, p95 and\n"
            "longest duration of the runs the ledger holds, and its next instants. list\n"
            "--limit N stops after N jobs (fetched 1000 a page; default: every job).\n"
            "\n"
            "backfill creates runs now for the job's scheduled instants in [--from, --to]\n"
            "(both included; --to must not be in the future), judged by the job's overlap\n"
            "policy like scheduled fires (misfire grace and coalescing do not apply), all in\n"
            "one replicated entry: all are created or none. At most --limit N instants\n"
            "(default and maximum 1000): a range holding more is refused, nothing created.\n"
            "An instant that already has a decision (fired, missed, skipped, ...) keeps it\n"
            "and is not run again, so repeating a backfill creates nothing. A paused job can\n"
            "be backfilled. --dry-run prints the plan without creating anything. Each\n"
            "instant prints as fired, skipped (overlap policy), decided (already had a\n"
            "decision), dropped (its history was dropped by retention) or scheduled (after\n"
            "the cursor of an active job: the scheduler decides it). run list marks their\n"
            "runs (REASON backfill; \"backfill\": true with -o json).\n"
            "\n"
            "add creates a job (an existing name is an error); update replaces the whole\n"
            "definition of an existing one (compare-and-set on the version it reads, or on\n"
            "--if-version N). NAME may be written NS/NAME.\n"
            "\n"
            "TRIGGER: --cron EXPR [--tz ZONE] | --every DURATION | --at RFC3339\n"
            "EXECUTOR: --shell CMD\n"
            "        | --http URL [--method M] [--header 'K: V']... [--body STR | --body-file F]\n"
            "          [--expect CODE]... [--follow-redirects] [--insecure] [--ca-file F]\n"
            "        | --sql STATEMENT (--dsn CONNINFO | --conn NAME) [--once]\n"
            "        | --noop\n"
            "  --body-file F                      HTTP request body read from F (- for stdin)\n"
            "\n"
            "Definition options (also the keys of 'job apply' files, with _ for -):\n");
    for (size_t i = 1; jobyamlKey(i) != NULL; i++) {
        const struct rc_jobkey *k = jobyamlKey(i);
        char flag[64];
        snprintf(flag, sizeof flag, "--%s%s%s", k->name, k->metavar ? " " : "",
                 k->metavar ? k->metavar : "");
        for (char *p = flag; *p != '\0' && *p != ' '; p++) {
            *p = *p == '_' ? '-' : *p;
        }
        if (strlen(flag) > 34) {
            fprintf(f, "  %s\n  %-34s %s\n", flag, "", k->help);
        } else {
            fprintf(f, "  %-34s %s\n", flag, k->help);
        }
    }
    fprintf(f, "  %-34s %s\n", "--no-coalesce", "run every missed instant within the grace");
    fprintf(f,
            "\n"
            "apply: create the jobs of FILE.yaml that do not exist, update those that differ,\n"
            "leave the rest; --prune also deletes the jobs of the file's namespaces that it\n"
            "does not list; --dry-run only prints what would change. One line per job:\n"
            "created|updated|unchanged|deleted NS/NAME. See docs/cli.md for the format.\n"
            "\n"
            "Durations: 90s, 1h30m, 500ms, 2d. Instants: RFC 3339 (2030-01-01T09:00:00Z).\n"
            "-o json (global): get prints the job with the keys above, list {\"jobs\": [...]}.\n");
}

/* ---- Output ---------------------------------------------------------------------------------- */

/* A job is shown as key/value pairs: aligned lines, or one JSON object. */
struct out {
    bool json;
    struct print_json j;
};

static void printLine(const char *key, const char *v, size_t len)
{
    printKeyLine(stdout, key, 16, v, len);
}

static void kvStr(struct out *o, const char *key, const char *v)
{
    if (o->json) {
        printJsonStr(&o->j, key, v);
    } else {
        printLine(key, v, strlen(v));
    }
}

static void kvUint(struct out *o, const char *key, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    if (o->json) {
        printJsonUint(&o->j, key, v);
    } else {
        kvStr(o, key, buf);
    }
}

static void kvBool(struct out *o, const char *key, bool v)
{
    if (o->json) {
        printJsonBool(&o->j, key, v);
    } else {
        kvStr(o, key, v ? "true" : "false");
    }
}

static void kvTime(struct out *o, const char *key, int64_t us)
{
    char buf[RC_TIMEFMT_MAX];
    if (o->json) {
        printJsonTime(&o->j, key, us);
        return;
    }
    if (us != 0) {
        timefmtFormat(us, 0, buf);
    }
    kvStr(o, key, us != 0 ? buf : "-");
}

static void kvDuration(struct out *o, const char *key, int64_t us)
{
    char buf[RC_DURATION_MAX];
    durationFormat(us, buf);
    kvStr(o, key, buf);
}

/* Every map<string, string> entry is {base, key, value}; the JSON form is an object, the text
 * form one line per entry as the flag takes it. */
static void kvMap(void *data, const char *key, Raftcron__JobSpec__EnvEntry *const *e, size_t n,
                  char sep)
{
    struct out *o = data;
    if (o->json) {
        printJsonOpen(&o->j, key, '{');
    }
    for (size_t i = 0; i < n; i++) {
        if (o->json) {
            printJsonStr(&o->j, e[i]->key, e[i]->value);
        } else {
            printf("%-16s %s%c%s%s\n", key, e[i]->key, sep, sep == ':' ? " " : "", e[i]->value);
        }
    }
    if (o->json) {
        printJsonClose(&o->j);
    }
}

static void kvBytes(void *data, const char *key, const uint8_t *v, size_t len)
{
    struct out *o = data;
    if (o->json) {
        printJsonBytes(&o->j, key, v, len);
    } else {
        printLine(key, (const char *)v, len);
    }
}

static void kvReal(void *data, const char *key, double v)
{
    struct out *o = data;
    char buf[32];
    snprintf(buf, sizeof buf, "%g", v);
    if (o->json) {
        printJsonReal(&o->j, key, v);
    } else {
        kvStr(o, key, buf);
    }
}

static void kvCodes(void *data, const char *key, const uint32_t *codes, size_t n)
{
    struct out *o = data;
    if (o->json) {
        printJsonOpen(&o->j, key, '[');
    }
    for (size_t i = 0; i < n; i++) {
        if (o->json) {
            printJsonUint(&o->j, NULL, codes[i]);
        } else {
            kvUint(o, key, codes[i]);
        }
    }
    if (o->json) {
        printJsonClose(&o->j);
    }
}

static void emitStr(void *o, const char *key, const char *v)
{
    kvStr(o, key, v);
}
static void emitUint(void *o, const char *key, uint64_t v)
{
    kvUint(o, key, v);
}
static void emitBool(void *o, const char *key, bool v)
{
    kvBool(o, key, v);
}
static void emitDuration(void *o, const char *key, int64_t us)
{
    kvDuration(o, key, us);
}
static void emitInstant(void *o, const char *key, int64_t us)
{
    kvTime(o, key, us);
}

/* The one way a job is shown (core/jobyaml.h), onto aligned lines or JSON. */
static const struct rc_jobemit emitter = {
    .str = emitStr,
    .bytes = kvBytes,
    .uint = emitUint,
    .boolean = emitBool,
    .real = kvReal,
    .duration = emitDuration,
    .instant = emitInstant,
    .map = kvMap,
    .codes = kvCodes,
};

/* job get's "next": the first instant of a Job.Next reply in the job's zone, or none. */
static void emitNext(struct out *o, const Raftcron__JobNextResponse *next)
{
    char buf[RC_TIMEFMT_MAX];
    if (next->n_instants_us == 0) {
        if (o->json) {
            printJsonNull(&o->j, "next");
        } else {
            kvStr(o, "next", "-");
        }
        return;
    }
    timefmtFormat(next->instants_us[0], next->n_offsets_s > 0 ? next->offsets_s[0] : 0, buf);
    kvStr(o, "next", buf);
}

/* The job's fields: the keys of a definition, then the state the cluster keeps. key: the JSON
 * key of the object (NULL in an array or alone). */
static void emitJob(struct out *o, const char *key, const Raftcron__Job *job,
                    const Raftcron__JobNextResponse *next)
{
    if (o->json) {
        printJsonOpen(&o->j, key, '{');
    }
    jobyamlEmitJob(job, &emitter, o);
    if (next != NULL) {
        emitNext(o, next);
    }
    if (o->json) {
        printJsonClose(&o->j);
    }
}

static void printJob(const struct ctl_global *g, const Raftcron__Job *job,
                     const Raftcron__JobNextResponse *next)
{
    struct out o = {.json = g->output == CTL_OUTPUT_JSON};
    printJsonInit(&o.j, stdout);
    emitJob(&o, NULL, job, next);
}

/* "cron 0 3 * * * Europe/Berlin", "every 5m", "at 2030-01-01T00:00:00Z" */
static void scheduleOf(const Raftcron__Trigger *t, char *buf, size_t len)
{
    char tmp[RC_TIMEFMT_MAX > RC_DURATION_MAX ? RC_TIMEFMT_MAX : RC_DURATION_MAX];
    if (t == NULL) {
        snprintf(buf, len, "-");
    } else if (t->kind_case == RAFTCRON__TRIGGER__KIND_CRON) {
        snprintf(buf, len, "cron %s %s", t->cron, t->tz[0] != '\0' ? t->tz : "UTC");
    } else if (t->kind_case == RAFTCRON__TRIGGER__KIND_INTERVAL_US) {
        durationFormat(t->interval_us, tmp);
        snprintf(buf, len, "every %s", tmp);
    } else {
        timefmtFormat(t->at_us, 0, tmp);
        snprintf(buf, len, "at %s", tmp);
    }
}

static const char *executorOf(const Raftcron__JobSpec *s)
{
    switch (s->executor != NULL ? s->executor->kind_case : RAFTCRON__EXECUTOR__KIND__NOT_SET) {
    case RAFTCRON__EXECUTOR__KIND_SHELL:
        return "shell";
    case RAFTCRON__EXECUTOR__KIND_HTTP:
        return "http";
    case RAFTCRON__EXECUTOR__KIND_SQL:
        return "sql";
    case RAFTCRON__EXECUTOR__KIND_NOOP:
        return "noop";
    default:
        return "-";
    }
}

static void printList(const struct ctl_global *g, const Raftcron__JobListResponse *l)
{
    if (g->output == CTL_OUTPUT_JSON) {
        struct out o = {.json = true};
        printJsonInit(&o.j, stdout);
        printJsonOpen(&o.j, NULL, '{');
        printJsonOpen(&o.j, "jobs", '[');
        for (size_t i = 0; i < l->n_jobs; i++) {
            emitJob(&o, NULL, l->jobs[i], NULL);
        }
        printJsonClose(&o.j);
        printJsonClose(&o.j);
        return;
    }
    struct print_table t;
    printTableInit(&t, 8);
    printTableRow(&t, "NAMESPACE", "NAME", "VERSION", "STATE", "EXECUTOR", "RUNS", "FAILED",
                  "SCHEDULE");
    for (size_t i = 0; i < l->n_jobs; i++) {
        const Raftcron__Job *job = l->jobs[i];
        const Raftcron__JobSpec *s = job->spec;
        char version[24], runs[24], failed[24], sched[512];
        snprintf(version, sizeof version, "%" PRIu64, job->version);
        snprintf(runs, sizeof runs, "%" PRIu64, job->runs_total);
        snprintf(failed, sizeof failed, "%" PRIu64, job->runs_failed);
        scheduleOf(s != NULL ? s->trigger : NULL, sched, sizeof sched);
        printTableRow(&t, s != NULL ? s->namespace_ : "-", s != NULL ? s->name : "-", version,
                      job->paused ? "paused" : "active", s != NULL ? executorOf(s) : "-", runs,
                      failed, sched);
    }
    printTableFlush(&t, stdout);
}

/* ---- Arguments ------------------------------------------------------------------------------- */

struct job_args {
    const char *cmd;
    const char *name; /* positional NAME */
    const char *ns;   /* --namespace, or the NS of NS/NAME */
    char ns_buf[80];
    uint64_t if_version; /* --if-version */
    int stale;
    const char *file; /* apply -f */
    int prune;
    int dry_run;
    uint32_t count;  /* next -n */
    uint32_t limit;  /* decisions --limit, backfill --limit */
    int64_t from_us; /* backfill --from */
    int64_t to_us;   /* backfill --to */
    bool from_set;
    bool to_set;
    struct rc_jobdraft *draft; /* add/update */
};

static int parseVersion(const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || v == 0) {
        return ctlUsageError("--if-version: \"%s\" is not a version (a whole number > 0)", text);
    }
    *out = v;
    return 0;
}

/* NS/NAME names the namespace too. */
static int splitName(struct job_args *a, const char *arg)
{
    const char *slash = strchr(arg, '/');
    a->name = arg;
    if (slash == NULL) {
        return 0;
    }
    size_t len = (size_t)(slash - arg);
    if (a->ns != NULL || len == 0 || len >= sizeof a->ns_buf) {
        return ctlUsageError("job %s: \"%s\": give the namespace once, as NS/NAME or --namespace",
                             a->cmd, arg);
    }
    memcpy(a->ns_buf, arg, len);
    a->ns_buf[len] = '\0';
    a->ns = a->ns_buf;
    a->name = slash + 1;
    return 0;
}

/* The long options of a command: for add/update one per definition key (dashes for
 * underscores), plus the command's own. names holds the converted key names. */
static void buildOptions(const char *cmd, struct option *opts, char (*names)[32])
{
    bool define = strcmp(cmd, "add") == 0 || strcmp(cmd, "update") == 0;
    size_t n = 0;
    for (size_t i = 1; define && jobyamlKey(i) != NULL && n < MAX_FLAGS; i++) {
        const struct rc_jobkey *k = jobyamlKey(i);
        snprintf(names[n], sizeof names[n], "%s", k->name);
        for (char *p = names[n]; *p != '\0'; p++) {
            *p = *p == '_' ? '-' : *p;
        }
        opts[n] = (struct option){names[n], k->metavar ? required_argument : no_argument, NULL,
                                  FLAG_KEY_BASE + (int)i};
        n++;
    }
    static const struct {
        const char *cmds; /* the commands taking the option, ",cmd," style */
        struct option opt;
    } own[] = {
        {",add,update,", {"no-coalesce", no_argument, NULL, OPT_NO_COALESCE}},
        {",update,delete,", {"if-version", required_argument, NULL, OPT_IF_VERSION}},
        {",get,list,delete,pause,resume,next,decisions,backfill,stats,",
         {"namespace", required_argument, NULL, OPT_NAMESPACE}},
        {",get,list,next,decisions,stats,", {"stale", no_argument, NULL, OPT_STALE}},
        {",next,", {"count", required_argument, NULL, 'n'}},
        {",decisions,backfill,list,", {"limit", required_argument, NULL, OPT_LIMIT}},
        {",apply,", {"file", required_argument, NULL, 'f'}},
        {",apply,", {"prune", no_argument, NULL, OPT_PRUNE}},
        {",apply,backfill,", {"dry-run", no_argument, NULL, OPT_DRY_RUN}},
        {",add,update,", {"body-file", required_argument, NULL, OPT_BODY_FILE}},
        {",backfill,", {"from", required_argument, NULL, OPT_FROM}},
        {",backfill,", {"to", required_argument, NULL, OPT_TO}},
    };
    char key[24];
    snprintf(key, sizeof key, ",%s,", cmd);
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        if (strstr(own[i].cmds, key) != NULL) {
            opts[n++] = own[i].opt;
        }
    }
    opts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    opts[n] = (struct option){NULL, 0, NULL, 0};
}

static int setKey(struct job_args *a, const char *key, const char *value)
{
    char err[RC_ERRMSG_SIZE];
    if (jobyamlSet(a->draft, key, value, 0, err, sizeof err) != 0) {
        return ctlUsageError("job %s: %s", a->cmd, err);
    }
    return 0;
}

/* --body-file F: the request body from a file ("-": standard input), at most the body limit of
 * executor specs, text without NUL bytes. */
static int setBodyFile(struct job_args *a, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (f == NULL) {
        return ctlUsageError("job %s: --body-file %s: %s", a->cmd, path, strerror(errno));
    }
    char *buf = malloc(RC_EXECSPEC_BODY_MAX + 2);
    size_t n = buf != NULL ? fread(buf, 1, RC_EXECSPEC_BODY_MAX + 1, f) : 0;
    bool bad = buf == NULL || ferror(f);
    if (f != stdin) {
        fclose(f);
    }
    int rv;
    if (bad || n > RC_EXECSPEC_BODY_MAX || (buf != NULL && memchr(buf, '\0', n) != NULL)) {
        rv = ctlUsageError("job %s: --body-file %s: %s", a->cmd, path,
                           bad                        ? "cannot be read"
                           : n > RC_EXECSPEC_BODY_MAX ? "larger than 256 KiB"
                                                      : "contains a NUL byte");
    } else {
        buf[n] = '\0';
        rv = setKey(a, "body", buf);
    }
    free(buf);
    return rv;
}

/* -n and --limit: 1..1000, as Job.Next and Decision.List take them. */
static int parseCount(const char *what, const char *text, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || v == 0 || v > 1000) {
        return ctlUsageError("%s: \"%s\" is not a whole number in 1..1000", what, text);
    }
    *out = (uint32_t)v;
    return 0;
}

/* job list --limit: any number of jobs, fetched page by page. */
static int parseListLimit(const char *text, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || v == 0 || v > 1000000000) {
        return ctlUsageError("--limit: \"%s\" is not a whole number in 1..1000000000", text);
    }
    *out = (uint32_t)v;
    return 0;
}

/* --from and --to: RFC 3339, each given once. */
static int parseInstant(const char *what, const char *text, int64_t *out, bool *set)
{
    char err[RC_ERRMSG_SIZE];
    if (*set) {
        return ctlUsageError("job backfill: %s: given twice", what);
    }
    if (timefmtParse(text, out, err, sizeof err) != 0) {
        return ctlUsageError("job backfill: %s: %s", what, err);
    }
    *set = true;
    return 0;
}

static int onOption(struct job_args *a, int c, const char *arg)
{
    switch (c) {
    case OPT_FROM:
        return parseInstant("--from", arg, &a->from_us, &a->from_set);
    case OPT_TO:
        return parseInstant("--to", arg, &a->to_us, &a->to_set);
    case 'n':
        return parseCount("-n", arg, &a->count);
    case OPT_LIMIT:
        if (strcmp(a->cmd, "list") == 0) {
            return parseListLimit(arg, &a->limit);
        }
        return parseCount("--limit", arg, &a->limit);
    case OPT_NO_COALESCE:
        return setKey(a, "coalesce", "false");
    case OPT_IF_VERSION:
        return parseVersion(arg, &a->if_version);
    case OPT_NAMESPACE:
        a->ns = arg;
        return 0;
    case OPT_STALE:
        a->stale = 1;
        return 0;
    case 'f':
        a->file = arg;
        return 0;
    case OPT_PRUNE:
        a->prune = 1;
        return 0;
    case OPT_DRY_RUN:
        a->dry_run = 1;
        return 0;
    case OPT_BODY_FILE:
        return setBodyFile(a, arg);
    default:
        return setKey(a, jobyamlKey((size_t)(c - FLAG_KEY_BASE))->name, arg);
    }
}

/* Returns 0, CTL_USAGE, or -1 after printing help. */
static int parseArgs(int argc, char **argv, struct job_args *a)
{
    struct option opts[MAX_FLAGS + 16];
    char names[MAX_FLAGS][32];
    buildOptions(a->cmd, opts, names);
    int c;
    optind = 0;
    opterr = 0;
    const char *shorts = strcmp(a->cmd, "apply") == 0  ? "f:h"
                         : strcmp(a->cmd, "next") == 0 ? "n:h"
                                                       : "h";
    while ((c = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return -1;
        }
        int rv = c == '?' || c == ':' ? ctlUsageError("job %s: unknown or incomplete option \"%s\"",
                                                      a->cmd, argv[optind - 1])
                                      : onOption(a, c, optarg);
        if (rv != 0) {
            return rv;
        }
    }
    bool named = strcmp(a->cmd, "list") != 0 && strcmp(a->cmd, "apply") != 0;
    if (argc - optind != (named ? 1 : 0)) {
        return ctlUsageError("job %s: expected %s, got %d argument%s", a->cmd,
                             named ? "one NAME" : "no argument", argc - optind,
                             argc - optind == 1 ? "" : "s");
    }
    if (strcmp(a->cmd, "apply") == 0 && a->file == NULL) {
        return ctlUsageError("job apply: -f FILE.yaml is required");
    }
    if (strcmp(a->cmd, "backfill") == 0 && !(a->from_set && a->to_set)) {
        return ctlUsageError("job backfill: --from and --to are required");
    }
    if (strcmp(a->cmd, "backfill") == 0 && a->from_us > a->to_us) {
        return ctlUsageError("job backfill: --from is after --to");
    }
    return named ? splitName(a, argv[optind]) : 0;
}

/* Build the definition of add/update from the flags. */
static int buildDef(struct job_args *a, struct rc_jobdef *def)
{
    char err[RC_ERRMSG_SIZE];
    int rv = a->ns != NULL ? setKey(a, "namespace", a->ns) : 0;
    if (rv == 0) {
        rv = setKey(a, "name", a->name);
    }
    if (rv == 0 && jobyamlBuild(a->draft, NULL, def, err, sizeof err) != 0) {
        rv = ctlUsageError("job %s: %s", a->cmd, err);
    }
    return rv;
}

/* ---- Calls ----------------------------------------------------------------------------------- */

/* Job.Put with what rc_job_put does not carry: the paused flag, and the reply's changed/created. */
static int putJob(struct rc_client *c, const struct rc_jobdef *def, uint64_t expected_version,
                  bool create_only, Raftcron__JobPutResponse **out)
{
    Raftcron__JobPutRequest req = RAFTCRON__JOB_PUT_REQUEST__INIT;
    req.spec = def->spec;
    req.expected_version = expected_version;
    req.create_only = create_only;
    req.paused = def->paused;
    size_t len = raftcron__job_put_request__get_packed_size(&req);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL) {
        return RC_ENOMEM;
    }
    raftcron__job_put_request__pack(&req, buf);
    void *rbuf;
    size_t rlen;
    int rv =
        rc_client_call(c, "Job.Put", buf, len, &rbuf, &rlen, expected_version != 0 || create_only);
    free(buf);
    if (rv != 0) {
        return rv;
    }
    *out = raftcron__job_put_response__unpack(NULL, rlen, rbuf);
    free(rbuf);
    return *out != NULL && (*out)->job != NULL ? 0 : RC_EPARSE;
}

static const char *keyOf(const Raftcron__JobSpec *s, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", s->namespace_[0] != '\0' ? s->namespace_ : "default", s->name);
    return buf;
}

static void printPut(const struct ctl_global *g, const char *result,
                     const Raftcron__JobPutResponse *r)
{
    char key[256];
    if (g->output != CTL_OUTPUT_JSON) {
        printf("%s %s version %" PRIu64 "\n", result, keyOf(r->job->spec, key, sizeof key),
               r->job->version);
        return;
    }
    struct out o = {.json = true};
    printJsonInit(&o.j, stdout);
    printJsonOpen(&o.j, NULL, '{');
    printJsonStr(&o.j, "result", result);
    emitJob(&o, "job", r->job, NULL);
    printJsonClose(&o.j);
}

static int addJob(const struct ctl_global *g, struct rc_client *c, const struct rc_jobdef *def)
{
    Raftcron__JobPutResponse *r;
    int rv = putJob(c, def, 0, true, &r);
    if (rv != 0) {
        return ctlCallFailed(c, rv, "job add");
    }
    printPut(g, "created", r);
    rc_message_free(r);
    return CTL_OK;
}

/* Pause or resume job when paused says otherwise; *changed tells whether it did. */
static int settlePaused(struct rc_client *c, const Raftcron__JobSpec *s, bool paused, bool current,
                        bool *changed)
{
    *changed = paused != current;
    if (!*changed) {
        return 0;
    }
    return paused ? rc_job_pause(c, s->namespace_, s->name, NULL)
                  : rc_job_resume(c, s->namespace_, s->name, NULL);
}

static int updateJob(const struct ctl_global *g, struct rc_client *c, const struct job_args *a,
                     const struct rc_jobdef *def)
{
    uint64_t expected = a->if_version;
    bool was_paused = false;
    if (expected == 0 || def->paused_set) {
        Raftcron__Job *cur;
        int rv = rc_job_get(c, def->spec->namespace_, def->spec->name, 0, &cur);
        if (rv != 0) {
            return ctlCallFailed(c, rv, "job update");
        }
        expected = expected != 0 ? expected : cur->version;
        was_paused = cur->paused;
        rc_message_free(cur);
    }
    Raftcron__JobPutResponse *r;
    int rv = putJob(c, def, expected, false, &r);
    if (rv != 0) {
        return ctlCallFailed(c, rv, "job update");
    }
    bool paused_changed = false;
    rv = def->paused_set ? settlePaused(c, def->spec, def->paused, was_paused, &paused_changed) : 0;
    if (rv == 0) {
        printPut(g, r->changed || paused_changed ? "updated" : "unchanged", r);
    }
    rc_message_free(r);
    return rv != 0 ? ctlCallFailed(c, rv, "job update: pause") : CTL_OK;
}

static int define(const struct ctl_global *g, struct rc_client *c, struct job_args *a)
{
    struct rc_jobdef def;
    int rv = buildDef(a, &def);
    if (rv != 0) {
        return rv;
    }
    if (strcmp(a->cmd, "update") == 0) {
        rv = updateJob(g, c, a, &def);
    } else {
        rv = addJob(g, c, &def);
    }
    jobyamlDefClear(&def);
    return rv;
}

static int showJob(const struct ctl_global *g, struct rc_client *c, const struct job_args *a)
{
    Raftcron__Job *job = NULL;
    int rv;
    char what[160];
    snprintf(what, sizeof what, "job %s %s", a->cmd, a->name);
    if (strcmp(a->cmd, "get") == 0) {
        rv = rc_job_get(c, a->ns, a->name, a->stale, &job);
    } else if (strcmp(a->cmd, "pause") == 0) {
        rv = rc_job_pause(c, a->ns, a->name, &job);
    } else {
        rv = rc_job_resume(c, a->ns, a->name, &job);
    }
    if (rv != 0) {
        return ctlCallFailed(c, rv, what);
    }
    if (strcmp(a->cmd, "get") == 0) {
        /* The preview is a convenience: a node without Job.Next still shows the job. */
        Raftcron__JobNextResponse *next = NULL;
        rc_job_next(c, a->ns, a->name, 1, a->stale, &next);
        printJob(g, job, next);
        rc_message_free(next);
    } else if (g->output == CTL_OUTPUT_JSON) {
        printJob(g, job, NULL);
    } else {
        char key[256];
        printf("%s %s version %" PRIu64 "\n", job->paused ? "paused" : "resumed",
               keyOf(job->spec, key, sizeof key), job->version);
    }
    rc_message_free(job);
    return CTL_OK;
}

static int showNext(const struct ctl_global *g, struct rc_client *c, const struct job_args *a)
{
    char what[160];
    snprintf(what, sizeof what, "job next %s", a->name);
    Raftcron__JobNextResponse *r;
    int rv = rc_job_next(c, a->ns, a->name, a->count, a->stale, &r);
    if (rv != 0) {
        return ctlCallFailed(c, rv, what);
    }
    struct print_json j;
    bool json = g->output == CTL_OUTPUT_JSON;
    if (json) {
        printJsonInit(&j, stdout);
        printJsonOpen(&j, NULL, '{');
        printJsonStr(&j, "tz", r->tz);
        printJsonOpen(&j, "instants", '[');
    }
    for (size_t i = 0; i < r->n_instants_us; i++) {
        char buf[RC_TIMEFMT_MAX];
        timefmtFormat(r->instants_us[i], i < r->n_offsets_s ? r->offsets_s[i] : 0, buf);
        if (json) {
            printJsonStr(&j, NULL, buf);
        } else {
            puts(buf);
        }
    }
    if (json) {
        printJsonClose(&j);
        printJsonClose(&j);
    } else if (r->n_instants_us == 0) {
        puts("(no further instant)");
    }
    rc_message_free(r);
    return CTL_OK;
}

static void emitDecisionJson(struct print_json *j, const Raftcron__Decision *d)
{
    printJsonOpen(j, NULL, '{');
    printJsonUint(j, "id", d->id);
    printJsonStr(j, "job", d->job);
    printJsonStr(j, "decision", policyDecisionName((enum rc_decision)d->decision));
    printJsonStr(j, "reason", policyReasonText((enum rc_reason)d->reason));
    printJsonTime(j, "first", d->first_us);
    printJsonTime(j, "last", d->last_us);
    printJsonUint(j, "count", d->count);
    printJsonUint(j, "run_id", d->run_id);
    printJsonTime(j, "decided_at", d->decided_us);
    printJsonBool(j, "manual", d->manual);
    printJsonBool(j, "backfill", d->backfill);
    printJsonClose(j);
}

/* The REASON column: the policy's reason, or who asked for the record (a backfill's skipped
 * instants keep the policy's reason too). */
static const char *decisionReason(const Raftcron__Decision *d, char *buf, size_t len)
{
    const char *why = policyReasonText((enum rc_reason)d->reason);
    if (d->backfill) {
        bool fired = d->decision == RC_DECISION_FIRED;
        snprintf(buf, len, "backfill%s%s", fired ? "" : ": ", fired ? "" : why);
        return buf;
    }
    return d->manual ? "manual" : why;
}

static void printDecisions(const struct ctl_global *g, const Raftcron__DecisionListResponse *l)
{
    if (g->output == CTL_OUTPUT_JSON) {
        struct print_json j;
        printJsonInit(&j, stdout);
        printJsonOpen(&j, NULL, '{');
        printJsonOpen(&j, "decisions", '[');
        for (size_t i = 0; i < l->n_decisions; i++) {
            emitDecisionJson(&j, l->decisions[i]);
        }
        printJsonClose(&j);
        printJsonClose(&j);
        return;
    }
    struct print_table t;
    printTableInit(&t, 8);
    printTableRow(&t, "ID", "DECISION", "FIRST", "LAST", "COUNT", "RUN", "DECIDED", "REASON");
    for (size_t i = 0; i < l->n_decisions; i++) {
        const Raftcron__Decision *d = l->decisions[i];
        char id[24], count[24], run[24], reason[160];
        char first[RC_TIMEFMT_MAX], last[RC_TIMEFMT_MAX], decided[RC_TIMEFMT_MAX];
        snprintf(id, sizeof id, "%" PRIu64, d->id);
        snprintf(count, sizeof count, "%" PRIu64, d->count);
        snprintf(run, sizeof run, "%" PRIu64, d->run_id);
        timefmtFormat(d->first_us, 0, first);
        timefmtFormat(d->last_us, 0, last);
        timefmtFormat(d->decided_us, 0, decided);
        printTableRow(&t, id, policyDecisionName((enum rc_decision)d->decision), first, last, count,
                      d->run_id != 0 ? run : "-", decided,
                      decisionReason(d, reason, sizeof reason));
    }
    printTableFlush(&t, stdout);
}

static int listDecisions(const struct ctl_global *g, struct rc_client *c, const struct job_args *a)
{
    char what[160];
    snprintf(what, sizeof what, "job decisions %s", a->name);
    Raftcron__DecisionListResponse *l;
    int rv = rc_decision_list(c, a->ns, a->name, a->limit, a->stale, &l);
    if (rv != 0) {
        return ctlCallFailed(c, rv, what);
    }
    printDecisions(g, l);
    rc_message_free(l);
    return CTL_OK;
}

/* Every job, or with --limit the first N in key order, page after page. */
static int listJobs(const struct ctl_global *g, struct rc_client *c, const struct job_args *a)
{
    Raftcron__JobListResponse *l;
    if (a->limit == 0) {
        int rv = rc_job_list(c, a->ns, a->stale, &l);
        if (rv != 0) {
            return ctlCallFailed(c, rv, "job list");
        }
        printList(g, l);
        rc_message_free(l);
        return CTL_OK;
    }
    Raftcron__JobListResponse **pages = NULL;
    Raftcron__Job **jobs = NULL;
    size_t n_pages = 0, n_jobs = 0;
    char token[RC_RUNVIEW_TOKEN_MAX] = "";
    int rv = 0;
    while (n_jobs < a->limit) {
        uint32_t want = a->limit - (uint32_t)n_jobs < 1000 ? a->limit - (uint32_t)n_jobs : 1000;
        rv = rc_job_list_page(c, a->ns, want, token, a->stale, &l);
        if (rv != 0) {
            break;
        }
        void *p = realloc(pages, (n_pages + 1) * sizeof *pages);
        void *j = p != NULL ? realloc(jobs, (n_jobs + l->n_jobs + 1) * sizeof *jobs) : NULL;
        pages = p != NULL ? p : pages;
        if (j == NULL) {
            rc_message_free(l);
            rv = RC_ENOMEM;
            break;
        }
        jobs = j;
        pages[n_pages++] = l;
        if (l->n_jobs > 0) {
            memcpy(jobs + n_jobs, l->jobs, l->n_jobs * sizeof *jobs);
        }
        n_jobs += l->n_jobs;
        snprintf(token, sizeof token, "%s", l->next_page_token);
        if (!l->more || l->n_jobs == 0) {
            break;
        }
    }
    if (rv == 0) {
        Raftcron__JobListResponse all = RAFTCRON__JOB_LIST_RESPONSE__INIT;
        all.jobs = jobs;
        all.n_jobs = n_jobs;
        printList(g, &all);
    }
    for (size_t i = 0; i < n_pages; i++) {
        rc_message_free(pages[i]);
    }
    free(pages);
    free(jobs);
    return rv == 0           ? CTL_OK
           : rv == RC_ENOMEM ? ctlFail("job list: out of memory")
                             : ctlCallFailed(c, rv, "job list");
}

/* The JSON of Job.Stats (core/ledgerjson.h, the REST API's) as it is, or as aligned lines:
 * nested objects as "last_run.state", lists joined by blanks. */
static void printStatsLines(const char *prefix, json_t *o)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        char name[64];
        snprintf(name, sizeof name, "%s%s", prefix, key);
        if (json_is_object(v)) {
            char sub[72];
            snprintf(sub, sizeof sub, "%s.", name);
            printStatsLines(sub, v);
            continue;
        }
        char buf[1024] = "";
        if (json_is_array(v)) {
            size_t i, n = 0;
            json_t *x;
            json_array_foreach(v, i, x)
            {
                n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", i > 0 ? " " : "",
                                      json_string_value(x) != NULL ? json_string_value(x) : "");
                if (n >= sizeof buf) {
                    break;
                }
            }
        } else if (json_is_string(v)) {
            snprintf(buf, sizeof buf, "%s", json_string_value(v));
        } else if (json_is_integer(v)) {
            snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        } else if (json_is_boolean(v)) {
            snprintf(buf, sizeof buf, "%s", json_is_true(v) ? "true" : "false");
        }
        printKeyLine(stdout, name, 26, buf, strlen(buf));
    }
}

static int showStats(const struct ctl_global *g, struct rc_client *c, const struct job_args *a)
{
    Raftcron__JobStatsResponse *st;
    char what[160];
    snprintf(what, sizeof what, "job stats %s", a->name);
    int rv = rc_job_stats(c, a->ns, a->name, a->stale, &st);
    if (rv != 0) {
        return ctlCallFailed(c, rv, what);
    }
    json_t *doc = ledgerjsonStats(st);
    rc_message_free(st);
    if (doc == NULL) {
        return ctlFail("%s: out of memory", what);
    }
    if (g->output == CTL_OUTPUT_JSON) {
        json_dumpf(doc, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
        fputc('\n', stdout);
    } else {
        printStatsLines("", doc);
    }
    json_decref(doc);
    return CTL_OK;
}

static int deleteJob(const struct ctl_global *g, struct rc_client *c, const struct job_args *a)
{
    char what[160];
    snprintf(what, sizeof what, "job delete %s", a->name);
    int rv = rc_job_delete(c, a->ns, a->name, a->if_version);
    if (rv != 0) {
        return ctlCallFailed(c, rv, what);
    }
    const char *ns = a->ns != NULL && a->ns[0] != '\0' ? a->ns : "default";
    if (g->output == CTL_OUTPUT_JSON) {
        struct print_json j;
        printJsonInit(&j, stdout);
        printJsonOpen(&j, NULL, '{');
        printJsonStr(&j, "result", "deleted");
        printJsonStr(&j, "namespace", ns);
        printJsonStr(&j, "name", a->name);
        printJsonClose(&j);
    } else {
        printf("deleted %s/%s\n", ns, a->name);
    }
    return CTL_OK;
}

/* ---- backfill -------------------------------------------------------------------------------- */

/* Why an instant is not fired, or how it is: the table's REASON column. */
static void backfillReason(const Raftcron__BackfillInstant *x, int64_t floor_us, char *buf,
                           size_t len)
{
    char at[RC_TIMEFMT_MAX];
    switch ((enum rc_backfill_outcome)x->outcome) {
    case RC_BACKFILL_FIRED:
        snprintf(buf, len, "%s",
                 x->cancel_active ? "replaces the active runs"
                 : x->queued      ? "queued behind the active run"
                                  : "-");
        break;
    case RC_BACKFILL_SKIPPED:
        snprintf(buf, len, "%s", policyReasonText((enum rc_reason)x->reason));
        break;
    case RC_BACKFILL_DECIDED:
        snprintf(buf, len, "already %s (decision %" PRIu64 ")",
                 policyDecisionName((enum rc_decision)x->decision), x->decision_id);
        break;
    case RC_BACKFILL_DROPPED:
        timefmtFormat(floor_us, 0, at);
        snprintf(buf, len, "history up to %s dropped by retention", at);
        break;
    case RC_BACKFILL_SCHEDULED:
        snprintf(buf, len, "after the cursor: the scheduler decides it");
        break;
    default:
        snprintf(buf, len, "-");
        break;
    }
}

static void emitBackfillJson(const Raftcron__BackfillResponse *r, const char *key)
{
    struct print_json j;
    printJsonInit(&j, stdout);
    printJsonOpen(&j, NULL, '{');
    printJsonStr(&j, "job", key);
    printJsonBool(&j, "dry_run", r->dry_run);
    printJsonUint(&j, "runs_created", r->runs_created);
    printJsonOpen(&j, "instants", '[');
    for (size_t i = 0; i < r->n_instants; i++) {
        const Raftcron__BackfillInstant *x = r->instants[i];
        char reason[160];
        backfillReason(x, r->history_floor_us, reason, sizeof reason);
        printJsonOpen(&j, NULL, '{');
        printJsonTime(&j, "at", x->at_us);
        printJsonStr(&j, "result", backfillOutcomeName((enum rc_backfill_outcome)x->outcome));
        if (x->run_id != 0) {
            printJsonUint(&j, "run_id", x->run_id);
        } else {
            printJsonNull(&j, "run_id");
        }
        printJsonStr(&j, "reason", strcmp(reason, "-") == 0 ? "" : reason);
        printJsonClose(&j);
    }
    printJsonClose(&j);
    printJsonClose(&j);
}

static void printBackfill(const struct ctl_global *g, const Raftcron__BackfillResponse *r,
                          const char *key)
{
    if (g->output == CTL_OUTPUT_JSON) {
        emitBackfillJson(r, key);
        return;
    }
    size_t n[RC_BACKFILL_SCHEDULED + 1] = {0};
    for (size_t i = 0; i < r->n_instants; i++) {
        n[r->instants[i]->outcome <= RC_BACKFILL_SCHEDULED ? r->instants[i]->outcome : 0]++;
    }
    char created[48];
    snprintf(created, sizeof created, "%u run%s created", r->runs_created,
             r->runs_created == 1 ? "" : "s");
    printf("backfill %s: %zu instant%s: %zu fired, %zu skipped, %zu decided, %zu dropped, "
           "%zu scheduled; %s\n",
           key, r->n_instants, r->n_instants == 1 ? "" : "s", n[RC_BACKFILL_FIRED],
           n[RC_BACKFILL_SKIPPED], n[RC_BACKFILL_DECIDED], n[RC_BACKFILL_DROPPED],
           n[RC_BACKFILL_SCHEDULED], r->dry_run ? "dry run: nothing created" : created);
    if (r->n_instants == 0) {
        return;
    }
    struct print_table t;
    printTableInit(&t, 4);
    printTableRow(&t, "INSTANT", "RESULT", "RUN", "REASON");
    for (size_t i = 0; i < r->n_instants; i++) {
        const Raftcron__BackfillInstant *x = r->instants[i];
        char at[RC_TIMEFMT_MAX], run[24], reason[160];
        timefmtFormat(x->at_us, 0, at);
        snprintf(run, sizeof run, "%" PRIu64, x->run_id);
        backfillReason(x, r->history_floor_us, reason, sizeof reason);
        printTableRow(&t, at, backfillOutcomeName((enum rc_backfill_outcome)x->outcome),
                      x->run_id != 0 ? run : "-", reason);
    }
    printf("\n");
    printTableFlush(&t, stdout);
}

static int backfillJob(const struct ctl_global *g, struct rc_client *c, const struct job_args *a)
{
    char what[160];
    snprintf(what, sizeof what, "job backfill %s", a->name);
    Raftcron__BackfillResponse *r;
    int rv = rc_job_backfill(c, a->ns, a->name, a->from_us, a->to_us, a->limit, a->dry_run, &r);
    if (rv != 0) {
        return ctlCallFailed(c, rv, what);
    }
    char key[256];
    snprintf(key, sizeof key, "%s/%s", a->ns != NULL && a->ns[0] != '\0' ? a->ns : "default",
             a->name);
    printBackfill(g, r, key);
    rc_message_free(r);
    return CTL_OK;
}

/* ---- apply ----------------------------------------------------------------------------------- */

struct apply {
    const struct ctl_global *g;
    struct rc_client *c;
    const struct job_args *a;
    struct rc_jobfile file;
    Raftcron__JobListResponse *stored;
    struct print_json j;      /* -o json: {"dry_run", "jobs": [{"namespace", "name", "result"}]} */
    struct progress progress; /* jobs handled, on a terminal */
    uint64_t handled;
};

static void report(struct apply *ap, const char *result, const Raftcron__JobSpec *s)
{
    progressClear(&ap->progress);
    if (ap->g->output == CTL_OUTPUT_JSON) {
        printJsonOpen(&ap->j, NULL, '{');
        printJsonStr(&ap->j, "namespace", s->namespace_);
        printJsonStr(&ap->j, "name", s->name);
        printJsonStr(&ap->j, "result", result);
        printJsonClose(&ap->j);
    } else {
        char key[256];
        printf("%s %s%s\n", result, keyOf(s, key, sizeof key), ap->a->dry_run ? " (dry run)" : "");
    }
    fflush(stdout);
    progressUpdate(&ap->progress, ++ap->handled);
}

static Raftcron__Job *findStored(const struct apply *ap, const Raftcron__JobSpec *s)
{
    for (size_t i = 0; i < ap->stored->n_jobs; i++) {
        const Raftcron__JobSpec *o = ap->stored->jobs[i]->spec;
        if (o != NULL && strcmp(o->namespace_, s->namespace_) == 0 &&
            strcmp(o->name, s->name) == 0) {
            return ap->stored->jobs[i];
        }
    }
    return NULL;
}

/* --prune deletes a stored job of one of the file's namespaces that the file does not list;
 * jobs of other namespaces are not the file's business. */
static bool pruned(const struct apply *ap, const Raftcron__JobSpec *s)
{
    bool ns_listed = false;
    for (size_t i = 0; i < ap->file.n_namespaces; i++) {
        ns_listed |= strcmp(ap->file.namespaces[i], s->namespace_) == 0;
    }
    for (size_t i = 0; i < ap->file.n_jobs && ns_listed; i++) {
        const Raftcron__JobSpec *f = ap->file.jobs[i].spec;
        if (strcmp(f->namespace_, s->namespace_) == 0 && strcmp(f->name, s->name) == 0) {
            return false;
        }
    }
    return ns_listed;
}

/* Bring one stored job (or none) to the file's definition. */
static int applyOne(struct apply *ap, const struct rc_jobdef *def)
{
    Raftcron__Job *cur = findStored(ap, def->spec);
    Raftcron__JobPutResponse *r = NULL;
    int rv = 0;
    if (cur == NULL) {
        rv = ap->a->dry_run ? 0 : putJob(ap->c, def, 0, true, &r);
        if (rv == 0) {
            report(ap, "created", def->spec);
        }
        rc_message_free(r);
        return rv;
    }
    bool same = jobyamlSpecEqual(def->spec, cur->spec);
    bool pause = def->paused_set && def->paused != cur->paused;
    bool put_changed = !same;
    if (!same && !ap->a->dry_run) {
        rv = putJob(ap->c, def, cur->version, false, &r);
        put_changed = rv == 0 && r->changed;
    }
    bool paused_changed = pause;
    if (rv == 0 && pause && !ap->a->dry_run) {
        rv = settlePaused(ap->c, def->spec, def->paused, cur->paused, &paused_changed);
    }
    if (rv == 0) {
        report(ap, put_changed || paused_changed ? "updated" : "unchanged", def->spec);
    }
    rc_message_free(r);
    return rv;
}

static int prune(struct apply *ap)
{
    for (size_t i = 0; i < ap->stored->n_jobs; i++) {
        const Raftcron__Job *job = ap->stored->jobs[i];
        if (job->spec == NULL || !pruned(ap, job->spec)) {
            continue;
        }
        int rv = ap->a->dry_run
                     ? 0
                     : rc_job_delete(ap->c, job->spec->namespace_, job->spec->name, job->version);
        if (rv != 0) {
            return rv;
        }
        report(ap, "deleted", job->spec);
    }
    return 0;
}

static int readFile(const char *path, char **out, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (f == NULL) {
        return ctlUsageError("job apply: %s: %s", path, strerror(errno));
    }
    char *buf = malloc(FILE_MAX + 1);
    size_t n = buf != NULL ? fread(buf, 1, FILE_MAX + 1, f) : 0;
    bool bad = buf == NULL || ferror(f) || n > FILE_MAX;
    if (f != stdin) {
        fclose(f);
    }
    if (bad) {
        free(buf);
        return ctlUsageError("job apply: %s: %s", path,
                             n > FILE_MAX ? "larger than 64 MiB" : "cannot be read");
    }
    *out = buf;
    *len = n;
    return 0;
}

static int applyAll(struct apply *ap)
{
    if (ap->g->output == CTL_OUTPUT_JSON) {
        printJsonInit(&ap->j, stdout);
        printJsonOpen(&ap->j, NULL, '{');
        printJsonBool(&ap->j, "dry_run", ap->a->dry_run);
        printJsonOpen(&ap->j, "jobs", '[');
    }
    int rv = 0;
    progressStart(&ap->progress, "job apply", "", ap->file.n_jobs);
    for (size_t i = 0; i < ap->file.n_jobs && rv == 0; i++) {
        rv = applyOne(ap, &ap->file.jobs[i]);
    }
    if (rv == 0 && ap->a->prune) {
        rv = prune(ap);
    }
    progressEnd(&ap->progress);
    if (ap->g->output == CTL_OUTPUT_JSON) {
        printJsonClose(&ap->j);
        printJsonClose(&ap->j);
    }
    return rv != 0 ? ctlCallFailed(ap->c, rv, "job apply") : CTL_OK;
}

static int applyFile(const struct ctl_global *g, struct rc_client *c, const struct job_args *a)
{
    char *text = NULL;
    size_t len = 0;
    int rv = readFile(a->file, &text, &len);
    if (rv != 0) {
        return rv;
    }
    struct apply ap = {.g = g, .c = c, .a = a};
    char err[RC_ERRMSG_SIZE];
    rv = jobyamlLoad(a->file, text, len, &ap.file, err, sizeof err);
    free(text);
    if (rv != 0) {
        return rv == RC_ENOMEM ? ctlFail("job apply: %s", err) : ctlUsageError("%s", err);
    }
    rv = rc_job_list(c, "", 0, &ap.stored);
    if (rv != 0) {
        rv = ctlCallFailed(c, rv, "job apply: listing the stored jobs");
    } else {
        rv = applyAll(&ap);
        rc_message_free(ap.stored);
    }
    jobyamlFileClear(&ap.file);
    return rv;
}

/* ---- Dispatch -------------------------------------------------------------------------------- */

static int run(const struct ctl_global *g, struct rc_client *c, struct job_args *a)
{
    const char *cmd = a->cmd;
    if (strcmp(cmd, "add") == 0 || strcmp(cmd, "update") == 0) {
        return define(g, c, a);
    }
    if (strcmp(cmd, "get") == 0 || strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0) {
        return showJob(g, c, a);
    }
    if (strcmp(cmd, "list") == 0) {
        return listJobs(g, c, a);
    }
    if (strcmp(cmd, "delete") == 0) {
        return deleteJob(g, c, a);
    }
    if (strcmp(cmd, "next") == 0) {
        return showNext(g, c, a);
    }
    if (strcmp(cmd, "decisions") == 0) {
        return listDecisions(g, c, a);
    }
    if (strcmp(cmd, "backfill") == 0) {
        return backfillJob(g, c, a);
    }
    if (strcmp(cmd, "stats") == 0) {
        return showStats(g, c, a);
    }
    return applyFile(g, c, a);
}

static bool knownCommand(const char *cmd)
{
    static const char *const cmds[] = {"add",    "update",    "get",      "list",
                                       "delete", "pause",     "resume",   "apply",
                                       "next",   "decisions", "backfill", "stats"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(cmds[i], cmd) == 0) {
            return true;
        }
    }
    return false;
}

int ctlJob(const struct ctl_global *g, int argc, char **argv)
{
    if (argc < 2 || ctlIsHelp(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CTL_USAGE : CTL_OK;
    }
    if (strcmp(argv[1], "run-now") == 0) {
        /* job run-now NAME … is run now NAME … (ctl_run.c) */
        char *args[64] = {"run", "now"};
        int n = 2;
        for (int i = 2; i < argc && n < 63; i++) {
            args[n++] = argv[i];
        }
        args[n] = NULL;
        return ctlRun(g, n, args);
    }
    struct job_args a = {.cmd = argv[1]};
    if (!knownCommand(a.cmd)) {
        return ctlUsageError("job: unknown command \"%s\" (add, update, get, list, delete, "
                             "pause, resume, apply, next, decisions, backfill, stats or "
                             "run-now)",
                             a.cmd);
    }
    if (jobyamlDraftCreate(NULL, &a.draft) != 0) {
        return ctlFail("out of memory");
    }
    int rv = parseArgs(argc - 1, argv + 1, &a);
    struct rc_client *c = NULL;
    if (rv == 0) {
        rv = ctlClientOpen(g, &c);
    }
    if (rv == 0) {
        rv = run(g, c, &a);
    }
    rc_client_close(c);
    jobyamlDraftDestroy(a.draft);
    return rv < 0 ? CTL_OK : rv;
}
