/*
 * raftcronctl events: follow the changes of jobs and runs as the cluster applies them
 * (Events.Watch, docs/rpc.md), one line per event, until interrupted or --count events.
 * The stream survives a node going away: the library resumes on another endpoint after the
 * last entry it saw whole.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "core/jobs.h"
#include "core/ledgerjson.h"
#include "core/timefmt.h"
#include "ctl.h"
#include "raftcron/client.h"

enum { OPT_NAMESPACE = 900, OPT_JOB, OPT_SINCE, OPT_COUNT };

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: raftcronctl events [--namespace NS] [--job NAME] [--since INDEX] [--count N]\n"
            "\n"
            "Prints the events of jobs and runs as the cluster applies them, one line each:\n"
            "INDEX TYPE NS/JOB RUN ATTEMPT AT DETAIL. Types: job.created, job.updated,\n"
            "job.deleted, job.paused, job.resumed, run.fired, run.started, run.succeeded,\n"
            "run.failed, run.timed_out, run.lost, run.retry, run.dead, run.cancelled,\n"
            "decision.missed, decision.skipped, decision.coalesced. INDEX is the Raft index of\n"
            "the entry that made the event: --since INDEX starts with the events after it (to\n"
            "resume), else only new events are shown. --namespace and --job narrow the stream\n"
            "(NAME may be NS/NAME). --count N stops after N events; otherwise it runs until\n"
            "interrupted. A line \"gap OLDEST\" says events were lost (no longer kept by the\n"
            "node; OLDEST is the oldest index still held). -o json prints one JSON object per\n"
            "line (JSON Lines), as the REST API's event stream carries them.\n");
}

struct events_args {
    const char *ns;
    const char *job;
    char ns_buf[RC_JOBS_NAMESPACE_MAX + 1];
    uint64_t since;
    uint64_t count; /* 0: no bound */
    uint64_t seen;
    bool json;
};

static int parseUint(const char *what, const char *text, uint64_t min, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || v < min) {
        return ctlUsageError("%s: \"%s\" is not a whole number of at least %" PRIu64, what, text,
                             min);
    }
    *out = v;
    return 0;
}

static int parseArgs(int argc, char **argv, struct events_args *a)
{
    static const struct option opts[] = {
        {"namespace", required_argument, NULL, OPT_NAMESPACE},
        {"job", required_argument, NULL, OPT_JOB},
        {"since", required_argument, NULL, OPT_SINCE},
        {"count", required_argument, NULL, OPT_COUNT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, rv = 0;
    optind = 0;
    opterr = 0;
    while (rv == 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            return -1;
        case OPT_NAMESPACE:
            a->ns = optarg;
            break;
        case OPT_JOB:
            a->job = optarg;
            break;
        case OPT_SINCE:
            rv = parseUint("--since", optarg, 0, &a->since);
            break;
        case OPT_COUNT:
            rv = parseUint("--count", optarg, 1, &a->count);
            break;
        default:
            return ctlUsageError("events: unknown or incomplete option \"%s\"", argv[optind - 1]);
        }
    }
    if (rv != 0) {
        return rv;
    }
    if (optind != argc) {
        return ctlUsageError("events: expected no argument, got %d", argc - optind);
    }
    const char *slash = a->job != NULL ? strchr(a->job, '/') : NULL;
    if (slash != NULL && (size_t)(slash - a->job) < sizeof a->ns_buf) {
        memcpy(a->ns_buf, a->job, (size_t)(slash - a->job));
        a->ns_buf[slash - a->job] = '\0';
        a->ns = a->ns_buf;
        a->job = slash + 1;
    }
    char err[256];
    if ((a->ns != NULL || a->job != NULL) &&
        jobsCheckKey(a->ns != NULL ? a->ns : "", a->job != NULL ? a->job : "x", err, sizeof err) !=
            0) {
        return ctlUsageError("events: %s", err);
    }
    return 0;
}

static int onEvent(void *data, const Raftcron__Event *e, uint64_t oldest)
{
    struct events_args *a = data;
    if (e == NULL) {
        if (a->json) {
            printf("{\"type\":\"gap\",\"oldest_index\":%" PRIu64 "}\n", oldest);
        } else {
            printf("gap %" PRIu64 "\n", oldest);
        }
        fflush(stdout);
        return 0;
    }
    if (a->json) {
        json_t *doc = ledgerjsonEvent(e);
        if (doc != NULL) {
            json_dumpf(doc, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
            json_decref(doc);
        }
        fputc('\n', stdout);
    } else {
        char at[RC_TIMEFMT_MAX] = "-";
        if (e->at_us != 0) {
            timefmtFormat(e->at_us, 0, at);
        }
        char run[24] = "-", attempt[16] = "-";
        if (e->run_id != 0) {
            snprintf(run, sizeof run, "%" PRIu64, e->run_id);
            snprintf(attempt, sizeof attempt, "%u", e->attempt);
        }
        printf("%" PRIu64 " %s %s/%s %s %s %s %s\n", e->index, e->type, e->namespace_, e->job, run,
               attempt, at, e->reason[0] != '\0' ? e->reason : "-");
    }
    fflush(stdout);
    return a->count != 0 && ++a->seen >= a->count;
}

int ctlEvents(const struct ctl_global *g, int argc, char **argv)
{
    if (argc >= 2 && ctlIsHelp(argv[1])) {
        usage(stdout);
        return CTL_OK;
    }
    struct events_args a = {.json = g->output == CTL_OUTPUT_JSON};
    int rv = parseArgs(argc, argv, &a);
    if (rv != 0) {
        return rv < 0 ? CTL_OK : rv;
    }
    struct rc_client *c = NULL;
    rv = ctlClientOpen(g, &c);
    if (rv != 0) {
        return rv;
    }
    rv = rc_events_watch(c, a.ns, a.job, a.since, onEvent, &a);
    rv = rv != 0 ? ctlCallFailed(c, rv, "events") : CTL_OK;
    rc_client_close(c);
    return rv;
}
