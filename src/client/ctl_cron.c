/* raftcronctl cron next|prev|explain: preview a schedule locally, no cluster needed. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/timefmt.h"
#include "core/trigger.h"
#include "ctl.h"
#include "print.h"

#define CRON_MAX_COUNT 10000

struct cron_args {
    const char *expr;
    const char *tz;
    int64_t from_us;
    long count;
    bool explain;
    bool backwards;
    enum rc_dst_gap gap;
    enum rc_dst_repeat repeat;
};

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: raftcronctl cron next EXPR [--tz ZONE] [--from RFC3339] [-n N] [--explain]\n"
            "       raftcronctl cron prev EXPR [same options]\n"
            "       raftcronctl cron explain EXPR\n"
            "\n"
            "Preview a cron expression locally: 'next' prints the N instants strictly after\n"
            "--from (default now), 'prev' the N instants strictly before it, newest first, one\n"
            "RFC 3339 timestamp with the zone's offset per line.\n"
            "\n"
            "EXPR: 5 fields (min hour dom month dow) or 6 (seconds first); numbers, names\n"
            "(jan-dec, sun-sat, any case), *, ranges a-b, steps */n a-b/n, lists a,b; day of\n"
            "week 0-7 (0 and 7 Sunday), nL (last such weekday), n#k (k-th); day of month\n"
            "L, L-n, nW (nearest weekday), LW, and ? for either day field; @yearly @annually\n"
            "@monthly @weekly @daily @midnight @hourly, @every DURATION; an optional\n"
            "CRON_TZ=Zone prefix. Both day fields restricted: either matches; one starting\n"
            "with '*': both must (cron(5)). Ranges do not wrap (5-3 is an error). See\n"
            "docs/scheduling.md.\n"
            "\n"
            "Options:\n"
            "  --tz ZONE            IANA time zone (default UTC)\n"
            "  --from RFC3339       start instant (default now)\n"
            "  -n, --count N        how many instants (default 5, at most %d)\n"
            "  --explain            print a plain-English reading first\n"
            "  --dst-gap shift|skip       fixed-time instants in a spring-forward gap\n"
            "  --dst-repeat once|both     fixed-time instants in a fall-back repeat\n"
            "  -o json (global)     print {\"expression\", \"tz\", \"explain\", \"instants\"}\n",
            CRON_MAX_COUNT);
}

static int parseArgs(int argc, char **argv, struct cron_args *a)
{
    static const struct option opts[] = {
        {"tz", required_argument, NULL, 'z'},      {"from", required_argument, NULL, 'f'},
        {"count", required_argument, NULL, 'n'},   {"explain", no_argument, NULL, 'x'},
        {"dst-gap", required_argument, NULL, 'g'}, {"dst-repeat", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    char err[RC_ERRMSG_SIZE];
    char *end;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'z':
            a->tz = optarg;
            break;
        case 'f':
            if (timefmtParse(optarg, &a->from_us, err, sizeof err) != 0) {
                return ctlUsageError("--from: %s", err);
            }
            break;
        case 'n':
            a->count = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || a->count < 1 || a->count > CRON_MAX_COUNT) {
                return ctlUsageError("-n: \"%s\" is not a count from 1 to %d", optarg,
                                     CRON_MAX_COUNT);
            }
            break;
        case 'x':
            a->explain = true;
            break;
        case 'g':
            if (strcmp(optarg, "shift") != 0 && strcmp(optarg, "skip") != 0) {
                return ctlUsageError("--dst-gap: \"%s\" is not shift or skip", optarg);
            }
            a->gap = strcmp(optarg, "skip") == 0 ? RC_DST_GAP_SKIP : RC_DST_GAP_SHIFT;
            break;
        case 'r':
            if (strcmp(optarg, "once") != 0 && strcmp(optarg, "both") != 0) {
                return ctlUsageError("--dst-repeat: \"%s\" is not once or both", optarg);
            }
            a->repeat = strcmp(optarg, "both") == 0 ? RC_DST_REPEAT_BOTH : RC_DST_REPEAT_ONCE;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default: {
            /* Inside a cluster such as "-1 * * * *" getopt has not moved optind past it yet. */
            const char *bad = argv[optind - 1];
            if (optopt != 0 && optind < argc && argv[optind][0] == '-' &&
                strchr(argv[optind], optopt) != NULL) {
                bad = argv[optind];
            }
            return ctlUsageError("cron: unknown or incomplete option \"%s\" (put an EXPR that "
                                 "starts with '-' after --)",
                                 bad);
        }
        }
    }
    if (optind + 1 != argc) {
        return ctlUsageError("cron %s: expected exactly one EXPR (quote it), got %d arguments",
                             argv[0], argc - optind);
    }
    a->expr = argv[optind];
    return 0;
}

static int64_t wallNow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * RC_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static int offsetOf(const struct rc_trigger *t, int64_t instant_us)
{
    if (t->kind != RC_TRIGGER_CRON || t->tz == NULL) {
        return 0;
    }
    return tzOffsetAt(t->tz, civilFloorDiv(instant_us, RC_USEC_PER_SEC));
}

static void printInstants(const struct ctl_global *g, const struct cron_args *a,
                          const struct rc_trigger *t, const char *explained)
{
    bool json = g->output == CTL_OUTPUT_JSON;
    struct print_json j;
    printJsonInit(&j, stdout);
    if (json) {
        printJsonOpen(&j, NULL, '{');
        printJsonStr(&j, "expression", a->expr);
        printJsonStr(&j, "tz", t->kind == RC_TRIGGER_CRON ? tzName(t->tz) : "UTC");
        printJsonStr(&j, "explain", explained);
        printJsonOpen(&j, "instants", '[');
    } else if (a->explain) {
        printf("%s\n", explained);
    }
    int64_t at = a->from_us;
    for (long i = 0; i < a->count; i++) {
        int64_t next;
        int rv = a->backwards ? triggerPrev(t, at, &next) : triggerNext(t, at, &next);
        if (rv != 0) {
            if (!json) {
                printf("(no further instant)\n");
            }
            break;
        }
        char buf[RC_TIMEFMT_MAX];
        timefmtFormat(next, offsetOf(t, next), buf);
        if (json) {
            printJsonStr(&j, NULL, buf);
        } else {
            printf("%s\n", buf);
        }
        at = next;
    }
    if (json) {
        printJsonClose(&j);
        printJsonClose(&j);
    }
}

int ctlCron(const struct ctl_global *g, int argc, char **argv)
{
    if (argc < 2 || ctlIsHelp(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CTL_USAGE : CTL_OK;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "next") != 0 && strcmp(cmd, "prev") != 0 && strcmp(cmd, "explain") != 0) {
        return ctlUsageError("cron: unknown command \"%s\" (next, prev or explain)", cmd);
    }
    struct cron_args a = {.tz = "", .count = 5, .backwards = strcmp(cmd, "prev") == 0};
    a.from_us = wallNow();
    int rv = parseArgs(argc - 1, argv + 1, &a);
    if (rv != 0) {
        return rv < 0 ? CTL_OK : rv;
    }
    struct rc_trigger t;
    char err[RC_ERRMSG_SIZE];
    if (triggerInitCron(&t, a.expr, a.tz, a.from_us, err, sizeof err) != 0) {
        fprintf(stderr, "raftcronctl: %s\n", err);
        return CTL_USAGE;
    }
    t.dst_gap = a.gap;
    t.dst_repeat = a.repeat;
    char explained[512];
    size_t n = cronExplain(&t.cron, explained, sizeof explained);
    /* The expression names its zone only with a CRON_TZ= prefix; --tz is said here. */
    if (t.cron.tz[0] == '\0' && t.kind == RC_TRIGGER_CRON && t.cron.every_us == 0 &&
        a.tz[0] != '\0' && n < sizeof explained) {
        snprintf(explained + n, sizeof explained - n, " in time zone %s", tzName(t.tz));
    }
    if (strcmp(cmd, "explain") == 0) {
        if (g->output == CTL_OUTPUT_JSON) {
            struct print_json j;
            printJsonInit(&j, stdout);
            printJsonOpen(&j, NULL, '{');
            printJsonStr(&j, "expression", a.expr);
            printJsonStr(&j, "explain", explained);
            printJsonClose(&j);
        } else {
            puts(explained);
        }
        return CTL_OK;
    }
    printInstants(g, &a, &t, explained);
    return CTL_OK;
}
